//! TLS streams (rule 19 and the TLS chapter) on every backend, over loopback TCP and over
//! in-memory streams, with certificates made at run time.
#![cfg(all(unix, feature = "tls"))]

#[path = "support/certs.rs"]
mod certs;

use std::io;
use std::time::Duration;

use anyio::net::{SocketAttributes, SocketStream, TcpConnector, TcpListenerOptions, connect_tcp};
use anyio::stream::{IoErrorExt, Listener};
use anyio::tls::rustls::pki_types::pem::PemObject;
use anyio::tls::{TlsAcceptor, TlsConnector, TlsListener, TlsStream, rustls, tls_error_of};
use anyio::{BoxError, fail_after};
use certs::Ca;

const DEADLINE: Duration = Duration::from_secs(10);

struct Pki {
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

fn pki() -> Pki {
    let ca = Ca::new();
    let server = ca.server(&["localhost", "127.0.0.1"]);
    Pki {
        connector: TlsConnector::with_root_pem(ca.pem.cert.as_bytes()).unwrap(),
        acceptor: TlsAcceptor::from_pem(server.cert.as_bytes(), server.key.as_bytes()).unwrap(),
    }
}

/// A plain TCP pair on 127.0.0.1: (client, server side).
async fn tcp_pair() -> io::Result<(SocketStream, SocketStream)> {
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners();
    let listener = listeners.remove(0);
    let port = listener.local_port()?;
    let (client, server) =
        futures_lite::future::zip(connect_tcp("127.0.0.1", port), listener.accept()).await;
    Ok((client?, server?))
}

/// A TLS pair over loopback TCP, handshake done.
async fn tls_pair(pki: &Pki) -> io::Result<(TlsStream<SocketStream>, TlsStream<SocketStream>)> {
    let (client, server) = tcp_pair().await?;
    let (client, server) = futures_lite::future::zip(
        pki.connector.connect(client, "localhost"),
        pki.acceptor.accept(server),
    )
    .await;
    Ok((client?, server?))
}

#[anyio::test]
async fn bytes_cross_encrypted_both_ways() -> Result<(), BoxError> {
    let pki = pki();
    let (client, server) = tls_pair(&pki).await?;
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (sent, got) = futures_lite::future::zip(
        async {
            client.send(&payload).await?;
            client.send_eof().await
        },
        async {
            let mut got = Vec::new();
            loop {
                match server.receive(65536).await {
                    Ok(chunk) => {
                        assert!(!chunk.is_empty() && chunk.len() <= 65536);
                        got.extend_from_slice(&chunk);
                    }
                    Err(err) if err.is_end_of_stream() => return Ok::<_, io::Error>(got),
                    Err(err) => return Err(err),
                }
            }
        },
    )
    .await;
    sent?;
    assert_eq!(got?, payload);
    server.send(b"bye").await?;
    assert_eq!(client.receive(10).await?, b"bye");
    assert!(client.is_tls_started() && !client.is_server() && server.is_server());
    assert_eq!(client.server_name().as_deref(), Some("localhost"));
    assert_eq!(server.server_name().as_deref(), Some("localhost"));
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    Ok(())
}

#[anyio::test]
async fn standard_compatible_close_exchanges_close_notify() -> Result<(), BoxError> {
    let pki = pki();
    let (client, server) = tls_pair(&pki).await?;
    let (closed, received) = futures_lite::future::zip(client.aclose(), async {
        let err = server.receive(10).await.unwrap_err();
        assert!(err.is_end_of_stream(), "{err}");
        server.aclose().await
    })
    .await;
    closed?;
    received?;
    Ok(())
}

#[anyio::test]
async fn ragged_eof_is_broken_when_standard_compatible_and_an_end_otherwise() -> Result<(), BoxError>
{
    for standard in [true, false] {
        let pki = pki();
        let (client, server) = tcp_pair().await?;
        let connector = pki.connector.clone().standard_compatible(standard);
        let (client, server) = futures_lite::future::zip(
            connector.connect(client, "localhost"),
            pki.acceptor.accept(server),
        )
        .await;
        let (client, server) = (client?, server?);
        server.send(b"last words").await?;
        // The server's transport ends without close_notify.
        let (transport, _) = (server.transport(), ());
        transport.aclose().await?;
        assert_eq!(client.receive(100).await?, b"last words");
        let err = client.receive(100).await.unwrap_err();
        if standard {
            assert!(err.is_broken_resource(), "{err}");
            assert!(err.to_string().contains("close_notify"), "{err}");
        } else {
            assert!(err.is_end_of_stream(), "{err}");
        }
    }
    Ok(())
}

#[anyio::test]
async fn untrusted_certificate_fails_the_handshake_and_says_why() -> Result<(), BoxError> {
    let pki = pki();
    let (client, server) = tcp_pair().await?;
    let (client, server) = futures_lite::future::zip(
        TlsConnector::new().connect(client, "localhost"),
        pki.acceptor.accept(server),
    )
    .await;
    let err = client.unwrap_err();
    assert_eq!(
        tls_error_of(&err),
        Some(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        )),
        "{err}"
    );
    let err = server.unwrap_err();
    assert!(tls_error_of(&err).is_some(), "{err}");
    Ok(())
}

