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
//! Two more ways to get a portal: a [`BlockingPortalProvider`] shares one portal thread
//! between every thread that leases it, and [`anyio::with_blocking_portal`] opens a portal
//! into a loop that is already running, for the synchronous code that loop calls.
//!
//! ```text
//! cargo run --example portal
//! cargo run --example portal -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{
    Backend, BlockingPortal, BlockingPortalProvider, BoxError, Cancelled, PortalError, Runner,
    TaskStatus,
};

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

    // Start tasks (named, as a task group's can be), then join one and cancel the other.
    let quick = portal.named("quick").start_task_soon(|| async {
        let me = anyio::get_current_task().map(|task| task.name().to_owned());
        format!("the task {me:?} is done")
    })?;
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

/// Shares one portal between threads: the first lease starts its thread, the last one
/// stops it.
fn share_a_portal(backend: Backend) -> Result<(), BoxError> {
    let provider = BlockingPortalProvider::new(backend);
    let sums = std::thread::scope(|s| {
        let workers: Vec<_> = (1..=3u64)
            .map(|n| {
                let provider = &provider;
                s.spawn(move || -> Result<u64, BoxError> {
                    let portal = provider.lease()?;
                    Ok(portal.call(move || async move { (1..=n).sum::<u64>() })?)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("the worker does not panic"))
            .collect::<Result<Vec<u64>, BoxError>>()
    })?;
    println!(
        "three threads called through the provider's portal: {sums:?}; leases left: {}",
        provider.lease_count()
    );
    Ok(())
}

/// Hands a running loop to synchronous code: a worker thread calls back into it.
fn hand_the_loop_to_sync_code(backend: Backend) -> Result<(), BoxError> {
    let answer = Runner::new(backend).run(anyio::with_blocking_portal(|portal| async move {
        let answer = anyio::to_thread::run_sync(move || {
            // Plain synchronous code that only knows the portal.
            portal.call(|| async { 6 * 7 })
        })
        .await??;
        Ok::<_, BoxError>(answer)
    }))??;
    println!("synchronous code called into the running loop: {answer}");
    Ok(())
}

/// The synchronous body of the example, on every backend of this build (for the tour and
/// `tests/examples.rs`; `main` runs one backend).
#[allow(dead_code)]
pub(crate) fn run_sync() -> Result<(), BoxError> {
    for backend in Backend::available() {
        use_portal(backend)?;
        share_a_portal(backend)?;
        hand_the_loop_to_sync_code(backend)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    // Synchronous code: a run that cannot start is an error like any other here.
    common::exit_status(Ok(use_portal(backend)
        .and_then(|()| share_a_portal(backend))
        .and_then(|()| hand_the_loop_to_sync_code(backend))))
}
