//! The manual's TLS server and client, in one run: the server wraps a TCP listener in a
//! `TlsListener` and answers each connection with "Hello, <name>"; the client connects with
//! `connect_tls` (Happy Eyeballs, then the handshake), trusting the server's certificate
//! alone, sends its name and prints the answer.
//!
//! ```text
//! cargo run --example tls
//! cargo run --example tls -- --backend smol
//! cargo run --example tls -- --port 1234      # serves until Ctrl-C
//! ```
//!
//! The certificate is self-signed and made at start-up (`common/tls_cert.rs`). The manual
//! makes one with openssl instead:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -days 3650 -nodes \
//!     -keyout key.pem -out cert.pem -subj /CN=localhost
//! ```
//!
//! For a rustls client, add two extensions to that command: rustls verifies the host name
//! in the subject alternative names only, never in the common name, and refuses a server
//! certificate that is a CA certificate, which `-x509` makes by default (`CaUsedAsEndEntity`):
//!
//! ```text
//!     -addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE
//! ```
//!
//! Then load the two files in place of the generated ones:
//!
//! ```text
//! let acceptor = TlsAcceptor::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
//! let connector = TlsConnector::with_root_pem(&std::fs::read("cert.pem")?)?;
//! ```
//!
//! With `--port N` the server serves for ever, with `cert.pem` and `key.pem` from the current
//! directory when both are there, else with a fresh certificate that it writes to a
//! temporary file (give that file to `--cacert` and `-CAfile`). Try it by hand; the answer
//! is not HTTP, hence curl's `--http0.9`:
//!
//! ```text
//! curl --http0.9 --cacert cert.pem https://localhost:1234/
//! openssl s_client -quiet -verify_return_error -CAfile cert.pem -connect localhost:1234
//! ```

use std::process::ExitCode;

use anyio::net::{SocketAttributes, SocketStream, connect_tls, create_tcp_listener};
use anyio::stream::Listener;
use anyio::tls::{TlsAcceptor, TlsConnector, TlsListener, TlsStream};
use anyio::{BoxError, Runner};

// This example also reads `--port`, so it does not use `backend_from_args`.
#[allow(dead_code)]
mod common;
#[path = "common/tls_cert.rs"]
mod tls_cert;

/// The server's handler: one greeting per connection, then the TLS closing handshake.
async fn handle(client: TlsStream<SocketStream>) {
    if let Ok(name) = client.receive(1024).await {
        let name = String::from_utf8_lossy(&name);
        let name = name.lines().next().unwrap_or("").trim_end();
        let reply = format!("Hello, {name}\n");
        let _ = client.send(reply.as_bytes()).await;
    }
    // AnyIO's `async with client`: sends close_notify and waits for the client's. (Dropping
    // the stream instead would end the connection without close_notify: a ragged EOF.)
    let _ = client.aclose().await;
}

/// Serves TLS on a free port, greets one client over it, and stops the server.
pub(crate) async fn run() -> Result<(), BoxError> {
    let cert = tls_cert::localhost()?;
    let acceptor = TlsAcceptor::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?;
    let listener = TlsListener::new(create_tcp_listener(None, 0).await?, acceptor);
    let port = listener.listener().listeners()[0].local_port()?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move { Ok(listener.serve(handle).await?) })?;

        // The client trusts the server's own certificate and nothing else.
        let connector = TlsConnector::with_root_pem(cert.cert_pem.as_bytes())?;
        let client = connect_tls("localhost", port, &connector).await?;
        client.send(b"Client\n").await?;
        let response = client.receive(1024).await?;
        print!("{}", String::from_utf8_lossy(&response));
        assert_eq!(response, b"Hello, Client\n");
        if let (Some(version), Some(suite)) = (client.protocol_version(), client.cipher_suite()) {
            println!("(over {version:?}, {:?})", suite.suite());
        }
        client.aclose().await?;

        tg.cancel(); // stops the server, which would serve for ever
        Ok(())
    })
    .await?;
    Ok(())
}

/// Serves on `port` for ever, with `cert.pem` and `key.pem` from the current directory if
/// they are there.
async fn serve(port: u16) -> Result<(), BoxError> {
    let (cert, key) = match (std::fs::read("cert.pem"), std::fs::read("key.pem")) {
        (Ok(cert), Ok(key)) => {
            println!("with cert.pem and key.pem from the current directory");
            (cert, key)
        }
        _ => {
            let made = tls_cert::localhost()?;
            let path = std::env::temp_dir().join("anyio-tls-example-cert.pem");
            std::fs::write(&path, &made.cert_pem)?;
            println!("with a new certificate, written to {}", path.display());
            (made.cert_pem.into_bytes(), made.key_pem.into_bytes())
        }
    };
    let acceptor = TlsAcceptor::from_pem(&cert, &key)?;
    let listener = TlsListener::new(create_tcp_listener(None, port).await?, acceptor);
    let port = listener.listener().listeners()[0].local_port()?;
    println!("serving TLS on port {port}");
    listener.serve(handle).await?;
    Ok(())
}

fn main() -> ExitCode {
    let (backend, port) = common::port_and_backend_from_args("tls");
    let runner = Runner::new(backend);
    match port {
        Some(port) => common::exit_status(runner.run(serve(port))),
        None => common::exit_status(runner.run(run())),
    }
}
