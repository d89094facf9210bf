//! The examples in `examples/`, run as tests: each example's `run()` on every backend, so
//! `cargo test` notices when an example stops working.

// Every example carries its own copy of the small `common` module (for its `main`), so
// including several examples includes that file several times.
#![allow(clippy::duplicate_mod)]

use anyio::BoxError;

#[allow(dead_code)]
#[path = "../examples/backend.rs"]
mod backend;
#[allow(dead_code)]
#[path = "../examples/capacity_limiter.rs"]
mod capacity_limiter;
#[allow(dead_code)]
#[path = "../examples/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../examples/condition.rs"]
mod condition;
#[allow(dead_code)]
#[path = "../examples/connected_udp.rs"]
mod connected_udp;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "../examples/event.rs"]
mod event;
#[allow(dead_code)]
#[path = "../examples/file_lines.rs"]
mod file_lines;
#[allow(dead_code)]
#[path = "../examples/file_read.rs"]
mod file_read;
#[allow(dead_code)]
#[path = "../examples/finalization.rs"]
mod finalization;
#[allow(dead_code)]
#[path = "../examples/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../examples/gather.rs"]
mod gather;
#[allow(dead_code)]
#[path = "../examples/hello.rs"]
mod hello;
#[allow(dead_code)]
#[cfg(feature = "hyper")]
#[path = "../examples/http_client.rs"]
mod http_client;
#[allow(dead_code)]
#[cfg(all(feature = "hyper", feature = "tls"))]
#[path = "../examples/http_server.rs"]
mod http_server;
#[allow(dead_code)]
#[path = "../examples/lock.rs"]
mod lock;
#[allow(dead_code)]
#[path = "../examples/memory_object_streams.rs"]
mod memory_object_streams;
#[allow(dead_code)]
#[path = "../examples/move_on_after.rs"]
mod move_on_after;
#[allow(dead_code)]
#[path = "../examples/portal.rs"]
mod portal;
#[allow(dead_code)]
#[path = "../examples/queue.rs"]
mod queue;
#[allow(dead_code)]
#[path = "../examples/run_async_from_thread.rs"]
mod run_async_from_thread;
#[allow(dead_code)]
#[path = "../examples/run_in_thread.rs"]
mod run_in_thread;
#[allow(dead_code)]
#[path = "../examples/run_var.rs"]
mod run_var;
#[allow(dead_code)]
#[path = "../examples/semaphore.rs"]
mod semaphore;
#[allow(dead_code)]
#[path = "../examples/shielding.rs"]
mod shielding;
#[allow(dead_code)]
#[path = "../examples/signals.rs"]
mod signals;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "../examples/starttls.rs"]
mod starttls;
#[allow(dead_code)]
#[path = "../examples/subprocess.rs"]
mod subprocess;
#[allow(dead_code)]
#[path = "../examples/task_group.rs"]
mod task_group;
#[allow(dead_code)]
#[path = "../examples/task_handles.rs"]
mod task_handles;
#[allow(dead_code)]
#[path = "../examples/tcp.rs"]
mod tcp;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "../examples/tls.rs"]
mod tls;
#[allow(dead_code)]
#[cfg(feature = "tls")]
#[path = "../examples/tls_ragged_eof.rs"]
mod tls_ragged_eof;
#[allow(dead_code)]
#[path = "../examples/udp.rs"]
mod udp;
#[allow(dead_code)]
#[path = "../examples/unix_sockets.rs"]
mod unix_sockets;
#[allow(dead_code)]
#[path = "../examples/virtual_clock.rs"]
mod virtual_clock;

#[anyio::test]
async fn hello_runs() -> Result<(), BoxError> {
    hello::run().await
}

#[anyio::test]
async fn backend_runs() -> Result<(), BoxError> {
    backend::run().await
}

#[test]
fn backend_runners_run() -> Result<(), BoxError> {
    backend::runners()
}

#[test]
fn portal_runs() -> Result<(), BoxError> {
    portal::run_sync()
}

#[anyio::test]
async fn task_group_runs() -> Result<(), BoxError> {
    task_group::run().await
}

#[anyio::test]
async fn task_handles_runs() -> Result<(), BoxError> {
    task_handles::run().await
}

#[anyio::test]
async fn fixtures_runs() -> Result<(), BoxError> {
    fixtures::run().await
}

#[anyio::test]
fn fixtures_run_as_a_test(backend: anyio::Backend) -> Result<(), BoxError> {
    fixtures::as_a_test(anyio::Runner::new(backend))
}

#[anyio::test]
async fn gather_runs() -> Result<(), BoxError> {
    gather::run().await
}

