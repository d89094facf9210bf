//! The ecosystem's traits on anyio's types, on the top floor beside the types they serve:
//! a trait of the `tokio` crate is not the tokio runtime, so these live here and not in
//! `backend/`.

#[cfg(all(unix, feature = "tokio-io"))]
mod tokio_io;

#[cfg(all(unix, feature = "hyper"))]
pub mod hyper;
