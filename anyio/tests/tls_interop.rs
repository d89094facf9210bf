//! TLS interoperability with peers this project did not write: `openssl s_server`,
//! `openssl s_client` and `curl` (OpenSSL's own TLS stack), on every backend.
//!
//! The other TLS tests run our client against our server, so a mistake made on both sides
//! (a record framed wrongly, a `close_notify` never sent, an ALPN answer nobody else
//! accepts) would pass them. Here each side meets an independent implementation:
//!
//! - our client against `openssl s_server`: the bytes each way, TLS 1.3 and TLS 1.2, the
//!   closing handshake in both directions, and rule 19 at the end of the connection
//!   (`close_notify` is an end of stream; a killed server is a broken stream when closing
//!   is standard-compatible and an end otherwise);
//! - our server against `openssl s_client`: the same, from the other side, plus SNI;
//! - our HTTPS server against `curl`: a response body byte for byte, ALPN, and what curl
//!   does when the connection ends without `close_notify`.
//!
//! The peers are child processes, killed when a test ends however it ends. A missing
//! `openssl` or `curl` fails the tests with a message saying so (`.ci/run` installs them).
//! Each wait is bounded by [`DEADLINE`], so a peer that misbehaves fails a test instead of
//! hanging it.
#![cfg(all(unix, feature = "tls"))]

#[path = "support/certs.rs"]
mod certs;

use std::io::{self, Read, Write};
use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyio::net::{SocketAttributes, SocketStream, TcpConnector, TcpListenerOptions};
use anyio::stream::{
    AsyncResource, BufferedByteStream, ByteReceiveStream, ByteSendStream, IoErrorExt, Listener,
};
use anyio::tls::{TlsAcceptor, TlsConnector, TlsStream, rustls::ProtocolVersion};
use anyio::{BoxError, MemoryObjectReceiveStream, ReceiveError, fail_after};
use certs::{Ca, Pem};

/// The bound on every wait of a test.
const DEADLINE: Duration = Duration::from_secs(20);

/// How often to look again while waiting for something that sends no signal (a port that
/// is not open yet, a process to reap).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The bytes as text, for assertion messages.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// Files: certificates on disk for the peers
// ---------------------------------------------------------------------------------------

