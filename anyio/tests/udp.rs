//! UDP: `create_udp_socket`, `create_connected_udp_socket` and their sockets under AnyIO's
//! rules, on every backend, over IPv4 and IPv6 loopback.
#![cfg(unix)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyio::net::{
    AddressFamily, ConnectedUdpSocket, SocketAddress, SocketAttributes, UdpSocket,
    UdpSocketOptions, create_connected_udp_socket, create_udp_socket,
};
use anyio::stream::{AsyncResource, IoErrorExt, ObjectReceiveStream, ObjectSendStream};
use anyio::{BoxError, TaskGroup, fail_after, move_on_after, wait_all_tasks_blocked};
use futures_lite::StreamExt;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Only reached when a test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// A socket bound to a free port of `ip`.
async fn bound(ip: IpAddr) -> io::Result<UdpSocket> {
    create_udp_socket(None, Some(&ip.to_string()), 0).await
}

/// The address of `socket`, as senders see it.
fn addr_of(socket: &impl SocketAttributes) -> io::Result<SocketAddr> {
    Ok(socket.local_address()?.as_ip().expect("an IP socket"))
}

#[anyio::test]
async fn datagrams_arrive_exactly_with_the_senders_address() -> Result<(), BoxError> {
    for ip in [V4, V6] {
        let (a, b) = (bound(ip).await?, bound(ip).await?);
        let b_addr = addr_of(&b)?;
        assert_eq!(b_addr.ip(), ip);
        assert_ne!(b_addr.port(), 0);
        let payload: Vec<u8> = (0..1200u32).map(|i| (i % 251) as u8).collect();
        a.send_to(&payload, b_addr).await?;
        let (data, from) = b.receive().await?;
        assert_eq!(data, payload, "over {ip}");
        assert_eq!(from, addr_of(&a)?, "the sender's address over {ip}");
        // Answering the sender, through the object-stream traits.
        ObjectSendStream::send(&b, (b"reply".to_vec(), from)).await?;
        let (reply, from_b) = ObjectReceiveStream::receive(&a).await?;
        assert_eq!((reply.as_slice(), from_b), (&b"reply"[..], b_addr));
    }
    Ok(())
}

#[anyio::test]
async fn the_largest_datagrams_and_empty_ones_arrive_whole() -> Result<(), BoxError> {
    // The largest UDP payloads: 65535 less the IP and UDP headers.
    for (ip, largest) in [(V4, 65_507usize), (V6, 65_527)] {
        let (a, b) = (bound(ip).await?, bound(ip).await?);
        let payload: Vec<u8> = (0..largest).map(|i| (i % 253) as u8).collect();
        a.send_to(&payload, addr_of(&b)?).await?;
        assert_eq!(b.receive().await?.0, payload, "over {ip}");
        a.send_to(b"", addr_of(&b)?).await?;
        assert_eq!(b.receive().await?.0, b"", "an empty datagram, not an end");
    }
    Ok(())
}

#[anyio::test]
async fn sendto_resolves_the_host() -> Result<(), BoxError> {
    let receiver = bound(V4).await?;
    let port = receiver.local_port()?;
    let sender = create_udp_socket(Some(AddressFamily::Ipv4), None, 0).await?;
    assert_eq!(sender.family()?, AddressFamily::Ipv4);
    assert_eq!(
        sender.local_address()?,
        SocketAddress::Ip(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            sender.local_port()?
        ))
    );
    sender.sendto(b"by literal", "127.0.0.1", port).await?;
    assert_eq!(receiver.receive().await?.0, b"by literal");
    // A name, resolved in the socket's family.
    sender.sendto(b"by name", "localhost", port).await?;
    assert_eq!(receiver.receive().await?.0, b"by name");
    Ok(())
}

#[anyio::test]
async fn incoming_is_a_stream_of_datagrams() -> Result<(), BoxError> {
    let (a, b) = (bound(V6).await?, bound(V6).await?);
    let b_addr = addr_of(&b)?;
    for i in 0..5u8 {
        a.send_to(&[i], b_addr).await?;
    }
    let mut incoming = b.incoming();
    for i in 0..5u8 {
        let (data, from) = incoming.next().await.expect("never ends")?;
        assert_eq!((data, from), (vec![i], addr_of(&a)?));
    }
    Ok(())
}

