//! The driver of a run's virtual clock: a future spawned on the run's runtime (not an anyio
//! task, so introspection does not list it and `wait_all_tasks_blocked` does not wait for
//! it) that moves the clock when the clock's settings say so.
//!
//! Its loop, each step planned from the clock's state under its lock:
//! - With timers pending and autojump on: look at the run's tasks, wait on a *real* timer
//!   for the threshold (at least [`REACTOR_TURN`], so the reactor turns and reports I/O
//!   that is already complete), look again, and jump to the earliest deadline if both looks
//!   found every task blocked and nothing changed in between. The clock refuses the jump if
//!   anything changed since the plan (see `ClockCore::jump_to_next`).
//! - With a rate above 0: wake at the real time at which the clock reaches the earliest
//!   deadline, and fire the timers due then.
//! - Otherwise: wait until the clock changes (a timer registered, a setting changed).
//!
//! Every wait also ends when the clock changes, so a new earlier timer or a new setting is
//! planned for at once. The driver ends when its run finishes or stops using the clock.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use super::info;
use crate::backend::Runtime;
use crate::backend::virtual_clock::ClockCore;
use crate::context::RunCtx;

/// The shortest real wait before a jump: long enough that the backend's timer cannot fire
/// before its reactor has looked for I/O once more.
const REACTOR_TURN: Duration = Duration::from_micros(1);

/// Spawns the driver of `clock` for `run`.
pub(crate) fn spawn(run: &Arc<RunCtx>, clock: Arc<ClockCore>) {
    let runtime = run.runtime.clone();
    run.runtime
        .spawn(drive(Arc::downgrade(run), clock, runtime));
}

async fn drive(run: Weak<RunCtx>, clock: Arc<ClockCore>, runtime: Runtime) {
    loop {
        let plan = clock.plan();
        let Some(run) = run.upgrade().filter(|r| !plan.stopped && !r.is_finished()) else {
            return;
        };
        clock.fire_due();
        match (plan.next_deadline, plan.autojump) {
            (Some(_), Some(threshold)) => {
                let before = info::run_snapshot(&run);
                let idle = Instant::now().checked_add(threshold.max(REACTOR_TURN));
                let until = match (idle, plan.next_real) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                wait(&clock, &runtime, plan.generation, until).await;
                if before.is_some() && before == info::run_snapshot(&run) {
                    clock.jump_to_next(plan.generation);
                }
            }
            (Some(_), None) => {
                drop(run);
                wait(&clock, &runtime, plan.generation, plan.next_real).await;
            }
            (None, _) => {
                drop(run);
                wait(&clock, &runtime, plan.generation, None).await;
            }
        }
    }
}

/// Waits until the clock changes from `generation`, or until the real time `until`.
async fn wait(clock: &ClockCore, runtime: &Runtime, generation: u64, until: Option<Instant>) {
    let mut timer = pin!(until.map(|at| runtime.real_timer(at)));
    poll_fn(|cx| {
        if clock.poll_change(generation, cx).is_ready() {
            return Poll::Ready(());
        }
        match timer.as_mut().as_pin_mut() {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
}
