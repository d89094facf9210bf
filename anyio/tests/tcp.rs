//! TCP: `connect_tcp`, `create_tcp_listener` and `SocketStream` under AnyIO's rules 16–18,
//! on every backend, over IPv4 and IPv6 loopback.
#![cfg(unix)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyio::net::{
    AddressFamily, ConnectionFailed, SocketAddress, SocketAttributes, SocketListener, SocketStream,
    TcpConnector, TcpListenerOptions, connect_tcp, create_tcp_listener,
};
use anyio::stream::{IoErrorExt, Listener};
use anyio::{BoxError, TaskGroup, fail_after, move_on_after, wait_all_tasks_blocked};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Only reached when a test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// A listener on one loopback address.
async fn listen(ip: IpAddr) -> io::Result<SocketListener> {
    let multi = TcpListenerOptions::new()
        .local_host(ip.to_string())
        .bind()
        .await?;
    let mut listeners = multi.into_listeners();
    assert_eq!(listeners.len(), 1);
    Ok(listeners.remove(0))
}

/// A connected pair over `ip`: (client, server side).
async fn pair(ip: IpAddr) -> io::Result<(SocketStream, SocketStream)> {
    let listener = listen(ip).await?;
    let port = listener.local_port()?;
    let (client, server) =
        futures_lite::future::zip(connect_tcp(&ip.to_string(), port), listener.accept()).await;
    Ok((client?, server?))
}

