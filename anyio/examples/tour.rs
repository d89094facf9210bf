//! The tour: every other example, on every backend of this build.
//!
//! For each backend (tokio, then smol) it runs the `run()` of each example in a fresh
//! [`Runner`], under a header, then runs once the part of the `backend` example that starts
//! runs of its own. It ends with a summary line, and exits with status 1 if any run failed.
//!
//! ```text
//! cargo run --example tour
//! ```

// Every example carries its own copy of the small `common` module (for its `main`), so
// including several examples includes that file several times.
#![allow(clippy::duplicate_mod)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;

use anyio::{Backend, BoxError, Runner};

// Each example is compiled in as a module; only its `run()` is used here.
#[allow(dead_code)]
#[path = "backend.rs"]
mod backend;
#[allow(dead_code)]
#[path = "capacity_limiter.rs"]
mod capacity_limiter;
#[allow(dead_code)]
#[path = "condition.rs"]
mod condition;
#[allow(dead_code)]
#[path = "connected_udp.rs"]
mod connected_udp;
#[allow(dead_code)]
#[path = "echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "event.rs"]
mod event;
#[allow(dead_code)]
#[path = "file_lines.rs"]
mod file_lines;
#[allow(dead_code)]
#[path = "file_read.rs"]
mod file_read;
#[allow(dead_code)]
#[path = "finalization.rs"]
mod finalization;
#[allow(dead_code)]
#[path = "fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "gather.rs"]
mod gather;
#[allow(dead_code)]
#[path = "hello.rs"]
mod hello;
#[allow(dead_code)]
#[cfg(feature = "hyper")]
#[path = "http_client.rs"]
mod http_client;
#[allow(dead_code)]
#[cfg(all(feature = "hyper", feature = "tls"))]
#[path = "http_server.rs"]
mod http_server;
#[allow(dead_code)]
#[path = "lock.rs"]
mod lock;
#[allow(dead_code)]
#[path = "memory_object_streams.rs"]
mod memory_object_streams;
#[allow(dead_code)]
#[path = "move_on_after.rs"]
mod move_on_after;
#[allow(dead_code)]
#[path = "portal.rs"]
mod portal;
#[allow(dead_code)]
#[path = "queue.rs"]
mod queue;
#[allow(dead_code)]
#[path = "run_async_from_thread.rs"]
mod run_async_from_thread;
#[allow(dead_code)]
#[path = "run_in_thread.rs"]
mod run_in_thread;
#[allow(dead_code)]
#[path = "run_var.rs"]
mod run_var;
#[allow(dead_code)]
#[path = "semaphore.rs"]
mod semaphore;
#[allow(dead_code)]
#[path = "shielding.rs"]
mod shielding;
#[allow(dead_code)]
#[path = "signals.rs"]
mod signals;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "starttls.rs"]
mod starttls;
#[allow(dead_code)]
#[path = "subprocess.rs"]
mod subprocess;
#[allow(dead_code)]
#[path = "task_group.rs"]
mod task_group;
#[allow(dead_code)]
#[path = "task_handles.rs"]
mod task_handles;
#[allow(dead_code)]
#[path = "tcp.rs"]
mod tcp;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "tls.rs"]
mod tls;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "tls_ragged_eof.rs"]
mod tls_ragged_eof;
#[allow(dead_code)]
#[path = "udp.rs"]
mod udp;
#[allow(dead_code)]
#[path = "unix_sockets.rs"]
mod unix_sockets;
#[allow(dead_code)]
#[path = "virtual_clock.rs"]
mod virtual_clock;

/// The future of an example's `run()`.
type ExampleRun = Pin<Box<dyn Future<Output = Result<(), BoxError>>>>;

