//! Task handles: a task started with [`TaskGroup::create_task`] (or
//! [`TaskGroup::start_with_handle`]) that can be cancelled on its own and hands its value
//! back to whoever awaits it.
//!
//! The rules this module keeps:
//!
//! - **Its own scope.** A task's root node is already a cancel scope under its group's;
//!   [`TaskHandle::cancel`] cancels that node only. When the task ends with a cancellation
//!   its own scope caused, and no enclosing scope is cancelled too, that scope catches it
//!   (rule 5): the group sees a task that ended cleanly, neither a failure nor a
//!   cancellation of the group.
//! - **One outcome, recorded before the group hears of it.** The wrapper around the task's
//!   future ([`HandleTask`]) stores the value, the failure's message or the cancellation
//!   in the handle's shared state, wakes every waiter, and only then gives the task's
//!   result to the group: a failure still fails the group exactly as with `start_soon`,
//!   and a panic still resumes in the group's host.
//! - **Waiting is a checkpoint.** A waiter first checks for cancellation, so a waiter in a
//!   cancelled scope gets the cancellation even if the task has already finished. Once it
//!   waits, a finished task wins over a cancellation that arrives later ("completed is
//!   completed"). Nothing is consumed by a wait, so every wait is cancel safe.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use pin_project_lite::pin_project;
use slab::Slab;

use super::error::{GroupClosed, StartError};
use super::group::{TaskBuilder, TaskGroup, default_name};
use super::info::TaskId;
use super::start::TaskStatus;
use crate::cancel::checkpoint::OpWait;
use crate::cancel::error::{Cancelled, IsCancelled};
use crate::cancel::node::Node;
use crate::context::TaskName;

/// Where a task started with a handle is in its life, as [`TaskHandle::state`] reports it
/// (AnyIO's `TaskHandle.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Running, and not cancelled.
    Pending,
    /// Running, and cancelled: [`TaskHandle::cancel`] was called, or a scope around the
    /// task (its group's, say) is cancelled. It sees the cancellation at its next
    /// checkpoint.
    Cancelling,
    /// Ended with a value.
    Finished,
    /// Ended with a cancellation.
    Cancelled,
    /// Ended with an error that is not a cancellation, or panicked.
    Failed,
}

/// Why awaiting a [`TaskHandle`] (or one of its accessors) gave no value.
///
/// Only [`Cancelled`](TaskError::Cancelled), the cancellation of the *waiter*, is a
/// cancellation ([`is_cancelled`](IsCancelled::is_cancelled)) and converts to one; the
/// task's own cancellation ([`TaskCancelled`](TaskError::TaskCancelled)) is an outcome
/// of the task, not a reason for the waiter to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task returned an error that is not a cancellation, or panicked. The error value
    /// itself belongs to the task's group, which reports it (and is cancelled by it); the
    /// handle keeps its message: the error's `Display`, or the panic's message.
    Failed {
        /// The task's identifier.
        id: TaskId,
        /// The task's name.
        name: String,
        /// The failure's message.
        message: String,
    },
    /// The task ended with a cancellation (its handle's [`cancel`](TaskHandle::cancel),
    /// or a scope around it).
    TaskCancelled {
        /// The task's identifier.
        id: TaskId,
        /// The task's name.
        name: String,
    },
    /// The task has not finished yet (only from the non-blocking accessors).
    NotFinished,
    /// The task's value was already taken, through this handle or a clone of it.
    Taken,
    /// The waiter itself was cancelled while it waited (or before): the cancellation of the
    /// enclosing scope, to propagate with `?`.
    Cancelled(Cancelled),
}

impl IsCancelled for TaskError {
    fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled(_))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed { id, name, message } => {
                write!(f, "task {name} (id {id}) failed: {message}")
            }
            TaskError::TaskCancelled { id, name } => {
                write!(f, "task {name} (id {id}) was cancelled")
            }
            TaskError::NotFinished => f.write_str("the task has not finished yet"),
            TaskError::Taken => f.write_str("the task's value was already taken"),
            TaskError::Cancelled(c) => c.fmt(f),
        }
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TaskError::Cancelled(c) => Some(c),
            _ => None,
        }
    }
}

impl From<TaskError> for io::Error {
    /// The waiter's cancellation stays a cancellation; every other case becomes an error of
    /// kind `Other` that is not one.
    fn from(err: TaskError) -> io::Error {
        match err {
            TaskError::Cancelled(c) => c.into(),
            other => io::Error::other(other),
        }
    }
}