#[anyio::test]
async fn neither_family_nor_local_host_is_refused_with_anyios_message() -> Result<(), BoxError> {
    let err = create_udp_socket(None, None, 0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "Either \"family\" or \"local_host\" must be given"
    );
    let err = UdpSocketOptions::new().bind().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Either \"family\" or \"local_host\" must be given"
    );
    let err = create_udp_socket(Some(AddressFamily::Unix), None, 0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = create_udp_socket(Some(AddressFamily::Ipv4), Some("::1"), 0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    Ok(())
}

#[anyio::test]
async fn a_family_alone_binds_the_unspecified_address() -> Result<(), BoxError> {
    let v6 = create_udp_socket(Some(AddressFamily::Ipv6), None, 0).await?;
    assert_eq!(v6.family()?, AddressFamily::Ipv6);
    let local = addr_of(&v6)?;
    assert_eq!(local.ip(), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    // And it receives on loopback.
    let sender = bound(V6).await?;
    sender
        .send_to(b"to ::", SocketAddr::new(V6, local.port()))
        .await?;
    assert_eq!(v6.receive().await?.0, b"to ::");
    // A taken port is an error that names the address.
    let taken = bound(V4).await?;
    let port = taken.local_port()?;
    let err = create_udp_socket(None, Some("127.0.0.1"), port)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    Ok(())
}

#[anyio::test]
async fn connected_sockets_talk_only_to_their_peer() -> Result<(), BoxError> {
    for ip in [V4, V6] {
        let server = bound(ip).await?;
        let server_addr = addr_of(&server)?;
        let client = create_connected_udp_socket(&ip.to_string(), server_addr.port()).await?;
        assert_eq!(client.remote_address()?, SocketAddress::Ip(server_addr));
        assert_eq!(client.remote_port()?, server_addr.port());
        client.send(b"ping").await?;
        let (data, from) = server.receive().await?;
        assert_eq!(data, b"ping");
        assert_eq!(from, addr_of(&client)?);
        // A stranger's datagram is not received by the connected socket...
        let stranger = bound(ip).await?;
        stranger.send_to(b"stranger", from).await?;
        let got = move_on_after(Duration::from_millis(50), client.receive()).await?;
        assert_eq!(got, None, "over {ip}");
        // ... its peer's is.
        server.send_to(b"pong", from).await?;
        assert_eq!(client.receive().await?, b"pong");
        ObjectSendStream::send(&client, b"trait".to_vec()).await?;
        assert_eq!(server.receive().await?.0, b"trait");
        server.send_to(b"stream", from).await?;
        assert_eq!(
            client.incoming().next().await.expect("never ends")?,
            b"stream"
        );
        server.send_to(b"object", from).await?;
        assert_eq!(ObjectReceiveStream::receive(&client).await?, b"object");
    }
    Ok(())
}

#[anyio::test]
async fn connecting_from_a_local_host_and_port() -> Result<(), BoxError> {
    let server = bound(V4).await?;
    let local_port = bound(V4).await?.local_port()?; // free a moment ago
    let client = UdpSocketOptions::new()
        .local_host("127.0.0.1")
        .local_port(local_port)
        .connect("localhost", server.local_port()?)
        .await?;
    assert_eq!(
        client.local_address()?,
        SocketAddress::Ip(SocketAddr::new(V4, local_port))
    );
    client.send(b"from a chosen port").await?;
    let (data, from) = server.receive().await?;
    assert_eq!(data, b"from a chosen port");
    assert_eq!(from, SocketAddr::new(V4, local_port));
    Ok(())
}

#[anyio::test]
async fn port_unreachable_is_broken_resource_caused_by_econnrefused() -> Result<(), BoxError> {
    // A port that was just free: nobody receives there.
    let port = bound(V4).await?.local_port()?;
    let client = create_connected_udp_socket("127.0.0.1", port).await?;
    client.send(b"anyone?").await?;
    // The ICMP error is pending by now (loopback delivers it during the send); the
    // receive must report it, not wait for a datagram that will never come.
    let err = fail_after(DEADLINE, client.receive()).await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let cause = err.os_error().expect("the OS error is kept");
    assert_eq!(cause.raw_os_error(), Some(libc::ECONNREFUSED));
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "names the peer: {err}"
    );
    Ok(())
}

#[anyio::test]
async fn port_unreachable_wakes_a_receive_already_waiting() -> Result<(), BoxError> {
    let port = bound(V4).await?.local_port()?;
    let client = Arc::new(create_connected_udp_socket("127.0.0.1", port).await?);
    let reader = client.clone();
    let (res, sent) = futures_lite::future::zip(
        fail_after(DEADLINE, async move { reader.receive().await }),
        async {
            wait_all_tasks_blocked().await?;
            ConnectedUdpSocket::send(&client, b"anyone?").await
        },
    )
    .await;
    sent?;
    let err = res.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::ECONNREFUSED)
    );
    Ok(())
}

