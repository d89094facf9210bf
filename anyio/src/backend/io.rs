//! Readiness-based socket I/O: a socket registered with the backend's reactor (tokio's I/O
//! driver through `AsyncFd`, async-io's reactor through `Async`).
//!
//! Every socket kind of `net/` (TCP, UDP, UNIX stream and datagram) is a [`socket2::Socket`]
//! inside one [`Source`], and every operation on it is a non-blocking syscall retried when
//! the reactor reports readiness. So one code path serves every kind on every backend, and
//! the backend contributes only what is really its own: the readiness of a file descriptor.
//! The pipes to child processes are registered the same way ([`FdSource`]), with `read`
//! and `write` in place of the socket calls.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(feature = "smol")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use socket2::Socket;

use super::Runtime;

/// A non-blocking socket registered with the reactor of the runtime it was created on.
#[derive(Debug)]
pub(crate) enum Source {
    #[cfg(feature = "tokio")]
    Tokio(::tokio::io::unix::AsyncFd<Socket>),
    /// With, per [`Direction`], whether the last operation emptied the OS buffer (see
    /// [`Source::poll_with`]).
    #[cfg(feature = "smol")]
    Smol {
        io: async_io::Async<Socket>,
        drained: [AtomicBool; 2],
    },
}

/// Whether a syscall's error means "not ready yet, wait for the reactor".
#[cfg(feature = "smol")]
fn is_would_block<R>(res: &io::Result<R>) -> bool {
    matches!(res, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Source {
    /// Makes `socket` non-blocking and registers it with `runtime`'s reactor.
    pub(crate) fn new(runtime: &Runtime, socket: Socket) -> io::Result<Source> {
        socket.set_nonblocking(true)?;
        match runtime {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => {
                surface_datagram_errors(&socket);
                let _entered = h.enter();
                // SAFETY: the `Socket` owns its descriptor, which stays open and the same until
                // the `AsyncFd` is dropped or unwrapped: nothing here replaces or closes it.
                let fd = unsafe {
                    ::tokio::io::unix::AsyncFd::register_with_interest(socket, tokio_interest())
                };
                fd.map(Source::Tokio).map_err(io::Error::from)
            }
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => async_io::Async::new_nonblocking(socket).map(|io| Source::Smol {
                io,
                drained: Default::default(),
            }),
        }
    }

    /// The socket, for syscalls that do not wait (addresses, options).
    pub(crate) fn socket(&self) -> &Socket {
        match self {
            #[cfg(feature = "tokio")]
            Source::Tokio(fd) => fd.get_ref(),
            #[cfg(feature = "smol")]
            Source::Smol { io, .. } => io.get_ref(),
        }
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`, waiting for
    /// readiness in direction `dir` in between; `Pending` registers `cx` with the reactor.
    ///
    /// `drained` says of a result that it emptied the OS buffer (a stream read that got
    /// fewer bytes than it asked for): the socket is then taken as not ready, so the next
    /// operation waits for the reactor's next event instead of first trying a syscall that
    /// would fail with `WouldBlock`; this saves a syscall per read on a request/response
    /// connection. (tokio's own streams do the same.)
    pub(crate) fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        match self {
            #[cfg(feature = "tokio")]
            Source::Tokio(fd) => loop {
                let mut guard = ready!(match dir {
                    Direction::Read => fd.poll_read_ready(cx),
                    Direction::Write => fd.poll_write_ready(cx),
                })?;
                if let Ok(res) = guard.try_io(|s| op(s.get_ref())) {
                    if res.as_ref().is_ok_and(&drained) {
                        guard.clear_ready();
                    }
                    return Poll::Ready(res);
                }
            },
            #[cfg(feature = "smol")]
            Source::Smol { io, drained: empty } => loop {
                // async-io's readiness is only known after a failed attempt: a socket whose
                // last operation emptied it (or would have blocked) starts with the wait,
                // so a task woken for another reason does not retry a syscall that fails.
                let empty = &empty[dir as usize];
                if !empty.load(Ordering::Relaxed) {
                    let res = op(io.get_ref());
                    if !is_would_block(&res) {
                        if res.as_ref().is_ok_and(&drained) {
                            empty.store(true, Ordering::Relaxed);
                        }
                        return Poll::Ready(res);
                    }
                    empty.store(true, Ordering::Relaxed);
                }
                if let Err(e) = ready!(match dir {
                    Direction::Read => io.poll_readable(cx),
                    Direction::Write => io.poll_writable(cx),
                }) {
                    return Poll::Ready(Err(e));
                }
                empty.store(false, Ordering::Relaxed);
            },
        }
    }
}

/// What a socket registers for with tokio: reading and writing, plus priority events where
/// the OS has them, which is how [`surface_datagram_errors`] wakes a reader.
#[cfg(feature = "tokio")]
fn tokio_interest() -> ::tokio::io::Interest {
    use ::tokio::io::Interest;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return Interest::READABLE | Interest::WRITABLE;
}

/// An ICMP error on a datagram socket (port unreachable, say) raises only `EPOLLERR`, which
/// tokio does not pass to a waiting reader, so a receive on a connected UDP socket would
/// never see its `ECONNREFUSED`. `SO_SELECT_ERR_QUEUE` makes the kernel add `EPOLLPRI`,
/// which tokio reports as readable. Stream sockets do not need it. async-io wakes readers on
/// `EPOLLERR` itself.
#[cfg(feature = "tokio")]
fn surface_datagram_errors(socket: &Socket) {
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    if socket.r#type().is_ok_and(|t| t == socket2::Type::DGRAM) {
        use std::os::fd::AsRawFd;
        /// `SO_SELECT_ERR_QUEUE` of asm-generic (the architectures above); libc does not
        /// export it for them.
        const SO_SELECT_ERR_QUEUE: libc::c_int = 45;
        let on: libc::c_int = 1;
        // SAFETY: a valid descriptor, and a pointer to an int with its size, as the option
        // expects. Failing only means the error reaches the reader later (at its next
        // send or receive), so the result is not needed.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_SELECT_ERR_QUEUE,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    let _ = socket;
}

/// A direction of I/O: which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// A wait for the readiness of a descriptor this crate does not own: a duplicate of it is
/// registered for the wait and closed after it. A duplicate shares the open file description,
/// so it sees the same readiness, and registering it never clashes with another
/// registration of the original (epoll refuses to register one descriptor twice).
#[derive(Debug)]
pub(crate) struct FdReadiness(FdSource);

impl FdReadiness {
    /// Registers a duplicate of `fd` with `runtime`'s reactor, for `interest`. Its blocking
    /// mode is left alone: this wait never reads or writes.
    pub(crate) fn new(runtime: &Runtime, fd: impl AsFd, interest: Direction) -> io::Result<Self> {
        let owned = fd.as_fd().try_clone_to_owned()?;
        FdSource::register(runtime, owned, interest).map(FdReadiness)
    }

    /// Ready once the descriptor is ready for `interest`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        interest: Direction,
    ) -> Poll<io::Result<()>> {
        self.0.poll_ready(cx, interest)
    }
}

/// A non-blocking descriptor that is not a socket (a pipe end), owned and registered with
/// the reactor of the runtime it was created on. As for [`Source`], every operation is a
/// non-blocking syscall of the caller's, retried when the reactor reports readiness.
#[derive(Debug)]
pub(crate) enum FdSource {
    #[cfg(feature = "tokio")]
    Tokio(::tokio::io::unix::AsyncFd<OwnedFd>),
    #[cfg(feature = "smol")]
    Smol(async_io::Async<OwnedFd>),
}

impl FdSource {
    /// Makes `fd` non-blocking and registers it with `runtime`'s reactor for `interest`.
    pub(crate) fn new(runtime: &Runtime, fd: OwnedFd, interest: Direction) -> io::Result<Self> {
        set_nonblocking(&fd)?;
        Self::register(runtime, fd, interest)
    }

    /// Registers `fd` with `runtime`'s reactor for `interest`, as it is.
    fn register(runtime: &Runtime, fd: OwnedFd, interest: Direction) -> io::Result<Self> {
        match runtime {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => {
                use ::tokio::io::Interest as I;
                let _entered = h.enter();
                let i = match interest {
                    Direction::Read => I::READABLE,
                    Direction::Write => I::WRITABLE,
                };
                // SAFETY: the `OwnedFd` stays open and the same until the `AsyncFd` is
                // dropped: nothing here replaces or closes it.
                let fd = unsafe { ::tokio::io::unix::AsyncFd::register_with_interest(fd, i) };
                fd.map(FdSource::Tokio).map_err(io::Error::from)
            }
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => {
                let _ = interest;
                async_io::Async::new_nonblocking(fd).map(FdSource::Smol)
            }
        }
    }

    /// Ready once the descriptor is ready for `interest`.
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Direction) -> Poll<io::Result<()>> {
        match self {
            #[cfg(feature = "tokio")]
            FdSource::Tokio(fd) => match interest {
                Direction::Read => fd.poll_read_ready(cx).map_ok(drop),
                Direction::Write => fd.poll_write_ready(cx).map_ok(drop),
            },
            #[cfg(feature = "smol")]
            FdSource::Smol(a) => match interest {
                Direction::Read => a.poll_readable(cx),
                Direction::Write => a.poll_writable(cx),
            },
        }
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`, waiting for
    /// readiness in direction `dir` in between; `Pending` registers `cx` with the reactor.
    pub(crate) fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match self {
            #[cfg(feature = "tokio")]
            FdSource::Tokio(fd) => loop {
                let mut guard = ready!(match dir {
                    Direction::Read => fd.poll_read_ready(cx),
                    Direction::Write => fd.poll_write_ready(cx),
                })?;
                if let Ok(res) = guard.try_io(|s| op(s.get_ref().as_fd())) {
                    return Poll::Ready(res);
                }
            },
            #[cfg(feature = "smol")]
            FdSource::Smol(a) => loop {
                let res = op(a.get_ref().as_fd());
                if !is_would_block(&res) {
                    return Poll::Ready(res);
                }
                ready!(match dir {
                    Direction::Read => a.poll_readable(cx),
                    Direction::Write => a.poll_writable(cx),
                })?;
            },
        }
    }
}

/// Sets `O_NONBLOCK` on `fd`'s open file description.
fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `fcntl` with `F_GETFL`/`F_SETFL` on a descriptor that `fd` keeps open reads
    // and sets its status flags, and touches no memory of ours.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags == -1 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK == 0
            && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) == -1
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
