//! `max_bytes` is an upper bound, never an allocation (issue 12): a receive of
//! `usize::MAX`, 1 TiB or 64 GiB returns the bytes that arrived, on every byte stream and
//! buffered read, and a parked receive holds no buffer.
//!
//! A receive that allocated `max_bytes` would abort the whole test binary, so every test
//! here runs in a child process: the test binary re-run by
//! `huge_receives_run_in_a_child_process` with `ANYIO_HUGE_RECEIVE_CHILD` set. Run
//! directly, without it, the tests pass at once.
#![cfg(unix)]

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyio::fs::FileReadStream;
use anyio::net::{
    SocketAttributes, SocketListener, SocketStream, TcpListenerOptions, UnixAddress,
    UnixSocketStream, connect_tcp, connect_unix, create_connected_udp_socket,
    create_connected_unix_datagram_socket, create_udp_socket, create_unix_datagram_socket,
    create_unix_listener,
};
use anyio::stream::{BufferedByteStream, ByteReceiveStream, ByteSendStream, IoErrorExt};
#[cfg(feature = "tls")]
use anyio::tls::TlsConnector;
use anyio::{BoxError, TaskGroup, wait_all_tasks_blocked};
use futures_lite::StreamExt;

const CHILD_ENV: &str = "ANYIO_HUGE_RECEIVE_CHILD";
const PARENT: &str = "huge_receives_run_in_a_child_process";

/// The sizes no receive may allocate: `usize::MAX`, 1 TiB and 64 GiB.
const HUGE: [usize; 3] = [usize::MAX, 1 << 40, 64 << 30];

/// Whether this process is the child that runs the tests.
fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

#[test]
fn huge_receives_run_in_a_child_process() {
    if in_child() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--skip", PARENT, "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok"),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// A listener on IPv4 loopback.
async fn tcp_listener() -> io::Result<SocketListener> {
    Ok(TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0))
}

/// A connected TCP pair: (client, server side).
async fn tcp_pair() -> io::Result<(SocketStream, SocketStream)> {
    let listener = tcp_listener().await?;
    let port = listener.local_port()?;
    let (client, server) =
        futures_lite::future::zip(connect_tcp("127.0.0.1", port), listener.accept()).await;
    Ok((client?, server?))
}

/// An abstract UNIX address of its own for each call.
fn unix_address() -> UnixAddress {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("\0anyio-huge-{}-{n}", std::process::id()).into()
}

/// A connected UNIX stream pair: (client, server side).
async fn unix_pair() -> io::Result<(UnixSocketStream, UnixSocketStream)> {
    let addr = unix_address();
    let listener = create_unix_listener(&addr).await?;
    let (client, server) = futures_lite::future::zip(connect_unix(&addr), listener.accept()).await;
    Ok((client?, server?))
}

/// For each huge size: `peer` sends a few bytes and `stream.receive(size)` returns exactly
/// them.
async fn huge_receives_return_what_arrived(
    peer: &impl ByteSendStream,
    stream: &impl ByteReceiveStream,
) -> Result<(), BoxError> {
    for (i, size) in HUGE.into_iter().enumerate() {
        let message = format!("message {i} for a receive of {size} bytes");
        peer.send(message.as_bytes()).await?;
        assert_eq!(stream.receive(size).await?, message.as_bytes());
    }
    Ok(())
}

async fn tcp_receive_of_a_huge_size_returns_what_arrived() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let (client, server) = tcp_pair().await?;
    huge_receives_return_what_arrived(&client, &server).await?;
    huge_receives_return_what_arrived(&server, &client).await?;
    client.send_eof().await?;
    assert!(
        server
            .receive(usize::MAX)
            .await
            .unwrap_err()
            .is_end_of_stream()
    );
    Ok(())
}

async fn unix_receive_of_a_huge_size_returns_what_arrived() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let (client, server) = unix_pair().await?;
    huge_receives_return_what_arrived(&client, &server).await?;
    client.send_eof().await?;
    assert!(
        server
            .receive(1 << 40)
            .await
            .unwrap_err()
            .is_end_of_stream()
    );
    Ok(())
}

async fn unix_receive_fds_of_a_huge_msglen_returns_what_arrived() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let (client, server) = unix_pair().await?;
    let file = std::fs::File::open("/dev/null")?;
    for size in HUGE {
        client.send_fds(b"with a descriptor", &[&file]).await?;
        let (data, fds) = server.receive_fds(size, 1).await?;
        assert_eq!(data, b"with a descriptor");
        assert_eq!(fds.len(), 1);
    }
    Ok(())
}

#[cfg(feature = "tls")]
async fn tls_stream_before_its_handshake_receives_a_huge_size() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let (client, server) = tcp_pair().await?;
    let tls = TlsConnector::new().client(server, "localhost")?;
    assert!(!tls.is_tls_started());
    huge_receives_return_what_arrived(&client, &tls).await?;
    huge_receives_return_what_arrived(&tls, &client).await?;
    Ok(())
}

