//! `connect_tcp` with Happy Eyeballs (RFC 6555, stateless, as AnyIO does it: rule 16).
//!
//! Neither backend has it, so it is written here on the crate's own parts: one task per
//! attempt in a task group, and an event per attempt that lets the next attempt start as
//! soon as the previous one fails rather than after the whole delay.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::addr::AddressFamily;
use super::dns::resolve_stream;
use super::tcp::SocketStream;
use crate::cancel::current;
// Named by the docs; the code reports the cancellation it observes.
#[cfg(doc)]
use crate::cancel::error::Cancelled;
use crate::cancel::error::IsCancelled;
use crate::sync::event::Event;
use crate::task::group::TaskGroup;
use crate::time::move_on_after;

/// How long an attempt has before the next one starts alongside it: RFC 6555's and AnyIO's
/// 250 ms.
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// How to connect: a builder of [`connect_tcp`] calls with options.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// let stream = anyio::net::TcpConnector::new()
///     .local_host("127.0.0.1")
///     .happy_eyeballs_delay(Duration::from_millis(100))
///     .connect("localhost", 8000)
///     .await?;
/// # drop(stream); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TcpConnector {
    local_host: Option<String>,
    local_port: u16,
    delay: Duration,
    #[cfg(feature = "tls")]
    pub(super) tls_hostname: Option<String>,
    #[cfg(feature = "tls")]
    pub(super) autostart_tls: bool,
}

impl Default for TcpConnector {
    fn default() -> Self {
        TcpConnector {
            local_host: None,
            local_port: 0,
            delay: DEFAULT_HAPPY_EYEBALLS_DELAY,
            #[cfg(feature = "tls")]
            tls_hostname: None,
            #[cfg(feature = "tls")]
            autostart_tls: true,
        }
    }
}

impl TcpConnector {
    /// No local address, the default delay of 250 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects from this local address (a name is resolved; its first address is used, and
    /// only remote addresses of the same family are tried).
    pub fn local_host(mut self, host: impl Into<String>) -> Self {
        self.local_host = Some(host.into());
        self
    }

    /// Connects from this local port (0, the default, lets the OS choose).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = port;
        self
    }

    /// How long each attempt runs alone before the next one starts (default 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Connects to `host` (a name or an IP literal) on `port`; see [`connect_tcp`].
    ///
    /// # Errors
    ///
    /// As [`connect_tcp`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped connect leaves no connection open.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<SocketStream> {
        let local = match &self.local_host {
            Some(name) => Some(local_address(name, self.local_port).await?),
            None => None,
        };
        let family = local.map(|a| AddressFamily::of(&a));
        let bind = |remote: &SocketAddr| match local {
            Some(addr) => Some(addr),
            None if self.local_port != 0 => Some(unspecified(remote, self.local_port)),
            None => None,
        };

        // An IP literal is one attempt, without DNS.
        if let Ok(ip) = host.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, port);
            return match SocketStream::connect_addr(addr, bind(&addr)).await {
                Ok(stream) => Ok(stream),
                Err(err) if err.is_cancelled() => Err(err),
                Err(err) => Err(ConnectionFailed::new(host, port, vec![(addr, err)]).into()),
            };
        }
        let resolved = resolve_stream(host, port, family).await?;
        let targets: Vec<(SocketAddr, Option<SocketAddr>)> = interleave(resolved)
            .into_iter()
            .map(|a| (a, bind(&a)))
            .collect();
        race(host, port, targets, self.delay).await
    }
}

/// Connects to `host` (a name or an IP literal) on `port` with Happy Eyeballs, and returns
/// the first connection made, with `TCP_NODELAY` on.
///
/// An IP literal is a single attempt, without DNS. A name is resolved, and its addresses
/// are tried in this order: the first IPv6 address, the first IPv4 address, then the rest
/// as the resolver gave them. Each attempt starts when the previous one fails or after 250
/// ms ([`TcpConnector::happy_eyeballs_delay`]), whichever comes first; the first to connect
/// wins, the others are cancelled, and one that connects late is closed.
///
/// For a local address or another delay, use [`TcpConnector`].
///
/// # Errors
///
/// - The resolver's error if the name does not resolve;
/// - [`ConnectionFailed`] (inside the `io::Error`, whose kind is the first attempt's) with
///   every attempt's address and error, when all failed;
/// - [`Cancelled`] if the calling code is cancelled first.
///
/// # Cancel safety
///
/// Cancel safe: a cancelled or dropped connect leaves no connection open.
pub async fn connect_tcp(host: &str, port: u16) -> io::Result<SocketStream> {
    TcpConnector::new().connect(host, port).await
}

