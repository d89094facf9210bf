//! Receiving OS signals as an async stream: [`open_signal_receiver`].
//!
//! A [`SignalReceiver`] listens for a set of [`Signal`]s and yields each one delivered to
//! the process after it was opened, through [`recv`](SignalReceiver::recv) or as a
//! [`Stream`]. Any number of receivers, for the same signals or others, may be open at
//! once: each sees every delivery. Waiting is a checkpoint, so a cancel scope ends the
//! wait with [`Cancelled`].
//!
//! # Coalescing
//!
//! Standard Unix signals are not queued: the OS keeps at most one delivery of a signal
//! pending, so a signal sent several times before the process handles it arrives fewer
//! times. On top of that, the tokio backend keeps at most one undelivered notification per
//! signal and receiver. So a burst of `N` sends of one signal, made while a receiver is
//! open, yields **at least one and at most `N`** items from that receiver; never zero, and
//! never more than were sent. Different signals are never merged into one another. Count
//! signals only where a lost repeat does not matter (a reload request, a terminal resize).
//!
//! # Handlers stay installed
//!
//! Opening a receiver installs the process's handler for its signals, and dropping every
//! receiver does not restore the previous disposition (neither tokio nor `async-signal`
//! can): afterwards the signal is ignored while no receiver is open. After listening for
//! `SIGINT`, for instance, Ctrl+C no longer kills the process by default; keep a receiver
//! open and exit yourself.
//!
//! # Platforms
//!
//! Unix only: elsewhere [`open_signal_receiver`] fails with
//! [`io::ErrorKind::Unsupported`]. [`Signal`] exists everywhere, so code that names
//! signals compiles on every platform.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use crate::backend::SignalListener;
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::cancel::error::{Cancelled, IsCancelled};
use crate::context;
use crate::runner::NoRuntime;

/// An OS signal that a [`SignalReceiver`] can receive.
///
/// Use the associated constants ([`Signal::SIGUSR1`], [`Signal::SIGHUP`], ...), whose
/// numbers are the platform's own, or [`Signal::from_raw`] for another number (a Linux
/// real-time signal, say). Signals that cannot or must not be caught (`SIGKILL`,
/// `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`) have no constant and no value:
/// [`from_raw`](Signal::from_raw) refuses them. [`Display`](fmt::Display) and
/// [`Debug`] print the name (`SIGUSR1`), or `signal N` for a number without one;
/// [`FromStr`] parses a name with or without the `SIG` prefix, in any case, or a number.
///
/// ```
/// use anyio::Signal;
///
/// assert_eq!(Signal::SIGUSR1.to_string(), "SIGUSR1");
/// assert_eq!("hup".parse::<Signal>().unwrap(), Signal::SIGHUP);
/// # #[cfg(unix)]
/// assert!(Signal::from_raw(9).is_err()); // SIGKILL cannot be caught
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// Declares the named signals: a constant each, with the platform's number on Unix (from
/// `libc`) and the Linux number elsewhere, and the table of names.
macro_rules! named_signals {
    ($($name:ident = $linux:literal: $doc:literal,)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "`: ", $doc)]
                #[cfg(unix)]
                pub const $name: Signal = Signal(libc::$name);
                #[doc = concat!("`", stringify!($name), "`: ", $doc)]
                #[cfg(not(unix))]
                pub const $name: Signal = Signal($linux);
            )*
        }

        /// Every signal with a constant, and its name.
        const NAMED: &[(Signal, &str)] = &[$((Signal::$name, stringify!($name)),)*];
    };
}

