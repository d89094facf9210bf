//! Task introspection: which task is running, which tasks exist, and waiting until all
//! other tasks are blocked.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::cancel::checkpoint::checkpoint;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::cancel::node::{Node, TaskAt, TaskPlace};
use crate::context::{self, RunCtx, TaskData};

/// A task's identifier, unique within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    /// The identifier of the task whose `TaskData::id` is `id`.
    pub(crate) fn from_raw(id: u64) -> Self {
        TaskId(id)
    }

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

/// A snapshot of a task's identity, and a way to ask whether a cancellation is pending
/// for it ([`has_pending_cancellation`](TaskInfo::has_pending_cancellation)).
///
/// Two `TaskInfo`s are equal when their identity (id, parent and name) is, whatever the
/// task's cancellation state.
#[derive(Clone)]
pub struct TaskInfo {
    id: TaskId,
    parent_id: Option<TaskId>,
    name: String,
    /// Where the task was when this was taken, not kept alive: once the task has finished,
    /// nothing of it is pending.
    place: Place,
}

/// Where a [`TaskInfo`]'s task is found.
#[derive(Clone)]
enum Place {
    /// The task's root node.
    Root(Weak<Node>),
    /// A task not polled yet: its entry under its group's node, found there by key and
    /// id until it finishes (its first poll links its node in the entry's place).
    Pending { parent: Weak<Node>, key: usize },
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("parent_id", &self.parent_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TaskInfo {
    fn eq(&self, other: &TaskInfo) -> bool {
        (self.id, self.parent_id, &self.name) == (other.id, other.parent_id, &other.name)
    }
}

impl Eq for TaskInfo {}

impl TaskInfo {
    fn of(root: &Arc<Node>) -> TaskInfo {
        TaskInfo::at(TaskAt::Started(root, task_data(root)))
    }

    fn at(at: TaskAt<'_>) -> TaskInfo {
        match at {
            TaskAt::Started(root, task) => TaskInfo {
                id: TaskId(task.id),
                parent_id: task.parent_id().map(TaskId),
                name: task.name.as_str().to_owned(),
                place: Place::Root(Arc::downgrade(root)),
            },
            TaskAt::Pending { parent, key, task } => TaskInfo {
                id: TaskId(task.id),
                parent_id: Some(TaskId(task.parent_id)),
                name: task.name.as_str().to_owned(),
                place: Place::Pending {
                    parent: Arc::downgrade(parent),
                    key,
                },
            },
        }
    }

    /// Whether the task's next checkpoint would report a cancellation (AnyIO's
    /// `TaskInfo.has_pending_cancellation()`): `false` once the task has finished.
    ///
    /// For the calling task this is exact (see [`has_pending_cancellation`]). For another
    /// task it is what the scope tree knows: whether the innermost cancel scope the task is
    /// in is effectively cancelled. That is exact while the task waits (a waiting task's
    /// scopes are all in the tree); while it runs on another thread, a scope it entered and
    /// has not waited in yet is not seen.
    pub fn has_pending_cancellation(&self) -> bool {
        let root = match &self.place {
            Place::Root(root) => root.upgrade(),
            Place::Pending { parent, key } => {
                let Some(parent) = parent.upgrade() else {
                    return false;
                };
                match parent.member(*key, self.id.0) {
                    // Its first poll links it under its group with the group's state.
                    Some(TaskPlace::Pending) => return parent.is_cancelled(),
                    Some(TaskPlace::Started(root)) => Some(root),
                    None => None,
                }
            }
        };
        let Some(root) = root else {
            return false;
        };
        let current = current::with_current(|cur| cur.map(|c| Arc::ptr_eq(c.task(), &root)));
        if current == Some(true) {
            return current::is_cancelled();
        }
        // A finished task has left the tree (a run's root task stays in it until the run
        // has finished).
        let running = root.is_linked() && !task_data(&root).run.is_finished();
        running && root.innermost_cancelled()
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
    current::with_current(|cur| cur.map(|c| TaskInfo::of(c.task())))
}

/// Whether the calling code is effectively cancelled: exactly what its next checkpoint
/// would say (it returns [`Cancelled`] then). `false` outside any anyio task.
pub fn has_pending_cancellation() -> bool {
    current::is_cancelled()
}

/// The accessor of [`Cancelled`] that names a task type lives here, beside the task types,
/// since the cancel floor sits below them.
impl Cancelled {
    /// The id of the task that cancelled the scope (compare with
    /// [`TaskInfo::id`]); `None` for a deadline, a cancel called outside any anyio task
    /// (from a plain thread), or a cancellation without a cause.
    pub fn task_id(&self) -> Option<TaskId> {
        self.task_number().map(TaskId)
    }
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
    let root = context::with_task(|task| task.and_then(|t| current::run_root(&t.run)));
    if let Some(root) = root {
        root.walk_tasks(&mut |at| tasks.push(TaskInfo::at(at)));
    }
    tasks
}

/// Waits until every other task of the run is blocked, as a checkpoint.
///
/// "Blocked" means waiting for something outside the run's tasks' own progress: a timer,
/// I/O, a thread, or a lock, a channel or an event that only another blocked task could
/// release. A task is *ready to run* from the moment it is woken (or spawned) until its
/// next poll begins, and *running* while it is polled; this returns once no other task is
/// either, as seen in two consecutive looks at every task between which none of them
/// changed (so there was an instant when all were blocked at once, and then nothing but
/// the caller, or an event from outside, can wake one). That holds on every backend and
/// runtime flavour: a task another worker thread has not picked up yet is still ready to
/// run. It usually returns after two trips through the scheduler.
///
/// Tasks of the run are the run's root task and the tasks anyio starts (task groups,
/// `from_thread` and portal calls); futures spawned on the runtime directly are not seen.
/// Several tasks may wait here at once: to each of them, the others that wait here count
/// as blocked (as in trio).
///
/// # Errors
///
/// [`Cancelled`] if the calling code is cancelled while it waits.
///
/// # Cancel safety
///
/// Cancel safe.
pub async fn wait_all_tasks_blocked() -> Result<(), Cancelled> {
    let _waiting = current::with_current(|cur| cur.map(|c| WaitsForOthers::new(c.task())));
    let mut last = None;
    loop {
        checkpoint().await?;
        let now = snapshot();
        if now.is_some() && now == last {
            return Ok(());
        }
        last = now;
    }
}

/// Counts the calling task as waiting in [`wait_all_tasks_blocked`] while it lives.
struct WaitsForOthers(Arc<Node>);

impl WaitsForOthers {
    fn new(task: &Arc<Node>) -> Self {
        task_data(task).set_waits_for_others(true);
        WaitsForOthers(task.clone())
    }
}

impl Drop for WaitsForOthers {
    fn drop(&mut self) {
        task_data(&self.0).set_waits_for_others(false);
    }
}

fn task_data(task: &Node) -> &TaskData {
    task.task().expect("a task's root node carries task data")
}

/// The poll counters of every task that is not waiting in [`wait_all_tasks_blocked`]
/// itself, or `None` while one of them is running or ready to run. Each task's marks are
/// read before its counter: see [`TaskData::is_woken`].
fn snapshot() -> Option<Vec<(u64, u64)>> {
    let root = context::with_task(|task| task.and_then(|t| current::run_root(&t.run)));
    let mut polls = Vec::new();
    let mut busy = false;
    if let Some(root) = root {
        root.walk_tasks(&mut |at| match at {
            TaskAt::Started(_, t) if !t.waits_for_others() => look_at(t, &mut polls, &mut busy),
            TaskAt::Started(..) => {}
            // Not polled yet: ready to run.
            TaskAt::Pending { .. } => busy = true,
        });
    }
    polls.sort_unstable();
    (!busy).then_some(polls)
}

fn look_at(t: &TaskData, polls: &mut Vec<(u64, u64)>, busy: &mut bool) {
    let woken = t.is_woken();
    let n = t.polls();
    *busy |= woken || n % 2 == 1;
    polls.push((t.id, n));
}

/// The poll counters of every task of `run`, or `None` while one of them is running, ready
/// to run, or waiting in [`wait_all_tasks_blocked`] (which is about to return, and goes
/// before a jump of the virtual clock, as in trio). Two equal snapshots taken apart show
/// that no task ran or was woken in between (see [`TaskData::is_woken`]).
pub(crate) fn run_snapshot(run: &RunCtx) -> Option<Vec<(u64, u64)>> {
    let root = current::run_root(run)?;
    let mut polls = Vec::new();
    let mut busy = false;
    root.walk_tasks(&mut |at| match at {
        TaskAt::Started(_, t) => {
            busy |= t.waits_for_others();
            look_at(t, &mut polls, &mut busy);
        }
        // Not polled yet: ready to run.
        TaskAt::Pending { .. } => busy = true,
    });
    polls.sort_unstable();
    (!busy).then_some(polls)
}
