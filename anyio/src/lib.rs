//! # anyio: structured concurrency for Rust, on tokio or smol
//!
//! One async API, written once, that runs unmodified on several runtimes: **tokio** (the
//! default) and **smol**. It is modelled on Python's [AnyIO] and [trio]: task groups that
//! never let a task outlive them, and cancel scopes with shielding, deadlines and
//! level-triggered cancellation delivered at checkpoints, so cancelled code can still run
//! async cleanup.
//!
//! [AnyIO]: https://anyio.readthedocs.io
//! [trio]: https://trio.readthedocs.io
//!
//! ```
//! use std::time::Duration;
//! use anyio::TaskGroup;
//!
//! async fn sometask(num: u32) -> Result<(), anyio::BoxError> {
//!     println!("Task {num} running");
//!     anyio::sleep(Duration::from_millis(10)).await?;
//!     println!("Task {num} finished");
//!     Ok(())
//! }
//!
//! anyio::run(async {
//!     anyio::task_group(|tg| async move {
//!         for num in 0..5 {
//!             tg.start_soon(sometask(num))?;
//!         }
//!         Ok(())
//!     })
//!     .await
//! })
//! .unwrap()
//! .unwrap();
//! ```
//!
//! ## Running
//!
//! [`run`] runs a future on the default backend; [`Runner`] picks the backend and its
//! options; `#[anyio::main]` does the same for `main`. [`current_backend`] tells library
//! code which backend it is on, also when it is called from a plain tokio `main`
//! program or from smol's `block_on` without `anyio::run`.
//!
//! ## Cancellation
//!
//! Rust's own cancellation is dropping a future: it stops at its last `.await` and cannot
//! clean up asynchronously. anyio adds trio's model on top, without taking drop away:
//!
//! - A [`CancelScope`] cancels everything inside it, by a call or at a deadline
//!   ([`move_on_after`], [`fail_after`]).
//! - Every anyio operation that can wait is a *checkpoint*: inside a cancelled scope it
//!   returns [`Err(Cancelled)`](Cancelled) instead of waiting, and keeps doing so until
//!   the code leaves the scope. Propagate it with `?`.
//! - The scope that caused the cancellation absorbs it; enclosing scopes never see it.
//! - A shielded scope is not reached by enclosing cancellations, so cleanup can await.
//! - [`cancellable`] makes a future that knows nothing of anyio cancellable by the scope.
//! - [`is_cancelled`] tells a cancellation from other errors, on anyio's errors and on
//!   `io::Error`.
//!
//! ## Task groups
//!
//! [`task_group`] runs a body with a [`TaskGroup`] that starts tasks with
//! [`start_soon`](TaskGroup::start_soon) and [`start`](TaskGroup::start). It returns when
//! every task has finished; the first failure cancels the rest, and every failure is
//! reported ([`TaskGroupError`]).
//!
//! [`create_task`](TaskGroup::create_task) starts a task with a [`TaskHandle`]: await it
//! for the task's value, or cancel that task alone. [`gather`], [`amap`] (and
//! [`amap_limited`]) and [`as_completed`] run futures concurrently in a group of their own
//! and give their values back in argument order, input order, or completion order.
//!
//! ## Around the core
//!
//! - Synchronization: [`Event`], [`Lock`], [`Semaphore`], [`Condition`],
//!   [`CapacityLimiter`], [`ResourceGuard`], [`Promise`] (AnyIO's `Future`); memory
//!   object streams ([`create_memory_object_stream`]) and the 1.x [`create_queue`].
//! - Run variables: [`RunVar`], one value per run, seen by every task of it.
//! - Threads: [`to_thread::run_sync`], [`from_thread`], and [`BlockingPortal`] for
//!   synchronous code.
//! - Files ([`fs`], [`open_file`]) and signals ([`open_signal_receiver`]).
//! - Subprocesses ([`process`]): [`run_process`](process::run_process) and
//!   [`open_process`](process::open_process), their pipes as byte streams, killed when
//!   cancelled.
//!
//! ## Testing
//!
//! `#[anyio::test]` runs an async test once per backend, as `name::tokio` and
//! `name::smol`, so `cargo test smol` runs the smol ones:
//!
//! ```
//! #[anyio::test]
//! async fn sleeps() -> Result<(), anyio::Cancelled> {
//!     anyio::sleep(std::time::Duration::from_millis(1)).await
//! }
//! ```
//!
//! Arguments pick backends and options: `#[anyio::test(tokio(current_thread), smol(worker_threads = 2))]`.
//! The variable `ANYIO_BACKENDS=smol` restricts a whole test run; see [`testing`].
//! A test's parameters are async fixtures ([`macro@fixture`]), set up in the test's run and
//! torn down after it, and `timeout = "10s"` fails a test that hangs.
//! `#[anyio::test(virtual_clock)]` runs a test on a [`VirtualClock`], whose time jumps to
//! the next deadline as soon as every task is blocked: an hour's timeout takes
//! milliseconds, and timers fire in exact order.
//!
//! ## How the crate is built
//!
//! The modules form floors, bottom to top; a module imports only from its own floor or
//! below:
//!
//! 1. `backend`: the only place that spawns, sleeps, registers I/O or names a runtime
//!    crate. It imports nothing of the crate above it; the runner hands it plain options.
//! 2. `context`: the run's and the task's context (the runtime, task identities, which
//!    task this thread is polling, the cooperative budget). The floors above keep their
//!    per-run state here as run-locals, so it names none of them. [`RunVar`] keeps the
//!    users' per-run values the same way, just above it.
//! 3. `cancel` (scopes, the scope tree, checkpoints) and `time`.
//! 4. `task` (groups, `start`, the root task, introspection) and the runner ([`run`],
//!    [`Runner`]), which runs a root task.
//! 5. `sync`, then `channel`, `thread` and `signal`.
//! 6. [`stream`], then [`net`], [`fs`], [`process`] and `tls`.
//! 7. `compat`: the ecosystem's traits (tokio's I/O traits, hyper's runtime traits) on the
//!    types below.
//!
//! ## Features
//!
//! - `tokio` (default): the tokio backend.
//! - `smol` (default): the smol backend.
//! - `tokio-io` (default): tokio's `AsyncRead`/`AsyncWrite` on socket and TLS streams.
//! - `idna` (default): internationalised host names, encoded with IDNA before the resolver
//!   and TLS see them; without it they are refused with `InvalidInput`.
//! - `tls`: `anyio::tls`, TLS streams on rustls with the aws-lc-rs provider (off by default: it
//!   compiles the AWS-LC C library, more than doubling a cold build).
//! - `hyper`: `anyio::hyper`, hyper 1.x on every backend: hyper's I/O traits on socket and
//!   TLS streams, `TaskGroup` as hyper's executor, `AnyioTimer`, and `HttpConnector` for
//!   hyper-util's pooled client.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("anyio needs at least one backend: enable the `tokio` or the `smol` feature");

