//! Starting a run: [`run`], [`Runner`] and [`current_backend`].
//!
//! A run owns a fresh runtime of the chosen backend, runs one root future on the calling
//! thread, and tears the runtime down when that future returns. Code inside the run (and
//! every task it starts) can ask which backend it is on with [`current_backend`].

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;

use crate::backend::virtual_clock::ClockCore;
use crate::backend::{self, Backend, Runtime, RuntimeOptions};
use crate::cancel::current;
use crate::context;
use crate::task::root::{RootFuture, RootTask};
use crate::time::VirtualClock;

/// Runs `fut` to completion on the default backend (tokio, multi-threaded) and returns its
/// output.
///
/// The future runs on the calling thread; tasks it starts in task groups run on the
/// runtime's worker threads. When it returns, the runtime is shut down.
///
/// # Errors
///
/// [`RunError::AlreadyRunning`] if this thread is already running anyio or tokio (nesting
/// runs is a mistake: use `.await` instead), [`RunError::Io`] if the runtime cannot start.
///
/// # Examples
///
/// ```
/// let answer = anyio::run(async {
///     anyio::sleep(std::time::Duration::from_millis(1)).await?;
///     Ok::<_, anyio::Cancelled>(42)
/// })
/// .unwrap();
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub fn run<F: Future>(fut: F) -> Result<F::Output, RunError> {
    Runner::default().run(fut)
}

