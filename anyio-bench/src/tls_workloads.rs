//! TLS1 and TLS2: TLS over loopback TCP, on anyio's TLS streams and natively on
//! tokio-rustls (tokio) and futures-rustls over `async_io::Async<TcpStream>` (smol), with
//! the very same rustls configuration on every side ([`configs`]).
//!
//! - **TLS1**, echo throughput: the client sends 64 MiB in 64 KiB chunks from one task and
//!   reads the echo back in another; the server echoes what it reads. One connection per
//!   run. **The TCP connect and the TLS handshake are outside the timed section**: the body
//!   times itself from the end of the client's handshake to the last echoed byte received
//!   (the closing exchange after it is not timed either).
//! - **TLS2**, handshakes per second: 1 000 connections one after the other, each a TCP
//!   connect, a full TLS 1.3 handshake (no resumption), a 1-byte round trip and the closing
//!   exchange (each side sends `close_notify` and waits for the peer's); the server handles
//!   each connection in a task of its own. All of it is timed.
//!
//! The anyio versions use [`TlsConnector::from_config`] / [`TlsAcceptor::from_config`] over
//! `connect_tcp` and a `TcpListenerOptions` listener, with `receive` / `send`; the native
//! ones read into a reused 64 KiB buffer and `write_all`, as the anchors' W5 does, with the
//! stream split in two halves (tokio's `io::split`, futures-lite's `io::split`) so one task
//! writes while another reads. `TCP_NODELAY` is on everywhere (anyio sets it itself).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyio::TaskGroup;
use anyio::net::{SocketAttributes, SocketListener, TcpListenerOptions, connect_tcp};
use anyio::stream::IoErrorExt;
use anyio::tls::{TlsAcceptor, TlsConnector};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// TLS1: plaintext bytes echoed per run, and the chunk size.
pub(crate) const TLS_ECHO_BYTES: usize = 64 << 20;
const TLS_CHUNK: usize = 64 << 10;
/// TLS2: connections (full handshakes) per run.
pub(crate) const HANDSHAKES: usize = 1_000;
/// What every TLS2 connection must have negotiated (checked on each).
const TLS13: rustls::ProtocolVersion = rustls::ProtocolVersion::TLSv1_3;
/// The name in the server's certificate, which the client verifies.
const SERVER_NAME: &str = "localhost";

/// The one rustls configuration of each side, shared by anyio and the native versions.
pub(crate) struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

/// Made once per process: a CA and a server certificate for `localhost` that it signs
/// (ECDSA P-256, rcgen's default), the aws-lc-rs provider, TLS 1.2 and 1.3 (rustls's safe
/// defaults, as anyio's own builders; TLS 1.3 is what is negotiated), the CA as the only
/// root. Resumption is off on the client and the server sends no TLS 1.3 tickets, so every
/// handshake of TLS2 is a full one and no ticket traffic follows a handshake.
pub(crate) fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "anyio-bench CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("server certificate");

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca_cert.der().clone()).expect("root");
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.resumption = rustls::client::Resumption::disabled();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("server certificate and key");
        server.send_tls13_tickets = 0;
        Configs {
            client: Arc::new(client),
            server: Arc::new(server),
        }
    })
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a DNS name")
}

async fn listener() -> std::io::Result<(SocketListener, u16)> {
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0);
    let port = listener.local_port()?;
    Ok((listener, port))
}

/// TLS1 on anyio; returns the time from the end of the client's handshake to the last
/// echoed byte.
pub(crate) async fn echo() -> Duration {
    let connector = TlsConnector::from_config(configs().client.clone());
    let acceptor = TlsAcceptor::from_config(configs().server.clone());
    let (listener, port) = listener().await.expect("TLS1: listen");
    let elapsed = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let s = acceptor.accept(listener.accept().await?).await?;
            loop {
                match s.receive(TLS_CHUNK).await {
                    Ok(data) => s.send(&data).await?,
                    Err(e) if e.is_end_of_stream() => break,
                    Err(e) => return Err(e.into()),
                }
            }
            s.send_eof().await?;
            Ok(())
        })?;
        let tcp = connect_tcp("127.0.0.1", port).await?;
        let client = Arc::new(connector.connect(tcp, SERVER_NAME).await?);
        let start = Instant::now();
        let writer = client.clone();
        tg.start_soon(async move {
            let chunk = vec![7u8; TLS_CHUNK];
            for _ in 0..TLS_ECHO_BYTES / TLS_CHUNK {
                writer.send(&chunk).await?;
            }
            writer.send_eof().await?;
            Ok(())
        })?;
        let mut received = 0;
        while received < TLS_ECHO_BYTES {
            received += client.receive(TLS_CHUNK).await?.len();
        }
        // The client stays open until the server has sent its end (as the native reader
        // half does): closed earlier, with the server's `close_notify` unread, it would
        // reset the connection under the server's `send_eof`.
        Ok((start.elapsed(), client))
    })
    .await
    .unwrap_or_else(|e| panic!("TLS1 failed: {e}"));
    elapsed.expect("TLS1: nothing cancels the run").0
}

