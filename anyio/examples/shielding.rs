//! Shielding: a shielded cancel scope keeps the cancellation of the scopes around it out,
//! so the work inside it can finish. The cancellation is still there when the work leaves
//! the shield, and is delivered at the next checkpoint.
//!
//! Here the host task of a task group cancels the group while it sits in a shielded scope:
//! the group's other task is cancelled at once, the host's own sleep is not.
//!
//! ```text
//! cargo run --example shielding
//! cargo run --example shielding -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, CancelScope, Runner};

mod common;

/// A task of the group: it runs in the group's scope, outside the host's shield.
async fn external_task() -> Result<(), BoxError> {
    println!("Started sleeping in the external task");
    if let Err(cancelled) = anyio::sleep(Duration::from_millis(100)).await {
        println!("The external task was cancelled ({cancelled}) and stops");
        return Err(cancelled.into());
    }
    println!("This line should never be seen");
    Ok(())
}

/// Cancels a task group from inside a shielded scope, lets the shielded work finish, and
/// shows the cancellation arriving once the shield is left.
pub(crate) async fn run() -> Result<(), BoxError> {
    let outcome = anyio::task_group(|tg| async move {
        CancelScope::new()
            .shielded(true)
            .run(async {
                tg.start_soon(external_task())?;
                tg.cancel();
                println!("Started sleeping in the host task");
                anyio::sleep(Duration::from_millis(100)).await?;
                println!("Finished sleeping in the host task: the shield kept the cancel out");
                Ok::<_, BoxError>(())
            })
            .await?;
        // Outside the shield the group's cancellation applies again: this checkpoint fails
        // and `?` ends the body with the cancellation.
        anyio::checkpoint().await?;
        println!("This line should never be seen either");
        Ok(())
    })
    .await?;
    // The group caused the cancellation, so it absorbed it and gave no value.
    println!("The task group exited, result = {outcome:?}");
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
