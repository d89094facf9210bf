//! UDP: [`UdpSocket`] (AnyIO's `UDPSocket`, datagrams to and from anyone) and
//! [`ConnectedUdpSocket`] (AnyIO's `ConnectedUDPSocket`, datagrams with one peer), made by
//! [`create_udp_socket`], [`create_connected_udp_socket`] or [`UdpSocketOptions`].
//!
//! AnyIO's rules, kept here:
//!
//! - An unconnected socket needs a family or a local host to know what to bind: without
//!   either, `create_udp_socket` fails with 'Either "family" or "local_host" must be
//!   given'. A local host that is a name binds its first address (of the family, if one
//!   is given).
//! - A datagram is received whole, up to 65536 bytes.
//! - Errors follow rule 18: `ClosedResourceError` after this side's close (also for a
//!   receive blocked at that moment), `BusyResourceError` for two concurrent receives, and
//!   an OS error of a send or a receive is a `BrokenResourceError` with the OS error as its
//!   cause: on a connected socket, the ICMP "port unreachable" of an earlier datagram
//!   shows this way (`ECONNREFUSED`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::addr::AddressFamily;
use super::adopt::{Family, State, adopt};
use super::core::SocketCore;
use super::core::core_socket_traits;
use super::datagram::{self, IncomingDatagrams};
use super::dns::resolve_stream;
use super::error::context;
use super::tcp::{local_ip, peer_ip};
use crate::stream::{ObjectReceiveStream, ObjectSendStream};

/// How to create a UDP socket: a builder of [`create_udp_socket`] and
/// [`create_connected_udp_socket`] calls with AnyIO's options, and `SO_REUSEADDR`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use anyio::net::UdpSocketOptions;
/// // Several programs can receive a multicast group's datagrams on this port.
/// let socket = UdpSocketOptions::new()
///     .local_host("0.0.0.0")
///     .local_port(5353)
///     .reuse_address(true)
///     .bind()
///     .await?;
/// # drop(socket); Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct UdpSocketOptions {
    family: Option<AddressFamily>,
    local_host: Option<String>,
    local_port: u16,
    reuse_address: bool,
    reuse_port: bool,
}

impl UdpSocketOptions {
    /// No family, no local host, port 0 (one the OS chooses), no address reuse.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address family: of the unspecified address bound to when no local host is
    /// given, and of the addresses a local or remote name resolves to.
    /// [`AddressFamily::Unix`] is refused when the socket is made.
    pub fn family(mut self, family: AddressFamily) -> Self {
        self.family = Some(family);
        self
    }

    /// Binds to this IP literal or name (its first address).
    pub fn local_host(mut self, host: impl Into<String>) -> Self {
        self.local_host = Some(host.into());
        self
    }

