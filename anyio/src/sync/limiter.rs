//! [`CapacityLimiter`]: a pool of tokens, at most one per borrower.
//!
//! The rules it keeps (AnyIO's rule 14):
//!
//! - A borrower is the current task by default, or any `Hash + Eq` value; it holds at most
//!   one token, and a second borrow is an error.
//! - `total_tokens` can be read and changed at any time. Raising it hands the new tokens to
//!   that many waiters at once; lowering it never takes back a borrowed token (the
//!   borrowed count may then exceed the total until enough are released).
//! - **Fair, never oversubscribed.** Waiters are served first come, first served. A token
//!   released while others wait is reserved for the oldest waiter (it counts as borrowed
//!   from that moment), so [`try_acquire`](CapacityLimiter::try_acquire) fails while
//!   others are queued, and the borrowed count never exceeds the total at the moment a
//!   token is lent.
//! - **A checkpoint.** `acquire` checks for cancellation first and yields once even when a
//!   token is free (a cancellation during that yield gives the token back).
//! - **No loan to a cancelled waiter.** A freed token passes over waiters whose cancel
//!   scope is cancelled by then (they return `LimiterError::Cancelled`).
//! - **Cancel safe.** A waiter that is cancelled or dropped leaves the queue; a token
//!   reserved for a waiter that is dropped before it noticed goes to the next waiter.

use std::any::Any;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::wait_queue::WaitQueue;
use super::waiter::{Queued, Step, Waiter};
use super::{BadCount, to_count};
use crate::TaskId;
use crate::cancel::current;
use crate::cancel::error::{Cancelled, IsCancelled};
use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::task::info::current_task_id;

/// Who borrows a token of a [`CapacityLimiter`]: a task, or any `Hash + Eq` value given
/// to [`acquire_on_behalf_of`](CapacityLimiter::acquire_on_behalf_of).
///
/// Two borrowers are equal when they hold values of the same type that compare equal. A
/// [`TaskId`] given as a key is the same borrower as that task acquiring for itself.
#[derive(Clone)]
pub struct Borrower(Repr);

#[derive(Clone)]
enum Repr {
    Task(TaskId),
    Key(Arc<dyn Key>),
}

/// A borrower key behind `dyn`: hashing and equality through [`Any`].
trait Key: Any + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn eq_key(&self, other: &dyn Any) -> bool;
    fn hash_key(&self, state: &mut dyn Hasher);
    fn type_name(&self) -> &'static str;
}

impl<K: Hash + Eq + Send + Sync + 'static> Key for K {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn eq_key(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<K>() == Some(self)
    }

    fn hash_key(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<K>()
    }
}

impl Borrower {
    /// The borrower identified by `key`.
    pub fn new<K: Hash + Eq + Send + Sync + 'static>(key: K) -> Self {
        if let Some(&task) = (&key as &dyn Any).downcast_ref::<TaskId>() {
            return Borrower(Repr::Task(task));
        }
        Borrower(Repr::Key(Arc::new(key)))
    }

    /// The task, if the borrower is a task.
    pub fn task_id(&self) -> Option<TaskId> {
        match &self.0 {
            Repr::Task(id) => Some(*id),
            Repr::Key(_) => None,
        }
    }

    /// The key, if the borrower is a value of type `K`.
    pub fn downcast_ref<K: 'static>(&self) -> Option<&K> {
        match &self.0 {
            Repr::Task(id) => (id as &dyn Any).downcast_ref(),
            Repr::Key(k) => k.as_any().downcast_ref(),
        }
    }
}

impl PartialEq for Borrower {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Task(a), Repr::Task(b)) => a == b,
            (Repr::Key(a), Repr::Key(b)) => a.eq_key(b.as_any()),
            _ => false,
        }
    }
}

impl Eq for Borrower {}

impl Hash for Borrower {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Task(id) => {
                state.write_u8(0);
                id.hash(state);
            }
            Repr::Key(k) => {
                state.write_u8(1);
                k.as_any().type_id().hash(state);
                k.hash_key(state);
            }
        }
    }
}

