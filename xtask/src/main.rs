//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `compare`: build the three frontends and run them on the same workload, measuring each run from the
//!   outside as well, and tabulate results and memory footprint side by side.
//! - `sweep`: measure each model's memory at a range of worker counts and fit the cost of one more worker.

mod compare;
mod output;
mod python;
mod runner;
mod stats;
mod sweep;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tasks of the shared-counter project.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every frontend (threads, processes, async tasks) on one workload and tabulate the results and the
    /// memory footprint side by side
    Compare(compare::Args),
    /// Measure each model's memory at a range of worker counts, fit the cost of one more worker, and plot it
    Sweep(sweep::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Compare(args) => compare::run(&args),
        Task::Sweep(args) => sweep::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
