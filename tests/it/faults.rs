//! `cargo xtask faults` end to end, with the debug binaries, on a private Redis server and a private PostgreSQL
//! cluster of its own.

use serde_json::Value;
use tests::{Scratch, can_run};

/// A paused lock holder loses acknowledged updates under `mutex` and none under `fenced`, which refuses its
/// write; a stalled server leaves increments indeterminate and the final value within the bounds; killed
/// connections are survived; a killed participant leaves its count unknown; nothing is left behind.
#[test]
fn faults_show_what_each_does_to_the_count_and_leave_nothing_behind() {
    if !can_run(
        "faults_show_what_each_does_to_the_count_and_leave_nothing_behind",
        false,
        &["redis-server", "redis-cli"],
    ) {
        return;
    }
    let scratch = Scratch::new("faults");
    let json = scratch.file("faults.json");
    let output = scratch
        .xtask()
        .args(["faults", "--profile", "dev", "--runs", "3", "--seed", "1", "--export-json"])
        .arg(&json)
        .output()
        .expect("xtask runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let of_store = |store: &str, fault: &str, sync: &str| -> Vec<&Value> {
        rows.iter().filter(|row| row["store"] == store && row["fault"] == fault && row["sync"] == sync).collect()
    };
    let of = |fault: &str, sync: &str| of_store("redis", fault, sync);
    let number = |row: &Value, field: &str| row[field].as_u64().unwrap_or(0);
    // Three runs each: the paused holder's stale write can lose an acknowledged update (it does in most runs,
    // docs/faults says how many; one of three is asked here, as a run whose holder is caught after its write
    // loses nothing), and under fenced never does.
    let mutex = of("pause-holder", "mutex");
    assert!(mutex.iter().any(|row| number(row, "lost_acknowledged") > 0), "{mutex:?}");
    let fenced = of("pause-holder", "fenced");
    assert!(fenced.iter().all(|row| number(row, "lost_acknowledged") == 0 && row["verdict"] == "exact"), "{fenced:?}");
    assert!(fenced.iter().map(|row| number(row, "fenced_off")).sum::<u64>() > 0, "{fenced:?}");
    for (fault, sync) in [("stall", "atomic"), ("stall", "fenced"), ("client-kill", "atomic")] {
        for row in of(fault, sync) {
            assert!(matches!(row["verdict"].as_str(), Some("exact" | "consistent")), "{fault} {sync}: {row}");
            let (acked, indeterminate, final_value) =
                (number(row, "acknowledged"), number(row, "indeterminate"), number(row, "final_value"));
            assert!((acked..=acked + indeterminate).contains(&final_value), "{fault} {sync}: {row}");
        }
    }
    assert!(of("stall", "atomic").iter().map(|row| number(row, "indeterminate")).sum::<u64>() > 0);
    assert!(of("client-kill", "atomic").iter().all(|row| number(row, "reconnections") > 0));
    for store in ["redis", "postgres"] {
        let killed = of_store(store, "sigkill", "atomic");
        assert!(!killed.is_empty() && killed.iter().all(|row| row["verdict"] == "unknown"), "{killed:?}");
        assert!(killed.iter().all(|row| number(row, "participants_unreported") == 1), "{killed:?}");
    }
    // PostgreSQL: no paused holder (its lock is not a lease); a stall and terminated connections within bounds.
    assert!(of_store("postgres", "pause-holder", "mutex").is_empty());
    for (fault, sync) in [("stall", "atomic"), ("stall", "mutex"), ("client-kill", "atomic")] {
        for row in of_store("postgres", fault, sync) {
            assert!(matches!(row["verdict"].as_str(), Some("exact" | "consistent")), "postgres {fault} {sync}: {row}");
        }
    }
    assert!(of_store("postgres", "client-kill", "atomic").iter().all(|row| number(row, "reconnections") > 0));
    for row in rows {
        assert_eq!(number(row, "keys_without_ttl"), 0, "{row}");
        assert_eq!(row["misbehaved"].as_array().map(Vec::len), Some(0), "{row}");
        // A killed PostgreSQL participant's tables wait for it (no time to live): the two of its run, only there.
        let tables = if row["store"] == "postgres" && row["fault"] == "sigkill" { 2 } else { 0 };
        assert_eq!(number(row, "tables_left"), tables, "{row}");
    }
    let said = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(said.contains("a stale write landed") && said.contains("refused (fenced off)"), "{stdout}");

    // The results page shows the run: its table, and a timeline of the paused holders per strategy, whose
    // captions count what the rows hold.
    let page = scratch.file("page.html");
    let report = scratch.xtask().args(["report", "--output"]).arg(&page).output().expect("xtask runs");
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h2>Faults across machines</h2>"), "no faults section");
    let stale_runs = mutex.iter().filter(|row| {
        row["timeline"].as_array().unwrap().iter().any(|event| event.as_str().unwrap().contains("stale write landed"))
    });
    let caption = format!(
        "Under redis mutex, a lock holder stopped past its lease (three leases): a stale write landed in {} of 3 runs",
        stale_runs.count()
    );
    assert!(html.contains(&caption), "no caption '{caption}'");
    assert_eq!(html.matches("<div class=\"chart wide\">").count(), 2, "a timeline per strategy");
}

/// The serving process of `parent` (its child started with `--serve`), once there is one.
fn served_by(parent: u32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let parent_of: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (parent_of == parent && command_line.split(|b| *b == 0).any(|arg| arg == b"--serve")).then_some(pid)
    })
}

/// The private server's directories of the process `pid`, in the temporary folder.
fn dirs_of(pid: i32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("counter-redis-{pid}-")))
        })
        .collect()
}

/// `kill -9` of the faults task: its server dies with it, and what it left (the server's directory) is removed by
/// the next run that starts a private server.
#[test]
fn kill_nine_of_the_faults_task_leaves_nothing_the_next_run_does_not_remove() {
    if !can_run(
        "kill_nine_of_the_faults_task_leaves_nothing_the_next_run_does_not_remove",
        false,
        &["redis-server", "redis-cli"],
    ) {
        return;
    }
    let scratch = Scratch::new("faults-kill-nine");
    let mut task = tests::KillOnDrop(
        scratch
            .xtask()
            .args(["faults", "--profile", "dev", "--stores", "redis", "--faults", "stall", "--runs", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let (serving, dirs) = loop {
        if let Some(serving) = served_by(task.0.id()) {
            let dirs = dirs_of(serving);
            if !dirs.is_empty() {
                break (serving, dirs);
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "the task never started its server");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let server = counter_core::proc::process_tree(serving).unwrap_or_default();
    tests::signal_pid(task.0.id() as i32, libc::SIGKILL);
    let _ = task.0.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.iter().any(|&pid| tests::process_exists(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!server.iter().any(|&pid| tests::process_exists(pid)), "the server outlived the task: {server:?}");
    let next = tests::run("counter-redis", &["--workers", "1", "--increments", "1", "--work", "none"]);
    assert!(next.status.success(), "{}", tests::stderr_of(&next));
    let left: Vec<_> = dirs.iter().filter(|dir| dir.exists()).collect();
    assert!(left.is_empty(), "left after the next run: {left:?}");
}
