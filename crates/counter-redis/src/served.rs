//! `--serve`'s answers in Redis' terms (`counter_client::serve`): the counter is a GET, the lock's holder the
//! start of its token, a participant's connections ended with `CLIENT KILL ID` (found by their names in
//! `CLIENT LIST`), what a run left is its keys without a time to live, and the server's log of commands is
//! `MONITOR`, read for the writes of the run's counter: a plain write at or below one already made is a stale
//! write, made by a holder whose lease had expired; a fenced read or write with a token older than one already
//! used is one the counter refused.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use counter_client::serve::{Logged, Served, what_went_back};
use redis::{Commands as _, Connection};

use crate::{keys::Keys, server::RedisServer};

/// How long one request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A private server kept by `--serve`.
pub(crate) struct ServedRedis {
    pub(crate) server: RedisServer,
    watcher: Option<Watcher>,
}

impl ServedRedis {
    pub(crate) fn new(server: RedisServer) -> ServedRedis {
        ServedRedis { server, watcher: None }
    }

    fn connection(&self) -> Result<Connection, String> {
        let client = redis::Client::open(self.server.url()).map_err(|error| error.to_string())?;
        let connection = client.get_connection_with_timeout(REQUEST_TIMEOUT).map_err(|error| error.to_string())?;
        connection.set_read_timeout(Some(REQUEST_TIMEOUT)).map_err(|error| error.to_string())?;
        Ok(connection)
    }
}

impl Served for ServedRedis {
    fn address(&self) -> String {
        self.server.url()
    }

    fn version(&self) -> String {
        format!("redis-server {}", self.server.version())
    }

    fn processes(&self) -> Vec<i32> {
        vec![self.server.pid()]
    }

    fn counter(&mut self, run_id: &str) -> Result<u64, String> {
        let value: Option<u64> = self.connection()?.get(Keys::new(run_id).value).map_err(|error| error.to_string())?;
        Ok(value.unwrap_or(0))
    }

    /// The lock's token starts with its holder's tag, which starts with its pid.
    fn lock_holder(&mut self, run_id: &str) -> Result<Option<i32>, String> {
        let token: Option<String> =
            self.connection()?.get(Keys::new(run_id).lock).map_err(|error| error.to_string())?;
        Ok(token.and_then(|token| token.split('-').next()?.parse().ok()))
    }

    fn end_connections(&mut self, run_id: &str, pid: i32) -> Result<String, String> {
        let mut connection = self.connection()?;
        let list: String =
            redis::cmd("CLIENT").arg("LIST").query(&mut connection).map_err(|error| error.to_string())?;
        let name = format!("name=counter-lab-{run_id}-{pid}-");
        let ids: Vec<&str> = list
            .lines()
            .filter(|line| line.split_whitespace().any(|field| field.starts_with(&name)))
            .filter_map(|line| line.split_whitespace().find_map(|field| field.strip_prefix("id=")))
            .collect();
        for id in &ids {
            let _: u64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query(&mut connection)
                .map_err(|error| error.to_string())?;
        }
        Ok(format!("{} (CLIENT KILL ID)", counter_core::units::count(ids.len() as u64, "connection", "connections")))
    }

    fn left_behind(&mut self, run_id: &str) -> Result<Vec<String>, String> {
        let mut connection = self.connection()?;
        let keys: Vec<String> = connection
            .scan_match::<_, String>(format!("{}*", Keys::new(run_id).prefix))
            .map_err(|error| error.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|error| error.to_string())?;
        let mut without_ttl = 0;
        for key in &keys {
            let ttl: i64 = connection.pttl(key).map_err(|error| error.to_string())?;
            without_ttl += u64::from(ttl == -1);
            let _: u64 = connection.del(key).map_err(|error| error.to_string())?;
        }
        Ok(if without_ttl == 0 {
            Vec::new()
        } else {
            vec![format!(
                "never {}",
                counter_core::units::count(without_ttl, "key without a time to live", "keys without a time to live")
            )]
        })
    }

    fn watch(&mut self, run_id: &str) -> Result<bool, String> {
        drop(self.watcher.take());
        self.watcher = Some(Watcher::start(self.connection()?, Keys::new(run_id).value)?);
        Ok(true)
    }

    fn watched(&mut self) -> Vec<String> {
        self.watcher.take().map(Watcher::finish).unwrap_or_default()
    }
}

/// A `MONITOR` connection read on a thread of its own, and what it has seen done to one key, each with when.
struct Watcher {
    started: Instant,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, Logged)>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(mut connection: Connection, key: String) -> Result<Watcher, String> {
        let () = redis::cmd("MONITOR").query(&mut connection).map_err(|error| error.to_string())?;
        // A short read timeout, so that the reader looks at its stop flag often.
        connection.set_read_timeout(Some(Duration::from_millis(50))).map_err(|error| error.to_string())?;
        let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let (stopped, sightings) = (Arc::clone(&stop), Arc::clone(&seen));
        let reader = thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match connection.recv_response() {
                    Ok(redis::Value::SimpleString(line)) => {
                        if let Some(event) = parse(&line, &key) {
                            let mut seen = sightings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            seen.push((Instant::now(), event));
                        }
                    }
                    Ok(_) => {}
                    Err(error) if error.is_timeout() => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Watcher { started: Instant::now(), stop, seen, reader: Some(reader) })
    }

    /// Stops watching, and says what went back among the writes seen.
    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = |when: Instant| when.saturating_duration_since(self.started).as_millis();
        let seen: Vec<(u128, Logged)> = seen.iter().map(|&(when, logged)| (since(when), logged)).collect();
        what_went_back(&seen, self.started.elapsed().as_millis(), "the server's MONITOR")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One line of `MONITOR` (`1701234567.123456 [0 unix:/...] "SET" "key" "57" "PX" "60000"`: what the server ran,
/// as it ran it), if it touched `key` as a worker does.
fn parse(line: &str, key: &str) -> Option<Logged> {
    let words: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    match words.as_slice() {
        ["SET", k, value, "PX", _] if *k == key => value.parse().ok().map(Logged::Write),
        // EVAL script 2 newest-key value-key token [value] ttl: the fenced read, or the fenced write.
        ["EVAL", _, "2", _, k, token, rest @ ..] if *k == key && (1..=2).contains(&rest.len()) => {
            token.parse().ok().map(|token| Logged::Fenced { token, write: rest.len() == 2 })
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
            Some(Logged::Write(57))
        ));
        assert!(parse(&line(r#""SET" "counter-lab:r:value" "0" "NX""#), key).is_none(), "the run's first value");
        assert!(parse(&line(r#""SET" "counter-lab:other:value" "5" "PX" "600000""#), key).is_none());
        let fenced =
            r#""EVAL" "local newest = ..." "2" "counter-lab:r:fence-newest" "counter-lab:r:value" "12" "40" "600000""#;
        assert!(matches!(parse(&line(fenced), key), Some(Logged::Fenced { token: 12, write: true })));
        let read =
            r#""EVAL" "local newest = ..." "2" "counter-lab:r:fence-newest" "counter-lab:r:value" "13" "600000""#;
        assert!(matches!(parse(&line(read), key), Some(Logged::Fenced { token: 13, write: false })));
    }
}
