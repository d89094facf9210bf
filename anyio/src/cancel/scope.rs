//! [`CancelScope`]: a region of code that can be cancelled as a whole.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::current;
use super::driver::Driver;
use super::error::{Cancelled, IsCancelled, ScopeId};
use super::node::Node;
use crate::context;

/// A region of code that can be cancelled as a whole, by a call or a deadline.
///
/// A scope is entered by running a future in it with [`run`](CancelScope::run). While that
/// future runs, every anyio checkpoint inside it (and inside every task started in a task
/// group within it) returns [`Cancelled`](crate::Cancelled) once the scope is cancelled, and
/// keeps returning it until the code leaves the scope: cancellation is *level-triggered*.
/// When the future returns that cancellation, the scope that caused it absorbs it and
/// `run` returns `Ok(None)`; a cancellation caused by an enclosing scope passes through.
///
/// `CancelScope` is a cheap handle: clone it to cancel the scope from another task, or to
/// read or move its deadline while it runs. A scope is single-use: it can be entered once.
///
/// - **Shield**: a shielded scope is not cancelled by its enclosing scopes, so cleanup can
///   await inside it. Its own [`cancel`](CancelScope::cancel) and deadline still apply.
///   Clearing the shield re-delivers an enclosing cancellation that is still pending.
/// - **Deadline**: absolute, on the backend's clock ([`current_time`](crate::current_time)). Moving it re-arms
///   it; a deadline already past when the scope is entered cancels it on entry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use anyio::CancelScope;
///
/// # anyio::run(async {
/// let scope = CancelScope::new();
/// let handle = scope.clone();
/// let out = scope
///     .run(async move {
///         handle.cancel();
///         // Every checkpoint inside a cancelled scope fails...
///         assert!(anyio::checkpoint().await.is_err());
///         assert!(anyio::sleep(Duration::from_secs(10)).await.is_err());
///         anyio::checkpoint().await?;
///         Ok::<_, anyio::Cancelled>("unreachable")
///     })
///     .await;
/// // ...and the scope that was cancelled absorbs the cancellation.
/// assert_eq!(out, Ok(None));
/// assert!(scope.cancelled_caught());
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct CancelScope {
    node: Arc<Node>,
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("cancel_called", &self.node.cancel_called())
            .field("shield", &self.node.shield())
            .field("deadline", &self.node.deadline())
            .field("cancelled_caught", &self.node.caught())
            .finish()
    }
}

impl Default for CancelScope {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelScope {
    /// A scope without deadline or shield.
    pub fn new() -> Self {
        CancelScope {
            node: Node::new_scope(None, false),
        }
    }

    /// A scope that is cancelled at `deadline`.
    pub fn with_deadline(deadline: Instant) -> Self {
        CancelScope {
            node: Node::new_scope(Some(deadline), false),
        }
    }

    /// A scope that is cancelled `delay` from now (the deadline is computed by this call).
    /// A delay too large for the clock means no deadline.
    pub fn with_timeout(delay: Duration) -> Self {
        CancelScope {
            node: Node::new_scope(context::now().checked_add(delay), false),
        }
    }

    /// Sets the shield before the scope is entered: `CancelScope::new().shielded(true)`.
    pub fn shielded(self, shield: bool) -> Self {
        self.node.set_shield(shield);
        self
    }

    pub(crate) fn from_node(node: Arc<Node>) -> Self {
        CancelScope { node }
    }

    /// Cancels the scope: every checkpoint inside it (and in unshielded scopes and tasks
    /// below it) fails from now on. Calling it before the scope is entered cancels the
    /// scope on entry. Idempotent.
    ///
    /// The [`Cancelled`](crate::Cancelled) the code inside observes names this scope and
    /// the calling task, without a reason; see
    /// [`cancel_with_reason`](CancelScope::cancel_with_reason).
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// [`cancel`](CancelScope::cancel), with a reason that the code inside reads from
    /// [`Cancelled::reason`](crate::Cancelled::reason) and sees in its message (AnyIO's
    /// `cancel(reason)`). A `&'static str` is kept as it is; a `String` is moved.
    ///
    /// Only the first cancel of a scope counts (its deadline passing included): cancelling
    /// a scope that already is changes nothing, its recorded reason included.
    ///
    /// ```
    /// use anyio::{CancelScope, Cancelled};
    ///
    /// # anyio::run(async {
    /// let scope = CancelScope::new();
    /// let handle = scope.clone();
    /// let seen = scope
    ///     .run(async move {
    ///         handle.cancel_with_reason("shutting down");
    ///         Ok::<_, Cancelled>(anyio::checkpoint().await.unwrap_err())
    ///     })
    ///     .await
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(seen.reason(), Some("shutting down"));
    /// assert_eq!(seen.scope_id(), Some(scope.id()));
    /// assert!(seen.to_string().ends_with("; reason: shutting down"));
    /// # }).unwrap();
    /// ```
    pub fn cancel_with_reason(&self, reason: impl Into<Cow<'static, str>>) {
        self.node.cancel_because(Some(reason.into()));
    }

    /// This scope's identity, which [`Cancelled::scope_id`](crate::Cancelled::scope_id)
    /// reports for a cancellation this scope caused.
    pub fn id(&self) -> ScopeId {
        self.node.id()
    }

    /// The cancellation this scope caused, with its cause (for code that reports it after
    /// the scope caught it).
    pub(crate) fn cancellation(&self) -> Cancelled {
        self.node.cancelled()
    }

