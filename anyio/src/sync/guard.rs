//! [`ResourceGuard`]: detects concurrent use of a resource that allows one user at a time.
//!
//! Streams use it to catch two tasks reading (or writing) the same stream at once, which
//! would interleave their data: the second one gets a [`BusyResourceError`] instead of
//! waiting. It is synchronous: entering never waits.

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::loom::sync::AtomicBool;
use crate::resource::BusyResourceError;

/// Detects a second, concurrent use of a resource.
///
/// [`enter`](ResourceGuard::enter) returns a [`ResourceGuardToken`] while nobody else is
/// inside, and [`BusyResourceError`] ("Another task is already {action} this resource")
/// while somebody is; dropping the token leaves.
///
/// ```
/// use anyio::ResourceGuard;
///
/// let guard = ResourceGuard::new("reading from");
/// let token = guard.enter().unwrap();
/// let err = guard.enter().unwrap_err();
/// assert_eq!(err.to_string(), "Another task is already reading from this resource");
/// drop(token);
/// assert!(guard.enter().is_ok());
/// ```
pub struct ResourceGuard {
    busy: AtomicBool,
    action: &'static str,
}

impl ResourceGuard {
    /// A guard whose error says another task is already `action` (for example `"reading
    /// from"`) the resource.
    pub fn new(action: &'static str) -> Self {
        ResourceGuard {
            busy: AtomicBool::new(false),
            action,
        }
    }

    /// Enters the guarded section: the token leaves it when dropped.
    ///
    /// # Errors
    ///
    /// [`BusyResourceError`] if another token of this guard is alive.
    pub fn enter(&self) -> Result<ResourceGuardToken<'_>, BusyResourceError> {
        match self.busy.compare_exchange(false, true, Acquire, Relaxed) {
            Ok(_) => Ok(ResourceGuardToken { guard: self }),
            Err(_) => Err(BusyResourceError::new(self.action)),
        }
    }

    /// Whether a token of this guard is alive.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Acquire)
    }

    /// What the guard's error says the other task is doing.
    pub fn action(&self) -> &'static str {
        self.action
    }
}

impl Default for ResourceGuard {
    /// A guard for `"using"` the resource, AnyIO's default action.
    fn default() -> Self {
        ResourceGuard::new("using")
    }
}

impl fmt::Debug for ResourceGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceGuard")
            .field("action", &self.action)
            .field("busy", &self.is_busy())
            .finish()
    }
}

/// Proof of being inside a [`ResourceGuard`]; dropping it leaves.
#[derive(Debug)]
#[must_use = "the guarded section is left as soon as the token is dropped"]
pub struct ResourceGuardToken<'a> {
    guard: &'a ResourceGuard,
}

impl ResourceGuardToken<'_> {
    /// Whether this is a token of `guard`.
    pub(crate) fn is_of(&self, guard: &ResourceGuard) -> bool {
        std::ptr::eq(self.guard, guard)
    }
}

impl Drop for ResourceGuardToken<'_> {
    fn drop(&mut self) {
        self.guard.busy.store(false, Release);
    }
}
