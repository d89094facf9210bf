//! Listeners: what accepts connections, and the serve loop that hands each one to a handler
//! in its own task.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{AsyncResource, IoErrorExt};
use crate::cancel::error::Cancelled;
use crate::task::group::{TaskGroup, task_group};
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
    /// and the connections it already serves go on. A connection aborted before it was
    /// accepted is skipped.
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
            let served = task_group(|tg: TaskGroup<io::Error>| accept_loop(self, handler, tg));
            match served.await {
                Ok(_) => Ok(()),
                Err(err) if err.is_cancelled() => Err(Cancelled.into()),
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
            Err(err) if is_transient_accept_error(&err) => {}
            Err(err) if is_resource_exhaustion(&err) => sleep(ACCEPT_BACKOFF).await?,
            Err(err) => return Err(err),
        }
    }
}

/// A connection that went away between arriving and being accepted: skip it.
fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Out of descriptors or kernel memory: it passes once other connections close.
fn is_resource_exhaustion(err: &io::Error) -> bool {
    #[cfg(unix)]
    if let Some(code) = err.os_error().and_then(io::Error::raw_os_error) {
        return matches!(
            code,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        );
    }
    let _ = err;
    false
}