#[anyio::test]
async fn own_close_gives_closed_resource_even_to_a_blocked_receive() -> Result<(), BoxError> {
    let socket = Arc::new(bound(V4).await?);
    let reader = socket.clone();
    let (res, ()) = futures_lite::future::zip(async move { reader.receive().await }, async {
        wait_all_tasks_blocked().await.unwrap();
        AsyncResource::aclose(&*socket).await.unwrap();
    })
    .await;
    let err = res.unwrap_err();
    assert!(err.is_closed_resource(), "blocked receive: {err}");
    socket.aclose().await?; // closing twice is fine
    assert!(socket.receive().await.unwrap_err().is_closed_resource());
    let to = SocketAddr::new(V4, 9);
    assert!(
        socket
            .send_to(b"x", to)
            .await
            .unwrap_err()
            .is_closed_resource()
    );
    let err = socket
        .incoming()
        .next()
        .await
        .expect("an item")
        .unwrap_err();
    assert!(err.is_closed_resource(), "{err}");

    let peer = bound(V4).await?;
    let connected: Arc<ConnectedUdpSocket> =
        Arc::new(create_connected_udp_socket("127.0.0.1", peer.local_port()?).await?);
    let reader = connected.clone();
    let (res, ()) = futures_lite::future::zip(async move { reader.receive().await }, async {
        wait_all_tasks_blocked().await.unwrap();
        connected.aclose().await.unwrap();
    })
    .await;
    assert!(res.unwrap_err().is_closed_resource());
    Ok(())
}

