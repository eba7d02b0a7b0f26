//! The atomic word the counter and the job queue are made of: std's, or loom's when the crate is built with
//! `--cfg loom` for the model-checking tests (`tests/loom.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
