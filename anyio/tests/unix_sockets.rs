//! UNIX domain sockets: streams, listeners, file-descriptor passing and datagrams under
//! AnyIO's rules, on every backend.
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyio::net::{
    AddressFamily, SocketAddress, SocketAttributes, UnixAddress, UnixListenerOptions,
    UnixSocketListener, UnixSocketStream, connect_unix, create_connected_unix_datagram_socket,
    create_unix_datagram_socket, create_unix_listener,
};
use anyio::stream::{IoErrorExt, Listener, ObjectReceiveStream, ObjectSendStream};
use anyio::{BoxError, TaskGroup, fail_after, move_on_after, wait_all_tasks_blocked};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};

/// Only reached when a test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("anyio-unix-{}-{n}", std::process::id()));
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

/// An abstract name no other test (or run) uses.
fn unique_abstract_name(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("anyio-test-{}-{what}-{n}", std::process::id())
}

/// A connected pair through a listener at `addr`: (client, server side).
async fn pair_at(addr: UnixAddress) -> io::Result<(UnixSocketStream, UnixSocketStream)> {
    let listener = create_unix_listener(&addr).await?;
    let (client, server) = futures_lite::future::zip(connect_unix(&addr), listener.accept()).await;
    Ok((client?, server?))
}

/// A connected pair through a listener in `dir`.
async fn pair(dir: &TempDir) -> io::Result<(UnixSocketStream, UnixSocketStream)> {
    pair_at(dir.path("s.sock").into()).await
}

async fn receive_all(stream: &UnixSocketStream) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        match stream.receive(65536).await {
            Ok(chunk) => {
                assert!(!chunk.is_empty() && chunk.len() <= 65536);
                got.extend_from_slice(&chunk);
            }
            Err(e) if e.is_end_of_stream() => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Streams

#[anyio::test]
async fn bytes_cross_both_ways_exactly_then_end_of_stream() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let (sent, received) = futures_lite::future::zip(
        async {
            client.send(&payload).await?;
            client.send_eof().await
        },
        receive_all(&server),
    )
    .await;
    sent?;
    assert_eq!(received?, payload);
    // Still the end of the stream when asked again.
    assert!(server.receive(10).await.unwrap_err().is_end_of_stream());
    // The other direction still works after the client's half-close.
    server.send(b"reply").await?;
    assert_eq!(client.receive(100).await?, b"reply");
    let mut buf = [0u8; 8];
    server.send(b"into").await?;
    let n = client.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"into");
    Ok(())
}

#[anyio::test]
async fn own_close_gives_closed_resource_even_to_a_blocked_receive() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, _server) = pair(&dir).await?;
    let client = Arc::new(client);
    let reader = client.clone();
    let (res, ()) = futures_lite::future::zip(async move { reader.receive(10).await }, async {
        wait_all_tasks_blocked().await.unwrap();
        client.aclose().await.unwrap();
    })
    .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "blocked receive: {err}");
    assert!(client.send(b"x").await.unwrap_err().is_closed_resource());
    assert!(client.receive(1).await.unwrap_err().is_closed_resource());
    assert!(client.send_eof().await.unwrap_err().is_closed_resource());
    let err = client.receive_fds(1, 1).await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    Ok(())
}

