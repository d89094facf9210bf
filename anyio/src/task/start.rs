//! `TaskGroup::start`: the handshake between a starting task and its caller.
//!
//! The caller waits on a [`StartSlot`]. The task fills it either by calling
//! [`TaskStatus::started`] (which also moves the task from the caller's scope into the
//! group's) or by ending first, in which case its outcome goes to the caller instead of the
//! group.

use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

use super::child::ChildOutcome;
use super::error::StartError;
use crate::cancel::current;
use crate::cancel::node::Node;

/// Lets a task started with [`TaskGroup::start`](crate::TaskGroup::start) report that it
/// is ready, and hand a value back to the caller.
///
/// `started` consumes the status, so a value cannot be sent twice; that misuse does not
/// compile:
///
/// ```compile_fail
/// fn twice(status: anyio::TaskStatus<u16>) {
///     status.started(1);
///     status.started(2); // error: use of moved value
/// }
/// ```
///
/// A task that drops its status without calling `started` makes `start` fail with
/// [`StartError::NotStarted`] once the task ends.
pub struct TaskStatus<V = ()> {
    inner: Option<StatusInner<V>>,
}

struct StatusInner<V> {
    slot: Arc<dyn StartedSink<V>>,
    /// The task's root node, the group scope it moves into and the group's host task, for
    /// a task of `TaskGroup::start`; `None` for a task that stays where it is (a portal's).
    relink: Option<(Arc<Node>, Arc<Node>, u64)>,
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus")
            .field("ignored", &self.inner.is_none())
            .finish()
    }
}

impl<V> TaskStatus<V> {
    pub(crate) fn new(
        slot: Arc<dyn StartedSink<V>>,
        root: Arc<Node>,
        group_scope: Arc<Node>,
        host_id: u64,
    ) -> Self {
        TaskStatus {
            inner: Some(StatusInner {
                slot,
                relink: Some((root, group_scope, host_id)),
            }),
        }
    }

    /// A status that only hands the value to `slot`: the task does not change scopes.
    pub(crate) fn to_sink(slot: Arc<dyn StartedSink<V>>) -> Self {
        TaskStatus {
            inner: Some(StatusInner { slot, relink: None }),
        }
    }

    /// A status that nobody waits on (AnyIO's `TASK_STATUS_IGNORED`), so a function written
    /// for `start` can also run with `start_soon` or be awaited directly.
    pub fn ignored() -> Self {
        TaskStatus { inner: None }
    }

    /// Reports that the task is ready: the caller's `start` returns `value`, and the task
    /// moves from the caller's cancel scope into the group's.
    ///
    /// If the caller's scope is cancelled by then, the task stays where it is (trio's
    /// rule): `value` is dropped, the task goes on in the cancelled scope, and `start`
    /// returns how the task ends, its error or else the cancellation. A task moved into a
    /// group where no cancelled scope would catch its cancellation could not end cleanly.
    pub fn started(self, value: V) {
        let Some(inner) = self.inner else { return };
        if let Some((root, group_scope, host_id)) = inner.relink {
            // The root hangs under the caller's innermost scope until it moves, so its
            // state is the caller's.
            if root.is_cancelled() {
                inner.slot.stay();
                return;
            }
            root.relink(&group_scope);
            if let Some(task) = root.task() {
                task.set_parent_id(host_id);
            }
        }
        inner.slot.started(value);
    }
}

/// The side of the slot the task's [`TaskStatus`] sees.
pub(crate) trait StartedSink<V>: Send + Sync {
    fn started(&self, value: V);

    /// The task called `started` in a cancelled scope and stays there: its outcome goes
    /// to the caller when it ends.
    fn stay(&self) {}
}

/// The side of the slot the task's wrapper sees when the task ends.
pub(crate) trait StartSink<E>: Send + Sync {
    /// Takes the outcome if the task had not started; gives it back for the group otherwise.
    fn task_ended(&self, outcome: ChildOutcome<E>) -> Option<ChildOutcome<E>>;
}

