//! Sockets made elsewhere and adopted (`from_std`, `from_fd`, AnyIO's `from_socket`) with
//! AnyIO's checks, socket streams split into owned halves, and AnyIO's connectables, on
//! every backend and runtime flavour.
#![cfg(unix)]

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

#[cfg(feature = "tls")]
#[path = "support/certs.rs"]
mod certs;

use std::fs::{self, File};
use std::future::Future;
use std::io;
use std::net::UdpSocket as StdUdpSocket;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram, UnixListener as StdUnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyio::net::{
    Connectable, ConnectedUdpSocket, ConnectedUnixDatagramSocket, SocketAttributes, SocketListener,
    SocketStream, TcpConnectable, UdpSocket, UnixAddress, UnixConnectable, UnixDatagramSocket,
    UnixSocketListener, UnixSocketStream, as_connectable, connect_tcp, connect_unix,
};
use anyio::stream::{ByteReceiveStream, ByteSendStream, IoErrorExt};
use anyio::{BoxError, TaskGroup, wait_all_tasks_blocked};
use socket2::{Domain, Socket, Type};

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("anyio-adopt-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A connected pair of std TCP streams on 127.0.0.1: (client, server side).
fn std_tcp_pair() -> io::Result<(StdTcpStream, StdTcpStream)> {
    let listener = StdTcpListener::bind((LOOPBACK, 0))?;
    let client = StdTcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((client, server))
}

/// Receives from `stream` until the peer's end of the stream, which must come.
async fn receive_to_end(stream: &impl ByteReceiveStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    loop {
        match stream.receive(1024).await {
            Ok(data) => all.extend_from_slice(&data),
            Err(e) if e.is_end_of_stream() => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

/// Asserts that `res` is the `InvalidInput` error with exactly `message`.
fn assert_invalid<T: std::fmt::Debug>(res: io::Result<T>, message: &str) {
    let err = res.expect_err(message);
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.to_string(), message);
}

/// A port on 127.0.0.1 where nobody listens: one the OS gave out, then closed.
fn closed_port() -> io::Result<u16> {
    let listener = StdTcpListener::bind((LOOPBACK, 0))?;
    Ok(listener.local_addr()?.port())
}

// ---------------------------------------------------------------- from_std: working sockets

async fn tcp_stream_from_std() -> Result<(), BoxError> {
    let (client, server) = std_tcp_pair()?;
    let server_addr = server.local_addr()?;
    let client = SocketStream::from_std(client)?;
    let server = SocketStream::from_std(server)?;
    assert!(client.raw_socket().tcp_nodelay()?, "TCP_NODELAY is set");
    assert_eq!(
        client.remote_address()?.to_string(),
        server_addr.to_string()
    );
    client.send(b"to the server").await?;
    assert_eq!(server.receive(1024).await?, b"to the server");
    server.send(b"to the client").await?;
    assert_eq!(client.receive(1024).await?, b"to the client");
    Ok(())
}

async fn tcp_stream_from_std_over_ipv6() -> Result<(), BoxError> {
    let listener = StdTcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0))?;
    let client = StdTcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    let client = SocketStream::from_std(client)?;
    let server = SocketStream::from_std(server)?;
    client.send(b"over ::1").await?;
    assert_eq!(server.receive(1024).await?, b"over ::1");
    Ok(())
}

async fn tcp_listener_from_std() -> Result<(), BoxError> {
    let std_listener = StdTcpListener::bind((LOOPBACK, 0))?;
    let port = std_listener.local_addr()?.port();
    let listener = SocketListener::from_std(std_listener)?;
    assert_eq!(listener.local_port()?, port);
    let (client, server) =
        futures_lite::future::zip(connect_tcp("127.0.0.1", port), listener.accept()).await;
    let (client, server) = (client?, server?);
    client.send(b"accepted").await?;
    assert_eq!(server.receive(1024).await?, b"accepted");
    Ok(())
}

async fn udp_from_std() -> Result<(), BoxError> {
    let std_unconnected = StdUdpSocket::bind((LOOPBACK, 0))?;
    let unconnected_addr = std_unconnected.local_addr()?;
    let std_connected = StdUdpSocket::bind((LOOPBACK, 0))?;
    let connected_addr = std_connected.local_addr()?;
    std_connected.connect(unconnected_addr)?;
    let unconnected = UdpSocket::from_std(std_unconnected)?;
    let connected = ConnectedUdpSocket::from_std(std_connected)?;
    connected.send(b"datagram one").await?;
    assert_eq!(
        unconnected.receive().await?,
        (b"datagram one".to_vec(), connected_addr)
    );
    unconnected.send_to(b"datagram two", connected_addr).await?;
    assert_eq!(connected.receive().await?, b"datagram two");
    Ok(())
}

async fn unix_stream_from_std() -> Result<(), BoxError> {
    let (a, b) = UnixStream::pair()?;
    let a = UnixSocketStream::from_std(a)?;
    let b = UnixSocketStream::from_std(b)?;
    a.send(b"over a pair").await?;
    assert_eq!(b.receive(1024).await?, b"over a pair");
    b.send(b"and back").await?;
    assert_eq!(a.receive(1024).await?, b"and back");
    Ok(())
}

async fn unix_listener_from_std() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("listener.sock");
    let listener = UnixSocketListener::from_std(StdUnixListener::bind(&path)?)?;
    let (client, server) =
        futures_lite::future::zip(connect_unix(path.as_path()), listener.accept()).await;
    let (client, server) = (client?, server?);
    client.send(b"through the path").await?;
    assert_eq!(server.receive(1024).await?, b"through the path");
    Ok(())
}