    /// Whether the scope was cancelled: [`cancel`](CancelScope::cancel) was called, or its
    /// deadline passed while it ran. A deadline that passes after the scope has exited
    /// (or before it is entered, until it is entered) leaves this false, as in trio.
    pub fn cancel_called(&self) -> bool {
        self.node.cancel_called()
    }

    /// Whether this scope absorbed a cancellation when its body ended (it was cancelled
    /// itself and no cancelled enclosing scope was visible through its shield).
    pub fn cancelled_caught(&self) -> bool {
        self.node.caught()
    }

    /// Whether this scope caught a cancellation and its deadline had passed: the condition
    /// under which [`fail_after`](crate::fail_after) reports a [`TimeoutError`](crate::TimeoutError).
    /// A scope cancelled by [`cancel`](CancelScope::cancel) before its deadline did not
    /// time out.
    pub fn timed_out(&self) -> bool {
        self.cancelled_caught() && self.deadline().is_some_and(|d| context::now() >= d)
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }

    /// Sets or clears the deadline, earlier or later, also while the scope runs (the timer
    /// is re-armed). A deadline in the past cancels a running scope at once, and a scope
    /// not entered yet when it is entered; it does nothing to a scope that has exited.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.node.set_deadline(deadline);
        if self.node.is_active() && deadline.is_some_and(|d| context::now() >= d) {
            self.node.cancel_for_deadline();
        }
    }

    /// Whether the scope is shielded from the cancellation of enclosing scopes.
    pub fn shield(&self) -> bool {
        self.node.shield()
    }

    /// Sets or clears the shield, also while the scope runs. Clearing it re-delivers a
    /// cancellation of an enclosing scope that is still in effect.
    pub fn set_shield(&self, shield: bool) {
        self.node.set_shield(shield);
    }

    /// Runs `fut` inside this scope.
    ///
    /// Returns `Ok(Some(value))` when the future completes, `Ok(None)` when it ends with a
    /// cancellation that this scope caused (the scope *catches* it and
    /// [`cancelled_caught`](CancelScope::cancelled_caught) becomes true), and `Err(e)` for any
    /// other error, including a cancellation caused by an enclosing scope, which goes on
    /// to the scope that caused it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops `fut` at its current await point and leaves the
    /// scope; nothing else is lost.
    ///
    /// # Panics
    ///
    /// If the scope was already entered: a scope is single-use.
    pub fn run<F, T, E>(&self, fut: F) -> Scoped<F>
    where
        F: Future<Output = Result<T, E>>,
        E: IsCancelled,
    {
        Scoped {
            driver: Driver::new(self.node.clone(), fut),
        }
    }
}

pin_project! {
    /// The future of [`CancelScope::run`] and [`move_on_after`](crate::move_on_after).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Scoped<F> {
        #[pin]
        driver: Driver<F>,
    }
}

impl<F: Future> Scoped<F> {
    /// A private scope with a deadline, for the timeouts: nothing else can cancel it.
    pub(crate) fn private(deadline: Option<Instant>, due: bool, fut: F) -> Self {
        Scoped {
            driver: Driver::private(deadline, due, fut),
        }
    }
}

impl<F, T, E> Future for Scoped<F>
where
    F: Future<Output = Result<T, E>>,
    E: IsCancelled,
{
    type Output = Result<Option<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut driver = self.project().driver;
        let (out, catches) = std::task::ready!(driver.as_mut().poll(cx));
        Poll::Ready(match out {
            Ok(value) => Ok(Some(value)),
            Err(e) if catches && e.is_cancelled() => {
                if let Some(node) = driver.node() {
                    node.set_caught();
                }
                Ok(None)
            }
            Err(e) => Err(e),
        })
    }
}

/// The deadline that applies to the calling code: see [`current_effective_deadline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EffectiveDeadline {
    /// The code is already effectively cancelled (AnyIO's `-inf`).
    AlreadyCancelled,
    /// The earliest deadline of the enclosing scopes, up to the nearest shield.
    At(Instant),
    /// No enclosing scope has a deadline (AnyIO's `inf`).
    Unbounded,
}

impl EffectiveDeadline {
    /// The deadline as an instant, if there is one and the code is not already cancelled.
    pub fn instant(self) -> Option<Instant> {
        match self {
            EffectiveDeadline::At(t) => Some(t),
            _ => None,
        }
    }
}

/// The earliest deadline among the scopes enclosing the calling code, looking outwards
/// until (and including) the first shielded scope, since a shield hides everything beyond
/// it. Reports [`AlreadyCancelled`](EffectiveDeadline::AlreadyCancelled) when the code is
/// effectively cancelled (or a deadline has already passed), and
/// [`Unbounded`](EffectiveDeadline::Unbounded) when no deadline applies or the code runs
/// outside any anyio task or scope.
pub fn current_effective_deadline() -> EffectiveDeadline {
    current::with_current(|cur| {
        let Some(cur) = cur else {
            return EffectiveDeadline::Unbounded;
        };
        if cur.is_cancelled() {
            return EffectiveDeadline::AlreadyCancelled;
        }
        let mut earliest: Option<Instant> = None;
        for (deadline, shield) in cur.scopes() {
            if let Some(d) = deadline {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            if shield {
                break;
            }
        }
        match earliest {
            Some(d) if context::now() >= d => EffectiveDeadline::AlreadyCancelled,
            Some(d) => EffectiveDeadline::At(d),
            None => EffectiveDeadline::Unbounded,
        }
    })
}
