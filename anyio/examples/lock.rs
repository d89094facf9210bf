//! Locks: one task at a time works with a shared resource.
//!
//! [`anyio::Lock::acquire`] waits for the lock and returns a guard; the lock is released
//! when the guard is dropped, and handed to the task that has waited longest. A lock can
//! protect a value: here, the number of tasks that worked with the resource.
//!
//! ```text
//! cargo run --example lock
//! cargo run --example lock -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyio::{BoxError, Lock, Runner};

mod common;

/// Works with the resource while holding the lock.
async fn use_resource(tasknum: u32, lock: Arc<Lock<u32>>) -> Result<(), BoxError> {
    let mut done = lock.acquire().await?;
    println!("Task number {tasknum} is now working with the shared resource");
    anyio::sleep(Duration::from_millis(50)).await?;
    *done += 1;
    Ok(())
}

/// Four tasks take turns with the resource.
pub(crate) async fn run() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new(0));
    let l = lock.clone();
    anyio::task_group(|tg| async move {
        for num in 0..4 {
            tg.start_soon(use_resource(num, l.clone()))?;
        }
        Ok(())
    })
    .await?;
    println!("{} tasks used the resource", *lock.acquire().await?);
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
