//! Async fixtures: a value made for one test, and the async teardown that runs after it.
//!
//! A fixture is set up inside the test's own run, on the test's backend, before the test
//! starts. Its teardown is a future that the setup builds, so it can use whatever the setup
//! kept (a cancel scope, a server handle, a temporary path): it runs after the test, in the
//! same run. The rules the harness keeps, and that the tests pin down:
//!
//! - teardowns run in the reverse order of the setups, so a fixture is torn down before the
//!   fixtures it was built from;
//! - every teardown runs whether the test passed, returned an error, panicked or timed out,
//!   and runs shielded from the test's cancellation;
//! - the test's own values are dropped before the teardowns start (a test takes its
//!   fixtures by value), so a teardown that waits for a connection to close is not waiting
//!   for the test to let go of it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::Backend;
use crate::cancel::error::BoxError;
use crate::task::group::TaskGroup;

use super::unwind::{CatchUnwind, panic_message};

/// A teardown future, as kept until the test ends.
type Teardown = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// What a fixture function returns when its value needs an async teardown: the value for
/// the test, and the future to run after the test.
///
/// A fixture that needs no teardown returns its value directly; `Fixture` is for the
/// generator-style fixtures of AnyIO (set up, yield the value, tear down):
///
/// ```
/// use anyio::testing::Fixture;
/// use anyio::{BoxError, CancelScope, TaskGroup};
///
/// /// A background ticker, stopped after the test.
/// #[anyio::fixture]
/// async fn ticker(task_group: TaskGroup) -> Result<Fixture<anyio::Event>, BoxError> {
///     let started = anyio::Event::new();
///     let scope = CancelScope::new();
///     let inner = scope.clone();
///     task_group.start_soon(async move {
///         inner.run(anyio::sleep_forever()).await?;
///         Ok(())
///     })?;
///     // The teardown uses the scope the setup made.
///     Ok(Fixture::new(started).teardown(async move {
///         scope.cancel();
///         Ok(())
///     }))
/// }
/// # fn main() {}
/// ```
#[must_use = "a fixture does nothing until a test uses it"]
pub struct Fixture<T> {
    value: T,
    teardown: Option<Teardown>,
}

impl<T> Fixture<T> {
    /// A fixture of `value`, without teardown.
    pub fn new(value: T) -> Self {
        Fixture {
            value,
            teardown: None,
        }
    }

    /// Sets the future that tears the fixture down after the test (replacing any earlier
    /// one). It is built now, so it can take ownership of what the setup kept; it runs
    /// after the test, in the test's run, shielded from the test's cancellation.
    ///
    /// An `Err` (or a panic) from the teardown fails the test, naming the fixture.
    pub fn teardown<F>(mut self, teardown: F) -> Self
    where
        F: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.teardown = Some(Box::pin(teardown));
        self
    }

    /// The value, dropping the teardown unrun.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The value and the teardown (a future that does nothing if there is none), for
    /// code that uses a fixture function outside a test and tears it down itself.
    pub fn into_parts(self) -> (T, impl Future<Output = Result<(), BoxError>> + Send) {
        let teardown = self.teardown;
        (self.value, async move {
            match teardown {
                Some(teardown) => teardown.await,
                None => Ok(()),
            }
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for Fixture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("value", &self.value)
            .field("has_teardown", &self.teardown.is_some())
            .finish()
    }
}

/// A fixture's teardown that failed: which fixture, and how.
#[derive(Debug)]
pub struct TeardownFailure {
    /// The fixture's name (its function's name).
    pub fixture: String,
    /// The teardown's error, or its panic message as an error.
    pub error: BoxError,
}

impl fmt::Display for TeardownFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "teardown of fixture `{}` failed: {}",
            self.fixture, self.error
        )
    }
}

/// The fixtures of one test run: what fixture setups receive, where their teardowns wait.
///
/// `#[anyio::test]` makes one per test (and per backend) and hands it to the fixture
/// setups it generates; [`TestRun::run`](super::TestRun::run) hands it to the test body
/// for code that sets fixtures up by hand. Cheap to clone; every clone is the same
/// context.
#[derive(Clone)]
pub struct FixtureContext {
    shared: Arc<Shared>,
}

struct Shared {
    test: String,
    backend: Backend,
    task_group: TaskGroup,
    teardowns: Mutex<Vec<(String, Teardown)>>,
    /// The instances of `shared` fixtures, by the type that stands for the fixture.
    instances: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
}

impl fmt::Debug for FixtureContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureContext")
            .field("test", &self.shared.test)
            .field("backend", &self.shared.backend)
            .field("teardowns", &self.lock().len())
            .finish()
    }
}