#[anyio::test]
async fn two_receivers_at_once_is_busy() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let client = Arc::new(client);
    anyio::task_group(|tg: TaskGroup| async move {
        let first = client.clone();
        tg.start_soon(async move {
            assert_eq!(first.receive(10).await?, b"hi");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let err = client.receive(10).await.unwrap_err();
        assert!(err.is_busy_resource(), "{err}");
        assert_eq!(
            err.to_string(),
            "Another task is already reading from this resource"
        );
        let err = client.receive_fds(10, 1).await.unwrap_err();
        assert!(err.is_busy_resource(), "receive_fds too: {err}");
        server.send(b"hi").await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn attributes_name_the_path_and_family() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("attr.sock");
    let listener = create_unix_listener(&path).await?;
    assert_eq!(listener.family()?, AddressFamily::Unix);
    let local = listener.local_address()?;
    assert_eq!(
        local.as_unix().and_then(|a| a.as_pathname()),
        Some(path.as_path())
    );
    assert_eq!(local.to_string(), path.display().to_string());
    let err = listener.local_port().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let (client, server) = futures_lite::future::zip(connect_unix(&path), listener.accept()).await;
    let (client, server) = (client?, server?);
    assert_eq!(client.family()?, AddressFamily::Unix);
    assert_eq!(
        client
            .remote_address()?
            .as_unix()
            .and_then(|a| a.as_pathname()),
        Some(path.as_path())
    );
    assert_eq!(server.local_address()?, local);
    Ok(())
}

#[anyio::test]
async fn futures_io_traits_read_and_write() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (mut client, mut server) = pair(&dir).await?;
    client.write_all(b"line one\nline two\n").await?;
    client.close().await?; // a half-close
    let mut text = String::new();
    server.read_to_string(&mut text).await?;
    assert_eq!(text, "line one\nline two\n");
    server.write_all(b"bye").await?;
    let mut buf = [0u8; 3];
    client.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"bye");
    Ok(())
}

#[anyio::test]
async fn a_cancelled_receive_loses_nothing() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let timed_out = move_on_after(Duration::from_millis(30), client.receive(10)).await?;
    assert!(timed_out.is_none());
    server.send(b"kept").await?;
    assert_eq!(client.receive(10).await?, b"kept");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Connecting and listening

#[anyio::test]
async fn connecting_to_nothing_is_not_found_and_names_the_path() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("missing.sock");
    let err = connect_unix(&path).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains(&format!("connecting to {}", path.display())),
        "{err}"
    );
    // A socket file nobody listens on any more: refused.
    drop(create_unix_listener(&path).await?);
    let err = connect_unix(&path).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    Ok(())
}

#[anyio::test]
async fn addresses_that_cannot_be_are_errors_not_panics() -> Result<(), BoxError> {
    for bad in [
        UnixAddress::from(""),
        UnixAddress::Path(PathBuf::from("a\0b")),
        UnixAddress::from("x".repeat(200)),
    ] {
        let err = connect_unix(&bad).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        let err = create_unix_listener(&bad).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
    }
    Ok(())
}

#[anyio::test]
async fn a_full_backlog_makes_connect_wait_until_there_is_room() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("backlog.sock");
    // With a backlog of 0, Linux queues one connection and refuses the next (EAGAIN).
    let listener = UnixListenerOptions::new().backlog(0).bind(&path).await?;
    let first = connect_unix(&path).await?;
    let connected = AtomicBool::new(false);
    let (second, accepted) = fail_after(DEADLINE, async {
        let both = futures_lite::future::zip(
            async {
                let c = connect_unix(&path).await;
                connected.store(true, Ordering::SeqCst);
                c
            },
            async {
                anyio::sleep(Duration::from_millis(100)).await?;
                let waited = !connected.load(Ordering::SeqCst);
                let a = listener.accept().await?;
                let b = listener.accept().await?;
                Ok::<_, io::Error>((waited, a, b))
            },
        );
        Ok::<_, io::Error>(both.await)
    })
    .await?;
    let (waited, a, b) = accepted?;
    let second = second?;
    if cfg!(target_os = "linux") {
        assert!(waited, "the second connect waited for room in the backlog");
    }
    first.send(b"1").await?;
    second.send(b"2").await?;
    assert_eq!(a.receive(1).await?, b"1");
    assert_eq!(b.receive(1).await?, b"2");
    Ok(())
}

#[anyio::test]
async fn the_listener_mode_is_set_on_the_socket_file() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    for mode in [0o600, 0o640, 0o777] {
        let path = dir.path(&format!("mode-{mode:o}.sock"));
        let listener = UnixListenerOptions::new().mode(mode).bind(&path).await?;
        let meta = fs::metadata(&path)?;
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, mode, "mode {mode:o}");
        // And it listens.
        let (client, server) =
            futures_lite::future::zip(connect_unix(&path), listener.accept()).await;
        client?.send(b"m").await?;
        assert_eq!(server?.receive(1).await?, b"m");
    }
    Ok(())
}

