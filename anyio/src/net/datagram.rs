//! What the datagram sockets (UDP and UNIX datagram) share: receiving one datagram into a
//! buffer of AnyIO's size, sending one, and the received datagrams as a stream.
//!
//! The rules are those of every socket of this crate (see `core.rs`): one receiver and one
//! sender at a time, each operation a checkpoint, `ClosedResourceError` after this side's
//! close, and an OS error that leaves the socket unusable (an ICMP "port unreachable" on a
//! connected socket, say) a `BrokenResourceError` with the OS error as its cause, as in
//! AnyIO. A send that fails for that one datagram only (too long, an address it cannot
//! reach) returns the OS error itself, with what was sent where in its message: the socket
//! goes on working.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use socket2::{SockAddr, Socket};

use super::core::{Direction, PendingRead, SocketCore};
use super::error::context_with_kind;

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
    let sent = core
        .run(Direction::Write, |s| match to {
            Some(to) => s.send_to_with_flags(data, to, SEND_FLAGS),
            None => s.send_with_flags(data, SEND_FLAGS),
        })
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(err) => match err
            .raw_os_error()
            .and_then(|c| send_error_kind(c, to.is_some()))
        {
            Some(kind) if !core.is_closed() => Err(context_with_kind(err, kind, || {
                format!("{} {}", what(), core.peer())
            })),
            _ => Err(core.broken(&what(), err)),
        },
    }
}

/// The kind to report for the OS error `code` of a send if it concerns that one datagram
/// and leaves the socket usable; `None` if the socket is broken. `addressed` is a send to
/// an address of its own (on an unconnected socket): a refusal then concerns that address
/// only, while on a connected socket it means the peer is gone.
///
/// The kinds are those of `io::Error::from_raw_os_error` where std has one that can be
/// matched; `EMSGSIZE` (too long) and `EAFNOSUPPORT` (an address of the other family) are
/// `InvalidInput`, `EDESTADDRREQ` is `NotConnected`, `ENOBUFS` is `OutOfMemory` and
/// `EHOSTDOWN` is `HostUnreachable`.
pub(crate) fn send_error_kind(code: i32, addressed: bool) -> Option<io::ErrorKind> {
    use io::ErrorKind as K;
    let kind = match code {
        libc::EMSGSIZE | libc::EAFNOSUPPORT => K::InvalidInput,
        libc::EDESTADDRREQ => K::NotConnected,
        libc::ENOBUFS => K::OutOfMemory,
        libc::EHOSTDOWN => K::HostUnreachable,
        libc::ECONNREFUSED if addressed => K::ConnectionRefused,
        libc::EINVAL
        | libc::EACCES
        | libc::EPERM
        | libc::EADDRNOTAVAIL
        | libc::ENETUNREACH
        | libc::EHOSTUNREACH
        | libc::ENETDOWN
        | libc::ENOMEM
        | libc::ENOENT
        | libc::ENOTDIR
        | libc::ELOOP
        | libc::ENAMETOOLONG
        | libc::EPROTOTYPE => io::Error::from_raw_os_error(code).kind(),
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::send_error_kind;
    use std::io::ErrorKind as K;

    #[test]
    fn send_errors_of_one_datagram_keep_the_socket_and_say_what() {
        assert_eq!(send_error_kind(libc::EMSGSIZE, true), Some(K::InvalidInput));
        assert_eq!(
            send_error_kind(libc::EMSGSIZE, false),
            Some(K::InvalidInput)
        );
        assert_eq!(send_error_kind(libc::EINVAL, true), Some(K::InvalidInput));
        assert_eq!(
            send_error_kind(libc::EACCES, true),
            Some(K::PermissionDenied)
        );
        assert_eq!(
            send_error_kind(libc::ENETUNREACH, true),
            Some(K::NetworkUnreachable)
        );
        assert_eq!(send_error_kind(libc::ENOENT, true), Some(K::NotFound));
        assert_eq!(
            send_error_kind(libc::ECONNREFUSED, true),
            Some(K::ConnectionRefused)
        );
        // The peer of a connected socket is gone; a socket that no longer works.
        assert_eq!(send_error_kind(libc::ECONNREFUSED, false), None);
        assert_eq!(send_error_kind(libc::EPIPE, false), None);
        assert_eq!(send_error_kind(libc::EBADF, true), None);
    }
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