#[anyio::test]
async fn bytes_cross_both_ways_exactly_over_ipv4_and_ipv6() -> Result<(), BoxError> {
    for ip in [V4, V6] {
        let (client, server) = pair(ip).await?;
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let (sent_res, received) = futures_lite::future::zip(
            async {
                client.send(&sent).await?;
                client.send_eof().await
            },
            async {
                let mut got = Vec::new();
                loop {
                    match server.receive(65536).await {
                        Ok(chunk) => {
                            assert!(!chunk.is_empty() && chunk.len() <= 65536);
                            got.extend_from_slice(&chunk);
                        }
                        Err(e) if e.is_end_of_stream() => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok::<_, io::Error>(got)
            },
        )
        .await;
        sent_res?;
        assert_eq!(received?, payload, "over {ip}");
        // The other direction still works after the client's half-close.
        server.send(b"reply").await?;
        assert_eq!(client.receive(100).await?, b"reply");
    }
    Ok(())
}

#[anyio::test]
async fn attributes_name_both_ends() -> Result<(), BoxError> {
    for (ip, family) in [(V4, AddressFamily::Ipv4), (V6, AddressFamily::Ipv6)] {
        let (client, server) = pair(ip).await?;
        assert_eq!(client.family()?, family);
        assert_eq!(client.remote_address()?, server.local_address()?);
        assert_eq!(client.local_address()?, server.remote_address()?);
        assert_eq!(client.remote_port()?, server.local_port()?);
        assert_eq!(
            client.remote_address()?,
            SocketAddress::Ip(SocketAddr::new(ip, server.local_port()?))
        );
        assert!(client.raw_socket().tcp_nodelay()?, "TCP_NODELAY is on");
        assert!(server.raw_socket().tcp_nodelay()?, "accepted sockets too");
        client.raw_socket().set_recv_buffer_size(1 << 16)?;
        assert!(client.raw_socket().recv_buffer_size()? >= 1 << 16);
    }
    Ok(())
}

#[anyio::test]
async fn end_of_stream_comes_after_the_data_already_sent() -> Result<(), BoxError> {
    let (client, server) = pair(V4).await?;
    client.send(b"last words").await?;
    client.aclose().await?;
    // Give the FIN time to arrive too: the data must still come first.
    anyio::sleep(Duration::from_millis(50)).await?;
    assert_eq!(server.receive(100).await?, b"last words");
    let err = server.receive(100).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    let again = server.receive(100).await.unwrap_err();
    assert!(again.is_end_of_stream(), "EOF again: {again}");
    Ok(())
}

#[anyio::test]
async fn own_close_gives_closed_resource_even_to_a_blocked_receive() -> Result<(), BoxError> {
    let (client, _server) = pair(V4).await?;
    let client = Arc::new(client);
    let reader = client.clone();
    let (res, ()) = futures_lite::future::zip(async move { reader.receive(10).await }, async {
        wait_all_tasks_blocked().await.unwrap();
        anyio::sleep(Duration::from_millis(20)).await.unwrap();
        client.aclose().await.unwrap();
    })
    .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "blocked receive: {err}");
    let _ = &_server;
    Ok(())
}

#[anyio::test]
async fn every_operation_after_close_is_closed_resource() -> Result<(), BoxError> {
    let (client, _server) = pair(V4).await?;
    client.aclose().await?;
    client.aclose().await?; // closing twice is fine
    assert!(client.receive(10).await.unwrap_err().is_closed_resource());
    assert!(client.send(b"x").await.unwrap_err().is_closed_resource());
    assert!(client.send_eof().await.unwrap_err().is_closed_resource());
    let mut buf = [0u8; 4];
    assert!(
        client
            .receive_into(&mut buf)
            .await
            .unwrap_err()
            .is_closed_resource()
    );
    Ok(())
}

#[anyio::test]
async fn two_receivers_at_once_is_busy() -> Result<(), BoxError> {
    let (client, server) = pair(V4).await?;
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
        server.send(b"hi").await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn a_reset_is_broken_resource_with_the_os_error_as_cause() -> Result<(), BoxError> {
    let (client, server) = pair(V4).await?;
    // Linger 0: closing sends a reset instead of a FIN.
    server.raw_socket().set_linger(Some(Duration::ZERO))?;
    drop(server);
    anyio::sleep(Duration::from_millis(50)).await?;
    let err = client.receive(10).await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let cause = err.os_error().expect("the OS error is kept");
    assert_eq!(cause.raw_os_error(), Some(libc::ECONNRESET));
    assert!(
        err.to_string().contains("127.0.0.1"),
        "names the peer: {err}"
    );
    Ok(())
}

#[anyio::test]
async fn zero_max_bytes_is_an_error_not_a_panic() -> Result<(), BoxError> {
    let (client, _server) = pair(V4).await?;
    let err = client.receive(0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "max_bytes must be a positive integer");
    let err = client.receive_into(&mut []).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

#[anyio::test]
async fn a_cancelled_receive_loses_nothing() -> Result<(), BoxError> {
    let (client, server) = pair(V6).await?;
    let timed_out = move_on_after(Duration::from_millis(30), client.receive(10)).await?;
    assert!(timed_out.is_none());
    server.send(b"kept").await?;
    assert_eq!(client.receive(10).await?, b"kept");
    Ok(())
}

#[anyio::test]
async fn refused_connections_say_where_and_keep_every_attempt() -> Result<(), BoxError> {
    // A port that was just free: bind, note, close.
    let port = listen(V4).await?.local_port()?;
    let err = connect_tcp("127.0.0.1", port).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let failed = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ConnectionFailed>())
        .expect("a ConnectionFailed");
    assert_eq!(failed.attempts().len(), 1);
    assert_eq!(failed.attempts()[0].0, SocketAddr::new(V4, port));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "All connection attempts to 127.0.0.1:{port} failed"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("connecting to 127.0.0.1:{port}")),
        "{msg}"
    );
    Ok(())
}

#[anyio::test]
async fn a_name_is_resolved_and_connected() -> Result<(), BoxError> {
    let listener = listen(V4).await?;
    let port = listener.local_port()?;
    let (client, server) =
        futures_lite::future::zip(connect_tcp("localhost", port), listener.accept()).await;
    let (client, server) = (client?, server?);
    client.send(b"ping").await?;
    assert_eq!(server.receive(10).await?, b"ping");
    Ok(())
}