    /// Binds to this port (0, the default, lets the OS choose).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = port;
        self
    }

    /// Sets `SO_REUSEADDR` before binding: on Linux, several sockets that all set it may
    /// bind one multicast or broadcast port and each receive every datagram to it.
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// Sets `SO_REUSEPORT` before binding, so several sockets (of this user) share the
    /// port; unicast datagrams are then spread among them.
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// Creates an unconnected socket; see [`create_udp_socket`].
    ///
    /// # Errors
    ///
    /// As [`create_udp_socket`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call leaves no socket open.
    pub async fn bind(&self) -> io::Result<UdpSocket> {
        self.refuse_unix()?;
        let local = match (&self.local_host, self.family) {
            (Some(host), family) => resolve_one(host, self.local_port, family).await?,
            (None, Some(AddressFamily::Ipv6)) => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.local_port)
            }
            (None, Some(_)) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.local_port),
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "Either \"family\" or \"local_host\" must be given",
                ));
            }
        };
        let socket = self.socket(local)?;
        let local = bound_address(&socket, local);
        let core = SocketCore::new(socket, local.to_string())
            .map_err(|e| context(e, || format!("binding a UDP socket to {local}")))?;
        Ok(UdpSocket { core })
    }

    /// Creates a socket connected to `remote_host` (an IP literal or a name, of the local
    /// host's family when one is given) on `remote_port`; see
    /// [`create_connected_udp_socket`].
    ///
    /// # Errors
    ///
    /// As [`create_connected_udp_socket`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call leaves no socket open.
    pub async fn connect(
        &self,
        remote_host: &str,
        remote_port: u16,
    ) -> io::Result<ConnectedUdpSocket> {
        self.refuse_unix()?;
        let mut family = self.family;
        let local = match &self.local_host {
            Some(host) => {
                let local = resolve_one(host, self.local_port, family).await?;
                family = Some(AddressFamily::of(&local));
                Some(local)
            }
            None => None,
        };
        let remote = resolve_one(remote_host, remote_port, family).await?;
        let local = local.or_else(|| {
            (self.local_port != 0).then(|| {
                let any = match remote {
                    SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                SocketAddr::new(any, self.local_port)
            })
        });
        let what = || format!("connecting a UDP socket to {remote}");
        let socket = match local {
            Some(local) => self.socket(local)?,
            None => new_udp(remote).map_err(|e| context(e, what))?,
        };
        socket
            .connect(&remote.into())
            .map_err(|e| context(e, what))?;
        let core = SocketCore::new(socket, remote.to_string()).map_err(|e| context(e, what))?;
        Ok(ConnectedUdpSocket { core })
    }

    fn refuse_unix(&self) -> io::Result<()> {
        if self.family == Some(AddressFamily::Unix) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a UDP socket cannot be of the UNIX family: use a UNIX datagram socket",
            ));
        }
        Ok(())
    }

    /// A UDP socket with the reuse options, bound to `local`.
    fn socket(&self, local: SocketAddr) -> io::Result<Socket> {
        let what = || format!("binding a UDP socket to {local}");
        let socket = new_udp(local).map_err(|e| context(e, what))?;
        if self.reuse_address {
            socket
                .set_reuse_address(true)
                .map_err(|e| context(e, what))?;
        }
        if self.reuse_port {
            socket.set_reuse_port(true).map_err(|e| context(e, what))?;
        }
        socket.bind(&local.into()).map_err(|e| context(e, what))?;
        Ok(socket)
    }
}

fn new_udp(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
}

/// The address `socket` was bound to (with the port the OS chose), else `asked`.
fn bound_address(socket: &Socket, asked: SocketAddr) -> SocketAddr {
    socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(asked)
}

/// The first address of `host` (an IP literal is taken as it is, without a lookup), of
/// `family` when one is given.
async fn resolve_one(
    host: &str,
    port: u16,
    family: Option<AddressFamily>,
) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, port);
        if let Some(family) = family {
            if family != AddressFamily::of(&addr) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{ip} is not an address of the {family:?} family"),
                ));
            }
        }
        return Ok(addr);
    }
    resolve_stream(host, port, family)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("resolving {:?}", super::error::clip(host)),
            )
        })
}

/// The sender of a received datagram as an IP address.
fn ip_sender(from: &SockAddr) -> io::Result<SocketAddr> {
    from.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a UDP datagram came from a non-IP address",
        )
    })
}

/// Creates an unconnected UDP socket, bound to `local_host` (an IP literal or a name: its
/// first address) or to the unspecified address of `family`, on `local_port` (0: a port the
/// OS chooses). AnyIO's `create_udp_socket`; for `SO_REUSEADDR` or `SO_REUSEPORT`, use
/// [`UdpSocketOptions`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let socket = anyio::net::create_udp_socket(None, Some("127.0.0.1"), 0).await?;
/// let (data, from) = socket.receive().await?;
/// socket.send_to(&data, from).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// `InvalidInput` 'Either "family" or "local_host" must be given' when neither is; also
/// `InvalidInput` for [`AddressFamily::Unix`] or an IP literal of another family than
/// `family`; the resolver's error for a name; the OS's error, with the address, when
/// binding fails (`AddrInUse`).
///
/// # Cancel safety
///
/// Cancel safe: a cancelled call leaves no socket open.
pub async fn create_udp_socket(
    family: Option<AddressFamily>,
    local_host: Option<&str>,
    local_port: u16,
) -> io::Result<UdpSocket> {
    let mut options = UdpSocketOptions::new().local_port(local_port);
    if let Some(family) = family {
        options = options.family(family);
    }
    if let Some(host) = local_host {
        options = options.local_host(host);
    }
    options.bind().await
}

