//! A timeout's life: its deadline is fixed when it is made (trio's rule), from the run's
//! clock, real or virtual; and dropping a scope's future, finished or not, releases
//! everything the scope held, the stand-in root of a scope polled outside anyio included.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::sync::mpsc;
use std::time::Duration;

use anyio::{BoxError, CancelScope, Cancelled, VirtualClock};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

const DELAY: Duration = Duration::from_millis(10);

on_every_flavour!(a_timeout_whose_deadline_passed_before_it_is_awaited_cancels_its_body);

/// The thread is blocked past the delay between making the timeout and awaiting it: the
/// body's first checkpoint fails, and the timeout catches it.
async fn a_timeout_whose_deadline_passed_before_it_is_awaited_cancels_its_body()
-> Result<(), BoxError> {
    let timeout = anyio::move_on_after(DELAY, async {
        anyio::checkpoint().await?;
        Ok::<_, Cancelled>("not cancelled")
    });
    // Not synchronisation: real time has to pass between the two steps.
    std::thread::sleep(DELAY * 2);
    assert_eq!(timeout.await, Ok(None));
    Ok(())
}

on_every_flavour!(a_timeout_awaited_before_its_deadline_lets_its_body_finish);

async fn a_timeout_awaited_before_its_deadline_lets_its_body_finish() -> Result<(), BoxError> {
    let out = anyio::move_on_after(Duration::from_secs(3600), async {
        anyio::checkpoint().await?;
        Ok::<_, Cancelled>("finished")
    })
    .await;
    assert_eq!(out, Ok(Some("finished")));
    Ok(())
}

on_every_flavour!(virtual_clock: a_timeout_reads_the_virtual_clock_when_it_is_made);

/// On a virtual clock, moving the clock past the delay between making the timeout and
/// awaiting it cancels the body at its first checkpoint; the real clock plays no part.
async fn a_timeout_reads_the_virtual_clock_when_it_is_made() -> Result<(), BoxError> {
    let clock = VirtualClock::current().expect("the test runs on a virtual clock");
    let made_at = anyio::current_time();
    let timeout = anyio::move_on_after(Duration::from_secs(3600), async {
        anyio::checkpoint().await?;
        Ok::<_, Cancelled>("not cancelled")
    });
    clock.advance(Duration::from_secs(7200))?;
    assert_eq!(anyio::current_time() - made_at, Duration::from_secs(7200));
    assert_eq!(timeout.await, Ok(None));
    Ok(())
}

type WeakRun = Weak<dyn std::any::Any + Send + Sync>;
type BlockOn = fn(Pin<Box<dyn Future<Output = ()>>>);

/// Runs `body` in a scope (a timeout if `deadline`) polled outside any anyio task, through
/// `block_on`: polls it once (to completion, if `finish`), drops it, and returns the run
/// context that the scope stood in for, weak.
fn stand_in_run_after_drop<F>(
    block_on: BlockOn,
    deadline: bool,
    finish: bool,
    body: impl FnOnce(mpsc::Sender<WeakRun>) -> F + 'static,
) -> WeakRun
where
    F: Future<Output = Result<(), Cancelled>> + 'static,
{
    let (tx, rx) = mpsc::channel();
    block_on(Box::pin(async move {
        let mut scoped: Pin<Box<dyn Future<Output = Result<Option<()>, Cancelled>>>> = if deadline {
            Box::pin(anyio::move_on_after(Duration::from_secs(3600), body(tx)))
        } else {
            Box::pin(CancelScope::new().run(body(tx)))
        };
        let polled = futures_lite::future::poll_once(scoped.as_mut()).await;
        if finish {
            assert_eq!(polled, Some(Ok(Some(()))));
        } else {
            assert_eq!(polled, None, "the body waits");
        }
    }));
    rx.recv().expect("the body ran")
}

fn send_run(tx: &mpsc::Sender<WeakRun>) {
    let run = anyio::__private::run_context(&anyio::current_token());
    tx.send(run).expect("the test waits for it");
}

fn smol_block_on(fut: Pin<Box<dyn Future<Output = ()>>>) {
    futures_lite::future::block_on(fut);
}

fn tokio_block_on(fut: Pin<Box<dyn Future<Output = ()>>>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(fut);
}

/// The scope's node, its armed deadline (tokio: async-io takes a dropped timer's waker out
/// of its reactor only at the reactor's next turn, so on smol the stand-in run may outlive
/// the drop by that turn) and the stand-in root all go with the scope's future.
#[test]
fn a_scope_outside_anyio_dropped_while_waiting_frees_its_stand_in_run() {
    let cases: [(BlockOn, bool); 3] = [
        (smol_block_on, false),
        (tokio_block_on, false),
        (tokio_block_on, true),
    ];
    for (block_on, deadline) in cases {
        let run = stand_in_run_after_drop(block_on, deadline, false, |tx| async move {
            send_run(&tx);
            anyio::sleep_forever().await
        });
        assert_eq!(run.strong_count(), 0, "the stand-in run is still alive");
    }
}

#[test]
fn a_scope_outside_anyio_dropped_after_finishing_frees_its_stand_in_run() {
    let block_ons: [BlockOn; 2] = [smol_block_on, tokio_block_on];
    for block_on in block_ons {
        for deadline in [false, true] {
            let run = stand_in_run_after_drop(block_on, deadline, true, |tx| async move {
                send_run(&tx);
                Ok(())
            });
            assert_eq!(run.strong_count(), 0, "the stand-in run is still alive");
        }
    }
}
