//! The wrapper every task of a group runs in: it installs the task's context while the
//! task is polled, catches its panic, and reports how it ended to the group (or, before
//! `started()`, to the caller of `start()`).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::group::GroupShared;
use super::output::TaskOutput;
use super::start::StartSink;
use crate::cancel::current;
use crate::cancel::error::IsCancelled;
use crate::cancel::node::Node;

/// How a task ended.
pub(crate) enum ChildOutcome<E> {
    Done(Result<(), E>),
    Panicked(Box<dyn Any + Send>),
    /// Dropped without finishing: its group was dropped, or the runtime shut down.
    Aborted,
}

pin_project! {
    //
    // Small, because it is most of what a short task allocates: with a future of a few
    // bytes it is 24 bytes, which keeps tokio's task cell (aligned to 128 bytes) at 128
    // bytes instead of 256.
    pub(crate) struct Child<F, E: IsCancelled, S: StartSink<E> = InGroup> {
        // The task's root node: `None` before its first poll (for a task added to its
        // group as pending) and once it has finished and given its node back.
        root: Option<Arc<Node>>,
        group: Arc<GroupShared<E>>,
        // Where the outcome goes: the group, or first the caller of `start()`.
        start: S,
        // Before the first poll of a pending task, its key among its group node's
        // children, where its entry holds its data until that poll gives it a node.
        key: u32,
        finished: bool,
        #[pin]
        fut: Option<F>,
    }

    impl<F, E: IsCancelled, S: StartSink<E>> PinnedDrop for Child<F, E, S> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.finished {
                // The runtime dropped the task: report it so its group does not wait forever.
                // A panic in the future's `Drop` has nowhere to go (see `Aborted` in `poll`):
                // it stays out of the runtime, on every backend alike.
                drop(catch_unwind(AssertUnwindSafe(|| this.fut.set(None))));
                match this.root.take() {
                    Some(root) => {
                        finish(Some(&root), this.group, this.start, ChildOutcome::Aborted);
                    }
                    None => {
                        this.group.node.remove_pending(*this.key as usize);
                        finish(None, this.group, this.start, ChildOutcome::Aborted);
                    }
                }
            }
        }
    }
}

/// The outcome of a task not made by `start()` goes to its group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InGroup;

impl<E> StartSink<E> for InGroup {
    #[inline]
    fn task_ended(&self, outcome: ChildOutcome<E>) -> Option<ChildOutcome<E>> {
        Some(outcome)
    }
}

impl<F, E: IsCancelled, S: StartSink<E>> Child<F, E, S> {
    /// A task whose root node is made already (a task with a handle, or made by `start()`,
    /// whose outcome goes to `start` until it has started).
    pub(crate) fn new(root: Arc<Node>, group: Arc<GroupShared<E>>, start: S, fut: F) -> Self {
        Child {
            root: Some(root),
            group,
            start,
            key: 0,
            finished: false,
            fut: Some(fut),
        }
    }
}

impl<F, E: IsCancelled> Child<F, E> {
    /// A task added to `group`'s node as pending with key `key` ([`Node::add_pending`]):
    /// its first poll gives it its root node.
    pub(crate) fn pending(key: u32, group: Arc<GroupShared<E>>, fut: F) -> Self {
        Child {
            root: None,
            group,
            start: InGroup,
            key,
            finished: false,
            fut: Some(fut),
        }
    }
}

impl<F, E, S> Future for Child<F, E, S>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: IsCancelled,
    S: StartSink<E>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(());
        }
        let root = match this.root {
            Some(root) => &*root,
            None => this
                .root
                .insert(this.group.start_pending(*this.key as usize)),
        };
        let outcome = if root.is_aborted() {
            ChildOutcome::Aborted
        } else {
            let mut fut = this.fut.as_mut();
            let polled = current::enter_task(root, cx, |cx| {
                catch_unwind(AssertUnwindSafe(|| {
                    fut.as_mut()
                        .as_pin_mut()
                        .expect("polled after completion")
                        .poll(cx)
                }))
            });
            match polled {
                Ok(Poll::Pending) => {
                    // An abort between the check above and the registration woke nobody.
                    if root.is_aborted() {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
                Ok(Poll::Ready(output)) => ChildOutcome::Done(output.into_result()),
                Err(panic) => ChildOutcome::Panicked(panic),
            }
        };
        *this.finished = true;
        // Drop the task's future before reporting, so its destructors have run by the time
        // the group's host sees the task as finished. A panic in a destructor is the task's
        // panic, as one during its last poll would be: the group resumes it in its host
        // (the first panic wins if the task panicked already). An aborted task's group has
        // no host any more (its future was dropped), so that panic, which the panic hook
        // has reported, goes nowhere: `docs/tasks.md`, "Dropping a group aborts its tasks".
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.fut.set(None))) {
            Err(panic) if matches!(outcome, ChildOutcome::Done(_)) => ChildOutcome::Panicked(panic),
            _ => outcome,
        };
        let root = this.root.take().expect("a task that ran has its node");
        finish(Some(&root), this.group, this.start, outcome);
        Node::recycle(root);
        Poll::Ready(())
    }
}

#[inline]
fn finish<E, S>(
    root: Option<&Arc<Node>>,
    group: &GroupShared<E>,
    start: &S,
    outcome: ChildOutcome<E>,
) where
    E: IsCancelled,
    S: StartSink<E>,
{
    if let Some(root) = root {
        root.unlink();
    }
    // Before `started()`, the outcome belongs to the caller of `start()`.
    if let Some(outcome) = start.task_ended(outcome) {
        group.report(outcome, root.and_then(|r| r.task()));
    }
    group.task_done();
}
