//! The smol backend: an `async_executor::Executor` run by the calling thread plus helper
//! threads, each inside `async_io::block_on` (which drives the reactor when idle).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::thread;

use async_executor::Executor;

use super::tokio_context::TokioContext;
use super::{Clock, Runtime, RuntimeOptions};

/// A handle to the executor that runs the current task.
///
/// It does not keep the executor alive: the run owns it (see [`block_on`]), and every task
/// and every run's context holds a handle. A handle that owned the executor would make a
/// cycle with a task still pending when the run ends (the executor holds the task, the task
/// holds the run's context, which holds the handle), and the executor, that task and all it
/// holds would never be freed. Spawning once the executor is gone drops the future, as
/// tokio does once its runtime has shut down.
///
/// It also carries the run's tokio context (see [`TokioContext`]), which the blocking
/// threads of `to_thread` enter as the executor's threads do.
#[derive(Clone, Debug)]
pub(crate) struct Handle {
    executor: Weak<Executor<'static>>,
    tokio: TokioContext,
    clock: Clock,
}

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
                        run_executor(&ex, std::future::pending::<()>());
                    })
                    .expect("failed to spawn a thread for the global smol executor");
            }
            ex
        });
        Handle {
            executor: Arc::downgrade(ex),
            tokio: TokioContext::default(),
            clock: None,
        }
    }

    /// The run's virtual clock, if it has one.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let running = RUNNING.get();
        if ptr::eq(running, self.executor.as_ptr()) {
            // SAFETY: `RUNNING` points at the executor this thread is running, which the
            // thread keeps alive while it runs it (see `run_executor`).
            unsafe { &*running }.spawn(fut).detach();
            return;
        }
        match self.executor.upgrade() {
            Some(ex) => ex.spawn(fut).detach(),
            // The run is over: its tasks have been dropped, and so is this one.
            None => drop(fut),
        }
    }

    /// Runs `f` on the `blocking` crate's thread pool, inside the run's tokio context if it
    /// has one (so a `to_thread` closure finds tokio as it does on the tokio backend).
    pub(crate) fn spawn_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let tokio = self.tokio.clone();
        blocking::unblock(move || tokio.within(f)).detach();
    }
}

pub(crate) fn block_on<F, M>(options: RuntimeOptions, make: M) -> std::io::Result<F::Output>
where
    M: FnOnce(Runtime) -> F,
    F: Future,
{
    let threads = if options.current_thread {
        1
    } else {
        options.threads.unwrap_or(1)
    };
    // Entered once per executor thread for the whole run, not once per poll: every task of
    // the run is polled by these threads only, so this covers them all at no cost per poll.
    let tokio = TokioContext::start(options.tokio_compat)?;
    let ex = Arc::new(Executor::new());
    let stop = Arc::new(Stop::default());
    let mut helpers = Vec::with_capacity(threads - 1);
    for i in 1..threads {
        let (ex, stop, tokio) = (ex.clone(), stop.clone(), tokio.clone());
        let helper = thread::Builder::new()
            .name(format!("anyio-smol-worker-{i}"))
            .spawn(move || tokio.within(|| run_executor(&ex, StopFuture(&stop))))?;
        helpers.push(helper);
    }
    // Stops and joins the helpers however the root ends, a panic included.
    let helpers = Helpers { stop, helpers };
    let handle = Handle {
        executor: Arc::downgrade(&ex),
        tokio: tokio.clone(),
        clock: options.clock,
    };
    let root = make(Runtime::Smol(handle));
    tokio.within(|| {
        let out = run_executor(&ex, root);
        // The helpers drop their references, then this last one drops the executor, and
        // with it every task still pending (a call from another thread, say), so the run
        // leaves nothing behind, as tokio's runtime does when it shuts down. Those tasks
        // are dropped inside the tokio context they ran in.
        drop(helpers);
        drop(ex);
        Ok(out)
    })
}

thread_local! {
    /// The executor this thread is running (inside [`run_executor`]); null otherwise. A
    /// task spawning into the executor that runs it, the common case, then neither
    /// upgrades the handle's `Weak` nor drops the `Arc` again: two atomic operations on a
    /// line every thread of the executor reads.
    static RUNNING: Cell<*const Executor<'static>> = const { Cell::new(ptr::null()) };
}

/// Runs `ex` on this thread until `fut` completes, with `RUNNING` pointing at it; `ex`
/// (borrowed from an `Arc` the caller holds) outlives the call, and the previous value is
/// restored on the way out, unwinding included.
fn run_executor<T>(ex: &Arc<Executor<'static>>, fut: impl Future<Output = T>) -> T {
    struct Restore(*const Executor<'static>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RUNNING.set(self.0);
        }
    }
    let _restore = Restore(RUNNING.replace(Arc::as_ptr(ex)));
    async_io::block_on(ex.run(fut))
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

/// The signals one receiver listens for: an `async_signal::Signals`, whose handler writes
/// each delivery into a pipe of its own, so every receiver sees every delivery.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Signals(async_signal::Signals);

/// Registers a listener for each signal number; a number that `async-signal` does not
/// know is an `Unsupported` error.
#[cfg(unix)]
pub(crate) fn signals(numbers: &[i32]) -> std::io::Result<Signals> {
    use async_signal::Signal as S;
    const ALL: &[S] = &[
        S::Hup,
        S::Int,
        S::Quit,
        S::Ill,
        S::Trap,
        S::Abort,
        S::Bus,
        S::Fpe,
        S::Kill,
        S::Usr1,
        S::Segv,
        S::Usr2,
        S::Pipe,
        S::Alarm,
        S::Term,
        S::Child,
        S::Cont,
        S::Stop,
        S::Tstp,
        S::Ttin,
        S::Ttou,
        S::Urg,
        S::Xcpu,
        S::Xfsz,
        S::Vtalarm,
        S::Prof,
        S::Winch,
        #[cfg(not(target_os = "haiku"))]
        S::Io,
        S::Sys,
    ];
    let kinds = numbers
        .iter()
        .map(|&n| {
            // The enum is `repr(i32)` with the signal numbers as its discriminants.
            ALL.iter().copied().find(|&s| s as i32 == n).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!("signal {n} cannot be received on the smol backend"),
                )
            })
        })
        .collect::<std::io::Result<Vec<S>>>()?;
    async_signal::Signals::new(kinds).map(Signals)
}

#[cfg(unix)]
impl Signals {
    /// The number of the next signal delivered; never ends.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<i32> {
        use futures_core::Stream;
        loop {
            match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(signal))) => return Poll::Ready(signal as i32),
                Poll::Ready(Some(Err(e))) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Another read error on the pipe (which cannot end: this end holds its
                // writer) would mean a broken descriptor: wait for cancellation instead of
                // spinning on it.
                Poll::Ready(Some(Err(_)) | None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
