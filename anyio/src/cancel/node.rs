//! The scope tree: one [`Node`] per cancel scope, task group scope and task.
//!
//! Every linked node knows whether it is *effectively cancelled*: its own `cancel()` was
//! called, or its parent is effectively cancelled and it is not shielded. That answer is
//! kept in one atomic per node, so a checkpoint reads a flag instead of walking up the
//! tree, and the tree's depth costs nothing there. The flag is pushed down when it changes:
//! `cancel()`, a shield toggled, a node linked under a new parent. Pushing it down wakes
//! every task with a scope in a node that became cancelled, as trio's cancel scopes
//! reschedule their tasks: a wait polled with its task's own waker (nearly all of them)
//! registers nothing, and costs one flag read. Only a wait polled with another waker (a
//! combinator that gives its futures wakers of their own) registers that waker in its
//! node, to be woken with it.
//!
//! Locking: each node has one mutex over its links, waiters and deadline. Propagation holds
//! a parent's lock while it takes its children's, so locks are always taken top-down; no
//! path takes a child's lock and then its parent's.
//!
//! A scope's node is linked under its parent lazily (see `current`): a scope whose body
//! finishes in one poll (a timeout around a ready operation) never touches a lock. Until it
//! is linked, only the code polling it can see it, and that code computes its state from
//! the chain of scopes it is in; the node's own flag then counts only its own `cancel()`.
//! A linked node's parent is always linked, and task roots are linked from birth.
//!
//! A task started with `start_soon` gets its root node only when it is first polled: until
//! then it is a *pending* entry among its group's children, holding just its id, parent
//! and name (introspection lists it, `wait_all_tasks_blocked` sees it ready to run). A
//! cancellation or an abort needs nothing from it: its first poll takes its node from this
//! thread's pool, links it where the entry was and reads the group's state under the same
//! lock, so it starts cancelled (or aborted) if the group is. A task that finishes in that poll gives
//! the node straight back, so starting many short tasks costs one allocation each (the
//! runtime's), however many are alive at once.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

use super::error::{Cancelled, Cause, ScopeId};
use crate::context::{self, RunCtx, TaskData, TaskName};
use crate::loom::lock;
use crate::loom::sync::{AtomicBool, AtomicU32, Mutex};

pub(crate) struct Node {
    cancel_called: AtomicBool,
    effective: AtomicBool,
    shield: AtomicBool,
    caught: AtomicBool,
    entered: AtomicBool,
    exited: AtomicBool,
    /// Whether the tree keeps `effective` exact: a root, or a node linked under its parent.
    linked: AtomicBool,
    /// Set on every node of a dropped task group, at every depth: its tasks are dropped
    /// instead of polled again.
    aborted: AtomicBool,
    /// Bumped by every `set_deadline`, so the future that runs the scope re-arms its timer.
    deadline_epoch: AtomicU32,
    state: Mutex<State>,
    /// The scope's identity, drawn from a process-wide counter the first time it is asked
    /// for (most scopes never are); 0 until then. Cleared when a task's node is pooled, so
    /// an identity is never reused.
    id: AtomicU64,
    /// `Some` for a task's root node: the task's identity and introspection data.
    task: Option<TaskData>,
}

struct State {
    /// The node this one is linked under; `None` while unlinked.
    parent: Option<Arc<Node>>,
    /// This node's key in its parent's `children` while linked.
    slot: usize,
    children: Slab<Member>,
    /// Wakers of operations blocked inside this node, woken when it becomes cancelled.
    waiters: Slab<Waker>,
    deadline: Option<Instant>,
    /// The future running this scope, woken when the deadline moves.
    driver: Option<Waker>,
    /// Why the node is cancelled: its own cause once its own `cancel()` was called (which
    /// no later change replaces), else, while linked, its parent's cause if that reaches
    /// it through the shield. Set under this lock before the `effective` flag, so code that
    /// sees the flag set and then takes the lock finds it. One slot serves both: a node's
    /// own cause always wins over its parent's, and an unlinked node is decided by its own.
    cause: Option<Arc<Cause>>,
}

