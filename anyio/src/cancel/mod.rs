//! Cancel scopes: the scope tree, the scopes the code being polled is inside, and
//! checkpoints.
//!
//! The model is trio's: cancellation is cooperative and level-triggered, delivered as
//! `Err(Cancelled)` at checkpoints, and absorbed by the scope that caused it. See
//! [`CancelScope`] for the rules and `docs/cancellation.md` for the guide.

pub(crate) mod checkpoint;
pub(crate) mod current;
pub(crate) mod driver;
pub(crate) mod error;
#[cfg(all(test, anyio_loom))]
mod loom_tests;
pub(crate) mod node;
pub(crate) mod scope;

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/cancellation.md")]
struct CancellationGuide;
