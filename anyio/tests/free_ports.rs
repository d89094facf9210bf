//! Free ports: `free_tcp_port`, `free_udp_port` and `FreePortFactory` never hand out a
//! port twice in one process, and each port binds on both loopback addresses.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};

use anyio::testing::{FreePortFactory, PortKind, free_tcp_port, free_udp_port};

/// Whether this host can bind ::1 at all.
fn has_ipv6() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[test]
fn tcp_ports_are_unique_and_bind_on_both_loopbacks() {
    let ipv6 = has_ipv6();
    let factory = FreePortFactory::tcp();
    assert_eq!(factory.kind(), PortKind::Tcp);
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let port = factory.next_port().unwrap();
        assert!(seen.insert(port), "port {port} handed out twice");
        let _v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        if ipv6 {
            let _v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).unwrap();
        }
    }
    // The free function shares the registry.
    for _ in 0..20 {
        assert!(seen.insert(free_tcp_port().unwrap()));
    }
}

#[test]
fn udp_ports_are_unique_and_bind_on_both_loopbacks() {
    let ipv6 = has_ipv6();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let port = free_udp_port().unwrap();
        assert!(seen.insert(port), "port {port} handed out twice");
        let _v4 = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        if ipv6 {
            let _v6 = UdpSocket::bind((Ipv6Addr::LOCALHOST, port)).unwrap();
        }
    }
    let factory = FreePortFactory::new(PortKind::Udp);
    for _ in 0..20 {
        assert!(seen.insert(factory.next_port().unwrap()));
    }
}

#[test]
fn factories_used_from_several_threads_share_one_registry() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..50)
                    .map(|_| FreePortFactory::tcp().next_port().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for thread in threads {
        for port in thread.join().unwrap() {
            assert!(seen.insert(port), "port {port} handed out twice");
        }
    }
    assert_eq!(seen.len(), 200);
}
