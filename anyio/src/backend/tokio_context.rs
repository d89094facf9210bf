//! The tokio compatibility layer of the smol backend (cargo feature `tokio-compat`).
//!
//! tokio's I/O types, timers and `tokio::spawn` find their runtime through a thread-local
//! context and panic without one. A smol run started with
//! [`Runner::tokio_compat`](crate::Runner::tokio_compat) enters the context of one shared
//! tokio runtime on every thread that runs its executor, so code written for tokio works
//! inside it unmodified.
//!
//! The shared runtime is a multi-thread runtime with a single worker: tokio's own thread
//! drives the reactor and the timer (the smol threads only register with them), runs what
//! `tokio::spawn` starts, and allows `block_in_place` there. It starts on first use and
//! lives as long as the process, shared by every run that asks for it; it is never built
//! otherwise. Without the feature, a run never has a context and this costs one branch per
//! executor thread and per `to_thread` call.

use std::io;

/// The tokio runtime context a smol run's threads enter, or none.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokioContext(Option<RuntimeHandle>);

#[cfg(feature = "tokio-compat")]
type RuntimeHandle = tokio::runtime::Handle;
/// Without the feature there is no runtime to enter: the context is always `None`.
#[cfg(not(feature = "tokio-compat"))]
type RuntimeHandle = std::convert::Infallible;

impl TokioContext {
    /// The shared runtime's context when `wanted`, starting the runtime if this is its first
    /// use; no context otherwise.
    ///
    /// Errors: the OS's error if the runtime's thread cannot be started.
    pub(crate) fn start(wanted: bool) -> io::Result<TokioContext> {
        if !wanted {
            return Ok(TokioContext(None));
        }
        #[cfg(feature = "tokio-compat")]
        return shared_handle().map(|h| TokioContext(Some(h)));
        #[cfg(not(feature = "tokio-compat"))]
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the tokio compatibility layer needs the cargo feature \"tokio-compat\"",
        ))
    }

    /// Runs `f` with the context entered on the calling thread (if there is one).
    pub(crate) fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            #[cfg(feature = "tokio-compat")]
            Some(handle) => {
                let _entered = handle.enter();
                let _marked = Marked::set();
                f()
            }
            #[cfg(not(feature = "tokio-compat"))]
            Some(never) => match *never {},
            None => f(),
        }
    }
}

/// The handle of the process-wide runtime, built on first call.
#[cfg(feature = "tokio-compat")]
fn shared_handle() -> io::Result<tokio::runtime::Handle> {
    use std::sync::Mutex;
    // A mutex rather than a `OnceLock`: building can fail, and a failed start must leave
    // the next call free to try again.
    static SHARED: Mutex<Option<tokio::runtime::Runtime>> = Mutex::new(None);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = shared.as_ref() {
        return Ok(rt.handle().clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("anyio-tokio-compat")
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    *shared = Some(rt);
    Ok(handle)
}

#[cfg(feature = "tokio-compat")]
thread_local! {
    /// Whether this thread is inside [`TokioContext::within`], so that runtime detection can
    /// tell the context entered for compatibility from a tokio runtime the code runs on.
    static ENTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread has a run's tokio context entered (an executor thread of a
/// smol run, or one of its `to_thread` threads), rather than a tokio runtime of its own.
#[cfg(feature = "tokio")]
pub(crate) fn entered_here() -> bool {
    #[cfg(feature = "tokio-compat")]
    return ENTERED.get();
    #[cfg(not(feature = "tokio-compat"))]
    false
}

/// Marks the thread as inside [`TokioContext::within`] until dropped (a panic included).
#[cfg(feature = "tokio-compat")]
struct Marked(bool);

#[cfg(feature = "tokio-compat")]
impl Marked {
    fn set() -> Marked {
        Marked(ENTERED.replace(true))
    }
}

#[cfg(feature = "tokio-compat")]
impl Drop for Marked {
    fn drop(&mut self) {
        ENTERED.set(self.0);
    }
}
