//! The per-task context: which task is being polled on this thread, and which cancel
//! scope is its innermost.
//!
//! Every task anyio runs is wrapped so that, while it is polled, a thread-local points at a
//! [`Frame`] on the stack of that poll: the task's root node and a chain of [`Entry`]s, one
//! per scope the poll is currently inside. A scope's future pushes an entry for the
//! duration of polling its body and pops it after, so the chain mirrors the nesting of the
//! futures themselves and is LIFO by construction. This is the technique of tokio's
//! `task_local!`, and it works on any executor.
//!
//! The frame and its entries live on the stack, so no allocation or reference counting
//! happens per poll; the raw pointers to them are valid exactly while they are installed.

use std::cell::{Cell, OnceCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use atomic_waker::AtomicWaker;

use super::error::Cancelled;
use super::node::Node;
use crate::CapacityLimiter;
use crate::backend::Runtime;

/// What a run shares between all of its tasks.
#[derive(Debug)]
pub(crate) struct RunCtx {
    pub(crate) runtime: Runtime,
    /// The run's root task, the top of the tree that introspection walks.
    root: OnceLock<Weak<Node>>,
    /// The run's default thread limiter, made on first use.
    thread_limiter: OnceLock<Arc<CapacityLimiter>>,
    /// The calls other threads are blocked on (`from_thread`, portals), failed when the
    /// run finishes.
    pub(crate) calls: crate::thread::bridge::Calls,
}

impl RunCtx {
    pub(crate) fn new(runtime: Runtime) -> Arc<RunCtx> {
        Arc::new(RunCtx {
            runtime,
            root: OnceLock::new(),
            thread_limiter: OnceLock::new(),
            calls: Default::default(),
        })
    }

    /// Marks the run finished (its root task completed or was dropped): every thread still
    /// blocked on a call into it gets an error, and later calls fail at once. Idempotent.
    pub(crate) fn finish(&self) {
        self.calls.finish();
    }

    /// Whether the run's root task has completed or been dropped.
    pub(crate) fn is_finished(&self) -> bool {
        self.calls.is_finished()
    }

    /// The run's default limiter for `to_thread::run_sync`.
    pub(crate) fn thread_limiter(&self) -> Arc<CapacityLimiter> {
        self.thread_limiter
            .get_or_init(|| {
                Arc::new(
                    CapacityLimiter::new(crate::thread::to_thread::DEFAULT_THREAD_LIMIT)
                        .expect("the default thread limit is valid"),
                )
            })
            .clone()
    }

    pub(crate) fn root(&self) -> Option<Arc<Node>> {
        self.root.get().and_then(Weak::upgrade)
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

/// The identity of a task, kept in its root node.
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
    /// and when it ends waiting it registers the runtime's waker and then, if the mark is
    /// set again (a wake came while it ran), wakes that waker itself. So a marked task
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

    /// Wakes the task from any thread: marks it ready to run, then wakes the runtime's task
    /// that polls it. Aborting the task does this; so do the wakers its futures get.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Release);
        self.waker.wake();
    }
}

/// The waker of a task's futures: a task's root node wakes its task. (A scope's node is
/// never made into a waker; waking one would do nothing.)
impl Wake for Node {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(task) = self.task() else {
            return;
        };
        // A task that wakes itself while it is polled on this thread (a yield) is only
        // marked: the poll wakes the runtime's waker as it ends (see `enter_task`), which
        // keeps the registered waker in place instead of taking it.
        let polled_here = with_current(|cur| cur.is_some_and(|c| Arc::ptr_eq(c.task(), self)));
        if polled_here {
            task.woken.store(true, Release);
        } else {
            task.wake();
        }
    }
}

/// Makes `root` the top of a new run's tree.
pub(crate) fn set_run_root(root: &Arc<Node>) {
    if let Some(task) = root.task() {
        let _ = task.run.root.set(Arc::downgrade(root));
    }
}

/// A scope's place in the scope stack. A scope that nothing outside it can reach (the
/// private scope of `move_on_after` or `fail_after`) gets its node only when something
/// needs one: a wait registering, a scope or task linking under it, its body waiting. A
/// timeout around an operation that completes at once never allocates.
#[derive(Debug)]
pub(crate) struct ScopeCell {
    node: OnceCell<Arc<Node>>,
    /// The deadline of a node not made yet.
    deadline: Option<Instant>,
}

impl ScopeCell {
    pub(crate) fn with_node(node: Arc<Node>) -> Self {
        ScopeCell {
            node: OnceCell::from(node),
            deadline: None,
        }
    }

