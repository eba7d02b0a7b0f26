//! The operating system's limits on threads, processes and memory, checked before a run so that asking for
//! too much ends in a clear error (exit 2) rather than an abort half-way.
//!
//! Rust's standard library aborts the whole process ("failed to set up alternative stack guard page", "memory
//! allocation of N bytes failed") when a new thread cannot get its memory mappings or its memory, instead of
//! returning an error from `spawn`: the mapping and address-space limits must be checked first.

use std::{fs, io};

use nix::{
    sys::resource::{Resource, getrlimit},
    unistd::{Uid, geteuid, getuid},
};

use crate::units;

/// Memory mappings one std thread adds: its stack and guard page, its signal stack and guard page.
pub const MAPS_PER_THREAD: u64 = 4;

/// Mappings left free for the allocator, the runtime and the probe themselves.
const MAPS_HEADROOM: u64 = 512;

/// Address space left free for the allocator and the runtime beyond what the run reserves, bytes.
const ADDRESS_SPACE_HEADROOM: u64 = 64 << 20;

/// Address space one thread takes besides its stack: guard pages and its signal stack, bytes (generous).
const THREAD_OVERHEAD_BYTES: u64 = 64 << 10;

/// Tasks kept free under the task limits: a few ids are always taken by others meanwhile.
const TASKS_HEADROOM: u64 = 64;

/// A request beyond what the system allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{request} is more than {limit} allows ({limit} = {value}; {detail})")]
pub struct LimitError {
    /// What was asked for: `20 threads`, `a 4.2 KiB shared-memory segment`.
    pub request: String,
    /// The limit's name as a user would look it up: `vm.max_map_count`, `RLIMIT_NPROC`, `/dev/shm`.
    pub limit: &'static str,
    /// Its current value, with its unit.
    pub value: String,
    /// How much fits, and how to raise the limit.
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

/// This process's address space now (`VmSize`), bytes.
pub fn address_space_now() -> io::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    super::field_kib(&status, "VmSize")
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmSize in /proc/self/status"))
}

fn soft_limit(resource: Resource) -> Option<u64> {
    getrlimit(resource).ok().map(|(soft, _)| soft).filter(|soft| *soft != libc::RLIM_INFINITY)
}

/// The soft `RLIMIT_NPROC`, or `None` when unlimited or when this process is exempt from it (root).
pub fn nproc_soft_limit() -> Option<u64> {
    // The kernel does not apply RLIMIT_NPROC to root (CAP_SYS_RESOURCE or CAP_SYS_ADMIN).
    if geteuid().is_root() { None } else { soft_limit(Resource::RLIMIT_NPROC) }
}

/// The soft `RLIMIT_AS` (address space), bytes, or `None` when unlimited.
pub fn address_space_soft_limit() -> Option<u64> {
    soft_limit(Resource::RLIMIT_AS)
}

/// The soft `RLIMIT_FSIZE` (largest file this process may write), bytes, or `None` when unlimited.
pub fn file_size_soft_limit() -> Option<u64> {
    soft_limit(Resource::RLIMIT_FSIZE)
}

/// Tasks (threads) whose real user is `uid`: what `RLIMIT_NPROC` counts.
fn tasks_of_user(uid: Uid) -> io::Result<u64> {
    let mut tasks = 0;
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        // A process may end while we look: skip it.
        let Ok(status) = super::read(pid, "status") else { continue };
        let field = |key: &str| status.lines().find_map(|line| line.strip_prefix(key)).map(str::trim);
        let real_uid = field("Uid:").and_then(|ids| ids.split_whitespace().next()).and_then(|id| id.parse().ok());
        if real_uid == Some(uid.as_raw()) {
            tasks += field("Threads:").and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
        }
    }
    Ok(tasks)
}

/// A one-line summary of every limit that can stop a new thread or process, for error messages.
pub fn summary() -> String {
    let show = |value: io::Result<u64>| value.map_or_else(|e| format!("unknown ({e})"), |v| v.to_string());
    let limit = |value: Option<u64>, unit: fn(u64) -> String| value.map_or_else(|| "unlimited".to_owned(), unit);
    format!(
        "vm.max_map_count {}, kernel.threads-max {}, kernel.pid_max {}, RLIMIT_NPROC {}, RLIMIT_AS {}, tasks on the \
         system now {}",
        show(max_map_count()),
        show(threads_max()),
        show(pid_max()),
        if geteuid().is_root() {
            "not applied to root".to_owned()
        } else {
            limit(soft_limit(Resource::RLIMIT_NPROC), |v| v.to_string())
        },
        limit(address_space_soft_limit(), units::bytes),
        show(tasks_now()),
    )
}