async fn unix_datagram_from_std() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("datagram.sock");
    let bound = UnixDatagramSocket::from_std(UnixDatagram::bind(&path)?)?;
    // An unbound one can only send, and is adopted all the same.
    let unbound = UnixDatagramSocket::from_std(UnixDatagram::unbound()?)?;
    unbound.sendto(b"from nobody", path.as_path()).await?;
    let (data, from) = bound.receive().await?;
    assert_eq!(data, b"from nobody");
    assert_eq!(from.to_string(), "(unnamed)");

    let (a, b) = UnixDatagram::pair()?;
    let a = ConnectedUnixDatagramSocket::from_std(a)?;
    let b = ConnectedUnixDatagramSocket::from_std(b)?;
    a.send(b"paired datagram").await?;
    assert_eq!(b.receive().await?, b"paired datagram");
    b.send(b"answer").await?;
    assert_eq!(a.receive().await?, b"answer");
    Ok(())
}

on_every_flavour!(
    tcp_stream_from_std,
    tcp_stream_from_std_over_ipv6,
    tcp_listener_from_std,
    udp_from_std,
    unix_stream_from_std,
    unix_listener_from_std,
    unix_datagram_from_std,
);

// ------------------------------------------------------------- from_fd: AnyIO's validation

fn fd(socket: Socket) -> OwnedFd {
    socket.into()
}

fn tcp_socket() -> io::Result<Socket> {
    Socket::new(Domain::IPV4, Type::STREAM, None)
}

fn udp_socket() -> io::Result<Socket> {
    Socket::new(Domain::IPV4, Type::DGRAM, None)
}

async fn wrong_socket_type() -> Result<(), BoxError> {
    let stream_vs_dgram = "socket type mismatch: expected SOCK_STREAM, got SOCK_DGRAM";
    let dgram_vs_stream = "socket type mismatch: expected SOCK_DGRAM, got SOCK_STREAM";
    let udp = StdUdpSocket::bind((LOOPBACK, 0))?;
    assert_invalid(SocketStream::from_fd(udp.into()), stream_vs_dgram);
    let udp = StdUdpSocket::bind((LOOPBACK, 0))?;
    assert_invalid(SocketListener::from_fd(udp.into()), stream_vs_dgram);
    let (tcp, _server) = std_tcp_pair()?;
    assert_invalid(UdpSocket::from_fd(tcp.into()), dgram_vs_stream);
    let (tcp, _server) = std_tcp_pair()?;
    assert_invalid(ConnectedUdpSocket::from_fd(tcp.into()), dgram_vs_stream);
    let (a, _b) = UnixDatagram::pair()?;
    assert_invalid(UnixSocketStream::from_fd(a.into()), stream_vs_dgram);
    let (a, _b) = UnixDatagram::pair()?;
    assert_invalid(UnixSocketListener::from_fd(a.into()), stream_vs_dgram);
    let (a, _b) = UnixStream::pair()?;
    assert_invalid(UnixDatagramSocket::from_fd(a.into()), dgram_vs_stream);
    let (a, _b) = UnixStream::pair()?;
    assert_invalid(
        ConnectedUnixDatagramSocket::from_fd(a.into()),
        dgram_vs_stream,
    );
    Ok(())
}

