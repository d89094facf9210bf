//! A connected stream socket (TCP or UNIX): what [`SocketStream`](super::SocketStream) and
//! the UNIX stream share, with the stream layer's rules and the ecosystem's I/O traits.

use std::future::{Future, poll_fn};
use std::io::{self, Read};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use socket2::Socket;

use super::core::{Direction, SocketCore};
use crate::cancel::checkpoint::OpWait;
use crate::resource::{ClosedResourceError, EndOfStream};
use crate::stream::{RECEIVE_CHUNK, zero_max_bytes};

/// The flags of every send: no `SIGPIPE` when the peer has gone (the error is returned).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = 0;

/// Sends what the socket takes of `data` now, without raising `SIGPIPE`.
pub(crate) fn send_some(socket: &Socket, data: &[u8]) -> io::Result<usize> {
    socket.send_with_flags(data, SEND_FLAGS)
}

/// Receives what has arrived on `socket`, at most `max_bytes` (which is not 0) bytes;
/// empty at the end of the stream; `WouldBlock` when nothing has arrived.
///
/// `max_bytes` is never an allocation (issue 12): this runs only once the socket is
/// readable (or to find out whether it is), so a receive that waits holds no buffer. The
/// buffer is [`RECEIVE_CHUNK`] bytes at most; while reads fill it and `max_bytes` allows,
/// it doubles and reads again, until the socket has no more. It is trimmed when it holds
/// less than a quarter of its capacity.
pub(crate) fn recv_up_to(socket: &Socket, max_bytes: usize) -> io::Result<Received> {
    let mut buf = Vec::with_capacity(max_bytes.min(RECEIVE_CHUNK));
    let n = socket.recv(buf.spare_capacity_mut())?;
    // SAFETY: `recv` initialised the first `n` bytes of the spare capacity of the empty
    // `buf`, and `n <= capacity` because it wrote into a slice of that length.
    unsafe { buf.set_len(n) };
    let mut drained = short_read(n, buf.capacity());
    while buf.len() == buf.capacity() && buf.len() < max_bytes {
        let room = buf.len().min(max_bytes - buf.len());
        buf.reserve_exact(room);
        // An error here (nothing more, or the connection ending) is left to the next
        // receive: these bytes arrived first.
        let more = match socket.recv(&mut buf.spare_capacity_mut()[..room]) {
            Ok(more) => more,
            Err(e) => {
                drained = e.kind() == io::ErrorKind::WouldBlock;
                break;
            }
        };
        // SAFETY: `recv` initialised the `more` bytes of the spare capacity after the
        // length, and `more <= room`, which the capacity has room for.
        unsafe { buf.set_len(buf.len() + more) };
        drained = short_read(more, room);
        if more < room {
            break;
        }
    }
    if buf.len() < buf.capacity() / 4 {
        buf.shrink_to_fit();
    }
    Ok(Received {
        bytes: buf,
        drained,
    })
}

/// What [`recv_up_to`] got, and whether its last `recv` emptied the OS buffer (see
/// [`short_read`]).
pub(crate) struct Received {
    pub(crate) bytes: Vec<u8>,
    pub(crate) drained: bool,
}

/// A connected stream socket.
#[derive(Debug)]
pub(crate) struct StreamSocket {
    pub(crate) core: SocketCore,
    eof_sent: AtomicBool,
    /// The waits of the poll-based I/O traits, which have `&mut self` and so no other user.
    read_wait: OpWait,
    write_wait: OpWait,
}

impl StreamSocket {
    pub(crate) fn new(core: SocketCore) -> StreamSocket {
        StreamSocket {
            core,
            eof_sent: AtomicBool::new(false),
            read_wait: OpWait::new(),
            write_wait: OpWait::new(),
        }
    }

    /// The stream's end when a receive got 0 bytes: our own close, else the peer's EOF.
    fn end(&self) -> io::Error {
        if self.core.is_closed() {
            ClosedResourceError.into()
        } else {
            EndOfStream.into()
        }
    }

    // `receive`, `receive_into` and `send` are one `poll_fn` each around a `SocketOp`
    // rather than `async fn`s around `SocketCore::run`: one state machine per call.

