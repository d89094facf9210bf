//! The pipes to a child's standard streams, as the crate's byte streams.
//!
//! Our end of each pipe is made non-blocking and registered with the backend's reactor
//! (`FdSource`); every read and write is a non-blocking syscall retried on readiness, as
//! for sockets. A pipe keeps AnyIO's stream rules (rule 18):
//!
//! - One task at a time reads (or writes) it; a second gets `BusyResourceError`.
//! - Every operation is a checkpoint and a cancellable wait.
//! - Closing marks the pipe closed, **closes the descriptor at once** and wakes the
//!   operation blocked on it, which ends with `ClosedResourceError`, as does every
//!   operation started after. Closing the descriptor (not only marking it) is what tells
//!   the child: our closed write end is the end of its stdin, our closed read end makes its
//!   next write fail with `EPIPE` (or `SIGPIPE`), so a child blocked writing to a full pipe
//!   nobody reads is released (AnyIO issue 1166). An operation holds the descriptor (a read
//!   lock) only while it makes non-blocking syscalls, never while it waits, so closing
//!   never waits for a blocked operation.
//! - An OS error on the pipe (`EPIPE` when the child closed its stdin) is
//!   `BrokenResourceError` with the OS error as its cause.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

use crate::backend::Runtime;
use crate::backend::io::{Direction, FdSource};
use crate::cancel::checkpoint::OpWait;
use crate::resource::{BrokenResourceError, ClosedResourceError, EndOfStream};
use crate::stream::{RECEIVE_CHUNK, zero_max_bytes};
use crate::sync::guard::ResourceGuard;

/// Our end of one pipe to a child, shared by its stream and by the [`Process`] that
/// closes it.
///
/// [`Process`]: super::Process
#[derive(Debug)]
pub(crate) struct Pipe {
    /// `None` once closed: the descriptor is gone.
    source: RwLock<Option<FdSource>>,
    closed: AtomicBool,
    dir: Direction,
    guard: ResourceGuard,
    waker: AtomicWaker,
    /// Which stream of which child, for error messages: `stdout of process 1234`.
    name: Box<str>,
}

impl Pipe {
    /// Registers our end `fd` of the pipe for `dir` with `runtime`'s reactor.
    pub(crate) fn new(
        runtime: &Runtime,
        fd: OwnedFd,
        dir: Direction,
        name: String,
    ) -> io::Result<Arc<Pipe>> {
        Ok(Arc::new(Pipe {
            source: RwLock::new(Some(FdSource::new(runtime, fd, dir)?)),
            closed: AtomicBool::new(false),
            dir,
            guard: ResourceGuard::new(match dir {
                Direction::Read => "reading from",
                Direction::Write => "writing to",
            }),
            waker: AtomicWaker::new(),
            name: name.into(),
        }))
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the pipe for every user and closes our descriptor, which the child sees at
    /// once; wakes the operation blocked on it.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Nothing that can panic runs while the lock is held, so a poisoned lock is
        // consistent.
        let source = self
            .source
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(source);
        self.waker.wake();
    }

    /// One poll of the non-blocking `op`, with no busy guard and no checkpoint (the caller
    /// has those): closed first, then the reactor.
    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        {
            let source = self
                .source
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(source) = source.as_ref() else {
                return Poll::Ready(Err(ClosedResourceError.into()));
            };
            let polled = source.poll_with(cx, self.dir, &mut *op);
            if polled.is_ready() {
                return polled;
            }
        }
        self.waker.register(cx.waker());
        // A close between the poll and the registration woke nobody: look again.
        if self.is_closed() {
            return Poll::Ready(Err(ClosedResourceError.into()));
        }
        Poll::Pending
    }

    /// Runs `op` to completion as one operation: busy guard, checkpoint, cancellable wait.
    async fn run<R>(&self, mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>) -> io::Result<R> {
        let _token = self.guard.enter()?;
        let mut wait = OpWait::new();
        poll_fn(|cx| wait.poll(cx, |cx| self.poll_op(cx, &mut op)))
            .await
            .map_err(|e| self.broken(e))
    }

    /// One poll of `op` for the poll-based I/O traits, whose `&mut self` makes the caller
    /// the only user, with the caller's wait.
    fn poll_io<R>(
        &self,
        wait: &mut OpWait,
        cx: &mut Context<'_>,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        wait.poll(cx, |cx| self.poll_op(cx, &mut op))
            .map_err(|e| self.broken(e))
    }

    /// The error for an OS error: closed if this side closed the pipe meanwhile, otherwise
    /// broken, caused by the OS error. The crate's own errors pass through.
    fn broken(&self, err: io::Error) -> io::Error {
        if err.raw_os_error().is_none() {
            return err;
        }
        if self.is_closed() {
            return ClosedResourceError.into();
        }
        let what = match self.dir {
            Direction::Read => "reading from",
            Direction::Write => "writing to",
        };
        BrokenResourceError::caused_by(format!("{what} the {}", self.name), err).into()
    }

    /// The end of the stream when a read got 0 bytes: our own close, else the child's.
    fn end(&self) -> io::Error {
        if self.is_closed() {
            ClosedResourceError.into()
        } else {
            EndOfStream.into()
        }
    }

    async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        if max_bytes == 0 {
            return Err(zero_max_bytes());
        }
        let buf = self.run(|fd| read_up_to(fd, max_bytes)).await?;
        if buf.is_empty() {
            return Err(self.end());
        }
        Ok(buf)
    }

    async fn receive_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Err(zero_max_bytes());
        }
        let n = self.run(|fd| read(fd, buf)).await?;
        if n == 0 {
            return Err(self.end());
        }
        Ok(n)
    }

    /// Reads the pipe to its end, appending to `out`: one operation, so what it read
    /// stays in `out` when it is cancelled.
    pub(crate) async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<()> {
        self.run(|fd| {
            loop {
                out.reserve(READ_TO_END_CHUNK);
                let room = out.capacity() - out.len();
                if read_spare(fd, out, room)? == 0 {
                    return Ok(());
                }
            }
        })
        .await
    }

    async fn send(&self, data: &[u8]) -> io::Result<()> {
        let mut sent = 0;
        self.run(|fd| {
            while sent < data.len() {
                sent += write(fd, &data[sent..])?;
            }
            Ok(())
        })
        .await
    }
}

