//! Async file I/O (AnyIO 1.11 and the file streams of 1.7), on every backend: exact
//! contents, lines, positions, directories, links, the OS's errors passed through
//! unchanged, closed files, and cancellation.
//!
//! Every test works in a directory of its own under `std::env::temp_dir()`, removed when it
//! ends.

use std::io::{self, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyio::fs::{FileReadStream, FileWriteStream, Path};
use anyio::{
    AsyncFile, BoxError, CancelScope, ClosedResourceError, EndOfStream, is_cancelled, open_file,
    wrap_file,
};
use futures_lite::StreamExt;
use futures_lite::future::poll_once;

/// A unique directory, removed (with its contents) on drop.
struct TempDir(Path);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "anyio-fs-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir.into())
    }

    fn join(&self, name: &str) -> Path {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&*self.0);
    }
}

/// Bytes of every value, in a pattern that does not repeat with the buffer size.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn assert_cancelled(e: &io::Error) {
    assert!(is_cancelled(e), "not a cancellation: {e:?}");
    assert_ne!(e.kind(), io::ErrorKind::Interrupted);
}

fn assert_closed(e: &io::Error) {
    assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e:?}");
    assert!(
        e.get_ref()
            .is_some_and(|inner| inner.is::<ClosedResourceError>()),
        "not a ClosedResourceError: {e:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Contents

#[anyio::test]
async fn written_bytes_read_back_exactly() -> Result<(), BoxError> {
    let dir = TempDir::new("exact");
    let path = dir.join("data.bin");
    let data = pattern(300_000);

    let mut f = anyio::fs::create_file(&path).await?;
    f.write_all(&data[..1000]).await?;
    let n = f.write(&data[1000..]).await?;
    f.write_all(&data[1000 + n..]).await?;
    f.flush().await?;
    f.sync_all().await?;
    assert_eq!(f.metadata().await?.len(), data.len() as u64);
    f.close().await?;
    assert_eq!(std::fs::read(&*path)?, data);

    // All at once.
    let mut f = AsyncFile::open(&path).await?;
    assert_eq!(f.read_to_end_vec().await?, data);
    assert_eq!(f.read(&mut [0; 10]).await?, 0, "end of file");

    // In small and odd-sized reads, through the buffer.
    let mut f = open_file(&path, "rb").await?;
    let mut got = Vec::new();
    let mut chunk = vec![0; 1000];
    loop {
        let n = f.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, data);

    // read_exact across the buffer boundary, then larger than the buffer.
    let mut f = open_file(&path, "r").await?;
    let mut head = vec![0; 70_000];
    f.read_exact(&mut head).await?;
    assert_eq!(head, data[..70_000]);
    let mut rest = vec![0; 200_000];
    f.read_exact(&mut rest).await?;
    assert_eq!(rest, data[70_000..270_000]);
    let mut too_much = vec![0; 40_000];
    let e = f.read_exact(&mut too_much).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

    // read_to_end after a partial read appends the rest.
    let mut f = open_file(&path, "r").await?;
    let mut first = [0; 5];
    f.read_exact(&mut first).await?;
    let mut out = b"prefix".to_vec();
    assert_eq!(f.read_to_end(&mut out).await?, data.len() - 5);
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], data[5..]);
    Ok(())
}

