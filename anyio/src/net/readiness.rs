//! Waiting for the readiness of a descriptor this crate does not own (AnyIO's and trio's
//! `wait_readable`, `wait_writable` and `notify_closing`).
//!
//! Each wait registers a duplicate of the descriptor with the backend's reactor (so it never
//! clashes with another registration of the same descriptor, an anyio socket's or another
//! wait's), and enters itself in a process-wide registry under the descriptor's number.
//! [`notify_closing`] takes every entry of a number out of the registry, marks it closed and
//! wakes it; the waits then end with [`ClosedResourceError`]. A wait removes its entry when
//! it ends or is dropped.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

use crate::backend::io::{Direction, FdReadiness};
use crate::cancel::checkpoint::OpWait;
use crate::context::current_runtime;
use crate::resource::ClosedResourceError;
use crate::runner::NoRuntime;

/// One pending wait, as the registry sees it.
#[derive(Debug, Default)]
struct Waiter {
    closed: AtomicBool,
    waker: AtomicWaker,
}

/// The pending waits of every descriptor, by descriptor number.
static REGISTRY: Mutex<BTreeMap<RawFd, Vec<Arc<Waiter>>>> = Mutex::new(BTreeMap::new());

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<RawFd, Vec<Arc<Waiter>>>> {
    // Nothing that can panic runs while the lock is held, so a poisoned map is consistent.
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A wait's entry in the registry; dropping it removes the entry.
#[derive(Debug)]
struct Registration {
    fd: RawFd,
    waiter: Arc<Waiter>,
}

impl Registration {
    fn new(fd: RawFd) -> Registration {
        let waiter = Arc::new(Waiter::default());
        registry().entry(fd).or_default().push(waiter.clone());
        Registration { fd, waiter }
    }

    fn is_closed(&self) -> bool {
        self.waiter.closed.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Once `notify_closing` has taken the entry out, there is nothing to remove.
        if self.is_closed() {
            return;
        }
        let mut map = registry();
        if let Some(waiters) = map.get_mut(&self.fd) {
            waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            if waiters.is_empty() {
                map.remove(&self.fd);
            }
        }
    }
}

/// The number of pending waits registered for `fd`.
#[cfg(test)]
fn registered_waits(fd: RawFd) -> usize {
    registry().get(&fd).map_or(0, Vec::len)
}

async fn wait(fd: impl AsFd, interest: Direction) -> io::Result<()> {
    let fd = fd.as_fd();
    let runtime = current_runtime().ok_or_else(|| io::Error::other(NoRuntime))?;
    let readiness = FdReadiness::new(&runtime, fd, interest)?;
    let registration = Registration::new(fd.as_raw_fd());
    let mut op = OpWait::new();
    poll_fn(|cx| op.poll(cx, |cx| poll_wait(cx, &readiness, &registration, interest))).await
}

/// One poll of a wait: closed first, then the reactor.
fn poll_wait(
    cx: &mut Context<'_>,
    readiness: &FdReadiness,
    registration: &Registration,
    interest: Direction,
) -> Poll<io::Result<()>> {
    if registration.is_closed() {
        return Poll::Ready(Err(ClosedResourceError.into()));
    }
    if let Poll::Ready(res) = readiness.poll_ready(cx, interest) {
        return Poll::Ready(res);
    }
    registration.waiter.waker.register(cx.waker());
    // A `notify_closing` between the first check and the registration woke nobody.
    if registration.is_closed() {
        return Poll::Ready(Err(ClosedResourceError.into()));
    }
    Poll::Pending
}

/// Waits until `fd` is readable (AnyIO's `wait_readable`): data has arrived, the peer has
/// closed, a listening socket has a connection to accept, or an error is pending.
///
/// `fd` is any descriptor: a socket, a pipe, a terminal, also one that an anyio socket or
/// another library has registered with the reactor already (the wait registers a duplicate
/// of it). The descriptor stays as it is: the wait neither reads nor changes its blocking
/// mode. Readiness is a hint: the next read may still find nothing and should be
/// non-blocking.
///
/// The wait is a checkpoint. Only one task should wait for the same readiness of a
/// descriptor at a time, as in AnyIO; several waits do work, and each is woken.
///
/// ```
/// # anyio::run(async {
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// let (a, mut b) = UnixStream::pair()?;
/// b.write_all(b"ping")?;
/// anyio::net::wait_readable(&a).await?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// - [`ClosedResourceError`] (as an `io::Error`) if [`notify_closing`] was called for this
///   descriptor while the wait was pending.
/// - A cancellation (see [`is_cancelled`](crate::is_cancelled)) if the caller is cancelled.
/// - The OS error if the descriptor cannot be waited on (a regular file cannot be
///   registered with epoll, say), or if no runtime is running.
///
/// # Cancel safety
///
/// Cancel safe: the wait consumes nothing, and a cancelled or dropped wait leaves no
/// registration behind.
pub async fn wait_readable(fd: impl AsFd) -> io::Result<()> {
    wait(fd, Direction::Read).await
}

/// Waits until `fd` is writable (AnyIO's `wait_writable`): there is room in its send
/// buffer, a non-blocking connect has finished, or an error is pending.
///
/// Everything said for [`wait_readable`] holds here too.
///
/// ```
/// # anyio::run(async {
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// anyio::net::wait_writable(&a).await?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// As [`wait_readable`].
///
/// # Cancel safety
///
/// Cancel safe: the wait consumes nothing, and a cancelled or dropped wait leaves no
/// registration behind.
pub async fn wait_writable(fd: impl AsFd) -> io::Result<()> {
    wait(fd, Direction::Write).await
}

/// Tells every task waiting on `fd` in [`wait_readable`] or [`wait_writable`] that it is
/// about to be closed (AnyIO's and trio's `notify_closing`): those waits end with
/// [`ClosedResourceError`]. Call it before closing the descriptor, so that no wait is left
/// watching a number the OS may soon give to another file.
///
/// Waits are matched by descriptor number. Waits started after this call are not affected.
/// It does not close anything itself, and it does nothing if no task is waiting.
///
/// ```
/// # anyio::run(async {
/// use std::sync::Arc;
/// use anyio::TaskGroup;
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let a = Arc::new(a);
/// let waiting = a.clone();
/// anyio::task_group(|tg| async move {
///     tg.start_soon(async move {
///         let err = anyio::net::wait_readable(&*waiting).await.unwrap_err();
///         assert!(err.get_ref().is_some_and(|e| e.is::<anyio::ClosedResourceError>()));
///         Ok(())
///     })?;
///     anyio::wait_all_tasks_blocked().await?;
///     anyio::net::notify_closing(&*a);
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub fn notify_closing(fd: impl AsFd) {
    let waiters = registry().remove(&fd.as_fd().as_raw_fd());
    for waiter in waiters.into_iter().flatten() {
        waiter.closed.store(true, Ordering::Release);
        waiter.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::pin::pin;
    use std::time::Duration;

    use futures_lite::future::poll_once;

    use super::*;
    use crate::testing::on_every_backend;

    #[test]
    fn a_cancelled_wait_leaves_no_entry() {
        on_every_backend(async || {
            let (a, _b) = UnixStream::pair()?;
            let fd = a.as_raw_fd();
            let out = crate::move_on_after(Duration::from_millis(20), async {
                let mut waiting = pin!(wait_readable(&a));
                assert!(poll_once(waiting.as_mut()).await.is_none());
                assert_eq!(registered_waits(fd), 1);
                waiting.await
            })
            .await;
            assert!(matches!(out, Ok(None)), "{out:?}");
            assert_eq!(registered_waits(fd), 0);
            Ok(())
        });
    }

    #[test]
    fn a_dropped_wait_leaves_no_entry() {
        on_every_backend(async || {
            let (a, _b) = UnixStream::pair()?;
            let fd = a.as_raw_fd();
            {
                let mut waiting = pin!(wait_readable(&a));
                assert!(poll_once(waiting.as_mut()).await.is_none());
                assert_eq!(registered_waits(fd), 1);
            }
            assert_eq!(registered_waits(fd), 0);
            Ok(())
        });
    }

    #[test]
    fn completed_and_closed_waits_leave_no_entry() {
        on_every_backend(async || {
            let (a, mut b) = UnixStream::pair()?;
            let fd = a.as_raw_fd();
            b.write_all(b"x")?;
            wait_readable(&a).await?;
            wait_writable(&a).await?;
            assert_eq!(registered_waits(fd), 0);

            let (c, _d) = UnixStream::pair()?;
            let cfd = c.as_raw_fd();
            let mut on_c = pin!(wait_readable(&c));
            assert!(poll_once(on_c.as_mut()).await.is_none());
            assert_eq!(registered_waits(cfd), 1);
            notify_closing(&c);
            assert_eq!(registered_waits(cfd), 0);
            let err = on_c.await.unwrap_err();
            assert!(err.get_ref().is_some_and(|e| e.is::<ClosedResourceError>()));
            assert_eq!(registered_waits(cfd), 0);

            // Two waits at once, both woken by the same data.
            let (first, second) = (wait_readable(&a), wait_readable(&a));
            let (first, second) = futures_lite::future::zip(first, second).await;
            first?;
            second?;
            assert_eq!(registered_waits(fd), 0);
            Ok(())
        });
    }
}