/// A handle to a task started with [`TaskGroup::create_task`]: its state, its
/// cancellation, and its value.
///
/// Awaiting the handle (by value) waits for the task and takes its value. Clones share
/// one task: many tasks may wait on it, and one of them takes the value (with `T: Clone`,
/// [`get`](TaskHandle::get) gives each a copy). Dropping every handle detaches the task: it
/// keeps running in its group, which still waits for it.
///
/// # Examples
///
/// ```
/// use anyio::TaskGroup;
///
/// async fn double(n: u32) -> Result<u32, anyio::BoxError> {
///     anyio::checkpoint().await?;
///     Ok(n * 2)
/// }
///
/// # anyio::run(async {
/// anyio::task_group(|tg: TaskGroup| async move {
///     let handle = tg.create_task(double(21))?;
///     assert_eq!(handle.await?, 42);
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # }).unwrap();
/// ```
pub struct TaskHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for TaskHandle<T> {
    fn clone(&self) -> Self {
        TaskHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name.as_str())
            .field("state", &self.state())
            .finish()
    }
}

impl<T> TaskHandle<T> {
    /// The task's identifier.
    pub fn id(&self) -> TaskId {
        self.shared.id
    }

    /// The task's name: given with [`TaskGroup::named`], else the type name of its future.
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }

    /// Where the task is in its life.
    pub fn state(&self) -> TaskState {
        match &self.shared.lock().outcome {
            Outcome::Running(root) if root.is_cancelled() => TaskState::Cancelling,
            Outcome::Running(_) => TaskState::Pending,
            Outcome::Finished(_) => TaskState::Finished,
            Outcome::Failed(_) => TaskState::Failed,
            Outcome::Cancelled => TaskState::Cancelled,
        }
    }

    /// Cancels the task, and it alone, through its own cancel scope: it sees
    /// [`Cancelled`] at its next checkpoint and can clean up. A task that has not run yet
    /// still runs until its first checkpoint. If it then ends with that cancellation, its
    /// scope catches it: its group neither fails nor counts as cancelled. Does nothing
    /// once the task has finished.
    pub fn cancel(&self) {
        let root = match &self.shared.lock().outcome {
            Outcome::Running(root) => root.clone(),
            _ => return,
        };
        // Outside the lock: cancelling wakes the task, which may finish on another thread
        // and take this lock at once.
        root.cancel();
    }

    /// Waits until the task has ended, however it ended.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the waiter is cancelled first. As every wait, this is a checkpoint:
    /// a waiter in a cancelled scope gets the cancellation even if the task has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting consumes nothing.
    pub async fn wait(&self) -> Result<(), Cancelled> {
        WaitEnd::new(self.shared.clone()).await
    }

    /// Takes the task's value if it has finished, without waiting.
    ///
    /// # Errors
    ///
    /// [`TaskError::NotFinished`] while it runs; otherwise as awaiting the handle.
    pub fn try_take(&self) -> Result<T, TaskError> {
        self.shared.result(Option::take)
    }

    /// Waits for the task and gives a copy of its value, leaving it for other waiters.
    ///
    /// # Errors
    ///
    /// As awaiting the handle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting consumes nothing.
    pub async fn get(&self) -> Result<T, TaskError>
    where
        T: Clone,
    {
        self.wait().await.map_err(TaskError::Cancelled)?;
        self.try_get()
    }

    /// A copy of the task's value if it has finished, without waiting.
    ///
    /// # Errors
    ///
    /// [`TaskError::NotFinished`] while it runs; otherwise as awaiting the handle.
    pub fn try_get(&self) -> Result<T, TaskError>
    where
        T: Clone,
    {
        self.shared.result(|value| value.clone())
    }
}

impl<T> IntoFuture for TaskHandle<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = TaskHandleFuture<T>;

    /// Waits for the task and takes its value.
    ///
    /// # Errors
    ///
    /// - [`TaskError::Failed`] if the task failed or panicked;
    /// - [`TaskError::TaskCancelled`] if it ended with a cancellation;
    /// - [`TaskError::Taken`] if another clone of the handle took the value;
    /// - [`TaskError::Cancelled`] if the waiter itself is cancelled first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the value is taken only in the poll that returns it.
    fn into_future(self) -> TaskHandleFuture<T> {
        TaskHandleFuture {
            wait: WaitEnd::new(self.shared),
        }
    }
}

/// The future of awaiting a [`TaskHandle`]: the task's value, taken.
#[must_use = "futures do nothing unless awaited"]
pub struct TaskHandleFuture<T> {
    wait: WaitEnd<T>,
}

impl<T> fmt::Debug for TaskHandleFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandleFuture")
            .field("id", &self.wait.shared.id)
            .finish_non_exhaustive()
    }
}

impl<T> Future for TaskHandleFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let wait = &mut self.wait;
        Poll::Ready(match ready!(Pin::new(&mut *wait).poll(cx)) {
            Ok(()) => wait.shared.result(Option::take),
            Err(cancelled) => Err(TaskError::Cancelled(cancelled)),
        })
    }
}