named_signals! {
    SIGHUP = 1: "hangup of the controlling terminal; by convention, reload the configuration.",
    SIGINT = 2: "interrupt from the keyboard (Ctrl+C).",
    SIGQUIT = 3: "quit from the keyboard (Ctrl+\\\\).",
    SIGTRAP = 5: "trace or breakpoint trap.",
    SIGABRT = 6: "abort, as raised by `std::process::abort`.",
    SIGUSR1 = 10: "user-defined signal 1.",
    SIGUSR2 = 12: "user-defined signal 2.",
    SIGPIPE = 13: "write to a pipe with no reader (Rust programs ignore it by default).",
    SIGALRM = 14: "timer expired (`alarm`).",
    SIGTERM = 15: "termination request, the polite way to stop a process.",
    SIGCHLD = 17: "a child process stopped or exited.",
    SIGCONT = 18: "continue after a stop.",
    SIGTSTP = 20: "stop from the keyboard (Ctrl+Z).",
    SIGTTIN = 21: "background read from the terminal.",
    SIGTTOU = 22: "background write to the terminal.",
    SIGURG = 23: "urgent data on a socket.",
    SIGXCPU = 24: "CPU time limit exceeded.",
    SIGXFSZ = 25: "file size limit exceeded.",
    SIGVTALRM = 26: "virtual timer expired.",
    SIGPROF = 27: "profiling timer expired.",
    SIGWINCH = 28: "the terminal window changed size.",
    SIGIO = 29: "I/O is possible on a descriptor.",
    SIGSYS = 31: "bad system call.",
}

/// The signals that cannot be caught (`SIGKILL`, `SIGSTOP`) or that report a fault of the
/// program itself, after which returning from a handler is undefined.
#[cfg(unix)]
const FORBIDDEN: &[(i32, &str)] = &[
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGBUS, "SIGBUS"),
];
#[cfg(not(unix))]
const FORBIDDEN: &[(i32, &str)] = &[
    (9, "SIGKILL"),
    (19, "SIGSTOP"),
    (11, "SIGSEGV"),
    (4, "SIGILL"),
    (8, "SIGFPE"),
    (7, "SIGBUS"),
];

/// The largest signal number of this platform.
fn max_signal() -> i32 {
    #[cfg(target_os = "linux")]
    {
        libc::SIGRTMAX()
    }
    #[cfg(not(target_os = "linux"))]
    {
        64
    }
}

/// The numbers the C library keeps for itself (glibc's threads use the first real-time
/// signals, below what `SIGRTMIN` reports).
fn reserved(number: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        number > libc::SIGSYS && number < libc::SIGRTMIN()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = number;
        false
    }
}

impl Signal {
    /// The signal with number `number`.
    ///
    /// # Errors
    ///
    /// [`InvalidSignal`] if the number is one of the signals that cannot or must not be
    /// caught (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`), is not a
    /// signal number of this platform, or is reserved by the C library (glibc's internal
    /// real-time signals). A number that passes may still be one a backend cannot listen
    /// for; [`open_signal_receiver`] reports that.
    ///
    /// ```
    /// use anyio::Signal;
    /// # #[cfg(unix)] {
    /// assert_eq!(Signal::from_raw(libc::SIGUSR1).unwrap(), Signal::SIGUSR1);
    /// let err = Signal::from_raw(libc::SIGKILL).unwrap_err();
    /// assert_eq!(err.to_string(), "SIGKILL (9) cannot be received: it cannot be caught or handled safely");
    /// assert!(Signal::from_raw(0).is_err());
    /// # }
    /// ```
    pub fn from_raw(number: i32) -> Result<Signal, InvalidSignal> {
        let reason = if let Some(&(_, name)) = FORBIDDEN.iter().find(|(n, _)| *n == number) {
            Reason::Forbidden(name)
        } else if number <= 0 || number > max_signal() {
            Reason::OutOfRange
        } else if reserved(number) {
            Reason::Reserved
        } else {
            return Ok(Signal(number));
        };
        Err(InvalidSignal {
            number: Some(number),
            reason,
        })
    }