#[anyio::test]
async fn read_to_string_and_invalid_utf8() -> Result<(), BoxError> {
    let dir = TempDir::new("string");
    let text = dir.join("text.txt");
    text.write("héllo\nwörld").await?;
    let mut s = String::from(">");
    open_file(&text, "r").await?.read_to_string(&mut s).await?;
    assert_eq!(s, ">héllo\nwörld");
    assert_eq!(text.read_to_string().await?, "héllo\nwörld");

    let bad = dir.join("bad.txt");
    bad.write(b"ok\n\xff\xfe\nafter\n").await?;
    let mut f = open_file(&bad, "r").await?;
    assert_eq!(f.readline().await?, "ok\n");
    let e = f.readline().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(f.readline().await?, "after\n");
    let e = bad.read_to_string().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Lines

#[anyio::test]
async fn readline_keeps_terminators_and_the_last_line() -> Result<(), BoxError> {
    let dir = TempDir::new("readline");
    let path = dir.join("lines.txt");
    path.write("first\nsecond\r\n\n\rmid\rlast").await?;
    let mut f = open_file(&path, "r").await?;
    assert_eq!(f.readline().await?, "first\n");
    assert_eq!(f.readline().await?, "second\r\n");
    assert_eq!(f.readline().await?, "\n");
    // A lone `\r` does not end a line.
    assert_eq!(f.readline().await?, "\rmid\rlast");
    assert_eq!(f.readline().await?, "");
    assert_eq!(f.readline().await?, "", "end of file stays end of file");

    // An empty file.
    let empty = dir.join("empty.txt");
    empty.write("").await?;
    let mut f = open_file(&empty, "r").await?;
    assert_eq!(f.readline().await?, "");
    assert!(f.lines().next().await.is_none());
    Ok(())
}

#[anyio::test]
async fn lines_strip_lf_and_crlf() -> Result<(), BoxError> {
    let dir = TempDir::new("lines");
    let path = dir.join("lines.txt");
    path.write("first\nsecond\r\n\n\r\nlast\r").await?;
    let mut f = open_file(&path, "r").await?;
    let lines: Vec<String> = f.lines().try_collect().await?;
    // Like BufRead::lines: `\n` or `\r\n` is stripped; a `\r` not followed by `\n` stays.
    assert_eq!(lines, ["first", "second", "", "", "last\r"]);

    path.write("no newline at the end").await?;
    let mut f = open_file(&path, "r").await?;
    let mut lines = f.lines();
    assert_eq!(
        lines.next_line().await?.as_deref(),
        Some("no newline at the end")
    );
    assert_eq!(lines.next_line().await?, None);
    Ok(())
}

#[anyio::test]
async fn lines_across_buffer_boundaries_match_std() -> Result<(), BoxError> {
    let dir = TempDir::new("many-lines");
    let path = dir.join("lines.txt");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&"x".repeat(i % 97));
        text.push_str(&i.to_string());
        text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
    }
    // A line longer than the buffer, then a last line without a newline.
    text.push_str(&"long".repeat(50_000));
    text.push('\n');
    text.push_str("the end");
    path.write(&text).await?;

    let expected: Vec<String> =
        std::io::BufRead::lines(text.as_bytes()).collect::<Result<_, _>>()?;
    let mut f = open_file(&path, "r").await?;
    let got: Vec<String> = f.lines().try_collect().await?;
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);

    // readline gives the same lines with their terminators.
    let mut f = open_file(&path, "r").await?;
    let mut joined = String::new();
    loop {
        let line = f.readline().await?;
        if line.is_empty() {
            break;
        }
        joined.push_str(&line);
    }
    assert_eq!(joined, text);
    Ok(())
}

