//! Hello, world: the smallest anyio program.
//!
//! [`anyio::run`] starts a runtime on the default backend (tokio), runs one future on it to
//! completion and hands back its output; [`anyio::Runner`] does the same on a backend of
//! your choice.
//!
//! ```text
//! cargo run --example hello
//! cargo run --example hello -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner};

mod common;

/// Greets, naps for a moment, and says on which backend it ran.
pub(crate) async fn run() -> Result<(), BoxError> {
    println!("Hello, world!");
    // `sleep` is a checkpoint: inside a cancelled scope it would return `Err(Cancelled)`,
    // which `?` passes on.
    anyio::sleep(Duration::from_millis(100)).await?;
    println!("Slept 100 ms on {}; goodbye.", anyio::current_backend()?);
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    let outcome = if backend == Runner::default().backend() {
        // On the default backend this is all it takes.
        anyio::run(run())
    } else {
        Runner::new(backend).run(run())
    };
    common::exit_status(outcome)
}
