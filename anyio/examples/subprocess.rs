//! Subprocesses: the manual's examples of `run_process` and `open_process`.
//!
//! It runs a command to completion and prints its output; streams a child's output line by
//! line while the child is still writing; feeds a child's stdin and reads the answer; and
//! shows that cancelling a `run_process` kills the child. It needs `sh`, `echo`, `tr` and
//! `sleep`, as any Unix has.
//!
//! ```text
//! cargo run --example subprocess
//! cargo run --example subprocess -- --backend smol
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyio::process::{Command, open_process, run_process};
use anyio::stream::{BufferedByteReceiveStream, TextReceiveStream};
use anyio::{BoxError, Runner};

mod common;

/// Runs a command and prints what it wrote.
async fn run_a_command() -> Result<(), BoxError> {
    let out = run_process(["echo", "Hello from a child process"]).await?;
    print!("run_process: {}", String::from_utf8_lossy(&out.stdout));
    // A non-zero exit is an error unless `check(false)` says it is expected.
    let out = Command::shell("exit 3").check(false).run().await?;
    println!("exit status of `exit 3`: {:?}", out.status.code());
    Ok(())
}

/// Streams a child's output line by line, as it writes it.
async fn stream_lines() -> Result<(), BoxError> {
    let mut process = open_process(["sh", "-c", "for i in 1 2 3; do echo line $i; done"]).await?;
    let stdout = BufferedByteReceiveStream::new(process.take_stdout().expect("a pipe"));
    loop {
        match stdout.receive_until(b"\n", 1024).await {
            Ok(line) => println!("child says: {}", String::from_utf8_lossy(&line)),
            Err(e) if anyio::stream::IoErrorExt::is_incomplete_read(&e) => break,
            Err(e) => return Err(e.into()),
        }
    }
    process.aclose().await?;
    // Once the child has exited, `wait` returns its status at once.
    println!("child exited: {}", process.wait().await?);
    Ok(())
}

/// Feeds a child's stdin, closes it, and reads the answer as text.
async fn feed_stdin() -> Result<(), BoxError> {
    let mut process = open_process(["tr", "a-z", "A-Z"]).await?;
    let stdin = process.take_stdin().expect("a pipe");
    stdin.send(b"please shout this").await?;
    // The child sees the end of its input once our end of the pipe is closed.
    stdin.aclose().await?;
    let text = TextReceiveStream::new(process.take_stdout().expect("a pipe"));
    let mut answer = String::new();
    loop {
        match text.receive().await {
            Ok(piece) => answer.push_str(&piece),
            Err(e) if anyio::stream::IoErrorExt::is_end_of_stream(&e) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("tr answered: {answer}");
    process.wait().await?;
    Ok(())
}

/// Cancelling `run_process` kills the child (with `SIGKILL`) and reaps it.
async fn cancel_a_child() -> Result<(), BoxError> {
    let out =
        anyio::move_on_after(Duration::from_millis(100), run_process(["sleep", "10"])).await?;
    assert!(out.is_none());
    println!("sleep 10 was cancelled after 100 ms, and is gone");
    Ok(())
}

/// The examples, one after the other.
pub(crate) async fn run() -> Result<(), BoxError> {
    run_a_command().await?;
    stream_lines().await?;
    feed_stdin().await?;
    cancel_a_child().await
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
