//! Stapled streams (AnyIO's `StapledByteStream` and `StapledObjectStream`): one
//! bidirectional stream made of a send stream and a receive stream.

use std::io;

use super::close::{Close, close_all};
use super::{
    AsyncResource, ByteReceiveStream, ByteSendStream, ByteStream, ObjectReceiveStream,
    ObjectSendStream, ObjectStream,
};

/// A bidirectional byte stream made of a [`ByteSendStream`] and a [`ByteReceiveStream`]
/// (AnyIO's `StapledByteStream`).
///
/// Sending goes to the send stream and receiving comes from the receive stream;
/// [`send_eof`](ByteStream::send_eof) closes the send stream, and
/// [`aclose`](AsyncResource::aclose) closes both.
#[derive(Debug)]
pub struct StapledByteStream<S, R> {
    send_stream: S,
    receive_stream: R,
}

impl<S, R> StapledByteStream<S, R> {
    /// Staples `send_stream` and `receive_stream` together.
    pub fn new(send_stream: S, receive_stream: R) -> Self {
        StapledByteStream {
            send_stream,
            receive_stream,
        }
    }

    /// The stream that sending goes to.
    pub fn send_stream(&self) -> &S {
        &self.send_stream
    }

    /// The stream that receiving comes from.
    pub fn receive_stream(&self) -> &R {
        &self.receive_stream
    }

    /// The send stream and the receive stream.
    pub fn into_parts(self) -> (S, R) {
        (self.send_stream, self.receive_stream)
    }
}

impl<S: AsyncResource, R: AsyncResource> AsyncResource for StapledByteStream<S, R> {
    /// Closes both streams, concurrently, and returns the first error.
    ///
    /// # Cancel safety
    ///
    /// Both streams are closed once this has been polled, even if it is then dropped (only
    /// a graceful goodbye, such as a TLS close_notify, may be lost).
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        close_all(vec![
            Box::pin(self.send_stream.aclose()) as Close<'_>,
            Box::pin(self.receive_stream.aclose()),
        ])
    }
}

impl<S: AsyncResource, R: ByteReceiveStream> ByteReceiveStream for StapledByteStream<S, R> {
    /// Receives from the receive stream.
    ///
    /// # Cancel safety
    ///
    /// As the receive stream's `receive`.
    fn receive(&self, max_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        self.receive_stream.receive(max_bytes)
    }
}

impl<S: ByteSendStream, R: AsyncResource> ByteSendStream for StapledByteStream<S, R> {
    /// Sends on the send stream.
    ///
    /// # Cancel safety
    ///
    /// As the send stream's `send`.
    fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        self.send_stream.send(data)
    }
}

impl<S: ByteSendStream, R: ByteReceiveStream> ByteStream for StapledByteStream<S, R> {
    /// Closes the send stream (its [`aclose`](AsyncResource::aclose)); receiving goes on.
    ///
    /// # Cancel safety
    ///
    /// As the send stream's `aclose`.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.send_stream.aclose()
    }
}

/// A bidirectional object stream made of an [`ObjectSendStream`] and an
/// [`ObjectReceiveStream`] (AnyIO's `StapledObjectStream`).
///
/// Sending goes to the send stream and receiving comes from the receive stream;
/// [`send_eof`](ObjectStream::send_eof) closes the send stream, and
/// [`aclose`](AsyncResource::aclose) closes both.
///
/// ```
/// use anyio::stream::{AsyncResource, ObjectReceiveStream, ObjectSendStream, ObjectStream};
/// use anyio::stream::{IoErrorExt, StapledObjectStream};
///
/// # anyio::run(async {
/// let (tx, rx) = anyio::create_memory_object_stream::<u32>(1)?;
/// let stream = StapledObjectStream::new(tx, rx);
/// ObjectSendStream::send(&stream, 7).await?;
/// assert_eq!(ObjectReceiveStream::receive(&stream).await?, 7);
/// stream.send_eof().await?;
/// // The send stream is closed: the receiving side sees the end.
/// assert!(ObjectReceiveStream::receive(&stream).await.unwrap_err().is_end_of_stream());
/// stream.aclose().await?;
/// # Ok::<(), anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct StapledObjectStream<S, R> {
    send_stream: S,
    receive_stream: R,
}

impl<S, R> StapledObjectStream<S, R> {
    /// Staples `send_stream` and `receive_stream` together.
    pub fn new(send_stream: S, receive_stream: R) -> Self {
        StapledObjectStream {
            send_stream,
            receive_stream,
        }
    }

    /// The stream that sending goes to.
    pub fn send_stream(&self) -> &S {
        &self.send_stream
    }

    /// The stream that receiving comes from.
    pub fn receive_stream(&self) -> &R {
        &self.receive_stream
    }

    /// The send stream and the receive stream.
    pub fn into_parts(self) -> (S, R) {
        (self.send_stream, self.receive_stream)
    }
}

impl<S: AsyncResource, R: AsyncResource> AsyncResource for StapledObjectStream<S, R> {
    /// Closes both streams, concurrently, and returns the first error.
    ///
    /// # Cancel safety
    ///
    /// Both streams are closed once this has been polled, even if it is then dropped.
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        close_all(vec![
            Box::pin(self.send_stream.aclose()) as Close<'_>,
            Box::pin(self.receive_stream.aclose()),
        ])
    }
}

impl<T, S: AsyncResource, R: ObjectReceiveStream<T>> ObjectReceiveStream<T>
    for StapledObjectStream<S, R>
{
    /// Receives from the receive stream.
    ///
    /// # Cancel safety
    ///
    /// As the receive stream's `receive`.
    fn receive(&self) -> impl Future<Output = io::Result<T>> + Send {
        self.receive_stream.receive()
    }
}

impl<T, S: ObjectSendStream<T>, R: AsyncResource> ObjectSendStream<T>
    for StapledObjectStream<S, R>
{
    /// Sends on the send stream.
    ///
    /// # Cancel safety
    ///
    /// As the send stream's `send`.
    fn send(&self, item: T) -> impl Future<Output = io::Result<()>> + Send {
        self.send_stream.send(item)
    }
}

impl<T, S: ObjectSendStream<T>, R: ObjectReceiveStream<T>> ObjectStream<T>
    for StapledObjectStream<S, R>
{
    /// Closes the send stream (its [`aclose`](AsyncResource::aclose)); receiving goes on.
    ///
    /// # Cancel safety
    ///
    /// As the send stream's `aclose`.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.send_stream.aclose()
    }
}
