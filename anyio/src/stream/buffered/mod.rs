//! Buffered byte streams (AnyIO's `BufferedByteReceiveStream` and `BufferedByteStream`):
//! reads of an exact size or up to a delimiter over any byte stream, and the 1.x
//! conveniences (`receive_some`, `receive_chunks`, `receive_delimited_chunks`, `send_all`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

mod buffer;
mod chunks;
pub(crate) mod search;

pub(crate) use buffer::{ReceiveBuffer, checkpoint};
pub use chunks::{DelimitedChunks, ReceiveChunks};

use super::{AsyncResource, ByteReceiveStream, ByteSendStream, ByteStream};
use crate::resource::ClosedResourceError;
use crate::sync::guard::{ResourceGuard, ResourceGuardToken};

/// A byte stream with a receive buffer: reads of an exact size
/// ([`receive_exactly`](Self::receive_exactly)) and up to a delimiter
/// ([`receive_until`](Self::receive_until)) over any [`ByteReceiveStream`] (AnyIO's
/// `BufferedByteReceiveStream`).
///
/// What the wrapped stream returns beyond what a read needs stays in the buffer and is
/// returned first by the next read, of any kind; [`buffer`](Self::buffer) shows it and
/// [`feed_data`](Self::feed_data) adds to it. No read ever loses bytes: on every error,
/// and when a read is cancelled or dropped, what it had received stays buffered.
///
/// It also implements [`ByteReceiveStream`], so it can replace the stream it wraps. Two
/// tasks reading at once is a [`BusyResourceError`](crate::BusyResourceError) ("Another
/// task is already reading from this resource"); after [`aclose`](AsyncResource::aclose)
/// every read is a [`ClosedResourceError`], even with bytes still buffered (they stay
/// readable with [`buffer`](Self::buffer) and [`into_parts`](Self::into_parts)).
///
/// ```
/// use anyio::stream::{BufferedByteReceiveStream, ByteReceiveStream};
/// # use anyio::stream::AsyncResource;
/// # #[derive(Debug)]
/// # struct Bytes(anyio::MemoryObjectReceiveStream<Vec<u8>>);
/// # impl AsyncResource for Bytes {
/// #     async fn aclose(&self) -> std::io::Result<()> { self.0.close(); Ok(()) }
/// # }
/// # impl ByteReceiveStream for Bytes {
/// #     async fn receive(&self, _max: usize) -> std::io::Result<Vec<u8>> {
/// #         Ok(self.0.receive().await?)
/// #     }
/// # }
///
/// # anyio::run(async {
/// let (tx, rx) = anyio::create_memory_object_stream::<Vec<u8>>(4)?;
/// tx.send(b"HELO exam".to_vec()).await?;
/// tx.send(b"ple.org\r\nDATA".to_vec()).await?;
/// let stream = BufferedByteReceiveStream::new(Bytes(rx));
/// assert_eq!(stream.receive_exactly(4).await?, b"HELO");
/// assert_eq!(stream.receive_until(b"\r\n", 100).await?, b" example.org");
/// assert_eq!(stream.buffer(), b"DATA");
/// assert_eq!(stream.receive(2).await?, b"DA");
/// # Ok::<(), anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct BufferedByteReceiveStream<S> {
    inner: S,
    buffer: ReceiveBuffer,
    reading: ResourceGuard,
    closed: AtomicBool,
}

impl<S> BufferedByteReceiveStream<S> {
    /// Wraps `inner`, with an empty buffer.
    pub fn new(inner: S) -> Self {
        BufferedByteReceiveStream {
            inner,
            buffer: ReceiveBuffer::new(),
            reading: ResourceGuard::new("reading from"),
            closed: AtomicBool::new(false),
        }
    }

    /// A copy of the bytes received but not yet read.
    pub fn buffer(&self) -> Vec<u8> {
        self.buffer.buffer()
    }