#[anyio::test]
async fn a_dropped_readline_loses_nothing() -> Result<(), BoxError> {
    let dir = TempDir::new("dropped");
    let path = dir.join("lines.txt");
    path.write("one\ntwo\n").await?;
    let mut f = open_file(&path, "r").await?;
    // The first poll starts the read on a thread and returns Pending; drop it there.
    assert!(poll_once(f.readline()).await.is_none());
    assert_eq!(f.readline().await?, "one\n");
    assert!(
        poll_once(f.readline())
            .await
            .is_some_and(|r| r.is_ok_and(|l| l == "two\n"))
    );
    assert_eq!(f.readline().await?, "");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Positions

#[anyio::test]
async fn seek_and_tell_count_the_logical_position() -> Result<(), BoxError> {
    let dir = TempDir::new("seek");
    let path = dir.join("data.txt");
    path.write("0123456789\nabcdef\n").await?;
    let mut f = open_file(&path, "r+").await?;
    assert_eq!(f.tell().await?, 0);
    assert_eq!(f.readline().await?, "0123456789\n");
    // The whole file is in the read buffer, but the position is after the first line.
    assert_eq!(f.tell().await?, 11);
    assert_eq!(f.stream_position().await?, 11);
    assert_eq!(f.seek(SeekFrom::Current(-3)).await?, 8);
    let mut two = [0; 2];
    f.read_exact(&mut two).await?;
    assert_eq!(&two, b"89");
    assert_eq!(f.seek(SeekFrom::End(-3)).await?, 15);
    assert_eq!(f.readline().await?, "ef\n");
    assert_eq!(f.seek(SeekFrom::Start(2)).await?, 2);
    assert_eq!(f.readline().await?, "23456789\n");

    // A write after a read lands at the logical position, not after the read-ahead.
    f.seek(SeekFrom::Start(0)).await?;
    let mut one = [0; 1];
    f.read_exact(&mut one).await?;
    f.write_all(b"XY").await?;
    assert_eq!(f.tell().await?, 3);
    assert_eq!(f.readline().await?, "3456789\n");
    f.close().await?;
    assert_eq!(path.read_to_string().await?, "0XY3456789\nabcdef\n");

    // Seeking before the start is the OS's error, and the position stays.
    let mut f = open_file(&path, "r").await?;
    f.readline().await?;
    let e = f.seek(SeekFrom::Current(-100)).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(f.tell().await?, 11);
    assert_eq!(f.readline().await?, "abcdef\n");
    Ok(())
}

#[anyio::test]
async fn truncate_and_set_len() -> Result<(), BoxError> {
    let dir = TempDir::new("truncate");
    let path = dir.join("data.txt");
    path.write("0123456789").await?;
    let mut f = open_file(&path, "r+").await?;
    f.set_len(6).await?;
    assert_eq!(f.metadata().await?.len(), 6);
    let mut three = [0; 3];
    f.read_exact(&mut three).await?;
    // At the current position; the position does not move.
    assert_eq!(f.truncate(None).await?, 3);
    assert_eq!(f.tell().await?, 3);
    assert_eq!(f.truncate(Some(1)).await?, 1);
    f.sync_data().await?;
    f.close().await?;
    assert_eq!(path.read().await?, b"0");

    // Extending fills with zeros.
    let mut f = open_file(&path, "r+").await?;
    f.set_len(4).await?;
    assert_eq!(f.read_to_end_vec().await?, b"0\0\0\0");
    Ok(())
}

#[anyio::test]
async fn open_modes() -> Result<(), BoxError> {
    let dir = TempDir::new("modes");
    let path = dir.join("data.txt");
    let mut f = open_file(&path, "x").await?;
    f.write_all(b"abc").await?;
    f.close().await?;
    let e = open_file(&path, "x").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);

    let mut f = open_file(&path, "a").await?;
    f.write_all(b"def").await?;
    f.close().await?;
    assert_eq!(path.read_to_string().await?, "abcdef");

    let mut options = std::fs::OpenOptions::new();
    options.write(true).truncate(true);
    let mut f = open_file(&path, &options).await?;
    f.write_all(b"x").await?;
    f.close().await?;
    assert_eq!(path.read_to_string().await?, "x");

    let e = open_file(&path, "rw").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

#[anyio::test]
async fn wrap_file_and_into_std() -> Result<(), BoxError> {
    use std::io::Read;

    let dir = TempDir::new("wrap");
    let path = dir.join("data.txt");
    path.write("line one\nline two\n").await?;
    let mut f = wrap_file(std::fs::File::open(&*path)?);
    assert_eq!(f.readline().await?, "line one\n");
    // The read-ahead goes back to the OS position.
    let mut std_file = f.into_std().await?;
    let mut rest = String::new();
    std_file.read_to_string(&mut rest)?;
    assert_eq!(rest, "line two\n");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Paths and directories

#[anyio::test]
async fn read_dir_lists_every_entry() -> Result<(), BoxError> {
    let dir = TempDir::new("read-dir");
    let mut expected = Vec::new();
    // More than one batch of entries.
    for i in 0..150 {
        let name = format!("file{i:03}");
        dir.join(&name).write(name.as_bytes()).await?;
        expected.push(name);
    }
    dir.join("subdir").create_dir().await?;
    expected.push("subdir".to_owned());

    let mut names = Vec::new();
    let mut entries = dir.0.read_dir().await?;
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(entry.path(), dir.join(&name));
        let is_dir = entry.file_type().await?.is_dir();
        assert_eq!(is_dir, name == "subdir");
        assert_eq!(entry.metadata().await?.is_dir(), is_dir);
        names.push(name);
    }
    names.sort();
    assert_eq!(names, expected);
    assert!(entries.next_entry().await?.is_none());
    Ok(())
}

#[anyio::test]
async fn path_operations() -> Result<(), BoxError> {
    let dir = TempDir::new("paths");
    let a = dir.join("a.txt");
    assert!(!a.exists().await?);
    assert!(!a.is_file().await?);
    a.write("hello").await?;
    assert!(a.exists().await?);
    assert!(a.is_file().await?);
    assert!(!a.is_dir().await?);
    assert!(dir.0.is_dir().await?);
    assert_eq!(a.metadata().await?.len(), 5);
    assert_eq!(a.read().await?, b"hello");

    // Derived paths stay anyio paths.
    let b: Path = a.with_file_name("b.txt");
    assert_eq!(a.copy(&b).await?, 5);
    assert_eq!(b.read_to_string().await?, "hello");
    let c = b.rename(dir.join("c.txt")).await?;
    assert_eq!(c, dir.join("c.txt"));
    assert!(!b.exists().await?);
    assert_eq!(c.with_extension("md").extension().unwrap(), "md");
    assert_eq!(c.parent().unwrap(), dir.0);
    c.remove_file().await?;
    assert!(!c.exists().await?);

    let nested = dir.join("x").join("y").join("z");
    nested.create_dir_all().await?;
    nested.create_dir_all().await?;
    assert!(nested.is_dir().await?);
    let e = dir.join("x").remove_dir().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::DirectoryNotEmpty);
    nested.remove_dir().await?;
    dir.join("x").remove_dir_all().await?;
    assert!(!dir.join("x").exists().await?);

    let mut f = a.open("a").await?;
    f.write_all(b" world").await?;
    f.close().await?;
    assert_eq!(a.read_to_string().await?, "hello world");

    anyio::fs::hard_link(&a, dir.join("hard")).await?;
    assert_eq!(dir.join("hard").read_to_string().await?, "hello world");
    assert!(Path::cwd().await?.is_absolute());
    Ok(())
}