/// An example's name, and the function that starts its `run()`.
type Example = (&'static str, fn() -> ExampleRun);

/// Every example (the TLS ones with the `tls` feature, the HTTP ones with `hyper`).
const EXAMPLES: &[Example] = &[
    ("hello", || Box::pin(hello::run())),
    ("backend", || Box::pin(backend::run())),
    ("task_group", || Box::pin(task_group::run())),
    ("task_handles", || Box::pin(task_handles::run())),
    ("gather", || Box::pin(gather::run())),
    ("move_on_after", || Box::pin(move_on_after::run())),
    ("virtual_clock", || Box::pin(virtual_clock::run())),
    ("shielding", || Box::pin(shielding::run())),
    ("finalization", || Box::pin(finalization::run())),
    ("memory_object_streams", || {
        Box::pin(memory_object_streams::run())
    }),
    ("queue", || Box::pin(queue::run())),
    ("event", || Box::pin(event::run())),
    ("lock", || Box::pin(lock::run())),
    ("semaphore", || Box::pin(semaphore::run())),
    ("condition", || Box::pin(condition::run())),
    ("capacity_limiter", || Box::pin(capacity_limiter::run())),
    ("run_var", || Box::pin(run_var::run())),
    ("run_in_thread", || Box::pin(run_in_thread::run())),
    ("run_async_from_thread", || {
        Box::pin(run_async_from_thread::run())
    }),
    ("file_read", || Box::pin(file_read::run())),
    ("file_lines", || Box::pin(file_lines::run())),
    ("signals", || Box::pin(signals::run())),
    ("subprocess", || Box::pin(subprocess::run())),
    ("tcp", || Box::pin(tcp::run())),
    ("echo_server", || Box::pin(echo_server::run())),
    ("unix_sockets", || Box::pin(unix_sockets::run())),
    ("udp", || Box::pin(udp::run())),
    ("connected_udp", || Box::pin(connected_udp::run())),
    ("fixtures", || Box::pin(fixtures::run())),
    #[cfg(feature = "tls")]
    ("tls", || Box::pin(tls::run())),
    #[cfg(feature = "tls")]
    ("starttls", || Box::pin(starttls::run())),
    #[cfg(feature = "tls")]
    ("tls_ragged_eof", || Box::pin(tls_ragged_eof::run())),
    #[cfg(all(feature = "hyper", feature = "tls"))]
    ("http_server", || Box::pin(http_server::run())),
    #[cfg(feature = "hyper")]
    ("http_client", || Box::pin(http_client::run())),
];

/// Runs `f`, turning an error or a panic into a message.
fn attempt(f: impl FnOnce() -> Result<(), BoxError>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(match panic.downcast_ref::<&str>() {
            Some(msg) => format!("panicked: {msg}"),
            None => match panic.downcast_ref::<String>() {
                Some(msg) => format!("panicked: {msg}"),
                None => "panicked".to_owned(),
            },
        }),
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut record = |what: String, outcome: Result<(), String>| {
        runs += 1;
        match outcome {
            Ok(()) => println!("--- ok"),
            Err(e) => {
                println!("--- FAILED: {e}");
                failures.push(what);
            }
        }
        println!();
    };

    for backend in Backend::available() {
        for &(name, example) in EXAMPLES {
            println!("=== {name} on {backend} ===");
            let outcome = attempt(|| Runner::new(backend).run(example())?);
            record(format!("{name} on {backend}"), outcome);
        }
    }
    println!("=== backend: runner options and plain runtimes ===");
    record("backend::runners".to_owned(), attempt(backend::runners));
    println!("=== portal: async code from a plain thread, on every backend ===");
    record("portal::run_sync".to_owned(), attempt(portal::run_sync));

    let elapsed = started.elapsed().as_secs_f64();
    let backends: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
    if failures.is_empty() {
        println!(
            "tour: all {runs} runs passed on {} in {elapsed:.1} s",
            backends.join(" and ")
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "tour: {} of {runs} runs FAILED ({}) in {elapsed:.1} s",
            failures.len(),
            failures.join(", ")
        );
        ExitCode::FAILURE
    }
}
