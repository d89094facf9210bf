//! `gather`, `amap` and `as_completed`: running futures concurrently and collecting their
//! values, in argument order, in input order, or in the order they finish.
//!
//! Each runs its futures as tasks of a task group of its own, so the usual rules hold: the
//! first failure cancels the others and is reported, and nothing outlives the call.
//!
//! ```text
//! cargo run --example gather
//! cargo run --example gather -- --backend smol
//! ```

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner};

mod common;

/// Fetches a user's name (pretend): slower for lower ids.
async fn user_name(id: u64) -> Result<String, BoxError> {
    anyio::sleep(Duration::from_millis(40 - 10 * id)).await?;
    Ok(format!("user{id}"))
}

/// Counts a user's messages (pretend).
async fn message_count(id: u64) -> Result<usize, BoxError> {
    anyio::sleep(Duration::from_millis(5)).await?;
    Ok(id as usize * 3)
}

/// Downloads a page (pretend) and returns its size.
async fn download(page: u64) -> Result<u64, BoxError> {
    anyio::sleep(Duration::from_millis(page % 4 * 5)).await?;
    Ok(page * 1000)
}

/// Runs `gather` on a tuple and a `Vec`, `amap` with a limit, and `as_completed`.
pub(crate) async fn run() -> Result<(), BoxError> {
    // A tuple of futures of different types gives a tuple of values.
    let (name, count) = anyio::gather((user_name(1), message_count(1))).await?;
    println!("{name} has {count} messages");

    // A `Vec` gives a `Vec`, in argument order whatever order they finish in.
    let names = anyio::gather(vec![user_name(1), user_name(2), user_name(3)]).await?;
    println!("names in argument order: {names:?}");

    // `amap_limited` runs at most 3 downloads at once and takes pages from the iterator
    // only as downloads end.
    let limit = NonZeroUsize::new(3).ok_or("a limit is not zero")?;
    let sizes = anyio::amap_limited(download, 1..=10, limit).await?;
    println!("total downloaded: {} bytes", sizes.iter().sum::<u64>());

    // `as_completed` hands out handles as the tasks finish; leaving early cancels the rest.
    let fastest = anyio::as_completed(
        [user_name(1), user_name(2), user_name(3)],
        |mut done| async move {
            let Some(first) = done.next().await? else {
                return Ok(None);
            };
            Ok(Some(first.await?))
        },
    )
    .await?;
    println!("the fastest answer was {fastest:?}; the others were cancelled");
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