/// What a task's handles share with the wrapper that runs it.
struct Shared<T> {
    id: TaskId,
    name: TaskName,
    state: Mutex<State<T>>,
}

struct State<T> {
    outcome: Outcome<T>,
    waiters: Slab<Waker>,
}

enum Outcome<T> {
    /// The task's root node, its own cancel scope, kept only while it runs so that a
    /// finished task's node can go back to the pool.
    Running(Arc<Node>),
    /// `None` once taken.
    Finished(Option<T>),
    Failed(String),
    Cancelled,
}

impl<T> Shared<T> {
    fn new(root: &Arc<Node>) -> Arc<Self> {
        let task = root
            .task()
            .expect("a task's root node carries its task data");
        Arc::new(Shared {
            id: TaskId::from_raw(task.id),
            name: task.name.clone(),
            state: Mutex::new(State {
                outcome: Outcome::Running(root.clone()),
                waiters: Slab::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, through `get` (which takes or copies it), or why there is none.
    fn result(&self, get: impl FnOnce(&mut Option<T>) -> Option<T>) -> Result<T, TaskError> {
        match &mut self.lock().outcome {
            Outcome::Running(_) => Err(TaskError::NotFinished),
            Outcome::Finished(value) => get(value).ok_or(TaskError::Taken),
            Outcome::Failed(message) => Err(TaskError::Failed {
                id: self.id,
                name: self.name.as_str().to_owned(),
                message: message.clone(),
            }),
            Outcome::Cancelled => Err(TaskError::TaskCancelled {
                id: self.id,
                name: self.name.as_str().to_owned(),
            }),
        }
    }

    /// Records how the task ended and wakes every waiter. Returns whether a cancellation
    /// was caused by the task's own scope alone (so that scope catches it).
    fn finish(&self, outcome: Outcome<T>) -> bool {
        let (previous, waiters) = {
            let mut state = self.lock();
            let previous = std::mem::replace(&mut state.outcome, outcome);
            // Most tasks end before anyone waits for them: no slab to move or drop then.
            let waiters = (!state.waiters.is_empty()).then(|| std::mem::take(&mut state.waiters));
            (previous, waiters)
        };
        for (_, waker) in waiters.into_iter().flatten() {
            waker.wake();
        }
        match previous {
            Outcome::Running(root) => {
                root.cancel_called() && !root.parent().is_some_and(|p| p.is_cancelled())
            }
            _ => false,
        }
    }
}

/// Waits until a task has ended: the one wait behind every waiting method of a handle.
struct WaitEnd<T> {
    shared: Arc<Shared<T>>,
    /// This waiter's key in the task's waiters while registered.
    key: Option<usize>,
    wait: OpWait,
}

impl<T> WaitEnd<T> {
    fn new(shared: Arc<Shared<T>>) -> Self {
        WaitEnd {
            shared,
            key: None,
            wait: OpWait::new(),
        }
    }

    fn deregister(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.lock().waiters.try_remove(key);
        }
    }
}

impl<T> Future for WaitEnd<T> {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let WaitEnd { shared, key, wait } = &mut *self;
        let polled = wait.poll(cx, |cx| {
            let mut state = shared.lock();
            if !matches!(state.outcome, Outcome::Running(_)) {
                // `finish` took the waiters away: the key is stale.
                *key = None;
                return Poll::Ready(Ok(()));
            }
            match key.and_then(|k| state.waiters.get_mut(k)) {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(w) => w.clone_from(cx.waker()),
                None => *key = Some(state.waiters.insert(cx.waker().clone())),
            }
            Poll::Pending
        });
        if let Poll::Ready(Err(_)) = polled {
            self.deregister();
        }
        polled
    }
}

impl<T> Drop for WaitEnd<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}

/// Called with a task's handle once the task has ended (`as_completed` queues it).
pub(crate) type OnFinish<T> = Arc<dyn Fn(TaskHandle<T>) + Send + Sync>;

pin_project! {
    /// The task's future, wrapped: records how it ended in its handle before the group
    /// hears of it, and hides from the group a cancellation that its own scope caught.
    pub(crate) struct HandleTask<F, T> {
        #[pin]
        fut: F,
        // `None` once the task has ended.
        shared: Option<Arc<Shared<T>>>,
        on_finish: Option<OnFinish<T>>,
    }

    impl<F, T> PinnedDrop for HandleTask<F, T> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it ended: its group was dropped, or the runtime shut down.
            let this = this.project();
            if let Some(shared) = this.shared.take() {
                end(shared, Outcome::Cancelled, this.on_finish.take());
            }
        }
    }
}