async fn wrong_family() -> Result<(), BoxError> {
    let ip_vs_unix = "address family mismatch: expected AF_INET or AF_INET6, got AF_UNIX";
    let unix_vs_ip = "address family mismatch: expected AF_UNIX, got AF_INET";
    let (a, _b) = UnixStream::pair()?;
    assert_invalid(SocketStream::from_fd(a.into()), ip_vs_unix);
    let (a, _b) = UnixStream::pair()?;
    assert_invalid(SocketListener::from_fd(a.into()), ip_vs_unix);
    let (a, _b) = UnixDatagram::pair()?;
    assert_invalid(UdpSocket::from_fd(a.into()), ip_vs_unix);
    let (a, _b) = UnixDatagram::pair()?;
    assert_invalid(ConnectedUdpSocket::from_fd(a.into()), ip_vs_unix);
    let (tcp, _server) = std_tcp_pair()?;
    assert_invalid(UnixSocketStream::from_fd(tcp.into()), unix_vs_ip);
    let listener = StdTcpListener::bind((LOOPBACK, 0))?;
    assert_invalid(UnixSocketListener::from_fd(listener.into()), unix_vs_ip);
    let udp = StdUdpSocket::bind((LOOPBACK, 0))?;
    assert_invalid(UnixDatagramSocket::from_fd(udp.into()), unix_vs_ip);
    let udp = StdUdpSocket::bind((LOOPBACK, 0))?;
    udp.connect(udp.local_addr()?)?;
    assert_invalid(ConnectedUnixDatagramSocket::from_fd(udp.into()), unix_vs_ip);
    Ok(())
}

async fn not_connected() -> Result<(), BoxError> {
    let message = "the socket must be connected";
    assert_invalid(SocketStream::from_fd(fd(tcp_socket()?)), message);
    let udp = StdUdpSocket::bind((LOOPBACK, 0))?;
    assert_invalid(ConnectedUdpSocket::from_std(udp), message);
    let unix = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    assert_invalid(UnixSocketStream::from_fd(fd(unix)), message);
    assert_invalid(
        ConnectedUnixDatagramSocket::from_std(UnixDatagram::unbound()?),
        message,
    );
    Ok(())
}

async fn not_bound_or_not_listening() -> Result<(), BoxError> {
    let unbound = "the socket must be bound to a local address";
    let not_listening = "the socket must be listening";
    assert_invalid(SocketListener::from_fd(fd(tcp_socket()?)), unbound);
    let bound = tcp_socket()?;
    bound.bind(&SocketAddr::from((LOOPBACK, 0)).into())?;
    assert_invalid(SocketListener::from_fd(fd(bound)), not_listening);
    assert_invalid(UdpSocket::from_fd(fd(udp_socket()?)), unbound);
    let unix = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    assert_invalid(UnixSocketListener::from_fd(fd(unix)), unbound);
    let dir = TempDir::new()?;
    let unix = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    unix.bind(&socket2::SockAddr::unix(dir.path("bound.sock"))?)?;
    assert_invalid(UnixSocketListener::from_fd(fd(unix)), not_listening);
    Ok(())
}

async fn not_a_socket() -> Result<(), BoxError> {
    let message = "the file descriptor does not refer to a socket";
    let dir = TempDir::new()?;
    let file = File::create(dir.path("plain-file"))?;
    assert_invalid(SocketStream::from_fd(file.into()), message);
    let file = File::create(dir.path("plain-file"))?;
    assert_invalid(UnixDatagramSocket::from_fd(file.into()), message);
    Ok(())
}

on_every_flavour!(
    wrong_socket_type,
    wrong_family,
    not_connected,
    not_bound_or_not_listening,
    not_a_socket,
);