/// Connects a client with `connector` to a server presenting `server_pem`, verifying
/// `name`; returns the client's handshake error and the server's outcome.
async fn handshake_error(
    connector: &TlsConnector,
    server_pem: &certs::Pem,
    name: &str,
) -> io::Result<(io::Error, io::Result<()>)> {
    let acceptor = TlsAcceptor::from_pem(server_pem.cert.as_bytes(), server_pem.key.as_bytes())?;
    let (client, server) = tcp_pair().await?;
    let (client, server) = futures_lite::future::zip(connector.connect(client, name), async {
        let server = acceptor.accept(server).await?;
        // Had the client sent anything, it would arrive here.
        let got = server.receive(100).await?;
        panic!("the server received {got:?} from a client that rejected it");
    })
    .await;
    Ok((client.expect_err("the handshake should fail"), server))
}

#[anyio::test]
async fn expired_and_wrong_host_certificates_fail_the_handshake_and_say_which()
-> Result<(), BoxError> {
    let ca = Ca::new();
    let connector = TlsConnector::with_root_pem(ca.pem.cert.as_bytes())?;

    let (err, server) =
        handshake_error(&connector, &ca.expired_server(&["localhost"]), "localhost").await?;
    assert!(
        matches!(
            tls_error_of(&err),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            ))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    let server = server.unwrap_err();
    assert!(
        matches!(tls_error_of(&server), Some(rustls::Error::AlertReceived(_))),
        "{server}"
    );

    let (err, _) = handshake_error(&connector, &ca.server(&["example.com"]), "localhost").await?;
    assert!(
        matches!(
            tls_error_of(&err),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err}"
    );
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);

    let (err, _) =
        handshake_error(&connector, &certs::self_signed(&["localhost"]), "localhost").await?;
    assert_eq!(
        tls_error_of(&err),
        Some(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        )),
        "{err}"
    );
    Ok(())
}