impl fmt::Debug for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Task(id) => write!(f, "Borrower(task {id})"),
            Repr::Key(k) => write!(f, "Borrower({})", k.type_name()),
        }
    }
}

/// The errors of a [`CapacityLimiter`], with AnyIO's messages where it has one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimiterError {
    /// The calling code was cancelled while it waited for a token (or before): the
    /// [`Cancelled`] it observed, with its cause.
    Cancelled(Cancelled),
    /// The borrower already holds one of the limiter's tokens.
    AlreadyBorrowing,
    /// The borrower already waits for one of the limiter's tokens (in another call).
    AlreadyWaiting,
    /// The borrower holds none of the limiter's tokens.
    NotBorrowing,
    /// A token was asked for the current task outside any anyio task.
    NoCurrentTask,
    /// The total number of tokens given was negative.
    NegativeTotalTokens,
}

impl fmt::Display for LimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimiterError::Cancelled(c) => return c.fmt(f),
            LimiterError::AlreadyBorrowing => {
                "this borrower is already holding one of this CapacityLimiter's tokens"
            }
            LimiterError::AlreadyWaiting => {
                "this borrower is already waiting for one of this CapacityLimiter's tokens"
            }
            LimiterError::NotBorrowing => {
                "this borrower isn't holding any of this CapacityLimiter's tokens"
            }
            LimiterError::NoCurrentTask => "no anyio task is running to borrow a token for",
            LimiterError::NegativeTotalTokens => "total_tokens must be >= 0",
        })
    }
}

impl Error for LimiterError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LimiterError::Cancelled(c) => Some(c),
            _ => None,
        }
    }
}

impl IsCancelled for LimiterError {
    fn is_cancelled(&self) -> bool {
        matches!(self, LimiterError::Cancelled(_))
    }
}

impl From<Cancelled> for LimiterError {
    fn from(c: Cancelled) -> Self {
        LimiterError::Cancelled(c)
    }
}

impl From<LimiterError> for io::Error {
    fn from(e: LimiterError) -> io::Error {
        let kind = match e {
            LimiterError::Cancelled(c) => return c.into(),
            LimiterError::NegativeTotalTokens => io::ErrorKind::InvalidInput,
            LimiterError::NoCurrentTask
            | LimiterError::AlreadyBorrowing
            | LimiterError::AlreadyWaiting
            | LimiterError::NotBorrowing => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Why [`try_acquire`](CapacityLimiter::try_acquire) did not lend a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// No token is free, or others wait for one (the operation would block).
    WouldBlock,
    /// The request itself is wrong (the borrower already holds or waits for a token, or
    /// there is no current task).
    Limiter(LimiterError),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::WouldBlock => crate::WouldBlock.fmt(f),
            TryAcquireError::Limiter(e) => e.fmt(f),
        }
    }
}

impl Error for TryAcquireError {}

impl IsCancelled for TryAcquireError {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<LimiterError> for TryAcquireError {
    fn from(e: LimiterError) -> Self {
        TryAcquireError::Limiter(e)
    }
}

impl From<crate::WouldBlock> for TryAcquireError {
    fn from(_: crate::WouldBlock) -> Self {
        TryAcquireError::WouldBlock
    }
}

impl From<TryAcquireError> for io::Error {
    fn from(e: TryAcquireError) -> io::Error {
        match e {
            TryAcquireError::WouldBlock => crate::WouldBlock.into(),
            TryAcquireError::Limiter(e) => e.into(),
        }
    }
}

/// A snapshot of a [`CapacityLimiter`]'s state, from [`CapacityLimiter::statistics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// How many tokens are lent (reserved for a waiter that has not run yet included).
    pub borrowed_tokens: usize,
    /// The total number of tokens ([`CapacityLimiter::UNLIMITED`] for no limit).
    pub total_tokens: usize,
    /// Who holds the lent tokens, in no particular order.
    pub borrowers: Vec<Borrower>,
    /// How many tasks wait for a token.
    pub tasks_waiting: usize,
}

