//! TLS streams (rule 19 and the TLS chapter) on every backend, over loopback TCP and over
//! in-memory streams, with certificates made at run time.
#![cfg(unix)]

#[path = "support/certs.rs"]
mod certs;

use std::io;
use std::time::Duration;

use anyio::net::{SocketAttributes, SocketStream, TcpListenerOptions, connect_tcp};
use anyio::stream::{IoErrorExt, Listener};
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

#[anyio::test]
async fn stalled_handshake_is_cut_and_the_listener_goes_on() -> Result<(), BoxError> {
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
        let (silent, good) = futures_lite::future::zip(
            async {
                let silent = connect_tcp("127.0.0.1", port).await?;
                // The server gives up on us: our receive sees the end.
                let err = silent.receive(10).await.unwrap_err();
                assert!(err.is_end_of_stream(), "{err}");
                Ok::<_, io::Error>(())
            },
            async {
                let (accepted, client) = futures_lite::future::zip(listener.accept(), async {
                    anyio::sleep(Duration::from_millis(50)).await?;
                    let tcp = connect_tcp("127.0.0.1", port).await?;
                    pki.connector.connect(tcp, "localhost").await
                })
                .await;
                let (server, client) = (accepted?, client?);
                client.send(b"hi").await?;
                assert_eq!(server.receive(10).await?, b"hi");
                Ok::<_, io::Error>(())
            },
        )
        .await;
        silent?;
        good
    })
    .await?;
    Ok(())
}