    pub(crate) fn receive(
        &self,
        max_bytes: usize,
    ) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        let mut op = self.core.op(Direction::Read);
        poll_fn(move |cx| {
            if max_bytes == 0 {
                return Poll::Ready(Err(zero_max_bytes()));
            }
            let received = ready!(op.poll(cx, &mut |s| recv_up_to(s, max_bytes), &|r| r.drained));
            Poll::Ready(match received {
                Ok(r) if r.bytes.is_empty() => Err(self.end()),
                Ok(r) => Ok(r.bytes),
                Err(e) => Err(self.core.broken("receiving from", e)),
            })
        })
    }

    pub(crate) fn receive_into(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send {
        let mut op = self.core.op(Direction::Read);
        poll_fn(move |cx| {
            let len = buf.len();
            if len == 0 {
                return Poll::Ready(Err(zero_max_bytes()));
            }
            let n = ready!(
                op.poll(cx, &mut |mut s: &Socket| s.read(buf), &|&n| short_read(
                    n, len
                ))
            );
            Poll::Ready(match n {
                Ok(0) => Err(self.end()),
                Ok(n) => Ok(n),
                Err(e) => Err(self.core.broken("receiving from", e)),
            })
        })
    }

    pub(crate) fn send(&self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        let mut op = self.core.op(Direction::Write);
        let mut sent = 0;
        poll_fn(move |cx| {
            // Checked once, when the send starts: a send already under way finishes.
            if !op.is_started() && self.eof_sent.load(Ordering::Acquire) {
                return Poll::Ready(Err(ClosedResourceError.into()));
            }
            let mut send_rest = |s: &Socket| {
                while sent < data.len() {
                    sent += send_some(s, &data[sent..])?;
                }
                Ok(())
            };
            ready!(op.poll(cx, &mut send_rest, &|_| false))
                .map_err(|e| self.core.broken("sending to", e))
                .into()
        })
    }

    pub(crate) fn send_eof(&self) -> io::Result<()> {
        if self.core.is_closed() {
            return Err(ClosedResourceError.into());
        }
        if self.eof_sent.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.core
            .socket()
            .shutdown(Shutdown::Write)
            .map_err(|e| self.core.broken("shutting down the sending side to", e))
    }

    pub(crate) fn close(&self) {
        self.core.close();
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let StreamSocket {
            core, read_wait, ..
        } = self;
        poll_read_in(core, read_wait, cx, buf)
    }

    /// [`poll_read`](Self::poll_read) into memory not yet initialised (hyper's read
    /// buffer): the socket writes the bytes, so nothing is zeroed first.
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let core = &self.core;
        let len = buf.len();
        self.read_wait
            .poll(cx, |cx| {
                core.poll_op_with(cx, Direction::Read, &mut |s: &Socket| s.recv(buf), |&n| {
                    short_read(n, len)
                })
            })
            .map_err(|e| core.broken("receiving from", e))
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let StreamSocket {
            core,
            eof_sent,
            write_wait,
            ..
        } = self;
        poll_write_in(core, eof_sent, write_wait, cx, data)
    }

    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let StreamSocket {
            core,
            eof_sent,
            write_wait,
            ..
        } = self;
        poll_write_vectored_in(core, eof_sent, write_wait, cx, bufs)
    }

    /// One poll of a read with a wait of the caller's, which must be the only reader: the
    /// read half of a split stream, which has its own wait.
    pub(crate) fn poll_read_with(
        &self,
        wait: &mut OpWait,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read_in(&self.core, wait, cx, buf)
    }

    /// One poll of a write with a wait of the caller's, which must be the only writer: the
    /// write half of a split stream.
    pub(crate) fn poll_write_with(
        &self,
        wait: &mut OpWait,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write_in(&self.core, &self.eof_sent, wait, cx, data)
    }

    /// A vectored [`poll_write_with`](Self::poll_write_with).
    pub(crate) fn poll_write_vectored_with(
        &self,
        wait: &mut OpWait,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored_in(&self.core, &self.eof_sent, wait, cx, bufs)
    }
}

/// One poll of a read for the poll-based I/O traits: no busy guard, because their `&mut`
/// makes the caller the only reader.
fn poll_read_in(
    core: &SocketCore,
    wait: &mut OpWait,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    wait.poll(cx, |cx| {
        core.poll_op_with(
            cx,
            Direction::Read,
            &mut |mut s: &Socket| s.read(buf),
            |&n| short_read(n, len),
        )
    })
    .map_err(|e| core.broken("receiving from", e))
}

/// Whether a stream read of `n` bytes into room for `len` emptied the OS buffer: it got
/// some bytes but fewer than it had room for. (Zero is the end of the stream, which says
/// nothing of readiness.)
fn short_read(n: usize, len: usize) -> bool {
    n > 0 && n < len
}

/// One poll of a write for the poll-based I/O traits, as [`poll_read_in`].
fn poll_write_in(
    core: &SocketCore,
    eof_sent: &AtomicBool,
    wait: &mut OpWait,
    cx: &mut Context<'_>,
    data: &[u8],
) -> Poll<io::Result<usize>> {
    if eof_sent.load(Ordering::Acquire) {
        return Poll::Ready(Err(ClosedResourceError.into()));
    }
    wait.poll(cx, |cx| {
        core.poll_op(cx, Direction::Write, &mut |s: &Socket| send_some(s, data))
    })
    .map_err(|e| core.broken("sending to", e))
}

