//! The file I/O workloads of issue 4, each beside its native counterparts on `tokio::fs`
//! and `async-fs`:
//!
//! | fn | work per run | unit |
//! | --- | --- | --- |
//! | [`read_chunks`] | read a 256 MiB file in 64 KiB chunks with `AsyncFile::read` | 256 MiB |
//! | [`iterate_lines`] | iterate the lines of a 50 MiB text file with `AsyncFile::lines` | the file's lines (about 1 million) |
//! | [`tokio_read_chunks`], [`tokio_iterate_lines`] | the same with `tokio::fs::File` (`AsyncReadExt::read`; `BufReader::with_capacity(64 KiB).lines()`) | the same |
//! | [`async_fs_read_chunks`], [`async_fs_iterate_lines`] | the same with `async_fs::File` (`AsyncReadExt::read`; `BufReader::with_capacity(64 KiB).lines()`) | the same |
//!
//! The files are made by [`prepare`], outside the timed part: once per machine, under
//! `$TMPDIR/anyio-bench-fs/`, and reused by later processes while their size and first
//! bytes are right. After the first run they are in the page
//! cache, so the figures measure the thread hops and copies, not the disk.
//!
//! Every body checks what it read (the byte count, the line count), so a broken reader
//! cannot look fast. The tokio bodies need a tokio runtime (with the blocking pool); the
//! async-fs ones run anywhere (on the `blocking` crate's pool); the anyio ones inside an
//! anyio run, on either backend.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use futures_lite::StreamExt as _;

/// The size of the file [`read_chunks`] reads: 256 MiB.
pub(crate) const READ_FILE_SIZE: u64 = 256 * 1024 * 1024;
/// The size of each read of [`read_chunks`]: 64 KiB.
pub(crate) const CHUNK: usize = 64 * 1024;
/// The approximate size of the text file [`iterate_lines`] reads: 50 MiB.
pub(crate) const LINES_FILE_SIZE: u64 = 50 * 1024 * 1024;
/// The buffer of the native line readers: 64 KiB, as `AsyncFile`'s.
const LINE_BUFFER: usize = 64 * 1024;

/// The files of the workloads, made by [`prepare`].
#[derive(Debug)]
pub(crate) struct FsFiles {
    /// The binary file of [`read_chunks`], [`READ_FILE_SIZE`] bytes.
    pub(crate) read_file: PathBuf,
    /// The text file of [`iterate_lines`], about [`LINES_FILE_SIZE`] bytes.
    pub(crate) lines_file: PathBuf,
    /// How many lines `lines_file` has.
    pub(crate) lines: usize,
}

static FILES: OnceLock<FsFiles> = OnceLock::new();

fn dir() -> PathBuf {
    std::env::temp_dir().join("anyio-bench-fs")
}

/// The `i`-th line of the text file, without its `\n`: 20 to 99 bytes, varied.
fn line(i: usize, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let _ = write!(out, "line {i:>8} ");
    let filler = (i * 37) % 80;
    out.extend(std::iter::repeat_n((b'a' + (i % 26) as u8) as char, filler));
}

/// Writes the files if they are missing or wrong, and returns them; the first call does
/// the work, later calls return the same paths. Call it before timing.
///
/// # Panics
///
/// If the files cannot be written.
pub(crate) fn prepare() -> &'static FsFiles {
    FILES.get_or_init(|| {
        let dir = dir();
        std::fs::create_dir_all(&dir).expect("create the benchmark directory");
        let read_file = dir.join("read-256MiB.bin");
        if std::fs::metadata(&read_file).map(|m| m.len()).ok() != Some(READ_FILE_SIZE) {
            let tmp = dir.join(format!("read.{}.tmp", std::process::id()));
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
            let block: Vec<u8> = (0..CHUNK).map(|i| (i * 31 + i / 255) as u8).collect();
            for _ in 0..READ_FILE_SIZE / CHUNK as u64 {
                w.write_all(&block).unwrap();
            }
            w.into_inner().unwrap().sync_all().unwrap();
            std::fs::rename(&tmp, &read_file).expect("write the 256 MiB file");
        }

        let lines_file = dir.join("lines-50MiB.txt");
        // The line count and size are a function of LINES_FILE_SIZE: recompute them, and
        // rewrite the file if it does not have that size.
        let mut buf = String::new();
        let (mut lines, mut size) = (0usize, 0u64);
        while size < LINES_FILE_SIZE {
            line(lines, &mut buf);
            size += buf.len() as u64 + 1;
            lines += 1;
        }
        if std::fs::metadata(&lines_file).map(|m| m.len()).ok() != Some(size) {
            let tmp = dir.join(format!("lines.{}.tmp", std::process::id()));
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
            for i in 0..lines {
                line(i, &mut buf);
                w.write_all(buf.as_bytes()).unwrap();
                w.write_all(b"\n").unwrap();
            }
            w.into_inner().unwrap().sync_all().unwrap();
            std::fs::rename(&tmp, &lines_file).expect("write the 50 MiB file");
        }
        FsFiles {
            read_file,
            lines_file,
            lines,
        }
    })
}

