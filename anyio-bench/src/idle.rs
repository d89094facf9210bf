//! Idle connections: one listener accepts `N` connections (10 000 by default) from a client
//! process and holds each in a task blocked in `receive(MAX_BYTES)` (65536 by default, what
//! a server reading whole segments asks for), as a server with idle keep-alive clients does.
//! Reports the accept rate and the server's resident memory per connection, for anyio and
//! for the same server written on native tokio, which waits with `readable()` and only then
//! reads into a buffer of `MAX_BYTES` (tokio's way to hold many idle connections).
//!
//! ```text
//! anyio-bench idle RUNTIME [N [MAX_BYTES]]   # RUNTIME: anyio-tokio-mt anyio-tokio-ct
//!                                            #   anyio-smol-1 anyio-smol-2 tokio-mt tokio-ct
//! ```
//!
//! Prints two TSV lines like the other workloads: `IDLE runtime accepts/s` and
//! `IDLEMEM runtime KiB/conn`. The clients run in a child process (this binary, `idle
//! client PORT N`), so the server's memory and descriptors are its own.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio, exit};
use std::time::{Duration, Instant};

use anyio::TaskGroup;
use anyio::net::{SocketAttributes, TcpListenerOptions};

const DEFAULT_CONNECTIONS: usize = 10_000;
/// What each idle connection's pending receive asks for.
const DEFAULT_MAX_BYTES: usize = 65536;
const CLIENT_THREADS: usize = 4;

pub(crate) fn main(args: &[String]) {
    match args {
        [client, port, n] if client == "client" => run_clients(parse(port), parse(n)),
        [runtime] => serve(runtime, DEFAULT_CONNECTIONS, DEFAULT_MAX_BYTES),
        [runtime, n] => serve(runtime, parse(n), DEFAULT_MAX_BYTES),
        [runtime, n, max_bytes] => serve(runtime, parse(n), parse(max_bytes)),
        _ => {
            eprintln!("usage: anyio-bench idle RUNTIME [N [MAX_BYTES]]");
            exit(2)
        }
    }
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| {
        eprintln!("not a number: {s}");
        exit(2)
    })
}

/// The process's resident memory in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// The client process: `n` connections from a few threads, "ready" on stdout, then holds
/// them until its stdin closes.
fn run_clients(port: u16, n: usize) {
    let per_thread = n.div_ceil(CLIENT_THREADS);
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let count = per_thread.min(n.saturating_sub(t * per_thread));
            std::thread::spawn(move || {
                (0..count)
                    .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let held: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    println!("ready {}", held.len());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn spawn_clients(port: u16, n: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["idle", "client", &port.to_string(), &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client process")
}

/// Waits for the clients' "ready" line.
fn wait_ready(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready"), "the clients failed: {line:?}");
}

fn report(runtime: &str, n: usize, accepting: Duration, before: u64, after: u64) {
    println!(
        "IDLE\t{runtime}\t{:.1}\taccepts/s\t{n}",
        n as f64 / accepting.as_secs_f64()
    );
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    println!("IDLEMEM\t{runtime}\t{per_conn:.2}\tKiB/conn\t{n}");
}

fn serve(runtime: &str, n: usize, max_bytes: usize) {
    match runtime {
        "tokio-mt" | "tokio-ct" => native_tokio(runtime, n, max_bytes),
        _ => match crate::RuntimeKind::parse(runtime) {
            Some(rt) => anyio_server(runtime, rt.runner(), n, max_bytes),
            None => {
                eprintln!("unknown runtime for idle: {runtime}");
                exit(2)
            }
        },
    }
}

fn anyio_server(name: &str, runner: anyio::Runner, n: usize, max_bytes: usize) {
    let name = name.to_owned();
    let outcome = runner.run(async move {
        let listener = TcpListenerOptions::new()
            .local_host("127.0.0.1")
            .bind()
            .await?
            .into_listeners()
            .remove(0);
        let port = listener.local_port()?;
        let before = rss_kib();
        let mut child = spawn_clients(port, n);
        anyio::task_group(|tg: TaskGroup| async move {
            let start = Instant::now();
            for _ in 0..n {
                let stream = listener.accept().await?;
                tg.start_soon(async move {
                    // Idle until the client leaves.
                    let _ = stream.receive(max_bytes).await;
                    Ok(())
                })?;
            }
            let accepting = start.elapsed();
            let mut child = anyio::to_thread::run_sync(move || {
                wait_ready(&mut child);
                child
            })
            .await?;
            anyio::sleep(Duration::from_millis(200)).await?;
            report(&name, n, accepting, before, rss_kib());
            drop(child.stdin.take()); // the clients leave; every task ends
            anyio::to_thread::run_sync(move || child.wait()).await??;
            Ok(())
        })
        .await?;
        Ok::<_, anyio::BoxError>(())
    });
    outcome
        .unwrap_or_else(|e| panic!("anyio run failed: {e}"))
        .unwrap_or_else(|e| panic!("idle failed: {e}"));
}

fn native_tokio(name: &str, n: usize, max_bytes: usize) {
    let mut builder = if name == "tokio-mt" {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = builder.enable_all().build().expect("tokio runtime");
    let name = name.to_owned();
    // Spawned, as every timed body of the anchors is, so on tokio-mt it runs on a worker.
    let server = rt.spawn(async move {
        // The backlog anyio's listener asks for (tokio's `bind` asks for 1024, and a burst of
        // connects overflowing it would measure SYN retransmissions, not the runtime).
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(65536).unwrap();
        let port = listener.local_addr().unwrap().port();
        let before = rss_kib();
        let mut child = spawn_clients(port, n);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tasks.spawn(async move {
                // The buffer is allocated once the socket is readable, so a connection
                // that waits holds none.
                loop {
                    if stream.readable().await.is_err() {
                        break;
                    }
                    let mut buf = Vec::with_capacity(max_bytes);
                    match stream.try_read_buf(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        _ => break,
                    }
                }
            });
        }
        let accepting = start.elapsed();
        let mut child = tokio::task::spawn_blocking(move || {
            wait_ready(&mut child);
            child
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        report(&name, n, accepting, before, rss_kib());
        drop(child.stdin.take());
        tasks.join_all().await;
        child.wait().unwrap();
    });
    rt.block_on(server).expect("the server task");
}
