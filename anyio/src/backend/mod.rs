//! The backend seam: the only place that names tokio, smol or their types.
//!
//! Everything else in the crate reaches the runtime through [`Runtime`] (spawn, timers, the
//! clock, starting a run) and never matches on the backend itself. A match here costs a
//! predictable branch; every operation behind it is far more expensive than that.

#[cfg(unix)]
pub(crate) mod io;
#[cfg(unix)]
pub(crate) mod reactor_turn;
#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "tokio")]
mod tokio;
#[cfg(feature = "smol")]
mod tokio_context;
pub(crate) mod virtual_clock;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use virtual_clock::{ClockCore, VirtualTimer};

/// A run's virtual clock, kept in the runtime handle so that every task of the run, on
/// every thread, reaches it. The handle is only looked at while some run of the process
/// uses a virtual clock (`virtual_clock::any_in_use`): other runs pay one test of a global.
pub(crate) type Clock = Option<Arc<ClockCore>>;

/// An async runtime that anyio can run on.
///
/// Both variants always exist, so code that names a backend compiles whatever features are
/// enabled; running on a backend whose cargo feature is off is a
/// [`RunError::NotEnabled`](crate::RunError::NotEnabled).
/// Parse one from its name with [`str::parse`]:
///
/// ```
/// use anyio::Backend;
/// assert_eq!("smol".parse::<Backend>().unwrap(), Backend::Smol);
/// let err = "asyncio".parse::<Backend>().unwrap_err();
/// assert!(err.to_string().contains("tokio"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tokio: the default backend, multi-threaded unless configured otherwise.
    Tokio,
    /// smol: an `async-executor` executor driven by the `async-io` reactor.
    Smol,
}

impl Backend {
    /// Every backend anyio knows, enabled or not.
    pub const ALL: [Backend; 2] = [Backend::Tokio, Backend::Smol];

    /// The backends compiled into this build (cargo features `tokio` and `smol`).
    pub fn available() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_enabled()).collect()
    }

    /// Whether this backend's cargo feature is enabled.
    pub const fn is_enabled(self) -> bool {
        match self {
            Backend::Tokio => cfg!(feature = "tokio"),
            Backend::Smol => cfg!(feature = "smol"),
        }
    }

    /// The backend's name, as accepted by [`str::parse`]: `"tokio"` or `"smol"`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Tokio => "tokio",
            Backend::Smol => "smol",
        }
    }

    /// The default backend: tokio when it is enabled, else smol.
    pub(crate) const fn default_enabled() -> Backend {
        if cfg!(feature = "tokio") {
            Backend::Tokio
        } else {
            Backend::Smol
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBackend { name: s.to_owned() })
    }
}

/// The error for a backend name that is not `"tokio"` or `"smol"`.
///
/// Its message lists the backends available in this build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBackend {
    name: String,
}

