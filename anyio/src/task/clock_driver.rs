//! The driver of a run's virtual clock: a future spawned on the run's runtime (not an anyio
//! task, so introspection does not list it and `wait_all_tasks_blocked` does not wait for
//! it) that moves the clock when the clock's settings say so.
//!
//! Its loop, each step planned from the clock's state under its lock:
//! - With timers pending and autojump on: look at the run's tasks, wait on a *real* timer
//!   for the threshold, then for one turn of the runtime's reactor (see
//!   `backend::reactor_turn`: I/O already complete is reported, and its task woken, by
//!   then), look again, and jump to the earliest deadline if both looks found every task
//!   blocked and nothing changed in between. The clock refuses the jump if anything
//!   changed since the plan (see `ClockCore::jump_to_next`).
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
#[cfg(unix)]
use crate::backend::reactor_turn::ReactorTurn;
use crate::backend::virtual_clock::ClockCore;
use crate::context::RunCtx;

/// Where no reactor turn can be waited for (no UNIX sockets, or none could be made), the
/// real wait before a jump: at least a turn of most reactors' timers.
const FALLBACK_TURN: Duration = Duration::from_millis(1);

#[cfg(not(unix))]
struct ReactorTurn;

#[cfg(not(unix))]
impl ReactorTurn {
    fn poll_turn(&mut self, _: &mut std::task::Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

fn reactor_turn(runtime: &Runtime) -> Option<ReactorTurn> {
    #[cfg(unix)]
    return ReactorTurn::new(runtime).ok();
    #[cfg(not(unix))]
    {
        let _ = runtime;
        None
    }
}

/// Spawns the driver of `clock` for `run`.
pub(crate) fn spawn(run: &Arc<RunCtx>, clock: Arc<ClockCore>) {
    let runtime = run.runtime.clone();
    run.runtime
        .spawn(drive(Arc::downgrade(run), clock, runtime));
}

async fn drive(run: Weak<RunCtx>, clock: Arc<ClockCore>, runtime: Runtime) {
    let mut turn = None;
    loop {
        let plan = clock.plan();
        let Some(run) = run.upgrade().filter(|r| !plan.stopped && !r.is_finished()) else {
            return;
        };
        clock.fire_due();
        match (plan.next_deadline, plan.autojump) {
            (Some(_), Some(threshold)) => {
                let before = info::run_snapshot(&run);
                if !threshold.is_zero() {
                    let idle = Instant::now().checked_add(threshold);
                    let until = match (idle, plan.next_real) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    wait(&clock, &runtime, plan.generation, until, None).await;
                }
                if turn.is_none() {
                    turn = reactor_turn(&runtime);
                }
                let until = match turn {
                    Some(_) => None,
                    None => Instant::now().checked_add(FALLBACK_TURN),
                };
                wait(&clock, &runtime, plan.generation, until, turn.as_mut()).await;
                if before.is_some() && before == info::run_snapshot(&run) {
                    clock.jump_to_next(plan.generation);
                }
            }
            (Some(_), None) => {
                drop(run);
                wait(&clock, &runtime, plan.generation, plan.next_real, None).await;
            }
            (None, _) => {
                drop(run);
                wait(&clock, &runtime, plan.generation, None, None).await;
            }
        }
    }
}

/// Waits until the clock changes from `generation`, until the real time `until`, or until
/// the reactor has turned.
async fn wait(
    clock: &ClockCore,
    runtime: &Runtime,
    generation: u64,
    until: Option<Instant>,
    mut turn: Option<&mut ReactorTurn>,
) {
    let mut timer = pin!(until.map(|at| runtime.real_timer(at)));
    poll_fn(|cx| {
        if clock.poll_change(generation, cx).is_ready() {
            return Poll::Ready(());
        }
        if let Some(turn) = turn.as_deref_mut() {
            if turn.poll_turn(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        match timer.as_mut().as_pin_mut() {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
}
