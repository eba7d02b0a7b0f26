//! `counter-processes` end to end: the process tree, the shared segment, and everything that can go wrong
//! with forked workers. After every run, nothing may be left: no `/dev/shm` entry, no worker process.

use std::{thread, time::Duration};

use counter_core::report::RunReport;
use tests::{
    Held, nobody_processes, process_exists, process_state, ps_rss_sum, run_json, run_with_nproc_limit, shm_entries,
    signal_pid, start_held, stderr_of, within_5_percent,
};

const BIN: &str = "counter-processes";

/// The start of every segment name of a coordinator: its pid, then random bits.
fn segments_of(pid: i32) -> String {
    format!("counter-processes-{pid}-")
}

/// The segment named in a held run's ready line, without its leading slash.
fn segment_in(held: &Held) -> String {
    let after = held.ready_line.split("segment /").nth(1).unwrap_or_default();
    after.split_whitespace().next().unwrap_or_default().to_owned()
}

/// Checks that a finished run left nothing behind: no segment, no worker alive or zombie.
fn assert_nothing_left(coordinator: i32, workers: &[i32]) {
    assert!(shm_entries(&segments_of(coordinator)).is_empty(), "segment of {coordinator} left in /dev/shm");
    for &pid in workers {
        // A worker is reaped by the coordinator, or (when the coordinator died) killed and reaped by init; give
        // the kernel a moment for the latter. A dead worker that init has not reaped yet (a zombie whose parent is
        // pid 1, on a busy machine) is init's, not left by us.
        let gone = || !process_exists(pid) || (process_state(pid) == Some('Z') && parent_of(pid) == Some(1));
        for _ in 0..250 {
            if gone() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(), "worker {pid} is still there, state {:?}, parent {:?}", process_state(pid), parent_of(pid));
    }
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

fn held_workers(held: &Held) -> Vec<i32> {
    let workers = held.ids("worker pids");
    assert!(!workers.is_empty(), "{}", held.ready_line);
    workers
}

#[test]
fn each_worker_is_its_own_process_and_the_tree_is_measured() {
    let report = run_json(BIN, &["--workers", "4", "--increments", "10", "--work", "none", "--sync", "sharded"]);
    assert_eq!(report.final_value, 40);
    assert_eq!((report.memory.processes, report.memory.threads), (5, 5), "coordinator + 4 workers");
    // Summed RSS counts the shared pages once per process; PSS splits them.
    assert!(report.memory.pss_kib < report.memory.rss_kib, "{:?}", report.memory);
    for worker in &report.workers {
        assert_eq!(worker.exit_status.as_deref(), Some("exited 0"));
        assert!(worker.cpu.is_some() && worker.max_rss_kib.is_some_and(|kib| kib > 0));
    }
}

#[test]
fn the_segment_is_never_listed_and_nothing_is_left_after_a_run() {
    let mut held = start_held(BIN, &["--workers", "3", "--increments", "5", "--work", "none", "--format", "json"]);
    let coordinator = held.pid();
    let workers = held_workers(&held);
    let segment = segment_in(&held);
    // The pid, then 64 random bits: a name nobody can take ahead of us, even in another PID namespace.
    let random = segment.strip_prefix(&segments_of(coordinator)).unwrap_or_else(|| panic!("{}", held.ready_line));
    assert!(random.len() == 16 && random.chars().all(|c| c.is_ascii_hexdigit()), "{segment}");
    // Unlinked before the first fork: the memory is mapped by every worker, but has no name.
    assert!(shm_entries(&segment).is_empty());
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", workers[0])).unwrap();
    assert!(maps.contains(&format!("/dev/shm/{segment} (deleted)")), "{maps}");
    held.release();
    let (status, stdout, stderr) = held.finish();
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.worker_summary.increments_done, 15);
    assert_nothing_left(coordinator, &workers);
}

#[test]
fn the_reported_rss_agrees_with_ps() {
    let mut held = start_held(BIN, &["--workers", "3", "--increments", "1", "--work", "none", "--format", "json"]);
    let mut pids = vec![held.pid()];
    pids.extend(held_workers(&held));
    let ps_rss = ps_rss_sum(&pids);
    held.release();
    let (status, stdout, stderr) = held.finish();
    assert!(status.success(), "{stderr}");
    let Some(ps_rss) = ps_rss else { return };
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    // RSS only: a process's PSS and USS change whenever another process maps the same pages (other tests run
    // the same binary meanwhile), so they are compared at one moment, in `compare::the_external_sampler_…`.
    assert!(within_5_percent(report.memory.rss_kib, ps_rss), "summed RSS {} vs ps {ps_rss}", report.memory.rss_kib);
}

#[test]
fn a_worker_killed_during_hold_ends_the_run_naming_it() {
    let held = start_held(BIN, &["--workers", "3"]);
    let coordinator = held.pid();
    let workers = held_workers(&held);
    signal_pid(workers[1], libc::SIGKILL);
    let (status, stdout, stderr) = held.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains(&format!("worker 1 (pid {}) was killed by SIGKILL", workers[1])), "{stderr}");
    assert_nothing_left(coordinator, &workers);
}

