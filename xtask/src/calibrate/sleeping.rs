//! Does a sleeping worker cost more than a plain sleep? Our threads and our tasks, asleep for the whole run
//! (`--increments 1 --work sleep:D`), next to the floor: programs that do nothing but the same sleeps
//! (`std::thread::sleep` in threads, `tokio::time::sleep` in tasks; the examples `plain_sleeping_threads` and
//! `plain_sleeping_tasks`). Each is run at two lengths of sleep, so that what a second of sleep costs is told apart
//! from what a run costs once (its start line, memory probe and report).

use std::{path::Path, process::Command, time::Duration};

use anyhow::{Context, bail};
use counter_core::{child, cpu::CpuUsage};
use serde::{Deserialize, Serialize};

use crate::runner;

/// What one program used, from `wait4` (its own and its reaped children's rusage).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    /// From start to end, seconds.
    pub wall_s: f64,
    /// User and system CPU time, seconds.
    pub cpu_s: f64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
}

/// One kind of sleeper, ours against the floor, at two lengths of sleep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SleepCost {
    /// `threads`, `tasks`.
    pub sleepers: String,
    /// How many sleep at once.
    pub count: u64,
    /// The shorter sleep, seconds; the longer is twice it.
    pub sleep_s: f64,
    /// Ours, sleeping `sleep_s`, then twice it.
    pub ours: [Usage; 2],
    /// The floor, likewise.
    pub plain: [Usage; 2],
}

impl SleepCost {
    /// CPU seconds that one more second of sleep costs: ours, the floor's.
    pub fn cpu_per_second(&self) -> (f64, f64) {
        let per = |runs: &[Usage; 2]| (runs[1].cpu_s - runs[0].cpu_s) / self.sleep_s;
        (per(&self.ours), per(&self.plain))
    }

    /// Context switches that one more second of sleep costs: ours, the floor's.
    pub fn switches_per_second(&self) -> (f64, f64) {
        let per = |runs: &[Usage; 2]| {
            let switches = |usage: &Usage| (usage.voluntary_switches + usage.involuntary_switches) as f64;
            (switches(&runs[1]) - switches(&runs[0])) / self.sleep_s
        };
        (per(&self.ours), per(&self.plain))
    }
}

/// Runs `program args` to its end and returns what it used.
fn usage_of(program: &Path, args: &[String]) -> anyhow::Result<Usage> {
    runner::check_signals()?;
    let started = std::time::Instant::now();
    let child = child::dies_with_us(
        Command::new(program).args(args).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()),
    )
    .spawn()
    .with_context(|| format!("could not run {}", program.display()))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let reaped = loop {
        match child::wait4(Some(pid), true) {
            Ok(Some(reaped)) => break reaped,
            Ok(None) | Err(nix::errno::Errno::EINTR) => {
                if let Err(interrupted) = runner::check_signals() {
                    child::stop(pid, Duration::from_secs(3));
                    return Err(interrupted.into());
                }
            }
            Err(errno) => bail!("could not wait for {}: {errno}", program.display()),
        }
    };
    if !reaped.status.success() {
        bail!("{} {} {}", program.display(), args.join(" "), reaped.describe());
    }
    let CpuUsage { user_s, sys_s, voluntary_switches, involuntary_switches } = reaped.cpu;
    Ok(Usage {
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s: user_s + sys_s,
        voluntary_switches,
        involuntary_switches,
    })
}

/// Our binary `ours` and the floor `plain`, `count` sleepers, asleep `sleep` and then twice as long, alternated.
pub fn measure(sleepers: &str, ours: &Path, plain: &Path, count: u64, sleep: Duration) -> anyhow::Result<SleepCost> {
    let mut cost = SleepCost {
        sleepers: sleepers.to_owned(),
        count,
        sleep_s: sleep.as_secs_f64(),
        ours: [Usage::default(); 2],
        plain: [Usage::default(); 2],
    };
    for (slot, length) in [sleep, sleep * 2].into_iter().enumerate() {
        let ours_args: Vec<String> = [
            "--workers",
            &count.to_string(),
            "--increments",
            "1",
            "--work",
            &format!("sleep:{}ms", length.as_millis()),
        ]
        .map(str::to_owned)
        .into();
        cost.ours[slot] = usage_of(ours, &ours_args)?;
        cost.plain[slot] = usage_of(plain, &[count.to_string(), length.as_millis().to_string()])?;
    }
    Ok(cost)
}
