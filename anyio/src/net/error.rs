//! Errors that say what failed and where: every OS error of this area is wrapped with the
//! operation and the address, keeping its kind and its OS error as the source.

use std::error::Error;
use std::fmt;
use std::io;

pub(crate) use crate::resource::clip;

/// An OS error with what was being done, and to which address, when it happened.
#[derive(Debug)]
struct Context {
    what: String,
    cause: io::Error,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.cause)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

/// `err` with `what` (for example "connecting to 127.0.0.1:80") in front of its message.
/// Only OS errors are wrapped; the crate's own conditions (cancelled, closed, busy) are
/// returned as they are, so they stay recognisable.
pub(crate) fn context(err: io::Error, what: impl FnOnce() -> String) -> io::Error {
    if err.raw_os_error().is_none() {
        return err;
    }
    io::Error::new(
        err.kind(),
        Context {
            what: clip(&what()).into_owned(),
            cause: err,
        },
    )
}

/// `err` with `what` in front of its message, as [`context`], reported as `kind`: for OS
/// errors that std leaves uncategorised (`EMSGSIZE`), so that they can be matched. The OS
/// error stays the source (`IoErrorExt::os_error` finds it).
pub(crate) fn context_with_kind(
    err: io::Error,
    kind: io::ErrorKind,
    what: impl FnOnce() -> String,
) -> io::Error {
    io::Error::new(
        kind,
        Context {
            what: clip(&what()).into_owned(),
            cause: err,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn long_inputs_keep_their_start_and_end() {
        assert_eq!(clip("short"), "short");
        let exact = "x".repeat(256);
        assert_eq!(clip(&exact), exact.as_str());
        let long = format!(
            "{}{}{}",
            "a".repeat(200),
            "b".repeat(100_000),
            "c".repeat(100)
        );
        let shown = clip(&long);
        assert_eq!(
            shown,
            format!("{}[… 100076 bytes …]{}", "a".repeat(160), "c".repeat(64))
        );
        // Never inside a character.
        let wide = "é".repeat(1000);
        let shown = clip(&wide);
        assert!(shown.starts_with(&"é".repeat(80)) && shown.ends_with(&"é".repeat(32)));
    }
}
