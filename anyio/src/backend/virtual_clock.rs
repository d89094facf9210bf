//! The virtual clock's state and its timers: what `Runtime::now` and `Runtime::timer` use
//! instead of the runtime's clock when a run has a virtual clock.
//!
//! Virtual time is a line through a point: `virtual = base + (real - anchor) * rate`. Every
//! change (a jump, a new rate, the start of a run) first moves the point to "now", so
//! virtual time never goes back and a rate applies from the moment it is set. With rate 0
//! (the default) the clock reads `base` and never looks at the real clock.
//!
//! Timers wait in one ordered map keyed by (deadline, registration number), so the clock
//! wakes them exactly in deadline order, ties in the order they were registered. A timer
//! is registered when it is first polled and not yet due, keeps its key while it is polled
//! again (so re-polling does not lose its place among equal deadlines), and leaves the map
//! when it fires, is reset or is dropped. The clock itself never waits: moving it (by
//! [`ClockCore::advance`], [`ClockCore::jump_to_next`] or, at a rate above 0, by
//! [`ClockCore::fire_due`] once real time has passed) wakes the timers that became due.
//! Deciding *when* to move it is the job of the run's clock driver, above this floor.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How many runs of the process use a virtual clock right now. While none does, reading
/// the clock costs one test of this counter more than the real clock (see
/// `Runtime::now`). A run's clock is counted before its runtime starts and uncounted after
/// it has stopped, so every task of such a run sees the count above 0.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Whether any run of the process uses a virtual clock.
#[inline]
pub(crate) fn any_in_use() -> bool {
    IN_USE.load(Relaxed) != 0
}

/// The shared state of one virtual clock.
#[derive(Debug, Default)]
pub(crate) struct ClockCore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Where the line passes through: `None` until a run first starts the clock.
    line: Option<Line>,
    /// Jumps made before the clock was started, added to the real time at its start.
    advanced_before_start: Duration,
    /// Virtual seconds per real second: finite, 0 or more.
    rate: f64,
    /// Whether the driver jumps to the next deadline once the run is blocked, and after how
    /// much real idle time.
    autojump: Option<Duration>,
    /// Pending timers by (deadline, registration number).
    timers: BTreeMap<(Instant, u64), Waker>,
    next_key: u64,
    /// Counts every change the driver must look at (a timer, a jump, a setting, a stop).
    generation: u64,
    /// The driver's waker while it waits for a change.
    driver: Option<Waker>,
    /// Whether a run is using the clock.
    in_use: bool,
}

#[derive(Clone, Copy, Debug)]
struct Line {
    base: Instant,
    anchor: Instant,
}

/// What the driver needs to know to decide its next step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// The earliest pending deadline.
    pub(crate) next_deadline: Option<Instant>,
    /// The real time at which the clock reaches `next_deadline` by itself (rate above 0).
    pub(crate) next_real: Option<Instant>,
    /// The autojump threshold, if autojump is on.
    pub(crate) autojump: Option<Duration>,
    /// The generation the plan was made at.
    pub(crate) generation: u64,
    /// Whether the run has stopped using the clock.
    pub(crate) stopped: bool,
}

/// Why a clock cannot be moved or started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoreError {
    /// The new time is past the end of `Instant`.
    Overflow,
    /// Another run uses the clock.
    InUse,
}

impl State {
    fn now_at(&self, real: Instant) -> Instant {
        let Some(line) = self.line else {
            return real + self.advanced_before_start;
        };
        if self.rate == 0.0 {
            return line.base;
        }
        let elapsed = real.saturating_duration_since(line.anchor).as_secs_f64() * self.rate;
        let step = Duration::try_from_secs_f64(elapsed).unwrap_or(Duration::MAX);
        line.base
            .checked_add(step)
            .unwrap_or_else(|| last_instant(line.base))
    }

    fn now(&self) -> Instant {
        match self.line {
            // Frozen: no need to read the real clock.
            Some(line) if self.rate == 0.0 => line.base,
            _ => self.now_at(Instant::now()),
        }
    }

    /// Moves the line's point to the present, so a change applies from now on.
    fn rebase(&mut self) {
        if self.line.is_some() {
            let real = Instant::now();
            let base = self.now_at(real);
            self.line = Some(Line { base, anchor: real });
        }
    }

    /// Sets virtual now to `to` (never earlier than it is).
    fn set_now(&mut self, to: Instant) {
        self.rebase();
        if let Some(line) = &mut self.line {
            line.base = line.base.max(to);
        }
    }

    /// Removes the timers that are due, in deadline order.
    fn take_due(&mut self) -> Vec<Waker> {
        let now = self.now();
        let mut due = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }

    fn changed(&mut self) -> Option<Waker> {
        self.generation = self.generation.wrapping_add(1);
        self.driver.take()
    }
}