#[anyio::test]
async fn a_mode_needs_a_filesystem_path() -> Result<(), BoxError> {
    let name = UnixAddress::abstract_name(unique_abstract_name("mode"));
    let err = UnixListenerOptions::new()
        .mode(0o600)
        .bind(&name)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    Ok(())
}

#[anyio::test]
async fn a_stale_socket_file_is_replaced() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("stale.sock");
    let old = create_unix_listener(&path).await?;
    old.aclose().await?;
    drop(old);
    assert!(
        fs::metadata(&path)?.file_type().is_socket(),
        "the socket file stays after close"
    );
    let listener = create_unix_listener(&path).await?;
    let (client, server) = futures_lite::future::zip(connect_unix(&path), listener.accept()).await;
    client?.send(b"new").await?;
    assert_eq!(server?.receive(3).await?, b"new");
    Ok(())
}

#[anyio::test]
async fn a_regular_file_at_the_path_is_refused_and_kept() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("precious.txt");
    fs::write(&path, b"precious")?;
    let err = create_unix_listener(&path).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "names the path: {err}"
    );
    assert_eq!(fs::read(&path)?, b"precious");
    let err = create_unix_datagram_socket(Some(path.as_path().into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert_eq!(fs::read(&path)?, b"precious");
    Ok(())
}

#[anyio::test]
async fn abstract_names_connect_without_a_file() -> Result<(), BoxError> {
    let name = unique_abstract_name("stream");
    let address = UnixAddress::abstract_name(&name);
    assert_eq!(address.to_string(), format!("@{name}"));
    // AnyIO's spelling: a leading NUL byte.
    assert_eq!(UnixAddress::from(format!("\0{name}")), address);
    let listener = create_unix_listener(&address).await?;
    let (client, server) = futures_lite::future::zip(
        connect_unix(format!("\0{name}").as_str()),
        listener.accept(),
    )
    .await;
    let (client, server) = (client?, server?);
    client.send(b"abstract").await?;
    assert_eq!(server.receive(100).await?, b"abstract");
    assert!(!Path::new(&name).exists());
    // The name is taken while the listener lives.
    let err = create_unix_listener(&address).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    Ok(())
}

#[anyio::test]
async fn serve_and_incoming_hand_out_connections() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("serve.sock");
    let listener = Arc::new(create_unix_listener(&path).await?);
    {
        let mut incoming = listener.incoming();
        for i in 0..3u8 {
            let (client, server) =
                futures_lite::future::zip(connect_unix(&path), incoming.next()).await;
            let server = server.expect("never ends")?;
            client?.send(&[i]).await?;
            assert_eq!(server.receive(1).await?, [i]);
        }
    }
    let served = listener.clone();
    let res = move_on_after(DEADLINE, async move {
        anyio::task_group(|tg: TaskGroup| async move {
            tg.start_soon(async move {
                served
                    .serve(|stream: UnixSocketStream| async move {
                        while let Ok(data) = stream.receive(1024).await {
                            if stream.send(&data).await.is_err() {
                                break;
                            }
                        }
                    })
                    .await?;
                Ok(())
            })?;
            for i in 0..5u32 {
                let c = connect_unix(&path).await?;
                let msg = format!("client {i}");
                c.send(msg.as_bytes()).await?;
                assert_eq!(c.receive(100).await?, msg.as_bytes());
            }
            tg.cancel();
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    assert!(res.is_some(), "served everything before the deadline");
    Ok(())
}

#[anyio::test]
async fn closing_the_listener_wakes_a_blocked_accept() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let listener: Arc<UnixSocketListener> =
        Arc::new(create_unix_listener(dir.path("close.sock")).await?);
    let closer = listener.clone();
    let (res, ()) = futures_lite::future::zip(listener.accept(), async move {
        wait_all_tasks_blocked().await.unwrap();
        closer.aclose().await.unwrap();
    })
    .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// File descriptors

#[anyio::test]
async fn file_descriptors_pass_and_read_through() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let file_path = dir.path("data.txt");
    fs::write(&file_path, b"contents of the file")?;
    let file = File::open(&file_path)?;
    let (near, far) = StdUnixStream::pair()?;
    client
        .send_fds(b"two descriptors", &[file.as_fd(), far.as_fd()])
        .await?;
    let (message, fds) = server.receive_fds(1024, 4).await?;
    assert_eq!(message, b"two descriptors");
    assert_eq!(fds.len(), 2);
    let mut fds = fds.into_iter();
    // The received file reads the same file.
    let mut received = File::from(fds.next().unwrap());
    let mut text = String::new();
    received.rewind()?;
    received.read_to_string(&mut text)?;
    assert_eq!(text, "contents of the file");
    // The received socket end talks to the other end of the pair.
    let mut received = StdUnixStream::from(fds.next().unwrap());
    received.write_all(b"through the passed socket")?;
    let mut near = near;
    let mut buf = [0u8; 25];
    near.read_exact(&mut buf)?;
    assert_eq!(&buf, b"through the passed socket");
    // Close-on-exec, as every descriptor this crate creates.
    assert!(
        is_cloexec(&received),
        "received descriptors are close-on-exec"
    );
    // The original descriptors stay the sender's.
    let mut again = String::new();
    (&file).rewind()?;
    (&file).read_to_string(&mut again)?;
    assert_eq!(again, "contents of the file");
    Ok(())
}

/// Whether the descriptor is close-on-exec.
fn is_cloexec(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFD reads the flags of an open descriptor and changes nothing.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

#[anyio::test]
async fn more_descriptors_than_maxfds_is_an_error_that_leaks_none() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let (mut near, far) = StdUnixStream::pair()?;
    client
        .send_fds(b"three", &[far.as_fd(), far.as_fd(), far.as_fd()])
        .await?;
    let err = server.receive_fds(100, 1).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("maxfds (1)"), "{err}");
    // Every copy of `far` that crossed is closed: once ours is, `near` sees the end.
    drop(far);
    near.set_nonblocking(true)?;
    let mut buf = [0u8; 1];
    assert_eq!(near.read(&mut buf)?, 0, "no copy of the far end leaked");
    // The stream goes on.
    client.send(b"after").await?;
    assert_eq!(server.receive(10).await?, b"after");
    Ok(())
}

#[anyio::test]
async fn descriptor_passing_refuses_bad_arguments() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (client, server) = pair(&dir).await?;
    let (a, _b) = StdUnixStream::pair()?;
    let none: [OwnedFd; 0] = [];
    for err in [
        client.send_fds(b"", &[&a]).await.unwrap_err(),
        client.send_fds(b"x", &none).await.unwrap_err(),
        server.receive_fds(0, 1).await.unwrap_err(),
        server.receive_fds(1, 0).await.unwrap_err(),
        server.receive_fds(1, usize::MAX).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    // Plain bytes arrive through receive_fds with no descriptors; a huge msglen is only an
    // upper bound (issue 12).
    client.send(b"plain").await?;
    let (message, fds) = server.receive_fds(usize::MAX, 1).await?;
    assert_eq!(message, b"plain");
    assert!(fds.is_empty());
    // The end of the stream.
    client.send_eof().await?;
    let err = server.receive_fds(100, 1).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Datagrams

#[anyio::test]
async fn datagrams_cross_with_the_senders_path() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (a_path, b_path) = (dir.path("a.dgram"), dir.path("b.dgram"));
    let a = create_unix_datagram_socket(Some(a_path.as_path().into()), None).await?;
    let b = create_unix_datagram_socket(Some(b_path.as_path().into()), None).await?;
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 241) as u8).collect();
    a.sendto(&payload, &b_path).await?;
    let (data, from) = b.receive().await?;
    assert_eq!(data, payload);
    assert_eq!(
        from.as_unix().and_then(|f| f.as_pathname()),
        Some(a_path.as_path())
    );
    // Answering the address a datagram came from, through the object-stream traits.
    ObjectSendStream::send(&b, (b"answer".to_vec(), from)).await?;
    let (answer, from_b) = ObjectReceiveStream::receive(&a).await?;
    assert_eq!(answer, b"answer");
    assert_eq!(
        from_b.as_unix().and_then(|f| f.as_pathname()),
        Some(b_path.as_path())
    );
    // An empty datagram is a datagram, not an end.
    a.sendto(b"", &b_path).await?;
    assert_eq!(b.receive().await?.0, b"");
    assert_eq!(a.family()?, AddressFamily::Unix);
    Ok(())
}

