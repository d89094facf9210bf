//! Cancellation as a value: [`Cancelled`], [`TimeoutError`] and the one test for "is this
//! error a cancellation?", [`IsCancelled`].

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::{Arc, LazyLock};

use crate::context::{self, TaskData, TaskName};

/// The error an anyio operation returns when the cancel scope it runs in is cancelled.
///
/// Propagate it with `?`: the cancel scope that caused it absorbs it when the code leaves
/// the scope (see [`CancelScope::run`](crate::CancelScope::run)). Cancellation is
/// level-triggered: until the code leaves the cancelled scope, every checkpoint returns
/// this error again.
///
/// A cancellation the crate observed carries its *cause*: the scope that was cancelled
/// ([`scope_id`](Cancelled::scope_id)), the reason given to it
/// ([`reason`](Cancelled::reason); `"deadline exceeded"` for a deadline), and the task that
/// cancelled it ([`task_id`](Cancelled::task_id), [`task_name`](Cancelled::task_name); none
/// for a deadline or a call from outside any task). When several enclosing scopes are
/// cancelled, the cause is that of the innermost one the code can see (a shield hides the
/// ones beyond it). The cause is shared, not copied: a `Cancelled` is one pointer, never
/// null, so a `Result<(), Cancelled>` is one pointer too; cloning it costs a reference
/// count. [`Cancelled::new`] makes one without a cause.
///
/// All `Cancelled` values compare equal (and hash alike): equality means "it was
/// cancelled", so `assert_eq!(res, Err(Cancelled::new()))` holds whatever the cause. Compare
/// the accessors to tell causes apart.
///
/// It converts into [`io::Error`] (kind [`Other`](io::ErrorKind::Other), never
/// `Interrupted`, which retry loops treat as "try again") and into boxed errors, and
/// [`is_cancelled`] recognises it in both.
#[derive(Clone)]
pub struct Cancelled {
    cause: Arc<Cause>,
}

/// Why a scope was cancelled: recorded once, by the first `cancel` of the scope. The one
/// without a scope is [`NO_CAUSE`].
#[derive(Debug)]
pub(crate) struct Cause {
    reason: Option<Cow<'static, str>>,
    scope: Option<ScopeId>,
    /// The task that called `cancel`: its id and name.
    task: Option<(u64, TaskName)>,
}

impl Cause {
    /// A cause for a cancel of `scope` by `task`, or by the calling task (if any) when
    /// `task` is `None`; shared from now on.
    pub(crate) fn new(
        scope: ScopeId,
        reason: Option<Cow<'static, str>>,
        task: Option<&TaskData>,
    ) -> Arc<Cause> {
        let identity = |t: &TaskData| (t.id, t.name.clone());
        let task = match task {
            Some(t) => Some(identity(t)),
            None => context::with_task(|t| t.map(identity)),
        };
        Arc::new(Cause {
            reason,
            scope: Some(scope),
            task,
        })
    }

    /// The cause of a deadline that passed: no task cancelled the scope, the clock did.
    pub(crate) fn deadline(scope: ScopeId) -> Arc<Cause> {
        Arc::new(Cause {
            reason: Some(Cow::Borrowed(DEADLINE_EXCEEDED)),
            scope: Some(scope),
            task: None,
        })
    }
}

/// The reason of a deadline cancel, and the message of a [`TimeoutError`] without one.
const DEADLINE_EXCEEDED: &str = "deadline exceeded";

/// The cause of every `Cancelled` without one, made once: a `Cancelled` always points at a
/// cause, which leaves the null pointer free to stand for `Ok` in a `Result<_, Cancelled>`.
static NO_CAUSE: LazyLock<Arc<Cause>> = LazyLock::new(|| {
    Arc::new(Cause {
        reason: None,
        scope: None,
        task: None,
    })
});

/// A `Cancelled` with a static address, for error types that report a cancellation as their
/// [`source`](Error::source).
pub(crate) static CANCELLED: LazyLock<Cancelled> = LazyLock::new(Cancelled::new);

impl Cancelled {
    /// A cancellation without a cause: for code that reports a cancellation it did not
    /// observe through anyio (an error type converting from another library's), and for
    /// comparisons, since all `Cancelled` values are equal.
    pub fn new() -> Self {
        Cancelled {
            cause: NO_CAUSE.clone(),
        }
    }

