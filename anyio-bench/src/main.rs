//! The bench-anchors workloads (`/work/shared/bench-anchors`) written against anyio's public
//! API, so `run.sh` can run them side by side with the native tokio and smol versions.
//!
//! Usage: anyio-bench RUNTIME WORKLOAD [--reps N] [--warmup N]
//!   RUNTIME:  anyio-tokio-mt | anyio-tokio-ct | anyio-smol-1 | anyio-smol-2
//!            anyio-smol-1-compat (smol with `Runner::tokio_compat`)
//!            tokio-mt | tokio-ct | smol-1 | smol-2 (native; only the extras below)
//!   WORKLOAD: W1 W2 W3 W4 W7 (the anchors'), W4d1 W4d10 (W4 inside 1 or 10 nested cancel
//!             scopes), and the extras W1h W7y W2b0 W2u W3y SEM EVT LIM TH PORT FSR FSL TLS1 TLS2
//!             PROC PCAT (see workloads.rs), HTTP1S HTTP1C (hyper server or client; see
//!             http.rs)
//!
//! Prints one TSV line per measured run, like anchors-bench: `workload runtime rate unit
//! work`. Exits with status 3 for a workload that has no version for the runtime (W4c on
//! anyio; natively, everything but the extras, which the anchors have) and with status 2,
//! after a usage line, for bad arguments.
//!
//! Method, as in the anchors: the runtime is created once per process (one
//! [`anyio::Runner::run`]), and each of the warmup + reps runs is a task started in a task
//! group inside that run, which times the workload body itself; so on tokio-mt the body runs
//! on a worker thread.

mod channel_workloads;
mod fs_workloads;
mod http;
mod idle;
mod native;
mod net_workloads;
mod process_workloads;
mod sync_workloads;
mod thread_workloads;
mod tls_workloads;
mod workloads;

use std::process::exit;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyio::{Backend, Runner, TaskGroup};

use workloads::Workload;

/// The runtime configurations, the same as the anchors' native ones.
#[derive(Clone, Copy, Debug)]
enum RuntimeKind {
    /// tokio multi-thread runtime, 2 workers (anchors: `tokio-mt`).
    TokioMt,
    /// tokio current-thread runtime (anchors: `tokio-ct`).
    TokioCt,
    /// smol: one executor run by 1 or 2 threads (anchors: `smol-1`, `smol-2`).
    Smol(usize),
    /// smol with one thread and the tokio compatibility layer on: what that layer costs.
    SmolTokioCompat,
}

impl RuntimeKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "anyio-tokio-mt" => Self::TokioMt,
            "anyio-tokio-ct" => Self::TokioCt,
            "anyio-smol-1" => Self::Smol(1),
            "anyio-smol-2" => Self::Smol(2),
            "anyio-smol-1-compat" => Self::SmolTokioCompat,
            _ => return None,
        })
    }

    fn runner(self) -> Runner {
        match self {
            Self::TokioMt => Runner::new(Backend::Tokio).worker_threads(2),
            Self::TokioCt => Runner::new(Backend::Tokio).current_thread(),
            Self::Smol(threads) => Runner::new(Backend::Smol).worker_threads(threads),
            Self::SmolTokioCompat => Runner::new(Backend::Smol)
                .worker_threads(1)
                .tokio_compat(true),
        }
    }
}

/// Where a workload runs: on anyio, or natively (the extras only).
#[derive(Clone, Copy, Debug)]
enum Runtime {
    Anyio(RuntimeKind),
    Native(native::Native),
}

fn usage() -> ! {
    eprintln!("usage: anyio-bench RUNTIME WORKLOAD [--reps N] [--warmup N]");
    eprintln!("  RUNTIME:  anyio-tokio-mt | anyio-tokio-ct | anyio-smol-1 | anyio-smol-2");
    eprintln!("            anyio-smol-1-compat (smol with Runner::tokio_compat)");
    eprintln!("            tokio-mt | tokio-ct | smol-1 | smol-2 (native; the extras only)");
    eprintln!("  WORKLOAD: W1 W2 W3 W4 W4c W5 W6 W7 W4d1 W4d10 W1h W7y W2b0 W2u W3y SEM EVT");
    eprintln!("            LIM TH PORT FSR FSL TLS1 TLS2 PROC PCAT HTTP1S HTTP1C (http.rs)");
    eprintln!("            (W4c: not written: it is Python-only)");
    exit(2)
}

struct Args {
    runtime: Runtime,
    workload: Workload,
    reps: usize,
    warmup: usize,
}

fn parse_args(args: &[String]) -> Args {
    let (Some(runtime), Some(workload)) = (args.first(), args.get(1)) else {
        usage()
    };
    let runtime = match (RuntimeKind::parse(runtime), native::Native::parse(runtime)) {
        (Some(anyio), _) => Runtime::Anyio(anyio),
        (None, Some(native)) => Runtime::Native(native),
        (None, None) => usage(),
    };
    let workload = Workload::parse(workload).unwrap_or_else(|| usage());
    let (reps, warmup) = parse_counts(&args[2..]);
    Args {
        runtime,
        workload,
        reps,
        warmup,
    }
}

/// `--reps N` and `--warmup N` (5 and 1 by default).
fn parse_counts(args: &[String]) -> (usize, usize) {
    let (mut reps, mut warmup) = (5, 1);
    for pair in args.chunks(2) {
        let value = pair
            .get(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--reps" => reps = value,
            "--warmup" => warmup = value,
            _ => usage(),
        }
    }
    (reps, warmup)
}

/// Runs the workload `runs` times in one anyio run; returns the time of each run, as
/// measured inside the task that did the work.
fn measure(runtime: RuntimeKind, w: Workload, runs: usize) -> Vec<Duration> {
    let result = runtime.runner().run(async move {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let slot = Arc::new(Mutex::new(None));
            let task_slot = slot.clone();
            anyio::task_group(|tg: TaskGroup| async move {
                tg.start_soon(workloads::timed(w, task_slot))?;
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("the timed task group failed: {e}"));
            let elapsed = slot.lock().unwrap().take();
            times.push(elapsed.expect("the timed task recorded its time"));
        }
        times
    });
    result.unwrap_or_else(|e| panic!("anyio run failed: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "idle") {
        idle::main(&args[1..]);
        return;
    }
    if args.first().is_some_and(|a| a == "http-server") {
        http::serve_main(&args[1..]);
        return;
    }
    if let Some(side) = args.get(1).and_then(|w| http::Side::parse(w)) {
        let (reps, warmup) = parse_counts(&args[2..]);
        http::measure(&args[0], side, reps, warmup);
        return;
    }
    let Args {
        runtime,
        workload,
        reps,
        warmup,
    } = parse_args(&args);
    let times = match runtime {
        Runtime::Anyio(_) if !workload.is_written() => exit(3),
        Runtime::Anyio(rt) if workload == Workload::PortalCall => (0..warmup + reps)
            .map(|_| thread_workloads::portal_call_round_trips(&rt.runner()))
            .collect(),
        Runtime::Anyio(rt) => measure(rt, workload, warmup + reps),
        // Natively, only the extras run here; the anchors have the rest.
        Runtime::Native(_) if !workload.is_extra() => exit(3),
        Runtime::Native(rt) => native::measure(rt, workload, warmup + reps),
    };
    let (units, unit) = workload.units();
    let (runtime_name, name) = (&args[0], &args[1]);
    for t in &times[warmup..] {
        println!(
            "{name}\t{runtime_name}\t{:.1}\t{unit}\t{units}",
            units / t.as_secs_f64()
        );
    }
}
