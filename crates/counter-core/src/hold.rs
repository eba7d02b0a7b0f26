//! `--hold`: keep the workers alive, before they start, so that `ps`, `pmap`, `smem` or a harness can look
//! at them. The frontend announces the hold on stderr with one line that starts with [`READY_PREFIX`].

use std::{
    fmt::Write as _,
    io::{self, BufRead},
    os::fd::AsFd,
    thread,
    time::{Duration, Instant},
};

use crate::{model::Model, output, units};

use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::signal::Signal,
};

use crate::{config::Hold, signals, workload::STOP_CHECK_INTERVAL};

/// The start of the line a frontend prints on stderr once every worker is alive and held.
pub const READY_PREFIX: &str = "holding:";

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The time ran out, or the line arrived: start the workers.
    Done,
    /// A stop signal arrived.
    Signal(Signal),
    /// The frontend's own check said the workers are no longer all well (one died).
    Broken,
}

/// Waits as `hold` says, until a stop signal arrives, or until `healthy` (asked every few tens of
/// milliseconds) returns false.
pub fn wait(hold: Hold, healthy: &mut dyn FnMut() -> bool) -> Outcome {
    let holding = Holding::new(hold);
    loop {
        if let Some(outcome) = holding.step(healthy, STOP_CHECK_INTERVAL) {
            return outcome;
        }
    }
}

/// A hold under way, looked at a step at a time: a frontend whose thread must not block (an async runtime
/// with connections to keep alive) asks with no wait, and waits between steps in its own way.
#[derive(Debug)]
pub struct Holding {
    ends: Ends,
}

/// When a hold ends.
#[derive(Debug, Clone, Copy)]
enum Ends {
    /// At this moment.
    At(Instant),
    /// Only by a signal: a hold too long for the clock (centuries).
    Never,
    /// When a line (or the end of the input) arrives on standard input.
    OnStdin,
}

impl Holding {
    /// A hold that starts now.
    pub fn new(hold: Hold) -> Holding {
        let ends = match hold {
            Hold::For(duration) => Instant::now().checked_add(duration).map_or(Ends::Never, Ends::At),
            Hold::UntilStdin => Ends::OnStdin,
        };
        Holding { ends }
    }

    /// Whether the hold is over, waiting up to `wait` for it to be: `None` while it goes on.
    pub fn step(&self, healthy: &mut dyn FnMut() -> bool, wait: Duration) -> Option<Outcome> {
        if let Some(signal) = signals::received() {
            return Some(Outcome::Signal(signal));
        }
        if !healthy() {
            return Some(Outcome::Broken);
        }
        match self.ends {
            Ends::At(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Some(Outcome::Done);
                }
                thread::sleep(left.min(wait));
                None
            }
            Ends::Never => {
                thread::sleep(wait);
                None
            }
            Ends::OnStdin => {
                let stdin = io::stdin();
                let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::NONE);
                let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(0) | Err(Errno::EINTR) => None,
                    // Readable, closed, or an error: any of them ends the hold. A line is consumed if there is one.
                    Ok(_) | Err(_) => {
                        let _ = stdin.lock().read_line(&mut String::new());
                        Some(Outcome::Done)
                    }
                }
            }
        }
    }
}

/// What a frontend says when it holds its workers.
#[derive(Debug)]
pub struct Announcement<'a> {
    /// The frontend's model.
    pub model: Model,
    /// How many workers are alive.
    pub workers: u64,
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
        "{READY_PREFIX} {} pid {}: {} worker {} alive, waiting to start {until}; {}: {}{}\n",
        what.model.binary(),
        std::process::id(),
        what.workers,
        what.model.worker_nouns(),
        what.ids_label,
        units::id_list(what.ids, 32),
        what.extra,
    );
    for command in &what.tries {
        let _ = writeln!(text, "  try: {command}");
    }
    // One write, so that a reader waiting for the line gets it whole.
    output::eprint(&text);
}