mod backend;
mod cancel;
mod channel;
mod compat;
mod context;
pub mod fs;
mod loom;
#[cfg(unix)]
pub mod net;
#[cfg(unix)]
pub mod process;
mod resource;
mod run_var;
mod runner;
pub mod signal;
pub mod stream;
mod sync;
mod task;
pub mod testing;
mod thread;
mod time;
#[cfg(feature = "tls")]
pub mod tls;

pub use anyio_macros::{fixture, main, test};
pub use backend::{Backend, UnknownBackend};
pub use cancel::checkpoint::{
    CancelShieldedCheckpoint, Cancellable, Checkpoint, CheckpointIfCancelled,
    cancel_shielded_checkpoint, cancellable, checkpoint, checkpoint_if_cancelled,
};
pub use cancel::error::{BoxError, Cancelled, IsCancelled, ScopeId, TimeoutError, is_cancelled};
pub use cancel::scope::{CancelScope, EffectiveDeadline, Scoped, current_effective_deadline};
pub use channel::{
    BufferSize, IntoBufferSize, InvalidBufferSize, MemoryObjectReceiveStream,
    MemoryObjectSendStream, MemoryObjectStreamStatistics, Queue, ReceiveError, ReceiveFuture,
    SendError, SendErrorKind, SendFuture, create_memory_object_stream, create_queue,
    create_unbounded_memory_object_stream,
};
#[cfg(all(unix, feature = "hyper"))]
pub use compat::hyper;
pub use fs::{AsyncFile, Path, open_file, wrap_file};
pub use resource::{
    BrokenResourceError, BusyResourceError, ClosedResourceError, DelimiterNotFound, EndOfStream,
    IncompleteRead, WouldBlock,
};
pub use run_var::{RunVar, RunVarError, RunVarToken};
pub use runner::{NoRuntime, RunError, Runner, current_backend, run, try_run};
pub use signal::{InvalidSignal, Signal, SignalReceiver, SignalRecv, open_signal_receiver};
pub use sync::{
    condition::{Condition, ConditionStatistics, ConditionWait},
    event::{Event, EventStatistics, EventWait},
    guard::{ResourceGuard, ResourceGuardToken},
    limiter::{
        Borrower, CapacityLimiter, CapacityLimiterStatistics, CapacityLimiterToken, LimiterAcquire,
        LimiterError, TryAcquireError,
    },
    lock::{Lock, LockAcquire, LockGuard, LockStatistics},
    promise::{
        AlreadyFinished, Promise, PromiseError, PromiseStatistics, PromiseStatus, PromiseWait,
    },
    semaphore::{
        Semaphore, SemaphoreAcquire, SemaphoreError, SemaphorePermit, SemaphoreStatistics,
    },
};
pub use task::as_completed::{AsCompletedError, Completions, as_completed};
pub use task::error::{GroupClosed, StartError, TaskGroupError};
pub use task::gather::{Gather, amap, amap_limited, gather};
pub use task::group::{TaskBuilder, TaskGroup, task_group};
pub use task::group_future::TaskGroupFuture;
pub use task::handle::{TaskError, TaskHandle, TaskHandleFuture, TaskState};
pub use task::info::{
    TaskId, TaskInfo, get_current_task, get_running_tasks, has_pending_cancellation,
    wait_all_tasks_blocked,
};
pub use task::output::TaskOutput;
pub use task::start::TaskStatus;
pub use thread::from_thread::{self, EventLoopToken, FromThreadError, current_token};
pub use thread::in_loop_portal::with_blocking_portal;
pub use thread::portal::{
    BlockingPortal, PortalError, PortalResource, PortalStartError, PortalTaskBuilder,
    PortalTaskHandle, start_blocking_portal,
};
pub use thread::portal_provider::{BlockingPortalProvider, PortalLease};
pub use thread::to_thread;
pub use time::{
    FailAfter, Sleep, VirtualClock, VirtualClockError, current_time, fail_after, fail_at,
    move_on_after, move_on_at, sleep, sleep_forever, sleep_until,
};

