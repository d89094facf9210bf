//! [`RunVar`]: a variable with one value per run (AnyIO's and trio's `RunVar`).
//!
//! The rules it keeps:
//!
//! - Each run has its own value of each variable: two runs, one after the other or at the
//!   same time on two threads, never see each other's values, and neither do two variables
//!   with the same name. Every task of a run sees the run's value, on whichever worker
//!   thread it is polled, and so do calls that enter the run from another thread
//!   ([`from_thread`](crate::from_thread), [`EventLoopToken`](crate::EventLoopToken)).
//! - [`set`](RunVar::set) returns a token that [`reset`](RunVar::reset) uses once to put
//!   back the value (or the absence of one) that the `set` replaced.
//!
//! The values live in a run-local of the run's context (this floor), keyed by a
//! process-unique number that a variable takes on first use: not its address, which a
//! variable made and dropped at run time could hand on to another one. They are dropped
//! when the run finishes.

use std::any::Any;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};

use crate::cancel::error::IsCancelled;
use crate::context::{self, RunLocal};

/// A variable with one value per run: AnyIO's `RunVar`, the place for state that belongs to
/// a run rather than to a task or to the process (a per-run cache, a limiter, a
/// connection pool).
///
/// Declare it as a `static`; [`set`](RunVar::set) and [`get`](RunVar::get) work inside any
/// task of a run:
///
/// ```
/// use anyio::RunVar;
///
/// static REQUEST_ID: RunVar<u64> = RunVar::new("request_id");
/// static RETRIES: RunVar<u32> = RunVar::with_default("retries", 3);
///
/// # anyio::run(async {
/// REQUEST_ID.set(7)?;
/// assert_eq!(REQUEST_ID.get()?, 7);
/// assert_eq!(RETRIES.get()?, 3);
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
///
/// A value is cloned out by `get`: keep a large or shared value in an [`Arc`].
///
/// Outside the tasks of a run (a plain thread, a [`to_thread`](crate::to_thread) worker)
/// every operation fails with [`RunVarError::NoRun`]. In a program that did not start
/// with [`run`](crate::run) (anyio inside a plain tokio or smol program), each top-level
/// task group or cancel scope is a run of its own. A variable that is not a `static` keeps
/// its values until each run finishes, after the variable is dropped.
pub struct RunVar<T> {
    name: &'static str,
    default: Fallback<T>,
    /// The variable's key in every run's values; 0 until first used.
    id: AtomicU64,
}

/// What [`RunVar::get`] returns when the run has no value.
enum Fallback<T> {
    None,
    Value(T),
    Make(fn() -> T),
}

impl<T> RunVar<T> {
    /// A variable with no default: `get` fails until it is set in the run.
    pub const fn new(name: &'static str) -> Self {
        Self::with_fallback(name, Fallback::None)
    }

    /// A variable whose value is `default` in every run until it is set.
    pub const fn with_default(name: &'static str, default: T) -> Self {
        Self::with_fallback(name, Fallback::Value(default))
    }

    /// A variable whose default is made by `make`, once per run, the first time `get` finds
    /// no value, and then kept as the run's value: for a default that cannot be made in a
    /// constant, or that must be one object per run (a per-run limiter or cache).
    pub const fn with_default_fn(name: &'static str, make: fn() -> T) -> Self {
        Self::with_fallback(name, Fallback::Make(make))
    }

    const fn with_fallback(name: &'static str, default: Fallback<T>) -> Self {
        RunVar {
            name,
            default,
            id: AtomicU64::new(0),
        }
    }

    /// The name given when the variable was made.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        match self.id.load(Relaxed) {
            0 => {
                let new = NEXT.fetch_add(1, Relaxed);
                match self.id.compare_exchange(0, new, Relaxed, Relaxed) {
                    Ok(_) => new,
                    Err(taken) => taken,
                }
            }
            id => id,
        }
    }

    fn values(&self) -> Result<Arc<RunValues>, RunVarError> {
        context::with_task(|task| task.map(|t| t.run.local::<RunValues>()))
            .ok_or(RunVarError::NoRun { name: self.name })
    }
}