#[anyio::test]
async fn connecting_from_a_local_port() -> Result<(), BoxError> {
    let listener = listen(V4).await?;
    let port = listener.local_port()?;
    let local_port = listen(V4).await?.local_port()?; // free a moment ago
    let connector = TcpConnector::new()
        .local_host("127.0.0.1")
        .local_port(local_port);
    let (client, server) =
        futures_lite::future::zip(connector.connect("127.0.0.1", port), listener.accept()).await;
    let (client, server) = (client?, server?);
    assert_eq!(client.local_port()?, local_port);
    assert_eq!(server.remote_port()?, local_port);
    Ok(())
}

#[anyio::test]
async fn default_listener_takes_ipv4_and_ipv6_on_one_port() -> Result<(), BoxError> {
    let multi = create_tcp_listener(None, 0).await?;
    assert_eq!(multi.listeners().len(), 1, "one dual-stack socket");
    let listener = &multi.listeners()[0];
    assert_eq!(listener.family()?, AddressFamily::Ipv6);
    let port = listener.local_port()?;
    for ip in [V4, V6] {
        let (client, server) =
            futures_lite::future::zip(connect_tcp(&ip.to_string(), port), listener.accept()).await;
        let (client, server) = (client?, server?);
        client.send(ip.to_string().as_bytes()).await?;
        assert_eq!(server.receive(64).await?, ip.to_string().as_bytes());
    }
    Ok(())
}

#[anyio::test]
async fn listeners_for_several_addresses_share_one_port() -> Result<(), BoxError> {
    // "::1" and "127.0.0.1" are two hosts; a name with both would be one call.
    let multi = TcpListenerOptions::new().local_host("::1").bind().await?;
    let port = multi.listeners()[0].local_port()?;
    let v4 = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .local_port(port)
        .bind()
        .await?;
    assert_eq!(v4.listeners()[0].local_port()?, port);
    assert_eq!(
        multi.listeners()[0].local_address()?,
        SocketAddress::Ip(SocketAddr::new(V6, port))
    );
    Ok(())
}

#[anyio::test]
async fn a_taken_port_is_an_error_that_names_the_address() -> Result<(), BoxError> {
    let taken = listen(V4).await?;
    let port = taken.local_port()?;
    let err = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .local_port(port)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(
        err.to_string()
            .contains(&format!("listening on 127.0.0.1:{port}")),
        "{err}"
    );
    Ok(())
}

#[anyio::test]
async fn reuse_port_lets_two_listeners_share_a_port() -> Result<(), BoxError> {
    let first = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .reuse_port(true)
        .bind()
        .await?;
    let port = first.listeners()[0].local_port()?;
    let second = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .local_port(port)
        .reuse_port(true)
        .bind()
        .await?;
    assert_eq!(second.listeners()[0].local_port()?, port);
    assert!(second.listeners()[0].raw_socket().reuse_port()?);
    Ok(())
}

