//! [`TlsStream`]: the public face of a [`Session`], with what the connection negotiated and
//! the ecosystem's poll-based I/O traits.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use rustls::pki_types::CertificateDer;
use rustls::{Connection, ProtocolVersion, SupportedCipherSuite};

use super::session::Session;
use crate::stream::{
    AsyncResource, ByteReceiveStream, ByteSendStream, ByteStream, DEFAULT_MAX_BYTES, IoErrorExt,
};

/// The RFC 9266 exporter label for `tls-exporter` channel bindings.
const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// A TLS connection over any anyio byte stream `S` (AnyIO's `TLSStream`).
///
/// Made by [`TlsConnector::connect`](super::TlsConnector::connect) and
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept) (handshake done), by
/// [`TlsConnector::client`](super::TlsConnector::client) and
/// [`TlsAcceptor::server`](super::TlsAcceptor::server) (handshake later, with
/// [`start_tls`](Self::start_tls)), by [`connect_tls`](crate::net::connect_tls) and by a
/// [`TlsListener`](super::TlsListener).
///
/// Like the socket streams, it follows rule 18: one task may receive while another sends;
/// a second concurrent receiver (or sender) gets a
/// [`BusyResourceError`](crate::BusyResourceError); after [`aclose`](Self::aclose) every
/// operation fails with [`ClosedResourceError`](crate::ClosedResourceError). Rule 19 decides
/// how it ends: see [`TlsConnector::standard_compatible`](super::TlsConnector::standard_compatible).
///
/// Until TLS is started, bytes pass through to the transport unencrypted: that is the
/// plaintext part of a STARTTLS protocol.
pub struct TlsStream<S> {
    session: Arc<Session<S>>,
    /// On the client, the DNS name the server's certificate is verified against.
    client_name: Option<String>,
    /// The operations of the poll-based I/O traits in progress. They have `&mut self`, so
    /// the mutex is never locked (`get_mut`): it only makes the boxed futures `Sync`.
    poll: Mutex<PollState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

/// What the poll-based traits keep between polls.
#[derive(Default)]
struct PollState {
    read: Option<BoxFuture<Vec<u8>>>,
    /// Plaintext received by the poll-based read beyond what its caller's buffer took.
    unread: Vec<u8>,
    unread_pos: usize,
    /// The flush of the records of the last write.
    write: Option<BoxFuture<()>>,
    /// The end of the stream that `poll_close` is sending.
    close: Option<BoxFuture<()>>,
    /// `poll_close` has sent the end of the stream.
    closed: bool,
}

impl<S> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

/// The kinds of channel binding data (RFC 5929, RFC 9266).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelBinding {
    /// `tls-exporter` (RFC 9266): 32 bytes exported with the label
    /// `EXPORTER-Channel-Binding`. Defined for TLS 1.3.
    TlsExporter,
    /// `tls-unique` (RFC 5929): the first Finished message of a TLS 1.2 connection.
    /// rustls does not expose Finished messages, so this is never available; TLS 1.3 has no
    /// `tls-unique` at all.
    TlsUnique,
}

impl<S: ByteStream> TlsStream<S> {
    pub(crate) fn new(
        transport: S,
        conn: Connection,
        standard_compatible: bool,
        client_name: Option<String>,
    ) -> Self {
        TlsStream {
            session: Arc::new(Session::new(transport, conn, standard_compatible)),
            client_name,
            poll: Mutex::default(),
        }
    }

    /// Runs the TLS handshake now (STARTTLS), as the side this stream was made for.
    ///
    /// Everything sent before is plaintext; everything after is encrypted.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if TLS was already started; `InvalidData` with the rustls error
    /// inside when the handshake fails (certificate, protocol, alert);
    /// [`BrokenResourceError`](crate::BrokenResourceError) when the transport fails or ends
    /// during the handshake; [`BusyResourceError`](crate::BusyResourceError) while another
    /// task is sending or receiving; the transport's other errors, cancellation among them.
    /// After a failure the stream stays broken.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a handshake cut short leaves the stream broken.
    pub async fn start_tls(&self) -> io::Result<()> {
        self.session.start_tls().await
    }

