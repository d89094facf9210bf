//! Semaphores: at most a given number of tasks work with a resource at once.
//!
//! [`anyio::Semaphore::acquire`] waits until a permit is free and returns it; the permit
//! is given back when dropped, to the task that has waited longest.
//!
//! ```text
//! cargo run --example semaphore
//! cargo run --example semaphore -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyio::{BoxError, Runner, Semaphore};

mod common;

/// Works with the resource while holding a permit.
async fn use_resource(tasknum: u32, semaphore: Arc<Semaphore>) -> Result<(), BoxError> {
    let _permit = semaphore.acquire().await?;
    println!("Task number {tasknum} is now working with the shared resource");
    anyio::sleep(Duration::from_millis(50)).await?;
    Ok(())
}

/// Ten tasks, two at a time.
pub(crate) async fn run() -> Result<(), BoxError> {
    let semaphore = Arc::new(Semaphore::new(2)?);
    anyio::task_group(|tg| async move {
        for num in 0..10 {
            tg.start_soon(use_resource(num, semaphore.clone()))?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
