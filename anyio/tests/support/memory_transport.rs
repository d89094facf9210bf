//! An in-memory byte stream for feeding the server side of a TLS stream exactly what a test
//! or a fuzz target chooses: a fixed script of bytes, or the live output of a rustls client
//! (with chosen records after its handshake), in chosen chunk sizes, up to an optional
//! cut, then the end of the stream. What the server sends is recorded (and given to the
//! client).
//!
//! Shared by `anyio/tests/tls_fuzz.rs` and the `tls_server` fuzz target
//! (`fuzz/fuzz_targets/tls_server.rs`) with `#[path]`, so both check the same model.
#![allow(dead_code)] // The fuzz target and the test each use their own subset.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use anyio::stream::{AsyncResource, ByteReceiveStream, ByteSendStream, ByteStream, IoErrorExt};
use anyio::tls::{TlsAcceptor, TlsStream, rustls, tls_error_of};
use anyio::{ClosedResourceError, EndOfStream};

/// How many TLS 1.3 key update requests rustls accepts in a row.
const MAX_KEY_UPDATES_IN_A_ROW: usize = 32;

/// The most plaintext one TLS record carries.
const MAX_FRAGMENT: usize = 16384;

/// How much of what the server sends is kept for inspection.
const SENT_KEPT: usize = 1 << 20;

/// A byte stream whose receiving side replays what its source produces, in the given
/// chunk sizes, and whose sending side records what it is sent.
///
/// Clones share the stream, so a test keeps one to inspect after the TLS stream that owns
/// the other is gone. Every `receive` and `send` is a checkpoint (cancellable, and it
/// yields), so a TLS stream that loops on the transport is caught by a deadline.
#[derive(Clone)]
pub(crate) struct MemoryTransport {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport").finish_non_exhaustive()
    }
}

struct Inner {
    source: Source,
    /// Produced by the source, not yet received: `pending[pos..]`.
    pending: Vec<u8>,
    pos: usize,
    /// Chunk sizes, used in turn (cycled); 0 means "all there is".
    chunk_sizes: Vec<usize>,
    next_chunk: usize,
    /// The stream ends after this many bytes, whatever the source has.
    limit: Option<usize>,
    delivered: usize,
    receives: usize,
    /// How many receives got `EndOfStream`.
    eof_reports: usize,
    sent: Vec<u8>,
    sent_eof: bool,
    closed: bool,
}

enum Source {
    /// A fixed script, handed over whole on the first receive.
    Script(Option<Vec<u8>>),
    /// A rustls client, answering what the server sends.
    Client(Box<ClientPeer>),
}

impl Inner {
    fn refill(&mut self) {
        let more = match &mut self.source {
            Source::Script(script) => script.take().unwrap_or_default(),
            Source::Client(client) => client.produce(),
        };
        if self.pos == self.pending.len() {
            self.pending = more;
            self.pos = 0;
        } else {
            self.pending.extend_from_slice(&more);
        }
    }

    fn next_chunk_size(&mut self) -> usize {
        if self.chunk_sizes.is_empty() {
            return usize::MAX;
        }
        let size = self.chunk_sizes[self.next_chunk % self.chunk_sizes.len()];
        self.next_chunk += 1;
        if size == 0 { usize::MAX } else { size }
    }
}

impl MemoryTransport {
    fn with_source(source: Source, chunk_sizes: Vec<usize>, limit: Option<usize>) -> Self {
        MemoryTransport {
            inner: Arc::new(Mutex::new(Inner {
                source,
                pending: Vec::new(),
                pos: 0,
                chunk_sizes,
                next_chunk: 0,
                limit,
                delivered: 0,
                receives: 0,
                eof_reports: 0,
                sent: Vec::new(),
                sent_eof: false,
                closed: false,
            })),
        }
    }

    /// Replays `script` in chunks of `chunk_sizes` (cycled; 0 or none: all that is left),
    /// then ends.
    pub(crate) fn scripted(script: Vec<u8>, chunk_sizes: Vec<usize>) -> Self {
        Self::with_source(Source::Script(Some(script)), chunk_sizes, None)
    }

