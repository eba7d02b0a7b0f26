//! `cargo xtask compare` end to end, on tiny workloads with the debug binaries.

use counter_core::model::Model;
use serde_json::Value;
use tests::{Scratch, binary, ps_rss_sum, smaps_rollup_sum, start_held, within_5_percent};

#[test]
fn compare_tabulates_every_row_and_exports_it() {
    let scratch = Scratch::new("ok");
    let (json, csv, markdown) = (scratch.file("r.json"), scratch.file("r.csv"), scratch.file("r.md"));
    let output = scratch.compare(&[
        "--models",
        "threads,processes,async",
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
        "--probe-pairs",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // A row per model, a column per strategy (optimistic as `optim.`); a lock in memory cannot expire: no fenced
    // column, and one sentence says why.
    let header = stdout.lines().find(|line| line.trim_start().starts_with("model")).expect("a table");
    for model in ["threads", "processes", "async"] {
        assert!(stdout.lines().any(|line| line.trim_start().starts_with(model)), "{model}:\n{stdout}");
    }
    for strategy in counter_core::config::Strategy::ALL {
        let heading = if strategy.name() == "optimistic" { "optim." } else { strategy.name() };
        let has_column = header.split_whitespace().any(|word| word == heading);
        assert_eq!(has_column, strategy != counter_core::config::Strategy::Fenced, "{heading}:\n{stdout}");
    }
    // The answers first, with their figures; the findings in the run's folder, not on the screen.
    assert!(stdout.starts_with("Answers (this run"), "{stdout}");
    for answer in [", no lock: ", ", wall time of mutex / atomic: ", "One more worker's PSS"] {
        assert!(stdout.contains(answer), "{answer}:\n{stdout}");
    }
    assert!(stdout.contains("are in findings.md in the run's folder") && !stdout.contains("Memory per extra"));
    let findings = std::fs::read_to_string(scratch.file("results/compare/latest/findings.md")).unwrap();
    for worker in ["thread", "process", "task"] {
        assert!(findings.contains(&format!("Memory per extra {worker} (1 pairs of runs")), "{findings}");
    }

    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    for row in rows {
        assert!(row["error"].is_null(), "{row}");
        let figure = |name: &str| row[name].as_f64().unwrap();
        assert!(figure("rss_bytes") > 0.0 && figure("pss_bytes") > 0.0 && figure("uss_bytes") > 0.0, "{row}");
        assert!(figure("pss_bytes") <= figure("rss_bytes"), "{row}");
        assert!(
            figure("wall_ci_low_s") <= figure("wall_median_s") && figure("wall_median_s") <= figure("wall_ci_high_s")
        );
        if row["sync"] != "racy" {
            assert_eq!(row["final_median"].as_f64(), Some(150.0), "{row}");
        }
        // Only the optimistic rows count retries.
        assert_eq!(row["retries_median"].is_null(), row["sync"] != "optimistic", "{row}");
        if row["label"] == "processes" {
            assert_eq!(row["processes"].as_f64(), Some(4.0), "{row}");
            assert!(figure("pss_bytes") < figure("rss_bytes"), "summed RSS over-states a tree: {row}");
        }
    }

    let csv = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("scenario,label,sync,"), "{csv}");
    assert_eq!(lines.len(), 16, "a header and one line per row:\n{csv}");

    let markdown = std::fs::read_to_string(&markdown).unwrap();
    let lines: Vec<&str> = markdown.lines().collect();
    assert!(lines.iter().all(|line| line.starts_with('|') && line.ends_with('|')), "{markdown}");
    assert!(lines[1].starts_with("|---|"), "{markdown}");
    assert_eq!(lines.len(), 17);
}

#[test]
fn a_failed_frontend_is_a_failed_row_and_a_non_zero_exit() {
    let scratch = Scratch::new("failed");
    let json = scratch.file("r.json");
    let output = scratch.compare(&[
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
    let threads = rows.iter().find(|row| row["label"] == "threads").unwrap();
    assert!(threads["error"].as_str().unwrap().contains("vm.max_map_count"), "{threads}");
    let tasks = rows.iter().find(|row| row["label"] == "async").unwrap();
    assert!(tasks["error"].is_null(), "the other rows still run: {tasks}");
    assert_eq!(tasks["final_median"].as_f64(), Some(100_000.0));
}

#[test]
fn compare_refuses_bad_flags() {
    let scratch = Scratch::new("compare-refuses-bad-flags");
    let output = scratch.compare(&["--models", "fibers"]);
    assert_eq!(output.status.code(), Some(2));
    let models = format!("[possible values: {}]", Model::ALL.map(Model::name).join(", "));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&models), "every model, from the one list");
    let output = scratch.xtask().args(["compare", "--repeats", "0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid repeats '0'"), "{stderr}");
}

#[test]
fn the_external_sampler_agrees_with_ps_and_smaps_rollup() {
    let mut held = start_held("counter-processes", &["--workers", "3", "--increments", "1", "--work", "none"]);
    let coordinator = held.pid();
    let kernel = |pids: &[i32]| {
        let uss = smaps_rollup_sum(pids, "Private_Clean") + smaps_rollup_sum(pids, "Private_Dirty");
        (smaps_rollup_sum(pids, "Pss"), uss)
    };
    // PSS and USS move whenever another process maps or unmaps the same pages, and tests run in parallel: ours
    // is read between two readings of the kernel's and must lie within 5% of the range they span. A moment when
    // the others' starts and exits carry the figures outside it is tried again, up to 20 times.
    let within = |value: u64, a: u64, b: u64| {
        within_5_percent(value, a) || within_5_percent(value, b) || (a.min(b)..=a.max(b)).contains(&value)
    };
    let mut ours = counter_core::proc::memory::snapshot_tree(coordinator, "test").unwrap();
    let pids: Vec<i32> = ours.per_process.iter().map(|p| p.pid).collect();
    let mut disagreements = Vec::new();
    for _ in 0..20 {
        let before = kernel(&pids);
        ours = counter_core::proc::memory::snapshot_tree(coordinator, "test").unwrap();
        let after = kernel(&pids);
        if within(ours.pss_kib, before.0, after.0) && within(ours.uss_kib, before.1, after.1) {
            disagreements.clear();
            break;
        }
        disagreements.push(format!(
            "PSS ours {} KiB, smaps_rollup {} then {}; USS ours {} KiB, smaps_rollup {} then {}",
            ours.pss_kib, before.0, after.0, ours.uss_kib, before.1, after.1
        ));
    }
    let ps_rss = ps_rss_sum(&pids);
    held.release();
    assert!(held.finish().0.success());
    assert_eq!(pids.len(), 4, "coordinator and 3 workers");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    if let Some(ps_rss) = ps_rss {
        assert!(within_5_percent(ours.rss_kib, ps_rss), "ours {} KiB, ps {ps_rss} KiB", ours.rss_kib);
    }
}

#[test]
fn compare_adds_a_row_and_a_probe_per_start_method_when_asked() {
    let scratch = Scratch::new("starts");
    let json = scratch.file("r.json");
    let output = scratch.compare(&[
        "--starts",
        "fork,forkserver,spawn",
        "--models",
        "processes,async",
        "--syncs",
        "atomic",
        "--workers",
        "3",
        "--increments",
        "20",
        "--work",
        "none",
        "--probe-pairs",
        "1",
        "--export-json",
        json.to_str().unwrap(),
        "--details",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let models: Vec<&str> = rows.iter().map(|row| row["label"].as_str().unwrap()).collect();
    assert_eq!(models, ["processes fork", "processes forkserver", "processes spawn", "async"]);
    for row in rows {
        assert_eq!(row["final_median"].as_f64(), Some(60.0), "{row}");
    }
    let probes = document["memory_per_worker"].as_array().unwrap();
    let starts: Vec<&Value> = probes.iter().map(|probe| &probe["start_method"]).collect();
    assert_eq!(starts, [&Value::from("fork"), &Value::from("forkserver"), &Value::from("spawn"), &Value::Null]);
    for method in ["fork", "forkserver", "spawn"] {
        assert!(stdout.contains(&format!("Memory per extra process ({method})")), "{stdout}");
    }
    let uss = |index: usize| probes[index]["uss_bytes"]["median"].as_f64().unwrap();
    assert!(uss(2) > 2.0 * uss(0), "a spawned worker shares no page with its coordinator: {probes:?}");
}

#[test]
fn compare_adds_pooled_rows_when_asked() {
    let scratch = Scratch::new("pool");
    let json = scratch.file("r.json");
    let output = scratch.compare(&[
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
    let models: Vec<&str> = rows.iter().map(|row| row["label"].as_str().unwrap()).collect();
    assert_eq!(models, ["threads", "threads pool 2", "processes", "processes pool 2", "async"]);
    for row in rows.iter().filter(|row| row["label"].as_str().unwrap().ends_with("pool 2")) {
        assert_eq!(row["threads"].as_f64(), Some(3.0), "two members and the coordinator: {row}");
        assert_eq!(row["final_median"].as_f64(), Some(60.0));
    }
}

#[test]
fn xtask_help_lists_the_tasks_and_compare_help_has_examples() {
    let scratch = Scratch::new("xtask-help-lists-the-tasks-and-compare-h");
    let output = scratch.xtask().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("compare") && help.contains("sweep"), "{help}");
    let output = scratch.xtask().args(["compare", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--preset", "--models", "--syncs", "--repeats", "--warmup", "--pool", "--with-python", "--export-csv"]
    {
        assert!(help.contains(flag), "{flag} is not documented:\n{help}");
    }
    assert!(help.contains("Examples:"), "{help}");
}

/// A quick compare of one row, with extra flags.
fn one_row(scratch: &Scratch, extra: &[&str]) -> std::process::Command {
    let mut command = scratch.xtask();
    command
        .args(["compare", "--profile", "dev", "--repeats", "1", "--warmup", "0", "--models", "threads"])
        .args(["--row-budget", "0s", "--probe-pairs", "0"])
        .args(["--syncs", "atomic", "--workers", "2", "--increments", "10", "--work", "none"])
        .args(extra);
    command
}

/// The run folder a compare says it wrote to.
/// The run folders of the comparisons made with `scratch`'s results folder, oldest first.
fn run_folders(scratch: &Scratch) -> Vec<std::path::PathBuf> {
    let task = scratch.file("results/compare");
    let mut folders: Vec<std::path::PathBuf> = std::fs::read_dir(&task)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir() && !path.is_symlink())
        .collect();
    folders.sort();
    folders
}

#[test]
fn counts_beyond_their_cap_are_refused_not_an_overflow() {
    let scratch = Scratch::new("counts-beyond-their-cap-are-refused-not-");
    for (flag, value, expected) in
        [("--warmup", "18446744073709551615", "from 0 to 100"), ("--repeats", "18446744073709551615", "from 1 to 1000")]
    {
        let output = scratch.xtask().args(["compare", flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(expected) && !stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn an_export_that_cannot_be_written_is_refused_before_any_run() {
    let scratch = Scratch::new("bad-export");
    let started = std::time::Instant::now();
    let output = one_row(&scratch, &["--export-csv", scratch.path().to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--export-csv") && stderr.contains("cannot be written"), "{stderr}");
    assert!(!stderr.contains("Compiling"), "refused before the build, let alone a run: {stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn an_export_to_dash_goes_to_standard_output() {
    let scratch = Scratch::new("an-export-to-dash-goes-to-standard-outpu");
    let output = one_row(&scratch, &["--export-json", "-"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_slice(&output.stdout).expect("standard output is the JSON alone");
    assert_eq!(document["rows"].as_array().map(Vec::len), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("atomic"), "the table went to standard error");
}

#[test]
fn a_full_standard_output_loses_no_measurement() {
    let scratch = Scratch::new("a-full-standard-output-loses-no-measurem");
    let output = std::process::Command::new("sh")
        .args(["-c", "exec \"$0\" \"$@\" >/dev/full"])
        .arg(binary("xtask"))
        .args(one_row(&scratch, &[]).get_args())
        .env("COUNTER_LAB_RESULTS", scratch.file("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not write to standard output: No space left on device"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The results were written before anything was printed.
    let latest = scratch.file("results/compare/latest/results.json");
    assert!(latest.is_file(), "{} is missing", latest.display());
}

#[test]
fn a_test_s_comparison_leaves_the_user_s_results_alone() {
    // The user's own latest comparison, if there is one, is what `cargo xtask report` shows after the tests.
    let users = tests::workspace_target().join("compare/latest");
    let before = std::fs::read_link(&users).ok();
    let scratch = Scratch::new("own-results");
    let output = one_row(&scratch, &[]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(scratch.file("results/compare/latest/results.json").is_file(), "the test's results are in its folder");
    assert_eq!(std::fs::read_link(&users).ok(), before, "the user's latest comparison was replaced");
}

#[test]
fn two_comparisons_at_once_keep_their_own_folders() {
    let scratch = Scratch::new("two-comparisons-at-once-keep-their-own-f");
    let first = one_row(&scratch, &[]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let second = one_row(&scratch, &[]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    assert!(first.status.success() && second.status.success());
    let folders = run_folders(&scratch);
    assert_eq!(folders.len(), 2, "a folder each: {folders:?}");
    for folder in folders {
        let raw: Vec<_> = std::fs::read_dir(folder.join("custom")).unwrap().filter_map(Result::ok).collect();
        assert_eq!(raw.len(), 1, "one raw report per run, none of the other's: {raw:?}");
        assert!(folder.join("results.json").is_file());
    }
}

#[test]
fn a_stopped_compare_takes_its_frontend_along() {
    let scratch = Scratch::new("a-stopped-compare-takes-its-frontend-alo");
    for (signal, code) in [(libc::SIGTERM, Some(143)), (libc::SIGINT, Some(130)), (libc::SIGKILL, None)] {
        // A frontend that would run for ever, held by compare while it measures.
        let mut xtask = tests::KillOnDrop(
            scratch
                .xtask()
                .args(["compare", "--profile", "dev", "--repeats", "1", "--warmup", "0", "--models", "processes"])
                .args(["--syncs", "atomic", "--workers", "2", "--increments", "100000", "--work", "sleep:1s"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let xtask_pid = xtask.0.id() as i32;
        let frontend = (0..600)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                // The kernel keeps 15 characters of a command's name.
                children_named(xtask_pid, "counter-process").into_iter().next()
            })
            .expect("compare starts the frontend");
        std::thread::sleep(std::time::Duration::from_millis(300));
        tests::signal_pid(xtask_pid, signal);
        let status = tests::wait_timeout(&mut xtask.0, tests::TIMEOUT);
        assert_eq!(status.code(), code, "signal {signal}");
        for _ in 0..100 {
            if !tests::process_exists(frontend) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!tests::process_exists(frontend), "signal {signal}: frontend {frontend} outlived compare");
    }
}

/// Children of `parent` whose command is `name`.
fn children_named(parent: i32, name: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some(close) = stat.rfind(')') else { return false };
            let command = stat.get(stat.find('(').map_or(0, |open| open + 1)..close).unwrap_or_default();
            let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok());
            command == name && ppid == Some(parent)
        })
        .collect()
}

#[test]
fn a_python_row_without_the_strategy_says_so_and_is_not_a_failure() {
    if !tests::can_run("a_python_row_without_the_strategy_says_so_and_is_not_a_failure", false, &["python3"]) {
        return;
    }
    let scratch = Scratch::new("unavailable");
    let json = scratch.file("r.json");
    let output = scratch.compare(&[
        "--with-python",
        "--python",
        "python3",
        "--models",
        "threads",
        "--syncs",
        "racy,optimistic",
        "--workers",
        "2",
        "--increments",
        "10",
        "--work",
        "none",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let optimistic: Vec<&Value> = rows.iter().filter(|row| row["sync"] == "optimistic").collect();
    assert_eq!(optimistic.len(), 3, "threads, python3.N threading, python3.N futures: {rows:?}");
    for row in &optimistic {
        let python = row["python"].as_bool().unwrap();
        assert_eq!(row["unavailable"].is_string(), python, "{row}");
        assert!(row["error"].is_null(), "{row}");
        assert_eq!(row["runs"].as_u64().unwrap() == 0, python, "{row}");
    }
    // The table says so, under it; the JSON holds the whole reason.
    assert!(stdout.replace('\n', " ").contains("not available: CPython"), "{stdout}");
    assert!(
        optimistic.iter().any(|row| row["unavailable"].as_str().is_some_and(|why| why.contains("compare-and-swap")))
    );
}

#[test]
fn two_exports_to_one_file_and_a_closed_output_are_refused() {
    let scratch = Scratch::new("export-clash");
    let same = scratch.file("out.json");
    let same = same.to_str().unwrap();
    let output = one_row(&scratch, &["--export-json", same, "--export-html", same]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--export-json and --export-html name the same file"), "{stderr}");
    // The page to standard output, as every other export can go.
    let output = one_row(&scratch, &["--export-html", "-"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("<!DOCTYPE html>"));
    assert!(!std::path::Path::new("-").exists(), "no file named '-'");
    // What compare prints would be lost: refused before anything runs, as the binaries do.
    let output = std::process::Command::new("sh")
        .args(["-c", "exec \"$0\" compare --models threads >&-"])
        .arg(binary("xtask"))
        .env("COUNTER_LAB_RESULTS", scratch.file("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard output is closed"), "{stderr}");
}

/// The lines of `text` wider than `width` columns.
fn too_wide(text: &str, width: usize) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| line.chars().count() > width)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_line_fits_80_columns_piped_and_in_an_80_column_terminal() {
    let scratch = Scratch::new("eighty-columns");
    // Piped: 80 columns. The server rows need a server: the models that run everywhere are enough for the shape.
    let compare =
        ["compare", "--profile", "dev", "--models", "threads,processes,async", "--repeats", "1", "--warmup", "0"];
    let quick = ["--row-budget", "0s", "--probe-pairs", "1", "--increments", "20", "--work", "sleep:1ms", "--wide"];
    let sweep = ["sweep", "--profile", "dev", "--quick", "--models", "threads,processes,async"];
    for args in [&[&compare[..], &quick[..]].concat(), &sweep.to_vec()] {
        let output = scratch.xtask().args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(too_wide(&stdout, 80).is_empty(), "{args:?} printed lines wider than 80:\n{stdout}");
    }
    for task in ["compare", "sweep", "calibrate", "report"] {
        let output = scratch.xtask().args([task, "--help"]).output().unwrap();
        assert!(too_wide(&String::from_utf8_lossy(&output.stdout), 80).is_empty(), "{task} --help");
    }
    // In a terminal of 80 columns (script gives the task one).
    if !tests::can_run("every_line_fits_80_columns_piped_and_in_an_80_column_terminal", false, &["script", "stty"]) {
        return;
    }
    let line = format!("stty cols 80; exec {} {} {}", binary("xtask").display(), compare.join(" "), quick.join(" "));
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("COUNTER_LAB_RESULTS", scratch.file("results"))
        .env_remove("COLUMNS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    // The progress bar redraws itself with carriage returns and escape sequences, and cargo colours its own
    // lines: what counts is what is left on the screen.
    let printed: String =
        strip_escapes(&text).lines().map(|line| line.rsplit('\r').next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    assert!(printed.contains("Raw reports"), "{printed}");
    assert!(too_wide(&printed, 80).is_empty(), "lines wider than the 80-column terminal:\n{printed}");
}

/// `text` without its terminal escape sequences (`ESC [ ... letter`).
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
