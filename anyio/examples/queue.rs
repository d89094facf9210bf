//! The 1.x queue: a producer puts numbers into a queue of capacity 100, one every
//! millisecond, and the host task gets and prints them until it has seen the last one.
//! New code should prefer memory object streams (see `memory_object_streams`), whose ends
//! can be closed; the queue is kept for code written against AnyIO 1.x.
//!
//! ```text
//! cargo run --example queue
//! cargo run --example queue -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Queue, Runner};

mod common;

/// Puts ten numbers into the queue, with a short sleep after each.
async fn produce(queue: Queue<u32>) -> Result<(), BoxError> {
    for number in 0..10 {
        queue.put(number).await?;
        anyio::sleep(Duration::from_millis(1)).await?;
    }
    Ok(())
}

/// Gets numbers from a queue filled by another task until the last one arrives.
pub(crate) async fn run() -> Result<(), BoxError> {
    let queue = anyio::create_queue::<u32>(100);
    anyio::task_group(|tg| async move {
        tg.start_soon(produce(queue.clone()))?;
        loop {
            let number = queue.get().await?;
            println!("{number}");
            if number == 9 {
                break;
            }
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