#[anyio::test]
async fn two_receivers_at_once_is_busy() -> Result<(), BoxError> {
    let socket = Arc::new(bound(V4).await?);
    let addr = addr_of(&*socket)?;
    let sender = bound(V4).await?;
    anyio::task_group(|tg: TaskGroup| async move {
        let first = socket.clone();
        tg.start_soon(async move {
            assert_eq!(first.receive().await?.0, b"one");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let err = socket.receive().await.unwrap_err();
        assert!(err.is_busy_resource(), "{err}");
        assert_eq!(
            err.to_string(),
            "Another task is already reading from this resource"
        );
        sender.send_to(b"one", addr).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn a_cancelled_receive_loses_nothing() -> Result<(), BoxError> {
    let (a, b) = (bound(V4).await?, bound(V4).await?);
    let timed_out = move_on_after(Duration::from_millis(30), b.receive()).await?;
    assert!(timed_out.is_none());
    a.send_to(b"kept", addr_of(&b)?).await?;
    assert_eq!(b.receive().await?.0, b"kept");
    Ok(())
}

#[anyio::test]
async fn multicast_on_loopback_reaches_a_group_member() -> Result<(), BoxError> {
    let group = Ipv4Addr::new(224, 0, 0, 123);
    let receiver = UdpSocketOptions::new()
        .family(AddressFamily::Ipv4)
        .reuse_address(true)
        .bind()
        .await?;
    assert!(receiver.raw_socket().reuse_address()?);
    let port = receiver.local_port()?;
    receiver.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    let sender = bound(V4).await?;
    sender
        .raw_socket()
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
    sender.set_multicast_ttl_v4(1)?;
    assert_eq!(sender.multicast_ttl_v4()?, 1);
    sender.set_multicast_loop_v4(true)?;
    assert!(sender.multicast_loop_v4()?);
    sender
        .send_to(b"to the group", SocketAddr::new(IpAddr::V4(group), port))
        .await?;
    let (data, from) = receiver.receive().await?;
    assert_eq!(data, b"to the group");
    assert_eq!(from, addr_of(&sender)?);
    // Leaving a group joined works once; a second time it is no group of this socket.
    receiver.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    let err = receiver
        .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable, "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::EADDRNOTAVAIL),
        "{err}"
    );
    assert!(err.to_string().contains("224.0.0.123"), "{err}");
    sender.set_multicast_loop_v4(false)?;
    assert!(!sender.multicast_loop_v4()?);
    // Not a multicast address.
    assert!(
        receiver
            .join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)
            .is_err()
    );
    Ok(())
}

#[anyio::test]
async fn ipv6_multicast_groups_are_joined_and_left() -> Result<(), BoxError> {
    // Loopback carries no IPv6 multicast on Linux (sending to ff02:: on it is ENETUNREACH),
    // but joining and leaving a group on it work, which is what this socket does.
    let group: Ipv6Addr = "ff02::123".parse()?;
    // SAFETY: the argument is a NUL-terminated string; the call only reads it.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    assert_ne!(lo, 0, "the loopback interface is lo");
    let socket = create_udp_socket(Some(AddressFamily::Ipv6), None, 0).await?;
    socket.join_multicast_v6(&group, lo)?;
    socket.set_multicast_loop_v6(false)?;
    assert!(!socket.multicast_loop_v6()?);
    socket.set_multicast_loop_v6(true)?;
    assert!(socket.multicast_loop_v6()?);
    socket.leave_multicast_v6(&group, lo)?;
    let err = socket.leave_multicast_v6(&group, lo).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable, "{err}");
    Ok(())
}

#[anyio::test]
async fn the_broadcast_flag_is_set_and_read_back() -> Result<(), BoxError> {
    let socket = create_udp_socket(Some(AddressFamily::Ipv4), None, 0).await?;
    assert!(!socket.broadcast()?, "off by default");
    let err = socket
        .send_to(b"x", SocketAddr::new(IpAddr::V4(Ipv4Addr::BROADCAST), 9))
        .await
        .unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "EACCES: {err}");
    socket.set_broadcast(true)?;
    assert!(socket.broadcast()?);
    assert!(socket.raw_socket().broadcast()?);
    socket.set_broadcast(false)?;
    assert!(!socket.broadcast()?);
    Ok(())
}

#[anyio::test]
async fn reuse_port_lets_two_sockets_share_a_port() -> Result<(), BoxError> {
    let first = UdpSocketOptions::new()
        .local_host("127.0.0.1")
        .reuse_port(true)
        .bind()
        .await?;
    let port = first.local_port()?;
    let second = UdpSocketOptions::new()
        .local_host("127.0.0.1")
        .local_port(port)
        .reuse_port(true)
        .bind()
        .await?;
    assert_eq!(second.local_port()?, port);
    assert!(second.raw_socket().reuse_port()?);
    Ok(())
}

/// Every future and stream of this module can move between threads (the tokio backend's
/// workers), so it can run in any task.
#[test]
fn futures_and_streams_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_unpin<T: Send + Unpin>(_: &T) {}
    fn futures(udp: &UdpSocket, connected: &ConnectedUdpSocket, to: SocketAddr) {
        send(&create_udp_socket(None, Some("127.0.0.1"), 0));
        send(&create_connected_udp_socket("127.0.0.1", 9));
        send(&UdpSocketOptions::new().bind());
        send(&udp.receive());
        send(&udp.send_to(b"x", to));
        send(&udp.sendto(b"x", "localhost", 9));
        send_unpin(&udp.incoming());
        send(&connected.receive());
        send(&connected.send(b"x"));
        send_unpin(&connected.incoming());
    }
    let _ = futures;
}

#[anyio::test]
async fn a_send_that_fails_for_one_datagram_is_the_os_error_and_the_socket_goes_on()
-> Result<(), BoxError> {
    let server = bound(V4).await?;
    let to = addr_of(&server)?;
    let client = bound(V4).await?;
    // Longer than any UDP datagram: EMSGSIZE, matchable as InvalidInput.
    let err = client.send_to(&vec![0; 70_000], to).await.unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::EMSGSIZE),
        "{err}"
    );
    assert!(
        err.to_string().contains(&to.to_string()),
        "names the address: {err}"
    );
    // Port 0 is no destination: EINVAL.
    let err = client
        .send_to(b"x", SocketAddr::new(V4, 0))
        .await
        .unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(
        err.raw_os_error()
            .or_else(|| err.os_error()?.raw_os_error()),
        Some(libc::EINVAL)
    );
    // The socket still works.
    client.send_to(b"still here", to).await?;
    let (data, from) = fail_after(DEADLINE, server.receive()).await?;
    assert_eq!(data, b"still here");
    assert_eq!(from, addr_of(&client)?);
    // The same on a connected socket.
    let connected = create_connected_udp_socket("127.0.0.1", to.port()).await?;
    let err = connected.send(&vec![0; 70_000]).await.unwrap_err();
    assert!(!err.is_broken_resource(), "{err}");
    assert_eq!(
        err.os_error().and_then(|e| e.raw_os_error()),
        Some(libc::EMSGSIZE),
        "{err}"
    );
    connected.send(b"connected").await?;
    assert_eq!(
        fail_after(DEADLINE, server.receive()).await?.0,
        b"connected"
    );
    Ok(())
}