#[anyio::test]
async fn serve_runs_each_connection_in_its_own_task() -> Result<(), BoxError> {
    let listener = Arc::new(listen(V4).await?);
    let port = listener.local_port()?;
    let served = listener.clone();
    let res = move_on_after(DEADLINE, async move {
        anyio::task_group(|tg: TaskGroup| async move {
            tg.start_soon(async move {
                served
                    .serve(|stream: SocketStream| async move {
                        while let Ok(data) = stream.receive(1024).await {
                            if stream.send(&data).await.is_err() {
                                break;
                            }
                        }
                    })
                    .await?;
                Ok(())
            })?;
            // A silent client and a client that resets do not stall the others.
            let _silent = connect_tcp("127.0.0.1", port).await?;
            let resetter = connect_tcp("127.0.0.1", port).await?;
            resetter.raw_socket().set_linger(Some(Duration::ZERO))?;
            drop(resetter);
            let half = connect_tcp("127.0.0.1", port).await?;
            half.send(b"half").await?;
            half.send_eof().await?;
            assert_eq!(half.receive(10).await?, b"half");
            for i in 0..20u32 {
                let c = connect_tcp("127.0.0.1", port).await?;
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
async fn closing_the_listener_ends_serve_with_closed_resource() -> Result<(), BoxError> {
    let listener = Arc::new(listen(V4).await?);
    let closer = listener.clone();
    let (res, ()) =
        futures_lite::future::zip(listener.serve(|_s: SocketStream| async {}), async move {
            wait_all_tasks_blocked().await.unwrap();
            closer.aclose().await.unwrap();
        })
        .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    Ok(())
}

#[anyio::test]
async fn incoming_is_a_stream_of_connections() -> Result<(), BoxError> {
    let listener = listen(V4).await?;
    let port = listener.local_port()?;
    let mut incoming = listener.incoming();
    for i in 0..3u8 {
        let (client, server) =
            futures_lite::future::zip(connect_tcp("127.0.0.1", port), incoming.next()).await;
        let server = server.expect("never ends")?;
        client?.send(&[i]).await?;
        assert_eq!(server.receive(1).await?, [i]);
    }
    Ok(())
}

#[anyio::test]
async fn futures_io_traits_read_and_write() -> Result<(), BoxError> {
    let (mut client, mut server) = pair(V4).await?;
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
async fn a_cancelled_scope_interrupts_a_trait_read() -> Result<(), BoxError> {
    let (mut client, _server) = pair(V4).await?;
    let mut buf = [0u8; 8];
    let started = Instant::now();
    let res = move_on_after(Duration::from_millis(50), async {
        client.read(&mut buf).await.map_err(BoxError::from)
    })
    .await?;
    assert!(res.is_none());
    assert!(started.elapsed() < DEADLINE);
    Ok(())
}

#[anyio::test]
async fn a_big_send_waits_for_room_and_delivers_everything() -> Result<(), BoxError> {
    let (client, server) = pair(V4).await?;
    let payload = vec![0xa5u8; 8 << 20];
    let total = fail_after(DEADLINE, async {
        let (sent, got) = futures_lite::future::zip(client.send(&payload), async {
            let mut n = 0;
            let mut buf = vec![0u8; 65536];
            while n < payload.len() {
                let k = server.receive_into(&mut buf).await?;
                assert!(buf[..k].iter().all(|&b| b == 0xa5));
                n += k;
            }
            Ok::<_, io::Error>(n)
        })
        .await;
        sent?;
        got
    })
    .await?;
    assert_eq!(total, 8 << 20);
    Ok(())
}

#[anyio::test]
async fn unix_family_is_refused_for_tcp() {
    let err = TcpListenerOptions::new()
        .family(AddressFamily::Unix)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[cfg(feature = "tokio-io")]
#[anyio::test]
async fn tokio_io_traits_read_and_write_on_every_backend() -> Result<(), BoxError> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (mut client, server) = pair(V4).await?;
    tokio::io::AsyncWriteExt::write_all(&mut client, b"alpha\nbeta\n").await?;
    tokio::io::AsyncWriteExt::shutdown(&mut client).await?;
    let mut lines = BufReader::new(server).lines();
    assert_eq!(lines.next_line().await?.as_deref(), Some("alpha"));
    assert_eq!(lines.next_line().await?.as_deref(), Some("beta"));
    assert_eq!(lines.next_line().await?, None);
    let mut server = lines.into_inner().into_inner();
    tokio::io::AsyncWriteExt::write_all(&mut server, b"ok").await?;
    let mut buf = [0u8; 2];
    tokio::io::AsyncReadExt::read_exact(&mut client, &mut buf).await?;
    assert_eq!(&buf, b"ok");
    Ok(())
}
