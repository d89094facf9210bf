//! An echo server that `nc` and `curl` can talk to. Each line a client sends comes back; a
//! client that speaks HTTP (as `curl` does) gets a `200 OK` whose body is its own request.
//!
//! ```text
//! cargo run --example echo_server -- --port 7000            # serves until Ctrl-C
//! nc 127.0.0.1 7000                                         # type lines, see them again
//! curl -s http://127.0.0.1:7000/hello                       # prints the request it sent
//! cargo run --example echo_server -- --backend smol --port 7000
//! ```
//!
//! Without `--port` it runs a short demonstration instead: it serves on a free port, echoes
//! a line for a client of its own, answers an HTTP request, and stops.

use std::process::ExitCode;

use anyio::net::{SocketAttributes, SocketStream, connect_tcp, create_tcp_listener};
use anyio::stream::{BufferedByteStream, ByteReceiveStream, ByteStream, IoErrorExt};
use anyio::{BoxError, Runner};

// This example also reads `--port`, so it does not use `backend_from_args`.
#[allow(dead_code)]
mod common;

/// The longest line or HTTP request head the server takes.
const MAX_LINE: usize = 64 * 1024;

/// Echoes lines until the client is done; answers an HTTP request head with itself.
async fn echo(stream: SocketStream) {
    let stream = BufferedByteStream::new(stream);
    loop {
        let line = match stream.receive_until(b"\n", MAX_LINE).await {
            Ok(line) => line,
            // The client is done, broke off, or sent a line too long: close.
            Err(_) => return,
        };
        if is_http_request_line(&line) {
            let _ = answer_http(&stream, line).await;
            return;
        }
        let mut reply = line;
        reply.push(b'\n');
        if stream.send_all(&reply).await.is_err() {
            return;
        }
    }
}

fn is_http_request_line(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("");
    let _target = words.next();
    let version = words.next().unwrap_or("");
    !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && version.starts_with("HTTP/1.")
}

/// Reads the rest of the request head and sends it back as the body of a `200 OK`.
async fn answer_http(
    stream: &BufferedByteStream<SocketStream>,
    request_line: Vec<u8>,
) -> std::io::Result<()> {
    let mut head = request_line;
    head.extend_from_slice(b"\n");
    let rest = stream.receive_until(b"\r\n\r\n", MAX_LINE).await?;
    head.extend_from_slice(&rest);
    head.extend_from_slice(b"\r\n\r\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        head.len()
    );
    stream.send_all(response.as_bytes()).await?;
    stream.send_all(&head).await?;
    stream.send_eof().await
}

/// Serves on `port` for ever.
async fn serve(port: u16) -> Result<(), BoxError> {
    let listener = create_tcp_listener(None, port).await?;
    println!("echoing on port {}", listener.listeners()[0].local_port()?);
    listener.serve(echo).await?;
    Ok(())
}

/// The demonstration: one line echoed, one HTTP request answered.
pub(crate) async fn run() -> Result<(), BoxError> {
    let listener = create_tcp_listener(Some("127.0.0.1"), 0).await?;
    let port = listener.listeners()[0].local_port()?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move { Ok(listener.serve(echo).await?) })?;

        let nc = connect_tcp("127.0.0.1", port).await?;
        nc.send(b"hello, echo\n").await?;
        print!(
            "nc got back: {}",
            String::from_utf8_lossy(&nc.receive(1024).await?)
        );

        let curl = BufferedByteStream::new(connect_tcp("127.0.0.1", port).await?);
        curl.send_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let status = curl.receive_until(b"\r\n", 1024).await?;
        println!("curl got: {}", String::from_utf8_lossy(&status));
        let mut rest = Vec::new();
        loop {
            match curl.receive(4096).await {
                Ok(chunk) => rest.extend_from_slice(&chunk),
                Err(e) if e.is_end_of_stream() => break,
                Err(e) => return Err(e.into()),
            }
        }
        assert!(String::from_utf8_lossy(&rest).contains("GET /hello HTTP/1.1"));

        tg.cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let (backend, port) = common::port_and_backend_from_args("echo_server");
    let runner = Runner::new(backend);
    match port {
        Some(port) => common::exit_status(runner.run(serve(port))),
        None => common::exit_status(runner.run(run())),
    }
}
