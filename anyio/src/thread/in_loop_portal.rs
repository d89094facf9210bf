//! A blocking portal into the loop that is already running (AnyIO's
//! `async with BlockingPortal() as portal`): async code hands its own loop to the
//! synchronous code it calls, a thread started with
//! [`to_thread::run_sync`](crate::to_thread::run_sync) or by hand.
//!
//! The rules, in the order a portal lives them:
//!
//! - **Where tasks run.** The portal's tasks run in a task group of the caller, in the
//!   current run: the caller's enclosing scopes cancel them, and the body runs in that
//!   group's scope too, as AnyIO's does.
//! - **How it ends.** When the body returns `Ok`, the portal stops accepting calls and the
//!   scope waits for the tasks still running; when it returns `Err` (or panics), they are
//!   cancelled instead. [`BlockingPortal::stop`] ends it earlier, from any thread or task,
//!   without waiting.
//! - **After the end.** Every call fails with [`PortalError::Stopped`](crate::PortalError),
//!   also through clones that outlive the scope: a thread never hangs on a portal that is
//!   gone.
//! - **On the loop itself.** Blocking methods called from a task of this run fail with
//!   [`PortalError::InEventLoopThread`](crate::PortalError): the loop would wait for itself.

use std::future::Future;
use std::sync::Arc;

use super::portal::{BlockingPortal, Owner, Setup};
use crate::cancel::current;
use crate::cancel::error::BoxError;
use crate::sync::event::Event;
use crate::task::group::{TaskGroup, task_group};

/// Opens a [`BlockingPortal`] into the running loop, runs `body` with it, and returns the
/// body's result once the portal's tasks have finished (AnyIO's
/// `async with BlockingPortal() as portal`).
///
/// Hand a clone of the portal to synchronous code, in a thread started with
/// [`to_thread::run_sync`](crate::to_thread::run_sync) or any other: its calls run as
/// tasks of this run, in a task group of the caller. The body runs in that group's scope.
/// When the body returns `Ok`, the portal stops taking calls and this waits for the tasks
/// still running; when it returns `Err`, or panics, they are cancelled. Calls after that
/// fail with [`PortalError::Stopped`](crate::PortalError::Stopped).
///
/// [`BlockingPortal::stop`] on this portal only signals, from any thread or task: with
/// `cancel_remaining` it cancels the group's scope, so the body is cancelled too (its
/// result, often `Err(Cancelled)`, is what this returns).
///
/// ```
/// # anyio::run(async {
/// let total = anyio::with_blocking_portal(|portal| async move {
///     let n = anyio::to_thread::run_sync(move || {
///         // Synchronous code, on a worker thread, calling back into this loop.
///         portal.call(|| async { 6 * 7 }).unwrap()
///     })
///     .await?;
///     Ok::<_, anyio::Cancelled>(n)
/// })
/// .await?;
/// assert_eq!(total, 42);
/// # Ok::<_, anyio::Cancelled>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// The body's error.
///
/// # Panics
///
/// Outside an anyio task, as [`task_group`](crate::task_group). A panic of the body resumes
/// here once the portal's tasks have finished.
///
/// # Cancel safety
///
/// Dropping the future before it finishes stops the portal and aborts its tasks, as
/// dropping a task group does: calls waiting for them fail with
/// [`PortalError::Stopped`](crate::PortalError::Stopped) (or
/// [`PortalError::Cancelled`](crate::PortalError::Cancelled) for a task that was being
/// polled on another thread at that moment, and so saw the cancellation).
pub async fn with_blocking_portal<T, E, F, Fut>(body: F) -> Result<T, E>
where
    F: FnOnce(BlockingPortal) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let outcome = task_group(|group: TaskGroup| async move {
        let run = current::with_current(|cur| {
            cur.expect("a task group runs inside a task")
                .task_data()
                .run
                .clone()
        });
        let setup = Setup {
            run,
            group,
            stop: Arc::new(Event::new()),
        };
        let portal = BlockingPortal::from_parts(setup, Owner::Scope);
        let mut stop = StopOnDrop {
            portal: portal.clone(),
            cancel_remaining: true,
        };
        let result = body(portal).await;
        stop.cancel_remaining = result.is_err();
        drop(stop);
        Ok::<_, BoxError>(result)
    })
    .await;
    match outcome {
        Ok(Some(result)) => result,
        // The body's result is the group's value, and portal tasks report through their
        // handles, never to the group: nothing else can end it.
        Ok(None) | Err(_) => unreachable!("the portal's group ends with the body's result"),
    }
}

/// Stops the portal when the body ends: as the body's result says when it returns,
/// cancelling the remaining tasks when it panics or its future is dropped.
struct StopOnDrop {
    portal: BlockingPortal,
    cancel_remaining: bool,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.portal.signal_stop(self.cancel_remaining);
    }
}