/// A pool of `total_tokens` tokens, each lent to at most one borrower at a time, which
/// limits how many tasks (or other borrowers) do something at once.
///
/// [`acquire`](CapacityLimiter::acquire) waits for a token for the current task and returns
/// a [`CapacityLimiterToken`]; dropping it gives the token back.
/// [`acquire_on_behalf_of`](CapacityLimiter::acquire_on_behalf_of) borrows for any
/// `Hash + Eq` value instead. [`CapacityLimiterToken::forget`] keeps the token lent, to be
/// given back with [`release`](CapacityLimiter::release) or
/// [`release_on_behalf_of`](CapacityLimiter::release_on_behalf_of), as AnyIO's explicit
/// `acquire` and `release`.
///
/// Share a limiter between tasks in an [`Arc`]. It can be made outside a run.
///
/// ```
/// use std::sync::Arc;
/// use anyio::{CapacityLimiter, TaskGroup};
///
/// # anyio::run(async {
/// let limiter = Arc::new(CapacityLimiter::new(2)?);
/// anyio::task_group(|tg| async move {
///     for _ in 0..5 {
///         let limiter = limiter.clone();
///         tg.start_soon(async move {
///             let _token = limiter.acquire().await?;
///             assert!(limiter.borrowed_tokens() <= 2);
///             anyio::sleep(std::time::Duration::from_millis(1)).await?;
///             Ok(())
///         })?;
///     }
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
pub struct CapacityLimiter {
    state: Mutex<LimiterState>,
}

#[derive(Debug)]
pub(crate) struct LimiterState {
    total: usize,
    /// Each lent token's borrower, with the number of the loan (so a token guard gives back
    /// its own loan only, not a later one of the same borrower).
    borrowers: HashMap<Borrower, u64>,
    next_loan: u64,
    /// Waiters bring their borrower and are granted it back with the number of their
    /// loan.
    waiters: WaitQueue<Borrower, (Borrower, u64)>,
}

impl LimiterState {
    fn lend(&mut self, borrower: Borrower) -> u64 {
        let loan = self.next_loan;
        self.next_loan += 1;
        self.borrowers.insert(borrower, loan);
        loan
    }

    /// Lends free tokens to the oldest waiters, while there are both.
    fn serve_waiters(&mut self) {
        while self.borrowers.len() < self.total {
            let Some((key, borrower)) = self.waiters.pop_front() else {
                break;
            };
            let loan = self.lend(borrower.clone());
            self.waiters.grant(key, (borrower, loan));
        }
    }

    /// Gives back `borrower`'s token (only loan `loan`, if given).
    fn release(&mut self, borrower: &Borrower, loan: Option<u64>) -> Result<(), LimiterError> {
        match self.borrowers.get(borrower) {
            Some(&l) if loan.is_none_or(|loan| loan == l) => {
                self.borrowers.remove(borrower);
                self.serve_waiters();
                Ok(())
            }
            _ => Err(LimiterError::NotBorrowing),
        }
    }

    /// Checks that `borrower` may ask for a token.
    fn check(&self, borrower: &Borrower) -> Result<(), LimiterError> {
        if self.borrowers.contains_key(borrower) {
            return Err(LimiterError::AlreadyBorrowing);
        }
        if self.waiters.iter().any(|b| b == borrower) {
            return Err(LimiterError::AlreadyWaiting);
        }
        Ok(())
    }
}

impl CapacityLimiter {
    /// The `total_tokens` of a limiter without limit (AnyIO's `math.inf`).
    pub const UNLIMITED: usize = usize::MAX;

    /// A limiter with `total_tokens` tokens (any integer; 0 is allowed, and a value above
    /// `usize::MAX` means [`UNLIMITED`](CapacityLimiter::UNLIMITED)).
    ///
    /// # Errors
    ///
    /// [`LimiterError::NegativeTotalTokens`] ("total_tokens must be >= 0").
    ///
    /// ```
    /// use anyio::{CapacityLimiter, LimiterError};
    ///
    /// assert_eq!(CapacityLimiter::new(4).unwrap().total_tokens(), 4);
    /// assert_eq!(CapacityLimiter::new(-1).unwrap_err(), LimiterError::NegativeTotalTokens);
    /// ```
    pub fn new<V>(total_tokens: V) -> Result<Self, LimiterError>
    where
        V: TryInto<usize> + PartialOrd + Default,
    {
        Ok(CapacityLimiter {
            state: Mutex::new(LimiterState {
                total: total_count(total_tokens)?,
                borrowers: HashMap::new(),
                next_loan: 0,
                waiters: WaitQueue::new(),
            }),
        })
    }

