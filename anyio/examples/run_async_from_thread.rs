//! Calling async code from a worker thread: the way back to the event loop.
//!
//! A thread started by [`anyio::to_thread::run_sync`] can run async code on the loop with
//! [`anyio::from_thread::run`] (or a plain closure with [`anyio::from_thread::run_sync`]),
//! blocking only itself. The async code runs inside the cancel scope of the task that
//! started the thread. Any other thread needs a token taken on the loop:
//! [`anyio::current_token`].
//!
//! ```text
//! cargo run --example run_async_from_thread
//! cargo run --example run_async_from_thread -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Cancelled, Runner, from_thread, to_thread};

mod common;

/// Blocking code that needs the loop for a moment.
fn blocking_function() -> Result<String, BoxError> {
    // Back on the loop: an async sleep, as a task of the run.
    from_thread::run(|| anyio::sleep(Duration::from_millis(50)))??;
    // A closure on the loop: it can read what only tasks can.
    let backend = from_thread::run_sync(anyio::current_backend)??;
    // A long computation checks now and then whether its caller was cancelled.
    from_thread::check_cancelled()?;
    Ok(format!("slept on the {backend} loop from a worker thread"))
}

/// Runs `blocking_function` in a worker thread, then does the same from a plain thread
/// with a token.
pub(crate) async fn run() -> Result<(), BoxError> {
    let message = to_thread::run_sync(blocking_function).await??;
    println!("{message}");

    let token = anyio::current_token();
    let plain = std::thread::spawn(move || {
        token.run(|| async {
            anyio::sleep(Duration::from_millis(10)).await?;
            Ok::<_, Cancelled>("a plain thread called the loop with a token")
        })
    });
    // Wait for the plain thread without blocking the loop it calls into.
    let message = to_thread::run_sync(move || plain.join())
        .await?
        .map_err(|_| "the plain thread panicked")???;
    println!("{message}");
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
