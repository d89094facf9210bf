//! A finished run leaves nothing behind (issue 12, section 4): when a run ends while another
//! thread is blocked in a call into it (through an `EventLoopToken`, a portal's token, or
//! `from_thread` in a worker thread), the caller gets "run finished" and everything the run
//! held (its runtime, the pending task, the run's context) is freed by the time `run`
//! returns, on both backends.
//!
//! Each test does 200 such runs and checks that the process's open descriptors are back to
//! about where they started and that the run's context is gone. The tests take one lock,
//! so that no other test of this file opens or closes descriptors meanwhile.

#![cfg(target_os = "linux")]

use std::any::Any;
use std::future::IntoFuture;
use std::net::UdpSocket;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use anyio::{
    Backend, CancelScope, Cancelled, Event, FromThreadError, Runner, current_token, from_thread,
    move_on_after, sleep_forever, to_thread,
};

const RUNS: usize = 200;
/// Descriptors that may come and go for reasons of their own (a thread pool's, say).
const SLACK: usize = 8;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What one run leaves for the test to check: the run's context and what the pending
/// call's future owned, both weak.
struct Left {
    run: Weak<dyn Any + Send + Sync>,
    future: Weak<()>,
}

impl Left {
    fn assert_freed(&self, i: usize) {
        assert_eq!(
            self.future.strong_count(),
            0,
            "run {i}: the pending call's future was not dropped"
        );
        assert_eq!(
            self.run.strong_count(),
            0,
            "run {i}: the run's context is still alive"
        );
    }
}

/// Runs `one_run` `RUNS` times, each checked freed, and the descriptors at the end.
fn repeat(name: &str, one_run: impl Fn() -> Left) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A first run, so that what is made once per process (the global reactor, thread
    // pools) exists before the count.
    one_run().assert_freed(0);
    let fds = open_descriptors();
    let rss = resident_kib();
    for i in 1..=RUNS {
        one_run().assert_freed(i);
    }
    let fds_after = open_descriptors();
    let rss_after = resident_kib();
    eprintln!(
        "{name}: {RUNS} runs: descriptors {fds} -> {fds_after}, VmRSS {rss} KiB -> {rss_after} KiB"
    );
    assert!(
        fds_after <= fds + SLACK,
        "{name}: {fds} descriptors open before {RUNS} runs, {fds_after} after"
    );
}

/// A future that says it started, then waits until it is dropped, owning `held`, a socket
/// (a descriptor) and a mebibyte of memory, so that a leak shows in the numbers.
async fn pending_call(held: Arc<()>, started: impl FnOnce()) -> Result<(), Cancelled> {
    let _held = held;
    let _socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let _buffer = vec![1u8; 1 << 20];
    started();
    sleep_forever().await
}

fn token_call_outlives_run(runner: &Runner) -> Left {
    let (caller, left) = runner
        .run(async {
            let token = current_token();
            let run = anyio::__private::run_context(&token);
            let held = Arc::new(());
            let future = Arc::downgrade(&held);
            let started = Arc::new(Event::new());
            let set = started.clone();
            let caller =
                thread::spawn(move || token.run(move || pending_call(held, move || set.set())));
            started.wait().await?;
            Ok::<_, Cancelled>((caller, Left { run, future }))
        })
        .expect("the run starts")
        .expect("not cancelled");
    let out = caller.join().expect("the calling thread does not panic");
    assert_eq!(out, Err(FromThreadError::RunFinished));
    left
}

fn portal_token_call_outlives_run(runner: &Runner) -> Left {
    let portal = runner.start_blocking_portal().expect("the portal starts");
    let token = portal.token();
    let run = anyio::__private::run_context(&token);
    let held = Arc::new(());
    let future = Arc::downgrade(&held);
    let (started_tx, started_rx) = mpsc::channel();
    let caller = thread::spawn(move || {
        token.run(move || {
            pending_call(held, move || {
                let _ = started_tx.send(());
            })
        })
    });
    started_rx.recv().expect("the call starts");
    // The call is not one of the portal's tasks: the run ends with it pending.
    portal.stop(false).expect("the portal stops");
    drop(portal);
    let out = caller.join().expect("the calling thread does not panic");
    assert_eq!(out, Err(FromThreadError::RunFinished));
    Left { run, future }
}

fn from_thread_call_outlives_run(runner: &Runner) -> Left {
    let (result_tx, result_rx) = mpsc::channel();
    let left = runner
        .run(async {
            let run = anyio::__private::run_context(&current_token());
            let held = Arc::new(());
            let future = Arc::downgrade(&held);
            let started = Arc::new(Event::new());
            let set = started.clone();
            let worker = to_thread::run_sync(move || {
                let out = from_thread::run(move || async move {
                    // Shielded: the cancellation that abandons the thread must not end it.
                    CancelScope::new()
                        .shielded(true)
                        .run(pending_call(held, move || set.set()))
                        .await
                });
                let _ = result_tx.send(out);
            })
            .abandon_on_cancel()
            .into_future();
            // The worker is abandoned; the call it makes stays pending.
            move_on_after(Duration::from_millis(5), worker).await?;
            started.wait().await?;
            Ok::<_, Cancelled>(Left { run, future })
        })
        .expect("the run starts")
        .expect("not cancelled");
    let out = result_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker thread reports");
    assert_eq!(out, Err(FromThreadError::RunFinished));
    // The worker thread may still be dropping what it held: give it a moment.
    for _ in 0..1000 {
        if left.run.strong_count() == 0 {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    left
}

fn runners(backend: Backend) -> [Runner; 2] {
    [
        Runner::new(backend).current_thread(),
        Runner::new(backend).worker_threads(2),
    ]
}

#[test]
fn a_token_call_pending_when_the_run_ends_leaves_nothing_on_smol() {
    for runner in runners(Backend::Smol) {
        repeat("smol token", || token_call_outlives_run(&runner));
    }
}

#[test]
fn a_token_call_pending_when_the_run_ends_leaves_nothing_on_tokio() {
    for runner in runners(Backend::Tokio) {
        repeat("tokio token", || token_call_outlives_run(&runner));
    }
}

#[test]
fn a_portal_token_call_pending_when_the_run_ends_leaves_nothing_on_smol() {
    for runner in runners(Backend::Smol) {
        repeat("smol portal token", || {
            portal_token_call_outlives_run(&runner)
        });
    }
}

#[test]
fn a_portal_token_call_pending_when_the_run_ends_leaves_nothing_on_tokio() {
    for runner in runners(Backend::Tokio) {
        repeat("tokio portal token", || {
            portal_token_call_outlives_run(&runner)
        });
    }
}

#[test]
fn a_from_thread_call_pending_when_the_run_ends_leaves_nothing_on_smol() {
    for runner in runners(Backend::Smol) {
        repeat("smol from_thread", || {
            from_thread_call_outlives_run(&runner)
        });
    }
}

#[test]
fn a_from_thread_call_pending_when_the_run_ends_leaves_nothing_on_tokio() {
    for runner in runners(Backend::Tokio) {
        repeat("tokio from_thread", || {
            from_thread_call_outlives_run(&runner)
        });
    }
}
