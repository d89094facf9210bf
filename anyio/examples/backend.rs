//! Choosing a backend, and the options each one takes.
//!
//! The same code runs on tokio and on smol; the backend is picked when the program starts
//! a run, not when it is compiled. [`run`] shows what code inside a run can learn about it
//! (and that a run cannot be started inside another); [`runners`] starts runs with
//! different [`Runner`] options, and calls anyio from a plain tokio runtime and a plain
//! `block_on`, where anyio finds the runtime by itself.
//!
//! ```text
//! cargo run --example backend
//! cargo run --example backend -- --backend smol
//! ```
//!
//! A program that always uses one backend can write `#[anyio::main(backend = "smol")]` on
//! `async fn main` instead of building a `Runner` by hand.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyio::{Backend, BoxError, RunError, Runner};

mod common;

/// Reports the backend the calling code runs on, and shows that a nested run is refused.
pub(crate) async fn run() -> Result<(), BoxError> {
    let backend = anyio::current_backend()?;
    println!("current_backend() = {backend}");
    let me = anyio::get_current_task().ok_or("not inside an anyio task")?;
    println!("this is task {} named {:?}", me.id(), me.name());
    // Inside a run, starting another one on this thread is a mistake: await instead.
    match anyio::run(async {}) {
        Err(RunError::AlreadyRunning(running)) => {
            println!("a nested anyio::run is refused: already running {running}");
        }
        Err(e) => return Err(e.into()),
        Ok(()) => return Err("a nested run was allowed".into()),
    }
    Ok(())
}

/// Starts runs with several [`Runner`] configurations and tells where their tasks ran,
/// then calls anyio from runtimes that anyio did not start.
///
/// This is plain synchronous code: it must not be called from inside a run.
pub(crate) fn runners() -> Result<(), BoxError> {
    let configurations = [
        ("Runner::default()", Runner::default()),
        (
            "Runner::new(Backend::Tokio).current_thread()",
            Runner::new(Backend::Tokio).current_thread(),
        ),
        (
            "Runner::new(Backend::Tokio).worker_threads(2)",
            Runner::new(Backend::Tokio).worker_threads(2),
        ),
        ("Runner::new(Backend::Smol)", Runner::new(Backend::Smol)),
        (
            "Runner::new(Backend::Smol).worker_threads(2)",
            Runner::new(Backend::Smol).worker_threads(2),
        ),
    ];
    for (label, runner) in configurations {
        if !runner.backend().is_enabled() {
            println!("{label}: skipped, the {} feature is off", runner.backend());
            continue;
        }
        let (backend, threads) = runner.run(where_tasks_run())??;
        println!("{label}: {backend}; tasks ran on {threads}");
    }

    // Outside any run, anyio still finds a runtime: a tokio runtime entered on this thread,
    // else smol's global executor, which needs no setup.
    println!(
        "outside any runtime, current_backend() = {}",
        anyio::current_backend()?
    );
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let found = tokio.block_on(async {
        // anyio's timeouts and sleeps work here as they do inside `anyio::run`.
        anyio::move_on_after(std::time::Duration::from_millis(1), anyio::sleep_forever()).await?;
        Ok::<_, BoxError>(anyio::current_backend()?)
    })?;
    println!("inside a plain tokio runtime, current_backend() = {found}");
    let found = futures_lite::future::block_on(async { anyio::current_backend() })?;
    println!("inside futures_lite::future::block_on, current_backend() = {found}");
    Ok(())
}

/// Runs a few tasks and reports the backend and where the tasks ran.
async fn where_tasks_run() -> Result<(Backend, String), BoxError> {
    let caller = std::thread::current().id();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = threads.clone();
    anyio::task_group(|tg| async move {
        for _ in 0..8 {
            let seen = seen.clone();
            tg.start_soon(async move {
                anyio::checkpoint().await?;
                let here = std::thread::current().id();
                seen.lock().unwrap_or_else(|e| e.into_inner()).insert(here);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let threads = threads.lock().unwrap_or_else(|e| e.into_inner());
    let place = match (threads.contains(&caller), threads.len()) {
        (true, 1) => "the calling thread only".to_owned(),
        (true, n) => format!("the calling thread and {} worker thread(s)", n - 1),
        (false, n) => format!("{n} worker thread(s), not the calling thread"),
    };
    Ok((anyio::current_backend()?, place))
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    let status = common::exit_status(Runner::new(backend).run(run()));
    if status != ExitCode::SUCCESS {
        return status;
    }
    println!();
    common::exit_status(Ok(runners()))
}