// ------------------------------------------------------------------------------ into_split

/// Both directions at once through the halves of `near` (one task per half), against
/// `far`: each side sends, then ends its stream, and each receives exactly what the other
/// sent, up to the end.
async fn duplex<S>(near: S, far: S) -> Result<(), BoxError>
where
    S: IntoHalves,
{
    let (read, write) = near.split();
    let far = Arc::new(far);
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let got_far = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (got2, got_far2, far2, far3) = (got.clone(), got_far.clone(), far.clone(), far.clone());
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            for chunk in [&b"one "[..], b"two ", b"three"] {
                S::send_half(&write, chunk).await?;
            }
            S::send_eof_half(&write).await?;
            // The end went out through the write half, and sending is over.
            let err = S::send_half(&write, b"late").await.unwrap_err();
            assert!(err.is_closed_resource(), "{err}");
            Ok(())
        })?;
        tg.start_soon(async move {
            *got2.lock().unwrap() = receive_to_end(&read).await?;
            Ok(())
        })?;
        tg.start_soon(async move {
            *got_far2.lock().unwrap() = receive_to_end(&*far2).await?;
            Ok(())
        })?;
        tg.start_soon(async move {
            far3.send(b"from the far side").await?;
            S::end(&far3).await?;
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(*got_far.lock().unwrap(), b"one two three");
    assert_eq!(*got.lock().unwrap(), b"from the far side");
    Ok(())
}

/// The socket streams that split, for [`duplex`].
trait IntoHalves: ByteReceiveStream + ByteSendStream + Sized + 'static {
    type Read: ByteReceiveStream + 'static;
    type Write: Send + Sync + 'static;
    fn split(self) -> (Self::Read, Self::Write);
    fn send_half(w: &Self::Write, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    fn send_eof_half(w: &Self::Write) -> impl Future<Output = io::Result<()>> + Send;
    fn end(&self) -> impl Future<Output = io::Result<()>> + Send;
}

macro_rules! into_halves {
    ($ty:ty) => {
        impl IntoHalves for $ty {
            type Read = anyio::net::ReadHalf<$ty>;
            type Write = anyio::net::WriteHalf<$ty>;
            fn split(self) -> (Self::Read, Self::Write) {
                self.into_split()
            }
            async fn send_half(w: &Self::Write, data: &[u8]) -> io::Result<()> {
                w.send(data).await
            }
            async fn send_eof_half(w: &Self::Write) -> io::Result<()> {
                w.send_eof().await
            }
            async fn end(&self) -> io::Result<()> {
                self.send_eof().await
            }
        }
    };
}

into_halves!(SocketStream);
into_halves!(UnixSocketStream);

async fn tcp_halves_are_full_duplex() -> Result<(), BoxError> {
    let (client, server) = std_tcp_pair()?;
    duplex(
        SocketStream::from_std(client)?,
        SocketStream::from_std(server)?,
    )
    .await
}

async fn unix_halves_are_full_duplex() -> Result<(), BoxError> {
    let (a, b) = UnixStream::pair()?;
    duplex(
        UnixSocketStream::from_std(a)?,
        UnixSocketStream::from_std(b)?,
    )
    .await
}

async fn halves_reunite() -> Result<(), BoxError> {
    let (a, a_peer) = std_tcp_pair()?;
    let (b, _b_peer) = std_tcp_pair()?;
    let a_peer = SocketStream::from_std(a_peer)?;
    let (a_read, a_write) = SocketStream::from_std(a)?.into_split();
    let (b_read, b_write) = SocketStream::from_std(b)?.into_split();
    assert!(a_read.is_pair_of(&a_write));
    assert!(!a_read.is_pair_of(&b_write));

    let mismatch = a_read.reunite(b_write).unwrap_err();
    assert_eq!(
        mismatch.to_string(),
        "tried to reunite halves that are not from the same socket stream"
    );
    // Both halves come back, and each still finds its own pair.
    let a = mismatch.read.reunite(a_write)?;
    let b = mismatch.write.reunite(b_read)?;
    drop(b);

    a.send(b"whole again").await?;
    assert_eq!(a_peer.receive(1024).await?, b"whole again");
    a_peer.send(b"reply").await?;
    assert_eq!(a.receive(1024).await?, b"reply");
    Ok(())
}

async fn two_receivers_on_a_read_half_are_busy() -> Result<(), BoxError> {
    let (a, b) = UnixStream::pair()?;
    let (read, write) = UnixSocketStream::from_std(a)?.into_split();
    let peer = UnixSocketStream::from_std(b)?;
    let read = Arc::new(read);
    anyio::task_group(|tg: TaskGroup| async move {
        let first = read.clone();
        tg.start_soon(async move {
            assert_eq!(first.receive(1024).await?, b"for the first");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let err = read.receive(1024).await.unwrap_err();
        assert!(err.is_busy_resource(), "{err}");
        assert_eq!(
            err.to_string(),
            "Another task is already reading from this resource"
        );
        // Sending through the other half is not held up by the blocked receive.
        write.send(b"meanwhile").await?;
        assert_eq!(peer.receive(1024).await?, b"meanwhile");
        peer.send(b"for the first").await?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn closing_a_half_closes_the_connection() -> Result<(), BoxError> {
    let (client, server) = std_tcp_pair()?;
    let (read, write) = SocketStream::from_std(client)?.into_split();
    let server = SocketStream::from_std(server)?;
    write.aclose().await?;
    let err = read.receive(1024).await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = server.receive(1024).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    Ok(())
}

async fn halves_are_futures_io_reader_and_writer() -> Result<(), BoxError> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let (client, server) = std_tcp_pair()?;
    let (mut read, mut write) = SocketStream::from_std(client)?.into_split();
    let server = SocketStream::from_std(server)?;
    write.write_all(b"written through futures-io").await?;
    write.close().await?;
    assert_eq!(
        receive_to_end(&server).await?,
        b"written through futures-io"
    );
    server.send(b"read through futures-io").await?;
    server.send_eof().await?;
    let mut got = Vec::new();
    read.read_to_end(&mut got).await?;
    assert_eq!(got, b"read through futures-io");
    Ok(())
}

/// tokio's I/O traits (the `tokio-io` feature) on the halves, on every backend.
#[cfg(feature = "tokio-io")]
async fn halves_are_tokio_reader_and_writer() -> Result<(), BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b) = UnixStream::pair()?;
    let (mut read, mut write) = UnixSocketStream::from_std(a)?.into_split();
    let peer = UnixSocketStream::from_std(b)?;
    write.write_all(b"written through tokio-io").await?;
    write.shutdown().await?;
    assert_eq!(receive_to_end(&peer).await?, b"written through tokio-io");
    peer.send(b"read through tokio-io").await?;
    peer.send_eof().await?;
    let mut got = Vec::new();
    read.read_to_end(&mut got).await?;
    assert_eq!(got, b"read through tokio-io");
    Ok(())
}

#[cfg(feature = "tokio-io")]
on_every_flavour!(halves_are_tokio_reader_and_writer);

on_every_flavour!(
    tcp_halves_are_full_duplex,
    halves_are_futures_io_reader_and_writer,
    unix_halves_are_full_duplex,
    halves_reunite,
    two_receivers_on_a_read_half_are_busy,
    closing_a_half_closes_the_connection,
);

// ----------------------------------------------------------------------------- connectables

async fn tcp_connectable_connects() -> Result<(), BoxError> {
    let listener = SocketListener::from_std(StdTcpListener::bind((LOOPBACK, 0))?)?;
    let port = listener.local_port()?;
    let connectable = as_connectable(("127.0.0.1", port));
    assert_eq!(connectable, TcpConnectable::new("127.0.0.1", port));
    assert_eq!(
        as_connectable(SocketAddr::from((LOOPBACK, port))),
        connectable
    );
    for _ in 0..2 {
        let (client, server) =
            futures_lite::future::zip(connectable.connect(), listener.accept()).await;
        let (client, server) = (client?, server?);
        client.send(b"connected").await?;
        assert_eq!(server.receive(1024).await?, b"connected");
    }
    Ok(())
}

async fn tcp_connectable_failure_carries_the_os_error() -> Result<(), BoxError> {
    let port = closed_port()?;
    let err = TcpConnectable::new("127.0.0.1", port)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "All connection attempts to 127.0.0.1:{port} failed"
        )),
        "{message}"
    );
    let os = err.os_error().expect("the OS error is inside");
    assert_eq!(os.raw_os_error(), Some(libc::ECONNREFUSED));
    // It is reachable through `source()` too.
    let inner = err.get_ref().expect("a wrapped error");
    assert!(inner.source().is_some(), "{inner}");

    let err = TcpConnectable::new("127.0.0.1", 0)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "TCP port number out of range");
    Ok(())
}

