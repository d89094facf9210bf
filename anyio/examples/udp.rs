//! UDP: the manual's hello service and a client for it, run in one task group.
//!
//! The service answers each datagram with `Hello, ` and the datagram; the client sends a
//! few names and prints the answers. Both use 127.0.0.1, the service on a port the OS
//! chooses.
//!
//! ```text
//! cargo run --example udp
//! cargo run --example udp -- --backend smol
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyio::net::{SocketAttributes, UdpSocket, create_udp_socket};
use anyio::{BoxError, Runner};
use futures_lite::StreamExt;

mod common;

/// The manual's service: for each datagram received, answers `Hello, <datagram>` to its
/// sender.
async fn hello_service(udp: Arc<UdpSocket>) -> Result<(), BoxError> {
    let mut packets = udp.incoming();
    while let Some(packet) = packets.next().await {
        let (packet, from) = packet?;
        let mut reply = b"Hello, ".to_vec();
        reply.extend_from_slice(&packet);
        udp.send_to(&reply, from).await?;
    }
    Ok(())
}

/// Sends each name to the service and prints the answer.
async fn client(service: SocketAddr) -> Result<(), BoxError> {
    let udp = create_udp_socket(None, Some("127.0.0.1"), 0).await?;
    for name in ["World", "AnyIO", "Rust"] {
        udp.sendto(name.as_bytes(), "127.0.0.1", service.port())
            .await?;
        let (answer, from) = udp.receive().await?;
        println!("{from} answered {:?}", String::from_utf8_lossy(&answer));
    }
    Ok(())
}

/// Runs the service and the client, then stops the service.
pub(crate) async fn run() -> Result<(), BoxError> {
    let udp = Arc::new(create_udp_socket(None, Some("127.0.0.1"), 0).await?);
    let service = udp.local_address()?.as_ip().ok_or("not an IP socket")?;
    println!("the hello service listens on {service}");
    anyio::task_group(|tg| async move {
        tg.start_soon(hello_service(udp))?;
        client(service).await?;
        // The service would answer for ever: stop it.
        tg.cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