impl<F, T, E> Future for HandleTask<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled + fmt::Display,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let this = self.project();
        let fut = this.fut;
        let ended = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(ended)) => Ok(ended),
            Err(panic) => Err(panic),
        };
        let shared = this
            .shared
            .take()
            .expect("a task's future is not polled after it ended");
        let on_finish = this.on_finish.take();
        match ended {
            Ok(Ok(value)) => {
                end(shared, Outcome::Finished(Some(value)), on_finish);
                Poll::Ready(Ok(()))
            }
            Ok(Err(e)) if e.is_cancelled() => {
                if end(shared, Outcome::Cancelled, on_finish) {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Ready(Err(e))
                }
            }
            Ok(Err(e)) => {
                end(shared, Outcome::Failed(e.to_string()), on_finish);
                Poll::Ready(Err(e))
            }
            Err(panic) => {
                end(shared, Outcome::Failed(panic_message(&*panic)), on_finish);
                resume_unwind(panic)
            }
        }
    }
}

/// Records the outcome, then hands the handle to `on_finish`; returns what
/// [`Shared::finish`] does.
fn end<T>(shared: Arc<Shared<T>>, outcome: Outcome<T>, on_finish: Option<OnFinish<T>>) -> bool {
    let caught = shared.finish(outcome);
    if let Some(on_finish) = on_finish {
        on_finish(TaskHandle { shared });
    }
    caught
}

/// A panic's message: its payload if that is a string.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "the task panicked with a payload that is not a string".to_owned()
    }
}

/// Starts `fut` in `group` under `name`, with a handle.
pub(crate) fn spawn_with_handle<E, T, F>(
    group: &TaskGroup<E>,
    name: TaskName,
    fut: F,
    on_finish: Option<OnFinish<T>>,
) -> Result<TaskHandle<T>, GroupClosed>
where
    E: IsCancelled + fmt::Display + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
{
    group.spawn_with_root(name, |root| wrap(root, fut, on_finish))
}

fn wrap<F, T>(
    root: &Arc<Node>,
    fut: F,
    on_finish: Option<OnFinish<T>>,
) -> (HandleTask<F, T>, TaskHandle<T>) {
    let shared = Shared::new(root);
    let task = HandleTask {
        fut,
        shared: Some(shared.clone()),
        on_finish,
    };
    (task, TaskHandle { shared })
}

impl<E: IsCancelled + fmt::Display + Send + 'static> TaskGroup<E> {
    /// Starts `fut` as a new task in this group, and gives a [`TaskHandle`] to cancel it on
    /// its own or await its value. Its default name is the future's type name (see
    /// [`named`](TaskGroup::named)).
    ///
    /// As with [`start_soon`](TaskGroup::start_soon), a task that fails or panics cancels
    /// the group and its error is reported when the group ends; the handle then says
    /// [`TaskState::Failed`] with the error's message. A task cancelled through its handle
    /// does not affect the group.
    ///
    /// # Errors
    ///
    /// [`GroupClosed`] if the group has finished.
    pub fn create_task<T, F>(&self, fut: F) -> Result<TaskHandle<T>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn_with_handle(self, default_name::<F>(), fut, None)
    }

    /// [`start`](TaskGroup::start), and a [`TaskHandle`] to the started task beside the
    /// value it passed to [`TaskStatus::started`] (AnyIO's `return_handle=True`).
    ///
    /// # Errors
    ///
    /// As [`start`](TaskGroup::start).
    ///
    /// # Cancel safety
    ///
    /// As [`start`](TaskGroup::start).
    pub async fn start_with_handle<V, T, F, Fut>(
        &self,
        f: F,
    ) -> Result<(V, TaskHandle<T>), StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.start_wrapped(default_name::<F>(), f, |root, fut| wrap(root, fut, None))
            .await
    }
}

impl<E: IsCancelled + fmt::Display + Send + 'static> TaskBuilder<'_, E> {
    /// [`TaskGroup::create_task`] with this name.
    ///
    /// # Errors
    ///
    /// [`GroupClosed`] if the group has finished.
    pub fn create_task<T, F>(self, fut: F) -> Result<TaskHandle<T>, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn_with_handle(self.group, self.name, fut, None)
    }

    /// [`TaskGroup::start_with_handle`] with this name.
    ///
    /// # Errors
    ///
    /// As [`TaskGroup::start`].
    ///
    /// # Cancel safety
    ///
    /// As [`TaskGroup::start`].
    pub async fn start_with_handle<V, T, F, Fut>(
        self,
        f: F,
    ) -> Result<(V, TaskHandle<T>), StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.group
            .start_wrapped(self.name, f, |root, fut| wrap(root, fut, None))
            .await
    }
}