/// TLS2 on anyio: sequential connections, each handshake + 1-byte round trip + closing
/// exchange (`aclose` on both sides: `close_notify` each way).
pub(crate) async fn handshakes() {
    let connector = TlsConnector::from_config(configs().client.clone());
    let acceptor = TlsAcceptor::from_config(configs().server.clone());
    let (listener, port) = listener().await.expect("TLS2: listen");
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            anyio::task_group(|conns: TaskGroup| async move {
                for _ in 0..HANDSHAKES {
                    let tcp = listener.accept().await?;
                    let acceptor = acceptor.clone();
                    conns.start_soon(async move {
                        let s = acceptor.accept(tcp).await?;
                        let byte = s.receive(1).await?;
                        s.send(&byte).await?;
                        s.aclose().await?;
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            Ok(())
        })?;
        for _ in 0..HANDSHAKES {
            let tcp = connect_tcp("127.0.0.1", port).await?;
            let s = connector.connect(tcp, SERVER_NAME).await?;
            assert_eq!(s.protocol_version(), Some(TLS13));
            s.send(b"x").await?;
            assert_eq!(s.receive(1).await?, b"x");
            s.aclose().await?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("TLS2 failed: {e}"));
}

/// The native tokio versions, on tokio-rustls.
pub(crate) mod tokio_rustls_native {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    /// TLS1 on tokio-rustls; returns the time from the end of the client's handshake to the
    /// last echoed byte.
    pub(crate) async fn echo() -> Duration {
        let connector = TlsConnector::from(configs().client.clone());
        let acceptor = TlsAcceptor::from(configs().server.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut s = acceptor.accept(tcp).await.unwrap();
            let mut buf = vec![0u8; TLS_CHUNK];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
            s.shutdown().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let client = connector.connect(server_name(), tcp).await.unwrap();
        let start = Instant::now();
        let (mut rd, mut wr) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; TLS_CHUNK];
            for _ in 0..TLS_ECHO_BYTES / TLS_CHUNK {
                wr.write_all(&chunk).await.unwrap();
            }
            wr.shutdown().await.unwrap();
        });
        let mut buf = vec![0u8; TLS_CHUNK];
        let mut received = 0;
        while received < TLS_ECHO_BYTES {
            let n = rd.read(&mut buf).await.unwrap();
            assert!(n > 0, "TLS1: early end of stream");
            received += n;
        }
        let elapsed = start.elapsed();
        writer.await.unwrap();
        server.await.unwrap();
        elapsed
    }

    /// The closing exchange: our `close_notify` (and the TCP write side's end), then the
    /// peer's.
    async fn close(mut s: impl AsyncRead + AsyncWrite + Unpin) {
        s.shutdown().await.unwrap();
        let mut buf = [0u8; 16];
        while s.read(&mut buf).await.unwrap() > 0 {}
    }

    /// TLS2 on tokio-rustls.
    pub(crate) async fn handshakes() {
        let connector = TlsConnector::from(configs().client.clone());
        let acceptor = TlsAcceptor::from(configs().server.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            for _ in 0..HANDSHAKES {
                let (tcp, _) = listener.accept().await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let mut s = acceptor.accept(tcp).await.unwrap();
                    let mut byte = [0u8; 1];
                    s.read_exact(&mut byte).await.unwrap();
                    s.write_all(&byte).await.unwrap();
                    s.flush().await.unwrap();
                    close(s).await;
                });
            }
            conns.join_all().await;
        });
        for _ in 0..HANDSHAKES {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut s = connector.connect(server_name(), tcp).await.unwrap();
            assert_eq!(s.get_ref().1.protocol_version(), Some(TLS13));
            s.write_all(b"x").await.unwrap();
            s.flush().await.unwrap();
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).await.unwrap();
            assert_eq!(&byte, b"x");
            close(s).await;
        }
        server.await.unwrap();
    }
}

