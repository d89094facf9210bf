//! How [`open_file`](super::open_file) is told how to open: a [`std::fs::OpenOptions`], or
//! a Python mode string such as `"r"`, `"w"`, `"a+"`.

use std::fs::OpenOptions;
use std::io;

/// What [`open_file`](super::open_file) and [`Path::open`](super::Path::open) accept as
/// their `options`: a [`std::fs::OpenOptions`] (by value or by reference) or a Python mode
/// string.
///
/// Mode strings follow Python's `open`: exactly one of
///
/// | mode | opens for | creates | truncates |
/// | --- | --- | --- | --- |
/// | `r` | reading | no (the file must exist) | no |
/// | `w` | writing | yes | yes |
/// | `a` | appending | yes | no |
/// | `x` | writing | yes; fails with `AlreadyExists` if the file exists | - |
///
/// optionally followed or preceded by `+` (reading *and* writing) and by `b` or `t`. `b` and
/// `t` change nothing: an [`AsyncFile`](super::AsyncFile) always reads and writes bytes, and
/// its text methods ([`readline`](super::AsyncFile::readline),
/// [`read_to_string`](super::AsyncFile::read_to_string)) decode UTF-8 without translating
/// newlines.
///
/// ```
/// use anyio::fs::IntoOpenOptions;
///
/// assert!("rb".into_open_options().is_ok());
/// assert!("w+".into_open_options().is_ok());
/// assert!("rw".into_open_options().is_err()); // two modes
/// ```
///
/// Implement it for your own option types to pass them to `open_file`.
pub trait IntoOpenOptions {
    /// The options to open with.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) for a mode string that is not one of
    /// the above.
    fn into_open_options(self) -> io::Result<OpenOptions>;
}

impl IntoOpenOptions for OpenOptions {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        Ok(self)
    }
}

impl IntoOpenOptions for &OpenOptions {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        Ok(self.clone())
    }
}

impl IntoOpenOptions for &mut OpenOptions {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        Ok(self.clone())
    }
}

impl IntoOpenOptions for &str {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        parse_mode(self)
    }
}

impl IntoOpenOptions for &String {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        parse_mode(self)
    }
}

impl IntoOpenOptions for String {
    fn into_open_options(self) -> io::Result<OpenOptions> {
        parse_mode(&self)
    }
}

fn invalid_mode(mode: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "invalid mode: {:?} (expected one of r, w, a, x, optionally with + and b or t)",
            crate::resource::clip(mode)
        ),
    )
}

/// Parses a Python mode string.
fn parse_mode(mode: &str) -> io::Result<OpenOptions> {
    let (mut kind, mut plus, mut text_or_binary) = (None, false, false);
    for c in mode.chars() {
        match c {
            'r' | 'w' | 'a' | 'x' if kind.is_none() => kind = Some(c),
            '+' if !plus => plus = true,
            'b' | 't' if !text_or_binary => text_or_binary = true,
            _ => return Err(invalid_mode(mode)),
        }
    }
    let mut options = OpenOptions::new();
    match kind.ok_or_else(|| invalid_mode(mode))? {
        'r' => options.read(true),
        'w' => options.write(true).create(true).truncate(true),
        'a' => options.append(true).create(true),
        _ => options.write(true).create_new(true),
    };
    if plus {
        options.read(true).write(true);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        for ok in [
            "r", "rb", "rt", "r+", "+r", "w", "wb+", "a", "ab", "a+", "x", "xb",
        ] {
            assert!(ok.into_open_options().is_ok(), "{ok}");
        }
        for bad in ["", "rw", "r++", "q", "bt", "rbb", "b"] {
            let e = bad.into_open_options().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
