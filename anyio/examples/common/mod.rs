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
