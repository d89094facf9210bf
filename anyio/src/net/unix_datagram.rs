//! UNIX datagram sockets: [`UnixDatagramSocket`] (AnyIO's `UNIXDatagramSocket`, datagrams
//! to and from any socket path) and [`ConnectedUnixDatagramSocket`] (AnyIO's
//! `ConnectedUNIXDatagramSocket`, datagrams with one peer), made by
//! [`create_unix_datagram_socket`] and [`create_connected_unix_datagram_socket`].
//!
//! The local path is bound as a listener's is (a stale socket file removed first, the
//! mode applied after binding, on a worker thread); see
//! [`create_unix_listener`](super::create_unix_listener). A socket with no local path is unbound: it can send,
//! and its datagrams arrive from an unnamed address that cannot be answered.

use std::io;
use std::os::fd::OwnedFd;

use socket2::Type;

use super::addr::SocketAddress;
use super::adopt::{Family, State, adopt};
use super::core::SocketCore;
use super::core::core_socket_traits;
use super::datagram::{self, IncomingDatagrams};
use super::error::context;
use super::unix::{UnixAddress, bind_local, describe_unix_peer, unix_socket_address};
use crate::stream::{ObjectReceiveStream, ObjectSendStream};

/// Creates an unconnected UNIX datagram socket, bound to `local_path` (a filesystem path or
/// an abstract name, see [`UnixAddress`]) if given, with the socket file's permission bits
/// set to `local_mode` if given. AnyIO's `create_unix_datagram_socket`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use anyio::net::create_unix_datagram_socket;
/// let socket = create_unix_datagram_socket(Some("/tmp/app.dgram".into()), Some(0o600)).await?;
/// let (data, from) = socket.receive().await?;
/// # drop((data, from)); Ok(()) }
/// ```
///
/// # Errors
///
/// As [`create_unix_listener`](super::create_unix_listener): the OS's error with the
/// path, `InvalidInput` for a path that cannot be a socket address, or for a mode without
/// a filesystem path.
///
/// # Cancel safety
///
/// As [`UnixListenerOptions::bind`](super::UnixListenerOptions::bind): binding a path runs
/// on a worker thread, which a cancellation does not stop; dropped meanwhile, the socket is
/// closed when the thread is done, and its socket file may stay on disk.
pub async fn create_unix_datagram_socket(
    local_path: Option<UnixAddress>,
    local_mode: Option<u32>,
) -> io::Result<UnixDatagramSocket> {
    let local = describe_local(local_path.as_ref());
    let socket = bind_local(local_path, local_mode, Type::DGRAM, None).await?;
    let core = SocketCore::new(socket, local.clone())
        .map_err(|e| context(e, || format!("setting up {local}")))?;
    Ok(UnixDatagramSocket { core })
}

/// Creates a UNIX datagram socket connected to `remote_path` (a filesystem path or an
/// abstract name, see [`UnixAddress`]), bound to `local_path` if given (the peer can only
/// answer a bound socket), with `local_mode` as [`create_unix_datagram_socket`]. AnyIO's
/// `create_connected_unix_datagram_socket`.
///
/// # Errors
///
/// As [`create_unix_datagram_socket`], and the OS's error with the path when connecting
/// fails (`NotFound` when nothing is at `remote_path`, `ConnectionRefused` when the socket
/// there is gone).
///
/// # Cancel safety
///
/// As [`create_unix_datagram_socket`].
pub async fn create_connected_unix_datagram_socket(
    remote_path: impl Into<UnixAddress>,
    local_path: Option<UnixAddress>,
    local_mode: Option<u32>,
) -> io::Result<ConnectedUnixDatagramSocket> {
    let remote = remote_path.into();
    let remote_addr = remote.to_sockaddr()?;
    let socket = bind_local(local_path, local_mode, Type::DGRAM, None).await?;
    let what = || format!("connecting a UNIX datagram socket to {remote}");
    socket.connect(&remote_addr).map_err(|e| context(e, what))?;
    let core = SocketCore::new(socket, remote.to_string()).map_err(|e| context(e, what))?;
    Ok(ConnectedUnixDatagramSocket { core })
}

