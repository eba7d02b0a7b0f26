//! Memory figures of one process or a tree of them, as `ps`, `pmap` and `smem` show them.
//!
//! - **RSS** (`Rss` in `smaps_rollup`, `VmRSS` in `status`, `ps -o rss`): pages in RAM, shared ones included.
//!   Summed over forked processes it counts every shared page (binary, libc, the shared segment, copy-on-write
//!   pages not yet written) once per process, so it over-states a process tree.
//! - **PSS** (`Pss`): each shared page divided by the number of processes that map it. Summed over a tree it is
//!   what the tree really holds in RAM; `smem` reports it.
//! - **USS** (`Private_Clean + Private_Dirty`): what the process alone holds, freed if it exited.
//!
//! Threads share one address space, so a process's figures already include all its threads' stacks. Kernel
//! stacks and page tables appear in none of these figures.

use serde::{Deserialize, Serialize};

use super::{field_kib, read};

/// Above this many workers (or processes), per-worker detail is left out of a report and only the summary is
/// kept, so that a report of a million tasks stays small.
pub const DETAIL_LIMIT: usize = 1000;

/// One process's memory, in KiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// Process id.
    pub pid: i32,
    /// Resident set size (`Rss` in `smaps_rollup`), shared pages included.
    pub rss_kib: u64,
    /// Proportional set size (`Pss`): shared pages divided among the processes that map them.
    pub pss_kib: u64,
    /// Unique set size (`Private_Clean + Private_Dirty`): pages no other process maps.
    pub uss_kib: u64,
    /// Swapped-out pages (`Swap`).
    pub swap_kib: u64,
    /// Peak RSS of the current program image (`VmHWM` in `status`).
    pub peak_rss_kib: u64,
    /// Threads (`Threads` in `status`).
    pub threads: u64,
}

/// The memory of a set of processes at one moment, summed, with each process's own figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySnapshot {
    /// When it was taken, in words: for example "all 5 workers alive, before they started".
    pub taken: String,
    /// Processes measured.
    pub processes: u64,
    /// Threads in those processes.
    pub threads: u64,
    /// Summed RSS, KiB. Counts shared pages once per process: over-states a tree of forked processes.
    pub rss_kib: u64,
    /// Summed PSS, KiB: what the processes hold in RAM together.
    pub pss_kib: u64,
    /// Summed USS, KiB: what they hold that no process outside the set shares.
    pub uss_kib: u64,
    /// Summed swap, KiB.
    pub swap_kib: u64,
    /// Each process's figures; empty above [`DETAIL_LIMIT`] processes.
    pub per_process: Vec<ProcessMemory>,
}

/// Reads one process's figures. Fails with `NotFound` if the process is gone, and with `Unsupported` if it is
/// there but the kernel has no `smaps_rollup` (Linux 4.14 or later has).
pub fn of_process(pid: i32) -> std::io::Result<ProcessMemory> {
    let rollup = match read(pid, "smaps_rollup") {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && super::exists(pid) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!(
                    "/proc/{pid}/smaps_rollup is missing although the process is alive: it needs Linux 4.14 or later"
                ),
            ));
        }
        read => read?,
    };
    let status = read(pid, "status")?;
    let kib = |key| field_kib(&rollup, key).unwrap_or(0);
    Ok(ProcessMemory {
        pid,
        rss_kib: kib("Rss"),
        pss_kib: kib("Pss"),
        uss_kib: kib("Private_Clean") + kib("Private_Dirty"),
        swap_kib: kib("Swap"),
        peak_rss_kib: field_kib(&status, "VmHWM").unwrap_or(0),
        threads: status.lines().find_map(|line| line.strip_prefix("Threads:")?.trim().parse().ok()).unwrap_or(0),
    })
}

/// The peak resident set of process `pid` (`VmHWM`), KiB.
pub fn peak_rss_kib(pid: i32) -> std::io::Result<u64> {
    let status = read(pid, "status")?;
    field_kib(&status, "VmHWM")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmHWM in status"))
}

/// Reads and sums the figures of `pids`. A process that exits meanwhile is left out (it holds nothing).
pub fn snapshot(pids: &[i32], taken: impl Into<String>) -> std::io::Result<MemorySnapshot> {
    let mut per_process = Vec::with_capacity(pids.len());
    for &pid in pids {
        match of_process(pid) {
            Ok(memory) => per_process.push(memory),
            // Gone between the listing and the reading (its /proc entry, or its memory, already released): no
            // longer part of the tree.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ESRCH) => {
            }
            Err(error) => return Err(error),
        }
    }
    let sum = |field: fn(&ProcessMemory) -> u64| per_process.iter().map(field).sum();
    let mut snapshot = MemorySnapshot {
        taken: taken.into(),
        processes: per_process.len() as u64,
        threads: sum(|p| p.threads),
        rss_kib: sum(|p| p.rss_kib),
        pss_kib: sum(|p| p.pss_kib),
        uss_kib: sum(|p| p.uss_kib),
        swap_kib: sum(|p| p.swap_kib),
        per_process,
    };
    if snapshot.per_process.len() > DETAIL_LIMIT {
        snapshot.per_process = Vec::new();
    }
    Ok(snapshot)
}

/// Reads and sums the figures of `pid` and all its descendants.
pub fn snapshot_tree(pid: i32, taken: impl Into<String>) -> std::io::Result<MemorySnapshot> {
    snapshot(&super::process_tree(pid)?, taken)
}

/// Kernel memory that no process's smaps shows: kernel stacks (one per thread) and page tables (per process).
/// System-wide (`/proc/meminfo`), so a difference between two moments is only an estimate of what a run added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMemory {
    /// `KernelStack`, KiB.
    pub kernel_stack_kib: u64,
    /// `PageTables`, KiB.
    pub page_tables_kib: u64,
}

impl KernelMemory {
    /// Both together, KiB.
    pub fn total_kib(&self) -> u64 {
        self.kernel_stack_kib + self.page_tables_kib
    }
}

/// Reads `KernelStack` and `PageTables` from `/proc/meminfo`.
pub fn kernel() -> std::io::Result<KernelMemory> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    Ok(KernelMemory {
        kernel_stack_kib: field_kib(&meminfo, "KernelStack").unwrap_or(0),
        page_tables_kib: field_kib(&meminfo, "PageTables").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_sane_figures() {
        let me = of_process(std::process::id() as i32).unwrap();
        assert!(me.rss_kib > 0 && me.pss_kib > 0 && me.uss_kib > 0);
        assert!(me.pss_kib <= me.rss_kib && me.uss_kib <= me.pss_kib);
        assert!(me.threads >= 1);
        assert!(me.peak_rss_kib >= me.rss_kib);
    }

    #[test]
    fn rss_agrees_with_status() {
        let me = std::process::id() as i32;
        let rollup = of_process(me).unwrap().rss_kib;
        let vm_rss = field_kib(&read(me, "status").unwrap(), "VmRSS").unwrap();
        let (low, high) = (rollup.min(vm_rss), rollup.max(vm_rss));
        // Both are read a moment apart and the test harness allocates meanwhile: within 5%.
        assert!(high - low <= high / 20 + 64, "smaps_rollup {rollup} KiB vs VmRSS {vm_rss} KiB");
    }

    #[test]
    fn kernel_memory_reads() {
        let kernel = kernel().unwrap();
        assert!(kernel.kernel_stack_kib > 0 && kernel.page_tables_kib > 0, "{kernel:?}");
    }
}
