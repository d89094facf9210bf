//! The workload bodies, written against anyio's public API only (no tokio or smol here),
//! with the anchors' sizes. Each is one `async fn`; [`timed`] runs one of them and times it.
//!
//! To add a workload that is not written yet (W4c): write its `async fn`, call it
//! from its arm in [`timed`], and take it out of [`Workload::NOT_WRITTEN`].
//!
//! Besides the anchors' ids there are ours: W4d1 and W4d10 (W4 inside nested cancel
//! scopes), and the extras that the anchors do not have, whose native counterparts live in
//! `native.rs`: W1h (W1 with a task handle per task, each awaited), W2b0 and W2u (W2 with a rendezvous or an unbounded stream), W3y (W3 with
//! AnyIO's default lock, which yields on every acquire), SEM, EVT and LIM (semaphore,
//! event ping-pong and capacity limiter rates), TH and PORT (`to_thread::run_sync` and
//! blocking-portal round trips), FSR and FSL (file reading in chunks and by lines), TLS1
//! and TLS2 (TLS echo throughput and handshakes per second; `tls_workloads.rs`), PROC and
//! PCAT (spawning and waiting for `true`, 256 MiB through `cat`; `process_workloads.rs`).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyio::{CancelScope, Cancelled, TaskGroup};

use crate::channel_workloads::{self, CHANNEL_MESSAGES};
use crate::fs_workloads::{self, LINES_FILE_SIZE, READ_FILE_SIZE};
use crate::net_workloads::{self, ECHO_BYTES, RR_CONNS, RR_TRIPS};
use crate::process_workloads::{self, CAT_BYTES, SPAWNS};
use crate::sync_workloads::{
    self, MUTEX_ITERS, MUTEX_TASKS, PERMIT_ITERS, PERMIT_TASKS, PING_PONGS,
};
use crate::thread_workloads::{self, PORTAL_CALLS, THREAD_CALLS};
use crate::tls_workloads::{self, HANDSHAKES, TLS_ECHO_BYTES};

/// W1: tasks spawned and joined per run.
pub(crate) const SPAWN_TASKS: usize = 100_000;
/// W4, W4d1, W4d10: checkpoints per run.
pub(crate) const YIELDS: usize = 1_000_000;
/// W7: timeouts per run.
pub(crate) const TIMEOUTS: u64 = 1_000_000;
/// W7y: timeouts whose body waits once, per run.
pub(crate) const PENDING_TIMEOUTS: u64 = 200_000;

/// The workload ids of anchors-bench, plus W4 inside nested cancel scopes (ours only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// W1: spawn no-op tasks in a task group, which waits for them all.
    Spawn,
    /// W1h: W1 with `create_task`, then every handle awaited in turn.
    SpawnHandles,
    /// W2: one producer, one consumer, bounded channel of 1024.
    Channel,
    /// W3: 8 tasks increment a counter behind an async mutex.
    Mutex,
    /// W4: one task runs `checkpoint()` in a loop.
    Yield,
    /// W4c: the anchors' Python-only `anyio.lowlevel.checkpoint()` variant of W4.
    YieldCheckpoint,
    /// W4d1: W4 with the loop inside one cancel scope.
    YieldDepth1,
    /// W4d10: W4 with the loop inside ten nested cancel scopes.
    YieldDepth10,
    /// W5: TCP echo over 127.0.0.1.
    Echo,
    /// W6: TCP request/response round trips over 50 connections.
    RoundTrip,
    /// W7: `move_on_after` around an already-ready future.
    Timeout,
    /// W7y: `move_on_after` around `sleep(0)`: the body waits once, so the deadline is
    /// armed on the backend's timer and disarmed, every time.
    TimeoutYield,
    /// W2b0: W2 through a rendezvous stream (buffer 0).
    ChannelRendezvous,
    /// W2u: W2 through an unbounded stream.
    ChannelUnbounded,
    /// W3y: W3 with the default lock, whose every acquire is a yielding checkpoint.
    MutexYielding,
    /// SEM: semaphore acquire/release under contention.
    Semaphore,
    /// EVT: event ping-pong between two tasks.
    EventPingPong,
    /// LIM: capacity limiter acquire/release under contention.
    Limiter,
    /// TH: `to_thread::run_sync` round trips of a no-op closure.
    ThreadRoundTrip,
    /// PORT: blocking-portal `call` round trips from a plain thread.
    PortalCall,
    /// FSR: reading a 256 MiB file in 64 KiB chunks.
    FileRead,
    /// FSL: iterating the lines of a 50 MiB text file.
    FileLines,
    /// TLS1: TLS echo of 64 MiB in 64 KiB chunks over 127.0.0.1 (handshake not timed).
    TlsEcho,
    /// TLS2: sequential connections, each a full TLS 1.3 handshake, a 1-byte round trip
    /// and the closing exchange.
    TlsHandshake,
    /// PROC: start `true` and wait for it, 1,000 times in turn.
    ProcessSpawn,
    /// PCAT: 256 MiB through `cat` (stdin written by one task, stdout read by another).
    ProcessCat,
}

