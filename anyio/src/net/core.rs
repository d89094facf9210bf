//! What every socket of this crate shares: a registered non-blocking socket plus AnyIO's
//! rules for using it from several tasks (rule 18).
//!
//! - Each direction admits one task at a time; a second gets `BusyResourceError`.
//! - Every operation is a checkpoint and a cancellable wait.
//! - Closing marks the socket closed, shuts it down and wakes the operations blocked on it,
//!   which end with `ClosedResourceError`; so does every operation started after. The
//!   descriptor itself is released when the socket is dropped, because blocked operations
//!   may still be looking at it.
//! - An OS error on a connection that was working is `BrokenResourceError`, with the OS error
//!   as its cause and the peer's address in its message.

use std::cell::UnsafeCell;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};

use atomic_waker::AtomicWaker;
use socket2::Socket;

pub(crate) use crate::backend::io::Direction;
use crate::backend::io::Source;
use crate::cancel::checkpoint::{CancelWait, OpWait, WakerId, poll_op_wait};
use crate::context::current_runtime;
use crate::resource::{BrokenResourceError, ClosedResourceError};
use crate::runner::NoRuntime;
use crate::sync::guard::{ResourceGuard, ResourceGuardToken};

/// The cancellation registration of one direction's operations, kept from one operation to
/// the next: a task that reads a socket again and again inside one scope registers its
/// wait once, instead of adding itself to the scope's waiter table and removing itself on
/// every read. A registration left behind only costs a spurious wake-up of its task if
/// the scope is cancelled later. Only the holder of the direction's guard uses it.
#[derive(Debug, Default)]
struct KeptWait(UnsafeCell<CancelWait>);

// SAFETY: the cell is only reached through `get`, which requires a token of the guard of
// the same direction (checked), borrowed mutably while the reference lives: the guard
// admits one token at a time, and its acquiring `enter` and releasing drop order the
// accesses of successive holders.
unsafe impl Sync for KeptWait {}

impl KeptWait {
    /// The registration, for as long as `token` (a token of `guard`, checked) is borrowed.
    #[inline]
    fn get<'a>(
        &'a self,
        token: &'a mut ResourceGuardToken<'_>,
        guard: &ResourceGuard,
    ) -> &'a mut CancelWait {
        assert!(token.is_of(guard), "a kept wait used without its guard");
        // SAFETY: see `impl Sync for KeptWait`; the token is borrowed mutably for as long
        // as the reference lives, so there is one at a time.
        unsafe { &mut *self.0.get() }
    }
}

/// The waker that [`SocketCore::close`] wakes in one direction: the task of the operation
/// pending there. A task that waits again and again in one direction registers its waker
/// once: registering the same waker again reads two atomics and changes nothing, where an
/// [`AtomicWaker`] alone takes two compare-and-swaps every time.
#[derive(Debug, Default)]
struct CloseWaker {
    waker: AtomicWaker,
    /// The identity of the waker registered last ([`WakerId`]'s two words; 0 before any),
    /// written after it, under the waker's own protocol.
    data: AtomicUsize,
    vtable: AtomicUsize,
}

impl CloseWaker {
    /// Makes `waker` the one [`wake`](Self::wake) wakes. The caller then checks whether the
    /// socket was closed meanwhile.
    ///
    /// Why the shortcut is exact: the identity read names a waker that a registration
    /// stored and a close will find (a close never clears the identity, and a socket once
    /// closed stays closed). If the close ran before that registration instead, the
    /// registration's acquiring step saw it, so the caller's check after this sees the
    /// socket closed.
    #[inline]
    fn register(&self, waker: &Waker) {
        let WakerId(data, vtable) = WakerId::of(waker);
        if self.data.load(Ordering::Acquire) == data
            && self.vtable.load(Ordering::Acquire) == vtable
        {
            return;
        }
        self.waker.register(waker);
        self.data.store(data, Ordering::Release);
        self.vtable.store(vtable, Ordering::Release);
    }

    fn wake(&self) {
        self.waker.wake();
    }
}