/// Creates a UDP socket connected to `remote_host` (an IP literal or a name: its first
/// address) on `remote_port`, bound to a local address the OS chooses. AnyIO's
/// `create_connected_udp_socket`; for a local host or port, a family or address reuse, use
/// [`UdpSocketOptions::connect`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let socket = anyio::net::create_connected_udp_socket("127.0.0.1", 1234).await?;
/// socket.send(b"Hi there!\n").await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The resolver's error for a name; the OS's error, with the address, when the socket
/// cannot be made or connected.
///
/// # Cancel safety
///
/// Cancel safe: a cancelled call leaves no socket open.
pub async fn create_connected_udp_socket(
    remote_host: &str,
    remote_port: u16,
) -> io::Result<ConnectedUdpSocket> {
    UdpSocketOptions::new()
        .connect(remote_host, remote_port)
        .await
}

/// An unconnected UDP socket (AnyIO's `UDPSocket`): it receives datagrams from anyone, each
/// with its sender's address, and sends each datagram to an address of the caller's
/// choice.
///
/// Every method takes `&self`: one task may receive while another sends, and any task may
/// close it. It is an [`ObjectReceiveStream`] and an [`ObjectSendStream`] of `(datagram,
/// address)` pairs, and its received datagrams are a
/// [`Stream`](futures_core::Stream) through [`incoming`](UdpSocket::incoming).
#[derive(Debug)]
pub struct UdpSocket {
    core: SocketCore,
}

