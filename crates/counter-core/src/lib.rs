//! What every frontend of the shared-counter experiment shares.
//!
//! The experiment is the seed program of a classic tutorial: five workers each add 1 to a shared counter 1000
//! times after 10 ms of simulated work. This crate holds everything that is not about *how* workers are made,
//! in layers, each knowing only those below it:
//!
//! 1. The ground: [`model`] (the closed list of models and their names), [`duration`] (`10ms`-style
//!    durations), [`units`] (figures for people), [`output`] (printing without panicking), [`signals`],
//!    [`cpu`] (`getrusage`), [`child`] (children that die with us, stopped and reaped with `wait4`), [`unique`]
//!    (names no other run takes), and [`proc`], the memory probe (RSS, PSS, USS of a process tree) and the
//!    system's limits.
//! 2. The workload: [`config`], a [`config::Request`] as asked, validated once into a [`config::Config`],
//!    with its [`config::ConfigError`].
//! 3. The counter and its memory layout: [`counter`] with its five strategies (racy, mutex, atomic, sharded,
//!    optimistic), laid out to work on the heap and in a shared-memory segment alike; [`mutex`], its robust
//!    process-shared lock; [`queue`], the job queue of a pooled run.
//! 4. The worker loop and its pacing: [`workload`]; [`pool`] runs the workers' loops as jobs on a pool;
//!    [`hold`] keeps the workers alive to be inspected.
//! 5. The run report: [`report`], with [`extension`], the one way a model carries figures of its own.
//! 6. Text: [`render`], which draws every sentence from the report's figures.
//! 7. The run-level error: [`error`], the only error that carries a report, and the exit codes.
//! 8. The flags: [`cli`], the only module that knows clap, and the end of every `main`.
//! 9. What the tools know of each model: [`catalog`].
//!
//! The frontends, one crate per model, only make workers, start them together, and fill in a
//! [`report::Measurements`]; what only one of them measures is its own type,
//! carried in the report as an [`extension::Extension`]. The core names no model except in [`model`] and
//! [`catalog`].
#![warn(missing_docs)]

pub mod catalog;
pub mod child;
pub mod cli;
pub mod config;
pub mod counter;
pub mod cpu;
pub mod duration;
pub mod error;
pub mod extension;
pub mod hold;
pub mod latency;
pub mod model;
pub mod mutex;
pub mod output;
pub mod pool;
pub mod proc;
pub mod queue;
pub mod render;
pub mod report;
pub mod secrets;
pub mod signals;
mod sync;
pub mod trace;
pub mod unique;
pub mod units;
pub mod workload;
