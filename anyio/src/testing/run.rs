//! One test run: fixtures, the test, teardowns, the timeout, in one run of one backend.
//!
//! The run's root opens the test's task group (the `task_group` fixture) and, inside it:
//!
//! 1. runs the test body (fixture setups, then the test) inside the test's cancel scope,
//!    catching a panic so that the teardowns still run;
//! 2. runs the teardowns, last set up first, in a shielded scope;
//! 3. cancels whatever the fixtures left running in the task group.
//!
//! The failure reported is the most telling one: a timeout, then a failed task of the
//! group, then the test's panic, then (for `#[anyio::test]`) the test's own `Err`, then a
//! failed teardown. Failures that are not reported (a teardown that failed after the test
//! panicked) are written to stderr, so none is lost.

use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::backend::Backend;
use crate::cancel::error::{BoxError, Cancelled};
use crate::cancel::scope::CancelScope;
use crate::runner::{RunError, Runner};
use crate::sync::event::Event;
use crate::task::error::TaskGroupError;
use crate::task::group::{TaskGroup, task_group};

use super::TestOutput;
use super::fixture::{FixtureContext, TeardownFailure};
use super::timeout::{self, Verdict, Watchdog};
use super::unwind::{CatchUnwind, Panic, panic_message};

/// One run of a test with its fixtures, as `#[anyio::test]` makes for each backend: the
/// test's name (for messages), its runner, and its timeout.
///
/// Use it directly to run fixture-style setup and teardown outside the attribute, or to
/// check how a test fails ([`try_run`](TestRun::try_run)) from another test.
///
/// ```
/// use anyio::testing::{Fixture, TestRun};
/// use anyio::{Backend, Runner};
///
/// let out = TestRun::new("adds", Runner::new(Backend::Smol)).run(|fixtures| async move {
///     let two = fixtures.add_fixture("two", Fixture::new(2));
///     two + 2
/// });
/// assert_eq!(out, 4);
/// ```
#[derive(Debug)]
pub struct TestRun {
    name: String,
    runner: Runner,
    timeout: Option<Duration>,
}

impl TestRun {
    /// A run of the test `name` on `runner`, with the timeout of
    /// [`TIMEOUT_ENV`](super::TIMEOUT_ENV) if set.
    pub fn new(name: impl Into<String>, runner: Runner) -> Self {
        TestRun {
            name: name.into(),
            runner,
            timeout: None,
        }
    }