#[anyio::test]
async fn an_unbound_sender_is_unnamed_and_cannot_be_answered() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("r.dgram");
    let receiver = create_unix_datagram_socket(Some(path.as_path().into()), None).await?;
    let sender = create_unix_datagram_socket(None, None).await?;
    sender.sendto(b"anonymous", &path).await?;
    let (data, from) = receiver.receive().await?;
    assert_eq!(data, b"anonymous");
    assert!(from.as_unix().is_some_and(|a| a.is_unnamed()), "{from:?}");
    let err = ObjectSendStream::send(&receiver, (b"no".to_vec(), from))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let ip = SocketAddress::Ip("127.0.0.1:9".parse()?);
    let err = ObjectSendStream::send(&receiver, (b"no".to_vec(), ip))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    // A mode without a path is refused.
    let err = create_unix_datagram_socket(None, Some(0o600))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    Ok(())
}

#[anyio::test]
async fn incoming_datagrams_are_a_stream() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("stream.dgram");
    let receiver = create_unix_datagram_socket(Some(path.as_path().into()), Some(0o600)).await?;
    assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    let sender = create_unix_datagram_socket(Some(dir.path("from.dgram").into()), None).await?;
    for i in 0..3u8 {
        sender.sendto(&[i], &path).await?;
    }
    let mut incoming = receiver.incoming();
    for i in 0..3u8 {
        let (data, from) = incoming.next().await.expect("never ends")?;
        assert_eq!(data, [i]);
        assert_eq!(
            from.as_unix().and_then(|f| f.as_pathname()),
            Some(dir.path("from.dgram").as_path())
        );
    }
    Ok(())
}

