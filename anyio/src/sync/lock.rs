//! [`Lock`]: a fair async mutex, optionally protecting a value.
//!
//! The rules it keeps (AnyIO's):
//!
//! - **Fair.** Waiters are served first come, first served. Releasing a lock that others
//!   wait for hands it directly to the oldest waiter, which owns it from that moment: a
//!   late [`try_acquire`](Lock::try_acquire) or `acquire` cannot barge in.
//! - **A checkpoint.** `acquire` checks for cancellation first and, unless the lock was
//!   made with fast acquisition, yields to the scheduler once even when the lock is free
//!   (a cancellation that arrives during that yield gives the lock back).
//! - **Not reentrant.** A task that holds the lock and acquires it again waits forever
//!   (or until its scope is cancelled).
//! - **No hand-off to a cancelled waiter.** A release passes over waiters whose cancel
//!   scope is cancelled by then (they return `Err(Cancelled)`): the lock goes to the next
//!   waiter, or is unlocked.
//! - **Cancel safe.** A waiter that is cancelled or dropped leaves the queue; a lock handed
//!   to a waiter that is dropped before it noticed goes to the next waiter.
//!
//! # The state word
//!
//! Whether the lock is held, and whether anybody waits, live in one atomic word outside
//! the mutex, so that taking a free lock and releasing one nobody waits for are one
//! compare-and-swap each: the mutex (and its cache line) is touched only when tasks wait.
//! The invariants that keep the hand-off fair:
//!
//! - `QUEUED` is set (under the mutex) *before* a waiter is pushed, and cleared (under the
//!   mutex) only once the queue is empty: while anybody waits, `QUEUED` is set.
//! - The fast paths only ever move the word from `0` to `LOCKED` (acquire) and from
//!   `LOCKED` to `0` (release). With `QUEUED` set neither succeeds, so nobody barges in
//!   while tasks wait, and the holder's release goes through the mutex, where it hands the
//!   lock to the oldest waiter (the word stays `LOCKED`).
//! - `QUEUED` is only ever set while `LOCKED` is (a waiter queues only behind a holder), so
//!   under the mutex the holder's release owns the word: it can store its new value.
//!
//! # The hand-off
//!
//! A release to a waiter takes that waiter out of the queue with its slot, records the
//! waiter's push number in `handed_to`, and wakes it once the mutex is let go. The woken
//! waiter finds its number there with one atomic load and owns the lock without taking
//! the mutex again: a hand-off under contention costs the releaser one mutex acquisition
//! and the new holder none. A waiter that gives up (cancelled, or dropped) looks at
//! `handed_to` under the mutex before it touches its slot: a lock handed to it is then
//! returned to the caller (cancelled: "completed is completed") or passed on (dropped).

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::{Context, Poll, Waker};

use super::wait_queue::{WaitQueue, WaiterKey};
use super::waiter::{Queued, Step, Waiter};
use crate::TaskId;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::loom::lock;
use crate::loom::sync::{AtomicU32, AtomicU64, Mutex};
use crate::resource::WouldBlock;
use crate::task::info::current_task_id;