/// Which process of a run to `kill -9`.
#[derive(Clone, Copy)]
enum Victim {
    Worker(usize),
    Coordinator,
}

/// A finished run, killed mid-run: its status, stderr, coordinator and worker pids.
struct Killed {
    status: std::process::ExitStatus,
    stderr: String,
    coordinator: i32,
    workers: Vec<i32>,
}

/// Starts a run held until all workers are alive, releases it, and `kill -9`s the victim after `after`.
fn kill_mid_run(args: &[&str], after: Duration, victim: Victim) -> Killed {
    let mut held = start_held(BIN, args);
    let coordinator = held.pid();
    let workers = held_workers(&held);
    held.release();
    thread::sleep(after);
    signal_pid(
        match victim {
            Victim::Worker(index) => workers[index % workers.len()],
            Victim::Coordinator => coordinator,
        },
        libc::SIGKILL,
    );
    let (status, _, stderr) = held.finish();
    Killed { status, stderr, coordinator, workers }
}

/// The mutex strategy with the lock held across a sleep: a killed worker very likely dies holding it.
const MUTEX_HELD_ACROSS_SLEEP: &[&str] =
    &["--workers", "3", "--increments", "200", "--sync", "mutex", "--window", "inside", "--work", "sleep:5ms"];

#[test]
fn a_worker_killed_holding_the_lock_hands_it_over_and_the_others_finish() {
    let args =
        ["--workers", "3", "--increments", "40", "--sync", "mutex", "--window", "inside", "--work", "sleep:10ms"];
    let mut held = start_held(BIN, &[&args[..], &["--format", "json"]].concat());
    let coordinator = held.pid();
    let workers = held_workers(&held);
    held.release();
    thread::sleep(Duration::from_millis(100));
    let victim = tests::lock_holder(&workers).expect("one worker holds the lock across its sleep");
    signal_pid(victim, libc::SIGKILL);
    let (status, stdout, stderr) = held.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "the report of a failed run goes to stderr, after the error");
    let index = workers.iter().position(|&pid| pid == victim).unwrap();
    let named = format!("worker {index} (pid {victim}) was killed by SIGKILL; the other workers went on to the end");
    assert!(stderr.contains(&named), "{stderr}");
    let report: RunReport = serde_json::from_str(&stderr[stderr.find('{').unwrap()..]).unwrap();
    assert!(report.lock_recoveries >= 1, "the next locker found the holder dead: {report:?}");
    assert_eq!((report.unreported_workers, report.lost_updates), (1, None));
    // The two survivors did all their increments, after the death too, and the dead one's count is the rest.
    assert_eq!(report.worker_summary.count, 2);
    assert_eq!(report.worker_summary.increments_done, 80);
    assert!(report.final_value >= 80 && report.final_value < 120, "{}", report.final_value);
    assert_nothing_left(coordinator, &workers);
}

#[test]
fn killing_the_coordinator_takes_the_workers_with_it() {
    let killed =
        kill_mid_run(&["--workers", "3", "--work", "sleep:5ms"], Duration::from_millis(100), Victim::Coordinator);
    assert_eq!(killed.status.code(), None, "killed by a signal");
    assert_nothing_left(killed.coordinator, &killed.workers);
}

#[test]
fn kill_nine_on_a_loop_of_runs_leaves_nothing() {
    for round in 0..4 {
        // A worker killed mid-run, then the coordinator killed mid-run, each round.
        let killed = kill_mid_run(MUTEX_HELD_ACROSS_SLEEP, Duration::from_millis(50), Victim::Worker(round));
        assert_eq!(killed.status.code(), Some(1), "round {round}: {}", killed.stderr);
        assert_nothing_left(killed.coordinator, &killed.workers);
        let killed =
            kill_mid_run(&["--workers", "4", "--work", "sleep:2ms"], Duration::from_millis(50), Victim::Coordinator);
        assert_eq!(killed.status.code(), None, "round {round}: {}", killed.stderr);
        assert_nothing_left(killed.coordinator, &killed.workers);
    }
}

#[test]
fn more_workers_than_rlimit_nproc_allows_are_refused_before_any_fork() {
    let Some(output) = run_with_nproc_limit(BIN, 4, &["--workers", "20", "--work", "none"]) else { return };
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("20 processes is more than RLIMIT_NPROC allows (RLIMIT_NPROC = 4"), "{stderr}");
    let left = nobody_processes(BIN);
    assert!(left.is_empty(), "workers left: {left}");
}

#[test]
fn two_thousand_workers_run() {
    let report = run_json(BIN, &["--workers", "2000", "--increments", "1", "--work", "none", "--sync", "atomic"]);
    assert_eq!(report.final_value, 2000);
    assert_eq!(report.memory.processes, 2001);
    assert_eq!(report.worker_summary.count, 2000);
}