/// How errors name a socket bound to `local` (or unbound).
fn describe_local(local: Option<&UnixAddress>) -> String {
    match local {
        Some(local) => local.to_string(),
        None => "an unbound UNIX datagram socket".to_owned(),
    }
}

/// The sender of a received datagram.
fn unix_sender(data: Vec<u8>, from: socket2::SockAddr) -> io::Result<(Vec<u8>, SocketAddress)> {
    Ok((data, unix_socket_address(&from)?))
}

/// An unconnected UNIX datagram socket (AnyIO's `UNIXDatagramSocket`): it receives
/// datagrams from any socket, each with its sender's address, and sends each datagram to a
/// path of the caller's choice.
///
/// Every method takes `&self`: one task may receive while another sends, and any task may
/// close it. It is an [`ObjectReceiveStream`] and an [`ObjectSendStream`] of `(datagram,
/// address)` pairs, and its received datagrams are a
/// [`Stream`](futures_core::Stream) through [`incoming`](UnixDatagramSocket::incoming).
#[derive(Debug)]
pub struct UnixDatagramSocket {
    core: SocketCore,
}

impl UnixDatagramSocket {
    /// Adopts a UNIX datagram socket made elsewhere, bound or not (AnyIO's
    /// `UNIXDatagramSocket.from_socket`): it is made non-blocking and registered with the
    /// current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagramSocket> {
        UnixDatagramSocket::from_fd(OwnedFd::from(socket))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a UNIX datagram socket. A socket that fails a check is closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_DGRAM, got SOCK_STREAM", "address
    /// family mismatch: expected AF_UNIX, got AF_INET". The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<UnixDatagramSocket> {
        let socket = adopt(fd, Type::DGRAM, Family::Unix, State::Any)?;
        let local = socket.local_addr()?;
        let local = if local.is_unnamed() {
            describe_local(None)
        } else {
            unix_socket_address(&local)?.to_string()
        };
        Ok(UnixDatagramSocket {
            core: SocketCore::new(socket, local)?,
        })
    }

    /// Waits for the next datagram and returns it (at most 65536 bytes; the rest of a
    /// longer one is discarded) with the address of the socket that sent it (unnamed if
    /// that socket is unbound).
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
    pub async fn receive(&self) -> io::Result<(Vec<u8>, SocketAddress)> {
        let (data, from) = datagram::receive_from(&self.core, "receiving on").await?;
        unix_sender(data, from)
    }

    /// Sends `data` as one datagram to the socket at `path` (a filesystem path or an
    /// abstract name, see [`UnixAddress`]). AnyIO's `sendto`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path that cannot be a socket address;
    /// [`ClosedResourceError`](crate::ClosedResourceError) once this socket is closed,
    /// [`BusyResourceError`](crate::BusyResourceError) when another task is sending,
    /// [`Cancelled`](crate::Cancelled), and
    /// and the OS error, with the path in its message, when the send fails for this datagram
    /// (`NotFound` when nothing is at the path, `ConnectionRefused` when no socket receives
    /// there, `InvalidInput` with `EMSGSIZE` as its [`os_error`](crate::stream::IoErrorExt::os_error)
    /// for a datagram too long): the socket goes on working. A
    /// [`BrokenResourceError`](crate::BrokenResourceError) with the OS error as its cause
    /// when the socket itself fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is sent whole or not at all.
    pub async fn sendto(&self, data: &[u8], path: impl Into<UnixAddress>) -> io::Result<()> {
        let to = path.into();
        let addr = to.to_sockaddr()?;
        datagram::send(&self.core, data, Some(&addr), || {
            format!("sending to {to} from")
        })
        .await
    }

    /// The received datagrams as a [`Stream`](futures_core::Stream) of what
    /// [`receive`](Self::receive) returns; it never ends by itself.
    pub fn incoming(&self) -> IncomingDatagrams<'_, (Vec<u8>, SocketAddress)> {
        IncomingDatagrams::new(&self.core, "receiving on", unix_sender)
    }

    /// Closes the socket; see
    /// [`AsyncResource::aclose`](crate::stream::AsyncResource::aclose). The socket file
    /// stays.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.core.close();
        Ok(())
    }
}

