//! [`VirtualClock`]: a run's clock that moves only when told to, or when every task of the
//! run is blocked (trio's `MockClock`), on every backend and runtime flavour.
//!
//! The rules it follows are stated on the type, where users read them.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::virtual_clock::ClockCore;
use crate::context;

/// A virtual clock for a run: time that moves only when told to, or (with
/// [autojump](VirtualClock::autojump)) as soon as every task is blocked, so a test that
/// sleeps for an hour takes milliseconds and timers fire in exact order.
///
/// Give it to a run with [`Runner::virtual_clock`](crate::Runner::virtual_clock), or write
/// `#[anyio::test(virtual_clock)]` (autojump with a threshold of 0). It is a shared handle:
/// clones control the same clock, and [`VirtualClock::current`] finds the clock of the
/// calling run.
///
/// ```
/// use std::time::Duration;
/// use anyio::{Runner, VirtualClock};
///
/// let clock = VirtualClock::new().autojump(Duration::ZERO);
/// let waited = Runner::default()
///     .virtual_clock(clock)
///     .run(async {
///         let start = anyio::current_time();
///         anyio::sleep(Duration::from_secs(3600)).await?;
///         Ok::<_, anyio::Cancelled>(anyio::current_time() - start)
///     })
///     .unwrap()
///     .unwrap();
/// assert_eq!(waited, Duration::from_secs(3600));
/// ```
///
/// # What follows it
///
/// A run started with [`Runner::virtual_clock`](crate::Runner::virtual_clock) reads and
/// waits on the virtual clock everywhere anyio reads or waits on time: [`current_time`],
/// [`sleep`], [`sleep_until`], the deadlines of cancel scopes ([`move_on_after`],
/// [`fail_after`], [`CancelScope::with_deadline`](crate::CancelScope::with_deadline)),
/// [`current_effective_deadline`](crate::current_effective_deadline), and hyper's timer
/// `AnyioTimer`. The clock lives in the run's runtime handle, so every task of the run, on
/// every worker thread, shares it. Code outside the run's tasks (a `to_thread` closure,
/// `std::thread::sleep`, a runtime's own timers such as `tokio::time::sleep`) keeps real
/// time.
///
/// # How it moves
///
/// - It starts, frozen, at the real time at which its run starts.
/// - [`advance`](VirtualClock::advance) jumps it forward and wakes every timer that became
///   due, in deadline order (ties in the order the timers started waiting). The woken tasks
///   then run in whatever order the scheduler picks, and all see the new time.
/// - With a [rate](VirtualClock::set_rate) above 0 it also runs by itself, that many virtual
///   seconds per real second.
/// - With [autojump](VirtualClock::autojump) on, the run's clock driver jumps it to the
///   earliest pending deadline once every task of the run has been blocked for the
///   threshold of real time, and wakes only the timers due at that deadline. The run then
///   proceeds until it is blocked again, so timers fire one deadline at a time, in exact
///   order, and code between them sees exact times.
///
/// # When autojump jumps (the I/O rule)
///
/// "Blocked" is what [`wait_all_tasks_blocked`](crate::wait_all_tasks_blocked) means by it:
/// no task of the run is running or ready to run. The driver jumps only after it has seen
/// the run blocked, then waited on a *real* timer for the threshold, then for one more turn
/// of the runtime's reactor, and seen the same blocked state again (no task polled or woken
/// in between, no timer registered, the clock not moved). A task waiting in
/// `wait_all_tasks_blocked` counts as busy here: it is about to run, and it goes first (as
/// in trio).
///
/// The reactor turn is what makes local I/O safe with a threshold of 0. The driver sends a
/// datagram to itself over a UNIX socket pair and waits until the reactor reports it. Bytes
/// sent over a loopback socket (or a pipe, or a UNIX socket) are in the peer's buffer when
/// the send returns, and the OS reports readiness in the order it arose, so the peer's task
/// is woken no later than the driver, which then sees it and does not jump. What a turn
/// cannot see is work that completes later in real time: a reply from another machine, a
/// subprocess, a thread of `to_thread`. The clock may jump past such work: give autojump a
/// threshold longer than that work takes (trio's advice too), or move the clock by hand.
///
/// A jump costs the threshold plus one reactor turn, a few microseconds (where UNIX
/// sockets are missing, a real millisecond stands in for the turn).
///
/// [`current_time`]: crate::current_time
/// [`sleep`]: crate::sleep
/// [`sleep_until`]: crate::sleep_until
/// [`move_on_after`]: crate::move_on_after
/// [`fail_after`]: crate::fail_after
#[derive(Clone, Default)]
pub struct VirtualClock {
    core: Arc<ClockCore>,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("now", &self.now())
            .field("rate", &self.rate())
            .field("autojump", &self.autojump_threshold())
            .finish()
    }
}

