//! The operating system's limits on threads and processes, checked before a run so that asking for too many
//! workers ends in a clear error rather than an abort half-way.
//!
//! Rust's standard library aborts the whole process ("failed to set up alternative stack guard page") when a
//! new thread cannot get its memory mappings, instead of returning an error from `spawn`: the mapping limit
//! must be checked first.

use std::{fs, io};

use nix::sys::resource::{Resource, getrlimit};

/// Memory mappings one std thread adds: its stack and guard page, its signal stack and guard page.
pub const MAPS_PER_THREAD: u64 = 4;

/// Mappings left free for the allocator, the runtime and the probe themselves.
const MAPS_HEADROOM: u64 = 512;

/// A request beyond what the system allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{requested} {what} is more than {limit} allows ({limit} = {value}; {detail})")]
pub struct LimitError {
    /// How many workers were asked for.
    pub requested: u64,
    /// What they are: "threads", "processes".
    pub what: &'static str,
    /// The limit's name as a user would look it up: `vm.max_map_count`, `kernel.pid_max`, `RLIMIT_NPROC`.
    pub limit: &'static str,
    /// Its current value.
    pub value: u64,
    /// How many fit, and how to raise the limit.
    pub detail: String,
}

fn read_number(path: &str) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{path} holds '{}', not a number", text.trim()))
    })
}

/// `vm.max_map_count`: the most memory mappings one process may have.
pub fn max_map_count() -> io::Result<u64> {
    read_number("/proc/sys/vm/max_map_count")
}

/// `kernel.threads-max`: the most tasks (threads and processes) the system may have.
pub fn threads_max() -> io::Result<u64> {
    read_number("/proc/sys/kernel/threads-max")
}

/// `kernel.pid_max`: one more than the largest process or thread id.
pub fn pid_max() -> io::Result<u64> {
    read_number("/proc/sys/kernel/pid_max")
}

/// Tasks (threads and processes) that exist on the system now, from `/proc/loadavg`.
pub fn tasks_now() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/loadavg")?;
    text.split_whitespace()
        .nth(3)
        .and_then(|field| field.split_once('/'))
        .and_then(|(_, total)| total.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unexpected /proc/loadavg: {text}")))
}

/// Memory mappings this process has now.
pub fn maps_now() -> io::Result<u64> {
    Ok(fs::read_to_string("/proc/self/maps")?.lines().count() as u64)
}

/// The soft `RLIMIT_NPROC`, or `None` when unlimited. Root is not bound by it.
pub fn nproc_soft_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NPROC).ok().map(|(soft, _)| soft).filter(|soft| *soft != libc::RLIM_INFINITY)
}

/// A one-line summary of every limit that can stop a new thread or process, for error messages.
pub fn summary() -> String {
    let show = |value: io::Result<u64>| value.map_or_else(|e| format!("unknown ({e})"), |v| v.to_string());
    format!(
        "vm.max_map_count {}, kernel.threads-max {}, kernel.pid_max {}, RLIMIT_NPROC {}, tasks on the system now {}",
        show(max_map_count()),
        show(threads_max()),
        show(pid_max()),
        nproc_soft_limit().map_or_else(|| "unlimited".to_owned(), |v| v.to_string()),
        show(tasks_now()),
    )
}

/// Checks that `workers` more tasks fit under `kernel.threads-max` and `kernel.pid_max`.
fn check_tasks(workers: u64, what: &'static str) -> io::Result<Result<(), LimitError>> {
    let now = tasks_now()?;
    for (limit, value, raise) in [
        ("kernel.threads-max", threads_max()?, "sysctl -w kernel.threads-max=N"),
        ("kernel.pid_max", pid_max()?, "sysctl -w kernel.pid_max=N"),
    ] {
        // pid_max is one past the largest id, and a few ids are always taken: keep a small margin.
        let room = value.saturating_sub(now).saturating_sub(64);
        if workers > room {
            return Ok(Err(LimitError {
                requested: workers,
                what,
                limit,
                value,
                detail: format!("{now} tasks exist already, so about {room} more fit; raise it with `{raise}`"),
            }));
        }
    }
    Ok(Ok(()))
}

/// Checks that `workers` more threads fit in this process: the mapping limit, then the task limits.
pub fn check_threads(workers: u64) -> io::Result<Result<(), LimitError>> {
    let max = max_map_count()?;
    let now = maps_now()?;
    let room = max.saturating_sub(now).saturating_sub(MAPS_HEADROOM) / MAPS_PER_THREAD;
    if workers > room {
        return Ok(Err(LimitError {
            requested: workers,
            what: "threads",
            limit: "vm.max_map_count",
            value: max,
            detail: format!(
                "each thread takes {MAPS_PER_THREAD} memory mappings and this process has {now} already, so about \
                 {room} threads fit; raise it with `sysctl -w vm.max_map_count=N`"
            ),
        }));
    }
    check_tasks(workers, "threads")
}

/// Memory the kernel thinks can still be given out without swapping (`MemAvailable` in `/proc/meminfo`), KiB.
pub fn mem_available_kib() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/meminfo")?;
    super::field_kib(&text, "MemAvailable")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no MemAvailable in /proc/meminfo"))
}

/// Checks that `workers` async tasks of about `bytes_per_task` each fit in half of the available memory, so
/// that a run too large for the machine ends in an error instead of the OOM killer.
pub fn check_tasks_memory(workers: u64, bytes_per_task: u64) -> io::Result<Result<(), LimitError>> {
    let available = mem_available_kib()?;
    let room = available.saturating_mul(1024) / 2 / bytes_per_task.max(1);
    if workers > room {
        return Ok(Err(LimitError {
            requested: workers,
            what: "tasks",
            limit: "MemAvailable",
            value: available,
            detail: format!(
                "at about {bytes_per_task} bytes per task, at most {room} tasks fit in half of the {available} KiB \
                 available"
            ),
        }));
    }
    Ok(Ok(()))
}

/// Checks that `workers` more processes fit under the task limits.
pub fn check_processes(workers: u64) -> io::Result<Result<(), LimitError>> {
    check_tasks(workers, "processes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read() {
        assert!(max_map_count().unwrap() > 0);
        assert!(threads_max().unwrap() > 0);
        assert!(pid_max().unwrap() > 0);
        assert!(tasks_now().unwrap() > 0);
        assert!(maps_now().unwrap() > 0);
        assert!(summary().contains("vm.max_map_count"));
    }

    #[test]
    fn absurd_requests_name_the_limit() {
        let error = check_threads(10_000_000).unwrap().unwrap_err();
        assert_eq!(error.limit, "vm.max_map_count");
        assert!(error.to_string().contains("10000000 threads"), "{error}");
        let error = check_processes(10_000_000).unwrap().unwrap_err();
        assert!(error.limit.starts_with("kernel."), "{error}");
        assert_eq!(check_threads(5).unwrap(), Ok(()));
        let error = check_tasks_memory(u64::MAX / 4096, 1024).unwrap().unwrap_err();
        assert_eq!(error.limit, "MemAvailable");
        assert_eq!(check_tasks_memory(1000, 1024).unwrap(), Ok(()));
    }
}
