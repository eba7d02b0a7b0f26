//! `--serve`: one private server kept for many runs, and what a tool that injects faults asks of it, in the
//! store's own terms, so that the tool names no store. The binary prints the address its server flag takes on
//! the first line, then answers requests on standard input, one line each, until that input closes or a stop
//! signal arrives:
//!
//! | request | answer |
//! |---|---|
//! | `version` | the server and its version: `<program> 7.0.15` |
//! | `processes` | the server's pids, space-separated |
//! | `counter RUN` | run `RUN`'s counter, 0 until there is one |
//! | `holder RUN` | the pid of the participant holding run `RUN`'s lock, if the lock is a lease; else empty |
//! | `end-connections RUN PID` | participant `PID`'s worker connections ended by the server's own command: how many, and how |
//! | `left RUN` | what run `RUN` left on the server, tab-separated (`never 2 keys without a time to live`, `waits 2 tables`: `never` should never be left, `waits` waits for a participant that did not end), then all of it removed |
//! | `watch RUN` | `watching`, once the server's log of commands is read for run `RUN`'s writes; `unsupported` where there is none |
//! | `watched` | what went back among those writes, tab-separated, and the watching ends |
//!
//! An answer that could not be made is `error: ` and why, on its line. A run id or pid that is not one is
//! refused, as a bad line is: what crosses the pipe is checked.

use std::{io, os::fd::AsFd as _};

use crate::participants::check_run_id;

/// A private server as `--serve` keeps it: what a tool that injects faults asks of it.
pub trait Served {
    /// What the binary's server flag takes to reach the server.
    fn address(&self) -> String;
    /// The server and its version, as a report names them.
    fn version(&self) -> String;
    /// Every process of the server.
    fn processes(&self) -> Vec<i32>;
    /// Run `run_id`'s counter, 0 until there is one.
    fn counter(&mut self, run_id: &str) -> Result<u64, String>;
    /// The pid of the participant that holds run `run_id`'s lock, where the lock is a lease that names its
    /// holder.
    fn lock_holder(&mut self, _run_id: &str) -> Result<Option<i32>, String> {
        Ok(None)
    }
    /// Ends participant `pid`'s worker connections by the server's own command: how many, and how, in words.
    fn end_connections(&mut self, run_id: &str, pid: i32) -> Result<String, String>;
    /// What run `run_id` left (each `never ...` or `waits ...`), all of it then removed.
    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String>;
    /// Starts reading the server's log of commands for run `run_id`'s writes; false where there is none.
    fn watch(&mut self, _run_id: &str) -> Result<bool, String> {
        Ok(false)
    }
    /// What went back among the writes watched; the watching ends.
    fn watched(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// The runtime a served server's requests run on (one thread: they come one at a time).
pub fn runtime(server: &'static str) -> Result<tokio::runtime::Runtime, crate::error::Error> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|error| {
        crate::error::Error::Frontend(crate::error::ServerError::ServerStart {
            server,
            detail: format!("no runtime for its requests: {error}"),
        })
    })
}

/// How often `--serve` looks for a stop signal, milliseconds.
const STOP_CHECK_MS: u16 = 50;
/// The longest request line taken.
const LONGEST_REQUEST: usize = 256;