    pub(crate) fn with_cause(cause: Option<Arc<Cause>>) -> Self {
        cause.map_or_else(Cancelled::new, |cause| Cancelled { cause })
    }

    /// The reason given to the cancel that caused this cancellation: the argument of
    /// [`CancelScope::cancel_with_reason`](crate::CancelScope::cancel_with_reason) or
    /// [`TaskGroup::cancel_with_reason`](crate::TaskGroup::cancel_with_reason),
    /// `"deadline exceeded"` for a deadline, or the reason a task group gives when it
    /// cancels itself because a task failed or panicked. `None` for a plain `cancel()` or
    /// a cancellation without a cause.
    pub fn reason(&self) -> Option<&str> {
        self.cause.reason.as_deref()
    }

    /// The cancel scope that was cancelled (compare with [`CancelScope::id`](crate::CancelScope::id)),
    /// or `None` for a cancellation without a cause.
    pub fn scope_id(&self) -> Option<ScopeId> {
        self.cause.scope
    }

    /// The name of the task that cancelled the scope, as
    /// [`TaskInfo::name`](crate::TaskInfo::name) gives it; `None` for a deadline, a cancel
    /// called outside any anyio task (from a plain thread), or no cause.
    pub fn task_name(&self) -> Option<&str> {
        Some(self.cause.task.as_ref()?.1.as_str())
    }

    /// The id of the task that cancelled the scope, as a number (the accessor that returns
    /// a [`TaskId`](crate::TaskId) is [`task_id`](Cancelled::task_id), beside the task types).
    pub(crate) fn task_number(&self) -> Option<u64> {
        Some(self.cause.task.as_ref()?.0)
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = &self.cause;
        match cause.scope {
            None => f.write_str("Cancelled"),
            Some(scope) => f
                .debug_struct("Cancelled")
                .field("scope", &scope)
                .field(
                    "task",
                    &cause.task.as_ref().map(|(id, name)| (id, name.as_str())),
                )
                .field("reason", &cause.reason)
                .finish(),
        }
    }
}

/// Every `Cancelled` equals every other: see the type's docs.
impl PartialEq for Cancelled {
    fn eq(&self, _: &Cancelled) -> bool {
        true
    }
}

impl Eq for Cancelled {}

impl Hash for Cancelled {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// `cancelled by a cancel scope` without a cause; with one, which scope, which task and
/// why: `cancelled via cancel scope 1f by task 7 "worker"; reason: shutting down`.
impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = &self.cause;
        let Some(scope) = cause.scope else {
            return f.write_str("cancelled by a cancel scope");
        };
        write!(f, "cancelled via cancel scope {scope:x}")?;
        if let Some((id, name)) = &cause.task {
            write!(f, " by task {id} {:?}", name.as_str())?;
        }
        if let Some(reason) = &cause.reason {
            write!(f, "; reason: {reason}")?;
        }
        Ok(())
    }
}

impl Default for Cancelled {
    fn default() -> Self {
        Cancelled::new()
    }
}

impl Error for Cancelled {}

impl From<Cancelled> for io::Error {
    fn from(c: Cancelled) -> io::Error {
        io::Error::other(c)
    }
}

/// A cancel scope's identity, never reused within the process: what
/// [`Cancelled::scope_id`] reports and [`CancelScope::id`](crate::CancelScope::id) returns.
/// It prints in hexadecimal, as AnyIO prints its scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(pub(crate) u64);

impl ScopeId {
    /// The identifier as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// The error of [`fail_after`](crate::fail_after) and [`fail_at`](crate::fail_at) when the
/// deadline passed and their scope caught the cancellation it caused.
///
/// It carries the reason given with [`FailAfter::with_reason`](crate::FailAfter::with_reason),
/// which is its message; without one the message is `deadline exceeded`. As with
/// [`Cancelled`], all values compare equal: compare [`reason`](TimeoutError::reason) to
/// tell them apart.
#[derive(Clone, Debug, Default)]
pub struct TimeoutError {
    reason: Option<Cow<'static, str>>,
}

impl TimeoutError {
    /// A timeout without a reason.
    pub const fn new() -> Self {
        TimeoutError { reason: None }
    }

