//! SIGINT and SIGTERM, turned into a flag that workers and coordinators look at, so that a run interrupted by
//! Ctrl-C or `kill` stops its workers, cleans up, prints what it has and exits with 130 or 143. The flag is also
//! the word that sleeping workers wait on ([`sleep_unless_received`]): the handler wakes them all at once, so
//! that a sleeping worker never has to wake up to look.

use std::{
    sync::atomic::{AtomicI32, Ordering},
    time::{Duration, Instant},
};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The last stop signal received, or 0; the futex word sleepers wait on.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::Relaxed);
    // SAFETY: FUTEX_WAKE on the address of a static that lives as long as the process; a raw system call, which
    // is async-signal-safe, and touches no other memory.
    unsafe { libc::syscall(libc::SYS_futex, RECEIVED.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX) };
}

/// Installs the handlers for SIGINT and SIGTERM, and ignores SIGXFSZ. Call it once, first thing in `main`.
///
/// SIGXFSZ would kill the program without a word when a write passes `RLIMIT_FSIZE` (a report written to a
/// file, the shared segment); ignored, the write fails with `EFBIG` instead, which is reported like any other
/// write error.
pub fn install() -> nix::Result<()> {
    // No SA_RESTART: a blocking call returns EINTR so that its caller looks at the flag at once.
    let action = SigAction::new(SigHandler::Handler(remember), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler stores to an atomic and makes one futex system call, both async-signal-safe.
        unsafe { sigaction(signal, &action)? };
    }
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: ignoring a signal installs no handler code.
    unsafe { sigaction(Signal::SIGXFSZ, &ignore)? };
    Ok(())
}

/// The stop signal received so far, if any.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => None,
        number => Signal::try_from(number).ok(),
    }
}

/// Sleeps for `duration`, or until a stop signal arrives (at once, if one has): `true` when the whole duration
/// passed. One futex wait on the signal flag, which the handler wakes: a sleeping worker costs what a plain sleep
/// costs, and sees a stop as soon as it comes. A duration too long for the clock waits for a signal alone.
pub fn sleep_unless_received(duration: Duration) -> bool {
    let deadline = Instant::now().checked_add(duration);
    loop {
        if RECEIVED.load(Ordering::Relaxed) != 0 {
            return false;
        }
        let left = deadline.map_or(Duration::MAX, |deadline| deadline.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return true;
        }
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
        };
        // SAFETY: FUTEX_WAIT reads the static flag and `timeout`, both valid for the call; it returns when woken,
        // when the flag is no longer 0, on a signal, or at the timeout, and each case is looked at again above.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                RECEIVED.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0,
                &raw const timeout,
            )
        };
    }
}

/// The shell's exit code for a process ended by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: Signal) -> u8 {
    128 + signal as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_without_a_signal_lasts_its_whole_duration() {
        // No handler is installed in the test process, so no stop can come: the sleep runs to its end.
        let started = Instant::now();
        assert!(sleep_unless_received(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(sleep_unless_received(Duration::ZERO));
    }
}
