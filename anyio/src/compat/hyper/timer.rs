//! `hyper::rt::Timer` on anyio's clock: hyper's timeouts (the header-read timeout, HTTP/2
//! keep-alive, the pool's idle timeout) on the backend's timers, on every backend.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{Sleep, Timer};
use pin_project_lite::pin_project;

use crate::backend::Timer as BackendTimer;
use crate::context;

/// hyper's timer on anyio's clock ([`current_time`](crate::current_time)): give it to
/// hyper's builders with `.timer(AnyioTimer)`.
///
/// Without a timer hyper has no timeouts at all: a server's `header_read_timeout` is
/// silently ignored. hyper-util's `TokioTimer` needs a tokio runtime and panics on smol;
/// this one runs on every backend.
///
/// Its sleeps are plain timers, not checkpoints: hyper, not the calling task's cancel
/// scope, decides what a timeout means. They need an anyio run (or a tokio runtime) when
/// first polled, as [`sleep`](crate::sleep) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnyioTimer;

impl Timer for AnyioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(HyperSleep::new(context::now().checked_add(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HyperSleep::new(Some(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    fn now(&self) -> Instant {
        context::now()
    }
}

pin_project! {
    /// One of [`AnyioTimer`]'s sleeps: a deadline (none when it is beyond the clock's
    /// range, so never) and the backend's timer, made when first polled.
    #[derive(Debug)]
    struct HyperSleep {
        deadline: Option<Instant>,
        #[pin]
        timer: Option<BackendTimer>,
    }
}

impl HyperSleep {
    fn new(deadline: Option<Instant>) -> HyperSleep {
        HyperSleep {
            deadline,
            timer: None,
        }
    }

    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        *this.deadline = Some(deadline);
        if let Some(timer) = this.timer.as_pin_mut() {
            timer.reset(deadline);
        }
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            let timer = context::with_runtime(|rt| rt.timer(deadline)).expect(
                "no async runtime: poll hyper's timers inside anyio::run or a tokio runtime, \
                 or enable the smol feature",
            );
            this.timer.set(Some(timer));
        }
        match this.timer.as_pin_mut() {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Sleep for HyperSleep {}
