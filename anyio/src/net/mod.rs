//! Networking: TCP with Happy Eyeballs, UNIX sockets, UDP, name resolution and readiness,
//! the same on every backend.
//!
//! Every socket here is a [`socket2::Socket`] registered with the backend's reactor, so one
//! implementation serves every kind of socket and every backend; the backend contributes
//! only readiness. Socket streams implement the [stream traits](crate::stream), and the
//! ecosystem's I/O traits (`futures_io::AsyncRead`/`AsyncWrite`, and tokio's with the
//! `tokio-io` feature).
//!
//! Unix only for now: the readiness seam is built on file descriptors.

mod addr;
mod core;
mod dns;
mod error;
mod happy_eyeballs;
mod stream_socket;
mod tcp;
mod tcp_listen;

pub use addr::{AddressFamily, SocketAddress, SocketAttributes};
pub use happy_eyeballs::{
    ConnectionFailed, DEFAULT_HAPPY_EYEBALLS_DELAY, TcpConnector, connect_tcp,
};
pub use tcp::{Incoming, SocketListener, SocketStream};
pub use tcp_listen::{TcpListenerOptions, create_tcp_listener};
