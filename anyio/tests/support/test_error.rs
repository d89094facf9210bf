//! `TestError`: a typed error with a cancellation variant, for the tests that check exactly
//! what a group or a handle reports.

/// A typed error, to check exactly what is reported.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TestError {
    Cancelled,
    Failed(&'static str),
}

impl From<anyio::Cancelled> for TestError {
    fn from(_: anyio::Cancelled) -> Self {
        TestError::Cancelled
    }
}

impl From<anyio::GroupClosed> for TestError {
    fn from(_: anyio::GroupClosed) -> Self {
        TestError::Failed("group closed")
    }
}

impl anyio::IsCancelled for TestError {
    fn is_cancelled(&self) -> bool {
        *self == TestError::Cancelled
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Cancelled => f.write_str("cancelled"),
            TestError::Failed(why) => f.write_str(why),
        }
    }
}
