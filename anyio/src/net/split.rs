//! Owned halves of a socket stream ([`into_split`](super::SocketStream::into_split)): a
//! receiving half and a sending half that can move to different tasks, and
//! [`reunite`](ReadHalf::reunite) to put them back together.
//!
//! A socket stream is already full duplex through `&self` (one task receives while another
//! sends, each direction with its own busy guard), so the halves are two handles on one
//! shared stream, without a lock: they only narrow what each handle can do and give each
//! task an owned, `'static` value.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use super::tcp::SocketStream;
use super::unix::UnixSocketStream;
use crate::cancel::checkpoint::OpWait;

/// The receiving half of a socket stream, from `into_split`
/// ([`SocketStream::into_split`], [`UnixSocketStream::into_split`]).
///
/// It is a [`ByteReceiveStream`](crate::stream::ByteReceiveStream) and a
/// `futures_io::AsyncRead` (each read a checkpoint, as on the stream; tokio's `AsyncRead`
/// too with the `tokio-io` feature). Dropping it leaves the connection open for the other
/// half; the connection closes when both halves are dropped, or when either is closed
/// with `aclose`, which closes the connection for both.
#[derive(Debug)]
pub struct ReadHalf<S> {
    stream: Arc<S>,
    /// The wait of `futures_io::AsyncRead`, whose `&mut self` makes this the only reader.
    wait: OpWait,
}

/// The sending half of a socket stream, from `into_split`
/// ([`SocketStream::into_split`], [`UnixSocketStream::into_split`]).
///
/// It is a [`ByteSendStream`](crate::stream::ByteSendStream), with `send_eof` for a
/// half-close, and a `futures_io::AsyncWrite` (whose `poll_close` sends the end of the
/// stream; tokio's `AsyncWrite` too with the `tokio-io` feature). Dropping it does not
/// send the end of the stream (call `send_eof`); the connection closes when both halves
/// are dropped, or when either is closed with `aclose`, which closes the connection for
/// both.
#[derive(Debug)]
pub struct WriteHalf<S> {
    stream: Arc<S>,
    /// The wait of `futures_io::AsyncWrite`, whose `&mut self` makes this the only writer.
    wait: OpWait,
}

/// Splits `stream` into its two halves.
pub(crate) fn split<S>(stream: S) -> (ReadHalf<S>, WriteHalf<S>) {
    let stream = Arc::new(stream);
    (
        ReadHalf {
            stream: stream.clone(),
            wait: OpWait::new(),
        },
        WriteHalf {
            stream,
            wait: OpWait::new(),
        },
    )
}

impl<S> ReadHalf<S> {
    /// Puts the halves of one stream back together.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`], which gives both halves back, when `write` is a half of another
    /// stream.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.stream, &write.stream) {
            return Err(ReuniteError { read: self, write });
        }
        drop(write);
        match Arc::try_unwrap(self.stream) {
            Ok(stream) => Ok(stream),
            // The two halves held the only references and one was just dropped.
            Err(_) => unreachable!("a stream's halves are its only owners"),
        }
    }

    /// Whether `write` is the other half of the same stream.
    pub fn is_pair_of(&self, write: &WriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.stream, &write.stream)
    }
}

impl<S> WriteHalf<S> {
    /// Puts the halves of one stream back together; see [`ReadHalf::reunite`].
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] when `read` is a half of another stream.
    pub fn reunite(self, read: ReadHalf<S>) -> Result<S, ReuniteError<S>> {
        read.reunite(self)
    }
}

/// The error of [`reunite`](ReadHalf::reunite) for halves of two different streams; it
/// gives both halves back.
pub struct ReuniteError<S> {
    /// The receiving half that was given.
    pub read: ReadHalf<S>,
    /// The sending half that was given.
    pub write: WriteHalf<S>,
}

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReuniteError").finish_non_exhaustive()
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket stream")
    }
}

impl<S> Error for ReuniteError<S> {}

