//! What a run shared by several copies of a binary (participants, on any machines that reach one server) means
//! whatever the store: its id, the options that must agree, how long a participant may go unheard, and the
//! others' share as read from their reports. Each store's crate carries the protocol out in its own terms (keys
//! with a time to live, rows in a table).

use std::{future::Future, sync::Arc, time::Duration};

use counter_core::{
    config::{Config, ConfigError, parse_count},
    duration::parse_duration,
    report::{OtherParticipants, Unsettled},
    unique,
};

/// The most characters in a run id.
pub const MAX_RUN_ID: usize = 48;

/// How often a participant says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// How long a participant may go unheard before the others stop waiting for it: it is then "not heard from"
/// (stopped, or paused), and its counts are unknown.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(2);

/// How long a blocking or polled wait for the other participants lasts before the stop flag is looked at again.
pub const RENDEZVOUS_POLL: Duration = Duration::from_secs(1);

/// The other participants did not all come within the rendezvous timeout.
#[derive(Debug, thiserror::Error)]
#[error(
    "run '{run_id}': {ready} of the {everyone} workers of every participant were ready after {waited:?} \
     (--rendezvous-timeout); are the other participants started, with the same --run-id and --participants?"
)]
pub struct RendezvousTimeout {
    /// The run.
    pub run_id: String,
    /// Workers ready, over every participant.
    pub ready: u64,
    /// Workers of every participant.
    pub everyone: u64,
    /// How long this participant waited.
    pub waited: Duration,
}

/// One beat of a participant's heartbeat, in a store's terms: it says "alive" (and makes its connection again
/// if that broke), and never fails the run.
pub trait Beat: Send + 'static {
    /// Says this participant is alive.
    fn beat(&mut self) -> impl Future<Output = ()> + Send;
}

/// A participant's heartbeat: a [`Beat`] every [`HEARTBEAT_EVERY`] on a task of its own, so that the others know
/// within [`HEARTBEAT_TTL`] when it has stopped. Dropped, it stops at its next await.
#[derive(Debug)]
pub struct Heartbeat {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Starts beating with `beat` on the current runtime.
    pub fn start(mut beat: impl Beat) -> Heartbeat {
        let stop = Arc::new(tokio::sync::Notify::new());
        let told = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            loop {
                beat.beat().await;
                if tokio::time::timeout(HEARTBEAT_EVERY, told.notified()).await.is_ok() {
                    return;
                }
            }
        });
        Heartbeat { stop, task }
    }

    /// Stops it after its beat under way, if any, has been answered.
    pub async fn stop(mut self) {
        self.stop.notify_one();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a run is shared: its id, how many participants, how long to wait for them.
#[derive(Debug, Clone)]
pub struct Sharing {
    /// The run's id, shared by its participants; `None` draws one.
    pub run_id: Option<String>,
    /// Copies of the binary that share the run.
    pub participants: u64,
    /// How long a participant waits for the others to be ready.
    pub rendezvous_timeout: Duration,
}

impl Default for Sharing {
    fn default() -> Self {
        Sharing { run_id: None, participants: 1, rendezvous_timeout: Duration::from_secs(600) }
    }
}

impl Sharing {
    /// Checks the sharing: a valid run id; with more than one participant, a run id and a server every
    /// participant reaches (`server_given`, named by its flag `server_flag`).
    pub fn validate(&self, server_given: bool, server_flag: &str) -> Result<(), ConfigError> {
        if let Some(id) = &self.run_id {
            check_run_id(id).map_err(ConfigError::Conflict)?;
        }
        if self.participants == 0 {
            return Err(ConfigError::Conflict("invalid --participants '0': at least 1".to_owned()));
        }
        if self.participants > 1 && self.run_id.is_none() {
            return Err(ConfigError::Conflict(format!(
                "--participants {} needs --run-id ID, the same for every participant, so that they find each other",
                self.participants
            )));
        }
        if self.participants > 1 && !server_given {
            return Err(ConfigError::Conflict(format!(
                "--participants {} needs {server_flag} URL, a server every participant reaches: a private server is \
                 this process's alone",
                self.participants
            )));
        }
        Ok(())
    }

    /// Whether the run is shared with others.
    pub fn is_shared(&self) -> bool {
        self.participants > 1
    }

    /// The run's id: the one given, or a new one drawn at random.
    pub fn id(&self) -> String {
        self.run_id.clone().unwrap_or_else(|| format!("run-{}", unique::random_hex()))
    }
}

/// The flags that share a run, the same in every binary whose store can be shared.
#[derive(Debug, Clone, clap::Args)]
pub struct SharingArgs {
    /// The run's id, shared by every participant [default: drawn at random]
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,

    /// Copies of this binary, on any machines that reach the server, that share the run (with --run-id)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = |s: &str| parse_count("participants", s))]
    participants: u64,

    /// How long a participant waits for the others to be ready before it gives up (exit 1)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = |s: &str| parse_duration(s))]
    rendezvous_timeout: Duration,
}

impl From<SharingArgs> for Sharing {
    fn from(args: SharingArgs) -> Sharing {
        Sharing { run_id: args.run_id, participants: args.participants, rendezvous_timeout: args.rendezvous_timeout }
    }
}

/// Checks a run id: letters, digits, `-`, `_` and `.`, at most [`MAX_RUN_ID`] characters (so that it fits in
/// the names a store gives the run's keys or tables).
pub fn check_run_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_RUN_ID {
        return Err(format!("invalid --run-id '{id}': it must have 1 to {MAX_RUN_ID} characters"));
    }
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("invalid --run-id '{id}': '{bad}' is not allowed (letters, digits, '-', '_' and '.' are)"));
    }
    Ok(())
}

