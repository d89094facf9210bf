//! Events: one task waits until another says something happened.
//!
//! An [`anyio::Event`] starts unset; `set` sets it for good and wakes every task in
//! `wait`. Share it in an `Arc`.
//!
//! ```text
//! cargo run --example event
//! cargo run --example event -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use anyio::{BoxError, Event, Runner};

mod common;

/// Sets the event.
async fn notify(event: Arc<Event>) -> Result<(), BoxError> {
    event.set();
    Ok(())
}

/// Starts a task that sets an event, and waits for it.
pub(crate) async fn run() -> Result<(), BoxError> {
    let event = Arc::new(Event::new());
    anyio::task_group(|tg| async move {
        tg.start_soon(notify(event.clone()))?;
        event.wait().await?;
        println!("Received notification!");
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
