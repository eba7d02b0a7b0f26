//! The workloads `compare` runs: presets, or the flags the user gave.

use counter_core::{config::Config, model::Model};

use counter_core::catalog::SlowStep;

use crate::models;

/// One workload, run on every model and strategy.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name: `io-like`, `cpu-contended`, `seed`, `custom`.
    pub name: &'static str,
    /// What it stands for, for the summary.
    pub about: &'static str,
    /// The workload flags passed to every frontend (never `--sync`, which is per row).
    pub flags: Vec<String>,
    /// Workers, for the per-worker figures.
    pub workers: u64,
    /// Which of a slow-stepped model's increments its rows get here ([`counter_core::catalog::Description::slow_step`]), if
    /// fewer than the scenario's: then its rows are their own group.
    pub slow_rows: Option<fn(&SlowStep) -> u64>,
    /// Whether only our binaries run it (a workload that differs only in a flag the Python programs do not
    /// have, such as `--timer`: theirs is already in another scenario).
    pub ours_only: bool,
}

impl Scenario {
    /// The flags a model's rows get: the scenario's, with fewer increments where the scenario and the model's
    /// description ask for it.
    pub fn flags_for(&self, model: Model) -> Vec<String> {
        let mut flags = self.flags.clone();
        if let (Some(increments), Some(slow)) = (self.slow_rows, models::of(model).slow_step)
            && let Some(i) = flags.iter().position(|flag| flag == "--increments")
            && let Some(value) = flags.get_mut(i + 1)
        {
            *value = increments(&slow).to_string();
        }
        flags
    }
}

/// The scenario sets `compare` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// An I/O-like scenario (short sleeps before each update, as the seed) and a CPU-contended one (no work:
    /// the workers hammer the counter, and racy really loses updates). About a minute in all.
    Default,
    /// The seed exactly: 5 workers x 1000 increments after 10 ms of sleep, about 10 s a run.
    Seed,
}

fn scenario(name: &'static str, about: &'static str, flags: &[&str]) -> Scenario {
    let flags: Vec<String> = flags.iter().map(|&flag| flag.to_owned()).collect();
    let workers = flags
        .iter()
        .position(|flag| flag == "--workers")
        .and_then(|i| flags.get(i + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(Config::default().workers());
    Scenario { name, about, flags, workers, slow_rows: None, ours_only: false }
}

impl Preset {
    /// The preset's scenarios.
    pub fn scenarios(self) -> Vec<Scenario> {
        match self {
            Preset::Default => vec![
                Scenario {
                    slow_rows: Some(|slow| slow.io_like),
                    ..scenario(
                        "io-like",
                        "short sleeps before each update, like the seed",
                        &["--workers", "5", "--increments", "30", "--work", "sleep:1ms", "--window", "before"],
                    )
                },
                Scenario {
                    slow_rows: Some(|slow| slow.contended),
                    ..scenario(
                        "cpu-contended",
                        "no work: the workers update the counter back to back",
                        &["--workers", "5", "--increments", "1000000", "--work", "none", "--window", "before"],
                    )
                },
            ],
            Preset::Seed => {
                const SEED: [&str; 8] =
                    ["--workers", "5", "--increments", "1000", "--work", "sleep:10ms", "--window", "before"];
                let relative: Vec<&str> = SEED.iter().copied().chain(["--timer", "relative"]).collect();
                vec![
                    scenario("seed", "the seed program: 5 x 1000 increments after 10 ms of sleep", &SEED),
                    // The seed sleeps with a plain `time.sleep`, whose oversleeps add up; our default timer makes
                    // up for them. Both side by side (the Python programs always sleep as the seed does).
                    Scenario {
                        ours_only: true,
                        ..scenario(
                            "seed-relative",
                            "the seed with plain sleeps, as its time.sleep: each oversleep adds to the wall time",
                            &relative,
                        )
                    },
                ]
            }
        }
    }
}

/// A scenario from flags the user gave; what is not given is each frontend's default (the seed).
pub fn custom(flags: Vec<String>) -> Scenario {
    let mut custom = scenario("custom", "the workload given on the command line", &[]);
    custom.workers = flags
        .iter()
        .position(|flag| flag == "--workers")
        .and_then(|i| flags.get(i + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(custom.workers);
    custom.flags = flags;
    custom
}
