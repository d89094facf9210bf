//! `on_every_flavour!(name, ...)`: runs `async fn name() -> Result<(), BoxError>` on every
//! backend, once on a current-thread runtime and once with two worker threads, as the
//! tests `name::current_thread::{tokio,smol}` and `name::multi_thread::{tokio,smol}`.

macro_rules! on_every_flavour {
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