impl UnknownBackend {
    /// The name that was asked for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
        write!(
            f,
            "no such backend: {:?} (available: {})",
            self.name,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownBackend {}

/// Whether this thread has a smol run's tokio context entered (see `tokio_context`).
#[cfg(feature = "tokio")]
fn entered_for_compat() -> bool {
    #[cfg(feature = "smol")]
    return tokio_context::entered_here();
    #[cfg(not(feature = "smol"))]
    false
}

/// A handle to the runtime that runs the current task: what every other module uses to
/// spawn, sleep and read the clock.
#[derive(Clone, Debug)]
pub(crate) enum Runtime {
    #[cfg(feature = "tokio")]
    Tokio(tokio::Handle),
    #[cfg(feature = "smol")]
    Smol(smol::Handle),
}

impl Runtime {
    /// The runtime of code that runs outside any anyio task: a tokio runtime entered on this
    /// thread, else smol's reactor (which needs no setup) when that feature is on.
    ///
    /// The tokio context a smol run enters for compatibility does not count: code there runs
    /// on smol, as it would without that layer.
    pub(crate) fn detect() -> Option<Runtime> {
        #[cfg(feature = "tokio")]
        if let Some(handle) = tokio::Handle::try_current().filter(|_| !entered_for_compat()) {
            return Some(Runtime::Tokio(handle));
        }
        #[cfg(feature = "smol")]
        return Some(Runtime::Smol(smol::Handle::global()));
        #[allow(unreachable_code)]
        None
    }

    /// Whether this thread is inside a native runtime context that forbids starting another.
    ///
    /// The tokio context a smol run enters for compatibility does not count either: a thread
    /// may start what it could without that layer (tokio itself only refuses a runtime
    /// inside a running one, not inside an entered context).
    pub(crate) fn native_running_here() -> Option<Backend> {
        #[cfg(feature = "tokio")]
        if tokio::Handle::try_current().is_some() && !entered_for_compat() {
            return Some(Backend::Tokio);
        }
        None
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(_) => Backend::Tokio,
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => Backend::Smol,
        }
    }

    /// Spawns a detached task; completion is reported by the task itself. Inline: each
    /// call site is one task type, and spawning many short tasks is a hot path.
    #[inline]
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => h.spawn(fut),
            #[cfg(feature = "smol")]
            Runtime::Smol(h) => h.spawn(fut),
        }
    }

    /// Runs a blocking closure on the backend's pool of blocking threads (tokio's
    /// `spawn_blocking` pool; the `blocking` crate's pool on smol); completion is reported
    /// by the closure itself.
    pub(crate) fn spawn_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => h.spawn_blocking(f),
            #[cfg(feature = "smol")]
            Runtime::Smol(h) => h.spawn_blocking(f),
        }
    }

    /// The run's virtual clock, if it has one.
    #[inline]
    pub(crate) fn virtual_clock(&self) -> Option<&Arc<ClockCore>> {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => h.clock().as_ref(),
            #[cfg(feature = "smol")]
            Runtime::Smol(h) => h.clock().as_ref(),
        }
    }

    /// The run's clock: its virtual clock if it has one, else the backend's monotonic clock.
    ///
    /// While no run of the process uses a virtual clock, this is one test of a global
    /// counter before the real clock: the handle is not even looked at.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if !virtual_clock::any_in_use() {
            return self.real_now();
        }
        match self.virtual_clock() {
            Some(clock) => clock.now(),
            None => self.real_now(),
        }
    }

    /// The backend's monotonic clock, whatever clock the run reads.
    #[inline]
    pub(crate) fn real_now(&self) -> Instant {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(_) => tokio::now(),
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => Instant::now(),
        }
    }

    /// Registers a listener for each of the signal numbers (distinct, none of them one that
    /// cannot be caught) with the backend's signal driver: tokio's on tokio, `async-signal`
    /// on smol. Each listener sees every delivery made after this call.
    ///
    /// Errors: `Unsupported` on platforms without Unix signals, or for a number the backend
    /// does not know; the OS's error if a handler cannot be installed.
    pub(crate) fn signals(&self, numbers: &[i32]) -> std::io::Result<SignalListener> {
        #[cfg(unix)]
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => h.signals(numbers).map(SignalListener::Tokio),
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => smol::signals(numbers).map(SignalListener::Smol),
        }
        #[cfg(not(unix))]
        {
            let _ = numbers;
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "signals are not supported on this platform (Unix only)",
            ))
        }
    }

    /// A timer that fires at `deadline`; it registers with the reactor only when polled.
    ///
    /// A deadline the backend's timer cannot hold (within a second of the end of
    /// `Instant`, for tokio's) is moved to one it can, just as far beyond any wait: a
    /// deadline too far for the clock means "no deadline", never a panic in the runtime.
    ///
    /// On a run with a virtual clock, the timer waits for that clock.
    pub(crate) fn timer(&self, deadline: Instant) -> Timer {
        if virtual_clock::any_in_use() {
            if let Some(clock) = self.virtual_clock() {
                return Timer::Virtual {
                    inner: VirtualTimer::new(clock.clone(), deadline),
                };
            }
        }
        self.real_timer(deadline)
    }

    /// A timer on the backend's real clock, whatever clock the run reads: for the driver
    /// of a virtual clock, which waits for real time to pass.
    pub(crate) fn real_timer(&self, deadline: Instant) -> Timer {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => Timer::Tokio {
                inner: h.sleep_until(deadline),
            },
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => Timer::Smol {
                inner: async_io::Timer::at(deadline),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// A backend timer: a point in time that wakes the task polling it.
    #[project = TimerProj]
    #[derive(Debug)]
    pub(crate) enum Timer {
        Tokio { #[pin] inner: TokioSleep },
        Smol { inner: SmolTimer },
        Virtual { inner: VirtualTimer },
    }
}

#[cfg(feature = "tokio")]
type TokioSleep = ::tokio::time::Sleep;
#[cfg(not(feature = "tokio"))]
type TokioSleep = std::future::Pending<()>;
#[cfg(feature = "smol")]
type SmolTimer = async_io::Timer;
#[cfg(not(feature = "smol"))]
type SmolTimer = std::future::Pending<()>;

impl Timer {
    /// Moves the timer to a new deadline, earlier or later (one too far for the backend's
    /// timer is treated as in [`Runtime::timer`]).
    pub(crate) fn reset(self: Pin<&mut Self>, deadline: Instant) {
        match self.project() {
            #[cfg(feature = "tokio")]
            TimerProj::Tokio { inner } => inner.reset(tokio::representable(deadline)),
            #[cfg(feature = "smol")]
            TimerProj::Smol { inner } => {
                inner.set_at(deadline);
            }
            TimerProj::Virtual { inner } => inner.reset(deadline),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            TimerProj::Tokio { inner } => inner.poll(cx),
            TimerProj::Smol { inner } => Pin::new(inner).poll(cx).map(drop),
            TimerProj::Virtual { inner } => Pin::new(inner).poll(cx),
        }
    }
}

/// A backend's registration for a set of signals: what a signal receiver polls.
#[derive(Debug)]
pub(crate) enum SignalListener {
    #[cfg(all(unix, feature = "tokio"))]
    Tokio(tokio::Signals),
    #[cfg(all(unix, feature = "smol"))]
    Smol(smol::Signals),
}

impl SignalListener {
    /// The number of the next signal delivered; a listener never ends. Deliveries not yet
    /// received may be coalesced (by the OS, and by tokio per listener).
    #[cfg_attr(not(unix), allow(unused_variables))]
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<i32> {
        // `*self`: without Unix the enum is empty, and only a place of it matches no arm.
        match *self {
            #[cfg(all(unix, feature = "tokio"))]
            SignalListener::Tokio(ref mut s) => s.poll_recv(cx),
            #[cfg(all(unix, feature = "smol"))]
            SignalListener::Smol(ref mut s) => s.poll_recv(cx),
        }
    }
}

/// How to build a backend's runtime: the runner's options, as plain values.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeOptions {
    /// Worker threads (tokio) or executor threads (smol); `None` for the default.
    pub(crate) threads: Option<usize>,
    /// Everything on the calling thread.
    pub(crate) current_thread: bool,
    /// smol only: enter the shared tokio runtime's context on every executor thread (see
    /// `tokio_context`); tokio's own runs are inside tokio already, so only smol reads it.
    #[cfg_attr(not(feature = "smol"), allow(dead_code))]
    pub(crate) tokio_compat: bool,
    /// The run's virtual clock, which every handle of the run carries.
    pub(crate) clock: Clock,
}

/// Builds `backend`'s runtime as `options` describe and runs `make(runtime)` to completion
/// on the calling thread. A backend whose feature is off is an `Unsupported` error.
pub(crate) fn block_on<F, M>(
    backend: Backend,
    options: RuntimeOptions,
    make: M,
) -> std::io::Result<F::Output>
where
    M: FnOnce(Runtime) -> F,
    F: Future,
{
    match backend {
        #[cfg(feature = "tokio")]
        Backend::Tokio => tokio::block_on(options, make),
        #[cfg(feature = "smol")]
        Backend::Smol => smol::block_on(options, make),
        #[allow(unreachable_patterns)]
        other => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("the {other} backend is not enabled"),
        )),
    }
}
