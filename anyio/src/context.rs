//! The run's and the task's context: which run and which task the calling code belongs to.
//!
//! This floor sits just above `backend/` and below everything that cancels, spawns or
//! blocks: it knows the runtime a run uses, the identity of each task, and which task is
//! being polled on this thread, and nothing about scopes, groups or threads. The floors
//! above keep their per-run state here as [`RunLocal`]s, so this module never names them.
//!
//! While a task is polled, a thread-local points at a [`Frame`] on the stack of that poll
//! (the technique of tokio's `task_local!`, which works on any executor): the task's data
//! and its cooperative budget. The cancel floor keeps its own thread-local beside it, the
//! chain of scopes the poll is inside.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use atomic_waker::AtomicWaker;

use crate::backend::{Runtime, virtual_clock};

/// State that a floor above keeps once per run, made on first use and told when the run
/// finishes (the run's default thread limiter, the calls other threads are blocked on).
pub(crate) trait RunLocal: Default + Send + Sync + 'static {
    /// Called once when the run finishes, or at once for a local made after that.
    fn run_finished(&self) {}
}

type AnyLocal = Arc<dyn Any + Send + Sync>;

/// One run-local: its type, its value, and the function that tells it the run finished.
#[derive(Clone)]
struct LocalEntry {
    type_id: TypeId,
    value: AnyLocal,
    finish: fn(&AnyLocal),
}

#[derive(Default)]
struct Locals {
    finished: bool,
    entries: Vec<LocalEntry>,
}

fn finish_local<T: RunLocal>(local: &AnyLocal) {
    if let Some(local) = local.downcast_ref::<T>() {
        local.run_finished();
    }
}

/// What a run shares between all of its tasks.
pub(crate) struct RunCtx {
    pub(crate) runtime: Runtime,
    finished: AtomicBool,
    locals: Mutex<Locals>,
}

impl std::fmt::Debug for RunCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCtx")
            .field("runtime", &self.runtime)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl RunCtx {
    pub(crate) fn new(runtime: Runtime) -> Arc<RunCtx> {
        Arc::new(RunCtx {
            runtime,
            finished: AtomicBool::new(false),
            locals: Mutex::new(Locals::default()),
        })
    }

    /// The run's `T`, made on first use.
    pub(crate) fn local<T: RunLocal>(&self) -> Arc<T> {
        let id = TypeId::of::<T>();
        let mut locals = self.locals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = locals.entries.iter().find(|e| e.type_id == id) {
            return entry
                .value
                .clone()
                .downcast()
                .expect("a local is stored under its type");
        }
        let local = Arc::new(T::default());
        if locals.finished {
            local.run_finished();
        }
        locals.entries.push(LocalEntry {
            type_id: id,
            value: local.clone(),
            finish: finish_local::<T>,
        });
        local
    }

    /// Marks the run finished (its root task completed or was dropped) and tells every
    /// local. Idempotent.
    pub(crate) fn finish(&self) {
        let entries = {
            let mut locals = self.locals.lock().unwrap_or_else(|e| e.into_inner());
            if locals.finished {
                return;
            }
            locals.finished = true;
            self.finished.store(true, SeqCst);
            locals.entries.clone()
        };
        for entry in &entries {
            (entry.finish)(&entry.value);
        }
    }

    /// Whether the run's root task has completed or been dropped.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(SeqCst)
    }
}

/// A task's name: the future's type name unless one is given.
#[derive(Clone, Debug)]
pub(crate) enum TaskName {
    Static(&'static str),
    Owned(Arc<str>),
}

impl TaskName {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            TaskName::Static(s) => s,
            TaskName::Owned(s) => s,
        }
    }
}

/// The identity of a task.
#[derive(Debug)]
pub(crate) struct TaskData {
    pub(crate) id: u64,
    /// 0 for none; changes when a task made by `start()` calls `started()`.
    parent_id: AtomicU64,
    pub(crate) name: TaskName,
    pub(crate) run: Arc<RunCtx>,
    /// Incremented when a poll of the task starts and when it ends: odd while running.
    polls: AtomicU64,
    /// Whether the task was woken since its last poll began (see [`TaskData::is_woken`]).
    woken: AtomicBool,
    /// The waker of the runtime's task that polls this one, registered when a poll ends
    /// waiting.
    waker: AtomicWaker,
    /// How many `wait_all_tasks_blocked` calls of this task are waiting.
    waits_for_others: AtomicU32,
}

/// A new task identity, unique within the process.
pub(crate) fn next_task_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

impl TaskData {
    pub(crate) fn new(name: TaskName, parent_id: Option<u64>, run: Arc<RunCtx>) -> TaskData {
        TaskData::with_id(next_task_id(), name, parent_id, run)
    }

