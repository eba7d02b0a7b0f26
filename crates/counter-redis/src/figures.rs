//! What only this model measures, and its own words: the server, the round trips and their latency, the
//! server's memory, the lock; carried in the report as its extension, and read back from it for the "why" lines.

use counter_client::store::RoundTrips;
use counter_core::{
    config::Strategy,
    extension::Extension,
    render::{ModelWords, explain_generic},
    report::RunReport,
    units::{self, whole_kib},
};
use serde::{Deserialize, Serialize};

/// The figures under the report's `extension` (named "server").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisFigures {
    /// Which server: `private redis-server 7.0.15 (Unix socket)`, or the URL given, without its password.
    pub server: String,
    /// The run's id: its keys live under `counter-lab:<run_id>:`.
    pub run_id: String,
    /// Round trips, their latency, and connections made again.
    #[serde(flatten)]
    pub trips: RoundTrips,
    /// The server's `used_memory` before this participant's clients connected, bytes.
    pub server_memory_before_bytes: u64,
    /// Its growth once every client was connected, bytes.
    pub server_memory_added_bytes: i64,
    /// What the server holds per client connection (`tot-mem` of `CLIENT LIST`, averaged), bytes.
    pub server_memory_per_connection_bytes: f64,
    /// The server process's RSS, KiB, when it is ours (a private server).
    pub server_rss_kib: Option<u64>,
    /// Mutex strategy: attempts to take the lock that found it taken.
    pub lock_waits: u64,
    /// Mutex strategy: locks that expired (their TTL ran out) before their holder released them.
    pub lock_expiries: u64,
    /// Fenced strategy: reads or writes refused because their lock's token was older than the newest the counter
    /// had seen (a holder whose lease had expired), each increment then made again.
    #[serde(default)]
    pub fenced_off: u64,
    /// Fenced strategy: token draws that found the token counter reset (deleted or flushed mid-run) and set it
    /// above the newest token again.
    #[serde(default)]
    pub fence_resets: u64,
}

impl RedisFigures {
    /// The report's section: these figures, and a line for each of their groups.
    pub fn extension(&self, strategy: Strategy) -> Extension {
        let memory_with_clients = self.server_memory_before_bytes.saturating_add_signed(self.server_memory_added_bytes);
        let extension =
            Extension::new("server", self).line("server", format!("{}; run id {}", self.server, self.run_id));
        let extension = self.trips.line(extension).line(
            "server memory",
            format!(
                "{} per connection (CLIENT LIST tot-mem); used_memory {} before the clients, {} with them{}",
                units::bytes(self.server_memory_per_connection_bytes as u64),
                units::bytes(self.server_memory_before_bytes),
                units::bytes(memory_with_clients),
                self.server_rss_kib.map(|kib| format!("; server RSS {}", whole_kib(kib))).unwrap_or_default()
            ),
        );
        let extension = self.trips.reconnections_line(extension);
        if !strategy.takes_lock() {
            return extension;
        }
        let fenced = if strategy == Strategy::Fenced {
            let resets = if self.fence_resets == 0 {
                String::new()
            } else {
                format!(
                    "; the token counter was found reset (deleted or flushed mid-run) {} and set above the newest \
                     token again",
                    units::count(self.fence_resets, "time", "times")
                )
            };
            format!(
                "; {} fenced off (an expired holder's token refused){resets}",
                units::count(self.fenced_off, "read or write", "reads or writes")
            )
        } else {
            String::new()
        };
        extension.line(
            "lock",
            format!(
                "{} found it taken; {} before their holder released {} (--lock-ttl){fenced}",
                units::count(self.lock_waits, "attempt", "attempts"),
                units::count(self.lock_expiries, "lock expired", "locks expired"),
                if self.lock_expiries == 1 { "it" } else { "them" },
            ),
        )
    }
}

/// This model's words: each strategy as commands, and the "why" lines from the figures above.
pub const WORDS: ModelWords = ModelWords { strategy: |strategy| Some(commands(strategy)), why };

fn commands(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Racy => "racy: GET, then SET of that value plus one, a round trip later, no lock",
        Strategy::Mutex => "mutex: GET and SET under a lock key (SET NX PX), released by a compare-and-delete script",
        Strategy::Atomic => "atomic: INCR, one command: the server does the read-modify-write",
        Strategy::Sharded => "sharded: HINCRBY on each worker's own field of a hash, summed at the end",
        Strategy::Optimistic => {
            "optimistic: WATCH, GET, MULTI / SET / EXEC; made again when EXEC finds the key changed"
        }
        Strategy::Fenced => {
            "fenced: the mutex's lock with a token (INCR) per grant; GET and SET as scripts that refuse an older token"
        }
    }
}

/// The "why" lines where the server's figures say more than the generic ones: a lease that expired under its
/// holder, a round trip between read and write, a command the server runs whole.
fn why(report: &RunReport) -> Option<Vec<String>> {
    let figures: RedisFigures = report.extension.as_ref()?.figures().ok()?;
    let lost = report.lost_updates?;
    let mut lines = match (report.config.strategy(), lost) {
        (Strategy::Mutex, 1..) if figures.lock_expiries > 0 => vec![format!(
            "{lost} updates were lost although every increment took the lock: {} before their holder released \
             {} (--lock-ttl is shorter than a holder's work and round trips), so another worker took the lock, read \
             the same value, and one of the two writes vanished",
            units::count(figures.lock_expiries, "lock expired", "locks expired"),
            if figures.lock_expiries == 1 { "it" } else { "them" },
        )],
        (Strategy::Mutex, 0) if figures.lock_expiries > 0 => vec![format!(
            "no update was lost, although {} before their holder released {}: no other worker read the value \
             while a lease was gone",
            units::count(figures.lock_expiries, "lock expired", "locks expired"),
            if figures.lock_expiries == 1 { "it" } else { "them" },
        )],
        (Strategy::Mutex, 0) => vec![
            "no update was lost: the lock key (SET NX) made each GET and SET exclusive, and no lease expired under \
             its holder"
                .to_owned(),
        ],
        (Strategy::Fenced, 0) if figures.fenced_off > 0 => vec![format!(
            "no update was lost, although {} before their holder released {}: the counter refused {} made with an \
             older token than one it had seen (fenced off), and each such increment was made again under a new lock",
            units::count(figures.lock_expiries, "lock expired", "locks expired"),
            if figures.lock_expiries == 1 { "it" } else { "them" },
            units::count(figures.fenced_off, "read or write", "reads or writes"),
        )],
        (Strategy::Fenced, 0) => vec![
            "no update was lost: the lock made each read and write exclusive, and no holder's token was ever older \
             than the counter's newest (none was fenced off)"
                .to_owned(),
        ],
        (Strategy::Atomic, 0) => {
            vec!["no update was lost: INCR runs whole in the server, which runs one command at a time".to_owned()]
        }
        (Strategy::Sharded, 0) => {
            vec!["no update was lost: each worker incremented only its own field of the hash".to_owned()]
        }
        (Strategy::Racy, 1..) => {
            let mut lines = explain_generic(report);
            lines
                .push("the read and the write are a round trip apart, and the workers' round trips overlap".to_owned());
            lines
        }
        _ => return None,
    };
    if lines.is_empty() {
        lines = explain_generic(report);
    }
    Some(lines)
}