/// A child in a node's table: a linked node, or a task that has not been polled yet.
enum Member {
    Linked(Arc<Node>),
    Pending(PendingTask),
}

/// A task not polled yet: what introspection shows of it, and what its first poll makes
/// its task data from. Small, since a group may hold many.
pub(crate) struct PendingTask {
    pub(crate) id: u64,
    pub(crate) parent_id: u64,
    pub(crate) name: TaskName,
}

impl Member {
    fn linked(&self) -> Option<&Arc<Node>> {
        match self {
            Member::Linked(node) => Some(node),
            Member::Pending(_) => None,
        }
    }
}

/// Where a task is in the tree, for [`Node::walk_tasks`].
pub(crate) enum TaskAt<'a> {
    /// The task's root node, and its data.
    Started(&'a Arc<Node>, &'a TaskData),
    /// A task not polled yet, under `parent` with key `key` (see [`Node::member`]).
    Pending {
        parent: &'a Arc<Node>,
        key: usize,
        task: &'a PendingTask,
    },
}

/// What a task's entry under its group holds now (see [`Node::member`]).
pub(crate) enum TaskPlace {
    /// Not polled yet: the task sees its group's state at its first poll.
    Pending,
    /// Polled: the task's root node.
    Started(Arc<Node>),
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("cancel_called", &self.cancel_called.load(Acquire))
            .field("effectively_cancelled", &self.effective.load(Acquire))
            .field("shield", &self.shield.load(Acquire))
            .finish_non_exhaustive()
    }
}

impl Node {
    fn with(task: Option<TaskData>, deadline: Option<Instant>, shield: bool) -> Arc<Node> {
        let root = task.is_some();
        Arc::new(Node {
            cancel_called: AtomicBool::new(false),
            effective: AtomicBool::new(false),
            shield: AtomicBool::new(shield),
            caught: AtomicBool::new(false),
            entered: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            linked: AtomicBool::new(root),
            aborted: AtomicBool::new(false),
            deadline_epoch: AtomicU32::new(0),
            state: Mutex::new(State {
                parent: None,
                slot: 0,
                children: Slab::new(),
                waiters: Slab::new(),
                deadline,
                driver: None,
                cause: None,
            }),
            id: AtomicU64::new(0),
            task,
        })
    }

    /// A cancel scope's node, not yet entered.
    pub(crate) fn new_scope(deadline: Option<Instant>, shield: bool) -> Arc<Node> {
        Self::with(None, deadline, shield)
    }

    /// A root without a task, for the loom models.
    #[cfg(all(test, anyio_loom))]
    pub(crate) fn new_root() -> Arc<Node> {
        let node = Self::with(None, None, false);
        node.linked.store(true, Release);
        node
    }

    /// A task's root node at the top of a tree of its own (the root of a run).
    pub(crate) fn new_task(task: TaskData) -> Arc<Node> {
        Self::with(Some(task), None, false)
    }

    /// A task's root node, made already linked under `parent` (which must be linked): one
    /// lock, on the parent, since nobody else can see the new node yet. Reuses a node of
    /// this thread's pool. A task made under an aborted group is aborted from birth.
    pub(crate) fn new_task_under(task: TaskData, parent: &Arc<Node>) -> Arc<Node> {
        debug_assert!(
            parent.is_linked(),
            "a task is started under an unlinked scope"
        );
        let mut parent_state = lock(&parent.state);
        let parent_state = &mut *parent_state;
        let entry = parent_state.children.vacant_entry();
        let mut node = adopt(parent, parent_state.cause.as_ref(), entry.key());
        with_task(&mut node, task);
        entry.insert(Member::Linked(node.clone()));
        node
    }

    /// Adds a task named `name`, whose parent task is `parent_id`, that gets its root node
    /// at its first poll ([`start_pending`]); returns its key among this node's children.
    /// This node must be linked.
    ///
    /// Keys are kept in 32 bits (a task's wrapper stays small); with more than 2^32 children
    /// already, the task is not added, and its name comes back for a task made with its
    /// node at once.
    ///
    /// [`start_pending`]: Node::start_pending
    pub(crate) fn add_pending(&self, name: TaskName, parent_id: u64) -> Result<u32, TaskName> {
        debug_assert!(
            self.is_linked(),
            "a task is started under an unlinked scope"
        );
        let task = PendingTask {
            id: context::next_task_id(),
            parent_id,
            name,
        };
        let mut state = lock(&self.state);
        let key = state.children.insert(Member::Pending(task));
        u32::try_from(key).map_err(|_| match state.children.remove(key) {
            Member::Pending(task) => task.name,
            Member::Linked(_) => unreachable!("the entry was just added as pending"),
        })
    }

