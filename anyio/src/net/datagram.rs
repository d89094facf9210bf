//! What the datagram sockets (UDP and UNIX datagram) share: receiving one datagram into a
//! buffer of AnyIO's size, sending one, and the received datagrams as a stream.
//!
//! The rules are those of every socket of this crate (see `core.rs`): one receiver and one
//! sender at a time, each operation a checkpoint, `ClosedResourceError` after this side's
//! close, and any OS error of a send or a receive (an ICMP "port unreachable" on a
//! connected socket, say) a `BrokenResourceError` with the OS error as its cause, as in
//! AnyIO.

use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use socket2::{SockAddr, Socket};

use super::core::{Direction, SocketCore};
use crate::cancel::checkpoint::OpWait;
use crate::sync::guard::ResourceGuardToken;

/// The largest datagram received (AnyIO's `recvfrom(65536)`); the rest of a longer one is
/// discarded. A UDP payload is never longer.
pub(crate) const MAX_DATAGRAM: usize = 65536;

/// The flags of a send: no `SIGPIPE` (a UNIX datagram sent after a shutdown).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = 0;

/// An empty buffer with room for one datagram.
fn datagram_buffer() -> Vec<u8> {
    Vec::with_capacity(MAX_DATAGRAM)
}

/// `buf` with the `n` bytes that `recv_from` wrote into its spare capacity, trimmed to them.
fn filled(mut buf: Vec<u8>, n: usize) -> Vec<u8> {
    // SAFETY: `recv_from` initialised the first `n` bytes of the spare capacity of the
    // empty `buf`, and `n <= capacity` because it wrote into a slice of that length.
    unsafe { buf.set_len(n) };
    buf.shrink_to_fit();
    buf
}

/// Receives one datagram and the address it came from. `what` names the operation in a
/// broken-resource error ("receiving on").
pub(crate) async fn receive_from(core: &SocketCore, what: &str) -> io::Result<(Vec<u8>, SockAddr)> {
    let mut buf = datagram_buffer();
    let (n, from) = core
        .run(Direction::Read, |s| s.recv_from(buf.spare_capacity_mut()))
        .await
        .map_err(|e| core.broken(what, e))?;
    Ok((filled(buf, n), from))
}

/// Sends `data` as one datagram, to `to` or (on a connected socket, `None`) to the peer.
/// `what` names the operation in a broken-resource error.
pub(crate) async fn send(
    core: &SocketCore,
    data: &[u8],
    to: Option<&SockAddr>,
    what: impl FnOnce() -> String,
) -> io::Result<()> {
    core.run(Direction::Write, |s| match to {
        Some(to) => s.send_to_with_flags(data, to, SEND_FLAGS),
        None => s.send_with_flags(data, SEND_FLAGS),
    })
    .await
    .map_err(|e| core.broken(&what(), e))?;
    Ok(())
}

/// The datagrams a socket receives, as a [`Stream`](futures_core::Stream) that never
/// ends by itself: each item is what the socket's `receive` would return (a
/// [`ClosedResourceError`](crate::ClosedResourceError) once the socket is closed). See
/// `incoming` on [`UdpSocket`](super::UdpSocket), [`ConnectedUdpSocket`](super::ConnectedUdpSocket),
/// [`UnixDatagramSocket`](super::UnixDatagramSocket) and
/// [`ConnectedUnixDatagramSocket`](super::ConnectedUnixDatagramSocket).
///
/// While a `next()` is pending, another receive on the socket is a
/// [`BusyResourceError`](crate::BusyResourceError).
///
/// # Cancel safety
///
/// Cancel safe: dropping a pending `next()` loses no datagram.
#[derive(Debug)]
pub struct IncomingDatagrams<'a, T> {
    core: &'a SocketCore,
    what: &'static str,
    /// Makes an item of a datagram and its sender's address.
    item: fn(Vec<u8>, SockAddr) -> io::Result<T>,
    token: Option<ResourceGuardToken<'a>>,
    wait: OpWait,
    buf: Vec<u8>,
}

impl<'a, T> IncomingDatagrams<'a, T> {
    pub(crate) fn new(
        core: &'a SocketCore,
        what: &'static str,
        item: fn(Vec<u8>, SockAddr) -> io::Result<T>,
    ) -> Self {
        IncomingDatagrams {
            core,
            what,
            item,
            token: None,
            wait: OpWait::new(),
            buf: Vec::new(),
        }
    }
}

impl<T> futures_core::Stream for IncomingDatagrams<'_, T> {
    type Item = io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let core = this.core;
        if this.token.is_none() {
            match core.guard(Direction::Read).enter() {
                Ok(token) => this.token = Some(token),
                Err(busy) => return Poll::Ready(Some(Err(busy.into()))),
            }
        }
        if this.buf.capacity() == 0 {
            this.buf = datagram_buffer();
        }
        let buf = &mut this.buf;
        let res = ready!(this.wait.poll(cx, |cx| {
            core.poll_op(cx, Direction::Read, &mut |s: &Socket| {
                s.recv_from(buf.spare_capacity_mut())
            })
        }));
        this.token = None;
        let item = match res {
            Ok((n, from)) => (this.item)(filled(mem::take(&mut this.buf), n), from),
            Err(e) => Err(core.broken(this.what, e)),
        };
        Poll::Ready(Some(item))
    }
}

/// Implements what every datagram socket implements, for a type with a `core:
/// SocketCore` field: closing ([`AsyncResource`](crate::stream::AsyncResource)), the socket
/// attributes and the descriptor traits.
macro_rules! datagram_socket_traits {
    ($ty:ty) => {
        impl $crate::stream::AsyncResource for $ty {
            fn aclose(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                self.core.close();
                std::future::ready(Ok(()))
            }
        }

        impl $crate::net::SocketAttributes for $ty {
            fn raw_socket(&self) -> socket2::SockRef<'_> {
                socket2::SockRef::from(self.core.socket())
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.core.socket())
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.core.socket())
            }
        }
    };
}

pub(crate) use datagram_socket_traits;