/// The API of the halves of one kind of socket stream: each half gets its direction's
/// inherent methods and stream trait, both get closing, the socket attributes and the
/// descriptor traits.
macro_rules! halves {
    ($stream:ty) => {
        impl $stream {
            /// Splits the stream into a receiving and a sending half that can move to
            /// different tasks (full duplex without a lock); [`ReadHalf::reunite`] puts
            /// them back together. Each direction keeps its busy guard: two tasks
            /// receiving through one half at once is still a
            /// [`BusyResourceError`](crate::BusyResourceError).
            pub fn into_split(self) -> (ReadHalf<$stream>, WriteHalf<$stream>) {
                split(self)
            }
        }

        impl ReadHalf<$stream> {
            /// Receives at most `max_bytes` bytes; see the stream's `receive`.
            ///
            /// # Errors
            ///
            /// As [`ByteReceiveStream::receive`](crate::stream::ByteReceiveStream::receive).
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: a receive that returns an error or is dropped consumed nothing.
            pub async fn receive(&self, max_bytes: usize) -> std::io::Result<Vec<u8>> {
                self.stream.receive(max_bytes).await
            }

            /// Receives into `buf` and returns how many bytes arrived (at least 1); see the
            /// stream's `receive_into`.
            ///
            /// # Errors
            ///
            /// As [`receive`](Self::receive), an empty `buf` being the `max_bytes == 0`
            /// case.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe, as [`receive`](Self::receive).
            pub async fn receive_into(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.stream.receive_into(buf).await
            }

            /// Closes the connection, for both halves.
            ///
            /// # Errors
            ///
            /// None: closing cannot fail.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn aclose(&self) -> std::io::Result<()> {
                self.stream.aclose().await
            }

            /// One poll of a read for the I/O traits, whose `&mut self` makes this the
            /// only reader.
            pub(crate) fn poll_read_io(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.inner.poll_read_with(&mut self.wait, cx, buf)
            }
        }

        impl WriteHalf<$stream> {
            /// Sends all of `data`; see the stream's `send`.
            ///
            /// # Errors
            ///
            /// As [`ByteSendStream::send`](crate::stream::ByteSendStream::send).
            ///
            /// # Cancel safety
            ///
            /// Not cancel safe: a send cancelled while waiting for room may have sent a
            /// prefix.
            pub async fn send(&self, data: &[u8]) -> std::io::Result<()> {
                self.stream.send(data).await
            }

            /// Sends the end of the stream (a half-close); the read half goes on
            /// receiving. Calling it again does nothing.
            ///
            /// # Errors
            ///
            /// [`ClosedResourceError`](crate::ClosedResourceError) once the connection is
            /// closed; [`BrokenResourceError`](crate::BrokenResourceError) with the OS
            /// error as its cause.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn send_eof(&self) -> std::io::Result<()> {
                self.stream.send_eof().await
            }

            /// Closes the connection, for both halves.
            ///
            /// # Errors
            ///
            /// None: closing cannot fail.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn aclose(&self) -> std::io::Result<()> {
                self.stream.aclose().await
            }

            /// One poll of a write for the I/O traits, whose `&mut self` makes this the
            /// only writer.
            pub(crate) fn poll_write_io(
                &mut self,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.inner.poll_write_with(&mut self.wait, cx, data)
            }

            /// A vectored [`poll_write_io`](Self::poll_write_io).
            pub(crate) fn poll_write_vectored_io(
                &mut self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream
                    .inner
                    .poll_write_vectored_with(&mut self.wait, cx, bufs)
            }

            /// Closing for the I/O traits: the end of the stream, at once.
            pub(crate) fn close_io(&self) -> std::io::Result<()> {
                self.stream.inner.send_eof()
            }
        }

        impl $crate::stream::AsyncResource for ReadHalf<$stream> {
            fn aclose(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                $crate::stream::AsyncResource::aclose(&*self.stream)
            }
        }

        impl $crate::stream::AsyncResource for WriteHalf<$stream> {
            fn aclose(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                $crate::stream::AsyncResource::aclose(&*self.stream)
            }
        }

        impl $crate::stream::ByteReceiveStream for ReadHalf<$stream> {
            fn receive(
                &self,
                max_bytes: usize,
            ) -> impl std::future::Future<Output = std::io::Result<Vec<u8>>> + Send {
                $crate::stream::ByteReceiveStream::receive(&*self.stream, max_bytes)
            }
        }

        impl $crate::stream::ByteSendStream for WriteHalf<$stream> {
            fn send(
                &self,
                data: &[u8],
            ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                $crate::stream::ByteSendStream::send(&*self.stream, data)
            }
        }

        impl $crate::net::SocketAttributes for ReadHalf<$stream> {
            fn raw_socket(&self) -> socket2::SockRef<'_> {
                $crate::net::SocketAttributes::raw_socket(&*self.stream)
            }
        }

        impl $crate::net::SocketAttributes for WriteHalf<$stream> {
            fn raw_socket(&self) -> socket2::SockRef<'_> {
                $crate::net::SocketAttributes::raw_socket(&*self.stream)
            }
        }

        impl std::os::fd::AsFd for ReadHalf<$stream> {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.stream.as_fd()
            }
        }

        /// Reads what has arrived; `Ok(0)` at the peer's end of the stream.
        impl futures_io::AsyncRead for ReadHalf<$stream> {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_read_io(cx, buf)
            }
        }

        /// Writes what the socket takes now; closing sends the end of the stream.
        impl futures_io::AsyncWrite for WriteHalf<$stream> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_write_io(cx, data)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_write_vectored_io(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.close_io())
            }
        }

        impl std::os::fd::AsFd for WriteHalf<$stream> {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.stream.as_fd()
            }
        }
    };
}

halves!(SocketStream);
halves!(UnixSocketStream);
