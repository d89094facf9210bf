//! Blocking portals: an event loop running in a thread of its own, that synchronous code
//! calls into.
//!
//! [`start_blocking_portal`] starts a thread that runs a run with a task group, and returns
//! a [`BlockingPortal`]. Every call through the portal runs as a task of that group:
//! [`call`](BlockingPortal::call) blocks for the result,
//! [`start_task_soon`](BlockingPortal::start_task_soon) returns a [`PortalTaskHandle`] to
//! wait on or cancel, [`start_task`](BlockingPortal::start_task) also waits for the value
//! the task passes to [`TaskStatus::started`], and
//! [`wrap_async_resource`](BlockingPortal::wrap_async_resource) opens an async resource and
//! closes it on the loop when the guard is dropped.
//!
//! ```
//! use std::time::Duration;
//!
//! let portal = anyio::start_blocking_portal(anyio::Backend::Tokio).unwrap();
//! let n = portal
//!     .call(|| async {
//!         anyio::sleep(Duration::from_millis(1)).await?;
//!         Ok::<_, anyio::Cancelled>(42)
//!     })
//!     .unwrap()
//!     .unwrap();
//! assert_eq!(n, 42);
//! portal.stop(false).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::bridge::{self, Abandon, Failure, Registration, Slot};
use super::from_thread::EventLoopToken;
use crate::backend::Backend;
use crate::cancel::current;
use crate::cancel::driver::Driver;
use crate::cancel::node::Node;
use crate::context::{RunCtx, TaskName};
use crate::runner::{RunError, Runner};
use crate::sync::event::Event;
use crate::task::group::{TaskGroup, default_name, task_group};
use crate::task::start::{StartedSink, TaskStatus};

/// Why a call through a [`BlockingPortal`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortalError {
    /// The portal has been stopped (or is stopping), or its event loop has ended: no new
    /// task can start, and a task the loop dropped has no result.
    Stopped,
    /// The task was cancelled, by [`PortalTaskHandle::cancel`] or by
    /// [`BlockingPortal::stop`] with `cancel_remaining`, before it returned a result.
    Cancelled,
    /// The method was called from the portal's own event loop, where blocking would
    /// deadlock. Use `.await` there instead.
    InEventLoopThread,
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortalError::Stopped => "the blocking portal is not running",
            PortalError::Cancelled => "the portal task was cancelled",
            PortalError::InEventLoopThread => {
                "this method cannot be called from the blocking portal's event loop thread"
            }
        })
    }
}

impl std::error::Error for PortalError {}

/// Why [`BlockingPortal::start_task`] did not return a started value.
#[derive(Debug)]
#[non_exhaustive]
pub enum PortalStartError<T> {
    /// The task could not run, or was cancelled before it started.
    Portal(PortalError),
    /// The task returned (with this output) without calling [`TaskStatus::started`].
    NotStarted(T),
}

impl<T> fmt::Display for PortalStartError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalStartError::Portal(e) => e.fmt(f),
            PortalStartError::NotStarted(_) => {
                f.write_str("the task returned without calling TaskStatus::started")
            }
        }
    }
}

impl<T: fmt::Debug> std::error::Error for PortalStartError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PortalStartError::Portal(e) => Some(e),
            PortalStartError::NotStarted(_) => None,
        }
    }
}

impl<T> From<PortalError> for PortalStartError<T> {
    fn from(e: PortalError) -> Self {
        PortalStartError::Portal(e)
    }
}

/// Starts an event loop of `backend` (with its default options) in a new thread and
/// returns a portal into it. Call it from synchronous code; see [`Runner::start_blocking_portal`]
/// for options.
///
/// # Errors
///
/// As [`Runner::run`]: the backend is not enabled, or the thread or runtime cannot start.
pub fn start_blocking_portal(backend: Backend) -> Result<BlockingPortal, RunError> {
    Runner::new(backend).start_blocking_portal()
}

