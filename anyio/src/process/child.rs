//! [`Process`]: a running child, its exit, its signals and its pipes.
//!
//! # Waiting for the exit
//!
//! On Linux 5.3 and later the child's exit is a readiness event: a *pidfd*
//! (`pidfd_open`) becomes readable when the child exits, and is registered with the
//! backend's reactor like a socket; then a non-blocking `waitpid` reaps it. No thread, no
//! `SIGCHLD` handler, nothing that could steal another library's children. Where pidfds
//! do not exist (an older kernel, another Unix), a thread of the backend's blocking pool
//! waits for the exit with `waitid(WNOWAIT)` (which does not reap), then wakes the waiters;
//! the reaping is the same non-blocking `waitpid`.
//!
//! Only this module reaps its children, and only under the lock of the `Process`, so a
//! signal is never sent to a pid after it was reaped (when the OS may have reused it).

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use super::command::{Command, Stdio};
use super::error::spawn_error;
use super::pipe::{ChildStderr, ChildStdin, ChildStdout, Pipe};
use crate::backend::Runtime;
use crate::backend::io::{Direction, FdReadiness};
use crate::cancel::checkpoint::OpWait;
use crate::cancel::error::is_cancelled;
use crate::cancel::scope::CancelScope;
use crate::context::current_runtime;
use crate::runner::NoRuntime;
use crate::signal::Signal;
use crate::sync::event::Event;

/// A child process started by [`open_process`](super::open_process) or
/// [`Command::spawn`]: its pid, its exit status, signals, and its standard streams as byte
/// streams (those that were set to [`Stdio::piped`], all three by default).
///
/// Every method takes `&self`, so a process is shared between tasks with an `Arc` (one
/// task feeds stdin while another reads stdout and a third waits), or its streams are
/// taken out with [`take_stdout`](Self::take_stdout) and the others.
///
/// # Exit status
///
/// [`wait`](Self::wait) and [`returncode`](Self::returncode) give a
/// `std::process::ExitStatus`. A child killed by a signal has no exit code: `code()` is
/// `None` and `std::os::unix::process::ExitStatusExt::signal()` names the signal (AnyIO
/// gives a negative return code instead).
///
/// # Closing, cancellation and drop
///
/// [`aclose`](Self::aclose) closes the pipes and waits for the exit; if it is cancelled,
/// it kills the child with `SIGKILL` and waits for it, shielded. [`wait`](Self::wait)
/// alone is cancel safe and kills nothing, so a timeout around it can be followed by a
/// polite [`terminate`](Self::terminate).
///
/// Dropping a `Process` whose child is still running kills it with `SIGKILL` (a child
/// never outlives its owner unnoticed, as tasks cannot outlive their group) and reaps it:
/// at once if it is gone already, else on a short-lived thread of its own, so no zombie
/// is left and the drop never blocks.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    child: Mutex<Child>,
    exit: ExitWatch,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    /// Every pipe, also those taken out, for `aclose` to close.
    pipes: Vec<Arc<Pipe>>,
}

/// How the exit of the child is noticed; see the module docs.
#[derive(Debug)]
enum ExitWatch {
    /// A pidfd, readable once the child has exited.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Pidfd(OwnedFd),
    /// Set by a blocking-pool thread once the child has exited; the thread is started by
    /// the first wait.
    Thread(OnceLock<Arc<Event>>),
}

impl ExitWatch {
    fn new(pid: u32) -> ExitWatch {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Ok(fd) = pidfd_open(pid) {
            return ExitWatch::Pidfd(fd);
        }
        let _ = pid;
        ExitWatch::Thread(OnceLock::new())
    }
}

/// `pidfd_open(pid, 0)`: a descriptor for the process, close-on-exec.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Spawns `cmd` with the given standard streams, on the current runtime.
pub(crate) fn spawn(
    cmd: &Command,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
) -> io::Result<Process> {
    let runtime = current_runtime().ok_or_else(|| io::Error::other(NoRuntime))?;
    let mut child = cmd
        .to_std(&stdin, &stdout, &stderr)
        .and_then(|mut std_cmd| std_cmd.spawn())
        .map_err(|e| spawn_error(cmd, e))?;
    let pid = child.id();
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // From here on a failure drops the `Process`, which kills and reaps the child.
    let mut process = Process {
        pid,
        child: Mutex::new(child),
        exit: ExitWatch::new(pid),
        stdin: None,
        stdout: None,
        stderr: None,
        pipes: Vec::new(),
    };
    let mut pipe = |fd: OwnedFd, dir, stream: &str| {
        let pipe = Pipe::new(&runtime, fd, dir, format!("{stream} of process {pid}"))?;
        process.pipes.push(pipe.clone());
        Ok::<_, io::Error>(pipe)
    };
    let stdin = stdin
        .map(|p| pipe(p.into(), Direction::Write, "stdin"))
        .transpose()?;
    let stdout = stdout
        .map(|p| pipe(p.into(), Direction::Read, "stdout"))
        .transpose()?;
    let stderr = stderr
        .map(|p| pipe(p.into(), Direction::Read, "stderr"))
        .transpose()?;
    process.stdin = stdin.map(ChildStdin::new);
    process.stdout = stdout.map(ChildStdout::new);
    process.stderr = stderr.map(ChildStderr::new);
    Ok(process)
}