impl VirtualClock {
    /// A clock that stands still (rate 0) and does not autojump: it moves only by
    /// [`advance`](VirtualClock::advance). It starts at the real time at which its run
    /// starts; until then [`now`](VirtualClock::now) reads the real clock, plus whatever
    /// was advanced.
    pub fn new() -> Self {
        Self::default()
    }

    /// The virtual clock of the run that calls it, or `None` outside a run or in a run on
    /// real time.
    pub fn current() -> Option<VirtualClock> {
        context::with_task(|task| {
            task.and_then(|t| t.run.runtime.virtual_clock().cloned())
                .map(|core| VirtualClock { core })
        })
    }

    /// Turns autojump on: once every task of the run has been blocked for `threshold` of
    /// real time, the clock jumps to the earliest pending deadline. A threshold of 0 jumps
    /// as soon as the run is blocked (after one turn of the reactor: see the type's docs
    /// for what that means for I/O).
    pub fn autojump(self, threshold: Duration) -> Self {
        self.set_autojump(Some(threshold));
        self
    }

    /// Turns autojump on with `Some(threshold)` (see [`autojump`](VirtualClock::autojump))
    /// or off with `None`, also while a run uses the clock.
    pub fn set_autojump(&self, threshold: Option<Duration>) {
        self.core.set_autojump(threshold);
    }

    /// The autojump threshold, or `None` when autojump is off.
    pub fn autojump_threshold(&self) -> Option<Duration> {
        self.core.autojump()
    }

    /// Sets how many virtual seconds pass per real second: 0 (the default) freezes the
    /// clock, 1 runs it at real speed, 10 ten times faster. It applies from now on: time
    /// already passed stays as it is.
    ///
    /// # Errors
    ///
    /// [`VirtualClockError::InvalidRate`] for a negative, NaN or infinite rate; the rate
    /// stays as it was.
    pub fn set_rate(&self, rate: f64) -> Result<(), VirtualClockError> {
        if !rate.is_finite() || rate < 0.0 {
            return Err(VirtualClockError::InvalidRate(rate));
        }
        self.core.set_rate(rate);
        Ok(())
    }

    /// The rate: virtual seconds per real second.
    pub fn rate(&self) -> f64 {
        self.core.rate()
    }

    /// Moves the clock forward by `by`, and wakes every timer that became due, in deadline
    /// order (ties in the order they started waiting). Callable from any thread.
    ///
    /// # Errors
    ///
    /// [`VirtualClockError::Overflow`] if the new time does not fit `Instant`; the clock
    /// stays where it was.
    pub fn advance(&self, by: Duration) -> Result<(), VirtualClockError> {
        // Moving a clock is never refused for its use by a run: only for its range.
        self.core
            .advance(by)
            .map_err(|_| VirtualClockError::Overflow)
    }

    /// The clock's time: what [`current_time`](crate::current_time) returns inside its run.
    pub fn now(&self) -> Instant {
        self.core.now()
    }

    /// The shared state, for the runner.
    pub(crate) fn core(&self) -> &Arc<ClockCore> {
        &self.core
    }
}

/// Why a [`VirtualClock`] setting or move was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum VirtualClockError {
    /// A rate that is negative, NaN or infinite (the value given).
    InvalidRate(f64),
    /// A move past the end of what `std::time::Instant` can hold.
    Overflow,
}

impl fmt::Display for VirtualClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtualClockError::InvalidRate(rate) => write!(
                f,
                "invalid virtual clock rate {rate}: it must be a finite number of virtual \
                 seconds per real second, 0 or more"
            ),
            VirtualClockError::Overflow => {
                f.write_str("the virtual clock cannot move past the end of `Instant`")
            }
        }
    }
}

impl std::error::Error for VirtualClockError {}
