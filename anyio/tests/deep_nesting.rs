//! Deep nesting fits a small stack: 1,000 task groups nested in one task, and 1,000 nested
//! `CancelScope::run`, complete on a 2 MiB thread in a debug build, on every backend and
//! runtime flavour. Each test prints the stack it used per level (see
//! `docs/PERFORMANCE.md`): `cargo test -p anyio --test deep_nesting -- --nocapture`, and
//! with `--release` for an optimised build.

use std::future::Future;
use std::pin::Pin;
use std::thread;

use anyio::{Backend, BoxError, CancelScope, Cancelled, Runner, TaskGroup, task_group};

const LEVELS: usize = 1000;
const STACK: usize = 2 << 20;

type Level = Pin<Box<dyn Future<Output = Result<usize, BoxError>> + Send>>;

/// The address of a local of the caller's frame: how deep the stack is there.
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// `depth` task groups, one inside the body of the next, each with one child; returns the
/// stack position at the innermost body.
fn nested_groups(depth: usize) -> Level {
    Box::pin(async move {
        if depth == 0 {
            return Ok(stack_position());
        }
        let out = task_group(|tg: TaskGroup| async move {
            tg.start_soon(async { Ok(()) })?;
            nested_groups(depth - 1).await
        })
        .await?;
        Ok(out.expect("nothing cancels the groups"))
    })
}

/// `depth` cancel scopes, one inside the next.
fn nested_scopes(depth: usize) -> Pin<Box<dyn Future<Output = Result<usize, Cancelled>> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return Ok(stack_position());
        }
        let out = CancelScope::new().run(nested_scopes(depth - 1)).await?;
        Ok(out.expect("nothing cancels the scopes"))
    })
}

/// Runs `body` on a thread with a 2 MiB stack, on each backend and flavour, and reports the
/// stack used per level.
fn on_a_small_stack(what: &str, body: fn(usize) -> Level) {
    for backend in Backend::available() {
        for runner in [
            Runner::new(backend).current_thread(),
            Runner::new(backend).worker_threads(2),
        ] {
            let label = format!("{what} on {runner:?}");
            let per_level = thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || {
                    let top = stack_position();
                    let measure = |levels| {
                        runner
                            .run(body(levels))
                            .expect("the runtime starts")
                            .expect("the levels complete")
                    };
                    // The difference between two depths cancels what the runtime's own
                    // frames cost.
                    let shallow = measure(10);
                    let deep = measure(LEVELS);
                    assert!(top > deep, "the stack grows down");
                    (shallow - deep) / (LEVELS - 10)
                })
                .expect("spawn a thread")
                .join()
                .unwrap_or_else(|_| panic!("{label} failed"));
            eprintln!("{label}: {per_level} bytes of stack per level");
        }
    }
}

#[test]
fn a_thousand_nested_task_groups_fit_a_2_mib_stack() {
    on_a_small_stack("task_group", nested_groups);
}

#[test]
fn a_thousand_nested_cancel_scopes_fit_a_2_mib_stack() {
    on_a_small_stack("CancelScope::run", |depth| {
        Box::pin(async move { Ok(nested_scopes(depth).await?) })
    });
}