async fn unix_connectable_connects_and_fails_with_the_os_error() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("server.sock");
    let listener = UnixSocketListener::from_std(StdUnixListener::bind(&path)?)?;
    let connectable = as_connectable(path.as_path());
    assert_eq!(connectable, UnixConnectable::new(path.as_path()));
    assert_eq!(as_connectable(path.clone()), connectable);
    assert_eq!(
        as_connectable(UnixAddress::from(path.as_path())),
        connectable
    );
    let (client, server) =
        futures_lite::future::zip(connectable.connect(), listener.accept()).await;
    let (client, server) = (client?, server?);
    client.send(b"unix connected").await?;
    assert_eq!(server.receive(1024).await?, b"unix connected");

    let missing = dir.path("missing.sock");
    let err = UnixConnectable::new(missing.as_path())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("connecting to {}: ", missing.display())),
        "{err}"
    );
    assert_eq!(
        err.os_error().and_then(io::Error::raw_os_error),
        Some(libc::ENOENT)
    );

    // A socket file with nobody listening any more.
    let stale = dir.path("stale.sock");
    drop(StdUnixListener::bind(&stale)?);
    let err = UnixConnectable::new(stale.as_path())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(
        err.os_error().and_then(io::Error::raw_os_error),
        Some(libc::ECONNREFUSED)
    );
    assert!(
        err.get_ref().and_then(|e| e.source()).is_some(),
        "the OS error is the source: {err}"
    );
    Ok(())
}

