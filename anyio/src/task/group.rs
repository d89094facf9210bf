//! Task groups: structured concurrency. A group's future returns only when its body and
//! every task started in it have finished.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::task::Context;

use atomic_waker::AtomicWaker;

use super::child::{Child, ChildOutcome, InGroup};
use super::error::{GroupClosed, StartError};
use super::group_future::TaskGroupFuture;
use super::output::TaskOutput;
use super::start::{self, TaskStatus};
use crate::cancel::current;
use crate::cancel::error::{BoxError, IsCancelled};
use crate::cancel::node::Node;
use crate::cancel::scope::CancelScope;
use crate::context::{RunCtx, TaskData, TaskName};

/// Runs `body` with a new [`TaskGroup`], then waits for every task started in it.
///
/// The group has its own cancel scope. When the body or a task fails (returns an error that
/// is not a cancellation) or panics, that scope is cancelled, so the other tasks see
/// [`Cancelled`](crate::Cancelled) at their next checkpoint and can clean up. The group then
/// returns:
///
/// - `Ok(Some(value))` when the body returned `Ok(value)` and nothing failed;
/// - `Ok(None)` when the group's own scope was cancelled ([`TaskGroup::cancel`], its
///   deadline) and the body ended with that cancellation;
/// - `Err(e)` listing every failure in order (see [`TaskGroupError`](crate::TaskGroupError)), or carrying a
///   cancellation caused by an enclosing scope.
///
/// A panic in a task or in the body cancels the group too, and is resumed in the caller
/// once every task has finished, as with [`std::thread::scope`].
///
/// Tasks are runtime tasks (`Send + 'static`): on a multi-threaded runtime they run in
/// parallel. Their error type, and the body's, is [`BoxError`], so `?` converts any error
/// and nothing needs a type annotation; a task returns `()` or `Result<(), BoxError>` (see
/// [`TaskOutput`]). For another error type, [`TaskGroup::<E>::run`](TaskGroup::run).
///
/// # Cancel safety
///
/// Dropping the group's future before it finishes *aborts* its tasks: each is dropped at
/// its current await point (no async cleanup can run, since Rust has no async drop). Cancel
/// the group with a scope instead to let them clean up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # anyio::run(async {
/// anyio::task_group(|tg| async move {
///     for i in 0..5 {
///         tg.start_soon(async move {
///             anyio::sleep(Duration::from_millis(10 * i)).await?;
///             println!("task {i} done");
///             Ok(())
///         })?;
///     }
///     tg.start_soon(async { println!("a task that cannot fail") })?;
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # }).unwrap();
/// ```
pub fn task_group<T, F, Fut>(body: F) -> TaskGroupFuture<F, Fut, T, BoxError>
where
    F: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<T, BoxError>>,
{
    TaskGroupFuture::new(body)
}

/// A handle to a running task group, used to start tasks in it.
///
/// Cheap to clone: a task can start siblings with a clone. Starting a task after the group
/// has finished fails with [`GroupClosed`].
pub struct TaskGroup<E = BoxError> {
    shared: Arc<GroupShared<E>>,
}

impl<E> Clone for TaskGroup<E> {
    fn clone(&self) -> Self {
        TaskGroup {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("tasks", &self.shared.count.load(Acquire))
            .field("cancel_called", &self.shared.node.cancel_called())
            .finish()
    }
}

impl<E> TaskGroup<E> {
    pub(crate) fn from_shared(shared: Arc<GroupShared<E>>) -> Self {
        TaskGroup { shared }
    }
}

impl<E: IsCancelled + Send + 'static> TaskGroup<E> {
    /// [`task_group`] with the error type `E` for the body and the tasks:
    /// `TaskGroup::<io::Error>::run(|tg| async move { .. })`.
    ///
    /// The group then returns the failures as `E`s ([`TaskGroupError<E>`](crate::TaskGroupError)),
    /// which for `io::Error` converts back into one `io::Error` with `?`. `E` must tell a
    /// cancellation from a failure ([`IsCancelled`]).
    ///
    /// # Cancel safety
    ///
    /// As [`task_group`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use anyio::TaskGroup;
    ///
    /// # anyio::run(async {
    /// let err = TaskGroup::<io::Error>::run(|tg| async move {
    ///     tg.start_soon(async { Err(io::Error::other("boom")) })?;
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert_eq!(err.into_single().unwrap().to_string(), "boom");
    /// # }).unwrap();
    /// ```
    pub fn run<T, F, Fut>(body: F) -> TaskGroupFuture<F, Fut, T, E>
    where
        F: FnOnce(TaskGroup<E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        TaskGroupFuture::new(body)
    }

