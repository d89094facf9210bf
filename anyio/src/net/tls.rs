//! TCP with TLS: Happy Eyeballs then the client handshake, and listeners whose connections
//! are TLS streams.

use std::io;

use super::{SocketListener, SocketStream, TcpConnector, TcpListenerOptions};
use crate::stream::MultiListener;
use crate::tls::{TlsAcceptor, TlsConnector, TlsListener, TlsStream};

impl TcpConnector {
    /// The name the server's certificate must match, when it is not the host connected to
    /// (connecting to an IP address, say).
    pub fn tls_hostname(mut self, name: impl Into<String>) -> Self {
        self.tls_hostname = Some(name.into());
        self
    }

    /// Whether [`connect_tls`](Self::connect_tls) runs the handshake (the default) or
    /// returns a stream that passes bytes through until
    /// [`start_tls`](TlsStream::start_tls) (the manual's `autostart_tls=False`).
    pub fn autostart_tls(mut self, on: bool) -> Self {
        self.autostart_tls = on;
        self
    }

    /// Connects to `host` on `port` as [`connect`](Self::connect) does, then runs the TLS
    /// client handshake with `tls`, verifying the server as
    /// [`tls_hostname`](Self::tls_hostname), or as `host` if none was given.
    ///
    /// # Errors
    ///
    /// Those of [`connect`](Self::connect) and of
    /// [`TlsConnector::connect`]; on a TLS error the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped connect leaves no connection open.
    pub async fn connect_tls(
        &self,
        host: &str,
        port: u16,
        tls: &TlsConnector,
    ) -> io::Result<TlsStream<SocketStream>> {
        let name = self.tls_hostname.as_deref().unwrap_or(host);
        let stream = tls.client(self.connect(host, port).await?, name)?;
        if self.autostart_tls {
            // On failure the stream, and with it the connection, is dropped.
            stream.start_tls().await?;
        }
        Ok(stream)
    }
}

/// Connects to `host` on `port` with Happy Eyeballs and runs the TLS client handshake,
/// verifying the server's certificate against `host` (AnyIO's `connect_tcp(..., tls=True)`).
///
/// For another name to verify, a local address or a later handshake, use
/// [`TcpConnector::connect_tls`].
///
/// # Errors
///
/// Those of [`connect_tcp`](super::connect_tcp) and of [`TlsConnector::connect`].
///
/// # Cancel safety
///
/// Cancel safe: a cancelled or dropped connect leaves no connection open.
pub async fn connect_tls(
    host: &str,
    port: u16,
    tls: &TlsConnector,
) -> io::Result<TlsStream<SocketStream>> {
    TcpConnector::new().connect_tls(host, port, tls).await
}

impl TcpListenerOptions {
    /// Creates the listeners as [`bind`](Self::bind) does, with TLS on every connection
    /// (AnyIO's `TLSListener(await create_tcp_listener(...), context)`). Set the handshake
    /// timeout and whether the handshake starts on accept on the returned listener.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call leaves no socket open.
    pub async fn bind_tls(
        &self,
        tls: TlsAcceptor,
    ) -> io::Result<TlsListener<MultiListener<SocketListener>>> {
        Ok(TlsListener::new(self.bind().await?, tls))
    }
}