/// What every participant of a run must share, as the claim records it: `--sync atomic --workers 5 ...`, and
/// the store's own options after it (`extra`).
pub fn shared_configuration(config: &Config, participants: u64, extra: &str) -> String {
    let mut shared = format!(
        "--sync {} --workers {} --increments {} --work {} --window {} --timer {} --participants {participants}",
        config.strategy().name(),
        config.workers(),
        config.increments(),
        config.work(),
        config.window().name(),
        config.timer().name(),
    );
    if !extra.is_empty() {
        shared.push(' ');
        shared.push_str(extra);
    }
    shared
}

/// What a participant's claim found of a run under way with its id, read from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The configuration its first participant recorded; none if what holds the id is not a run's.
    pub configuration: Option<String>,
    /// Its members so far.
    pub members: u64,
    /// Whether it has ended (a member reported or left: it is past its start).
    pub ended: bool,
    /// Its members not heard from (their heartbeat lapsed): they stopped without leaving.
    pub lapsed: u64,
}

/// Whether a participant bringing `shared` may join the run `found` describes, in a run of `participants`:
/// the same configuration, a run shared at all, room left, not ended, every member alive. Why not, otherwise
/// (the store names its data and its remedy).
pub fn may_join(found: &Found, shared: &str, participants: u64) -> Result<(), String> {
    let Some(theirs) = &found.configuration else {
        return Err("what holds the id is not a run's (no configuration recorded)".to_owned());
    };
    if theirs != shared {
        return Err(format!("its participants were started with {theirs}; this one with {shared}"));
    }
    if participants == 1 {
        return Err("another run with this id is under way, or was kept with --keep".to_owned());
    }
    if found.ended || found.members >= participants {
        return Err(format!("the run has its {participants} participants already, or has ended (kept with --keep)"));
    }
    if found.lapsed > 0 {
        return Err(format!("{} of its participants stopped without leaving", found.lapsed));
    }
    Ok(())
}

/// A participant's tag: its process id first, so that a lock token or a member names the process it belongs to
/// (`ps`, `kill`), then a random part, unique across machines.
pub fn participant_tag() -> String {
    format!("{}-{}", std::process::id(), unique::random_hex())
}

/// What one participant reported at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    /// Increments done (acknowledged).
    pub done: u64,
    /// Increments asked for.
    pub expected: u64,
    /// Increments not acknowledged, where the store tracks them.
    pub unsettled: Unsettled,
}

impl Reported {
    /// As a store keeps it: `done expected failed indeterminate`.
    pub fn encode(&self) -> String {
        format!("{} {} {} {}", self.done, self.expected, self.unsettled.failed, self.unsettled.indeterminate)
    }

    /// Read back from [`Reported::encode`]'s form; `None` for anything else (another participant's report
    /// crossed a process boundary: it is checked, not trusted).
    pub fn decode(text: &str) -> Option<Reported> {
        let numbers: Vec<u64> = text.split(' ').map(str::parse).collect::<Result<_, _>>().ok()?;
        let [done, expected, failed, indeterminate] = numbers[..] else { return None };
        (done <= expected && done.saturating_add(failed).saturating_add(indeterminate) <= expected)
            .then_some(Reported { done, expected, unsettled: Unsettled { failed, indeterminate } })
    }
}

/// What the meeting at the end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Increments done, summed over every participant that reported (this one included).
    pub done: u64,
    /// Increments asked for, summed over every participant that reported (this one included).
    pub expected: u64,
    /// Participants that had not reported when the meeting ended.
    pub missing: u64,
    /// Increments not acknowledged, summed over every participant that reported (this one included).
    pub unsettled: Unsettled,
}

impl Tally {
    /// Adds up the reports, with `missing` members that had not reported.
    pub fn of(reports: impl IntoIterator<Item = Reported>, missing: u64) -> Tally {
        let (mut done, mut expected, mut unsettled) = (0_u64, 0_u64, Unsettled::default());
        for report in reports {
            done = done.saturating_add(report.done);
            expected = expected.saturating_add(report.expected);
            unsettled.failed = unsettled.failed.saturating_add(report.unsettled.failed);
            unsettled.indeterminate = unsettled.indeterminate.saturating_add(report.unsettled.indeterminate);
        }
        Tally { done, expected, missing, unsettled }
    }

