//! The stream layer: what byte and object streams, and listeners, can do, whatever carries
//! them (a socket, a TLS session, a memory channel, a file), and the wrappers built on that.
//!
//! The traits follow AnyIO's abstract classes, with one Rust-specific choice: every method
//! takes `&self`. A stream is used by several tasks at once (one receiving while another
//! sends, or closes it to interrupt a receive), which is what AnyIO's rules for
//! [`BusyResourceError`](crate::BusyResourceError) and
//! [`ClosedResourceError`](crate::ClosedResourceError) describe; with `&self` that sharing
//! is `Arc<Stream>`, and every trait is implemented for `Arc<S>` as well.
//!
//! Every operation returns [`std::io::Result`]. The conditions of rule 18 stay recoverable
//! from the `io::Error`: its inner error downcasts to [`EndOfStream`](crate::EndOfStream),
//! [`ClosedResourceError`](crate::ClosedResourceError),
//! [`BrokenResourceError`](crate::BrokenResourceError),
//! [`BusyResourceError`](crate::BusyResourceError) or [`Cancelled`](crate::Cancelled), and
//! [`IoErrorExt`] names each test.

use std::future::Future;
use std::io;
use std::sync::Arc;

// The socket types reuse `buffered::ReceiveBuffer` for the 1.x reads on a socket.
pub(crate) mod buffered;
mod close;
mod error;
mod listener;
mod memory;
mod multi;
mod stapled;
mod text;

pub use buffered::{BufferedByteReceiveStream, BufferedByteStream, DelimitedChunks, ReceiveChunks};
pub use error::IoErrorExt;
pub use listener::Listener;
pub use multi::MultiListener;
pub use stapled::{StapledByteStream, StapledObjectStream};
pub use text::{DecodeErrors, TextReceiveStream, TextSendStream, TextStream};

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/streams.md")]
struct StreamsGuide;

/// How many bytes a receive asks for when the caller has no better number: AnyIO's default
/// `max_bytes`.
pub const DEFAULT_MAX_BYTES: usize = 65536;

/// The most a receive of this crate allocates before it knows how many bytes arrived
/// (issue 12): `max_bytes` is an upper bound, never an allocation size. A receive allocates
/// only once its source is readable, at most this much or `max_bytes` if smaller, and
/// grows the buffer only while it fills and more bytes are there. Room for the TLS layer's
/// transport reads (four records, just over 64 KiB), so those take one read.
pub(crate) const RECEIVE_CHUNK: usize = 128 * 1024;

/// A resource that is closed asynchronously (AnyIO's `AsyncResource`).
pub trait AsyncResource: Send + Sync {
    /// Closes the resource. Operations blocked on it in other tasks end with
    /// [`ClosedResourceError`](crate::ClosedResourceError), as do operations started after.
    /// Closing twice is not an error.
    ///
    /// # Cancel safety
    ///
    /// The resource is closed even if the returned future is dropped or cancelled before it
    /// completes; what is skipped is only a graceful goodbye (a TLS close_notify, say).
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send;
}

