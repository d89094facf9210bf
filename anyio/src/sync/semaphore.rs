//! [`Semaphore`]: a fair counting semaphore.
//!
//! The rules it keeps (AnyIO's):
//!
//! - **Fair.** Waiters are served first come, first served. A permit released while others
//!   wait goes directly to the oldest waiter (the value stays 0), so a late
//!   [`try_acquire`](Semaphore::try_acquire) cannot barge in.
//! - **A checkpoint.** `acquire` checks for cancellation first and, unless the semaphore
//!   was made with fast acquisition, yields once even when a permit is free (a
//!   cancellation during that yield gives the permit back).
//! - **Bounded if asked.** With a `max_value`, releasing beyond it is an error.
//! - **No hand-off to a cancelled waiter.** A released permit passes over waiters whose
//!   cancel scope is cancelled by then (they return `Err(Cancelled)`): it goes to the next
//!   waiter, or back to the value.
//! - **Cancel safe.** A waiter that is cancelled or dropped leaves the queue; a permit
//!   handed to a waiter that is dropped before it noticed goes to the next waiter.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_queue::WaitQueue;
use super::waiter::{Queued, Step, Waiter};
use super::{BadCount, to_count};
use crate::cancel::current;
use crate::cancel::error::{Cancelled, IsCancelled};
use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::resource::WouldBlock;

/// A fair counting semaphore: at most `value` holders at a time.
///
/// [`acquire`](Semaphore::acquire) waits until the value is above zero, decrements it and
/// returns a [`SemaphorePermit`]; dropping the permit increments it again (or hands the
/// permit to the oldest waiter). [`SemaphorePermit::forget`] keeps the value decremented,
/// and [`release`](Semaphore::release) increments it explicitly, as AnyIO's `acquire` and
/// `release` do.
///
/// Share a semaphore between tasks in an [`Arc`](std::sync::Arc). It can be made outside a
/// run. Fast acquisition works as for [`Lock`](crate::Lock#fast-acquisition).
///
/// ```
/// use std::sync::Arc;
/// use anyio::{Semaphore, TaskGroup};
///
/// # anyio::run(async {
/// let semaphore = Arc::new(Semaphore::new(2)?);
/// anyio::task_group(|tg| async move {
///     for _ in 0..5 {
///         let semaphore = semaphore.clone();
///         tg.start_soon(async move {
///             let _permit = semaphore.acquire().await?;
///             // At most two tasks are here at a time.
///             anyio::sleep(std::time::Duration::from_millis(1)).await?;
///             Ok(())
///         })?;
///     }
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Semaphore {
    state: Mutex<SemaphoreState>,
    max_value: Option<usize>,
    fast: bool,
}

#[derive(Debug)]
pub(crate) struct SemaphoreState {
    value: usize,
    /// A copy of the semaphore's `max_value`.
    max: Option<usize>,
    waiters: WaitQueue<(), ()>,
}

impl SemaphoreState {
    /// Gives a permit back: to the oldest waiter, else to the value (never beyond the
    /// maximum: a permit given back after explicit releases filled the semaphore is
    /// dropped).
    fn release(&mut self) {
        if self.waiters.grant_front(()).is_err() && self.max.is_none_or(|m| self.value < m) {
            self.value = self.value.saturating_add(1);
        }
    }
}

/// A snapshot of a [`Semaphore`]'s state, from [`Semaphore::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// How many tasks wait for a permit.
    pub tasks_waiting: usize,
}

/// The errors of [`Semaphore`]'s constructors and of [`Semaphore::release`], with AnyIO's
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// The initial value given was negative.
    NegativeInitialValue,
    /// A value given does not fit in a `usize`.
    ValueTooLarge,
    /// The `max_value` given is below the initial value.
    MaxValueBelowInitialValue,
    /// [`release`](Semaphore::release) would raise the value above `max_value`.
    ReleasedTooManyTimes,
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreError::NegativeInitialValue => "initial_value must be >= 0",
            SemaphoreError::ValueTooLarge => "the value does not fit in a usize",
            SemaphoreError::MaxValueBelowInitialValue => {
                "max_value must be equal to or higher than initial_value"
            }
            SemaphoreError::ReleasedTooManyTimes => "semaphore released too many times",
        })
    }
}