    /// A limiter without limit: every borrower gets a token at once.
    pub fn unlimited() -> Self {
        CapacityLimiter::new(Self::UNLIMITED).expect("usize::MAX is a valid total")
    }

    /// The total number of tokens.
    pub fn total_tokens(&self) -> usize {
        lock(&self.state).total
    }

    /// Changes the total number of tokens. Raising it lends the new tokens to that many
    /// waiters, oldest first; lowering it takes back no lent token, but lends none until
    /// fewer than the new total are borrowed.
    ///
    /// # Errors
    ///
    /// [`LimiterError::NegativeTotalTokens`] ("total_tokens must be >= 0").
    pub fn set_total_tokens<V>(&self, total_tokens: V) -> Result<(), LimiterError>
    where
        V: TryInto<usize> + PartialOrd + Default,
    {
        let total = total_count(total_tokens)?;
        let mut state = lock(&self.state);
        state.total = total;
        state.serve_waiters();
        Ok(())
    }

    /// How many tokens are lent (reserved for a waiter that has not run yet included).
    pub fn borrowed_tokens(&self) -> usize {
        lock(&self.state).borrowers.len()
    }

    /// How many tokens are free: the total less the borrowed ones (0 when the total was
    /// lowered below the borrowed count).
    pub fn available_tokens(&self) -> usize {
        let state = lock(&self.state);
        state.total.saturating_sub(state.borrowers.len())
    }

