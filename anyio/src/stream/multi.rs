//! [`MultiListener`]: several listeners served as one (AnyIO's `MultiListener`).

use std::future::{Future, poll_fn};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use super::close::{Close, close_all};
use super::{AsyncResource, Listener};
// Named by the docs; the code reports the cancellation it observes.
#[cfg(doc)]
use crate::cancel::error::Cancelled;
use crate::cancel::error::IsCancelled;
use crate::cancel::scope::CancelScope;

/// Several listeners of one type, serving as one: what
/// [`create_tcp_listener`](crate::net::create_tcp_listener) returns, one listener per local
/// address.
///
/// [`serve`](Self::serve) runs every listener's accept loop concurrently;
/// [`accept`](Listener::accept) returns the first connection any of them has;
/// [`aclose`](AsyncResource::aclose) closes them all. (AnyIO flattens nested
/// multi-listeners; here a `MultiListener` holds listeners of one type, and more are added
/// with [`Extend`], [`FromIterator`] or `From<Vec<L>>`.)
#[derive(Debug)]
pub struct MultiListener<L> {
    listeners: Vec<L>,
    /// Which listener [`accept`](Listener::accept) polls first, rotated so that a busy
    /// listener cannot starve the others.
    next: AtomicUsize,
}

impl<L> MultiListener<L> {
    /// Serves these listeners together.
    pub fn new(listeners: Vec<L>) -> Self {
        MultiListener {
            listeners,
            next: AtomicUsize::new(0),
        }
    }

    /// The listeners, in the order given.
    pub fn listeners(&self) -> &[L] {
        &self.listeners
    }

    /// The listeners themselves, in the order given.
    pub fn into_listeners(self) -> Vec<L> {
        self.listeners
    }
}

impl<L> From<Vec<L>> for MultiListener<L> {
    fn from(listeners: Vec<L>) -> Self {
        MultiListener::new(listeners)
    }
}

impl<L> FromIterator<L> for MultiListener<L> {
    fn from_iter<I: IntoIterator<Item = L>>(listeners: I) -> Self {
        MultiListener::new(listeners.into_iter().collect())
    }
}

impl<L> Extend<L> for MultiListener<L> {
    fn extend<I: IntoIterator<Item = L>>(&mut self, listeners: I) {
        self.listeners.extend(listeners);
    }
}

/// The error for accepting or serving with no listener at all, which would wait for ever.
fn no_listeners() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the MultiListener has no listeners",
    )
}

impl<L: Listener> MultiListener<L> {
    /// Serves every listener concurrently, each with its own [`Listener::serve`] (its
    /// accept loop, with its back-off when out of descriptors, and its task group, where
    /// `handler` runs on each connection in a task of its own).
    ///
    /// The accept loops run together in the calling task, inside one cancel scope: the
    /// first listener to fail cancels the others.
    ///
    /// # Errors
    ///
    /// It only returns with an error: the first listener's failure (closed, say), once
    /// every loop and handler has ended; [`Cancelled`] if the calling code is cancelled;
    /// `InvalidInput` if there are no listeners.
    ///
    /// # Cancel safety
    ///
    /// Cancelling the calling scope cancels every accept loop and handler and returns once
    /// they have ended; dropping the future aborts the handlers.
    pub async fn serve<H, F>(&self, handler: H) -> io::Result<()>
    where
        H: Fn(L::Stream) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        if self.listeners.is_empty() {
            return Err(no_listeners());
        }
        let handler = Arc::new(handler);
        let scope = CancelScope::new();
        let serving = async {
            let mut loops: Vec<_> = self
                .listeners
                .iter()
                .map(|listener| {
                    let handler = handler.clone();
                    Box::pin(listener.serve(move |stream| handler(stream)))
                })
                .collect();
            let mut first_error: Option<io::Error> = None;
            poll_fn(|cx| {
                loops.retain_mut(|serve| match serve.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        if let Err(err) = result {
                            record(&mut first_error, err, &scope);
                        }
                        false
                    }
                    Poll::Pending => true,
                });
                if loops.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            first_error.map_or(Ok(()), Err)
        };
        match scope.run(serving).await {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(scope.cancellation().into()),
            Err(err) => Err(err),
        }
    }
}

/// Keeps the error that ends [`MultiListener::serve`]: the first failure that is not a
/// cancellation (which then cancels the other loops), else a cancellation.
fn record(first_error: &mut Option<io::Error>, err: io::Error, scope: &CancelScope) {
    match first_error {
        Some(kept) if !kept.is_cancelled() => {}
        Some(_) if err.is_cancelled() => {}
        _ => {
            if !err.is_cancelled() {
                scope.cancel();
            }
            *first_error = Some(err);
        }
    }
}

impl<L: Listener> AsyncResource for MultiListener<L> {
    /// Closes every listener, concurrently, and returns the first error.
    ///
    /// # Cancel safety
    ///
    /// Every listener is closed once this has been polled, even if it is then dropped.
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        let closes: Vec<Close<'_>> = self
            .listeners
            .iter()
            .map(|listener| Box::pin(listener.aclose()) as Close<'_>)
            .collect();
        close_all(closes)
    }
}

impl<L: Listener> Listener for MultiListener<L> {
    type Stream = L::Stream;

    /// Waits for a connection on any of the listeners and returns the first one.
    ///
    /// The accepts of all listeners race; the first to complete wins and the others are
    /// dropped, which loses nothing because every accept is cancel safe. The listener
    /// polled first rotates from call to call. Each call boxes one accept future per
    /// listener.
    ///
    /// # Errors
    ///
    /// The first error of any listener (see [`Listener::accept`]); `InvalidInput` if
    /// there are no listeners.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is either returned or left to the next accept.
    async fn accept(&self) -> io::Result<Self::Stream> {
        let count = self.listeners.len();
        if count == 0 {
            return Err(no_listeners());
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let mut accepts: Vec<_> = (0..count)
            .map(|i| Box::pin(self.listeners[(first + i) % count].accept()))
            .collect();
        // Stop at the first that is ready: polling another after that could accept a
        // second connection, which would then be dropped.
        poll_fn(|cx| {
            for accept in &mut accepts {
                if let Poll::Ready(result) = accept.as_mut().poll(cx) {
                    return Poll::Ready(result);
                }
            }
            Poll::Pending
        })
        .await
    }
}
