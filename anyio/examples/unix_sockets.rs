//! UNIX sockets: the manual's server and client, and its file-descriptor passing, run in
//! one task group.
//!
//! The first server greets whoever connects with the name the client sends; the second
//! receives an open file from its client (over `SCM_RIGHTS`) and prints what the file
//! holds. The sockets live in a fresh directory under the system's temporary directory,
//! removed at the end.
//!
//! ```text
//! cargo run --example unix_sockets
//! cargo run --example unix_sockets -- --backend smol
//! ```

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyio::net::{UnixSocketStream, connect_unix, create_unix_listener};
use anyio::stream::Listener;
use anyio::{BoxError, Runner};

mod common;

/// The hello server's handler: reads the client's name, answers `Hello, <name>`.
async fn handle(client: UnixSocketStream) {
    let greeted = async {
        let name = client.receive(1024).await?;
        let name = String::from_utf8_lossy(&name);
        println!("server: {:?} connected", name.trim_end());
        client
            .send(format!("Hello, {}\n", name.trim_end()).as_bytes())
            .await
    };
    if let Err(e) = greeted.await {
        eprintln!("server: {e}");
    }
}

/// The file server's handler: receives a message with one descriptor and prints the
/// contents of the file it opens.
async fn handle_fds(client: UnixSocketStream) {
    let received = async {
        let (message, fds) = client.receive_fds(1024, 1).await?;
        println!("file server: {:?}", String::from_utf8_lossy(&message));
        for fd in fds {
            let mut text = String::new();
            File::from(fd).read_to_string(&mut text)?;
            println!("file server: the file says {:?}", text);
        }
        Ok::<_, std::io::Error>(())
    };
    if let Err(e) = received.await {
        eprintln!("file server: {e}");
    }
}

/// The manual's client: sends its name and prints the answer.
async fn client(path: &Path) -> Result<(), BoxError> {
    let client = connect_unix(path).await?;
    client.send(b"Client\n").await?;
    let response = client.receive(1024).await?;
    println!("client: {:?}", String::from_utf8_lossy(&response));
    Ok(())
}

/// The manual's descriptor-passing client: opens a file and sends it.
async fn fd_client(path: &Path, file_path: &Path) -> Result<(), BoxError> {
    let client = connect_unix(path).await?;
    let file = File::open(file_path)?;
    client
        .send_fds(b"passing file descriptors", &[&file])
        .await?;
    // The server has the file once it closes the connection.
    let _ = client.receive(1).await;
    Ok(())
}

/// A fresh directory for the sockets of this run (of this process, and of this call: a
/// test may run the example on several backends at once).
fn socket_dir() -> std::io::Result<PathBuf> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("anyio-example-unix-{}-{run}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Runs both servers and both clients, then stops the servers.
pub(crate) async fn run() -> Result<(), BoxError> {
    let dir = socket_dir()?;
    let outcome = serve_and_connect(&dir).await;
    let _ = fs::remove_dir_all(&dir);
    outcome
}

async fn serve_and_connect(dir: &Path) -> Result<(), BoxError> {
    let (hello_path, fd_path, file_path) = (
        dir.join("mysock"),
        dir.join("fdsock"),
        dir.join("message.txt"),
    );
    fs::write(&file_path, "This file was opened by the client")?;
    let hello = Arc::new(create_unix_listener(&hello_path).await?);
    let files = Arc::new(create_unix_listener(&fd_path).await?);
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            hello.serve(handle).await?;
            Ok(())
        })?;
        tg.start_soon(async move {
            files
                .serve(|c: UnixSocketStream| async move {
                    handle_fds(c).await;
                })
                .await?;
            Ok(())
        })?;
        client(&hello_path).await?;
        fd_client(&fd_path, &file_path).await?;
        // The servers would serve for ever: stop them.
        tg.cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
