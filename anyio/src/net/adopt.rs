//! Adopting a socket made elsewhere (AnyIO's `from_socket`): the checks that the socket is
//! of the kind the adopting type needs, with AnyIO's messages, before it is registered.
//!
//! Each `from_std`/`from_fd` constructor takes the descriptor's ownership, so a socket that
//! fails a check is closed; the errors are `InvalidInput` because the argument is wrong, not
//! the system.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use socket2::{Socket, Type};

/// The address families an adopting type accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4 or IPv6.
    Ip,
    /// UNIX domain.
    Unix,
}

/// What the socket must already be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Connected to a peer.
    Connected,
    /// Bound to a local address (an unbound datagram socket has nobody to hear from).
    Bound,
    /// Bound and listening.
    Listening,
    /// Anything: an unbound UNIX datagram socket can still send.
    Any,
}

/// Checks that `fd` is a socket of type `ty`, of `family`, in `state`, and returns it.
///
/// The type and family come first: they say the most about a wrong argument.
pub(crate) fn adopt(fd: OwnedFd, ty: Type, family: Family, state: State) -> io::Result<Socket> {
    let socket = Socket::from(fd);
    let actual = socket.r#type().map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTSOCK) {
            invalid("the file descriptor does not refer to a socket")
        } else {
            e
        }
    })?;
    if actual != ty {
        return Err(invalid(format!(
            "socket type mismatch: expected {}, got {}",
            type_name(ty),
            type_name(actual)
        )));
    }
    let local = socket.local_addr()?;
    let actual = libc::c_int::from(local.family());
    let fits = match family {
        Family::Ip => actual == libc::AF_INET || actual == libc::AF_INET6,
        Family::Unix => actual == libc::AF_UNIX,
    };
    if !fits {
        let expected = match family {
            Family::Ip => "AF_INET or AF_INET6",
            Family::Unix => "AF_UNIX",
        };
        return Err(invalid(format!(
            "address family mismatch: expected {expected}, got {}",
            family_name(actual)
        )));
    }
    let bound = match local.as_socket() {
        Some(ip) => ip.port() != 0,
        None => !local.is_unnamed(),
    };
    match state {
        State::Connected => {
            if socket.peer_addr().is_err() {
                return Err(invalid("the socket must be connected"));
            }
        }
        State::Bound | State::Listening if !bound => {
            return Err(invalid("the socket must be bound to a local address"));
        }
        State::Listening if !is_listening(&socket)? => {
            return Err(invalid("the socket must be listening"));
        }
        State::Bound | State::Listening | State::Any => {}
    }
    Ok(socket)
}

/// Whether `listen` was called on `socket` (`SO_ACCEPTCONN`).
fn is_listening(socket: &Socket) -> io::Result<bool> {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor, and a pointer to an int with its length, which is what
    // `SO_ACCEPTCONN` writes.
    let res = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if res == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(on != 0)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// A socket type as C and Python name it.
fn type_name(ty: Type) -> String {
    match ty {
        Type::STREAM => "SOCK_STREAM".to_owned(),
        Type::DGRAM => "SOCK_DGRAM".to_owned(),
        Type::SEQPACKET => "SOCK_SEQPACKET".to_owned(),
        Type::RAW => "SOCK_RAW".to_owned(),
        other => format!("socket type {}", libc::c_int::from(other)),
    }
}

/// An address family as C and Python name it.
fn family_name(family: libc::c_int) -> String {
    match family {
        libc::AF_INET => "AF_INET".to_owned(),
        libc::AF_INET6 => "AF_INET6".to_owned(),
        libc::AF_UNIX => "AF_UNIX".to_owned(),
        other => format!("address family {other}"),
    }
}
