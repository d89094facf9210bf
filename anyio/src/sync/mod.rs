//! Synchronization primitives, written once on top of cancel scopes so they behave the same
//! on every backend: [`Event`](event::Event), [`Lock`](lock::Lock),
//! [`Semaphore`](semaphore::Semaphore), [`Condition`](condition::Condition),
//! [`CapacityLimiter`](limiter::CapacityLimiter), [`ResourceGuard`](guard::ResourceGuard)
//! and [`Promise`](promise::Promise) (AnyIO's `Future`). See `docs/sync.md` for the guide.
//!
//! Every primitive keeps its state behind one mutex, with its blocked callers in a FIFO
//! [`WaitQueue`](wait_queue::WaitQueue) next to it; [`waiter`] holds the waiting logic they
//! share (checkpoints, cancellation, passing on what a dropped waiter was granted). The
//! [`Lock`](lock::Lock) also mirrors "held" and "somebody waits" in an atomic word, so
//! that its uncontended acquire and release skip the mutex.
//! They are written here rather than taken from tokio or async-lock because their waits
//! must be checkpoints of anyio's cancel scopes, behave identically on every backend, and
//! follow AnyIO's rules (direct hand-off, yield on uncontended acquire, one limiter token
//! per borrower).

pub(crate) mod condition;
pub(crate) mod event;
pub(crate) mod guard;
pub(crate) mod limiter;
pub(crate) mod lock;
pub(crate) mod promise;
pub(crate) mod semaphore;
pub(crate) mod wait_queue;
pub(crate) mod waiter;

#[cfg(all(test, anyio_loom))]
mod loom_tests;

/// Compiles the examples of the guide chapter as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/sync.md")]
struct SyncGuide;

/// Why a value given as a count is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadCount {
    Negative,
    TooLarge,
}

/// Converts any integer into a count.
pub(crate) fn to_count<V>(value: V) -> Result<usize, BadCount>
where
    V: TryInto<usize> + PartialOrd + Default,
{
    if value < V::default() {
        return Err(BadCount::Negative);
    }
    value.try_into().map_err(|_| BadCount::TooLarge)
}