/// Checks that `count` more tasks (threads or processes, named `what`) fit under `kernel.threads-max`,
/// `kernel.pid_max` and `RLIMIT_NPROC`.
fn check_kernel_tasks(count: u64, what: &str) -> io::Result<Result<(), LimitError>> {
    let now = tasks_now()?;
    for (limit, value, raise) in [
        ("kernel.threads-max", threads_max()?, "sysctl -w kernel.threads-max=N"),
        ("kernel.pid_max", pid_max()?, "sysctl -w kernel.pid_max=N"),
    ] {
        let room = value.saturating_sub(now).saturating_sub(TASKS_HEADROOM);
        if count > room {
            return Ok(Err(LimitError {
                request: format!("{count} {what}"),
                limit,
                value: value.to_string(),
                detail: format!("{now} tasks exist already, so about {room} more fit; raise it with `{raise}`"),
            }));
        }
    }
    if let Some(limit) = nproc_soft_limit() {
        let uid = getuid();
        let mine = tasks_of_user(uid)?;
        let room = limit.saturating_sub(mine);
        if count > room {
            return Ok(Err(LimitError {
                request: format!("{count} {what}"),
                limit: "RLIMIT_NPROC",
                value: limit.to_string(),
                detail: format!(
                    "user {uid} has {mine} threads and processes already, so {room} more fit; raise it with \
                     `ulimit -u N` or `prlimit --nproc=N`"
                ),
            }));
        }
    }
    Ok(Ok(()))
}

/// Checks that `reserve` more bytes of address space fit under `RLIMIT_AS`, with some headroom.
fn check_address_space(reserve: u64, request: impl FnOnce() -> String) -> io::Result<Result<(), LimitError>> {
    let Some(limit) = address_space_soft_limit() else { return Ok(Ok(())) };
    let now = address_space_now()?;
    let needed = now.saturating_add(reserve).saturating_add(ADDRESS_SPACE_HEADROOM);
    if needed > limit {
        return Ok(Err(LimitError {
            request: request(),
            limit: "RLIMIT_AS",
            value: units::bytes(limit),
            detail: format!(
                "the process has {} of address space already, the run reserves {} more, and {} is kept for the \
                 allocator; raise it with `ulimit -v N` or `prlimit --as=N`",
                units::bytes(now),
                units::bytes(reserve),
                units::bytes(ADDRESS_SPACE_HEADROOM)
            ),
        }));
    }
    Ok(Ok(()))
}

/// Checks that `threads` more threads with stacks of `stack_bytes` fit in this process: the mapping limit,
/// the address-space limit, then the task limits.
pub fn check_threads(threads: u64, stack_bytes: u64) -> io::Result<Result<(), LimitError>> {
    let max = max_map_count()?;
    let now = maps_now()?;
    let room = max.saturating_sub(now).saturating_sub(MAPS_HEADROOM) / MAPS_PER_THREAD;
    if threads > room {
        return Ok(Err(LimitError {
            request: format!("{threads} threads"),
            limit: "vm.max_map_count",
            value: max.to_string(),
            detail: format!(
                "each thread takes {MAPS_PER_THREAD} memory mappings and this process has {now} already, so about \
                 {room} threads fit; raise it with `sysctl -w vm.max_map_count=N`"
            ),
        }));
    }
    let reserve = threads.saturating_mul(stack_bytes.saturating_add(THREAD_OVERHEAD_BYTES));
    if let Err(error) =
        check_address_space(reserve, || format!("{threads} threads with {} stacks", units::bytes(stack_bytes)))?
    {
        return Ok(Err(error));
    }
    check_kernel_tasks(threads, "threads")
}

/// Checks that `processes` more processes fit under the task limits, and that the coordinator can map a
/// segment of `segment_bytes`.
pub fn check_processes(processes: u64, segment_bytes: u64) -> io::Result<Result<(), LimitError>> {
    if let Err(error) =
        check_address_space(segment_bytes, || format!("a {} shared-memory segment", units::bytes(segment_bytes)))?
    {
        return Ok(Err(error));
    }
    check_kernel_tasks(processes, "processes")
}