    /// The signal's number on this platform.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The signal's name (`"SIGUSR1"`), if it has a constant here.
    pub fn name(self) -> Option<&'static str> {
        NAMED
            .iter()
            .find(|(s, _)| *s == self)
            .map(|&(_, name)| name)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl TryFrom<i32> for Signal {
    type Error = InvalidSignal;

    /// See [`Signal::from_raw`].
    fn try_from(number: i32) -> Result<Signal, InvalidSignal> {
        Signal::from_raw(number)
    }
}

impl From<Signal> for i32 {
    fn from(signal: Signal) -> i32 {
        signal.0
    }
}

impl FromStr for Signal {
    type Err = InvalidSignal;

    /// Parses `"SIGUSR1"`, `"usr1"` (any case, `SIG` optional) or a number (checked as
    /// [`Signal::from_raw`] does).
    fn from_str(s: &str) -> Result<Signal, InvalidSignal> {
        if let Ok(number) = s.parse::<i32>() {
            return Signal::from_raw(number);
        }
        let upper = s.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        if let Some(&(signal, _)) = NAMED.iter().find(|(_, name)| *name == full) {
            return Ok(signal);
        }
        Err(match FORBIDDEN.iter().find(|(_, name)| *name == full) {
            Some(&(number, name)) => InvalidSignal {
                number: Some(number),
                reason: Reason::Forbidden(name),
            },
            None => InvalidSignal {
                number: None,
                reason: Reason::UnknownName(s.to_owned()),
            },
        })
    }
}

/// The error for a signal that anyio will not listen for: one that cannot be caught or
/// handled safely, a number that is no signal here, or an unknown name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSignal {
    number: Option<i32>,
    reason: Reason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    Forbidden(&'static str),
    OutOfRange,
    Reserved,
    UnknownName(String),
}

impl InvalidSignal {
    /// The number that was refused, if a number (or the name of a forbidden signal) was
    /// given.
    pub fn number(&self) -> Option<i32> {
        self.number
    }

    /// Whether the signal exists but cannot be caught or handled safely (`SIGKILL`,
    /// `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.reason, Reason::Forbidden(_))
    }
}

impl fmt::Display for InvalidSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.number.unwrap_or_default();
        match &self.reason {
            Reason::Forbidden(name) => write!(
                f,
                "{name} ({n}) cannot be received: it cannot be caught or handled safely"
            ),
            Reason::OutOfRange => write!(
                f,
                "{n} is not a signal number on this platform (1 to {})",
                max_signal()
            ),
            Reason::Reserved => write!(f, "signal {n} is reserved by the C library"),
            Reason::UnknownName(name) => write!(f, "unknown signal name {name:?}"),
        }
    }
}

impl std::error::Error for InvalidSignal {}