impl Runner {
    /// Starts this runner's event loop in a new thread (named `anyio-portal`) and returns a
    /// [`BlockingPortal`] into it.
    ///
    /// # Errors
    ///
    /// As [`Runner::run`]: the backend is not enabled, an option is invalid, or the thread
    /// or runtime cannot start.
    pub fn start_blocking_portal(&self) -> Result<BlockingPortal, RunError> {
        let (setup_tx, setup_rx) = mpsc::channel::<Result<Setup, RunError>>();
        let runner = self.clone();
        let thread = thread::Builder::new()
            .name("anyio-portal".to_owned())
            .spawn(move || {
                let tx = setup_tx.clone();
                if let Err(e) = runner.run(serve(tx)) {
                    let _ = setup_tx.send(Err(e));
                }
            })
            .map_err(RunError::Io)?;
        match setup_rx.recv() {
            Ok(Ok(setup)) => Ok(BlockingPortal {
                shared: Arc::new(Shared {
                    run: setup.run,
                    group: setup.group,
                    stop: setup.stop,
                    stopped: AtomicBool::new(false),
                }),
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(RunError::Io(std::io::Error::other(
                    "the blocking portal's thread ended before its event loop started",
                )))
            }
        }
    }
}

/// What the portal's thread hands back once its loop runs.
struct Setup {
    run: Arc<RunCtx>,
    group: TaskGroup,
    stop: Arc<Event>,
}

/// The root of the portal's run: a task group whose body waits until the portal stops.
async fn serve(setup: mpsc::Sender<Result<Setup, RunError>>) {
    let _ = task_group(|tg| async move {
        let run = current::with_current(|cur| {
            cur.expect("the portal runs inside a task")
                .task_data()
                .run
                .clone()
        });
        let stop = Arc::new(Event::new());
        let sent = setup.send(Ok(Setup {
            run,
            group: tg.clone(),
            stop: stop.clone(),
        }));
        drop(setup);
        if sent.is_ok() {
            // `stop(true)` cancels the group directly, which ends this wait too.
            let _ = stop.wait().await;
        }
        Ok(())
    })
    .await;
}

struct Shared {
    run: Arc<RunCtx>,
    group: TaskGroup,
    stop: Arc<Event>,
    stopped: AtomicBool,
}

/// A portal into an event loop that runs in a thread of its own: synchronous code calls
/// async code through it. Made by [`start_blocking_portal`] or
/// [`Runner::start_blocking_portal`].
///
/// It is `Send` and `Sync`: share it (by reference or in an `Arc`) between threads. Every
/// method blocks only the calling thread; calling one from the portal's own event loop is
/// an error ([`PortalError::InEventLoopThread`]), not a deadlock.
///
/// Dropping the portal stops it as [`stop(false)`](BlockingPortal::stop) does, waiting for
/// its tasks (as leaving AnyIO's `with start_blocking_portal()` normally does); when the
/// drop happens during a panic, the remaining tasks are cancelled instead.
pub struct BlockingPortal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for BlockingPortal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPortal")
            .field("backend", &self.backend())
            .field("stopped", &self.shared.stopped.load(SeqCst))
            .finish()
    }
}

impl BlockingPortal {
    /// The backend of the portal's event loop.
    pub fn backend(&self) -> Backend {
        self.shared.run.runtime.backend()
    }

    /// A token for the portal's event loop, for [`EventLoopToken::run`] and the like.
    pub fn token(&self) -> EventLoopToken {
        EventLoopToken::from_run(self.shared.run.clone())
    }

