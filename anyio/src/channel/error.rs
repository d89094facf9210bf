//! The errors of memory object streams: a failed send gives its item back
//! ([`SendError`]), a failed receive says why ([`ReceiveError`]), and a buffer size that
//! cannot be is refused ([`InvalidBufferSize`]).

use std::error::Error;
use std::fmt;
use std::io;

use crate::cancel::error::{CANCELLED, Cancelled, IsCancelled};
use crate::resource::{BrokenResourceError, ClosedResourceError, EndOfStream, WouldBlock};

static CLOSED: ClosedResourceError = ClosedResourceError;
static BROKEN: BrokenResourceError = BrokenResourceError::new();
static WOULD_BLOCK: WouldBlock = WouldBlock;
static END_OF_STREAM: EndOfStream = EndOfStream;

/// Why a send failed; see [`SendError`].
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendErrorKind {
    /// [`send_nowait`](super::MemoryObjectSendStream::send_nowait) only: no receiver was
    /// waiting and the buffer was full ([`WouldBlock`]).
    WouldBlock,
    /// This handle was closed ([`ClosedResourceError`]): by its own
    /// [`close`](super::MemoryObjectSendStream::close), also while the send was blocked.
    Closed,
    /// Every receive handle is closed, so nobody can ever receive the item
    /// ([`BrokenResourceError`]); blocked senders are woken with it too.
    Broken,
    /// [`send`](super::MemoryObjectSendStream::send) only: the enclosing cancel scope is
    /// cancelled ([`Cancelled`]). The item was not delivered.
    Cancelled,
}

impl SendErrorKind {
    /// The crate-wide error this kind stands for, as a `'static` error value.
    fn as_error(self) -> &'static (dyn Error + Send + Sync + 'static) {
        match self {
            SendErrorKind::WouldBlock => &WOULD_BLOCK,
            SendErrorKind::Closed => &CLOSED,
            SendErrorKind::Broken => &BROKEN,
            SendErrorKind::Cancelled => &*CANCELLED,
        }
    }
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_error(), f)
    }
}

impl From<SendErrorKind> for io::Error {
    fn from(kind: SendErrorKind) -> io::Error {
        match kind {
            SendErrorKind::WouldBlock => WouldBlock.into(),
            SendErrorKind::Closed => ClosedResourceError.into(),
            SendErrorKind::Broken => BrokenResourceError::new().into(),
            SendErrorKind::Cancelled => Cancelled::new().into(),
        }
    }
}

/// A send that failed, with the item that was not sent.
///
/// A cancelled send also keeps the [`Cancelled`] it observed, with its cause
/// ([`cancellation`](Self::cancellation)); its [`source`](Error::source) and its
/// [`io::Error`] are that value.
///
/// Every failed send gives its item back: nothing is delivered when a send fails, so the
/// item is yours again. [`kind`](Self::kind) says why, [`into_inner`](Self::into_inner)
/// returns the item.
///
/// It is an [`Error`] whose [`source`](Error::source) is the matching crate error
/// ([`WouldBlock`], [`ClosedResourceError`], [`BrokenResourceError`] or [`Cancelled`]), so
/// [`is_cancelled`](crate::is_cancelled) recognises a cancelled send also once boxed, and
/// it converts into an [`io::Error`] of the nearest kind (dropping the item).
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
///
/// ```
/// # anyio::run(async {
/// let (tx, rx) = anyio::create_memory_object_stream::<String>(0)?;
/// drop(rx);
/// let err = tx.send_nowait("hello".to_owned()).unwrap_err();
/// assert_eq!(err.kind(), anyio::SendErrorKind::Broken);
/// assert_eq!(err.into_inner(), "hello");
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T> {
    kind: SendErrorKind,
    item: T,
    /// `Some` exactly when `kind` is `Cancelled`.
    cancelled: Option<Cancelled>,
}

impl<T> SendError<T> {
    pub(crate) fn new(kind: SendErrorKind, item: T) -> Self {
        debug_assert_ne!(kind, SendErrorKind::Cancelled, "a cancellation has a cause");
        SendError {
            kind,
            item,
            cancelled: None,
        }
    }

    pub(crate) fn cancelled(cancelled: Cancelled, item: T) -> Self {
        SendError {
            kind: SendErrorKind::Cancelled,
            item,
            cancelled: Some(cancelled),
        }
    }

    /// The cancellation that stopped the send, with its cause (which scope, which task,
    /// why); `None` if the send failed for another reason.
    pub fn cancellation(&self) -> Option<&Cancelled> {
        self.cancelled.as_ref()
    }

    /// Why the send failed.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The item that was not sent.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// Gives the item that was not sent back.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// The item and the reason, apart.
    pub fn into_parts(self) -> (SendErrorKind, T) {
        (self.kind, self.item)
    }

