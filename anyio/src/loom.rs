//! The synchronization primitives of the scope tree: std's normally, loom's when the crate
//! is built with `--cfg anyio_loom` so the models in `cancel/loom_tests.rs` can explore
//! every interleaving (tokio's technique).

#[cfg(not(anyio_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32};
}

#[cfg(anyio_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::Mutex;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32};
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before anything that can panic runs.
pub(crate) fn lock<T>(m: &sync::Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
