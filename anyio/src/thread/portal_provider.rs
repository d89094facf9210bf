//! A blocking portal shared by every thread that needs one (AnyIO's
//! `BlockingPortalProvider`): one event loop thread while anyone uses it, none otherwise.
//!
//! The rule is a lease count under one lock: the lease that finds the count at zero starts
//! the portal (so two first users never start two), every lease adds one, and the lease
//! that brings it back to zero takes the portal out of the provider and stops it after
//! releasing the lock, so a new user meanwhile starts a fresh portal instead of waiting.

use std::fmt;
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};

use super::portal::BlockingPortal;
use crate::backend::Backend;
use crate::runner::{RunError, Runner};

/// A reference-counted [`BlockingPortal`] for synchronous code on many threads (AnyIO's
/// `BlockingPortalProvider`): the first [`lease`](BlockingPortalProvider::lease) starts
/// the portal's thread, every lease shares it, and dropping the last lease stops it (as
/// [`BlockingPortal::stop`] with `cancel_remaining` false: it waits for the portal's
/// tasks). The next lease after that starts a new portal.
///
/// It is `Send` and `Sync` and made by `const` functions, so it fits in a `static`:
///
/// ```
/// use anyio::{Backend, BlockingPortalProvider};
///
/// static PORTAL: BlockingPortalProvider = BlockingPortalProvider::new(Backend::Smol);
///
/// fn sync_api() -> u32 {
///     let portal = PORTAL.lease().expect("the portal starts");
///     portal.call(|| async { 6 * 7 }).expect("the portal runs")
/// }
///
/// let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(sync_api)).collect();
/// for t in threads {
///     assert_eq!(t.join().unwrap(), 42);
/// }
/// ```
///
/// Leave stopping to the provider: a [`stop`](BlockingPortal::stop) through a lease stops
/// the portal for every other holder too (their calls then fail with
/// [`PortalError::Stopped`](crate::PortalError::Stopped)) until the last lease is gone.
pub struct BlockingPortalProvider {
    runner: Runner,
    leases: Mutex<Leases>,
}

/// The portal and how many leases hold it.
struct Leases {
    count: usize,
    portal: Option<BlockingPortal>,
}

impl fmt::Debug for BlockingPortalProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPortalProvider")
            .field("runner", &self.runner)
            .field("leases", &self.lock().count)
            .finish()
    }
}

impl BlockingPortalProvider {
    /// A provider of portals running `backend` with its default options. Nothing starts
    /// until the first lease.
    pub const fn new(backend: Backend) -> Self {
        Self::with_runner(Runner::new(backend))
    }

    /// A provider of portals started with `runner`'s options (see
    /// [`Runner::start_blocking_portal`]). Nothing starts until the first lease.
    pub const fn with_runner(runner: Runner) -> Self {
        BlockingPortalProvider {
            runner,
            leases: Mutex::new(Leases {
                count: 0,
                portal: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leases the shared portal, starting it if no lease holds it; the lease derefs to the
    /// [`BlockingPortal`]. Blocks while another thread is starting the portal.
    ///
    /// # Errors
    ///
    /// As [`Runner::start_blocking_portal`], when this lease had to start the portal and
    /// it could not start (the next lease tries again).
    pub fn lease(&self) -> Result<PortalLease<'_>, RunError> {
        let mut leases = self.lock();
        let portal = match &leases.portal {
            Some(portal) => portal.clone(),
            None => {
                let portal = self.runner.start_blocking_portal()?;
                leases.portal = Some(portal.clone());
                portal
            }
        };
        leases.count += 1;
        Ok(PortalLease {
            provider: self,
            portal,
        })
    }

    /// How many leases hold the portal now: 0 when no portal runs.
    pub fn lease_count(&self) -> usize {
        self.lock().count
    }
}

/// A lease on the portal of a [`BlockingPortalProvider`], from
/// [`lease`](BlockingPortalProvider::lease): it derefs to the [`BlockingPortal`]. Dropping
/// the last lease of a portal stops it, waiting for its tasks (cancelling them during a
/// panic).
pub struct PortalLease<'a> {
    provider: &'a BlockingPortalProvider,
    portal: BlockingPortal,
}

impl fmt::Debug for PortalLease<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalLease")
            .field("portal", &self.portal)
            .finish()
    }
}

impl Deref for PortalLease<'_> {
    type Target = BlockingPortal;

    fn deref(&self) -> &BlockingPortal {
        &self.portal
    }
}

impl Drop for PortalLease<'_> {
    fn drop(&mut self) {
        let last = {
            let mut leases = self.provider.lock();
            leases.count -= 1;
            if leases.count == 0 {
                leases.portal.take()
            } else {
                None
            }
        };
        if let Some(portal) = last {
            portal.shut_down();
        }
    }
}