    /// Fails the test if it has not ended `timeout` after it started (fixture setups and
    /// teardowns included), measured in real time. Replaces the default of
    /// [`TIMEOUT_ENV`](super::TIMEOUT_ENV).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `body` as the test and returns its output; fails as a test does otherwise.
    ///
    /// # Panics
    ///
    /// With the test's own panic, resumed after the teardowns, or with the message of
    /// any other [`TestFailure`] (a timeout, a failed teardown...).
    pub fn run<F, Fut>(self, body: F) -> Fut::Output
    where
        F: FnOnce(FixtureContext) -> Fut,
        Fut: Future,
    {
        match self.try_run(body) {
            Ok(out) => out,
            Err(TestFailure::Panicked(panic)) => resume_unwind(panic),
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Runs `body` as the test: a fresh run on the runner, the body given the run's
    /// [`FixtureContext`], then the teardowns it kept, under the timeout if any.
    ///
    /// # Errors
    ///
    /// How the test failed, other than by returning an error of its own: see
    /// [`TestFailure`].
    pub fn try_run<F, Fut>(self, body: F) -> Result<Fut::Output, TestFailure>
    where
        F: FnOnce(FixtureContext) -> Fut,
        Fut: Future,
    {
        match self.run_to_end(body)? {
            (out, teardowns) if teardowns.is_empty() => Ok(out),
            (_, teardowns) => Err(TestFailure::Teardown(teardowns)),
        }
    }

    /// [`try_run`](Self::try_run), with the teardown failures apart from the test's output
    /// when the test itself ended.
    fn run_to_end<F, Fut>(self, body: F) -> Result<(Fut::Output, Vec<TeardownFailure>), TestFailure>
    where
        F: FnOnce(FixtureContext) -> Fut,
        Fut: Future,
    {
        let TestRun {
            name,
            runner,
            timeout,
        } = self;
        let backend = runner.backend();
        let timeout = timeout.or_else(timeout::default_timeout);
        let scope = CancelScope::new();
        let watchdog = timeout.map(|after| {
            let message = TestFailure::TimedOut {
                test: name.clone(),
                backend,
                after,
                ended: false,
            };
            Watchdog::start(after, scope.clone(), message.to_string())
        });
        let abandon = watchdog.as_ref().map(Watchdog::abandoned);
        let ran = runner.run(root(name.clone(), backend, scope, abandon, body));
        let verdict = watchdog.map_or(Verdict::InTime, Watchdog::finish);
        let ran = ran.map_err(|error| TestFailure::Start { backend, error })?;
        if verdict != Verdict::InTime {
            if let Some(ended) = ran {
                report_unreported(&ended.teardowns, None);
            }
            return Err(TestFailure::TimedOut {
                test: name,
                backend,
                after: timeout.unwrap_or_default(),
                ended: verdict == Verdict::TimedOut,
            });
        }
        let Some(ended) = ran else {
            unreachable!("a run is only abandoned after its timeout");
        };
        ended.verdict(&name, backend)
    }
}

/// What the run's root hands back: how the group, the test and the teardowns ended.
struct Ended<T> {
    /// The task group's own result (a failed task), or its panic.
    group: Result<Result<Option<()>, TaskGroupError<BoxError>>, Panic>,
    /// The test body's result inside its scope, or its panic (`None` if the group's
    /// body never got to run it).
    test: Option<Result<Result<Option<T>, Cancelled>, Panic>>,
    teardowns: Vec<TeardownFailure>,
}

impl<T> Ended<T> {
    /// The test's output and the teardowns' failures, or the failure that hides both.
    fn verdict(
        self,
        name: &str,
        backend: Backend,
    ) -> Result<(T, Vec<TeardownFailure>), TestFailure> {
        let Ended {
            group,
            test,
            teardowns,
        } = self;
        let failure = match group {
            Err(panic) => Some(TestFailure::Panicked(panic)),
            Ok(Err(error)) => Some(TestFailure::TaskFailed {
                test: name.to_owned(),
                backend,
                error,
            }),
            Ok(Ok(_)) => None,
        };
        let test = match (failure, test) {
            (Some(failure), _) => Err(failure),
            (None, Some(Err(panic))) => Err(TestFailure::Panicked(panic)),
            (None, Some(Ok(Ok(Some(out))))) => Ok(out),
            (None, _) => Err(TestFailure::Cancelled {
                test: name.to_owned(),
                backend,
            }),
        };
        match test {
            Ok(out) => Ok((out, teardowns)),
            Err(failure) => {
                report_unreported(&teardowns, Some(&failure));
                Err(failure)
            }
        }
    }
}

/// Writes to stderr the teardown failures that another failure hides.
fn report_unreported(teardowns: &[TeardownFailure], reported: Option<&TestFailure>) {
    for teardown in teardowns {
        match reported {
            Some(failure) => eprintln!("{teardown} (after the test failed: {failure})"),
            None => eprintln!("{teardown} (after the test timed out)"),
        }
    }
}

/// The run's root: the test's task group, the test in its scope, the teardowns. `None`
/// if the watchdog made it give up.
async fn root<F, Fut>(
    name: String,
    backend: Backend,
    scope: CancelScope,
    abandon: Option<std::sync::Arc<Event>>,
    body: F,
) -> Option<Ended<Fut::Output>>
where
    F: FnOnce(FixtureContext) -> Fut,
    Fut: Future,
{
    let mut test = None;
    let mut teardowns = Vec::new();
    let group = task_group(|group: TaskGroup| {
        let (test, teardowns) = (&mut test, &mut teardowns);
        async move {
            let fixtures = FixtureContext::new(name, backend, group.clone());
            let body = body(fixtures.clone());
            let ran = scope.run(async { Ok::<_, Cancelled>(body.await) });
            *test = Some(CatchUnwind::new(AssertUnwindSafe(ran)).await);
            let torn_down = CancelScope::new()
                .shielded(true)
                .run(async { Ok::<_, Cancelled>(fixtures.tear_down().await) })
                .await;
            *teardowns = torn_down.ok().flatten().unwrap_or_default();
            group.cancel_scope().cancel();
            Ok(())
        }
    });
    let group = CatchUnwind::new(AssertUnwindSafe(group));
    let group = match abandon {
        None => group.await,
        Some(abandon) => until(group, &abandon).await?,
    };
    Some(Ended {
        group,
        test,
        teardowns,
    })
}

/// `fut`'s output, or `None` once `abandon` is set (dropping `fut` where it is).
async fn until<F: Future>(fut: F, abandon: &Event) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut wait = pin!(abandon.wait());
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if wait.as_mut().poll(cx).is_ready() && abandon.is_set() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// How a test failed, other than by returning an error of its own (which is its output).
#[non_exhaustive]
pub enum TestFailure {
    /// The test, a fixture's setup, or a task of the test's group panicked. The payload,
    /// to resume the panic with.
    Panicked(Panic),
    /// The test had not ended when its timeout passed.
    TimedOut {
        /// The test's name.
        test: String,
        /// The backend it ran on.
        backend: Backend,
        /// Its timeout.
        after: Duration,
        /// Whether it ended within its grace period after being cancelled, or had to be
        /// abandoned (its remaining tasks dropped where they were).
        ended: bool,
    },
    /// A task of the test's task group (started by a fixture or the test) failed.
    TaskFailed {
        /// The test's name.
        test: String,
        /// The backend it ran on.
        backend: Backend,
        /// The failures of the group's tasks.
        error: TaskGroupError<BoxError>,
    },
    /// The test ended with a cancellation that nothing in it caught.
    Cancelled {
        /// The test's name.
        test: String,
        /// The backend it ran on.
        backend: Backend,
    },
    /// The test ended, and one or more fixtures' teardowns failed (in the order they ran).
    Teardown(Vec<TeardownFailure>),
    /// The backend's runtime could not start.
    Start {
        /// The backend.
        backend: Backend,
        /// Why it could not start.
        error: RunError,
    },
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestFailure::Panicked(panic) => write!(f, "panicked: {}", panic_message(&**panic)),
            TestFailure::TimedOut {
                test,
                backend,
                after,
                ended,
            } => {
                write!(
                    f,
                    "test `{test}` on {backend} timed out after {}",
                    timeout::display(*after)
                )?;
                if !ended {
                    write!(
                        f,
                        " and did not end within {} of being cancelled",
                        timeout::display(timeout::grace(*after))
                    )?;
                }
                Ok(())
            }
            TestFailure::TaskFailed {
                test,
                backend,
                error,
            } => write!(f, "test `{test}` on {backend}: {error}"),
            TestFailure::Cancelled { test, backend } => {
                write!(f, "test `{test}` on {backend} ended cancelled")
            }
            TestFailure::Teardown(failures) => {
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
            TestFailure::Start { backend, error } => {
                write!(f, "cannot start the {backend} runtime: {error}")
            }
        }
    }
}

impl fmt::Debug for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestFailure({self})")
    }
}

