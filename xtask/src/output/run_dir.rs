//! Every run of a task writes to a folder of its own (`target/compare/<UTC time>-<pid>/`), so two runs at
//! once, or one after another, never mix or overwrite each other's files; `latest` is a link to the newest
//! complete run, and `results.json` next to it a copy, both replaced atomically (write aside, then rename).

use std::{
    fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;

/// The folder of one run of a task.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The task's folder: `target/compare`.
    task_dir: PathBuf,
    /// This run's: `target/compare/20261126T214512Z-4242`.
    path: PathBuf,
}

impl RunDir {
    /// Creates a fresh folder for this run under `task_dir`.
    pub fn create(task_dir: &Path) -> anyhow::Result<RunDir> {
        let name = format!("{}-{}", utc_stamp(SystemTime::now()), std::process::id());
        fs::create_dir_all(task_dir).with_context(|| format!("could not create {}", task_dir.display()))?;
        // `create_dir` (not `_all`) for the run itself: it must be new, never one another run uses. The pid
        // sets runs apart; a suffix sets apart two runs of one process in the same second.
        for attempt in 1..=100 {
            let path = task_dir.join(if attempt == 1 { name.clone() } else { format!("{name}-{attempt}") });
            match fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { task_dir: task_dir.to_path_buf(), path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error).with_context(|| format!("could not create {}", path.display())),
            }
        }
        anyhow::bail!("could not create a fresh folder for this run in {}", task_dir.display())
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The link to the latest run of the task, which [`RunDir::publish`] points here.
    pub fn latest(&self) -> PathBuf {
        self.task_dir.join("latest")
    }

    /// Makes this run the latest: `latest` links to it and `results.json` holds `results`, both replaced at once.
    pub fn publish(&self, results: &str) -> anyhow::Result<()> {
        fs::write(self.path.join("results.json"), results)
            .with_context(|| format!("could not write {}", self.path.join("results.json").display()))?;
        write_atomically(&self.task_dir.join("results.json"), results)?;
        let aside = self.task_dir.join(format!(".latest-{}", std::process::id()));
        let _ = fs::remove_file(&aside);
        let target = self.path.file_name().map(PathBuf::from).unwrap_or_default();
        std::os::unix::fs::symlink(&target, &aside)
            .and_then(|()| fs::rename(&aside, self.task_dir.join("latest")))
            .with_context(|| format!("could not link {} to this run", self.task_dir.join("latest").display()))
    }
}

/// Writes `text` to `path` so that a reader sees the old file or the new one, never a mix: to a file beside it
/// first, then renamed over it.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let aside = path.with_file_name(format!(".{name}.{}", std::process::id()));
    fs::write(&aside, text)
        .and_then(|()| fs::rename(&aside, path))
        .with_context(|| format!("could not write {}", path.display()))
}

/// `20261126T214512Z`: sorts by time, and says it is UTC.
/// The time now, UTC, for people: `2026-11-26 23:31:27 UTC`.
pub fn utc_time_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

fn utc_stamp(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

/// Days since 1970-01-01 to a date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2026-11-26 21:45:04 UTC.
        assert_eq!(utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_795_729_504)), "20261126T214504Z");
        assert_eq!(civil_from_days(19_782), (2024, 2, 29), "a leap day");
    }

    #[test]
    fn each_run_has_its_own_folder_and_latest_follows_the_newest() {
        let base = std::env::temp_dir().join(format!("run-dir-test-{}", std::process::id()));
        let first = RunDir::create(&base).unwrap();
        let second = RunDir::create(&base).unwrap();
        assert_ne!(first.path(), second.path());
        first.publish("one").unwrap();
        second.publish("two").unwrap();
        assert_eq!(fs::read_to_string(base.join("latest/results.json")).unwrap(), "two");
        assert_eq!(fs::read_to_string(base.join("results.json")).unwrap(), "two");
        assert_eq!(fs::read_to_string(first.path().join("results.json")).unwrap(), "one");
        fs::remove_dir_all(&base).unwrap();
    }
}
