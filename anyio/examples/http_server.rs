//! An HTTP server on hyper (the `hyper` feature): HTTP/1.1 and HTTP/2 on plain TCP (hyper-util's
//! auto builder tells them apart), and both over TLS, where ALPN picks the protocol. Each
//! connection is a task of a task group; shutting down cancels the accepting scope, then
//! lets every connection finish its requests (hyper's graceful shutdown: HTTP/2's `GOAWAY`,
//! HTTP/1.1's last response) before the group ends.
//!
//! ```text
//! cargo run --example http_server --features hyper
//! cargo run --example http_server --features hyper -- --backend smol
//! cargo run --example http_server --features hyper -- --port 8080   # serves until Ctrl-C
//! curl http://127.0.0.1:8080/hello
//! curl --http2-prior-knowledge http://127.0.0.1:8080/hello
//! ```
//!
//! Without `--port` it serves on free ports, fetches from itself with hyper-util's pooled
//! client over HTTP/1.1 and over HTTP/2 with TLS, and shuts down.

use std::convert::Infallible;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;

use anyio::hyper::{AnyioTimer, HttpConnector, HttpStream};
use anyio::net::{SocketAttributes, SocketListener, TcpListenerOptions};
use anyio::tls::{TlsAcceptor, TlsConnector};
use anyio::{BoxError, CancelScope, Event, Runner, TaskGroup};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::server::conn::auto;

// This example also reads `--port`, so it does not use `backend_from_args`.
#[allow(dead_code)]
mod common;
#[path = "common/tls_cert.rs"]
mod tls_cert;

/// The answer to every request: its path and the protocol it came over.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!(
        "Hello from anyio: {} over {:?}\n",
        req.uri().path(),
        req.version()
    );
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Serves one connection until it ends, or until `shutdown` is set and its requests are
/// answered.
async fn connection(stream: HttpStream, tg: TaskGroup, shutdown: Arc<Event>) {
    let mut builder = auto::Builder::new(tg);
    builder.http1().timer(AnyioTimer);
    builder.http2().timer(AnyioTimer);
    let mut conn = pin!(builder.serve_connection(stream, service_fn(hello)));
    let shutting_down = futures_lite::future::or(
        async {
            let _ = conn.as_mut().await;
            false
        },
        async {
            let _ = shutdown.wait().await;
            true
        },
    )
    .await;
    if shutting_down {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// Accepts connections on `listener` (with TLS when `tls` is given), each served in its
/// own task of `connections`, until cancelled.
async fn accept_loop(
    listener: SocketListener,
    tls: Option<TlsAcceptor>,
    connections: TaskGroup,
    shutdown: Arc<Event>,
) -> Result<(), BoxError> {
    loop {
        let stream = listener.accept().await?;
        let (tg, tls, shutdown) = (connections.clone(), tls.clone(), shutdown.clone());
        connections.start_soon(async move {
            let stream = match tls {
                // A failed handshake ends this connection only.
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => HttpStream::Tls(stream),
                    Err(_) => return,
                },
                None => HttpStream::Plain(stream),
            };
            connection(stream, tg, shutdown).await;
        })?;
    }
}

/// Serves on every listener (with TLS where an acceptor is given) until `accepting` is
/// cancelled; the connections run on in `connections` until `shutdown` is set and they
/// have finished.
async fn serve(
    listeners: Vec<(SocketListener, Option<TlsAcceptor>)>,
    connections: TaskGroup,
    accepting: CancelScope,
    shutdown: Arc<Event>,
) -> Result<(), BoxError> {
    accepting
        .run(async move {
            anyio::task_group(|acceptors| async move {
                for (listener, tls) in listeners {
                    let loop_ = accept_loop(listener, tls, connections.clone(), shutdown.clone());
                    acceptors.start_soon(loop_)?;
                }
                Ok(())
            })
            .await?;
            Ok::<(), BoxError>(())
        })
        .await?;
    Ok(())
}

/// A listener on 127.0.0.1, port `port` (0 for a free one).
async fn listen(port: u16) -> Result<SocketListener, BoxError> {
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .local_port(port)
        .bind()
        .await?
        .into_listeners();
    Ok(listeners.remove(0))
}

/// GETs `uri` and returns the body.
async fn fetch(
    client: &Client<HttpConnector, Empty<Bytes>>,
    uri: &str,
) -> Result<String, BoxError> {
    let response = client.get(uri.parse()?).await?;
    let version = response.version();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8(body.to_vec())?;
    println!("GET {uri} -> {version:?}: {}", body.trim_end());
    Ok(body)
}

/// Serves on free ports, fetches from itself over HTTP/1.1 and over h2 with TLS, and
/// shuts down gracefully.
pub(crate) async fn run() -> Result<(), BoxError> {
    let cert = tls_cert::localhost()?;
    let acceptor = TlsAcceptor::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?
        .alpn_protocols([b"h2".as_slice(), b"http/1.1"]);
    let (plain, secure) = (listen(0).await?, listen(0).await?);
    let (plain_port, tls_port) = (plain.local_port()?, secure.local_port()?);
    let accepting = CancelScope::new();
    let shutdown = Arc::new(Event::new());
    let connector =
        HttpConnector::new().with_tls(TlsConnector::with_root_pem(cert.cert_pem.as_bytes())?);
    anyio::task_group(|tg| async move {
        let listeners = vec![(plain, None), (secure, Some(acceptor))];
        tg.start_soon(serve(
            listeners,
            tg.clone(),
            accepting.clone(),
            shutdown.clone(),
        ))?;

        let client = Client::builder(tg.clone())
            .timer(AnyioTimer)
            .build::<_, Empty<Bytes>>(connector);
        let body = fetch(&client, &format!("http://127.0.0.1:{plain_port}/plain")).await?;
        assert_eq!(body, "Hello from anyio: /plain over HTTP/1.1\n");
        let uri = format!("https://localhost:{tls_port}/secure");
        let body = fetch(&client, &uri).await?;
        assert_eq!(body, "Hello from anyio: /secure over HTTP/2.0\n");
        drop(client);

        // Stop accepting, then let the connections finish: the group waits for them.
        accepting.cancel();
        shutdown.set();
        Ok(())
    })
    .await?;
    println!("shut down");
    Ok(())
}

/// Serves plain HTTP (HTTP/1.1 and HTTP/2) on `port` until Ctrl-C, then shuts down
/// gracefully.
async fn serve_until_interrupted(port: u16) -> Result<(), BoxError> {
    let listener = listen(port).await?;
    println!("serving HTTP on 127.0.0.1:{}", listener.local_port()?);
    let accepting = CancelScope::new();
    let shutdown = Arc::new(Event::new());
    anyio::task_group(|tg| async move {
        let listeners = vec![(listener, None)];
        tg.start_soon(serve(
            listeners,
            tg.clone(),
            accepting.clone(),
            shutdown.clone(),
        ))?;
        let mut signals = anyio::open_signal_receiver(&[anyio::Signal::SIGINT])?;
        signals.recv().await?;
        println!("shutting down");
        accepting.cancel();
        shutdown.set();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let (backend, port) = common::port_and_backend_from_args("http_server");
    let runner = Runner::new(backend);
    match port {
        Some(port) => common::exit_status(runner.run(serve_until_interrupted(port))),
        None => common::exit_status(runner.run(run())),
    }
}
