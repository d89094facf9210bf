//! A blocking portal: async code called from a plain, synchronous `fn main`.
//!
//! [`anyio::start_blocking_portal`] starts an event loop in a thread of its own and returns
//! a [`BlockingPortal`]. Synchronous code calls into it: [`call`](BlockingPortal::call)
//! waits for a result, [`start_task_soon`](BlockingPortal::start_task_soon) returns a
//! handle to join or cancel, [`start_task`](BlockingPortal::start_task) waits until the
//! task says it has started, and
//! [`wrap_async_resource`](BlockingPortal::wrap_async_resource) opens an async resource
//! and closes it on the loop. [`stop`](BlockingPortal::stop) ends it (dropping it does too).
//!
//! ```text
//! cargo run --example portal
//! cargo run --example portal -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{Backend, BlockingPortal, BoxError, Cancelled, PortalError, TaskStatus};

mod common;

/// Uses a portal on `backend` from synchronous code.
fn use_portal(backend: Backend) -> Result<(), BoxError> {
    let portal: BlockingPortal = anyio::start_blocking_portal(backend)?;

    // Wait for a result.
    let n = portal.call(|| async {
        anyio::sleep(Duration::from_millis(10)).await?;
        Ok::<_, Cancelled>(6 * 7)
    })??;
    println!("call returned {n} from the {} loop", portal.backend());

    // Start tasks, then join one and cancel the other.
    let quick = portal.start_task_soon(|| async { "quick task done" })?;
    let forever = portal.start_task_soon(anyio::sleep_forever)?;
    println!("{}", quick.join()?);
    forever.cancel();
    assert_eq!(forever.join(), Err(PortalError::Cancelled));
    println!("cancelled the task that would sleep forever");

    // A task that reports a value once it is ready, then keeps running.
    let (server, port) = portal.start_task(|status: TaskStatus<u16>| async move {
        status.started(8080);
        anyio::sleep(Duration::from_millis(10)).await?;
        Ok::<_, Cancelled>("server finished")
    })?;
    println!("the task started on port {port}");
    println!("{}", server.join()??);

    // An async resource, closed on the loop when the guard goes.
    let resource = portal.wrap_async_resource(
        || async {
            println!("opening the resource on the loop");
            Ok::<_, Cancelled>(String::from("connection"))
        },
        |conn| async move { println!("closing the {conn} on the loop") },
    )??;
    println!("using the {} from synchronous code", *resource);
    resource.close()?;

    // Wait for what is still running, then end the loop's thread.
    portal.stop(false)?;
    Ok(())
}

/// The synchronous body of the example, on every backend of this build (for the tour and
/// `tests/examples.rs`; `main` runs one backend).
#[allow(dead_code)]
pub(crate) fn run_sync() -> Result<(), BoxError> {
    for backend in Backend::available() {
        use_portal(backend)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    // Plain synchronous code: no run to start, so never a `RunError` here.
    common::exit_status(Ok(use_portal(backend)))
}
