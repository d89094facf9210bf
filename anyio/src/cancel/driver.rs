//! The future that runs a body inside a scope's node: it pushes the node as the innermost
//! scope while polling the body, links the node into the tree the first time the body
//! waits, arms the deadline timer, and reports on exit whether the scope catches a
//! cancellation. [`CancelScope::run`](crate::CancelScope::run), the timeouts and task
//! groups are all built on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::context::{self, RunCtx, TaskData, TaskName};
use super::node::Node;
use crate::backend::{Runtime, Timer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fresh,
    Running,
    Done,
}

pin_project! {
    /// Runs `inner` inside `node`; resolves to the body's output and whether the scope
    /// catches a cancellation (its own `cancel()` was called and no cancelled ancestor is
    /// visible through it).
    #[derive(Debug)]
    pub(crate) struct Driver<F> {
        node: Arc<Node>,
        #[pin]
        inner: F,
        #[pin]
        timer: Option<Timer>,
        // The address of the node this one is linked under; 0 while unlinked. Only compared.
        parent: usize,
        epoch: u32,
        phase: Phase,
        link_eagerly: bool,
        // The root this scope stands in for when polled outside any anyio task.
        foreign: Option<Arc<Node>>,
    }

    impl<F> PinnedDrop for Driver<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.parent != 0 {
                this.node.unlink();
            }
        }
    }
}

fn addr(node: &Arc<Node>) -> usize {
    Arc::as_ptr(node) as usize
}

impl<F: Future> Driver<F> {
    /// A driver that links the node lazily, when the body first waits.
    pub(crate) fn new(node: Arc<Node>, inner: F) -> Self {
        Self::with(node, inner, false)
    }

    /// A driver that links the node on entry: for scopes that other tasks hang under.
    pub(crate) fn eager(node: Arc<Node>, inner: F) -> Self {
        Self::with(node, inner, true)
    }

    fn with(node: Arc<Node>, inner: F, link_eagerly: bool) -> Self {
        Driver {
            node,
            inner,
            timer: None,
            parent: 0,
            epoch: u32::MAX,
            phase: Phase::Fresh,
            link_eagerly,
            foreign: None,
        }
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    fn poll_in_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(F::Output, bool)> {
        let mut this = self.project();
        let node: &Arc<Node> = this.node;
        context::with_current(|cur| {
            let parent = cur.expect("polled inside a task").innermost();
            match *this.phase {
                Phase::Running => {}
                Phase::Fresh => {
                    assert!(
                        node.enter(),
                        "a CancelScope can only be entered once (it is single-use)"
                    );
                    *this.phase = Phase::Running;
                    if *this.link_eagerly {
                        node.link(parent);
                        *this.parent = addr(parent);
                    }
                }
                Phase::Done => panic!("a cancel scope future was polled after it completed"),
            }
            if *this.parent == 0 {
                node.refresh_unlinked(parent.is_cancelled());
            } else if *this.parent != addr(parent) {
                // The future moved to another scope or task: follow it.
                node.relink(parent);
                *this.parent = addr(parent);
            }
        });

        let poll = context::enter_scope(node, || this.inner.as_mut().poll(cx));
        match poll {
            Poll::Ready(out) => {
                let catches = node.cancel_called() && (node.shield() || !context::is_cancelled());
                if *this.parent != 0 {
                    node.unlink();
                    *this.parent = 0;
                }
                *this.phase = Phase::Done;
                this.timer.set(None);
                Poll::Ready((out, catches))
            }
            Poll::Pending => {
                if *this.parent == 0 {
                    context::with_current(|cur| {
                        let parent = cur.expect("polled inside a task").innermost();
                        node.link(parent);
                        *this.parent = addr(parent);
                    });
                    node.set_driver(cx.waker());
                }
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
        context::enter_task(&root, || self.poll_in_task(cx))
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
