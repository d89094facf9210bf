//! The AnyIO 1.x iterations over a buffered stream, as [`Stream`]s: [`ReceiveChunks`] and
//! [`DelimitedChunks`].

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};

use super::BufferedByteReceiveStream;
use super::buffer::{DelimiterSearch, Split};
use crate::cancel::current::poll_checkpoint;
use crate::resource::DelimiterNotFound;
use crate::stream::error::IoErrorExt;
use crate::stream::{ByteReceiveStream, DEFAULT_MAX_BYTES, zero_max_bytes};
use crate::sync::guard::ResourceGuardToken;

/// One receive from the wrapped stream, in flight.
type Receive<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<u8>>> + Send + 'a>>;

/// What both streams share: the buffered stream, the read in progress (holding the
/// stream's reading guard from its start until its item is yielded), and whether the
/// stream has ended.
struct Reader<'a, S> {
    stream: &'a BufferedByteReceiveStream<S>,
    reading: Option<ResourceGuardToken<'a>>,
    receive: Option<Receive<'a>>,
    done: bool,
}

impl<'a, S: ByteReceiveStream> Reader<'a, S> {
    fn new(stream: &'a BufferedByteReceiveStream<S>) -> Self {
        Reader {
            stream,
            reading: None,
            receive: None,
            done: false,
        }
    }

    /// Starts the next item once: enters the reading guard, then the checkpoint.
    fn begin(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reading.is_none() {
            let token = self.stream.enter()?;
            ready!(poll_checkpoint(cx))?;
            self.reading = Some(token);
        }
        Poll::Ready(Ok(()))
    }

    /// Polls the receive in flight, starting one of `max_bytes` if there is none.
    fn poll_receive(
        &mut self,
        cx: &mut Context<'_>,
        max_bytes: usize,
    ) -> Poll<io::Result<Vec<u8>>> {
        let stream = self.stream;
        let receive = self
            .receive
            .get_or_insert_with(|| Box::pin(stream.inner.receive(max_bytes)));
        let result = ready!(receive.as_mut().poll(cx));
        self.receive = None;
        Poll::Ready(result)
    }

    /// Yields an item and ends the read that produced it.
    fn item(&mut self, item: Vec<u8>) -> Poll<Option<io::Result<Vec<u8>>>> {
        self.reading = None;
        Poll::Ready(Some(Ok(item)))
    }

    /// Ends the stream, with `err` as its last item if there is one.
    fn end(&mut self, err: Option<io::Error>) -> Poll<Option<io::Result<Vec<u8>>>> {
        self.done = true;
        self.reading = None;
        self.receive = None;
        Poll::Ready(err.map(Err))
    }
}

impl<S> fmt::Debug for Reader<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("reading", &self.reading.is_some())
            .field("receiving", &self.receive.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// The chunks of a [`BufferedByteReceiveStream`], each at most `max_bytes` long, as a
/// [`Stream`]: AnyIO 1.x's `receive_chunks`, made by
/// [`receive_chunks`](BufferedByteReceiveStream::receive_chunks).
///
/// Each item is what one [`receive`](ByteReceiveStream::receive) returns. The stream ends
/// (`None`) at the end of the wrapped stream; an error is yielded once and then the stream
/// ends. While an item is being received the stream holds the reading guard, so another
/// read at the same time fails with [`BusyResourceError`](crate::BusyResourceError).
///
/// Each receive from the wrapped stream is one boxed future (a small allocation beside
/// the received bytes', because the wrapped stream's future type cannot be named);
/// buffered bytes are yielded without one.
///
/// # Cancel safety
///
/// Cancel safe: the stream, or a `next()` future, can be dropped at any point without
/// losing a byte.
pub struct ReceiveChunks<'a, S> {
    reader: Reader<'a, S>,
    max_bytes: usize,
}

impl<'a, S: ByteReceiveStream> ReceiveChunks<'a, S> {
    pub(super) fn new(stream: &'a BufferedByteReceiveStream<S>, max_bytes: usize) -> Self {
        ReceiveChunks {
            reader: Reader::new(stream),
            max_bytes,
        }
    }
}