impl<T: Clone + Send + Sync + 'static> RunVar<T> {
    /// The variable's value in the current run, else its default.
    ///
    /// # Errors
    ///
    /// [`RunVarError::NoValue`] if the run has no value and the variable no default;
    /// [`RunVarError::NoRun`] outside the tasks of a run.
    pub fn get(&self) -> Result<T, RunVarError> {
        let values = self.values()?;
        let id = self.id();
        if let Some(value) = values.get::<T>(id) {
            return Ok(value);
        }
        let default = match &self.default {
            Fallback::None => None,
            Fallback::Value(value) => Some(value.clone()),
            // Made without holding the run's lock, so `make` may use run variables too.
            Fallback::Make(make) => values.get_or_insert(id, make()),
        };
        default.ok_or(RunVarError::NoValue { name: self.name })
    }

    /// Sets the variable's value in the current run. The token puts back the value it
    /// replaced (or its absence) when given to [`reset`](RunVar::reset).
    ///
    /// # Errors
    ///
    /// [`RunVarError::NoRun`] outside the tasks of a run.
    pub fn set(&self, value: T) -> Result<RunVarToken<T>, RunVarError> {
        let values = self.values()?;
        let id = self.id();
        let previous = values.replace(id, Some(value));
        Ok(RunVarToken {
            var: id,
            name: self.name,
            run: Arc::downgrade(&values),
            previous: Mutex::new(Some(previous)),
        })
    }

    /// Puts back the value that the [`set`](RunVar::set) which returned `token` replaced,
    /// or removes the value if there was none. A token works once.
    ///
    /// It takes the token by reference, as AnyIO's does, so a token kept in a shared place
    /// can be used; using it twice is an error rather than a second reset.
    ///
    /// # Errors
    ///
    /// - [`RunVarError::WrongVar`] if `token` was returned by another variable;
    /// - [`RunVarError::NoRun`] outside the tasks of a run;
    /// - [`RunVarError::WrongRun`] if `token` was returned in another run;
    /// - [`RunVarError::TokenUsed`] if `token` was already used.
    pub fn reset(&self, token: &RunVarToken<T>) -> Result<(), RunVarError> {
        if token.var != self.id() {
            return Err(RunVarError::WrongVar);
        }
        let values = self.values()?;
        if !std::ptr::eq(token.run.as_ptr(), Arc::as_ptr(&values)) {
            return Err(RunVarError::WrongRun);
        }
        let previous = lock(&token.previous).take().ok_or(RunVarError::TokenUsed)?;
        values.replace(token.var, previous);
        Ok(())
    }
}

impl<T> fmt::Debug for RunVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunVar")
            .field("name", &self.name)
            .field("has_default", &!matches!(self.default, Fallback::None))
            .finish()
    }
}

/// What [`RunVar::set`] returns: the value it replaced, for [`RunVar::reset`] to put back.
pub struct RunVarToken<T> {
    var: u64,
    name: &'static str,
    /// The run's values (only compared: the run is not kept alive by a token).
    run: Weak<RunValues>,
    /// The value the `set` replaced; `None` once the token is used.
    previous: Mutex<Option<Option<T>>>,
}

impl<T> RunVarToken<T> {
    /// Whether [`RunVar::reset`] has used the token.
    pub fn is_used(&self) -> bool {
        lock(&self.previous).is_none()
    }
}

impl<T> fmt::Debug for RunVarToken<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunVarToken")
            .field("var", &self.name)
            .field("used", &self.is_used())
            .finish()
    }
}

/// Why a [`RunVar`] operation failed. The messages are AnyIO's where AnyIO has the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunVarError {
    /// The run has no value and the variable no default.
    NoValue {
        /// The variable's name.
        name: &'static str,
    },
    /// The token was returned by another variable.
    WrongVar,
    /// The token was already used.
    TokenUsed,
    /// The token was returned in another run.
    WrongRun,
    /// Called outside the tasks of a run (from a plain thread or a worker thread: call
    /// back into the run with [`from_thread`](crate::from_thread) there).
    NoRun {
        /// The variable's name.
        name: &'static str,
    },
}

impl fmt::Display for RunVarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunVarError::NoValue { name } => {
                write!(f, "Run variable \"{name}\" has no value and no default set")
            }
            RunVarError::WrongVar => f.write_str("This token does not belong to this RunVar"),
            RunVarError::TokenUsed => f.write_str("This token has already been used"),
            RunVarError::WrongRun => f.write_str("This token was returned in another run"),
            RunVarError::NoRun { name } => write!(
                f,
                "Run variable \"{name}\" can only be used inside a task of an anyio run"
            ),
        }
    }
}

impl Error for RunVarError {}

impl IsCancelled for RunVarError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

type AnyValue = Arc<dyn Any + Send + Sync>;

/// One run's values of every variable, by variable id.
#[derive(Default)]
struct RunValues {
    values: Mutex<HashMap<u64, AnyValue>>,
}

impl RunValues {
    /// The value of variable `id`, cloned outside the lock.
    fn get<T: Clone + Send + Sync + 'static>(&self, id: u64) -> Option<T> {
        let value = lock(&self.values).get(&id).cloned()?;
        value.downcast_ref::<T>().cloned()
    }

    /// The value of variable `id`, after storing `value` if there was none (another task
    /// may have stored one first).
    fn get_or_insert<T: Clone + Send + Sync + 'static>(&self, id: u64, value: T) -> Option<T> {
        let stored = lock(&self.values)
            .entry(id)
            .or_insert_with(|| Arc::new(value))
            .clone();
        stored.downcast_ref::<T>().cloned()
    }

    /// Sets (or, with `None`, removes) the value of variable `id` and returns the one it
    /// replaced. The old value is dropped or unwrapped outside the lock.
    fn replace<T: Clone + Send + Sync + 'static>(&self, id: u64, value: Option<T>) -> Option<T> {
        let old = {
            let mut values = lock(&self.values);
            match value {
                Some(v) => values.insert(id, Arc::new(v)),
                None => values.remove(&id),
            }
        }?;
        old.downcast::<T>().ok().map(Arc::unwrap_or_clone)
    }
}

impl RunLocal for RunValues {
    /// Drops the run's values, so a value that refers back to the run (a token, a portal)
    /// does not keep it alive.
    fn run_finished(&self) {
        let values = std::mem::take(&mut *lock(&self.values));
        drop(values);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
