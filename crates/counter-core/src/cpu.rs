//! CPU time, context switches and peak resident memory, as `getrusage` and `wait4` give them.

use nix::sys::{
    resource::{UsageWho, getrusage},
    time::TimeValLike,
};
use serde::{Deserialize, Serialize};

/// Resource use of a process, its threads, or its reaped children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// CPU time spent in user mode, in seconds.
    pub user_s: f64,
    /// CPU time spent in the kernel, in seconds.
    pub sys_s: f64,
    /// Context switches because the worker waited (sleep, lock, I/O).
    pub voluntary_switches: u64,
    /// Context switches because the scheduler took the CPU away.
    pub involuntary_switches: u64,
}

impl CpuUsage {
    /// Converts the C library's record.
    pub fn from_rusage(usage: &libc::rusage) -> CpuUsage {
        let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        CpuUsage {
            user_s: seconds(usage.ru_utime),
            sys_s: seconds(usage.ru_stime),
            voluntary_switches: usage.ru_nvcsw as u64,
            involuntary_switches: usage.ru_nivcsw as u64,
        }
    }

    /// This process, all its threads included.
    pub fn of_this_process() -> CpuUsage {
        // RUSAGE_SELF cannot fail; on the impossible error the usage reads as none.
        getrusage(UsageWho::RUSAGE_SELF).map_or_else(
            |_| CpuUsage::default(),
            |usage| CpuUsage {
                user_s: usage.user_time().num_microseconds() as f64 / 1e6,
                sys_s: usage.system_time().num_microseconds() as f64 / 1e6,
                voluntary_switches: usage.voluntary_context_switches() as u64,
                involuntary_switches: usage.involuntary_context_switches() as u64,
            },
        )
    }

    /// The sum of two records.
    #[must_use]
    pub fn plus(self, other: CpuUsage) -> CpuUsage {
        CpuUsage {
            user_s: self.user_s + other.user_s,
            sys_s: self.sys_s + other.sys_s,
            voluntary_switches: self.voluntary_switches + other.voluntary_switches,
            involuntary_switches: self.involuntary_switches + other.involuntary_switches,
        }
    }

    /// What was used between `earlier` and `self`.
    #[must_use]
    pub fn since(self, earlier: CpuUsage) -> CpuUsage {
        CpuUsage {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
            voluntary_switches: self.voluntary_switches.saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self.involuntary_switches.saturating_sub(earlier.involuntary_switches),
        }
    }
}
