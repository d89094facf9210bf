//! [`ReceiveBuffer`]: the bytes received ahead of what a reader asked for, and the
//! algorithms that read through it (`receive`, `receive_exactly`, `receive_until`), written
//! against any [`ByteReceiveStream`] so that every stream type can share them.

use std::future::poll_fn;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::search;
use crate::cancel::current::poll_checkpoint;
use crate::resource::{DelimiterNotFound, IncompleteRead};
use crate::stream::error::IoErrorExt;
use crate::stream::{ByteReceiveStream, DEFAULT_MAX_BYTES, zero_max_bytes};

/// Bytes received from a stream but not yet handed to a reader.
///
/// The bytes sit behind a mutex that is never held across an await, so a reader that is
/// cancelled or dropped between two receives leaves everything it received here: each
/// algorithm appends what the source returned before it looks at it.
#[derive(Debug, Default)]
pub(crate) struct ReceiveBuffer {
    bytes: Mutex<Bytes>,
}

/// The buffered bytes: `data[start..]` is live, `data[..start]` was consumed and is
/// reclaimed lazily, so taking a message off the front does not move the rest.
#[derive(Debug, Default)]
struct Bytes {
    data: Vec<u8>,
    start: usize,
    /// Bumped whenever bytes are consumed: a delimiter search that saw another value must
    /// start over, because what it had already scanned may be gone.
    epoch: u64,
}