    /// Plays `client` as the peer: what the server sends goes to it, what it writes comes
    /// back, in chunks of `chunk_sizes`; the stream ends when the client has nothing more
    /// to say, or after `limit` bytes.
    pub(crate) fn with_client(
        client: ClientPeer,
        chunk_sizes: Vec<usize>,
        limit: Option<usize>,
    ) -> Self {
        Self::with_source(Source::Client(Box::new(client)), chunk_sizes, limit)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the client peer saw and did (`None` for a scripted transport).
    pub(crate) fn client_report(&self) -> Option<ClientReport> {
        match &self.lock().source {
            Source::Client(client) => Some(client.report.clone()),
            Source::Script(_) => None,
        }
    }

    /// How many bytes receives returned in all.
    pub(crate) fn delivered(&self) -> usize {
        self.lock().delivered
    }

    /// How many receives reported the end of the stream.
    pub(crate) fn eof_reports(&self) -> usize {
        self.lock().eof_reports
    }

    /// How many receives there were.
    pub(crate) fn receives(&self) -> usize {
        self.lock().receives
    }

    /// What was sent (the first MiB of it).
    pub(crate) fn sent(&self) -> Vec<u8> {
        self.lock().sent.clone()
    }

    /// Whether `send_eof` and `aclose` were called.
    pub(crate) fn sent_eof_and_closed(&self) -> (bool, bool) {
        let inner = self.lock();
        (inner.sent_eof, inner.closed)
    }
}

impl AsyncResource for MemoryTransport {
    async fn aclose(&self) -> io::Result<()> {
        self.lock().closed = true;
        Ok(())
    }
}

impl ByteReceiveStream for MemoryTransport {
    async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        anyio::checkpoint().await?;
        let mut inner = self.lock();
        inner.receives += 1;
        if inner.closed {
            return Err(ClosedResourceError.into());
        }
        if max_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_bytes must be a positive integer",
            ));
        }
        if inner.pos == inner.pending.len() {
            inner.refill();
        }
        let available = inner.pending.len() - inner.pos;
        let room = inner
            .limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(inner.delivered));
        if available == 0 || room == 0 {
            inner.eof_reports += 1;
            return Err(EndOfStream.into());
        }
        let n = inner
            .next_chunk_size()
            .min(available)
            .min(room)
            .min(max_bytes);
        let start = inner.pos;
        let chunk = inner.pending[start..start + n].to_vec();
        inner.pos += n;
        inner.delivered += n;
        Ok(chunk)
    }
}

impl ByteSendStream for MemoryTransport {
    async fn send(&self, data: &[u8]) -> io::Result<()> {
        anyio::checkpoint().await?;
        let mut inner = self.lock();
        if inner.closed || inner.sent_eof {
            return Err(ClosedResourceError.into());
        }
        let keep = SENT_KEPT.saturating_sub(inner.sent.len()).min(data.len());
        inner.sent.extend_from_slice(&data[..keep]);
        if let Source::Client(client) = &mut inner.source {
            client.deliver(data);
        }
        Ok(())
    }
}

impl ByteStream for MemoryTransport {
    async fn send_eof(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(ClosedResourceError.into());
        }
        inner.sent_eof = true;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The client peer

/// What the client does once its handshake is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientOp {
    /// Sends this plaintext (in records of at most 16 KiB).
    Data(Vec<u8>),
    /// Sends `close_notify`.
    CloseNotify,
    /// Updates its sending keys and asks the server to update its own (TLS 1.3 only; does
    /// nothing on TLS 1.2).
    KeyUpdate,
    /// Puts these bytes on the wire as they are.
    Raw(Vec<u8>),
}

/// One record (or raw piece) the client put on the wire after its handshake, and where it
/// ends in the byte stream the server receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) end: usize,
    pub(crate) len: usize,
    pub(crate) what: SegmentKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SegmentKind {
    Data(Vec<u8>),
    CloseNotify,
    KeyUpdate,
    Raw,
}

/// What the client saw and did.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientReport {
    /// Where its handshake messages end in the stream, once it finished the handshake.
    pub(crate) handshake_end: Option<usize>,
    /// What it sent after the handshake.
    pub(crate) segments: Vec<Segment>,
    /// The first error it met (the server sent something wrong, or an alert).
    pub(crate) error: Option<rustls::Error>,
}

/// A rustls client driven by the transport: it reads what the server sends, writes its
/// handshake messages, then runs its [`ClientOp`]s once.
pub(crate) struct ClientPeer {
    conn: rustls::ClientConnection,
    ops: Vec<ClientOp>,
    ops_run: bool,
    /// Bytes produced so far.
    produced: usize,
    report: ClientReport,
}

impl ClientPeer {
    pub(crate) fn new(conn: rustls::ClientConnection, ops: Vec<ClientOp>) -> Self {
        ClientPeer {
            conn,
            ops,
            ops_run: false,
            produced: 0,
            report: ClientReport::default(),
        }
    }

