//! `cargo xtask calibrate` end to end, on a small count: a row per lock-free strategy, in numbers.

use counter_core::config::Strategy;
use tests::Scratch;

#[test]
fn calibrate_measures_each_strategy_against_the_bare_loop() {
    let scratch = Scratch::new("calibrate");
    let json = scratch.file("c.json");
    let output = scratch
        .xtask()
        .args(["calibrate", "--profile", "dev", "--increments", "200000", "--export-json", json.to_str().unwrap()])
        .args(["--sleeping-threads", "20", "--sleeping-tasks", "200", "--sleep", "100ms"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["loops"].as_array().unwrap();
    let strategies: Vec<&str> = rows.iter().map(|row| row["strategy"].as_str().unwrap()).collect();
    let lock_free: Vec<&str> =
        Strategy::ALL.iter().filter(|strategy| !strategy.takes_lock()).map(|strategy| strategy.name()).collect();
    assert_eq!(strategies, lock_free);
    for row in rows {
        for field in ["bare_1_s", "loop_1_s", "bare_2_s", "loop_2_s"] {
            assert!(row[field].as_f64().is_some_and(|s| s > 0.0), "{field}: {row}");
        }
        assert!(
            stdout.contains(&format!("- {}: the worker loop takes", row["strategy"].as_str().unwrap())),
            "{stdout}"
        );
    }
}

#[test]
fn calibrate_sets_sleeping_workers_beside_plain_sleeps() {
    let scratch = Scratch::new("calibrate-sleeping");
    let json = scratch.file("c.json");
    let output = scratch
        .xtask()
        .args(["calibrate", "--profile", "dev", "--increments", "1000", "--export-json", json.to_str().unwrap()])
        .args(["--sleeping-threads", "50", "--sleeping-tasks", "500", "--sleep", "1s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let sleeping = document["sleeping"].as_array().unwrap();
    assert_eq!(sleeping.len(), 2, "{document}");
    for cost in sleeping {
        let (sleepers, count) = (cost["sleepers"].as_str().unwrap(), cost["count"].as_u64().unwrap());
        for runs in ["ours", "plain"] {
            let [short, long] = [&cost[runs][0], &cost[runs][1]];
            // Every sleeper slept: the runs last their sleep, and the longer one longer.
            assert!(short["wall_s"].as_f64().unwrap() >= 1.0, "{runs} {sleepers}: {cost}");
            assert!(long["wall_s"].as_f64().unwrap() >= 2.0, "{runs} {sleepers}: {cost}");
        }
        // A sleeping thread of ours wakes once per sleep: a second more of sleep costs it no more switches (a
        // thread that woke every 50 ms to look for a stop would make 20 more each). Voluntary ones: a sleeper's
        // own waits; the run's start adds a few dozen either way, and a few hundred on a machine busy with the
        // other tests (268 seen), hence 50 threads and a bound of 8 each, well under the 20 of a poller.
        // (Tasks share one thread, whose wake-ups do not tell one task's from another's.)
        if sleepers == "threads" {
            let switches = |usage: &serde_json::Value| usage["voluntary_switches"].as_u64().unwrap();
            let extra = switches(&cost["ours"][1]).saturating_sub(switches(&cost["ours"][0]));
            assert!(extra < count * 8, "{sleepers}: {extra} more switches for a second more of sleep: {cost}");
        }
        assert!(stdout.contains(&format!("- {count} {sleepers}: one more second of sleep cost ours")), "{stdout}");
    }
}

#[test]
fn calibrate_refuses_a_count_past_its_limit() {
    let scratch = Scratch::new("calibrate-refuses-a-count-past-its-limit");
    let output = scratch.xtask().args(["calibrate", "--increments", "0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid increments '0'"));
}
