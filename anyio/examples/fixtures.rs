//! Test fixtures outside a test: an echo server on a free port, set up, used and torn down.
//!
//! In a test, `#[anyio::test] async fn t(echo_server: u16)` does all of this by itself:
//! the `echo_server` fixture is set up in the test's run and torn down after it. Here the
//! same fixture function is used by hand twice: in `run()`, inside a task group, with the
//! teardown awaited explicitly; and in `main`, through `anyio::testing::TestRun`, the
//! machinery `#[anyio::test]` expands to, which also tears down after a failure.
//!
//! ```text
//! cargo run --example fixtures
//! cargo run --example fixtures -- --backend smol
//! ```

use std::process::ExitCode;

use anyio::net::{SocketStream, connect_tcp, create_tcp_listener};
use anyio::testing::{Fixture, TestRun, free_tcp_port};
use anyio::{BoxError, CancelScope, Runner, TaskGroup};

mod common;

/// A TCP port that no other fixture of this process gets.
#[anyio::fixture]
async fn port() -> std::io::Result<u16> {
    free_tcp_port()
}

/// An echo server on the `port` fixture, serving in `task_group` until the teardown cancels it.
#[anyio::fixture]
async fn echo_server(port: u16, task_group: TaskGroup) -> Result<Fixture<u16>, BoxError> {
    let listener = create_tcp_listener(Some("127.0.0.1"), port).await?;
    let scope = CancelScope::new();
    let serving = scope.clone();
    task_group.start_soon(async move {
        serving
            .run(listener.serve(|stream: SocketStream| async move {
                while let Ok(data) = stream.receive(1024).await {
                    if stream.send(&data).await.is_err() {
                        break;
                    }
                }
            }))
            .await?;
        println!("server: stopped");
        Ok(())
    })?;
    println!("server: listening on port {port}");
    Ok(Fixture::new(port).teardown(async move {
        println!("server: stopping");
        scope.cancel();
        Ok(())
    }))
}

/// Sends `text` to the server and returns what came back.
async fn echo(port: u16, text: &str) -> Result<String, BoxError> {
    let stream = connect_tcp("127.0.0.1", port).await?;
    stream.send(text.as_bytes()).await?;
    let reply = stream.receive(1024).await?;
    Ok(String::from_utf8(reply)?)
}

/// The fixture by hand: set up in a task group, used, torn down.
pub(crate) async fn run() -> Result<(), BoxError> {
    anyio::task_group(|tg: TaskGroup| async move {
        let fixture = echo_server(port().await?, tg.clone()).await?;
        let (port, teardown) = fixture.into_parts();
        println!("client: {}", echo(port, "hello").await?);
        teardown.await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// The fixture as a test gets it: `TestRun` makes a fresh run, hands the body the test's
/// fixtures and task group, and runs the teardowns after the body.
pub(crate) fn as_a_test(runner: Runner) -> Result<(), BoxError> {
    TestRun::new("echo_works", runner).run(|fixtures| async move {
        let fixture = echo_server(port().await?, fixtures.task_group()).await?;
        let port = fixtures.add_fixture("echo_server", fixture);
        println!("client: {}", echo(port, "hello again").await?);
        Ok(())
    })
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    let by_hand = Runner::new(backend).run(run());
    if !matches!(by_hand, Ok(Ok(()))) {
        return common::exit_status(by_hand);
    }
    common::exit_status(Ok(as_a_test(Runner::new(backend))))
}