    /// Whether [`stop`](BlockingPortal::stop) has been called (or the portal is dropping).
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(SeqCst) || self.shared.run.is_finished()
    }

    fn check(&self) -> Result<(), PortalError> {
        if bridge::on_loop_thread(&self.shared.run) {
            return Err(PortalError::InEventLoopThread);
        }
        if self.is_stopped() {
            return Err(PortalError::Stopped);
        }
        Ok(())
    }

    /// Runs the future made by `f` as a task on the portal's loop and blocks until it
    /// completes; returns its output. A panic in it resumes in the caller.
    ///
    /// # Errors
    ///
    /// [`PortalError::Stopped`] if the portal is stopped (or its loop ends before the task
    /// does), [`PortalError::Cancelled`] if [`stop(true)`](BlockingPortal::stop) cancels the
    /// task, [`PortalError::InEventLoopThread`] from the portal's own loop.
    pub fn call<F, Fut>(&self, f: F) -> Result<Fut::Output, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.spawn(default_name::<F>(), f, None)?.join()
    }

    /// Starts the future made by `f` as a task on the portal's loop and returns at once
    /// with a handle to wait for its output or cancel it.
    ///
    /// # Errors
    ///
    /// [`PortalError::Stopped`] if the portal is stopped, [`PortalError::InEventLoopThread`]
    /// from the portal's own loop.
    pub fn start_task_soon<F, Fut>(
        &self,
        f: F,
    ) -> Result<PortalTaskHandle<Fut::Output>, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.spawn(default_name::<F>(), f, None)
    }

    /// Starts a task on the portal's loop and blocks until it calls
    /// [`TaskStatus::started`]; returns a handle to it and the value it passed.
    ///
    /// # Errors
    ///
    /// [`PortalStartError::NotStarted`] with the task's output if it returned without
    /// calling `started` (or dropped its status); [`PortalStartError::Portal`] if the portal
    /// is stopped, stops before the task started, or the call is made from its own loop. A
    /// panic in the task before it started resumes in the caller.
    #[allow(clippy::type_complexity)]
    pub fn start_task<V, F, Fut>(
        &self,
        f: F,
    ) -> Result<(PortalTaskHandle<Fut::Output>, V), PortalStartError<Fut::Output>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
        V: Send + 'static,
    {
        self.check()?;
        let started = Slot::<V>::new();
        let _registration =
            Registration::new(&self.shared.run, &started).ok_or(PortalError::Stopped)?;
        let status = TaskStatus::to_sink(Arc::new(StartedSlot(started.clone())));
        let handle = self.spawn(
            default_name::<F>(),
            move || f(status),
            Some(started.clone() as Arc<dyn Abandon>),
        )?;
        match started.wait() {
            Ok(Ok(value)) => Ok((handle, value)),
            Ok(Err(panic)) => resume_unwind(panic),
            // The task ended without starting (its slot is filled first), or the loop ended.
            Err(_) => match handle.join() {
                Ok(output) => Err(PortalStartError::NotStarted(output)),
                Err(e) => Err(PortalStartError::Portal(e)),
            },
        }
    }

    /// Opens an async resource on the portal's loop with `enter`, and returns a guard that
    /// holds it and runs `exit` on the loop when it is [closed](PortalResource::close) or
    /// dropped (AnyIO's `wrap_async_context_manager`).
    ///
    /// Unlike AnyIO's, `enter` and `exit` run in two tasks; the resource is moved to the
    /// calling thread in between, so share the parts the loop needs (in an `Arc`, say).
    ///
    /// ```
    /// let portal = anyio::start_blocking_portal(anyio::Backend::Smol).unwrap();
    /// let conn = portal
    ///     .wrap_async_resource(
    ///         || async { Ok::<_, anyio::Cancelled>(String::from("connected")) },
    ///         |conn| async move { println!("closing {conn}") },
    ///     )
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(*conn, "connected");
    /// conn.close().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(PortalError)` as for [`call`](BlockingPortal::call); `Ok(Err(e))` when `enter`
    /// fails (and `exit` is not run).
    #[allow(clippy::type_complexity)]
    pub fn wrap_async_resource<R, E, Enter, EnterFut, Exit, ExitFut>(
        &self,
        enter: Enter,
        exit: Exit,
    ) -> Result<Result<PortalResource<'_, R, ExitFut::Output>, E>, PortalError>
    where
        Enter: FnOnce() -> EnterFut + Send + 'static,
        EnterFut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        Exit: FnOnce(R) -> ExitFut + Send + 'static,
        ExitFut: Future + Send + 'static,
        ExitFut::Output: Send + 'static,
    {
        let resource = match self.call(enter)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let exit: ExitFn<R, ExitFut::Output> =
            Box::new(move |portal: &BlockingPortal, r: R| portal.call(move || exit(r)));
        Ok(Ok(PortalResource {
            portal: self,
            resource: Some(resource),
            exit: Mutex::new(Some(exit)),
        }))
    }

    /// Stops the portal: no new task can start, then, with `cancel_remaining`, the tasks
    /// still running are cancelled, and this call blocks until every task has finished
    /// and the loop's thread has ended. Every caller still blocked on a cancelled task gets
    /// [`PortalError::Cancelled`]. Calling it again (from any thread) waits for the same
    /// shutdown; `stop(true)` after `stop(false)` cancels what is still running.
    ///
    /// # Errors
    ///
    /// [`PortalError::InEventLoopThread`] from the portal's own loop (it would wait for
    /// itself).
    ///
    /// # Panics
    ///
    /// If the portal's thread panicked, that panic resumes here.
    pub fn stop(&self, cancel_remaining: bool) -> Result<(), PortalError> {
        if bridge::on_loop_thread(&self.shared.run) {
            return Err(PortalError::InEventLoopThread);
        }
        self.signal_stop(cancel_remaining);
        // Held while joining, so a concurrent `stop` waits for the same shutdown.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = thread.take() {
            if let Err(panic) = handle.join() {
                drop(thread);
                resume_unwind(panic);
            }
        }
        Ok(())
    }

    fn signal_stop(&self, cancel_remaining: bool) {
        self.shared.stopped.store(true, SeqCst);
        if cancel_remaining {
            self.shared.group.cancel();
        }
        self.shared.stop.set();
    }

    /// Starts a task; `started` (the slot of `start_task`) is failed once the task has
    /// ended, after its own slot is filled.
    fn spawn<F, Fut>(
        &self,
        name: TaskName,
        f: F,
        started: Option<Arc<dyn Abandon>>,
    ) -> Result<PortalTaskHandle<Fut::Output>, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.check()?;
        let run = &self.shared.run;
        let slot = Slot::new();
        let registration = Registration::new(run, &slot).ok_or(PortalError::Stopped)?;
        let scope = Node::new_scope(None, false);
        let task = portal_task(slot.clone(), scope.clone(), started, f);
        self.shared
            .group
            .spawn(name, task)
            .map_err(|_| PortalError::Stopped)?;
        Ok(PortalTaskHandle {
            slot,
            scope,
            run: run.clone(),
            _registration: registration,
        })
    }
}

