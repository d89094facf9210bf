//! Socket addresses and the attributes every socket exposes (AnyIO's `SocketAttribute`).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use socket2::{Domain, SockAddr, SockRef};

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
    /// UNIX domain (`AF_UNIX`).
    Unix,
}

impl AddressFamily {
    pub(crate) fn of(addr: &SocketAddr) -> AddressFamily {
        match addr {
            SocketAddr::V4(_) => AddressFamily::Ipv4,
            SocketAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// The address of a socket: an IP address and port, or a UNIX socket address (a path, an
/// abstract name, or unnamed).
#[derive(Clone, Debug)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 socket address.
    Ip(SocketAddr),
    /// A UNIX domain socket address.
    Unix(std::os::unix::net::SocketAddr),
}

impl SocketAddress {
    /// The IP socket address, if this is one.
    pub fn as_ip(&self) -> Option<SocketAddr> {
        match self {
            SocketAddress::Ip(a) => Some(*a),
            SocketAddress::Unix(_) => None,
        }
    }

    /// The UNIX socket address, if this is one.
    pub fn as_unix(&self) -> Option<&std::os::unix::net::SocketAddr> {
        match self {
            SocketAddress::Ip(_) => None,
            SocketAddress::Unix(a) => Some(a),
        }
    }

    pub(crate) fn from_sockaddr(addr: &SockAddr) -> io::Result<SocketAddress> {
        if let Some(ip) = addr.as_socket() {
            return Ok(SocketAddress::Ip(ip));
        }
        if addr.is_unix() {
            return super::unix::unix_socket_address(addr);
        }
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the socket address is neither IP nor UNIX",
        ))
    }
}

impl PartialEq for SocketAddress {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SocketAddress::Ip(a), SocketAddress::Ip(b)) => a == b,
            (SocketAddress::Unix(_), SocketAddress::Unix(_)) => {
                self.to_string() == other.to_string()
            }
            _ => false,
        }
    }
}

impl From<SocketAddr> for SocketAddress {
    fn from(addr: SocketAddr) -> Self {
        SocketAddress::Ip(addr)
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Ip(a) => write!(f, "{a}"),
            SocketAddress::Unix(a) => describe_unix(a, f),
        }
    }
}

fn describe_unix(a: &std::os::unix::net::SocketAddr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = a.as_abstract_name() {
            return write!(f, "@{}", String::from_utf8_lossy(name));
        }
    }
    match a.as_pathname() {
        Some(path) => write!(f, "{}", path.display()),
        None => f.write_str("(unnamed)"),
    }
}

/// What every socket of this crate tells about itself (AnyIO's `SocketAttribute`): its
/// family, addresses and ports, and the socket itself for options.
///
/// Only [`raw_socket`](SocketAttributes::raw_socket) is required; the rest are read from it.
pub trait SocketAttributes {
    /// The socket, to read or set options through `socket2` (the descriptor stays owned
    /// by this object).
    fn raw_socket(&self) -> SockRef<'_>;

    /// The socket's address family.
    fn family(&self) -> io::Result<AddressFamily> {
        let domain = self.raw_socket().domain()?;
        if domain == Domain::IPV4 {
            Ok(AddressFamily::Ipv4)
        } else if domain == Domain::IPV6 {
            Ok(AddressFamily::Ipv6)
        } else if domain == Domain::UNIX {
            Ok(AddressFamily::Unix)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the socket's family is neither IP nor UNIX",
            ))
        }
    }

    /// The address this socket is bound to.
    fn local_address(&self) -> io::Result<SocketAddress> {
        SocketAddress::from_sockaddr(&self.raw_socket().local_addr()?)
    }

    /// The port this socket is bound to (IP sockets only; `InvalidInput` otherwise).
    fn local_port(&self) -> io::Result<u16> {
        ip_port(self.local_address()?)
    }

    /// The address of the peer this socket is connected to (`NotConnected` if none).
    fn remote_address(&self) -> io::Result<SocketAddress> {
        SocketAddress::from_sockaddr(&self.raw_socket().peer_addr()?)
    }

    /// The peer's port (connected IP sockets only; `InvalidInput` for other sockets).
    fn remote_port(&self) -> io::Result<u16> {
        ip_port(self.remote_address()?)
    }
}

fn ip_port(addr: SocketAddress) -> io::Result<u16> {
    addr.as_ip()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "only IP sockets have a port"))
}