impl Error for SemaphoreError {}

impl IsCancelled for SemaphoreError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<SemaphoreError> for io::Error {
    fn from(e: SemaphoreError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

impl Semaphore {
    /// A semaphore with `initial_value` permits and no maximum.
    ///
    /// `initial_value` is any integer; a negative one is an error.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::NegativeInitialValue`] ("initial_value must be >= 0"), or
    /// [`SemaphoreError::ValueTooLarge`].
    ///
    /// ```
    /// use anyio::{Semaphore, SemaphoreError};
    ///
    /// assert_eq!(Semaphore::new(3).unwrap().value(), 3);
    /// let err = Semaphore::new(-1).unwrap_err();
    /// assert_eq!(err, SemaphoreError::NegativeInitialValue);
    /// assert_eq!(err.to_string(), "initial_value must be >= 0");
    /// ```
    pub fn new<V>(initial_value: V) -> Result<Self, SemaphoreError>
    where
        V: TryInto<usize> + PartialOrd + Default,
    {
        let value = to_count(initial_value).map_err(|e| match e {
            BadCount::Negative => SemaphoreError::NegativeInitialValue,
            BadCount::TooLarge => SemaphoreError::ValueTooLarge,
        })?;
        Ok(Semaphore {
            state: Mutex::new(SemaphoreState {
                value,
                max: None,
                waiters: WaitQueue::new(),
            }),
            max_value: None,
            fast: false,
        })
    }

    /// A semaphore with `initial_value` permits that can never hold more than `max_value`.
    ///
    /// # Errors
    ///
    /// As [`new`](Semaphore::new), and
    /// [`SemaphoreError::MaxValueBelowInitialValue`] ("max_value must be equal to or
    /// higher than initial_value").
    ///
    /// ```
    /// use anyio::{Semaphore, SemaphoreError};
    ///
    /// let err = Semaphore::with_max_value(3, 2).unwrap_err();
    /// assert_eq!(err, SemaphoreError::MaxValueBelowInitialValue);
    /// assert_eq!(err.to_string(), "max_value must be equal to or higher than initial_value");
    /// ```
    pub fn with_max_value<V, M>(initial_value: V, max_value: M) -> Result<Self, SemaphoreError>
    where
        V: TryInto<usize> + PartialOrd + Default,
        M: TryInto<usize> + PartialOrd + Default,
    {
        let mut semaphore = Semaphore::new(initial_value)?;
        let max = match to_count(max_value) {
            Ok(max) => max,
            // Below zero, hence below the initial value.
            Err(BadCount::Negative) => return Err(SemaphoreError::MaxValueBelowInitialValue),
            // Above every `usize`: no maximum at all.
            Err(BadCount::TooLarge) => usize::MAX,
        };
        if max < semaphore.value() {
            return Err(SemaphoreError::MaxValueBelowInitialValue);
        }
        semaphore.max_value = Some(max);
        lock(&semaphore.state).max = Some(max);
        Ok(semaphore)
    }

    /// Sets whether `acquire` skips its yield when a permit is free (see
    /// [fast acquisition](crate::Lock#fast-acquisition)).
    pub fn with_fast_acquire(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Whether `acquire` skips its yield when a permit is free.
    pub fn fast_acquire(&self) -> bool {
        self.fast
    }

    /// Waits for a permit and returns it; dropping the permit gives it back.
    ///
    /// A checkpoint: returns `Err(Cancelled)` at once if the calling code is cancelled.
    /// Unless the semaphore does fast acquisition, it yields once even when a permit is
    /// free. Waiters are served in order.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before it got a permit: a permit
    /// released after the cancellation is never handed to it, but to the next waiter. If a
    /// permit was handed to it just before the cancellation, it returns the permit
    /// instead, and the next checkpoint reports the cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is cancelled or dropped leaves the queue without a
    /// permit, and a permit handed to it just before it was dropped goes to the next
    /// waiter. Dropping the future while it yields after taking a free permit gives the
    /// permit back.
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            semaphore: self,
            step: Step::Start,
            waiter: Waiter::new(),
        }
    }

    /// Takes a permit if one is free and nobody waits (AnyIO's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the value is 0 (a released permit handed to a waiter that has not
    /// run yet is not free).
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, WouldBlock> {
        let mut state = lock(&self.state);
        if state.value == 0 {
            return Err(WouldBlock);
        }
        state.value -= 1;
        drop(state);
        Ok(SemaphorePermit { semaphore: self })
    }

    /// Adds a permit: gives it to the oldest waiter, or increments the value. Use it to
    /// give back a permit that was [forgotten](SemaphorePermit::forget).
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::ReleasedTooManyTimes`] ("semaphore released too many times") if
    /// the value is already `max_value` (or `usize::MAX`).
    pub fn release(&self) -> Result<(), SemaphoreError> {
        let mut state = lock(&self.state);
        if state.value == self.max_value.unwrap_or(usize::MAX) {
            return Err(SemaphoreError::ReleasedTooManyTimes);
        }
        state.release();
        Ok(())
    }

    /// The number of free permits.
    pub fn value(&self) -> usize {
        lock(&self.state).value
    }

    /// The most permits the semaphore can hold, if it was given a maximum.
    pub fn max_value(&self) -> Option<usize> {
        self.max_value
    }

    /// The semaphore's state: how many tasks wait.
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics {
            tasks_waiting: lock(&self.state).waiters.len(),
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("value", &state.value)
            .field("max_value", &self.max_value)
            .field("tasks_waiting", &state.waiters.len())
            .field("fast_acquire", &self.fast)
            .finish()
    }
}

impl Queued for Semaphore {
    type State = SemaphoreState;
    type Data = ();
    type Grant = ();

    fn state(&self) -> &Mutex<SemaphoreState> {
        &self.state
    }

    fn queue(state: &mut SemaphoreState) -> &mut WaitQueue<(), ()> {
        &mut state.waiters
    }

    fn pass_on(&self, state: &mut SemaphoreState, (): ()) {
        state.release();
    }
}

/// The future of [`Semaphore::acquire`].
///
/// # Cancel safety
///
/// Dropping it at any point is safe: see [`Semaphore::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    semaphore: &'a Semaphore,
    step: Step,
    waiter: Waiter,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = Result<SemaphorePermit<'a>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = this.semaphore;
        let out = match this.step {
            Step::Start => {
                if current::is_cancelled() {
                    Poll::Ready(Err(current::cancelled()))
                } else {
                    let mut state = lock(&semaphore.state);
                    if state.value > 0 {
                        state.value -= 1;
                        drop(state);
                        if semaphore.fast {
                            Poll::Ready(Ok(()))
                        } else {
                            this.step = Step::Yielded;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    } else {
                        this.waiter.push::<Semaphore>(&mut state, (), cx);
                        drop(state);
                        this.step = Step::Waiting;
                        this.waiter.register(semaphore, cx)
                    }
                }
            }
            Step::Yielded => {
                if current::is_cancelled() {
                    lock(&semaphore.state).release();
                    Poll::Ready(Err(current::cancelled()))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            Step::Waiting => match this.waiter.poll(semaphore, cx) {
                Poll::Ready(Some(res)) => Poll::Ready(res),
                // Passed over while cancelled, and not cancelled any more: a permit may
                // be free now.
                Poll::Ready(None) => {
                    this.step = Step::Start;
                    return Pin::new(this).poll(cx);
                }
                Poll::Pending => Poll::Pending,
            },
            Step::Done => panic!("`SemaphoreAcquire` polled after completion"),
        };
        match out {
            Poll::Ready(res) => {
                this.step = Step::Done;
                Poll::Ready(res.map(|()| SemaphorePermit { semaphore }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        match self.step {
            Step::Yielded => lock(&self.semaphore.state).release(),
            Step::Waiting => self.waiter.abandon(self.semaphore),
            Step::Start | Step::Done => {}
        }
    }
}

/// A permit of a [`Semaphore`]; dropping it gives the permit back (to the oldest waiter,
/// if any).
#[derive(Debug)]
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without a guard: the value stays decremented until
    /// [`Semaphore::release`] is called.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        lock(&self.semaphore.state).release();
    }
}
