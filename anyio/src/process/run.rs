//! Running a program to completion: [`run_process`] and [`Command::run`].

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::process::Output;
use std::task::Poll;

use super::child::{Process, spawn};
use super::command::{Command, Stdio};
use super::error::CalledProcessError;
use super::pipe::{ChildStderr, ChildStdout};
use crate::cancel::checkpoint::checkpoint_if_cancelled;
use crate::resource::BrokenResourceError;

/// Runs a program to completion and returns its exit status and what it wrote to its
/// stdout and stderr (AnyIO's `run_process`). `cmd` is a [`Command`] or an argument
/// vector (`["cat", "-"]`, a `Vec` of strings): the program is executed directly, never
/// through a shell unless [`Command::shell`] asks for it.
///
/// Unless the command says otherwise, stdout and stderr are captured through pipes and
/// stdin is inherited (a pipe fed with [`Command::input`] if that is given). The pipes are
/// read concurrently with feeding the input, so a child writing much to both never blocks
/// on a full pipe. With [`check`](Command::check) on (the default), a status other than 0
/// is an error.
///
/// ```
/// # anyio::run(async {
/// use anyio::process::{Command, run_process};
/// let out = Command::new("tr").args(["a-z", "A-Z"]).input("hello").run().await?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"HELLO");
/// let out = run_process(["sh", "-c", "exit 3"].as_slice()).await;
/// assert!(out.is_err());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Cancellation
///
/// A cancelled caller starts nothing. If the call is cancelled while the program runs, the
/// program is killed with `SIGKILL` at once and reaped (in a shielded wait), and then the
/// call returns the cancellation; the output read so far is dropped. If the future is
/// dropped instead, the [`Process`] is dropped, which kills and reaps it as well.
///
/// # Errors
///
/// - [`CalledProcessError`] (kind `Other`) for a failed exit with `check` on;
/// - the OS error of starting the program, with the program (and the working directory)
///   in its message and its kind kept: `NotFound` for a missing program or directory,
///   `PermissionDenied`, `InvalidInput` for a NUL byte in an argument;
/// - `InvalidInput` with [`OnlyOneOfInputAndStdin`](super::OnlyOneOfInputAndStdin) when both
///   `input` and `stdin` were set, and for an empty argument vector;
/// - a cancellation; an I/O error of the pipes. A child that exits without reading all of
///   its input is not an error (its status tells how it went).
pub async fn run_process(cmd: impl Into<Command>) -> io::Result<Output> {
    cmd.into().run().await
}

/// Starts a program and returns the [`Process`] to talk to it (AnyIO's `open_process`).
/// `cmd` is as for [`run_process`]; here stdin, stdout and stderr are all pipes unless the
/// command sets them otherwise. It is a checkpoint: a cancelled caller starts nothing.
///
/// ```
/// # anyio::run(async {
/// let process = anyio::process::open_process(["cat"]).await?;
/// let stdin = process.stdin().unwrap();
/// stdin.send(b"ping").await?;
/// stdin.aclose().await?;
/// assert_eq!(process.stdout().unwrap().receive(100).await?, b"ping");
/// assert!(process.wait().await?.success());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// As for starting the program in [`run_process`], and a cancellation.
pub async fn open_process(cmd: impl Into<Command>) -> io::Result<Process> {
    checkpoint_if_cancelled().await?;
    cmd.into().spawn()
}

impl Command {
    /// Starts the program and returns the [`Process`] to talk to it; see
    /// [`open_process`]. Unlike that function this is not a checkpoint (it does not
    /// wait), as `std::process::Command::spawn`; it needs a running anyio run or a
    /// runtime that anyio detects.
    ///
    /// # Errors
    ///
    /// As [`open_process`], without the cancellation; `NoRuntime` outside a run.
    pub fn spawn(&self) -> io::Result<Process> {
        let or_piped = |s: &Option<Stdio>| s.clone().unwrap_or_else(Stdio::piped);
        spawn(
            self,
            or_piped(&self.stdin),
            or_piped(&self.stdout),
            or_piped(&self.stderr),
        )
    }

    /// Runs the program to completion; see [`run_process`].
    ///
    /// # Errors
    ///
    /// As [`run_process`].
    ///
    /// # Cancel safety
    ///
    /// Cancelling it kills the program (see [`run_process`]); nothing is left running.
    pub async fn run(&self) -> io::Result<Output> {
        let stdin = self.run_stdin()?;
        checkpoint_if_cancelled().await?;
        let or_piped = |s: &Option<Stdio>| s.clone().unwrap_or_else(Stdio::piped);
        let process = spawn(self, stdin, or_piped(&self.stdout), or_piped(&self.stderr))?;
        let output = match communicate(&process, self.input.as_deref()).await {
            Ok(output) => output,
            Err(err) => {
                process.kill_and_reap().await;
                return Err(err);
            }
        };
        if self.check && !output.status.success() {
            return Err(CalledProcessError::new(self.describe(), output).into());
        }
        Ok(output)
    }
}

/// Feeds `input` to the child, reads its stdout and stderr to their ends, all at once,
/// then waits for its exit.
async fn communicate(process: &Process, input: Option<&[u8]>) -> io::Result<Output> {
    let feed = async {
        let Some(stdin) = process.stdin() else {
            return Ok(());
        };
        let sent = stdin.send(input.unwrap_or_default()).await;
        stdin.aclose().await?;
        match sent {
            // The child closed its stdin before reading everything: its choice.
            Err(e) if e.get_ref().is_some_and(|e| e.is::<BrokenResourceError>()) => Ok(()),
            other => other,
        }
    };
    let (stdout, stderr) = (process.stdout(), process.stderr());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    try_join3(
        feed,
        drain(stdout.map(ChildStdout::pipe), &mut out),
        drain(stderr.map(ChildStderr::pipe), &mut err),
    )
    .await?;
    let status = process.wait().await?;
    Ok(Output {
        status,
        stdout: out,
        stderr: err,
    })
}

/// Reads `pipe` (if any) to its end into `out`.
async fn drain(pipe: Option<&super::pipe::Pipe>, out: &mut Vec<u8>) -> io::Result<()> {
    match pipe {
        Some(pipe) => pipe.read_to_end(out).await,
        None => Ok(()),
    }
}

/// Polls three fallible futures together until all succeed or one fails; the first error
/// is returned and the other futures are dropped.
async fn try_join3(
    a: impl Future<Output = io::Result<()>> + Send,
    b: impl Future<Output = io::Result<()>> + Send,
    c: impl Future<Output = io::Result<()>> + Send,
) -> io::Result<()> {
    type Part<'a> = Pin<&'a mut (dyn Future<Output = io::Result<()>> + Send)>;
    let mut parts: [(Part<'_>, bool); 3] = [(pin!(a), false), (pin!(b), false), (pin!(c), false)];
    poll_fn(|cx| {
        for (part, done) in &mut parts {
            if !*done {
                if let Poll::Ready(res) = part.as_mut().poll(cx) {
                    res?;
                    *done = true;
                }
            }
        }
        if parts.iter().all(|(_, done)| *done) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}
