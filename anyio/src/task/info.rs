//! Task introspection: which task is running, which tasks exist, and waiting until all
//! other tasks are blocked.

use std::fmt;
use std::time::{Duration, Instant};

use crate::cancel::checkpoint::checkpoint;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::cancel::node::Node;
use crate::context::{self, TaskData};

/// A task's identifier, unique within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    /// The identifier as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A snapshot of a task's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    id: TaskId,
    parent_id: Option<TaskId>,
    name: String,
}

impl TaskInfo {
    fn of(task: &TaskData) -> TaskInfo {
        TaskInfo {
            id: TaskId(task.id),
            parent_id: task.parent_id().map(TaskId),
            name: task.name.as_str().to_owned(),
        }
    }

    /// The task's identifier.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task whose group this task runs in (the group's host task); `None` for the root
    /// task of a run. For a task made by `start()`, the caller of `start()` until the task
    /// calls `started()`.
    pub fn parent_id(&self) -> Option<TaskId> {
        self.parent_id
    }

    /// The task's name: given with [`TaskGroup::named`](crate::TaskGroup::named), else the
    /// type name of its future; `"main"` for the root task of a run.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The task that calls it, or `None` outside any anyio task or scope.
pub fn get_current_task() -> Option<TaskInfo> {
    current::with_current(|cur| cur.map(|c| TaskInfo::of(c.task_data())))
}

/// The identifier of the task that calls it, or `None` outside any anyio task: what
/// [`get_current_task`] says, without copying the task's name.
pub(crate) fn current_task_id() -> Option<TaskId> {
    current::with_current(|cur| cur.map(|c| TaskId(c.task_data().id)))
}

/// Every task of the current run that has not finished, the calling one included; empty
/// outside a run.
pub fn get_running_tasks() -> Vec<TaskInfo> {
    let mut tasks = Vec::new();
    each_task(&mut |t| tasks.push(TaskInfo::of(t)));
    tasks
}

fn each_task(f: &mut dyn FnMut(&TaskData)) {
    let root = context::with_task(|task| task.and_then(|t| current::run_root(&t.run)));
    if let Some(root) = root {
        root.walk(&mut |n: &Node| {
            if let Some(task) = n.task() {
                f(task);
            }
        });
    }
}

/// How many consecutive scheduler rounds every other task must stay idle.
const QUIET_ROUNDS: u32 = 3;
/// How long (wall time) every other task must stay idle: on a multi-threaded runtime, a
/// task another worker is about to poll must get the chance to show it.
const QUIET_TIME: Duration = Duration::from_millis(1);

/// Waits until every other task of the run is blocked, as a checkpoint.
///
/// "Blocked" means waiting for something outside the run's tasks' own progress: a timer,
/// I/O, a lock or a channel. This returns once every other task of the run has been polled
/// at least once, none is being polled, and none has been polled while the caller yielded
/// to the scheduler for several consecutive rounds and at least a millisecond. On a
/// multi-threaded runtime that is a heuristic: a task woken (by a timer or I/O) but not yet
/// picked up by a worker within that time looks blocked. In tests that coordinate tasks
/// through anyio primitives it is exact enough to wait for "everyone is now waiting".
///
/// # Errors
///
/// [`Cancelled`] if the calling code is cancelled while it waits.
///
/// # Cancel safety
///
/// Cancel safe.
pub async fn wait_all_tasks_blocked() -> Result<(), Cancelled> {
    let me = get_current_task().map(|t| t.id.0);
    let mut quiet_rounds = 0;
    let mut quiet_since = Instant::now();
    let mut last = snapshot(me);
    loop {
        checkpoint().await?;
        let now = snapshot(me);
        if now.is_some() && now == last {
            quiet_rounds += 1;
            if quiet_rounds >= QUIET_ROUNDS && quiet_since.elapsed() >= QUIET_TIME {
                return Ok(());
            }
        } else {
            quiet_rounds = 0;
            quiet_since = Instant::now();
            last = now;
        }
    }
}

/// The poll counters of every task but `me`, or `None` while some task is being polled or
/// has never been polled (it is ready to run, not blocked).
fn snapshot(me: Option<u64>) -> Option<Vec<(u64, u64)>> {
    let mut polls = Vec::new();
    let mut busy = false;
    each_task(&mut |t| {
        if Some(t.id) != me {
            let n = t.polls();
            busy |= n == 0 || n % 2 == 1;
            polls.push((t.id, n));
        }
    });
    polls.sort_unstable();
    (!busy).then_some(polls)
}
