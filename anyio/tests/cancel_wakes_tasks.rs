//! A cancellation wakes every task that waits in a scope it reaches. A wait polled with its
//! task's own waker registers nothing with its scope: the scope wakes the task, as trio's
//! cancel scopes reschedule theirs. Each case runs every kind of wait, on every flavour,
//! and each wait must end with the cancellation, however the cancellation reaches it: a
//! cancel of an outer scope from another task or from a thread, a shield cleared, a
//! deadline moved, a group cancelled above a child's own scope, a cancel made later in the
//! same poll, and a wait polled with a waker other than its task's.

use std::fmt::Debug;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use anyio::net::{UdpSocket, create_udp_socket};
use anyio::{
    BoxError, CancelScope, CapacityLimiter, CapacityLimiterToken, Condition, Event, Lock,
    LockGuard, MemoryObjectReceiveStream, MemoryObjectSendStream, Promise, Semaphore, TaskGroup,
    create_memory_object_stream,
};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

const LONG: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Wait {
    Event,
    Lock,
    Semaphore,
    Limiter,
    Promise,
    Receive,
    Send,
    Sleep,
    SleepForever,
    Condition,
    Udp,
}

const WAITS: [Wait; 11] = [
    Wait::Event,
    Wait::Lock,
    Wait::Semaphore,
    Wait::Limiter,
    Wait::Promise,
    Wait::Receive,
    Wait::Send,
    Wait::Sleep,
    Wait::SleepForever,
    Wait::Condition,
    Wait::Udp,
];

/// One of everything a task can block on, each set up so that a wait blocks until it is
/// cancelled.
struct Blockers {
    event: Event,
    lock: Lock<()>,
    semaphore: Semaphore,
    limiter: CapacityLimiter,
    promise: Promise<()>,
    rx: MemoryObjectReceiveStream<u8>,
    _tx: MemoryObjectSendStream<u8>,
    full: MemoryObjectSendStream<u8>,
    _full_rx: MemoryObjectReceiveStream<u8>,
    condition: Condition<()>,
    udp: UdpSocket,
}

/// What keeps the lock and the limiter's only token taken while the waits run.
struct Held<'a> {
    _lock: LockGuard<'a, ()>,
    _token: CapacityLimiterToken<'a>,
}

impl Blockers {
    async fn new() -> Result<Blockers, BoxError> {
        let (_tx, rx) = create_memory_object_stream(1)?;
        let (full, _full_rx) = create_memory_object_stream(0)?;
        Ok(Blockers {
            event: Event::new(),
            lock: Lock::new(()),
            semaphore: Semaphore::new(0)?,
            limiter: CapacityLimiter::new(1)?,
            promise: Promise::new(),
            rx,
            _tx,
            full,
            _full_rx,
            condition: Condition::new(()),
            udp: create_udp_socket(None, Some("127.0.0.1"), 0).await?,
        })
    }

    async fn hold(&self) -> Result<Held<'_>, BoxError> {
        Ok(Held {
            _lock: self.lock.try_acquire()?,
            _token: self.limiter.acquire_on_behalf_of("holder").await?,
        })
    }

    /// Waits on `wait`; `Ok` only if the wait completed, which none of them can.
    async fn block(&self, wait: Wait) -> Result<(), BoxError> {
        match wait {
            Wait::Event => self.event.wait().await?,
            Wait::Lock => drop(self.lock.acquire().await?),
            Wait::Semaphore => drop(self.semaphore.acquire().await?),
            Wait::Limiter => drop(self.limiter.acquire_on_behalf_of("waiter").await?),
            Wait::Promise => drop(self.promise.wait().await?),
            Wait::Receive => drop(self.rx.receive().await?),
            Wait::Send => self.full.send(1).await?,
            Wait::Sleep => anyio::sleep(LONG).await?,
            Wait::SleepForever => anyio::sleep_forever().await?,
            Wait::Condition => {
                let guard = self.condition.acquire().await?;
                drop(self.condition.wait(guard).await?);
            }
            Wait::Udp => drop(self.udp.receive().await?),
        }
        Ok(())
    }

    /// [`block`](Self::block), which must end with a cancellation; that error is returned
    /// for the scope around to catch.
    async fn cancelled(&self, wait: Wait) -> Result<(), BoxError> {
        match self.block(wait).await {
            Ok(()) => panic!("{wait:?} completed instead of being cancelled"),
            Err(e) => {
                assert!(
                    anyio::is_cancelled(&e),
                    "{wait:?} failed with `{e}` instead of a cancellation"
                );
                Err(e)
            }
        }
    }
}