impl FixtureContext {
    pub(super) fn new(test: String, backend: Backend, task_group: TaskGroup) -> Self {
        FixtureContext {
            shared: Arc::new(Shared {
                test,
                backend,
                task_group,
                teardowns: Mutex::new(Vec::new()),
                instances: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The backend the test runs on (the `backend` parameter of a test or fixture).
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// The test's name, as in its failure messages.
    pub fn test_name(&self) -> &str {
        &self.shared.test
    }

    /// The test's task group (the `task_group` parameter of a test or fixture): open from
    /// before the first setup until after the last teardown, so a fixture can keep a
    /// server running around the test. Whatever still runs in it after the teardowns is
    /// cancelled; a task of it that fails fails the test.
    pub fn task_group(&self) -> TaskGroup {
        self.shared.task_group.clone()
    }

    /// Keeps `fixture`'s teardown, under the name `name`, to run after the test, and
    /// returns its value. Teardowns run in the reverse order of these calls.
    pub fn add_fixture<T>(&self, name: &str, fixture: Fixture<T>) -> T {
        if let Some(teardown) = fixture.teardown {
            self.lock().push((name.to_owned(), teardown));
        }
        fixture.value
    }

    /// A clone of the instance of the shared fixture `K` that this test already has.
    #[doc(hidden)]
    pub fn shared_instance<K: 'static, T: Clone + 'static>(&self) -> Option<T> {
        let instances = self
            .shared
            .instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        instances
            .get(&TypeId::of::<K>())
            .and_then(|instance| instance.downcast_ref::<T>())
            .cloned()
    }

    /// Keeps a clone of `value` as this test's instance of the shared fixture `K`.
    #[doc(hidden)]
    pub fn share_instance<K: 'static, T: Clone + Send + 'static>(&self, value: &T) {
        self.shared
            .instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(TypeId::of::<K>(), Box::new(value.clone()));
    }

    /// Runs every kept teardown, the last added first, each to its end even if an
    /// earlier one failed, and returns the failures in the order they happened.
    pub(super) async fn tear_down(&self) -> Vec<TeardownFailure> {
        let mut failures = Vec::new();
        loop {
            // The lock is released before the teardown runs: a teardown that adds a
            // fixture of its own must not deadlock (that fixture is torn down next).
            let next = self.lock().pop();
            let Some((fixture, teardown)) = next else {
                return failures;
            };
            let error = match CatchUnwind::new(AssertUnwindSafe(teardown)).await {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error,
                Err(panic) => format!("panicked: {}", panic_message(&*panic)).into(),
            };
            failures.push(TeardownFailure { fixture, error });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Teardown)>> {
        self.shared
            .teardowns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends the setup of the fixture `name` for the code `#[anyio::fixture]` generates: keeps
/// its teardown and returns its value, or fails the test, naming the fixture.
#[doc(hidden)]
pub fn finish_setup<T, E>(context: &FixtureContext, name: &str, setup: Result<Fixture<T>, E>) -> T
where
    E: Into<BoxError>,
{
    match setup {
        Ok(fixture) => context.add_fixture(name, fixture),
        Err(error) => panic!("fixture `{name}` failed: {}", error.into()),
    }
}

/// Misuse of the attributes is a compile error (the messages are checked by the unit tests
/// of `anyio-macros`); each of these fails to compile.
///
/// A fixture that is not `async`:
///
/// ```compile_fail
/// #[anyio::fixture]
/// fn port() -> u16 {
///     8080
/// }
/// ```
///
/// A parameter that is not a plain name:
///
/// ```compile_fail
/// #[anyio::fixture]
/// async fn pair() -> (u8, u8) {
///     (1, 2)
/// }
///
/// #[anyio::test]
/// async fn t((a, b): (u8, u8)) {}
/// ```
///
/// A synchronous test that asks for a fixture, and a timeout without a unit:
///
/// ```compile_fail
/// #[anyio::fixture]
/// async fn port() -> u16 {
///     8080
/// }
///
/// #[anyio::test]
/// fn t(port: u16) {}
/// ```
///
/// ```compile_fail
/// #[anyio::test(timeout = "10")]
/// async fn t() {}
/// ```
///
/// `self`:
///
/// ```compile_fail
/// struct S;
/// impl S {
///     #[anyio::fixture]
///     async fn value(&self) -> u8 {
///         1
///     }
/// }
/// ```
#[cfg(doctest)]
struct MisuseIsACompileError;
