//! The tokio backend: a multi-thread or current-thread `tokio::runtime::Runtime`.

use std::future::Future;
use std::time::Instant;

use tokio::runtime::Builder;

use super::Runtime;
use crate::runner::{RunError, Runner};

/// A handle to a running tokio runtime.
#[derive(Clone, Debug)]
pub(crate) struct Handle(tokio::runtime::Handle);

impl Handle {
    pub(crate) fn try_current() -> Option<Handle> {
        tokio::runtime::Handle::try_current().ok().map(Handle)
    }

    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(fut));
    }

    pub(crate) fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        // Entering makes the timer usable from threads outside the runtime as well.
        let _entered = self.0.enter();
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }
}

pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(crate) fn block_on<F, M>(runner: &Runner, make: M) -> Result<F::Output, RunError>
where
    M: FnOnce(Runtime) -> F,
    F: Future,
{
    let mut builder = if runner.is_current_thread() {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        if let Some(n) = runner.threads() {
            b.worker_threads(n);
        }
        b
    };
    let rt = builder
        .enable_all()
        .thread_name("anyio-tokio-worker")
        .build()
        .map_err(RunError::Io)?;
    let handle = Handle(rt.handle().clone());
    Ok(rt.block_on(make(Runtime::Tokio(handle))))
}
