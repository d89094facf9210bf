//! Catching a panic of a future, so that a test's teardowns still run after it panics and
//! the panic is resumed once they are done.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, UnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic's payload, as `catch_unwind` returns it.
pub(super) type Panic = Box<dyn Any + Send + 'static>;

pin_project_lite::pin_project! {
    /// Polls a future inside `catch_unwind`: `Err(payload)` if a poll panicked.
    pub(super) struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future + UnwindSafe> CatchUnwind<F> {
    pub(super) fn new(fut: F) -> Self {
        CatchUnwind { fut }
    }
}

impl<F: Future + UnwindSafe> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message of a panic whose payload is a string (as `panic!` makes), or a placeholder.
pub(super) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}
