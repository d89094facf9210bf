//! [`Command`]: what to run and how, built like `std::process::Command`, plus AnyIO's
//! options (`input`, `check`, `start_new_session`, `pass_fds`, `umask`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a child's standard stream goes: a pipe to this process, this process's own
/// stream, `/dev/null`, or a file or descriptor of the caller's.
///
/// ```
/// use anyio::process::Stdio;
/// let to_file = Stdio::from(std::fs::File::create(std::env::temp_dir().join("out.log"))?);
/// let nothing = Stdio::null();
/// # let _ = (to_file, nothing);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Stdio(Kind);

#[derive(Clone, Debug)]
enum Kind {
    Piped,
    Inherit,
    Null,
    /// Shared, so a [`Command`] can be spawned again: each spawn gives the child a
    /// duplicate.
    Fd(Arc<OwnedFd>),
}

impl Stdio {
    /// A new pipe between the child and this process: the child's stream becomes one of
    /// [`Process`](super::Process)'s byte streams.
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }

    /// The child uses this process's own stream.
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// The child's stream is `/dev/null`: it reads nothing, what it writes is discarded.
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    fn to_std(&self) -> io::Result<std::process::Stdio> {
        Ok(match &self.0 {
            Kind::Piped => std::process::Stdio::piped(),
            Kind::Inherit => std::process::Stdio::inherit(),
            Kind::Null => std::process::Stdio::null(),
            Kind::Fd(fd) => std::process::Stdio::from(fd.try_clone()?),
        })
    }
}

/// The child reads from or writes to this descriptor (a file, a socket, a pipe end).
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(Arc::new(fd)))
    }
}

/// The child reads from or writes to this file.
impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio::from(OwnedFd::from(file))
    }
}

/// One change to the child's environment, applied in the order given.
#[derive(Clone, Debug)]
enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

/// A program to run and how to run it: the argument vector, its environment, directory and
/// standard streams, and the options of AnyIO's `run_process` and `open_process`.
///
/// Built as `std::process::Command` is (`&mut self` setters that chain), then run with
/// [`run`](Command::run) (to completion, output captured) or started with
/// [`spawn`](Command::spawn) (a [`Process`](super::Process) to talk to). A command is an
/// argument vector: the program is executed directly and no shell sees the arguments;
/// [`Command::shell`] runs a shell command line, an explicit choice. An array or vector of
/// strings converts into a command, whose first element is the program:
///
/// ```
/// # anyio::run(async {
/// use anyio::process::{Command, run_process};
/// let out = Command::new("echo").arg("hello").run().await?;
/// assert_eq!(out.stdout, b"hello\n");
/// let out = run_process(["printf", "%s-%s", "a", "b"]).await?;
/// assert_eq!(out.stdout, b"a-b");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// A command can be run several times; files and descriptors given as standard streams
/// or with [`pass_fd`](Command::pass_fd) are duplicated for each child.
#[derive(Clone, Debug)]
pub struct Command {
    /// `None` for an empty argument vector, which is an error when it is run.
    program: Option<OsString>,
    args: Vec<OsString>,
    env: Vec<EnvOp>,
    cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) input: Option<Arc<[u8]>>,
    pub(crate) check: bool,
    new_session: bool,
    process_group: Option<i32>,
    /// `(descriptor, number in the child)`.
    pass_fds: Vec<(Arc<OwnedFd>, RawFd)>,
    uid: Option<u32>,
    gid: Option<u32>,
    umask: Option<u32>,
}