/// The latest instant after `from` that `Instant` can hold, to a second: where a clock
/// that runs past the end of `Instant` stops.
fn last_instant(from: Instant) -> Instant {
    let mut last = from;
    let mut step = Duration::MAX;
    while step >= Duration::from_secs(1) {
        if let Some(later) = last.checked_add(step) {
            last = later;
        } else {
            step /= 2;
        }
    }
    last
}

fn wake_all(wakers: Vec<Waker>, driver: Option<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
    if let Some(driver) = driver {
        driver.wake();
    }
}

impl ClockCore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements: a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock's time. Kept out of line: the real-time path of `Runtime::now` stays small.
    #[inline(never)]
    pub(crate) fn now(&self) -> Instant {
        self.lock().now()
    }

    /// Starts the clock for a run: the first start sets it to the real time plus what was
    /// advanced before. A clock in use by another run is an error.
    pub(crate) fn start(&self) -> Result<(), CoreError> {
        let mut state = self.lock();
        if state.in_use {
            return Err(CoreError::InUse);
        }
        if state.line.is_none() {
            let real = Instant::now();
            let base = real
                .checked_add(state.advanced_before_start)
                .unwrap_or_else(|| last_instant(real));
            state.line = Some(Line { base, anchor: real });
        }
        state.in_use = true;
        IN_USE.fetch_add(1, Relaxed);
        let driver = state.changed();
        drop(state);
        wake_all(Vec::new(), driver);
        Ok(())
    }

    /// The run has ended: the clock may serve another run, and the driver stops.
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        if state.in_use {
            IN_USE.fetch_sub(1, Relaxed);
        }
        state.in_use = false;
        let driver = state.changed();
        drop(state);
        wake_all(Vec::new(), driver);
    }

    /// Moves the clock forward by `by` and wakes the timers that became due.
    pub(crate) fn advance(&self, by: Duration) -> Result<(), CoreError> {
        let mut state = self.lock();
        match state.line {
            None => {
                state.advanced_before_start = state
                    .advanced_before_start
                    .checked_add(by)
                    .ok_or(CoreError::Overflow)?;
            }
            Some(_) => {
                state.rebase();
                let line = state.line.as_mut().expect("checked above");
                line.base = line.base.checked_add(by).ok_or(CoreError::Overflow)?;
            }
        }
        let due = state.take_due();
        let driver = state.changed();
        drop(state);
        wake_all(due, driver);
        Ok(())
    }

    /// Sets the rate (already checked: finite, 0 or more).
    pub(crate) fn set_rate(&self, rate: f64) {
        let mut state = self.lock();
        state.rebase();
        state.rate = rate;
        let driver = state.changed();
        drop(state);
        wake_all(Vec::new(), driver);
    }

    pub(crate) fn rate(&self) -> f64 {
        self.lock().rate
    }

    pub(crate) fn set_autojump(&self, threshold: Option<Duration>) {
        let mut state = self.lock();
        state.autojump = threshold;
        let driver = state.changed();
        drop(state);
        wake_all(Vec::new(), driver);
    }

    pub(crate) fn autojump(&self) -> Option<Duration> {
        self.lock().autojump
    }

    /// Jumps to the earliest pending deadline, if it is ahead, and wakes the timers due
    /// then. Does nothing if the generation moved on since `generation` (something changed
    /// after the caller decided to jump).
    pub(crate) fn jump_to_next(&self, generation: u64) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        let Some(&(deadline, _)) = state.timers.keys().next() else {
            return;
        };
        state.set_now(deadline);
        let due = state.take_due();
        let driver = state.changed();
        drop(state);
        wake_all(due, driver);
    }

    /// Wakes the timers that are due now (at a rate above 0, real time moves the clock).
    pub(crate) fn fire_due(&self) {
        let mut state = self.lock();
        let due = state.take_due();
        drop(state);
        wake_all(due, None);
    }

    /// What the driver should do next.
    pub(crate) fn plan(&self) -> Plan {
        let state = self.lock();
        let next_deadline = state.timers.keys().next().map(|&(d, _)| d);
        let next_real = match (next_deadline, state.line) {
            (Some(deadline), Some(line)) if state.rate > 0.0 => {
                let now = state.now();
                let ahead = deadline.saturating_duration_since(now).as_secs_f64() / state.rate;
                Some(
                    Duration::try_from_secs_f64(ahead)
                        .ok()
                        .and_then(|d| Instant::now().checked_add(d))
                        .unwrap_or_else(|| last_instant(line.anchor)),
                )
            }
            _ => None,
        };
        Plan {
            next_deadline,
            next_real,
            autojump: state.autojump,
            generation: state.generation,
            stopped: !state.in_use,
        }
    }

    /// Ready once the generation differs from `generation`; otherwise keeps `cx`'s waker
    /// to be woken at the next change.
    pub(crate) fn poll_change(&self, generation: u64, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.generation != generation {
            return Poll::Ready(());
        }
        match &mut state.driver {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// How many timers are pending.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.lock().timers.len()
    }
}

/// A timer on a virtual clock.
#[derive(Debug)]
pub(crate) struct VirtualTimer {
    clock: Arc<ClockCore>,
    deadline: Instant,
    /// The registration number, once registered.
    key: Option<u64>,
}

