//! The errors of resources (streams, channels, guards) shared across the crate: AnyIO's
//! `EndOfStream`, `ClosedResourceError`, `BrokenResourceError`, `BusyResourceError` and
//! `WouldBlock`. Each converts into an [`io::Error`] of the nearest kind, so I/O code can
//! return them with `?` and callers can recover them with `get_ref().downcast_ref()`.

use std::error::Error;
use std::fmt;
use std::io;

use crate::cancel::error::IsCancelled;

macro_rules! resource_error {
    ($(#[$doc:meta])* $name:ident, $msg:literal, $kind:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($msg)
            }
        }

        impl Error for $name {}

        impl IsCancelled for $name {
            fn is_cancelled(&self) -> bool {
                false
            }
        }

        impl From<$name> for io::Error {
            fn from(e: $name) -> io::Error {
                io::Error::new(io::ErrorKind::$kind, e)
            }
        }
    };
}

resource_error!(
    /// The other end finished sending: an orderly end of the stream, after everything it
    /// sent has been received.
    EndOfStream,
    "end of stream",
    UnexpectedEof
);

resource_error!(
    /// The resource was closed by this side (this handle), also when an operation was
    /// blocked on it at the time.
    ClosedResourceError,
    "the resource was closed",
    NotConnected
);

resource_error!(
    /// The resource was broken by the other side or by something outside this program: a
    /// channel whose every receiver is gone, a connection reset.
    BrokenResourceError,
    "the resource is broken",
    BrokenPipe
);

resource_error!(
    /// The operation would have to wait, and the caller asked it not to.
    WouldBlock,
    "the operation would block",
    WouldBlock
);

/// Another task is already using the resource in a way that excludes this use (two tasks
/// reading one stream, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BusyResourceError {
    action: &'static str,
}

impl BusyResourceError {
    /// The error for a resource another task is already `action` (for example `"reading
    /// from"` or `"writing to"`).
    pub fn new(action: &'static str) -> Self {
        BusyResourceError { action }
    }

    /// What the other task is doing with the resource.
    pub fn action(&self) -> &'static str {
        self.action
    }
}

impl fmt::Display for BusyResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Another task is already {} this resource", self.action)
    }
}

impl Error for BusyResourceError {}

impl IsCancelled for BusyResourceError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<BusyResourceError> for io::Error {
    fn from(e: BusyResourceError) -> io::Error {
        io::Error::new(io::ErrorKind::ResourceBusy, e)
    }
}
