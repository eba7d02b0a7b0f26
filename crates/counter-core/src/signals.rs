//! SIGINT and SIGTERM, turned into a flag that workers and coordinators poll, so that a run interrupted by
//! Ctrl-C or `kill` stops its workers, cleans up, prints what it has and exits with 130 or 143.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The last stop signal received, or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RECEIVED.store(signal, Ordering::Relaxed);
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
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
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

/// The shell's exit code for a process ended by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: Signal) -> u8 {
    128 + signal as u8
}