impl VirtualTimer {
    pub(crate) fn new(clock: Arc<ClockCore>, deadline: Instant) -> Self {
        VirtualTimer {
            clock,
            deadline,
            key: None,
        }
    }

    /// Moves the timer to `deadline`: it registers again, behind the timers already
    /// waiting for the same deadline.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = deadline;
    }

    fn unregister(&mut self) {
        if let Some(key) = self.key.take() {
            self.clock.lock().timers.remove(&(self.deadline, key));
        }
    }
}

impl Future for VirtualTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.clock.lock();
        if state.now() >= this.deadline {
            if let Some(key) = this.key.take() {
                state.timers.remove(&(this.deadline, key));
            }
            return Poll::Ready(());
        }
        let driver = match this.key {
            Some(key) => {
                match state.timers.get_mut(&(this.deadline, key)) {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    Some(w) => *w = cx.waker().clone(),
                    // Fired, so due: only a clock that went back could get here, and none
                    // does. Register again rather than never wake.
                    None => {
                        state
                            .timers
                            .insert((this.deadline, key), cx.waker().clone());
                    }
                }
                None
            }
            None => {
                let key = state.next_key;
                state.next_key += 1;
                state
                    .timers
                    .insert((this.deadline, key), cx.waker().clone());
                this.key = Some(key);
                state.changed()
            }
        };
        drop(state);
        if let Some(driver) = driver {
            driver.wake();
        }
        Poll::Pending
    }
}

impl Drop for VirtualTimer {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Order {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
        count: AtomicUsize,
    }

    impl Wake for Order {
        fn wake(self: Arc<Self>) {
            self.count.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push(self.id);
        }
    }

    fn poll_timer(timer: &mut VirtualTimer, waker: &Waker) -> Poll<()> {
        Pin::new(timer).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn advance_wakes_in_deadline_then_registration_order() {
        let clock = Arc::new(ClockCore::default());
        clock.start().unwrap();
        let t0 = clock.now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let delays = [3, 1, 2, 1, 5];
        let mut timers: Vec<VirtualTimer> = delays
            .iter()
            .map(|&s| VirtualTimer::new(clock.clone(), t0 + Duration::from_secs(s)))
            .collect();
        for (id, timer) in timers.iter_mut().enumerate() {
            let waker = Waker::from(Arc::new(Order {
                id,
                log: log.clone(),
                count: AtomicUsize::new(0),
            }));
            assert!(poll_timer(timer, &waker).is_pending());
        }
        clock.advance(Duration::from_secs(3)).unwrap();
        assert_eq!(*log.lock().unwrap(), [1, 3, 2, 0]);
        assert_eq!(clock.now(), t0 + Duration::from_secs(3));
        assert_eq!(clock.pending(), 1);
        drop(timers);
        assert_eq!(clock.pending(), 0);
    }

    #[test]
    fn jump_goes_to_the_next_deadline_only() {
        let clock = Arc::new(ClockCore::default());
        clock.start().unwrap();
        let t0 = clock.now();
        let mut a = VirtualTimer::new(clock.clone(), t0 + Duration::from_secs(7));
        let mut b = VirtualTimer::new(clock.clone(), t0 + Duration::from_secs(9));
        let waker = Waker::noop();
        assert!(poll_timer(&mut a, waker).is_pending());
        assert!(poll_timer(&mut b, waker).is_pending());
        clock.jump_to_next(clock.plan().generation);
        assert_eq!(clock.now(), t0 + Duration::from_secs(7));
        assert!(poll_timer(&mut a, waker).is_ready());
        assert!(poll_timer(&mut b, waker).is_pending());
    }

    #[test]
    fn a_stale_jump_does_nothing() {
        let clock = Arc::new(ClockCore::default());
        clock.start().unwrap();
        let t0 = clock.now();
        let mut a = VirtualTimer::new(clock.clone(), t0 + Duration::from_secs(1));
        assert!(poll_timer(&mut a, Waker::noop()).is_pending());
        let generation = clock.plan().generation;
        clock.set_autojump(None);
        clock.jump_to_next(generation);
        assert_eq!(clock.now(), t0);
    }

    #[test]
    fn a_second_start_while_in_use_fails_and_advance_overflow_is_an_error() {
        let clock = ClockCore::default();
        clock.start().unwrap();
        assert_eq!(clock.start(), Err(CoreError::InUse));
        clock.stop();
        clock.start().unwrap();
        assert_eq!(clock.advance(Duration::MAX), Err(CoreError::Overflow));
    }

    #[test]
    fn a_huge_rate_stops_at_the_end_of_instant() {
        let clock = ClockCore::default();
        clock.start().unwrap();
        clock.set_rate(f64::MAX);
        std::thread::sleep(Duration::from_millis(1));
        let end = clock.now();
        assert!(end.checked_add(Duration::from_secs(2)).is_none());
    }
}
