//! [`Promise`]: AnyIO's `Future`, a result that is set once and awaited by any number of
//! tasks.
//!
//! The rules it keeps (AnyIO 4.15's `Future`):
//!
//! - It starts [`Pending`](PromiseStatus::Pending) and ends once, in one of three final
//!   states: a value ([`Finished`](PromiseStatus::Finished)), an error
//!   ([`Failed`](PromiseStatus::Failed)) or [`Cancelled`](PromiseStatus::Cancelled). No
//!   other transition happens.
//! - Setting a promise that has ended fails and gives the rejected value back; cancelling
//!   one that has ended does nothing (the value or error stays).
//! - Waiting is a checkpoint of the waiting task (an [`Event`] underneath): a waiter whose
//!   scope is cancelled before the promise ends gets [`PromiseError::Cancelled`], the only
//!   error of this module that is a cancellation; one woken just before its scope is
//!   cancelled gets the result, and the next checkpoint reports the cancellation.
//!
//! The result is stored once and never moves, so every waiter borrows it from its handle:
//! [`wait`](Promise::wait) returns `&T`, and nothing needs `T: Clone`. An error is kept in
//! an [`Arc`] so each waiter owns the error it returns and can propagate it with `?`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use super::event::{Event, EventWait};
use crate::cancel::error::{Cancelled, IsCancelled};
use crate::loom::lock;
use crate::loom::sync::Mutex;

/// A result set once and awaited by any number of tasks: AnyIO's `Future`, named so that
/// it does not collide with [`std::future::Future`].
///
/// One side [`set`](Promise::set)s a value, [`set_error`](Promise::set_error)s an error or
/// [`cancel`](Promise::cancel)s it; every task that [`wait`](Promise::wait)s gets a
/// reference to the value, or the error. A promise is a cheap handle: clone it to share it
/// (every clone is the same promise). It can be made, set and read outside a run, and set
/// from any thread, as an [`Event`] can.
///
/// ```
/// use anyio::{Promise, TaskGroup};
///
/// # anyio::run(async {
/// let answer: Promise<u32> = Promise::new();
/// anyio::task_group(|tg: TaskGroup| async move {
///     let setter = answer.clone();
///     tg.start_soon(async move {
///         setter.set(42)?;
///         Ok(())
///     })?;
///     assert_eq!(*answer.wait().await?, 42);
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Promise<T, E = crate::BoxError> {
    shared: Arc<Shared<T, E>>,
}

struct Shared<T, E> {
    /// The result; written once, under `setting`, before `finished` is set.
    outcome: OnceLock<Outcome<T, E>>,
    /// Set once `outcome` holds the result; the waiters wait for it.
    finished: Event,
    /// Held by whoever is ending the promise, so a rejected setter gets its value back.
    setting: Mutex<()>,
}

enum Outcome<T, E> {
    Value(T),
    Failed(Arc<E>),
    Cancelled,
}

impl<T, E> Outcome<T, E> {
    fn status(&self) -> PromiseStatus {
        match self {
            Outcome::Value(_) => PromiseStatus::Finished,
            Outcome::Failed(_) => PromiseStatus::Failed,
            Outcome::Cancelled => PromiseStatus::Cancelled,
        }
    }
}

/// Where a [`Promise`] stands, from [`Promise::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PromiseStatus {
    /// Not set and not cancelled yet.
    Pending,
    /// Set with a value.
    Finished,
    /// Set with an error.
    Failed,
    /// Cancelled before it was set.
    Cancelled,
}

/// A snapshot of a [`Promise`]'s waiters, from [`Promise::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PromiseStatistics {
    /// How many tasks wait for the promise.
    pub tasks_waiting: usize,
}

impl<T, E> Promise<T, E> {
    /// A pending promise.
    pub fn new() -> Self {
        Promise {
            shared: Arc::new(Shared {
                outcome: OnceLock::new(),
                finished: Event::new(),
                setting: Mutex::new(()),
            }),
        }
    }

    /// Ends the promise with `value` (AnyIO's `return_value` setter) and wakes every
    /// waiter.
    ///
    /// # Errors
    ///
    /// [`AlreadyFinished`] if the promise was already set or cancelled; it gives `value`
    /// back.
    pub fn set(&self, value: T) -> Result<(), AlreadyFinished<T>> {
        self.finish(value, Outcome::Value)
    }

