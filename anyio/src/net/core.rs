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

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use socket2::Socket;

use crate::backend::io::Source;
use crate::cancel::checkpoint::OpWait;
use crate::cancel::context::current_runtime;
use crate::resource::{BrokenResourceError, ClosedResourceError};
use crate::runner::NoRuntime;
use crate::sync::guard::ResourceGuard;

/// A direction of a socket: which readiness an operation waits for, which busy guard and
/// waker it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// A registered socket with AnyIO's sharing and closing rules.
#[derive(Debug)]
pub(crate) struct SocketCore {
    source: Source,
    closed: AtomicBool,
    reading: ResourceGuard,
    writing: ResourceGuard,
    read_waker: AtomicWaker,
    write_waker: AtomicWaker,
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
            read_waker: AtomicWaker::new(),
            write_waker: AtomicWaker::new(),
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
    pub(crate) async fn run<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        let _token = self.guard(dir).enter()?;
        let mut wait = OpWait::new();
        poll_fn(|cx| wait.poll(cx, |cx| self.poll_op(cx, dir, &mut op))).await
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
        if self.is_closed() {
            return Poll::Ready(Err(ClosedResourceError.into()));
        }
        let polled = match dir {
            Direction::Read => self.source.poll_read_with(cx, &mut *op),
            Direction::Write => self.source.poll_write_with(cx, &mut *op),
        };
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
