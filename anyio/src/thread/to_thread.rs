//! Running blocking code on a worker thread without blocking the event loop.
//!
//! [`run_sync`] hands a closure to the backend's pool of blocking threads and waits for its
//! result. The number of closures running at once is bounded by a [`CapacityLimiter`]: the
//! run's default one (40 tokens, [`current_default_thread_limiter`]) or one you pass.
//!
//! Cancellation: a thread cannot be interrupted. By default the waiting task is *shielded*
//! until the closure returns, so its result is never lost; the cancellation is delivered at
//! the task's next checkpoint. With [`abandon_on_cancel`](RunSync::abandon_on_cancel) the
//! task stops waiting as soon as it is cancelled and the closure's result is dropped when
//! it arrives.
//!
//! The limiter token is held by the thread until the closure returns, also when the task
//! abandoned it (trio's choice, not asyncio's): the limiter then bounds the threads that
//! really run, and is never oversubscribed.

use std::future::{Future, IntoFuture};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::Result as ThreadResult;

use atomic_waker::AtomicWaker;

use super::worker::{self, WorkerContext};
use crate::CapacityLimiter;
use crate::cancel::checkpoint::{CancelWait, checkpoint_if_cancelled};
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::context::{self, RunLocal};
use crate::sync::limiter::LimiterError;

/// The size of each run's default thread limiter, as AnyIO's.
pub const DEFAULT_THREAD_LIMIT: usize = 40;

/// The limiter that [`run_sync`] uses unless given another: one per run, created with
/// [`DEFAULT_THREAD_LIMIT`] tokens; code outside any anyio run (a task of a plain tokio
/// runtime) shares one process-wide limiter of the same size. Change its size with
/// [`CapacityLimiter::set_total_tokens`].
pub fn current_default_thread_limiter() -> Arc<CapacityLimiter> {
    context::with_task(|task| task.map(|t| t.run.local::<RunLimiter>().0.clone()))
        .or_else(|| worker::current().map(|w| w.run.local::<RunLimiter>().0.clone()))
        .unwrap_or_else(|| {
            // Code outside any anyio run (a task of a plain tokio runtime) shares one
            // process-wide limiter, so the bound holds there too.
            static OUTSIDE: OnceLock<Arc<CapacityLimiter>> = OnceLock::new();
            OUTSIDE
                .get_or_init(|| {
                    Arc::new(
                        CapacityLimiter::new(DEFAULT_THREAD_LIMIT)
                            .expect("the default thread limit is valid"),
                    )
                })
                .clone()
        })
}

/// A run's default thread limiter, made on first use.
struct RunLimiter(Arc<CapacityLimiter>);

impl Default for RunLimiter {
    fn default() -> Self {
        RunLimiter(Arc::new(
            CapacityLimiter::new(DEFAULT_THREAD_LIMIT).expect("the default thread limit is valid"),
        ))
    }
}

impl RunLocal for RunLimiter {}

/// Runs `f` on a worker thread and returns its result, as a checkpoint.
///
/// Await the returned value directly, or configure it first:
///
/// ```
/// # anyio::run(async {
/// let n = anyio::to_thread::run_sync(|| (1..=10u64).product::<u64>()).await?;
/// assert_eq!(n, 3_628_800);
/// let slow = anyio::to_thread::run_sync(|| std::thread::sleep(std::time::Duration::from_millis(5)))
///     .abandon_on_cancel()
///     .await?;
/// # Ok::<_, anyio::Cancelled>(())
/// # }).unwrap().unwrap();
/// ```
///
/// A panic in `f` resumes in the caller.
///
/// # Errors
///
/// [`Cancelled`] if the caller is cancelled before the closure starts (while waiting for a
/// limiter token), or, with [`abandon_on_cancel`](RunSync::abandon_on_cancel), while it
/// runs.
///
/// # Cancel safety
///
/// If the future is dropped while the closure runs, the closure still runs to completion
/// (a thread cannot be stopped) and its result is dropped; the limiter token is returned
/// when it finishes.
pub fn run_sync<F, T>(f: F) -> RunSync<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    RunSync {
        f,
        limiter: None,
        abandon_on_cancel: false,
    }
}

/// A configured call of [`run_sync`]; await it (it implements [`IntoFuture`]).
#[derive(Debug)]
#[must_use = "it does nothing unless awaited"]
pub struct RunSync<F> {
    f: F,
    limiter: Option<Arc<CapacityLimiter>>,
    abandon_on_cancel: bool,
}

