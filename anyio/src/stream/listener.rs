//! Listeners: what accepts connections, and the serve loop that hands each one to a handler
//! in its own task.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{AsyncResource, IoErrorExt};
use crate::cancel::current;
// Named by the docs; the code reports the cancellation it observes.
#[cfg(doc)]
use crate::cancel::error::Cancelled;
use crate::task::group::TaskGroup;
use crate::time::sleep;

/// How long [`Listener::serve`] waits before accepting again when the process or the system
/// is out of descriptors or memory: long enough that the loop does not spin, short enough
/// that it recovers promptly once connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Something that accepts incoming connections (AnyIO's `Listener`).
pub trait Listener: AsyncResource {
    /// What an accepted connection is.
    type Stream: Send + 'static;

    /// Waits for the next incoming connection and returns it.
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`](crate::ClosedResourceError) once the listener was closed
    /// (also when that happens during the wait), [`BusyResourceError`](crate::BusyResourceError)
    /// if another task is accepting, [`Cancelled`] if the calling code is cancelled, and the
    /// OS's error otherwise (out of descriptors, say).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is either returned or left to the next accept.
    fn accept(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Accepts connections for ever, running `handler` on each in a task of its own inside
    /// a task group that this call owns.
    ///
    /// When the process or the system runs out of file descriptors (`EMFILE`, `ENFILE`) or
    /// buffer memory, the loop waits 100 ms and accepts again: it neither spins nor ends,
    /// and the connections it already serves go on. The errors that concern one incoming
    /// connection or the network under it (`ECONNABORTED`, `ECONNRESET`, `ENETDOWN`,
    /// `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`,
    /// `ENETUNREACH`, `EPERM`, as accept(2) advises) are skipped: only a failure of the
    /// listener itself ends the loop.
    ///
    /// # Errors
    ///
    /// It only returns with an error: the listener was closed
    /// ([`ClosedResourceError`](crate::ClosedResourceError)), the calling code was cancelled
    /// ([`Cancelled`]), or accepting failed otherwise. The handlers still running are then
    /// cancelled and awaited first. A handler that panics cancels the others and the panic
    /// resumes here, as in any task group.
    ///
    /// # Cancel safety
    ///
    /// Cancelling the calling scope cancels every handler and returns once they have ended;
    /// dropping the future aborts them.
    fn serve<H, F>(&self, handler: H) -> impl Future<Output = io::Result<()>> + Send
    where
        Self: Sized,
        H: Fn(Self::Stream) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        async move {
            let served = TaskGroup::<io::Error>::run(|tg| accept_loop(self, handler, tg));
            match served.await {
                Ok(_) => Ok(()),
                Err(err) if err.is_cancelled() => Err(current::cancelled().into()),
                Err(err) => Err(err
                    .into_single()
                    .unwrap_or_else(|_| io::Error::other("serve failed"))),
            }
        }
    }
}

/// The body of [`Listener::serve`]: accept, spawn, repeat; only an error ends it.
async fn accept_loop<L, H, F>(
    listener: &L,
    handler: Arc<H>,
    tg: TaskGroup<io::Error>,
) -> io::Result<()>
where
    L: Listener,
    H: Fn(L::Stream) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let handler = handler.clone();
                tg.start_soon(async move {
                    handler(stream).await;
                    Ok(())
                })
                .map_err(io::Error::other)?;
            }
            Err(err) => match classify_accept_error(&err) {
                AcceptErrorAction::Retry => {}
                AcceptErrorAction::BackOff => sleep(ACCEPT_BACKOFF).await?,
                AcceptErrorAction::Fail => return Err(err),
            },
        }
    }
}

/// What the accept loop of [`Listener::serve`] does after an error of `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptErrorAction {
    /// The error concerned one incoming connection, not the listener: accept again.
    Retry,
    /// Out of descriptors or kernel memory, which passes once other connections close:
    /// accept again after a pause.
    BackOff,
    /// The listener itself failed (or was closed, or the caller cancelled): end `serve`.
    Fail,
}

/// How [`Listener::serve`] treats an error of `accept`: the whole list in one place.
///
/// - Retried, as accept(2) advises for Linux, where the errors of a connection that is
///   already gone or of the network under it come out of `accept`: `ECONNABORTED`,
///   `ECONNRESET`, `ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`,
///   `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`, and `EPERM` (a firewall refused that one
///   connection).
/// - Backed off: `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`.
/// - Anything else ends the loop: the listener was closed, the caller was cancelled, or the
///   listening socket itself is unusable.
pub(crate) fn classify_accept_error(err: &io::Error) -> AcceptErrorAction {
    #[cfg(unix)]
    if let Some(code) = err.os_error().and_then(io::Error::raw_os_error) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if code == libc::ENONET {
            return AcceptErrorAction::Retry;
        }
        return match code {
            libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM => AcceptErrorAction::Retry,
            code if crate::resource::is_out_of_resources(code) => AcceptErrorAction::BackOff,
            _ => AcceptErrorAction::Fail,
        };
    }
    // Not an OS error: a transport of another kind reports what it can.
    match err.kind() {
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset => {
            AcceptErrorAction::Retry
        }
        _ => AcceptErrorAction::Fail,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::{AcceptErrorAction as A, classify_accept_error};
    use crate::cancel::error::Cancelled;
    use crate::resource::BrokenResourceError;
    use crate::resource::ClosedResourceError;
    use std::io;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn accept_errors_are_retried_backed_off_or_final() {
        for code in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
            libc::EPERM,
        ] {
            assert_eq!(classify_accept_error(&os(code)), A::Retry, "{}", os(code));
        }
        #[cfg(target_os = "linux")]
        assert_eq!(classify_accept_error(&os(libc::ENONET)), A::Retry);
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(classify_accept_error(&os(code)), A::BackOff, "{}", os(code));
        }
        for code in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            assert_eq!(classify_accept_error(&os(code)), A::Fail, "{}", os(code));
        }
        // Wrapped OS errors are looked through.
        let wrapped: io::Error = BrokenResourceError::caused_by("x", os(libc::EPROTO)).into();
        assert_eq!(classify_accept_error(&wrapped), A::Retry);
        assert_eq!(classify_accept_error(&ClosedResourceError.into()), A::Fail);
        assert_eq!(
            classify_accept_error(&io::Error::from(Cancelled::new())),
            A::Fail
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify_accept_error(&reset), A::Retry);
    }
}
