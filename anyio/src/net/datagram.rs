//! What the datagram sockets (UDP and UNIX datagram) share: receiving one datagram into a
//! buffer of AnyIO's size, sending one, and the received datagrams as a stream.
//!
//! The rules are those of every socket of this crate (see `core.rs`): one receiver and one
//! sender at a time, each operation a checkpoint, `ClosedResourceError` after this side's
//! close, and any OS error of a send or a receive (an ICMP "port unreachable" on a
//! connected socket, say) a `BrokenResourceError` with the OS error as its cause, as in
//! AnyIO.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use socket2::{SockAddr, Socket};

use super::core::{Direction, PendingRead, SocketCore};

/// The largest datagram received (AnyIO's `recvfrom(65536)`); the rest of a longer one is
/// discarded. A UDP payload is never longer.
pub(crate) const MAX_DATAGRAM: usize = 65536;

/// The flags of a send: no `SIGPIPE` (a UNIX datagram sent after a shutdown).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = 0;

/// Receives one datagram, at most [`MAX_DATAGRAM`] bytes of it, and the address it came
/// from; `WouldBlock` when none has arrived.
///
/// The buffer is allocated here, once the socket is readable (or to find out whether it
/// is), so a receive that waits holds none (issue 12), and trimmed to the datagram.
fn recv_datagram(socket: &Socket) -> io::Result<(Vec<u8>, SockAddr)> {
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    let (n, from) = socket.recv_from(buf.spare_capacity_mut())?;
    // SAFETY: `recv_from` initialised the first `n` bytes of the spare capacity of the
    // empty `buf`, and `n <= capacity` because it wrote into a slice of that length.
    unsafe { buf.set_len(n) };
    buf.shrink_to_fit();
    Ok((buf, from))
}

/// Receives one datagram and the address it came from. `what` names the operation in a
/// broken-resource error ("receiving on").
pub(crate) async fn receive_from(core: &SocketCore, what: &str) -> io::Result<(Vec<u8>, SockAddr)> {
    core.run(Direction::Read, recv_datagram)
        .await
        .map_err(|e| core.broken(what, e))
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
    read: PendingRead<'a>,
    what: &'static str,
    /// Makes an item of a datagram and its sender's address.
    item: fn(Vec<u8>, SockAddr) -> io::Result<T>,
}

impl<'a, T> IncomingDatagrams<'a, T> {
    pub(crate) fn new(
        core: &'a SocketCore,
        what: &'static str,
        item: fn(Vec<u8>, SockAddr) -> io::Result<T>,
    ) -> Self {
        IncomingDatagrams {
            read: PendingRead::new(core),
            what,
            item,
        }
    }
}

impl<T> futures_core::Stream for IncomingDatagrams<'_, T> {
    type Item = io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let res = ready!(this.read.poll(cx, recv_datagram));
        let item = match res {
            Ok((data, from)) => (this.item)(data, from),
            Err(e) => Err(this.read.core().broken(this.what, e)),
        };
        Poll::Ready(Some(item))
    }
}
