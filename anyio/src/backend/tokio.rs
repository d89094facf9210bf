//! The tokio backend: a multi-thread or current-thread `tokio::runtime::Runtime`.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::runtime::Builder;

use super::{Clock, Runtime, RuntimeOptions};

/// A handle to a running tokio runtime, and the run's virtual clock if it has one.
#[derive(Clone, Debug)]
pub(crate) struct Handle(tokio::runtime::Handle, Clock);

impl Handle {
    /// The runtime entered on this thread; code outside a run has no virtual clock.
    pub(crate) fn try_current() -> Option<Handle> {
        tokio::runtime::Handle::try_current()
            .ok()
            .map(|h| Handle(h, None))
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.1
    }

    /// Enters the runtime's context, which tokio's I/O and timer constructors read.
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.0.enter()
    }

    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(fut));
    }

    pub(crate) fn spawn_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        drop(self.0.spawn_blocking(f));
    }

    pub(crate) fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        // Entering makes the timer usable from threads outside the runtime as well.
        let _entered = self.0.enter();
        tokio::time::sleep_until(representable(deadline))
    }
}

/// How far from the end of `Instant` a deadline must be for tokio's timer to hold it: the
/// timer rounds a deadline up to its next millisecond by adding just under one, which
/// overflows (and panics, inside tokio) within a millisecond of the end.
const TIMER_MARGIN: Duration = Duration::from_secs(1);

/// `deadline` as tokio's timer can hold it: a deadline too close to the end of `Instant`
/// becomes one a second earlier, which is just as far beyond any wait (hundreds of years
/// from now on every platform), so it still means "no deadline".
pub(crate) fn representable(deadline: Instant) -> tokio::time::Instant {
    let deadline = match deadline.checked_add(TIMER_MARGIN) {
        Some(_) => deadline,
        // Cannot underflow: `Instant`'s range is far wider than the margin.
        None => deadline - TIMER_MARGIN,
    };
    tokio::time::Instant::from_std(deadline)
}

pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(crate) fn block_on<F, M>(options: RuntimeOptions, make: M) -> std::io::Result<F::Output>
where
    M: FnOnce(Runtime) -> F,
    F: Future,
{
    let mut builder = if options.current_thread {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        if let Some(n) = options.threads {
            b.worker_threads(n);
        }
        b
    };
    let rt = builder
        .enable_all()
        .thread_name("anyio-tokio-worker")
        .build()?;
    let handle = Handle(rt.handle().clone(), options.clock);
    Ok(rt.block_on(make(Runtime::Tokio(handle))))
}

/// The signals one receiver listens for, each a `tokio::signal::unix::Signal` (tokio fans
/// every delivery out to all of them, coalescing deliveries not yet received).
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Signals {
    streams: Vec<(i32, tokio::signal::unix::Signal)>,
    /// Where the next poll starts, so that one busy signal does not starve the others.
    next: usize,
}

#[cfg(unix)]
impl Handle {
    /// Registers a listener for each signal number with this runtime's signal driver.
    ///
    /// Panics, as tokio does, if the runtime was built without its I/O driver.
    pub(crate) fn signals(&self, numbers: &[i32]) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let _entered = self.0.enter();
        let streams = numbers
            .iter()
            .map(|&n| signal(SignalKind::from_raw(n)).map(|s| (n, s)))
            .collect::<std::io::Result<_>>()?;
        Ok(Signals { streams, next: 0 })
    }
}

#[cfg(unix)]
impl Signals {
    /// The number of a signal delivered since the last one received; never ends.
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<i32> {
        let len = self.streams.len();
        for i in 0..len {
            let idx = (self.next + i) % len;
            let (number, stream) = &mut self.streams[idx];
            // `None` would mean that the driver is gone (never, per tokio): keep waiting.
            if let std::task::Poll::Ready(Some(())) = stream.poll_recv(cx) {
                self.next = (idx + 1) % len;
                return std::task::Poll::Ready(*number);
            }
        }
        std::task::Poll::Pending
    }
}
