//! Cancel scopes, checkpoints and the per-task context behind them.
//!
//! The model is trio's: cancellation is cooperative and level-triggered, delivered as
//! `Err(Cancelled)` at checkpoints, and absorbed by the scope that caused it. See
//! [`CancelScope`] for the rules and `docs/cancellation.md` for the guide.

pub(crate) mod checkpoint;
pub(crate) mod context;
pub(crate) mod driver;
pub(crate) mod error;
#[cfg(all(test, anyio_loom))]
mod loom_tests;
pub(crate) mod node;
pub(crate) mod scope;
