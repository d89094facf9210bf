//! `hyper::rt::Executor` for [`TaskGroup`]: hyper's background futures (an HTTP/2
//! connection's streams, the pooled client's connections) become tasks of the group, so
//! they run in its cancel scope and end with it.

use std::future::Future;

use crate::TaskGroup;
use crate::cancel::error::IsCancelled;

/// Starts each future hyper hands over as a task of the group.
///
/// Once the group has finished (its body and tasks are done), the future is **dropped**
/// unpolled, with a `debug` log line: running it anywhere else would let it outlive the
/// group that was meant to bound it. hyper sees the dropped task as a closed connection,
/// so the request or connection that needed it fails with hyper's error rather than
/// hanging. Keep the group open for as long as the connections it serves.
impl<E, Fut> ::hyper::rt::Executor<Fut> for TaskGroup<E>
where
    E: IsCancelled + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: Fut) {
        if self.start_soon(fut).is_err() {
            log::debug!("anyio: a hyper background task was dropped: its task group has finished");
        }
    }
}
