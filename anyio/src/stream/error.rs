//! Telling the stream conditions apart on an `io::Error`.

use std::error::Error;
use std::io;

use crate::resource::{
    BrokenResourceError, BusyResourceError, ClosedResourceError, DelimiterNotFound, EndOfStream,
    IncompleteRead,
};

/// Which of the stream layer's conditions an [`io::Error`] carries.
///
/// Every stream operation of this crate returns `io::Result`, with the condition as the
/// error's inner value; these tests look it up. (For a cancellation, use
/// [`is_cancelled`](crate::is_cancelled), which knows every error of the crate.)
///
/// ```
/// use anyio::{EndOfStream, stream::IoErrorExt};
/// let err = std::io::Error::from(EndOfStream);
/// assert!(err.is_end_of_stream());
/// assert!(!err.is_closed_resource());
/// ```
pub trait IoErrorExt {
    /// The peer finished sending ([`EndOfStream`]).
    fn is_end_of_stream(&self) -> bool;
    /// This side closed the resource ([`ClosedResourceError`]).
    fn is_closed_resource(&self) -> bool;
    /// The resource broke ([`BrokenResourceError`]).
    fn is_broken_resource(&self) -> bool;
    /// Another task was using it ([`BusyResourceError`]).
    fn is_busy_resource(&self) -> bool;
    /// The stream ended in the middle of a read ([`IncompleteRead`]).
    fn is_incomplete_read(&self) -> bool;
    /// No delimiter within the limit ([`DelimiterNotFound`]).
    fn is_delimiter_not_found(&self) -> bool;
    /// The OS error under this one, looking through the crate's wrappers (a
    /// [`BrokenResourceError`]'s cause, the context a connect error adds): what to match
    /// `raw_os_error()` against.
    fn os_error(&self) -> Option<&io::Error>;
}

fn carries<E: std::error::Error + 'static>(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<E>())
}

impl IoErrorExt for io::Error {
    fn is_end_of_stream(&self) -> bool {
        carries::<EndOfStream>(self)
    }
    fn is_closed_resource(&self) -> bool {
        carries::<ClosedResourceError>(self)
    }
    fn is_broken_resource(&self) -> bool {
        carries::<BrokenResourceError>(self)
    }
    fn is_busy_resource(&self) -> bool {
        carries::<BusyResourceError>(self)
    }
    fn is_incomplete_read(&self) -> bool {
        carries::<IncompleteRead>(self)
    }
    fn is_delimiter_not_found(&self) -> bool {
        carries::<DelimiterNotFound>(self)
    }
    fn os_error(&self) -> Option<&io::Error> {
        if self.raw_os_error().is_some() {
            return Some(self);
        }
        let mut next: Option<&(dyn Error + 'static)> = self.get_ref().map(|e| e as _);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.raw_os_error().is_some() {
                    return Some(io);
                }
            }
            next = e.source();
        }
        None
    }
}