/// A fair async lock (mutex), which may protect a value of type `T`.
///
/// [`acquire`](Lock::acquire) waits for the lock and returns a [`LockGuard`]; dropping
/// the guard releases the lock. The guard dereferences to the protected value, so
/// `Lock<u64>` is a counter that only the holder can change, as with
/// [`std::sync::Mutex`]. A lock that protects nothing is a `Lock<()>`
/// (`Lock::default()`), AnyIO's plain `Lock()`.
///
/// Share a lock between tasks in an [`Arc`](std::sync::Arc). It can be made outside a run.
///
/// # Fairness and hand-off
///
/// Waiters get the lock in the order they asked for it. When the holder releases it while
/// others wait, the lock passes directly to the oldest waiter: it stays locked, and
/// neither a [`try_acquire`](Lock::try_acquire) nor a new `acquire` can take it first.
///
/// # Fast acquisition
///
/// By default (as in AnyIO) `acquire` is a full checkpoint even when the lock is free: it
/// takes the lock, yields to the scheduler once so other tasks run, and, if the calling
/// code was cancelled during that yield, gives the lock back and returns
/// `Err(Cancelled)`. A loop that takes a free lock over and over thus cannot starve the
/// other tasks of its thread. A lock made with [`new_fast`](Lock::new_fast) (or
/// [`with_fast_acquire(true)`](Lock::with_fast_acquire)) skips that yield when the lock is
/// free: `acquire` still returns `Err(Cancelled)` if the calling code is already
/// cancelled, but otherwise takes a free lock without letting other tasks run. That is
/// faster (no trip through the scheduler) and is what tokio's `Mutex` does.
///
/// ```
/// use std::sync::Arc;
/// use anyio::{Lock, TaskGroup};
///
/// # anyio::run(async {
/// let counter = Arc::new(Lock::new(0u64));
/// anyio::task_group(|tg| async move {
///     for _ in 0..4 {
///         let counter = counter.clone();
///         tg.start_soon(async move {
///             *counter.acquire().await? += 1;
///             Ok(())
///         })?;
///     }
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Lock<T: ?Sized = ()> {
    /// `LOCKED` and `QUEUED` (see [the state word](self#the-state-word)).
    word: AtomicU32,
    /// The holder's task id, `0` for none (task ids start at 1): a report for
    /// [`statistics`](Lock::statistics), never used to decide anything.
    owner: AtomicU64,
    /// The push number ([`WaiterKey::seq`]) of the last waiter the lock was handed to,
    /// `0` for none (push numbers start at 1). A woken waiter that finds its own number
    /// here owns the lock, and knows it without the mutex; its slot in the queue is
    /// already freed. Stable until that waiter noticed: only the holder releases.
    handed_to: AtomicU64,
    state: Mutex<LockState>,
    fast: bool,
    value: UnsafeCell<T>,
}

/// The lock is held (or handed to a waiter that has not run yet).
const LOCKED: u32 = 1;
/// Tasks may wait in the queue: releases and acquisitions go through the mutex.
const QUEUED: u32 = 2;

#[derive(Debug)]
pub(crate) struct LockState {
    /// Each waiter brings its task id, which becomes the owner when the lock is handed to
    /// it.
    waiters: WaitQueue<Option<TaskId>, ()>,
}

fn owner_bits(owner: Option<TaskId>) -> u64 {
    owner.map_or(0, TaskId::as_u64)
}

// SAFETY: the lock gives access to the value to one guard at a time, so sharing the lock
// between threads only ever moves that access from thread to thread: `T: Send` suffices,
// as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

/// A snapshot of a [`Lock`]'s state, from [`Lock::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// Whether the lock is held (or handed to a waiter that has not run yet).
    pub locked: bool,
    /// The task holding the lock, if it is held by an anyio task.
    pub owner: Option<TaskId>,
    /// How many tasks wait for the lock.
    pub tasks_waiting: usize,
}

impl<T> Lock<T> {
    /// A lock protecting `value`, whose `acquire` yields once even when the lock is free.
    pub fn new(value: T) -> Self {
        Lock {
            word: AtomicU32::new(0),
            owner: AtomicU64::new(0),
            handed_to: AtomicU64::new(0),
            state: Mutex::new(LockState {
                waiters: WaitQueue::new(),
            }),
            fast: false,
            value: UnsafeCell::new(value),
        }
    }

    /// A lock protecting `value`, whose `acquire` takes a free lock without yielding (see
    /// [fast acquisition](Lock#fast-acquisition)).
    pub fn new_fast(value: T) -> Self {
        Lock::new(value).with_fast_acquire(true)
    }

    /// Sets whether `acquire` skips its yield when the lock is free (see
    /// [fast acquisition](Lock#fast-acquisition)).
    pub fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// The protected value, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Whether `acquire` skips its yield when the lock is free.
    pub fn fast_acquire(&self) -> bool {
        self.fast
    }

