//! The future that runs a body inside a scope: it pushes the scope as the innermost one
//! while polling the body, links the scope's node into the tree the first time the body
//! waits (or earlier, when something inside needs it linked), arms the deadline timer, and
//! reports on exit whether the scope catches a cancellation.
//! [`CancelScope::run`](crate::CancelScope::run), the timeouts and task groups are all
//! built on it.
//!
//! It is written to cost little stack: a level of nesting polls through this one function
//! (and the caller's), with the rare steps (entering, linking, arming the timer, leaving)
//! in functions of their own whose frames are gone by the time the body is polled.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::current::{self, ScopeCell, ScopeEntry};
use super::node::Node;
use crate::backend::{Runtime, Timer};
use crate::context::{self, RunCtx, TaskData, TaskName};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fresh,
    /// Fresh, and entering changes nothing but the phase: a private scope with no node
    /// yet, whose deadline had not passed when it was made, that nothing hangs under on
    /// entry. The timeouts around operations that complete at once take only this path.
    FreshPlain,
    Running,
    Done,
}

pin_project! {
    /// Runs `inner` inside a scope; resolves to the body's output and whether the scope
    /// catches a cancellation (its own `cancel()` was called and no cancelled ancestor is
    /// visible through it).
    #[derive(Debug)]
    pub(crate) struct Driver<F> {
        scope: ScopeState,
        #[pin]
        inner: F,
    }

    impl<F> PinnedDrop for Driver<F> {
        fn drop(this: Pin<&mut Self>) {
            this.project().scope.dropped();
        }
    }
}

/// Everything a driver keeps about its scope, apart from the body.
///
/// The fields that own something (the node, the timer, the foreign root) are released by
/// [`ScopeState::dropped`], which the driver's drop always calls, not by drop glue: a
/// scope that has none of them (a timeout around an operation that completes at once)
/// is then dropped by three inline tests instead of a call that tests each field again.
#[derive(Debug)]
struct ScopeState {
    cell: ManuallyDrop<ScopeCell>,
    // Boxed when armed: most scopes never wait with a deadline, and a scope's future stays
    // small, which matters for deep nesting.
    timer: ManuallyDrop<Option<Pin<Box<Armed>>>>,
    // The address of the node this one was last linked under; 0 before. Only compared.
    parent: usize,
    epoch: u32,
    phase: Phase,
    link_eagerly: bool,
    // A private scope whose deadline had already passed when it was made: cancelled on
    // entry without reading the clock again.
    due_on_entry: bool,
    // The root this scope stands in for when polled outside any anyio task.
    foreign: ManuallyDrop<Option<Arc<Node>>>,
}

pin_project! {
    /// An armed deadline: the timer, and the deadline it fires at, which each poll also
    /// checks against the clock so that a deadline that passed while the task was busy is
    /// seen before the timer fires.
    #[derive(Debug)]
    struct Armed {
        deadline: Instant,
        #[pin]
        timer: Timer,
    }
}

fn addr(node: &Arc<Node>) -> usize {
    Arc::as_ptr(node) as usize
}

impl<F: Future> Driver<F> {
    /// A driver for a scope that has a handle (`CancelScope::run`): its node exists, and is
    /// linked when the body first waits.
    pub(crate) fn new(node: Arc<Node>, inner: F) -> Self {
        Self::with(ScopeCell::with_node(node), inner, false, false)
    }

    /// A driver that links the node on entry: for scopes that other tasks hang under.
    pub(crate) fn eager(node: Arc<Node>, inner: F) -> Self {
        Self::with(ScopeCell::with_node(node), inner, true, false)
    }

    /// A driver for a private scope with a deadline (the timeouts): its node is made only
    /// when needed. `due` says the deadline had passed when it was computed.
    pub(crate) fn private(deadline: Option<Instant>, due: bool, inner: F) -> Self {
        Self::with(ScopeCell::lazy(deadline), inner, false, due)
    }