#[cfg(unix)]
#[anyio::test]
async fn symlinks_and_canonicalize() -> Result<(), BoxError> {
    let dir = TempDir::new("links");
    let real = dir.join("real.txt");
    real.write("data").await?;
    let link = dir.join("link.txt");
    link.symlink_to(&real).await?;
    assert!(link.is_symlink().await?);
    assert!(!real.is_symlink().await?);
    assert!(link.symlink_metadata().await?.file_type().is_symlink());
    assert!(link.metadata().await?.is_file());
    assert_eq!(link.read_link().await?, real);
    assert_eq!(link.read_to_string().await?, "data");
    let canonical = link.canonicalize().await?;
    assert_eq!(canonical, real.canonicalize().await?);
    assert_eq!(canonical, std::fs::canonicalize(&*real)?);
    assert_eq!(
        dir.join("sub")
            .join("..")
            .join("real.txt")
            .canonicalize()
            .await
            .unwrap_err()
            .kind(),
        io::ErrorKind::NotFound,
        "a missing component is the OS's NotFound"
    );

    // A dangling link: exists() follows it.
    let dangling = dir.join("dangling");
    anyio::fs::symlink(dir.join("nowhere"), &dangling).await?;
    assert!(!dangling.exists().await?);
    assert!(dangling.is_symlink().await?);
    dangling.remove_file().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Errors

#[anyio::test]
async fn missing_paths_give_the_os_error_unchanged() -> Result<(), BoxError> {
    const ENOENT: i32 = 2; // the same on Linux, macOS and the BSDs
    let dir = TempDir::new("missing");
    let missing = dir.join("missing.txt");
    let errors = [
        open_file(&missing, "r").await.unwrap_err(),
        AsyncFile::open(&missing).await.unwrap_err(),
        missing.metadata().await.unwrap_err(),
        missing.read().await.unwrap_err(),
        missing.remove_file().await.unwrap_err(),
        missing.read_dir().await.unwrap_err(),
        missing.rename(dir.join("other")).await.unwrap_err(),
        FileReadStream::from_path(&missing).await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e:?}");
        assert_eq!(e.raw_os_error(), Some(ENOENT), "{e:?}");
        assert!(!is_cancelled(&e));
    }
    Ok(())
}

#[cfg(unix)]
#[anyio::test]
async fn permission_errors_give_the_os_error_unchanged() -> Result<(), BoxError> {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("permissions");
    let locked = dir.join("locked.txt");
    locked.write("secret").await?;
    locked
        .set_permissions(std::fs::Permissions::from_mode(0o000))
        .await?;
    // Root (or a process with CAP_DAC_OVERRIDE) bypasses file permissions, so the open
    // succeeds there: skip the assertion when std itself can open the file.
    if std::fs::File::open(&*locked).is_ok() {
        eprintln!("skipped: running with privileges that bypass file permissions");
        return Ok(());
    }
    let std_error = std::fs::File::open(&*locked).unwrap_err();
    let e = open_file(&locked, "r").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(e.raw_os_error(), std_error.raw_os_error());
    let e = locked.read().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    Ok(())
}

