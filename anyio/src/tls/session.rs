//! The engine of a TLS stream: a rustls connection driven over any anyio byte stream.
//!
//! rustls does every cryptographic and record-level step; this module moves bytes. What it
//! adds on top:
//!
//! - **Sharing** (rule 18): one receiving task and one sending task at a time, each with its
//!   own busy guard, so a stream can be read in one task while another writes it. The rustls
//!   connection sits behind a mutex held only for synchronous work, never across an await.
//! - **Record-exact feeding**: bytes from the transport go to rustls one record at a time
//!   (the 5-byte record header gives the length). Once the peer's `close_notify` has been
//!   processed, the bytes after it stay here, so [`Session::unwrap`] can hand them back with
//!   the plain transport, as STARTTLS protocols need. rustls alone would swallow them.
//! - **Closing** (rule 19): in standard-compatible mode an end of the transport without the
//!   peer's `close_notify` is a broken stream (truncation), otherwise an ordinary end.
//! - **Failure is sticky**: once rustls rejects the input, or a flush of records to the
//!   transport fails or is interrupted, the stream is broken for good, because the record
//!   sequence can no longer be trusted.

use std::future::poll_fn;
use std::io::{self, BufRead};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustls::Connection;

use crate::cancel::current::poll_checkpoint;
use crate::cancel::error::is_cancelled;
use crate::resource::{BrokenResourceError, ClosedResourceError, EndOfStream};
use crate::stream::{ByteStream, IoErrorExt, zero_max_bytes};
use crate::sync::guard::ResourceGuard;
use crate::sync::lock::Lock;
use crate::time::{current_time, fail_at};

/// How much to ask the transport for at a time: four full records and their overhead, so a
/// 64 KiB plaintext read is one transport read.
const TRANSPORT_READ_SIZE: usize = 4 * (5 + 16384 + 256);

/// The length of a TLS record header: type, version, length.
const RECORD_HEADER_LEN: usize = 5;

/// Appends `n` bytes of the plaintext rustls holds to `out`, straight from rustls's buffer
/// (no zero-filled space to read into first).
fn read_plaintext(conn: &mut Connection, out: &mut Vec<u8>, mut n: usize) -> io::Result<()> {
    let mut reader = conn.reader();
    while n > 0 {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let take = chunk.len().min(n);
        out.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        n -= take;
    }
    Ok(())
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TLS not started: bytes pass through to the transport as they are.
    Plain,
    /// `start_tls` is running the handshake, or it is deferred to the first operation.
    Handshaking,
    /// The handshake is done: bytes are encrypted.
    Open,
}

/// A rustls connection over `transport`, with the sharing, closing and failure rules.
#[derive(Debug)]
pub(crate) struct Session<S> {
    transport: S,
    state: Mutex<State>,
    reading: ResourceGuard,
    writing: ResourceGuard,
    /// Taken by the operation that runs a deferred handshake; the others wait on it.
    deferred_gate: Lock<()>,
}

/// A handshake that a listener left to the stream's first operation.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    /// When it must be done by.
    deadline: Instant,
    /// The listener's timeout, for the error.
    timeout: Duration,
}

#[derive(Debug)]
struct State {
    conn: Connection,
    phase: Phase,
    /// Raw bytes from the transport; `incoming[pos..]` is not yet given to rustls.
    incoming: Vec<u8>,
    pos: usize,
    /// Bytes of the record being fed that rustls has not had yet (0 at a record boundary).
    record_left: usize,
    /// Plaintext that rustls holds for us, as its last `process_new_packets` said.
    plaintext: usize,
    /// The peer's `close_notify` has been processed: nothing more is fed to rustls.
    peer_closed: bool,
    /// The transport reported the end of its stream.
    transport_eof: bool,
    close_notify_sent: bool,
    /// `aclose` has begun: new operations get `ClosedResourceError`.
    closed: bool,
    /// Why the stream is broken, if it is: every later operation fails with this.
    failure: Option<Failure>,
    /// Whether an end of the transport without `close_notify` breaks the stream (rule 19).
    standard_compatible: bool,
    /// A handshake the first operation runs, if the stream was accepted that way.
    deferred: Option<Deferred>,
}