    /// Completes the handshake of a stream that a [`TlsListener`](super::TlsListener)
    /// accepted, which otherwise runs at the stream's first receive or send; returns at
    /// once when the handshake is done. What the connection negotiated
    /// ([`alpn_protocol`](Self::alpn_protocol), [`server_name`](Self::server_name) and the
    /// rest) is known once it returns.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if TLS has not been started; the handshake's errors otherwise (see
    /// [`TlsListener`](super::TlsListener)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for a listener's deferred handshake: the next operation goes on with
    /// it.
    pub async fn handshake(&self) -> io::Result<()> {
        self.session.finish_deferred_handshake().await?;
        if !self.session.is_handshake_done() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS has not been started on this stream",
            ));
        }
        Ok(())
    }

    /// Starts TLS without running the handshake: the first operation runs it, within
    /// `timeout` from now.
    pub(crate) fn defer_handshake(&self, timeout: std::time::Duration) {
        self.session.defer_handshake(timeout);
    }

    /// Whether TLS has been started (the handshake may still be running).
    pub fn is_tls_started(&self) -> bool {
        self.session.is_started()
    }

    /// Receives at most `max_bytes` bytes of plaintext.
    ///
    /// # Errors
    ///
    /// [`EndOfStream`](crate::EndOfStream) after the peer's `close_notify`, and after an end
    /// of the connection without it when standard-compatible closing is off; with it on,
    /// that end is a [`BrokenResourceError`](crate::BrokenResourceError) (truncation).
    /// `InvalidData` with the rustls error inside when the peer sends something TLS
    /// forbids. Otherwise as for socket streams: closed, busy, broken, cancelled, and
    /// `InvalidInput` for `max_bytes == 0`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what arrived stays buffered for the next receive.
    pub async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        self.session.receive(max_bytes).await
    }

    /// Encrypts and sends all of `data`.
    ///
    /// Records that rustls queued while receiving (a TLS 1.3 key update answer) go out
    /// with the next send.
    ///
    /// # Errors
    ///
    /// As for socket streams; a failed send breaks the stream for good, since a record may
    /// have been cut in two.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cancelled while waiting for the transport, the stream is broken
    /// (a record may be half sent). A cancellation already pending when it is called is
    /// reported before anything is encrypted, and leaves the stream intact.
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        self.session.send(data).await
    }

    /// Ends the sending side: `close_notify`, then the transport's end of stream. Receiving
    /// goes on (TLS 1.3 half-close). AnyIO raises `NotImplementedError` here; rustls and
    /// TLS 1.3 support it, so this does what tokio-rustls's shutdown does.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send`](Self::send).
    pub async fn send_eof(&self) -> io::Result<()> {
        self.session.send_eof().await
    }

    /// Closes the stream and its transport (rule 19).
    ///
    /// With standard-compatible closing (the default) it first sends `close_notify` and
    /// waits for the peer's, discarding data that arrives before it; put a deadline around
    /// it for a peer that may never answer. If another task is sending or receiving at the
    /// time, that exchange is skipped and the task's operation ends with
    /// [`ClosedResourceError`](crate::ClosedResourceError).
    ///
    /// # Errors
    ///
    /// The closing exchange's error (a [`BrokenResourceError`](crate::BrokenResourceError)
    /// if the peer ended the connection without `close_notify`); the transport is closed
    /// all the same.
    ///
    /// # Cancel safety
    ///
    /// The stream counts as closed from the first poll; cancelling or dropping the future
    /// skips the rest of the exchange, and the transport is then closed when the stream is
    /// dropped.
    pub async fn aclose(&self) -> io::Result<()> {
        self.session.aclose().await
    }

    /// Ends TLS and returns the transport with the bytes that arrived after the peer's
    /// `close_notify` (AnyIO's `unwrap`): sends `close_notify`, waits for the peer's, and
    /// hands the plain stream back for whatever the protocol does next. A stream that never
    /// started TLS returns at once, with nothing left over.
    ///
    /// # Errors
    ///
    /// `InvalidInput` while the handshake has not completed; the errors of a receive or a
    /// send otherwise (a [`BrokenResourceError`](crate::BrokenResourceError) when the peer
    /// ends the connection without `close_notify`). The transport is dropped on error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the stream is consumed.
    pub async fn unwrap(mut self) -> io::Result<(S, Vec<u8>)> {
        // The poll-based traits' futures hold the other references to the session.
        self.poll = Mutex::default();
        let Some(session) = Arc::into_inner(self.session) else {
            unreachable!("only the stream and its own futures hold the session")
        };
        session.unwrap().await
    }

    /// The stream TLS runs over. Its attributes (addresses, the socket) are the
    /// connection's; reading or writing it directly would corrupt the TLS stream.
    pub fn transport(&self) -> &S {
        self.session.transport()
    }

    /// Whether standard-compatible closing is on (rule 19).
    pub fn is_standard_compatible(&self) -> bool {
        self.session.standard_compatible()
    }

    /// Whether this is the server side of the connection.
    pub fn is_server(&self) -> bool {
        self.session
            .with_conn(|c| matches!(c, Connection::Server(_)))
    }

    /// The server name: on the client, the name the certificate was verified against
    /// (`None` for an IP address); on the server, the name the client asked for (SNI), if
    /// any.
    pub fn server_name(&self) -> Option<String> {
        self.session
            .with_conn(|c| match c {
                Connection::Server(server) => server.server_name().map(str::to_owned),
                Connection::Client(_) => None,
            })
            .or_else(|| self.client_name.clone())
    }

    /// The protocol ALPN settled on, once the handshake is done.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.session
            .with_conn(|c| c.alpn_protocol().map(<[u8]>::to_vec))
    }

    /// The protocol version (TLS 1.2 or 1.3), once negotiated.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.session.with_conn(|c| c.protocol_version())
    }

    /// The cipher suite, once negotiated: `suite()` names it.
    pub fn cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.session.with_conn(|c| c.negotiated_cipher_suite())
    }

    /// The peer's certificate chain, its own certificate first (DER), once the handshake
    /// is done; `None` on a server that did not ask the client for one.
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.session
            .with_conn(|c| c.peer_certificates().map(<[_]>::to_vec))
    }

    /// Channel binding data of `kind`, once the handshake is done: `tls-exporter` on
    /// TLS 1.3 connections; `None` where the kind does not exist or rustls does not provide
    /// it (see [`ChannelBinding`]).
    pub fn channel_binding(&self, kind: ChannelBinding) -> Option<Vec<u8>> {
        if kind != ChannelBinding::TlsExporter || !self.session.is_open() {
            return None;
        }
        self.session.with_conn(|c| {
            if c.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
                return None;
            }
            c.export_keying_material(vec![0; 32], TLS_EXPORTER_LABEL, None)
                .ok()
        })
    }
}

