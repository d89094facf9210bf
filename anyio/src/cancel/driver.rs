//! The future that runs a body inside a scope: it pushes the scope as the innermost one
//! while polling the body, links the scope's node into the tree the first time the body
//! waits, arms the deadline timer, and reports on exit whether the scope catches a
//! cancellation. [`CancelScope::run`](crate::CancelScope::run), the timeouts and task
//! groups are all built on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::context::{self, RunCtx, ScopeCell, TaskData, TaskName};
use super::node::Node;
use crate::backend::{Runtime, Timer};

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
        // The address of the node this one is linked under; 0 while unlinked. Only compared.
        parent: usize,
        epoch: u32,
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
            let this = this.project();
            if *this.parent != 0 {
                if let Some(node) = this.cell.node() {
                    node.unlink();
                }
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

    fn poll_in_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(F::Output, bool)> {
        let mut this = self.project();
        let cell: &ScopeCell = this.cell;
        context::with_current(|cur| {
            let cur = cur.expect("polled inside a task");
            match *this.phase {
                Phase::Running => {}
                Phase::Fresh => {
                    *this.phase = Phase::Running;
                    if *this.due_on_entry {
                        cell.node_or_make(cur.is_cancelled()).cancel();
                    }
                    if let Some(node) = cell.node() {
                        if !*this.due_on_entry {
                            assert!(
                                node.enter(),
                                "a CancelScope can only be entered once (it is single-use)"
                            );
                            // A deadline already past cancels the scope on entry.
                            if node.deadline().is_some_and(|d| context::now() >= d) {
                                node.cancel();
                            }
                        }
                        if *this.link_eagerly {
                            let parent = cur.innermost();
                            node.link(parent);
                            *this.parent = addr(parent);
                        }
                    }
                }
                Phase::Done => panic!("a cancel scope future was polled after it completed"),
            }
            if let Some(node) = cell.node() {
                if *this.parent == 0 {
                    node.refresh_unlinked(cur.is_cancelled());
                } else {
                    let parent = cur.innermost();
                    if *this.parent != addr(parent) {
                        // The future moved to another scope or task: follow it.
                        node.relink(parent);
                        *this.parent = addr(parent);
                    }
                }
            }
        });

        let poll = context::enter_scope(cell, || this.inner.as_mut().poll(cx));
        match poll {
            Poll::Ready(out) => {
                let catches = cell.node().is_some_and(|node| {
                    node.cancel_called() && (node.shield() || !context::is_cancelled())
                });
                if *this.parent != 0 {
                    if let Some(node) = cell.node() {
                        node.unlink();
                    }
                    *this.parent = 0;
                }
                *this.phase = Phase::Done;
                if this.timer.is_some() {
                    this.timer.set(None);
                }
                Poll::Ready((out, catches))
            }
            Poll::Pending => {
                let node = if *this.parent == 0 {
                    let node = context::with_current(|cur| {
                        let parent = cur.expect("polled inside a task").innermost();
                        let node = cell.node_or_make(parent.is_cancelled());
                        node.link(parent);
                        *this.parent = addr(parent);
                        node
                    });
                    node.set_driver(cx.waker());
                    node
                } else {
                    cell.node().expect("a linked scope has a node")
                };
                arm_deadline(node, this.timer, this.epoch, cx);
                Poll::Pending
            }
        }
    }
}

/// (Re-)arms the deadline timer when the deadline changed, and cancels the node when it
/// fires. The clock is read only when the deadline changes.
fn arm_deadline(
    node: &Node,
    mut timer: Pin<&mut Option<Timer>>,
    epoch: &mut u32,
    cx: &mut Context<'_>,
) {
    let current = node.deadline_epoch();
    if current != *epoch {
        *epoch = current;
        match node.deadline() {
            None => timer.set(None),
            Some(_) if node.cancel_called() => timer.set(None),
            Some(deadline) => {
                let rt = context::current_runtime().expect("polled inside a task");
                if rt.now() >= deadline {
                    timer.set(None);
                    node.cancel();
                } else if let Some(t) = timer.as_mut().as_pin_mut() {
                    t.reset(deadline);
                } else {
                    timer.set(Some(rt.timer(deadline)));
                }
            }
        }
    }
    if let Some(t) = timer.as_mut().as_pin_mut() {
        if t.poll(cx).is_ready() {
            timer.set(None);
            node.cancel();
        }
    }
}

impl<F: Future> Future for Driver<F> {
    type Output = (F::Output, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if context::in_task() {
            return self.poll_in_task(cx);
        }
        // Outside any anyio task (inside a plain tokio or smol task): this scope is the
        // root of a tree of its own.
        let root = self
            .as_mut()
            .project()
            .foreign
            .get_or_insert_with(foreign_root)
            .clone();
        context::enter_task(&root, cx, |cx| self.poll_in_task(cx))
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
    context::set_run_root(&root);
    root
}