/// `--serve`: prints `served`'s address, then answers requests until standard input closes or a stop signal
/// arrives. Returns at once if the address cannot be printed.
pub fn serve(served: &mut impl Served) {
    if counter_core::output::print(&format!("{}\n", served.address())).is_err() {
        return;
    }
    let stdin = io::stdin();
    let mut pending = Vec::new();
    loop {
        if counter_core::signals::received().is_some() {
            return;
        }
        let mut fds = [nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(STOP_CHECK_MS)) {
            Ok(1..) => {
                let mut buffer = [0_u8; 256];
                let read = match io::Read::read(&mut stdin.lock(), &mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => read,
                };
                pending.extend_from_slice(&buffer[..read]);
                while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let answer = answer(served, &String::from_utf8_lossy(&line[..end]));
                    if counter_core::output::print(&format!("{}\n", one_line(&answer))).is_err() {
                        return;
                    }
                }
                if pending.len() > LONGEST_REQUEST {
                    let _ = counter_core::output::print(&format!("error: a request over {LONGEST_REQUEST} bytes\n"));
                    pending.clear();
                }
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// The answer to one request line.
fn answer(served: &mut impl Served, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let answered = match words.as_slice() {
        ["version"] => Ok(served.version()),
        ["processes"] => Ok(served.processes().iter().map(i32::to_string).collect::<Vec<_>>().join(" ")),
        ["counter", run] => check_run_id(run).and_then(|()| served.counter(run)).map(|value| value.to_string()),
        ["holder", run] => check_run_id(run)
            .and_then(|()| served.lock_holder(run))
            .map(|holder| holder.map(|pid| pid.to_string()).unwrap_or_default()),
        ["end-connections", run, pid] => check_run_id(run)
            .and_then(|()| pid.parse::<i32>().ok().filter(|pid| *pid > 0).ok_or_else(|| "no pid".to_owned()))
            .and_then(|pid| served.end_connections(run, pid)),
        ["left", run] => check_run_id(run).and_then(|()| served.left_behind(run)).map(|left| left.join("\t")),
        ["watch", run] => check_run_id(run)
            .and_then(|()| served.watch(run))
            .map(|watching| if watching { "watching" } else { "unsupported" }.to_owned()),
        ["watched"] => Ok(served.watched().join("\t")),
        _ => Err(format!("unknown request ({} words)", words.len())),
    };
    answered.unwrap_or_else(|why| format!("error: {why}"))
}

/// `text` on one line: a line break in it (a server's message) becomes a space.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// What a server's log of commands showed done to a run's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// A plain write of this value.
    Write(u64),
    /// A fenced read or write, with its token.
    Fenced {
        /// The token.
        token: u64,
        /// A write, not a read.
        write: bool,
    },
}

/// What went back among `seen` (each with its milliseconds since the watching started, in the order the server
/// ran them), each event led by its milliseconds: a plain write at or below one already made (under a lock the
/// writes follow each other: a holder whose lease had expired made it), with what it cost from the write after
/// it; a fenced read or write with a token older than one already used (refused). `log` names the log.
pub fn what_went_back(seen: &[(u128, Logged)], ended_ms: u128, log: &str) -> Vec<String> {
    let (mut current, mut newest_token, mut writes) = (None::<u64>, 0, 0);
    let mut events = Vec::new();
    for (index, &(ms, logged)) in seen.iter().enumerate() {
        match logged {
            Logged::Write(value) => {
                writes += 1;
                if let Some(before) = current.filter(|before| value <= *before) {
                    let next = seen[index + 1..].iter().find_map(|(_, later)| match later {
                        Logged::Write(next) => Some(*next),
                        Logged::Fenced { .. } => None,
                    });
                    let cost = match next {
                        Some(next) if next > before => format!(
                            "the next write, {next}, came from a holder that had read {before}: the stale holder's \
                             own increment is the one lost"
                        ),
                        Some(next) => format!(
                            "the next write, {next}, went on from it: the {} increments it overwrote are lost",
                            before - value + 1
                        ),
                        None => format!("it was the last: the {} increments it overwrote are lost", before - value + 1),
                    };
                    events.push(format!("{ms} a stale write landed ({log}): {value} written over {before}; {cost}"));
                }
                current = Some(value);
            }
            Logged::Fenced { token, write } => {
                writes += u64::from(write);
                if token < newest_token {
                    let what = if write { "write" } else { "read" };
                    events.push(format!(
                        "{ms} a {what} with token {token} reached the counter after token {newest_token}: refused \
                         (fenced off)"
                    ));
                }
                newest_token = newest_token.max(token);
            }
        }
    }
    if events.is_empty() {
        events.push(format!("{ended_ms} nothing went back: {writes} writes of the counter, as {log} saw them"));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Served for Fake {
        fn address(&self) -> String {
            "unix:///x".to_owned()
        }
        fn version(&self) -> String {
            "fake 1".to_owned()
        }
        fn processes(&self) -> Vec<i32> {
            vec![7, 8]
        }
        fn counter(&mut self, run_id: &str) -> Result<u64, String> {
            Ok(run_id.len() as u64)
        }
        fn end_connections(&mut self, _: &str, pid: i32) -> Result<String, String> {
            Ok(format!("2 of {pid}\nended"))
        }
        fn left_behind(&mut self, _: &str) -> Result<Vec<String>, String> {
            Ok(vec!["never 1 key".to_owned(), "waits 2 tables".to_owned()])
        }
    }

    #[test]
    fn requests_are_answered_and_checked() {
        let ask = |line: &str| one_line(&answer(&mut Fake, line));
        assert_eq!(ask("version"), "fake 1");
        assert_eq!(ask("processes"), "7 8");
        assert_eq!(ask("counter run-1"), "5");
        assert_eq!(ask("holder run-1"), "");
        assert_eq!(ask("end-connections run-1 42"), "2 of 42 ended");
        assert_eq!(ask("left r"), "never 1 key\twaits 2 tables");
        assert_eq!(ask("watch r"), "unsupported");
        for bad in ["counter a\"b", "end-connections r -1", "end-connections r x", "nothing", "", "counter"] {
            assert!(ask(bad).starts_with("error: "), "{bad}: {}", ask(bad));
        }
    }

    #[test]
    fn a_write_that_goes_back_is_stale_and_an_old_token_refused() {
        use Logged::{Fenced, Write};
        let events = what_went_back(&[(1, Write(5)), (2, Write(6)), (3, Write(4)), (4, Write(7))], 9, "the log");
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].starts_with("3 a stale write landed (the log): 4 written over 6;"), "{events:?}");
        assert!(events[0].contains("the next write, 7, came from a holder that had read 6"), "{events:?}");
        let lost = what_went_back(&[(1, Write(5)), (2, Write(3)), (3, Write(4))], 9, "the log");
        assert!(lost[0].contains("went on from it: the 3 increments it overwrote are lost"), "{lost:?}");
        let fenced = [(1, Fenced { token: 2, write: false }), (2, Fenced { token: 1, write: true })];
        assert_eq!(what_went_back(&fenced, 9, "the log").len(), 1);
        assert!(what_went_back(&[(1, Write(1)), (2, Write(2))], 9, "the log")[0].starts_with("9 nothing went back: 2"));
    }
}