impl Workload {
    /// The workloads with no anyio version yet: the binary exits with status 3 for them.
    const NOT_WRITTEN: [Workload; 1] = [Workload::YieldCheckpoint];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "W1" => Self::Spawn,
            "W1h" => Self::SpawnHandles,
            "W2" => Self::Channel,
            "W3" => Self::Mutex,
            "W4" => Self::Yield,
            "W4c" => Self::YieldCheckpoint,
            "W4d1" => Self::YieldDepth1,
            "W4d10" => Self::YieldDepth10,
            "W5" => Self::Echo,
            "W6" => Self::RoundTrip,
            "W7" => Self::Timeout,
            "W7y" => Self::TimeoutYield,
            "W2b0" => Self::ChannelRendezvous,
            "W2u" => Self::ChannelUnbounded,
            "W3y" => Self::MutexYielding,
            "SEM" => Self::Semaphore,
            "EVT" => Self::EventPingPong,
            "LIM" => Self::Limiter,
            "TH" => Self::ThreadRoundTrip,
            "PORT" => Self::PortalCall,
            "FSR" => Self::FileRead,
            "FSL" => Self::FileLines,
            "TLS1" => Self::TlsEcho,
            "TLS2" => Self::TlsHandshake,
            "PROC" => Self::ProcessSpawn,
            "PCAT" => Self::ProcessCat,
            _ => return None,
        })
    }

    pub(crate) fn is_written(self) -> bool {
        !Self::NOT_WRITTEN.contains(&self)
    }

    /// The workloads that `native.rs` also runs natively (the anchors have no version).
    pub(crate) fn is_extra(self) -> bool {
        matches!(
            self,
            Self::SpawnHandles
                | Self::TimeoutYield
                | Self::ChannelRendezvous
                | Self::ChannelUnbounded
                | Self::Semaphore
                | Self::EventPingPong
                | Self::Limiter
                | Self::ThreadRoundTrip
                | Self::PortalCall
                | Self::FileRead
                | Self::FileLines
                | Self::TlsEcho
                | Self::TlsHandshake
                | Self::ProcessSpawn
                | Self::ProcessCat
        )
    }

    /// Units of work done by one run, and the name of the rate reported (as the anchors').
    pub(crate) fn units(self) -> (f64, &'static str) {
        match self {
            Self::Spawn | Self::SpawnHandles => (SPAWN_TASKS as f64, "tasks/s"),
            Self::Channel | Self::ChannelRendezvous | Self::ChannelUnbounded => {
                (CHANNEL_MESSAGES as f64, "msgs/s")
            }
            Self::Mutex | Self::MutexYielding => {
                ((MUTEX_TASKS as u64 * MUTEX_ITERS) as f64, "locks/s")
            }
            Self::Semaphore | Self::Limiter => ((PERMIT_TASKS * PERMIT_ITERS) as f64, "acquires/s"),
            Self::EventPingPong => (PING_PONGS as f64, "rt/s"),
            Self::ThreadRoundTrip => (THREAD_CALLS as f64, "calls/s"),
            Self::PortalCall => (PORTAL_CALLS as f64, "calls/s"),
            Self::FileRead => ((READ_FILE_SIZE >> 20) as f64, "MiB/s"),
            Self::FileLines => ((LINES_FILE_SIZE >> 20) as f64, "MiB/s"),
            Self::Yield | Self::YieldCheckpoint | Self::YieldDepth1 | Self::YieldDepth10 => {
                (YIELDS as f64, "yields/s")
            }
            Self::Echo => ((ECHO_BYTES >> 20) as f64, "MiB/s"),
            Self::RoundTrip => ((RR_CONNS * RR_TRIPS) as f64, "rt/s"),
            Self::Timeout => (TIMEOUTS as f64, "timeouts/s"),
            Self::TimeoutYield => (PENDING_TIMEOUTS as f64, "timeouts/s"),
            Self::TlsEcho => ((TLS_ECHO_BYTES >> 20) as f64, "MiB/s"),
            Self::TlsHandshake => (HANDSHAKES as f64, "handshakes/s"),
            Self::ProcessSpawn => (SPAWNS as f64, "spawns/s"),
            Self::ProcessCat => ((CAT_BYTES >> 20) as f64, "MiB/s"),
        }
    }
}