/// Reads the 256 MiB file in 64 KiB chunks with `AsyncFile::read`; each read is one thread
/// hop (through the run's thread limiter) and one copy into the caller's buffer.
pub(crate) async fn read_chunks() {
    let files = prepare();
    let mut f = anyio::open_file(&files.read_file, "r")
        .await
        .expect("open the 256 MiB file");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, READ_FILE_SIZE);
    f.close().await.expect("close");
}

/// Iterates the lines of the 50 MiB file with `AsyncFile::lines` (one thread hop per
/// 64 KiB; a `String` per line).
pub(crate) async fn iterate_lines() {
    let files = prepare();
    let mut f = anyio::open_file(&files.lines_file, "r")
        .await
        .expect("open the 50 MiB file");
    let mut lines = f.lines();
    let mut count = 0usize;
    while let Some(line) = lines.next().await {
        std::hint::black_box(line.expect("a line"));
        count += 1;
    }
    assert_eq!(count, files.lines);
    f.close().await.expect("close");
}

/// [`read_chunks`] with `tokio::fs::File` and `AsyncReadExt::read` (inside a tokio runtime).
pub(crate) async fn tokio_read_chunks() {
    use tokio::io::AsyncReadExt;

    let files = prepare();
    let mut f = tokio::fs::File::open(&files.read_file)
        .await
        .expect("open the 256 MiB file");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, READ_FILE_SIZE);
}

/// [`iterate_lines`] with `tokio::fs::File` in a 64 KiB `tokio::io::BufReader`, through
/// `lines().next_line()` (inside a tokio runtime).
pub(crate) async fn tokio_iterate_lines() {
    use tokio::io::AsyncBufReadExt;

    let files = prepare();
    let f = tokio::fs::File::open(&files.lines_file)
        .await
        .expect("open the 50 MiB file");
    let mut lines = tokio::io::BufReader::with_capacity(LINE_BUFFER, f).lines();
    let mut count = 0usize;
    while let Some(line) = lines.next_line().await.expect("a line") {
        std::hint::black_box(line);
        count += 1;
    }
    assert_eq!(count, files.lines);
}

/// [`read_chunks`] with `async_fs::File` and `futures_lite::AsyncReadExt::read`.
pub(crate) async fn async_fs_read_chunks() {
    use futures_lite::AsyncReadExt;

    let files = prepare();
    let mut f = async_fs::File::open(&files.read_file)
        .await
        .expect("open the 256 MiB file");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, READ_FILE_SIZE);
}

/// [`iterate_lines`] with `async_fs::File` in a 64 KiB `futures_lite::io::BufReader`,
/// through its `lines()` stream.
pub(crate) async fn async_fs_iterate_lines() {
    use futures_lite::AsyncBufReadExt;

    let files = prepare();
    let f = async_fs::File::open(&files.lines_file)
        .await
        .expect("open the 50 MiB file");
    let mut lines = futures_lite::io::BufReader::with_capacity(LINE_BUFFER, f).lines();
    let mut count = 0usize;
    while let Some(line) = lines.next().await {
        std::hint::black_box(line.expect("a line"));
        count += 1;
    }
    assert_eq!(count, files.lines);
}