#[cfg(feature = "idna")]
#[anyio::test]
async fn internationalised_names_are_verified_in_their_idna_form() -> Result<(), BoxError> {
    let ca = Ca::new();
    let server = ca.server(&["xn--bcher-kva.example"]);
    let connector = TlsConnector::with_root_pem(ca.pem.cert.as_bytes())?;
    let acceptor = TlsAcceptor::from_pem(server.cert.as_bytes(), server.key.as_bytes())?;
    let (client, server) = tcp_pair().await?;
    let (client, server) = futures_lite::future::zip(
        connector.connect(client, "bücher.example"),
        acceptor.accept(server),
    )
    .await;
    let (client, server) = (client?, server?);
    assert_eq!(
        client.server_name().as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(
        server.server_name().as_deref(),
        Some("xn--bcher-kva.example")
    );
    Ok(())
}

#[anyio::test]
async fn negotiated_parameters_are_reported_on_both_sides() -> Result<(), BoxError> {
    let ca = Ca::new();
    let pem = ca.server(&["localhost"]);
    let connector = TlsConnector::with_root_pem(ca.pem.cert.as_bytes())?
        .alpn_protocols([b"h2".as_slice(), b"http/1.1"]);
    let acceptor = TlsAcceptor::from_pem(pem.cert.as_bytes(), pem.key.as_bytes())?
        .alpn_protocols([b"http/1.1"]);
    let (client, server) = tcp_pair().await?;
    let (client, server) = futures_lite::future::zip(
        connector.connect(client, "localhost"),
        acceptor.accept(server),
    )
    .await;
    let (client, server) = (client?, server?);
    assert_eq!(
        client.alpn_protocol().as_deref(),
        Some(b"http/1.1".as_slice())
    );
    assert_eq!(
        server.alpn_protocol().as_deref(),
        Some(b"http/1.1".as_slice())
    );
    let suite = client.cipher_suite().expect("a cipher suite").suite();
    assert_eq!(Some(suite), server.cipher_suite().map(|s| s.suite()));
    let chain = client.peer_certificates().expect("the server's chain");
    let server_der = rustls::pki_types::CertificateDer::from_pem_slice(pem.cert.as_bytes())?;
    assert_eq!(chain[0], server_der);
    assert_eq!(server.peer_certificates(), None);
    let binding = client
        .channel_binding(anyio::tls::ChannelBinding::TlsExporter)
        .expect("tls-exporter");
    assert_eq!(binding.len(), 32);
    assert_eq!(
        Some(&binding),
        server
            .channel_binding(anyio::tls::ChannelBinding::TlsExporter)
            .as_ref()
    );
    assert_eq!(
        client.channel_binding(anyio::tls::ChannelBinding::TlsUnique),
        None
    );
    // The transport's attributes pass through.
    assert_eq!(client.remote_port()?, server.local_port()?);
    assert!(client.is_standard_compatible());

    // Another connection has other keys.
    let (again, again_server) = tcp_pair().await?;
    let (again, _again_server) = futures_lite::future::zip(
        connector.connect(again, "localhost"),
        acceptor.accept(again_server),
    )
    .await;
    assert_ne!(
        again?.channel_binding(anyio::tls::ChannelBinding::TlsExporter),
        Some(binding)
    );
    Ok(())
}

#[anyio::test]
async fn starttls_then_unwrap_keeps_the_bytes_after_close_notify() -> Result<(), BoxError> {
    let pki = pki();
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners();
    let listener = TlsListener::new(listeners.remove(0), pki.acceptor.clone()).autostart_tls(false);
    let port = listener.listener().local_port()?;
    let (client, server) = futures_lite::future::zip(
        TcpConnector::new()
            .tls_hostname("localhost")
            .autostart_tls(false)
            .connect_tls("127.0.0.1", port, &pki.connector),
        listener.accept(),
    )
    .await;
    let (client, server) = (client?, server?);
    // Plaintext first: nothing is encrypted before start_tls.
    assert!(!client.is_tls_started() && !server.is_tls_started());
    client.send(b"STARTTLS\n").await?;
    assert_eq!(
        client.transport().local_port()?,
        server.transport().remote_port()?
    );
    assert_eq!(server.receive(100).await?, b"STARTTLS\n");
    server.send(b"GO\n").await?;
    assert_eq!(client.receive(100).await?, b"GO\n");
    let (c, s) = futures_lite::future::zip(client.start_tls(), server.start_tls()).await;
    c?;
    s?;
    let err = client.start_tls().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    client.send(b"secret").await?;
    assert_eq!(server.receive(100).await?, b"secret");

    // The server ends TLS in its direction; the client unwraps and goes on in plaintext,
    // and its plaintext reaches the server in the same read as its close_notify.
    server.send_eof().await?;
    let (plain_client, leftover) = client.unwrap().await?;
    assert_eq!(leftover, b"");
    plain_client.send(b"plain again").await?;
    let (plain_server, leftover) = server.unwrap().await?;
    assert_eq!(leftover, b"plain again");
    plain_client.send(b" and more").await?;
    assert_eq!(plain_server.receive(100).await?, b" and more");
    Ok(())
}

#[anyio::test]
async fn one_task_receives_while_another_sends_and_a_second_receiver_is_busy()
-> Result<(), BoxError> {
    let pki = pki();
    let (client, server) = tls_pair(&pki).await?;
    let payload: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    // Echo on the server, full duplex on the client.
    let echoed = fail_after(DEADLINE, async {
        let (echo, (sent, got)) = futures_lite::future::zip(
            async {
                loop {
                    match server.receive(65536).await {
                        Ok(chunk) => server.send(&chunk).await?,
                        Err(err) if err.is_end_of_stream() => return server.send_eof().await,
                        Err(err) => return Err(err),
                    }
                }
            },
            futures_lite::future::zip(
                async {
                    for chunk in payload.chunks(50_000) {
                        client.send(chunk).await?;
                    }
                    client.send_eof().await
                },
                async {
                    let mut got = Vec::new();
                    let mut busy_seen = false;
                    loop {
                        if !busy_seen {
                            // A second receiver meanwhile is refused.
                            let (first, second) =
                                futures_lite::future::zip(client.receive(65536), async {
                                    client.receive(1).await
                                })
                                .await;
                            let err = second.unwrap_err();
                            assert!(err.is_busy_resource(), "{err}");
                            got.extend_from_slice(&first?);
                            busy_seen = true;
                            continue;
                        }
                        match client.receive(65536).await {
                            Ok(chunk) => got.extend_from_slice(&chunk),
                            Err(err) if err.is_end_of_stream() => return Ok::<_, io::Error>(got),
                            Err(err) => return Err(err),
                        }
                    }
                },
            ),
        )
        .await;
        echo?;
        sent?;
        got
    })
    .await?;
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload);
    Ok(())
}

