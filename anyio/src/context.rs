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
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use atomic_waker::AtomicWaker;

use crate::backend::Runtime;

/// State that a floor above keeps once per run, made on first use and told when the run
/// finishes (the run's default thread limiter, the calls other threads are blocked on).
pub(crate) trait RunLocal: Default + Send + Sync + 'static {
    /// Called once when the run finishes, or at once for a local made after that.
    fn run_finished(&self) {}
}

type AnyLocal = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
struct Locals {
    finished: bool,
    /// Each local with the function that tells it the run finished.
    entries: Vec<(TypeId, AnyLocal, fn(&AnyLocal))>,
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
        if let Some((_, local, _)) = locals.entries.iter().find(|(t, _, _)| *t == id) {
            return local
                .clone()
                .downcast()
                .expect("a local is stored under its type");
        }
        let local = Arc::new(T::default());
        if locals.finished {
            local.run_finished();
        }
        locals
            .entries
            .push((id, local.clone() as AnyLocal, finish_local::<T>));
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
        for (_, local, finish) in &entries {
            finish(local);
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
    /// The task's own waker, used to abort it.
    waker: AtomicWaker,
}

fn next_task_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

impl TaskData {
    pub(crate) fn new(name: TaskName, parent_id: Option<u64>, run: Arc<RunCtx>) -> TaskData {
        TaskData {
            id: next_task_id(),
            parent_id: AtomicU64::new(parent_id.unwrap_or(0)),
            name,
            run,
            polls: AtomicU64::new(0),
            waker: AtomicWaker::new(),
        }
    }

    pub(crate) fn parent_id(&self) -> Option<u64> {
        Some(self.parent_id.load(SeqCst)).filter(|&id| id != 0)
    }

    pub(crate) fn set_parent_id(&self, id: u64) {
        self.parent_id.store(id, SeqCst);
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(SeqCst)
    }

    /// Remembers the task's waker so the task can be aborted; cheap when it is unchanged.
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    pub(crate) fn wake(&self) {
        self.waker.wake();
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

/// Runs `f` (a poll of `task`) with `task` installed as the current one on this thread.
pub(crate) fn enter_task<R>(task: &TaskData, f: impl FnOnce() -> R) -> R {
    let frame = Frame {
        task,
        budget: Cell::new(BUDGET),
    };
    let _restore = RestoreFrame(FRAME.replace(&frame));
    // Only the thread polling the task writes the counter, so a load and a store suffice.
    task.polls.store(task.polls.load(Relaxed) + 1, Relaxed);
    let out = f();
    task.polls.store(task.polls.load(Relaxed) + 1, Relaxed);
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

/// The backend's clock, read without cloning the runtime handle.
pub(crate) fn now() -> Instant {
    with_task(|task| task.map(|t| t.run.runtime.now()))
        .or_else(|| Runtime::detect().map(|rt| rt.now()))
        .unwrap_or_else(Instant::now)
}

/// The runtime of the current task, else the one detected on this thread.
pub(crate) fn current_runtime() -> Option<Runtime> {
    with_task(|task| match task {
        Some(t) => Some(t.run.runtime.clone()),
        None => Runtime::detect(),
    })
}
