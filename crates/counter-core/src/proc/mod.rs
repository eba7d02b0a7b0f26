//! Everything this project reads from `/proc`: memory figures of a process tree and the system's limits.
//! No other module opens a file under `/proc`.
//!
//! Field meanings follow the kernel's `Documentation/filesystems/proc.rst`.

pub mod limits;
pub mod load;
pub mod memory;

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A path under `/proc/<pid>/`.
fn pid_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Reads `key: value kB` lines (as in `status` and `smaps_rollup`) and returns the value for `key`.
fn field_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Reads a whole `/proc` file as text.
fn read(pid: i32, file: &str) -> io::Result<String> {
    fs::read_to_string(pid_path(pid, file))
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = read(pid, "stat").ok()?;
    // The command name is in parentheses and may contain spaces or parentheses: fields start after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether thread `tid` is kin of the calling thread: a thread of this process, or a process with the same parent
/// (a sibling worker). A holder of a lock shared by a run's workers is one of them; a live thread that is not
/// kin is a pid reused since, or a crafted lock word, and holds nothing of ours.
pub fn is_kin(tid: i32) -> bool {
    if Path::new(&format!("/proc/self/task/{tid}")).exists() {
        return true;
    }
    let ours = parent_of(std::process::id() as i32);
    ours.is_some() && parent_of(tid) == ours
}

/// Whether process `pid` exists (as a live process or a zombie).
pub fn exists(pid: i32) -> bool {
    pid_path(pid, "").exists()
}

/// What the machine is: its CPU's model name, its memory (KiB) and its kernel's release, as `/proc` says.
pub fn machine_facts() -> (Option<String>, Option<u64>, Option<String>) {
    let cpu_model = fs::read_to_string("/proc/cpuinfo").ok().and_then(|cpuinfo| {
        cpuinfo.lines().find_map(|line| line.strip_prefix("model name")?.split(':').nth(1).map(|n| n.trim().to_owned()))
    });
    let memory_kib = fs::read_to_string("/proc/meminfo").ok().and_then(|meminfo| field_kib(&meminfo, "MemTotal"));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|k| k.trim().to_owned());
    (cpu_model, memory_kib, kernel)
}

/// The thread ids of process `pid`, from `/proc/<pid>/task`, in ascending order.
pub fn threads_of(pid: i32) -> io::Result<Vec<i64>> {
    let mut tids: Vec<i64> = fs::read_dir(pid_path(pid, "task"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// `pid` and every process descended from it, `pid` first.
pub fn process_tree(pid: i32) -> io::Result<Vec<i32>> {
    let mut parents = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(parent) = parent_of(child) {
            parents.push((child, parent));
        }
    }
    let mut tree = vec![pid];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(child, _)| *child));
        next += 1;
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let text = "Rss:                1234 kB\nPss:        99 kB\nPss_Anon:  7 kB\n";
        assert_eq!(field_kib(text, "Rss"), Some(1234));
        assert_eq!(field_kib(text, "Pss"), Some(99));
        assert_eq!(field_kib(text, "Swap"), None);
    }

    #[test]
    fn finds_this_process_and_its_children() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let tree = process_tree(me).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(tree[0], me);
        assert!(tree.contains(&(child.id() as i32)), "{tree:?}");
        assert!(threads_of(me).unwrap().contains(&i64::from(me)), "the main thread's tid is the pid");
    }
}
