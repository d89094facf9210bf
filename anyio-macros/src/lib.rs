//! The `#[anyio::main]`, `#[anyio::test]` and `#[anyio::fixture]` attributes.
//!
//! This crate is an implementation detail of `anyio`, which re-exports its
//! attributes as `anyio::main`, `anyio::test` and `anyio::fixture`; use them
//! from there.
//!
//! * [`macro@main`] turns `async fn main()` into a normal `fn main()` that
//!   builds an `anyio::Runner` (the default backend, or the one chosen with
//!   `backend = "tokio"` / `backend = "smol"`, with optional
//!   `worker_threads = N` or `current_thread`) and runs the body on it.
//! * [`macro@test`] turns one `async fn` into one `#[test]` per backend,
//!   named `<function>::tokio` and `<function>::smol`, so that the same test
//!   runs on both runtimes and `cargo test smol` selects one backend. Its
//!   arguments choose the backends and their runtime options:
//!   `#[anyio::test(tokio(current_thread), smol(worker_threads = 2))]`.
//!   Its parameters are fixtures, set up in the test's run before it.
//! * [`macro@fixture`] makes an `async fn` a fixture that tests ask for by
//!   naming it as a parameter.
//!
//! The generated code refers only to `::anyio::Runner`, `::anyio::Backend` and
//! the `::anyio::__private` module, so the crate that uses the attributes
//! needs `anyio` as a dependency under that name.

mod args;
mod fixture_attr;
mod function;
mod main_attr;
mod params;
mod test_attr;

use proc_macro::TokenStream;

/// Runs `async fn main` on an anyio runtime.
///
/// ```ignore
/// #[anyio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let text = read_config().await?;
///     println!("{text}");
///     Ok(())
/// }
/// ```
///
/// becomes a plain `fn main() -> Result<(), Box<dyn std::error::Error>>`
/// that keeps the function's attributes and visibility and runs the body,
/// unchanged, with `::anyio::Runner::default()`. The body is compiled as an
/// `async fn` of its own with the same return type, so `?` and `return` work
/// as written.
///
/// # Arguments
///
/// Comma separated, in any order, each at most once:
///
/// | argument | effect |
/// | --- | --- |
/// | `backend = "tokio"` | `Runner::new(Backend::Tokio)` instead of the default runner |
/// | `backend = "smol"` | `Runner::new(Backend::Smol)` instead of the default runner |
/// | `worker_threads = N` | `.worker_threads(N)`; `N` is an integer literal of at least 1 |
/// | `current_thread` | `.current_thread()`; cannot be combined with `worker_threads` |
/// | `tokio_compat` | `.tokio_compat(true)`: tokio-native code inside a smol run (needs anyio's `tokio-compat` feature) |
///
/// ```ignore
/// #[anyio::main(backend = "smol", worker_threads = 2)]
/// async fn main() {}
/// ```
///
/// # Errors
///
/// Compilation fails, pointing at the offending tokens, when the function is
/// not `async`, has parameters or generic parameters, is `const`, `unsafe` or
/// `extern`, or when an argument is unknown, repeated or malformed.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(attr.into(), item.into()).into()
}