    /// Waits for the lock and returns a guard that releases it when dropped.
    ///
    /// A checkpoint: returns `Err(Cancelled)` at once if the calling code is cancelled.
    /// Unless the lock does [fast acquisition](Lock#fast-acquisition), it yields once even
    /// when the lock is free. Waiters are served in order (see
    /// [fairness](Lock#fairness-and-hand-off)).
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before it got the lock: a lock
    /// released after the cancellation is never handed to it, but to the next waiter. If
    /// the lock was handed to it just before the cancellation, it returns the guard
    /// instead, and the next checkpoint reports the cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is cancelled or dropped leaves the queue without the
    /// lock, and a lock handed to it just before it was dropped goes to the next waiter.
    /// Dropping the future while it yields after taking a free lock releases the lock.
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            step: Step::Start,
            shielded: false,
            waiter: Waiter::new(),
        }
    }

    /// Waits for the lock with no cancellation and no yield when it is free: how a
    /// [`Condition`](crate::Condition) takes its lock back.
    pub(crate) fn acquire_shielded(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            lock: self,
            step: Step::Start,
            shielded: true,
            waiter: Waiter::shielded(),
        }
    }

    /// Takes the lock if it is free and nobody waits for it (AnyIO's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held, or handed to a waiter that has not run yet.
    pub fn try_acquire(&self) -> Result<LockGuard<'_, T>, WouldBlock> {
        if self.try_lock_free(current_task_id()) {
            Ok(LockGuard::new(self))
        } else {
            Err(WouldBlock)
        }
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    pub fn locked(&self) -> bool {
        self.word.load(Acquire) & LOCKED != 0
    }

    /// The lock's state: whether it is held, by which task, and how many tasks wait.
    pub fn statistics(&self) -> LockStatistics {
        // Under the mutex, so that no hand-off is half done while the snapshot is taken.
        let state = lock(&self.state);
        let owner = self.owner.load(Relaxed);
        LockStatistics {
            locked: self.locked(),
            owner: (owner != 0).then(|| TaskId::from_raw(owner)),
            tasks_waiting: state.waiters.len(),
        }
    }

    /// The protected value, through exclusive access to the lock (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Takes the lock if it is free, which implies nobody waits: one compare-and-swap. A
    /// held lock is seen with a plain load, so waiting tasks do not pull the word's cache
    /// line away from the holder in vain.
    fn try_lock_free(&self, me: Option<TaskId>) -> bool {
        let taken = self.word.load(Relaxed) == 0
            && self
                .word
                .compare_exchange(0, LOCKED, Acquire, Relaxed)
                .is_ok();
        if taken {
            self.owner.store(owner_bits(me), Relaxed);
        }
        taken
    }

    /// Under the mutex (`_state`), after the free lock could not be taken at once: takes
    /// it if it has been released meanwhile, else marks the word `QUEUED` so that its
    /// release comes through the mutex, and returns `false`: the caller then queues,
    /// still under the mutex.
    fn lock_or_mark_queued(&self, _state: &mut LockState, me: Option<TaskId>) -> bool {
        let mut word = self.word.load(Relaxed);
        loop {
            let (new, taken) = if word & LOCKED == 0 {
                debug_assert_eq!(word, 0, "queued behind no holder");
                (LOCKED, true)
            } else if word & QUEUED != 0 {
                return false;
            } else {
                (word | QUEUED, false)
            };
            match self.word.compare_exchange(word, new, Acquire, Relaxed) {
                Ok(_) => {
                    if taken {
                        self.owner.store(owner_bits(me), Relaxed);
                    }
                    return taken;
                }
                Err(now) => word = now,
            }
        }
    }

    /// Takes the lock if it is free (`None`), else returns the mutex, held, with the word
    /// marked `QUEUED`: the caller queues before it lets the mutex go.
    fn take_or_hold_queue(&self, me: Option<TaskId>) -> Option<impl DerefMut<Target = LockState>> {
        if self.try_lock_free(me) {
            return None;
        }
        let mut state = lock(&self.state);
        if self.lock_or_mark_queued(&mut state, me) {
            None
        } else {
            Some(state)
        }
    }

    /// Releases the lock (the guard's drop): one compare-and-swap when nobody waits, the
    /// mutex when somebody does.
    fn release(&self) {
        // Cleared first: the next holder's store comes after this one.
        self.owner.store(0, Relaxed);
        // No plain load first: with tasks waiting, the failed compare-and-swap has taken
        // the word's cache line for the store that follows under the mutex.
        if self
            .word
            .compare_exchange(LOCKED, 0, Release, Relaxed)
            .is_err()
        {
            // The new holder is woken once the mutex is let go, so that it does not find
            // the mutex held when it runs on another thread.
            let next = self.release_to_waiters(&mut lock(&self.state));
            if let Some(waker) = next {
                waker.wake();
            }
        }
    }

    /// Releases a held lock under the mutex (`state`): hands it to the oldest waiter whose
    /// scope is not cancelled, which owns it from then on (the word stays `LOCKED`), and
    /// returns that waiter's waker; or unlocks it. Only the holder clears `LOCKED`, and
    /// `QUEUED` changes only under the mutex, so the word is the caller's to store.
    ///
    /// The waiter's slot is freed here and the hand-off is told through
    /// [`handed_to`](Lock::handed_to), so the woken waiter does not take the mutex.
    fn release_to_waiters(&self, state: &mut LockState) -> Option<Waker> {
        match state.waiters.take_front() {
            Some((key, next_owner, waker)) => {
                self.owner.store(owner_bits(next_owner), Relaxed);
                let word = if state.waiters.is_empty() {
                    LOCKED
                } else {
                    LOCKED | QUEUED
                };
                self.word.store(word, Release);
                self.handed_to.store(key.seq(), Release);
                Some(waker)
            }
            None => {
                self.word.store(0, Release);
                None
            }
        }
    }
}