impl<F, T> RunSync<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Bounds the threads with `limiter` instead of the run's default limiter.
    pub fn limiter(mut self, limiter: Arc<CapacityLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Returns `Err(Cancelled)` as soon as the caller is cancelled, instead of waiting for
    /// the closure; its result is then dropped (AnyIO's `abandon_on_cancel=True`).
    pub fn abandon_on_cancel(mut self) -> Self {
        self.abandon_on_cancel = true;
        self
    }
}

impl<F, T> IntoFuture for RunSync<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<T, Cancelled>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, Cancelled>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.f, self.limiter, self.abandon_on_cancel))
    }
}

/// Distinguishes the calls that borrow from a limiter, so one task can run several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CallId(u64);

fn next_call() -> CallId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    CallId(NEXT.fetch_add(1, Relaxed))
}

async fn run<F, T>(
    f: F,
    limiter: Option<Arc<CapacityLimiter>>,
    abandon_on_cancel: bool,
) -> Result<T, Cancelled>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The wait for the thread below is the schedule point that makes this a checkpoint,
    // so nothing here yields when a token is free: one trip through the scheduler per call.
    checkpoint_if_cancelled().await?;
    let limiter = limiter.unwrap_or_else(current_default_thread_limiter);
    let call = next_call();
    match limiter.try_acquire_on_behalf_of(call) {
        Ok(token) => token.forget(),
        Err(_) => limiter
            .acquire_on_behalf_of(call)
            .await
            .map_err(|e| match e {
                LimiterError::Cancelled(c) => c,
                // The limiter's other errors are about a borrower, and each call is a
                // borrower of its own that neither holds nor waits for a token yet.
                _ => current::cancelled(),
            })?
            .forget(),
    }
    let (run, caller_scope) = current::with_current(|cur| {
        cur.map(|cur| (cur.task_data().run.clone(), cur.innermost().clone()))
    })
    .unwrap_or_else(|| {
        // In a task of a runtime anyio did not start: the thread gets a tree of its own.
        let root = crate::cancel::driver::foreign_root();
        let run = root.task().expect("a root has task data").run.clone();
        (run, root)
    });
    let done = Arc::new(Completion::<T>::default());
    let thread_done = done.clone();
    let thread_limiter = limiter.clone();
    // Dropped when this call stops waiting, however it ends: a thread whose caller left
    // calls back into the loop outside the caller's scope.
    let (ctx, _waiting) = WorkerContext::new(run.clone(), caller_scope);
    run.runtime.spawn_blocking(move || {
        let result = worker::with_worker(ctx, || catch_unwind(AssertUnwindSafe(f)));
        // The token goes back before the result is seen, so a caller that immediately
        // starts another call finds it free.
        let _ = thread_limiter.release_on_behalf_of(call);
        thread_done.complete(result);
    });
    let result = WaitCompletion {
        done: &done,
        abandon_on_cancel,
        wait: CancelWait::new(),
        yielded: false,
    }
    .await?;
    match result {
        Ok(value) => Ok(value),
        Err(panic) => resume_unwind(panic),
    }
}

/// The result slot a worker thread fills.
struct Completion<T> {
    result: Mutex<Option<ThreadResult<T>>>,
    waker: AtomicWaker,
}

impl<T> Default for Completion<T> {
    fn default() -> Self {
        Completion {
            result: Mutex::new(None),
            waker: AtomicWaker::new(),
        }
    }
}

impl<T> Completion<T> {
    fn complete(&self, result: ThreadResult<T>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.waker.wake();
    }

    fn take(&self) -> Option<ThreadResult<T>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Waits for the worker thread: shielded, or abandoned on cancellation.
struct WaitCompletion<'a, T> {
    done: &'a Completion<T>,
    abandon_on_cancel: bool,
    wait: CancelWait,
    /// Whether it has returned `Pending` once: the call's only schedule point.
    yielded: bool,
}

impl<T> Future for WaitCompletion<'_, T> {
    type Output = Result<ThreadResult<T>, Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.yielded {
            // Yield at least once, also if the thread was faster than this first poll.
            self.yielded = true;
            self.done.waker.register(cx.waker());
            if self
                .done
                .result
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
            {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        } else {
            self.done.waker.register(cx.waker());
        }
        if let Some(result) = self.done.take() {
            return Poll::Ready(Ok(result));
        }
        if self.abandon_on_cancel {
            if let Err(c) = self.wait.register(cx) {
                return Poll::Ready(Err(c));
            }
        }
        Poll::Pending
    }
}
