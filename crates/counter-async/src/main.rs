//! `counter-async`: the seed program with one tokio task per worker.

use std::process::ExitCode;

use counter_async::{FRONTEND, Flavor, MODEL, RuntimeOptions, run};
use counter_core::{
    cli::{self, RunArgs},
    config::parse_count,
};

/// Five tasks each add 1 to a shared counter 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one tokio task per worker and reports the final value, the updates lost, the time
/// and the memory (RSS, PSS, USS) taken while every task was alive.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    /// The tokio runtime: one thread like asyncio (current-thread), or a pool of threads (multi-thread)
    #[arg(long, value_enum, default_value_t = Flavor::CurrentThread)]
    flavor: Flavor,

    /// Worker threads of the multi-thread runtime [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_count("threads", s).map(|n| usize::try_from(n).unwrap_or(usize::MAX)))]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(&FRONTEND);
    let options = RuntimeOptions { flavor: args.flavor, threads: args.threads };
    cli::execute(&FRONTEND, &args.run, None, |config| run(config, &options))
}