impl Bytes {
    fn live(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn append(&mut self, chunk: Vec<u8>) {
        if self.live().is_empty() {
            self.data = chunk;
            self.start = 0;
            return;
        }
        // Reclaim the consumed prefix once it is at least as long as what is left, so each
        // byte is moved at most once on average.
        if self.start >= self.data.len() - self.start {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(&chunk);
    }

    /// Removes the first `n` live bytes and returns the first `keep` of them.
    fn consume(&mut self, n: usize, keep: usize) -> Vec<u8> {
        self.epoch = self.epoch.wrapping_add(1);
        if self.start == 0 && n == self.data.len() {
            let mut all = std::mem::take(&mut self.data);
            all.truncate(keep);
            return all;
        }
        let out = self.data[self.start..self.start + keep].to_vec();
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
        out
    }
}

/// What looking for a delimiter in the buffer found.
#[derive(Debug)]
pub(crate) enum Split {
    /// The message before the delimiter (both are now removed from the buffer).
    Message(Vec<u8>),
    /// No occurrence can start within the limit any more: `DelimiterNotFound`.
    NotFound,
    /// More bytes are needed to tell.
    NeedMore,
}

/// One `receive_until` in progress: the delimiter and limit, and how far the buffer is
/// known not to hold the start of an occurrence, so that each byte is searched about once.
#[derive(Debug)]
pub(crate) struct DelimiterSearch<'d> {
    delimiter: &'d [u8],
    max_bytes: usize,
    scanned: usize,
    epoch: u64,
}

impl<'d> DelimiterSearch<'d> {
    /// A search for `delimiter` within a message of at most `max_bytes` bytes.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty delimiter.
    pub(crate) fn new(delimiter: &'d [u8], max_bytes: usize) -> io::Result<Self> {
        if delimiter.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the delimiter must not be empty",
            ));
        }
        Ok(DelimiterSearch {
            delimiter,
            max_bytes,
            scanned: 0,
            epoch: 0,
        })
    }

    /// The limit of the search.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl ReceiveBuffer {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        ReceiveBuffer::default()
    }

    fn lock(&self) -> MutexGuard<'_, Bytes> {
        self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `data`; readers get it before anything the source sends later.
    pub(crate) fn feed_data(&self, data: &[u8]) {
        self.append(data.to_vec());
    }

    /// Appends a chunk received from the source, without copying it when the buffer is
    /// empty.
    pub(crate) fn append(&self, chunk: Vec<u8>) {
        if !chunk.is_empty() {
            self.lock().append(chunk);
        }
    }

    /// A copy of the buffered bytes.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.lock().live().to_vec()
    }

    /// Takes every buffered byte out of the buffer.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut bytes = self.lock();
        let len = bytes.live().len();
        bytes.consume(len, len)
    }

    /// Whether nothing is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().live().is_empty()
    }

    /// Takes up to `max_bytes` buffered bytes; `None` if nothing is buffered.
    pub(crate) fn take_up_to(&self, max_bytes: usize) -> Option<Vec<u8>> {
        let mut bytes = self.lock();
        let n = bytes.live().len().min(max_bytes);
        (n > 0).then(|| bytes.consume(n, n))
    }

    /// Takes exactly `n` bytes if that many are buffered.
    fn take_exactly(&self, n: usize) -> Result<Vec<u8>, usize> {
        let mut bytes = self.lock();
        match bytes.live().len() {
            len if len >= n => Ok(bytes.consume(n, n)),
            len => Err(n - len),
        }
    }

    /// Looks for the delimiter of `search` in what is buffered, per the rule of
    /// [`receive_until`](Self::receive_until), resuming where the last look of the same
    /// search stopped.
    pub(crate) fn split(&self, search: &mut DelimiterSearch<'_>) -> Split {
        let mut bytes = self.lock();
        if bytes.epoch != search.epoch {
            search.epoch = bytes.epoch;
            search.scanned = 0;
        }
        let delimiter_len = search.delimiter.len();
        let window = search.max_bytes.saturating_add(delimiter_len);
        let live = bytes.live();
        let limit = live.len().min(window);
        let from = search.scanned.min(limit);
        if let Some(at) = search::find(search.delimiter, &live[from..limit]) {
            let index = from + at;
            return Split::Message(bytes.consume(index + delimiter_len, index));
        }
        if live.len() >= window {
            return Split::NotFound;
        }
        // An occurrence may still start in the last `delimiter_len - 1` bytes.
        search.scanned = (limit + 1).saturating_sub(delimiter_len);
        Split::NeedMore
    }

    /// Receives up to `max_bytes` bytes: buffered bytes first, otherwise one receive from
    /// `source`, which is returned without passing through the buffer.
    ///
    /// It is a checkpoint. Cancel safe: a receive that fails or is dropped took nothing.
    pub(crate) async fn receive(
        &self,
        source: &impl ByteReceiveStream,
        max_bytes: usize,
    ) -> io::Result<Vec<u8>> {
        if max_bytes == 0 {
            return Err(zero_max_bytes());
        }
        if !self.is_empty() {
            checkpoint().await?;
            if let Some(chunk) = self.take_up_to(max_bytes) {
                return Ok(chunk);
            }
        }
        source.receive(max_bytes).await
    }

    /// Receives exactly `n` bytes, from the buffer and then from `source`.
    ///
    /// `IncompleteRead` if the source ends first; what arrived stays buffered. It is a
    /// checkpoint. Cancel safe: what a dropped call had received stays buffered.
    pub(crate) async fn receive_exactly(
        &self,
        source: &impl ByteReceiveStream,
        n: usize,
    ) -> io::Result<Vec<u8>> {
        checkpoint().await?;
        loop {
            let remaining = match self.take_exactly(n) {
                Ok(bytes) => return Ok(bytes),
                Err(remaining) => remaining,
            };
            match source.receive(remaining.min(DEFAULT_MAX_BYTES)).await {
                Ok(chunk) => self.append(chunk),
                Err(err) if err.is_end_of_stream() => return Err(IncompleteRead.into()),
                Err(err) => return Err(err),
            }
        }
    }

    /// Receives the bytes before the next `delimiter`, which is consumed too.
    ///
    /// The rule: the message is returned when the first occurrence of the delimiter starts
    /// at an index `<= max_bytes` (so the message has at most `max_bytes` bytes);
    /// `DelimiterNotFound(max_bytes)` as soon as `max_bytes + delimiter.len()` bytes are
    /// buffered without such an occurrence; `IncompleteRead` if the source ends before
    /// either. The outcome depends only on the bytes, never on how they were chunked. On
    /// every error the bytes stay buffered. It is a checkpoint. Cancel safe: what a
    /// dropped call had received stays buffered.
    pub(crate) async fn receive_until(
        &self,
        source: &impl ByteReceiveStream,
        delimiter: &[u8],
        max_bytes: usize,
    ) -> io::Result<Vec<u8>> {
        let mut search = DelimiterSearch::new(delimiter, max_bytes)?;
        self.receive_until_or_eof(source, &mut search)
            .await?
            .ok_or_else(|| IncompleteRead.into())
    }

    /// [`receive_until`](Self::receive_until), except that a source that ends while
    /// nothing is buffered gives `Ok(None)`: the clean end of a sequence of messages.
    pub(crate) async fn receive_until_or_eof(
        &self,
        source: &impl ByteReceiveStream,
        search: &mut DelimiterSearch<'_>,
    ) -> io::Result<Option<Vec<u8>>> {
        checkpoint().await?;
        loop {
            match self.split(search) {
                Split::Message(message) => return Ok(Some(message)),
                Split::NotFound => return Err(DelimiterNotFound::new(search.max_bytes).into()),
                Split::NeedMore => {}
            }
            match source.receive(DEFAULT_MAX_BYTES).await {
                Ok(chunk) => self.append(chunk),
                Err(err) if err.is_end_of_stream() => return self.end_of_stream().map(|()| None),
                Err(err) => return Err(err),
            }
        }
    }

    /// What a delimited read makes of the end of the source: the clean end if nothing is
    /// buffered, else `IncompleteRead`.
    pub(crate) fn end_of_stream(&self) -> io::Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(IncompleteRead.into())
        }
    }
}

/// The checkpoint of a read that may complete from the buffer without waiting: a
/// cancellation check, and a yield once the task's budget is spent.
pub(crate) async fn checkpoint() -> io::Result<()> {
    poll_fn(poll_checkpoint).await.map_err(io::Error::from)
}
