//! The manual's TCP server and client, in one run: the server answers each connection with
//! "Hello, <name>"; the client connects with `connect_tcp` (Happy Eyeballs), sends its name
//! and prints the answer.
//!
//! ```text
//! cargo run --example tcp
//! cargo run --example tcp -- --backend smol
//! ```

use std::process::ExitCode;

use anyio::net::{SocketAttributes, SocketStream, connect_tcp, create_tcp_listener};
use anyio::{BoxError, Runner};

mod common;

/// The server's handler: one greeting per connection.
async fn handle(client: SocketStream) {
    if let Ok(name) = client.receive(1024).await {
        let reply = format!("Hello, {}\n", String::from_utf8_lossy(&name).trim_end());
        let _ = client.send(reply.as_bytes()).await;
    }
    // Dropping `client` closes the connection (AnyIO's `async with client`).
}

/// Serves on a free port of every interface, greets one client, and stops the server.
pub(crate) async fn run() -> Result<(), BoxError> {
    let listener = create_tcp_listener(None, 0).await?;
    let port = listener.listeners()[0].local_port()?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move { Ok(listener.serve(handle).await?) })?;

        let client = connect_tcp("localhost", port).await?;
        client.send(b"Client\n").await?;
        let response = client.receive(1024).await?;
        print!("{}", String::from_utf8_lossy(&response));

        tg.cancel(); // stops the server, which would serve for ever
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
