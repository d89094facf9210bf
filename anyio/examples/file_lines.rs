//! Iterating over the lines of a file: the manual's `async for line in f`. `lines()` is a
//! `Stream` of the lines without their `\n` (or `\r\n`); one trip to a worker thread reads
//! 64 KiB, however many lines that holds. `readline()` is the other way: one line at a
//! time with its terminator, and an empty string at the end of the file.
//!
//! The example writes its own file first, in the system's temporary directory, and removes
//! it at the end.
//!
//! ```text
//! cargo run --example file_lines
//! cargo run --example file_lines -- --backend smol
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyio::fs::Path;
use anyio::{BoxError, Runner};
use futures_lite::StreamExt;

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

/// Writes a file of a few lines, then prints them: with `lines()`, then with `readline()`.
pub(crate) async fn run() -> Result<(), BoxError> {
    let path = temp_file("file_lines.txt");
    path.write("first line\nsecond line\r\nlast line, without a newline")
        .await?;

    // AnyIO: `async with await open_file(path) as f: async for line in f: print(line)`
    let mut f = anyio::open_file(&path, "r").await?;
    let mut lines = f.lines();
    let mut count = 0;
    while let Some(line) = lines.next().await {
        count += 1;
        println!("{count}: {}", line?);
    }

    // The same lines again, with their terminators, from the start of the file.
    f.seek(std::io::SeekFrom::Start(0)).await?;
    loop {
        let line = f.readline().await?;
        if line.is_empty() {
            break;
        }
        println!("{line:?}");
    }
    f.close().await?;

    path.remove_file().await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