/// A fresh directory under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> io::Result<Scratch> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "anyio-tls-interop-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }

    fn write(&self, name: &str, contents: &str) -> io::Result<PathBuf> {
        let path = self.0.join(name);
        std::fs::write(&path, contents)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a server certificate for `localhost` it signed, in memory and in files.
struct Pki {
    ca_pem: String,
    server: Pem,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    _files: Scratch,
}

impl Pki {
    fn new() -> io::Result<Pki> {
        let ca = Ca::new();
        // Only the name: every test connects to 127.0.0.1 and verifies `localhost`.
        let server = ca.server(&["localhost"]);
        let files = Scratch::new()?;
        Ok(Pki {
            ca_file: files.write("ca.pem", &ca.pem.cert)?,
            cert_file: files.write("cert.pem", &server.cert)?,
            key_file: files.write("key.pem", &server.key)?,
            ca_pem: ca.pem.cert,
            server,
            _files: files,
        })
    }

    fn connector(&self) -> TlsConnector {
        TlsConnector::with_root_pem(self.ca_pem.as_bytes()).expect("the CA certificate")
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from_pem(self.server.cert.as_bytes(), self.server.key.as_bytes())
            .expect("the server certificate")
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

// ---------------------------------------------------------------------------------------
// Peers: child processes
// ---------------------------------------------------------------------------------------

/// The chunks a std thread reads from a pipe, until its end: the thread hands each chunk to
/// an unbounded memory object stream (`send_nowait` needs no runtime), so the test awaits
/// output without blocking its runtime, and sees `EndOfStream` when the pipe closes.
fn pump(mut pipe: impl Read + Send + 'static) -> MemoryObjectReceiveStream<Vec<u8>> {
    let (tx, rx) = anyio::create_unbounded_memory_object_stream();
    std::thread::spawn(move || {
        let mut buf = [0; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send_nowait(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// A peer program running as a child process, killed and reaped on drop.
struct Peer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: MemoryObjectReceiveStream<Vec<u8>>,
    /// Output received but not yet checked.
    pending: Vec<u8>,
    stderr: MemoryObjectReceiveStream<Vec<u8>>,
    stderr_seen: Vec<u8>,
}

impl Peer {
    /// Starts `program` with `args`; a program that is not installed fails the test with
    /// a message saying so.
    fn spawn(program: &'static str, args: &[&str]) -> Result<Peer, BoxError> {
        let spawned = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(format!(
                    "`{program}` is not installed (not found on PATH): the TLS \
                     interoperability tests need it; `.ci/run` installs it"
                )
                .into());
            }
            Err(err) => return Err(format!("cannot start `{program}`: {err}").into()),
        };
        let stdout = pump(child.stdout.take().expect("piped stdout"));
        let stderr = pump(child.stderr.take().expect("piped stderr"));
        Ok(Peer {
            name: program,
            stdin: child.stdin.take(),
            child,
            stdout,
            pending: Vec::new(),
            stderr,
            stderr_seen: Vec::new(),
        })
    }

    /// What the program wrote to its stderr so far, for failure messages.
    fn stderr(&mut self) -> String {
        while let Ok(chunk) = self.stderr.receive_nowait() {
            self.stderr_seen.extend_from_slice(&chunk);
        }
        text(&self.stderr_seen)
    }

    /// Writes `data` to the program's stdin (small writes: the pipe takes them at once).
    fn write_stdin(&mut self, data: &[u8]) -> io::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(data)?;
        stdin.flush()
    }

    /// Closes the program's stdin: it reads the end of its input.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Fails if the program has already exited (it could not start its work).
    fn check_running(&mut self) -> Result<(), BoxError> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                let stderr = self.stderr();
                Err(format!(
                    "`{}` exited early ({status}); its stderr:\n{stderr}",
                    self.name
                )
                .into())
            }
        }
    }

    /// Waits until the program's stdout has `n` bytes after those already checked (or
    /// ends), and returns them.
    async fn stdout_bytes(&mut self, n: usize) -> Result<Vec<u8>, BoxError> {
        while self.pending.len() < n {
            match self.stdout.receive().await {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(ReceiveError::EndOfStream) => break,
                Err(err) => return Err(err.into()),
            }
        }
        let n = n.min(self.pending.len());
        Ok(self.pending.drain(..n).collect())
    }

    /// Checks that the program's stdout continues with exactly `expected`.
    async fn expect_stdout(&mut self, expected: &[u8]) -> Result<(), BoxError> {
        let got = self.stdout_bytes(expected.len()).await?;
        let name = self.name;
        assert!(
            got == expected,
            "`{name}` printed {:?}, expected {:?}; its stderr:\n{}",
            text(&got),
            text(expected),
            self.stderr()
        );
        Ok(())
    }

    /// Waits for the program to exit: its stdout ends when it does (the signal), then the
    /// process is reaped (std has no asynchronous wait, so that is polled). Returns the
    /// exit status and the output not yet checked.
    async fn finish(&mut self) -> Result<(ExitStatus, Vec<u8>), BoxError> {
        let rest = self.stdout_bytes(usize::MAX).await?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status, rest));
            }
            anyio::sleep(POLL_INTERVAL).await?;
        }
    }

    /// Checks that the program prints nothing more and exits successfully.
    async fn expect_clean_exit(&mut self) -> Result<(), BoxError> {
        let (status, rest) = self.finish().await?;
        let name = self.name;
        assert!(
            status.success() && rest.is_empty(),
            "`{name}` exited with {status}, printing {:?} more; its stderr:\n{}",
            text(&rest),
            self.stderr()
        );
        Ok(())
    }

    /// Kills the program with SIGKILL and reaps it: its sockets are closed by the kernel,
    /// with no TLS `close_notify`.
    async fn kill(&mut self) -> Result<(), BoxError> {
        self.child.kill()?;
        let (status, _) = self.finish().await?;
        assert!(!status.success(), "`{}` was killed: {status}", self.name);
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Our side
// ---------------------------------------------------------------------------------------

/// Receives exactly `n` bytes.
async fn receive_exactly(stream: &impl ByteReceiveStream, n: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.extend_from_slice(&stream.receive(n - got.len()).await?);
    }
    Ok(got)
}

