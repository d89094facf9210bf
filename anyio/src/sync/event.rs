//! [`Event`]: a flag that tasks wait for, set once.
//!
//! The rules it keeps (AnyIO's): an event starts unset; [`set`](Event::set) sets it for
//! good and wakes every waiter; waiting is a checkpoint even when the event is already set
//! (it checks for cancellation, then yields once); a waiter that was woken by `set` just
//! before its scope was cancelled returns `Ok` (the next checkpoint reports the
//! cancellation), and one whose scope was cancelled before the `set` returns
//! `Err(Cancelled)`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_queue::WaitQueue;
use super::waiter::{Queued, Step, Waiter};
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::loom::lock;
use crate::loom::sync::{AtomicBool, Mutex};

use std::sync::atomic::Ordering::{Acquire, Release};

/// A flag that tasks can wait for. Once set, it stays set.
///
/// Share an event between tasks in an [`Arc`](std::sync::Arc). It can be made outside a
/// run.
///
/// ```
/// use std::sync::Arc;
/// use anyio::{Event, TaskGroup};
///
/// # anyio::run(async {
/// let event = Arc::new(Event::new());
/// anyio::task_group(|tg| async move {
///     let setter = event.clone();
///     tg.start_soon(async move {
///         setter.set();
///         Ok(())
///     })?;
///     event.wait().await?;
///     assert!(event.is_set());
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Event {
    /// Mirrors `state.set`, so `is_set` and waits on a set event take no lock.
    set: AtomicBool,
    state: Mutex<EventState>,
}

#[derive(Debug)]
pub(crate) struct EventState {
    set: bool,
    waiters: WaitQueue<(), ()>,
}

/// A snapshot of an [`Event`]'s state, from [`Event::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStatistics {
    /// How many tasks wait for the event.
    pub tasks_waiting: usize,
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Self {
        Event {
            set: AtomicBool::new(false),
            state: Mutex::new(EventState {
                set: false,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// Sets the event and wakes every task waiting for it. Setting a set event does
    /// nothing.
    pub fn set(&self) {
        let mut state = lock(&self.state);
        if state.set {
            return;
        }
        state.set = true;
        self.set.store(true, Release);
        while state.waiters.grant_front(()).is_ok() {}
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.set.load(Acquire)
    }

    /// Waits until the event is set.
    ///
    /// A checkpoint, also when the event is already set: it returns `Err(Cancelled)` if
    /// the calling code is cancelled, and otherwise yields once before returning `Ok`.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is cancelled before the event is set (also when
    /// the event is set after the cancellation, before the waiter ran). If the event was
    /// set just before the cancellation, it returns `Ok` and the next checkpoint reports
    /// the cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is cancelled or dropped just leaves the queue.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            step: Step::Start,
            waiter: Waiter::new(),
        }
    }

    /// The event's state: how many tasks wait.
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics {
            tasks_waiting: lock(&self.state).waiters.len(),
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .field("tasks_waiting", &self.statistics().tasks_waiting)
            .finish()
    }
}

impl Queued for Event {
    type State = EventState;
    type Data = ();
    type Grant = ();

    fn state(&self) -> &Mutex<EventState> {
        &self.state
    }

    fn queue(state: &mut EventState) -> &mut WaitQueue<(), ()> {
        &mut state.waiters
    }

    fn pass_on(&self, _: &mut EventState, (): ()) {
        // Every waiter is woken by `set`; nothing to hand on.
    }
}

/// The future of [`Event::wait`].
///
/// # Cancel safety
///
/// Dropping it at any point is safe: see [`Event::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    step: Step,
    waiter: Waiter,
}

impl Future for EventWait<'_> {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let event = this.event;
        let out = match this.step {
            Step::Start => {
                if current::is_cancelled() {
                    Poll::Ready(Err(current::cancelled()))
                } else if event.is_set() {
                    this.step = Step::Yielded;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                } else {
                    let mut state = lock(&event.state);
                    if state.set {
                        drop(state);
                        this.step = Step::Yielded;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.waiter.push::<Event>(&mut state, (), cx);
                    drop(state);
                    this.step = Step::Waiting;
                    this.waiter.register(event, cx)
                }
            }
            // The second half of the checkpoint.
            Step::Yielded if current::is_cancelled() => Poll::Ready(Err(current::cancelled())),
            Step::Yielded => Poll::Ready(Ok(())),
            Step::Waiting => match this.waiter.poll(event, cx) {
                Poll::Ready(Some(res)) => Poll::Ready(res),
                // Passed over by `set` while cancelled, and not cancelled any more.
                Poll::Ready(None) => {
                    this.step = Step::Start;
                    return Pin::new(this).poll(cx);
                }
                Poll::Pending => Poll::Pending,
            },
            Step::Done => panic!("`EventWait` polled after completion"),
        };
        if out.is_ready() {
            this.step = Step::Done;
        }
        out
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if self.step == Step::Waiting {
            self.waiter.abandon(self.event);
        }
    }
}
