//! [`TlsListener`]: TLS on every connection a listener accepts, with a handshake timeout, so
//! one bad or stalled client costs only its own connection.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::config::TlsAcceptor;
use super::stream::TlsStream;
use crate::cancel::error::is_cancelled;
use crate::stream::{AsyncResource, ByteStream, Listener};
use crate::time::fail_after;

/// How long a client may take over the handshake by default (AnyIO's 30 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A listener whose connections are TLS server streams (AnyIO's `TLSListener`).
///
/// Each accepted connection runs the handshake under [`handshake_timeout`](Self::handshake_timeout),
/// counted from the accept. A handshake that fails or times out is logged (target
/// `anyio::tls`, level warn, through the `log` crate) and costs that connection only; the
/// listener goes on. With [`autostart_tls(false)`](Self::autostart_tls) the streams come out
/// before any handshake, for protocols that start in plaintext and call
/// [`start_tls`](TlsStream::start_tls) later.
///
/// Accepting never waits on a peer, so one silent client cannot hold up the others:
///
/// - [`serve`](Listener::serve) runs each handshake in the connection's own task, before the
///   handler; a connection whose handshake fails is closed and never reaches the handler.
/// - [`accept`](Listener::accept) returns the stream as soon as the connection is accepted,
///   and the handshake runs in the first receive or send on it (or in
///   [`TlsStream::handshake`]), so in the task that handles the connection. A handshake that
///   fails or times out makes that operation, and every later one, fail: with the TLS error
///   (`InvalidData`), or a [`BrokenResourceError`](crate::BrokenResourceError) of kind
///   `TimedOut` when the timeout passed.
#[derive(Debug)]
pub struct TlsListener<L> {
    listener: L,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    autostart: bool,
}

impl<L: Listener> TlsListener<L>
where
    L::Stream: ByteStream,
{
    /// TLS with `acceptor` on every connection of `listener`; a 30 s handshake timeout.
    pub fn new(listener: L, acceptor: TlsAcceptor) -> Self {
        TlsListener {
            listener,
            acceptor,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            autostart: true,
        }
    }

    /// How long a client may take over the handshake before its connection is closed.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Whether the handshake runs on accept (the default) or is left to the handler's
    /// [`start_tls`](TlsStream::start_tls) (the manual's `autostart_tls=False`).
    pub fn autostart_tls(mut self, on: bool) -> Self {
        self.autostart = on;
        self
    }

    /// The listener underneath.
    pub fn listener(&self) -> &L {
        &self.listener
    }

    /// The server settings of every connection.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// Makes the TLS stream of an accepted connection and, if asked, runs its handshake under
/// the timeout. On failure the connection is closed and the error logged, except a
/// cancellation of the caller, which is only returned.
async fn handshake<S: ByteStream>(
    acceptor: &TlsAcceptor,
    timeout: Duration,
    autostart: bool,
    transport: S,
) -> io::Result<TlsStream<S>> {
    let stream = acceptor.server(transport)?;
    if !autostart {
        return Ok(stream);
    }
    match fail_after(timeout, stream.start_tls()).await {
        Ok(()) => Ok(stream),
        Err(err) => {
            // A failed handshake skips the closing exchange: this closes the transport.
            let _ = stream.aclose().await;
            if !is_cancelled(&err) {
                log::warn!(target: "anyio::tls", "TLS handshake failed: {err}");
            }
            Err(err)
        }
    }
}

impl<L: Listener> AsyncResource for TlsListener<L> {
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.listener.aclose()
    }
}

impl<L: Listener> Listener for TlsListener<L>
where
    L::Stream: ByteStream,
{
    type Stream = TlsStream<L::Stream>;

    /// Accepts the next connection and returns its TLS stream at once: the handshake runs
    /// in the stream's first receive or send (see the type's documentation), within the
    /// handshake timeout counted from now.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as the listener underneath.
    async fn accept(&self) -> io::Result<Self::Stream> {
        loop {
            let transport = self.listener.accept().await?;
            match self.acceptor.server(transport) {
                Ok(stream) => {
                    if self.autostart {
                        stream.defer_handshake(self.handshake_timeout);
                    }
                    return Ok(stream);
                }
                Err(err) => log::warn!(target: "anyio::tls", "TLS handshake failed: {err}"),
            }
        }
    }

    fn serve<H, F>(&self, handler: H) -> impl Future<Output = io::Result<()>> + Send
    where
        Self: Sized,
        H: Fn(Self::Stream) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let acceptor = self.acceptor.clone();
        let (timeout, autostart) = (self.handshake_timeout, self.autostart);
        self.listener.serve(move |transport| {
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            async move {
                if let Ok(stream) = handshake(&acceptor, timeout, autostart, transport).await {
                    handler(stream).await;
                }
            }
        })
    }
}
