//! The scopes the code being polled is inside: the innermost scope, and whether that code
//! is effectively cancelled.
//!
//! While a task is polled, a thread-local points at the innermost [`Entry`] of a chain on
//! the stack of that poll: the task's root node at the bottom, then one entry per scope the
//! poll is currently inside. A scope's future pushes an entry for the duration of polling
//! its body and pops it after, so the chain mirrors the nesting of the futures themselves
//! and is LIFO by construction. No allocation or reference counting happens per poll; the
//! raw pointers are valid exactly while they are installed.
//!
//! # One source of truth
//!
//! A scope's node joins the tree (is *linked* under its parent) lazily: when something
//! outside the poll must be able to see it (a wait inside it, a task or a scope linking
//! under it), which is at the latest when its body first waits. A linked node's
//! effective state is kept exact by the tree. A node not linked yet is seen only by the
//! code that polls it, so that code computes its state from the chain: the node's own
//! `cancel()` and shield, then the scopes around it, up to the first linked node. Either
//! way the answer is right at every instant, and the common case (code inside a scope that
//! has waited) stays one atomic load.
//!
//! Linking always links the whole unlinked part of the chain, outermost first, so a
//! linked node's parent is always linked: a cancellation pushed down the tree reaches every
//! node that anyone outside the poll can see.