    /// The root node of the pending task `key` of this node, a task of `run`, linked where
    /// its entry was, with this node's state (cancelled, aborted) as a task made now would
    /// have it.
    ///
    /// # Panics
    ///
    /// If `key` is not a pending task of this node: only the task's own future, which
    /// owns the key, takes its entry out.
    pub(crate) fn start_pending(self: &Arc<Self>, key: usize, run: &Arc<RunCtx>) -> Arc<Node> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let node = adopt(self, state.cause.as_ref(), key);
        let entry = state.children.get_mut(key).expect("a pending task's entry");
        let Member::Pending(task) = std::mem::replace(entry, Member::Linked(node)) else {
            unreachable!("a task's entry is pending until its first poll")
        };
        let Member::Linked(node) = entry else {
            unreachable!("the entry was just linked")
        };
        let data = TaskData::with_id(task.id, task.name, Some(task.parent_id), run.clone());
        with_task(node, data);
        node.clone()
    }

    /// Takes out the entry of a pending task that is dropped without having been polled.
    pub(crate) fn remove_pending(&self, key: usize) {
        let removed = lock(&self.state).children.try_remove(key);
        debug_assert!(
            matches!(removed, Some(Member::Pending(_))),
            "a pending task's entry"
        );
    }

    /// Where the task `id`, started under this node with key `key`, stands now; `None`
    /// once it has finished.
    pub(crate) fn member(&self, key: usize, id: u64) -> Option<TaskPlace> {
        match lock(&self.state).children.get(key)? {
            Member::Pending(task) if task.id == id => Some(TaskPlace::Pending),
            Member::Linked(node) if node.task().is_some_and(|t| t.id == id) => {
                Some(TaskPlace::Started(node.clone()))
            }
            _ => None,
        }
    }

    /// Gives a finished task's root node back to this thread's pool if nothing else holds
    /// it, so the next task started here need not allocate.
    pub(crate) fn recycle(mut node: Arc<Node>) {
        let Some(n) = Arc::get_mut(&mut node) else {
            return;
        };
        let state = n.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.parent.is_some() || !state.children.is_empty() {
            return;
        }
        state.waiters.clear();
        state.deadline = None;
        state.driver = None;
        state.cause = None;
        n.task = None;
        for flag in [
            &mut n.cancel_called,
            &mut n.effective,
            &mut n.shield,
            &mut n.caught,
            &mut n.entered,
            &mut n.exited,
            &mut n.linked,
            &mut n.aborted,
        ] {
            *flag = AtomicBool::new(false);
        }
        n.deadline_epoch = AtomicU32::new(0);
        n.id = AtomicU64::new(0);
        pool::give(node);
    }

    pub(crate) fn task(&self) -> Option<&TaskData> {
        self.task.as_ref()
    }

    /// Whether code running directly in this node is effectively cancelled: exact for a
    /// linked node; for a node not linked yet, whether its own `cancel()` was called.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.effective.load(Acquire)
    }

    pub(crate) fn cancel_called(&self) -> bool {
        self.cancel_called.load(Acquire)
    }

    pub(crate) fn shield(&self) -> bool {
        self.shield.load(Acquire)
    }

    pub(crate) fn caught(&self) -> bool {
        self.caught.load(Acquire)
    }

    pub(crate) fn set_caught(&self) {
        self.caught.store(true, Release);
    }

    /// This node's answer to "is the code inside it effectively cancelled?", as the chain
    /// of scopes around that code is walked outwards: exact for a linked node; for a node
    /// not linked yet, `true` if its own `cancel()` was called, `false` if it is shielded,
    /// and `None` when the answer is its parent's.
    #[inline]
    pub(crate) fn chain_state(&self) -> Option<bool> {
        if self.is_linked() {
            Some(self.is_cancelled())
        } else if self.cancel_called() {
            Some(true)
        } else if self.shield() {
            Some(false)
        } else {
            None
        }
    }

    /// Whether the tree keeps this node's state exact (a root, or linked under a parent).
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.load(Acquire)
    }

    /// Marks the node entered; returns `false` if it already was (scopes are single-use).
    pub(crate) fn enter(&self) -> bool {
        !self.entered.swap(true, SeqCst)
    }

    /// Marks the scope left: its deadline no longer cancels it.
    pub(crate) fn exit(&self) {
        self.exited.store(true, SeqCst);
    }

    /// Whether the scope has been entered and not left.
    pub(crate) fn is_active(&self) -> bool {
        self.entered.load(SeqCst) && !self.exited.load(SeqCst)
    }

    /// Whether this node belongs to a task group that was dropped.
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Acquire)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        lock(&self.state).deadline
    }

    /// The node this one is linked under, if any.
    pub(crate) fn parent(&self) -> Option<Arc<Node>> {
        lock(&self.state).parent.clone()
    }

    pub(crate) fn deadline_epoch(&self) -> u32 {
        self.deadline_epoch.load(Acquire)
    }

    /// This node's identity (see the `id` field).
    pub(crate) fn id(&self) -> ScopeId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = self.id.load(Relaxed);
        if id != 0 {
            return ScopeId(id);
        }
        let fresh = NEXT.fetch_add(1, Relaxed);
        match self.id.compare_exchange(0, fresh, Relaxed, Relaxed) {
            Ok(_) => ScopeId(fresh),
            Err(won) => ScopeId(won),
        }
    }

    /// Cancels this node and every unshielded node below it, without a reason. Idempotent.
    pub(crate) fn cancel(&self) {
        self.cancel_because(None);
    }

    /// Cancels this node and every unshielded node below it, recording `reason`, this
    /// node and the calling task as the cause. Only the first cancel counts: a later one
    /// changes nothing, its reason included.
    #[cold]
    pub(crate) fn cancel_because(&self, reason: Option<Cow<'static, str>>) {
        self.cancel_with(|| Cause::new(self.id(), reason, None));
    }

    /// As [`cancel_because`](Node::cancel_because), on behalf of `task`: for a cancel made
    /// after the task's poll (a group cancelled because the task failed).
    #[cold]
    pub(crate) fn cancel_for(&self, reason: Cow<'static, str>, task: &TaskData) {
        self.cancel_with(|| Cause::new(self.id(), Some(reason), Some(task)));
    }

    /// Cancels this node because its deadline passed (see [`Cause::deadline`]).
    #[cold]
    pub(crate) fn cancel_for_deadline(&self) {
        self.cancel_with(|| Cause::deadline(self.id()));
    }

    /// The calls above are cold: a cancel is rare beside the polls of the code it cancels,
    /// and the paths that may cancel (a task reporting how it ended) stay small.
    ///
    /// The cause is made (the one allocation of a cancel) before the lock is taken, and
    /// recorded before `cancel_called` is set, under the lock that serialises cancels: code
    /// that sees the flag finds the cause.
    fn cancel_with(&self, cause: impl FnOnce() -> Arc<Cause>) {
        if self.cancel_called.load(Acquire) {
            return;
        }
        let cause = cause();
        let became_cancelled = {
            let mut state = lock(&self.state);
            if self.cancel_called.load(SeqCst) {
                return;
            }
            state.cause = Some(cause);
            self.cancel_called.store(true, SeqCst);
            // Its own cancel decides the flag, and the cause changed even if the flag did
            // not (it replaces a parent's).
            settle(self, &mut state, true, true)
        };
        if became_cancelled {
            self.wake_owner();
        }
    }

    /// Wakes the task that owns this scope's node, after the node became cancelled: the
    /// task whose poll entered the scope, whose root is the nearest task root above it (a
    /// task's scopes sit between its root and the roots of its own children). Its waits
    /// registered nothing (see `CancelWait::register`) and learn of the cancellation this
    /// way. A task's root wakes its own task as it becomes cancelled (see [`settle`]), and
    /// so do the roots below it; this covers the node a change started from. The parents
    /// are locked one at a time, after the node's lock is released, so locks are still
    /// only ever taken top-down.
    #[cold]
    fn wake_owner(&self) {
        if self.task.is_some() {
            return;
        }
        let mut up = lock(&self.state).parent.clone();
        while let Some(node) = up {
            if let Some(task) = node.task() {
                task.wake_by_waker();
                return;
            }
            up = lock(&node.state).parent.clone();
        }
    }

    /// The cancellation that code running directly in this node observes, by the rule of
    /// [`chain_state`](Node::chain_state): for a linked node, the cause pushed down the
    /// tree with its flag; for a node not linked yet, its own.
    #[cold]
    pub(crate) fn cancelled(&self) -> Cancelled {
        Cancelled::with_cause(lock(&self.state).cause.clone())
    }

    /// Whether the innermost scope of the task whose root node this is is effectively
    /// cancelled, as far as the tree knows: the task's own scopes that are linked (all of
    /// them while it waits) are searched for those with no scope of the task below them
    /// (the tasks of its groups are other tasks), and the task has a cancellation pending
    /// if one of those is cancelled. A task waiting in two scopes at once (two scoped
    /// futures joined) has one pending if either of them is cancelled.
    pub(crate) fn innermost_cancelled(&self) -> bool {
        let state = lock(&self.state);
        let mut own_scopes = state
            .children
            .iter()
            .filter_map(|(_, c)| c.linked())
            .filter(|c| c.task.is_none())
            .peekable();
        if own_scopes.peek().is_none() {
            return self.is_cancelled();
        }
        own_scopes.any(|c| c.innermost_cancelled())
    }

    pub(crate) fn set_shield(&self, shield: bool) {
        if self.shield.swap(shield, SeqCst) != shield {
            self.recompute();
        }
    }

    /// Moves the deadline and wakes the future running the scope so it re-arms its timer.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        let driver = {
            let mut state = lock(&self.state);
            state.deadline = deadline;
            self.deadline_epoch.fetch_add(1, SeqCst);
            state.driver.clone()
        };
        if let Some(w) = driver {
            w.wake();
        }
    }

    /// Remembers the waker of the future that runs this scope (see `set_deadline`).
    pub(crate) fn set_driver(&self, waker: &Waker) {
        let mut state = lock(&self.state);
        match &mut state.driver {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Recomputes this node's flag and cause from its parent's and pushes any change down.
    /// The parent's lock is taken first (locks go top-down), so its cause is read
    /// consistently with its flag; if the node moved meanwhile, it starts over.
    fn recompute(&self) {
        let became_cancelled = loop {
            let parent = lock(&self.state).parent.clone();
            let parent_state = parent.as_ref().map(|p| lock(&p.state));
            let mut state = lock(&self.state);
            let same_parent = match (&state.parent, &parent) {
                (Some(now), Some(then)) => Arc::ptr_eq(now, then),
                (now, then) => now.is_none() && then.is_none(),
            };
            if !same_parent {
                continue;
            }
            let parent_cancelled = parent.as_ref().is_some_and(|p| p.is_cancelled());
            let parent_cause = parent_state.as_ref().and_then(|p| p.cause.as_ref());
            break update(self, &mut state, parent_cancelled, parent_cause);
        };
        if became_cancelled {
            self.wake_owner();
        }
    }

    /// Links this node under `parent` (which must be linked) and takes on its state.
    pub(crate) fn link(self: &Arc<Self>, parent: &Arc<Node>) {
        debug_assert!(parent.is_linked(), "a node is linked under an unlinked one");
        let mut parent_state = lock(&parent.state);
        let mut state = lock(&self.state);
        debug_assert!(state.parent.is_none(), "node linked twice");
        state.slot = parent_state.children.insert(Member::Linked(self.clone()));
        state.parent = Some(parent.clone());
        if parent.is_aborted() {
            self.aborted.store(true, Release);
        }
        // The owner of a scope's node links it in its own poll and reads its flag after;
        // a task's root linked elsewhere (`start`) wakes its task itself.
        update(
            self,
            &mut state,
            parent.is_cancelled(),
            parent_state.cause.as_ref(),
        );
        self.linked.store(true, Release);
    }

    /// Detaches this node from its parent, if linked.
    pub(crate) fn unlink(&self) {
        if !self.is_linked() {
            return;
        }
        let (parent, slot) = {
            let mut state = lock(&self.state);
            match state.parent.take() {
                Some(p) => {
                    self.linked.store(false, Release);
                    (p, state.slot)
                }
                None => return,
            }
        };
        // The slot cannot have been reused: the parent's entry still holds this node.
        lock(&parent.state).children.try_remove(slot);
    }

    /// Moves this node (and everything below it) under a new parent.
    pub(crate) fn relink(self: &Arc<Self>, parent: &Arc<Node>) {
        self.unlink();
        self.link(parent);
    }

    /// Registers `waker` to be woken when this node becomes cancelled, or returns
    /// `Err(Cancelled)` (and drops any registration) if it already is. `key` keeps the
    /// registration between polls.
    pub(crate) fn register_waiter(
        &self,
        key: &mut Option<usize>,
        waker: &Waker,
    ) -> Result<(), Cancelled> {
        let mut state = lock(&self.state);
        if self.is_cancelled() {
            if let Some(k) = key.take() {
                state.waiters.try_remove(k);
            }
            return Err(Cancelled::with_cause(state.cause.clone()));
        }
        match key.and_then(|k| state.waiters.get_mut(k)) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => *w = waker.clone(),
            None => *key = Some(state.waiters.insert(waker.clone())),
        }
        Ok(())
    }

    pub(crate) fn remove_waiter(&self, key: usize) {
        lock(&self.state).waiters.try_remove(key);
    }

    /// Calls `f` with the data of every task at or below this node, parents first, and
    /// where the task is. A task that has not been polled yet has no node: its data is
    /// read under its parent's lock.
    pub(crate) fn walk_tasks(self: &Arc<Self>, f: &mut dyn FnMut(TaskAt<'_>)) {
        if let Some(task) = self.task() {
            f(TaskAt::Started(self, task));
        }
        let parent = self;
        for child in self.children(&mut |task, key| f(TaskAt::Pending { parent, key, task })) {
            child.walk_tasks(f);
        }
    }

    /// The nodes linked below this one; `pending` is called, under this node's lock, with
    /// the data and key of each task below it that has no node yet.
    fn children(&self, pending: &mut dyn FnMut(&PendingTask, usize)) -> Vec<Arc<Node>> {
        let state = lock(&self.state);
        let mut linked = Vec::with_capacity(state.children.len());
        for (key, member) in state.children.iter() {
            match member {
                Member::Linked(node) => linked.push(node.clone()),
                Member::Pending(task) => pending(task, key),
            }
        }
        linked
    }

    /// Marks this node and every node below it aborted, parents first, and wakes their
    /// tasks so that they are dropped. A node linked below an aborted one later is
    /// aborted from birth.
    pub(crate) fn abort_tree(&self) {
        // Marked before the children are read under the lock, which is the lock that
        // linking reads the mark under: a child linked now is either read below or born
        // aborted.
        self.aborted.store(true, Release);
        if let Some(task) = self.task() {
            task.wake();
        }
        // A pending task is aborted when its first poll links it under this node.
        for child in self.children(&mut |_, _| {}) {
            child.abort_tree();
        }
    }
}

/// A small per-thread pool of task root nodes: starting and finishing many short tasks on
/// one thread (the common case on current-thread runtimes) then costs no allocation.
/// Disabled under loom, whose objects cannot outlive a model.
#[cfg(not(anyio_loom))]
mod pool {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::Node;

    const CAPACITY: usize = 256;

    thread_local! {
        static POOL: RefCell<Vec<Arc<Node>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take() -> Option<Arc<Node>> {
        POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten()
    }

    pub(super) fn give(node: Arc<Node>) {
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < CAPACITY {
                p.push(node);
            }
        });
    }
}

