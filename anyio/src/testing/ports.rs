//! Free ports for tests: AnyIO's `free_tcp_port` and `free_udp_port` factories.
//!
//! A port is asked from the system by binding port 0 on 127.0.0.1, then checked: the same
//! port must also bind on ::1 (when this host has IPv6 at all), so a test can listen on
//! either loopback address, and it must not have been handed out before in this process.
//! Every factory of a kind shares one process-wide registry, so two tests running in
//! parallel never get the same port from here. The sockets are closed before the port is
//! returned: another process may still take it in between, which no check can prevent.
//! This uses blocking `std::net` sockets on purpose: binding is immediate, needs no run,
//! and a port can be asked for before a run starts.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock, PoisonError};

/// How many ports the system may offer before [`FreePortFactory::next_port`] gives up.
const ATTEMPTS: usize = 100;

/// The transport a port is free for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// TCP: the port binds a listener.
    Tcp,
    /// UDP: the port binds a datagram socket.
    Udp,
}

impl PortKind {
    /// Binds `address` and returns the bound port, holding the socket in the result.
    fn bind(self, address: SocketAddr) -> io::Result<(u16, Box<dyn std::any::Any>)> {
        match self {
            PortKind::Tcp => {
                let socket = TcpListener::bind(address)?;
                Ok((socket.local_addr()?.port(), Box::new(socket)))
            }
            PortKind::Udp => {
                let socket = UdpSocket::bind(address)?;
                Ok((socket.local_addr()?.port(), Box::new(socket)))
            }
        }
    }

    /// The ports of this kind already handed out in this process.
    fn registry(self) -> &'static Mutex<HashSet<u16>> {
        static TCP: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
        static UDP: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
        let cell = match self {
            PortKind::Tcp => &TCP,
            PortKind::Udp => &UDP,
        };
        cell.get_or_init(Mutex::default)
    }
}

/// Hands out free ports of one kind, never the same port twice in this process (AnyIO's
/// `free_tcp_port_factory` and `free_udp_port_factory`).
///
/// ```
/// use anyio::testing::FreePortFactory;
///
/// let ports = FreePortFactory::tcp();
/// let (a, b) = (ports.next_port()?, ports.next_port()?);
/// assert_ne!(a, b);
/// std::net::TcpListener::bind(("127.0.0.1", a))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FreePortFactory {
    kind: PortKind,
}

impl FreePortFactory {
    /// A factory of ports of `kind`.
    pub fn new(kind: PortKind) -> Self {
        FreePortFactory { kind }
    }

    /// A factory of TCP ports.
    pub fn tcp() -> Self {
        Self::new(PortKind::Tcp)
    }

    /// A factory of UDP ports.
    pub fn udp() -> Self {
        Self::new(PortKind::Udp)
    }

    /// The kind of port it hands out.
    pub fn kind(&self) -> PortKind {
        self.kind
    }

    /// A port that was free on 127.0.0.1 and (if this host has IPv6) on ::1 a moment ago,
    /// and that no factory of this kind has handed out before in this process.
    ///
    /// # Errors
    ///
    /// The error of binding 127.0.0.1, or an error of kind `AddrNotAvailable` if the
    /// system offered no suitable port in 100 attempts.
    pub fn next_port(&self) -> io::Result<u16> {
        let ipv6 = self.kind.bind((Ipv6Addr::LOCALHOST, 0).into()).is_ok();
        let mut registry = self
            .kind
            .registry()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for _ in 0..ATTEMPTS {
            let (port, _v4) = self.kind.bind((Ipv4Addr::LOCALHOST, 0).into())?;
            if registry.contains(&port) {
                continue;
            }
            if ipv6 && self.kind.bind((Ipv6Addr::LOCALHOST, port).into()).is_err() {
                continue;
            }
            registry.insert(port);
            return Ok(port);
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no free {:?} port found in {ATTEMPTS} attempts", self.kind),
        ))
    }
}

/// A free TCP port: [`FreePortFactory::tcp`]`().next_port()`.
///
/// # Errors
///
/// As [`FreePortFactory::next_port`].
pub fn free_tcp_port() -> io::Result<u16> {
    FreePortFactory::tcp().next_port()
}

/// A free UDP port: [`FreePortFactory::udp`]`().next_port()`.
///
/// # Errors
///
/// As [`FreePortFactory::next_port`].
pub fn free_udp_port() -> io::Result<u16> {
    FreePortFactory::udp().next_port()
}
