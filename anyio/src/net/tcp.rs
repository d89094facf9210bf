//! TCP: [`SocketStream`], [`SocketListener`], connecting to one address and listening on
//! a set of addresses with one port (AnyIO's rule 17).

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::adopt::{Family, State, adopt};
use super::core::{Direction, PendingRead, SocketCore, core_socket_traits};
use super::error::context;
use super::stream_socket::{StreamSocket, stream_socket_traits};
use crate::stream::Listener;

/// A connected TCP stream (AnyIO's `SocketStream`), with `TCP_NODELAY` on.
///
/// Every method takes `&self`: one task may receive while another sends, and any task may
/// [`aclose`](crate::stream::AsyncResource::aclose) it, which ends the others' blocked
/// operations with [`ClosedResourceError`](crate::ClosedResourceError). Share it between
/// tasks with an `Arc`. Two tasks receiving (or sending) at once is a
/// [`BusyResourceError`](crate::BusyResourceError).
///
/// It implements the [stream traits](crate::stream), the socket
/// [attributes](super::SocketAttributes), and `futures_io::AsyncRead`/`AsyncWrite` (tokio's
/// `AsyncRead`/`AsyncWrite` too with the `tokio-io` feature). Dropping it closes the
/// connection.
#[derive(Debug)]
pub struct SocketStream {
    pub(crate) inner: StreamSocket,
}

impl SocketStream {
    fn from_socket(socket: Socket, peer: SocketAddr) -> io::Result<SocketStream> {
        socket.set_tcp_nodelay(true)?;
        let core = SocketCore::new(socket, peer.to_string())?;
        Ok(SocketStream {
            inner: StreamSocket::new(core),
        })
    }

    /// Adopts a connected TCP stream made elsewhere (AnyIO's `SocketStream.from_socket`): it
    /// is made non-blocking, gets `TCP_NODELAY` and is registered with the current run's
    /// backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<SocketStream> {
        SocketStream::from_fd(OwnedFd::from(stream))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a connected TCP stream. A socket that fails a check is closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_STREAM, got SOCK_DGRAM", "address
    /// family mismatch: expected AF_INET or AF_INET6, got AF_UNIX", "the socket must be
    /// connected". The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<SocketStream> {
        let socket = adopt(fd, Type::STREAM, Family::Ip, State::Connected)?;
        let peer = peer_ip(&socket)?;
        SocketStream::from_socket(socket, peer)
    }

    /// Connects to one address, from `local` if given: the single attempt that Happy
    /// Eyeballs makes per address.
    pub(crate) async fn connect_addr(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> io::Result<SocketStream> {
        let what = || format!("connecting to {addr}");
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| context(e, what))?;
        socket.set_nonblocking(true).map_err(|e| context(e, what))?;
        if let Some(local) = local {
            socket
                .bind(&local.into())
                .map_err(|e| context(e, || format!("binding to {local} to connect to {addr}")))?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(context(e, what)),
        }
        let stream = SocketStream::from_socket(socket, addr).map_err(|e| context(e, what))?;
        stream
            .inner
            .core
            .run(Direction::Write, |s| match s.take_error()? {
                Some(err) => Err(err),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })
            .await
            .map_err(|e| context(e, what))?;
        Ok(stream)
    }
}

stream_socket_traits!(SocketStream);

/// A TCP listening socket (AnyIO's `SocketListener`): accepted connections are
/// [`SocketStream`]s with `TCP_NODELAY` on.
///
/// [`create_tcp_listener`](super::create_tcp_listener) makes these, one per local address.
/// Accept with [`accept`](SocketListener::accept), as a stream with
/// [`incoming`](SocketListener::incoming), or hand each connection to a task with
/// [`serve`](crate::stream::Listener::serve).
#[derive(Debug)]
pub struct SocketListener {
    core: SocketCore,
}

impl SocketListener {
    pub(crate) fn new(socket: Socket, local: SocketAddr) -> io::Result<SocketListener> {
        Ok(SocketListener {
            core: SocketCore::new(socket, local.to_string())?,
        })
    }

    /// Adopts a listening TCP socket made elsewhere (AnyIO's
    /// `SocketListener.from_socket`): it is made non-blocking and registered with the
    /// current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<SocketListener> {
        SocketListener::from_fd(OwnedFd::from(listener))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a bound, listening TCP socket. A socket that fails a check is
    /// closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_STREAM, got SOCK_DGRAM", "address
    /// family mismatch: expected AF_INET or AF_INET6, got AF_UNIX", "the socket must be
    /// bound to a local address", and "the socket must be listening" for one bound but not
    /// listening. The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<SocketListener> {
        let socket = adopt(fd, Type::STREAM, Family::Ip, State::Listening)?;
        let local = local_ip(&socket)?;
        SocketListener::new(socket, local)
    }

    /// Waits for the next connection; see [`Listener::accept`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is either returned or left for the next accept.
    pub async fn accept(&self) -> io::Result<SocketStream> {
        let (socket, peer) = self
            .core
            .run(Direction::Read, |s| s.accept())
            .await
            .map_err(|e| context(e, || format!("accepting on {}", self.core.peer())))?;
        accepted(socket, peer)
    }

    /// The incoming connections as a [`Stream`](futures_core::Stream) that never ends by
    /// itself: each item is what [`accept`](Self::accept) would return.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            accept: PendingRead::new(&self.core),
        }
    }

    /// Stops listening; see [`AsyncResource::aclose`](crate::stream::AsyncResource).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.core.close();
        Ok(())
    }
}

/// The IP address of the peer of an adopted socket that was checked to be connected.
pub(crate) fn peer_ip(socket: &Socket) -> io::Result<SocketAddr> {
    ip_of(socket.peer_addr()?)
}

/// The IP address an adopted socket that was checked to be bound is bound to.
pub(crate) fn local_ip(socket: &Socket) -> io::Result<SocketAddr> {
    ip_of(socket.local_addr()?)
}

fn ip_of(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
}

fn accepted(socket: Socket, peer: SockAddr) -> io::Result<SocketStream> {
    let peer = peer
        .as_socket()
        .ok_or_else(|| io::Error::other("a TCP connection came from a non-IP address"))?;
    SocketStream::from_socket(socket, peer)
        .map_err(|e| context(e, || format!("setting up the connection from {peer}")))
}

core_socket_traits!(SocketListener);

impl Listener for SocketListener {
    type Stream = SocketStream;

    fn accept(&self) -> impl std::future::Future<Output = io::Result<SocketStream>> + Send {
        SocketListener::accept(self)
    }
}

/// The connections a [`SocketListener`] accepts, as a stream; see
/// [`SocketListener::incoming`].
///
/// # Cancel safety
///
/// Cancel safe: dropping a pending `next()` loses no connection.
#[derive(Debug)]
pub struct Incoming<'a> {
    accept: PendingRead<'a>,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<SocketStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let res = std::task::ready!(this.accept.poll(cx, |s: &Socket| s.accept()));
        let core = this.accept.core();
        let item = res
            .map_err(|e| context(e, || format!("accepting on {}", core.peer())))
            .and_then(|(socket, peer)| accepted(socket, peer));
        Poll::Ready(Some(item))
    }
}