    /// Waits for a token for the current task, and returns a guard that gives it back
    /// when dropped.
    ///
    /// A checkpoint: returns an error at once if the calling code is cancelled, and yields
    /// once even when a token is free. Waiters are served in order.
    ///
    /// # Errors
    ///
    /// - [`LimiterError::Cancelled`] if the calling code is cancelled before it got a
    ///   token: a token freed after the cancellation is never lent to it, but to the next
    ///   waiter. If a token was lent to it just before the cancellation, it returns the
    ///   token instead, and the next checkpoint reports the cancellation.
    /// - [`LimiterError::AlreadyBorrowing`] ("this borrower is already holding one of this
    ///   CapacityLimiter's tokens") or [`LimiterError::AlreadyWaiting`].
    /// - [`LimiterError::NoCurrentTask`] outside any anyio task.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is cancelled or dropped leaves the queue without a token,
    /// and a token reserved for it just before it was dropped goes to the next waiter.
    /// Dropping the future while it yields after taking a free token gives the token back.
    pub fn acquire(&self) -> LimiterAcquire<'_> {
        LimiterAcquire {
            limiter: self,
            borrower: current_task_id().map(|id| Borrower(Repr::Task(id))),
            loan: 0,
            step: Step::Start,
            waiter: Waiter::new(),
        }
    }

    /// Waits for a token for `borrower`, as [`acquire`](CapacityLimiter::acquire) does for
    /// the current task.
    ///
    /// # Errors
    ///
    /// As [`acquire`](CapacityLimiter::acquire), except `NoCurrentTask`.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    pub fn acquire_on_behalf_of<K>(&self, borrower: K) -> LimiterAcquire<'_>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        LimiterAcquire {
            limiter: self,
            borrower: Some(Borrower::new(borrower)),
            loan: 0,
            step: Step::Start,
            waiter: Waiter::new(),
        }
    }

    /// Borrows a token for the current task if one is free and nobody waits (AnyIO's
    /// `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::WouldBlock`] if no token is free or others wait for one, else
    /// [`TryAcquireError::Limiter`] with the errors of
    /// [`acquire`](CapacityLimiter::acquire).
    pub fn try_acquire(&self) -> Result<CapacityLimiterToken<'_>, TryAcquireError> {
        let borrower = current_task_id().ok_or(LimiterError::NoCurrentTask)?;
        self.try_acquire_for(Borrower(Repr::Task(borrower)))
    }

    /// Borrows a token for `borrower` if one is free and nobody waits, as
    /// [`try_acquire`](CapacityLimiter::try_acquire) does for the current task.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](CapacityLimiter::try_acquire).
    pub fn try_acquire_on_behalf_of<K>(
        &self,
        borrower: K,
    ) -> Result<CapacityLimiterToken<'_>, TryAcquireError>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        self.try_acquire_for(Borrower::new(borrower))
    }

    fn try_acquire_for(
        &self,
        borrower: Borrower,
    ) -> Result<CapacityLimiterToken<'_>, TryAcquireError> {
        let mut state = lock(&self.state);
        state.check(&borrower)?;
        if !state.waiters.is_empty() || state.borrowers.len() >= state.total {
            return Err(TryAcquireError::WouldBlock);
        }
        let loan = state.lend(borrower.clone());
        drop(state);
        Ok(CapacityLimiterToken {
            limiter: self,
            borrower,
            loan: Some(loan),
        })
    }

    /// Gives back the current task's token (one that was
    /// [forgotten](CapacityLimiterToken::forget)).
    ///
    /// # Errors
    ///
    /// [`LimiterError::NotBorrowing`] ("this borrower isn't holding any of this
    /// CapacityLimiter's tokens"), or [`LimiterError::NoCurrentTask`].
    pub fn release(&self) -> Result<(), LimiterError> {
        let borrower = current_task_id().ok_or(LimiterError::NoCurrentTask)?;
        lock(&self.state).release(&Borrower(Repr::Task(borrower)), None)
    }

    /// Gives back `borrower`'s token.
    ///
    /// # Errors
    ///
    /// [`LimiterError::NotBorrowing`] ("this borrower isn't holding any of this
    /// CapacityLimiter's tokens").
    pub fn release_on_behalf_of<K>(&self, borrower: K) -> Result<(), LimiterError>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        lock(&self.state).release(&Borrower::new(borrower), None)
    }

    /// The limiter's state: borrowed and total tokens, the borrowers, and how many tasks
    /// wait.
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        let state = lock(&self.state);
        CapacityLimiterStatistics {
            borrowed_tokens: state.borrowers.len(),
            total_tokens: state.total,
            borrowers: state.borrowers.keys().cloned().collect(),
            tasks_waiting: state.waiters.len(),
        }
    }
}

fn total_count<V>(total_tokens: V) -> Result<usize, LimiterError>
where
    V: TryInto<usize> + PartialOrd + Default,
{
    match to_count(total_tokens) {
        Ok(total) => Ok(total),
        Err(BadCount::Negative) => Err(LimiterError::NegativeTotalTokens),
        Err(BadCount::TooLarge) => Ok(CapacityLimiter::UNLIMITED),
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("CapacityLimiter")
            .field("borrowed_tokens", &state.borrowers.len())
            .field("total_tokens", &state.total)
            .field("tasks_waiting", &state.waiters.len())
            .finish()
    }
}

impl Queued for CapacityLimiter {
    type State = LimiterState;
    type Data = Borrower;
    type Grant = (Borrower, u64);

    fn state(&self) -> &Mutex<LimiterState> {
        &self.state
    }

    fn queue(state: &mut LimiterState) -> &mut WaitQueue<Borrower, (Borrower, u64)> {
        &mut state.waiters
    }

    fn pass_on(&self, state: &mut LimiterState, (borrower, loan): (Borrower, u64)) {
        // Fails only if the loan was given back explicitly already.
        let _ = state.release(&borrower, Some(loan));
    }
}

/// The future of [`CapacityLimiter::acquire`] and
/// [`acquire_on_behalf_of`](CapacityLimiter::acquire_on_behalf_of).
///
/// # Cancel safety
///
/// Dropping it at any point is safe: see [`CapacityLimiter::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct LimiterAcquire<'a> {
    limiter: &'a CapacityLimiter,
    /// `None` for the current task outside any task.
    borrower: Option<Borrower>,
    /// The loan of a free token taken on the first poll.
    loan: u64,
    step: Step,
    waiter: Waiter,
}