#[anyio::test]
async fn closing_wakes_a_blocked_receiver_and_later_calls_are_closed() -> Result<(), BoxError> {
    let pki = pki();
    let (client, _server) = tls_pair(&pki).await?;
    let (received, closed) = futures_lite::future::zip(client.receive(10), async {
        anyio::wait_all_tasks_blocked().await?;
        client.aclose().await
    })
    .await;
    closed?;
    let err = received.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = client.send(b"x").await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = client.receive(10).await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = client.receive(0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

#[anyio::test]
async fn a_cancelled_receive_loses_nothing_and_half_close_keeps_receiving() -> Result<(), BoxError>
{
    let pki = pki();
    let (client, server) = tls_pair(&pki).await?;
    let out = anyio::move_on_after(Duration::from_millis(50), client.receive(100)).await?;
    assert_eq!(out, None);
    server.send(b"after the cancel").await?;
    assert_eq!(client.receive(100).await?, b"after the cancel");

    // TLS 1.3 half-close: the client ends its side and still receives.
    client.send_eof().await?;
    let err = client.send(b"x").await.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    let err = server.receive(10).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    server.send(b"still here").await?;
    assert_eq!(client.receive(100).await?, b"still here");
    Ok(())
}

#[anyio::test]
async fn futures_io_traits_carry_tls() -> Result<(), BoxError> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let (mut client, mut server) = tls_pair(&pki).await?;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 249) as u8).collect();
    let (written, read) = futures_lite::future::zip(
        async {
            client.write_all(&payload).await?;
            client.flush().await?;
            client.close().await
        },
        async {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        },
    )
    .await;
    written?;
    assert!(read? == payload);
    Ok(())
}

#[cfg(feature = "tokio-io")]
#[anyio::test]
async fn tokio_io_traits_carry_tls() -> Result<(), BoxError> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let (client, mut server) = tls_pair(&pki).await?;
    let mut lines = tokio::io::BufReader::new(client).lines();
    let (written, read) = futures_lite::future::zip(
        async {
            server.write_all(b"one\ntwo\n").await?;
            server.shutdown().await
        },
        async {
            let first = lines.next_line().await?;
            let second = lines.next_line().await?;
            let end = lines.next_line().await?;
            Ok::<_, io::Error>((first, second, end))
        },
    )
    .await;
    written?;
    assert_eq!(
        read?,
        (Some("one".to_owned()), Some("two".to_owned()), None)
    );
    let mut client = lines.into_inner().into_inner();
    client.write_all(b"reply").await?;
    client.shutdown().await?;
    let mut got = Vec::new();
    server.read_to_end(&mut got).await?;
    assert_eq!(got, b"reply");
    Ok(())
}

/// The warnings logged under the `anyio::tls` target, by every test of this binary.
static TLS_LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct TlsLogger;

