//! Opportunistic TLS (STARTTLS), and dropping TLS again: a connection that starts in
//! plaintext, upgrades to TLS when both sides agree, and goes back to plaintext at the end,
//! as SMTP's STARTTLS and FTP's CCC ("clear command channel") do.
//!
//! The protocol, one line at a time, each side waiting for the other's answer:
//!
//! ```text
//! client                          server
//! STARTTLS            plaintext   GO
//! -- TLS handshake --
//! Client              encrypted   Hello, Client
//! STOPTLS             encrypted
//! -- close_notify both ways (unwrap) --
//!                     plaintext   BYE
//! ```
//!
//! The server's listener has `autostart_tls(false)`: its handler gets each connection as a
//! TLS stream that has not started TLS, whose bytes pass through unencrypted until it calls
//! `start_tls()`. The client connects the same way, with `TcpConnector::autostart_tls(false)`.
//! (Over a stream you already have, `TlsAcceptor::server(stream)` and
//! `TlsConnector::client(stream, "localhost")` make the same not-yet-started TLS streams.)
//!
//! ```text
//! cargo run --example starttls
//! cargo run --example starttls -- --backend smol
//! ```

use std::process::ExitCode;

use anyio::net::{SocketAttributes, SocketStream, TcpConnector, TcpListenerOptions};
use anyio::stream::{BufferedByteStream, ByteReceiveStream, ByteStream, IoErrorExt, Listener};
use anyio::tls::{TlsAcceptor, TlsConnector, TlsStream};
use anyio::{BoxError, Runner};

mod common;
#[path = "common/tls_cert.rs"]
mod tls_cert;

/// The longest line either side takes.
const MAX_LINE: usize = 1024;

/// Reads one line from `stream` and gives the stream back.
///
/// Each side waits for the other's answer, so nothing may follow the line. Before STARTTLS
/// that check is a defence, not a formality: bytes that an attacker slips in after the
/// plaintext `STARTTLS` must never be taken as if they had come over TLS.
async fn read_line<S: ByteStream>(stream: S) -> Result<(S, String), BoxError> {
    let buffered = BufferedByteStream::new(stream);
    let line = buffered.receive_until(b"\n", MAX_LINE).await?;
    let (stream, rest) = buffered.into_parts();
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after a line", rest.len()).into());
    }
    Ok((stream, String::from_utf8(line)?))
}

/// The server's side of one connection.
async fn serve_client(stream: TlsStream<SocketStream>) -> Result<(), BoxError> {
    // Plaintext: the client asks for TLS.
    let (stream, command) = read_line(stream).await?;
    if command != "STARTTLS" {
        stream.send(b"ERR STARTTLS first\n").await?;
        return Ok(());
    }
    stream.send(b"GO\n").await?;
    stream.start_tls().await?; // the server's half of the handshake

    // Encrypted: the greeting.
    let (stream, name) = read_line(stream).await?;
    stream.send(format!("Hello, {name}\n").as_bytes()).await?;

    // The client drops TLS: close_notify both ways, and the TCP stream is ours again.
    let (stream, command) = read_line(stream).await?;
    if command != "STOPTLS" {
        return Err(format!("expected STOPTLS, got {command:?}").into());
    }
    let (socket, _leftover) = stream.unwrap().await?;
    // The client sends nothing more, so there can be no leftover bytes to keep here.
    socket.send(b"BYE\n").await?;
    Ok(())
}

async fn handle(stream: TlsStream<SocketStream>) {
    if let Err(err) = serve_client(stream).await {
        eprintln!("server: {err}");
    }
}

/// The client's side.
async fn client(port: u16, connector: &TlsConnector) -> Result<(), BoxError> {
    let stream = TcpConnector::new()
        .autostart_tls(false)
        .connect_tls("localhost", port, connector)
        .await?;
    assert!(!stream.is_tls_started());

    stream.send(b"STARTTLS\n").await?;
    let (stream, answer) = read_line(stream).await?;
    println!("client: STARTTLS -> {answer} (plaintext)");
    if answer != "GO" {
        return Err(format!("the server refused STARTTLS: {answer}").into());
    }
    // The client's half of the handshake, verifying the server as "localhost".
    stream.start_tls().await?;
    let version = stream
        .protocol_version()
        .ok_or("no TLS version after the handshake")?;
    println!("client: TLS started ({version:?})");

    stream.send(b"Client\n").await?;
    let (stream, greeting) = read_line(stream).await?;
    println!("client: {greeting} (encrypted)");
    assert_eq!(greeting, "Hello, Client");

    stream.send(b"STOPTLS\n").await?;
    // Sends close_notify, waits for the server's, and returns the TCP stream with whatever
    // came in behind the server's close_notify: its plaintext BYE may have arrived in the
    // same read. Those bytes belong to the plaintext that follows, so they go first into
    // the buffer of the stream that reads it.
    let (socket, leftover) = stream.unwrap().await?;
    println!("client: STOPTLS -> TLS ended");
    let plain = BufferedByteStream::new(socket);
    plain.feed_data(&leftover);
    let bye = plain.receive_until(b"\n", MAX_LINE).await?;
    println!("client: {} (plaintext)", String::from_utf8_lossy(&bye));
    assert_eq!(bye, b"BYE");

    // The server is done: its end of the stream, in plaintext.
    let err = plain.receive(MAX_LINE).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    Ok(())
}

/// Serves the protocol on a free port, runs one client through it, and stops the server.
pub(crate) async fn run() -> Result<(), BoxError> {
    let cert = tls_cert::localhost()?;
    let acceptor = TlsAcceptor::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?;
    let listener = TcpListenerOptions::new()
        .bind_tls(acceptor)
        .await?
        .autostart_tls(false); // the handler starts TLS when the protocol says so
    let port = listener.listener().listeners()[0].local_port()?;
    let connector = TlsConnector::with_root_pem(cert.cert_pem.as_bytes())?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move { Ok(listener.serve(handle).await?) })?;
        client(port, &connector).await?;
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
