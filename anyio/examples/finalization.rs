//! Finalization: cleaning up asynchronously after a cancellation, then letting the
//! cancellation go on.
//!
//! Cancellation in anyio is an error value, `Err(Cancelled)`, so a task sees it coming and
//! can react to it: it tells the cancellation from other errors with `anyio::is_cancelled`,
//! runs its async cleanup inside a shielded scope (without the shield, every checkpoint of
//! the cleanup would fail too, since the task is still in the cancelled scope), and then
//! returns the cancellation so the scope that caused it can absorb it.
//!
//! ```text
//! cargo run --example finalization
//! cargo run --example finalization -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, CancelScope, Runner};

mod common;

/// The real work: longer than anyone is willing to wait for here.
async fn run_async_stuff() -> Result<(), BoxError> {
    println!("working...");
    anyio::sleep(Duration::from_secs(10)).await?;
    println!("work finished");
    Ok(())
}

/// Cleanup that has to await: say, telling a server goodbye.
async fn some_cleanup_function() -> Result<(), BoxError> {
    anyio::sleep(Duration::from_millis(50)).await?;
    println!("cleanup finished");
    Ok(())
}

/// Does the work; on cancellation, cleans up in a shielded scope and propagates it.
async fn do_something() -> Result<(), BoxError> {
    match run_async_stuff().await {
        Err(e) if anyio::is_cancelled(&e) => {
            println!("cancelled ({e}); cleaning up");
            // Still inside the cancelled scope, an unshielded wait fails at once...
            let unshielded = anyio::sleep(Duration::from_millis(1)).await;
            println!("an unshielded sleep now returns {unshielded:?}");
            // ...so the cleanup runs behind a shield.
            CancelScope::new()
                .shielded(true)
                .run(some_cleanup_function())
                .await?;
            // Hand the cancellation on: the scope that caused it absorbs it.
            Err(e)
        }
        other => other,
    }
}

/// Cancels `do_something` with a timeout and shows that its cleanup ran to the end.
pub(crate) async fn run() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(Duration::from_millis(100));
    let out = scope.run(do_something()).await?;
    println!(
        "the scope returned {out:?}; cancelled_caught = {}",
        scope.cancelled_caught()
    );
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
