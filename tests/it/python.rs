//! The Python reference programs in `python/`: they must print the same report as the Rust binaries, count
//! exactly with a lock, and lose updates without one where the window is wide.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use counter_core::report::RunReport;

const PROGRAMS: [&str; 5] = [
    "counter_threading.py",
    "counter_futures.py",
    "counter_multiprocessing.py",
    "counter_process_pool.py",
    "counter_asyncio.py",
];

/// The programs that start processes, and take --start-method.
const PROCESS_PROGRAMS: [&str; 2] = ["counter_multiprocessing.py", "counter_process_pool.py"];

fn python(interpreter: &Path, script: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python").join(script);
    Command::new(interpreter).arg(path).args(args).output().expect("the interpreter runs")
}

/// Every interpreter to test the programs on: python3, and each one the install step built. With none, the
/// test says it is skipped.
fn interpreters(test: &str) -> Vec<PathBuf> {
    if !tests::can_run(test, false, &["python3"]) {
        return Vec::new();
    }
    tests::pythons()
}

fn report(interpreter: &Path, script: &str, args: &[&str]) -> RunReport {
    let output = python(interpreter, script, &[args, &["--format", "json"]].concat());
    let name = format!("{} {script}", interpreter.display());
    assert!(output.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{name}: not a report ({e})"))
}

/// What a report says of its interpreter: (free-threaded build, GIL enabled).
fn interpreter_of(report: &RunReport) -> (bool, bool) {
    let extension = report.extension.as_ref().expect("a Python report names its interpreter");
    assert_eq!(extension.name, "interpreter");
    let flag = |name: &str| extension.figures.get(name).and_then(serde_json::Value::as_bool).expect(name);
    (flag("free_threaded_build"), flag("gil_enabled"))
}

#[test]
fn locked_python_programs_count_exactly_and_report_like_ours() {
    for interpreter in interpreters("locked_python_programs_count_exactly_and_report_like_ours") {
        for script in PROGRAMS {
            let args = ["--sync", "mutex", "--work", "none", "--workers", "4", "--increments", "2000"];
            let report = report(&interpreter, script, &args);
            let name = format!("{} {script}", interpreter.display());
            assert_eq!((report.final_value, report.lost_updates, report.expected), (8000, Some(0), 8000), "{name}");
            assert!(report.implementation.as_deref().is_some_and(|i| i.starts_with("CPython")), "{name}");
            assert!(report.memory.rss_kib > 0, "{name}");
            interpreter_of(&report);
        }
    }
}

#[test]
fn unlocked_python_programs_lose_updates_with_the_window_inside() {
    for interpreter in interpreters("unlocked_python_programs_lose_updates_with_the_window_inside") {
        for script in PROGRAMS {
            let report =
                report(&interpreter, script, &["--window", "inside", "--work", "sleep:1ms", "--increments", "10"]);
            let name = format!("{} {script}", interpreter.display());
            assert!(report.lost_updates.is_some_and(|lost| lost > 0), "{name}: {report:?}");
            assert_eq!(report.worker_summary.increments_done, report.expected, "{name}: every worker did its part");
            assert!(report.final_value < report.expected, "{name}");
        }
    }
}

/// The seed's `value += 1` on threads, with no work and nothing in the window: with the GIL the switch points
/// never fall inside it, so nothing is lost; on the free-threaded build the threads run at once, and lose
/// updates in some of a few runs (each run shows it on this machine; a few runs make a quiet machine's
/// scheduling no excuse).
#[test]
fn free_threaded_threads_lose_the_seeds_updates_and_the_gil_build_does_not() {
    let test = "free_threaded_threads_lose_the_seeds_updates_and_the_gil_build_does_not";
    let (Some(free), Some(gil)) = (tests::built_python(test, "python3.13t"), tests::built_python(test, "python3.13"))
    else {
        return;
    };
    let contended = ["--sync", "racy", "--work", "none", "--workers", "4", "--increments", "200000"];
    let runs: Vec<RunReport> = (0..3).map(|_| report(&free, "counter_threading.py", &contended)).collect();
    for run in &runs {
        assert_eq!(interpreter_of(run), (true, false), "the free-threaded build ran without its GIL");
        assert_eq!(run.worker_summary.increments_done, 800_000);
    }
    assert!(
        runs.iter().any(|run| run.lost_updates.is_some_and(|lost| lost > 0)),
        "no update lost in 3 runs on {}: {:?}",
        free.display(),
        runs.iter().map(|run| run.final_value).collect::<Vec<_>>()
    );
    assert!(runs.iter().all(|run| !run.notes.iter().any(|note| note.contains("GIL lets one thread"))));
    let with_gil = report(&gil, "counter_threading.py", &contended);
    assert_eq!(interpreter_of(&with_gil), (false, true));
    assert_eq!(with_gil.final_value, 800_000, "{}: {with_gil:?}", gil.display());
    // The free-threaded build can be asked to take its GIL back: the report says what the run had.
    let output = Command::new(&free)
        .env("PYTHON_GIL", "1")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/counter_threading.py"))
        .args(["--workers", "2", "--increments", "10", "--work", "none", "--format", "json"])
        .output()
        .unwrap();
    let forced: RunReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(interpreter_of(&forced), (true, true));
}

#[test]
fn python_programs_refuse_bad_input() {
    for interpreter in interpreters("python_programs_refuse_bad_input") {
        for script in PROGRAMS {
            for (args, expected) in
                [(&["--workers", "0"][..], "'0'"), (&["--work", "nap"], "'nap'"), (&["--sync", "atomic"], "atomic")]
            {
                let output = python(&interpreter, script, args);
                assert_eq!(output.status.code(), Some(2), "{script} {args:?}");
                assert!(String::from_utf8_lossy(&output.stderr).contains(expected), "{script} {args:?}");
            }
        }
    }
}

#[test]
fn python_process_programs_run_under_every_start_method() {
    let Some(interpreter) = interpreters("python_process_programs_run_under_every_start_method").pop() else {
        return;
    };
    let report = |script: &str, args: &[&str]| report(&interpreter, script, args);
    let python = |script: &str, args: &[&str]| python(&interpreter, script, args);
    for script in PROCESS_PROGRAMS {
        for method in ["fork", "forkserver", "spawn"] {
            let locked = ["--sync", "mutex", "--work", "none", "--workers", "3", "--increments", "500"];
            let exact = report(script, &[&locked[..], &["--start-method", method]].concat());
            assert_eq!(exact.final_value, 1500, "{script} {method}");
            let said = format!("started with {method}");
            assert!(exact.notes.iter().any(|note| note.starts_with(&said)), "{script} {method}: {:?}", exact.notes);
            // forkserver adds its server, and forkserver and spawn the resource tracker, to the tree.
            let least = if method == "fork" { 4 } else { 5 };
            assert!(exact.memory.processes >= least, "{script} {method}: {}", exact.memory.processes);
            let racy = ["--window", "inside", "--work", "sleep:1ms", "--increments", "10", "--start-method", method];
            let lossy = report(script, &racy);
            assert!(lossy.lost_updates.is_some_and(|lost| lost > 0), "{script} {method}: {lossy:?}");
            // The workers' CPU time is counted whoever reaps them (a forkserver's are the server's children):
            // two workers spinning 3 x 20 ms each use at least half of that even on a busy machine.
            let spin = ["--work", "spin:20ms", "--workers", "2", "--increments", "3", "--start-method", method];
            let spinning = report(script, &spin);
            let cpu = spinning.cpu.user_s + spinning.cpu.sys_s;
            assert!(cpu >= 0.5 * 2.0 * 3.0 * 0.020, "{script} {method}: {cpu} s of CPU");
        }
        let output = python(script, &["--start-method", "vfork"]);
        assert_eq!(output.status.code(), Some(2), "{script}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("'vfork'"), "{script}");
    }
}

/// A compare with both builds of 3.13 gives each its rows, labelled with the interpreter, and the JSON says
/// whether each row's runs had the GIL; the free-threaded racy row on a contended workload loses updates.
#[test]
fn compare_gives_each_interpreter_its_rows_and_says_whether_the_gil_was_on() {
    let test = "compare_gives_each_interpreter_its_rows_and_says_whether_the_gil_was_on";
    let (Some(free), Some(gil)) = (tests::built_python(test, "python3.13t"), tests::built_python(test, "python3.13"))
    else {
        return;
    };
    let scratch = tests::Scratch::new("compare-each-interpreter");
    let json = scratch.file("compare.json");
    let output = scratch
        .xtask()
        .args(["compare", "--profile", "dev", "--repeats", "2", "--warmup", "0", "--models", "threads"])
        .args(["--row-budget", "0s", "--probe-pairs", "0", "--syncs", "racy,mutex"])
        .args(["--workers", "4", "--increments", "100000", "--work", "none", "--with-python"])
        .arg("--python")
        .arg(&free)
        .arg("--python")
        .arg(&gil)
        .arg("--export-json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let row = |label: &str, sync: &str| {
        rows.iter()
            .find(|row| row["label"] == label && row["sync"] == sync)
            .unwrap_or_else(|| panic!("no row {label} {sync}: {rows:?}"))
    };
    for (name, gil_enabled) in [("python3.13t", false), ("python3.13", true)] {
        for program in ["threading", "futures"] {
            let label = format!("{name} {program}");
            // The table gives a row's model on its first line and what sets it apart on the next.
            let lines: Vec<&str> = stdout.lines().map(str::trim_start).collect();
            let shown = lines.windows(2).any(|pair| pair[0].starts_with(name) && pair[1].starts_with(program));
            assert!(shown, "{label} is not in the table:\n{stdout}");
            for sync in ["racy", "mutex"] {
                assert_eq!(row(&label, sync)["gil_enabled"], gil_enabled, "{label} {sync}");
            }
            assert_eq!(row(&label, "mutex")["lost_max"], 0.0, "{label}: the lock lost updates");
        }
    }
    assert!(row("python3.13t threading", "racy")["lost_max"].as_f64().unwrap() > 0.0, "{rows:?}");
    assert_eq!(row("threads", "racy")["gil_enabled"], serde_json::Value::Null);
}

/// Where the install step finds pyenv's python-build, as it looks: `$PYENV_ROOT`, then `~/.pyenv`.
fn have_python_build(test: &str) -> bool {
    let roots = [
        std::env::var_os("PYENV_ROOT").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")),
    ];
    let found = roots.iter().flatten().any(|root| root.join("plugins/python-build/bin/python-build").is_file());
    if !found {
        tests::skip(test, "needs pyenv's python-build (in $PYENV_ROOT or ~/.pyenv)");
    }
    found
}

/// The install step's failures, without a network: a tarball whose checksum is not the definition's, and one
/// that is not there. Each names its step, leaves no build behind, and exits 1.
#[test]
fn python_install_refuses_a_wrong_tarball_and_names_the_step() {
    if !have_python_build("python_install_refuses_a_wrong_tarball_and_names_the_step") {
        return;
    }
    let scratch = tests::Scratch::new("python-install-wrong-tarball");
    let dir = scratch.file("pythons");
    let wrong = scratch.file("Python-3.13.5.tar.xz");
    std::fs::write(&wrong, "not the tarball").unwrap();
    let missing = scratch.file("nowhere/Python-3.13.5.tar.xz");
    let device = std::path::PathBuf::from("/dev/null");
    let folder = scratch.path().to_path_buf();
    for (tarball, step, detail) in [
        (&wrong, "check the source", "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"),
        (&missing, "get the source", "no such file"),
        (&device, "get the source", "not a regular file"),
        (&folder, "get the source", "a folder, not a tarball"),
    ] {
        let output = scratch
            .xtask()
            .args(["python", "install", "--dir"])
            .arg(&dir)
            .arg("--tarball")
            .arg(tarball)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("step \"{step}\" failed")) && stderr.contains(detail), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{step}: left {left:?}");
    }
}

#[test]
fn every_program_s_trace_attributes_every_lost_update_on_every_interpreter() {
    for interpreter in interpreters("every_program_s_trace_attributes_every_lost_update_on_every_interpreter") {
        for program in PROGRAMS {
            let args = ["--window", "inside", "--work", "sleep:1ms", "--increments", "20", "--trace"];
            let report = report(&interpreter, program, &args);
            let name = format!("{} {program}", interpreter.display());
            let (lost, trace) = (report.lost_updates.expect("known"), report.trace.expect("a trace"));
            assert!(lost > 0, "{name}: nothing lost");
            assert_eq!((trace.kept, trace.not_kept), (report.expected, 0), "{name}");
            // Each write tells what it overwrote: the losses add up to the count from the final value, exactly.
            assert_eq!((trace.attributed, trace.agrees), (lost as i64, Some(true)), "{name}");
            assert!(trace.losses.first().is_some_and(|loss| loss.late.overwrote.is_some()), "{name}: {trace:?}");
        }
    }
}