/// Runs one workload and puts how long its body took in `took` (TLS1 times itself, without
/// its handshake). It is the run's task itself, as the anchors' `timed` is theirs, so that
/// no wrapper future of the harness is polled on every wake-up of the workload.
pub(crate) async fn timed(w: Workload, took: Arc<Mutex<Option<Duration>>>) {
    let start = Instant::now();
    let mut timed_itself = None;
    match w {
        Workload::TlsEcho => timed_itself = Some(tls_workloads::echo().await),
        Workload::TlsHandshake => tls_workloads::handshakes().await,
        Workload::Spawn => spawn_join().await,
        Workload::SpawnHandles => spawn_await_handles().await,
        Workload::Yield => checkpoints_at_depth_0().await,
        Workload::YieldDepth1 => checkpoints_at_depth_1().await,
        Workload::YieldDepth10 => checkpoints_at_depth_10().await,
        Workload::Timeout => timeouts().await,
        Workload::TimeoutYield => timeouts_around_a_yield().await,
        Workload::Channel => channel_workloads::channel().await,
        Workload::ChannelRendezvous => channel_workloads::channel_rendezvous().await,
        Workload::ChannelUnbounded => channel_workloads::channel_unbounded().await,
        Workload::Mutex => sync_workloads::mutex().await,
        Workload::MutexYielding => sync_workloads::mutex_checkpointing().await,
        Workload::Semaphore => sync_workloads::semaphore().await,
        Workload::EventPingPong => sync_workloads::event_ping_pong().await,
        Workload::Limiter => sync_workloads::capacity_limiter().await,
        Workload::ThreadRoundTrip => thread_workloads::to_thread_round_trips().await,
        Workload::FileRead => fs_workloads::read_chunks().await,
        Workload::FileLines => fs_workloads::iterate_lines().await,
        Workload::ProcessSpawn => process_workloads::spawn_wait().await,
        Workload::ProcessCat => process_workloads::cat_through().await,
        Workload::PortalCall => unreachable!("a portal is driven from a plain thread (main.rs)"),
        Workload::Echo => net_workloads::echo().await,
        Workload::RoundTrip => net_workloads::round_trips().await,
        Workload::YieldCheckpoint => {
            unreachable!("{w:?} is not written yet (checked before the run)")
        }
    }
    let elapsed = timed_itself.unwrap_or_else(|| start.elapsed());
    *took.lock().unwrap_or_else(|e| e.into_inner()) = Some(elapsed);
}

