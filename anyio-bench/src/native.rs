//! Native counterparts of the workloads that the anchors do not have (W1 with handles, W2
//! with buffer 0 or unbounded, semaphore, event ping-pong, capacity limiter), so `extras.sh` can put each
//! anyio figure beside the nearest native primitive, measured the same way: one runtime per
//! process, each run a spawned task that times itself.
//!
//! The nearest native primitives: W1h's task handles are tokio's `JoinHandle` and smol's
//! `Task`, spawned all, then awaited in turn; neither runtime has a rendezvous channel, so buffer 0 is
//! compared with a channel of capacity 1 (`tokio::sync::mpsc::channel(1)`,
//! `async_channel::bounded(1)`); an event ping-pong with one-shot channels
//! (`tokio::sync::oneshot`, `async_channel::bounded(1)`), since anyio's `Event` is one-shot
//! too; the semaphore and the capacity limiter with `tokio::sync::Semaphore` /
//! `async_lock::Semaphore`. TLS1 and TLS2 run on tokio-rustls and futures-rustls
//! (`tls_workloads.rs`), TLS1 timing itself without its handshake. PROC and PCAT run on
//! `tokio::process` and `async-process` (`process_workloads.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Executor;

use crate::channel_workloads::CHANNEL_MESSAGES as MSGS;
use crate::sync_workloads::{
    PERMIT_ITERS as SEM_ITERS, PERMIT_TASKS as SEM_TASKS, PERMITS as SEM_PERMITS,
    PING_PONGS as ROUNDS,
};
use crate::workloads::Workload as Extra;
use crate::workloads::{PENDING_TIMEOUTS, SPAWN_TASKS};

/// The native runtime configurations, the same as the anchors'.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Native {
    TokioMt,
    TokioCt,
    Smol(usize),
}

impl Native {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tokio-mt" => Native::TokioMt,
            "tokio-ct" => Native::TokioCt,
            "smol-1" => Native::Smol(1),
            "smol-2" => Native::Smol(2),
            _ => return None,
        })
    }
}

pub(crate) fn measure(rt: Native, w: Extra, runs: usize) -> Vec<Duration> {
    if w == Extra::PortalCall {
        // The nearest native counterpart of a portal call: a plain thread handing a future
        // to a runtime and blocking for its result.
        return (0..runs)
            .map(|_| match rt {
                Native::TokioMt => crate::thread_workloads::native_tokio_handle_round_trips(2),
                Native::TokioCt => crate::thread_workloads::native_tokio_handle_round_trips(1),
                Native::Smol(_) => crate::thread_workloads::native_smol_executor_round_trips(),
            })
            .collect();
    }
    match rt {
        Native::TokioMt | Native::TokioCt => {
            let mut b = if matches!(rt, Native::TokioMt) {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            } else {
                tokio::runtime::Builder::new_current_thread()
            };
            let rt = b.enable_all().build().expect("tokio runtime");
            (0..runs)
                .map(|_| rt.block_on(rt.spawn(tokio_timed(w))).expect("task"))
                .collect()
        }
        Native::Smol(threads) => smol_measure(threads, w, runs),
    }
}

async fn timed(body: impl Future<Output = ()>) -> Duration {
    let start = Instant::now();
    body.await;
    start.elapsed()
}

async fn tokio_timed(w: Extra) -> Duration {
    match w {
        Extra::TlsEcho => crate::tls_workloads::tokio_rustls_native::echo().await,
        _ => timed(tokio_body(w)).await,
    }
}

async fn smol_timed(w: Extra) -> Duration {
    match w {
        Extra::TlsEcho => crate::tls_workloads::futures_rustls_native::echo().await,
        _ => timed(smol_body(w)).await,
    }
}

async fn tokio_body(w: Extra) {
    match w {
        Extra::SpawnHandles => {
            let handles: Vec<_> = (0..SPAWN_TASKS)
                .map(|i| tokio::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("task");
            }
            assert_eq!(sum, SPAWN_TASKS * (SPAWN_TASKS - 1) / 2);
        }
        Extra::TimeoutYield => {
            let mut finished = 0;
            for _ in 0..PENDING_TIMEOUTS {
                let out =
                    tokio::time::timeout(Duration::from_secs(1), tokio::task::yield_now()).await;
                finished += u64::from(out.is_ok());
            }
            assert_eq!(std::hint::black_box(finished), PENDING_TIMEOUTS);
        }
        Extra::ChannelRendezvous => tokio_channel(Some(1)).await,
        Extra::ChannelUnbounded => tokio_channel(None).await,
        Extra::Semaphore | Extra::Limiter => {
            let sem = Arc::new(tokio::sync::Semaphore::new(SEM_PERMITS));
            let tasks: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    tokio::spawn(async move {
                        for _ in 0..SEM_ITERS {
                            drop(sem.acquire().await.expect("open"));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        }
        Extra::EventPingPong => {
            let rounds: Arc<Vec<(tokio::sync::Notify, tokio::sync::Notify)>> = Arc::new(
                (0..ROUNDS)
                    .map(|_| (tokio::sync::Notify::new(), tokio::sync::Notify::new()))
                    .collect(),
            );
            let r = rounds.clone();
            let ponger = tokio::spawn(async move {
                for (ping, pong) in r.iter() {
                    ping.notified().await;
                    pong.notify_one();
                }
            });
            for (ping, pong) in rounds.iter() {
                ping.notify_one();
                pong.notified().await;
            }
            ponger.await.expect("task");
        }
        Extra::ThreadRoundTrip => {
            crate::thread_workloads::native_tokio_spawn_blocking_round_trips().await
        }
        Extra::FileRead => crate::fs_workloads::tokio_read_chunks().await,
        Extra::FileLines => crate::fs_workloads::tokio_iterate_lines().await,
        Extra::TlsHandshake => crate::tls_workloads::tokio_rustls_native::handshakes().await,
        Extra::ProcessSpawn => crate::process_workloads::tokio_spawn_wait().await,
        Extra::ProcessCat => crate::process_workloads::tokio_cat_through().await,
        other => unreachable!("{other:?} has no native version here"),
    }
}

async fn tokio_channel(cap: Option<usize>) {
    let consumer;
    match cap {
        Some(cap) => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap);
            consumer = tokio::spawn(async move {
                let mut sum = 0;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                sum
            });
            for i in 0..MSGS {
                tx.send(i).await.expect("open");
            }
        }
        None => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
            consumer = tokio::spawn(async move {
                let mut sum = 0;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                sum
            });
            for i in 0..MSGS {
                tx.send(i).expect("open");
            }
        }
    }
    assert_eq!(consumer.await.expect("task"), MSGS * (MSGS - 1) / 2);
}

