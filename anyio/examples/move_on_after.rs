//! Timeouts: `move_on_after` gives up on the work and moves on, `fail_after` turns the
//! timeout into an error.
//!
//! Both run the work in a cancel scope with a deadline. When the deadline passes, every
//! checkpoint inside the scope (here, the `sleep`) returns `Err(Cancelled)`; the work
//! propagates it with `?`, and the scope that set the deadline absorbs it.
//!
//! ```text
//! cargo run --example move_on_after
//! cargo run --example move_on_after -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, CancelScope, Cancelled, Runner, TimeoutError};

mod common;

const DEADLINE: Duration = Duration::from_millis(100);
const TOO_LONG: Duration = Duration::from_millis(200);

/// Runs work that takes longer than its deadline, in each of the ways anyio offers.
pub(crate) async fn run() -> Result<(), BoxError> {
    // A scope with a deadline, asked afterwards whether it caught its own cancellation.
    let scope = CancelScope::with_timeout(DEADLINE);
    scope
        .run(async {
            println!("Starting sleep");
            anyio::sleep(TOO_LONG).await?;
            println!("This should never be printed");
            Ok::<_, Cancelled>(())
        })
        .await?;
    println!(
        "Exited cancel scope, cancelled = {}",
        scope.cancelled_caught()
    );

    // The same with `move_on_after`, which says `None` when the deadline cut the work short.
    let out = anyio::move_on_after(DEADLINE, async {
        anyio::sleep(TOO_LONG).await?;
        Ok::<_, Cancelled>("slept")
    })
    .await?;
    println!("move_on_after gave {out:?}, cancelled = {}", out.is_none());

    // Work that finishes in time returns its value.
    let out = anyio::move_on_after(DEADLINE, async {
        anyio::sleep(Duration::from_millis(10)).await?;
        Ok::<_, Cancelled>("done in time")
    })
    .await?;
    println!("move_on_after gave {out:?}");

    // `fail_after` reports the timeout as an error, converted into the work's error type.
    let result = anyio::fail_after(DEADLINE, async {
        anyio::sleep(TOO_LONG).await?;
        Ok::<_, BoxError>(())
    })
    .await;
    match result {
        Err(e) if e.is::<TimeoutError>() => println!("fail_after failed: {e}"),
        Err(e) => return Err(e),
        Ok(()) => return Err("fail_after did not time out".into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