    pub(crate) fn lazy(deadline: Option<Instant>) -> Self {
        ScopeCell {
            node: OnceCell::new(),
            deadline,
        }
    }

    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }

    /// Sets the deadline of a node not made yet.
    pub(crate) fn set_lazy_deadline(&mut self, deadline: Option<Instant>) {
        debug_assert!(self.node.get().is_none());
        self.deadline = deadline;
    }

    /// The node, made (entered, with the cancellation state of its parent) if needed.
    pub(crate) fn node_or_make(&self, parent_cancelled: bool) -> &Arc<Node> {
        self.node.get_or_init(|| {
            let node = Node::new_scope(self.deadline, false);
            node.enter();
            node.refresh_unlinked(parent_cancelled);
            node
        })
    }

    fn deadline_and_shield(&self) -> (Option<Instant>, bool) {
        match self.node.get() {
            Some(n) => (n.deadline(), n.shield()),
            None => (self.deadline, false),
        }
    }
}

#[derive(Clone, Copy)]
enum Slot {
    /// A task's root node.
    Task(*const Arc<Node>),
    Scope(*const ScopeCell),
}

struct Entry {
    slot: Slot,
    prev: *const Entry,
}

struct Frame {
    task: *const Arc<Node>,
    top: Cell<*const Entry>,
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

/// Restores the previous innermost entry, also when a poll unwinds.
struct RestoreEntry<'a>(&'a Cell<*const Entry>, *const Entry);

impl Drop for RestoreEntry<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
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

/// Runs `f` (a poll of the task whose root node is `root`) with the task installed as the
/// current one on this thread, and with a context whose waker marks the task woken and
/// has `cx`'s waker woken (see [`TaskData::is_woken`]).
#[inline]
pub(crate) fn enter_task<P: TaskPoll>(
    root: &Arc<Node>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&mut Context<'_>) -> P,
) -> P {
    let task = root.task().expect("a task's root node carries task data");
    // Only the thread polling the task writes the counter, so a load and a store suffice.
    task.polls.store(task.polls.load(Relaxed) + 1, Release);
    task.woken.store(false, Release);
    // SAFETY: the `Arc` rebuilt from `root`'s pointer takes no reference count of its own,
    // and the waker made of it is never dropped (`ManuallyDrop`), so it gives none back:
    // it borrows `root`, which outlives this call. Clones of it (a future keeping the
    // waker) take counts of their own, as any waker made from an `Arc`.
    let waker = ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(Arc::as_ptr(root)) }));
    let poll = enter(root, || f(&mut Context::from_waker(&waker)));
    task.polls.store(task.polls.load(Relaxed) + 1, Release);
    if poll.is_pending() {
        task.waker.register(cx.waker());
        if task.is_woken() {
            // Woken while it ran: by itself, or by a wake that found no waker registered.
            cx.waker().wake_by_ref();
        }
    }
    poll
}

/// As [`enter_task`] when the task has been woken (or is new) since its last poll;
/// otherwise `None`, without polling: for a future that its executor may poll without a
/// wake, which must not count as the task running.
pub(crate) fn enter_task_if_woken<P: TaskPoll>(
    root: &Arc<Node>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&mut Context<'_>) -> P,
) -> Option<P> {
    let task = root.task().expect("a task's root node carries task data");
    // Registered first: a wake after the check finds this waker.
    task.waker.register(cx.waker());
    task.is_woken().then(|| enter_task(root, cx, f))
}

/// Runs `f` with the task whose root node is `root` installed as the current one.
#[inline]
fn enter<R>(root: &Arc<Node>, f: impl FnOnce() -> R) -> R {
    let entry = Entry {
        slot: Slot::Task(root),
        prev: ptr::null(),
    };
    let frame = Frame {
        task: root,
        top: Cell::new(&entry),
        budget: Cell::new(BUDGET),
    };
    let _restore = RestoreFrame(FRAME.replace(&frame));
    f()
}

/// Runs `f` (a poll of a scope's body) with `cell` as the innermost scope. Outside any
/// task it just runs `f`.
pub(crate) fn enter_scope<R>(cell: &ScopeCell, f: impl FnOnce() -> R) -> R {
    let frame = FRAME.get();
    if frame.is_null() {
        return f();
    }
    // SAFETY: a non-null FRAME points at a `Frame` on the stack of a poll that encloses
    // this call (`enter_task` installs it and restores the previous pointer before its
    // stack frame ends, unwinding included).
    let frame = unsafe { &*frame };
    let entry = Entry {
        slot: Slot::Scope(cell),
        prev: frame.top.get(),
    };
    let _restore = RestoreEntry(&frame.top, frame.top.replace(&entry));
    f()
}

/// Whether the scope of `entry` (or the nearest enclosing scope that has a node) is
/// effectively cancelled. A scope without a node yet cannot have been cancelled itself.
fn cancelled_from(mut entry: *const Entry) -> bool {
    while !entry.is_null() {
        // SAFETY: entries are live stack values of enclosing polls (see `enter_scope`), and
        // so are the roots and cells they point at.
        let e = unsafe { &*entry };
        match e.slot {
            // SAFETY: as above.
            Slot::Task(root) => return unsafe { &*root }.is_cancelled(),
            Slot::Scope(cell) => {
                // SAFETY: as above.
                if let Some(node) = unsafe { &*cell }.node() {
                    return node.is_cancelled();
                }
            }
        }
        entry = e.prev;
    }
    false
}