    /// A task's data under an identity drawn already (by [`next_task_id`]).
    pub(crate) fn with_id(
        id: u64,
        name: TaskName,
        parent_id: Option<u64>,
        run: Arc<RunCtx>,
    ) -> TaskData {
        TaskData {
            id,
            parent_id: AtomicU64::new(parent_id.unwrap_or(0)),
            name,
            run,
            polls: AtomicU64::new(0),
            // A new task is ready to run.
            woken: AtomicBool::new(true),
            waker: AtomicWaker::new(),
            waits_for_others: AtomicU32::new(0),
        }
    }

    pub(crate) fn parent_id(&self) -> Option<u64> {
        Some(self.parent_id.load(SeqCst)).filter(|&id| id != 0)
    }

    pub(crate) fn set_parent_id(&self, id: u64) {
        self.parent_id.store(id, SeqCst);
    }

    /// The poll counter: odd while the task is being polled.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Acquire)
    }

    /// Whether the task is ready to run: woken (or new) and not polled since.
    ///
    /// The rule that makes this exact: a wake marks the task, then wakes the runtime's
    /// waker registered for it, if any; a poll makes its counter odd, then clears the mark,
    /// and when it ends waiting it wakes the runtime's waker itself if the mark is set
    /// again (a wake came while it ran), and otherwise registers that waker and looks at
    /// the mark once more, waking it if a wake came in between. So a marked task
    /// always has a poll coming, and a cleared mark, once seen, shows the counter of the
    /// poll that cleared it. Two looks at (mark, counter), the mark read first, that find
    /// the mark clear and the same even counter therefore show a task that was neither
    /// polled nor woken in between, by any wake that happened before the second look.
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Acquire)
    }

    /// Whether the task waits in `wait_all_tasks_blocked`: the other callers count it as
    /// blocked, as trio does, so that several can wait at once.
    pub(crate) fn waits_for_others(&self) -> bool {
        self.waits_for_others.load(Acquire) > 0
    }

    /// Counts a `wait_all_tasks_blocked` call of this task as waiting (`true`) or no longer.
    pub(crate) fn set_waits_for_others(&self, waits: bool) {
        if waits {
            self.waits_for_others.fetch_add(1, Release);
        } else {
            self.waits_for_others.fetch_sub(1, Release);
        }
    }

    /// Registers the runtime's waker (from `cx`) and says whether the task has been woken,
    /// or is new, since its last poll: for a future that its executor may poll without a
    /// wake, which must not count as the task running. Registered first, so that a wake
    /// after the check finds the waker.
    pub(crate) fn woken_since_last_poll(&self, cx: &Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.is_woken()
    }

    /// Wakes the task from any thread: marks it ready to run, then wakes the runtime's task
    /// that polls it. Aborting the task does this.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Release);
        self.waker.wake();
    }

    /// What the waker of the task's futures does. A task that wakes itself while it is
    /// polled on this thread (a yield) is only marked: the poll wakes the runtime's waker
    /// as it ends (see [`enter_task`]), which keeps the registered waker in place.
    pub(crate) fn wake_by_waker(&self) {
        let frame = FRAME.get();
        // SAFETY: see `with_task`.
        if !frame.is_null() && ptr::eq(unsafe { (*frame).task }, self) {
            self.woken.store(true, Release);
        } else {
            self.wake();
        }
    }
}

/// What a poll of a task returned: whether the task now waits.
pub(crate) trait TaskPoll {
    /// Whether the task returned `Pending`.
    fn is_pending(&self) -> bool;
}

impl<T> TaskPoll for Poll<T> {
    fn is_pending(&self) -> bool {
        Poll::is_pending(self)
    }
}

/// A poll whose panic was caught.
impl<T, E> TaskPoll for Result<Poll<T>, E> {
    fn is_pending(&self) -> bool {
        matches!(self, Ok(Poll::Pending))
    }
}

struct Frame {
    task: *const TaskData,
    /// Operations that may still complete without yielding in this poll (see
    /// [`poll_budget`]).
    budget: Cell<u32>,
}

/// How many operations that can complete at once a task may run in one poll before one of
/// them yields to the scheduler: a cooperative budget, as tokio's, so a task that only ever
/// sends into an unbounded stream still lets other tasks run.
const BUDGET: u32 = 128;