/// A task that cancels `scope` once every other task is blocked.
async fn cancel_when_blocked(scope: CancelScope) -> Result<(), BoxError> {
    anyio::wait_all_tasks_blocked().await?;
    scope.cancel();
    Ok(())
}

/// Runs `body` inside `scope`, in a task group beside `canceller`, and checks what a user
/// would: the group completes (`Some`) and `scope` caught the cancellation (`None`).
async fn caught_beside<T: PartialEq + Debug>(
    wait: Wait,
    scope: &CancelScope,
    canceller: impl Future<Output = Result<(), BoxError>> + Send + 'static,
    body: impl Future<Output = Result<T, BoxError>>,
) -> Result<(), BoxError> {
    let out = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(canceller)?;
        scope.run(body).await
    })
    .await?;
    assert_eq!(out, Some(None), "{wait:?}");
    assert!(scope.cancelled_caught(), "{wait:?}");
    Ok(())
}

/// The waiting task is inside a scope of its own, inside the scope another task cancels.
async fn a_cancel_from_another_task_ends_a_wait_in_a_nested_scope() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let outer = CancelScope::new();
        let nested = CancelScope::new().run(b.cancelled(wait));
        caught_beside(wait, &outer, cancel_when_blocked(outer.clone()), nested).await?;
    }
    Ok(())
}

/// The cancel comes from a thread that is not the runtime's.
async fn a_cancel_from_a_thread_ends_a_wait() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let scope = CancelScope::new();
        let by_thread = scope.clone();
        let canceller = async move {
            anyio::wait_all_tasks_blocked().await?;
            anyio::to_thread::run_sync(move || by_thread.cancel()).await?;
            Ok(())
        };
        caught_beside(wait, &scope, canceller, b.cancelled(wait)).await?;
    }
    Ok(())
}

/// The task waits in a shielded scope inside a cancelled one; another task clears the
/// shield, which lets the outer cancellation reach the wait.
async fn clearing_a_shield_from_another_task_ends_a_wait() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let outer = CancelScope::new();
        let shield = CancelScope::new().shielded(true);
        let unshield = shield.clone();
        let canceller = async move {
            anyio::wait_all_tasks_blocked().await?;
            unshield.set_shield(false);
            Ok(())
        };
        outer.cancel();
        caught_beside(wait, &outer, canceller, shield.run(b.cancelled(wait))).await?;
        assert!(!shield.cancelled_caught(), "{wait:?}");
    }
    Ok(())
}

/// Another task moves the deadline of the scope the wait is in to the past.
async fn a_deadline_moved_to_the_past_ends_a_wait() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let scope = CancelScope::with_timeout(LONG);
        let mover = scope.clone();
        let canceller = async move {
            anyio::wait_all_tasks_blocked().await?;
            mover.set_deadline(Some(anyio::current_time()));
            Ok(())
        };
        let nested = CancelScope::new().run(b.cancelled(wait));
        caught_beside(wait, &scope, canceller, nested).await?;
        assert!(scope.timed_out(), "{wait:?}");
    }
    Ok(())
}