/// The least room a read to the end offers the OS: a whole default pipe buffer.
const READ_TO_END_CHUNK: usize = 64 * 1024;

/// `read(2)` into `buf`.
fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length, and `fd` is open while borrowed.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `read(2)` into the spare capacity of `buf`, then grows its length by what was read.
fn read_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, room: usize) -> io::Result<usize> {
    let spare = &mut buf.spare_capacity_mut()[..room];
    // SAFETY: `spare` is valid for writes of its length, and `fd` is open while borrowed.
    let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: `read` initialised the first `n <= room` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// `write(2)` of `data`. The process ignores `SIGPIPE` (Rust's runtime does so before
/// `main`), so a pipe without a reader is an `EPIPE` error.
fn write(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is valid for reads of its length, and `fd` is open while borrowed.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Reads what the pipe has, at most `max_bytes` (not 0); empty at the end of the stream;
/// `WouldBlock` when nothing has arrived.
///
/// As for sockets, `max_bytes` is never an allocation: the buffer is [`RECEIVE_CHUNK`]
/// bytes at most at first, and doubles while reads fill it and `max_bytes` allows.
fn read_up_to(fd: BorrowedFd<'_>, max_bytes: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max_bytes.min(RECEIVE_CHUNK));
    let room = buf.capacity();
    read_spare(fd, &mut buf, room)?;
    while buf.len() == buf.capacity() && buf.len() < max_bytes {
        let room = buf.len().min(max_bytes - buf.len());
        buf.reserve_exact(room);
        // An error here (nothing more, or the end) is left to the next receive: these
        // bytes arrived first.
        match read_spare(fd, &mut buf, room) {
            Ok(more) if more == room => {}
            _ => break,
        }
    }
    if buf.len() < buf.capacity() / 4 {
        buf.shrink_to_fit();
    }
    Ok(buf)
}

/// Declares a receiving pipe stream type (the child's stdout or stderr).
macro_rules! receive_pipe {
    ($(#[$doc:meta])* $ty:ident, $stream:literal) => {
        $(#[$doc])*
        ///
        /// It implements [`ByteReceiveStream`](crate::stream::ByteReceiveStream), so
        /// [`BufferedByteReceiveStream`](crate::stream::BufferedByteReceiveStream) and
        /// [`TextReceiveStream`](crate::stream::TextReceiveStream) wrap it, and the
        /// `futures_io::AsyncRead` trait (tokio's `AsyncRead` too, with the `tokio-io`
        /// feature). Closing it closes our end of the pipe: the child's next write to it
        /// fails with `EPIPE` (most programs then die of `SIGPIPE`).
        #[derive(Debug)]
        pub struct $ty {
            pipe: Arc<Pipe>,
            /// The wait of the poll-based I/O traits, which have `&mut self`.
            read_wait: OpWait,
        }

        impl $ty {
            pub(crate) fn new(pipe: Arc<Pipe>) -> Self {
                $ty { pipe, read_wait: OpWait::new() }
            }

            pub(crate) fn pipe(&self) -> &Pipe {
                &self.pipe
            }

            #[doc = concat!("Receives at most `max_bytes` bytes of the child's ", $stream, ": whatever")]
            /// it has written, waiting only if nothing is there. See
            /// [`ByteReceiveStream::receive`](crate::stream::ByteReceiveStream::receive).
            ///
            /// # Errors
            ///
            /// [`EndOfStream`](crate::EndOfStream) once the child (and every process that
            /// inherited the pipe) closed it and everything was received;
            /// [`ClosedResourceError`] after this side closed it; `BusyResourceError`,
            /// `InvalidInput` for `max_bytes == 0`, or a cancellation.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: a receive that returns an error or is dropped consumed nothing.
            pub async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
                self.pipe.receive(max_bytes).await
            }

            /// Receives into `buf` and returns how many bytes arrived (at least 1): a
            /// receive without an allocation.
            ///
            /// # Errors
            ///
            /// As [`receive`](Self::receive); an empty `buf` is the `max_bytes == 0` case.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe, as [`receive`](Self::receive).
            pub async fn receive_into(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.pipe.receive_into(buf).await
            }

            /// Closes our end of the pipe (see the type's docs).
            ///
            /// # Errors
            ///
            /// None: closing twice is not an error either.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it completes at once.
            pub async fn aclose(&self) -> io::Result<()> {
                self.pipe.close();
                Ok(())
            }

            /// One poll of a read for the I/O traits.
            pub(crate) fn poll_read_io(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_io(&mut self.read_wait, cx, |fd| read(fd, buf))
            }
        }

        impl crate::stream::AsyncResource for $ty {
            fn aclose(&self) -> impl std::future::Future<Output = io::Result<()>> + Send {
                self.pipe.close();
                std::future::ready(Ok(()))
            }
        }

        impl crate::stream::ByteReceiveStream for $ty {
            fn receive(
                &self,
                max_bytes: usize,
            ) -> impl std::future::Future<Output = io::Result<Vec<u8>>> + Send {
                self.pipe.receive(max_bytes)
            }
        }

        /// Reads what the child has written; `Ok(0)` at the end of the stream. Each read
        /// is a checkpoint of the calling anyio task.
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_read_io(cx, buf)
            }
        }
    };
}

receive_pipe!(
    /// The child's standard output, as a byte stream: our read end of its stdout pipe.
    ChildStdout,
    "stdout"
);

receive_pipe!(
    /// The child's standard error, as a byte stream: our read end of its stderr pipe.
    ChildStderr,
    "stderr"
);

/// The child's standard input, as a byte stream: our write end of its stdin pipe.
///
/// It implements [`ByteSendStream`](crate::stream::ByteSendStream) and the
/// `futures_io::AsyncWrite` trait (tokio's `AsyncWrite` too, with the `tokio-io`
/// feature). Closing it closes our end of the pipe, which the child reads as the end of
/// its input.
#[derive(Debug)]
pub struct ChildStdin {
    pipe: Arc<Pipe>,
    /// The wait of the poll-based I/O traits, which have `&mut self`.
    write_wait: OpWait,
}

impl ChildStdin {
    pub(crate) fn new(pipe: Arc<Pipe>) -> Self {
        ChildStdin {
            pipe,
            write_wait: OpWait::new(),
        }
    }

    /// Sends all of `data` to the child, waiting while the pipe is full.
    ///
    /// # Errors
    ///
    /// [`BrokenResourceError`] (kind `BrokenPipe`) when the child closed its stdin (it
    /// exited, say); [`ClosedResourceError`] after this side closed it;
    /// `BusyResourceError`, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a send cancelled while the pipe is full may have sent a prefix.
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        self.pipe.send(data).await
    }

    /// Closes our end of the pipe: the child reads the end of its input.
    ///
    /// # Errors
    ///
    /// None: closing twice is not an error either.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.pipe.close();
        Ok(())
    }

    /// One poll of a write for the I/O traits.
    pub(crate) fn poll_write_io(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe
            .poll_io(&mut self.write_wait, cx, |fd| write(fd, data))
    }

    /// Closes the pipe, for the I/O traits' close and shutdown.
    pub(crate) fn close_io(&self) {
        self.pipe.close();
    }
}

impl crate::stream::AsyncResource for ChildStdin {
    fn aclose(&self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        self.pipe.close();
        std::future::ready(Ok(()))
    }
}

impl crate::stream::ByteSendStream for ChildStdin {
    fn send(&self, data: &[u8]) -> impl std::future::Future<Output = io::Result<()>> + Send {
        self.pipe.send(data)
    }
}

/// Writes what the pipe takes now; closing closes the pipe (the child's end of input).
/// Each write is a checkpoint of the calling anyio task.
impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_io(cx, data)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_io();
        Poll::Ready(Ok(()))
    }
}
