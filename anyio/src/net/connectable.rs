//! AnyIO's connectables: a description of where to connect that makes a new connection
//! each time it is asked ([`Connectable::connect`]), so a client library can take "how to
//! reach the server" as one value (TCP, UNIX, either under TLS) and reconnect at will.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::happy_eyeballs::connect_tcp;
use super::tcp::SocketStream;
use super::unix::{UnixAddress, UnixSocketStream, connect_unix};
use crate::stream::ByteStream;

/// Something that connects to a byte stream server (AnyIO's `ByteStreamConnectable`):
/// each [`connect`](Connectable::connect) makes a new connection.
pub trait Connectable: Send + Sync {
    /// The connected stream.
    type Stream: ByteStream;

    /// Makes a new connection.
    ///
    /// # Errors
    ///
    /// The connect error of the stream kind, which names what was being connected to and
    /// carries the OS error (find it with
    /// [`IoErrorExt::os_error`](crate::stream::IoErrorExt::os_error)); see each implementation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in this crate's implementations when the stream is plain: a cancelled
    /// connect leaves no connection open.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Connects to a TCP server with Happy Eyeballs (AnyIO's `TCPConnectable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConnectable {
    /// A host name or an IP literal.
    pub host: String,
    /// The server's port (1 to 65535).
    pub port: u16,
}

impl TcpConnectable {
    /// Connects to `host` (a name or an IP literal) on `port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpConnectable {
            host: host.into(),
            port,
        }
    }
}

impl Connectable for TcpConnectable {
    type Stream = SocketStream;

    /// Connects as [`connect_tcp`] does.
    ///
    /// # Errors
    ///
    /// `InvalidInput` "TCP port number out of range" for port 0; otherwise as
    /// [`connect_tcp`]: a failed connect is a [`ConnectionFailed`](super::ConnectionFailed)
    /// naming the host and port, with each attempt's OS error (the first as its source).
    async fn connect(&self) -> io::Result<SocketStream> {
        if self.port == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TCP port number out of range",
            ));
        }
        connect_tcp(&self.host, self.port).await
    }
}

/// Connects to a UNIX stream server (AnyIO's `UNIXConnectable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixConnectable {
    /// The server's socket: a filesystem path or an abstract name.
    pub path: UnixAddress,
}

impl UnixConnectable {
    /// Connects to the socket at `path` (a filesystem path or an abstract name).
    pub fn new(path: impl Into<UnixAddress>) -> Self {
        UnixConnectable { path: path.into() }
    }
}

impl Connectable for UnixConnectable {
    type Stream = UnixSocketStream;

    /// Connects as [`connect_unix`] does.
    ///
    /// # Errors
    ///
    /// As [`connect_unix`]: "connecting to PATH: " and the OS error, which is the source
    /// (`NotFound` when nothing is there, `ConnectionRefused` when nobody listens).
    async fn connect(&self) -> io::Result<UnixSocketStream> {
        connect_unix(self.path.clone()).await
    }
}

/// Values that describe where to connect, for [`as_connectable`]: a connectable itself, a
/// `(host, port)` pair or a socket address (TCP), a path or a [`UnixAddress`] (UNIX).
pub trait IntoConnectable {
    /// The connectable this value describes.
    type Connectable: Connectable;

    /// The connectable this value describes.
    fn into_connectable(self) -> Self::Connectable;
}

/// The connectable that `remote` describes (AnyIO's `as_connectable`): a connectable is
/// returned as it is, a `(host, port)` pair or a socket address gives a [`TcpConnectable`],
/// a path or a [`UnixAddress`] a [`UnixConnectable`]. For TLS, wrap the result in a
/// `TlsConnectable` (or use `TcpConnectable::with_tls`, which verifies the host; both with
/// the `tls` feature).
///
/// ```
/// use anyio::net::{TcpConnectable, as_connectable};
/// assert_eq!(as_connectable(("localhost", 8080)), TcpConnectable::new("localhost", 8080));
/// ```
pub fn as_connectable<T: IntoConnectable>(remote: T) -> T::Connectable {
    remote.into_connectable()
}