    fn with(cell: ScopeCell, inner: F, link_eagerly: bool, due_on_entry: bool) -> Self {
        Driver {
            scope: ScopeState {
                phase: Phase::fresh(&cell, link_eagerly, due_on_entry),
                cell: ManuallyDrop::new(cell),
                timer: ManuallyDrop::new(None),
                parent: 0,
                epoch: u32::MAX,
                link_eagerly,
                due_on_entry,
                foreign: ManuallyDrop::new(None),
            },
            inner,
        }
    }

    /// The future that runs inside the scope.
    pub(crate) fn inner(self: Pin<&mut Self>) -> Pin<&mut F> {
        self.project().inner
    }

    /// The scope's node, if it has one.
    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.scope.cell.node()
    }

    /// Sets the deadline of a private scope before it is entered (`fail_after` computes
    /// its deadline on entry).
    pub(crate) fn set_private_deadline(self: Pin<&mut Self>, deadline: Option<Instant>, due: bool) {
        let scope = self.project().scope;
        scope.cell.set_lazy_deadline(deadline);
        scope.due_on_entry = due;
        scope.phase = Phase::fresh(&scope.cell, scope.link_eagerly, due);
    }

    /// Polled outside any anyio task (inside a plain tokio or smol task): this scope is the
    /// root of a tree of its own.
    #[cold]
    fn poll_foreign(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(F::Output, bool)> {
        let root = self
            .as_mut()
            .project()
            .scope
            .foreign
            .get_or_insert_with(foreign_root)
            .clone();
        current::enter_task(&root, cx, |cx| self.poll(cx))
    }
}

impl Phase {
    fn fresh(cell: &ScopeCell, link_eagerly: bool, due_on_entry: bool) -> Phase {
        if cell.node().is_none() && !link_eagerly && !due_on_entry {
            Phase::FreshPlain
        } else {
            Phase::Fresh
        }
    }
}

impl<F: Future> Future for Driver<F> {
    type Output = (F::Output, bool);

    // Inlined into the scope's own future (`Scoped`, `FailAfter`, the task group's): a level
    // of nesting costs one stack frame (368 bytes per `CancelScope::run` in release, 32
    // more than out of line), and a timeout around a ready operation makes no call.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !context::in_task() {
            return self.poll_foreign(cx);
        }
        let this = self.project();
        this.scope.before_poll();
        let entry = ScopeEntry::new(&this.scope.cell);
        let pushed = entry.push();
        let poll = this.inner.poll(cx);
        drop(pushed);
        match poll {
            Poll::Ready(out) => Poll::Ready((out, this.scope.leave())),
            Poll::Pending => {
                this.scope.wait(cx);
                Poll::Pending
            }
        }
    }
}

impl ScopeState {
    /// Before each poll of the body: enters the scope the first time, follows the future if
    /// it moved to another scope or task since it was linked, and cancels the scope if its
    /// deadline has passed. A scope with no node has nothing linked and no timer armed (both
    /// come with the node), so past its plain entry it has nothing to do.
    #[inline(always)]
    fn before_poll(&mut self) {
        match self.phase {
            Phase::FreshPlain if self.cell.node().is_none() => self.phase = Phase::Running,
            Phase::Running if self.cell.node().is_none() => {}
            _ => self.before_poll_with_node(),
        }
    }

    /// [`before_poll`](Self::before_poll) for a scope that has a node, or a first entry
    /// that does more than change the phase.
    fn before_poll_with_node(&mut self) {
        if self.phase != Phase::Running {
            self.enter();
        }
        let Some(node) = self.cell.node() else {
            return;
        };
        if self.parent != 0 && node.is_linked() {
            let parent = &mut self.parent;
            current::with_innermost(|now_under| {
                if *parent != addr(now_under) {
                    // The future moved to another scope or task: follow it.
                    node.relink(now_under);
                    *parent = addr(now_under);
                }
            });
        }
        if let Some(armed) = self.timer.as_ref() {
            if !node.cancel_called() && context::now() >= armed.deadline {
                node.cancel_for_deadline();
            }
        }
    }

