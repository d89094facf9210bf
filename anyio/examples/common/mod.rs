//! What every example shares: reading `--backend tokio|smol` from the command line, and
//! turning the outcome of a run into an exit status.
//!
//! An example includes this file with `mod common;`. Cargo builds only the top-level files
//! of `examples/` as examples, so this directory is not an example of its own.

use std::process::ExitCode;

use anyio::{Backend, BoxError, RunError, Runner};

/// How to call an example.
const USAGE: &str = "usage: cargo run --example <name> [-- --backend tokio|smol]";

/// The backend named by `--backend NAME` (or `--backend=NAME`) in the process arguments,
/// else the default backend (tokio, when that feature is on).
///
/// On a bad command line it prints why to stderr and exits with status 2: an unknown
/// backend name prints the parse error, which lists the backends of this build.
pub(crate) fn backend_from_args() -> Backend {
    match parse_backend(std::env::args().skip(1)) {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Parses the arguments (without the program name) into a backend.
pub(crate) fn parse_backend(args: impl IntoIterator<Item = String>) -> Result<Backend, String> {
    let mut args = args.into_iter();
    let mut backend = Runner::default().backend();
    while let Some(arg) = args.next() {
        let name = if arg == "--backend" {
            args.next()
                .ok_or_else(|| "--backend needs a value".to_owned())?
        } else if let Some(name) = arg.strip_prefix("--backend=") {
            name.to_owned()
        } else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        backend = name.parse::<Backend>().map_err(|e| e.to_string())?;
    }
    if !backend.is_enabled() {
        return Err(format!(
            "the {backend} backend is not compiled into this build (cargo feature \"{backend}\")"
        ));
    }
    Ok(backend)
}

/// The command line of an example that can also serve for ever: `--port N` and the backend
/// options every example has. On a bad command line it prints why and a usage line naming
/// `example`, and exits with status 2.
#[allow(dead_code)] // Only the examples that can serve for ever use it.
pub(crate) fn port_and_backend_from_args(example: &str) -> (Backend, Option<u16>) {
    let usage = |message: &str| -> ! {
        eprintln!("error: {message}");
        eprintln!("usage: cargo run --example {example} [-- --port N] [--backend tokio|smol]");
        std::process::exit(2);
    };
    let mut port = None;
    let mut rest = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--port=") {
            Some(v) => Some(v.to_owned()),
            None if arg == "--port" => args.next(),
            None => {
                rest.push(arg);
                continue;
            }
        };
        match value.and_then(|v| v.parse::<u16>().ok()) {
            Some(p) => port = Some(p),
            None => usage("--port needs a number from 0 to 65535"),
        }
    }
    match parse_backend(rest) {
        Ok(backend) => (backend, port),
        Err(message) => usage(&message),
    }
}

/// Reports the outcome of `Runner::run(example)` and picks the exit status: 0 when the
/// example succeeded, 1 when it failed or its runtime could not start.
pub(crate) fn exit_status(outcome: Result<Result<(), BoxError>, RunError>) -> ExitCode {
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
