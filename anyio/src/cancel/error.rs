//! Cancellation as a value: [`Cancelled`], [`TimeoutError`] and the one test for "is this
//! error a cancellation?", [`IsCancelled`].

use std::error::Error;
use std::fmt;
use std::io;

/// The error an anyio operation returns when the cancel scope it runs in is cancelled.
///
/// Propagate it with `?`: the cancel scope that caused it absorbs it when the code leaves
/// the scope (see [`CancelScope::run`](crate::CancelScope::run)). Cancellation is
/// level-triggered: until the code leaves the cancelled scope, every checkpoint returns
/// this error again.
///
/// It converts into [`io::Error`] (kind [`Other`](io::ErrorKind::Other), never
/// `Interrupted`, which retry loops treat as "try again") and into boxed errors, and
/// [`is_cancelled`] recognises it in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cancelled;

/// A `Cancelled` with a static address, for error types that report a cancellation as their
/// [`source`](Error::source).
pub(crate) static CANCELLED: Cancelled = Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled by a cancel scope")
    }
}

impl Error for Cancelled {}

impl From<Cancelled> for io::Error {
    fn from(c: Cancelled) -> io::Error {
        io::Error::other(c)
    }
}

/// The error of [`fail_after`](crate::fail_after) and [`fail_at`](crate::fail_at) when the
/// deadline passed and their scope caught the cancellation it caused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl Error for TimeoutError {}

impl From<TimeoutError> for io::Error {
    fn from(t: TimeoutError) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, t)
    }
}

/// A boxed error: the default error type of task groups, so any error converts into it
/// with `?`.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Whether an error is a cancellation delivered by a cancel scope.
///
/// Cancel scopes and task groups use it to tell the cancellations they absorb from the
/// failures they report. It is implemented for this crate's errors, for [`io::Error`], and
/// for boxed and `dyn` errors, which are cancellations when [`Cancelled`] appears anywhere
/// in their [`source`](Error::source) chain (an `io::Error` wrapping one included).
/// Implement it for your own error type to use that type in task groups:
///
/// ```
/// use anyio::{Cancelled, IsCancelled};
///
/// #[derive(Debug)]
/// enum AppError {
///     Cancelled,
///     Protocol(String),
/// }
///
/// impl From<Cancelled> for AppError {
///     fn from(_: Cancelled) -> Self {
///         AppError::Cancelled
///     }
/// }
///
/// impl IsCancelled for AppError {
///     fn is_cancelled(&self) -> bool {
///         matches!(self, AppError::Cancelled)
///     }
/// }
/// # assert!(AppError::from(Cancelled).is_cancelled());
/// # assert!(!AppError::Protocol("x".into()).is_cancelled());
/// ```
pub trait IsCancelled {
    /// `true` if this error is (or wraps) a cancellation.
    fn is_cancelled(&self) -> bool;
}

/// `true` if `err` is (or wraps) a cancellation: the crate's one test for it, usable on
/// [`io::Error`], boxed errors and every error type that implements [`IsCancelled`].
///
/// ```
/// let err: std::io::Error = anyio::Cancelled.into();
/// assert!(anyio::is_cancelled(&err));
/// assert!(!anyio::is_cancelled(&std::io::Error::from(std::io::ErrorKind::Interrupted)));
/// ```
pub fn is_cancelled<E: IsCancelled + ?Sized>(err: &E) -> bool {
    err.is_cancelled()
}

/// Walks an error's source chain looking for [`Cancelled`], looking inside `io::Error`s
/// (whose `source` skips the error they wrap).
fn chain_is_cancelled(mut err: &(dyn Error + 'static)) -> bool {
    loop {
        if err.is::<Cancelled>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|e| e.get_ref()) {
            if chain_is_cancelled(inner) {
                return true;
            }
        }
        match err.source() {
            Some(next) => err = next,
            None => return false,
        }
    }
}

impl IsCancelled for Cancelled {
    fn is_cancelled(&self) -> bool {
        true
    }
}

impl IsCancelled for TimeoutError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl IsCancelled for io::Error {
    fn is_cancelled(&self) -> bool {
        self.get_ref()
            .is_some_and(|inner| chain_is_cancelled(inner))
    }
}

impl IsCancelled for dyn Error + 'static {
    fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self)
    }
}

impl IsCancelled for dyn Error + Send + Sync + 'static {
    fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self)
    }
}

impl<E: IsCancelled + ?Sized> IsCancelled for Box<E> {
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

impl<E: IsCancelled + ?Sized> IsCancelled for &E {
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

impl IsCancelled for std::convert::Infallible {
    fn is_cancelled(&self) -> bool {
        match *self {}
    }
}