impl Error for TestFailure {}

/// Runs `test` on `runner` as `#[anyio::test]` does, unless [`BACKENDS_ENV`] leaves the
/// backend out.
///
/// [`BACKENDS_ENV`]: super::BACKENDS_ENV
#[doc(hidden)]
pub fn run_test<F, Fut>(
    runner: Runner,
    name: &str,
    timeout: Option<Duration>,
    test: F,
) -> Fut::Output
where
    F: FnOnce(FixtureContext) -> Fut,
    Fut: Future,
    Fut::Output: TestOutput,
{
    let backend = runner.backend();
    if super::skipped(backend) {
        return Fut::Output::skipped();
    }
    let mut run = TestRun::new(name, runner);
    if let Some(timeout) = timeout {
        run = run.timeout(timeout);
    }
    match run.run_to_end(test) {
        Ok((out, teardowns)) if teardowns.is_empty() => out,
        // The test's own error is the one to report; the teardowns' go to stderr.
        Ok((out, teardowns)) if out.is_failure() => {
            for teardown in &teardowns {
                eprintln!("{teardown} (after the test returned an error)");
            }
            out
        }
        Ok((_, teardowns)) => panic!("{}", TestFailure::Teardown(teardowns)),
        Err(TestFailure::Panicked(panic)) => resume_unwind(panic),
        Err(failure) => panic!("{failure}"),
    }
}

/// Runs a synchronous test that takes its backend, unless [`BACKENDS_ENV`] leaves the
/// backend out.
///
/// [`BACKENDS_ENV`]: super::BACKENDS_ENV
#[doc(hidden)]
pub fn run_sync_test<T: TestOutput>(backend: Backend, test: impl FnOnce(Backend) -> T) -> T {
    if super::skipped(backend) {
        return T::skipped();
    }
    test(backend)
}
