//! Task groups: starting tasks, waiting for them, handing back a value from a task that
//! has started, and what happens when a task fails.
//!
//! A task group never lets a task outlive it: `task_group(...).await` returns only when the
//! body and every task started in it have finished.
//!
//! ```text
//! cargo run --example task_group
//! cargo run --example task_group -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner, TaskStatus};

mod common;

/// One of the five tasks: announces itself, works for a while, and says it is done.
async fn sometask(num: u32) -> Result<(), BoxError> {
    println!("Task {num} running");
    anyio::sleep(Duration::from_millis(100)).await?;
    println!("Task {num} finished");
    Ok(())
}

/// A service that needs some setup before it can take requests: it tells `start` it is
/// ready (and on which port) with `status.started`, then serves until cancelled.
async fn service(status: TaskStatus<u16>) -> Result<(), BoxError> {
    println!("service: binding a port");
    anyio::sleep(Duration::from_millis(20)).await?;
    status.started(8080);
    println!("service: serving");
    anyio::sleep_forever().await?;
    Ok(())
}

/// Runs the five tasks, then the `start` handshake, then a group in which a task fails.
pub(crate) async fn run() -> Result<(), BoxError> {
    anyio::task_group(|tg| async move {
        for num in 0..5 {
            tg.start_soon(sometask(num))?;
        }
        Ok(())
    })
    .await?;
    println!("All tasks finished!");

    // `start` waits until the task has called `started`, and returns the value it passed.
    let outcome = anyio::task_group(|tg| async move {
        let port = tg.named("service").start(service).await?;
        println!("the service is ready on port {port}; stopping it");
        // Cancelling the group's own scope stops the service. The group absorbs that
        // cancellation, so it ends without an error.
        tg.cancel();
        Ok(port)
    })
    .await?;
    // The body returned its value without reaching another checkpoint, so the group hands
    // it back; had the body ended with the cancellation instead, this would be `None`.
    println!("the group is done and returned {outcome:?}");

    // A failing task cancels its siblings, and the group reports the failure.
    let err = anyio::task_group(|tg| async move {
        tg.start_soon(async {
            if let Err(cancelled) = anyio::sleep(Duration::from_secs(10)).await {
                println!("sibling: {cancelled}; giving up");
                return Err(cancelled.into());
            }
            Ok(())
        })?;
        tg.start_soon(async {
            anyio::sleep(Duration::from_millis(20)).await?;
            Err("the parser choked on its input".into())
        })?;
        Ok(())
    })
    .await
    .expect_err("a task failed, so the group fails");
    // Every failure is kept (cancellations are not failures); one is the common case.
    match err.into_single() {
        Ok(only) => println!("the group failed with one error: {only}"),
        Err(several) => return Err(format!("expected one failure, got: {several}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