/// W1: a task group starts `SPAWN_TASKS` no-op tasks and waits for them all.
async fn spawn_join() {
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..SPAWN_TASKS {
            tg.start_soon(async { Ok(()) })?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W1 task group failed: {e}"));
}

/// W1h: a task group starts `SPAWN_TASKS` tasks with `create_task`, then awaits each
/// handle in turn, as one would a `JoinHandle`.
async fn spawn_await_handles() {
    anyio::task_group(|tg: TaskGroup| async move {
        let mut handles = Vec::with_capacity(SPAWN_TASKS);
        for i in 0..SPAWN_TASKS {
            handles.push(tg.create_task(async move { Ok(i) })?);
        }
        let mut sum = 0;
        for handle in handles {
            sum += handle.await?;
        }
        assert_eq!(sum, SPAWN_TASKS * (SPAWN_TASKS - 1) / 2);
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W1h task group failed: {e}"));
}

/// The loop of W4 and its nested variants: `YIELDS` checkpoints in the current task.
async fn checkpoints() -> Result<(), Cancelled> {
    for _ in 0..YIELDS {
        anyio::checkpoint().await?;
    }
    Ok(())
}

/// Nests `$body` (a future of `Result<T, E>`) in one `CancelScope::new().run(..)` per token
/// after the comma.
macro_rules! in_scopes {
    ($body:expr $(,)?) => { $body };
    ($body:expr, $level:tt $($rest:tt)*) => {
        CancelScope::new().run(in_scopes!($body, $($rest)*))
    };
}

/// W4: the checkpoints directly in the task, as the anchors' loop of `yield_now` (one
/// async fn inside the timing one, no wrapper between).
async fn checkpoints_at_depth_0() {
    for _ in 0..YIELDS {
        anyio::checkpoint()
            .await
            .expect("W4: nothing cancels this task");
    }
}

/// W4d1: the checkpoints inside one cancel scope without deadline.
async fn checkpoints_at_depth_1() {
    let out = in_scopes!(checkpoints(), 1).await;
    assert!(
        matches!(out, Ok(Some(()))),
        "W4d1: nothing cancels these scopes"
    );
}

/// W4d10: the checkpoints inside ten nested cancel scopes without deadline.
async fn checkpoints_at_depth_10() {
    let out = in_scopes!(checkpoints(), 1 2 3 4 5 6 7 8 9 10).await;
    assert!(
        out.is_ok_and(|v| v.is_some()),
        "W4d10: nothing cancels these scopes"
    );
}

/// W7y: `move_on_after(1 s)` around `sleep(0)`, `PENDING_TIMEOUTS` times: each body waits
/// once, so each deadline is armed on the backend's timer, then disarmed.
async fn timeouts_around_a_yield() {
    let mut finished = 0;
    for _ in 0..PENDING_TIMEOUTS {
        let out = anyio::move_on_after(Duration::from_secs(1), anyio::sleep(Duration::ZERO))
            .await
            .expect("W7y: nothing cancels this task");
        finished += u64::from(out.is_some());
    }
    assert_eq!(black_box(finished), PENDING_TIMEOUTS);
}

/// W7: `move_on_after(1 s)` around a future that is ready at once, `TIMEOUTS` times.
async fn timeouts() {
    let mut sum = 0;
    for i in 0..TIMEOUTS {
        let out = anyio::move_on_after(Duration::from_secs(1), async move {
            Ok::<_, Cancelled>(black_box(i))
        })
        .await;
        sum += out
            .expect("W7: nothing cancels this task")
            .expect("W7: the 1 s deadline is never reached");
    }
    assert_eq!(black_box(sum), TIMEOUTS * (TIMEOUTS - 1) / 2);
}
