//! Time: the backend's clock, sleeping, and timeouts built on cancel scopes.
//!
//! Delays are [`Duration`]s, which cannot be negative or NaN. To accept a delay in float
//! seconds, as AnyIO does, convert it with [`Duration::try_from_secs_f64`], which returns an
//! error (never a panic) for a negative, NaN or overflowing value. A delay so long that the
//! deadline does not fit the clock means "no deadline".

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::backend::Timer;
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::cancel::driver::Driver;
use crate::cancel::error::{Cancelled, IsCancelled, TimeoutError};
use crate::cancel::scope::Scoped;
use crate::context;

mod virtual_clock;

pub use virtual_clock::{VirtualClock, VirtualClockError};

/// The current time on the run's clock, which every deadline in anyio uses: the backend's
/// monotonic clock, or the run's [`VirtualClock`] if it has one.
///
/// Outside any runtime this is [`Instant::now`].
pub fn current_time() -> Instant {
    context::now()
}

/// Waits for `delay`, as a checkpoint: fails with [`Cancelled`] if the calling code is or
/// becomes effectively cancelled first. `sleep(Duration::ZERO)` is a plain
/// [`checkpoint`](crate::checkpoint). The deadline is computed when `sleep` is called.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Panics
///
/// When awaited outside every runtime anyio can use (only possible without the `smol`
/// feature, outside tokio), or inside a tokio runtime built without its time driver
/// (`enable_time`; `anyio::run` and a tokio `main` attribute enable it).
pub fn sleep(delay: Duration) -> Sleep {
    Sleep::new(current_time().checked_add(delay))
}

/// Waits until `deadline` on the backend's clock, as a checkpoint (see [`sleep`]).
///
/// # Cancel safety
///
/// Cancel safe.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Some(deadline))
}

/// Waits until cancelled: the returned future only ever resolves to `Err(Cancelled)`.
///
/// # Cancel safety
///
/// Cancel safe.
pub fn sleep_forever() -> Sleep {
    Sleep::new(None)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SleepState {
    Start,
    Yielded,
    Waiting,
}

pin_project! {
    /// The future of [`sleep`], [`sleep_until`] and [`sleep_forever`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Sleep {
        deadline: Option<Instant>,
        #[pin]
        timer: Option<Timer>,
        wait: CancelWait,
        state: SleepState,
    }
}

impl Sleep {
    fn new(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline,
            timer: None,
            wait: CancelWait::new(),
            state: SleepState::Start,
        }
    }
}

impl Future for Sleep {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match *this.state {
            SleepState::Start => {
                if current::is_cancelled() {
                    return Poll::Ready(Err(current::cancelled()));
                }
                if let Some(deadline) = *this.deadline {
                    let timer = context::with_runtime(|rt| {
                        (rt.now() < deadline).then(|| rt.timer(deadline))
                    })
                    .expect(
                        "no async runtime: run inside anyio::run or a tokio runtime, \
                                 or enable the smol feature",
                    );
                    let Some(timer) = timer else {
                        *this.state = SleepState::Yielded;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    };
                    this.timer.set(Some(timer));
                }
                *this.state = SleepState::Waiting;
            }
            SleepState::Yielded => {
                return Poll::Ready(if current::is_cancelled() {
                    Err(current::cancelled())
                } else {
                    Ok(())
                });
            }
            SleepState::Waiting => {}
        }
        if let Some(timer) = this.timer.as_mut().as_pin_mut() {
            if timer.poll(cx).is_ready() {
                this.wait.clear();
                return Poll::Ready(Ok(()));
            }
        }
        match this.wait.register(cx) {
            Ok(()) => Poll::Pending,
            Err(c) => Poll::Ready(Err(c)),
        }
    }
}

