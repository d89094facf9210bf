//! Calling back into the event loop from a blocking thread.
//!
//! Inside a thread started by [`to_thread::run_sync`](crate::to_thread::run_sync), [`run`]
//! runs a future on the loop (as a new task, inside the cancel scope of the task that
//! started the thread, until that task abandons the thread) and blocks until it returns;
//! [`run_sync`] does the same with a closure; [`check_cancelled`] tells whether that task
//! has been cancelled.
//!
//! From any other thread, take an [`EventLoopToken`] on the loop with
//! [`current_token`](crate::current_token) and call [`EventLoopToken::run`] or
//! [`EventLoopToken::run_sync`].
//!
//! ```
//! use std::time::Duration;
//!
//! # anyio::run(async {
//! let n = anyio::to_thread::run_sync(|| {
//!     // On a worker thread: back to the loop for an async call.
//!     anyio::from_thread::run(|| async {
//!         anyio::sleep(Duration::from_millis(1)).await?;
//!         Ok::<_, anyio::Cancelled>(7)
//!     })
//! })
//! .await?;
//! assert_eq!(n.unwrap().unwrap(), 7);
//! # Ok::<_, anyio::Cancelled>(())
//! # }).unwrap().unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::Arc;

use super::bridge::{self, Failure, Registration, Slot};
use super::worker;
use crate::backend::Backend;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::cancel::node::Node;
use crate::context::{self, RunCtx, TaskName};
use crate::task::group::default_name;

/// Why a call into the event loop from another thread could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FromThreadError {
    /// The calling thread was not started by `to_thread::run_sync` and no
    /// [`EventLoopToken`] was given (AnyIO's `NoEventLoopError`).
    NoEventLoop,
    /// The run the call was meant for has ended (AnyIO's `RunFinishedError`), or ended
    /// while the call was running.
    RunFinished,
    /// The call was made from a thread that runs the event loop itself: blocking it would
    /// deadlock. Use `.await` there instead.
    InEventLoopThread,
}

impl fmt::Display for FromThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FromThreadError::NoEventLoop => {
                "not in a thread started by anyio::to_thread::run_sync, and no event loop \
                 token was given: pass one taken with anyio::current_token()"
            }
            FromThreadError::RunFinished => "the event loop's run has already finished",
            FromThreadError::InEventLoopThread => {
                "this function cannot be called from the event loop's own thread"
            }
        })
    }
}

impl std::error::Error for FromThreadError {}

/// A handle to a running event loop, to call into it from a thread that anyio did not
/// start. Take one on the loop with [`current_token`](crate::current_token); it is cheap to
/// clone, `Send` and `Sync`.
///
/// Calls through a token run as tasks under the run's root task: they are cancelled only
/// by their own scopes, and they fail with [`FromThreadError::RunFinished`] once the run
/// has ended.
///
/// ```
/// # anyio::run(async {
/// let token = anyio::current_token();
/// let answer = anyio::to_thread::run_sync(move || {
///     // Any thread would do; this one happens to be a worker.
///     std::thread::spawn(move || token.run(|| async { 6 * 7 }))
///         .join()
///         .unwrap()
/// })
/// .await?;
/// assert_eq!(answer, Ok(42));
/// # Ok::<_, anyio::Cancelled>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Clone)]
pub struct EventLoopToken {
    run: Arc<RunCtx>,
}

/// Two tokens are equal when they reach the same run.
impl PartialEq for EventLoopToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.run, &other.run)
    }
}

impl Eq for EventLoopToken {}

impl fmt::Debug for EventLoopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoopToken")
            .field("backend", &self.backend())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The token of the event loop running the calling code: the current task's run, or, in
/// a thread started by [`to_thread::run_sync`](crate::to_thread::run_sync), the run of the
/// task that started it.
///
/// # Panics
///
/// Outside every anyio task and worker thread (in plain synchronous code, or in a task of
/// a runtime that anyio did not start): there is no loop to return.
pub fn current_token() -> EventLoopToken {
    try_current_run()
        .map(|run| EventLoopToken { run })
        .expect("anyio::current_token() must be called inside an anyio task or worker thread")
}

fn try_current_run() -> Option<Arc<RunCtx>> {
    current::with_current(|cur| cur.map(|c| c.task_data().run.clone()))
        .or_else(|| worker::current().map(|w| w.run))
}

impl EventLoopToken {
    pub(crate) fn from_run(run: Arc<RunCtx>) -> Self {
        EventLoopToken { run }
    }

    /// A weak reference to the run's context (see `__private::run_context`).
    pub(crate) fn run_weak(&self) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        let weak: std::sync::Weak<RunCtx> = Arc::downgrade(&self.run);
        weak
    }

    /// The backend of the run.
    pub fn backend(&self) -> Backend {
        self.run.runtime.backend()
    }

    /// Whether the run has ended, so calls through this token fail.
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
    }

    /// Runs the future made by `f` as a task of the run and blocks the calling thread until
    /// it completes; returns its output. A panic in the future resumes in the caller.
    ///
    /// The task runs under the run's root task, so nothing but its own scopes cancels it.
    ///
    /// # Errors
    ///
    /// [`FromThreadError::InEventLoopThread`] when called from a thread that is running a
    /// task of this run; [`FromThreadError::RunFinished`] when the run has ended, or ends
    /// before the future completes.
    pub fn run<F, Fut>(&self, f: F) -> Result<Fut::Output, FromThreadError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.call_in_root(default_name::<F>(), async move { f().await })
    }

    /// Runs `f` on the event loop (inside a task of the run) and blocks the calling thread
    /// until it returns; returns its result. A panic in `f` resumes in the caller.
    ///
    /// # Errors
    ///
    /// As [`run`](EventLoopToken::run).
    pub fn run_sync<F, T>(&self, f: F) -> Result<T, FromThreadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.call_in_root(default_name::<F>(), async move { f() })
    }
}