pub(crate) static EX: Executor<'static> = Executor::new();

fn smol_measure(threads: usize, w: Extra, runs: usize) -> Vec<Duration> {
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let helpers: Vec<_> = (1..threads)
        .map(|_| {
            let stopped = stopped.clone();
            std::thread::spawn(move || async_io::block_on(EX.run(stopped.recv())))
        })
        .collect();
    let times = (0..runs)
        .map(|_| async_io::block_on(EX.run(EX.spawn(smol_timed(w)))))
        .collect();
    drop(stop);
    for h in helpers {
        let _ = h.join();
    }
    times
}

async fn smol_body(w: Extra) {
    match w {
        Extra::SpawnHandles => {
            let handles: Vec<_> = (0..SPAWN_TASKS)
                .map(|i| EX.spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            assert_eq!(sum, SPAWN_TASKS * (SPAWN_TASKS - 1) / 2);
        }
        Extra::TimeoutYield => {
            // The body first, as `tokio::time::timeout` and anyio poll it: the timer is
            // registered only because the body waited.
            let mut finished = 0;
            for _ in 0..PENDING_TIMEOUTS {
                let out = futures_lite::future::or(
                    async {
                        futures_lite::future::yield_now().await;
                        true
                    },
                    async {
                        async_io::Timer::after(Duration::from_secs(1)).await;
                        false
                    },
                )
                .await;
                finished += u64::from(out);
            }
            assert_eq!(std::hint::black_box(finished), PENDING_TIMEOUTS);
        }
        Extra::ChannelRendezvous => smol_channel(async_channel::bounded::<u64>(1)).await,
        Extra::ChannelUnbounded => smol_channel(async_channel::unbounded::<u64>()).await,
        Extra::Semaphore | Extra::Limiter => {
            let sem = Arc::new(async_lock::Semaphore::new(SEM_PERMITS));
            let tasks: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    EX.spawn(async move {
                        for _ in 0..SEM_ITERS {
                            drop(sem.acquire().await);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        }
        Extra::EventPingPong => {
            // One-shot events made up front, like anyio's `Event` pairs: a channel of
            // capacity 1 per direction and round.
            type Shot = (async_channel::Sender<()>, async_channel::Receiver<()>);
            let rounds: Arc<Vec<(Shot, Shot)>> = Arc::new(
                (0..ROUNDS)
                    .map(|_| (async_channel::bounded(1), async_channel::bounded(1)))
                    .collect(),
            );
            let r = rounds.clone();
            let ponger = EX.spawn(async move {
                for (ping, pong) in r.iter() {
                    ping.1.recv().await.expect("ping");
                    pong.0.try_send(()).expect("pong");
                }
            });
            for (ping, pong) in rounds.iter() {
                ping.0.try_send(()).expect("ping");
                pong.1.recv().await.expect("pong");
            }
            ponger.await;
        }
        Extra::ThreadRoundTrip => {
            crate::thread_workloads::native_blocking_unblock_round_trips().await
        }
        Extra::FileRead => crate::fs_workloads::async_fs_read_chunks().await,
        Extra::FileLines => crate::fs_workloads::async_fs_iterate_lines().await,
        Extra::TlsHandshake => crate::tls_workloads::futures_rustls_native::handshakes().await,
        Extra::ProcessSpawn => crate::process_workloads::async_process_spawn_wait().await,
        Extra::ProcessCat => crate::process_workloads::async_process_cat_through().await,
        other => unreachable!("{other:?} has no native version here"),
    }
}

async fn smol_channel((tx, rx): (async_channel::Sender<u64>, async_channel::Receiver<u64>)) {
    let consumer = EX.spawn(async move {
        let mut sum = 0;
        while let Ok(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    for i in 0..MSGS {
        tx.send(i).await.expect("open");
    }
    drop(tx);
    assert_eq!(consumer.await, MSGS * (MSGS - 1) / 2);
}
