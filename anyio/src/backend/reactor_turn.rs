//! Waiting for one turn of the runtime's reactor: for the virtual clock's driver, which
//! must not jump while I/O that has already completed waits to be reported.
//!
//! A turn is a datagram sent to ourselves over a UNIX socket pair: the receiving end
//! becomes readable at once, but the runtime only learns it when its reactor next polls the
//! OS (epoll, kqueue). So when the wait ends, the reactor has polled since the datagram was
//! sent, and the OS hands out readiness in the order it arose: every socket that became
//! ready before the datagram (a peer's bytes over loopback, say) was reported, and its task
//! woken, no later than this wait ends. The receiving end is drained before each datagram,
//! so a turn never ends on the readiness of an earlier one.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::task::{Context, Poll};

use super::Runtime;

/// A way to wait for the next turn of a run's reactor.
#[derive(Debug)]
pub(crate) struct ReactorTurn {
    tx: UnixDatagram,
    rx: Receiver,
    /// Whether a datagram is on its way (the current turn has begun).
    sent: bool,
}

#[derive(Debug)]
enum Receiver {
    #[cfg(feature = "tokio")]
    Tokio(::tokio::io::unix::AsyncFd<UnixDatagram>),
    #[cfg(feature = "smol")]
    Smol(async_io::Async<UnixDatagram>),
}

impl ReactorTurn {
    /// A turn waiter on `runtime`'s reactor.
    pub(crate) fn new(runtime: &Runtime) -> io::Result<ReactorTurn> {
        let (tx, rx) = UnixDatagram::pair()?;
        tx.set_nonblocking(true)?;
        let rx = match runtime {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(h) => {
                rx.set_nonblocking(true)?;
                let _entered = h.enter();
                // SAFETY: the `UnixDatagram` owns its descriptor, which stays open and the
                // same until the `AsyncFd` is dropped: nothing here replaces or closes it.
                let fd = unsafe {
                    ::tokio::io::unix::AsyncFd::register_with_interest(
                        rx,
                        ::tokio::io::Interest::READABLE,
                    )
                };
                Receiver::Tokio(fd.map_err(io::Error::from)?)
            }
            #[cfg(feature = "smol")]
            Runtime::Smol(_) => Receiver::Smol(async_io::Async::new(rx)?),
        };
        Ok(ReactorTurn {
            tx,
            rx,
            sent: false,
        })
    }

    fn drain(&self) {
        let socket = match &self.rx {
            #[cfg(feature = "tokio")]
            Receiver::Tokio(fd) => fd.get_ref(),
            #[cfg(feature = "smol")]
            Receiver::Smol(a) => a.get_ref(),
        };
        let mut byte = [0u8; 1];
        while socket.recv(&mut byte).is_ok() {}
    }

    /// Ready once the reactor has polled the OS after the first call of this turn. An error
    /// of the socket ends the turn at once: the caller then has only its timer to go by.
    pub(crate) fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.sent {
            self.drain();
            if self.tx.send(&[0]).is_err() {
                return Poll::Ready(());
            }
            self.sent = true;
        }
        let ready = match &self.rx {
            #[cfg(feature = "tokio")]
            Receiver::Tokio(fd) => fd.poll_read_ready(cx).map(|r| {
                if let Ok(mut guard) = r {
                    guard.clear_ready();
                }
            }),
            // Never ready before the reactor has delivered an event for it: see
            // `async_io::Async::poll_readable`.
            #[cfg(feature = "smol")]
            Receiver::Smol(a) => a.poll_readable(cx).map(drop),
        };
        if ready.is_ready() {
            self.sent = false;
        }
        ready
    }
}