impl<S: ByteStream> AsyncResource for TlsStream<S> {
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.session.aclose()
    }
}

impl<S: ByteStream> ByteReceiveStream for TlsStream<S> {
    fn receive(&self, max_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        self.session.receive(max_bytes)
    }
}

impl<S: ByteStream> ByteSendStream for TlsStream<S> {
    fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        self.session.send(data)
    }
}

impl<S: ByteStream> ByteStream for TlsStream<S> {
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.session.send_eof()
    }
}

#[cfg(unix)]
impl<S: ByteStream + crate::net::SocketAttributes> crate::net::SocketAttributes for TlsStream<S> {
    fn raw_socket(&self) -> socket2::SockRef<'_> {
        self.session.transport().raw_socket()
    }
}

/// The poll-based reads and writes behind the ecosystem's I/O traits: each operation is
/// the async one, boxed and kept until it completes.
impl<S: ByteStream + 'static> TlsStream<S> {
    pub(crate) fn poll_read_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut n = 0;
        ready!(self.poll_read_with(cx, buf.len(), |data| {
            n = data.len();
            buf[..n].copy_from_slice(data);
        }))?;
        Poll::Ready(Ok(n))
    }

    /// One poll of a read of at most `room` bytes, which go to `put` (not called at the end
    /// of the stream, nor when `room` is 0): for buffers that are not a `&mut [u8]`.
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        room: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<()>> {
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        let poll = self.poll.get_mut().unwrap_or_else(PoisonError::into_inner);
        if poll.unread_pos == poll.unread.len() {
            let session = self.session.clone();
            let read = poll.read.get_or_insert_with(|| {
                Box::pin(async move { session.receive(DEFAULT_MAX_BYTES).await })
            });
            let received = ready!(read.as_mut().poll(cx));
            poll.read = None;
            match received {
                Ok(data) => {
                    poll.unread = data;
                    poll.unread_pos = 0;
                }
                Err(err) if err.is_end_of_stream() => return Poll::Ready(Ok(())),
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        let rest = &poll.unread[poll.unread_pos..];
        let n = rest.len().min(room);
        put(&rest[..n]);
        poll.unread_pos += n;
        Poll::Ready(Ok(()))
    }

    fn poll_state(&mut self) -> &mut PollState {
        self.poll.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn poll_write_io(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_flush_io(cx))?;
        let session = self.session.clone();
        let (n, flush): (usize, BoxFuture<()>) = if session.is_open() {
            let n = session.encrypt(data)?;
            (n, Box::pin(async move { session.flush_records().await }))
        } else {
            // Before TLS: the bytes go out as they are.
            let data = data.to_vec();
            (
                data.len(),
                Box::pin(async move { session.send(&data).await }),
            )
        };
        self.poll_state().write = Some(flush);
        // The records are queued: their flush goes on at the next write or flush.
        if let Poll::Ready(Err(err)) = self.poll_flush_io(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(n))
    }

    pub(crate) fn poll_flush_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = self.poll_state();
        if let Some(write) = poll.write.as_mut() {
            let flushed = ready!(write.as_mut().poll(cx));
            poll.write = None;
            flushed?;
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_close_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush_io(cx))?;
        let session = self.session.clone();
        let poll = self.poll_state();
        if poll.closed {
            return Poll::Ready(Ok(()));
        }
        let close = poll
            .close
            .get_or_insert_with(|| Box::pin(async move { session.send_eof().await }));
        let closed = ready!(close.as_mut().poll(cx));
        poll.close = None;
        poll.closed = true;
        Poll::Ready(closed)
    }
}

/// Reads plaintext; `Ok(0)` at the end of the stream. Each read is a checkpoint of the
/// calling anyio task, as for socket streams.
impl<S: ByteStream + 'static> futures_io::AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_io(cx, buf)
    }
}

/// Writes are encrypted at once and flushed in the background of the next write, flush or
/// close; closing sends `close_notify` and the transport's end of stream.
impl<S: ByteStream + 'static> futures_io::AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_io(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_io(cx)
    }
}