    /// Ends the promise with `error` (AnyIO's `exception` setter) and wakes every waiter.
    ///
    /// # Errors
    ///
    /// [`AlreadyFinished`] if the promise was already set or cancelled; it gives `error`
    /// back.
    pub fn set_error(&self, error: E) -> Result<(), AlreadyFinished<E>> {
        self.finish(error, |e| Outcome::Failed(Arc::new(e)))
    }

    /// Cancels a pending promise and wakes every waiter: they get
    /// [`PromiseError::PromiseCancelled`]. Returns whether this call cancelled it.
    ///
    /// As AnyIO's, cancelling a promise that has ended (set, failed or already cancelled)
    /// does nothing: its result stays.
    pub fn cancel(&self) -> bool {
        self.finish((), |()| Outcome::Cancelled).is_ok()
    }

    fn finish<V>(
        &self,
        offered: V,
        outcome: impl FnOnce(V) -> Outcome<T, E>,
    ) -> Result<(), AlreadyFinished<V>> {
        let shared = &*self.shared;
        let _setting = lock(&shared.setting);
        if let Some(done) = shared.outcome.get() {
            return Err(AlreadyFinished {
                value: offered,
                status: done.status(),
            });
        }
        // Every writer holds `setting`, so the cell is still empty and `outcome` is stored.
        shared.outcome.get_or_init(|| outcome(offered));
        shared.finished.set();
        Ok(())
    }

    /// Where the promise stands.
    pub fn status(&self) -> PromiseStatus {
        self.shared
            .outcome
            .get()
            .map_or(PromiseStatus::Pending, Outcome::status)
    }

    /// The value, without waiting (AnyIO's `return_value`).
    ///
    /// # Errors
    ///
    /// [`PromiseError::NotFinished`] while pending, [`PromiseError::Failed`] with the error
    /// if it failed, [`PromiseError::PromiseCancelled`] if it was cancelled.
    pub fn value(&self) -> Result<&T, PromiseError<E>> {
        match self.shared.outcome.get() {
            None => Err(PromiseError::NotFinished),
            Some(Outcome::Value(v)) => Ok(v),
            Some(Outcome::Failed(e)) => Err(PromiseError::Failed(e.clone())),
            Some(Outcome::Cancelled) => Err(PromiseError::PromiseCancelled),
        }
    }

    /// The error, without waiting (AnyIO's `exception`): `Some` if the promise failed,
    /// `None` if it was set with a value.
    ///
    /// # Errors
    ///
    /// [`PromiseError::NotFinished`] while pending, [`PromiseError::PromiseCancelled`] if
    /// it was cancelled.
    pub fn error(&self) -> Result<Option<&E>, PromiseError<E>> {
        match self.shared.outcome.get() {
            None => Err(PromiseError::NotFinished),
            Some(Outcome::Value(_)) => Ok(None),
            Some(Outcome::Failed(e)) => Ok(Some(e)),
            Some(Outcome::Cancelled) => Err(PromiseError::PromiseCancelled),
        }
    }

    /// Waits until the promise ends, and returns its value (awaiting AnyIO's `Future`).
    ///
    /// A checkpoint, also when the promise has already ended: it returns
    /// [`PromiseError::Cancelled`] if the calling code is cancelled, and otherwise yields
    /// once before returning.
    ///
    /// # Errors
    ///
    /// - [`PromiseError::Cancelled`] if the calling code is cancelled before the promise
    ///   ends (also when it ends after the cancellation, before the waiter ran). If it
    ///   ended just before the cancellation, the result is returned and the next
    ///   checkpoint reports the cancellation.
    /// - [`PromiseError::Failed`] with the error the promise was set with.
    /// - [`PromiseError::PromiseCancelled`] if the promise was cancelled.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is cancelled or dropped just stops waiting; the result
    /// stays in the promise for every other waiter and later reads.
    pub fn wait(&self) -> PromiseWait<'_, T, E> {
        PromiseWait {
            promise: self,
            finished: self.shared.finished.wait(),
        }
    }

    /// The promise's waiters: how many tasks wait.
    pub fn statistics(&self) -> PromiseStatistics {
        PromiseStatistics {
            tasks_waiting: self.shared.finished.statistics().tasks_waiting,
        }
    }
}