/// Runs an `async fn` as a test on every anyio backend.
///
/// ```ignore
/// use std::error::Error;
///
/// #[anyio::test]
/// async fn sleeps() -> Result<(), Box<dyn Error>> {
///     anyio::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// keeps `async fn sleeps` as written and adds a private module `sleeps`
/// holding one `#[test]` per backend compiled into anyio: `sleeps::tokio` and
/// `sleeps::smol`. Each builds its runner and calls
/// `::anyio::__private::run_test` with the function, returning what it
/// returns (the function's return type, if any, is the tests'). The module
/// imports everything from its parent with `use super::*`, so the return type
/// may use the parent's imports.
///
/// The function's other attributes are kept: doc comments, lint levels and
/// any other attribute stay on the function and are copied onto every
/// generated test; `#[should_panic]` and `#[ignore]` move to the tests;
/// `#[cfg(...)]` also goes on the module; `#[expect(...)]` stays on the
/// function only.
///
/// # Arguments
///
/// Without arguments a test is generated for both backends with their default
/// options. Otherwise the arguments list the backends to test, each at most
/// once and optionally with runtime options in parentheses, and optionally a
/// timeout:
///
/// ```ignore
/// #[anyio::test(tokio)]                       // tokio only
/// #[anyio::test(tokio, smol)]                 // both, default options
/// #[anyio::test(tokio(current_thread), smol(worker_threads = 2))]
/// #[anyio::test(timeout = "10s")]             // both, failing after 10 s
/// ```
///
/// The options are `worker_threads = N` (an integer literal of at least 1)
/// and `current_thread`, which cannot be combined, and `tokio_compat`
/// (`Runner::tokio_compat(true)`, with anyio's `tokio-compat` feature). `timeout` is a string of a
/// whole number and a unit, `ms` or `s`; it replaces the default timeout of
/// the environment variable `ANYIO_TEST_TIMEOUT`. A test that has not ended
/// then is cancelled and fails with "test `name` on smol timed out after 10s".
///
/// # Parameters: fixtures
///
/// Each parameter is set up, in order, inside the test's run before the test
/// starts, and picked by its name: `backend` is the `anyio::Backend` the test
/// runs on, `task_group` the test's `anyio::TaskGroup`, and any other name the
/// [`macro@fixture`] function of that name (which must be in scope);
/// `#[from(path::to::fixture)] name: T` names the fixture explicitly, and a
/// leading underscore is not part of the name (`_server` asks for `server`). The
/// fixtures' teardowns run after the test, in reverse order, whatever its
/// outcome. A test that is not `async` may take `backend` only, and then runs
/// once per backend without a runtime.
///
/// # rstest
///
/// With rstest's `#[rstest]` on the same function (above or below this
/// attribute), rstest expands first and this attribute applies to each case:
/// `#[case]` parameters (and rstest's other parameters) are rstest's, and the
/// tests are named `<function>::case_1_…::tokio`.
///
/// The flag `virtual_clock`, beside the backends or alone, runs every
/// generated test on a virtual clock that jumps to the next deadline as soon
/// as every task is blocked (`anyio::VirtualClock` with an autojump threshold
/// of 0), so timeouts and sleeps take no real time:
///
/// ```ignore
/// #[anyio::test(virtual_clock)]               // both backends, virtual time
/// #[anyio::test(virtual_clock, smol(current_thread))]
/// ```
///
/// # Errors
///
/// Compilation fails, pointing at the offending tokens, when the function is
/// not `async` (and takes no `backend`), has generic parameters, a `self`
/// parameter or a parameter that is not a plain name, is `const`, `unsafe` or
/// `extern`, already carries `#[test]`, or when a backend is unknown or listed
/// twice, or an option or the timeout is unknown, repeated, malformed or
/// conflicting.
///
/// The generated module takes the function's name, so it must not clash with
/// another module or type of that name in the same scope, and the return type
/// is written inside that module: a return type that starts with `super::` or
/// `self::` means something else there.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(attr.into(), item.into()).into()
}

/// Makes an `async fn` a fixture: a value set up for a test, in the test's
/// own run, and torn down after it.
///
/// ```ignore
/// use anyio::testing::Fixture;
///
/// #[anyio::fixture]
/// async fn port() -> std::io::Result<u16> {
///     anyio::testing::free_tcp_port()
/// }
///
/// #[anyio::fixture]
/// async fn server(port: u16, task_group: anyio::TaskGroup) -> Result<Fixture<Server>, BoxError> {
///     let server = Server::start(port, &task_group).await?;
///     let handle = server.handle();
///     Ok(Fixture::new(server).teardown(async move { handle.shutdown().await }))
/// }
///
/// #[anyio::test]
/// async fn answers(server: Server) { /* ... */ }
/// ```
///
/// The function is kept as written, so it can still be called; next to it
/// comes a hidden struct of the same name (in the type namespace only) through
/// which tests set the fixture up, so importing the function imports the
/// fixture. A fixture's parameters are fixtures too, as a test's are (see
/// [`macro@test`]); each test gets its own instance of every fixture it names,
/// and a fixture named twice (by the test and by another fixture) is made twice,
/// unless it is `#[anyio::fixture(shared)]`: then it is made once per test, and
/// every later use gets a clone of that instance (the value must be
/// `Clone + Send + 'static`).
///
/// The return type says what the function gives: `Fixture<T>` is a value of
/// type `T` with an async teardown (`anyio::testing::Fixture`),
/// `Result<X, E>` (any path whose last segment is `Result`) a setup that may
/// fail with an `E: Into<BoxError>`, failing the test with "fixture `name`
/// failed: ...", and any other type the value itself.
///
/// # Errors
///
/// Compilation fails, pointing at the offending tokens, when the function is
/// not `async`, is generic, `const`, `unsafe` or `extern`, takes `self` or a
/// parameter that is not a plain name, or when the attribute has an argument
/// other than `shared`.
#[proc_macro_attribute]
pub fn fixture(attr: TokenStream, item: TokenStream) -> TokenStream {
    fixture_attr::expand(attr.into(), item.into()).into()
}
