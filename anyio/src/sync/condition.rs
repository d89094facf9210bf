//! [`Condition`]: wait for a notification with a [`Lock`] released, as a condition
//! variable.
//!
//! The rules it keeps (AnyIO's):
//!
//! - [`wait`](Condition::wait) releases the lock, waits for a notification and takes the
//!   lock back before it returns, also when it is cancelled (the cancellation is returned
//!   after the lock was re-taken).
//! - [`notify(n)`](Condition::notify) wakes the `n` oldest waiters, in order;
//!   [`notify_all`](Condition::notify_all) wakes them all. A notification reaches only
//!   tasks already waiting, and passes over those whose scope is cancelled by then.
//! - **No wake-up is lost.** A notified waiter that is dropped before it returned (still
//!   waiting to notice, or taking the lock back) passes the notification on to the oldest
//!   live task that was already waiting when it was sent, so `notify(1)` always wakes a
//!   live waiter if there is one, and never one that started waiting after it.
//!
//! To keep that last rule, each waiter queues with a *ticket* (the order in which it
//! started waiting) and is granted the *bound* of its notification: the first ticket not
//! yet given out when the notification was sent. A notification passed on goes only to a
//! waiter whose ticket is below its bound.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard, LockStatistics};
use super::wait_queue::WaitQueue;
use super::waiter::{Queued, Waiter};
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::resource::WouldBlock;

/// A condition variable paired with a [`Lock`] (its own, or one given to it).
///
/// Take the lock with [`acquire`](Condition::acquire), then
/// [`wait`](Condition::wait) with the guard until another task, holding the lock, calls
/// [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all).
/// [`wait_for`](Condition::wait_for) waits until a predicate on the protected value
/// holds.
///
/// Share a condition between tasks in an [`Arc`]. It can be made outside a run.
///
/// ```
/// use std::sync::Arc;
/// use anyio::{Condition, TaskGroup};
///
/// # anyio::run(async {
/// let ready = Arc::new(Condition::new(false));
/// anyio::task_group(|tg| async move {
///     let setter = ready.clone();
///     tg.start_soon(async move {
///         *setter.acquire().await? = true;
///         setter.notify_all();
///         Ok(())
///     })?;
///     let guard = ready.acquire().await?;
///     let guard = ready.wait_for(guard, |ready| *ready).await?;
///     assert!(*guard);
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Condition<T: ?Sized = ()> {
    waiters: Mutex<Waiters>,
    lock: Arc<Lock<T>>,
}

/// The tasks waiting for a notification: each brings its ticket and is granted the bound of
/// the notification that woke it (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    queue: WaitQueue<u64, u64>,
    next_ticket: u64,
}

impl Waiters {
    /// Notifies the oldest live task that was waiting when the notification with `bound`
    /// was sent; `false` if there is none.
    fn notify_one(&mut self, bound: u64) -> bool {
        match self.queue.pop_first(|&ticket| ticket < bound) {
            Some((key, _)) => {
                self.queue.grant(key, bound);
                true
            }
            None => false,
        }
    }
}

/// A snapshot of a [`Condition`]'s state, from [`Condition::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// How many tasks wait for a notification (not counting those waiting to take the
    /// lock back).
    pub tasks_waiting: usize,
    /// The state of the condition's lock.
    pub lock_statistics: LockStatistics,
}

impl<T> Condition<T> {
    /// A condition with a lock of its own, protecting `value` (the lock does not do fast
    /// acquisition).
    pub fn new(value: T) -> Self {
        Condition::with_lock(Arc::new(Lock::new(value)))
    }
}

impl<T: ?Sized> Condition<T> {
    /// A condition over a lock shared with other code.
    pub fn with_lock(lock: Arc<Lock<T>>) -> Self {
        Condition {
            waiters: Mutex::new(Waiters::default()),
            lock,
        }
    }

    /// The condition's lock.
    pub fn lock(&self) -> &Arc<Lock<T>> {
        &self.lock
    }