#[anyio::test]
async fn move_on_after_runs() -> Result<(), BoxError> {
    move_on_after::run().await
}

#[anyio::test(virtual_clock)]
async fn virtual_clock_runs() -> Result<(), BoxError> {
    virtual_clock::run().await
}

/// On real time, the example starts a run of its own on a virtual clock.
#[anyio::test]
async fn virtual_clock_runs_from_a_real_time_run() -> Result<(), BoxError> {
    virtual_clock::run().await
}

#[anyio::test]
async fn shielding_runs() -> Result<(), BoxError> {
    shielding::run().await
}

#[anyio::test]
async fn finalization_runs() -> Result<(), BoxError> {
    finalization::run().await
}

#[test]
fn the_examples_parse_their_backend_argument() {
    use anyio::Backend;
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let default = anyio::Runner::default().backend();
    assert_eq!(common::parse_backend(args(&[])), Ok(default));
    if Backend::Smol.is_enabled() {
        assert_eq!(
            common::parse_backend(args(&["--backend", "smol"])),
            Ok(Backend::Smol)
        );
        assert_eq!(
            common::parse_backend(args(&["--backend=smol"])),
            Ok(Backend::Smol)
        );
    }
    let err = common::parse_backend(args(&["--backend", "asyncio"])).unwrap_err();
    assert!(
        err.contains("no such backend: \"asyncio\" (available: "),
        "{err}"
    );
    assert!(common::parse_backend(args(&["--backend"])).is_err());
    assert!(common::parse_backend(args(&["--frobnicate"])).is_err());
}

#[anyio::test]
async fn memory_object_streams_runs() -> Result<(), BoxError> {
    memory_object_streams::run().await
}

#[anyio::test]
async fn queue_runs() -> Result<(), BoxError> {
    queue::run().await
}

#[anyio::test]
async fn event_runs() -> Result<(), BoxError> {
    event::run().await
}

#[anyio::test]
async fn lock_runs() -> Result<(), BoxError> {
    lock::run().await
}

#[anyio::test]
async fn semaphore_runs() -> Result<(), BoxError> {
    semaphore::run().await
}

#[anyio::test]
async fn condition_runs() -> Result<(), BoxError> {
    condition::run().await
}

#[anyio::test]
async fn capacity_limiter_runs() -> Result<(), BoxError> {
    capacity_limiter::run().await
}

#[anyio::test]
async fn run_var_runs() -> Result<(), BoxError> {
    run_var::run().await
}

#[anyio::test]
async fn run_in_thread_runs() -> Result<(), BoxError> {
    run_in_thread::run().await
}

#[anyio::test]
async fn run_async_from_thread_runs() -> Result<(), BoxError> {
    run_async_from_thread::run().await
}

#[anyio::test]
async fn file_read_runs() -> Result<(), BoxError> {
    file_read::run().await
}

#[anyio::test]
async fn file_lines_runs() -> Result<(), BoxError> {
    file_lines::run().await
}

#[anyio::test]
async fn signals_runs() -> Result<(), BoxError> {
    signals::run().await
}

#[anyio::test]
async fn tcp_runs() -> Result<(), BoxError> {
    tcp::run().await
}

#[anyio::test]
async fn echo_server_runs() -> Result<(), BoxError> {
    echo_server::run().await
}

#[anyio::test]
async fn unix_sockets_runs() -> Result<(), BoxError> {
    unix_sockets::run().await
}

#[anyio::test]
async fn udp_runs() -> Result<(), BoxError> {
    udp::run().await
}

#[anyio::test]
async fn connected_udp_runs() -> Result<(), BoxError> {
    connected_udp::run().await
}

#[cfg(feature = "tls")]
#[anyio::test]
async fn tls_runs() -> Result<(), BoxError> {
    tls::run().await
}

#[cfg(feature = "tls")]
#[anyio::test]
async fn starttls_runs() -> Result<(), BoxError> {
    starttls::run().await
}

#[cfg(feature = "tls")]
#[anyio::test]
async fn tls_ragged_eof_runs() -> Result<(), BoxError> {
    tls_ragged_eof::run().await
}

#[cfg(all(feature = "hyper", feature = "tls"))]
#[anyio::test]
async fn http_server_runs() -> Result<(), BoxError> {
    http_server::run().await
}

#[cfg(feature = "hyper")]
#[anyio::test]
async fn http_client_runs() -> Result<(), BoxError> {
    http_client::run().await
}

#[anyio::test]
async fn subprocess_runs() -> Result<(), BoxError> {
    subprocess::run().await
}