#[cfg(anyio_loom)]
mod pool {
    use std::sync::Arc;

    use super::Node;

    pub(super) fn take() -> Option<Arc<Node>> {
        None
    }

    pub(super) fn give(_node: Arc<Node>) {}
}

/// Sets `node`'s flag and cause from its parent's (`parent_cause` is the parent's cause, read
/// under the parent's lock) and its own state; on a change, wakes its waiters (when it became
/// cancelled) and updates its children. `state` is `node`'s, locked. Returns whether the node
/// became cancelled.
///
/// A node that is not cancelled and was not has nothing to change (its cause is `None`
/// already): linking a scope under a scope that is not cancelled costs no more than the flag.
fn update(
    node: &Node,
    state: &mut State,
    parent_cancelled: bool,
    parent_cause: Option<&Arc<Cause>>,
) -> bool {
    let own = node.cancel_called.load(SeqCst);
    let want = own || (parent_cancelled && !node.shield.load(SeqCst));
    if !want && !node.effective.load(SeqCst) {
        return false;
    }
    let mut cause_changed = false;
    if !own {
        let cause = if want { parent_cause.cloned() } else { None };
        cause_changed = !same_cause(&state.cause, &cause);
        state.cause = cause;
    }
    settle(node, state, want, cause_changed)
}