/// Runs `fut` in a new cancel scope that is cancelled `delay` from now (computed by this
/// call). Returns `Ok(None)` if the deadline cancelled it, `Ok(Some(value))` if it finished.
///
/// ```
/// use std::time::Duration;
/// # anyio::run(async {
/// let out = anyio::move_on_after(Duration::from_millis(10), async {
///     anyio::sleep(Duration::from_secs(10)).await?;
///     Ok::<_, anyio::Cancelled>("slept")
/// })
/// .await;
/// assert_eq!(out, Ok(None));
/// # }).unwrap();
/// ```
///
/// # Cancel safety
///
/// Dropping it drops `fut` where it stands.
pub fn move_on_after<F, T, E>(delay: Duration, fut: F) -> Scoped<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled,
{
    Scoped::private(current_time().checked_add(delay), delay.is_zero(), fut)
}

/// Like [`move_on_after`], with an absolute deadline on the backend's clock.
///
/// # Cancel safety
///
/// Dropping it drops `fut` where it stands.
pub fn move_on_at<F, T, E>(deadline: Instant, fut: F) -> Scoped<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled,
{
    Scoped::private(Some(deadline), current_time() >= deadline, fut)
}

/// Runs `fut` in a new cancel scope that is cancelled `delay` from now, and fails with
/// [`TimeoutError`] (converted into `E`) if that deadline cancelled it. Give the error a
/// reason with [`FailAfter::with_reason`].
///
/// The deadline is computed when the future is first polled (AnyIO computes it on entry).
/// The timeout error is returned only when the scope caught the cancellation and the
/// deadline had really passed; a cancellation caused by an enclosing scope passes through
/// unchanged. To cancel such a scope by hand as well, use a [`CancelScope`](crate::CancelScope) with a deadline
/// and [`CancelScope::timed_out`](crate::CancelScope::timed_out).
///
/// ```
/// use std::time::Duration;
/// use anyio::{BoxError, TimeoutError};
/// # anyio::run(async {
/// let err: BoxError = anyio::fail_after(Duration::from_millis(10), async {
///     anyio::sleep(Duration::from_secs(10)).await?;
///     Ok::<_, BoxError>(())
/// })
/// .await
/// .unwrap_err();
/// assert!(err.is::<TimeoutError>());
/// # }).unwrap();
/// ```
///
/// # Cancel safety
///
/// Dropping it drops `fut` where it stands.
pub fn fail_after<F, T, E>(delay: Duration, fut: F) -> FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled + From<TimeoutError>,
{
    FailAfter {
        delay: Some(delay),
        reason: None,
        driver: Driver::private(None, false, fut),
    }
}

/// Like [`fail_after`], with an absolute deadline on the backend's clock.
///
/// # Cancel safety
///
/// Dropping it drops `fut` where it stands.
pub fn fail_at<F, T, E>(deadline: Instant, fut: F) -> FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled + From<TimeoutError>,
{
    FailAfter {
        delay: None,
        reason: None,
        driver: Driver::private(Some(deadline), current_time() >= deadline, fut),
    }
}

pin_project! {
    /// The future of [`fail_after`] and [`fail_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct FailAfter<F> {
        // For `fail_after`: the delay, turned into a deadline on first poll.
        delay: Option<Duration>,
        reason: Option<Cow<'static, str>>,
        #[pin]
        driver: Driver<F>,
    }
}

impl<F> FailAfter<F> {
    /// Gives the [`TimeoutError`] a reason, which becomes its message (AnyIO's
    /// `fail_after(delay, reason=...)`): `fail_after(d, fut).with_reason("no reply")`.
    ///
    /// The reason is the timeout's, not the cancellation's: code inside the scope observes
    /// the deadline as a [`Cancelled`] whose reason is `"deadline exceeded"`, as in AnyIO.
    pub fn with_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

impl<F, T, E> Future for FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled + From<TimeoutError>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(delay) = this.delay.take() {
            let deadline = current_time().checked_add(delay);
            this.driver
                .as_mut()
                .set_private_deadline(deadline, delay.is_zero());
        }
        let (out, catches) = std::task::ready!(this.driver.as_mut().poll(cx));
        Poll::Ready(match out {
            Err(e) if catches && e.is_cancelled() => {
                // Only the deadline can cancel this scope: no handle to it exists.
                if let Some(node) = this.driver.node() {
                    node.set_caught();
                }
                Err(TimeoutError::from_reason(this.reason.take()).into())
            }
            other => other,
        })
    }
}
