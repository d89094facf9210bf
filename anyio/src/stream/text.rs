//! Text streams (AnyIO's `TextReceiveStream`, `TextSendStream` and `TextStream`): strings
//! over a byte stream, encoded as UTF-8.
//!
//! Only UTF-8 is supported: Rust strings are UTF-8, and a stream in another encoding is
//! better decoded by a dedicated crate (`encoding_rs`) over the byte stream.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::buffered::checkpoint;
use super::error::IoErrorExt;
use super::{
    AsyncResource, ByteReceiveStream, ByteSendStream, ByteStream, DEFAULT_MAX_BYTES,
    ObjectReceiveStream, ObjectSendStream, ObjectStream,
};
use crate::resource::ClosedResourceError;
use crate::sync::guard::ResourceGuard;

/// What a text stream does with bytes that are not valid UTF-8 (Python's `errors`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DecodeErrors {
    /// An invalid sequence is an `InvalidData` error (AnyIO's default, `"strict"`).
    #[default]
    Strict,
    /// An invalid sequence becomes U+FFFD REPLACEMENT CHARACTER, one per maximal invalid
    /// subpart as [`String::from_utf8_lossy`] does (`"replace"`).
    Replace,
}

/// The receiving side of a text stream: an incremental UTF-8 decoder over a byte stream.
#[derive(Debug)]
struct Decoder {
    /// Received bytes not decoded yet: an incomplete character at the end of what arrived,
    /// or what follows an invalid sequence.
    pending: Mutex<Vec<u8>>,
    errors: DecodeErrors,
    reading: ResourceGuard,
    closed: AtomicBool,
}