#[anyio::test]
async fn a_closed_file_fails_with_closed_resource_error() -> Result<(), BoxError> {
    let dir = TempDir::new("closed");
    let path = dir.join("data.txt");
    path.write("data\n").await?;
    let mut f = open_file(&path, "r+").await?;
    assert!(!f.is_closed());
    f.close().await?;
    assert!(f.is_closed());
    f.close().await?; // closing again does nothing

    assert_closed(&f.read(&mut [0; 4]).await.unwrap_err());
    assert_closed(&f.readline().await.unwrap_err());
    assert_closed(&f.read_to_end_vec().await.unwrap_err());
    assert_closed(&f.write_all(b"x").await.unwrap_err());
    assert_closed(&f.flush().await.unwrap_err());
    assert_closed(&f.seek(SeekFrom::Start(0)).await.unwrap_err());
    assert_closed(&f.tell().await.unwrap_err());
    assert_closed(&f.set_len(0).await.unwrap_err());
    assert_closed(&f.sync_all().await.unwrap_err());
    assert_closed(&f.metadata().await.unwrap_err());
    assert_closed(&f.lines().next().await.unwrap().unwrap_err());
    assert_closed(&f.into_std().await.unwrap_err());
    Ok(())
}

#[anyio::test]
async fn os_errors_on_an_open_file_pass_through() -> Result<(), BoxError> {
    let dir = TempDir::new("badfd");
    let path = dir.join("data.txt");
    path.write("data").await?;
    // Writing to a file opened read-only: the OS's EBADF, unchanged.
    let mut f = open_file(&path, "r").await?;
    let e = f.write_all(b"x").await.unwrap_err();
    let std_error = std::io::Write::write(&mut std::fs::File::open(&*path)?, b"x").unwrap_err();
    assert_eq!(e.kind(), std_error.kind());
    assert_eq!(e.raw_os_error(), std_error.raw_os_error());
    assert!(e.raw_os_error().is_some());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cancellation

#[anyio::test]
async fn operations_in_a_cancelled_scope_fail_with_a_cancellation() -> Result<(), BoxError> {
    let dir = TempDir::new("cancel");
    let path = dir.join("data.txt");
    path.write("one\ntwo\nthree\n").await?;
    let mut f = open_file(&path, "r+").await?;
    assert_eq!(f.readline().await?, "one\n");
    let scope = CancelScope::new();
    scope.cancel();
    let path2 = path.clone();
    let dir_path = dir.0.clone();
    let out = scope
        .run(async {
            // Served from the buffer or not, each is a checkpoint.
            assert_cancelled(&f.readline().await.unwrap_err());
            assert_cancelled(&f.read(&mut [0; 3]).await.unwrap_err());
            assert_cancelled(&f.lines().next().await.unwrap().unwrap_err());
            assert_cancelled(&f.write_all(b"x").await.unwrap_err());
            assert_cancelled(&f.seek(SeekFrom::Start(0)).await.unwrap_err());
            assert_cancelled(&f.tell().await.unwrap_err());
            assert_cancelled(&f.metadata().await.unwrap_err());
            assert_cancelled(&path2.read().await.unwrap_err());
            assert_cancelled(&path2.exists().await.unwrap_err());
            assert_cancelled(&open_file(&path2, "r").await.unwrap_err());
            assert_cancelled(&dir_path.read_dir().await.unwrap_err());
            let e = path2.remove_file().await.unwrap_err();
            assert_cancelled(&e);
            Err::<(), io::Error>(e)
        })
        .await?;
    assert_eq!(out, None, "the scope caught its cancellation");
    // Nothing was lost or done: the file is where it was, and still there.
    assert!(path.exists().await?);
    assert_eq!(f.readline().await?, "two\n");
    assert_eq!(f.tell().await?, 8);
    assert_eq!(path.read_to_string().await?, "one\ntwo\nthree\n");
    Ok(())
}

#[anyio::test]
async fn a_cancelled_read_dir_resumes() -> Result<(), BoxError> {
    let dir = TempDir::new("cancel-dir");
    for i in 0..3 {
        dir.join(&i.to_string()).write("").await?;
    }
    let mut entries = dir.0.read_dir().await?;
    let first = entries.next_entry().await?.unwrap();
    let scope = CancelScope::new();
    scope.cancel();
    scope
        .run(async {
            let e = entries.next().await.unwrap().unwrap_err();
            assert_cancelled(&e);
            Err::<(), io::Error>(e)
        })
        .await?;
    let mut names = vec![first.file_name()];
    while let Some(entry) = entries.next_entry().await? {
        names.push(entry.file_name());
    }
    names.sort();
    assert_eq!(names, ["0", "1", "2"]);
    Ok(())
}

#[anyio::test]
async fn close_in_a_cancelled_scope_still_closes() -> Result<(), BoxError> {
    let dir = TempDir::new("cancel-close");
    let path = dir.join("data.txt");
    path.write("x").await?;
    let mut f = open_file(&path, "r").await?;
    let scope = CancelScope::new();
    scope.cancel();
    scope
        .run(async {
            let e = f.close().await.unwrap_err();
            assert_cancelled(&e);
            Err::<(), io::Error>(e)
        })
        .await?;
    assert!(f.is_closed());
    assert_closed(&f.read(&mut [0; 1]).await.unwrap_err());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// File streams

#[anyio::test]
async fn file_read_stream() -> Result<(), BoxError> {
    let dir = TempDir::new("read-stream");
    let path = dir.join("data.bin");
    let data = pattern(100_000);
    path.write(&data).await?;
    let mut stream = FileReadStream::from_path(&path).await?;

    let e = stream.receive(0).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(e.to_string(), "max_bytes must be a positive integer");

    let mut got = Vec::new();
    loop {
        match stream.receive(65536).await {
            Ok(chunk) => {
                assert!(!chunk.is_empty());
                got.extend_from_slice(&chunk);
            }
            Err(e) => {
                assert!(e.get_ref().is_some_and(|i| i.is::<EndOfStream>()), "{e:?}");
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                break;
            }
        }
    }
    assert_eq!(got, data);
    // Receiving again at the end is EndOfStream again.
    assert!(stream.receive(1).await.is_err());

    assert_eq!(stream.tell().await?, data.len() as u64);
    assert_eq!(stream.seek(SeekFrom::Start(10)).await?, 10);
    assert_eq!(stream.receive(5).await?, data[10..15]);
    assert_eq!(stream.tell().await?, 15);

    stream.aclose().await?;
    stream.aclose().await?;
    assert_closed(&stream.receive(1).await.unwrap_err());
    assert_closed(&stream.tell().await.unwrap_err());
    Ok(())
}

#[anyio::test]
async fn file_write_stream() -> Result<(), BoxError> {
    let dir = TempDir::new("write-stream");
    let path = dir.join("out.bin");
    let mut stream = FileWriteStream::from_path(&path, false).await?;
    stream.send(b"hello").await?;
    stream.send(b" ").await?;
    stream.aclose().await?;
    assert_closed(&stream.send(b"x").await.unwrap_err());

    let mut stream = FileWriteStream::from_path(&path, true).await?;
    stream.send(b"world").await?;
    stream.aclose().await?;
    assert_eq!(path.read_to_string().await?, "hello world");

    // Not appending truncates.
    let mut stream = FileWriteStream::from_path(&path, false).await?;
    stream.send(b"new").await?;
    stream.aclose().await?;
    assert_eq!(path.read_to_string().await?, "new");

    let scope = CancelScope::new();
    scope.cancel();
    let mut stream = FileWriteStream::new(std::fs::OpenOptions::new().append(true).open(&*path)?);
    scope
        .run(async {
            let e = stream.send(b"never").await.unwrap_err();
            assert_cancelled(&e);
            Err::<(), io::Error>(e)
        })
        .await?;
    stream.aclose().await?;
    assert_eq!(path.read_to_string().await?, "new");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Auto traits

#[test]
fn types_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<AsyncFile>();
    send_sync::<anyio::fs::Lines<'static>>();
    send_sync::<Path>();
    send_sync::<anyio::fs::ReadDir>();
    send_sync::<anyio::fs::DirEntry>();
    send_sync::<FileReadStream>();
    send_sync::<FileWriteStream>();

    // The futures of the methods can be moved into spawned tasks.
    let mut f = wrap_file(std::fs::File::open(std::env::current_exe().unwrap()).unwrap());
    send(&f.readline());
    send(&f.read(&mut []));
    send(&f.write_all(b""));
    send(&f.metadata());
    send(&f.lines().next_line());
    let p = Path::from("x");
    send(&p.read_dir());
    send(&p.write("x"));
    send(&open_file("x", "r"));
}