/// Checks that `more` descriptors can still be opened under `RLIMIT_NOFILE`, beside those open now.
pub fn check_descriptors(more: u64, purpose: &str) -> io::Result<Result<(), LimitError>> {
    let Some(limit) = soft_limit(Resource::RLIMIT_NOFILE) else { return Ok(Ok(())) };
    let open = open_descriptors()?;
    let below = |limit: u64| open.iter().filter(|&&number| number < limit).count() as u64;
    if below(limit).saturating_add(more) <= limit {
        return Ok(Ok(()));
    }
    Ok(Err(LimitError {
        request: format!("{more} more open files ({purpose})"),
        limit: "RLIMIT_NOFILE",
        value: limit.to_string(),
        detail: format!(
            "{} are open below it already; raise it with `ulimit -n {}` or more",
            below(limit),
            descriptor_limit_needed(&open, more)
        ),
    }))
}

/// The numbers of this process's open descriptors.
fn open_descriptors() -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir("/proc/self/fd")? {
        if let Some(number) = entry?.file_name().to_str().and_then(|name| name.parse::<u64>().ok()) {
            numbers.push(number);
        }
    }
    // The listing's own descriptor was among them; it is closed now, and its link with it.
    numbers.retain(|number| fs::read_link(format!("/proc/self/fd/{number}")).is_ok());
    Ok(numbers)
}

/// The smallest `RLIMIT_NOFILE` under which `more` descriptors can be opened beside `open`: a new descriptor
/// takes the lowest free number, which must be below the limit, so only those open below it take a place.
fn descriptor_limit_needed(open: &[u64], more: u64) -> u64 {
    let mut limit = more;
    loop {
        let needed = more + open.iter().filter(|&&number| number < limit).count() as u64;
        if needed <= limit {
            return limit;
        }
        limit = needed;
    }
}

/// Memory the kernel thinks can still be given out without swapping (`MemAvailable` in `/proc/meminfo`), KiB.
pub fn mem_available_kib() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/meminfo")?;
    super::field_kib(&text, "MemAvailable")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no MemAvailable in /proc/meminfo"))
}

/// Checks that `tasks` async tasks of about `bytes_per_task` each fit in half of the available memory and in
/// the address-space limit, so that a run too large for the machine ends in an error instead of the OOM killer
/// or an abort.
pub fn check_async_tasks(tasks: u64, bytes_per_task: u64) -> io::Result<Result<(), LimitError>> {
    let available = mem_available_kib()?;
    let room = available.saturating_mul(1024) / 2 / bytes_per_task.max(1);
    if tasks > room {
        return Ok(Err(LimitError {
            request: format!("{tasks} tasks"),
            limit: "MemAvailable",
            value: units::whole_kib(available),
            detail: format!(
                "at about {bytes_per_task} bytes per task, at most {room} tasks fit in half of the memory available"
            ),
        }));
    }
    check_address_space(tasks.saturating_mul(bytes_per_task), || format!("{tasks} tasks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_open_at_or_above_a_limit_take_no_place_under_it() {
        assert_eq!(descriptor_limit_needed(&[0, 1, 2], 6), 9);
        // 251 is above every limit that fits the rest.
        assert_eq!(descriptor_limit_needed(&[0, 1, 2, 251], 6), 9);
        // 9 is at the limit the others need, 8 below it: 8 takes a place there.
        assert_eq!(descriptor_limit_needed(&[0, 1, 2, 9], 6), 9);
        assert_eq!(descriptor_limit_needed(&[0, 1, 2, 8], 6), 10);
        assert_eq!(descriptor_limit_needed(&[], 0), 0);
    }

    #[test]
    fn limits_read() {
        assert!(max_map_count().unwrap() > 0);
        assert!(threads_max().unwrap() > 0);
        assert!(pid_max().unwrap() > 0);
        assert!(tasks_now().unwrap() > 0);
        assert!(maps_now().unwrap() > 0);
        assert!(address_space_now().unwrap() > 0);
        assert!(tasks_of_user(getuid()).unwrap() >= 1, "this process at least");
        let summary = summary();
        assert!(summary.contains("vm.max_map_count") && summary.contains("RLIMIT_AS"), "{summary}");
    }

    #[test]
    fn absurd_requests_name_the_limit() {
        let error = check_threads(10_000_000, 2 << 20).unwrap().unwrap_err();
        assert_eq!(error.limit, "vm.max_map_count");
        assert!(error.to_string().contains("10000000 threads"), "{error}");
        let error = check_processes(10_000_000, 4096).unwrap().unwrap_err();
        assert!(error.limit.starts_with("kernel."), "{error}");
        assert_eq!(check_threads(5, 2 << 20).unwrap(), Ok(()));
        let error = check_async_tasks(u64::MAX / 4096, 1024).unwrap().unwrap_err();
        assert_eq!(error.limit, "MemAvailable");
        assert_eq!(check_async_tasks(1000, 1024).unwrap(), Ok(()));
    }
}
