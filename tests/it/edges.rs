//! Every edge ends cleanly: no hang, panic, leak or lost result where a user or the OS pushes. Each test is one
//! case of the reliability list in the README: the documented exit code, a message that names the value or the
//! limit, and nothing left behind. Cases that need root (a PID namespace, a tmpfs of our own) or a tool skip
//! with one printed line when they cannot run.

use std::{
    process::{Command, Output, Stdio},
    thread,
    time::Duration,
};

use counter_core::{catalog, model::Model, report::RunReport};
use tests::{
    binary, can_run, nobody_processes, process_exists, run, run_as_nobody, shm_entries, signal_pid, start_held,
    stderr_of,
};

/// A tiny run that ends at once.
const TINY: &[&str] = &["--workers", "2", "--increments", "1", "--work", "none", "--sync", "atomic"];

/// Runs `bin args` under `sh -c`, with `redirect` applied to it (`>/dev/full`, `>&-`).
fn run_redirected(bin: &str, args: &[&str], redirect: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\" {redirect}"))
        .arg(binary(bin))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs")
}

fn assert_no_panic(case: &str, output: &Output) {
    let stderr = stderr_of(output);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{case}: {stderr}");
    assert!(output.status.code().is_some(), "{case}: killed by a signal: {:?}", output.status);
}

#[test]
fn a_hold_longer_than_the_clock_is_refused_naming_the_limit() {
    for bin in tests::every_frontend() {
        for hold in ["9223372036854775807", "18446744074s"] {
            let output = run(bin, &["--hold", hold, "--workers", "1", "--increments", "1"]);
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(2), "{bin} --hold {hold}: {stderr}");
            assert!(stderr.contains(hold) && stderr.contains("584 years"), "{bin}: {stderr}");
        }
    }
}

#[test]
fn values_with_spaces_are_refused_by_one_rule() {
    for work in ["sleep: 10ms", "sleep:10 ms"] {
        let output = run("counter-threads", &["--work", work]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{work}: {stderr}");
        assert!(stderr.contains("white space"), "{work}: {stderr}");
    }
}

#[test]
fn a_full_standard_output_is_exit_1_with_one_line() {
    for bin in tests::frontends("a_full_standard_output_is_exit_1_with_one_line") {
        let output = run_redirected(bin, TINY, ">/dev/full");
        assert_no_panic(bin, &output);
        assert_eq!(output.status.code(), Some(1), "{bin}: {}", stderr_of(&output));
        assert_eq!(
            stderr_of(&output),
            format!("{bin}: error: could not write to standard output: No space left on device (os error 28)\n")
        );
    }
}

#[test]
fn a_closed_standard_output_is_refused_before_the_run() {
    for bin in tests::every_frontend() {
        let output = run_redirected(bin, TINY, ">&-");
        assert_no_panic(bin, &output);
        assert_eq!(output.status.code(), Some(2), "{bin}: the report would be lost, never exit 0");
        assert!(stderr_of(&output).contains("standard output is closed"), "{}", stderr_of(&output));
    }
    // A shell's >/dev/null is a choice to discard the report, not a closed output.
    assert_eq!(run_redirected("counter-threads", TINY, ">/dev/null").status.code(), Some(0));
}

#[test]
fn a_full_standard_error_loses_nothing_on_standard_output() {
    for bin in tests::frontends("a_full_standard_error_loses_nothing_on_standard_output") {
        let output = run_redirected(bin, TINY, "2>/dev/full");
        assert_eq!(output.status.code(), Some(0), "{bin}");
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("Final counter value: 2\n"), "{bin}");
    }
}

#[test]
fn a_reader_that_went_away_ends_the_program_quietly_with_141() {
    for bin in tests::frontends("a_reader_that_went_away_ends_the_program_quietly_with_141") {
        // Held until the pipe's reader is gone, so that the report is written to a pipe nobody reads.
        let mut held = start_held(bin, TINY);
        drop(held.child.stdout.take());
        held.release();
        let (status, _, stderr) = held.finish();
        assert_eq!(status.code(), Some(141), "{bin}: {stderr}");
        assert!(!stderr.contains("error") && !stderr.contains("panicked"), "{bin}: quietly, but said: {stderr}");
    }
}