impl<T, E> Clone for Promise<T, E> {
    /// Another handle to the same promise.
    fn clone(&self) -> Self {
        Promise {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> Default for Promise<T, E> {
    fn default() -> Self {
        Promise::new()
    }
}

impl<T, E> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("status", &self.status())
            .field("tasks_waiting", &self.statistics().tasks_waiting)
            .finish()
    }
}

/// The future of [`Promise::wait`].
///
/// # Cancel safety
///
/// Dropping it at any point is safe: see [`Promise::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct PromiseWait<'a, T, E> {
    promise: &'a Promise<T, E>,
    finished: EventWait<'a>,
}

impl<T, E> fmt::Debug for PromiseWait<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseWait")
            .field("promise", self.promise)
            .field("finished", &self.finished)
            .finish()
    }
}

impl<'a, T, E> Future for PromiseWait<'a, T, E> {
    type Output = Result<&'a T, PromiseError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.finished).poll(cx)).map_err(PromiseError::Cancelled)?;
        // The event is set only after the result is stored.
        Poll::Ready(this.promise.value())
    }
}

/// Why a [`Promise`] gave no value.
#[non_exhaustive]
pub enum PromiseError<E> {
    /// The waiting code was cancelled by a cancel scope before the promise ended: a
    /// cancellation, as [`IsCancelled`] says (the only variant that is one).
    Cancelled(Cancelled),
    /// The promise was cancelled with [`Promise::cancel`] (AnyIO's `FutureCancelled`).
    PromiseCancelled,
    /// The promise was set with this error (AnyIO's `FutureFailed`); every waiter gets a
    /// handle to the same error.
    Failed(Arc<E>),
    /// The promise is still pending: from the accessors that do not wait (AnyIO's
    /// `FutureNotFinished`).
    NotFinished,
}

impl<E> Clone for PromiseError<E> {
    fn clone(&self) -> Self {
        match self {
            PromiseError::Cancelled(c) => PromiseError::Cancelled(c.clone()),
            PromiseError::PromiseCancelled => PromiseError::PromiseCancelled,
            PromiseError::Failed(e) => PromiseError::Failed(e.clone()),
            PromiseError::NotFinished => PromiseError::NotFinished,
        }
    }
}

impl<E> From<Cancelled> for PromiseError<E> {
    fn from(c: Cancelled) -> Self {
        PromiseError::Cancelled(c)
    }
}

impl<E> IsCancelled for PromiseError<E> {
    fn is_cancelled(&self) -> bool {
        matches!(self, PromiseError::Cancelled(_))
    }
}

impl<E: fmt::Debug> fmt::Debug for PromiseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Cancelled(c) => f.debug_tuple("Cancelled").field(c).finish(),
            PromiseError::PromiseCancelled => f.write_str("PromiseCancelled"),
            PromiseError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            PromiseError::NotFinished => f.write_str("NotFinished"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for PromiseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Cancelled(c) => c.fmt(f),
            PromiseError::PromiseCancelled => f.write_str("the promise was cancelled"),
            PromiseError::Failed(e) => write!(f, "the promise failed: {e}"),
            PromiseError::NotFinished => f.write_str("the promise has not finished yet"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for PromiseError<E> {
    /// The cancellation for [`PromiseError::Cancelled`], so [`is_cancelled`](crate::is_cancelled)
    /// recognises it inside a boxed error too.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PromiseError::Cancelled(c) => Some(c),
            _ => None,
        }
    }
}

/// The error of setting a [`Promise`] that has already ended (AnyIO's
/// `FutureAlreadyFinished`, or `FutureCancelled` for a cancelled one): the rejected value
/// comes back.
pub struct AlreadyFinished<V> {
    value: V,
    status: PromiseStatus,
}

impl<V> AlreadyFinished<V> {
    /// The value (or error) that was not stored.
    pub fn into_inner(self) -> V {
        self.value
    }

    /// How the promise had ended: [`Finished`](PromiseStatus::Finished),
    /// [`Failed`](PromiseStatus::Failed) or [`Cancelled`](PromiseStatus::Cancelled).
    pub fn status(&self) -> PromiseStatus {
        self.status
    }
}

impl<V> fmt::Debug for AlreadyFinished<V> {
    /// Leaves the value out, so the error is `Debug` whatever it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlreadyFinished")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Display for AlreadyFinished<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.status {
            PromiseStatus::Failed => "the promise has already failed",
            PromiseStatus::Cancelled => "the promise was cancelled",
            PromiseStatus::Finished | PromiseStatus::Pending => "the promise has already finished",
        })
    }
}

impl<V> Error for AlreadyFinished<V> {}

impl<V> IsCancelled for AlreadyFinished<V> {
    fn is_cancelled(&self) -> bool {
        false
    }
}