impl<S: ByteReceiveStream> Stream for ReceiveChunks<'_, S> {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let reader = &mut this.reader;
        if reader.done {
            return Poll::Ready(None);
        }
        if this.max_bytes == 0 {
            return reader.end(Some(zero_max_bytes()));
        }
        if let Err(err) = ready!(reader.begin(cx)) {
            return reader.end(Some(err));
        }
        if reader.receive.is_none() {
            if let Some(chunk) = reader.stream.buffer.take_up_to(this.max_bytes) {
                return reader.item(chunk);
            }
        }
        match ready!(reader.poll_receive(cx, this.max_bytes)) {
            Ok(chunk) => reader.item(chunk),
            Err(err) if err.is_end_of_stream() => reader.end(None),
            Err(err) => reader.end(Some(err)),
        }
    }
}

impl<S: ByteReceiveStream> FusedStream for ReceiveChunks<'_, S> {
    fn is_terminated(&self) -> bool {
        self.reader.done
    }
}

impl<S> fmt::Debug for ReceiveChunks<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveChunks")
            .field("max_bytes", &self.max_bytes)
            .field("reader", &self.reader)
            .finish()
    }
}

/// The messages of a [`BufferedByteReceiveStream`] separated by a delimiter, as a
/// [`Stream`]: AnyIO 1.x's `receive_delimited_chunks`, made by
/// [`receive_delimited_chunks`](BufferedByteReceiveStream::receive_delimited_chunks).
///
/// Each message is read by the rule of
/// [`receive_until`](BufferedByteReceiveStream::receive_until), so the items depend only
/// on the bytes, not on their chunking. The stream ends (`None`) when the wrapped stream
/// ends between two messages; it yields
/// [`IncompleteRead`](crate::IncompleteRead) when it ends inside one,
/// [`DelimiterNotFound`] for a message longer than `max_bytes` and `InvalidInput` for an
/// empty delimiter, and ends after any error, with the unread bytes still buffered. While
/// a message is being received the stream holds the reading guard, so another read at the
/// same time fails with [`BusyResourceError`](crate::BusyResourceError).
///
/// Each receive from the wrapped stream is one boxed future (a small allocation beside
/// the received bytes', because the wrapped stream's future type cannot be named);
/// messages already buffered are yielded without one.
///
/// # Cancel safety
///
/// Cancel safe: the stream, or a `next()` future, can be dropped at any point without
/// losing a byte.
pub struct DelimitedChunks<'a, S> {
    reader: Reader<'a, S>,
    /// The search, or the error of an invalid delimiter, yielded once.
    search: Result<DelimiterSearch<'a>, Option<io::Error>>,
}

impl<'a, S: ByteReceiveStream> DelimitedChunks<'a, S> {
    pub(super) fn new(
        stream: &'a BufferedByteReceiveStream<S>,
        delimiter: &'a [u8],
        max_bytes: usize,
    ) -> Self {
        DelimitedChunks {
            reader: Reader::new(stream),
            search: DelimiterSearch::new(delimiter, max_bytes).map_err(Some),
        }
    }
}

impl<S: ByteReceiveStream> Stream for DelimitedChunks<'_, S> {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let reader = &mut this.reader;
        if reader.done {
            return Poll::Ready(None);
        }
        let search = match &mut this.search {
            Ok(search) => search,
            Err(err) => return reader.end(err.take()),
        };
        if let Err(err) = ready!(reader.begin(cx)) {
            return reader.end(Some(err));
        }
        loop {
            if reader.receive.is_none() {
                match reader.stream.buffer.split(search) {
                    Split::Message(message) => return reader.item(message),
                    Split::NotFound => {
                        let err = DelimiterNotFound::new(search.max_bytes()).into();
                        return reader.end(Some(err));
                    }
                    Split::NeedMore => {}
                }
            }
            match ready!(reader.poll_receive(cx, DEFAULT_MAX_BYTES)) {
                Ok(chunk) => reader.stream.buffer.append(chunk),
                Err(err) if err.is_end_of_stream() => {
                    return reader.end(reader.stream.buffer.end_of_stream().err());
                }
                Err(err) => return reader.end(Some(err)),
            }
        }
    }
}

impl<S: ByteReceiveStream> FusedStream for DelimitedChunks<'_, S> {
    fn is_terminated(&self) -> bool {
        self.reader.done
    }
}

impl<S> fmt::Debug for DelimitedChunks<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelimitedChunks")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}