/// A UNIX datagram socket connected to one peer (AnyIO's `ConnectedUNIXDatagramSocket`):
/// it sends only to that peer and receives only from it.
///
/// Every method takes `&self`: one task may receive while another sends, and any task may
/// close it. It is an [`ObjectReceiveStream`] and an [`ObjectSendStream`] of datagrams, and
/// its received datagrams are a [`Stream`](futures_core::Stream) through
/// [`incoming`](ConnectedUnixDatagramSocket::incoming).
#[derive(Debug)]
pub struct ConnectedUnixDatagramSocket {
    core: SocketCore,
}

impl ConnectedUnixDatagramSocket {
    /// Adopts a connected UNIX datagram socket made elsewhere (AnyIO's
    /// `ConnectedUNIXDatagramSocket.from_socket`): it is made non-blocking and registered
    /// with the current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(
        socket: std::os::unix::net::UnixDatagram,
    ) -> io::Result<ConnectedUnixDatagramSocket> {
        ConnectedUnixDatagramSocket::from_fd(OwnedFd::from(socket))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a connected UNIX datagram socket. A socket that fails a check is
    /// closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_DGRAM, got SOCK_STREAM", "address
    /// family mismatch: expected AF_UNIX, got AF_INET", "the socket must be connected".
    /// The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<ConnectedUnixDatagramSocket> {
        let socket = adopt(fd, Type::DGRAM, Family::Unix, State::Connected)?;
        let peer = describe_unix_peer(&socket)?;
        Ok(ConnectedUnixDatagramSocket {
            core: SocketCore::new(socket, peer)?,
        })
    }

    /// Waits for the next datagram from the peer (at most 65536 bytes).
    ///
    /// # Errors
    ///
    /// As [`UnixDatagramSocket::receive`].
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
    /// As [`UnixDatagramSocket::sendto`]: `ECONNREFUSED` (as the cause of a
    /// [`BrokenResourceError`](crate::BrokenResourceError)) once the peer's socket is gone.
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

core_socket_traits!(UnixDatagramSocket);
core_socket_traits!(ConnectedUnixDatagramSocket);

impl ObjectReceiveStream<(Vec<u8>, SocketAddress)> for UnixDatagramSocket {
    fn receive(
        &self,
    ) -> impl std::future::Future<Output = io::Result<(Vec<u8>, SocketAddress)>> + Send {
        UnixDatagramSocket::receive(self)
    }
}

/// Sends to an address as [`receive`](UnixDatagramSocket::receive) gives it, so that a
/// datagram can be answered: an unnamed or IP address is an `InvalidInput` error.
impl ObjectSendStream<(Vec<u8>, SocketAddress)> for UnixDatagramSocket {
    async fn send(&self, (data, to): (Vec<u8>, SocketAddress)) -> io::Result<()> {
        let path = to
            .as_unix()
            .and_then(UnixAddress::from_std)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot send a UNIX datagram to {to}: not a named UNIX address"),
                )
            })?;
        self.sendto(&data, path).await
    }
}

impl ObjectReceiveStream<Vec<u8>> for ConnectedUnixDatagramSocket {
    fn receive(&self) -> impl std::future::Future<Output = io::Result<Vec<u8>>> + Send {
        ConnectedUnixDatagramSocket::receive(self)
    }
}

impl ObjectSendStream<Vec<u8>> for ConnectedUnixDatagramSocket {
    async fn send(&self, data: Vec<u8>) -> io::Result<()> {
        ConnectedUnixDatagramSocket::send(self, &data).await
    }
}