impl Command {
    /// A command that runs `program` with no arguments. A `program` without a slash is
    /// searched in `PATH` (the child's, if [`env`](Self::env) changes it).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from_program(Some(program.as_ref().to_owned()))
    }

    /// A command that runs `command_line` through the shell, `/bin/sh -c command_line`:
    /// pipes, redirections and variables work, and quoting is the caller's job. This is
    /// the only way this module uses a shell.
    ///
    /// ```
    /// # anyio::run(async {
    /// let out = anyio::process::Command::shell("echo $((6 * 7)) | tr 4 X").run().await?;
    /// assert_eq!(out.stdout, b"X2\n");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn shell(command_line: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(command_line);
        cmd
    }

    fn from_program(program: Option<OsString>) -> Command {
        Command {
            program,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            input: None,
            check: true,
            new_session: false,
            process_group: None,
            pass_fds: Vec::new(),
            uid: None,
            gid: None,
            umask: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable of the child (the rest is inherited unless
    /// [`env_clear`](Self::env_clear) was called).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env.push(EnvOp::Set(
            key.as_ref().to_owned(),
            value.as_ref().to_owned(),
        ));
        self
    }

    /// Sets several environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.push(EnvOp::Remove(key.as_ref().to_owned()));
        self
    }

    /// Starts the child's environment empty: it has only the variables set after this call.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env.push(EnvOp::Clear);
        self
    }

    /// The child's working directory (AnyIO's `cwd`). A relative program path is
    /// resolved from it.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Where the child's standard input comes from. By default a pipe for
    /// [`spawn`](Self::spawn) (so [`Process::stdin`](super::Process::stdin) can feed it),
    /// and this process's own stdin for [`run`](Self::run) (a pipe if
    /// [`input`](Self::input) is given, which excludes setting this).
    pub fn stdin(&mut self, stdin: impl Into<Stdio>) -> &mut Command {
        self.stdin = Some(stdin.into());
        self
    }

    /// Where the child's standard output goes; a pipe by default (captured by
    /// [`run`](Self::run)).
    pub fn stdout(&mut self, stdout: impl Into<Stdio>) -> &mut Command {
        self.stdout = Some(stdout.into());
        self
    }

    /// Where the child's standard error goes; a pipe by default (captured by
    /// [`run`](Self::run)).
    pub fn stderr(&mut self, stderr: impl Into<Stdio>) -> &mut Command {
        self.stderr = Some(stderr.into());
        self
    }

    /// Bytes that [`run`](Self::run) writes to the child's stdin (then closes it). Giving
    /// both this and [`stdin`](Self::stdin) is an error when the command is run;
    /// [`spawn`](Self::spawn) ignores it.
    pub fn input(&mut self, input: impl Into<Vec<u8>>) -> &mut Command {
        self.input = Some(Arc::from(input.into()));
        self
    }

    /// Whether [`run`](Self::run) fails when the child does not exit with status 0 (on by
    /// default, as in AnyIO): the error is a
    /// [`CalledProcessError`](super::CalledProcessError).
    pub fn check(&mut self, check: bool) -> &mut Command {
        self.check = check;
        self
    }

    /// Runs the child in a new session (`setsid()` in the child before it executes the
    /// program): it leaves this process's session, process group and controlling
    /// terminal, so a Ctrl+C at the terminal does not reach it. A session leader leads
    /// its own process group too, so do not combine it with
    /// [`process_group`](Self::process_group) (`setsid` would fail with `EPERM`).
    pub fn start_new_session(&mut self, new_session: bool) -> &mut Command {
        self.new_session = new_session;
        self
    }

    /// Puts the child in process group `pgroup` (`0`: a new group whose id is the child's
    /// pid), as `std::os::unix::process::CommandExt::process_group`.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.process_group = Some(pgroup);
        self
    }

    /// Gives the child `fd` as its descriptor number `child_fd` (AnyIO's `pass_fds`, which
    /// keeps a descriptor's number; here the number is chosen freely). Descriptors that
    /// Rust's standard library (and this crate) open are close-on-exec, so the child
    /// inherits only these and its standard streams.
    ///
    /// `child_fd` must not be 0, 1 or 2 (use [`stdin`](Self::stdin) and the others) and
    /// not negative; otherwise running the command is an `InvalidInput` error. If two
    /// calls give the same number, the later one wins.
    pub fn pass_fd(&mut self, child_fd: RawFd, fd: impl Into<OwnedFd>) -> &mut Command {
        self.pass_fds.retain(|(_, n)| *n != child_fd);
        self.pass_fds.push((Arc::new(fd.into()), child_fd));
        self
    }

    /// Runs the child as user `uid` (needs the privilege to do so).
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.uid = Some(uid);
        self
    }

    /// Runs the child as group `gid` (needs the privilege to do so).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.gid = Some(gid);
        self
    }

    /// Sets the child's file mode creation mask (`umask`) before it executes the program.
    pub fn umask(&mut self, mask: u32) -> &mut Command {
        self.umask = Some(mask);
        self
    }

    /// The program, as given (`None` for a command made from an empty vector).
    pub fn get_program(&self) -> Option<&OsStr> {
        self.program.as_deref()
    }

    /// The arguments after the program.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The program and its arguments, quoted, for messages: `"sh" "-c" "exit 3"`.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        for part in self.program.iter().chain(&self.args) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{part:?}"));
        }
        out
    }

    /// The `std` command for one spawn, with `stdin`, `stdout` and `stderr` as given.
    pub(crate) fn to_std(
        &self,
        stdin: &Stdio,
        stdout: &Stdio,
        stderr: &Stdio,
    ) -> io::Result<std::process::Command> {
        let Some(program) = &self.program else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot run an empty command: the argument vector needs a program",
            ));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(&self.args);
        for op in &self.env {
            match op {
                EnvOp::Set(k, v) => cmd.env(k, v),
                EnvOp::Remove(k) => cmd.env_remove(k),
                EnvOp::Clear => cmd.env_clear(),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(stdin.to_std()?)
            .stdout(stdout.to_std()?)
            .stderr(stderr.to_std()?);
        if let Some(pgroup) = self.process_group {
            cmd.process_group(pgroup);
        }
        if let Some(uid) = self.uid {
            cmd.uid(uid);
        }
        if let Some(gid) = self.gid {
            cmd.gid(gid);
        }
        // Only what the standard library cannot do runs in the child before `exec`: a
        // `pre_exec` hook makes it fork instead of using the faster `posix_spawn`.
        if self.new_session || self.umask.is_some() || !self.pass_fds.is_empty() {
            let mut setup = ChildSetup::new(self)?;
            // SAFETY: `ChildSetup::run` makes only async-signal-safe calls (`umask`,
            // `setsid`, `fcntl`, `dup2`) on values prepared before the fork, and allocates
            // nothing.
            unsafe { cmd.pre_exec(move || setup.run()) };
        }
        Ok(cmd)
    }

    /// Where the child's stdin comes from for [`run`](Self::run): `input` makes it a
    /// pipe; giving both is an error.
    pub(crate) fn run_stdin(&self) -> io::Result<Stdio> {
        match (&self.input, &self.stdin) {
            (Some(_), Some(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                OnlyOneOfInputAndStdin,
            )),
            (Some(_), None) => Ok(Stdio::piped()),
            (None, stdin) => Ok(stdin.clone().unwrap_or_else(Stdio::inherit)),
        }
    }

    /// The working directory, for error messages.
    pub(crate) fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }
}

