//! The subprocess workloads of issue 15, each beside its native counterparts on
//! `tokio::process` and `async-process`:
//!
//! | fn | work per run | unit |
//! | --- | --- | --- |
//! | [`spawn_wait`] | start `true` and wait for its exit, 1,000 times in turn (`Command::spawn`, `Process::wait`) | spawns |
//! | [`cat_through`] | 256 MiB through `cat`: one task writes it to stdin in 64 KiB chunks, the body reads stdout to its end | 256 MiB |
//! | [`tokio_spawn_wait`], [`tokio_cat_through`] | the same with `tokio::process` | the same |
//! | [`async_process_spawn_wait`], [`async_process_cat_through`] | the same with `async-process` (on the smol executor of `native.rs`) | the same |
//!
//! Every child has its standard streams that are not piped set to `/dev/null`, in every
//! version, so all start the same program the same way. Every body checks its work (each
//! status is a success, every byte came back), so a broken version cannot look fast.

use anyio::process::{Command, Stdio};
use anyio::task_group;
use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};

/// PROC: children started and waited for per run.
pub(crate) const SPAWNS: usize = 1_000;
/// PCAT: bytes sent through `cat` per run: 256 MiB.
pub(crate) const CAT_BYTES: u64 = 256 * 1024 * 1024;
/// PCAT: the size of each write and read: 64 KiB.
const CHUNK: usize = 64 * 1024;

/// The chunk every PCAT version writes, again and again.
fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i * 7) as u8).collect()
}

/// PROC on anyio.
pub(crate) async fn spawn_wait() {
    let mut cmd = Command::new("true");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for _ in 0..SPAWNS {
        let process = cmd.spawn().expect("spawn true");
        assert!(process.wait().await.expect("wait").success());
    }
}

/// PCAT on anyio.
pub(crate) async fn cat_through() {
    let mut process = Command::new("cat")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cat");
    let stdin = process.take_stdin().expect("stdin");
    let stdout = process.take_stdout().expect("stdout");
    let mut received = 0u64;
    let total = &mut received;
    task_group(|tg| async move {
        tg.start_soon(async move {
            let data = chunk();
            for _ in 0..CAT_BYTES / CHUNK as u64 {
                stdin.send(&data).await?;
            }
            stdin.aclose().await?;
            Ok(())
        })?;
        let mut buf = vec![0; CHUNK];
        loop {
            match stdout.receive_into(&mut buf).await {
                Ok(n) => *total += n as u64,
                Err(e) if anyio::stream::IoErrorExt::is_end_of_stream(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
    .await
    .expect("PCAT");
    assert_eq!(received, CAT_BYTES);
    assert!(process.wait().await.expect("wait").success());
}

/// PROC on `tokio::process`.
pub(crate) async fn tokio_spawn_wait() {
    let mut cmd = tokio::process::Command::new("true");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for _ in 0..SPAWNS {
        let mut child = cmd.spawn().expect("spawn true");
        assert!(child.wait().await.expect("wait").success());
    }
}

/// PCAT on `tokio::process`.
pub(crate) async fn tokio_cat_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cat");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let writer = tokio::spawn(async move {
        let data = chunk();
        for _ in 0..CAT_BYTES / CHUNK as u64 {
            stdin.write_all(&data).await.expect("write");
        }
    });
    let mut buf = vec![0; CHUNK];
    let mut received = 0u64;
    loop {
        match stdout.read(&mut buf).await.expect("read") {
            0 => break,
            n => received += n as u64,
        }
    }
    writer.await.expect("writer");
    assert_eq!(received, CAT_BYTES);
    assert!(child.wait().await.expect("wait").success());
}

/// PROC on `async-process`.
pub(crate) async fn async_process_spawn_wait() {
    let mut cmd = async_process::Command::new("true");
    cmd.stdin(async_process::Stdio::null())
        .stdout(async_process::Stdio::null())
        .stderr(async_process::Stdio::null());
    for _ in 0..SPAWNS {
        let mut child = cmd.spawn().expect("spawn true");
        assert!(child.status().await.expect("wait").success());
    }
}

/// PCAT on `async-process`, its writer a task of the smol executor of `native.rs`.
pub(crate) async fn async_process_cat_through() {
    let mut child = async_process::Command::new("cat")
        .stdin(async_process::Stdio::piped())
        .stdout(async_process::Stdio::piped())
        .stderr(async_process::Stdio::null())
        .spawn()
        .expect("spawn cat");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let writer = crate::native::EX.spawn(async move {
        let data = chunk();
        for _ in 0..CAT_BYTES / CHUNK as u64 {
            stdin.write_all(&data).await.expect("write");
        }
        stdin.close().await.expect("close");
    });
    let mut buf = vec![0; CHUNK];
    let mut received = 0u64;
    loop {
        match stdout.read(&mut buf).await.expect("read") {
            0 => break,
            n => received += n as u64,
        }
    }
    writer.await;
    assert_eq!(received, CAT_BYTES);
    assert!(child.status().await.expect("wait").success());
}