/// Why a session is broken for good.
#[derive(Debug, Clone)]
enum Failure {
    /// rustls rejected what the peer sent (or what we asked of it).
    Tls(rustls::Error),
    /// The transport failed, or a flush of records to it was interrupted.
    Transport(BrokenResourceError),
}

impl Failure {
    fn to_error(&self) -> io::Error {
        match self {
            Failure::Tls(err) => tls_error(err.clone()),
            Failure::Transport(err) => err.clone().into(),
        }
    }
}

/// The `io::Error` of a rustls error: `InvalidData`, with the rustls error inside (see
/// [`super::tls_error_of`]).
pub(crate) fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// What a step of decoding left us with.
enum Decoded {
    /// Some plaintext (at most the amount asked for).
    Data(Vec<u8>),
    /// Nothing yet: the transport must be read.
    NeedInput,
    /// The stream ended, or failed: this error, for good.
    End(io::Error),
}

impl State {
    fn check_usable(&self) -> io::Result<()> {
        if self.closed {
            return Err(ClosedResourceError.into());
        }
        match &self.failure {
            Some(failure) => Err(failure.to_error()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, failure: Failure) -> io::Error {
        let err = failure.to_error();
        self.failure.get_or_insert(failure);
        err
    }

    /// Adds a chunk from the transport behind the bytes not yet fed.
    fn push_incoming(&mut self, chunk: Vec<u8>) {
        if self.pos == self.incoming.len() {
            self.incoming = chunk;
        } else {
            self.incoming.drain(..self.pos);
            self.incoming.extend_from_slice(&chunk);
        }
        self.pos = 0;
    }

    /// Gives rustls the next piece of input, never past the end of the current record, and
    /// lets it process what it has. Returns whether anything was fed.
    fn feed_step(&mut self) -> Result<bool, rustls::Error> {
        if self.record_left == 0 {
            let avail = &self.incoming[self.pos..];
            if self.peer_closed || avail.len() < RECORD_HEADER_LEN {
                return Ok(false);
            }
            self.record_left =
                RECORD_HEADER_LEN + usize::from(u16::from_be_bytes([avail[3], avail[4]]));
        }
        let end = self.incoming.len().min(self.pos + self.record_left);
        let mut piece = &self.incoming[self.pos..end];
        if piece.is_empty() {
            return Ok(false);
        }
        let fed = match self.conn.read_tls(&mut piece) {
            Ok(n) => n,
            // A full plaintext buffer: the caller drains it first.
            Err(_) if self.plaintext > 0 => return Ok(false),
            Err(err) => return Err(rustls::Error::General(err.to_string())),
        };
        self.pos += fed;
        self.record_left -= fed;
        if self.pos == self.incoming.len() {
            self.incoming = Vec::new();
            self.pos = 0;
        }
        let io_state = self.conn.process_new_packets()?;
        self.plaintext = io_state.plaintext_bytes_to_read();
        self.peer_closed = io_state.peer_has_closed();
        Ok(fed > 0)
    }

    /// Decodes buffered input into at most `max` bytes of plaintext.
    fn decode(&mut self, max: usize) -> Decoded {
        if let Some(failure) = &self.failure {
            return Decoded::End(failure.to_error());
        }
        let mut out = Vec::new();
        loop {
            let take = self.plaintext.min(max - out.len());
            if take > 0 {
                if out.capacity() == 0 {
                    // No more than this can be decoded without reading the transport.
                    let bound = self.plaintext + (self.incoming.len() - self.pos);
                    out.reserve_exact(max.min(bound));
                }
                if let Err(err) = read_plaintext(&mut self.conn, &mut out, take) {
                    let failure = Failure::Tls(rustls::Error::General(err.to_string()));
                    return Decoded::End(self.fail(failure));
                }
                self.plaintext -= take;
            }
            if out.len() == max {
                break;
            }
            match self.feed_step() {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => {
                    // The plaintext before the bad record is delivered first.
                    let err = self.fail(Failure::Tls(err));
                    if out.is_empty() {
                        return Decoded::End(err);
                    }
                    break;
                }
            }
        }
        if !out.is_empty() {
            return Decoded::Data(out);
        }
        if self.peer_closed {
            return Decoded::End(EndOfStream.into());
        }
        if self.transport_eof {
            return Decoded::End(self.ragged_eof());
        }
        Decoded::NeedInput
    }

    /// The transport ended without the peer's `close_notify`.
    fn ragged_eof(&mut self) -> io::Error {
        if self.phase != Phase::Open {
            let cause = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            );
            return self.fail(Failure::Transport(BrokenResourceError::caused_by(
                "TLS stream",
                cause,
            )));
        }
        if !self.standard_compatible {
            return EndOfStream.into();
        }
        let cause = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection without sending TLS close_notify \
             (the data may have been truncated)",
        );
        self.fail(Failure::Transport(BrokenResourceError::caused_by(
            "TLS stream",
            cause,
        )))
    }

