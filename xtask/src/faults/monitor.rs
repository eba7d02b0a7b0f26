//! The server's own log of the commands it runs (`MONITOR`, through `redis-cli`), read for the writes of one
//! key: a write of a value below one already written is a stale write, made by a holder whose lease had expired;
//! a fenced read or write (a script) with a token older than one already used is one the counter refused.

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::Context;
use counter_core::child;

/// What the server ran on the counter.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// `SET key value PX ttl`: a plain write.
    Write(u64),
    /// A fenced script's read or write with its token.
    Fenced { token: u64, write: bool },
}

/// A `redis-cli MONITOR` running, and what it has seen done to one key, each with when it arrived.
pub(super) struct Monitor {
    process: Child,
    writes: Arc<Mutex<Vec<(Instant, Seen)>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts watching the server on `socket` for `SET <key> <number>`.
    pub(super) fn start(socket: &Path, key: &str) -> anyhow::Result<Monitor> {
        let mut process = child::dies_with_us(
            Command::new("redis-cli").arg("-s").arg(socket).arg("MONITOR").stdout(Stdio::piped()).stderr(Stdio::null()),
        )
        .spawn()
        .context("could not run redis-cli MONITOR")?;
        let stdout = process.stdout.take().context("redis-cli MONITOR has no output")?;
        let writes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&writes);
        let key = key.to_owned();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(event) = parse(&line, &key) {
                    seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((Instant::now(), event));
                }
            }
        });
        // MONITOR answers OK before it streams: a moment for that, so that no early write is missed.
        thread::sleep(Duration::from_millis(50));
        Ok(Monitor { process, writes, reader: Some(reader) })
    }

    /// Stops watching, and says what went back, relative to `t0`: a plain write below one already made (and
    /// whose increment that cost, from the write after it), or a fenced one with an old token (refused).
    pub(super) fn finish(mut self, t0: Instant) -> Vec<String> {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let seen = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let offset = |when: Instant| when.checked_duration_since(t0).map_or(0, |elapsed| elapsed.as_millis());
        // Under a lock the writes follow each other: a write at or below the one before went back.
        let (mut current, mut newest_token, mut writes) = (None::<u64>, 0, 0);
        let mut events = Vec::new();
        for (index, &(when, event)) in seen.iter().enumerate() {
            match event {
                Seen::Write(value) => {
                    writes += 1;
                    if let Some(before) = current.filter(|before| value <= *before) {
                        let next = seen[index + 1..].iter().find_map(|(_, later)| match later {
                            Seen::Write(next) => Some(*next),
                            Seen::Fenced { .. } => None,
                        });
                        let cost = match next {
                            Some(next) if next > before => format!(
                                "the next write, {next}, came from a holder that had read {before}: the stale \
                                 holder's own increment is the one lost"
                            ),
                            Some(next) => format!(
                                "the next write, {next}, went on from it: the {} increments it overwrote are lost",
                                before - value + 1
                            ),
                            None => {
                                format!("it was the last: the {} increments it overwrote are lost", before - value + 1)
                            }
                        };
                        events.push(format!(
                            "+{} ms: a stale write landed (the server's MONITOR): SET {value} over {before}; {cost}",
                            offset(when)
                        ));
                    }
                    current = Some(value);
                }
                Seen::Fenced { token, write } => {
                    writes += u64::from(write);
                    if token < newest_token {
                        events.push(format!(
                            "+{} ms: a {} with token {token} reached the counter after token {newest_token}: refused \
                             (fenced off)",
                            offset(when),
                            if write { "write" } else { "read" }
                        ));
                    }
                    newest_token = newest_token.max(token);
                }
            }
        }
        if events.is_empty() {
            events.push(format!("nothing went back: {writes} writes of the counter, as the server's MONITOR saw them"));
        }
        events
    }
}

/// One line of `MONITOR` (`1701234567.123456 [0 unix:/...] "SET" "key" "57" "PX" "60000"`: what the server ran,
/// as it ran it), if it touched `key` as a worker does.
fn parse(line: &str, key: &str) -> Option<Seen> {
    let words: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    match words.as_slice() {
        ["SET", k, value, "PX", _] if *k == key => value.parse().ok().map(Seen::Write),
        // EVAL script 2 newest-key value-key token [value] ttl: the fenced read, or the fenced write.
        ["EVAL", _, "2", _, k, token, rest @ ..] if *k == key && (1..=2).contains(&rest.len()) => {
            token.parse().ok().map(|token| Seen::Fenced { token, write: rest.len() == 2 })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_are_read_for_the_counter_only() {
        let key = "counter-lab:r:value";
        let line = |words: &str| format!("1701234567.123456 [0 unix:/tmp/s] {words}");
        assert!(matches!(
            parse(&line(r#""SET" "counter-lab:r:value" "57" "PX" "600000""#), key),
            Some(Seen::Write(57))
        ));
        assert!(parse(&line(r#""SET" "counter-lab:r:value" "0" "NX""#), key).is_none(), "the run's first value");
        assert!(parse(&line(r#""SET" "counter-lab:other:value" "5" "PX" "600000""#), key).is_none());
        let fenced =
            r#""EVAL" "local newest = ..." "2" "counter-lab:r:fence-newest" "counter-lab:r:value" "12" "40" "600000""#;
        assert!(matches!(parse(&line(fenced), key), Some(Seen::Fenced { token: 12, write: true })));
        let read =
            r#""EVAL" "local newest = ..." "2" "counter-lab:r:fence-newest" "counter-lab:r:value" "13" "600000""#;
        assert!(matches!(parse(&line(read), key), Some(Seen::Fenced { token: 13, write: false })));
    }
}
