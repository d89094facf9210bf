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

/// A task's place in its group's scope tree.
enum Root {
    /// Not polled yet: the task's key among its group node's children, where its entry
    /// holds its data until the first poll gives it a node.
    Pending(usize),
    Started(Arc<Node>),
    /// Finished, its node given back.
    Done,
}

pin_project! {
    pub(crate) struct Child<F, E: IsCancelled> {
        root: Root,
        group: Arc<GroupShared<E>>,
        start: Option<Arc<dyn StartSink<E>>>,
        finished: bool,
        #[pin]
        fut: Option<F>,
    }

    impl<F, E: IsCancelled> PinnedDrop for Child<F, E> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.finished {
                // The runtime dropped the task: report it so its group does not wait forever.
                // A panic in the future's `Drop` has nowhere to go (see `Aborted` in `poll`):
                // it stays out of the runtime, on every backend alike.
                drop(catch_unwind(AssertUnwindSafe(|| this.fut.set(None))));
                match std::mem::replace(this.root, Root::Done) {
                    Root::Started(root) => {
                        finish(Some(&root), this.group, this.start, ChildOutcome::Aborted);
                    }
                    Root::Pending(key) => {
                        this.group.node.remove_pending(key);
                        finish(None, this.group, this.start, ChildOutcome::Aborted);
                    }
                    Root::Done => {}
                }
            }
        }
    }
}

impl<F, E: IsCancelled> Child<F, E> {
    /// A task whose root node is made already (a task with a handle, or made by `start()`).
    pub(crate) fn new(
        root: Arc<Node>,
        group: Arc<GroupShared<E>>,
        start: Option<Arc<dyn StartSink<E>>>,
        fut: F,
    ) -> Self {
        Child {
            root: Root::Started(root),
            group,
            start,
            finished: false,
            fut: Some(fut),
        }
    }

    /// A task added to `group`'s node as pending with key `key` ([`Node::add_pending`]):
    /// its first poll gives it its root node.
    pub(crate) fn pending(key: usize, group: Arc<GroupShared<E>>, fut: F) -> Self {
        Child {
            root: Root::Pending(key),
            group,
            start: None,
            finished: false,
            fut: Some(fut),
        }
    }
}

impl<F, E> Future for Child<F, E>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: IsCancelled,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(());
        }
        if let Root::Pending(key) = *this.root {
            *this.root = Root::Started(this.group.node.start_pending(key));
        }
        let Root::Started(root) = &*this.root else {
            unreachable!("polled after completion")
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
        let Root::Started(root) = std::mem::replace(this.root, Root::Done) else {
            unreachable!("a task that ran has its node")
        };
        finish(Some(&root), this.group, this.start, outcome);
        Node::recycle(root);
        Poll::Ready(())
    }
}

#[inline]
fn finish<E>(
    root: Option<&Arc<Node>>,
    group: &GroupShared<E>,
    start: &Option<Arc<dyn StartSink<E>>>,
    outcome: ChildOutcome<E>,
) where
    E: IsCancelled,
{
    if let Some(root) = root {
        root.unlink();
    }
    // Before `started()`, the outcome belongs to the caller of `start()`.
    let outcome = match start {
        Some(sink) => sink.task_ended(outcome),
        None => Some(outcome),
    };
    if let Some(outcome) = outcome {
        group.report(outcome, root.and_then(|r| r.task()));
    }
    group.task_done();
}