use std::cell::{Cell, OnceCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Instant;

use super::error::Cancelled;
use super::node::Node;
use crate::context::{self, RunCtx, RunLocal, TaskData, TaskPoll};

/// A scope's place in the scope stack. A scope that nothing outside it can reach (the
/// private scope of `move_on_after` or `fail_after`) gets its node only when something
/// needs one: a wait inside it, a scope or task linking under it, its body waiting. A
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

    /// Takes the node out, leaving the cell without one.
    pub(crate) fn take_node(&mut self) -> Option<Arc<Node>> {
        self.node.take()
    }

    /// Sets the deadline of a node not made yet.
    pub(crate) fn set_lazy_deadline(&mut self, deadline: Option<Instant>) {
        debug_assert!(self.node.get().is_none());
        self.deadline = deadline;
    }

    /// The node, made (entered, not linked) if needed.
    pub(crate) fn node_or_make(&self) -> &Arc<Node> {
        self.node.get_or_init(|| {
            let node = Node::new_scope(self.deadline, false);
            node.enter();
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
    /// A task's root node, always linked.
    Task(*const Arc<Node>),
    Scope(*const ScopeCell),
}

struct Entry {
    slot: Slot,
    prev: *const Entry,
    /// The task's root node (the bottom of the chain).
    root: *const Arc<Node>,
}

thread_local! {
    /// The innermost entry of the task being polled on this thread; null outside tasks.
    static TOP: Cell<*const Entry> = const { Cell::new(ptr::null()) };
}

/// Restores the previous innermost entry, also when a poll unwinds.
struct RestoreTop(*const Entry);

impl Drop for RestoreTop {
    fn drop(&mut self) {
        TOP.set(self.0);
    }
}

/// Runs `f` (a poll of the task whose root node is `root`, by the runtime's task whose
/// context is `cx`) with the task installed as the current one on this thread. `f` gets a
/// context whose waker wakes the task through its root node, which keeps the task's wake
/// state exact (see `context::enter_task`).
pub(crate) fn enter_task<P: TaskPoll>(
    root: &Arc<Node>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&mut Context<'_>) -> P,
) -> P {
    let task = root
        .task()
        .expect("a task's root node carries its task data");
    let waker = task_waker(root);
    let entry = Entry {
        slot: Slot::Task(root),
        prev: ptr::null(),
        root,
    };
    let _restore = RestoreTop(TOP.replace(&entry));
    context::enter_task(task, cx, || f(&mut Context::from_waker(&waker)))
}

/// The waker of the futures of the task whose root node is `root`, borrowed from `root`:
/// waking it wakes the task.
///
/// Made per poll without touching the reference count: the waker holds `root`'s pointer
/// without a count of its own, and it is never dropped (`ManuallyDrop`), so it gives none
/// back. It borrows `root`, which outlives every use (the caller holds `root`). Clones of
/// it (a future keeping the waker) take counts of their own. This saves two atomic
/// operations per poll of every task.
#[inline(always)]
fn task_waker(root: &Arc<Node>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(Arc::as_ptr(root).cast(), &TASK_WAKER);
    // SAFETY: `TASK_WAKER`'s functions take `data` as the pointer of an `Arc<Node>`
    // whose count the waker holds; this one holds none, and is never dropped (above).
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The functions of a task's waker ([`task_waker`]), over its root node's `Arc` pointer.
///
/// One `static`, so that its address identifies a task's waker ([`Current::is_task_waker`]):
/// the table `Waker::from` builds for an `Arc` is a constant that may have several copies.
static TASK_WAKER: RawWakerVTable = RawWakerVTable::new(
    clone_task_waker,
    wake_task,
    wake_task_by_ref,
    drop_task_waker,
);

/// # Safety
/// `data` is the pointer of a live `Arc<Node>` (every function below: the waker holds a
/// count, or borrows the root as [`task_waker`] does).
unsafe fn clone_task_waker(data: *const ()) -> RawWaker {
    // SAFETY: see above; the clone holds the count taken here.
    unsafe { Arc::increment_strong_count(data.cast::<Node>()) };
    RawWaker::new(data, &TASK_WAKER)
}

/// # Safety
/// As [`clone_task_waker`]; the waker gives up its count.
unsafe fn wake_task(data: *const ()) {
    // SAFETY: as above.
    unsafe {
        wake_task_by_ref(data);
        drop_task_waker(data);
    }
}

/// # Safety
/// As [`clone_task_waker`].
unsafe fn wake_task_by_ref(data: *const ()) {
    // SAFETY: as above.
    let root = unsafe { &*data.cast::<Node>() };
    if let Some(task) = root.task() {
        task.wake_by_waker();
    }
}

/// # Safety
/// As [`clone_task_waker`]; the waker gives up its count.
unsafe fn drop_task_waker(data: *const ()) {
    // SAFETY: as above.
    drop(unsafe { Arc::from_raw(data.cast::<Node>()) });
}

/// As [`enter_task`] when the task has been woken (or is new) since its last poll;
/// otherwise `None`, without polling (see `TaskData::woken_since_last_poll`).
pub(crate) fn enter_task_if_woken<P: TaskPoll>(
    root: &Arc<Node>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&mut Context<'_>) -> P,
) -> Option<P> {
    let task = root
        .task()
        .expect("a task's root node carries its task data");
    task.woken_since_last_poll(cx)
        .then(|| enter_task(root, cx, f))
}

/// A scope's entry in the chain, made on the stack of the poll that enters it.
pub(crate) struct ScopeEntry<'a> {
    entry: Entry,
    _cell: PhantomData<&'a ScopeCell>,
}

impl<'a> ScopeEntry<'a> {
    /// An entry for `cell` on top of the current chain; the caller must be polled inside a
    /// task.
    pub(crate) fn new(cell: &'a ScopeCell) -> Self {
        let top = TOP.get();
        debug_assert!(!top.is_null(), "a scope is entered outside any task");
        ScopeEntry {
            entry: Entry {
                slot: Slot::Scope(cell),
                prev: top,
                // SAFETY: as in `cancelled_from`.
                root: unsafe { (*top).root },
            },
            _cell: PhantomData,
        }
    }

    /// Makes this entry the innermost until the returned guard is dropped. A guard rather
    /// than a closure, so that polling a body inside a scope adds no stack frame.
    pub(crate) fn push(&self) -> Pushed<'_> {
        let prev = TOP.replace(&self.entry);
        debug_assert_eq!(
            prev, self.entry.prev,
            "a scope entry is pushed out of order"
        );
        Pushed {
            prev,
            _entry: PhantomData,
        }
    }
}

/// Restores the chain as it was before a [`ScopeEntry::push`], also when a poll unwinds.
pub(crate) struct Pushed<'a> {
    prev: *const Entry,
    _entry: PhantomData<&'a Entry>,
}

impl Drop for Pushed<'_> {
    fn drop(&mut self) {
        TOP.set(self.prev);
    }
}