impl UdpSocket {
    /// Adopts a bound UDP socket made elsewhere (AnyIO's `UDPSocket.from_socket`): it is
    /// made non-blocking and registered with the current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_fd(OwnedFd::from(socket))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a bound UDP socket. A socket that fails a check is closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_DGRAM, got SOCK_STREAM", "address
    /// family mismatch: expected AF_INET or AF_INET6, got AF_UNIX", "the socket must be
    /// bound to a local address". The OS's error if it cannot be registered. Like every
    /// socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<UdpSocket> {
        let socket = adopt(fd, Type::DGRAM, Family::Ip, State::Bound)?;
        let local = local_ip(&socket)?;
        Ok(UdpSocket {
            core: SocketCore::new(socket, local.to_string())?,
        })
    }

    /// Waits for the next datagram and returns it (at most 65536 bytes; a datagram may be
    /// empty) with the address it came from.
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`](crate::ClosedResourceError) once this socket is closed (also
    /// when that happens during the wait), [`BusyResourceError`](crate::BusyResourceError)
    /// when another task is receiving, [`Cancelled`](crate::Cancelled), and
    /// [`BrokenResourceError`](crate::BrokenResourceError) with the OS error as its cause.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is either returned or left for the next receive.
    pub async fn receive(&self) -> io::Result<(Vec<u8>, SocketAddr)> {
        let (data, from) = datagram::receive_from(&self.core, "receiving on").await?;
        Ok((data, ip_sender(&from)?))
    }

    /// Sends `data` as one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`](crate::ClosedResourceError) once this socket is closed,
    /// [`BusyResourceError`](crate::BusyResourceError) when another task is sending,
    /// [`Cancelled`](crate::Cancelled), and the OS error, with the address in its message,
    /// when the send fails for this datagram only: `InvalidInput` for a datagram too long
    /// (`EMSGSIZE` is its [`os_error`](crate::stream::IoErrorExt::os_error)), for port 0 or
    /// an address of the other family (`EINVAL`, `EAFNOSUPPORT`), `PermissionDenied` for a
    /// broadcast address without [`set_broadcast`](Self::set_broadcast) (`EACCES`),
    /// `NetworkUnreachable` and the like. The socket goes on working after those. A
    /// [`BrokenResourceError`](crate::BrokenResourceError) with the OS error as its cause
    /// when the socket itself fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is sent whole or not at all.
    pub async fn send_to(&self, data: &[u8], addr: SocketAddr) -> io::Result<()> {
        let core = &self.core;
        datagram::send(core, data, Some(&addr.into()), || {
            format!("sending to {addr} from")
        })
        .await
    }

    /// Sends `data` as one datagram to `host` (an IP literal, or a name resolved to its
    /// first address of this socket's family) on `port`. AnyIO's `sendto`.
    ///
    /// # Errors
    ///
    /// The resolver's error for a name, and those of [`send_to`](Self::send_to).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is sent whole or not at all.
    pub async fn sendto(&self, data: &[u8], host: &str, port: u16) -> io::Result<()> {
        let family = super::SocketAttributes::family(self).ok();
        let addr = resolve_one(host, port, family).await?;
        self.send_to(data, addr).await
    }

    /// The received datagrams as a [`Stream`](futures_core::Stream) of what
    /// [`receive`](Self::receive) returns; it never ends by itself.
    pub fn incoming(&self) -> IncomingDatagrams<'_, (Vec<u8>, SocketAddr)> {
        IncomingDatagrams::new(&self.core, "receiving on", |data, from| {
            Ok((data, ip_sender(&from)?))
        })
    }

    /// Closes the socket; see
    /// [`AsyncResource::aclose`](crate::stream::AsyncResource::aclose).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.core.close();
        Ok(())
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with the address
    /// `interface` (`0.0.0.0`: the one the OS chooses).
    ///
    /// # Errors
    ///
    /// The OS's error (`EADDRNOTAVAIL` for an interface address that is not one, `EINVAL`
    /// for an address that is not a multicast one).
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.socket()
            .join_multicast_v4(&multiaddr, &interface)
            .map_err(|e| {
                context(e, || {
                    format!("joining the multicast group {multiaddr} on {interface}")
                })
            })
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](Self::join_multicast_v4).
    ///
    /// # Errors
    ///
    /// The OS's error (`EADDRNOTAVAIL` for a group not joined).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.socket()
            .leave_multicast_v4(&multiaddr, &interface)
            .map_err(|e| {
                context(e, || {
                    format!("leaving the multicast group {multiaddr} on {interface}")
                })
            })
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface of index `interface`
    /// (0: the one the OS chooses).
    ///
    /// # Errors
    ///
    /// The OS's error (`ENODEV` for no such interface, `EINVAL` for an address that is not
    /// a multicast one).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.socket()
            .join_multicast_v6(multiaddr, interface)
            .map_err(|e| {
                context(e, || {
                    format!("joining the multicast group {multiaddr} on interface {interface}")
                })
            })
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](Self::join_multicast_v6).
    ///
    /// # Errors
    ///
    /// The OS's error (`EADDRNOTAVAIL` for a group not joined).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.socket()
            .leave_multicast_v6(multiaddr, interface)
            .map_err(|e| {
                context(e, || {
                    format!("leaving the multicast group {multiaddr} on interface {interface}")
                })
            })
    }

    /// Whether this socket receives its own IPv4 multicast datagrams
    /// (`IP_MULTICAST_LOOP`, on by default).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.socket().set_multicast_loop_v4(on)
    }

    /// The value set with [`set_multicast_loop_v4`](Self::set_multicast_loop_v4).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.socket().multicast_loop_v4()
    }

    /// Whether this socket receives its own IPv6 multicast datagrams
    /// (`IPV6_MULTICAST_LOOP`, on by default).
    ///
    /// # Errors
    ///
    /// The OS's error (on an IPv4 socket, say).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.socket().set_multicast_loop_v6(on)
    }

    /// The value set with [`set_multicast_loop_v6`](Self::set_multicast_loop_v6).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.socket().multicast_loop_v6()
    }

    /// How many routers this socket's IPv4 multicast datagrams may cross
    /// (`IP_MULTICAST_TTL`; 1 by default: the local network only).
    ///
    /// # Errors
    ///
    /// The OS's error (`EINVAL` above 255).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.socket().set_multicast_ttl_v4(ttl)
    }

    /// The value set with [`set_multicast_ttl_v4`](Self::set_multicast_ttl_v4).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.socket().multicast_ttl_v4()
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`, off by default).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.socket().set_broadcast(on)
    }

    /// The value set with [`set_broadcast`](Self::set_broadcast).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.socket().broadcast()
    }

    fn socket(&self) -> &Socket {
        self.core.socket()
    }
}

/// A UDP socket connected to one peer (AnyIO's `ConnectedUDPSocket`): it sends only to that
/// peer and receives only from it.
///
/// Every method takes `&self`: one task may receive while another sends, and any task may
/// close it. It is an [`ObjectReceiveStream`] and an [`ObjectSendStream`] of datagrams, and
/// its received datagrams are a [`Stream`](futures_core::Stream) through
/// [`incoming`](ConnectedUdpSocket::incoming).
#[derive(Debug)]
pub struct ConnectedUdpSocket {
    core: SocketCore,
}

impl ConnectedUdpSocket {
    /// Adopts a connected UDP socket made elsewhere (AnyIO's
    /// `ConnectedUDPSocket.from_socket`): it is made non-blocking and registered with the
    /// current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<ConnectedUdpSocket> {
        ConnectedUdpSocket::from_fd(OwnedFd::from(socket))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a connected UDP socket. A socket that fails a check is closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_DGRAM, got SOCK_STREAM", "address
    /// family mismatch: expected AF_INET or AF_INET6, got AF_UNIX", "the socket must be
    /// connected". The OS's error if it cannot be registered. Like every socket of
    /// this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<ConnectedUdpSocket> {
        let socket = adopt(fd, Type::DGRAM, Family::Ip, State::Connected)?;
        let peer = peer_ip(&socket)?;
        Ok(ConnectedUdpSocket {
            core: SocketCore::new(socket, peer.to_string())?,
        })
    }

    /// Waits for the next datagram from the peer (at most 65536 bytes; it may be empty).
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::receive`]. An ICMP "port unreachable" for an earlier datagram (nobody
    /// receives at the peer's address) is a
    /// [`BrokenResourceError`](crate::BrokenResourceError) caused by `ECONNREFUSED`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is either returned or left for the next receive.
    pub async fn receive(&self) -> io::Result<Vec<u8>> {
        let (data, _) = datagram::receive_from(&self.core, "receiving from").await?;
        Ok(data)
    }

    /// Sends `data` as one datagram to the peer.
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::send_to`]; an ICMP "port unreachable" for an earlier datagram may
    /// show here too, as a [`BrokenResourceError`](crate::BrokenResourceError) caused by
    /// `ECONNREFUSED`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is sent whole or not at all.
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        datagram::send(&self.core, data, None, || "sending to".to_owned()).await
    }

    /// The datagrams received from the peer as a [`Stream`](futures_core::Stream) of what
    /// [`receive`](Self::receive) returns; it never ends by itself.
    pub fn incoming(&self) -> IncomingDatagrams<'_, Vec<u8>> {
        IncomingDatagrams::new(&self.core, "receiving from", |data, _| Ok(data))
    }

    /// Closes the socket; see
    /// [`AsyncResource::aclose`](crate::stream::AsyncResource::aclose).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.core.close();
        Ok(())
    }
}

core_socket_traits!(UdpSocket);
core_socket_traits!(ConnectedUdpSocket);

impl ObjectReceiveStream<(Vec<u8>, SocketAddr)> for UdpSocket {
    fn receive(
        &self,
    ) -> impl std::future::Future<Output = io::Result<(Vec<u8>, SocketAddr)>> + Send {
        UdpSocket::receive(self)
    }
}

impl ObjectSendStream<(Vec<u8>, SocketAddr)> for UdpSocket {
    async fn send(&self, (data, addr): (Vec<u8>, SocketAddr)) -> io::Result<()> {
        self.send_to(&data, addr).await
    }
}

impl ObjectReceiveStream<Vec<u8>> for ConnectedUdpSocket {
    fn receive(&self) -> impl std::future::Future<Output = io::Result<Vec<u8>>> + Send {
        ConnectedUdpSocket::receive(self)
    }
}

impl ObjectSendStream<Vec<u8>> for ConnectedUdpSocket {
    async fn send(&self, data: Vec<u8>) -> io::Result<()> {
        ConnectedUdpSocket::send(self, &data).await
    }
}
