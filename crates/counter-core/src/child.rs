//! Our children: the one way a child process is made to die with us (even by `kill -9`), stopped (SIGTERM, a
//! grace period, then SIGKILL), and reaped with its status and resource use (`wait4`); and where a program we
//! run is found.

use std::{
    io,
    mem::MaybeUninit,
    os::unix::process::{CommandExt as _, ExitStatusExt},
    path::PathBuf,
    process::{Command, ExitStatus},
    thread,
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::cpu::CpuUsage;

/// Makes this process receive SIGKILL when its parent dies, then checks that its parent is still `parent`:
/// if the parent died before the request, the signal will never come, and this says so with `ESRCH`.
///
/// Async-signal-safe: two system calls, no allocation, no lock; safe in a forked child before `exec`.
pub fn die_with_parent(parent: Pid) -> Result<(), Errno> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes the signal as its one argument and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: getppid cannot fail and touches no memory.
    if unsafe { libc::getppid() } == parent.as_raw() { Ok(()) } else { Err(Errno::ESRCH) }
}

/// Sets `command` up so that its process dies with this one, even by `kill -9`.
pub fn dies_with_us(command: &mut Command) -> &mut Command {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and calls only `die_with_parent`, which is
    // async-signal-safe; its error becomes an `io::Error` from a raw errno, which allocates nothing.
    unsafe {
        command.pre_exec(move || die_with_parent(parent).map_err(|errno| io::Error::from_raw_os_error(errno as i32)))
    }
}

/// The first `program` on the `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// How often a stop looks whether the child has ended.
const STOP_TICK: Duration = Duration::from_millis(5);

/// Stops child `pid`: SIGTERM, up to `grace` for it to end, then SIGKILL; reaps it either way. Returns what
/// `wait4` said of it, or `None` when it was not ours to reap (already reaped).
pub fn stop(pid: Pid, grace: Duration) -> Option<Reaped> {
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match wait4(Some(pid), false) {
            Ok(Some(reaped)) => return Some(reaped),
            Ok(None) => thread::sleep(STOP_TICK),
            Err(_) => return None,
        }
    }
    let _ = kill(pid, Signal::SIGKILL);
    loop {
        match wait4(Some(pid), true) {
            Ok(reaped) => return reaped,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
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

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by `stop`
    fn a_child_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let child = Command::new("sh").args(["-c", "trap '' TERM; sleep 60"]).spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        thread::sleep(Duration::from_millis(100)); // the trap is set
        let reaped = stop(pid, Duration::from_millis(200)).expect("reaped");
        assert_eq!(reaped.signal(), Some(Signal::SIGKILL));
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let reaped = stop(Pid::from_raw(child.id() as i32), Duration::from_secs(5)).expect("reaped");
        assert_eq!(reaped.signal(), Some(Signal::SIGTERM), "ended by the polite request");
    }

    #[test]
    fn a_child_that_would_outlive_us_is_refused_with_a_named_cause() {
        // Our parent is not pid 1 (the test runner started us): asking to die with pid 1 fails with ESRCH.
        let mut command = Command::new("true");
        let parent = Pid::from_raw(1);
        // SAFETY: as in `dies_with_us`.
        unsafe {
            command
                .pre_exec(move || die_with_parent(parent).map_err(|errno| io::Error::from_raw_os_error(errno as i32)));
        }
        let error = command.status().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH), "{error}");
        assert!(dies_with_us(&mut Command::new("true")).status().unwrap().success());
    }
}
