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
//! closes it on the loop when the guard is dropped. [`named`](BlockingPortal::named) gives
//! a task a name of your choice.
//!
//! The same portal serves two other shapes, in modules of their own:
//! [`with_blocking_portal`](super::in_loop_portal) opens one into a loop that is already
//! running, and [`BlockingPortalProvider`](super::portal_provider) shares one portal thread
//! between every thread that leases it.
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

use std::any::Any;
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
            Ok(Ok(setup)) => Ok(BlockingPortal::from_parts(
                setup,
                Owner::Thread(Mutex::new(Some(thread))),
            )),
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

/// What a portal needs of its loop: the run, the task group its tasks run in, and the
/// event that ends the group's body.
pub(super) struct Setup {
    pub(super) run: Arc<RunCtx>,
    pub(super) group: TaskGroup,
    pub(super) stop: Arc<Event>,
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

/// Who ends a portal's loop.
pub(super) enum Owner {
    /// [`start_blocking_portal`]: the portal's own thread, joined when it stops (`None`
    /// once joined).
    Thread(Mutex<Option<JoinHandle<()>>>),
    /// [`with_blocking_portal`](super::in_loop_portal::with_blocking_portal): the scope
    /// that opened it in a running loop, which ends when its body and tasks have.
    Scope,
}

/// What the clones of a portal share; dropped with the last clone.
struct Shared {
    run: Arc<RunCtx>,
    group: TaskGroup,
    stop: Arc<Event>,
    stopped: AtomicBool,
    owner: Owner,
}

impl Shared {
    fn signal_stop(&self, cancel_remaining: bool) {
        self.stopped.store(true, SeqCst);
        if cancel_remaining {
            self.group.cancel();
        }
        self.stop.set();
    }