impl log::Log for TlsLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "anyio::tls"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            TLS_LOG.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

fn capture_tls_log() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        log::set_logger(&TlsLogger).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

#[anyio::test]
async fn serve_logs_a_failed_handshake_and_serves_the_next_client() -> Result<(), BoxError> {
    capture_tls_log();
    let pki = pki();
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind_tls(pki.acceptor.clone())
        .await?;
    let port = listener.listener().listeners()[0].local_port()?;
    let served = anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            listener
                .serve(|stream: TlsStream<SocketStream>| async move {
                    if let Ok(name) = stream.receive(100).await {
                        let reply = [b"Hello, ".as_slice(), &name].concat();
                        let _ = stream.send(&reply).await;
                    }
                    let _ = stream.aclose().await;
                })
                .await?;
            Ok(())
        })?;
        // A client that speaks plain HTTP to the TLS port is refused and logged.
        let plain = connect_tcp("127.0.0.1", port).await?;
        plain.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut answer = Vec::new();
        loop {
            match plain.receive(1000).await {
                Ok(chunk) => answer.extend_from_slice(&chunk),
                Err(err) if err.is_end_of_stream() => break,
                Err(err) => return Err(err.into()),
            }
        }
        // rustls answers with an alert record (type 21) before closing.
        assert_eq!(answer.first(), Some(&21), "{answer:?}");
        // The next client is served all the same.
        let client = anyio::net::connect_tls("127.0.0.1", port, &pki.connector).await?;
        client.send(b"World").await?;
        assert_eq!(client.receive(100).await?, b"Hello, World");
        tg.cancel_scope().cancel();
        Ok(())
    });
    fail_after(DEADLINE, async { served.await.map_err(BoxError::from) }).await?;
    let log = TLS_LOG.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|line| line.starts_with("WARN TLS handshake failed")
                && line.contains("corrupt message")),
        "{log:?}"
    );
    Ok(())
}

#[anyio::test]
async fn tls_runs_over_any_byte_stream_after_buffered_plaintext() -> Result<(), BoxError> {
    use anyio::stream::BufferedByteStream;
    let pki = pki();
    let (client, server) = tcp_pair().await?;
    // The server reads its plaintext command through a buffer that may hold more: the
    // start of the client's handshake, which TLS must then read from the buffer first.
    let server = BufferedByteStream::new(server);
    client.send(b"STARTTLS\r\n").await?;
    let tls_client = pki.connector.client(client, "localhost")?;
    let (client_side, server_side) = futures_lite::future::zip(tls_client.start_tls(), async {
        assert_eq!(server.receive_until(b"\r\n", 100).await?, b"STARTTLS");
        pki.acceptor.accept(server).await
    })
    .await;
    client_side?;
    let tls_server = server_side?;
    tls_client.send(b"over a buffered stream").await?;
    assert_eq!(tls_server.receive(100).await?, b"over a buffered stream");
    Ok(())
}

#[anyio::test]
async fn a_send_cancelled_mid_flush_breaks_the_stream_but_an_early_cancel_does_not()
-> Result<(), BoxError> {
    let pki = pki();
    let (client, server) = tls_pair(&pki).await?;
    // Already cancelled when called: nothing is encrypted, the stream goes on.
    let out = anyio::move_on_after(Duration::ZERO, client.send(b"never")).await?;
    assert_eq!(out, None);
    client.send(b"first").await?;
    assert_eq!(server.receive(100).await?, b"first");

    // Cancelled while the transport is full (the server does not read): a record may be
    // half sent, so the stream is broken from then on.
    let big = vec![7u8; 32 * 1024 * 1024];
    let out = anyio::move_on_after(Duration::from_millis(100), client.send(&big)).await?;
    assert_eq!(out, None);
    let err = client.send(b"more").await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    assert!(err.to_string().contains("interrupted"), "{err}");
    Ok(())
}

