//! The errors of task groups: [`TaskGroupError`], [`StartError`], [`GroupClosed`].

use std::error::Error;
use std::fmt;
use std::io;

use crate::cancel::error::{CANCELLED, Cancelled, IsCancelled};

/// Why a task group did not return its body's value: the failures of its tasks, or a
/// cancellation that the group's own scope did not cause.
///
/// Every error that was not a cancellation is kept, in the order the tasks failed (the
/// body counts as a task). Cancellations are never listed: when only cancellations
/// happened and an enclosing scope caused them, the error is a single cancellation
/// ([`is_cancelled`](TaskGroupError::is_cancelled)), which the enclosing scope absorbs.
///
/// The common case of one failure is one call away: [`into_single`](TaskGroupError::into_single).
pub struct TaskGroupError<E> {
    repr: Repr<E>,
}

enum Repr<E> {
    Cancelled(Cancelled),
    Failed(Vec<E>),
}

impl<E> TaskGroupError<E> {
    pub(crate) fn cancelled(cancelled: Cancelled) -> Self {
        TaskGroupError {
            repr: Repr::Cancelled(cancelled),
        }
    }

    pub(crate) fn failed(errors: Vec<E>) -> Self {
        debug_assert!(!errors.is_empty());
        TaskGroupError {
            repr: Repr::Failed(errors),
        }
    }

    /// Whether this is a cancellation passing through the group (no task failed).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled(_))
    }

    /// The cancellation passing through the group, with its cause (which scope, which
    /// task, why); `None` if tasks failed.
    pub fn cancellation(&self) -> Option<&Cancelled> {
        match &self.repr {
            Repr::Cancelled(c) => Some(c),
            Repr::Failed(_) => None,
        }
    }

    /// The failures, in the order they happened; empty for a cancellation.
    pub fn errors(&self) -> &[E] {
        match &self.repr {
            Repr::Cancelled(_) => &[],
            Repr::Failed(errors) => errors,
        }
    }

    /// The failures, in the order they happened; empty for a cancellation.
    pub fn into_errors(self) -> Vec<E> {
        match self.repr {
            Repr::Cancelled(_) => Vec::new(),
            Repr::Failed(errors) => errors,
        }
    }

    /// The failure, if exactly one task failed.
    pub fn single(&self) -> Option<&E> {
        match self.errors() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The failure if exactly one task failed, else the whole error back.
    ///
    /// ```
    /// # use anyio::TaskGroup;
    /// # anyio::run(async {
    /// let err = anyio::TaskGroup::<std::io::Error>::run(|tg| async move {
    ///     tg.start_soon(async { Err(std::io::Error::other("boom")) }).unwrap();
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert_eq!(err.into_single().unwrap().to_string(), "boom");
    /// # }).unwrap();
    /// ```
    pub fn into_single(self) -> Result<E, Self> {
        match self.repr {
            Repr::Failed(mut errors) if errors.len() == 1 => Ok(errors.remove(0)),
            repr => Err(TaskGroupError { repr }),
        }
    }

    /// The first failure, if any task failed.
    pub fn into_first(self) -> Option<E> {
        self.into_errors().into_iter().next()
    }
}

impl<E> IsCancelled for TaskGroupError<E> {
    fn is_cancelled(&self) -> bool {
        TaskGroupError::is_cancelled(self)
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(c) => f.debug_tuple("TaskGroupError::Cancelled").field(c).finish(),
            Repr::Failed(errors) => f
                .debug_tuple("TaskGroupError::Failed")
                .field(errors)
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(c) => write!(f, "task group {c}"),
            Repr::Failed(errors) if errors.len() == 1 => write!(f, "a task failed: {}", errors[0]),
            Repr::Failed(errors) => {
                write!(f, "{} tasks failed: ", errors.len())?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for TaskGroupError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.repr {
            Repr::Cancelled(c) => Some(c),
            Repr::Failed(_) => None,
        }
    }
}

impl From<TaskGroupError<io::Error>> for io::Error {
    /// One failure comes back as itself; several become one `io::Error` that lists them;
    /// a cancellation stays a cancellation.
    fn from(err: TaskGroupError<io::Error>) -> io::Error {
        match err.repr {
            Repr::Cancelled(c) => c.into(),
            Repr::Failed(mut errors) if errors.len() == 1 => errors.remove(0),
            repr => io::Error::other(TaskGroupError { repr }),
        }
    }
}

/// The error for starting a task in a task group that has finished (or was dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupClosed;

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("This task group is not active; no new tasks can be started.")
    }
}

impl Error for GroupClosed {}

impl From<GroupClosed> for io::Error {
    /// An [`io::Error`] of kind [`Other`](io::ErrorKind::Other) that wraps it, so
    /// `tg.start_soon(..)?` works in a `TaskGroup<io::Error>`.
    fn from(closed: GroupClosed) -> io::Error {
        io::Error::other(closed)
    }
}

impl IsCancelled for GroupClosed {
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Why [`TaskGroup::start`](crate::TaskGroup::start) did not return a started value.
#[derive(Debug)]
pub enum StartError<E> {
    /// The task failed before calling [`TaskStatus::started`](crate::TaskStatus::started);
    /// this error is not reported to the group, which is not cancelled.
    Failed(E),
    /// The task returned without calling `started`.
    NotStarted,
    /// The caller's scope was cancelled and the task ended without an error of its own:
    /// a task started (or calling `started`) in a cancelled scope stays there, and
    /// `start` reports the cancellation. A cancellation, as
    /// [`is_cancelled`](IsCancelled::is_cancelled) says. It carries the caller's
    /// cancellation, with its cause.
    Cancelled(Cancelled),
    /// The group had finished, so no task was started.
    Closed(GroupClosed),
}

impl<E: IsCancelled> IsCancelled for StartError<E> {
    fn is_cancelled(&self) -> bool {
        match self {
            StartError::Failed(e) => e.is_cancelled(),
            StartError::Cancelled(_) => true,
            StartError::NotStarted | StartError::Closed(_) => false,
        }
    }
}

impl<E: fmt::Display> fmt::Display for StartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(e) => write!(f, "the task failed before it started: {e}"),
            StartError::NotStarted => {
                f.write_str("Child exited without calling task_status.started()")
            }
            StartError::Cancelled(c) => c.fmt(f),
            StartError::Closed(c) => c.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display + IsCancelled> Error for StartError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartError::Failed(e) if e.is_cancelled() => Some(&*CANCELLED),
            StartError::Cancelled(c) => Some(c),
            StartError::Closed(c) => Some(c),
            _ => None,
        }
    }
}

impl From<StartError<io::Error>> for io::Error {
    fn from(err: StartError<io::Error>) -> io::Error {
        match err {
            StartError::Failed(e) => e,
            StartError::Cancelled(c) => c.into(),
            other => io::Error::other(other.to_string()),
        }
    }
}