#[anyio::test]
async fn connected_datagram_sockets_talk_to_their_peer() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (server_path, client_path) = (dir.path("server.dgram"), dir.path("client.dgram"));
    let server = create_unix_datagram_socket(Some(server_path.as_path().into()), None).await?;
    let client = create_connected_unix_datagram_socket(
        &server_path,
        Some(client_path.as_path().into()),
        None,
    )
    .await?;
    client.send(b"ping").await?;
    let (data, from) = server.receive().await?;
    assert_eq!(data, b"ping");
    server.sendto(b"pong", &client_path).await?;
    assert_eq!(client.receive().await?, b"pong");
    ObjectSendStream::send(&client, b"trait".to_vec()).await?;
    assert_eq!(server.receive().await?.0, b"trait");
    server.sendto(b"stream", &client_path).await?;
    assert_eq!(
        client.incoming().next().await.expect("never ends")?,
        b"stream"
    );
    assert_eq!(
        from.as_unix().and_then(|f| f.as_pathname()),
        Some(client_path.as_path())
    );
    // The peer's socket gone: refused, as a broken resource with the OS error as cause.
    drop(server);
    let err = client.send(b"anyone?").await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::ECONNREFUSED),
        "{err}"
    );
    // Connecting to nothing names the path.
    let missing = dir.path("missing.dgram");
    let err = create_connected_unix_datagram_socket(&missing, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    Ok(())
}

#[anyio::test]
async fn abstract_datagram_sockets() -> Result<(), BoxError> {
    let name = unique_abstract_name("dgram");
    let receiver =
        create_unix_datagram_socket(Some(UnixAddress::abstract_name(&name)), None).await?;
    let client = create_connected_unix_datagram_socket(format!("\0{name}"), None, None).await?;
    client.send(b"to an abstract name").await?;
    assert_eq!(receiver.receive().await?.0, b"to an abstract name");
    Ok(())
}

#[anyio::test]
async fn a_datagram_receive_blocked_when_closed_is_closed_resource() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let socket =
        Arc::new(create_unix_datagram_socket(Some(dir.path("c.dgram").into()), None).await?);
    let reader = socket.clone();
    let (res, ()) = futures_lite::future::zip(async move { reader.receive().await }, async {
        wait_all_tasks_blocked().await.unwrap();
        anyio::stream::AsyncResource::aclose(&*socket)
            .await
            .unwrap();
    })
    .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = socket.sendto(b"x", dir.path("c.dgram")).await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    Ok(())
}