/// [`run`] for a future that returns a `Result`: a run that cannot start and a failure of
/// the future come out as one error, so `main` needs one `?`, not two.
///
/// # Errors
///
/// The future's error, or the [`RunError`] converted into the same type (`io::Error` and
/// [`BoxError`](crate::BoxError) both take it).
///
/// # Examples
///
/// ```
/// fn main() -> Result<(), anyio::BoxError> {
///     let answer = anyio::try_run(async {
///         anyio::sleep(std::time::Duration::from_millis(1)).await?;
///         Ok::<_, anyio::BoxError>(42)
///     })?;
///     assert_eq!(answer, 42);
///     Ok(())
/// }
/// ```
pub fn try_run<F, T, E>(fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<RunError>,
{
    Runner::default().try_run(fut)
}

/// Chooses a backend and its options, then runs a future on it.
///
/// `#[anyio::main]` does the same for `main`, with the backend and options as arguments
/// (`#[anyio::main(backend = "smol", worker_threads = 2)]`):
///
/// ```
/// #[anyio::main(backend = "smol")]
/// async fn main() -> Result<(), anyio::BoxError> {
///     assert_eq!(anyio::current_backend()?, anyio::Backend::Smol);
///     anyio::sleep(std::time::Duration::from_millis(1)).await?;
///     Ok(())
/// }
/// ```
///
/// ```
/// use anyio::{Backend, Runner};
/// let backend = Runner::new(Backend::Smol)
///     .worker_threads(2)
///     .run(async { anyio::current_backend().unwrap() })
///     .unwrap();
/// assert_eq!(backend, Backend::Smol);
/// ```
#[derive(Clone, Debug)]
pub struct Runner {
    backend: Backend,
    threads: Option<usize>,
    current_thread: bool,
    tokio_compat: bool,
    clock: Option<VirtualClock>,
}

impl Default for Runner {
    /// tokio (multi-threaded, one worker per core) when that feature is on, else smol.
    fn default() -> Self {
        Runner::new(Backend::default_enabled())
    }
}

impl Runner {
    /// A runner for `backend` with its default options: tokio multi-threaded with one
    /// worker per core; smol with one thread (the caller's).
    pub const fn new(backend: Backend) -> Self {
        Runner {
            backend,
            threads: None,
            current_thread: false,
            tokio_compat: false,
            clock: None,
        }
    }

    /// Runs tasks on `n` threads: tokio's multi-thread runtime with `n` workers, or smol's
    /// executor run by the calling thread plus `n - 1` helpers. `0` is an error at
    /// [`run`](Runner::run).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self.current_thread = false;
        self
    }

    /// Runs everything on the calling thread: tokio's current-thread runtime, or smol with a
    /// single thread.
    pub fn current_thread(mut self) -> Self {
        self.current_thread = true;
        self.threads = None;
        self
    }

    /// On smol, lets code written for tokio run inside the run: `tokio::net`, `tokio::time`,
    /// `tokio::spawn` and the crates built on them (hyper-util's `TokioExecutor`, say),
    /// which otherwise panic with "there is no reactor running, must be called from the
    /// context of a Tokio 1.x runtime". On tokio the option changes nothing: the run is
    /// inside tokio already.
    ///
    /// Every thread that runs the smol executor (the caller's and the helpers), and every
    /// `to_thread` thread, enters the context of one tokio runtime shared by the whole
    /// process: a multi-thread runtime with a single worker thread, started the first time
    /// a run asks for it and kept until the process exits. That thread drives tokio's
    /// reactor and timers and runs what `tokio::spawn` starts; anyio's own tasks stay on
    /// smol. The context is entered once per thread for the whole run, so polling a task
    /// costs nothing more; a run pays one thread-local guard per executor thread, and each
    /// `to_thread` call one more.
    ///
    /// It is opt-in, per runner, rather than turned on by the cargo feature: a feature can
    /// be switched on by any crate in the dependency graph, and a run that quietly gains a
    /// tokio runtime (a thread, a second reactor) should be one that asked for it.
    ///
    /// Cancel scopes do not reach inside a tokio future (it has no checkpoints): wrap it in
    /// [`cancellable`](crate::cancellable) so a scope can cancel the wait.
    ///
    /// Needs the cargo feature `tokio-compat`.
    ///
    /// ```
    /// use anyio::{Backend, Runner};
    /// use std::time::Duration;
    ///
    /// Runner::new(Backend::Smol)
    ///     .tokio_compat(true)
    ///     .run(async { tokio::time::sleep(Duration::from_millis(1)).await })
    ///     .unwrap();
    /// ```
    #[cfg(feature = "tokio-compat")]
    pub fn tokio_compat(mut self, enabled: bool) -> Self {
        self.tokio_compat = enabled;
        self
    }

    /// Runs on `clock` instead of real time: every time anyio reads or waits for in the run
    /// (`current_time`, `sleep`, deadlines and timeouts) follows the [`VirtualClock`], on
    /// every backend and flavour. `#[anyio::test(virtual_clock)]` does this for a test.
    ///
    /// A clock serves one run at a time: starting a second run with it while the first
    /// runs is a [`RunError::InvalidOption`]. A later run continues from the time the clock
    /// shows.
    pub fn virtual_clock(mut self, clock: VirtualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The backend this runner starts.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `fut` to completion on this runner's backend and returns its output.
    ///
    /// # Errors
    ///
    /// [`RunError::AlreadyRunning`] when called from inside a run (or a tokio runtime) on
    /// this thread, [`RunError::NotEnabled`] for a backend whose feature is off,
    /// [`RunError::InvalidOption`] for `worker_threads(0)` or a virtual clock that another
    /// run is using, [`RunError::Io`] when the runtime (or the shared tokio runtime of
    /// `tokio_compat`) cannot start.
    pub fn run<F: Future>(&self, fut: F) -> Result<F::Output, RunError> {
        if self.threads == Some(0) {
            return Err(RunError::InvalidOption("worker_threads must be at least 1"));
        }
        if !self.backend.is_enabled() {
            return Err(RunError::NotEnabled(self.backend));
        }
        if let Some(running) = RUNNING.get() {
            return Err(RunError::AlreadyRunning(running));
        }
        // Inside a task polled on this thread (a worker thread of a run, say)...
        let in_task = current::with_current(|cur| cur.map(|c| c.task_data().run.runtime.backend()));
        if let Some(running) = in_task {
            return Err(RunError::AlreadyRunning(running));
        }
        // ...or inside a native runtime entered on this thread.
        if let Some(running) = Runtime::native_running_here() {
            return Err(RunError::AlreadyRunning(running));
        }
        let _running = RunningGuard::enter(self.backend);
        let _clock = self
            .clock
            .as_ref()
            .map(|c| ClockInUse::start(c.core()))
            .transpose()?;
        let clock = self.clock.as_ref().map(|c| c.core().clone());
        let options = RuntimeOptions {
            threads: self.threads,
            current_thread: self.current_thread,
            tokio_compat: self.tokio_compat,
            clock,
        };
        // Boxed before anything else moves it: see `RootTask`.
        let fut: RootFuture<'_, F::Output> = Box::pin(fut);
        backend::block_on(self.backend, options, |rt| RootTask::new(rt, fut)).map_err(RunError::Io)
    }

    /// [`run`](Runner::run) for a future that returns a `Result`, with one error for both
    /// ways to fail: `Runner::new(backend).try_run(serve())?` instead of `run(..)??`.
    ///
    /// # Errors
    ///
    /// The future's error, or the [`RunError`] (see [`run`](Runner::run)) converted into the
    /// same type.
    pub fn try_run<F, T, E>(&self, fut: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<RunError>,
    {
        self.run(fut)?
    }
}

/// Marks a virtual clock used by the run while it lives.
struct ClockInUse<'a>(&'a ClockCore);

impl<'a> ClockInUse<'a> {
    fn start(clock: &'a std::sync::Arc<ClockCore>) -> Result<Self, RunError> {
        clock
            .start()
            .map(|()| ClockInUse(clock))
            .map_err(|_| RunError::InvalidOption("the virtual clock is in use by another run"))
    }
}

impl Drop for ClockInUse<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

thread_local! {
    /// The backend of the run this thread is inside, so a nested `run` fails cleanly.
    static RUNNING: Cell<Option<Backend>> = const { Cell::new(None) };
}

struct RunningGuard(Option<Backend>);

impl RunningGuard {
    fn enter(backend: Backend) -> Self {
        RunningGuard(RUNNING.replace(Some(backend)))
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

/// Why a run could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// This thread is already running the given backend.
    AlreadyRunning(Backend),
    /// The backend's cargo feature is not enabled in this build.
    NotEnabled(Backend),
    /// A runner option has a value that cannot be used.
    InvalidOption(&'static str),
    /// The runtime could not be built (threads could not be spawned, say).
    Io(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::AlreadyRunning(b) => write!(f, "Already running {b} in this thread"),
            RunError::NotEnabled(b) => {
                write!(f, "the {b} backend is not enabled (cargo feature \"{b}\")")
            }
            RunError::InvalidOption(msg) => write!(f, "invalid runner option: {msg}"),
            RunError::Io(e) => write!(f, "failed to start the runtime: {e}"),
        }
    }
}

impl From<RunError> for io::Error {
    /// The runtime's own `io::Error` if it could not be built; otherwise an error of kind
    /// [`Other`](io::ErrorKind::Other) that wraps the `RunError`.
    fn from(err: RunError) -> io::Error {
        match err {
            RunError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Which backend runs the calling code, like Python's `sniffio`.
///
/// Detection order: the run or anyio task this code is inside; otherwise a tokio runtime
/// entered on this thread (so a library written against anyio works when called from a
/// plain tokio `main` program); otherwise smol, whose reactor needs no setup, when the
/// `smol` feature is on.
///
/// # Errors
///
/// [`NoRuntime`] when none of these applies (only possible without the `smol` feature).
pub fn current_backend() -> Result<Backend, NoRuntime> {
    context::current_runtime()
        .map(|rt| rt.backend())
        .ok_or(NoRuntime)
}

/// The error for code that needs a runtime but runs outside every runtime anyio can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no async runtime is running: use anyio::run, or call from a tokio runtime")
    }
}

impl std::error::Error for NoRuntime {}

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../docs/running.md")]
struct RunningGuide;