    /// Appends `data` to the buffer: reads return it, after what is buffered already and
    /// before anything received from the wrapped stream later.
    pub fn feed_data(&self, data: &[u8]) {
        self.buffer.feed_data(data);
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream; the buffered bytes are dropped (see
    /// [`into_parts`](Self::into_parts) to keep them).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The wrapped stream and the bytes buffered but not read.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buffer.take();
        (self.inner, rest)
    }

    /// Starts a read: fails if the stream is closed or another task is reading.
    fn enter(&self) -> io::Result<ResourceGuardToken<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ClosedResourceError.into());
        }
        Ok(self.reading.enter()?)
    }
}

impl<S: ByteReceiveStream> BufferedByteReceiveStream<S> {
    /// Receives exactly `n` bytes: the buffered ones first, then as many receives from the
    /// wrapped stream as it takes. `n == 0` returns an empty vector.
    ///
    /// It is a checkpoint, also when the buffer holds enough.
    ///
    /// # Errors
    ///
    /// [`IncompleteRead`](crate::IncompleteRead) if the wrapped stream ends first (what
    /// arrived stays buffered), [`ClosedResourceError`] after
    /// [`aclose`](AsyncResource::aclose), [`BusyResourceError`](crate::BusyResourceError)
    /// if another task is reading, and any error of the wrapped stream.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if it is cancelled or dropped, every byte it had received stays in the
    /// buffer for the next read.
    pub async fn receive_exactly(&self, n: usize) -> io::Result<Vec<u8>> {
        let _reading = self.enter()?;
        self.buffer.receive_exactly(&self.inner, n).await
    }

    /// Receives the bytes before the next occurrence of `delimiter`, and removes both from
    /// the stream.
    ///
    /// The rule: the message is returned when the first occurrence of the delimiter starts
    /// at an index `<= max_bytes`, so a message has at most `max_bytes` bytes (0 is
    /// allowed: then only an empty message is accepted). The delimiter is
    /// [`DelimiterNotFound`](crate::DelimiterNotFound)`(max_bytes)` as soon as
    /// `max_bytes + delimiter.len()` bytes are buffered without such an occurrence, and
    /// the read is an [`IncompleteRead`](crate::IncompleteRead) if the stream ends before
    /// either.
    ///
    /// The outcome depends only on the bytes of the stream, never on how they arrived in
    /// chunks. (AnyIO's own check does depend on the chunking: it fails once the buffer
    /// reaches `max_bytes` and may still return a longer message found in one large
    /// chunk. This one deliberately does not.) The search resumes where the previous
    /// receive left it, so each byte is searched about once however the message arrives.
    ///
    /// It is a checkpoint, also when the buffer holds a whole message.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `delimiter` is empty; `DelimiterNotFound` and `IncompleteRead` as
    /// above, with every byte left in the buffer; [`ClosedResourceError`] after
    /// [`aclose`](AsyncResource::aclose); [`BusyResourceError`](crate::BusyResourceError)
    /// if another task is reading; any error of the wrapped stream.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: each chunk received is appended to the buffer before it is searched,
    /// so a cancelled or dropped call leaves everything it received buffered.
    pub async fn receive_until(&self, delimiter: &[u8], max_bytes: usize) -> io::Result<Vec<u8>> {
        let _reading = self.enter()?;
        self.buffer
            .receive_until(&self.inner, delimiter, max_bytes)
            .await
    }

    /// [`receive`](ByteReceiveStream::receive) under its AnyIO 1.x name: at most
    /// `max_bytes` bytes, the buffered ones first.
    ///
    /// # Errors
    ///
    /// As [`receive`](ByteReceiveStream::receive).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a call that fails or is dropped consumed nothing.
    pub async fn receive_some(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        self.receive(max_bytes).await
    }

    /// The stream as a [`Stream`](futures_core::Stream) of chunks of at most `max_bytes`
    /// bytes (AnyIO 1.x's `receive_chunks`, 4.x's `async for`). It ends (`None`) at the end
    /// of the stream; after an error it yields that error once and then ends.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the stream, or the future of a `next()`, loses no byte.
    pub fn receive_chunks(&self, max_bytes: usize) -> ReceiveChunks<'_, S> {
        ReceiveChunks::new(self, max_bytes)
    }

    /// The stream as a [`Stream`](futures_core::Stream) of the messages separated by
    /// `delimiter` (AnyIO 1.x's `receive_delimited_chunks`), each read by the rule of
    /// [`receive_until`](Self::receive_until).
    ///
    /// It ends (`None`) when the wrapped stream ends between two messages, and yields
    /// `Err(IncompleteRead)` if it ends in the middle of one, `Err(DelimiterNotFound)` for
    /// a message longer than `max_bytes`, `Err(InvalidInput)` for an empty delimiter; after
    /// an error it ends, with the unread bytes still buffered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the stream, or the future of a `next()`, loses no byte.
    pub fn receive_delimited_chunks<'a>(
        &'a self,
        delimiter: &'a [u8],
        max_bytes: usize,
    ) -> DelimitedChunks<'a, S> {
        DelimitedChunks::new(self, delimiter, max_bytes)
    }
}