    /// The first poll: marks the scope entered, cancels it if its deadline has passed, and
    /// links it at once if other tasks will hang under it.
    #[inline]
    fn enter(&mut self) {
        assert!(
            matches!(self.phase, Phase::Fresh | Phase::FreshPlain),
            "a cancel scope future was polled after it completed"
        );
        self.phase = Phase::Running;
        if self.due_on_entry {
            self.cell.node_or_make().cancel_for_deadline();
        } else if let Some(node) = self.cell.node() {
            assert!(
                node.enter(),
                "a CancelScope can only be entered once (it is single-use)"
            );
            // A deadline already past cancels the scope on entry.
            if node.deadline().is_some_and(|d| context::now() >= d) {
                node.cancel_for_deadline();
            }
        }
        if self.link_eagerly {
            if let Some(node) = self.cell.node() {
                let parent = current::innermost_scope().expect("polled inside a task");
                node.link(&parent);
                self.parent = addr(&parent);
            }
        }
    }

    /// The body returned: whether the scope catches, and the scope leaves the tree.
    #[inline]
    fn leave(&mut self) -> bool {
        self.phase = Phase::Done;
        *self.timer = None;
        let Some(node) = self.cell.node() else {
            return false;
        };
        let catches = node.cancel_called() && (node.shield() || !current::is_cancelled());
        node.exit();
        node.unlink();
        catches
    }

    /// The driver is dropped: a scope left mid-way leaves the tree, and everything the
    /// scope owns is released (see [`ScopeState`]).
    #[inline(always)]
    fn dropped(&mut self) {
        if self.cell.node().is_some() || self.timer.is_some() || self.foreign.is_some() {
            self.release();
        }
    }

    /// [`dropped`](Self::dropped) for a scope that owns something.
    #[inline(never)]
    fn release(&mut self) {
        if let Some(node) = self.cell.take_node() {
            if self.phase == Phase::Running {
                node.exit();
            }
            node.unlink();
        }
        *self.timer = None;
        *self.foreign = None;
    }

    /// The body waits: the scope (and every scope around it) joins the tree if it has not
    /// yet, and the deadline timer is (re-)armed.
    fn wait(&mut self, cx: &mut Context<'_>) {
        let node = self.cell.node_or_make();
        if self.parent == 0 {
            let parent = current::innermost_scope().expect("polled inside a task");
            if !node.is_linked() {
                node.link(&parent);
            }
            self.parent = addr(&parent);
            node.set_driver(cx.waker());
        }
        arm_deadline(node, &mut self.timer, &mut self.epoch, cx);
    }
}

/// (Re-)arms the deadline timer when the deadline changed, and cancels the node when it
/// fires. The clock is read only when the deadline changes.
fn arm_deadline(
    node: &Node,
    timer: &mut Option<Pin<Box<Armed>>>,
    epoch: &mut u32,
    cx: &mut Context<'_>,
) {
    let current = node.deadline_epoch();
    if current != *epoch {
        *epoch = current;
        match node.deadline() {
            None => *timer = None,
            Some(_) if node.cancel_called() => *timer = None,
            Some(deadline) => {
                let passed =
                    context::with_runtime(|rt| rt.now() >= deadline).expect("polled inside a task");
                if passed {
                    *timer = None;
                    node.cancel_for_deadline();
                } else {
                    match timer {
                        Some(armed) => {
                            let armed = armed.as_mut().project();
                            *armed.deadline = deadline;
                            armed.timer.reset(deadline);
                        }
                        None => {
                            *timer = Some(Box::pin(Armed {
                                deadline,
                                timer: context::with_runtime(|rt| rt.timer(deadline))
                                    .expect("polled inside a task"),
                            }))
                        }
                    }
                }
            }
        }
    }
    if let Some(armed) = timer {
        if armed.as_mut().project().timer.poll(cx).is_ready() {
            *timer = None;
            node.cancel_for_deadline();
        }
    }
}

/// The root node for code that runs in a task anyio did not start.
pub(crate) fn foreign_root() -> Arc<Node> {
    let runtime = Runtime::detect().expect(
        "no async runtime: run inside anyio::run or a tokio runtime, or enable the smol feature",
    );
    let root = Node::new_task(TaskData::new(
        TaskName::Static("<foreign task>"),
        None,
        RunCtx::new(runtime),
    ));
    current::set_run_root(&root);
    root
}