impl<T: Default> Default for Lock<T> {
    /// An unlocked lock protecting `T::default()`, without fast acquisition.
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Lock")
            .field("locked", &stats.locked)
            .field("owner", &stats.owner)
            .field("tasks_waiting", &stats.tasks_waiting)
            .field("fast_acquire", &self.fast)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Queued for Lock<T> {
    type State = LockState;
    type Data = Option<TaskId>;
    type Grant = ();

    fn state(&self) -> &Mutex<LockState> {
        &self.state
    }

    fn queue(state: &mut LockState) -> &mut WaitQueue<Option<TaskId>, ()> {
        &mut state.waiters
    }

    fn pass_on(&self, state: &mut LockState, (): ()) {
        if let Some(waker) = self.release_to_waiters(state) {
            waker.wake();
        }
    }

    fn handed_off(&self, key: WaiterKey) -> Option<()> {
        (self.handed_to.load(Acquire) == key.seq()).then_some(())
    }

    fn left_queue(&self, state: &mut LockState) {
        if state.waiters.is_empty() {
            self.word.fetch_and(!QUEUED, AcqRel);
        }
    }
}

/// The future of [`Lock::acquire`].
///
/// # Cancel safety
///
/// Dropping it at any point is safe: see [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    step: Step,
    shielded: bool,
    waiter: Waiter,
}

impl<T: ?Sized> fmt::Debug for LockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> Future for LockAcquire<'a, T> {
    type Output = Result<LockGuard<'a, T>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let lock_ref = this.lock;
        let out = match this.step {
            Step::Start => {
                if !this.shielded && current::is_cancelled() {
                    Poll::Ready(Err(current::cancelled()))
                } else {
                    let me = current_task_id();
                    if let Some(mut state) = lock_ref.take_or_hold_queue(me) {
                        this.waiter.push::<Lock<T>>(&mut state, me, cx);
                        drop(state);
                        this.step = Step::Waiting;
                        this.waiter.register(lock_ref, cx)
                    } else if lock_ref.fast || this.shielded {
                        Poll::Ready(Ok(()))
                    } else {
                        this.step = Step::Yielded;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
            }
            Step::Yielded => {
                if current::is_cancelled() {
                    lock_ref.release();
                    Poll::Ready(Err(current::cancelled()))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            Step::Waiting => match this.waiter.poll(lock_ref, cx) {
                Poll::Ready(Some(res)) => Poll::Ready(res),
                // Passed over while cancelled, and not cancelled any more: the lock may
                // be free now.
                Poll::Ready(None) => {
                    this.step = Step::Start;
                    return Pin::new(this).poll(cx);
                }
                Poll::Pending => Poll::Pending,
            },
            Step::Done => panic!("`LockAcquire` polled after completion"),
        };
        match out {
            Poll::Ready(res) => {
                this.step = Step::Done;
                Poll::Ready(res.map(|()| LockGuard::new(lock_ref)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for LockAcquire<'_, T> {
    fn drop(&mut self) {
        match self.step {
            Step::Yielded => self.lock.release(),
            Step::Waiting => self.waiter.abandon(self.lock),
            Step::Start | Step::Done => {}
        }
    }
}

/// Holds a [`Lock`] and gives access to its value; dropping it releases the lock (to the
/// oldest waiter, if any).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    /// Makes the guard `Sync` only for `T: Sync` (it hands out `&T`).
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    fn new(lock: &'a Lock<T>) -> Self {
        LockGuard {
            lock,
            _value: PhantomData,
        }
    }

    /// The lock this guard holds.
    pub fn lock(guard: &Self) -> &'a Lock<T> {
        guard.lock
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its lock is held, and the lock is held by one
        // guard at a time, so no `&mut T` to the value exists elsewhere.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access through the
        // guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockGuard").field(&&**self).finish()
    }
}