    /// Waits for the condition's lock: [`Lock::acquire`].
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before it got the lock.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Lock::acquire`].
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        self.lock.acquire()
    }

    /// Takes the condition's lock if it is free: [`Lock::try_acquire`].
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held.
    pub fn try_acquire(&self) -> Result<LockGuard<'_, T>, WouldBlock> {
        self.lock.try_acquire()
    }

    /// Whether the condition's lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Wakes the `n` tasks that have waited longest, passing over those whose cancel scope
    /// is cancelled (they return `Err(Cancelled)`). Call it holding the lock, so the change
    /// it announces and the waiters' checks of it do not race.
    pub fn notify(&self, n: usize) {
        let mut waiters = lock(&self.waiters);
        let bound = waiters.next_ticket;
        for _ in 0..n {
            if !waiters.notify_one(bound) {
                break;
            }
        }
    }

    /// Wakes every waiting task (but those whose cancel scope is cancelled).
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// Releases the lock held by `guard`, waits for a notification, takes the lock back
    /// and returns the new guard.
    ///
    /// A checkpoint: returns `Err(Cancelled)` at once (releasing the lock as `guard` is
    /// dropped) if the calling code is cancelled. The lock is taken back even when the wait
    /// is cancelled by a scope (that wait is shielded and takes the lock in its turn);
    /// the error is returned after that, and the lock is released again as the new guard
    /// is dropped with it.
    ///
    /// Pass a guard of this condition's lock: a guard of another lock works (that lock is
    /// released and taken back), but the condition's statistics then describe the wrong
    /// lock.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before it was notified. A waiter
    /// notified just before the cancellation returns the guard, and the next checkpoint
    /// reports the cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, in that nothing is lost: a dropped waiter leaves the queue, and a
    /// notification it received and did not return (it had not noticed it yet, or was
    /// taking the lock back) goes to the oldest live task that was already waiting when it
    /// was sent. A waiter whose scope is cancelled before it is notified is passed over,
    /// so it never uses up a notification. But a future dropped after the lock was
    /// released does not take it back (nothing can wait in `Drop`): the caller holds no
    /// lock afterwards, as the guard was moved in.
    pub fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait {
            condition: self,
            lock: LockGuard::lock(&guard),
            guard: Some(guard),
            step: WaitStep::Start,
            waiter: Waiter::new(),
        }
    }

    /// Waits, with [`wait`](Condition::wait), until `predicate` holds for the protected
    /// value, and returns the guard. Checks the predicate first: if it holds at once,
    /// returns at once, without a checkpoint (as AnyIO's `wait_for`).
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before the predicate held.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Condition::wait).
    pub async fn wait_for<'a, F>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: F,
    ) -> Result<LockGuard<'a, T>, Cancelled>
    where
        F: FnMut(&T) -> bool,
    {
        while !predicate(&guard) {
            guard = self.wait(guard).await?;
        }
        Ok(guard)
    }

    /// The condition's state: how many tasks wait for a notification, and its lock's.
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics {
            tasks_waiting: lock(&self.waiters).queue.len(),
            lock_statistics: self.lock.statistics(),
        }
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("tasks_waiting", &lock(&self.waiters).queue.len())
            .field("lock", &self.lock)
            .finish()
    }
}

impl<T: ?Sized> Queued for Condition<T> {
    type State = Waiters;
    /// The waiter's ticket.
    type Data = u64;
    /// The bound of the notification.
    type Grant = u64;

    fn state(&self) -> &Mutex<Waiters> {
        &self.waiters
    }

    fn queue(state: &mut Waiters) -> &mut WaitQueue<u64, u64> {
        &mut state.queue
    }

    fn pass_on(&self, state: &mut Waiters, bound: u64) {
        state.notify_one(bound);
    }
}

/// Where a condition wait stands.
#[derive(Debug)]
enum WaitStep<'a, T: ?Sized> {
    Start,
    /// Waiting for a notification, with the lock released.
    Waiting,
    /// Taking the lock back, after a notification with this bound, or after a cancellation
    /// to be returned afterwards.
    Reacquiring(LockAcquire<'a, T>, Result<u64, Cancelled>),
    Done,
}

/// The future of [`Condition::wait`].
///
/// # Cancel safety
///
/// Dropping it loses nothing but leaves the lock released: see [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a, T: ?Sized> {
    condition: &'a Condition<T>,
    /// The lock of the guard given.
    lock: &'a Lock<T>,
    guard: Option<LockGuard<'a, T>>,
    step: WaitStep<'a, T>,
    waiter: Waiter,
}

impl<T: ?Sized> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            WaitStep::Start => "start",
            WaitStep::Waiting => "waiting",
            WaitStep::Reacquiring(..) => "reacquiring",
            WaitStep::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("step", &step)
            .finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> Future for ConditionWait<'a, T> {
    type Output = Result<LockGuard<'a, T>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let condition = this.condition;
        loop {
            match &mut this.step {
                WaitStep::Start => {
                    if current::is_cancelled() {
                        this.step = WaitStep::Done;
                        this.guard = None;
                        return Poll::Ready(Err(current::cancelled()));
                    }
                    this.queue(cx);
                    match this.waiter.register(condition, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(res) => this.reacquire(res),
                    }
                }
                WaitStep::Waiting => match this.waiter.poll(condition, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(res)) => this.reacquire(res),
                    // Passed over while cancelled, and not cancelled any more: the
                    // notification it missed went to another task, so it waits again
                    // (and registers with its scope on the next turn of the loop).
                    Poll::Ready(None) => this.queue(cx),
                },
                WaitStep::Reacquiring(acquire, res) => {
                    let res = res.clone();
                    let Poll::Ready(guard) = Pin::new(acquire).poll(cx) else {
                        return Poll::Pending;
                    };
                    this.step = WaitStep::Done;
                    // A shielded acquire never fails.
                    let guard = guard.map_err(|_| current::cancelled());
                    return Poll::Ready(res.and(guard));
                }
                WaitStep::Done => panic!("`ConditionWait` polled after completion"),
            }
        }
    }
}

impl<T: ?Sized> ConditionWait<'_, T> {
    /// Queues for a notification with the next ticket, then releases the lock (if still
    /// held): a notification sent by the next holder of the lock finds this waiter queued.
    fn queue(&mut self, cx: &Context<'_>) {
        let mut waiters = lock(&self.condition.waiters);
        let ticket = waiters.next_ticket;
        waiters.next_ticket += 1;
        self.waiter.push::<Condition<T>>(&mut waiters, ticket, cx);
        drop(waiters);
        self.guard = None;
        self.step = WaitStep::Waiting;
    }

    /// Starts taking the lock back after the wait ended with `res`.
    fn reacquire(&mut self, res: Result<u64, Cancelled>) {
        self.step = WaitStep::Reacquiring(self.lock.acquire_shielded(), res);
    }
}

impl<T: ?Sized> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        match self.step {
            WaitStep::Waiting => self.waiter.abandon(self.condition),
            // Notified, but dropped before it could return: the notification goes on.
            WaitStep::Reacquiring(_, Ok(bound)) => {
                lock(&self.condition.waiters).notify_one(bound);
            }
            WaitStep::Start | WaitStep::Reacquiring(_, Err(_)) | WaitStep::Done => {}
        }
    }
}