/// A vectored [`poll_write_in`].
fn poll_write_vectored_in(
    core: &SocketCore,
    eof_sent: &AtomicBool,
    wait: &mut OpWait,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    if eof_sent.load(Ordering::Acquire) {
        return Poll::Ready(Err(ClosedResourceError.into()));
    }
    wait.poll(cx, |cx| {
        core.poll_op(cx, Direction::Write, &mut |s: &Socket| {
            s.send_vectored_with_flags(bufs, SEND_FLAGS)
        })
    })
    .map_err(|e| core.broken("sending to", e))
}

/// Gives a wrapper of [`StreamSocket`] (in its field `inner`) the socket stream API: the
/// inherent `receive`, `receive_into`, `send`, `send_eof` and `aclose`, the stream traits,
/// the futures I/O traits, the socket attributes and the descriptor traits.
macro_rules! stream_socket_traits {
    ($ty:ty) => {
        impl $ty {
            /// Receives at most `max_bytes` bytes: see
            /// [`ByteReceiveStream::receive`](crate::stream::ByteReceiveStream::receive) for
            /// the errors (rule 18).
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: a receive that returns an error or is dropped consumed nothing.
            pub fn receive(
                &self,
                max_bytes: usize,
            ) -> impl std::future::Future<Output = std::io::Result<Vec<u8>>> + Send {
                self.inner.receive(max_bytes)
            }

            /// Receives into `buf` and returns how many bytes arrived (at least 1): a receive
            /// without an allocation. The errors are those of [`receive`](Self::receive), an
            /// empty `buf` being the `max_bytes == 0` case.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe, as [`receive`](Self::receive).
            pub fn receive_into(
                &self,
                buf: &mut [u8],
            ) -> impl std::future::Future<Output = std::io::Result<usize>> + Send {
                self.inner.receive_into(buf)
            }

            /// Sends all of `data`; see
            /// [`ByteSendStream::send`](crate::stream::ByteSendStream::send).
            ///
            /// # Cancel safety
            ///
            /// Not cancel safe: a send cancelled while waiting for room may have sent a
            /// prefix.
            pub fn send(
                &self,
                data: &[u8],
            ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                self.inner.send(data)
            }

            /// Sends the end of the stream (a half-close); receiving goes on. Calling it
            /// again does nothing.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn send_eof(&self) -> std::io::Result<()> {
                self.inner.send_eof()
            }

            /// Closes the connection; see
            /// [`AsyncResource::aclose`](crate::stream::AsyncResource::aclose).
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn aclose(&self) -> std::io::Result<()> {
                self.inner.close();
                Ok(())
            }

            /// One poll of a read for the I/O traits, which have `&mut self`.
            pub(crate) fn poll_read(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        impl $crate::stream::AsyncResource for $ty {
            fn aclose(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                self.inner.close();
                std::future::ready(Ok(()))
            }
        }

        impl $crate::stream::ByteReceiveStream for $ty {
            fn receive(
                &self,
                max_bytes: usize,
            ) -> impl std::future::Future<Output = std::io::Result<Vec<u8>>> + Send {
                <$ty>::receive(self, max_bytes)
            }
        }

        impl $crate::stream::ByteSendStream for $ty {
            fn send(
                &self,
                data: &[u8],
            ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                self.inner.send(data)
            }
        }

        impl $crate::stream::ByteStream for $ty {
            fn send_eof(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                std::future::ready(self.inner.send_eof())
            }
        }

        impl $crate::net::SocketAttributes for $ty {
            fn raw_socket(&self) -> socket2::SockRef<'_> {
                socket2::SockRef::from(self.inner.core.socket())
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.core.socket().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.core.socket().as_raw_fd()
            }
        }

        /// Reads what has arrived; `Ok(0)` at the peer's end of the stream, as the trait
        /// wants. Each read is a checkpoint of the calling anyio task, and a cancellation
        /// ends a pending read with an error that [`is_cancelled`](crate::is_cancelled).
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_read(cx, buf)
            }
        }

        /// Writes what the socket takes now; closing sends the end of the stream (a
        /// half-close). Each write is a checkpoint, as for reads.
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().inner.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().inner.poll_write_vectored(cx, bufs)
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
                std::task::Poll::Ready(self.inner.send_eof())
            }
        }
    };
}

pub(crate) use stream_socket_traits;