/// The waits run in child tasks, each inside a scope of its own; the group is cancelled
/// from the task that opened it, and the cancellation reaches every child through its
/// group.
async fn a_group_cancel_ends_waits_in_the_childrens_own_scopes() -> Result<(), BoxError> {
    let b = Arc::new(Blockers::new().await?);
    let holder = b.clone();
    let done = Arc::new(Event::new());
    let finished = done.clone();
    anyio::task_group(|outer: TaskGroup| async move {
        // The lock guard and the token borrow the blockers, so another task holds them
        // until the children are done.
        outer.start_soon(async move {
            let _held = holder.hold().await?;
            finished.wait().await?;
            Ok::<_, BoxError>(())
        })?;
        anyio::wait_all_tasks_blocked().await?;
        let ended = Arc::new(std::sync::Mutex::new(Vec::new()));
        anyio::task_group(|tg: TaskGroup| {
            let (b, ended) = (b.clone(), ended.clone());
            async move {
                for wait in WAITS {
                    let (b, ended) = (b.clone(), ended.clone());
                    tg.start_soon(async move {
                        let out = CancelScope::new().run(b.cancelled(wait)).await;
                        ended.lock().unwrap().push(format!("{wait:?}"));
                        out.map(drop)
                    })?;
                }
                anyio::wait_all_tasks_blocked().await?;
                tg.cancel();
                Ok::<_, BoxError>(())
            }
        })
        .await?;
        let mut ended = ended.lock().unwrap().clone();
        ended.sort();
        let mut all: Vec<_> = WAITS.iter().map(|w| format!("{w:?}")).collect();
        all.sort();
        assert_eq!(ended, all);
        done.set();
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(())
}

/// The wait is polled, finds nothing and returns `Pending`; later in the same poll of the
/// same task, its scope is cancelled. The task must be polled again and the wait end.
async fn a_cancel_later_in_the_same_poll_ends_a_wait_polled_before() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let scope = CancelScope::new();
        let canceller = scope.clone();
        let b = &b;
        let out = scope
            .run(async move {
                let mut waiting = pin!(b.cancelled(wait));
                let mut cancelled = false;
                poll_fn(|cx| {
                    let polled = waiting.as_mut().poll(cx);
                    if polled.is_pending() && !cancelled {
                        canceller.cancel();
                        cancelled = true;
                    }
                    polled
                })
                .await
            })
            .await?;
        assert_eq!(out, None, "{wait:?}");
        assert!(scope.cancelled_caught(), "{wait:?}");
    }
    Ok(())
}

/// A waker of its own, as a combinator gives the futures it polls: waking it wakes the
/// task that polls the combinator.
struct Forward(Waker);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// The wait is polled with a waker other than its task's (so it registers that waker with
/// its scope), and another task cancels the scope.
async fn a_wait_polled_with_another_waker_is_still_cancelled() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let scope = CancelScope::new();
        let mut waiting = pin!(b.cancelled(wait));
        let body = poll_fn(|cx| {
            let own = Waker::from(Arc::new(Forward(cx.waker().clone())));
            waiting.as_mut().poll(&mut Context::from_waker(&own))
        });
        caught_beside(wait, &scope, cancel_when_blocked(scope.clone()), body).await?;
    }
    Ok(())
}

/// A wait polled first with another waker, then (after a spurious wake) with its task's:
/// the registration the first poll made is not needed any more, and the cancellation still
/// reaches the wait.
async fn a_wait_that_changes_to_its_tasks_waker_is_still_cancelled() -> Result<(), BoxError> {
    let b = Blockers::new().await?;
    let _held = b.hold().await?;
    for wait in WAITS {
        let scope = CancelScope::new();
        let mut waiting = pin!(b.cancelled(wait));
        let mut polls = 0;
        let body = poll_fn(|cx| {
            polls += 1;
            if polls > 1 {
                return waiting.as_mut().poll(cx);
            }
            let own = Waker::from(Arc::new(Forward(cx.waker().clone())));
            let first = waiting.as_mut().poll(&mut Context::from_waker(&own));
            assert!(first.is_pending(), "{wait:?}");
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        caught_beside(wait, &scope, cancel_when_blocked(scope.clone()), body).await?;
    }
    Ok(())
}

on_every_flavour!(
    a_cancel_from_another_task_ends_a_wait_in_a_nested_scope,
    a_cancel_from_a_thread_ends_a_wait,
    clearing_a_shield_from_another_task_ends_a_wait,
    a_deadline_moved_to_the_past_ends_a_wait,
    a_group_cancel_ends_waits_in_the_childrens_own_scopes,
    a_cancel_later_in_the_same_poll_ends_a_wait_polled_before,
    a_wait_polled_with_another_waker_is_still_cancelled,
    a_wait_that_changes_to_its_tasks_waker_is_still_cancelled,
);
