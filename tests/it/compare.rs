//! `cargo xtask compare` end to end, on tiny workloads with the debug binaries.

use serde_json::Value;
use tests::{Scratch, binary, ps_rss_sum, smaps_rollup_sum, start_held, within_5_percent};

fn compare(args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary("xtask"))
        .arg("compare")
        .args(["--profile", "dev", "--repeats", "1", "--warmup", "0"])
        .args(args)
        .output()
        .expect("xtask runs")
}

#[test]
fn compare_tabulates_every_row_and_exports_it() {
    let scratch = Scratch::new("ok");
    let (json, csv, markdown) = (scratch.file("r.json"), scratch.file("r.csv"), scratch.file("r.md"));
    let output = compare(&[
        "--workers",
        "3",
        "--increments",
        "50",
        "--work",
        "none",
        "--export-json",
        json.to_str().unwrap(),
        "--export-csv",
        csv.to_str().unwrap(),
        "--export-markdown",
        markdown.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for model in ["threads", "processes", "async"] {
        for sync in ["racy", "mutex", "atomic", "sharded"] {
            assert!(stdout.lines().any(|l| l.contains(model) && l.contains(sync)), "no {model} {sync} row:\n{stdout}");
        }
    }
    assert!(stdout.contains("Memory per extra worker"), "{stdout}");

    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        let figure = |name: &str| row[name].as_f64().unwrap();
        assert!(figure("rss_kib") > 0.0 && figure("pss_kib") > 0.0 && figure("uss_kib") > 0.0, "{row}");
        assert!(figure("pss_kib") <= figure("rss_kib"), "{row}");
        if row["sync"] != "racy" {
            assert_eq!(row["final_value"]["median"].as_f64(), Some(150.0), "{row}");
        }
        if row["model"] == "processes" {
            assert_eq!(row["processes"].as_u64().or(row["processes"].as_f64().map(|v| v as u64)), Some(4), "{row}");
            assert!(figure("pss_kib") < figure("rss_kib"), "summed RSS over-states a tree: {row}");
        }
    }

    let csv = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("scenario,model,sync,"), "{csv}");
    assert_eq!(lines.len(), 13, "a header and one line per row:\n{csv}");

    let markdown = std::fs::read_to_string(&markdown).unwrap();
    let lines: Vec<&str> = markdown.lines().collect();
    assert!(lines.iter().all(|line| line.starts_with('|') && line.ends_with('|')), "{markdown}");
    assert!(lines[1].starts_with("|---|"), "{markdown}");
    assert_eq!(lines.len(), 14);
}

#[test]
fn a_failed_frontend_is_a_failed_row_and_a_non_zero_exit() {
    let scratch = Scratch::new("failed");
    let json = scratch.file("r.json");
    let output = compare(&[
        "--models",
        "threads,async",
        "--syncs",
        "atomic",
        "--workers",
        "100000",
        "--increments",
        "1",
        "--work",
        "none",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAILED"), "{stdout}");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let threads = rows.iter().find(|row| row["model"] == "threads").unwrap();
    assert!(threads["error"].as_str().unwrap().contains("vm.max_map_count"), "{threads}");
    let tasks = rows.iter().find(|row| row["model"] == "async").unwrap();
    assert!(tasks["error"].is_null(), "the other rows still run: {tasks}");
    assert_eq!(tasks["final_value"]["median"].as_f64(), Some(100_000.0));
}

#[test]
fn compare_refuses_bad_flags() {
    let output = compare(&["--models", "fibers"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("[possible values: threads, processes, async]"));
    let output = std::process::Command::new(binary("xtask")).args(["compare", "--repeats", "0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid repeats '0'"), "{stderr}");
}

#[test]
fn the_external_sampler_agrees_with_ps_and_smaps_rollup() {
    let mut held = start_held("counter-processes", &["--workers", "3", "--increments", "1", "--work", "none"]);
    let coordinator = held.pid();
    // PSS and USS move when any other process maps the same pages (tests run in parallel): read ours and the
    // kernel's back to back, before anything else starts.
    let ours = counter_core::proc::memory::snapshot_tree(coordinator, "test").unwrap();
    let pids: Vec<i32> = ours.per_process.iter().map(|p| p.pid).collect();
    let (pss, private_clean, private_dirty) = (
        smaps_rollup_sum(&pids, "Pss"),
        smaps_rollup_sum(&pids, "Private_Clean"),
        smaps_rollup_sum(&pids, "Private_Dirty"),
    );
    let ps_rss = ps_rss_sum(&pids);
    held.release();
    assert!(held.finish().0.success());
    assert_eq!(pids.len(), 4, "coordinator and 3 workers");
    if let Some(ps_rss) = ps_rss {
        assert!(within_5_percent(ours.rss_kib, ps_rss), "ours {} KiB, ps {ps_rss} KiB", ours.rss_kib);
    }
    assert!(within_5_percent(ours.pss_kib, pss), "ours {} KiB, smaps_rollup {pss} KiB", ours.pss_kib);
    let uss = private_clean + private_dirty;
    assert!(within_5_percent(ours.uss_kib, uss), "ours {} KiB, smaps_rollup {uss} KiB", ours.uss_kib);
}

#[test]
fn compare_adds_pooled_rows_when_asked() {
    let scratch = Scratch::new("pool");
    let json = scratch.file("r.json");
    let output = compare(&[
        "--pool",
        "2",
        "--models",
        "threads,processes,async",
        "--syncs",
        "atomic",
        "--workers",
        "6",
        "--increments",
        "10",
        "--work",
        "none",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let models: Vec<&str> = rows.iter().map(|row| row["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["threads", "threads pool 2", "processes", "processes pool 2", "async"]);
    for row in rows.iter().filter(|row| row["model"].as_str().unwrap().ends_with("pool 2")) {
        assert_eq!(row["threads"].as_f64(), Some(3.0), "two members and the coordinator: {row}");
        assert_eq!(row["final_value"]["median"].as_f64(), Some(60.0));
    }
}

#[test]
fn xtask_help_lists_the_tasks_and_compare_help_has_examples() {
    let output = std::process::Command::new(binary("xtask")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("compare") && help.contains("sweep"), "{help}");
    let output = std::process::Command::new(binary("xtask")).args(["compare", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--preset", "--models", "--syncs", "--repeats", "--warmup", "--pool", "--with-python", "--export-csv"]
    {
        assert!(help.contains(flag), "{flag} is not documented:\n{help}");
    }
    assert!(help.contains("Examples:"), "{help}");
}
