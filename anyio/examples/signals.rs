//! Signals: receiving OS signals in a loop, as the manual's example does.
//!
//! [`anyio::open_signal_receiver`] listens for a set of signals and yields each one the
//! process receives, as a stream. The manual's program reloads its configuration on
//! `SIGHUP` and stops on `SIGTERM`; so does this one, and to run on its own it also
//! listens for `SIGUSR1`, sends itself `SIGUSR1` twice (the second once the first has
//! arrived, since the OS merges repeats of a signal that is still pending), prints what it
//! receives and stops. Unix only: elsewhere it says so and exits.
//!
//! ```text
//! cargo run --example signals
//! cargo run --example signals -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::{BoxError, Runner, Signal};
use futures_lite::StreamExt;

mod common;

/// How many `SIGUSR1` the example sends itself.
const SENDS: u32 = 2;

/// Sends `signal` to this process.
#[cfg(unix)]
fn send_to_self(signal: Signal) -> std::io::Result<()> {
    // SAFETY: `kill` has no memory-safety preconditions.
    match unsafe { libc::kill(libc::getpid(), signal.as_raw()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(unix))]
fn send_to_self(_signal: Signal) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Receives signals in a loop until it has seen `SENDS` of its own `SIGUSR1`, or `SIGTERM`.
pub(crate) async fn run() -> Result<(), BoxError> {
    let wanted = [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGUSR1];
    let mut signals = match anyio::open_signal_receiver(&wanted) {
        Ok(signals) => signals,
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            println!("No signals here: {e}");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!("Listening for {:?}", signals.signals());
    send_to_self(Signal::SIGUSR1)?;
    let mut received = 0;
    // A lost signal fails the example instead of hanging it.
    anyio::fail_after(Duration::from_secs(10), async {
        while let Some(signal) = signals.next().await {
            match signal? {
                Signal::SIGHUP => println!("Reloading configuration"),
                Signal::SIGTERM => {
                    println!("Terminating");
                    break;
                }
                other => {
                    received += 1;
                    println!("Received {other} ({received} of {SENDS})");
                    if received == SENDS {
                        println!("Done");
                        break;
                    }
                    send_to_self(Signal::SIGUSR1)?;
                }
            }
        }
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
