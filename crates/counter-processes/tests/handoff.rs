//! A spawned worker trusts nothing of its hand-off: a crafted one (a segment too small for the counter it
//! describes, a worker number past the workers, a descriptor that is no segment, a segment whose bytes are not a
//! fresh counter) is refused with exit 2 and the reason, never a SIGBUS, a SIGSEGV, a panic or a wait without
//! end.

use std::{
    io::Write,
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    process::{Command, Stdio},
};

use counter_core::config::{Request, Strategy};
use counter_processes::codec::{Handoff, encode_handoff};

/// Runs the binary as a spawned worker: the report and start pipes on descriptors 3 and 4, `segment` on 5, and
/// the encoded `handoff` on a pipe on 6, as the coordinator would lay them out. Returns the exit code and stderr.
fn run_spawned(handoff: &Handoff, segment: OwnedFd) -> (Option<i32>, String) {
    let (report_read, report_write) = nix::unistd::pipe().unwrap();
    let (go_read, _go_write) = nix::unistd::pipe().unwrap();
    let (handoff_read, handoff_write) = nix::unistd::pipe().unwrap();
    std::fs::File::from(handoff_write).write_all(&encode_handoff(handoff).unwrap()).unwrap();
    let sources = [report_write.as_raw_fd(), go_read.as_raw_fd(), segment.as_raw_fd(), handoff_read.as_raw_fd()];
    let mut command = Command::new(env!("CARGO_BIN_EXE_counter-processes"));
    command.arg("--spawned-worker").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and calls only fcntl and dup2, which are
    // async-signal-safe, on descriptors open in the child; its errors allocate nothing.
    unsafe {
        command.pre_exec(move || {
            let mut moved = [0; 4];
            for (slot, fd) in moved.iter_mut().zip(sources) {
                *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *slot < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, fd) in (3..).zip(moved) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    // Ours to close once the worker has its copies.
    drop((report_read, segment));
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A segment of `bytes` bytes: a file of its own, as a shared-memory object is.
fn segment(bytes: u64) -> OwnedFd {
    let file = tempfile::tempfile().unwrap();
    file.set_len(bytes).unwrap();
    file.into()
}

/// A segment of `bytes` bytes, every one of them `fill`.
fn filled_segment(bytes: u64, fill: u8) -> OwnedFd {
    let mut segment = tempfile::tempfile().unwrap();
    segment.write_all(&vec![fill; usize::try_from(bytes).unwrap()]).unwrap();
    segment.into()
}

fn handoff(index: u64, request: Request, segment_bytes: u64) -> Handoff {
    Handoff { index, parent: std::process::id() as i32, request, segment_bytes }
}

#[test]
fn a_crafted_hand_off_is_refused_naming_what_is_wrong() {
    let seed = Request { workers: 2, increments: 1, ..Request::default() };
    let many = Request { workers: 100_000, strategy: Strategy::Sharded, ..seed.clone() };
    let (pipe_read, _pipe_write) = nix::unistd::pipe().unwrap();
    let cases: [(Handoff, OwnedFd, &str); 4] = [
        (handoff(0, seed.clone(), 4096), segment(0), "holds 0 bytes, less than the 4096"),
        (handoff(0, many, 4096), segment(4096), "less than the"),
        (handoff(7, seed.clone(), 4096), segment(4096), "names worker 7 of 2"),
        (handoff(0, seed, 4096), pipe_read, "is not a shared-memory segment"),
    ];
    for (handoff, segment, expected) in cases {
        let (code, stderr) = run_spawned(&handoff, segment);
        assert_eq!(code, Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "expected '{expected}' in: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A segment of the right size whose bytes are not a fresh counter: a lock word naming some live process
/// (`0x02` everywhere names pid 2's neighbourhood), a flag byte that is no `bool`, a zero segment (no mutex was
/// ever made there). Each is refused at the hand-off, for every strategy; before, the mutex worker waited for
/// ever on the crafted lock.
#[test]
fn a_segment_that_is_not_a_fresh_counter_is_refused_never_waited_on() {
    for strategy in Strategy::ALL {
        let request = Request { workers: 2, increments: 1, strategy, ..Request::default() };
        let bytes = 64 * 1024;
        // A strategy the model cannot run is refused before its segment is looked at.
        let refused =
            (strategy == Strategy::Fenced).then_some(counter_processes::FRONTEND.abilities.no_fencing).flatten();
        for (fill, expected) in [(0x02, "not a fresh counter"), (0x00, "the lock"), (0x01, "not a fresh counter")] {
            let expected = refused.unwrap_or(expected);
            let started = std::time::Instant::now();
            let (code, stderr) = run_spawned(&handoff(0, request.clone(), bytes), filled_segment(bytes, fill));
            assert_eq!(code, Some(2), "{strategy:?} filled with {fill:#04x}: {stderr}");
            assert!(stderr.contains(expected), "{strategy:?} {fill:#04x}: expected '{expected}' in: {stderr}");
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "{strategy:?}: it waited");
        }
    }
}
