//! Run variables: state that belongs to one run and that every task of the run sees.
//!
//! An [`anyio::RunVar`] is declared as a `static`; each run has its own value of it. `set`
//! returns a token that `reset` uses to put the previous value back.
//!
//! ```text
//! cargo run --example run_var
//! cargo run --example run_var -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use anyio::{BoxError, RunVar, Runner, TaskGroup};

mod common;

/// The greeting of this run: "Hello" until a task sets another.
static GREETING: RunVar<&'static str> = RunVar::with_default("greeting", "Hello");

/// How many requests this run served: one counter per run, made on first use.
static SERVED: RunVar<Arc<AtomicUsize>> = RunVar::with_default_fn("served", Arc::default);

/// Greets with the run's greeting, and counts itself.
async fn handle(request: u32) -> Result<(), BoxError> {
    SERVED.get()?.fetch_add(1, SeqCst);
    println!("{}, request {request}", GREETING.get()?);
    Ok(())
}

/// Changes the greeting for three tasks, then puts it back.
pub(crate) async fn run() -> Result<(), BoxError> {
    let token = GREETING.set("Howdy")?;
    anyio::task_group(|tg: TaskGroup| async move {
        for request in 0..3 {
            tg.start_soon(handle(request))?;
        }
        Ok(())
    })
    .await?;
    GREETING.reset(&token)?;
    println!(
        "{} again; this run served {} requests",
        GREETING.get()?,
        SERVED.get()?.load(SeqCst)
    );
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
