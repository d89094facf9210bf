//! tokio's `AsyncRead` / `AsyncWrite` on the socket streams (the `tokio-io` feature), so that
//! tokio-util codecs, hyper's tokio adapters and the rest take them as they are. The traits
//! need nothing of tokio's runtime: they work on the smol backend too.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Implements tokio's I/O traits for a socket stream type with inherent `poll_read` and a
/// `StreamSocket` in `inner`; each read and write is a checkpoint, as for the futures-io
/// traits.
macro_rules! tokio_io_traits {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                let n = ready!(this.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().inner.poll_write(cx, data)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().inner.poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner.send_eof())
            }
        }
    };
}

tokio_io_traits!(crate::net::SocketStream);
tokio_io_traits!(crate::net::UnixSocketStream);

/// Implements tokio's I/O traits for the halves of a split socket stream type, as for the
/// stream itself: each read and write is a checkpoint, shutting down sends the end of the
/// stream.
macro_rules! tokio_io_halves {
    ($ty:ty) => {
        impl AsyncRead for crate::net::ReadHalf<$ty> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = ready!(self.get_mut().poll_read_io(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncWrite for crate::net::WriteHalf<$ty> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_io(cx, data)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_vectored_io(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.close_io())
            }
        }
    };
}

tokio_io_halves!(crate::net::SocketStream);
tokio_io_halves!(crate::net::UnixSocketStream);

/// The TLS stream's reads and writes, as for socket streams; shutting down sends
/// `close_notify` and the transport's end of stream.
#[cfg(feature = "tls")]
impl<S: crate::stream::ByteStream + 'static> AsyncRead for crate::tls::TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.get_mut().poll_read_io(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tls")]
impl<S: crate::stream::ByteStream + 'static> AsyncWrite for crate::tls::TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_io(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_io(cx)
    }
}

/// tokio's `AsyncRead` on a child's stdout or stderr, as for socket streams: each read is
/// a checkpoint, `Ok(())` with nothing added at the end of the stream.
macro_rules! tokio_io_child_output {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = ready!(self.get_mut().poll_read_io(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    };
}

tokio_io_child_output!(crate::process::ChildStdout);
tokio_io_child_output!(crate::process::ChildStderr);

/// tokio's `AsyncWrite` on a child's stdin: each write is a checkpoint; shutting down
/// closes the pipe, which the child reads as the end of its input.
impl AsyncWrite for crate::process::ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_io();
        Poll::Ready(Ok(()))
    }
}