impl IntoConnectable for (&str, u16) {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.0, self.1)
    }
}

impl IntoConnectable for (String, u16) {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.0, self.1)
    }
}

impl IntoConnectable for (IpAddr, u16) {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.0.to_string(), self.1)
    }
}

impl IntoConnectable for (Ipv4Addr, u16) {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.0.to_string(), self.1)
    }
}

impl IntoConnectable for (Ipv6Addr, u16) {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.0.to_string(), self.1)
    }
}

impl IntoConnectable for SocketAddr {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        TcpConnectable::new(self.ip().to_string(), self.port())
    }
}

impl IntoConnectable for &Path {
    type Connectable = UnixConnectable;
    fn into_connectable(self) -> UnixConnectable {
        UnixConnectable::new(self)
    }
}

impl IntoConnectable for PathBuf {
    type Connectable = UnixConnectable;
    fn into_connectable(self) -> UnixConnectable {
        UnixConnectable::new(self)
    }
}

impl IntoConnectable for UnixAddress {
    type Connectable = UnixConnectable;
    fn into_connectable(self) -> UnixConnectable {
        UnixConnectable::new(self)
    }
}

impl IntoConnectable for TcpConnectable {
    type Connectable = TcpConnectable;
    fn into_connectable(self) -> TcpConnectable {
        self
    }
}

impl IntoConnectable for UnixConnectable {
    type Connectable = UnixConnectable;
    fn into_connectable(self) -> UnixConnectable {
        self
    }
}

#[cfg(feature = "tls")]
pub use tls::TlsConnectable;

#[cfg(feature = "tls")]
mod tls {
    use std::io;

    use super::{Connectable, IntoConnectable, TcpConnectable};
    use crate::tls::{TlsConnector, TlsStream};

    /// Connects with another connectable, then runs the TLS client handshake over the
    /// connection (AnyIO's `TLSConnectable`).
    #[derive(Clone, Debug)]
    pub struct TlsConnectable<C> {
        /// What makes the plain connection.
        pub inner: C,
        /// The TLS client settings.
        pub connector: TlsConnector,
        /// The name the server's certificate must match (a DNS name or an IP address).
        pub server_name: String,
    }

    impl<C> TlsConnectable<C> {
        /// TLS with `connector` over the connections of `inner`, verifying the server as
        /// `server_name`.
        pub fn new(inner: C, connector: TlsConnector, server_name: impl Into<String>) -> Self {
            TlsConnectable {
                inner,
                connector,
                server_name: server_name.into(),
            }
        }
    }

    impl TcpConnectable {
        /// TLS over this TCP connectable, verifying the server as its host (AnyIO's
        /// `as_connectable((host, port), tls=True)`).
        pub fn with_tls(self, connector: TlsConnector) -> TlsConnectable<TcpConnectable> {
            let server_name = self.host.clone();
            TlsConnectable::new(self, connector, server_name)
        }
    }

    impl<C: Connectable> Connectable for TlsConnectable<C> {
        type Stream = TlsStream<C::Stream>;

        /// Connects with the inner connectable, then runs the handshake; on a handshake
        /// failure the connection is closed.
        ///
        /// # Errors
        ///
        /// The inner connectable's errors, then those of
        /// [`TlsConnector::connect`].
        async fn connect(&self) -> io::Result<TlsStream<C::Stream>> {
            let stream = self.inner.connect().await?;
            self.connector.connect(stream, &self.server_name).await
        }
    }

    impl<C: Connectable> IntoConnectable for TlsConnectable<C> {
        type Connectable = TlsConnectable<C>;
        fn into_connectable(self) -> TlsConnectable<C> {
            self
        }
    }
}