impl IsCancelled for InvalidSignal {
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl From<InvalidSignal> for io::Error {
    fn from(e: InvalidSignal) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// Starts listening for `signals` and returns the receiver that yields them.
///
/// The handlers are installed before this returns, so every delivery of one of `signals`
/// from then on reaches the receiver (repeats may be coalesced; see the
/// [module documentation](crate::signal#coalescing)). A signal listed twice is listened
/// for once; an empty list makes a receiver that only ever ends by cancellation. Other
/// receivers, open already or opened later, are not affected: each sees every delivery.
/// Dropping the receiver stops listening (the process's handler stays installed; see
/// [handlers stay installed](crate::signal#handlers-stay-installed)).
///
/// This is the manual's `open_signal_receiver(*signals)`, whose context manager is the
/// receiver's scope here.
///
/// ```no_run
/// use anyio::Signal;
///
/// # async fn f() -> Result<(), anyio::BoxError> {
/// let mut signals = anyio::open_signal_receiver(&[Signal::SIGHUP, Signal::SIGTERM])?;
/// loop {
///     match signals.recv().await? {
///         Signal::SIGHUP => println!("reloading the configuration"),
///         _ => return Ok(()),
///     }
/// }
/// # }
/// ```
///
/// # Errors
///
/// - [`io::ErrorKind::Unsupported`] on platforms without Unix signals, and for a raw
///   signal number that the backend cannot listen for (the smol backend knows only the
///   named signals).
/// - [`io::ErrorKind::Other`] wrapping [`NoRuntime`] when called outside every runtime
///   anyio can use.
/// - The OS's error if a handler cannot be installed.
///
/// # Panics
///
/// On a tokio runtime built without its I/O driver (`enable_io`), as tokio itself does.
/// Runtimes that anyio builds always have it.
pub fn open_signal_receiver(signals: &[Signal]) -> io::Result<SignalReceiver> {
    let mut unique: Vec<Signal> = Vec::with_capacity(signals.len());
    for &s in signals {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    let runtime = context::current_runtime().ok_or_else(|| io::Error::other(NoRuntime))?;
    let numbers: Vec<i32> = unique.iter().map(|s| s.0).collect();
    let listener = runtime.signals(&numbers)?;
    Ok(SignalReceiver {
        listener,
        signals: unique.into_boxed_slice(),
        wait: CancelWait::new(),
    })
}

/// Receives the signals given to [`open_signal_receiver`], in the order they arrive.
///
/// Get the next one with [`recv`](SignalReceiver::recv), or use the receiver as a
/// [`Stream`] of `Result<Signal, Cancelled>`. The stream never ends by itself: only a
/// cancellation stops it, with an `Err(Cancelled)` item that `?` propagates (polled again
/// inside the cancelled scope, it yields `Err(Cancelled)` again: cancellation is
/// level-triggered). Dropping the receiver stops listening.
///
/// A signal delivered while nobody waits is kept (coalesced with its own repeats) until
/// the next wait takes it.
#[derive(Debug)]
pub struct SignalReceiver {
    listener: SignalListener,
    signals: Box<[Signal]>,
    wait: CancelWait,
}

impl SignalReceiver {
    /// The signals this receiver listens for, each once, in the order first given.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Waits for the next signal.
    ///
    /// A checkpoint: inside a cancelled scope it returns `Err(Cancelled)` without taking a
    /// signal, even one that is already there; otherwise it returns a signal that arrived
    /// already, or waits for one, registered with the enclosing cancel scopes so that
    /// their cancellation ends the wait.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the calling code is or becomes effectively cancelled before a
    /// signal arrives.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses no signal; one that arrives meanwhile is
    /// returned by the next wait.
    pub fn recv(&mut self) -> SignalRecv<'_> {
        SignalRecv { rx: self }
    }

    /// One poll of a wait: the checkpoint, then the backend, then the registration.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Signal, Cancelled>> {
        if let Err(cancelled) = ready!(current::poll_checkpoint(cx)) {
            self.wait.clear();
            return Poll::Ready(Err(cancelled));
        }
        if let Poll::Ready(number) = self.listener.poll_recv(cx) {
            // The receiver outlives this wait: drop its registration with the scope now.
            self.wait.clear();
            return Poll::Ready(Ok(Signal(number)));
        }
        match self.wait.register(cx) {
            Ok(()) => Poll::Pending,
            Err(cancelled) => {
                self.wait.clear();
                Poll::Ready(Err(cancelled))
            }
        }
    }
}

/// The receiver as a stream of signals; see [`SignalReceiver::recv`] for what each poll
/// does. It never returns `None`.
///
/// # Cancel safety
///
/// Cancel safe: a `next()` future dropped while pending loses no signal.
impl Stream for SignalReceiver {
    type Item = Result<Signal, Cancelled>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

/// The future of [`SignalReceiver::recv`].
///
/// # Cancel safety
///
/// Cancel safe; dropping it at any point loses no signal.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SignalRecv<'a> {
    rx: &'a mut SignalReceiver,
}

impl Future for SignalRecv<'_> {
    type Output = Result<Signal, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl Drop for SignalRecv<'_> {
    fn drop(&mut self) {
        self.rx.wait.clear();
    }
}

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../docs/signals.md")]
struct SignalsGuide;