/// Checks that the next bytes of `stream` are exactly `expected`.
async fn expect_received(stream: &impl ByteReceiveStream, expected: &[u8]) -> io::Result<()> {
    let got = receive_exactly(stream, expected.len()).await?;
    assert!(
        got == expected,
        "received {:?}, expected {:?}",
        text(&got),
        text(expected)
    );
    Ok(())
}

/// The error of the next receive, which must fail.
async fn receive_error(stream: &impl ByteReceiveStream) -> io::Error {
    match stream.receive(1024).await {
        Ok(data) => panic!("expected the stream to end, received {:?}", text(&data)),
        Err(err) => err,
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a server we do not start ourselves.
fn free_port() -> io::Result<u16> {
    Ok(StdTcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A TLS listener of ours on 127.0.0.1 and its port.
async fn our_listener(
    acceptor: TlsAcceptor,
) -> Result<(impl Listener<Stream = TlsStream<SocketStream>>, u16), BoxError> {
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind_tls(acceptor)
        .await?;
    let port = listener.listener().listeners()[0].local_port()?;
    Ok((listener, port))
}

// ---------------------------------------------------------------------------------------
// Our client against `openssl s_server`
// ---------------------------------------------------------------------------------------

/// `openssl s_server` for one connection on 127.0.0.1, with `-quiet`: it prints what it
/// receives, sends what it reads from its stdin, and when its stdin ends it sends
/// `close_notify`, closes the connection and exits.
fn s_server(pki: &Pki, port: u16, extra: &[&str]) -> Result<Peer, BoxError> {
    let accept = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_server",
        "-accept",
        &accept,
        "-cert",
        arg(&pki.cert_file),
        "-key",
        arg(&pki.key_file),
        "-naccept",
        "1",
        "-quiet",
    ];
    args.extend_from_slice(extra);
    Peer::spawn("openssl", &args)
}

/// Connects our client to the `s_server` starting on `port`, verifying it as `localhost`,
/// trying again while the port is not open yet.
async fn connect_to_s_server(
    server: &mut Peer,
    port: u16,
    connector: &TlsConnector,
) -> Result<TlsStream<SocketStream>, BoxError> {
    let tcp = TcpConnector::new().tls_hostname("localhost");
    loop {
        match tcp.connect_tls("127.0.0.1", port, connector).await {
            Ok(stream) => return Ok(stream),
            Err(err)
                if err.os_error().map(io::Error::kind)
                    == Some(io::ErrorKind::ConnectionRefused) =>
            {
                server.check_running()?;
                anyio::sleep(POLL_INTERVAL).await?;
            }
            Err(err) => {
                return Err(format!("{err}; s_server's stderr:\n{}", server.stderr()).into());
            }
        }
    }
}

/// Our client and `s_server` exchange a line each way over `version`, then `s_server`
/// closes with `close_notify` (its stdin ends), which our client receives as the end of
/// the stream, in standard-compatible mode, where an end without it would be an error.
async fn talk_with_s_server(extra: &[&str], version: ProtocolVersion) -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let port = free_port()?;
    let mut server = s_server(&pki, port, extra)?;
    fail_after(DEADLINE, async {
        let client = connect_to_s_server(&mut server, port, &pki.connector()).await?;
        assert_eq!(client.protocol_version(), Some(version));
        assert!(client.is_standard_compatible());

        client.send(b"ping from anyio\n").await?;
        server.expect_stdout(b"ping from anyio\n").await?;
        server.write_stdin(b"pong from openssl\n")?;
        expect_received(&client, b"pong from openssl\n").await?;

        server.close_stdin();
        let end = receive_error(&client).await;
        assert!(end.is_end_of_stream(), "{end}");
        server.expect_clean_exit().await?;
        // Our close_notify goes to a closed connection; the peer's arrived already.
        client.aclose().await?;
        Ok::<_, BoxError>(())
    })
    .await
}

#[anyio::test]
async fn our_client_talks_tls13_with_s_server() -> Result<(), BoxError> {
    talk_with_s_server(&[], ProtocolVersion::TLSv1_3).await
}

#[anyio::test]
async fn our_client_talks_tls12_with_s_server() -> Result<(), BoxError> {
    talk_with_s_server(&["-tls1_2"], ProtocolVersion::TLSv1_2).await
}

/// Our standard-compatible `aclose` sends `close_notify` and waits for the peer's:
/// `s_server` answers it, so closing succeeds (an end without the answer would fail it).
#[anyio::test]
async fn s_server_answers_our_close_notify() -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let port = free_port()?;
    let mut server = s_server(&pki, port, &[])?;
    fail_after(DEADLINE, async {
        let client = connect_to_s_server(&mut server, port, &pki.connector()).await?;
        client.send(b"last words\n").await?;
        client.aclose().await?;
        server.expect_stdout(b"last words\n").await?;
        server.expect_clean_exit().await?;
        Ok::<_, BoxError>(())
    })
    .await
}

/// A killed `s_server` ends the connection without `close_notify`: a broken stream for a
/// standard-compatible client (the data may have been truncated), an end of stream
/// otherwise.
#[anyio::test]
async fn killed_s_server_is_a_broken_stream_only_when_standard_compatible() -> Result<(), BoxError>
{
    for standard in [true, false] {
        let pki = Pki::new()?;
        let port = free_port()?;
        let mut server = s_server(&pki, port, &[])?;
        let connector = pki.connector().standard_compatible(standard);
        fail_after(DEADLINE, async {
            let client = connect_to_s_server(&mut server, port, &connector).await?;
            client.send(b"ping\n").await?;
            // Once s_server printed it, nothing we sent is unread: the kernel closes the
            // killed server's socket with a FIN, not a reset.
            server.expect_stdout(b"ping\n").await?;
            server.write_stdin(b"pong\n")?;
            expect_received(&client, b"pong\n").await?;

            server.kill().await?;
            let err = receive_error(&client).await;
            if standard {
                assert!(err.is_broken_resource(), "{err}");
                assert!(err.to_string().contains("close_notify"), "{err}");
            } else {
                assert!(err.is_end_of_stream(), "{err}");
            }
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Our server against `openssl s_client`
// ---------------------------------------------------------------------------------------

/// `openssl s_client` connecting to our server on `port`, verifying it as `localhost`
/// against the test CA and failing on any verification error, with `-quiet`: it prints
/// what it receives and sends what it reads from its stdin.
fn s_client(pki: &Pki, port: u16, extra: &[&str]) -> Result<Peer, BoxError> {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        arg(&pki.ca_file),
        "-verify_return_error",
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-quiet",
    ];
    args.extend_from_slice(extra);
    Peer::spawn("openssl", &args)
}

/// `s_client` and our server exchange a line each way over `version`; then `s_client`'s
/// stdin ends and, with `-no_ign_eof`, it closes with `close_notify`, which our server
/// receives as the end of the stream.
async fn talk_with_s_client(version_flag: &str, version: ProtocolVersion) -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let (listener, port) = our_listener(pki.acceptor()).await?;
    let mut client = s_client(&pki, port, &[version_flag, "-no_ign_eof"])?;
    fail_after(DEADLINE, async {
        let server = listener.accept().await?;
        // accept leaves the handshake to the stream's first use; run it now to see what
        // was negotiated.
        server.handshake().await?;
        assert_eq!(server.protocol_version(), Some(version));
        assert_eq!(server.server_name().as_deref(), Some("localhost"));

        client.write_stdin(b"hello from s_client\n")?;
        expect_received(&server, b"hello from s_client\n").await?;
        server.send(b"hello from anyio\n").await?;
        client.expect_stdout(b"hello from anyio\n").await?;

        client.close_stdin();
        let end = receive_error(&server).await;
        assert!(end.is_end_of_stream(), "{end}");
        client.expect_clean_exit().await?;
        server.aclose().await?;
        Ok::<_, BoxError>(())
    })
    .await
}

#[anyio::test]
async fn s_client_talks_tls13_with_our_server() -> Result<(), BoxError> {
    talk_with_s_client("-tls1_3", ProtocolVersion::TLSv1_3).await
}

#[anyio::test]
async fn s_client_talks_tls12_with_our_server() -> Result<(), BoxError> {
    talk_with_s_client("-tls1_2", ProtocolVersion::TLSv1_2).await
}

/// With `-quiet` alone `s_client` ignores the end of its stdin and keeps receiving; our
/// server's standard-compatible `aclose` sends `close_notify`, `s_client` answers it and
/// exits, and closing succeeds.
#[anyio::test]
async fn s_client_answers_our_close_notify() -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let (listener, port) = our_listener(pki.acceptor()).await?;
    let mut client = s_client(&pki, port, &[])?;
    fail_after(DEADLINE, async {
        let server = listener.accept().await?;
        client.close_stdin();
        server.send(b"after your stdin ended\n").await?;
        client.expect_stdout(b"after your stdin ended\n").await?;
        server.aclose().await?;
        client.expect_clean_exit().await?;
        Ok::<_, BoxError>(())
    })
    .await
}

/// A killed `s_client` ends the connection without `close_notify`: a broken stream for a
/// standard-compatible server, an end of stream otherwise.
#[anyio::test]
async fn killed_s_client_is_a_broken_stream_only_when_standard_compatible() -> Result<(), BoxError>
{
    for standard in [true, false] {
        let pki = Pki::new()?;
        let acceptor = pki.acceptor().standard_compatible(standard);
        let (listener, port) = our_listener(acceptor).await?;
        let mut client = s_client(&pki, port, &[])?;
        fail_after(DEADLINE, async {
            let server = listener.accept().await?;
            client.write_stdin(b"ping\n")?;
            expect_received(&server, b"ping\n").await?;
            // Once s_client printed it, nothing we sent is unread (the session tickets
            // went before it): the kernel closes the killed client's socket with a FIN.
            server.send(b"pong\n").await?;
            client.expect_stdout(b"pong\n").await?;

            client.kill().await?;
            let err = receive_error(&server).await;
            if standard {
                assert!(err.is_broken_resource(), "{err}");
            } else {
                assert!(err.is_end_of_stream(), "{err}");
            }
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Our HTTPS server against `curl`
// ---------------------------------------------------------------------------------------

/// How our HTTPS server ends the connection after its response.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// `aclose`: `close_notify`, and curl's answer awaited.
    CloseNotify,
    /// The TCP connection closed under TLS: no `close_notify` (a ragged end).
    Ragged,
}

const BODY: &[u8] = b"Hello from anyio over TLS!\n";

/// `curl` fetching `https://localhost:{port}/hello` from our server at 127.0.0.1,
/// trusting the test CA; it prints the body and nothing else, errors on stderr.
fn curl(pki: &Pki, port: u16, extra: &[&str]) -> Result<Peer, BoxError> {
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/hello");
    let mut args = vec![
        "--silent",
        "--show-error",
        "--cacert",
        arg(&pki.ca_file),
        "--resolve",
        &resolve,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    Peer::spawn("curl", &args)
}

/// Answers one HTTP/1.1 request with `head` and [`BODY`], then ends the connection as
/// `ending` says. Returns the request's head and the protocol ALPN chose.
async fn serve_one_request(
    listener: &impl Listener<Stream = TlsStream<SocketStream>>,
    head: &str,
    ending: Ending,
) -> Result<(String, Option<Vec<u8>>), BoxError> {
    let stream = BufferedByteStream::new(listener.accept().await?);
    let request = stream.receive_until(b"\r\n\r\n", 65536).await?;
    let mut response = head.as_bytes().to_vec();
    response.extend_from_slice(BODY);
    stream.send(&response).await?;
    let alpn = stream.get_ref().alpn_protocol();
    match ending {
        Ending::CloseNotify => stream.aclose().await?,
        Ending::Ragged => stream.get_ref().transport().aclose().await?,
    }
    Ok((String::from_utf8(request)?, alpn))
}

fn complete_head() -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        BODY.len()
    )
}

/// curl's request line and Host header.
fn assert_is_curls_request(request: &str, port: u16) {
    assert!(
        request.starts_with("GET /hello HTTP/1.1\r\n"),
        "{request:?}"
    );
    assert!(
        request.contains(&format!("\r\nHost: localhost:{port}\r\n")),
        "{request:?}"
    );
}

#[anyio::test]
async fn curl_gets_the_body_from_our_https_server() -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let (listener, port) = our_listener(pki.acceptor()).await?;
    let mut curl = curl(&pki, port, &[])?;
    fail_after(DEADLINE, async {
        let (request, alpn) =
            serve_one_request(&listener, &complete_head(), Ending::CloseNotify).await?;
        assert_is_curls_request(&request, port);
        // The acceptor offers no ALPN: none is chosen, whatever curl offered.
        assert_eq!(alpn, None);
        curl.expect_stdout(BODY).await?;
        curl.expect_clean_exit().await?;
        Ok::<_, BoxError>(())
    })
    .await
}

/// ALPN: our server accepts only `http/1.1`. curl offering just that (`--http1.1`) and
/// curl offering `h2` first (its default) both get `http/1.1`, and both use it.
#[anyio::test]
async fn curl_and_our_server_agree_on_http11_with_alpn() -> Result<(), BoxError> {
    for curl_args in [&["--http1.1"][..], &[]] {
        let pki = Pki::new()?;
        let acceptor = pki.acceptor().alpn_protocols([b"http/1.1"]);
        let (listener, port) = our_listener(acceptor).await?;
        let mut args = vec!["--write-out", "|%{http_version}"];
        args.extend_from_slice(curl_args);
        let mut curl = curl(&pki, port, &args)?;
        fail_after(DEADLINE, async {
            let (request, alpn) =
                serve_one_request(&listener, &complete_head(), Ending::CloseNotify).await?;
            assert_is_curls_request(&request, port);
            assert_eq!(
                alpn.as_deref(),
                Some(&b"http/1.1"[..]),
                "curl {curl_args:?}"
            );
            curl.expect_stdout(BODY).await?;
            curl.expect_stdout(b"|1.1").await?;
            curl.expect_clean_exit().await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    Ok(())
}

/// A response complete by its content-length, then the connection cut without
/// `close_notify`: curl has everything the response promised, so it succeeds (as HTTPS
/// clients do, since so many servers end this way).
#[anyio::test]
async fn curl_accepts_a_ragged_end_after_a_complete_response() -> Result<(), BoxError> {
    let pki = Pki::new()?;
    let (listener, port) = our_listener(pki.acceptor()).await?;
    let mut curl = curl(&pki, port, &[])?;
    fail_after(DEADLINE, async {
        let (request, _) = serve_one_request(&listener, &complete_head(), Ending::Ragged).await?;
        assert_is_curls_request(&request, port);
        curl.expect_stdout(BODY).await?;
        curl.expect_clean_exit().await?;
        Ok::<_, BoxError>(())
    })
    .await
}
