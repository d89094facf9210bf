//! Reading a file: the manual's `aopen` example. `anyio::open_file` opens the file on a
//! worker thread and returns an `AsyncFile`, whose reads run on worker threads too, so the
//! event loop never blocks on the disk.
//!
//! The example writes its own file first, in the system's temporary directory, and removes
//! it at the end.
//!
//! ```text
//! cargo run --example file_read
//! cargo run --example file_read -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyio::fs::Path;
use anyio::{BoxError, Runner};

mod common;

/// A file name of its own for each run, so runs in parallel do not meet.
fn temp_file(name: &str) -> Path {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "anyio-example-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    );
    Path::from(std::env::temp_dir()).join(unique)
}

/// Writes a file, then reads it back whole and prints it.
pub(crate) async fn run() -> Result<(), BoxError> {
    let path = temp_file("file_read.txt");
    path.write("Hello from anyio!\nThis file was read on a worker thread.\n")
        .await?;

    // AnyIO: `async with await open_file(path) as f: contents = await f.read()`
    let mut f = anyio::open_file(&path, "r").await?;
    let mut contents = String::new();
    f.read_to_string(&mut contents).await?;
    f.close().await?;
    print!("{contents}");

    path.remove_file().await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