/// A registered socket with AnyIO's sharing and closing rules.
#[derive(Debug)]
pub(crate) struct SocketCore {
    source: Source,
    closed: AtomicBool,
    reading: ResourceGuard,
    writing: ResourceGuard,
    read_waker: CloseWaker,
    write_waker: CloseWaker,
    read_wait: KeptWait,
    write_wait: KeptWait,
    /// Who is at the other end (or, for a listener, where it listens): for error messages.
    peer: Box<str>,
}

impl SocketCore {
    /// Registers `socket` with the current runtime's reactor. `peer` names the other end (or
    /// the listening address) in error messages.
    pub(crate) fn new(socket: Socket, peer: impl Into<Box<str>>) -> io::Result<SocketCore> {
        let runtime = current_runtime().ok_or_else(|| io::Error::other(NoRuntime))?;
        Ok(SocketCore {
            source: Source::new(&runtime, socket)?,
            closed: AtomicBool::new(false),
            reading: ResourceGuard::new("reading from"),
            writing: ResourceGuard::new("writing to"),
            read_waker: CloseWaker::default(),
            write_waker: CloseWaker::default(),
            read_wait: KeptWait::default(),
            write_wait: KeptWait::default(),
            peer: peer.into(),
        })
    }

    /// The socket, for calls that do not wait.
    pub(crate) fn socket(&self) -> &Socket {
        self.source.socket()
    }

    /// The address (or path) of the other end, as error messages give it.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the socket for every user: marks it, shuts it down (the peer sees the end of
    /// the stream at once) and wakes the operations blocked on it.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // A socket that never connected (or a datagram socket) has nothing to shut down.
        let _ = self.socket().shutdown(Shutdown::Both);
        self.read_waker.wake();
        self.write_waker.wake();
    }

    /// Runs the non-blocking `op` in `dir` until it completes: a checkpoint, then a wait for
    /// readiness that cancellation and [`close`](Self::close) both end. One task at a time
    /// per direction. OS errors are returned as they are; see [`broken`](Self::broken).
    ///
    /// Cancel safe as far as `op` is: the wait itself consumes nothing.
    pub(crate) fn run<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&Socket) -> io::Result<R>,
    ) -> impl Future<Output = io::Result<R>> {
        self.run_with(dir, op, |_| false)
    }

    /// [`run`](Self::run) for an operation whose result may show that it emptied the OS
    /// buffer (`drained`: a stream read shorter than asked; see `Source::poll_with`).
    pub(crate) fn run_with<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> impl Future<Output = io::Result<R>> {
        let mut pending = self.op(dir);
        poll_fn(move |cx| pending.poll(cx, &mut op, &drained))
    }

    /// An operation in `dir`, for a future of the caller's that polls it (see [`SocketOp`]).
    pub(crate) fn op(&self, dir: Direction) -> SocketOp<'_> {
        SocketOp {
            core: self,
            dir,
            token: None,
            checked: false,
        }
    }

    /// The busy guard of a direction: one task at a time may wait in it.
    pub(crate) fn guard(&self, dir: Direction) -> &ResourceGuard {
        match dir {
            Direction::Read => &self.reading,
            Direction::Write => &self.writing,
        }
    }

    /// One poll of `op` in `dir`, with no busy guard and no checkpoint (the caller has
    /// those, or has exclusive access): closed first, then the reactor.
    pub(crate) fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: &mut impl FnMut(&Socket) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_op_with(cx, dir, op, |_| false)
    }

    /// [`poll_op`](Self::poll_op) for an operation whose result may show that it emptied
    /// the OS buffer, as in [`run_with`](Self::run_with).
    pub(crate) fn poll_op_with<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: &mut impl FnMut(&Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        if self.is_closed() {
            return Poll::Ready(Err(ClosedResourceError.into()));
        }
        let polled = self.source.poll_with(cx, dir, &mut *op, drained);
        if polled.is_ready() {
            return polled;
        }
        let waker = match dir {
            Direction::Read => &self.read_waker,
            Direction::Write => &self.write_waker,
        };
        waker.register(cx.waker());
        // A close between the first check and the registration woke nobody: look again.
        if self.is_closed() {
            return Poll::Ready(Err(ClosedResourceError.into()));
        }
        Poll::Pending
    }

    /// The error for an OS error of an operation on a working connection: closed if this
    /// side closed it meanwhile, otherwise broken, caused by the OS error, naming `what`
    /// failed and the peer. Errors that are already the crate's own (cancelled, busy,
    /// closed) pass through.
    pub(crate) fn broken(&self, what: &str, err: io::Error) -> io::Error {
        if err.raw_os_error().is_none() {
            return err;
        }
        if self.is_closed() {
            return ClosedResourceError.into();
        }
        BrokenResourceError::caused_by(format!("{what} {}", self.peer), err).into()
    }
}

