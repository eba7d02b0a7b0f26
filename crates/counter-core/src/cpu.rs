//! CPU time, context switches and peak resident memory from `getrusage` / `wait4`, and reaping children.

use std::{mem::MaybeUninit, os::unix::process::ExitStatusExt, process::ExitStatus};

use nix::{
    errno::Errno,
    sys::{
        resource::{UsageWho, getrusage},
        signal::Signal,
        time::TimeValLike,
    },
    unistd::Pid,
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

/// A child that ended, as `wait4` tells it.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// Its pid.
    pub pid: Pid,
    /// How it ended.
    pub status: ExitStatus,
    /// Its CPU use (and that of the children it reaped).
    pub cpu: CpuUsage,
    /// Its `ru_maxrss`, KiB.
    pub max_rss_kib: u64,
}

impl Reaped {
    /// How it ended, in words: `exited 0`, `killed by SIGKILL`.
    pub fn describe(&self) -> String {
        describe(self.status)
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<Signal> {
        self.status.signal().and_then(|number| Signal::try_from(number).ok())
    }
}

/// How a process ended, in words: `exited 0`, `killed by SIGKILL`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(number)) => {
            let name = Signal::try_from(number).map_or_else(|_| format!("signal {number}"), |s| s.as_str().to_owned());
            format!("killed by {name}")
        }
        _ => format!("ended with wait status {:#x}", status.into_raw()),
    }
}

/// Reaps one ended child: `pid`, or any child when `None`. With `block`, waits for one to end; without, returns
/// `Ok(None)` when none has ended yet. `ECHILD` means there is no child left to wait for.
pub fn wait4(pid: Option<Pid>, block: bool) -> nix::Result<Option<Reaped>> {
    let mut status = 0;
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: wait4 writes only through the two pointers, both valid for writes of their types.
        let reaped = unsafe { libc::wait4(pid.map_or(-1, Pid::as_raw), &raw mut status, flags, usage.as_mut_ptr()) };
        match reaped {
            0 => return Ok(None),
            -1 => match Errno::last() {
                Errno::EINTR if block => return Err(Errno::EINTR),
                Errno::EINTR => {}
                errno => return Err(errno),
            },
            pid => {
                // SAFETY: wait4 filled the record in (it was zeroed before, which is also a valid value).
                let usage = unsafe { usage.assume_init() };
                return Ok(Some(Reaped {
                    pid: Pid::from_raw(pid),
                    status: ExitStatus::from_raw(status),
                    cpu: CpuUsage::from_rusage(&usage),
                    max_rss_kib: usage.ru_maxrss as u64,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by the `wait4` under test, not by `Child::wait`
    fn a_child_is_reaped_with_its_status() {
        let child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let reaped = wait4(Some(Pid::from_raw(child.id() as i32)), true).unwrap().unwrap();
        assert_eq!(reaped.describe(), "exited 3");
        assert_eq!(reaped.signal(), None);
        let child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        assert!(wait4(Some(pid), false).unwrap().is_none(), "still running");
        nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
        let reaped = wait4(Some(pid), true).unwrap().unwrap();
        assert_eq!((reaped.describe(), reaped.signal()), ("killed by SIGKILL".to_owned(), Some(Signal::SIGKILL)));
    }
}