    fn note_error(&mut self, err: rustls::Error) {
        self.report.error.get_or_insert(err);
    }

    fn drain(conn: &mut rustls::ClientConnection, out: &mut Vec<u8>) {
        while conn.wants_write() {
            if conn.write_tls(out).is_err() {
                break;
            }
        }
    }

    /// Takes what the server sent.
    fn deliver(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.report.error.is_none() {
            match self.conn.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) => {
                    self.note_error(rustls::Error::General(err.to_string()));
                    break;
                }
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    let mut plaintext = vec![0; state.plaintext_bytes_to_read()];
                    let _ = self.conn.reader().read_exact(&mut plaintext);
                }
                Err(err) => self.note_error(err),
            }
        }
    }

    /// What the client writes next: its handshake messages; then, once, everything its
    /// ops produce.
    fn produce(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        Self::drain(&mut self.conn, &mut out);
        if !self.ops_run && !self.conn.is_handshaking() && self.report.error.is_none() {
            self.ops_run = true;
            self.report.handshake_end = Some(self.produced + out.len());
            for op in std::mem::take(&mut self.ops) {
                self.run_op(op, &mut out);
            }
        }
        self.produced += out.len();
        out
    }

    /// Notes a segment that began at `start` in `out` and ends at its end.
    fn segment(&mut self, out: &[u8], start: usize, what: SegmentKind) {
        self.report.segments.push(Segment {
            end: self.produced + out.len(),
            len: out.len() - start,
            what,
        });
    }

    fn run_op(&mut self, op: ClientOp, out: &mut Vec<u8>) {
        match op {
            ClientOp::Data(data) => {
                for piece in data.chunks(MAX_FRAGMENT) {
                    let start = out.len();
                    let mut written = 0;
                    while written < piece.len() {
                        match self.conn.writer().write(&piece[written..]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => written += n,
                        }
                        Self::drain(&mut self.conn, out);
                    }
                    self.segment(out, start, SegmentKind::Data(piece[..written].to_vec()));
                }
            }
            ClientOp::CloseNotify => {
                let start = out.len();
                self.conn.send_close_notify();
                Self::drain(&mut self.conn, out);
                self.segment(out, start, SegmentKind::CloseNotify);
            }
            ClientOp::KeyUpdate => {
                let start = out.len();
                if self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
                    && self.conn.refresh_traffic_keys().is_ok()
                {
                    Self::drain(&mut self.conn, out);
                    self.segment(out, start, SegmentKind::KeyUpdate);
                }
            }
            ClientOp::Raw(bytes) => {
                if !bytes.is_empty() {
                    let start = out.len();
                    out.extend_from_slice(&bytes);
                    self.segment(out, start, SegmentKind::Raw);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running the server, and what to expect of it

/// How a server-side operation ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// `InvalidData` with a rustls error inside (`tls_error_of`).
    Tls(rustls::Error),
    /// `BrokenResourceError`.
    Broken(io::Error),
    /// `EndOfStream` (or `Ok(0)` from the poll-based read).
    EndOfStream,
    /// Anything else: never expected.
    Other(io::Error),
}

impl Ending {
    fn of(err: io::Error) -> Ending {
        if let Some(tls) = tls_error_of(&err) {
            if err.kind() == io::ErrorKind::InvalidData {
                return Ending::Tls(tls.clone());
            }
        } else if err.is_broken_resource() {
            return Ending::Broken(err);
        } else if err.is_end_of_stream() {
            return Ending::EndOfStream;
        }
        Ending::Other(err)
    }

    /// The class, for comparing with an expectation.
    pub(crate) fn class(&self) -> EndClass {
        match self {
            Ending::Tls(_) => EndClass::Tls,
            Ending::Broken(_) => EndClass::Broken,
            Ending::EndOfStream => EndClass::EndOfStream,
            Ending::Other(_) => EndClass::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndClass {
    Tls,
    Broken,
    EndOfStream,
    Other,
}

/// What the server side made of its input.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Whether `accept` succeeded.
    pub(crate) accepted: bool,
    /// The plaintext received after it did.
    pub(crate) plaintext: Vec<u8>,
    /// How `accept`, or else the receive loop, ended.
    pub(crate) end: Ending,
    /// How many receives returned data.
    pub(crate) receives: usize,
}

/// How the server reads after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadStyle {
    /// `TlsStream::receive(max_bytes)`.
    Receive(usize),
    /// `futures_io::AsyncRead::poll_read` into a buffer of this size.
    AsyncRead(usize),
}

/// The longest a run may take: more is a hang.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);

/// Accepts TLS over `transport`, then reads until an error, then closes the stream; all
/// within [`DEADLINE`]. Returns how it went, or the timeout (or another cancellation) as the
/// error.
pub(crate) async fn serve(
    acceptor: &TlsAcceptor,
    transport: MemoryTransport,
    read: ReadStyle,
) -> io::Result<Outcome> {
    anyio::fail_after(DEADLINE, serve_inner(acceptor, transport, read)).await
}

async fn serve_inner(
    acceptor: &TlsAcceptor,
    transport: MemoryTransport,
    read: ReadStyle,
) -> io::Result<Outcome> {
    let probe = transport.clone();
    let mut stream = match acceptor.accept(transport).await {
        Ok(stream) => stream,
        Err(err) if anyio::is_cancelled(&err) => return Err(err),
        Err(err) => {
            return Ok(Outcome {
                accepted: false,
                plaintext: Vec::new(),
                end: Ending::of(err),
                receives: 0,
            });
        }
    };
    let mut plaintext = Vec::new();
    let mut receives = 0;
    let end = loop {
        let got = match read {
            ReadStyle::Receive(max_bytes) => stream.receive(max_bytes).await,
            ReadStyle::AsyncRead(size) => poll_read(&mut stream, size).await,
        };
        match got {
            Ok(data) => {
                assert!(!data.is_empty(), "a receive returned no bytes");
                if let ReadStyle::Receive(max_bytes) = read {
                    assert!(data.len() <= max_bytes, "a receive returned too much");
                }
                plaintext.extend_from_slice(&data);
                receives += 1;
                assert!(
                    plaintext.len() <= probe.delivered(),
                    "more plaintext than the transport delivered bytes"
                );
            }
            Err(err) if anyio::is_cancelled(&err) => return Err(err),
            Err(err) => break Ending::of(err),
        }
    };
    // The stream is broken or ended for good: a second receive reports the same, and
    // closing it does not hang and closes the transport.
    match stream.receive(1).await {
        Ok(data) => panic!("received {data:?} after {end:?}"),
        Err(err) if anyio::is_cancelled(&err) => return Err(err),
        Err(err) => {
            let again = Ending::of(err);
            assert_eq!(again.class(), end.class(), "{again:?} after {end:?}");
        }
    }
    match stream.aclose().await {
        Err(err) if anyio::is_cancelled(&err) => return Err(err),
        _ => {}
    }
    assert!(
        probe.sent_eof_and_closed().1,
        "aclose left the transport open"
    );
    Ok(Outcome {
        accepted: true,
        plaintext,
        end,
        receives,
    })
}

/// One `poll_read` into a buffer of `size` bytes: the data, or `EndOfStream` for `Ok(0)`.
async fn poll_read(stream: &mut TlsStream<MemoryTransport>, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; size.max(1)];
    let n = std::future::poll_fn(|cx| {
        futures_io::AsyncRead::poll_read(std::pin::Pin::new(&mut *stream), cx, &mut buf)
    })
    .await?;
    if n == 0 {
        return Err(EndOfStream.into());
    }
    buf.truncate(n);
    Ok(buf)
}

/// What a run with a client peer must give, from what the client sent and where the
/// stream was cut.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) accepted: bool,
    /// The plaintext the server must receive once `accept` succeeded: every whole data
    /// record before the end, also before a bad record.
    pub(crate) plaintext: Vec<u8>,
    /// How the run must end: one of these.
    pub(crate) ends: Vec<EndClass>,
    /// Whether the server got garbage, so that it may have sent the client an alert.
    pub(crate) garbage: bool,
}

/// The model: the handshake completes iff the client's handshake messages all arrived;
/// then every whole data record is received, in order, up to the first `close_notify`
/// (an end of stream) or the cut (a broken stream with standard-compatible closing, an end
/// otherwise); raw bytes make the stream fail with a TLS error, or end as a cut does, and
/// so does a 33rd key update request in a row.
pub(crate) fn expectation(
    report: &ClientReport,
    limit: Option<usize>,
    standard_compatible: bool,
) -> Expected {
    let limit = limit.unwrap_or(usize::MAX);
    let ragged = if standard_compatible {
        EndClass::Broken
    } else {
        EndClass::EndOfStream
    };
    if report.handshake_end.is_none_or(|end| end > limit) {
        return Expected {
            accepted: false,
            plaintext: Vec::new(),
            ends: vec![EndClass::Broken],
            garbage: false,
        };
    }
    let mut plaintext = Vec::new();
    // rustls allows 32 key update requests in a row, without application data between
    // them, and refuses the 33rd (`PeerMisbehaved::TooManyKeyUpdateRequests`).
    let mut key_updates_in_a_row = 0;
    for segment in &report.segments {
        let start = segment.end - segment.len;
        if segment.what == SegmentKind::Raw && start < limit {
            return Expected {
                accepted: true,
                plaintext,
                ends: vec![EndClass::Tls, ragged],
                garbage: true,
            };
        }
        if segment.end > limit {
            break;
        }
        match &segment.what {
            SegmentKind::Data(data) => {
                plaintext.extend_from_slice(data);
                key_updates_in_a_row = 0;
            }
            SegmentKind::KeyUpdate => {
                key_updates_in_a_row += 1;
                if key_updates_in_a_row > MAX_KEY_UPDATES_IN_A_ROW {
                    return Expected {
                        accepted: true,
                        plaintext,
                        ends: vec![EndClass::Tls],
                        garbage: true,
                    };
                }
            }
            SegmentKind::CloseNotify => {
                return Expected {
                    accepted: true,
                    plaintext,
                    ends: vec![EndClass::EndOfStream],
                    garbage: false,
                };
            }
            SegmentKind::Raw => {}
        }
    }
    Expected {
        accepted: true,
        plaintext,
        ends: vec![ragged],
        garbage: false,
    }
}

/// Checks an outcome against an expectation, with a message saying what differs.
pub(crate) fn check(outcome: &Outcome, expected: &Expected) -> Result<(), String> {
    if outcome.accepted != expected.accepted {
        return Err(format!(
            "accepted: {} but expected {}; ended with {:?}",
            outcome.accepted, expected.accepted, outcome.end
        ));
    }
    if !expected.ends.contains(&outcome.end.class()) {
        return Err(format!(
            "ended with {:?}, expected one of {:?}",
            outcome.end, expected.ends
        ));
    }
    if outcome.plaintext != expected.plaintext {
        return Err(format!(
            "received {} bytes of plaintext, expected {} (first difference at {:?})",
            outcome.plaintext.len(),
            expected.plaintext.len(),
            outcome
                .plaintext
                .iter()
                .zip(&expected.plaintext)
                .position(|(a, b)| a != b),
        ));
    }
    Ok(())
}

/// The first flight of a rustls client for `config`, naming `server_name`: its
/// ClientHello record(s).
pub(crate) fn client_hello(config: &Arc<rustls::ClientConfig>, server_name: &str) -> Vec<u8> {
    let mut conn = client_connection(config, server_name);
    let mut out = Vec::new();
    ClientPeer::drain(&mut conn, &mut out);
    out
}

/// A client configuration trusting the certificates of `root_pem`, offering only TLS 1.2
/// when `tls12_only`, else TLS 1.3 and 1.2; no session resumption.
pub(crate) fn client_config(root_pem: &[u8], tls12_only: bool) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable root");
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("the aws-lc-rs provider supports these versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Every connection a full handshake: what a run does must not depend on the runs
    // before it (libFuzzer needs that to reproduce an input).
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// A rustls client of `config` for `server_name`.
pub(crate) fn client_connection(
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
) -> rustls::ClientConnection {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .expect("a valid server name");
    rustls::ClientConnection::new(config.clone(), name).expect("a rustls client")
}

/// The certificates, the two sides' configurations and the recorded ClientHellos, made
/// once per test binary.
pub(crate) struct Pki {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) tls13: Arc<rustls::ClientConfig>,
    pub(crate) tls12: Arc<rustls::ClientConfig>,
    pub(crate) hello13: Vec<u8>,
    pub(crate) hello12: Vec<u8>,
}

pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = crate::certs::Ca::new();
        let server = ca.server(&["localhost"]);
        let acceptor = TlsAcceptor::from_pem(server.cert.as_bytes(), server.key.as_bytes())
            .expect("the test certificate is usable");
        let tls13 = client_config(ca.pem.cert.as_bytes(), false);
        let tls12 = client_config(ca.pem.cert.as_bytes(), true);
        let hello13 = client_hello(&tls13, "localhost");
        let hello12 = client_hello(&tls12, "localhost");
        Pki {
            acceptor,
            tls13,
            tls12,
            hello13,
            hello12,
        }
    })
}