#[anyio::test]
async fn two_datagram_receivers_at_once_is_busy() -> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("busy.dgram");
    let socket = Arc::new(create_unix_datagram_socket(Some(path.as_path().into()), None).await?);
    let sender = create_unix_datagram_socket(None, None).await?;
    anyio::task_group(|tg: TaskGroup| async move {
        let first = socket.clone();
        tg.start_soon(async move {
            assert_eq!(first.receive().await?.0, b"one");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let err = socket.receive().await.unwrap_err();
        assert!(err.is_busy_resource(), "{err}");
        let err = socket
            .incoming()
            .next()
            .await
            .expect("an item")
            .unwrap_err();
        assert!(err.is_busy_resource(), "{err}");
        sender.sendto(b"one", &path).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Every future and stream of this module can move between threads (the tokio backend's
/// workers), so it can run in any task.
#[test]
fn futures_and_streams_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_unpin<T: Send + Unpin>(_: &T) {}
    fn futures(stream: &UnixSocketStream, listener: &UnixSocketListener, path: &Path) {
        let file = File::open("/dev/null").expect("/dev/null");
        send(&connect_unix(path));
        send(&create_unix_listener(path));
        send(&UnixListenerOptions::new().mode(0o600).bind(path));
        send(&stream.receive(1));
        send(&stream.send(b"x"));
        send(&stream.send_fds(b"x", &[&file]));
        send(&stream.receive_fds(1, 1));
        send(&listener.accept());
        send_unpin(&listener.incoming());
        send(&create_unix_datagram_socket(None, None));
        send(&create_connected_unix_datagram_socket(path, None, None));
    }
    let _ = futures;
}

#[anyio::test]
async fn a_mode_out_of_range_is_invalid_input_for_listeners_and_datagram_sockets()
-> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let path = dir.path("wide.dgram");
    let err = create_unix_datagram_socket(Some(path.as_path().into()), Some(0o7777777))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("0o7777777"), "{err}");
    assert!(!path.exists(), "nothing bound");
    let path = dir.path("wide.sock");
    let err = UnixListenerOptions::new()
        .mode(0o10000)
        .bind(&path)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    // The largest mode there is is fine.
    let ok = create_unix_datagram_socket(Some(dir.path("ok.dgram").as_path().into()), Some(0o1777))
        .await?;
    drop(ok);
    Ok(())
}

#[anyio::test]
async fn a_datagram_send_that_fails_for_that_datagram_leaves_the_socket_working()
-> Result<(), BoxError> {
    let dir = TempDir::new()?;
    let (a_path, b_path) = (dir.path("a.dgram"), dir.path("b.dgram"));
    let a = create_unix_datagram_socket(Some(a_path.as_path().into()), None).await?;
    let b = create_unix_datagram_socket(Some(b_path.as_path().into()), None).await?;
    // Longer than the socket's send buffer can ever hold: EMSGSIZE.
    let err = a.sendto(&vec![0; 16 << 20], &b_path).await.unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::EMSGSIZE),
        "{err}"
    );
    // Nothing at that path: NotFound, for that datagram only.
    let missing = dir.path("missing.dgram");
    let err = a.sendto(b"x", &missing).await.unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("missing.dgram"), "{err}");
    // The socket still works.
    a.sendto(b"after", &b_path).await?;
    assert_eq!(fail_after(DEADLINE, b.receive()).await?.0, b"after");
    Ok(())
}

#[anyio::test]
async fn a_long_path_is_cut_in_error_messages() -> Result<(), BoxError> {
    let long = format!("/nonexistent/{}/end.sock", "p".repeat(100_000));
    let err = connect_unix(long.as_str()).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    assert!(msg.len() < 400, "{} bytes: {}", msg.len(), &msg[..400]);
    assert!(msg.contains("/nonexistent/ppp"), "{msg}");
    assert!(msg.contains("ppp/end.sock"), "{msg}");
    assert!(msg.contains(" bytes …]"), "{msg}");
    // A path with a NUL byte, as long.
    let nul = format!("/tmp/{}\0{}", "q".repeat(50_000), "r".repeat(50_000));
    let err = connect_unix(nul.as_str()).await.unwrap_err();
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
    Ok(())
}
