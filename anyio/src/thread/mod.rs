//! The bridges between async code and blocking threads: [`to_thread`] runs blocking code
//! on a worker thread, and the thread-local context set there lets that code call back into
//! the event loop with [`from_thread`]; other threads do so with a token. [`portal`] runs
//! an event loop in a thread of its own for synchronous code to call into;
//! [`in_loop_portal`] opens one into the loop already running, and [`portal_provider`]
//! shares one between threads.

pub(crate) mod bridge;
pub mod from_thread;
pub(crate) mod in_loop_portal;
pub(crate) mod portal;
pub(crate) mod portal_provider;
pub mod to_thread;
pub(crate) mod worker;

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/threads.md")]
struct ThreadsGuide;
