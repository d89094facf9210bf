//! The errors of resources (streams, channels, guards) shared across the crate: AnyIO's
//! `EndOfStream`, `ClosedResourceError`, `BrokenResourceError`, `BusyResourceError` and
//! `WouldBlock`, and the buffered-stream errors `IncompleteRead` and `DelimiterNotFound`. Each
//! converts into an [`io::Error`] of the nearest kind, so I/O code can
//! return them with `?` and callers can recover them with `get_ref().downcast_ref()`.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

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

/// The resource was broken by the other side or by something outside this program: a
/// channel whose every receiver is gone, a connection reset.
///
/// When an OS error broke it, that error is the [`source`](Error::source), and the
/// `io::Error` this converts into keeps its kind (`ConnectionReset`, say), so retry logic
/// written for plain sockets still sees it.
#[derive(Clone, Debug, Default)]
pub struct BrokenResourceError {
    cause: Option<Arc<io::Error>>,
    what: Option<Arc<str>>,
}

impl BrokenResourceError {
    /// A broken resource with no further cause.
    pub const fn new() -> Self {
        BrokenResourceError {
            cause: None,
            what: None,
        }
    }

    /// A resource broken by `cause` while doing `what` (for example `"receiving from
    /// 127.0.0.1:8000"`), which the message includes.
    pub fn caused_by(what: impl Into<String>, cause: io::Error) -> Self {
        BrokenResourceError {
            cause: Some(Arc::new(cause)),
            what: Some(Arc::from(what.into())),
        }
    }

    /// The OS error (or other I/O error) that broke the resource, if there was one.
    pub fn cause(&self) -> Option<&io::Error> {
        self.cause.as_deref()
    }
}

impl PartialEq for BrokenResourceError {
    /// Two broken-resource errors are equal when they say the same thing.
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl fmt::Display for BrokenResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.what, &self.cause) {
            (Some(what), Some(cause)) => write!(f, "the resource is broken ({what}: {cause})"),
            _ => f.write_str("the resource is broken"),
        }
    }
}

impl Error for BrokenResourceError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl IsCancelled for BrokenResourceError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<BrokenResourceError> for io::Error {
    fn from(e: BrokenResourceError) -> io::Error {
        let kind = e.cause().map_or(io::ErrorKind::BrokenPipe, io::Error::kind);
        io::Error::new(kind, e)
    }
}

resource_error!(
    /// The stream ended before a read that needs a given amount of data, or a delimiter,
    /// could complete ([`receive_exactly`](crate::stream::BufferedByteReceiveStream::receive_exactly),
    /// [`receive_until`](crate::stream::BufferedByteReceiveStream::receive_until)). What had arrived
    /// stays in the buffer.
    IncompleteRead,
    "The stream was closed before the read operation could be completed",
    UnexpectedEof
);

/// [`receive_until`](crate::stream::BufferedByteReceiveStream::receive_until) found no delimiter
/// within the first `max_bytes` bytes. What had arrived stays in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DelimiterNotFound {
    max_bytes: usize,
}

impl DelimiterNotFound {
    /// The error for a delimiter not found within `max_bytes` bytes.
    pub fn new(max_bytes: usize) -> Self {
        DelimiterNotFound { max_bytes }
    }

    /// The limit the search had.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl fmt::Display for DelimiterNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The delimiter was not found among the first {} bytes",
            self.max_bytes
        )
    }
}

impl Error for DelimiterNotFound {}

impl IsCancelled for DelimiterNotFound {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<DelimiterNotFound> for io::Error {
    fn from(e: DelimiterNotFound) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Whether the OS error `code` says that the process or the system ran out of descriptors
/// or kernel memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): a condition that passes once
/// other holders close what they hold, not a fault of the operation that met it.
#[cfg(unix)]
pub(crate) fn is_out_of_resources(code: i32) -> bool {
    matches!(
        code,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
    )
}

/// The longest input an error message quotes whole; of a longer one (a 100 KB path, say) it
/// keeps the start and the end, and says how much it left out.
const MAX_QUOTED: usize = 256;
/// How much of the start and of the end of a long input a message keeps.
const KEPT_HEAD: usize = 160;
const KEPT_TAIL: usize = 64;

/// `s` as an error message shows it: whole up to 256 bytes, otherwise its first 160 and
/// last 64 bytes (to the nearest character) around `[… N bytes …]`.
pub(crate) fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_QUOTED {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut head = KEPT_HEAD;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - KEPT_TAIL;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}[… {} bytes …]{}",
        &s[..head],
        tail - head,
        &s[tail..]
    ))
}
