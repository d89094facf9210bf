//! A blocking portal into the loop that is already running (AnyIO's
//! `async with BlockingPortal() as portal`): async code hands its own loop to the
//! synchronous code it calls, a thread started with
//! [`to_thread::run_sync`](crate::to_thread::run_sync) or by hand.
//!
//! The rules, in the order a portal lives them:
//!
//! - **Where tasks run.** The portal's tasks run in a task group of the caller, in the
//!   current run, polled beside the body: the caller's enclosing scopes cancel them. The
//!   body runs in the caller's scope, not the group's, so stopping the portal with
//!   `cancel_remaining` cancels the tasks and never the body (no cancellation of a scope
//!   the caller cannot see comes out of the body).
//! - **How it ends.** When the body returns `Ok`, the portal stops accepting calls and the
//!   group waits for the tasks still running; when it returns `Err` or panics, they are
//!   cancelled first. [`BlockingPortal::stop`] ends it earlier, from any thread or task,
//!   without waiting. The group keeps accepting calls until then, also when the caller is
//!   cancelled (its tasks then start cancelled, as AnyIO's).
//! - **After the end.** Every call fails with [`PortalError::Stopped`](crate::PortalError),
//!   also through clones that outlive the scope: a thread never hangs on a portal that is
//!   gone.
//! - **On the loop itself.** Blocking methods called from a task of this run fail with
//!   [`PortalError::InEventLoopThread`](crate::PortalError): the loop would wait for itself.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use super::portal::{BlockingPortal, Owner, Setup};
use crate::cancel::current;
use crate::cancel::error::BoxError;
use crate::cancel::scope::CancelScope;
use crate::sync::event::Event;
use crate::task::group::{TaskGroup, task_group};

/// Opens a [`BlockingPortal`] into the running loop, runs `body` with it, and returns the
/// body's result once the portal's tasks have finished (AnyIO's
/// `async with BlockingPortal() as portal`).
///
/// Hand a clone of the portal to synchronous code, in a thread started with
/// [`to_thread::run_sync`](crate::to_thread::run_sync) or any other: its calls run as
/// tasks of this run, in a task group of the caller. When the body returns `Ok`, the portal
/// stops taking calls and this waits for the tasks still running; when it returns `Err`,
/// or panics, they are cancelled. Calls after that fail with
/// [`PortalError::Stopped`](crate::PortalError::Stopped).
///
/// [`BlockingPortal::stop`] on this portal only signals, from any thread or task, and
/// [`BlockingPortal::sleep_until_stopped`] lets the body wait for it. Unlike AnyIO's, the
/// body runs in the caller's scope, not the portal's: `stop(true)` cancels the portal's
/// tasks, never the body, so no cancellation of a scope the caller cannot see comes back
/// from it.
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
    let stop = Arc::new(Event::new());
    let made = Mutex::new(None);
    let until_stopped = stop.clone();
    let mut group = pin!(task_group(|group: TaskGroup| {
        *made.lock().unwrap_or_else(|e| e.into_inner()) = Some(group);
        async move {
            // Shielded: a cancelled caller still gets its calls (cancelled), not `Stopped`.
            let _ = CancelScope::new()
                .shielded(true)
                .run(until_stopped.wait())
                .await;
            Ok::<_, BoxError>(())
        }
    }));
    let mut group_ended = false;
    // The first poll makes the group and runs its body up to the wait.
    poll_fn(|cx| {
        group_ended = group.as_mut().poll(cx).is_ready();
        Poll::Ready(())
    })
    .await;
    let group_handle = made
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("a task group makes its handle on its first poll");
    let run = current::with_current(|cur| {
        cur.expect("a task group runs inside a task")
            .task_data()
            .run
            .clone()
    });
    let setup = Setup {
        run,
        group: group_handle,
        stop,
    };
    let portal = BlockingPortal::from_parts(setup, Owner::Scope);
    let stopped = StopOnDrop(portal.clone());
    let mut body = pin!(body(portal));
    // The body and the group side by side, the body outside the group's scope.
    let ended = poll_fn(|cx| {
        if !group_ended {
            group_ended = group.as_mut().poll(cx).is_ready();
        }
        match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    stopped.0.signal_stop(!matches!(ended, Ok(Ok(_))));
    if !group_ended {
        // Portal tasks report through their handles, never to the group, so its outcome
        // says nothing.
        let _ = group.await;
    }
    ended.unwrap_or_else(|panic| resume_unwind(panic))
}

/// Stops the portal's calls if this future is dropped before the body ends. It cancels
/// nothing: the group's abort, which follows, drops the tasks, and a cancellation first
/// would let a task polled meanwhile on another thread end as cancelled.
struct StopOnDrop(BlockingPortal);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.signal_stop(false);
    }
}
