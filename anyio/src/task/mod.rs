//! Tasks: task groups, `start()`, task handles, the concurrency helpers (`gather`, `amap`,
//! `as_completed`), and introspection.

pub(crate) mod as_completed;
pub(crate) mod child;
mod clock_driver;
pub(crate) mod error;
pub(crate) mod gather;
pub(crate) mod group;
pub(crate) mod group_future;
pub(crate) mod handle;
pub(crate) mod info;
pub(crate) mod output;
pub(crate) mod root;
pub(crate) mod start;

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/tasks.md")]
struct TasksGuide;
