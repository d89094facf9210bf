//! The serve loop survives running out of file descriptors: `accept` failing with `EMFILE`
//! makes it back off and retry, without spinning and without ending, and the connections
//! that waited are served once descriptors are free again.
//!
//! The server runs in a child process (this test binary again, running
//! [`probe_emfile_server`] with `ANYIO_EMFILE_CHILD` set) whose descriptor limit is lowered:
//! lowering it here would starve the other tests of this process.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyio::net::{SocketAttributes, SocketStream, TcpListenerOptions};
use anyio::stream::{IoErrorExt, Listener};
use anyio::{BoxError, current_backend, to_thread};

const CHILD_ENV: &str = "ANYIO_EMFILE_CHILD";
/// Descriptors the child may open beyond those it has when it lowers its limit: the
/// listener and a few connections.
const SPARE_FDS: u64 = 6;
const CLIENTS: usize = 16;

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The child: an echo server of lines with few descriptors; "stats" answers with the CPU
/// time used so far, in microseconds.
#[anyio::test]
async fn probe_emfile_server() -> Result<(), BoxError> {
    if std::env::var_os(CHILD_ENV).is_none() {
        return Ok(()); // only meaningful as the child of the test below
    }
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0);
    let open = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    let limit = libc::rlimit {
        rlim_cur: open + SPARE_FDS,
        rlim_max: open + SPARE_FDS,
    };
    // SAFETY: `setrlimit` reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    println!("PORT {}", listener.local_port()?);
    std::io::stdout().flush()?;
    listener
        .serve(|stream: SocketStream| async move {
            loop {
                match stream.receive(1024).await {
                    Ok(data) if data.starts_with(b"stats") => {
                        let reply = format!("{}\n", cpu_time().as_micros());
                        let _ = stream.send(reply.as_bytes()).await;
                    }
                    Ok(data) => {
                        if stream.send(&data).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_end_of_stream() => return,
                    Err(_) => return,
                }
            }
        })
        .await?;
    Ok(())
}

/// Sends a line and waits up to `wait` for its echo.
fn echoed(conn: &mut TcpStream, line: &str, wait: Duration) -> bool {
    conn.set_read_timeout(Some(wait)).unwrap();
    conn.write_all(line.as_bytes()).unwrap();
    let mut buf = vec![0u8; line.len()];
    conn.read_exact(&mut buf).is_ok() && buf == line.as_bytes()
}

#[anyio::test]
async fn serve_survives_running_out_of_descriptors() -> Result<(), BoxError> {
    let backend = current_backend()?;
    to_thread::run_sync(move || {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("probe_emfile_server::{backend}"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let port: u16 = loop {
            let mut line = String::new();
            assert_ne!(out.read_line(&mut line).unwrap(), 0, "the child died");
            // The harness prints the test's name on the same line, before it.
            if let Some((_, p)) = line.split_once("PORT ") {
                break p.trim().parse().unwrap();
            }
        };

        // More clients than the child has descriptors: the kernel queues them all, the
        // server accepts until EMFILE.
        let mut conns: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let served: Vec<bool> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| echoed(c, &format!("hello {i}\n"), Duration::from_millis(500)))
            .collect();
        let waiting: Vec<usize> = (0..CLIENTS).filter(|&i| !served[i]).collect();
        assert!(served.iter().any(|&s| s), "some connections are served");
        assert!(!waiting.is_empty(), "the limit was reached: {served:?}");

        // The server is out of descriptors now; a spinning accept loop would burn a core.
        let cpu_before = stats(port).is_none();
        assert!(
            cpu_before,
            "no descriptor is free for a stats connection yet"
        );
        let phase = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));

        // Free descriptors: every waiting connection is then served, on the connection it
        // opened long ago, with the line it sent then.
        for (i, conn) in conns.iter_mut().enumerate() {
            if served[i] {
                conn.shutdown(std::net::Shutdown::Both).unwrap();
            }
        }
        for &i in &waiting {
            let conn = &mut conns[i];
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let expected = format!("hello {i}\n");
            let mut buf = vec![0u8; expected.len()];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(buf, expected.as_bytes(), "connection {i} served late");
            conn.shutdown(std::net::Shutdown::Both).unwrap();
        }
        let wall = phase.elapsed();
        let cpu = stats(port).expect("the server still accepts");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            cpu < wall / 2,
            "the accept loop backs off instead of spinning: {cpu:?} of CPU in {wall:?}"
        );
    })
    .await?;
    Ok(())
}

/// The child's CPU time so far, if a connection can be served right now.
fn stats(port: u16) -> Option<Duration> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    conn.write_all(b"stats\n").ok()?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).ok()?;
    line.trim().parse().ok().map(Duration::from_micros)
}
