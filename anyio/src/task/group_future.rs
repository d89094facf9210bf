//! The future of [`task_group`](crate::task_group): the group's scope around its body and
//! the wait for its tasks.
//!
//! It is written by hand rather than as `async` code because groups nest deeply (a
//! recursive function that opens a group in each call): one level polls through this
//! future, the scope's driver and [`GroupBody`], each with a small frame, and the body's
//! output stays in place instead of being copied out through every layer.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::child::ChildOutcome;
use super::error::TaskGroupError;
use super::group::{AbortOnDrop, GroupShared, Outcome, TaskGroup};
use crate::cancel::current;
use crate::cancel::driver::Driver;
use crate::cancel::error::IsCancelled;
use crate::cancel::node::Node;

pin_project! {
    /// The future of [`task_group`](crate::task_group): resolves when the body and every
    /// task started in the group have finished.
    ///
    /// Dropping it before it finishes aborts the group's tasks at every depth (see
    /// [`task_group`](crate::task_group)).
    #[must_use = "futures do nothing unless awaited"]
    pub struct TaskGroupFuture<F, Fut, T, E: IsCancelled> {
        #[pin]
        driver: Driver<GroupBody<F, Fut, T, E>>,
    }
}

impl<F, Fut, T, E: IsCancelled> fmt::Debug for TaskGroupFuture<F, Fut, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupFuture").finish_non_exhaustive()
    }
}

impl<F, Fut, T, E> TaskGroupFuture<F, Fut, T, E>
where
    F: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: IsCancelled + Send + 'static,
{
    pub(crate) fn new(body: F) -> Self {
        let node = Node::new_scope(None, false);
        TaskGroupFuture {
            driver: Driver::eager(
                node.clone(),
                GroupBody {
                    node,
                    make: Some(body),
                    shared: None,
                    abort: AbortOnDrop(None),
                    body: None,
                    value: None,
                    phase: Phase::Start,
                },
            ),
        }
    }
}

impl<F, Fut, T, E> Future for TaskGroupFuture<F, Fut, T, E>
where
    F: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: IsCancelled + Send + 'static,
{
    type Output = Result<Option<T>, TaskGroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut driver = self.project().driver;
        match driver.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(((), catches)) => finish(driver, catches),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Body,
    /// The body has ended; the wait for the tasks yields once first, so even an empty
    /// group lets other tasks run.
    Yield,
    Wait,
    Done,
}

pin_project! {
    #[project = GroupBodyProj]
    /// Inside the group's scope: the body, then the wait for the tasks. Not a cancellation
    /// point while waiting: when the host is cancelled, the cancellation reaches the tasks
    /// through the scope tree, and the host keeps waiting for them (AnyIO's shielded wait).
    struct GroupBody<F, Fut, T, E: IsCancelled> {
        node: Arc<Node>,
        make: Option<F>,
        shared: Option<Arc<GroupShared<E>>>,
        abort: AbortOnDrop<E>,
        #[pin]
        body: Option<Fut>,
        value: Option<T>,
        phase: Phase,
    }
}

impl<F, Fut, T, E> Future for GroupBody<F, Fut, T, E>
where
    F: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: IsCancelled + Send + 'static,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.phase == Phase::Start {
            self.as_mut().start();
        }
        if self.phase == Phase::Body {
            let body = self.as_mut().project().body;
            let polled = catch_unwind(AssertUnwindSafe(|| poll_body(body, cx)));
            match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                ended => self.as_mut().body_ended(ended),
            }
        }
        self.wait_tasks(cx)
    }
}

fn poll_body<Fut: Future>(body: Pin<&mut Option<Fut>>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
    body.as_pin_mut()
        .expect("the body runs until it ends")
        .poll(cx)
}

impl<F, Fut, T, E> GroupBody<F, Fut, T, E>
where
    F: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: IsCancelled + Send + 'static,
{
    /// The first poll, inside the group's scope and its host task: the group's shared
    /// state and the body's future.
    fn start(self: Pin<&mut Self>) {
        let mut this = self.project();
        let group = GroupShared::new(this.node.clone());
        this.abort.0 = Some(group.clone());
        let make = this.make.take().expect("a group starts once");
        this.body
            .set(Some(make(TaskGroup::from_shared(group.clone()))));
        *this.shared = Some(group);
        *this.phase = Phase::Body;
    }

    /// The body returned or panicked: its value is kept, a failure is reported to the
    /// group (which cancels it), and its future is dropped before the wait.
    fn body_ended(self: Pin<&mut Self>, ended: Result<Poll<Result<T, E>>, Box<dyn Any + Send>>) {
        let mut this = self.project();
        let shared = this.shared.as_ref().expect("the group has started");
        match ended {
            Ok(Poll::Ready(Ok(v))) => *this.value = Some(v),
            Ok(Poll::Ready(Err(e))) => shared.report(ChildOutcome::Done(Err(e)), None),
            Ok(Poll::Pending) => unreachable!("the body has ended"),
            Err(panic) => shared.report(ChildOutcome::Panicked(panic), None),
        }
        let body = this.body.as_mut();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop_body(body))) {
            shared.report(ChildOutcome::Panicked(panic), None);
        }
        shared.task_done();
        *this.phase = Phase::Yield;
    }

    /// Waits until every task of the group has finished.
    fn wait_tasks(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let shared = this.shared.as_ref().expect("the group has started");
        match *this.phase {
            Phase::Yield => {
                *this.phase = Phase::Wait;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Phase::Wait => {}
            _ => unreachable!("the group waits for its tasks after its body"),
        }
        if !shared.all_done(cx) {
            return Poll::Pending;
        }
        this.abort.0 = None;
        *this.phase = Phase::Done;
        Poll::Ready(())
    }
}

fn drop_body<Fut>(mut body: Pin<&mut Option<Fut>>) {
    body.set(None);
}

/// How the group ends, once the scope has said whether it catches a cancellation.
fn finish<F, Fut, T, E>(
    driver: Pin<&mut Driver<GroupBody<F, Fut, T, E>>>,
    catches: bool,
) -> Poll<Result<Option<T>, TaskGroupError<E>>>
where
    F: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: IsCancelled + Send + 'static,
{
    let body = driver.inner().project();
    Poll::Ready(body.finish(catches))
}

impl<F, Fut, T, E: IsCancelled> GroupBodyProj<'_, F, Fut, T, E> {
    fn finish(self, catches: bool) -> Result<Option<T>, TaskGroupError<E>> {
        let shared = self.shared.as_ref().expect("the group has started");
        let Outcome {
            errors,
            panic,
            cancelled,
        } = shared.take_outcome();
        if let Some(panic) = panic {
            resume_unwind(panic);
        }
        if !errors.is_empty() {
            return Err(TaskGroupError::failed(errors));
        }
        if cancelled {
            if !catches {
                return Err(TaskGroupError::cancelled(current::cancelled()));
            }
            self.node.set_caught();
        }
        Ok(self.value.take())
    }
}