#[test]
fn a_file_size_limit_is_named_and_leaks_no_segment() {
    if !can_run("a_file_size_limit_is_named_and_leaks_no_segment", false, &["prlimit"]) {
        return;
    }
    let child = Command::new("prlimit")
        .args(["--fsize=0"])
        .arg(binary("counter-processes"))
        .args(TINY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than RLIMIT_FSIZE allows"), "{stderr}");
    // prlimit execs the binary: same pid.
    assert!(shm_entries(&format!("counter-processes-{pid}-")).is_empty(), "a segment was left");
}

#[test]
fn an_address_space_limit_is_checked_before_threads_start() {
    if !can_run("an_address_space_limit_is_checked_before_threads_start", false, &["prlimit"]) {
        return;
    }
    let output = Command::new("prlimit")
        .arg("--as=16475136")
        .arg(binary("counter-threads"))
        .args(["--workers", "20", "--work", "none"])
        .output()
        .unwrap();
    assert_no_panic("counter-threads under RLIMIT_AS", &output);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("20 threads with 2.0 MiB stacks is more than RLIMIT_AS allows"), "{stderr}");
}

#[test]
fn a_small_stack_limit_is_enough_for_every_frontend() {
    if !can_run("a_small_stack_limit_is_enough_for_every_frontend", false, &["prlimit"]) {
        return;
    }
    // 32 KiB is enough for the optimised binaries; unoptimised frames are several times larger (clap's
    // argument building alone takes about 140 KiB there), so the debug binaries get 192 KiB. The soft limit only
    // (as `ulimit -Ss`): a server a frontend starts may raise its own back, up to the hard limit.
    let stack = if cfg!(debug_assertions) { "--stack=196608:" } else { "--stack=32768:" };
    for bin in tests::frontends("a_small_stack_limit_is_enough_for_every_frontend") {
        let output = Command::new("prlimit").arg(stack).arg(binary(bin)).args(TINY).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{bin} with {stack}: {}", stderr_of(&output));
    }
}

#[test]
fn async_runtime_threads_are_checked_against_the_limits() {
    let output = run("counter-async", &["--flavor", "multi-thread", "--threads", "100000", "--workers", "2"]);
    assert_no_panic("--threads 100000", &output);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("100000 threads is more than vm.max_map_count allows"), "{stderr}");
    let args = ["--flavor", "multi-thread", "--threads", "20", "--workers", "20", "--work", "none"];
    let Some(output) = run_as_nobody("counter-async", "--nproc=5", &args) else { return };
    assert_no_panic("--threads 20 under RLIMIT_NPROC 5", &output);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("20 threads is more than RLIMIT_NPROC allows (RLIMIT_NPROC = 5"), "{stderr}");
    assert!(nobody_processes("counter-async").is_empty());
}

#[test]
fn an_interrupted_piece_of_work_is_not_a_finished_increment() {
    for bin in tests::frontends("an_interrupted_piece_of_work_is_not_a_finished_increment") {
        let mut held =
            start_held(bin, &["--workers", "2", "--increments", "1", "--work", "sleep:18446744073709551615ns"]);
        held.release();
        thread::sleep(Duration::from_millis(300));
        held.signal(libc::SIGINT);
        let (status, _, stderr) = held.finish();
        assert_eq!(status.code(), Some(130), "{bin}: {stderr}");
        assert!(stderr.contains("Final counter value: 0\n"), "{bin}: nothing was finished: {stderr}");
        assert!(stderr.contains("the run did not finish every increment"), "{bin}: {stderr}");
        assert!(!stderr.contains("efficiency"), "{bin}: no efficiency for a run cut short: {stderr}");
    }
}

#[test]
fn a_stopped_lock_holder_then_ctrl_c_reports_the_loss_as_unknown() {
    let args =
        ["--workers", "3", "--increments", "100", "--sync", "mutex", "--window", "inside", "--work", "sleep:10ms"];
    let mut held = start_held("counter-processes", &[&args[..], &["--format", "json"]].concat());
    let workers = held.ids("worker pids");
    held.release();
    thread::sleep(Duration::from_millis(100));
    let holder = tests::lock_holder(&workers).expect("a worker holds the lock across its sleep");
    signal_pid(holder, libc::SIGSTOP);
    thread::sleep(Duration::from_millis(100));
    held.signal(libc::SIGINT);
    let (status, _, stderr) = held.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let report: RunReport = serde_json::from_str(&stderr[stderr.find('{').unwrap()..]).unwrap();
    // The stopped holder never reported, nor could the workers waiting for its lock: what they did is unknown,
    // so the loss is too, never a made-up zero.
    assert!(report.unreported_workers >= 1, "{report:?}");
    assert_eq!(report.lost_updates, None, "{report:?}");
    assert!(report.lost_updates_bounds.is_some());
    assert!(!report.complete);
    assert!(!process_exists(holder), "the stopped worker was killed and reaped");
}

#[test]
fn sigterm_to_a_held_worker_is_named() {
    let held = start_held("counter-processes", &["--workers", "3"]);
    let workers = held.ids("worker pids");
    signal_pid(workers[1], libc::SIGTERM);
    let (status, _, stderr) = held.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("worker 1 (pid {}) was killed by SIGTERM", workers[1])), "{stderr}");
}

