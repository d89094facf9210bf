//! `create_tcp_listener`: AnyIO's rule 17, one listening socket per local address, all on
//! one port.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::addr::AddressFamily;
use super::dns::resolve_stream;
use super::error::context;
use super::tcp::SocketListener;
use crate::stream::MultiListener;

/// The largest backlog asked of the OS (AnyIO's cap).
const MAX_BACKLOG: u32 = 65536;

/// How many times a set of listeners is rebuilt on a fresh port when another program took
/// the port of the first for one of the others.
const PORT_RETRIES: usize = 10;

/// How to listen: a builder of [`create_tcp_listener`] calls with options.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use anyio::net::{AddressFamily, TcpListenerOptions};
/// let listener = TcpListenerOptions::new()
///     .local_host("localhost")
///     .family(AddressFamily::Ipv4)
///     .backlog(128)
///     .bind()
///     .await?;
/// # drop(listener); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TcpListenerOptions {
    local_host: Option<String>,
    local_port: u16,
    family: Option<AddressFamily>,
    backlog: u32,
    reuse_port: bool,
}

impl Default for TcpListenerOptions {
    fn default() -> Self {
        TcpListenerOptions {
            local_host: None,
            local_port: 0,
            family: None,
            backlog: MAX_BACKLOG,
            reuse_port: false,
        }
    }
}

impl TcpListenerOptions {
    /// Every interface, a port the OS chooses, both families, the largest backlog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens on the addresses of this name or IP literal only.
    pub fn local_host(mut self, host: impl Into<String>) -> Self {
        self.local_host = Some(host.into());
        self
    }

    /// Listens on this port (0, the default, lets the OS choose one port for every address).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = port;
        self
    }

    /// Listens on addresses of this family only. [`AddressFamily::Unix`] is refused when
    /// binding: use [`create_unix_listener`](super::create_unix_listener).
    pub fn family(mut self, family: AddressFamily) -> Self {
        self.family = Some(family);
        self
    }

    /// The listen backlog (capped at 65536, the default).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEPORT`, so several processes (or listeners) can share the port.
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// Creates the listeners; see [`create_tcp_listener`].
    ///
    /// # Errors
    ///
    /// As [`create_tcp_listener`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call leaves no socket open.
    pub async fn bind(&self) -> io::Result<MultiListener<SocketListener>> {
        if self.family == Some(AddressFamily::Unix) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TCP listener cannot be of the UNIX family",
            ));
        }
        let addrs = match &self.local_host {
            None if self.family.is_none() => {
                match self.listen_all(&[dual_stack(self.local_port)]) {
                    Ok(listeners) => return Ok(MultiListener::new(listeners)),
                    // No IPv6 on this host: listen on IPv4 alone.
                    Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                        vec![SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.local_port)]
                    }
                    Err(e) => return Err(e),
                }
            }
            None => vec![match self.family {
                Some(AddressFamily::Ipv6) => {
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.local_port)
                }
                _ => SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.local_port),
            }],
            Some(host) => match host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, self.local_port)],
                Err(_) => resolve_stream(host, self.local_port, self.family).await?,
            },
        };
        let addrs: Vec<Bind> = addrs.into_iter().map(Bind::Single).collect();
        self.listen_all(&addrs).map(MultiListener::new)
    }

    /// One listener per address, all on one port: the first address's port, when the OS
    /// chose it; rebuilt on a fresh port when another program holds it on a later address.
    fn listen_all(&self, addrs: &[Bind]) -> io::Result<Vec<SocketListener>> {
        let retries = if self.local_port == 0 && addrs.len() > 1 {
            PORT_RETRIES
        } else {
            1
        };
        for _ in 0..retries {
            let mut listeners = Vec::with_capacity(addrs.len());
            let mut port = self.local_port;
            let mut clash = false;
            for bind in addrs {
                match self.listen_one(bind, port) {
                    Ok((listener, local)) => {
                        port = local.port();
                        listeners.push(listener);
                    }
                    Err(e)
                        if retries > 1
                            && !listeners.is_empty()
                            && e.kind() == io::ErrorKind::AddrInUse =>
                    {
                        clash = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !clash {
                return Ok(listeners);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "Could not create {} listeners with a consistent port",
                addrs.len()
            ),
        ))
    }

    fn listen_one(&self, bind: &Bind, port: u16) -> io::Result<(SocketListener, SocketAddr)> {
        let mut addr = bind.addr();
        addr.set_port(port);
        let what = || format!("listening on {addr}");
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| context(e, what))?;
        socket
            .set_reuse_address(true)
            .map_err(|e| context(e, what))?;
        if self.reuse_port {
            socket.set_reuse_port(true).map_err(|e| context(e, what))?;
        }
        if addr.is_ipv6() {
            let dual = matches!(bind, Bind::DualStack(_));
            socket.set_only_v6(!dual).map_err(|e| context(e, what))?;
        }
        socket.bind(&addr.into()).map_err(|e| context(e, what))?;
        let backlog = self.backlog.min(MAX_BACKLOG) as i32;
        socket.listen(backlog).map_err(|e| context(e, what))?;
        let local = socket
            .local_addr()
            .map_err(|e| context(e, what))?
            .as_socket()
            .unwrap_or(addr);
        Ok((SocketListener::new(socket, local)?, local))
    }
}

/// One address to listen on.
enum Bind {
    /// `[::]` taking IPv4 connections as well (`IPV6_V6ONLY` off).
    DualStack(SocketAddr),
    /// Exactly this address (`IPV6_V6ONLY` on for IPv6).
    Single(SocketAddr),
}

impl Bind {
    fn addr(&self) -> SocketAddr {
        match self {
            Bind::DualStack(a) | Bind::Single(a) => *a,
        }
    }
}

fn dual_stack(port: u16) -> Bind {
    Bind::DualStack(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
}

/// Listens for TCP connections on every interface, both IPv4 and IPv6, on `local_port` (0:
/// one port the OS chooses), or on the addresses of `local_host` only (AnyIO's rule 17).
///
/// - No host and no family: one dual-stack socket on `[::]` when the system has IPv6, else
///   one on `0.0.0.0`.
/// - Otherwise one socket per address, all on the same port. When the OS chose the port and
///   another program holds it on one of the other addresses, the set is rebuilt on a fresh
///   port, up to 10 times.
/// - `SO_REUSEADDR` is set; the backlog is 65536.
///
/// For a family, a backlog or `SO_REUSEPORT`, use [`TcpListenerOptions`].
///
/// # Errors
///
/// The resolver's error for a name that does not resolve; the OS's error, with the address,
/// when a socket cannot be created, bound or set listening; `AddrInUse` "Could not create N
/// listeners with a consistent port" when no port served every address.
///
/// # Cancel safety
///
/// Cancel safe: a cancelled call leaves no socket open.
pub async fn create_tcp_listener(
    local_host: Option<&str>,
    local_port: u16,
) -> io::Result<MultiListener<SocketListener>> {
    let mut options = TcpListenerOptions::new().local_port(local_port);
    if let Some(host) = local_host {
        options = options.local_host(host);
    }
    options.bind().await
}