#[anyio::test]
async fn a_handshake_cut_short_leaves_the_stream_broken() -> Result<(), BoxError> {
    let pki = pki();
    let (client, _silent_server) = tcp_pair().await?;
    let client = pki.connector.client(client, "localhost")?;
    let out = anyio::move_on_after(Duration::from_millis(50), client.start_tls()).await?;
    assert_eq!(out, None);
    let err = client.send(b"x").await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    let err = client.start_tls().await.unwrap_err();
    assert!(err.is_broken_resource(), "{err}");
    Ok(())
}

/// The first flight of a TLS client for "localhost": a ClientHello, as bytes to send by hand.
fn client_hello(connector: &TlsConnector) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(connector.config().clone(), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}

/// The usual hand-written accept loop: accept, then a task per connection. A loop that ends
/// only through `?` is an `async fn` with its output type written out.
async fn accept_loop(
    listener: TlsListener<anyio::stream::MultiListener<anyio::net::SocketListener>>,
    handlers: anyio::TaskGroup,
) -> Result<(), BoxError> {
    loop {
        let stream = listener.accept().await?;
        handlers.start_soon(async move {
            if let Ok(data) = stream.receive(100).await {
                let _ = stream.send(&data).await;
            }
        })?;
    }
}

#[anyio::test]
async fn a_client_stalled_after_its_client_hello_does_not_hold_up_a_plain_accept_loop()
-> Result<(), BoxError> {
    let pki = pki();
    let listener = TlsListener::new(
        TcpListenerOptions::new()
            .local_host("127.0.0.1")
            .bind()
            .await?,
        pki.acceptor.clone(),
    );
    let port = listener.listener().listeners()[0].local_port()?;
    let connector = pki.connector.clone();
    anyio::task_group(|tg| async move {
        tg.start_soon(accept_loop(listener, tg.clone()))?;
        // The first client sends its ClientHello and then nothing.
        let stalled = connect_tcp("127.0.0.1", port).await?;
        stalled.send(&client_hello(&connector)).await?;
        anyio::sleep(Duration::from_millis(100)).await?;
        // The second is served within a second all the same.
        fail_after(Duration::from_secs(1), async {
            let tcp = connect_tcp("127.0.0.1", port).await?;
            let client = connector.connect(tcp, "localhost").await?;
            client.send(b"ping").await?;
            assert_eq!(client.receive(100).await?, b"ping");
            Ok::<_, io::Error>(())
        })
        .await?;
        drop(stalled);
        tg.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn a_handshake_left_to_the_first_use_keeps_the_listeners_timeout() -> Result<(), BoxError> {
    let pki = pki();
    let listener = TlsListener::new(
        TcpListenerOptions::new()
            .local_host("127.0.0.1")
            .bind()
            .await?,
        pki.acceptor.clone(),
    )
    .handshake_timeout(Duration::from_millis(200));
    let port = listener.listener().listeners()[0].local_port()?;
    fail_after(DEADLINE, async {
        let stalled = connect_tcp("127.0.0.1", port).await?;
        stalled.send(&client_hello(&pki.connector)).await?;
        // accept returns at once; the first receive runs the handshake, which the
        // listener's timeout cuts short.
        let accepted = fail_after(Duration::from_secs(1), listener.accept()).await?;
        let started = std::time::Instant::now();
        let err = accepted.receive(100).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(err.is_broken_resource(), "{err}");
        // Broken for good, with the same error.
        let again = accepted.send(b"x").await.unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::TimedOut, "{again}");
        drop(accepted);
        // The peer sees the connection end.
        loop {
            match stalled.receive(10000).await {
                Ok(_) => {}
                Err(err)
                    if err.is_end_of_stream() || err.kind() == io::ErrorKind::ConnectionReset =>
                {
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        // A good client's stream does its handshake on first use; handshake() runs it
        // explicitly, so what it negotiated is known before any data.
        let tcp = connect_tcp("127.0.0.1", port).await?;
        let server = listener.accept().await?;
        assert_eq!(server.protocol_version(), None);
        let (shaken, client) =
            futures_lite::future::zip(server.handshake(), pki.connector.connect(tcp, "localhost"))
                .await;
        let client = client?;
        shaken?;
        assert!(server.protocol_version().is_some());
        server.handshake().await?;
        client.send(b"hi").await?;
        assert_eq!(server.receive(10).await?, b"hi");
        Ok::<_, io::Error>(())
    })
    .await?;
    Ok(())
}