async fn file_read_stream_receive_of_a_huge_size_returns_the_file() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let mut file = tempfile()?;
    let contents: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    file.write_all(&contents)?;
    for size in HUGE {
        let mut stream = FileReadStream::new(file.try_clone()?);
        stream.seek(io::SeekFrom::Start(0)).await?;
        assert_eq!(stream.receive(size).await?, contents);
        assert!(stream.receive(size).await.unwrap_err().is_end_of_stream());
        stream.aclose().await?;
    }
    Ok(())
}

/// An anonymous file, deleted when closed.
fn tempfile() -> io::Result<std::fs::File> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("anyio-huge-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

async fn buffered_reads_of_a_huge_size_return_what_arrived() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let (client, server) = tcp_pair().await?;
    let stream = BufferedByteStream::new(server);
    client.send(b"first\nsecond\nthird\n").await?;
    assert_eq!(stream.receive_until(b"\n", usize::MAX).await?, b"first");
    assert_eq!(stream.receive_until(b"\n", 1 << 40).await?, b"second");
    {
        let mut chunks = stream.receive_delimited_chunks(b"\n", 64 << 30);
        assert_eq!(chunks.next().await.unwrap()?, b"third");
        client.send(b"fourth\n").await?;
        assert_eq!(chunks.next().await.unwrap()?, b"fourth");
    }
    client.send(b"12345").await?;
    assert_eq!(stream.receive(usize::MAX).await?, b"12345");
    client.send(b"the rest").await?;
    client.send_eof().await?;
    let err = stream.receive_exactly(1 << 40).await.unwrap_err();
    assert!(err.is_incomplete_read(), "{err}");
    assert_eq!(stream.buffer(), b"the rest");
    let err = stream.receive_until(b"\n", usize::MAX).await.unwrap_err();
    assert!(err.is_incomplete_read(), "{err}");
    assert_eq!(stream.buffer(), b"the rest");
    Ok(())
}

async fn datagram_receives_return_the_datagram() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    let udp = create_udp_socket(None, Some("127.0.0.1"), 0).await?;
    let port = udp.local_port()?;
    let connected = create_connected_udp_socket("127.0.0.1", port).await?;
    let big = vec![7u8; 65507];
    for message in [&b"small"[..], &big] {
        connected.send(message).await?;
        let (data, _) = udp.receive().await?;
        assert_eq!(data, message);
        assert!(data.capacity() < 2 * data.len().max(64));
    }
    let addr = unix_address();
    let unix = create_unix_datagram_socket(Some(addr.clone()), None).await?;
    let connected = create_connected_unix_datagram_socket(addr, None, None).await?;
    for message in [&b"small"[..], &big] {
        connected.send(message).await?;
        let (data, _) = unix.receive().await?;
        assert_eq!(data, message);
    }
    Ok(())
}

#[cfg(feature = "tls")]
on_every_flavour!(tls_stream_before_its_handshake_receives_a_huge_size);

on_every_flavour!(
    tcp_receive_of_a_huge_size_returns_what_arrived,
    unix_receive_of_a_huge_size_returns_what_arrived,
    unix_receive_fds_of_a_huge_msglen_returns_what_arrived,
    file_read_stream_receive_of_a_huge_size_returns_the_file,
    buffered_reads_of_a_huge_size_return_what_arrived,
    datagram_receives_return_the_datagram,
);

/// A field of `/proc/self/status` in KiB ("VmRSS", "VmSize").
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 200 receives parked on idle connections, with `max_bytes` of 1 GiB each, hold no
/// buffer: neither the resident nor the virtual size of the process grows by more than a
/// few MiB (an allocation of `max_bytes` would add 200 GiB of address space).
#[anyio::test]
async fn parked_receives_hold_no_buffer() -> Result<(), BoxError> {
    if !in_child() {
        return Ok(());
    }
    const PARKED: usize = 200;
    let listener = tcp_listener().await?;
    let port = listener.local_port()?;
    let mut pairs = Vec::new();
    for _ in 0..PARKED {
        let (client, server) =
            futures_lite::future::zip(connect_tcp("127.0.0.1", port), listener.accept()).await;
        pairs.push((client?, Arc::new(server?)));
    }
    let (rss, size) = (status_kib("VmRSS"), status_kib("VmSize"));
    anyio::task_group(|tg: TaskGroup| async move {
        for (_, server) in &pairs {
            let server = Arc::clone(server);
            tg.start_soon(async move {
                let _ = server.receive(1 << 30).await; // until the group is cancelled
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        let rss_kib = status_kib("VmRSS").saturating_sub(rss);
        let size_kib = status_kib("VmSize").saturating_sub(size);
        assert!(rss_kib < 20 * 1024, "RSS grew by {rss_kib} KiB");
        assert!(
            size_kib < 64 * 1024,
            "the address space grew by {size_kib} KiB"
        );
        tg.cancel();
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(())
}
