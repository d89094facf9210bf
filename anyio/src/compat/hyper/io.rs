//! hyper's `rt::Read` / `rt::Write` on the socket and TLS streams, so hyper's connections
//! take them as they are (no `TokioIo` wrapper). They share the poll helpers of the
//! futures-io and tokio traits: each read and write is a checkpoint of the calling anyio
//! task, and a cancellation ends a pending one with an error that
//! [`is_cancelled`](crate::is_cancelled).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::hyper::rt::{Read, ReadBufCursor, Write};

/// Implements hyper's I/O traits for a socket stream type with a `StreamSocket` in `inner`.
macro_rules! hyper_io_traits {
    ($ty:ty) => {
        /// Reads what has arrived, straight into hyper's buffer; nothing at the peer's end
        /// of the stream.
        impl Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the socket only writes into the slice, so no initialised byte
                // becomes uninitialised.
                let room = unsafe { buf.as_mut() };
                let n = ready!(self.get_mut().inner.poll_read_uninit(cx, room))?;
                // SAFETY: `recv` initialised the first `n` bytes of the unfilled part.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }

        /// Writes what the socket takes now (vectored writes are one `sendmsg`); shutting
        /// down sends the end of the stream (a half-close).
        impl Write for $ty {
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

hyper_io_traits!(crate::net::SocketStream);
hyper_io_traits!(crate::net::UnixSocketStream);

/// Reads plaintext; nothing at the end of the stream.
#[cfg(feature = "tls")]
impl<S: crate::stream::ByteStream + 'static> Read for crate::tls::TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        self.get_mut()
            .poll_read_with(cx, room, |data| buf.put_slice(data))
    }
}

/// Writes are encrypted at once and flushed at the next write, flush or shutdown; shutting
/// down sends `close_notify` and the transport's end of stream.
#[cfg(feature = "tls")]
impl<S: crate::stream::ByteStream + 'static> Write for crate::tls::TlsStream<S> {
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
