//! What every frontend of the shared-counter experiment shares.
//!
//! The experiment is the seed program of a classic tutorial: five workers each add 1 to a shared counter 1000
//! times after 10 ms of simulated work. This crate holds everything that is not about *how* workers are made:
//!
//! - [`config`]: the workload (workers, increments, work, window, strategy): a [`config::Request`] as asked,
//!   validated once into a [`config::Config`]; [`duration`] parses `10ms`-style durations; [`model`] names the
//!   three ways of making workers.
//! - [`counter`]: the counter with its four strategies (racy, mutex, atomic, sharded), laid out to work on the
//!   heap and in a shared-memory segment alike; [`mutex`] is its robust process-shared lock, whose guard cannot
//!   leave the thread that took it.
//! - [`workload`]: one worker's loop, for workers that may block (threads, processes); [`pool`] runs the
//!   workers' loops as jobs on a pool instead.
//! - [`report`]: the run report every frontend produces; [`render`] prints it for people.
//! - [`proc`]: the memory probe (RSS, PSS, USS of a process tree) and the system limits, the only code that
//!   reads `/proc`; [`cpu`] reads `getrusage` and reaps children with `wait4`.
//! - [`error`]: the one error a run ends with, and its exit code; [`cli`]: the flags every binary accepts and
//!   the end of every `main`; [`output`] prints without panicking; [`units`] writes figures for people;
//!   [`signals`] and [`hold`] let a run be interrupted and inspected.
//!
//! The frontends (`counter-threads`, `counter-processes`, `counter-async`) only make workers, start them
//! together, and fill in a [`report::Measurements`].
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod counter;
pub mod cpu;
pub mod duration;
pub mod error;
pub mod hold;
pub mod model;
pub mod mutex;
pub mod output;
pub mod pool;
pub mod proc;
pub mod render;
pub mod report;
pub mod signals;
pub mod units;
pub mod workload;