    /// Starts `fut` as a new task in this group. Its default name is the future's type
    /// name (`my_crate::worker` for `worker()`); see [`named`](TaskGroup::named).
    ///
    /// The task returns `()` or `Result<(), E>` ([`TaskOutput`]). It runs in the group's
    /// cancel scope. If it returns an error that is not a cancellation, or panics, the group
    /// is cancelled and the error is reported when the group ends.
    ///
    /// # Errors
    ///
    /// [`GroupClosed`] if the group has finished.
    pub fn start_soon<F>(&self, fut: F) -> Result<(), GroupClosed>
    where
        F: Future<Output: TaskOutput<E>> + Send + 'static,
    {
        self.spawn(default_name::<F>(), fut)
    }

    /// Starts a task and waits until it calls [`TaskStatus::started`], then returns the value
    /// it passed (a bound port, say).
    ///
    /// Until it has started, the task runs in the *caller's* cancel scope: cancelling the
    /// caller cancels it, cancelling the group does not. When it calls `started`, it moves
    /// into the group's scope, and later failures go to the group.
    ///
    /// # Errors
    ///
    /// - [`StartError::Failed`] with the task's error if it failed before starting (the group
    ///   is not cancelled; a cancellation of the caller arrives this way too);
    /// - [`StartError::NotStarted`] if it returned without calling `started` (or dropped its
    ///   [`TaskStatus`]);
    /// - [`StartError::Closed`] if the group has finished.
    ///
    /// A panic in the task before it started resumes in the caller.
    ///
    /// # Cancel safety
    ///
    /// If this future is dropped before the task started, the task is cancelled; it stays
    /// in the group until it ends.
    pub async fn start<V, F, Fut>(&self, f: F) -> Result<V, StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output: TaskOutput<E>> + Send + 'static,
        V: Send + 'static,
    {
        self.start_named(default_name::<F>(), f).await
    }

    /// Starts tasks with a name of your choice: `tg.named("acceptor").start_soon(fut)`.
    pub fn named(&self, name: impl Into<String>) -> TaskBuilder<'_, E> {
        TaskBuilder {
            group: self,
            name: TaskName::Owned(Arc::from(name.into())),
        }
    }

    /// Cancels the group's scope: every task in it (and the body) sees
    /// [`Cancelled`](crate::Cancelled) at its next checkpoint. The group absorbs this
    /// cancellation.
    pub fn cancel(&self) {
        self.shared.node.cancel();
    }

    /// [`cancel`](TaskGroup::cancel) with a reason, which every task of the group reads
    /// from [`Cancelled::reason`](crate::Cancelled::reason) (AnyIO's `tg.cancel(reason)`).
    /// As for [`CancelScope::cancel_with_reason`], the first cancel of the group's scope
    /// counts, and later ones change nothing.
    pub fn cancel_with_reason(&self, reason: impl Into<Cow<'static, str>>) {
        self.shared.node.cancel_because(Some(reason.into()));
    }

    /// The group's cancel scope, to set a deadline, a shield, or read its state.
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope::from_node(self.shared.node.clone())
    }

    pub(crate) fn spawn<F>(&self, name: TaskName, fut: F) -> Result<(), GroupClosed>
    where
        F: Future<Output: TaskOutput<E>> + Send + 'static,
    {
        let shared = &self.shared;
        shared.add_task()?;
        // The task gets its root node when it is first polled (see `cancel::node`), unless
        // its group holds more pending tasks than a task's key has room for.
        match shared.node.add_pending(name, shared.host_id) {
            Ok(key) => shared
                .run
                .runtime
                .spawn(Child::pending(key, shared.clone(), fut)),
            Err(name) => self.spawn_started(name, fut),
        }
        Ok(())
    }

    /// `spawn` for a task made with its root node at once: out of line, so that the spawn
    /// of a pending task, the common case, stays one inlined call.
    #[cold]
    #[inline(never)]
    fn spawn_started<F>(&self, name: TaskName, fut: F)
    where
        F: Future<Output: TaskOutput<E>> + Send + 'static,
    {
        self.spawn_rooted(name, |_| (fut, ()));
    }

    /// As `spawn`, for a task whose future is made knowing its root node (the task's own
    /// cancel scope): `make` gives the future and something for the caller (a handle).
    /// Kept beside `spawn` rather than under it, so `start_soon`'s path stays as it is.
    pub(crate) fn spawn_with_root<F, H>(
        &self,
        name: TaskName,
        make: impl FnOnce(&Arc<Node>) -> (F, H),
    ) -> Result<H, GroupClosed>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.shared.add_task()?;
        Ok(self.spawn_rooted(name, make))
    }

    /// Spawns a task counted in the group already, with its root node made at once under
    /// the group's node; `make` gives its future and something for the caller.
    #[inline]
    fn spawn_rooted<F, H>(&self, name: TaskName, make: impl FnOnce(&Arc<Node>) -> (F, H)) -> H
    where
        F: Future<Output: TaskOutput<E>> + Send + 'static,
    {
        let shared = &self.shared;
        let task = TaskData::new(name, Some(shared.host_id), shared.run.clone());
        let root = Node::new_task_under(task, &shared.node);
        let (fut, made) = make(&root);
        shared
            .run
            .runtime
            .spawn(Child::new(root, shared.clone(), InGroup, fut));
        made
    }

    async fn start_named<V, F, Fut>(&self, name: TaskName, f: F) -> Result<V, StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output: TaskOutput<E>> + Send + 'static,
        V: Send + 'static,
    {
        let (value, ()) = self.start_wrapped(name, f, |_, fut| (fut, ())).await?;
        Ok(value)
    }

    /// As `start_named`, with the task's future wrapped by `wrap`, which knows the task's
    /// root node and gives something for the caller beside the wrapped future (a handle).
    pub(crate) async fn start_wrapped<V, F, Fut, W, G, H>(
        &self,
        name: TaskName,
        f: F,
        wrap: W,
    ) -> Result<(V, H), StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        W: FnOnce(&Arc<Node>, Fut) -> (G, H),
        G: Future<Output: TaskOutput<E>> + Send + 'static,
        V: Send + 'static,
    {
        let shared = &self.shared;
        shared.add_task().map_err(StartError::Closed)?;
        // Until it starts, the task hangs under the caller's innermost scope.
        let (caller_scope, caller_id) = current::with_current(|cur| match cur {
            Some(c) => (c.innermost().clone(), c.task_data().id),
            None => (shared.node.clone(), shared.host_id),
        });
        let task = TaskData::new(name, Some(caller_id), shared.run.clone());
        let root = Node::new_task_under(task, &caller_scope);
        let slot = start::StartSlot::<V, E>::new();
        let status = TaskStatus::new(
            slot.clone(),
            root.clone(),
            shared.node.clone(),
            shared.host_id,
        );
        let (fut, made) = wrap(&root, f(status));
        shared
            .run
            .runtime
            .spawn(Child::new(root.clone(), shared.clone(), slot.clone(), fut));
        let value = start::wait_started(slot, root).await?;
        Ok((value, made))
    }
}

