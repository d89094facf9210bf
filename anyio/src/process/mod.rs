//! Subprocesses: run a program to completion ([`run_process`]) or start it and talk to it
//! through its standard streams ([`open_process`]), on every backend, cancellable by
//! cancel scopes (AnyIO's `run_process` and `open_process`).
//!
//! ```
//! # anyio::run(async {
//! use anyio::process::{Command, run_process};
//!
//! let out = run_process(["echo", "hello"]).await?;
//! assert_eq!(out.stdout, b"hello\n");
//!
//! let out = Command::new("sh").args(["-c", "exit 3"]).check(false).run().await?;
//! assert_eq!(out.status.code(), Some(3));
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! # Rules
//!
//! - **A command is an argument vector.** The program is executed directly; a shell runs
//!   only when asked for with [`Command::shell`].
//! - **Cancellation kills.** A cancelled [`run_process`] kills the child with `SIGKILL`
//!   and reaps it before it returns the cancellation; so does a cancelled
//!   [`Process::aclose`]. [`Process::wait`] alone is cancel safe and kills nothing.
//! - **No zombies.** Dropping a [`Process`] whose child still runs kills it (`SIGKILL`)
//!   and reaps it without blocking.
//! - **No deadlock on full pipes.** [`run_process`] reads stdout and stderr while it
//!   feeds stdin; [`Process::aclose`] closes our ends of the pipes, so a child blocked
//!   writing to one gets `EPIPE` instead of waiting forever (AnyIO issue 1166).
//! - **Clear errors.** A program that cannot be started is an `io::Error` of the OS's
//!   kind whose message names the program (and the working directory); a NUL byte in
//!   an argument is `InvalidInput`; nothing panics.
//! - **Exit statuses** are `std::process::ExitStatus`: a child killed by a signal has no
//!   `code()` and its `ExitStatusExt::signal()` names the signal.
//!
//! # How it works, and why not `tokio::process` or `async-process`
//!
//! The program is started by `std::process::Command` (with `posix_spawn` where the
//! options allow, `fork`/`exec` otherwise), so every option the standard library has
//! behaves as it documents. What waits is this crate's own, through the backend seam, so
//! it runs the same on every backend:
//!
//! - our ends of the pipes are made non-blocking and registered with the backend's
//!   reactor, like sockets, and read and written with plain non-blocking syscalls;
//! - the exit is awaited on a *pidfd* (Linux 5.3+), which the reactor reports readable
//!   when the child exits, then reaped with a non-blocking `waitpid`; elsewhere a thread
//!   of the blocking pool waits for the exit without reaping it.
//!
//! `tokio::process` needs tokio's reactor and signal driver (a smol run would need the
//! tokio compatibility layer), and `async-process` keeps a `SIGCHLD` handler and its own
//! reaper; either would give the two backends different mechanisms, and both install
//! process-wide state. The pidfd costs one descriptor per child and nothing global.
//!
//! Writing to a pipe whose reader is gone relies on `SIGPIPE` being ignored, as Rust
//! programs do before `main`; a host that restores it would be killed by it.
//!
//! Unix only: Windows has neither the pipes' readiness nor pidfds.

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/processes.md")]
struct ProcessesGuide;

mod child;
mod command;
mod error;
mod pipe;
mod run;

pub use child::Process;
pub use command::{Command, OnlyOneOfInputAndStdin, Stdio};
pub use error::CalledProcessError;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use run::{open_process, run_process};