/// A stream of bytes that can be received (AnyIO's `ByteReceiveStream`).
pub trait ByteReceiveStream: AsyncResource {
    /// Receives at most `max_bytes` bytes: whatever has arrived, waiting only if nothing has.
    /// The result is never empty.
    ///
    /// `max_bytes` is an upper bound, never an allocation size: any value is valid, and a
    /// receive of `usize::MAX` returns what arrived. The streams of this crate allocate only
    /// for bytes that are there, and a receive that waits holds no buffer.
    ///
    /// # Errors
    ///
    /// - [`EndOfStream`](crate::EndOfStream) once the peer finished sending and everything
    ///   it sent has been received;
    /// - [`ClosedResourceError`](crate::ClosedResourceError) after this side closed the
    ///   stream, also when that happened while this receive was waiting;
    /// - [`BrokenResourceError`](crate::BrokenResourceError) when the connection broke (a
    ///   reset), with the OS error as its source;
    /// - [`BusyResourceError`](crate::BusyResourceError) when another task is receiving;
    /// - `InvalidInput` when `max_bytes` is 0;
    /// - [`Cancelled`](crate::Cancelled) when the calling code is cancelled first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in every implementation of this crate: a receive that returns an error or
    /// is dropped consumed nothing.
    fn receive(&self, max_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send;
}

/// A stream of bytes that can be sent (AnyIO's `ByteSendStream`).
pub trait ByteSendStream: AsyncResource {
    /// Sends all of `data`, waiting for room as needed.
    ///
    /// # Errors
    ///
    /// As [`ByteReceiveStream::receive`], except that there is no end of stream: sending
    /// after [`send_eof`](ByteStream::send_eof) is a
    /// [`ClosedResourceError`](crate::ClosedResourceError).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped or cancelled while waiting for room, a
    /// prefix of `data` may have been sent.
    fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
}

/// A bidirectional byte stream whose sending half can be finished on its own (AnyIO's
/// `ByteStream`).
pub trait ByteStream: ByteReceiveStream + ByteSendStream {
    /// Tells the peer that nothing more will be sent (a TCP half-close), while receiving
    /// goes on. Calling it again does nothing.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in this crate's implementations: the end of the stream is sent at once.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send;
}

/// A stream of `T` values that can be received (AnyIO's `ObjectReceiveStream`).
pub trait ObjectReceiveStream<T>: AsyncResource {
    /// Receives the next item.
    ///
    /// # Errors
    ///
    /// [`EndOfStream`](crate::EndOfStream) once every sender is gone and everything sent was
    /// received, and otherwise as [`ByteReceiveStream::receive`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in this crate's implementations: no item is lost.
    fn receive(&self) -> impl Future<Output = io::Result<T>> + Send;
}

/// A stream of `T` values that can be sent (AnyIO's `ObjectSendStream`).
pub trait ObjectSendStream<T>: AsyncResource {
    /// Sends one item.
    ///
    /// # Errors
    ///
    /// [`BrokenResourceError`](crate::BrokenResourceError) when nobody can receive it any
    /// more, and otherwise as [`ByteSendStream::send`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in this crate's implementations: a send that is cancelled did not
    /// deliver the item.
    fn send(&self, item: T) -> impl Future<Output = io::Result<()>> + Send;
}

/// A bidirectional object stream whose sending half can be finished on its own (AnyIO's
/// `ObjectStream`).
pub trait ObjectStream<T>: ObjectReceiveStream<T> + ObjectSendStream<T> {
    /// Tells the peer that nothing more will be sent, while receiving goes on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in this crate's implementations.
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl<S: AsyncResource + ?Sized> AsyncResource for Arc<S> {
    fn aclose(&self) -> impl Future<Output = io::Result<()>> + Send {
        (**self).aclose()
    }
}

impl<S: ByteReceiveStream + ?Sized> ByteReceiveStream for Arc<S> {
    fn receive(&self, max_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        (**self).receive(max_bytes)
    }
}

impl<S: ByteSendStream + ?Sized> ByteSendStream for Arc<S> {
    fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        (**self).send(data)
    }
}

impl<S: ByteStream + ?Sized> ByteStream for Arc<S> {
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        (**self).send_eof()
    }
}

impl<T, S: ObjectReceiveStream<T> + ?Sized> ObjectReceiveStream<T> for Arc<S> {
    fn receive(&self) -> impl Future<Output = io::Result<T>> + Send {
        (**self).receive()
    }
}

impl<T, S: ObjectSendStream<T> + ?Sized> ObjectSendStream<T> for Arc<S> {
    fn send(&self, item: T) -> impl Future<Output = io::Result<()>> + Send {
        (**self).send(item)
    }
}

impl<T, S: ObjectStream<T> + ?Sized> ObjectStream<T> for Arc<S> {
    fn send_eof(&self) -> impl Future<Output = io::Result<()>> + Send {
        (**self).send_eof()
    }
}

/// The error for a receive asked for no bytes at all.
pub(crate) fn zero_max_bytes() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "max_bytes must be a positive integer",
    )
}
