//! Dealing with ragged EOFs: a server that ends its connections without TLS's closing
//! handshake, as many HTTPS servers do, read by two clients.
//!
//! TLS ends a connection with a `close_notify` alert from each side, so that a reader can
//! tell the real end of the data from an attacker cutting the connection short. A
//! *standard-compatible* stream (the default, AnyIO's rule 19) therefore reports an end of
//! the connection without `close_notify` as a `BrokenResourceError`: the data may have been
//! truncated. With `standard_compatible(false)` the same end is an ordinary `EndOfStream`,
//! which is what an HTTPS client needs, since the length of an HTTP body says where it ends
//! anyway.
//!
//! ```text
//! cargo run --example tls_ragged_eof
//! cargo run --example tls_ragged_eof -- --backend smol
//! ```

use std::io;
use std::process::ExitCode;

use anyio::net::{SocketAttributes, SocketStream, connect_tls, create_tcp_listener};
use anyio::stream::{IoErrorExt, Listener};
use anyio::tls::{TlsAcceptor, TlsConnector, TlsListener, TlsStream};
use anyio::{BoxError, Runner};

mod common;
#[path = "common/tls_cert.rs"]
mod tls_cert;

/// What the server sends each client before it hangs up.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nHello\n";

/// The server's handler: the response, then the end of the connection without
/// `close_notify`. Its acceptor is not standard-compatible, so `aclose` just closes the TCP
/// connection; `client.transport().aclose()` would do the same on any TLS stream.
async fn handle(client: TlsStream<SocketStream>) {
    let _ = client.send(RESPONSE).await;
    let _ = client.aclose().await;
}

/// Reads until the stream ends or fails: the data, and how it ended.
async fn read_all(stream: &TlsStream<SocketStream>) -> (Vec<u8>, io::Error) {
    let mut data = Vec::new();
    loop {
        match stream.receive(4096).await {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(err) => return (data, err),
        }
    }
}

/// Which of the stream conditions `err` is.
fn condition(err: &io::Error) -> &'static str {
    if err.is_broken_resource() {
        "BrokenResourceError"
    } else if err.is_end_of_stream() {
        "EndOfStream"
    } else {
        "another error"
    }
}

/// Serves on a free port, reads the response with each kind of client, and stops the server.
pub(crate) async fn run() -> Result<(), BoxError> {
    let cert = tls_cert::localhost()?;
    let acceptor = TlsAcceptor::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?
        .standard_compatible(false);
    let listener = TlsListener::new(create_tcp_listener(None, 0).await?, acceptor);
    let port = listener.listener().listeners()[0].local_port()?;
    let connector = TlsConnector::with_root_pem(cert.cert_pem.as_bytes())?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move { Ok(listener.serve(handle).await?) })?;

        // The default, standard-compatible client: all the data, then a broken stream.
        let client = connect_tls("localhost", port, &connector).await?;
        let (data, err) = read_all(&client).await;
        assert_eq!(data, RESPONSE);
        println!(
            "standard-compatible client: the response, then {}:",
            condition(&err)
        );
        println!("  {err}");
        assert_eq!(condition(&err), "BrokenResourceError", "{err}");

        // A client that accepts the ragged end: all the data, then the end of the stream.
        let lenient = connector.clone().standard_compatible(false);
        let client = connect_tls("localhost", port, &lenient).await?;
        let (data, err) = read_all(&client).await;
        assert_eq!(data, RESPONSE);
        println!(
            "client with standard_compatible(false): the response, then {}:",
            condition(&err)
        );
        println!("  {err}");
        assert_eq!(condition(&err), "EndOfStream", "{err}");

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