/// Sets `node`'s flag to `want` (its cause is set already); if the flag or the cause
/// changed, wakes its waiters (when it became cancelled) and updates its children. Returns
/// whether the node became cancelled.
///
/// Who is woken when a node becomes cancelled: the wakers registered in it (waits polled
/// with a waker other than their task's), and, for a task's root, the task itself, whose
/// waits registered nothing. Every task with a scope below a node that became cancelled
/// is woken: a task whose root is below it by its root (a task's root is never shielded,
/// so it becomes cancelled with its parent); the task owning the node a change starts
/// from by [`Node::wake_owner`].
fn settle(node: &Node, state: &mut State, want: bool, cause_changed: bool) -> bool {
    let flag_changed = node.effective.swap(want, SeqCst) != want;
    if !flag_changed && !cause_changed {
        return false;
    }
    let became_cancelled = want && flag_changed;
    if became_cancelled {
        for (_, waker) in state.waiters.iter() {
            waker.wake_by_ref();
        }
    }
    // A pending task reads this node's state when its first poll links it.
    for child in state.children.iter().filter_map(|(_, c)| c.linked()) {
        let mut child_state = lock(&child.state);
        update(child, &mut child_state, want, state.cause.as_ref());
    }
    // The task is woken once all its scopes below have their flags: its waits read the
    // flag of their own scope, which may be one of those.
    if became_cancelled {
        if let Some(task) = node.task() {
            task.wake_by_waker();
        }
    }
    became_cancelled
}