impl Decoder {
    fn new(errors: DecodeErrors) -> Self {
        Decoder {
            pending: Mutex::new(Vec::new()),
            errors,
            reading: ResourceGuard::new("reading from"),
            closed: AtomicBool::new(false),
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Receives the next non-empty piece of text from `source`.
    async fn receive(&self, source: &impl ByteReceiveStream) -> io::Result<String> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ClosedResourceError.into());
        }
        let _reading = self.reading.enter()?;
        if !self.lock().is_empty() {
            checkpoint().await?;
        }
        loop {
            let text = self.decode(false)?;
            if !text.is_empty() {
                return Ok(text);
            }
            match source.receive(DEFAULT_MAX_BYTES).await {
                Ok(chunk) => {
                    if let Some(text) = self.decode_chunk(chunk) {
                        return Ok(text);
                    }
                }
                Err(err) if err.is_end_of_stream() => {
                    let text = self.decode(true)?;
                    return if text.is_empty() { Err(err) } else { Ok(text) };
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fast path for a chunk that arrives with nothing pending and is valid UTF-8: it
    /// becomes the string without a copy. Otherwise the chunk joins the pending bytes.
    fn decode_chunk(&self, chunk: Vec<u8>) -> Option<String> {
        let mut pending = self.lock();
        if !pending.is_empty() {
            pending.extend_from_slice(&chunk);
            return None;
        }
        match String::from_utf8(chunk) {
            Ok(text) => Some(text),
            Err(err) => {
                *pending = err.into_bytes();
                None
            }
        }
    }

    /// Decodes what is pending; `at_eof` says no more bytes will come, so an incomplete
    /// character at the end is an error (or U+FFFD) instead of waiting for the rest.
    fn decode(&self, at_eof: bool) -> io::Result<String> {
        let mut pending = self.lock();
        let mut text = String::new();
        let mut used = 0;
        let mut error = None;
        for chunk in pending.utf8_chunks() {
            text.push_str(chunk.valid());
            used += chunk.valid().len();
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let incomplete = used + invalid.len() == pending.len() && is_incomplete(invalid);
            if incomplete && !at_eof {
                break;
            }
            match self.errors {
                DecodeErrors::Replace => {
                    text.push(char::REPLACEMENT_CHARACTER);
                    used += invalid.len();
                }
                // Text before the invalid sequence is returned first; the next receive
                // reports the sequence, which it discards so that decoding can go on.
                DecodeErrors::Strict if text.is_empty() => {
                    used += invalid.len();
                    error = Some(invalid_utf8(invalid, incomplete));
                    break;
                }
                DecodeErrors::Strict => break,
            }
        }
        pending.drain(..used);
        match error {
            Some(err) => Err(err),
            None => Ok(text),
        }
    }
}

/// Whether `bytes` is the beginning of a UTF-8 character, cut short.
fn is_incomplete(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err_and(|err| err.error_len().is_none())
}

fn invalid_utf8(bytes: &[u8], incomplete: bool) -> io::Error {
    let msg = if incomplete {
        format!("the stream ended inside a UTF-8 character (bytes {bytes:02x?})")
    } else {
        format!("invalid UTF-8 sequence {bytes:02x?}")
    };
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Strings received from a byte stream (AnyIO's `TextReceiveStream`), decoded as UTF-8.
///
/// Decoding is incremental: a character split between two chunks of the byte stream is
/// decoded once its last byte arrives. What to do with invalid bytes is a
/// [`DecodeErrors`] (strict by default). Only UTF-8 is supported.
///
/// Two tasks receiving at once is a [`BusyResourceError`](crate::BusyResourceError);
/// after [`aclose`](AsyncResource::aclose) a receive is a [`ClosedResourceError`].
#[derive(Debug)]
pub struct TextReceiveStream<S> {
    inner: S,
    decoder: Decoder,
}

impl<S> TextReceiveStream<S> {
    /// Strict UTF-8 text over `inner`.
    pub fn new(inner: S) -> Self {
        TextReceiveStream::with_errors(inner, DecodeErrors::Strict)
    }

    /// UTF-8 text over `inner`, with invalid bytes handled as `errors` says.
    pub fn with_errors(inner: S, errors: DecodeErrors) -> Self {
        TextReceiveStream {
            inner,
            decoder: Decoder::new(errors),
        }
    }

    /// How invalid bytes are handled.
    pub fn errors(&self) -> DecodeErrors {
        self.decoder.errors
    }

    /// The wrapped byte stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped byte stream. Bytes received but not decoded yet (the start of a
    /// character cut short) are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: ByteReceiveStream> TextReceiveStream<S> {
    /// Receives the next piece of text: everything decodable that one receive of the byte
    /// stream brought (never empty).
    ///
    /// # Errors
    ///
    /// - `InvalidData` for invalid UTF-8 in [`DecodeErrors::Strict`] mode (the text
    ///   before it is returned first; the invalid sequence is dropped with the error, so
    ///   the next receive goes on after it), and for a stream that ends inside a
    ///   character;
    /// - [`EndOfStream`](crate::EndOfStream) at the end of the stream;
    /// - [`BusyResourceError`](crate::BusyResourceError),
    ///   [`ClosedResourceError`] and the byte stream's errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the byte stream's `receive` is: bytes received are kept until they
    /// are decoded, so no character is lost.
    pub async fn receive(&self) -> io::Result<String> {
        self.decoder.receive(&self.inner).await
    }
}

impl<S: AsyncResource> AsyncResource for TextReceiveStream<S> {
    /// Closes the byte stream.
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `aclose`; this stream counts as closed from the first poll.
    async fn aclose(&self) -> io::Result<()> {
        self.decoder.close();
        self.inner.aclose().await
    }
}

impl<S: ByteReceiveStream> ObjectReceiveStream<String> for TextReceiveStream<S> {
    /// As [`TextReceiveStream::receive`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the byte stream's `receive` is.
    fn receive(&self) -> impl Future<Output = io::Result<String>> + Send {
        self.decoder.receive(&self.inner)
    }
}

/// Strings sent on a byte stream, encoded as UTF-8 (AnyIO's `TextSendStream`).
#[derive(Debug)]
pub struct TextSendStream<S> {
    inner: S,
}

impl<S> TextSendStream<S> {
    /// UTF-8 text over `inner`.
    pub fn new(inner: S) -> Self {
        TextSendStream { inner }
    }

    /// The wrapped byte stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped byte stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: ByteSendStream> TextSendStream<S> {
    /// Sends `text`, encoded as UTF-8.
    ///
    /// # Errors
    ///
    /// As [`ByteSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send`: not cancel safe in general (a prefix may be sent).
    pub async fn send(&self, text: &str) -> io::Result<()> {
        self.inner.send(text.as_bytes()).await
    }
}

impl<S: AsyncResource> AsyncResource for TextSendStream<S> {
    /// Closes the byte stream.
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `aclose`.
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.aclose()
    }
}

impl<S: ByteSendStream> ObjectSendStream<String> for TextSendStream<S> {
    /// As [`TextSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send`.
    async fn send(&self, item: String) -> io::Result<()> {
        self.inner.send(item.as_bytes()).await
    }
}

/// A bidirectional text stream over a [`ByteStream`] (AnyIO's `TextStream`): receives as
/// [`TextReceiveStream`], sends as [`TextSendStream`], both UTF-8.
///
/// ```
/// use anyio::stream::{ByteReceiveStream, ByteSendStream, DecodeErrors, StapledByteStream, TextStream};
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
/// let raw = Sink(tx.clone());
/// let loopback = StapledByteStream::new(Sink(tx), Bytes(rx));
/// let text = TextStream::with_errors(loopback, DecodeErrors::Replace);
/// // "é" is two bytes; here they arrive in two chunks.
/// raw.send(b"caf\xC3").await?;
/// raw.send(b"\xA9\xFF").await?;
/// assert_eq!(text.receive().await?, "caf");
/// assert_eq!(text.receive().await?, "é\u{FFFD}");
/// text.send("ok").await?;
/// assert_eq!(text.receive().await?, "ok");
/// # Ok::<(), anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct TextStream<S> {
    inner: S,
    decoder: Decoder,
}

impl<S> TextStream<S> {
    /// Strict UTF-8 text over `inner`.
    pub fn new(inner: S) -> Self {
        TextStream::with_errors(inner, DecodeErrors::Strict)
    }

    /// UTF-8 text over `inner`, with invalid received bytes handled as `errors` says.
    pub fn with_errors(inner: S, errors: DecodeErrors) -> Self {
        TextStream {
            inner,
            decoder: Decoder::new(errors),
        }
    }

    /// How invalid received bytes are handled.
    pub fn errors(&self) -> DecodeErrors {
        self.decoder.errors
    }

    /// The wrapped byte stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped byte stream. Bytes received but not decoded yet are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: ByteStream> TextStream<S> {
    /// As [`TextReceiveStream::receive`].
    ///
    /// # Errors
    ///
    /// As [`TextReceiveStream::receive`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the byte stream's `receive` is.
    pub async fn receive(&self) -> io::Result<String> {
        self.decoder.receive(&self.inner).await
    }

    /// As [`TextSendStream::send`].
    ///
    /// # Errors
    ///
    /// As [`ByteSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send`.
    pub async fn send(&self, text: &str) -> io::Result<()> {
        self.inner.send(text.as_bytes()).await
    }

    /// Finishes the sending side of the byte stream; receiving goes on.
    ///
    /// # Errors
    ///
    /// As [`ByteStream::send_eof`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send_eof`.
    pub async fn send_eof(&self) -> io::Result<()> {
        self.inner.send_eof().await
    }
}

impl<S: AsyncResource> AsyncResource for TextStream<S> {
    /// Closes the byte stream.
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `aclose`; this stream counts as closed from the first poll.
    async fn aclose(&self) -> io::Result<()> {
        self.decoder.close();
        self.inner.aclose().await
    }
}

impl<S: ByteStream> ObjectReceiveStream<String> for TextStream<S> {
    /// As [`TextReceiveStream::receive`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the byte stream's `receive` is.
    fn receive(&self) -> impl Future<Output = io::Result<String>> + Send {
        self.decoder.receive(&self.inner)
    }
}

impl<S: ByteStream> ObjectSendStream<String> for TextStream<S> {
    /// As [`TextSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send`.
    async fn send(&self, item: String) -> io::Result<()> {
        self.inner.send(item.as_bytes()).await
    }
}

impl<S: ByteStream> ObjectStream<String> for TextStream<S> {
    /// As [`TextStream::send_eof`].
    ///
    /// # Cancel safety
    ///
    /// As the byte stream's `send_eof`.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.send_eof()
    }
}
