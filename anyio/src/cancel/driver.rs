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
    Running,
    Done,
}

pin_project! {
    /// Runs `inner` inside a scope; resolves to the body's output and whether the scope
    /// catches a cancellation (its own `cancel()` was called and no cancelled ancestor is
    /// visible through it).
    #[derive(Debug)]
    pub(crate) struct Driver<F> {
        cell: ScopeCell,
        #[pin]
        inner: F,
        #[pin]
        timer: Option<Timer>,
        // The address of the node this one was last linked under; 0 before. Only compared.
        parent: usize,
        epoch: u32,
        // The deadline the timer is armed for, checked against the clock on each poll, so
        // a deadline that passed while the task was busy is seen before its timer fires.
        armed: Option<Instant>,
        phase: Phase,
        link_eagerly: bool,
        // A private scope whose deadline had already passed when it was made: cancelled
        // on entry without reading the clock again.
        due_on_entry: bool,
        // The root this scope stands in for when polled outside any anyio task.
        foreign: Option<Arc<Node>>,
    }

    impl<F> PinnedDrop for Driver<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(node) = this.cell.node() {
                if this.phase == Phase::Running {
                    node.exit();
                }
                node.unlink();
            }
        }
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
            cell,
            inner,
            timer: None,
            parent: 0,
            epoch: u32::MAX,
            armed: None,
            phase: Phase::Fresh,
            link_eagerly,
            due_on_entry,
            foreign: None,
        }
    }

    /// The scope's node, if it has one.
    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.cell.node()
    }

    /// Sets the deadline of a private scope before it is entered (`fail_after` computes
    /// its deadline on entry).
    pub(crate) fn set_private_deadline(self: Pin<&mut Self>, deadline: Option<Instant>, due: bool) {
        let this = self.project();
        this.cell.set_lazy_deadline(deadline);
        *this.due_on_entry = due;
    }

    /// Polled outside any anyio task (inside a plain tokio or smol task): this scope is the
    /// root of a tree of its own.
    #[cold]
    fn poll_foreign(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(F::Output, bool)> {
        let root = self
            .as_mut()
            .project()
            .foreign
            .get_or_insert_with(foreign_root)
            .clone();
        current::enter_task(&root, || self.poll(cx))
    }
}

impl<F: Future> Future for Driver<F> {
    type Output = (F::Output, bool);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !context::in_task() {
            return self.poll_foreign(cx);
        }
        let mut this = self.project();
        if *this.phase != Phase::Running {
            enter(
                this.cell,
                this.phase,
                *this.due_on_entry,
                *this.link_eagerly,
                this.parent,
            );
        }
        if let Some(node) = this.cell.node() {
            before_poll(node, this.parent, *this.armed);
        }
        let entry = ScopeEntry::new(this.cell);
        let pushed = entry.push();
        let poll = this.inner.as_mut().poll(cx);
        drop(pushed);
        match poll {
            Poll::Ready(out) => {
                let catches = leave(this.cell, this.timer);
                *this.phase = Phase::Done;
                Poll::Ready((out, catches))
            }
            Poll::Pending => {
                let node = link_on_wait(this.cell, this.parent, cx);
                arm_deadline(node, this.timer, this.epoch, this.armed, cx);
                Poll::Pending
            }
        }
    }
}

/// The first poll: marks the scope entered, cancels it if its deadline has passed, and
/// links it at once if other tasks will hang under it.
fn enter(
    cell: &ScopeCell,
    phase: &mut Phase,
    due_on_entry: bool,
    link_eagerly: bool,
    parent: &mut usize,
) {
    assert!(
        *phase == Phase::Fresh,
        "a cancel scope future was polled after it completed"
    );
    *phase = Phase::Running;
    if due_on_entry {
        cell.node_or_make().cancel();
    } else if let Some(node) = cell.node() {
        assert!(
            node.enter(),
            "a CancelScope can only be entered once (it is single-use)"
        );
        // A deadline already past cancels the scope on entry.
        if node.deadline().is_some_and(|d| context::now() >= d) {
            node.cancel();
        }
    }
    if link_eagerly {
        if let Some(node) = cell.node() {
            let parent_node = current::innermost_scope().expect("polled inside a task");
            node.link(&parent_node);
            *parent = addr(&parent_node);
        }
    }
}

/// Before each poll of the body: follows the future if it moved to another scope or task
/// since it was linked, and cancels the scope if its deadline has passed.
fn before_poll(node: &Arc<Node>, parent: &mut usize, armed: Option<Instant>) {
    if *parent != 0 && node.is_linked() {
        current::with_innermost(|now_under| {
            if *parent != addr(now_under) {
                // The future moved to another scope or task: follow it.
                node.relink(now_under);
                *parent = addr(now_under);
            }
        });
    }
    if let Some(deadline) = armed {
        if !node.cancel_called() && context::now() >= deadline {
            node.cancel();
        }
    }
}

/// The body returned: whether the scope catches, and the scope leaves the tree.
fn leave(cell: &ScopeCell, mut timer: Pin<&mut Option<Timer>>) -> bool {
    let Some(node) = cell.node() else {
        return false;
    };
    let catches = node.cancel_called() && (node.shield() || !current::is_cancelled());
    node.exit();
    node.unlink();
    if timer.is_some() {
        timer.set(None);
    }
    catches
}

/// The body waits: the scope (and every scope around it) joins the tree, if it has not yet.
fn link_on_wait<'a>(cell: &'a ScopeCell, parent: &mut usize, cx: &Context<'_>) -> &'a Arc<Node> {
    let node = cell.node_or_make();
    if *parent == 0 {
        let parent_node = current::innermost_scope().expect("polled inside a task");
        if !node.is_linked() {
            node.link(&parent_node);
        }
        *parent = addr(&parent_node);
        node.set_driver(cx.waker());
    }
    node
}

/// (Re-)arms the deadline timer when the deadline changed, and cancels the node when it
/// fires. The clock is read only when the deadline changes.
fn arm_deadline(
    node: &Node,
    mut timer: Pin<&mut Option<Timer>>,
    epoch: &mut u32,
    armed: &mut Option<Instant>,
    cx: &mut Context<'_>,
) {
    let current = node.deadline_epoch();
    if current != *epoch {
        *epoch = current;
        *armed = None;
        match node.deadline() {
            None => timer.set(None),
            Some(_) if node.cancel_called() => timer.set(None),
            Some(deadline) => {
                let rt = context::current_runtime().expect("polled inside a task");
                if rt.now() >= deadline {
                    timer.set(None);
                    node.cancel();
                } else {
                    *armed = Some(deadline);
                    if let Some(t) = timer.as_mut().as_pin_mut() {
                        t.reset(deadline);
                    } else {
                        timer.set(Some(rt.timer(deadline)));
                    }
                }
            }
        }
    }
    if let Some(t) = timer.as_mut().as_pin_mut() {
        if t.poll(cx).is_ready() {
            timer.set(None);
            *armed = None;
            node.cancel();
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
