//! hyper on anyio (the `hyper` feature), on every backend: hyper's server on our socket and
//! TLS streams, hyper-util's pooled client through `HttpConnector`, `curl` against the
//! server (HTTP/1.1, and HTTP/2 over TLS chosen with ALPN), the header-read timeout on
//! `AnyioTimer`, and `TaskGroup` as hyper's executor.
#![cfg(all(unix, feature = "hyper", feature = "tls"))]

#[path = "support/certs.rs"]
mod certs;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyio::hyper::{AnyioTimer, HttpConnector};
use anyio::net::{
    SocketAttributes, SocketListener, SocketStream, TcpListenerOptions, UnixSocketStream,
    connect_tcp, connect_unix, create_unix_listener,
};
use anyio::tls::{TlsAcceptor, TlsConnector};
use anyio::{BoxError, Event, TaskGroup, fail_after};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::rt::{Executor, Timer};
use hyper::service::service_fn;
use hyper::{Request, Response, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::server::conn::auto;

/// Only reached when a test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// `fut`, failing with a `TimeoutError` after [`DEADLINE`].
async fn bounded<T>(fut: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError> {
    fail_after(DEADLINE, fut).await
}

/// The test server's answer: the path and the HTTP version it was asked with.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("hello {} over {:?}", req.uri().path(), req.version());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// A listener on 127.0.0.1, on a port of the system's choice.
async fn listen() -> io::Result<SocketListener> {
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners();
    Ok(listeners.remove(0))
}

/// Serves [`hello`] on every connection `listener` accepts, each in a task of `tg`, over
/// TLS when `tls` is given; HTTP/1.1 and HTTP/2 (hyper-util's auto builder).
async fn serve(
    listener: SocketListener,
    tg: TaskGroup,
    tls: Option<TlsAcceptor>,
) -> Result<(), BoxError> {
    loop {
        let stream = listener.accept().await?;
        let (tg2, tls) = (tg.clone(), tls.clone());
        tg.start_soon(async move {
            let mut builder = auto::Builder::new(tg2);
            builder.http1().timer(AnyioTimer);
            builder.http2().timer(AnyioTimer);
            let served = match tls {
                Some(tls) => {
                    let stream = tls.accept(stream).await?;
                    builder.serve_connection(stream, service_fn(hello)).await
                }
                None => builder.serve_connection(stream, service_fn(hello)).await,
            };
            // A client that goes away mid-connection is not the server's failure.
            drop(served);
            Ok::<(), BoxError>(())
        })?;
    }
}

/// GETs `uri` with `client` and returns the status, the version and the body.
async fn get<C>(
    client: &Client<C, Empty<Bytes>>,
    uri: &str,
) -> Result<(u16, Version, String), BoxError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let response = client.get(uri.parse::<Uri>()?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((
        parts.status.as_u16(),
        parts.version,
        String::from_utf8(body.to_vec())?,
    ))
}

/// A CA, a server certificate for `localhost` and the CA on disk for curl.
struct Pki {
    ca: String,
    acceptor: TlsAcceptor,
    ca_file: std::path::PathBuf,
}

impl Pki {
    fn new(name: &str) -> Result<Pki, BoxError> {
        let ca = certs::Ca::new();
        let server = ca.server(&["localhost"]);
        let acceptor = TlsAcceptor::from_pem(server.cert.as_bytes(), server.key.as_bytes())?
            .alpn_protocols([b"h2".as_slice(), b"http/1.1"]);
        let ca_file = std::env::temp_dir().join(format!(
            "anyio-hyper-{name}-{}-{}.pem",
            std::process::id(),
            anyio::current_backend()?.name()
        ));
        std::fs::write(&ca_file, &ca.pem.cert)?;
        Ok(Pki {
            ca: ca.pem.cert,
            acceptor,
            ca_file,
        })
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// Runs `curl` with `args` in a worker thread; its stdout, or its stderr as the error.
async fn curl(args: Vec<String>) -> Result<String, BoxError> {
    let output = anyio::to_thread::run_sync(move || {
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(&args)
            .output()
    })
    .await??;
    if !output.status.success() {
        return Err(format!(
            "curl failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

#[anyio::test]
async fn the_pooled_client_fetches_from_the_server_over_http1() -> Result<(), BoxError> {
    bounded(async {
        anyio::task_group(|tg| async move {
            let listener = listen().await?;
            let port = listener.local_port()?;
            tg.start_soon(serve(listener, tg.clone(), None))?;
            let client = Client::builder(tg.clone())
                .timer(AnyioTimer)
                .build::<_, Empty<Bytes>>(HttpConnector::new());
            for path in ["/one", "/two", "/three"] {
                let got = get(&client, &format!("http://127.0.0.1:{port}{path}")).await?;
                assert_eq!(
                    got,
                    (200, Version::HTTP_11, format!("hello {path} over HTTP/1.1"))
                );
            }
            tg.cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await
}

#[anyio::test]
async fn the_pooled_client_speaks_h2_over_tls_when_alpn_picks_it() -> Result<(), BoxError> {
    let pki = Pki::new("client-h2")?;
    let connector = HttpConnector::new().with_tls(TlsConnector::with_root_pem(pki.ca.as_bytes())?);
    let acceptor = pki.acceptor.clone();
    bounded(async {
        anyio::task_group(|tg| async move {
            let listener = listen().await?;
            let port = listener.local_port()?;
            tg.start_soon(serve(listener, tg.clone(), Some(acceptor)))?;
            let client = Client::builder(tg.clone())
                .timer(AnyioTimer)
                .build::<_, Empty<Bytes>>(connector);
            for path in ["/a", "/b"] {
                let got = get(&client, &format!("https://localhost:{port}{path}")).await?;
                assert_eq!(
                    got,
                    (200, Version::HTTP_2, format!("hello {path} over HTTP/2.0"))
                );
            }
            tg.cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await
}

#[anyio::test]
async fn curl_fetches_over_http1_and_over_h2_with_tls() -> Result<(), BoxError> {
    let pki = Pki::new("curl")?;
    let acceptor = pki.acceptor.clone();
    let ca_file = pki.ca_file.to_str().expect("UTF-8 path").to_owned();
    bounded(async {
        anyio::task_group(|tg| async move {
            let plain = listen().await?;
            let plain_port = plain.local_port()?;
            tg.start_soon(serve(plain, tg.clone(), None))?;
            let secure = listen().await?;
            let tls_port = secure.local_port()?;
            tg.start_soon(serve(secure, tg.clone(), Some(acceptor)))?;

            let body = curl(vec![format!("http://127.0.0.1:{plain_port}/plain")]).await?;
            assert_eq!(body, "hello /plain over HTTP/1.1");

            let body = curl(vec![
                "--http2".into(),
                "--cacert".into(),
                ca_file,
                "--resolve".into(),
                format!("localhost:{tls_port}:127.0.0.1"),
                "--write-out".into(),
                " (curl saw %{http_version})".into(),
                format!("https://localhost:{tls_port}/secure"),
            ])
            .await?;
            assert_eq!(body, "hello /secure over HTTP/2.0 (curl saw 2)");
            tg.cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await
}

#[anyio::test]
async fn the_header_read_timeout_runs_on_anyio_timer() -> Result<(), BoxError> {
    let listener = listen().await?;
    let port = listener.local_port()?;
    let (served, client) = bounded(async {
        Ok(futures_lite::future::zip(
            async {
                let stream = listener.accept().await?;
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(AnyioTimer)
                    .header_read_timeout(Duration::from_millis(100))
                    .serve_connection(stream, service_fn(hello))
                    .await;
                Ok::<_, io::Error>(served)
            },
            async {
                let client = connect_tcp("127.0.0.1", port).await?;
                // Half a request line, then nothing: the headers never end.
                client.send(b"GET /slow HTTP/1.1\r\n").await?;
                Ok::<_, io::Error>(client)
            },
        )
        .await)
    })
    .await?;
    let err = served?.expect_err("the connection ends on the timeout");
    assert!(err.is_timeout(), "not a timeout: {err}");
    let client: SocketStream = client?;
    // The server has closed the connection: what it sent (if anything) is followed by the
    // end of the stream.
    let mut rest = Vec::new();
    loop {
        match client.receive(4096).await {
            Ok(data) => rest.extend(data),
            Err(err) => {
                assert!(
                    anyio::stream::IoErrorExt::is_end_of_stream(&err),
                    "not the end: {err}"
                );
                break;
            }
        }
    }
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "unexpected answer: {}",
        String::from_utf8_lossy(&rest)
    );
    Ok(())
}

#[anyio::test]
async fn anyio_timer_sleeps_and_resets_on_the_backend_clock() -> Result<(), BoxError> {
    let timer = AnyioTimer;
    let start = timer.now();
    assert!(start <= anyio::current_time());
    let mut sleep = timer.sleep(Duration::from_secs(3600));
    timer.reset(
        &mut sleep,
        anyio::current_time() + Duration::from_millis(20),
    );
    bounded(async {
        sleep.await;
        Ok(())
    })
    .await?;
    assert!(anyio::current_time() >= start + Duration::from_millis(20));
    // A duration past the clock's range sleeps forever, without a panic.
    let never = timer.sleep(Duration::MAX);
    let first = futures_lite::future::or(
        async {
            never.await;
            "the endless sleep"
        },
        async {
            let _ = anyio::sleep(Duration::from_millis(20)).await;
            "the short sleep"
        },
    )
    .await;
    assert_eq!(first, "the short sleep");
    Ok(())
}

/// Sets its flag when dropped: tells whether a future handed to the executor was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[anyio::test]
async fn the_executors_tasks_end_with_the_group() -> Result<(), BoxError> {
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Event::new());
    let (flag, seen) = (DropFlag(dropped.clone()), started.clone());
    let kept = Arc::new(std::sync::Mutex::new(None));
    let (keep, early) = (kept.clone(), dropped.clone());
    anyio::task_group(|tg| async move {
        *keep.lock().unwrap() = Some(tg.clone());
        tg.execute(async move {
            let _flag = flag;
            seen.set();
            // Only the group's cancellation ends it.
            let _ = anyio::sleep_forever().await;
        });
        started.wait().await?;
        assert!(!early.load(Ordering::SeqCst));
        tg.cancel();
        Ok(())
    })
    .await?;
    let group: TaskGroup = kept.lock().unwrap().take().expect("the body ran");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the task outlived its group"
    );

    // The group has finished: a future handed over now is dropped, never run.
    let (ran, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (flag, ran2) = (DropFlag(dropped.clone()), ran.clone());
    group.execute(async move {
        let _flag = flag;
        ran2.store(true, Ordering::SeqCst);
    });
    anyio::sleep(Duration::from_millis(20)).await?;
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
    Ok(())
}

#[anyio::test]
async fn http1_runs_over_unix_sockets_both_ways() -> Result<(), BoxError> {
    let path = std::env::temp_dir().join(format!(
        "anyio-hyper-{}-{}.sock",
        std::process::id(),
        anyio::current_backend()?.name()
    ));
    let _ = std::fs::remove_file(&path);
    let listener = create_unix_listener(path.as_path()).await?;
    let result = bounded(async {
        anyio::task_group(|tg| async move {
            tg.start_soon(async move {
                let stream = listener.accept().await?;
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(stream, service_fn(hello))
                    .await?;
                Ok(())
            })?;
            let stream: UnixSocketStream = connect_unix(path.as_path()).await?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(stream).await?;
            tg.start_soon(async move {
                connection.await?;
                Ok(())
            })?;
            let request = Request::get("/unix")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())?;
            let response = sender.send_request(request).await?;
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await?.to_bytes();
            assert_eq!(body, "hello /unix over HTTP/1.1");
            drop(sender);
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await;
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!(
        "anyio-hyper-{}-{}.sock",
        std::process::id(),
        anyio::current_backend()?.name()
    )));
    result?;
    Ok(())
}

#[anyio::test]
async fn the_connector_refuses_what_it_cannot_connect_to() -> Result<(), BoxError> {
    let plain = HttpConnector::new();
    let err = plain
        .connect(&"https://localhost/".parse()?)
        .await
        .expect_err("https without TLS");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "cannot connect to https://localhost/: https needs a TLS connector \
         (HttpConnector::with_tls)"
    );
    let err = plain
        .connect(&"ftp://localhost/".parse()?)
        .await
        .expect_err("not HTTP");
    assert_eq!(
        err.to_string(),
        "cannot connect to ftp://localhost/: the scheme \"ftp\" is neither http nor https"
    );
    let err = plain
        .connect(&"/relative".parse()?)
        .await
        .expect_err("no host");
    assert_eq!(
        err.to_string(),
        "cannot connect to /relative: it has no host"
    );
    Ok(())
}
