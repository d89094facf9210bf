//! Task handles: a task that hands its value back, cancelling one task while its siblings
//! go on, and a `start` that returns a handle too.
//!
//! `create_task` starts a task in a group, as `start_soon` does, and gives a `TaskHandle`:
//! await it for the task's value, ask its state, or cancel that task alone.
//!
//! ```text
//! cargo run --example task_handles
//! cargo run --example task_handles -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner, TaskError, TaskGroup, TaskStatus};

mod common;

/// Looks up a price: what a task that computes a value looks like.
async fn price(item: &'static str) -> Result<u32, BoxError> {
    anyio::sleep(Duration::from_millis(20)).await?;
    Ok(item.len() as u32 * 100)
}

/// Polls something forever, until it is cancelled; then cleans up.
async fn poller() -> Result<(), BoxError> {
    loop {
        if let Err(cancelled) = anyio::sleep(Duration::from_millis(10)).await {
            println!("poller: {cancelled}; cleaning up");
            return Err(cancelled.into());
        }
    }
}

/// A service that reports the port it listens on, then serves until cancelled.
async fn service(status: TaskStatus<u16>) -> Result<&'static str, BoxError> {
    status.started(8080);
    anyio::sleep_forever().await?;
    Ok("unreachable: the service serves until cancelled")
}

/// Awaits two values, cancels one task on its own, and starts a service with a handle.
pub(crate) async fn run() -> Result<(), BoxError> {
    let total = anyio::task_group(|tg: TaskGroup| async move {
        let apples = tg.named("apples").create_task(price("apples"))?;
        let pears = tg.named("pears").create_task(price("pears"))?;
        let poller = tg.named("poller").create_task(poller())?;
        println!("{} is {:?}", poller.name(), poller.state());

        // Awaiting a handle gives the task's value.
        let total = apples.await? + pears.await?;

        // `cancel` cancels that task alone, through its own scope: it cleans up, and the
        // group neither fails nor is cancelled by it.
        poller.cancel();
        poller.wait().await?;
        println!("{} is {:?}", poller.name(), poller.state());
        match poller.await {
            Err(TaskError::TaskCancelled { name, .. }) => println!("{name} was cancelled"),
            other => return Err(format!("expected a cancelled task, got {other:?}").into()),
        }

        // `start_with_handle`: the value the task passed to `started`, and its handle.
        let (port, service) = tg.named("service").start_with_handle(service).await?;
        println!("the service listens on port {port}; stopping it");
        service.cancel();
        Ok(total)
    })
    .await?;
    println!("the group returned {total:?}");
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