impl EventLoopToken {
    /// Runs `fut` as a task under the run's root task and blocks for its output.
    fn call_in_root<Fut>(&self, name: TaskName, fut: Fut) -> Result<Fut::Output, FromThreadError>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let parent = current::run_root(&self.run).ok_or(FromThreadError::RunFinished)?;
        let parent_id = parent.task().map(|t| t.id);
        call(&self.run, &parent, parent_id, name, fut)
    }
}

/// Runs `fut` as a task inside the cancel scope of the task that started this worker
/// thread (under the run's root once that task has abandoned the thread), and blocks for
/// its output.
fn call_in_caller_scope<Fut>(name: TaskName, fut: Fut) -> Result<Fut::Output, FromThreadError>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let ctx = worker_context()?;
    match ctx.call_scope() {
        Some(scope) => call(&ctx.run, scope, None, name, fut),
        None => EventLoopToken::from_run(ctx.run).call_in_root(name, fut),
    }
}

/// From a thread started by [`to_thread::run_sync`](crate::to_thread::run_sync): runs the
/// future made by `f` on the event loop, as a task inside the cancel scope of the task that
/// started the thread, and blocks until it completes; returns its output. A panic in the
/// future resumes in the caller.
///
/// Cancelling the task that started the thread cancels the future: its checkpoints return
/// [`Cancelled`] (which then usually comes back as its output). Once that task has
/// abandoned the thread ([`abandon_on_cancel`](crate::to_thread::RunSync::abandon_on_cancel),
/// or its call dropped), the futures the thread runs after that are in no scope of the
/// caller's, as AnyIO's: they run under the run's root task, as a token's calls do, and
/// nothing but their own scopes cancels them. A future already running when the caller
/// abandons the thread stays in the caller's scope, and so sees the cancellation that made
/// it abandon the thread.
///
/// # Errors
///
/// - [`FromThreadError::NoEventLoop`] in a thread that `to_thread::run_sync` did not start
///   (use an [`EventLoopToken`] there);
/// - [`FromThreadError::InEventLoopThread`] when called from inside a task;
/// - [`FromThreadError::RunFinished`] when the run has ended, or ends before the future
///   completes.
pub fn run<F, Fut>(f: F) -> Result<Fut::Output, FromThreadError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    call_in_caller_scope(default_name::<F>(), async move { f().await })
}

/// From a thread started by [`to_thread::run_sync`](crate::to_thread::run_sync): runs `f`
/// on the event loop (inside a task in the cancel scope of the task that started the
/// thread, or under the run's root once that task has abandoned the thread, as for
/// [`run`]) and blocks until it returns; returns its result. A panic in `f` resumes in the
/// caller.
///
/// # Errors
///
/// As [`run`].
pub fn run_sync<F, T>(f: F) -> Result<T, FromThreadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    call_in_caller_scope(default_name::<F>(), async move { f() })
}

/// Reports whether the code that is waiting for this thread has been cancelled: in a thread
/// started by [`to_thread::run_sync`](crate::to_thread::run_sync), `Err(Cancelled)` when the
/// cancel scope of the task that started it is effectively cancelled (check it in long
/// loops, and return early). It keeps reporting that scope after the task has abandoned
/// the thread, so an abandoned thread can stop early (as AnyIO's and trio's). Inside an
/// anyio task, the current task's state, as
/// [`checkpoint_if_cancelled`](crate::checkpoint_if_cancelled) without awaiting.
///
/// In any other thread nothing can cancel the code, and it returns `Ok(())`.
///
/// # Errors
///
/// [`Cancelled`] as described above.
pub fn check_cancelled() -> Result<(), Cancelled> {
    match worker::current() {
        Some(ctx) if ctx.caller_scope.is_cancelled() => Err(ctx.caller_scope.cancelled()),
        Some(_) => Ok(()),
        None if current::is_cancelled() => Err(current::cancelled()),
        None => Ok(()),
    }
}

fn worker_context() -> Result<worker::WorkerContext, FromThreadError> {
    match worker::current() {
        Some(ctx) => Ok(ctx),
        None if context::in_task() => Err(FromThreadError::InEventLoopThread),
        None => Err(FromThreadError::NoEventLoop),
    }
}

/// Spawns `fut` on `run` under `parent` and blocks until it completes.
fn call<Fut>(
    run: &Arc<RunCtx>,
    parent: &Arc<Node>,
    parent_id: Option<u64>,
    name: TaskName,
    fut: Fut,
) -> Result<Fut::Output, FromThreadError>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    if bridge::on_loop_thread(run) {
        return Err(FromThreadError::InEventLoopThread);
    }
    let slot = Slot::new();
    let _registration = Registration::new(run, &slot).ok_or(FromThreadError::RunFinished)?;
    bridge::spawn_task(run, parent, name, parent_id, slot.clone(), fut);
    match slot.wait() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => resume_unwind(panic),
        Err(Failure::Finished | Failure::Cancelled) => Err(FromThreadError::RunFinished),
    }
}