/// Starts tasks with a given name; made by [`TaskGroup::named`].
#[derive(Debug)]
pub struct TaskBuilder<'a, E> {
    pub(super) group: &'a TaskGroup<E>,
    pub(super) name: TaskName,
}

impl<E: IsCancelled + Send + 'static> TaskBuilder<'_, E> {
    /// [`TaskGroup::start_soon`] with this name.
    ///
    /// # Errors
    ///
    /// [`GroupClosed`] if the group has finished.
    pub fn start_soon<F>(self, fut: F) -> Result<(), GroupClosed>
    where
        F: Future<Output: TaskOutput<E>> + Send + 'static,
    {
        self.group.spawn(self.name, fut)
    }

    /// [`TaskGroup::start`] with this name.
    ///
    /// # Errors
    ///
    /// As [`TaskGroup::start`].
    ///
    /// # Cancel safety
    ///
    /// As [`TaskGroup::start`].
    pub async fn start<V, F, Fut>(self, f: F) -> Result<V, StartError<E>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output: TaskOutput<E>> + Send + 'static,
        V: Send + 'static,
    {
        self.group.start_named(self.name, f).await
    }
}

/// A task's default name: its type name without the `{{closure}}`s that `async fn`s and
/// closures add, so `worker()` is named `my_crate::worker` and an async block in `main` is
/// named `my_crate::main`, like AnyIO's `module.qualname`.
pub(crate) fn default_name<F>() -> TaskName {
    let mut name = std::any::type_name::<F>();
    while let Some(outer) = name.strip_suffix("::{{closure}}") {
        name = outer;
    }
    TaskName::Static(name)
}

/// The reasons of the cancels a group makes itself: when a task (or the body) fails or
/// panics, every other task of the group reads why from its `Cancelled`; the tasks of a
/// dropped group are dropped without seeing theirs.
const TASK_FAILED: &str = "a task in the task group failed";
const TASK_PANICKED: &str = "a task in the task group panicked";
const GROUP_DROPPED: &str = "the task group's future was dropped";