    /// The others' share, as this participant (which reported `local`, of `config`) reports it: one that never
    /// reported counts as asked for what this one was, its increments unknown.
    pub fn others(&self, participants: u64, local: &Reported, config: &Config) -> OtherParticipants {
        let local_done = local.done;
        let local_expected = config.expected();
        OtherParticipants {
            count: participants.saturating_sub(1),
            unreported: self.missing,
            increments_done: self.done.saturating_sub(local_done),
            expected: self
                .expected
                .saturating_sub(local_expected)
                .saturating_add(self.missing.saturating_mul(local_expected)),
            unreported_workers: self.missing.saturating_mul(config.workers()),
            unsettled: Unsettled {
                failed: self.unsettled.failed.saturating_sub(local.unsettled.failed),
                indeterminate: self.unsettled.indeterminate.saturating_sub(local.unsettled.indeterminate),
            },
        }
    }
}

/// What the meeting at the end found: the other participants' share, and after how many have left the run's
/// data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Met {
    /// The others' share; `None` when the run is not shared.
    pub others: Option<OtherParticipants>,
    /// See [`last_out_after`].
    pub last_out_after: u64,
}

/// After how many participants have left the run's data goes: once every member has reported, the last of
/// them; never while a member not heard from may still write (it may be paused: `u64::MAX`); after a stop
/// (`stopped_with_members`), the last member out.
pub fn last_out_after(reported: u64, missing: u64, stopped_with_members: Option<u64>) -> u64 {
    match stopped_with_members {
        Some(members) => members,
        None if missing == 0 => reported,
        None => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_joined_only_by_its_own_kind_with_room_left_and_everyone_alive() {
        let run = Found { configuration: Some("--sync atomic".to_owned()), members: 1, ended: false, lapsed: 0 };
        assert_eq!(may_join(&run, "--sync atomic", 3), Ok(()));
        assert!(may_join(&run, "--sync mutex", 3).unwrap_err().contains("were started with --sync atomic"));
        assert!(may_join(&run, "--sync atomic", 1).unwrap_err().contains("under way"));
        assert!(may_join(&Found { members: 3, ..run.clone() }, "--sync atomic", 3).unwrap_err().contains("already"));
        assert!(may_join(&Found { ended: true, ..run.clone() }, "--sync atomic", 3).unwrap_err().contains("ended"));
        let lapsed = Found { lapsed: 1, ..run.clone() };
        assert!(may_join(&lapsed, "--sync atomic", 3).unwrap_err().contains("1 of its participants stopped"));
        let stranger = Found { configuration: None, ..run };
        assert!(may_join(&stranger, "--sync atomic", 3).unwrap_err().contains("not a run's"));
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(check_run_id("run-1.a_b").is_ok());
        assert!(check_run_id("").unwrap_err().contains("1 to 48"));
        assert!(check_run_id(&"x".repeat(49)).unwrap_err().contains("1 to 48"));
        assert!(check_run_id("a b").unwrap_err().contains("' '"));
        assert!(check_run_id("a\"b").unwrap_err().contains("'\"'"));
    }

    #[test]
    fn sharing_needs_a_run_id_and_a_server() {
        let shared = |participants, run_id: Option<&str>| Sharing {
            participants,
            run_id: run_id.map(str::to_owned),
            ..Sharing::default()
        };
        assert!(shared(2, None).validate(true, "--store").unwrap_err().to_string().contains("needs --run-id"));
        let message = shared(2, Some("x")).validate(false, "--store").unwrap_err().to_string();
        assert!(message.contains("needs --store URL"), "{message}");
        assert!(shared(0, None).validate(true, "--store").is_err());
        assert!(shared(2, Some("x")).validate(true, "--store").is_ok());
        assert!(shared(1, None).validate(false, "--store").is_ok());
    }

    #[test]
    fn a_participant_never_heard_from_counts_as_asked_for_what_this_one_was() {
        let config =
            counter_core::config::Request { workers: 2, increments: 10, ..Default::default() }.validate().unwrap();
        // Three participants: this one (20 of 20) and one other (15 of 20) reported, one did not.
        let report = |done, expected| Reported { done, expected, unsettled: Unsettled::default() };
        let tally = Tally::of([report(20, 20), report(15, 20)], 1);
        let others = tally.others(3, &report(20, 20), &config);
        assert_eq!(
            (others.count, others.unreported, others.increments_done, others.expected, others.unreported_workers),
            (2, 1, 15, 40, 2)
        );
    }

    #[test]
    fn a_report_is_read_back_only_when_it_adds_up() {
        let report = Reported { done: 7, expected: 10, unsettled: Unsettled { failed: 1, indeterminate: 2 } };
        assert_eq!(Reported::decode(&report.encode()), Some(report));
        for bad in ["", "7 10", "7 10 1 2 3", "11 10 0 0", "7 10 2 2", "-1 10 0 0", "7 ten 0 0"] {
            assert_eq!(Reported::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn data_goes_with_the_last_out_and_never_under_a_participant_not_heard_from() {
        assert_eq!(last_out_after(3, 0, None), 3);
        assert_eq!(last_out_after(2, 1, None), u64::MAX);
        assert_eq!(last_out_after(1, 2, Some(3)), 3);
    }
}
