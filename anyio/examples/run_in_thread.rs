//! Running blocking code in a worker thread, so the event loop keeps serving other tasks.
//!
//! [`anyio::to_thread::run_sync`] hands a closure to a pool of threads and waits for its
//! result; at most 40 such closures run at once per run (the default
//! [`CapacityLimiter`](anyio::CapacityLimiter), see
//! [`current_default_thread_limiter`](anyio::to_thread::current_default_thread_limiter)).
//! While the thread sleeps here, a task on the loop keeps ticking.
//!
//! ```text
//! cargo run --example run_in_thread
//! cargo run --example run_in_thread -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner, to_thread};

mod common;

/// Sleeps in a worker thread (a blocking call) while a task on the loop keeps running.
pub(crate) async fn run() -> Result<(), BoxError> {
    anyio::task_group(|tg| async move {
        tg.start_soon(async {
            for i in 1..=3 {
                anyio::sleep(Duration::from_millis(20)).await?;
                println!("the loop is not blocked: tick {i}");
            }
            Ok(())
        })?;
        let slept = to_thread::run_sync(|| {
            // A blocking call: on the loop it would stop every task.
            std::thread::sleep(Duration::from_millis(100));
            "slept 100 ms in a worker thread"
        })
        .await?;
        println!("{slept}");
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