impl<S: AsyncResource> AsyncResource for BufferedByteReceiveStream<S> {
    /// Closes the wrapped stream. Reads fail with [`ClosedResourceError`] from then on,
    /// also those blocked on the wrapped stream.
    ///
    /// # Cancel safety
    ///
    /// As the wrapped stream's `aclose`; this stream counts as closed from the first poll.
    async fn aclose(&self) -> io::Result<()> {
        self.closed.store(true, Ordering::Release);
        self.inner.aclose().await
    }
}

impl<S: ByteReceiveStream> ByteReceiveStream for BufferedByteReceiveStream<S> {
    /// Receives at most `max_bytes` bytes: buffered bytes if there are any (a checkpoint,
    /// without waiting), else one receive from the wrapped stream.
    ///
    /// # Errors
    ///
    /// As [`ByteReceiveStream::receive`]; [`ClosedResourceError`] after
    /// [`aclose`](AsyncResource::aclose) even with bytes buffered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the wrapped stream's `receive` is: a call that fails or is dropped
    /// consumed nothing.
    async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        let _reading = self.enter()?;
        self.buffer.receive(&self.inner, max_bytes).await
    }
}

/// A bidirectional byte stream with a receive buffer (AnyIO 4's `BufferedByteStream`): a
/// [`BufferedByteReceiveStream`] whose sending side passes straight through to the wrapped
/// [`ByteStream`].
///
/// ```
/// use anyio::stream::{BufferedByteStream, ByteReceiveStream, ByteSendStream, StapledByteStream};
/// # use anyio::stream::AsyncResource;
/// # #[derive(Debug)]
/// # struct Bytes(anyio::MemoryObjectReceiveStream<Vec<u8>>);
/// # impl AsyncResource for Bytes {
/// #     async fn aclose(&self) -> std::io::Result<()> { self.0.close(); Ok(()) }
/// # }
/// # impl ByteReceiveStream for Bytes {
/// #     async fn receive(&self, _max: usize) -> std::io::Result<Vec<u8>> {
/// #         Ok(self.0.receive().await?)
/// #     }
/// # }
/// # #[derive(Debug)]
/// # struct Sink(anyio::MemoryObjectSendStream<Vec<u8>>);
/// # impl AsyncResource for Sink {
/// #     async fn aclose(&self) -> std::io::Result<()> { self.0.close(); Ok(()) }
/// # }
/// # impl ByteSendStream for Sink {
/// #     async fn send(&self, data: &[u8]) -> std::io::Result<()> {
/// #         Ok(self.0.send(data.to_vec()).await?)
/// #     }
/// # }
///
/// # anyio::run(async {
/// let (tx, rx) = anyio::create_memory_object_stream::<Vec<u8>>(4)?;
/// // A loopback: what is sent comes back.
/// let stream = BufferedByteStream::new(StapledByteStream::new(Sink(tx), Bytes(rx)));
/// stream.send_all(b"PING\nPONG\n").await?;
/// assert_eq!(stream.receive_until(b"\n", 10).await?, b"PING");
/// assert_eq!(stream.receive_until(b"\n", 10).await?, b"PONG");
/// # Ok::<(), anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct BufferedByteStream<S> {
    inner: BufferedByteReceiveStream<S>,
}

impl<S> BufferedByteStream<S> {
    /// Wraps `inner`, with an empty buffer.
    pub fn new(inner: S) -> Self {
        BufferedByteStream {
            inner: BufferedByteReceiveStream::new(inner),
        }
    }