/// The native smol versions, on futures-rustls over `async_io::Async<TcpStream>`.
pub(crate) mod futures_rustls_native {
    use std::net::{TcpListener, TcpStream};

    use async_io::Async;
    use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use futures_rustls::{TlsAcceptor, TlsConnector};

    use super::*;
    use crate::native::EX;

    async fn bind() -> (Async<TcpListener>, std::net::SocketAddr) {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        (listener, addr)
    }

    async fn connect(addr: std::net::SocketAddr) -> Async<TcpStream> {
        let tcp = Async::<TcpStream>::connect(addr).await.unwrap();
        tcp.get_ref().set_nodelay(true).unwrap();
        tcp
    }

    /// TLS1 on futures-rustls; returns the time from the end of the client's handshake to
    /// the last echoed byte.
    pub(crate) async fn echo() -> Duration {
        let connector = TlsConnector::from(configs().client.clone());
        let acceptor = TlsAcceptor::from(configs().server.clone());
        let (listener, addr) = bind().await;
        let server = EX.spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.get_ref().set_nodelay(true).unwrap();
            let mut s = acceptor.accept(tcp).await.unwrap();
            let mut buf = vec![0u8; TLS_CHUNK];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
            s.close().await.unwrap();
        });
        let client = connector
            .connect(server_name(), connect(addr).await)
            .await
            .unwrap();
        let start = Instant::now();
        let (mut rd, mut wr) = futures_lite::io::split(client);
        let writer = EX.spawn(async move {
            let chunk = vec![7u8; TLS_CHUNK];
            for _ in 0..TLS_ECHO_BYTES / TLS_CHUNK {
                wr.write_all(&chunk).await.unwrap();
            }
            wr.close().await.unwrap();
        });
        let mut buf = vec![0u8; TLS_CHUNK];
        let mut received = 0;
        while received < TLS_ECHO_BYTES {
            let n = rd.read(&mut buf).await.unwrap();
            assert!(n > 0, "TLS1: early end of stream");
            received += n;
        }
        let elapsed = start.elapsed();
        writer.await;
        server.await;
        elapsed
    }

    /// The closing exchange: our `close_notify` (and the TCP write side's end), then the
    /// peer's.
    async fn close(mut s: impl AsyncRead + AsyncWrite + Unpin) {
        s.close().await.unwrap();
        let mut buf = [0u8; 16];
        while s.read(&mut buf).await.unwrap() > 0 {}
    }

    /// TLS2 on futures-rustls.
    pub(crate) async fn handshakes() {
        let connector = TlsConnector::from(configs().client.clone());
        let acceptor = TlsAcceptor::from(configs().server.clone());
        let (listener, addr) = bind().await;
        let server = EX.spawn(async move {
            let mut conns = Vec::with_capacity(HANDSHAKES);
            for _ in 0..HANDSHAKES {
                let (tcp, _) = listener.accept().await.unwrap();
                tcp.get_ref().set_nodelay(true).unwrap();
                let acceptor = acceptor.clone();
                conns.push(EX.spawn(async move {
                    let mut s = acceptor.accept(tcp).await.unwrap();
                    let mut byte = [0u8; 1];
                    s.read_exact(&mut byte).await.unwrap();
                    s.write_all(&byte).await.unwrap();
                    s.flush().await.unwrap();
                    close(s).await;
                }));
            }
            for conn in conns {
                conn.await;
            }
        });
        for _ in 0..HANDSHAKES {
            let mut s = connector
                .connect(server_name(), connect(addr).await)
                .await
                .unwrap();
            assert_eq!(s.get_ref().1.protocol_version(), Some(TLS13));
            s.write_all(b"x").await.unwrap();
            s.flush().await.unwrap();
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).await.unwrap();
            assert_eq!(&byte, b"x");
            close(s).await;
        }
        server.await;
    }
}