    /// Stops a portal that runs in its own thread without reporting: waits for its tasks
    /// (cancels them during a panic) and joins the thread, whose panic resumes here unless
    /// this thread is already panicking. From the portal's own loop it cannot wait for
    /// itself: it cancels the tasks and leaves the thread to end on its own.
    fn shut_down(&self) {
        let Owner::Thread(thread) = &self.owner else {
            return;
        };
        if bridge::on_loop_thread(&self.run) {
            self.signal_stop(true);
            return;
        }
        self.signal_stop(thread::panicking());
        if let Some(panic) = join(thread) {
            if !thread::panicking() {
                resume_unwind(panic);
            }
        }
    }
}

/// Joins the portal's thread unless it was joined already; returns its panic. The lock is
/// held while joining, so a concurrent stop waits for the same shutdown.
fn join(thread: &Mutex<Option<JoinHandle<()>>>) -> Option<Box<dyn Any + Send>> {
    let mut thread = thread.lock().unwrap_or_else(|e| e.into_inner());
    thread.take().and_then(|handle| handle.join().err())
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// A portal into an event loop: synchronous code calls async code through it. Made by
/// [`start_blocking_portal`] or [`Runner::start_blocking_portal`] (a loop in a thread of
/// its own), by [`with_blocking_portal`](crate::with_blocking_portal) (the loop that is
/// already running, for the synchronous code it calls), or leased from a
/// [`BlockingPortalProvider`](crate::BlockingPortalProvider).
///
/// It is `Send` and `Sync`, and cheap to clone: every clone reaches the same portal, so
/// hand one to each thread. Every method blocks only the calling thread; calling one from
/// the portal's own event loop is an error ([`PortalError::InEventLoopThread`]), not a
/// deadlock.
///
/// Dropping the last clone of a portal that runs in its own thread stops it as
/// [`stop(false)`](BlockingPortal::stop) does, waiting for its tasks (as leaving AnyIO's
/// `with start_blocking_portal()` normally does); when the drop happens during a panic,
/// the remaining tasks are cancelled instead. A portal opened by `with_blocking_portal`
/// stops when its scope ends, whatever clones are left.
#[derive(Clone)]
pub struct BlockingPortal {
    shared: Arc<Shared>,
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
    pub(super) fn from_parts(setup: Setup, owner: Owner) -> Self {
        BlockingPortal {
            shared: Arc::new(Shared {
                run: setup.run,
                group: setup.group,
                stop: setup.stop,
                stopped: AtomicBool::new(false),
                owner,
            }),
        }
    }

    /// The backend of the portal's event loop.
    pub fn backend(&self) -> Backend {
        self.shared.run.runtime.backend()
    }

    /// A token for the portal's event loop, for [`EventLoopToken::run`] and the like.
    pub fn token(&self) -> EventLoopToken {
        EventLoopToken::from_run(self.shared.run.clone())
    }

    /// Whether the portal has stopped taking calls: [`stop`](BlockingPortal::stop) was
    /// called, its last clone or lease is dropping, the scope of
    /// [`with_blocking_portal`](crate::with_blocking_portal) has ended, or its loop has.
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

    /// Starts tasks with a name of your choice, as [`TaskGroup::named`] does:
    /// `portal.named("fetch").start_task_soon(..)`. The name is what
    /// [`get_current_task`](crate::get_current_task) and
    /// [`get_running_tasks`](crate::get_running_tasks) report for the task (AnyIO's
    /// `name` argument); without it, a task is named after the type of its closure.
    pub fn named(&self, name: impl Into<String>) -> PortalTaskBuilder<'_> {
        PortalTaskBuilder {
            portal: self,
            name: TaskName::Owned(Arc::from(name.into())),
        }
    }

    /// Waits until the portal is stopped: by [`stop`](BlockingPortal::stop) from any
    /// thread, or because it is shutting down (AnyIO's `sleep_until_stopped`). Useful in
    /// the body of [`with_blocking_portal`](crate::with_blocking_portal), to keep the
    /// portal open until the synchronous code it was handed to says it is done.
    ///
    /// # Errors
    ///
    /// [`Cancelled`](crate::Cancelled) if the calling task is cancelled first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops nothing.
    pub async fn sleep_until_stopped(&self) -> Result<(), crate::Cancelled> {
        self.shared.stop.wait().await
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
        self.start_named(default_name::<F>(), f)
    }

    #[allow(clippy::type_complexity)]
    fn start_named<V, F, Fut>(
        &self,
        name: TaskName,
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
            name,
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
    /// still running are cancelled. Every caller still blocked on a cancelled task gets
    /// [`PortalError::Cancelled`]; `stop(true)` after `stop(false)` cancels what is still
    /// running.
    ///
    /// For a portal with a thread of its own, this call blocks until every task has
    /// finished and the thread has ended; calling it again (from any thread) waits for the
    /// same shutdown. For a portal opened by
    /// [`with_blocking_portal`](crate::with_blocking_portal) it only signals (as AnyIO's
    /// `await portal.stop()`): it returns at once, from any thread or task, and the portal's
    /// scope ends when its body and remaining tasks have.
    ///
    /// # Errors
    ///
    /// [`PortalError::InEventLoopThread`] from the own loop of a portal with a thread of
    /// its own (it would wait for itself).
    ///
    /// # Panics
    ///
    /// If the portal's thread panicked, that panic resumes here.
    pub fn stop(&self, cancel_remaining: bool) -> Result<(), PortalError> {
        let Owner::Thread(thread) = &self.shared.owner else {
            self.shared.signal_stop(cancel_remaining);
            return Ok(());
        };
        if bridge::on_loop_thread(&self.shared.run) {
            return Err(PortalError::InEventLoopThread);
        }
        self.shared.signal_stop(cancel_remaining);
        if let Some(panic) = join(thread) {
            resume_unwind(panic);
        }
        Ok(())
    }

    /// Stops the portal as dropping its last clone would: see [`Shared::shut_down`].
    pub(super) fn shut_down(&self) {
        self.shared.shut_down();
    }

    /// Stops accepting calls; with `cancel_remaining`, cancels the running tasks too.
    pub(super) fn signal_stop(&self, cancel_remaining: bool) {
        self.shared.signal_stop(cancel_remaining);
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

/// Starts tasks with a given name through a [`BlockingPortal`]; made by
/// [`BlockingPortal::named`].
#[derive(Debug)]
pub struct PortalTaskBuilder<'p> {
    portal: &'p BlockingPortal,
    name: TaskName,
}

impl PortalTaskBuilder<'_> {
    /// [`BlockingPortal::call`] with this name.
    ///
    /// # Errors
    ///
    /// As [`BlockingPortal::call`].
    pub fn call<F, Fut>(self, f: F) -> Result<Fut::Output, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.portal.spawn(self.name, f, None)?.join()
    }

    /// [`BlockingPortal::start_task_soon`] with this name.
    ///
    /// # Errors
    ///
    /// As [`BlockingPortal::start_task_soon`].
    pub fn start_task_soon<F, Fut>(self, f: F) -> Result<PortalTaskHandle<Fut::Output>, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.portal.spawn(self.name, f, None)
    }

    /// [`BlockingPortal::start_task`] with this name.
    ///
    /// # Errors
    ///
    /// As [`BlockingPortal::start_task`].
    #[allow(clippy::type_complexity)]
    pub fn start_task<V, F, Fut>(
        self,
        f: F,
    ) -> Result<(PortalTaskHandle<Fut::Output>, V), PortalStartError<Fut::Output>>
    where
        F: FnOnce(TaskStatus<V>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
        V: Send + 'static,
    {
        self.portal.start_named(self.name, f)
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