    /// A copy of the bytes received but not yet read.
    pub fn buffer(&self) -> Vec<u8> {
        self.inner.buffer()
    }

    /// Appends `data` to the receive buffer (see
    /// [`BufferedByteReceiveStream::feed_data`]).
    pub fn feed_data(&self, data: &[u8]) {
        self.inner.feed_data(data);
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The wrapped stream; the buffered bytes are dropped (see
    /// [`into_parts`](Self::into_parts) to keep them).
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }

    /// The wrapped stream and the bytes buffered but not read.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        self.inner.into_parts()
    }
}

impl<S: ByteStream> BufferedByteStream<S> {
    /// As [`BufferedByteReceiveStream::receive_exactly`].
    ///
    /// # Errors
    ///
    /// As [`BufferedByteReceiveStream::receive_exactly`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped call leaves what it received buffered.
    pub async fn receive_exactly(&self, n: usize) -> io::Result<Vec<u8>> {
        self.inner.receive_exactly(n).await
    }

    /// As [`BufferedByteReceiveStream::receive_until`], with the same rule.
    ///
    /// # Errors
    ///
    /// As [`BufferedByteReceiveStream::receive_until`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped call leaves what it received buffered.
    pub async fn receive_until(&self, delimiter: &[u8], max_bytes: usize) -> io::Result<Vec<u8>> {
        self.inner.receive_until(delimiter, max_bytes).await
    }

    /// [`receive`](ByteReceiveStream::receive) under its AnyIO 1.x name.
    ///
    /// # Errors
    ///
    /// As [`receive`](ByteReceiveStream::receive).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a call that fails or is dropped consumed nothing.
    pub async fn receive_some(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        self.inner.receive(max_bytes).await
    }

    /// As [`BufferedByteReceiveStream::receive_chunks`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the stream, or the future of a `next()`, loses no byte.
    pub fn receive_chunks(&self, max_bytes: usize) -> ReceiveChunks<'_, S> {
        self.inner.receive_chunks(max_bytes)
    }

    /// As [`BufferedByteReceiveStream::receive_delimited_chunks`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the stream, or the future of a `next()`, loses no byte.
    pub fn receive_delimited_chunks<'a>(
        &'a self,
        delimiter: &'a [u8],
        max_bytes: usize,
    ) -> DelimitedChunks<'a, S> {
        self.inner.receive_delimited_chunks(delimiter, max_bytes)
    }

    /// [`send`](ByteSendStream::send) under its AnyIO 1.x name: sends all of `data`.
    ///
    /// # Errors
    ///
    /// As [`ByteSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if it is cancelled or dropped while waiting, a prefix of `data`
    /// may have been sent.
    pub async fn send_all(&self, data: &[u8]) -> io::Result<()> {
        self.send(data).await
    }
}

impl<S: AsyncResource> AsyncResource for BufferedByteStream<S> {
    /// Closes the wrapped stream (see [`BufferedByteReceiveStream`'s
    /// `aclose`](BufferedByteReceiveStream#impl-AsyncResource-for-BufferedByteReceiveStream%3CS%3E)).
    ///
    /// # Cancel safety
    ///
    /// As the wrapped stream's `aclose`.
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.aclose()
    }
}

impl<S: ByteReceiveStream> ByteReceiveStream for BufferedByteStream<S> {
    /// As [`BufferedByteReceiveStream`'s
    /// `receive`](BufferedByteReceiveStream#impl-ByteReceiveStream-for-BufferedByteReceiveStream%3CS%3E).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the wrapped stream's `receive` is.
    fn receive(&self, max_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        self.inner.receive(max_bytes)
    }
}

impl<S: ByteSendStream> ByteSendStream for BufferedByteStream<S> {
    /// Sends `data` on the wrapped stream.
    ///
    /// # Cancel safety
    ///
    /// As the wrapped stream's `send`.
    fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.get_ref().send(data)
    }
}

impl<S: ByteStream> ByteStream for BufferedByteStream<S> {
    /// Finishes the sending side of the wrapped stream; receiving goes on.
    ///
    /// # Cancel safety
    ///
    /// As the wrapped stream's `send_eof`.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.get_ref().send_eof()
    }
}
