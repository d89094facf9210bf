//! Capacity limiters: at most a given number of borrowers at once, one token each.
//!
//! [`anyio::CapacityLimiter::acquire`] borrows a token for the current task and returns
//! it as a guard; a task cannot borrow two. The total can be changed while tasks wait:
//! raising it lets that many waiters in at once.
//!
//! ```text
//! cargo run --example capacity_limiter
//! cargo run --example capacity_limiter -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyio::{BoxError, CapacityLimiter, Runner};

mod common;

/// Works with the resource while holding a token.
async fn use_resource(tasknum: u32, limiter: Arc<CapacityLimiter>) -> Result<(), BoxError> {
    let _token = limiter.acquire().await?;
    println!(
        "Task number {tasknum} is now working with the shared resource ({} of {} tokens borrowed)",
        limiter.borrowed_tokens(),
        limiter.total_tokens()
    );
    anyio::sleep(Duration::from_millis(50)).await?;
    Ok(())
}

/// Ten tasks, two at a time, then four at a time once the total is raised.
pub(crate) async fn run() -> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(2)?);
    anyio::task_group(|tg| async move {
        for num in 0..10 {
            tg.start_soon(use_resource(num, limiter.clone()))?;
        }
        anyio::sleep(Duration::from_millis(75)).await?;
        println!("Raising the total to 4");
        limiter.set_total_tokens(4)?;
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