impl Drop for BlockingPortal {
    fn drop(&mut self) {
        if bridge::on_loop_thread(&self.shared.run) {
            // Dropped by one of its own tasks: it cannot wait for itself.
            self.signal_stop(true);
            return;
        }
        let cancel = thread::panicking();
        self.signal_stop(cancel);
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            let joined = thread.join();
            if let Err(panic) = joined {
                if !thread::panicking() {
                    resume_unwind(panic);
                }
            }
        }
    }
}

/// The task that runs a call of the portal: the future inside a scope of its own (for
/// [`PortalTaskHandle::cancel`]), its result or panic sent to `slot`. It never fails, so
/// one call cannot cancel the portal's group. A call cancelled before the task started
/// still runs, in its already-cancelled scope, so its cleanup code runs (as AnyIO's).
async fn portal_task<F, Fut>(
    slot: Arc<Slot<Fut::Output>>,
    scope: Arc<Node>,
    started: Option<Arc<dyn Abandon>>,
    f: F,
) -> Result<(), crate::BoxError>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let _guard = EndGuard {
        slot: &slot,
        started,
    };
    let (out, _catches) = Driver::new(
        scope.clone(),
        CatchUnwind {
            fut: None,
            make: Some(f),
        },
    )
    .await;
    match out {
        Err(panic) => {
            slot.complete(Err(panic));
        }
        // Cancelled by its handle or by `stop(true)`: cancellation wins over a value, as a
        // cancelled AnyIO future.
        Ok(_) if scope.cancel_called() || current::is_cancelled() => {
            slot.fail(Failure::Cancelled);
        }
        Ok(value) => {
            slot.complete(Ok(value));
        }
    }
    Ok(())
}

/// Fails the slots of a portal task that ends without reporting (it was dropped by its
/// group or the runtime), and tells `start_task` the task has ended.
struct EndGuard<'a, T> {
    slot: &'a Slot<T>,
    started: Option<Arc<dyn Abandon>>,
}

impl<T> Drop for EndGuard<'_, T> {
    fn drop(&mut self) {
        self.slot.fail(Failure::Finished);
        if let Some(started) = self.started.take() {
            started.run_finished();
        }
    }
}

pin_project! {
    /// Makes the future on first poll and catches a panic of the closure or the future.
    struct CatchUnwind<F, Fut> {
        make: Option<F>,
        #[pin]
        fut: Option<Fut>,
    }
}

impl<F: FnOnce() -> Fut, Fut: Future> Future for CatchUnwind<F, Fut> {
    type Output = thread::Result<Fut::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        catch_unwind(AssertUnwindSafe(|| {
            if let Some(make) = this.make.take() {
                this.fut.set(Some(make()));
            }
            this.fut
                .as_mut()
                .as_pin_mut()
                .expect("polled after completion")
                .poll(cx)
        }))
        .map_or_else(|panic| Poll::Ready(Err(panic)), |p| p.map(Ok))
    }
}

/// The sink of a portal task's [`TaskStatus`].
struct StartedSlot<V>(Arc<Slot<V>>);

impl<V: Send> StartedSink<V> for StartedSlot<V> {
    fn started(&self, value: V) {
        self.0.complete(Ok(value));
    }
}

/// A task started through a [`BlockingPortal`]: wait for its output with
/// [`join`](PortalTaskHandle::join), or cancel it. Dropping the handle detaches the task,
/// which keeps running.
///
/// `Send` and `Sync` when the output is `Send`.
pub struct PortalTaskHandle<T> {
    slot: Arc<Slot<T>>,
    scope: Arc<Node>,
    run: Arc<RunCtx>,
    _registration: Registration,
}