    /// Whether the send found no room and no receiver (only `send_nowait` fails so).
    pub fn is_would_block(&self) -> bool {
        self.kind == SendErrorKind::WouldBlock
    }

    /// Whether this handle had been closed.
    pub fn is_closed(&self) -> bool {
        self.kind == SendErrorKind::Closed
    }

    /// Whether every receive handle is closed.
    pub fn is_broken(&self) -> bool {
        self.kind == SendErrorKind::Broken
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the item was not sent: {}", self.kind)
    }
}

impl<T> Error for SendError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cancelled {
            Some(c) => Some(c),
            None => Some(self.kind.as_error()),
        }
    }
}

impl<T> IsCancelled for SendError<T> {
    fn is_cancelled(&self) -> bool {
        self.kind == SendErrorKind::Cancelled
    }
}

impl<T> From<SendError<T>> for io::Error {
    /// An `io::Error` of the kind's nearest [`io::ErrorKind`]; the item is dropped.
    fn from(e: SendError<T>) -> io::Error {
        match e.cancelled {
            Some(c) => c.into(),
            None => e.kind.into(),
        }
    }
}

/// Why a receive failed. Nothing was consumed: a failed receive takes no item.
///
/// It converts into an [`io::Error`] of the nearest kind and from the crate's errors, and
/// its [`source`](Error::source) is the matching crate error, so
/// [`is_cancelled`](crate::is_cancelled) recognises a cancelled receive also once boxed.
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReceiveError {
    /// [`receive_nowait`](super::MemoryObjectReceiveStream::receive_nowait) only: nothing
    /// is buffered and no sender is waiting ([`WouldBlock`]).
    WouldBlock,
    /// This handle was closed ([`ClosedResourceError`]): by its own
    /// [`close`](super::MemoryObjectReceiveStream::close), also while the receive was
    /// blocked.
    Closed,
    /// Every send handle is closed and the buffer is drained ([`EndOfStream`]): the
    /// orderly end of the stream. Blocked receivers are woken with it.
    EndOfStream,
    /// [`receive`](super::MemoryObjectReceiveStream::receive) only: the enclosing cancel
    /// scope is cancelled: the [`Cancelled`] it observed, with its cause.
    Cancelled(Cancelled),
}

impl ReceiveError {
    fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        match self {
            ReceiveError::WouldBlock => &WOULD_BLOCK,
            ReceiveError::Closed => &CLOSED,
            ReceiveError::EndOfStream => &END_OF_STREAM,
            ReceiveError::Cancelled(c) => c,
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nothing was received: {}", self.as_error())
    }
}

impl Error for ReceiveError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.as_error())
    }
}

impl IsCancelled for ReceiveError {
    fn is_cancelled(&self) -> bool {
        matches!(self, ReceiveError::Cancelled(_))
    }
}

impl From<Cancelled> for ReceiveError {
    fn from(c: Cancelled) -> Self {
        ReceiveError::Cancelled(c)
    }
}

impl From<EndOfStream> for ReceiveError {
    fn from(_: EndOfStream) -> Self {
        ReceiveError::EndOfStream
    }
}

impl From<ClosedResourceError> for ReceiveError {
    fn from(_: ClosedResourceError) -> Self {
        ReceiveError::Closed
    }
}

impl From<WouldBlock> for ReceiveError {
    fn from(_: WouldBlock) -> Self {
        ReceiveError::WouldBlock
    }
}

impl From<ReceiveError> for io::Error {
    fn from(e: ReceiveError) -> io::Error {
        match e {
            ReceiveError::WouldBlock => WouldBlock.into(),
            ReceiveError::Closed => ClosedResourceError.into(),
            ReceiveError::EndOfStream => EndOfStream.into(),
            ReceiveError::Cancelled(c) => c.into(),
        }
    }
}

/// A buffer size that cannot be: negative, fractional, NaN, or larger than this platform's
/// `usize`. [`create_memory_object_stream`](super::create_memory_object_stream) returns it
/// instead of panicking.
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvalidBufferSize {
    given: String,
}

impl InvalidBufferSize {
    pub(crate) fn new(given: impl fmt::Display) -> Self {
        InvalidBufferSize {
            given: given.to_string(),
        }
    }
}

impl fmt::Display for InvalidBufferSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_buffer_size must be a non-negative integer that fits in usize, or unbounded \
             (BufferSize::Unbounded or f64::INFINITY); got {}",
            self.given
        )
    }
}

impl Error for InvalidBufferSize {}

impl IsCancelled for InvalidBufferSize {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<InvalidBufferSize> for io::Error {
    fn from(e: InvalidBufferSize) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
