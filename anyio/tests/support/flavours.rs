//! `on_every_flavour!(name, ...)`: runs `async fn name() -> Result<(), BoxError>` on every
//! backend, once on a current-thread runtime and once with two worker threads, as the
//! tests `name::current_thread::{tokio,smol}` and `name::multi_thread::{tokio,smol}`.
//!
//! `on_every_flavour!(virtual_clock: name, ...)` does the same on a virtual clock with
//! autojump (`#[anyio::test(virtual_clock, ...)]`).

macro_rules! on_every_flavour {
    (virtual_clock: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[anyio::test(virtual_clock, tokio(current_thread), smol(current_thread))]
            async fn current_thread() -> Result<(), anyio::BoxError> {
                super::$name().await
            }

            #[anyio::test(virtual_clock, tokio(worker_threads = 2), smol(worker_threads = 2))]
            async fn multi_thread() -> Result<(), anyio::BoxError> {
                super::$name().await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[anyio::test(tokio(current_thread), smol(current_thread))]
            async fn current_thread() -> Result<(), anyio::BoxError> {
                super::$name().await
            }

            #[anyio::test(tokio(worker_threads = 2), smol(worker_threads = 2))]
            async fn multi_thread() -> Result<(), anyio::BoxError> {
                super::$name().await
            }
        }
    )*};
}
