//! The errors of running a program: one that could not be started ([`spawn_error`]) and
//! one that exited with a failure ([`CalledProcessError`]).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Output};

use super::command::Command;

/// A program could not be started: the message names the program (and the working
/// directory, if one was set), the source is the OS error.
#[derive(Debug)]
struct SpawnError {
    program: String,
    cwd: Option<PathBuf>,
    source: io::Error,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot run {}", self.program)?;
        if let Some(cwd) = &self.cwd {
            write!(f, " in directory {cwd:?}")?;
        }
        write!(f, ": {}", self.source)
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The error for `cmd` failing to start with `err`: same kind, a message naming the
/// program (and the directory). Errors that already name it (an empty command) pass.
pub(crate) fn spawn_error(cmd: &Command, err: io::Error) -> io::Error {
    let Some(program) = cmd.get_program() else {
        return err;
    };
    let kind = err.kind();
    io::Error::new(
        kind,
        SpawnError {
            program: format!("{program:?}"),
            cwd: cmd.cwd().map(ToOwned::to_owned),
            source: err,
        },
    )
}

/// A program run with [`check`](super::Command::check) on (the default) did not exit
/// with status 0 (AnyIO's and Python's `CalledProcessError`). It carries the exit status
/// and everything captured, and is the inner error of the `io::Error` that
/// [`run_process`](super::run_process) returns (kind `Other`):
///
/// ```
/// # anyio::run(async {
/// use anyio::process::{CalledProcessError, run_process};
/// let err = run_process(["sh", "-c", "echo oops >&2; exit 3"]).await.unwrap_err();
/// let failed = CalledProcessError::from_io(&err).unwrap();
/// assert_eq!(failed.status().code(), Some(3));
/// assert_eq!(failed.stderr(), b"oops\n");
/// assert_eq!(err.to_string(), r#"command "sh" "-c" "echo oops >&2; exit 3" failed: exit status: 3"#);
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct CalledProcessError {
    command: String,
    output: Output,
}

impl CalledProcessError {
    pub(crate) fn new(command: String, output: Output) -> Self {
        CalledProcessError { command, output }
    }

    /// The `CalledProcessError` inside `err`, if it is one.
    pub fn from_io(err: &io::Error) -> Option<&CalledProcessError> {
        err.get_ref()?.downcast_ref()
    }

    /// The program and its arguments, each quoted, as the message shows them.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// How the program ended: an exit code, or (`code()` being `None`) a signal.
    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    /// What the program wrote to its stdout, if it was captured (empty otherwise).
    pub fn stdout(&self) -> &[u8] {
        &self.output.stdout
    }

    /// What the program wrote to its stderr, if it was captured (empty otherwise).
    pub fn stderr(&self) -> &[u8] {
        &self.output.stderr
    }

    /// The status and the captured output.
    pub fn into_output(self) -> Output {
        self.output
    }
}

impl fmt::Display for CalledProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command {} failed: {}", self.command, self.output.status)
    }
}

impl std::error::Error for CalledProcessError {}

impl From<CalledProcessError> for io::Error {
    fn from(err: CalledProcessError) -> io::Error {
        io::Error::other(err)
    }
}
