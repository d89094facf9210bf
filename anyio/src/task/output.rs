//! What a task may return: [`TaskOutput`].

/// The output of a task started with [`TaskGroup::start_soon`](crate::TaskGroup::start_soon)
/// or [`TaskGroup::start`](crate::TaskGroup::start): `()`, or `Result<(), E>` where `E` is
/// the group's error type.
///
/// Exactly these two, so that an `async` block whose last line is `Ok(())` needs no type
/// annotation: its error type is the group's, and `?` inside it converts into that type
/// (an `io::Error` into [`BoxError`](crate::BoxError), say). A future with another error type
/// (an `async fn` of another crate) is started by awaiting it in a block:
/// `tg.start_soon(async move { Ok(conn.await?) })`.
///
/// Sealed: the rule is part of the API, so that inference keeps working.
#[diagnostic::on_unimplemented(
    message = "a task returns `()` or `Result<(), {E}>`, not `{Self}`",
    label = "this task's output",
    note = "a task with another error type converts it with `?`: `async move {{ Ok(fut.await?) }}`"
)]
pub trait TaskOutput<E>: sealed::Sealed<E> {
    /// The task's result as the group sees it.
    fn into_result(self) -> Result<(), E>;
}

impl<E> TaskOutput<E> for () {
    #[inline]
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

/// A task that never returns (`async { loop { tick().await } }`, or a block ending in a
/// panic): in edition 2024 such a block's output is `!`, which needs no conversion.
impl<E> TaskOutput<E> for Never {
    fn into_result(self) -> Result<(), E> {
        self
    }
}

impl<E> TaskOutput<E> for Result<(), E> {
    #[inline]
    fn into_result(self) -> Result<(), E> {
        self
    }
}

/// `!`, named on stable Rust: the output type of a function pointer that never returns.
type Never = <fn() -> ! as sealed::HasOutput>::Output;

mod sealed {
    /// The output type of a function pointer; public in a private module, so `Never` can
    /// appear in a public impl.
    pub trait HasOutput {
        type Output;
    }

    impl<T> HasOutput for fn() -> T {
        type Output = T;
    }

    pub trait Sealed<E> {}

    impl<E> Sealed<E> for () {}

    impl<E> Sealed<E> for Result<(), E> {}

    impl<E> Sealed<E> for super::Never {}
}
