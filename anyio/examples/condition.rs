//! Conditions: tasks wait, with a lock released, until another task notifies them.
//!
//! [`anyio::Condition::wait`] takes the guard of the condition's lock, releases the lock
//! while it waits, and takes it back before returning. `notify(n)` wakes the `n` tasks
//! that have waited longest; `notify_all` wakes them all.
//!
//! ```text
//! cargo run --example condition
//! cargo run --example condition -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use anyio::{BoxError, Condition, Runner};

mod common;

/// Waits for a notification.
async fn listen(tasknum: u32, condition: Arc<Condition>) -> Result<(), BoxError> {
    let guard = condition.acquire().await?;
    let _guard = condition.wait(guard).await?;
    println!("Woke up task number {tasknum}");
    Ok(())
}

/// Six listeners, woken one, then two, then all the rest.
pub(crate) async fn run() -> Result<(), BoxError> {
    let condition = Arc::new(Condition::default());
    anyio::task_group(|tg| async move {
        for tasknum in 0..6 {
            tg.start_soon(listen(tasknum, condition.clone()))?;
        }
        // Until every listener waits (the manual sleeps for a second instead).
        anyio::wait_all_tasks_blocked().await?;
        for n in [1, 2] {
            let guard = condition.acquire().await?;
            println!("Notifying {n}");
            condition.notify(n);
            drop(guard);
            anyio::wait_all_tasks_blocked().await?;
        }
        let _guard = condition.acquire().await?;
        println!("Notifying all");
        condition.notify_all();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
