//! The smol backend: an `async_executor::Executor` run by the calling thread plus helper
//! threads, each inside `async_io::block_on` (which drives the reactor when idle).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;

use async_executor::Executor;

use super::Runtime;
use crate::runner::{RunError, Runner};

/// A handle to the executor that runs the current task.
#[derive(Clone, Debug)]
pub(crate) struct Handle(Arc<Executor<'static>>);

impl Handle {
    /// The process-wide executor used by code that runs outside `anyio::run` (inside
    /// `smol::block_on`, say): started on first use with one thread per core, like smol's own.
    pub(crate) fn global() -> Handle {
        static GLOBAL: OnceLock<Arc<Executor<'static>>> = OnceLock::new();
        let ex = GLOBAL.get_or_init(|| {
            let ex = Arc::new(Executor::new());
            let threads = thread::available_parallelism().map_or(1, |n| n.get());
            for i in 0..threads {
                let ex = ex.clone();
                thread::Builder::new()
                    .name(format!("anyio-smol-global-{i}"))
                    .spawn(move || {
                        async_io::block_on(ex.run(std::future::pending::<()>()));
                    })
                    .expect("failed to spawn a thread for the global smol executor");
            }
            ex
        });
        Handle(ex.clone())
    }

    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(fut).detach();
    }
}

pub(crate) fn block_on<F, M>(runner: &Runner, make: M) -> Result<F::Output, RunError>
where
    M: FnOnce(Runtime) -> F,
    F: Future,
{
    let threads = if runner.is_current_thread() {
        1
    } else {
        runner.threads().unwrap_or(1)
    };
    let ex = Arc::new(Executor::new());
    let stop = Arc::new(Stop::default());
    let mut helpers = Vec::with_capacity(threads - 1);
    for i in 1..threads {
        let (ex, stop) = (ex.clone(), stop.clone());
        let helper = thread::Builder::new()
            .name(format!("anyio-smol-worker-{i}"))
            .spawn(move || async_io::block_on(ex.run(StopFuture(&stop))))
            .map_err(RunError::Io)?;
        helpers.push(helper);
    }
    // Stops and joins the helpers however the root ends, a panic included.
    let _helpers = Helpers { stop, helpers };
    let root = make(Runtime::Smol(Handle(ex.clone())));
    Ok(async_io::block_on(ex.run(root)))
}

/// Tells the helper threads to leave their executor loop.
#[derive(Default)]
struct Stop {
    stopped: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

struct StopFuture<'a>(&'a Stop);

impl Future for StopFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let stop = self.0;
        if stop.stopped.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut wakers = stop.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if stop.stopped.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

struct Helpers {
    stop: Arc<Stop>,
    helpers: Vec<thread::JoinHandle<()>>,
}

impl Drop for Helpers {
    fn drop(&mut self) {
        self.stop.stopped.store(true, Ordering::Release);
        let wakers =
            std::mem::take(&mut *self.stop.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}