    /// Takes the records rustls has ready to send.
    fn take_records(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail.
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }
}

/// Marks the session broken unless disarmed: for work that cannot be resumed once cut
/// short (a flush of records, one of which may be half sent; a handshake). A failure
/// recorded first stays the session's failure.
struct BreakOnDrop<'a> {
    state: &'a Mutex<State>,
    /// Why, if it goes off; `""` once disarmed.
    what: &'static str,
}

impl BreakOnDrop<'_> {
    fn disarm(&mut self) {
        self.what = "";
    }
}

impl Drop for BreakOnDrop<'_> {
    fn drop(&mut self) {
        if !self.what.is_empty() {
            let cause = io::Error::new(io::ErrorKind::Interrupted, self.what);
            let broken = BrokenResourceError::caused_by("TLS stream", cause);
            lock(self.state)
                .failure
                .get_or_insert(Failure::Transport(broken));
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: ByteStream> Session<S> {
    /// A session over `transport` that has not started TLS: `conn` is what
    /// [`start_tls`](Self::start_tls) will run.
    pub(crate) fn new(transport: S, conn: Connection, standard_compatible: bool) -> Self {
        Session {
            transport,
            state: Mutex::new(State {
                conn,
                phase: Phase::Plain,
                incoming: Vec::new(),
                pos: 0,
                record_left: 0,
                plaintext: 0,
                peer_closed: false,
                transport_eof: false,
                close_notify_sent: false,
                closed: false,
                failure: None,
                standard_compatible,
                deferred: None,
            }),
            reading: ResourceGuard::new("reading from"),
            writing: ResourceGuard::new("writing to"),
            deferred_gate: Lock::new_fast(()),
        }
    }

    /// Starts TLS without running the handshake: the first operation runs it (see
    /// [`finish_deferred_handshake`](Self::finish_deferred_handshake)), which must be done
    /// within `timeout` from now.
    pub(crate) fn defer_handshake(&self, timeout: Duration) {
        let mut st = self.lock();
        debug_assert_eq!(st.phase, Phase::Plain);
        st.phase = Phase::Handshaking;
        st.deferred = Some(Deferred {
            deadline: current_time() + timeout,
            timeout,
        });
    }

    /// Runs a deferred handshake, if there is one: one operation runs it while the others
    /// wait for it. Unlike [`start_tls`](Self::start_tls) it may be cancelled between reads
    /// without harm (the next operation goes on with it); a failure, or missing the
    /// deadline, breaks the stream for good. Failures are logged, as the listener does.
    pub(crate) async fn finish_deferred_handshake(&self) -> io::Result<()> {
        if self.lock().deferred.is_none() {
            return Ok(());
        }
        let _gate = self.deferred_gate.acquire().await?;
        let Some(deferred) = self.lock().deferred else {
            // Another operation ran it: its failure, if any, is the session's.
            return self.lock().check_usable();
        };
        let shaken = {
            let _reading = self.reading.enter()?;
            let _writing = self.writing.enter()?;
            self.lock().check_usable()?;
            fail_at(deferred.deadline, self.handshake()).await
        };
        let mut st = self.lock();
        match shaken {
            Ok(()) => {
                st.phase = Phase::Open;
                st.deferred = None;
                Ok(())
            }
            Err(err) if is_cancelled(&err) => Err(err),
            Err(err) => {
                st.deferred = None;
                let err = if err.kind() == io::ErrorKind::TimedOut && st.failure.is_none() {
                    let cause = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the TLS handshake did not complete within {:?}",
                            deferred.timeout
                        ),
                    );
                    st.fail(Failure::Transport(BrokenResourceError::caused_by(
                        "TLS stream",
                        cause,
                    )))
                } else {
                    st.failure.as_ref().map_or(err, Failure::to_error)
                };
                log::warn!(target: "anyio::tls", "TLS handshake failed: {err}");
                Err(err)
            }
        }
    }

    pub(crate) fn transport(&self) -> &S {
        &self.transport
    }

    pub(crate) fn standard_compatible(&self) -> bool {
        self.lock().standard_compatible
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Runs `f` on the rustls connection (for what it negotiated).
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&self.lock().conn)
    }

    /// Whether the handshake is done.
    pub(crate) fn is_handshake_done(&self) -> bool {
        self.lock().phase == Phase::Open
    }

    pub(crate) fn is_started(&self) -> bool {
        self.lock().phase != Phase::Plain
    }

    /// Whether TLS has started, once the session is known to be neither closed nor broken
    /// (one look under the lock, for the start of every operation).
    fn usable_and_started(&self) -> io::Result<bool> {
        let st = self.lock();
        st.check_usable()?;
        Ok(st.phase != Phase::Plain)
    }

    pub(crate) fn is_open(&self) -> bool {
        self.lock().phase == Phase::Open
    }

    /// Runs the handshake: exclusive, so both busy guards are taken. A handshake that fails,
    /// or is cancelled or dropped part way, leaves the session broken.
    pub(crate) async fn start_tls(&self) -> io::Result<()> {
        let _reading = self.reading.enter()?;
        let _writing = self.writing.enter()?;
        {
            let st = self.lock();
            st.check_usable()?;
            if st.phase != Phase::Plain {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS has already been started on this stream",
                ));
            }
        }
        poll_fn(poll_checkpoint).await?;
        self.lock().phase = Phase::Handshaking;
        let mut guard = BreakOnDrop {
            state: &self.state,
            what: "the TLS handshake was interrupted (cancelled) part way",
        };
        self.handshake().await?;
        guard.disarm();
        self.lock().phase = Phase::Open;
        Ok(())
    }

    /// The handshake's exchange: flush what rustls wrote, read what it needs, until done.
    async fn handshake(&self) -> io::Result<()> {
        loop {
            self.flush().await?;
            if !self.lock().conn.is_handshaking() {
                return Ok(());
            }
            self.read_transport().await?;
            let fed = {
                let mut st = self.lock();
                loop {
                    // Records after the handshake are left for `receive`: a bad one fails
                    // the stream, not the handshake, however the bytes were chunked.
                    if !st.conn.is_handshaking() {
                        break Ok(());
                    }
                    match st.feed_step() {
                        Ok(true) => {}
                        Ok(false) => break Ok(()),
                        Err(err) => break Err(st.fail(Failure::Tls(err))),
                    }
                }
            };
            if let Err(err) = fed {
                // Tell the peer why (the alert rustls queued), as far as the transport lets us.
                let _ = self.flush_unchecked().await;
                return Err(err);
            }
            let mut st = self.lock();
            if st.transport_eof && st.conn.is_handshaking() {
                return Err(st.ragged_eof());
            }
        }
    }

    /// Reads one chunk from the transport into the incoming bytes; its end is noted, its
    /// failure breaks the session.
    async fn read_transport(&self) -> io::Result<()> {
        match self.transport.receive(TRANSPORT_READ_SIZE).await {
            Ok(chunk) => {
                self.lock().push_incoming(chunk);
                Ok(())
            }
            Err(err) if err.is_end_of_stream() => {
                self.lock().transport_eof = true;
                Ok(())
            }
            Err(err) => Err(self.transport_failed(err)),
        }
    }

    /// The error to return for a transport error; a real failure (not a cancellation, not
    /// our own close) breaks the session.
    fn transport_failed(&self, err: io::Error) -> io::Error {
        if crate::is_cancelled(&err) || err.is_closed_resource() || err.is_busy_resource() {
            return err;
        }
        let mut st = self.lock();
        if st.closed {
            return ClosedResourceError.into();
        }
        let broken = match err
            .get_ref()
            .and_then(|e| e.downcast_ref::<BrokenResourceError>())
        {
            Some(broken) => broken.clone(),
            None => BrokenResourceError::caused_by("TLS transport", err),
        };
        st.fail(Failure::Transport(broken))
    }

    /// Sends every record rustls has ready, if the session is usable.
    async fn flush(&self) -> io::Result<()> {
        self.lock().check_usable()?;
        self.flush_unchecked().await
    }

    /// Sends every record rustls has ready. A failure, or being cancelled or dropped part
    /// way, breaks the session.
    async fn flush_unchecked(&self) -> io::Result<()> {
        loop {
            let records = self.lock().take_records();
            if records.is_empty() {
                return Ok(());
            }
            let mut guard = BreakOnDrop {
                state: &self.state,
                what: "a send of TLS records was interrupted (cancelled) part way",
            };
            // On an error the guard stays armed: the records may be half sent.
            self.transport
                .send(&records)
                .await
                .map_err(|e| self.transport_failed(e))?;
            guard.disarm();
        }
    }

    /// Receives at most `max_bytes` of plaintext (rule 18 and rule 19).
    pub(crate) async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        if max_bytes == 0 {
            return Err(zero_max_bytes());
        }
        self.finish_deferred_handshake().await?;
        let _reading = self.reading.enter()?;
        if !self.usable_and_started()? {
            return self
                .transport
                .receive(max_bytes)
                .await
                .map_err(|e| self.plain_error(e));
        }
        poll_fn(poll_checkpoint).await?;
        self.receive_open(max_bytes).await
    }

    /// The receive loop of a started session, without the guard (the caller has it).
    async fn receive_open(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        loop {
            match self.lock().decode(max_bytes) {
                Decoded::Data(data) => return Ok(data),
                Decoded::End(err) => return Err(err),
                Decoded::NeedInput => {}
            }
            self.read_transport().await?;
        }
    }

    /// A plain (not yet TLS) transport error: our own close reads as closed.
    fn plain_error(&self, err: io::Error) -> io::Error {
        if self.lock().closed && !err.is_end_of_stream() {
            return ClosedResourceError.into();
        }
        err
    }

    /// Encrypts and sends all of `data`.
    pub(crate) async fn send(&self, data: &[u8]) -> io::Result<()> {
        self.finish_deferred_handshake().await?;
        let _writing = self.writing.enter()?;
        if !self.usable_and_started()? {
            return self
                .transport
                .send(data)
                .await
                .map_err(|e| self.plain_error(e));
        }
        poll_fn(poll_checkpoint).await?;
        let mut sent = 0;
        loop {
            sent += self.encrypt_unguarded(&data[sent..])?;
            self.flush().await?;
            if sent == data.len() {
                return Ok(());
            }
        }
    }

    /// Hands what rustls takes of `data` to it (encrypted into records, not yet sent) and
    /// returns how much that was. For the poll-based write, which then flushes.
    pub(crate) fn encrypt(&self, data: &[u8]) -> io::Result<usize> {
        let _writing = self.writing.enter()?;
        self.encrypt_unguarded(data)
    }

    fn encrypt_unguarded(&self, data: &[u8]) -> io::Result<usize> {
        let mut st = self.lock();
        st.check_usable()?;
        if st.close_notify_sent {
            return Err(ClosedResourceError.into());
        }
        // rustls takes what fits its send buffer; `io::Write` into it does not fail.
        io::Write::write(&mut st.conn.writer(), data)
    }

    /// Sends the records that [`encrypt`](Self::encrypt) made (the poll-based write's flush).
    pub(crate) async fn flush_records(&self) -> io::Result<()> {
        let _writing = self.writing.enter()?;
        self.flush().await
    }

    /// Ends our sending side: `close_notify`, then the transport's end of stream.
    pub(crate) async fn send_eof(&self) -> io::Result<()> {
        self.finish_deferred_handshake().await?;
        let _writing = self.writing.enter()?;
        if !self.usable_and_started()? {
            return self.transport.send_eof().await;
        }
        self.send_close_notify().await?;
        self.transport
            .send_eof()
            .await
            .map_err(|e| self.transport_failed(e))
    }

    /// Queues `close_notify` once and sends what is queued; the caller holds the write
    /// guard and has checked that the session is not closed, where that matters (closing
    /// itself sends it after marking the session closed).
    async fn send_close_notify(&self) -> io::Result<()> {
        {
            let mut st = self.lock();
            if let Some(failure) = &st.failure {
                return Err(failure.to_error());
            }
            if !st.close_notify_sent {
                st.close_notify_sent = true;
                st.conn.send_close_notify();
            }
        }
        self.flush_unchecked().await
    }

    /// Waits for the peer's `close_notify`, discarding any data before it; the caller holds
    /// the read guard.
    async fn await_peer_close(&self) -> io::Result<()> {
        loop {
            match self.receive_open(TRANSPORT_READ_SIZE).await {
                Ok(_) => {}
                Err(err) if err.is_end_of_stream() => return Ok(()),
                Err(err) => return Err(err),
            }
        }
    }

    /// Closes the stream (rule 19). In standard-compatible mode, a started session first
    /// runs the closing handshake: our `close_notify`, then the peer's. The transport is
    /// closed in every case, also when the handshake fails (and that error is returned).
    /// When another task is sending or receiving, the closing handshake is skipped and
    /// closing the transport ends that task's operation with `ClosedResourceError`.
    pub(crate) async fn aclose(&self) -> io::Result<()> {
        let goodbye = {
            let mut st = self.lock();
            let was_closed = std::mem::replace(&mut st.closed, true);
            !was_closed && st.standard_compatible && st.phase == Phase::Open && st.failure.is_none()
        };
        let result = if goodbye {
            self.closing_handshake().await
        } else {
            Ok(())
        };
        let closed = self.transport.aclose().await;
        result.and(closed)
    }

    async fn closing_handshake(&self) -> io::Result<()> {
        let (Ok(_writing), Ok(_reading)) = (self.writing.enter(), self.reading.enter()) else {
            return Ok(());
        };
        self.send_close_notify().await?;
        self.await_peer_close().await
    }

    /// The closing handshake of [`unwrap`](Self::unwrap): exclusive, and only once the
    /// handshake is done.
    async fn end_tls(&self) -> io::Result<()> {
        let _writing = self.writing.enter()?;
        let _reading = self.reading.enter()?;
        if !self.is_open() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the TLS handshake has not completed",
            ));
        }
        self.lock().check_usable()?;
        self.send_close_notify().await?;
        self.await_peer_close().await
    }

    /// Ends TLS and returns the transport with the bytes that arrived after the peer's
    /// `close_notify`. A session that never started TLS returns at once.
    pub(crate) async fn unwrap(self) -> io::Result<(S, Vec<u8>)> {
        self.finish_deferred_handshake().await?;
        if self.is_started() {
            self.end_tls().await?;
        }
        let st = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let mut leftover = st.incoming;
        leftover.drain(..st.pos);
        Ok((self.transport, leftover))
    }
}