impl<T> fmt::Debug for PortalTaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalTaskHandle")
            .field("finished", &self.slot.is_filled())
            .finish()
    }
}

impl<T> PortalTaskHandle<T> {
    /// Cancels the task: its scope is cancelled (its checkpoints return
    /// [`Cancelled`](crate::Cancelled)), and [`join`](PortalTaskHandle::join) returns
    /// [`PortalError::Cancelled`] at once, without waiting for the task to end (as a
    /// cancelled `concurrent.futures.Future`). Returns `false` if the task had already
    /// finished, so its result stands.
    ///
    /// A task cancelled before it started still runs, inside its already-cancelled scope:
    /// its code up to the first checkpoint runs, that checkpoint returns `Cancelled`, and
    /// its cleanup (shielded scopes, destructors) runs as it would for a later cancellation.
    pub fn cancel(&self) -> bool {
        let cancelled = self.slot.fail(Failure::Cancelled);
        if cancelled {
            self.scope.cancel();
        }
        cancelled
    }

    /// Whether the task has finished, or been cancelled: [`join`](PortalTaskHandle::join)
    /// would not block.
    pub fn is_finished(&self) -> bool {
        self.slot.is_filled()
    }

    /// Blocks until the task has finished (or been cancelled) or `timeout` has passed;
    /// returns whether it has finished.
    ///
    /// # Errors
    ///
    /// [`PortalError::InEventLoopThread`] from the portal's own loop.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, PortalError> {
        if bridge::on_loop_thread(&self.run) {
            return Err(PortalError::InEventLoopThread);
        }
        Ok(self.slot.wait_timeout(timeout))
    }

    /// Blocks until the task has finished and returns its output. A panic in the task
    /// resumes here.
    ///
    /// # Errors
    ///
    /// [`PortalError::Cancelled`] if the task was cancelled (by [`cancel`](Self::cancel) or
    /// by [`BlockingPortal::stop`] with `cancel_remaining`), [`PortalError::Stopped`] if
    /// the portal's loop ended without finishing it, [`PortalError::InEventLoopThread`]
    /// from the portal's own loop.
    pub fn join(self) -> Result<T, PortalError> {
        if bridge::on_loop_thread(&self.run) {
            return Err(PortalError::InEventLoopThread);
        }
        match self.slot.wait() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => resume_unwind(panic),
            Err(Failure::Cancelled) => Err(PortalError::Cancelled),
            Err(Failure::Finished) => Err(PortalError::Stopped),
        }
    }
}

type ExitFn<R, X> = Box<dyn FnOnce(&BlockingPortal, R) -> Result<X, PortalError> + Send>;

/// An async resource opened through [`BlockingPortal::wrap_async_resource`]: it derefs to
/// the resource, and closes it on the portal's loop when [closed](PortalResource::close)
/// or dropped.
pub struct PortalResource<'p, R, X> {
    portal: &'p BlockingPortal,
    resource: Option<R>,
    exit: Mutex<Option<ExitFn<R, X>>>,
}

impl<R: fmt::Debug, X> fmt::Debug for PortalResource<'_, R, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalResource")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<R, X> PortalResource<'_, R, X> {
    /// Runs the exit function on the portal's loop, blocking until it returns; returns its
    /// output.
    ///
    /// # Errors
    ///
    /// As [`BlockingPortal::call`]; the resource is dropped either way.
    pub fn close(mut self) -> Result<X, PortalError> {
        self.run_exit()
            .expect("the exit function runs only once, on close or drop")
    }

    fn run_exit(&mut self) -> Option<Result<X, PortalError>> {
        let exit = self
            .exit
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        let resource = self.resource.take()?;
        Some(exit(self.portal, resource))
    }
}

impl<R, X> std::ops::Deref for PortalResource<'_, R, X> {
    type Target = R;

    fn deref(&self) -> &R {
        self.resource
            .as_ref()
            .expect("the resource is present until closed")
    }
}

impl<R, X> std::ops::DerefMut for PortalResource<'_, R, X> {
    fn deref_mut(&mut self) -> &mut R {
        self.resource
            .as_mut()
            .expect("the resource is present until closed")
    }
}

impl<R, X> Drop for PortalResource<'_, R, X> {
    fn drop(&mut self) {
        drop(self.run_exit());
    }
}