/// The node of `entry`'s scope, made if needed.
fn node_of<'a>(entry: *const Entry) -> &'a Arc<Node> {
    // SAFETY: as in `cancelled_from`; `'a` is bounded by the `Current` that calls this.
    let e = unsafe { &*entry };
    match e.slot {
        // SAFETY: as in `cancelled_from`.
        Slot::Task(root) => unsafe { &*root },
        // SAFETY: as in `cancelled_from`.
        Slot::Scope(cell) => unsafe { &*cell }.node_or_make(cancelled_from(e.prev)),
    }
}

/// A view of the current task, valid for the closure it is given to.
pub(crate) struct Current<'a> {
    frame: &'a Frame,
    _not_send: PhantomData<*const ()>,
}

impl<'a> Current<'a> {
    /// The current task's root node.
    pub(crate) fn task(&self) -> &'a Arc<Node> {
        // SAFETY: `task` points at the root `Arc` that `enter_task` borrows for as long as
        // the frame is installed, which outlives `'a`.
        unsafe { &*self.frame.task }
    }

    pub(crate) fn task_data(&self) -> &'a TaskData {
        self.task()
            .task()
            .expect("a frame's root node always carries task data")
    }

    /// The innermost scope's node, made if it does not exist yet.
    pub(crate) fn innermost(&self) -> &'a Arc<Node> {
        node_of(self.frame.top.get())
    }

    /// Whether the code being polled is effectively cancelled.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        cancelled_from(self.frame.top.get())
    }

    /// The deadline and shield of each scope the current poll is inside, innermost first,
    /// up to and including the task's root.
    pub(crate) fn scopes(&self) -> impl Iterator<Item = (Option<Instant>, bool)> + 'a {
        let mut entry = self.frame.top.get();
        std::iter::from_fn(move || {
            if entry.is_null() {
                return None;
            }
            // SAFETY: as in `cancelled_from`.
            let e = unsafe { &*entry };
            entry = e.prev;
            Some(match e.slot {
                // SAFETY: as in `cancelled_from`.
                Slot::Task(root) => {
                    let root = unsafe { &*root };
                    (root.deadline(), root.shield())
                }
                // SAFETY: as in `cancelled_from`.
                Slot::Scope(cell) => unsafe { &*cell }.deadline_and_shield(),
            })
        })
    }
}

/// Calls `f` with the current task, or `None` outside any anyio task.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<Current<'_>>) -> R) -> R {
    let frame = FRAME.get();
    if frame.is_null() {
        return f(None);
    }
    // SAFETY: see `enter_scope`.
    let frame = unsafe { &*frame };
    f(Some(Current {
        frame,
        _not_send: PhantomData,
    }))
}

/// The node of the current task's innermost scope (made if it does not exist yet), or
/// `None` outside any anyio task: what a blocked operation records so that others can tell
/// whether it is about to be cancelled (a memory stream skips such receivers).
pub(crate) fn innermost_scope() -> Option<Arc<Node>> {
    with_current(|cur| cur.map(|c| c.innermost().clone()))
}

/// The checkpoint of an operation that may complete at once (a send, a buffered read): in
/// one visit to the current task, `Err(Cancelled)` if it is effectively cancelled, else
/// spends one unit of its budget: `Ok` while some is left, otherwise wakes the task and
/// returns `Pending` once (the next poll of the task has a fresh budget). Outside any anyio
/// task nothing is cancelled or budgeted.
pub(crate) fn poll_checkpoint(
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Result<(), Cancelled>> {
    use std::task::Poll;
    with_current(|cur| match cur {
        None => Poll::Ready(Ok(())),
        Some(c) if c.is_cancelled() => Poll::Ready(Err(Cancelled)),
        Some(c) if c.frame.budget.get() == 0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(c) => {
            c.frame.budget.set(c.frame.budget.get() - 1);
            Poll::Ready(Ok(()))
        }
    })
}

/// Whether this thread is polling an anyio task right now.
pub(crate) fn in_task() -> bool {
    !FRAME.get().is_null()
}

/// Whether the current task is effectively cancelled: a thread-local read and one atomic
/// load (plus a pointer hop per enclosing timeout that never needed a node).
#[inline]
pub(crate) fn is_cancelled() -> bool {
    with_current(|cur| cur.is_some_and(|c| c.is_cancelled()))
}

/// The backend's clock, read without cloning the runtime handle.
pub(crate) fn now() -> Instant {
    with_current(|cur| cur.map(|c| c.task_data().run.runtime.now()))
        .or_else(|| Runtime::detect().map(|rt| rt.now()))
        .unwrap_or_else(Instant::now)
}

/// The runtime of the current task, else the one detected on this thread.
pub(crate) fn current_runtime() -> Option<Runtime> {
    with_current(|cur| match cur {
        Some(c) => Some(c.task_data().run.runtime.clone()),
        None => Runtime::detect(),
    })
}