impl LimiterAcquire<'_> {
    fn borrower(&self) -> Borrower {
        self.borrower
            .clone()
            .expect("checked on the first poll: there is a borrower")
    }
}

impl<'a> Future for LimiterAcquire<'a> {
    type Output = Result<CapacityLimiterToken<'a>, LimiterError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let limiter = this.limiter;
        let out: Poll<Result<(Borrower, u64), LimiterError>> = match this.step {
            Step::Start => 'start: {
                if current::is_cancelled() {
                    break 'start Poll::Ready(Err(current::cancelled().into()));
                }
                let Some(borrower) = this.borrower.clone() else {
                    break 'start Poll::Ready(Err(LimiterError::NoCurrentTask));
                };
                let mut state = lock(&limiter.state);
                if let Err(e) = state.check(&borrower) {
                    break 'start Poll::Ready(Err(e));
                }
                if state.waiters.is_empty() && state.borrowers.len() < state.total {
                    this.loan = state.lend(borrower);
                    drop(state);
                    this.step = Step::Yielded;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                this.waiter
                    .push::<CapacityLimiter>(&mut state, borrower, cx);
                drop(state);
                this.step = Step::Waiting;
                this.waiter
                    .register(limiter, cx)
                    .map_err(LimiterError::from)
            }
            Step::Yielded => {
                let borrower = this.borrower();
                if current::is_cancelled() {
                    let _ = lock(&limiter.state).release(&borrower, Some(this.loan));
                    Poll::Ready(Err(current::cancelled().into()))
                } else {
                    Poll::Ready(Ok((borrower, this.loan)))
                }
            }
            Step::Waiting => match this.waiter.poll(limiter, cx) {
                Poll::Ready(Some(res)) => Poll::Ready(res.map_err(LimiterError::from)),
                // Passed over while cancelled, and not cancelled any more: a token may be
                // free now (and the borrower may have borrowed one elsewhere meanwhile).
                Poll::Ready(None) => {
                    this.step = Step::Start;
                    return Pin::new(this).poll(cx);
                }
                Poll::Pending => Poll::Pending,
            },
            Step::Done => panic!("`LimiterAcquire` polled after completion"),
        };
        match out {
            Poll::Ready(res) => {
                this.step = Step::Done;
                Poll::Ready(res.map(|(borrower, loan)| CapacityLimiterToken {
                    limiter,
                    borrower,
                    loan: Some(loan),
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for LimiterAcquire<'_> {
    fn drop(&mut self) {
        match self.step {
            Step::Yielded => {
                let borrower = self.borrower();
                let _ = lock(&self.limiter.state).release(&borrower, Some(self.loan));
            }
            Step::Waiting => self.waiter.abandon(self.limiter),
            Step::Start | Step::Done => {}
        }
    }
}

/// A token lent by a [`CapacityLimiter`]; dropping it gives the token back (to the oldest
/// waiter, if any).
#[derive(Debug)]
#[must_use = "the token is given back as soon as it is dropped"]
pub struct CapacityLimiterToken<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    /// `None` once forgotten.
    loan: Option<u64>,
}

impl CapacityLimiterToken<'_> {
    /// Who borrows the token.
    pub fn borrower(&self) -> &Borrower {
        &self.borrower
    }

    /// Keeps the token lent without a guard, until
    /// [`release`](CapacityLimiter::release) or
    /// [`release_on_behalf_of`](CapacityLimiter::release_on_behalf_of) gives it back.
    pub fn forget(mut self) {
        self.loan = None;
    }
}

impl Drop for CapacityLimiterToken<'_> {
    fn drop(&mut self) {
        if let Some(loan) = self.loan {
            // Fails only if the token was given back explicitly already.
            let _ = lock(&self.limiter.state).release(&self.borrower, Some(loan));
        }
    }
}
