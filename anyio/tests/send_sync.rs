//! Compile-time checks that the public futures and handles are `Send` (and `Sync` where
//! they are shared), so they can be used inside spawned tasks on a multi-threaded runtime.

use std::future::IntoFuture;
use std::time::Duration;

use anyio::{BoxError, CancelScope, TaskGroup, TaskStatus};

fn send<T: Send>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn public_futures_and_handles_are_send() {
    send(&anyio::sleep(Duration::ZERO));
    send(&anyio::sleep_forever());
    send(&anyio::checkpoint());
    send(&anyio::checkpoint_if_cancelled());
    send(&anyio::cancel_shielded_checkpoint());
    send(&anyio::cancellable(async {}));
    send(&anyio::move_on_after(Duration::ZERO, async {
        Ok::<_, BoxError>(())
    }));
    send(&anyio::fail_after(Duration::ZERO, async {
        Ok::<_, BoxError>(())
    }));
    send(&anyio::wait_all_tasks_blocked());
    let scope = CancelScope::new();
    send_sync(&scope);
    send(&scope.run(async { Ok::<_, BoxError>(()) }));
    let group = anyio::task_group(|tg: TaskGroup| async move {
        send_sync(&tg);
        let start = tg.start(|status: TaskStatus<u8>| async move {
            status.started(1);
            Ok(())
        });
        send(&start);
        start.await?;
        let handle = tg.create_task(async { Ok(1u8) })?;
        send_sync(&handle);
        send(&handle.wait());
        send(&handle.get());
        let with_handle = tg.start_with_handle(|status: TaskStatus<u8>| async move {
            status.started(1);
            Ok(2u8)
        });
        send(&with_handle);
        let (_, started) = with_handle.await?;
        send(&started.into_future());
        handle.await?;
        Ok(())
    });
    send(&group);
}

async fn one() -> Result<u8, BoxError> {
    Ok(1)
}

#[test]
fn gather_amap_and_as_completed_are_send() {
    send(&anyio::gather((one(), one())));
    send(&anyio::gather(vec![one(), one()]));
    send(&anyio::amap(|_: u8| one(), 0..3));
    send(&anyio::as_completed(
        [one(), one()],
        |mut done| async move {
            send(&done);
            let next = done.next();
            send(&next);
            next.await?;
            Ok(())
        },
    ));
}

#[cfg(unix)]
#[test]
fn processes_their_streams_and_futures_are_send() {
    use anyio::process::{ChildStderr, ChildStdin, ChildStdout, Command, Process};
    send(&anyio::process::run_process(["true"]));
    send(&anyio::process::open_process(["true"]));
    let cmd = Command::new("true");
    send_sync(&cmd);
    send(&cmd.run());
    // Checked by compiling the closure; it needs a running process to be called.
    let _ = |p: &Process, i: &ChildStdin, o: &ChildStdout, e: &ChildStderr| {
        send_sync(p);
        send(&p.wait());
        send(&p.aclose());
        send_sync(i);
        send(&i.send(b""));
        send_sync(o);
        send(&o.receive(1));
        send_sync(e);
    };
}
