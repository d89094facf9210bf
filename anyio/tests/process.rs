//! Subprocesses (`anyio::process`): `run_process` and `open_process` with real programs
//! from coreutils and the shell, on every backend.
#![cfg(unix)]

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyio::process::{
    CalledProcessError, Command, OnlyOneOfInputAndStdin, Stdio, open_process, run_process,
};
use anyio::stream::{BufferedByteReceiveStream, IoErrorExt};
use anyio::{BoxError, CancelScope, Signal, move_on_after, task_group};

/// A bound only a failing test reaches.
const DEADLINE: Duration = Duration::from_secs(20);

/// Whether `pid` names no process at all (it was killed and reaped): `kill(pid, 0)` fails
/// with `ESRCH`.
fn is_gone(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// `n` bytes of a pattern that shows a lost, repeated or reordered byte.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A fresh empty directory for one test (each backend's run of it has its own).
fn temp_dir(name: &str) -> Result<PathBuf, BoxError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("anyio-process-{name}-{pid}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir.canonicalize()?)
}

async fn cat_echoes_one_mebibyte_exactly() -> Result<(), BoxError> {
    let data = pattern(1 << 20);
    let mut process = open_process(["cat"]).await?;
    let stdin = process.take_stdin().expect("stdin is a pipe");
    let stdout = process.take_stdout().expect("stdout is a pipe");
    let sent = data.clone();
    let mut received = Vec::new();
    let into = &mut received;
    task_group(|tg| async move {
        tg.start_soon(async move {
            stdin.send(&sent).await?;
            stdin.aclose().await?;
            Ok(())
        })?;
        loop {
            match stdout.receive(65536).await {
                Ok(chunk) => into.extend_from_slice(&chunk),
                Err(e) if e.is_end_of_stream() => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
    .await?;
    assert_eq!(received.len(), data.len());
    assert!(received == data, "the bytes differ");
    assert_eq!(process.wait().await?.code(), Some(0));
    Ok(())
}

async fn run_process_feeds_input_and_captures_more_than_a_pipe_holds() -> Result<(), BoxError> {
    let data = pattern(1 << 20);
    let out = Command::new("cat").input(data.clone()).run().await?;
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == data, "the bytes differ");
    assert_eq!(out.stderr, b"");
    Ok(())
}

async fn both_pipes_full_never_deadlock() -> Result<(), BoxError> {
    let out = Command::shell("head -c 1000000 /dev/zero >&2; head -c 700000 /dev/zero")
        .run()
        .await?;
    assert_eq!(out.stderr.len(), 1_000_000);
    assert_eq!(out.stdout.len(), 700_000);
    Ok(())
}

async fn aclose_returns_while_yes_fills_the_pipe() -> Result<(), BoxError> {
    let process = open_process(["yes"]).await?;
    let pid = process.pid();
    // Nobody reads: `yes` fills the pipe and blocks writing to it.
    let closed = anyio::fail_after(DEADLINE, async {
        Ok::<_, BoxError>(process.aclose().await?)
    });
    closed.await?;
    let status = process.returncode().expect("the child has been reaped");
    assert_eq!(status.signal(), Some(libc::SIGPIPE));
    assert!(is_gone(pid));
    Ok(())
}

async fn cancelled_run_process_kills_and_reaps_the_child() -> Result<(), BoxError> {
    // The child tells its pid through a socket passed as descriptor 3, then sleeps.
    let (theirs, ours) = UnixStream::pair()?;
    let mut cmd = Command::shell("echo $$ >&3; exec sleep 30");
    cmd.pass_fd(3, theirs);
    let scope = CancelScope::new();
    let (ours, canceller, outer) = (Arc::new(ours), scope.clone(), scope.clone());
    let pid = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = pid.clone();
    task_group(|tg| async move {
        tg.start_soon(async move {
            anyio::net::wait_readable(&*ours).await?;
            let mut buf = [0; 32];
            let n = (&*ours).read(&mut buf)?;
            *seen.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
            canceller.cancel();
            Ok(())
        })?;
        let out = outer.run(cmd.run()).await?;
        assert!(out.is_none(), "the scope caught its cancellation");
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    let pid: u32 = pid.lock().unwrap().parse()?;
    assert!(is_gone(pid), "process {pid} still exists");
    Ok(())
}

async fn aclose_cancelled_by_move_on_after_kills_and_reaps_sleep() -> Result<(), BoxError> {
    let process = open_process(["sleep", "30"]).await?;
    let pid = process.pid();
    let out = move_on_after(Duration::from_millis(100), process.aclose()).await;
    assert!(matches!(out, Ok(None)), "{out:?}");
    assert_eq!(
        process.returncode().and_then(|s| s.signal()),
        Some(libc::SIGKILL)
    );
    assert!(is_gone(pid));
    Ok(())
}

/// Level-triggered cancellation: inside a scope already cancelled, a wait for a child that
/// has exited, a read of bytes already in the pipe and a `run_process` each end with the
/// cancellation before doing anything; nothing is consumed, and nothing is started.
async fn a_cancelled_scope_is_seen_before_the_first_wait() -> Result<(), BoxError> {
    let dir = temp_dir("cancelled_before_wait")?;
    let marker = dir.join("started");
    let mut process = open_process(["sh", "-c", "echo hi"]).await?;
    let stdout = process.take_stdout().expect("stdout is a pipe");
    let status = process.wait().await?;
    // A scope is entered once: a fresh one, cancelled before it is entered, for each.
    let cancelled = || {
        let scope = CancelScope::new();
        scope.cancel();
        scope
    };
    assert!(cancelled().run(process.wait()).await?.is_none());
    assert!(cancelled().run(stdout.receive(10)).await?.is_none());
    let touch = Command::shell(format!("touch '{}'", marker.display()));
    assert!(cancelled().run(touch.run()).await?.is_none());
    assert!(
        !marker.exists(),
        "a cancelled run_process started its program"
    );
    assert_eq!(process.wait().await?, status);
    assert_eq!(stdout.receive(10).await?, b"hi\n");
    Ok(())
}

on_every_flavour!(
    a_cancelled_scope_is_seen_before_the_first_wait,
    cat_echoes_one_mebibyte_exactly,
    run_process_feeds_input_and_captures_more_than_a_pipe_holds,
    both_pipes_full_never_deadlock,
    aclose_returns_while_yes_fills_the_pipe,
    cancelled_run_process_kills_and_reaps_the_child,
    aclose_cancelled_by_move_on_after_kills_and_reaps_sleep,
);

#[anyio::test]
async fn a_failing_exit_is_an_error_with_its_status_and_output() -> Result<(), BoxError> {
    let err = run_process(["sh", "-c", "echo out; echo err >&2; exit 3"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert_eq!(
        err.to_string(),
        r#"command "sh" "-c" "echo out; echo err >&2; exit 3" failed: exit status: 3"#
    );
    let failed = CalledProcessError::from_io(&err).expect("a CalledProcessError");
    assert_eq!(failed.status().code(), Some(3));
    assert_eq!(failed.stdout(), b"out\n");
    assert_eq!(failed.stderr(), b"err\n");
    assert_eq!(
        failed.command(),
        r#""sh" "-c" "echo out; echo err >&2; exit 3""#
    );
    Ok(())
}

#[anyio::test]
async fn without_check_a_failing_exit_is_returned() -> Result<(), BoxError> {
    let out = Command::new("sh")
        .args(["-c", "exit 3"])
        .check(false)
        .run()
        .await?;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"");
    assert_eq!(out.stderr, b"");
    Ok(())
}

#[anyio::test]
async fn stderr_is_captured_separately() -> Result<(), BoxError> {
    let out = run_process(["sh", "-c", "echo out; echo err >&2; echo more"]).await?;
    assert_eq!(out.stdout, b"out\nmore\n");
    assert_eq!(out.stderr, b"err\n");
    Ok(())
}

#[anyio::test]
async fn closing_stdin_gives_the_child_eof() -> Result<(), BoxError> {
    let process = open_process(["cat"]).await?;
    process.stdin().unwrap().send(b"last words").await?;
    process.stdin().unwrap().aclose().await?;
    let stdout = process.stdout().unwrap();
    assert_eq!(stdout.receive(100).await?, b"last words");
    let end = stdout.receive(100).await.unwrap_err();
    assert!(end.is_end_of_stream(), "{end:?}");
    assert_eq!(process.wait().await?.code(), Some(0));
    Ok(())
}

#[anyio::test]
async fn a_passed_descriptor_reaches_the_child() -> Result<(), BoxError> {
    let (theirs, mut ours) = UnixStream::pair()?;
    Command::shell("echo hi >&5")
        .pass_fd(5, theirs)
        .run()
        .await?;
    let mut got = String::new();
    ours.read_to_string(&mut got)?;
    assert_eq!(got, "hi\n");
    Ok(())
}

#[anyio::test]
async fn passing_a_standard_descriptor_number_is_invalid_input() -> Result<(), BoxError> {
    let (theirs, _ours) = UnixStream::pair()?;
    let err = Command::new("true")
        .pass_fd(1, theirs)
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("as number 1 in the child"),
        "{err}"
    );
    Ok(())
}

#[cfg(target_os = "linux")]
#[anyio::test]
async fn a_new_session_is_led_by_the_child() -> Result<(), BoxError> {
    // Field 6 of /proc/PID/stat is the session id; the shell's `$$` is the child's pid.
    let script = r#"echo $$ $(cut -d" " -f6 /proc/$$/stat)"#;
    let mut process = Command::shell(script)
        .start_new_session(true)
        .stdin(Stdio::null())
        .spawn()?;
    let out = BufferedByteReceiveStream::new(process.take_stdout().unwrap());
    let line = out.receive_until(b"\n", 100).await?;
    let line = String::from_utf8(line)?;
    let (pid, sid) = line.split_once(' ').expect("two numbers");
    assert_eq!(pid, process.pid().to_string());
    assert_eq!(sid, pid);

    let out = run_process(["sh", "-c", script]).await?;
    let line = String::from_utf8(out.stdout)?;
    let (pid, sid) = line.trim().split_once(' ').expect("two numbers");
    assert_ne!(sid, pid, "without a new session the child leads none");
    Ok(())
}

#[anyio::test]
async fn the_child_sees_its_environment() -> Result<(), BoxError> {
    let out = Command::new("/usr/bin/env")
        .env_clear()
        .env("A", "1")
        .envs([("B", "2"), ("C", "3")])
        .env_remove("B")
        .run()
        .await?;
    assert_eq!(out.stdout, b"A=1\nC=3\n");

    let out = Command::new("sh")
        .args(["-c", "echo $ANYIO_TEST"])
        .env("ANYIO_TEST", "seen")
        .run()
        .await?;
    assert_eq!(out.stdout, b"seen\n");
    Ok(())
}

#[anyio::test]
async fn the_child_runs_in_its_working_directory() -> Result<(), BoxError> {
    let dir = temp_dir("cwd")?;
    let out = Command::new("pwd").current_dir(&dir).run().await?;
    assert_eq!(
        String::from_utf8(out.stdout)?,
        format!("{}\n", dir.display())
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[anyio::test]
async fn a_missing_program_is_not_found_and_named() -> Result<(), BoxError> {
    let err = run_process(["anyio-no-such-program", "x"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        r#"cannot run "anyio-no-such-program": No such file or directory (os error 2)"#
    );
    let err = open_process(["anyio-no-such-program"]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    Ok(())
}

#[anyio::test]
async fn a_missing_working_directory_is_named() -> Result<(), BoxError> {
    let err = Command::new("pwd")
        .current_dir("/anyio-no-such-dir")
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        r#"cannot run "pwd" in directory "/anyio-no-such-dir": No such file or directory (os error 2)"#
    );
    Ok(())
}

#[anyio::test]
async fn a_program_that_is_not_executable_is_permission_denied() -> Result<(), BoxError> {
    let dir = temp_dir("noexec")?;
    let path = dir.join("script");
    std::fs::write(&path, "#!/bin/sh\n")?;
    let err = run_process([&path]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot run {path:?}: ")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[anyio::test]
async fn input_and_stdin_together_are_refused() -> Result<(), BoxError> {
    let err = Command::new("cat")
        .input("x")
        .stdin(Stdio::null())
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "only one of input and stdin can be given");
    assert!(
        err.get_ref()
            .is_some_and(|e| e.is::<OnlyOneOfInputAndStdin>())
    );
    Ok(())
}

#[anyio::test]
async fn bad_arguments_are_errors_not_panics() -> Result<(), BoxError> {
    let err = run_process(["echo", "a\0b"]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = run_process(Vec::<String>::new()).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "cannot run an empty command: the argument vector needs a program"
    );
    let err = open_process(["nul\0program"]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let zero = open_process(["true"]).await?;
    let err = zero.stdout().unwrap().receive(0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    zero.aclose().await?;
    Ok(())
}

#[anyio::test]
async fn signals_show_in_the_exit_status() -> Result<(), BoxError> {
    for (send, expected) in [(0, libc::SIGTERM), (1, libc::SIGKILL), (2, libc::SIGUSR1)] {
        let process = open_process(["sleep", "30"]).await?;
        assert_eq!(process.returncode(), None);
        match send {
            0 => process.terminate()?,
            1 => process.kill()?,
            _ => process.send_signal(Signal::SIGUSR1)?,
        }
        let status = process.wait().await?;
        assert_eq!(status.code(), None);
        assert_eq!(status.signal(), Some(expected));
        assert_eq!(process.returncode(), Some(status));
        // Signalling a reaped child sends nothing and is not an error.
        process.kill()?;
        assert_eq!(process.wait().await?, status);
    }
    Ok(())
}

#[anyio::test]
async fn a_cancelled_wait_leaves_the_child_running() -> Result<(), BoxError> {
    let process = open_process(["sleep", "30"]).await?;
    let out = move_on_after(Duration::from_millis(50), process.wait()).await?;
    assert!(out.is_none());
    assert_eq!(process.returncode(), None);
    process.terminate()?;
    assert_eq!(process.wait().await?.signal(), Some(libc::SIGTERM));
    Ok(())
}

#[anyio::test]
async fn several_tasks_wait_for_one_child() -> Result<(), BoxError> {
    let process = Arc::new(open_process(["sh", "-c", "read x; exit 7"]).await?);
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    task_group(|tg| {
        let (process, statuses) = (process.clone(), statuses.clone());
        async move {
            for _ in 0..3 {
                let (process, statuses) = (process.clone(), statuses.clone());
                tg.start_soon(async move {
                    let status = process.wait().await?;
                    statuses.lock().unwrap().push(status.code());
                    Ok(())
                })?;
            }
            anyio::wait_all_tasks_blocked().await?;
            process.stdin().unwrap().send(b"go\n").await?;
            Ok(())
        }
    })
    .await?;
    assert_eq!(*statuses.lock().unwrap(), [Some(7); 3]);
    Ok(())
}

#[anyio::test]
async fn stdout_reads_line_by_line_through_a_buffered_stream() -> Result<(), BoxError> {
    let mut process = open_process(["printf", "one\\ntwo\\nthree"]).await?;
    let stdout = BufferedByteReceiveStream::new(process.take_stdout().unwrap());
    assert_eq!(stdout.receive_until(b"\n", 100).await?, b"one");
    assert_eq!(stdout.receive_until(b"\n", 100).await?, b"two");
    let err = stdout.receive_until(b"\n", 100).await.unwrap_err();
    assert!(
        err.is_incomplete_read() || err.is_end_of_stream(),
        "{err:?}"
    );
    assert_eq!(stdout.buffer(), b"three");
    process.aclose().await?;
    assert_eq!(process.returncode().and_then(|s| s.code()), Some(0));
    Ok(())
}

#[anyio::test]
async fn the_pipes_implement_the_futures_io_traits() -> Result<(), BoxError> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut process = open_process(["tr", "a-z", "A-Z"]).await?;
    let (mut stdin, mut stdout) = (
        process.take_stdin().unwrap(),
        process.take_stdout().unwrap(),
    );
    stdin.write_all(b"shout").await?;
    stdin.close().await?;
    let mut got = String::new();
    stdout.read_to_string(&mut got).await?;
    assert_eq!(got, "SHOUT");
    assert_eq!(process.wait().await?.code(), Some(0));
    Ok(())
}

#[anyio::test]
async fn writing_to_a_child_that_is_gone_is_broken() -> Result<(), BoxError> {
    let process = open_process(["true"]).await?;
    process.wait().await?;
    // A process forked by another test at the same moment holds a copy of the pipe's read
    // end until it execs, and a write succeeds while it does: the write fails once no
    // reader is left anywhere.
    let mut attempts = 0;
    let err = loop {
        match process.stdin().unwrap().send(b"anyone?").await {
            Err(err) => break err,
            Ok(()) if attempts < 1000 => {
                attempts += 1;
                anyio::sleep(std::time::Duration::from_millis(1)).await?;
            }
            Ok(()) => panic!("a pipe whose reader exited still takes writes after 1000 tries"),
        }
    };
    assert!(err.is_broken_resource(), "{err:?}");
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    process.aclose().await?;
    let err = process.stdin().unwrap().send(b"x").await.unwrap_err();
    assert!(err.is_closed_resource(), "{err:?}");
    Ok(())
}

#[anyio::test]
async fn dropping_a_process_kills_and_reaps_it() -> Result<(), BoxError> {
    let process = open_process(["sleep", "30"]).await?;
    let pid = process.pid();
    drop(process);
    // The reaping may happen on a thread of its own: look until the bound.
    anyio::fail_after(DEADLINE, async {
        while !is_gone(pid) {
            anyio::sleep(Duration::from_millis(10)).await?;
        }
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn stdio_can_be_a_file_or_null() -> Result<(), BoxError> {
    let dir = temp_dir("stdio")?;
    let path = dir.join("out");
    let out = Command::new("echo")
        .arg("to the file")
        .stdout(std::fs::File::create(&path)?)
        .stderr(Stdio::null())
        .run()
        .await?;
    assert_eq!(out.stdout, b"", "not captured");
    assert_eq!(std::fs::read(&path)?, b"to the file\n");
    let out = Command::new("cat")
        .stdin(std::fs::File::open(&path)?)
        .run()
        .await?;
    assert_eq!(out.stdout, b"to the file\n");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[anyio::test]
async fn uid_and_gid_apply_in_the_child() -> Result<(), BoxError> {
    // Our own ids: any user may switch to them, so the test needs no privilege.
    // SAFETY: `getuid` and `getgid` cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let out = Command::shell("echo $(id -u) $(id -g)")
        .uid(uid)
        .gid(gid)
        .run()
        .await?;
    assert_eq!(String::from_utf8(out.stdout)?, format!("{uid} {gid}\n"));
    Ok(())
}

#[anyio::test]
async fn umask_applies_in_the_child() -> Result<(), BoxError> {
    let out = Command::shell("umask").umask(0o027).run().await?;
    assert_eq!(out.stdout, b"0027\n");
    Ok(())
}

#[cfg(feature = "tokio-io")]
#[anyio::test]
async fn the_pipes_implement_the_tokio_io_traits() -> Result<(), BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut process = open_process(["tr", "a-z", "A-Z"]).await?;
    let (mut stdin, mut stdout) = (
        process.take_stdin().unwrap(),
        process.take_stdout().unwrap(),
    );
    stdin.write_all(b"tokio").await?;
    stdin.shutdown().await?;
    let mut got = String::new();
    stdout.read_to_string(&mut got).await?;
    assert_eq!(got, "TOKIO");
    assert_eq!(process.wait().await?.code(), Some(0));
    Ok(())
}