/// Makes a task's root node (from this thread's pool when it has one) as linked under
/// `parent` with key `key`, the caller holding `parent`'s lock (`parent_cause` is its
/// cause) and putting it there. The node is unshared, for [`with_task`].
fn adopt(parent: &Arc<Node>, parent_cause: Option<&Arc<Cause>>, key: usize) -> Arc<Node> {
    let mut node = pool::take().unwrap_or_else(|| Node::with(None, None, false));
    let fresh = Arc::get_mut(&mut node).expect("a new or pooled node is unshared");
    let parent_cancelled = parent.is_cancelled();
    fresh.effective = AtomicBool::new(parent_cancelled);
    fresh.linked = AtomicBool::new(true);
    fresh.aborted = AtomicBool::new(parent.is_aborted());
    let state = fresh.state.get_mut().unwrap_or_else(|e| e.into_inner());
    state.parent = Some(parent.clone());
    state.slot = key;
    state.cause = if parent_cancelled {
        parent_cause.cloned()
    } else {
        None
    };
    node
}

/// Gives a node made by [`adopt`], not shared yet, its task's data.
fn with_task(node: &mut Arc<Node>, task: TaskData) {
    Arc::get_mut(node)
        .expect("a node being made is unshared")
        .task = Some(task);
}

fn same_cause(a: &Option<Arc<Cause>>, b: &Option<Arc<Cause>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}