/// The local address to bind: the first address `host` resolves to.
async fn local_address(host: &str, port: u16) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    Ok(resolve_stream(host, port, None).await?[0])
}

/// The unspecified address of `remote`'s family, on `port`.
fn unspecified(remote: &SocketAddr, port: u16) -> SocketAddr {
    match remote {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
    }
}

/// The order of attempts: the first IPv6 address, the first IPv4 address, then the rest in
/// the resolver's order.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut ordered = Vec::with_capacity(addrs.len());
    if let Some(v6) = addrs.iter().find(|a| a.is_ipv6()) {
        ordered.push(*v6);
    }
    if let Some(v4) = addrs.iter().find(|a| a.is_ipv4()) {
        ordered.push(*v4);
    }
    for addr in addrs {
        if !ordered.contains(&addr) {
            ordered.push(addr);
        }
    }
    ordered
}

/// What the attempts share: the winner, and the failures in the order they happened.
#[derive(Default)]
struct Race {
    winner: Mutex<Option<SocketStream>>,
    failures: Mutex<Vec<(SocketAddr, io::Error)>>,
}

async fn race(
    host: &str,
    port: u16,
    targets: Vec<(SocketAddr, Option<SocketAddr>)>,
    delay: Duration,
) -> io::Result<SocketStream> {
    let shared = Arc::new(Race::default());
    let race_state = shared.clone();
    let outcome = TaskGroup::<io::Error>::run(|tg| async move {
        for (remote, local) in targets {
            let failed = Arc::new(Event::new());
            let (shared, done, scope) = (race_state.clone(), failed.clone(), tg.cancel_scope());
            tg.start_soon(async move {
                match SocketStream::connect_addr(remote, local).await {
                    Ok(stream) => {
                        let mut winner = shared.winner.lock().unwrap_or_else(|p| p.into_inner());
                        if winner.is_none() {
                            *winner = Some(stream);
                            scope.cancel();
                        }
                        // A later winner is dropped here, which closes it.
                    }
                    Err(err) if err.is_cancelled() => {}
                    Err(err) => {
                        let mut failures =
                            shared.failures.lock().unwrap_or_else(|p| p.into_inner());
                        failures.push((remote, err));
                        drop(failures);
                        done.set();
                    }
                }
                Ok(())
            })
            .map_err(io::Error::other)?;
            move_on_after(delay, failed.wait()).await?;
        }
        Ok(())
    })
    .await;
    if let Some(stream) = shared
        .winner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Ok(stream);
    }
    if let Err(err) = outcome {
        if err.is_cancelled() {
            return Err(current::cancelled().into());
        }
        if let Ok(single) = err.into_single() {
            return Err(single);
        }
    }
    let failures = std::mem::take(&mut *shared.failures.lock().unwrap_or_else(|p| p.into_inner()));
    Err(ConnectionFailed::new(host, port, failures).into())
}

/// Every connection attempt of [`connect_tcp`] failed: each attempt's address and error, in
/// the order they failed (AnyIO's "All connection attempts failed").
#[derive(Debug)]
pub struct ConnectionFailed {
    host: String,
    port: u16,
    attempts: Vec<(SocketAddr, io::Error)>,
}

impl ConnectionFailed {
    fn new(host: &str, port: u16, attempts: Vec<(SocketAddr, io::Error)>) -> Self {
        ConnectionFailed {
            host: host.to_owned(),
            port,
            attempts,
        }
    }

    /// Each attempt's address and error, in the order they failed.
    pub fn attempts(&self) -> &[(SocketAddr, io::Error)] {
        &self.attempts
    }
}

impl fmt::Display for ConnectionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "All connection attempts to {}:{} failed",
            self.host, self.port
        )?;
        for (_, err) in &self.attempts {
            write!(f, "; {err}")?;
        }
        Ok(())
    }
}

impl Error for ConnectionFailed {
    /// The first attempt's error.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.attempts.first().map(|(_, e)| e as _)
    }
}

impl IsCancelled for ConnectionFailed {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<ConnectionFailed> for io::Error {
    fn from(e: ConnectionFailed) -> io::Error {
        let kind = e
            .attempts
            .first()
            .map_or(io::ErrorKind::ConnectionRefused, |(_, err)| err.kind());
        io::Error::new(kind, e)
    }
}