/// Whether the code inside `entry` is effectively cancelled: see the module docs.
fn cancelled_from(mut entry: *const Entry) -> bool {
    while !entry.is_null() {
        // SAFETY: entries are live stack values of enclosing polls (see `enter_scope`), and
        // so are the roots and cells they point at.
        let e = unsafe { &*entry };
        match e.slot {
            // SAFETY: as above.
            Slot::Task(root) => return unsafe { &*root }.is_cancelled(),
            // SAFETY: as above.
            Slot::Scope(cell) => {
                if let Some(answer) = unsafe { &*cell }.node().and_then(|n| n.chain_state()) {
                    return answer;
                }
            }
        }
        entry = e.prev;
    }
    false
}

/// The cancellation the code inside `entry` observes: that of the node that decides
/// [`cancelled_from`], with that node's cause. Called once the code is known to be
/// cancelled; if it no longer is (a shield was raised meanwhile), a cancellation without a
/// cause.
#[cold]
fn cancellation_from(mut entry: *const Entry) -> Cancelled {
    while !entry.is_null() {
        // SAFETY: as in `cancelled_from`.
        let e = unsafe { &*entry };
        match e.slot {
            // SAFETY: as in `cancelled_from`.
            Slot::Task(root) => return unsafe { &*root }.cancelled(),
            // SAFETY: as in `cancelled_from`.
            Slot::Scope(cell) => {
                if let Some(node) = unsafe { &*cell }.node() {
                    if node.chain_state().is_some() {
                        return node.cancelled();
                    }
                }
            }
        }
        entry = e.prev;
    }
    Cancelled::new()
}

/// The node of `entry`'s scope, made and linked (with every scope around it) if needed.
///
/// Inline for the answers that need nothing done (a task's root, a scope already linked),
/// which is every wait after a scope's first: each blocking operation asks.
#[inline]
fn linked_node_of<'a>(entry: *const Entry) -> &'a Arc<Node> {
    // SAFETY: as in `cancelled_from`; `'a` is bounded by the `Current` that calls this.
    let e = unsafe { &*entry };
    match e.slot {
        // SAFETY: as in `cancelled_from`.
        Slot::Task(root) => unsafe { &*root },
        Slot::Scope(cell) => {
            // SAFETY: as in `cancelled_from`.
            let cell = unsafe { &*cell };
            match cell.node() {
                Some(node) if node.is_linked() => node,
                _ => link_node_of(cell, e.prev),
            }
        }
    }
}

/// [`linked_node_of`] for a scope whose node is not made or not linked yet: makes it, and
/// links it under the scopes around it (`prev` is the entry below its own).
#[inline(never)]
fn link_node_of(cell: &ScopeCell, prev: *const Entry) -> &Arc<Node> {
    let node = cell.node_or_make();
    if !node.is_linked() {
        // Outermost first, so that the parent's state is exact when this links.
        node.link(linked_node_of(prev));
    }
    node
}

/// A view of the current task's scopes, valid for the closure it is given to.
pub(crate) struct Current<'a> {
    root: &'a Arc<Node>,
    top: *const Entry,
    _not_send: PhantomData<*const ()>,
}

