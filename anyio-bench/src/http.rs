//! HTTP1: a hyper HTTP/1.1 "hello" server and a pooled hyper-util client in two processes,
//! 50 connections × 2,000 keep-alive requests per run, written on anyio (the `hyper`
//! feature: our streams, `HttpConnector`, `AnyioTimer`, a task group as the executor) and
//! natively on tokio with hyper-util (`TokioIo`, its `HttpConnector`, `TokioExecutor`,
//! `TokioTimer`), the way a user of each writes them.
//!
//! ```text
//! anyio-bench RUNTIME HTTP1S [--reps N] [--warmup N]   # the server on RUNTIME
//! anyio-bench RUNTIME HTTP1C [--reps N] [--warmup N]   # the client on RUNTIME
//! anyio-bench http-server RUNTIME                      # the server alone (the child)
//! ```
//!
//! RUNTIME is one of anyio's (`anyio-tokio-mt`, ...) or native `tokio-mt` / `tokio-ct`;
//! hyper has no native smol runtime glue, so the smol rows compare with native tokio of the
//! same thread count (`http.sh`). The other side of each run is fixed: native tokio-ct, in
//! its own process, so one figure changes only with the side measured.
//!
//! Each run prints two TSV lines: `HTTP1S runtime requests/s` (wall clock) and `HTTP1S-cpu
//! runtime requests per CPU second` of the side measured (user + system time of its
//! process, from `/proc`), since on two cores the fixed side may be what limits the wall
//! clock.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio, exit};
use std::time::{Duration, Instant};

use anyio::hyper::{AnyioTimer, HttpConnector};
use anyio::net::{SocketAttributes, TcpListenerOptions};
use anyio::{BoxError, TaskGroup};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;

use crate::RuntimeKind;
use crate::native::Native;

/// Concurrent connections (one client task each) and requests per connection.
const CONNECTIONS: usize = 50;
const REQUESTS: usize = 2_000;
const BODY: &[u8] = b"Hello, World!";

/// Which side a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

impl Side {
    pub(crate) fn parse(workload: &str) -> Option<Side> {
        match workload {
            "HTTP1S" => Some(Side::Server),
            "HTTP1C" => Some(Side::Client),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Server => "HTTP1S",
            Side::Client => "HTTP1C",
        }
    }
}

/// A runtime an HTTP side can run on.
#[derive(Clone, Copy, Debug)]
enum On {
    Anyio(RuntimeKind),
    Tokio(Native),
}

impl On {
    fn parse(s: &str) -> Option<On> {
        match (RuntimeKind::parse(s), Native::parse(s)) {
            (Some(kind), _) => Some(On::Anyio(kind)),
            (None, Some(n @ (Native::TokioCt | Native::TokioMt))) => Some(On::Tokio(n)),
            _ => None,
        }
    }
}

/// The fixed other side of every run.
const FIXED: On = On::Tokio(Native::TokioCt);
const FIXED_NAME: &str = "tokio-ct";

/// `anyio-bench RUNTIME HTTP1S|HTTP1C`: runs `warmup + reps` timed runs, prints the reps.
/// Exits with status 3 for a runtime hyper has no native glue for (smol).
pub(crate) fn measure(runtime: &str, side: Side, reps: usize, warmup: usize) {
    let Some(on) = On::parse(runtime) else {
        exit(3)
    };
    let runs = warmup + reps;
    let (server_on, client_on) = match side {
        Side::Server => (runtime, FIXED),
        Side::Client => (FIXED_NAME, on),
    };
    let server = ServerProcess::start(server_on);
    let samples = run_clients(client_on, server.port, runs, || match side {
        Side::Server => cpu_time(server.child.id()),
        Side::Client => cpu_time(std::process::id()),
    });
    drop(server);
    let requests = (CONNECTIONS * REQUESTS) as f64;
    for s in &samples[warmup..] {
        let name = side.name();
        println!(
            "{name}\t{runtime}\t{:.1}\treq/s\t{requests}",
            requests / s.wall.as_secs_f64()
        );
        println!(
            "{name}-cpu\t{runtime}\t{:.1}\treq/cpu-s\t{requests}",
            requests / s.cpu.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
}

/// `anyio-bench http-server RUNTIME`: serves until its stdin closes, after printing its
/// port on stdout.
pub(crate) fn serve_main(args: &[String]) {
    let Some(on) = args.first().and_then(|rt| On::parse(rt)) else {
        eprintln!("usage: anyio-bench http-server RUNTIME (anyio-* or tokio-mt/tokio-ct)");
        exit(2)
    };
    std::thread::spawn(|| {
        // The parent closes our stdin when it is done (or dies): then we are done too.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        exit(0)
    });
    match on {
        On::Anyio(kind) => {
            let outcome = kind.runner().run(anyio_server());
            eprintln!("http-server: {outcome:?}");
        }
        On::Tokio(native) => {
            let rt = tokio_runtime(native);
            let outcome = rt.block_on(rt.spawn(native_tokio::server()));
            eprintln!("http-server: {outcome:?}");
        }
    }
    exit(1)
}

/// The server child process, stopped when dropped.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn start(runtime: &str) -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .args(["http-server", runtime])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped"))
            .read_line(&mut line)
            .expect("the server's port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            eprintln!("the server did not start: {line:?}");
            exit(1)
        });
        ServerProcess { child, port }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One timed run: wall-clock time and the measured process's CPU time.
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// User + system CPU time of a process so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let field = |i: usize| -> u64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|f| f.parse().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks = field(11) + field(12);
    // SAFETY: sysconf reads a constant of the system; it has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

fn hello(
    _req: Request<hyper::body::Incoming>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(BODY)))))
}

