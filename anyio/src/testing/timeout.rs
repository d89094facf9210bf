//! Per-test timeouts, in real time.
//!
//! A test's timeout is measured on the wall clock by a watchdog thread, never on the run's
//! clock: a test under a virtual clock may sleep for virtual hours, and a test that hangs
//! may hang because its run no longer polls anything. When the time is up the watchdog
//! cancels the test's scope, and the test ends as any cancelled code does (its fixtures
//! torn down, shielded); if it has not ended after a grace period, the harness drops
//! what is left of the run and fails the test; if even that does not happen after a second
//! grace period (the thread is blocked outside any await), the watchdog writes the failure
//! to stderr and ends the process, since nothing else would end the test run.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use crate::cancel::scope::CancelScope;
use crate::sync::event::Event;

/// The environment variable that gives every test without a `timeout` argument a timeout,
/// in seconds (`ANYIO_TEST_TIMEOUT=30`, fractions allowed: `2.5`). Unset or empty means
/// no timeout.
pub const TIMEOUT_ENV: &str = "ANYIO_TEST_TIMEOUT";

/// The longest a timed-out test gets, after its cancellation, to end by itself.
const MAX_GRACE: Duration = Duration::from_secs(5);

/// The timeout that [`TIMEOUT_ENV`] gives tests that set none.
///
/// # Panics
///
/// If the variable is set to something other than a positive number of seconds: a
/// misspelt limit must not silently leave tests unbounded. The message names the
/// variable and the value.
pub fn default_timeout() -> Option<Duration> {
    let value = std::env::var(TIMEOUT_ENV).ok()?;
    let text = value.trim();
    if text.is_empty() {
        return None;
    }
    let seconds = text.parse::<f64>().ok().filter(|s| *s > 0.0);
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(timeout) => Some(timeout),
        None => {
            panic!("{TIMEOUT_ENV}: expected a number of seconds greater than 0, found {value:?}")
        }
    }
}

/// The grace period a test gets after being cancelled for its `timeout`.
pub(super) fn grace(timeout: Duration) -> Duration {
    timeout.min(MAX_GRACE)
}

/// A duration as a person writes it: `10s`, `250ms`, or Rust's own form otherwise.
pub(super) fn display(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{duration:?}")
    }
}

/// Nothing happened yet.
const RUNNING: u8 = 0;
/// The timeout passed and the test's scope was cancelled.
const CANCELLED: u8 = 1;
/// The grace period passed too: the harness must drop the run's future.
const ABANDONED: u8 = 2;

/// How far the watchdog went when the test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The test ended in time.
    InTime,
    /// The test timed out and ended within its grace period.
    TimedOut,
    /// The test timed out and was abandoned after its grace period.
    Abandoned,
}

/// The watchdog of one test run.
pub(super) struct Watchdog {
    /// Dropped (or sent to) when the run ends, which wakes the thread.
    done: Option<mpsc::Sender<()>>,
    state: Arc<AtomicU8>,
    abandon: Arc<Event>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching: after `timeout`, `scope` is cancelled; after the grace period,
    /// [`abandoned`](Self::abandoned) is set; after a second one the process ends with
    /// `message` on stderr.
    pub(super) fn start(timeout: Duration, scope: CancelScope, message: String) -> Self {
        let (done, ended) = mpsc::channel::<()>();
        let state = Arc::new(AtomicU8::new(RUNNING));
        let abandon = Arc::new(Event::new());
        let (thread_state, thread_abandon) = (state.clone(), abandon.clone());
        let grace = grace(timeout);
        let watch = move || {
            if ended.recv_timeout(timeout) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            thread_state.store(CANCELLED, Ordering::SeqCst);
            scope.cancel_with_reason("the test timed out");
            if ended.recv_timeout(grace) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            thread_state.store(ABANDONED, Ordering::SeqCst);
            thread_abandon.set();
            if ended.recv_timeout(grace) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            // Straight to the process's stderr: the test harness's capture would keep the
            // message from ever being shown.
            let _ = writeln!(
                std::io::stderr(),
                "{message}, and its thread stays blocked: ending the test process"
            );
            std::process::exit(101);
        };
        let thread = thread::Builder::new()
            .name("anyio-test-watchdog".into())
            .spawn(watch);
        match thread {
            Ok(thread) => Watchdog {
                done: Some(done),
                state,
                abandon,
                thread: Some(thread),
            },
            // Without a thread there is no timeout, but the test still runs.
            Err(error) => {
                eprintln!("anyio: cannot start the test watchdog ({error}): no timeout");
                Watchdog {
                    done: None,
                    state,
                    abandon,
                    thread: None,
                }
            }
        }
    }

    /// Set when the harness must give up on the run.
    pub(super) fn abandoned(&self) -> Arc<Event> {
        self.abandon.clone()
    }

    /// Stops the watchdog, once the run has ended, and says how the test ended.
    pub(super) fn finish(mut self) -> Verdict {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.state.load(Ordering::SeqCst) {
            RUNNING => Verdict::InTime,
            CANCELLED => Verdict::TimedOut,
            _ => Verdict::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(display(Duration::from_secs(10)), "10s");
        assert_eq!(display(Duration::from_millis(100)), "100ms");
        assert_eq!(display(Duration::from_millis(1500)), "1500ms");
        assert_eq!(display(Duration::from_micros(5)), "5µs");
    }

    #[test]
    fn grace_is_bounded() {
        assert_eq!(
            grace(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        assert_eq!(grace(Duration::from_secs(60)), MAX_GRACE);
    }
}
