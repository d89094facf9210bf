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

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/networking.md")]
struct NetworkingGuide;

mod addr;
mod adopt;
mod connectable;
mod core;
mod datagram;
pub(crate) mod dns;
mod error;
mod fd_passing;
mod happy_eyeballs;
mod readiness;
mod split;
mod stream_socket;
mod tcp;
mod tcp_listen;
#[cfg(feature = "tls")]
mod tls;
mod udp;
mod unix;
mod unix_datagram;

pub use addr::{AddressFamily, SocketAddress, SocketAttributes};
#[cfg(feature = "tls")]
pub use connectable::TlsConnectable;
pub use connectable::{
    Connectable, IntoConnectable, TcpConnectable, UnixConnectable, as_connectable,
};
pub use datagram::IncomingDatagrams;
pub use dns::{
    AddrInfo, AddrInfoFlags, AddrInfoOptions, GaiError, NameInfoFlags, Service, SocketType,
    getaddrinfo, getnameinfo,
};
pub use happy_eyeballs::{
    ConnectionFailed, DEFAULT_HAPPY_EYEBALLS_DELAY, TcpConnector, connect_tcp,
};
pub use readiness::{notify_closing, wait_readable, wait_writable};
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{Incoming, SocketListener, SocketStream};
pub use tcp_listen::{TcpListenerOptions, create_tcp_listener};
#[cfg(feature = "tls")]
pub use tls::connect_tls;
pub use udp::{
    ConnectedUdpSocket, UdpSocket, UdpSocketOptions, create_connected_udp_socket, create_udp_socket,
};
pub use unix::{
    UnixAddress, UnixIncoming, UnixListenerOptions, UnixSocketListener, UnixSocketStream,
    connect_unix, create_unix_listener,
};
pub use unix_datagram::{
    ConnectedUnixDatagramSocket, UnixDatagramSocket, create_connected_unix_datagram_socket,
    create_unix_datagram_socket,
};
