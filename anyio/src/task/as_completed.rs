//! `as_completed`: run futures as tasks and hand their [`TaskHandle`]s to a body in the
//! order the tasks end.
//!
//! Each task's handle is queued the moment its outcome is recorded, so a handle that
//! comes out of [`Completions::next`] has always finished. Leaving early is structured:
//! when the body drops its [`Completions`] (at the latest when it ends), every task that
//! has not finished is cancelled through its handle, so its own scope catches the
//! cancellation (neither a failure nor a cancellation of the group), and the group waits
//! for them before `as_completed` returns.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use atomic_waker::AtomicWaker;

use super::error::TaskGroupError;
use super::group::{TaskGroup, default_name};
use super::handle::{OnFinish, TaskHandle, spawn_with_handle};
use crate::cancel::checkpoint::OpWait;
use crate::cancel::current;
use crate::cancel::error::{Cancelled, IsCancelled};

/// Runs every future of `futs` as a task of a new task group, and runs `body` with the
/// stream of their handles in the order the tasks end.
///
/// When the body drops the stream or returns, the tasks that have not finished are
/// cancelled (each through its own scope, so this is not a failure) and waited for.
/// Returns the body's value.
///
/// # Errors
///
/// - [`AsCompletedError::NoFutures`] if `futs` is empty (as AnyIO's `as_completed`);
/// - [`AsCompletedError::Group`] with the failures of the tasks and of the body, as a
///   [`task_group`](crate::task_group) reports them: a failing task cancels the others and the body; a
///   cancellation of the caller passes through as a cancellation.
///
/// # Cancel safety
///
/// As [`task_group`](crate::task_group)'s: dropping the future aborts the tasks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// async fn after(ms: u64) -> Result<u64, anyio::BoxError> {
///     anyio::sleep(Duration::from_millis(ms)).await?;
///     Ok(ms)
/// }
///
/// # anyio::run(async {
/// let first = anyio::as_completed([after(300), after(10), after(200)], |mut done| async move {
///     // Only the first one is wanted: the others are cancelled when `done` is dropped.
///     let Some(handle) = done.next().await? else { return Ok(None) };
///     Ok(Some(handle.await?))
/// })
/// .await
/// .unwrap();
/// assert_eq!(first, Some(10));
/// # }).unwrap();
/// ```
pub async fn as_completed<I, F, T, E, B, BFut, R>(
    futs: I,
    body: B,
) -> Result<R, AsCompletedError<E>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IsCancelled + fmt::Display + Send + 'static,
    B: FnOnce(Completions<T>) -> BFut,
    BFut: Future<Output = Result<R, E>>,
{
    let mut futs = futs.into_iter().peekable();
    if futs.peek().is_none() {
        return Err(AsCompletedError::NoFutures);
    }
    let outcome = TaskGroup::<E>::run(move |tg| async move {
        let queue = Arc::new(Queue {
            done: Mutex::new(VecDeque::new()),
            waiter: AtomicWaker::new(),
        });
        let on_finish: OnFinish<T> = {
            let queue = queue.clone();
            Arc::new(move |handle| queue.push(handle))
        };
        let mut handles = Vec::new();
        for fut in futs {
            // The group is open while its body runs: a future that could not start would
            // simply never come out of the stream.
            if let Ok(handle) =
                spawn_with_handle(&tg, default_name::<F>(), fut, Some(on_finish.clone()))
            {
                handles.push(handle);
            }
        }
        body(Completions {
            queue,
            handles,
            yielded: 0,
        })
        .await
    })
    .await
    .map_err(AsCompletedError::Group)?;
    // Nothing but a failure cancels this group's own scope, and a failure is an error.
    outcome.ok_or_else(|| AsCompletedError::Group(TaskGroupError::cancelled(current::cancelled())))
}

/// The handles of the tasks of [`as_completed`], in the order they end. Dropping it
/// cancels every task that has not finished.
pub struct Completions<T> {
    queue: Arc<Queue<T>>,
    /// Every task's handle, to cancel the unfinished ones on drop.
    handles: Vec<TaskHandle<T>>,
    yielded: usize,
}

impl<T> fmt::Debug for Completions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completions")
            .field("tasks", &self.handles.len())
            .field("yielded", &self.yielded)
            .finish()
    }
}

impl<T> Completions<T> {
    /// The handle of the next task to end (it has finished: awaiting it does not wait),
    /// or `None` once every task's handle has been given.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the caller is cancelled: this is a checkpoint, so a cancelled
    /// caller gets the cancellation even when a handle is ready.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a handle is taken from the queue only in the poll that returns it.
    pub async fn next(&mut self) -> Result<Option<TaskHandle<T>>, Cancelled> {
        let mut wait = OpWait::new();
        poll_fn(|cx| {
            wait.poll(cx, |cx| {
                if self.yielded == self.handles.len() {
                    return Poll::Ready(Ok(None));
                }
                self.queue.waiter.register(cx.waker());
                match self.queue.pop() {
                    Some(handle) => {
                        self.yielded += 1;
                        Poll::Ready(Ok(Some(handle)))
                    }
                    None => Poll::Pending,
                }
            })
        })
        .await
    }

    /// How many tasks have not come out of the stream yet.
    pub fn remaining(&self) -> usize {
        self.handles.len() - self.yielded
    }
}

impl<T> Drop for Completions<T> {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.cancel();
        }
    }
}

/// The handles of the tasks that have ended, in that order, and the body waiting for them.
struct Queue<T> {
    done: Mutex<VecDeque<TaskHandle<T>>>,
    waiter: AtomicWaker,
}

impl<T> Queue<T> {
    fn push(&self, handle: TaskHandle<T>) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(handle);
        self.waiter.wake();
    }

    fn pop(&self) -> Option<TaskHandle<T>> {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

/// Why [`as_completed`] returned no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum AsCompletedError<E> {
    /// No futures were given.
    NoFutures,
    /// A task or the body failed, or the caller was cancelled, as the group reports it.
    Group(TaskGroupError<E>),
}

impl<E> IsCancelled for AsCompletedError<E> {
    fn is_cancelled(&self) -> bool {
        matches!(self, AsCompletedError::Group(e) if e.is_cancelled())
    }
}

impl<E: fmt::Display> fmt::Display for AsCompletedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsCompletedError::NoFutures => f.write_str("as_completed() takes at least one future"),
            AsCompletedError::Group(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for AsCompletedError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AsCompletedError::NoFutures => None,
            AsCompletedError::Group(e) => e.source(),
        }
    }
}

impl From<AsCompletedError<io::Error>> for io::Error {
    /// No futures is `InvalidInput`; a group's error converts as
    /// [`TaskGroupError`]'s does (a cancellation stays a cancellation).
    fn from(err: AsCompletedError<io::Error>) -> io::Error {
        match err {
            AsCompletedError::NoFutures => {
                io::Error::new(io::ErrorKind::InvalidInput, err.to_string())
            }
            AsCompletedError::Group(e) => e.into(),
        }
    }
}