impl<E, T: StartSink<E> + ?Sized> StartSink<E> for Arc<T> {
    fn task_ended(&self, outcome: ChildOutcome<E>) -> Option<ChildOutcome<E>> {
        (**self).task_ended(outcome)
    }
}

enum State<V, E> {
    Waiting,
    /// `started` was called in a cancelled scope: the caller waits for the task's end.
    Stayed,
    Started(Option<V>),
    Ended(Option<ChildOutcome<E>>),
    /// The caller stopped waiting.
    Abandoned,
}

pub(crate) struct StartSlot<V, E> {
    state: Mutex<State<V, E>>,
    caller: AtomicWaker,
}

impl<V, E> StartSlot<V, E> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(StartSlot {
            state: Mutex::new(State::Waiting),
            caller: AtomicWaker::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V, E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V: Send, E: Send> StartedSink<V> for StartSlot<V, E> {
    fn started(&self, value: V) {
        let mut state = self.lock();
        if let State::Waiting = *state {
            *state = State::Started(Some(value));
            drop(state);
            self.caller.wake();
        }
    }

    fn stay(&self) {
        let mut state = self.lock();
        if let State::Waiting = *state {
            *state = State::Stayed;
        }
    }
}

impl<V: Send, E: Send> StartSink<E> for StartSlot<V, E> {
    fn task_ended(&self, outcome: ChildOutcome<E>) -> Option<ChildOutcome<E>> {
        let mut state = self.lock();
        match *state {
            State::Waiting | State::Stayed => {
                *state = State::Ended(Some(outcome));
                drop(state);
                self.caller.wake();
                None
            }
            // Nobody waits for the outcome of an abandoned start: it is dropped, not
            // reported, since it belongs to a caller that is gone.
            State::Abandoned => None,
            State::Started(_) | State::Ended(_) => Some(outcome),
        }
    }
}

/// Waits for the task to start or end; cancels the task if dropped before either.
pub(crate) async fn wait_started<V, E>(
    slot: Arc<StartSlot<V, E>>,
    root: Arc<Node>,
) -> Result<V, StartError<E>> {
    let mut guard = AbandonOnDrop {
        slot: &slot,
        root: &root,
        armed: true,
    };
    let outcome = WaitStart { slot: &slot }.await;
    guard.armed = false;
    match outcome {
        Ok(value) => Ok(value),
        // The task ran (and stayed) in the caller's cancelled scope: the caller gets the
        // cancellation, as the code after `start` would at its next checkpoint.
        Err(ChildOutcome::Done(Ok(()))) if current::is_cancelled() => {
            Err(StartError::Cancelled(current::cancelled()))
        }
        Err(ChildOutcome::Done(Ok(()))) => Err(StartError::NotStarted),
        Err(ChildOutcome::Done(Err(e))) => Err(StartError::Failed(e)),
        Err(ChildOutcome::Panicked(panic)) => resume_unwind(panic),
        Err(ChildOutcome::Aborted) => Err(StartError::Closed(super::error::GroupClosed)),
    }
}

struct WaitStart<'a, V, E> {
    slot: &'a StartSlot<V, E>,
}

impl<V, E> Future for WaitStart<'_, V, E> {
    type Output = Result<V, ChildOutcome<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.caller.register(cx.waker());
        let mut state = self.slot.lock();
        match &mut *state {
            State::Started(value) => match value.take() {
                Some(v) => Poll::Ready(Ok(v)),
                None => Poll::Pending,
            },
            State::Ended(outcome) => match outcome.take() {
                Some(o) => Poll::Ready(Err(o)),
                None => Poll::Pending,
            },
            State::Waiting | State::Stayed | State::Abandoned => Poll::Pending,
        }
    }
}

struct AbandonOnDrop<'a, V, E> {
    slot: &'a StartSlot<V, E>,
    root: &'a Node,
    armed: bool,
}

impl<V, E> Drop for AbandonOnDrop<'_, V, E> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.slot.lock();
        if let State::Waiting | State::Stayed = *state {
            *state = State::Abandoned;
            drop(state);
            // The task still runs in the scope of a caller that has left: cancel it.
            self.root.cancel();
        }
    }
}
