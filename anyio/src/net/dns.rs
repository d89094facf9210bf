//! Name resolution, run off the event loop on a worker thread through the default thread
//! limiter.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::addr::AddressFamily;
use super::error::context;
use crate::thread::to_thread;

/// The stream-socket addresses of `host`, in the resolver's order without repeats, only of
/// `family` when one is given.
pub(crate) async fn resolve_stream(
    host: &str,
    port: u16,
    family: Option<AddressFamily>,
) -> io::Result<Vec<SocketAddr>> {
    let name = host.to_owned();
    let found = to_thread::run_sync(move || (name.as_str(), port).to_socket_addrs())
        .await?
        .map_err(|e| context(e, || format!("resolving {host:?}")))?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if family.is_none_or(|f| f == AddressFamily::of(&addr)) && !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("resolving {host:?}: no address of the requested family"),
        ));
    }
    Ok(addrs)
}
