//! `--hold`: keep the workers alive, before they start, so that `ps`, `pmap`, `smem` or a harness can look
//! at them. The frontend announces the hold on stderr with one line that starts with [`READY_PREFIX`].

use std::{
    fmt::Write as _,
    io::{self, BufRead},
    os::fd::AsFd,
    thread,
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::signal::Signal,
};

use crate::{config::Hold, signals, workload::STOP_CHECK_INTERVAL};

/// The start of the line a frontend prints on stderr once every worker is alive and held.
pub const READY_PREFIX: &str = "holding:";

/// Waits as `hold` says, or until a stop signal arrives (returned as the error).
pub fn wait(hold: Hold) -> Result<(), Signal> {
    match hold {
        Hold::For(duration) => wait_for(duration),
        Hold::UntilStdin => wait_for_stdin(),
    }
}

fn wait_for(duration: Duration) -> Result<(), Signal> {
    let deadline = Instant::now() + duration;
    loop {
        if let Some(signal) = signals::received() {
            return Err(signal);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(STOP_CHECK_INTERVAL));
    }
}

fn wait_for_stdin() -> Result<(), Signal> {
    let stdin = io::stdin();
    let timeout = PollTimeout::try_from(STOP_CHECK_INTERVAL).unwrap_or(PollTimeout::NONE);
    loop {
        if let Some(signal) = signals::received() {
            return Err(signal);
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => {}
            // Readable, closed, or an error: any of them ends the hold. A line is consumed if there is one.
            Ok(_) | Err(_) => {
                let _ = stdin.lock().read_line(&mut String::new());
                return Ok(());
            }
        }
    }
}

/// Formats up to `limit` ids, then how many more there are.
pub fn list_ids(ids: &[i64], limit: usize) -> String {
    let mut text = ids.iter().take(limit).map(ToString::to_string).collect::<Vec<_>>().join(" ");
    if ids.len() > limit {
        let _ = write!(text, " ... and {} more", ids.len() - limit);
    }
    text
}

/// What a frontend says when it holds its workers.
#[derive(Debug)]
pub struct Announcement<'a> {
    /// The binary's name.
    pub program: &'a str,
    /// How many workers are alive.
    pub workers: u64,
    /// What a worker is: `thread`, `process`, `task`.
    pub noun: &'a str,
    /// What the ids are: `worker tids`, `worker pids`.
    pub ids_label: &'a str,
    /// The workers' OS ids.
    pub ids: &'a [i64],
    /// Model-specific facts appended to the line (`; segment /...`).
    pub extra: String,
    /// Commands a user may run now.
    pub tries: Vec<String>,
}

/// Prints the hold announcement on stderr: the line that starts with [`READY_PREFIX`], then commands to try.
pub fn announce(hold: Hold, what: &Announcement<'_>) {
    let until = match hold {
        Hold::For(duration) => format!("for {}", crate::duration::format_duration(duration)),
        Hold::UntilStdin => "until a line arrives on stdin".to_owned(),
    };
    let mut text = format!(
        "{READY_PREFIX} {} pid {}: {} worker {}s alive, waiting to start {until}; {}: {}{}\n",
        what.program,
        std::process::id(),
        what.workers,
        what.noun,
        what.ids_label,
        list_ids(what.ids, 32),
        what.extra,
    );
    for command in &what.tries {
        let _ = writeln!(text, "  try: {command}");
    }
    // One write, so that a reader waiting for the line gets it whole.
    eprint!("{text}");
}
