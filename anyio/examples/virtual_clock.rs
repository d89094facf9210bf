//! Virtual time: a run on a `VirtualClock` sleeps for hours in milliseconds, and its timers
//! fire in exact order at exact times.
//!
//! With autojump on, the clock jumps to the next deadline as soon as every task of the run
//! is blocked. Here three workers sleep for different numbers of virtual minutes, a
//! watchdog gives up on the slowest after an hour, and the clock is moved by hand at the
//! end. `#[anyio::test(virtual_clock)]` gives a test the same clock.
//!
//! ```text
//! cargo run --example virtual_clock
//! cargo run --example virtual_clock -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyio::{BoxError, Runner, VirtualClock};

mod common;

const MINUTE: Duration = Duration::from_secs(60);

/// Runs the demonstration on the calling run's virtual clock; a run on real time (the
/// tour's) starts a run of its own on a virtual clock, on a thread of its own (runs do not
/// nest on one thread, and tokio's blocking threads count as inside the runtime).
pub(crate) async fn run() -> Result<(), BoxError> {
    if VirtualClock::current().is_some() {
        return demo().await;
    }
    let backend = anyio::current_backend()?;
    anyio::to_thread::run_sync(move || {
        std::thread::spawn(move || {
            Runner::new(backend)
                .virtual_clock(VirtualClock::new().autojump(Duration::ZERO))
                .try_run(demo())
        })
        .join()
        .unwrap_or_else(|_| Err("the virtual-time run panicked".into()))
    })
    .await?
}

async fn demo() -> Result<(), BoxError> {
    let real_start = Instant::now();
    let start = anyio::current_time();
    let minutes = move || (anyio::current_time() - start).as_secs() / 60;

    let out = anyio::move_on_after(60 * MINUTE, async {
        anyio::task_group(|tg| async move {
            for (name, length) in [("slow", 90), ("quick", 5), ("medium", 30)] {
                tg.start_soon(async move {
                    anyio::sleep(length * MINUTE).await?;
                    println!("{name} worker done after {} virtual minutes", minutes());
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    if out.is_none() {
        println!("watchdog gave up after {} virtual minutes", minutes());
    }

    // By hand: with autojump off, the clock moves only when told to.
    let clock = VirtualClock::current().ok_or("not on a virtual clock")?;
    clock.set_autojump(None);
    let before = anyio::current_time();
    clock.advance(15 * MINUTE)?;
    println!(
        "advanced by hand: {} virtual minutes later",
        (anyio::current_time() - before).as_secs() / 60
    );
    anyio::checkpoint().await?;
    println!(
        "{} virtual minutes in {} real milliseconds",
        minutes(),
        real_start.elapsed().as_millis()
    );
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    let clock = VirtualClock::new().autojump(Duration::ZERO);
    common::exit_status(Runner::new(backend).virtual_clock(clock).run(run()))
}