/// The error for a command given both [`input`](Command::input) and a
/// [`stdin`](Command::stdin) setting (AnyIO's "only one of input and stdin").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnlyOneOfInputAndStdin;

impl fmt::Display for OnlyOneOfInputAndStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only one of input and stdin can be given")
    }
}

impl std::error::Error for OnlyOneOfInputAndStdin {}

/// What the child does between `fork` and `exec` that the standard library does not:
/// every value it needs is computed before the fork.
struct ChildSetup {
    new_session: bool,
    umask: Option<libc::mode_t>,
    /// `(descriptor in the parent, number in the child)`; the `Arc`s keep them open.
    pass_fds: Vec<(Arc<OwnedFd>, RawFd)>,
    /// Where the descriptors are first moved to, above every target number, so that no
    /// `dup2` overwrites a source that a later one still needs.
    above: RawFd,
    /// The numbers they were moved to: allocated before the fork, one per descriptor.
    moved: Vec<RawFd>,
}

impl ChildSetup {
    fn new(cmd: &Command) -> io::Result<ChildSetup> {
        if let Some(&(_, bad)) = cmd.pass_fds.iter().find(|(_, n)| *n < 3) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot pass a descriptor as number {bad} in the child: 0, 1 and 2 are \
                     set with stdin, stdout and stderr, and numbers cannot be negative"
                ),
            ));
        }
        let above = cmd.pass_fds.iter().map(|(_, n)| *n).max().unwrap_or(2);
        let above = above.checked_add(1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "descriptor number out of range",
            )
        })?;
        Ok(ChildSetup {
            new_session: cmd.new_session,
            umask: cmd.umask.map(|m| m as libc::mode_t),
            pass_fds: cmd.pass_fds.clone(),
            above,
            moved: vec![0; cmd.pass_fds.len()],
        })
    }

    /// Runs in the child after `fork`: only async-signal-safe calls, no allocation.
    fn run(&mut self) -> io::Result<()> {
        // SAFETY (every block below): plain syscalls on numbers; they touch no memory of
        // ours and are async-signal-safe.
        if self.new_session && unsafe { libc::setsid() } == -1 {
            return Err(io::Error::last_os_error());
        }
        if let Some(mask) = self.umask {
            unsafe { libc::umask(mask) };
        }
        // First every source to a fresh close-on-exec number above all targets, then each
        // to its target: `dup2` clears close-on-exec on the target, so the child keeps
        // exactly the targets.
        for ((fd, _), slot) in self.pass_fds.iter().zip(&mut self.moved) {
            let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, self.above) };
            if high == -1 {
                return Err(io::Error::last_os_error());
            }
            *slot = high;
        }
        for (high, (_, target)) in self.moved.iter().zip(&self.pass_fds) {
            if unsafe { libc::dup2(*high, *target) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The first element is the program, the rest its arguments: `["cat", "-"]`.
impl<S: AsRef<OsStr>, const N: usize> From<[S; N]> for Command {
    fn from(argv: [S; N]) -> Command {
        Command::from_iter(argv)
    }
}

/// The first element is the program, the rest its arguments.
impl<S: AsRef<OsStr>> From<Vec<S>> for Command {
    fn from(argv: Vec<S>) -> Command {
        Command::from_iter(argv)
    }
}

/// The first element is the program, the rest its arguments.
impl<S: AsRef<OsStr>> From<&[S]> for Command {
    fn from(argv: &[S]) -> Command {
        Command::from_iter(argv)
    }
}

/// The same command.
impl From<&mut Command> for Command {
    fn from(cmd: &mut Command) -> Command {
        cmd.clone()
    }
}

/// The first item is the program, the rest its arguments; no item at all is a command
/// that fails with `InvalidInput` when run.
impl<S: AsRef<OsStr>> FromIterator<S> for Command {
    fn from_iter<I: IntoIterator<Item = S>>(argv: I) -> Command {
        let mut argv = argv.into_iter();
        let mut cmd = Command::from_program(argv.next().map(|p| p.as_ref().to_owned()));
        cmd.args(argv);
        cmd
    }
}
