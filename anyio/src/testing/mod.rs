//! Running tests on every backend, with async fixtures, timeouts and free ports.
//!
//! `#[anyio::test]` turns one async test into one `#[test]` per backend (see the
//! [crate docs](crate#testing) and `docs/testing.md`). The environment variable
//! `ANYIO_BACKENDS` restricts a whole test run to some backends, like AnyIO's
//! `--anyio-backends`: `ANYIO_BACKENDS=smol cargo test` runs only the smol variants (the
//! others pass without running, and say so on stderr). [`on_each_backend`] does the same
//! for code that is not a `#[test]` of its own, such as a proptest property.
//!
//! The rest is AnyIO's pytest plugin, made for Rust:
//!
//! - async fixtures: `#[anyio::fixture]` functions, asked for by a test's parameters, set
//!   up in the test's run and torn down after it ([`Fixture`], [`FixtureContext`]);
//! - a per-test timeout in real time (`#[anyio::test(timeout = "10s")]`, or
//!   [`TIMEOUT_ENV`] for every test), and [`TestRun`], which runs one test the way the
//!   attribute does;
//! - free ports: [`free_tcp_port`], [`free_udp_port`] and [`FreePortFactory`].

mod fixture;
mod ports;
mod run;
mod timeout;
mod unwind;

use std::future::Future;

use crate::backend::Backend;
use crate::runner::Runner;

#[doc(hidden)]
pub use fixture::finish_setup;
pub use fixture::{Fixture, FixtureContext, TeardownFailure};
pub use ports::{FreePortFactory, PortKind, free_tcp_port, free_udp_port};
pub use run::{TestFailure, TestRun};
#[doc(hidden)]
pub use run::{run_sync_test, run_test};
pub use timeout::{TIMEOUT_ENV, default_timeout};

/// The environment variable that restricts which backends tests run on: a comma-separated
/// list of backend names. Unset or empty means every enabled backend.
pub const BACKENDS_ENV: &str = "ANYIO_BACKENDS";

/// The backends tests should run on: the enabled ones, restricted by [`BACKENDS_ENV`].
///
/// # Panics
///
/// If the variable names a backend that does not exist (the message lists the available
/// ones): a misspelt restriction must not silently run nothing.
pub fn selected_backends() -> Vec<Backend> {
    let enabled = Backend::available();
    let Ok(list) = std::env::var(BACKENDS_ENV) else {
        return enabled;
    };
    if list.trim().is_empty() {
        return enabled;
    }
    let wanted: Vec<Backend> = list
        .split(',')
        .map(|name| {
            name.trim()
                .parse::<Backend>()
                .unwrap_or_else(|e| panic!("{BACKENDS_ENV}: {e}"))
        })
        .collect();
    enabled.into_iter().filter(|b| wanted.contains(b)).collect()
}

/// Runs an async body once on each selected backend (see [`selected_backends`]), each in a
/// fresh run, and returns the first error. This is how a property test checks async code
/// on every backend:
///
/// ```
/// use proptest::prelude::*;
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(8))]
///     // In a test file this function would carry `#[test]`.
///     fn sleeping_keeps_order(delays in proptest::collection::vec(0u64..3, 1..4)) {
///         anyio::testing::on_each_backend(|_backend| {
///             let delays = delays.clone();
///             async move {
///                 for d in delays {
///                     anyio::sleep(std::time::Duration::from_millis(d)).await.unwrap();
///                 }
///                 prop_assert!(anyio::get_current_task().is_some());
///                 Ok(())
///             }
///         })?;
///     }
/// }
/// # sleeping_keeps_order();
/// ```
///
/// # Panics
///
/// If a runtime cannot start, or if the body panics.
pub fn on_each_backend<F, Fut, E>(mut body: F) -> Result<(), E>
where
    F: FnMut(Backend) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    for backend in selected_backends() {
        Runner::new(backend)
            .run(body(backend))
            .unwrap_or_else(|e| panic!("cannot start the {backend} runtime: {e}"))?;
    }
    Ok(())
}

/// What a test returns: what it returns when its backend is left out by
/// [`BACKENDS_ENV`], and whether it failed.
#[doc(hidden)]
pub trait TestOutput {
    fn skipped() -> Self;
    fn is_failure(&self) -> bool;
}

impl TestOutput for () {
    fn skipped() -> Self {}

    fn is_failure(&self) -> bool {
        false
    }
}

impl<E> TestOutput for Result<(), E> {
    fn skipped() -> Self {
        Ok(())
    }

    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// Whether [`BACKENDS_ENV`] leaves `backend` out, which it then says on stderr.
fn skipped(backend: Backend) -> bool {
    let skipped = !selected_backends().contains(&backend);
    if skipped {
        eprintln!("skipped on {backend}: not in {BACKENDS_ENV}");
    }
    skipped
}

/// Panics, with what the test expects, if [`BACKENDS_ENV`] leaves `backend` out: a
/// `#[should_panic]` test that is skipped passes only by panicking.
#[doc(hidden)]
pub fn panic_if_skipped(backend: Backend, expected: &str) {
    if skipped(backend) {
        panic!("skipped on {backend}: not in {BACKENDS_ENV} (a #[should_panic] test: {expected})");
    }
}

/// The body of the `main` that `#[anyio::main]` generates.
#[doc(hidden)]
pub fn run_main<F: Future>(runner: Runner, fut: F) -> F::Output {
    let backend = runner.backend();
    runner
        .run(fut)
        .unwrap_or_else(|e| panic!("cannot start the {backend} runtime: {e}"))
}

/// For the crate's unit tests: runs `test` in a fresh run on every enabled backend and
/// fails on its first error.
#[cfg(test)]
pub(crate) fn on_every_backend(test: impl AsyncFn() -> std::io::Result<()>) {
    for backend in Backend::available() {
        Runner::new(backend)
            .run(test())
            .expect("the runtime starts")
            .expect("the test passes");
    }
}

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/testing.md")]
struct TestingGuide;