/// What the attribute macros expand to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::testing::{finish_setup, panic_if_skipped, run_main, run_sync_test, run_test};
    pub use crate::{__anyio_if_smol as if_smol, __anyio_if_tokio as if_tokio};

    /// A weak reference to the run behind `token`: it dies once everything the run held
    /// (its runtime, its tasks, their state) has been freed. For the tests that check what a
    /// finished run leaves behind.
    pub fn run_context(
        token: &crate::EventLoopToken,
    ) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        token.run_weak()
    }
}

/// Expands to its input when the tokio backend is compiled in.
#[doc(hidden)]
#[cfg(feature = "tokio")]
#[macro_export]
macro_rules! __anyio_if_tokio {
    ($($item:tt)*) => { $($item)* };
}

/// Expands to its input when the tokio backend is compiled in.
#[doc(hidden)]
#[cfg(not(feature = "tokio"))]
#[macro_export]
macro_rules! __anyio_if_tokio {
    ($($item:tt)*) => {};
}

/// Expands to its input when the smol backend is compiled in.
#[doc(hidden)]
#[cfg(feature = "smol")]
#[macro_export]
macro_rules! __anyio_if_smol {
    ($($item:tt)*) => { $($item)* };
}

/// Expands to its input when the smol backend is compiled in.
#[doc(hidden)]
#[cfg(not(feature = "smol"))]
#[macro_export]
macro_rules! __anyio_if_smol {
    ($($item:tt)*) => {};
}

/// The README's example, so `cargo test --doc` compiles and runs it.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;