impl Process {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's standard input, if it is a pipe and was not taken.
    pub fn stdin(&self) -> Option<&ChildStdin> {
        self.stdin.as_ref()
    }

    /// The child's standard output, if it is a pipe and was not taken.
    pub fn stdout(&self) -> Option<&ChildStdout> {
        self.stdout.as_ref()
    }

    /// The child's standard error, if it is a pipe and was not taken.
    pub fn stderr(&self) -> Option<&ChildStderr> {
        self.stderr.as_ref()
    }

    /// Takes the child's standard input out, to own it (to move it into a task, or to use
    /// the `AsyncWrite` traits, which need `&mut`). [`aclose`](Self::aclose) still closes
    /// it.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the child's standard output out, as [`take_stdin`](Self::take_stdin).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the child's standard error out, as [`take_stdin`](Self::take_stdin).
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        // Nothing that can panic runs while the lock is held.
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reaps the child if it has exited (a non-blocking `waitpid`); the status is kept.
    fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        self.child().try_wait()
    }

    /// The child's exit status if it has exited (AnyIO's `returncode`), `None` while it
    /// runs. It does not wait: a child that has just exited is reaped here.
    ///
    /// `None` also when the status cannot be had (the OS refused `waitpid`); then
    /// [`wait`](Self::wait) returns the error.
    pub fn returncode(&self) -> Option<ExitStatus> {
        self.try_wait().ok().flatten()
    }

    /// Waits for the child to exit and returns its exit status; once it has exited, every
    /// call returns the same status at once. Any number of tasks may wait at the same
    /// time. It is a checkpoint.
    ///
    /// Waiting does not close the child's stdin: a child that reads its input until the
    /// end (`cat`) exits only once [`ChildStdin::aclose`] was called or the `Process` was
    /// closed.
    ///
    /// # Errors
    ///
    /// A cancellation; the OS error of `waitpid` or of registering the wait; `NoRuntime`
    /// outside a run.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled or dropped wait leaves the child running and changes
    /// nothing (use [`aclose`](Self::aclose) or [`kill`](Self::kill) to stop it).
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        match &self.exit {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ExitWatch::Pidfd(pidfd) => {
                let runtime = current_runtime().ok_or_else(|| io::Error::other(NoRuntime))?;
                let mut readiness = None;
                let mut op = OpWait::new();
                poll_fn(|cx| {
                    op.poll(cx, |cx| {
                        self.poll_pidfd(cx, &runtime, pidfd, &mut readiness)
                    })
                })
                .await
            }
            ExitWatch::Thread(event) => {
                crate::cancel::checkpoint::checkpoint_if_cancelled().await?;
                let event = event.get_or_init(|| self.watch_on_thread());
                loop {
                    if let Some(status) = self.try_wait()? {
                        return Ok(status);
                    }
                    event.wait().await?;
                }
            }
        }
    }

    /// One poll of a wait on the pidfd: reaped already, else the reactor (registered at
    /// the first poll that finds the child running).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn poll_pidfd(
        &self,
        cx: &mut Context<'_>,
        runtime: &Runtime,
        pidfd: &OwnedFd,
        readiness: &mut Option<FdReadiness>,
    ) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.try_wait()? {
            return Poll::Ready(Ok(status));
        }
        let readiness = match readiness {
            Some(r) => r,
            None => readiness.insert(FdReadiness::new(runtime, pidfd, Direction::Read)?),
        };
        match readiness.poll_ready(cx, Direction::Read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => match self.try_wait()? {
                Some(status) => Poll::Ready(Ok(status)),
                // Readable means exited, so `waitpid` finds it; should it lag, look again
                // at the next turn of the scheduler rather than wait for a wake-up that
                // already happened.
                None => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            },
        }
    }

    /// Starts the thread that notices the exit where there is no pidfd.
    fn watch_on_thread(&self) -> Arc<Event> {
        let event = Arc::new(Event::new());
        let set = event.clone();
        let pid = self.pid;
        let watch = move || {
            wait_no_reap(pid);
            set.set();
        };
        match current_runtime() {
            Some(runtime) => runtime.spawn_blocking(watch),
            None => watch(),
        }
        event
    }

    /// Sends `signal` to the child (AnyIO's `send_signal`). A child that has exited and
    /// been reaped gets nothing, and that is not an error: its pid may belong to another
    /// process by now.
    ///
    /// `SIGKILL` and `SIGSTOP` have no [`Signal`] value; [`kill`](Self::kill) sends the
    /// first.
    ///
    /// # Errors
    ///
    /// The OS error of `kill(2)` (`EPERM` for a child that changed its user, say).
    pub fn send_signal(&self, signal: Signal) -> io::Result<()> {
        self.signal_raw(signal.as_raw())
    }

    /// Asks the child to stop: `SIGTERM` (AnyIO's `terminate`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    pub fn terminate(&self) -> io::Result<()> {
        self.signal_raw(libc::SIGTERM)
    }

    /// Kills the child: `SIGKILL`, which it cannot catch (AnyIO's `kill`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    pub fn kill(&self) -> io::Result<()> {
        self.signal_raw(libc::SIGKILL)
    }

    fn signal_raw(&self, signal: libc::c_int) -> io::Result<()> {
        let mut child = self.child();
        // Reaped (now or before): nothing to signal. Holding the lock, nobody reaps it
        // between this check and the `kill`.
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.pid).map_err(io::Error::other)?;
        // SAFETY: `kill` takes numbers only; the pid is our unreaped child's.
        if unsafe { libc::kill(pid, signal) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Closes the pipes (all of them, also those taken out) and waits for the child to
    /// exit. Closing stdout and stderr means that a child still writing to them gets
    /// `EPIPE` (most programs then die of `SIGPIPE`), so this returns even when the child
    /// was blocked writing to a full pipe that nobody read.
    ///
    /// If the wait is cancelled, the child is killed with `SIGKILL` and waited for in a
    /// shielded scope (so it is reaped), and then the cancellation is returned.
    ///
    /// # Errors
    ///
    /// A cancellation (after the kill and the reaping), or an error of
    /// [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// The pipes are closed at the first poll. If the future is dropped while it waits
    /// (Rust's cancellation, not a cancel scope's), the child is not killed then, but when
    /// the `Process` is dropped.
    pub async fn aclose(&self) -> io::Result<()> {
        for pipe in &self.pipes {
            pipe.close();
        }
        match self.wait().await {
            Ok(_) => Ok(()),
            Err(err) if is_cancelled(&err) => {
                self.kill_and_reap().await;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    /// Kills the child and waits for it, shielded from every cancellation. An error
    /// (which would mean the OS refuses to reap it) is left to the drop, which tries again.
    pub(crate) async fn kill_and_reap(&self) {
        let _ = self.kill();
        let _ = CancelScope::new().shielded(true).run(self.wait()).await;
    }
}

impl crate::stream::AsyncResource for Process {
    fn aclose(&self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        Process::aclose(self)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let _ = child.kill();
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.pid;
        let reaper = std::thread::Builder::new()
            .name(format!("anyio-reap-{pid}"))
            .spawn(move || reap(pid));
        // Without a thread, wait here: the child got `SIGKILL`, so it is about to go.
        if reaper.is_err() {
            reap(pid);
        }
    }
}

/// Blocks until child `pid` has exited, and reaps it.
fn reap(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status = 0;
    // SAFETY: `waitpid` on our own child, writing its status to a local int.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// Blocks until child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`), so
/// that the `Process` reaps it under its lock.
fn wait_no_reap(pid: u32) {
    let id: libc::id_t = pid;
    loop {
        // SAFETY: a zeroed `siginfo_t` is a valid value for `waitid` to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `waitid` on our own child, writing to a local `siginfo_t`.
        let res =
            unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if res == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::testing::on_every_backend;

    /// A process whose exit is noticed by the blocking-pool thread, as where there are no
    /// pidfds.
    fn without_pidfd(cmd: &Command) -> io::Result<Process> {
        let mut process = spawn(cmd, Stdio::piped(), Stdio::piped(), Stdio::piped())?;
        process.exit = ExitWatch::Thread(OnceLock::new());
        Ok(process)
    }

    #[test]
    fn the_thread_watch_sees_an_exit() {
        on_every_backend(async || {
            let process = without_pidfd(Command::new("sh").args(["-c", "exit 5"]))?;
            assert_eq!(process.wait().await?.code(), Some(5));
            assert_eq!(process.wait().await?.code(), Some(5));
            Ok(())
        });
    }

    #[test]
    fn the_thread_watch_is_cancellable_and_sees_a_kill() {
        on_every_backend(async || {
            let process = without_pidfd(Command::new("sleep").arg("30"))?;
            let waited =
                crate::move_on_after(std::time::Duration::from_millis(20), process.wait()).await?;
            assert!(waited.is_none());
            assert_eq!(process.returncode(), None);
            process.kill()?;
            process.aclose().await?;
            assert_eq!(
                process.returncode().and_then(|s| s.signal()),
                Some(libc::SIGKILL)
            );
            Ok(())
        });
    }
}