fn tokio_runtime(native: Native) -> tokio::runtime::Runtime {
    let mut b = match native {
        Native::TokioMt => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    b.enable_all().build().expect("tokio runtime")
}

/// Runs `runs` timed client runs on `on` against the server at `port`, each reading
/// `cpu()` before and after.
fn run_clients(on: On, port: u16, runs: usize, cpu: impl Fn() -> Duration) -> Vec<Sample> {
    let uri: Uri = format!("http://127.0.0.1:{port}/")
        .parse()
        .expect("the server's URI");
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let before = cpu();
        let wall = match on {
            On::Anyio(kind) => kind
                .runner()
                .run(anyio_client(uri.clone()))
                .expect("the anyio run")
                .expect("the anyio client"),
            On::Tokio(native) => {
                let rt = tokio_runtime(native);
                rt.block_on(rt.spawn(native_tokio::client(uri.clone())))
                    .expect("the client task")
            }
        };
        samples.push(Sample {
            wall,
            cpu: cpu().saturating_sub(before),
        });
    }
    samples
}

/// The anyio server: one task per connection in a task group, with anyio's timer (for
/// hyper's header-read timeout).
async fn anyio_server() -> Result<(), BoxError> {
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0);
    println!("{}", listener.local_port()?);
    anyio::task_group(|tg: TaskGroup| async move {
        loop {
            let stream = listener.accept().await?;
            tg.start_soon(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(AnyioTimer)
                    .serve_connection(stream, service_fn(hello))
                    .await;
            })?;
        }
        #[allow(unreachable_code)]
        Ok(())
    })
    .await?;
    Ok(())
}

/// The anyio client: hyper-util's pooled client with anyio's connector, timer and a task
/// group for its connections; `CONNECTIONS` tasks each send `REQUESTS` requests in turn.
/// Returns the time the requests took.
async fn anyio_client(uri: Uri) -> Result<Duration, BoxError> {
    let mut elapsed = None;
    let slot = &mut elapsed;
    anyio::task_group(|pool_tg| async move {
        let client = Client::builder(pool_tg.clone())
            .timer(AnyioTimer)
            .build::<_, Empty<Bytes>>(HttpConnector::new());
        let start = Instant::now();
        anyio::task_group(|tg| async move {
            for _ in 0..CONNECTIONS {
                let (client, uri) = (client.clone(), uri.clone());
                tg.start_soon(async move {
                    for _ in 0..REQUESTS {
                        let body = client.get(uri.clone()).await?.into_body();
                        check(&body.collect().await?.to_bytes());
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        *slot = Some(start.elapsed());
        pool_tg.cancel();
        Ok(())
    })
    .await?;
    Ok(elapsed.expect("the requests ran to the end"))
}

fn check(body: &[u8]) {
    assert_eq!(body, BODY, "the server's answer");
}

/// The same server and client written on tokio with hyper-util, as its users write them.
mod native_tokio {
    use super::*;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

    pub(super) async fn server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("{}", listener.local_addr().expect("address").port());
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    }

    pub(super) async fn client(uri: Uri) -> Duration {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .build::<_, Empty<Bytes>>(connector);
        let start = Instant::now();
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (client, uri) = (client.clone(), uri.clone());
                tokio::spawn(async move {
                    for _ in 0..REQUESTS {
                        let body = client.get(uri.clone()).await.expect("request").into_body();
                        check(&body.collect().await.expect("body").to_bytes());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a client task");
        }
        start.elapsed()
    }
}