on_every_flavour!(
    tcp_connectable_connects,
    tcp_connectable_failure_carries_the_os_error,
    unix_connectable_connects_and_fails_with_the_os_error,
);

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use anyio::net::TlsConnectable;
    use anyio::tls::{TlsAcceptor, TlsConnector};
    use certs::Ca;

    fn pki() -> (TlsConnector, TlsAcceptor) {
        let ca = Ca::new();
        let server = ca.server(&["localhost", "127.0.0.1"]);
        (
            TlsConnector::with_root_pem(ca.pem.cert.as_bytes()).unwrap(),
            TlsAcceptor::from_pem(server.cert.as_bytes(), server.key.as_bytes()).unwrap(),
        )
    }

    async fn tls_connectable_connects() -> Result<(), BoxError> {
        let (connector, acceptor) = pki();
        let listener = SocketListener::from_std(StdTcpListener::bind((LOOPBACK, 0))?)?;
        let port = listener.local_port()?;
        let connectable = TcpConnectable::new("127.0.0.1", port).with_tls(connector.clone());
        assert_eq!(connectable.server_name, "127.0.0.1");
        let by_name = TlsConnectable::new(
            TcpConnectable::new("127.0.0.1", port),
            connector,
            "localhost",
        );
        for connectable in [connectable, by_name] {
            let server = async {
                let plain = listener.accept().await?;
                acceptor.accept(plain).await
            };
            let (client, server) = futures_lite::future::zip(connectable.connect(), server).await;
            let (client, server) = (client?, server?);
            client.send(b"encrypted").await?;
            assert_eq!(server.receive(1024).await?, b"encrypted");
        }
        Ok(())
    }

    async fn tls_connectable_failure_carries_the_os_error() -> Result<(), BoxError> {
        let (connector, _) = pki();
        let port = closed_port()?;
        let err = TcpConnectable::new("127.0.0.1", port)
            .with_tls(connector)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert_eq!(
            err.os_error().and_then(io::Error::raw_os_error),
            Some(libc::ECONNREFUSED)
        );
        Ok(())
    }

    on_every_flavour!(
        tls_connectable_connects,
        tls_connectable_failure_carries_the_os_error
    );
}
