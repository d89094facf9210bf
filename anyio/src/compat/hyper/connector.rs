//! A connector for hyper-util's pooled client (`hyper_util::client::legacy::Client`): TCP
//! with Happy Eyeballs, and TLS with ALPN through the crate's TLS.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::hyper::Uri;
use ::hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

use crate::net::{SocketStream, TcpConnector, UnixSocketStream};

/// Connects hyper-util's pooled client to `http://` URIs (and `https://` ones with
/// [`with_tls`](Self::with_tls)), with [`TcpConnector`]'s Happy Eyeballs.
///
/// ```no_run
/// use anyio::hyper::{AnyioTimer, HttpConnector};
///
/// # async fn demo(tg: anyio::TaskGroup) {
/// let client = hyper_util::client::legacy::Client::builder(tg)
///     .timer(AnyioTimer)
///     .build::<_, http_body_util::Empty<bytes::Bytes>>(HttpConnector::new());
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct HttpConnector {
    tcp: TcpConnector,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

impl HttpConnector {
    /// Plain HTTP over TCP, with [`TcpConnector::new`]'s settings; `https://` URIs fail.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects with `tcp`'s settings (local address, Happy Eyeballs delay).
    pub fn with_tcp(mut self, tcp: TcpConnector) -> Self {
        self.tcp = tcp;
        self
    }

    /// Also connects to `https://` URIs, with `tls`. If `tls` offers no ALPN protocol, the
    /// connector offers `h2` then `http/1.1`, so that a server that picks `h2` gets
    /// HTTP/2 (with a client built for it); protocols set on `tls` are kept as they are.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::TlsConnector) -> Self {
        let tls = if tls.config().alpn_protocols.is_empty() {
            tls.alpn_protocols([b"h2".as_slice(), b"http/1.1"])
        } else {
            tls
        };
        self.tls = Some(tls);
        self
    }

    /// Connects to `uri`'s host and port (80 for `http`, 443 for `https`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a URI without a host, with a scheme other than `http` and
    /// `https`, or `https` without [`with_tls`](Self::with_tls); then those of
    /// [`TcpConnector::connect`] and of the TLS handshake.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped connect leaves no connection open.
    pub async fn connect(&self, uri: &Uri) -> io::Result<HttpStream> {
        let https = match uri.scheme_str() {
            Some("http") | None => false,
            Some("https") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "cannot connect to {uri}: the scheme {other:?} is neither http nor https"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("cannot connect to {uri}: it has no host")))?;
        // An IPv6 literal comes bracketed, as it is written in the URI.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !https {
            return Ok(HttpStream::Plain(self.tcp.connect(host, port).await?));
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Ok(HttpStream::Tls(
                self.tcp.connect_tls(host, port, tls).await?,
            ));
        }
        Err(invalid(format!(
            "cannot connect to {uri}: https needs a TLS connector (HttpConnector::with_tls)"
        )))
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The future of [`HttpConnector`]'s `Service::call`.
type Connecting = Pin<Box<dyn Future<Output = io::Result<HttpStream>> + Send>>;

/// What hyper-util's client calls: [`HttpConnector::connect`].
impl tower_service::Service<Uri> for HttpConnector {
    type Response = HttpStream;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let connector = self.clone();
        Box::pin(async move { connector.connect(&uri).await })
    }
}

/// A connection made by [`HttpConnector`]: plain TCP, or TLS over TCP.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per connection and kept as long as it: boxing the plain socket would \
              add an allocation to every connection to save a few hundred bytes in each"
)]
pub enum HttpStream {
    /// An `http://` connection.
    Plain(SocketStream),
    /// An `https://` connection.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream<SocketStream>),
}

impl HttpStream {
    /// Whether TLS negotiated HTTP/2 with ALPN (`h2`).
    pub fn is_negotiated_h2(&self) -> bool {
        match self {
            HttpStream::Plain(_) => false,
            #[cfg(feature = "tls")]
            HttpStream::Tls(tls) => tls.alpn_protocol().as_deref() == Some(b"h2"),
        }
    }
}

impl Read for HttpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl Write for HttpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_write(cx, data),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            HttpStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            HttpStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Reports HTTP/2 when TLS negotiated it with ALPN, so the pooled client speaks it.
impl Connection for HttpStream {
    fn connected(&self) -> Connected {
        if self.is_negotiated_h2() {
            Connected::new().negotiated_h2()
        } else {
            Connected::new()
        }
    }
}

/// A plain connection, for connectors of your own (a `tower::service_fn`).
impl Connection for SocketStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// A plain connection, for connectors of your own (HTTP over a UNIX socket).
impl Connection for UnixSocketStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Reports HTTP/2 when ALPN negotiated `h2`, for connectors of your own.
#[cfg(feature = "tls")]
impl<S: crate::stream::ByteStream + 'static> Connection for crate::tls::TlsStream<S> {
    fn connected(&self) -> Connected {
        if self.alpn_protocol().as_deref() == Some(b"h2") {
            Connected::new().negotiated_h2()
        } else {
            Connected::new()
        }
    }
}
