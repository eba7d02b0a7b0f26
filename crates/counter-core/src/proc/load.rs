//! How busy the machine is: whether the workers of a run could really run at the same time.

use std::{fs, io};

use serde::{Deserialize, Serialize};

/// The machine's load at one moment, and its CPU time so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineLoad {
    /// CPUs this process may run on.
    pub cpus: usize,
    /// Load average over the last minute (`/proc/loadavg`).
    pub loadavg_1m: f64,
    /// Tasks runnable right now, this one included (`procs_running` in `/proc/stat`).
    pub procs_running: u64,
    /// CPU time of the whole machine so far, in clock ticks (every field of the `cpu` line).
    total_ticks: u64,
    /// Of which stolen by the hypervisor for other guests (`steal`).
    steal_ticks: u64,
    /// Of which idle (`idle` and `iowait`).
    idle_ticks: u64,
}

impl MachineLoad {
    /// Reads the load now.
    pub fn now() -> io::Result<MachineLoad> {
        let loadavg = fs::read_to_string("/proc/loadavg")?;
        let stat = fs::read_to_string("/proc/stat")?;
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("unexpected {what}"));
        let loadavg_1m =
            loadavg.split_whitespace().next().and_then(|v| v.parse().ok()).ok_or_else(|| bad("/proc/loadavg"))?;
        let procs_running = stat
            .lines()
            .find_map(|line| line.strip_prefix("procs_running "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad("procs_running in /proc/stat"))?;
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .filter(|line| line.starts_with("cpu "))
            .ok_or_else(|| bad("cpu line in /proc/stat"))?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        Ok(MachineLoad {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            loadavg_1m,
            procs_running,
            // guest and guest_nice are already counted in user and nice.
            total_ticks: ticks.iter().take(8).sum(),
            steal_ticks: ticks.get(7).copied().unwrap_or(0),
            idle_ticks: ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0),
        })
    }

    /// How many CPUs other work keeps busy: the machine's busy share over `window`, while this process waits,
    /// times its CPUs.
    pub fn busy_cpus_over(window: std::time::Duration) -> io::Result<f64> {
        let before = MachineLoad::now()?;
        std::thread::sleep(window);
        let after = MachineLoad::now()?;
        let total = after.total_ticks.saturating_sub(before.total_ticks);
        let idle = after.idle_ticks.saturating_sub(before.idle_ticks);
        Ok(if total == 0 { 0.0 } else { total.saturating_sub(idle) as f64 / total as f64 * after.cpus as f64 })
    }

    /// The share of the machine's CPU time stolen between `earlier` and `self`, percent.
    pub fn steal_percent_since(&self, earlier: &MachineLoad) -> f64 {
        let total = self.total_ticks.saturating_sub(earlier.total_ticks);
        if total == 0 {
            0.0
        } else {
            self.steal_ticks.saturating_sub(earlier.steal_ticks) as f64 * 100.0 / total as f64
        }
    }

    /// Whether `busy_cpus` (from [`MachineLoad::busy_cpus_over`]) is enough to disturb a run: a quarter of the
    /// machine or more.
    pub fn is_busy(&self, busy_cpus: f64) -> bool {
        busy_cpus >= self.cpus as f64 / 4.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_reads() {
        let before = MachineLoad::now().unwrap();
        assert!(before.cpus >= 1 && before.procs_running >= 1 && before.total_ticks > 0, "{before:?}");
        let after = MachineLoad::now().unwrap();
        let steal = after.steal_percent_since(&before);
        assert!((0.0..=100.0).contains(&steal), "{steal}");
        let busy = MachineLoad::busy_cpus_over(std::time::Duration::from_millis(50)).unwrap();
        assert!((0.0..=before.cpus as f64).contains(&busy), "{busy}");
    }
}
