//! Connected UDP: the manual's client, which sends `Hi there!` to one peer, and a peer
//! that prints what it receives and answers, run in one task group.
//!
//! A connected socket sends only to its peer and receives only from it, with
//! `send`/`receive` instead of addresses on every call.
//!
//! ```text
//! cargo run --example connected_udp
//! cargo run --example connected_udp -- --backend smol
//! ```

use std::process::ExitCode;

use anyio::net::{SocketAttributes, create_connected_udp_socket, create_udp_socket};
use anyio::{BoxError, Runner};

mod common;

/// Runs a peer on 127.0.0.1 and the manual's connected client against it.
pub(crate) async fn run() -> Result<(), BoxError> {
    let peer = create_udp_socket(None, Some("127.0.0.1"), 0).await?;
    let port = peer.local_port()?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            let (data, from) = peer.receive().await?;
            println!("peer: {from} sent {:?}", String::from_utf8_lossy(&data));
            peer.send_to(b"Hi yourself!\n", from).await?;
            Ok(())
        })?;
        // The manual's client.
        let udp = create_connected_udp_socket("127.0.0.1", port).await?;
        udp.send(b"Hi there!\n").await?;
        let answer = udp.receive().await?;
        println!(
            "client: the peer answered {:?}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
