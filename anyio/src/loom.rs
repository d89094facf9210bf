//! The synchronization primitives of the scope tree: std's normally, loom's when the crate
//! is built with `--cfg anyio_loom` so the models in `cancel/loom_tests.rs` can explore
//! every interleaving (tokio's technique).

#[cfg(not(anyio_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
    pub(crate) use std::sync::{Mutex, MutexGuard};
}

#[cfg(anyio_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
    pub(crate) use loom::sync::{Mutex, MutexGuard};
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before anything that can panic runs.
pub(crate) fn lock<T>(m: &sync::Mutex<T>) -> sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the loom models share.
#[cfg(all(test, anyio_loom))]
pub(crate) mod models {
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    pub(crate) struct CountingWaker(pub(crate) AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A counting waker and its counter.
    pub(crate) fn waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }
}
