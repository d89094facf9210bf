//! Closing several resources at once.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::Poll;

/// One resource's `aclose`, boxed so that closes of different types can run together.
pub(crate) type Close<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// Runs every close concurrently until all have finished, and returns the first error.
///
/// Concurrently, so that each close starts at the first poll: dropping this future after
/// that still leaves every resource closed (an `aclose` closes as soon as it is polled,
/// and only its graceful goodbye is lost when it is dropped).
pub(crate) async fn close_all(mut closes: Vec<Close<'_>>) -> io::Result<()> {
    let mut first_error = None;
    poll_fn(|cx| {
        closes.retain_mut(|close| match close.as_mut().poll(cx) {
            Poll::Ready(result) => {
                if let Err(err) = result {
                    first_error.get_or_insert(err);
                }
                false
            }
            Poll::Pending => true,
        });
        if closes.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    first_error.map_or(Ok(()), Err)
}