impl<'a> Current<'a> {
    /// The current task's root node.
    pub(crate) fn task(&self) -> &'a Arc<Node> {
        self.root
    }

    /// Whether `waker` is the waker this task's futures are polled with (see
    /// [`enter_task`]). A cancellation that reaches any of the task's scopes wakes the task
    /// itself (see `Node`), so a wait polled with this waker needs no registration.
    #[inline]
    pub(crate) fn is_task_waker(&self, waker: &Waker) -> bool {
        ptr::eq(waker.data(), Arc::as_ptr(self.root).cast()) && ptr::eq(waker.vtable(), &TASK_WAKER)
    }

    /// The current task's identity.
    pub(crate) fn task_data(&self) -> &'a TaskData {
        self.root
            .task()
            .expect("a task's root node carries its task data")
    }

    /// The innermost scope's node, made and linked into the tree if needed: anything that
    /// keeps it (a waiter, a task started under it) sees its exact state from then on.
    pub(crate) fn innermost(&self) -> &'a Arc<Node> {
        linked_node_of(self.top)
    }

    /// Whether the code being polled is effectively cancelled.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        cancelled_from(self.top)
    }

    /// The deadline and shield of each scope the current poll is inside, innermost first:
    /// the task's own scopes, its root, then the scopes the task runs in (a group's, and
    /// those around it in the task that opened the group), up to the run's root.
    pub(crate) fn scopes(&self) -> impl Iterator<Item = (Option<Instant>, bool)> + 'a {
        let mut entry = self.top;
        let mut above: Option<Arc<Node>> = None;
        std::iter::from_fn(move || {
            if let Some(node) = above.take() {
                let item = (node.deadline(), node.shield());
                above = node.parent();
                return Some(item);
            }
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
                    above = root.parent();
                    (root.deadline(), root.shield())
                }
                // SAFETY: as in `cancelled_from`.
                Slot::Scope(cell) => unsafe { &*cell }.deadline_and_shield(),
            })
        })
    }
}

/// Calls `f` with the current task's scopes, or `None` outside any anyio task.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<Current<'_>>) -> R) -> R {
    let top = TOP.get();
    if top.is_null() {
        return f(None);
    }
    // SAFETY: as in `cancelled_from`.
    let root = unsafe { &*(*top).root };
    f(Some(Current {
        root,
        top,
        _not_send: PhantomData,
    }))
}

/// Calls `f` with the node of the current task's innermost scope (made and linked if
/// needed), or returns `None` outside any anyio task.
pub(crate) fn with_innermost<R>(f: impl FnOnce(&Arc<Node>) -> R) -> Option<R> {
    let top = TOP.get();
    (!top.is_null()).then(|| f(linked_node_of(top)))
}

/// The node of the current task's innermost scope (made and linked if needed), or `None`
/// outside any anyio task: what a blocked operation records so that others can tell
/// whether it is about to be cancelled (the wait queues pass such waiters over).
pub(crate) fn innermost_scope() -> Option<Arc<Node>> {
    let top = TOP.get();
    (!top.is_null()).then(|| linked_node_of(top).clone())
}

/// Whether the current task is effectively cancelled: a thread-local read and one atomic
/// load once the innermost scope has waited (a short walk up the chain before that).
#[inline]
pub(crate) fn is_cancelled() -> bool {
    cancelled_from(TOP.get())
}

/// The cancellation the current task observes, with its cause (see [`Cancelled`]): what an
/// operation returns once it found [`is_cancelled`] true. Only this, the cancelled path,
/// reads the cause; outside any anyio task, a cancellation without a cause.
#[cold]
pub(crate) fn cancelled() -> Cancelled {
    cancellation_from(TOP.get())
}

/// The checkpoint of an operation that may complete at once (a send, a buffered read): in
/// one visit to the current task, `Err(Cancelled)` if it is effectively cancelled, else
/// spends one unit of its cooperative budget (see [`context::poll_budget`]). Outside any
/// anyio task nothing is cancelled or budgeted.
pub(crate) fn poll_checkpoint(cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
    if is_cancelled() {
        return Poll::Ready(Err(cancelled()));
    }
    context::poll_budget(cx).map(Ok)
}

/// The root of a run's tree, which introspection walks.
#[derive(Default)]
struct RunRoot(OnceLock<Weak<Node>>);

impl RunLocal for RunRoot {}

/// Makes `root` the top of its run's tree.
pub(crate) fn set_run_root(root: &Arc<Node>) {
    if let Some(task) = root.task() {
        let _ = task.run.local::<RunRoot>().0.set(Arc::downgrade(root));
    }
}

/// The root task of `run`, while it runs.
pub(crate) fn run_root(run: &RunCtx) -> Option<Arc<Node>> {
    run.local::<RunRoot>().0.get().and_then(Weak::upgrade)
}