#[test]
fn a_full_dev_shm_is_an_error_naming_it_not_a_sigbus() {
    if !can_run("a_full_dev_shm_is_an_error_naming_it_not_a_sigbus", true, &["unshare", "mount", "sh"]) {
        return;
    }
    // A private mount namespace with a 64 KiB tmpfs on /dev/shm, filled up.
    let script = "mount -t tmpfs -o size=64k tmpfs /dev/shm && cat /dev/zero > /dev/shm/fill 2>/dev/null; \
                  \"$0\" --workers 2 --increments 1 --work none; code=$?; ls /dev/shm; exit $code";
    let output =
        Command::new("unshare").args(["-m", "sh", "-c", script]).arg(binary("counter-processes")).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than /dev/shm allows") && stderr.contains("256 B"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "fill\n", "no segment left beside the filler");
}

#[test]
fn a_read_only_dev_shm_is_said_in_words() {
    if !can_run("a_read_only_dev_shm_is_said_in_words", true, &["unshare", "mount", "sh"]) {
        return;
    }
    let script = "mount -t tmpfs -o ro tmpfs /dev/shm && exec \"$0\" --workers 2 --increments 1 --work none";
    let output =
        Command::new("unshare").args(["-m", "sh", "-c", script]).arg(binary("counter-processes")).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("read-only file system (/dev/shm is mounted read-only)"), "{stderr}");
    assert!(!stderr.contains("os error"), "in words: {stderr}");
}

#[test]
fn coordinators_that_are_all_pid_1_never_clash() {
    if !can_run("coordinators_that_are_all_pid_1_never_clash", true, &["unshare"]) {
        return;
    }
    // In a PID namespace every coordinator is pid 1: three loops at once used to delete each other's names.
    let loops: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(|| {
                (0..40)
                    .map(|_| {
                        Command::new("unshare")
                            .args(["-pf", "--mount-proc"])
                            .arg(binary("counter-processes"))
                            .args(TINY)
                            .output()
                            .unwrap()
                    })
                    .filter(|output| !output.status.success())
                    .map(|output| stderr_of(&output))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for failures in loops {
        let failures = failures.join().unwrap();
        assert!(failures.is_empty(), "{} runs failed, first: {}", failures.len(), failures[0]);
    }
}

/// A deadline the clock cannot keep (the runtime's timer counts whole milliseconds) is refused, naming it.
#[test]
fn a_deadline_shorter_than_the_clock_can_keep_is_refused() {
    let stores = Model::ALL.into_iter().filter(|&model| catalog::of(model).server.is_some());
    let flags = stores.flat_map(|model| {
        let lease = model.lock_expires().then_some((model.binary(), "--lock-ttl"));
        std::iter::once((model.binary(), "--timeout")).chain(lease)
    });
    for (bin, flag) in flags {
        for value in ["1us", "999us", "0s"] {
            let output = run(bin, &[&[flag, value][..], TINY].concat());
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(2), "{bin} {flag} {value}: {stderr}");
            assert!(stderr.contains(&format!("invalid {flag}")) && stderr.contains("at least 1ms"), "{stderr}");
        }
    }
}

/// An export into a folder that does not exist is refused before anything runs, and no folder is made.
#[test]
fn an_export_into_a_missing_folder_is_refused_and_makes_nothing() {
    let scratch = tests::Scratch::new("export-missing-folder");
    let missing = scratch.file("missing");
    let output = scratch
        .xtask()
        .args(["compare", "--models", "threads", "--syncs", "atomic", "--increments", "1", "--repeats", "1"])
        .arg("--export-json")
        .arg(missing.join("deeper").join("x.json"))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not exist; make it first"), "{stderr}");
    assert!(!missing.exists(), "a folder was made: {}", missing.display());
}

/// `--serve` ended by a stop signal exits as every command does: 130 for SIGINT, 143 for SIGTERM, its cluster
/// gone.
#[test]
fn serve_ended_by_a_signal_exits_130_or_143() {
    let stores = Model::ALL.into_iter().filter(|&model| catalog::of(model).server.is_some());
    for bin in stores.map(Model::binary) {
        if !tests::runnable("serve_ended_by_a_signal_exits_130_or_143", bin) {
            continue;
        }
        for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
            let mut served = tests::KillOnDrop(
                tests::command(bin).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap(),
            );
            let mut line = String::new();
            let stdout = served.0.stdout.take().unwrap();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
            assert!(!line.trim().is_empty(), "{bin}: no address");
            signal_pid(served.0.id() as i32, signal);
            let status = tests::wait_timeout(&mut served.0, Duration::from_secs(20));
            assert_eq!(status.code(), Some(code), "{bin}, signal {signal}");
        }
    }
}
