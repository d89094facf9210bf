//! An HTTP client on hyper (the `hyper` feature): hyper-util's pooled client with anyio's
//! connector (Happy Eyeballs, TLS with ALPN), timer and task group, the same on every
//! backend. Its connections' background tasks run in the task group and end with it.
//!
//! ```text
//! cargo run --example http_client --features hyper
//! cargo run --example http_client --features hyper -- --backend smol
//! ```
//!
//! It fetches three times from a small HTTP/1.1 server of its own (plain hyper on an anyio
//! listener); the client keeps connections alive in its pool between requests.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyio::hyper::{AnyioTimer, HttpConnector};
use anyio::net::{SocketAttributes, TcpListenerOptions};
use anyio::{BoxError, Runner};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;

mod common;

/// Fetches `/` three times from a server of its own, which numbers the requests.
pub(crate) async fn run() -> Result<(), BoxError> {
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0);
    let port = listener.local_port()?;
    let requests = Arc::new(AtomicUsize::new(0));
    anyio::task_group(|tg| async move {
        // The server: one task per connection.
        let server_tg = tg.clone();
        tg.start_soon(async move {
            loop {
                let stream = listener.accept().await?;
                let requests = requests.clone();
                server_tg.start_soon(async move {
                    let answer = service_fn(move |_req| {
                        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                        async move {
                            let body = format!("request {n} served\n");
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(AnyioTimer)
                        .serve_connection(stream, answer)
                        .await;
                })?;
            }
            #[allow(unreachable_code)]
            Ok::<(), BoxError>(())
        })?;

        let client = Client::builder(tg.clone())
            .timer(AnyioTimer)
            .build::<_, Empty<Bytes>>(HttpConnector::new());
        for n in 1..=3 {
            let response = client
                .get(format!("http://127.0.0.1:{port}/").parse()?)
                .await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            print!("{status}: {}", String::from_utf8_lossy(&body));
            assert_eq!(body, format!("request {n} served\n"));
        }
        tg.cancel(); // stops the server and the pooled connection's task
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