/// One operation of [`SocketCore::run`], as a value that the caller's own future polls, so
/// that a socket call is one state machine rather than three nested ones. It enters the
/// direction's busy guard at its first poll and leaves it once the operation is ready (or
/// when dropped), and waits with the direction's kept cancellation registration.
#[derive(Debug)]
pub(crate) struct SocketOp<'a> {
    core: &'a SocketCore,
    dir: Direction,
    token: Option<ResourceGuardToken<'a>>,
    /// Whether this operation passed its checkpoint (see `poll_op_wait`).
    checked: bool,
}

impl SocketOp<'_> {
    /// Whether the first poll has happened and the operation is not finished: the guard is
    /// held.
    pub(crate) fn is_started(&self) -> bool {
        self.token.is_some()
    }

    /// One poll of the non-blocking `op`, as [`SocketCore::run_with`] polls it: a
    /// checkpoint first, then the operation, then a wait that cancellation and closing end.
    /// `BusyResourceError` if another task is in this direction.
    #[inline]
    pub(crate) fn poll<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(&Socket) -> io::Result<R>,
        drained: &impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let core = self.core;
        let dir = self.dir;
        let guard = core.guard(dir);
        let token = match &mut self.token {
            Some(token) => token,
            None => match guard.enter() {
                Ok(token) => self.token.insert(token),
                Err(busy) => return Poll::Ready(Err(busy.into())),
            },
        };
        let kept = match dir {
            Direction::Read => &core.read_wait,
            Direction::Write => &core.write_wait,
        };
        let res = ready!(poll_op_wait(
            kept.get(token, guard),
            &mut self.checked,
            cx,
            |cx| core.poll_op_with(cx, dir, op, drained),
        ));
        self.token = None;
        Poll::Ready(res)
    }
}

/// A read that a poll-based stream (`incoming()` of a listener or a datagram socket) has in
/// progress: it holds the read guard from its first poll until its result, so another
/// receive meanwhile is busy, and its cancel wait, so each item is a checkpoint.
#[derive(Debug)]
pub(crate) struct PendingRead<'a> {
    core: &'a SocketCore,
    token: Option<ResourceGuardToken<'a>>,
    wait: OpWait,
}

impl<'a> PendingRead<'a> {
    pub(crate) fn new(core: &'a SocketCore) -> Self {
        PendingRead {
            core,
            token: None,
            wait: OpWait::new(),
        }
    }

    /// The socket being read.
    pub(crate) fn core(&self) -> &'a SocketCore {
        self.core
    }

    /// One poll of the read `op`; the guard is released once it is ready.
    pub(crate) fn poll<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let core = self.core;
        if self.token.is_none() {
            match core.guard(Direction::Read).enter() {
                Ok(token) => self.token = Some(token),
                Err(busy) => return Poll::Ready(Err(busy.into())),
            }
        }
        let res = ready!(
            self.wait
                .poll(cx, |cx| core.poll_op(cx, Direction::Read, &mut op))
        );
        self.token = None;
        Poll::Ready(res)
    }
}

/// Implements what every socket that is not a byte stream implements (listeners, datagram
/// sockets), for a type with a `core: SocketCore` field: closing
/// ([`AsyncResource`](crate::stream::AsyncResource)), the socket attributes and the
/// descriptor traits.
macro_rules! core_socket_traits {
    ($ty:ty) => {
        impl $crate::stream::AsyncResource for $ty {
            fn aclose(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
                self.core.close();
                std::future::ready(Ok(()))
            }
        }

        impl $crate::net::SocketAttributes for $ty {
            fn raw_socket(&self) -> socket2::SockRef<'_> {
                socket2::SockRef::from(self.core.socket())
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.core.socket())
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.core.socket())
            }
        }
    };
}

pub(crate) use core_socket_traits;