/// What the tasks of a group share with it.
pub(crate) struct GroupShared<E> {
    pub(crate) node: Arc<Node>,
    host_id: u64,
    run: Arc<RunCtx>,
    /// Live tasks plus one for the body while it runs; 0 once the group has finished, and
    /// then no task can be added.
    count: AtomicUsize,
    host: AtomicWaker,
    aborted: AtomicBool,
    outcome: Mutex<Outcome<E>>,
}

/// How the body and the tasks of a group ended, apart from plain successes.
pub(crate) struct Outcome<E> {
    pub(crate) errors: Vec<E>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    pub(crate) cancelled: bool,
}

impl<E> Default for Outcome<E> {
    fn default() -> Self {
        Outcome {
            errors: Vec::new(),
            panic: None,
            cancelled: false,
        }
    }
}

impl<E: IsCancelled> GroupShared<E> {
    /// Called inside the group's scope, in the host task.
    pub(crate) fn new(node: Arc<Node>) -> Arc<Self> {
        let (host_id, run) = current::with_current(|cur| {
            let task = cur.expect("a task group runs inside a task").task_data();
            (task.id, task.run.clone())
        });
        Arc::new(GroupShared {
            node,
            host_id,
            run,
            count: AtomicUsize::new(1),
            host: AtomicWaker::new(),
            aborted: AtomicBool::new(false),
            outcome: Mutex::new(Outcome::default()),
        })
    }

    fn add_task(&self) -> Result<(), GroupClosed> {
        let mut n = self.count.load(Acquire);
        loop {
            if n == 0 || self.aborted.load(Acquire) {
                return Err(GroupClosed);
            }
            match self.count.compare_exchange_weak(n, n + 1, AcqRel, Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => n = actual,
            }
        }
    }

    /// The root node of the task added to the group's node as pending with key `key`, at
    /// its first poll.
    pub(crate) fn start_pending(&self, key: usize) -> Arc<Node> {
        self.node.start_pending(key, &self.run)
    }

    /// Whether every task and the body have finished; if not, the host is woken when they
    /// have.
    pub(crate) fn all_done(&self, cx: &Context<'_>) -> bool {
        if self.count.load(Acquire) == 0 {
            return true;
        }
        self.host.register(cx.waker());
        self.count.load(Acquire) == 0
    }

    /// How the group's tasks ended, taken once they all have.
    pub(crate) fn take_outcome(&self) -> Outcome<E> {
        std::mem::take(&mut *self.outcome.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// One task (or the body) has finished.
    pub(crate) fn task_done(&self) {
        if self.count.fetch_sub(1, AcqRel) == 1 {
            self.host.wake();
        }
    }

    /// Records how a task (or the body) ended; a failure or panic cancels the group, on
    /// behalf of `task` (the task that ended), or of the calling task (the body's, the
    /// host) when `None`.
    pub(crate) fn report(&self, outcome: ChildOutcome<E>, task: Option<&TaskData>) {
        if let ChildOutcome::Done(Ok(())) | ChildOutcome::Aborted = outcome {
            return;
        }
        let mut state = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        let reason = match outcome {
            ChildOutcome::Done(Ok(())) | ChildOutcome::Aborted => return,
            ChildOutcome::Done(Err(e)) if e.is_cancelled() => {
                state.cancelled = true;
                return;
            }
            ChildOutcome::Done(Err(e)) => {
                state.errors.push(e);
                TASK_FAILED
            }
            ChildOutcome::Panicked(p) => {
                state.panic.get_or_insert(p);
                TASK_PANICKED
            }
        };
        drop(state);
        match task {
            Some(task) => self.node.cancel_for(Cow::Borrowed(reason), task),
            None => self.node.cancel_because(Some(Cow::Borrowed(reason))),
        }
    }

    /// Aborts every task at every depth (the tasks of groups nested inside them too): used
    /// when the group's future is dropped before it finished. Every node below the group's
    /// is marked aborted before any task is woken, so a task woken by the cancellation is
    /// dropped, not polled, whatever it was waiting for.
    fn abort(&self) {
        self.aborted.store(true, Release);
        // Marked before the cancellation wakes anything: a task woken on another worker
        // must find itself aborted, not merely cancelled.
        self.node.abort_tree();
        self.node.cancel_because(Some(Cow::Borrowed(GROUP_DROPPED)));
    }
}

/// Aborts the group's tasks if the group's future is dropped before they all finished.
pub(crate) struct AbortOnDrop<E: IsCancelled>(pub(crate) Option<Arc<GroupShared<E>>>);

impl<E: IsCancelled> Drop for AbortOnDrop<E> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.abort();
        }
    }
}