    /// A timeout whose message is `reason`.
    pub fn with_reason(reason: impl Into<Cow<'static, str>>) -> Self {
        TimeoutError {
            reason: Some(reason.into()),
        }
    }

    pub(crate) fn from_reason(reason: Option<Cow<'static, str>>) -> Self {
        TimeoutError { reason }
    }

    /// The reason given to [`fail_after`](crate::fail_after) or [`fail_at`](crate::fail_at),
    /// if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// Every `TimeoutError` equals every other: see the type's docs.
impl PartialEq for TimeoutError {
    fn eq(&self, _: &TimeoutError) -> bool {
        true
    }
}

impl Eq for TimeoutError {}

impl Hash for TimeoutError {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// The reason, or `deadline exceeded` without one (AnyIO's `TimeoutError(reason)`).
impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.as_deref().unwrap_or(DEADLINE_EXCEEDED))
    }
}

impl Error for TimeoutError {}

impl From<TimeoutError> for io::Error {
    fn from(t: TimeoutError) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, t)
    }
}

/// A boxed error: the default error type of task groups, so any error converts into it
/// with `?`.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Whether an error is a cancellation delivered by a cancel scope.
///
/// Cancel scopes and task groups use it to tell the cancellations they absorb from the
/// failures they report. It is implemented for this crate's errors, for [`io::Error`], and
/// for boxed and `dyn` errors, which are cancellations when [`Cancelled`] appears anywhere
/// in their [`source`](Error::source) chain (an `io::Error` wrapping one included).
/// Implement it for your own error type to use that type in task groups:
///
/// ```
/// use anyio::{Cancelled, IsCancelled};
///
/// #[derive(Debug)]
/// enum AppError {
///     Cancelled,
///     Protocol(String),
/// }
///
/// impl From<Cancelled> for AppError {
///     fn from(_: Cancelled) -> Self {
///         AppError::Cancelled
///     }
/// }
///
/// impl IsCancelled for AppError {
///     fn is_cancelled(&self) -> bool {
///         matches!(self, AppError::Cancelled)
///     }
/// }
/// # assert!(AppError::from(Cancelled::new()).is_cancelled());
/// # assert!(!AppError::Protocol("x".into()).is_cancelled());
/// ```
pub trait IsCancelled {
    /// `true` if this error is (or wraps) a cancellation.
    fn is_cancelled(&self) -> bool;
}

/// `true` if `err` is (or wraps) a cancellation: the crate's one test for it, usable on
/// [`io::Error`], boxed errors and every error type that implements [`IsCancelled`].
///
/// ```
/// let err: std::io::Error = anyio::Cancelled::new().into();
/// assert!(anyio::is_cancelled(&err));
/// assert!(!anyio::is_cancelled(&std::io::Error::from(std::io::ErrorKind::Interrupted)));
/// ```
pub fn is_cancelled<E: IsCancelled + ?Sized>(err: &E) -> bool {
    err.is_cancelled()
}

/// Walks an error's source chain looking for [`Cancelled`], looking inside `io::Error`s
/// (whose `source` skips the error they wrap).
fn chain_is_cancelled(mut err: &(dyn Error + 'static)) -> bool {
    loop {
        if err.is::<Cancelled>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|e| e.get_ref()) {
            if chain_is_cancelled(inner) {
                return true;
            }
        }
        match err.source() {
            Some(next) => err = next,
            None => return false,
        }
    }
}

impl IsCancelled for Cancelled {
    fn is_cancelled(&self) -> bool {
        true
    }
}

impl IsCancelled for TimeoutError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl IsCancelled for io::Error {
    fn is_cancelled(&self) -> bool {
        self.get_ref()
            .is_some_and(|inner| chain_is_cancelled(inner))
    }
}

impl IsCancelled for dyn Error + 'static {
    fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self)
    }
}

impl IsCancelled for dyn Error + Send + Sync + 'static {
    fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self)
    }
}

impl<E: IsCancelled + ?Sized> IsCancelled for Box<E> {
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

impl<E: IsCancelled + ?Sized> IsCancelled for &E {
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

impl IsCancelled for std::convert::Infallible {
    fn is_cancelled(&self) -> bool {
        match *self {}
    }
}