thread_local! {
    static FRAME: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Restores the previous frame pointer, also when a poll unwinds.
struct RestoreFrame(*const Frame);

impl Drop for RestoreFrame {
    fn drop(&mut self) {
        FRAME.set(self.0);
    }
}

/// Runs `poll` (a poll of `task`, by the runtime's task whose context is `cx`) with `task`
/// installed as the current one on this thread, and keeps the task's wake state (see
/// [`TaskData::is_woken`]): the poll clears the mark as it starts; when it ends waiting,
/// `cx`'s waker is woken at once if the task was woken meanwhile, and registered otherwise.
#[inline]
pub(crate) fn enter_task<P: TaskPoll>(
    task: &TaskData,
    cx: &mut Context<'_>,
    poll: impl FnOnce() -> P,
) -> P {
    let frame = Frame {
        task,
        budget: Cell::new(BUDGET),
    };
    // Only the thread polling the task writes the counter, so a load and a store suffice.
    task.polls.store(task.polls.load(Relaxed) + 1, Release);
    task.woken.store(false, Release);
    let out = {
        let _restore = RestoreFrame(FRAME.replace(&frame));
        poll()
    };
    task.polls.store(task.polls.load(Relaxed) + 1, Release);
    if out.is_pending() {
        if task.is_woken() {
            // Woken while it ran (a yield, or a wake from elsewhere): the runtime's task is
            // scheduled again at once, and that poll sees every wake made before it starts,
            // so the waker need not be registered again: a yield costs no atomic
            // read-modify-write here. The runtime's waker of a task never changes, so the
            // one registered by an earlier poll (if any) is still the right one.
            cx.waker().wake_by_ref();
        } else {
            task.waker.register(cx.waker());
            if task.is_woken() {
                // Woken between the check and the registration, by a wake that may have
                // found no waker registered.
                cx.waker().wake_by_ref();
            }
        }
    }
    out
}

/// Calls `f` with the task being polled on this thread, or `None` outside any anyio task.
pub(crate) fn with_task<R>(f: impl FnOnce(Option<&TaskData>) -> R) -> R {
    let frame = FRAME.get();
    if frame.is_null() {
        return f(None);
    }
    // SAFETY: a non-null FRAME points at a `Frame` on the stack of a poll that encloses
    // this call (`enter_task` installs it and restores the previous pointer before its
    // stack frame ends, unwinding included), and its `task` outlives that poll.
    f(Some(unsafe { &*(*frame).task }))
}

/// Whether this thread is polling an anyio task right now.
pub(crate) fn in_task() -> bool {
    !FRAME.get().is_null()
}

/// Spends one unit of the current task's cooperative budget: `Ready` while some is left,
/// otherwise wakes the task and returns `Pending` (the next poll of the task has a fresh
/// budget). Outside any anyio task nothing is budgeted.
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    let frame = FRAME.get();
    if frame.is_null() {
        return Poll::Ready(());
    }
    // SAFETY: see `with_task`.
    let budget = unsafe { &(*frame).budget };
    match budget.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        n => {
            budget.set(n - 1);
            Poll::Ready(())
        }
    }
}

/// The run's clock (its virtual clock, if it has one), read without cloning the runtime
/// handle.
///
/// Inline, because every timeout reads it when it is made (trio's rule: the deadline is
/// fixed then): inside a task of a process without virtual clocks it is two loads and the
/// backend's clock, with no call of its own and no `Option` to unpack.
#[inline]
pub(crate) fn now() -> Instant {
    if !virtual_clock::any_in_use() {
        // Tested first, so that a process without virtual clocks does not even look at
        // the task's clock (see `Runtime::now`).
        let frame = FRAME.get();
        if !frame.is_null() {
            // SAFETY: see `with_task`.
            return unsafe { &*(*frame).task }.run.runtime.real_now();
        }
    }
    now_elsewhere()
}

/// [`now`] with a virtual clock in the process, or outside any anyio task.
#[inline(never)]
fn now_elsewhere() -> Instant {
    if !virtual_clock::any_in_use() {
        return Runtime::detect()
            .map(|rt| rt.real_now())
            .unwrap_or_else(Instant::now);
    }
    with_task(|task| task.map(|t| t.run.runtime.now()))
        .or_else(|| Runtime::detect().map(|rt| rt.now()))
        .unwrap_or_else(Instant::now)
}

/// Calls `f` with the runtime of the current task, else the one detected on this thread,
/// without cloning the handle (what reading the clock or making a timer needs); `None`
/// outside any runtime.
pub(crate) fn with_runtime<R>(f: impl FnOnce(&Runtime) -> R) -> Option<R> {
    with_task(|task| match task {
        Some(t) => Some(f(&t.run.runtime)),
        None => Runtime::detect().as_ref().map(f),
    })
}

/// The runtime of the current task, else the one detected on this thread.
pub(crate) fn current_runtime() -> Option<Runtime> {
    with_task(|task| match task {
        Some(t) => Some(t.run.runtime.clone()),
        None => Runtime::detect(),
    })
}
