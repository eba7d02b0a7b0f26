//! `cargo xtask python install`: builds CPython 3.13 twice, free-threaded (PEP 703) and with the GIL, from
//! sources this machine can reach, so that the Python rows can be compared with and without the GIL.
//!
//! No registry ships a free-threaded binary for this Debian release, but Debian's next release ships the
//! upstream tarball unchanged in its `python3.13` source package. The steps:
//! 1. find pyenv's `python-build` and its definition of the version, which holds the tarball's SHA-256;
//! 2. get the tarball: one already checked, a file given with `--tarball`, or the source package fetched with
//!    a private apt configuration in a temporary folder (a `deb-src` line for that release on the mirror the
//!    machine's own apt sources name; the system's sources are never changed);
//! 3. check its SHA-256 against the definition, and put it where `python-build` looks first (its cache);
//! 4. build each interpreter not built yet, offline, into a folder that becomes its own only when the build
//!    and a check of what was built succeed.

use std::{
    fs,
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use counter_core::{
    child::{self, dies_with_us},
    signals,
};
use nix::{
    sys::signal::{Signal, killpg},
    unistd::{Pid, geteuid},
};

use super::interpreter::Interpreter;
use crate::{output::note, runner::TaskInterrupted, workspace};

/// The version built, and the tarball's names: upstream's (what `python-build` expects) and Debian's.
const VERSION: &str = "3.13.5";
const TARBALL: &str = "Python-3.13.5.tar.xz";
const DEBIAN_TARBALL: &str = "python3.13_3.13.5.orig.tar.xz";
/// The Debian source package and the release that carries this version's tarball unchanged.
const SOURCE_PACKAGE: &str = "python3.13";
const SOURCE_RELEASE: &str = "trixie";
/// The key Debian's archive is signed with, as the `debian-archive-keyring` package installs it.
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Minutes one build takes on this project's 2-CPU machines (measured: see the README).
pub const BUILD_MINUTES_ON_TWO_CPUS: u64 = 3;

/// Deadlines: a download, and one build (ten times what it takes here).
const FETCH_DEADLINE: Duration = Duration::from_secs(10 * 60);
const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How often a long step says it is still going.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// One interpreter the step builds.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// `python-build`'s definition, and the folder it is built into: `3.13.5t`.
    pub name: &'static str,
    /// The executable in its `bin/`.
    pub executable: &'static str,
    /// Whether it is the free-threaded build.
    pub free_threaded: bool,
}

/// What the step builds: the free-threaded interpreter, and the same version with the GIL, for a like-for-like
/// row.
pub const BUILDS: [Build; 2] = [
    Build { name: "3.13.5t", executable: "python3.13t", free_threaded: true },
    Build { name: "3.13.5", executable: "python3.13", free_threaded: false },
];

/// Where the interpreters are built unless `--dir` says otherwise: `target/python`.
pub fn default_dir() -> PathBuf {
    workspace::target_dir().join("python")
}

/// The builds present in the default folder, with their executables.
pub fn built() -> Vec<(&'static str, PathBuf)> {
    built_in(&default_dir())
}

/// The file a build's folder gets once the build and the check of what it built succeeded: a folder without it
/// is what a build stopped half-way left.
const BUILT_MARK: &str = ".built";

fn built_in(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    BUILDS
        .iter()
        .filter(|build| dir.join(build.name).join(BUILT_MARK).is_file())
        .map(|build| (build.name, dir.join(build.name).join("bin").join(build.executable)))
        .filter(|(_, path)| path.is_file())
        .collect()
}

/// `cargo xtask python install`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Takes about 3 minutes per interpreter on 2 CPUs, and a 23 MB download
(the tarball) plus Debian's 11 MB source index; safe to run again: what
is built is skipped.")]
pub struct Args {
    /// The folder to build into (one folder per interpreter in it).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Build from this tarball (Python-3.13.5.tar.xz) instead of fetching Debian's source package; it must
    /// have the SHA-256 that python-build's definition names.
    #[arg(long, value_name = "FILE")]
    tarball: Option<PathBuf>,
}

/// A step that failed, named.
#[derive(Debug, thiserror::Error)]
#[error("python install: step \"{step}\" failed: {detail}")]
pub struct StepFailed {
    step: &'static str,
    detail: String,
}

fn failed(step: &'static str, detail: impl Into<String>) -> anyhow::Error {
    StepFailed { step, detail: detail.into() }.into()
}

/// Runs the install; `Ok` when every interpreter is built (now or before).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let todo: Vec<Build> =
        BUILDS.iter().copied().filter(|build| !built_in(&dir).iter().any(|(name, _)| *name == build.name)).collect();
    if todo.is_empty() {
        note(&format!("python install: CPython {} are built in {}; nothing to do", names(&BUILDS), dir.display()));
        return Ok(());
    }
    fs::create_dir_all(&dir).map_err(|error| failed("make the folder", format!("{}: {error}", dir.display())))?;
    let tool = BuildTool::find()?;
    let expected = tool.tarball_sha256()?;
    let cache = dir.join("cache");
    let cached = cache.join(TARBALL);
    if sha256(&cached).ok().as_deref() == Some(expected.as_str()) {
        note(&format!("python install: {TARBALL} already fetched and checked ({})", cached.display()));
    } else {
        let scratch = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&dir)
            .map_err(|error| failed("make the folder", format!("{}: {error}", dir.display())))?;
        let source = match &args.tarball {
            Some(path) => {
                check_tarball(path)?;
                path.clone()
            }
            None => fetch_with_apt(scratch.path())?,
        };
        let actual = sha256(&source).map_err(|error| failed("check the source", format!("{error:#}")))?;
        if actual != expected {
            return Err(failed(
                "check the source",
                format!(
                    "{} has SHA-256 {actual}, but python-build's definition of {VERSION} expects {expected}; it is not \
                     built",
                    source.display()
                ),
            ));
        }
        fs::create_dir_all(&cache).and_then(|()| fs::copy(&source, &cached)).map_err(|error| {
            failed("check the source", format!("could not copy it to {}: {error}", cached.display()))
        })?;
        note(&format!("python install: {} has the SHA-256 python-build expects ({expected})", source.display()));
    }
    for build in &todo {
        build_one(&tool, build, &dir, &cache)?;
    }
    note(&format!("python install: CPython {} built in {}", names(&todo), dir.display()));
    Ok(())
}

fn names(builds: &[Build]) -> String {
    builds.iter().map(|build| build.name).collect::<Vec<_>>().join(" and ")
}

/// pyenv's `python-build` and the folder of its definitions.
struct BuildTool {
    program: PathBuf,
    definitions: PathBuf,
}

impl BuildTool {
    fn find() -> anyhow::Result<BuildTool> {
        let mut roots: Vec<PathBuf> = std::env::var_os("PYENV_ROOT").map(PathBuf::from).into_iter().collect();
        roots.extend(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
        let mut candidates: Vec<PathBuf> =
            roots.iter().map(|root| root.join("plugins/python-build/bin/python-build")).collect();
        candidates.extend(child::on_path("python-build"));
        let program = candidates.into_iter().find(|path| path.is_file()).ok_or_else(|| {
            failed(
                "find python-build",
                "pyenv's python-build is not in $PYENV_ROOT, ~/.pyenv or on the PATH; install pyenv (its \
                 python-build plugin builds the interpreters) or set PYENV_ROOT",
            )
        })?;
        let definitions = program
            .parent()
            .and_then(Path::parent)
            .map(|plugin| plugin.join("share/python-build"))
            .filter(|dir| dir.join(BUILDS[0].name).is_file())
            .ok_or_else(|| {
                failed(
                    "find python-build",
                    format!("{} has no definition {} (pyenv too old?)", program.display(), BUILDS[0].name),
                )
            })?;
        Ok(BuildTool { program, definitions })
    }

    /// The tarball's SHA-256 as the definition of [`VERSION`] names it (`…/Python-3.13.5.tar.xz#<sha256>`).
    fn tarball_sha256(&self) -> anyhow::Result<String> {
        let path = self.definitions.join(VERSION);
        let text = fs::read_to_string(&path)
            .map_err(|error| failed("read the definition", format!("{}: {error}", path.display())))?;
        sha256_in_definition(&text)
            .ok_or_else(|| failed("read the definition", format!("{} names no SHA-256 for {TARBALL}", path.display())))
    }
}

fn sha256_in_definition(text: &str) -> Option<String> {
    let after = text.split(&format!("/{TARBALL}#")).nth(1)?;
    let hash: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
    (hash.len() == 64).then(|| hash.to_ascii_lowercase())
}

/// The file's SHA-256, by coreutils' `sha256sum`.
fn sha256(path: &Path) -> anyhow::Result<String> {
    let output = Command::new("sha256sum")
        .arg("--")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("could not run sha256sum")?;
    if !output.status.success() {
        bail!("sha256sum {}: {}", path.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let hash = text.split_whitespace().next().unwrap_or_default();
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("sha256sum printed no hash for {}", path.display());
    }
    Ok(hash.to_owned())
}

/// The Debian mirror the machine's own apt sources name for the main archive (not its security archive).
fn system_mirror() -> Option<String> {
    let mut texts = Vec::new();
    texts.extend(fs::read_to_string("/etc/apt/sources.list").ok());
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.filter_map(|entry| Some(entry.ok()?.path())).collect();
        paths.sort();
        texts.extend(paths.iter().filter_map(|path| fs::read_to_string(path).ok()));
    }
    texts.iter().find_map(|text| mirror_in(text))
}

/// The first `http(s)` URI of a `deb` source whose suites include a release itself (no `-security` or
/// `-updates`), in either format: one-line (`deb [opts] URI suite comp`) or deb822 (`URIs:`, `Suites:`).
fn mirror_in(text: &str) -> Option<String> {
    let is_release = |suite: &str| !suite.is_empty() && !suite.contains('-') && !suite.contains('/');
    let is_http = |uri: &str| uri.starts_with("http://") || uri.starts_with("https://");
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("deb ") else { continue };
        let rest = rest.trim_start();
        let rest = if rest.starts_with('[') { rest.split_once(']').map_or("", |(_, after)| after) } else { rest };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next())
            && is_http(uri)
            && is_release(suite)
        {
            return Some(uri.trim_end_matches('/').to_owned());
        }
    }
    for paragraph in text.split("\n\n") {
        let field = |name: &str| {
            paragraph.lines().find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_owned()))
        };
        let types = field("Types:").unwrap_or_default();
        if !types.split_whitespace().any(|kind| kind == "deb") {
            continue;
        }
        let suites = field("Suites:").unwrap_or_default();
        if !suites.split_whitespace().any(is_release) {
            continue;
        }
        if let Some(uri) = field("URIs:").unwrap_or_default().split_whitespace().find(|uri| is_http(uri)) {
            return Some(uri.trim_end_matches('/').to_owned());
        }
    }
    None
}

/// A `--tarball` that can be a tarball: a regular file; a folder, a device or a pipe is named as what it is.
fn check_tarball(path: &Path) -> anyhow::Result<()> {
    let what = match fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => "no such file",
        Err(_) => "cannot be read",
        Ok(meta) if meta.is_dir() => "a folder, not a tarball",
        Ok(meta) if !meta.is_file() => "not a regular file (a device or a pipe?)",
        Ok(_) => return Ok(()),
    };
    Err(failed("get the source", format!("{}: {what}; give the {TARBALL} file", path.display())))
}

/// Fetches the source package into `work` with a private apt configuration; returns the tarball's path.
fn fetch_with_apt(work: &Path) -> anyhow::Result<PathBuf> {
    const STEP: &str = "fetch the source package";
    let mirror = system_mirror().ok_or_else(|| {
        failed(STEP, "no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d; give --tarball FILE")
    })?;
    if !Path::new(DEBIAN_KEYRING).is_file() {
        return Err(failed(STEP, format!("{DEBIAN_KEYRING} is missing (apt-get install debian-archive-keyring)")));
    }
    let make =
        |path: &Path| fs::create_dir_all(path).map_err(|error| failed(STEP, format!("{}: {error}", path.display())));
    for sub in ["lists/partial", "cache/archives/partial", "parts", "download"] {
        make(&work.join(sub))?;
    }
    let sources = work.join("sources.list");
    fs::write(&sources, format!("deb-src [signed-by={DEBIAN_KEYRING}] {mirror} {SOURCE_RELEASE} main\n"))
        .and_then(|()| fs::write(work.join("status"), ""))
        .map_err(|error| failed(STEP, format!("{}: {error}", work.display())))?;
    let mut options = vec![
        format!("Dir::Etc::SourceList={}", sources.display()),
        format!("Dir::Etc::SourceParts={}", work.join("parts").display()),
        format!("Dir::State::Lists={}", work.join("lists").display()),
        format!("Dir::Cache={}", work.join("cache").display()),
        format!("Dir::State::status={}", work.join("status").display()),
        // Its own lists and cache: the system's lock is not needed.
        "Debug::NoLocking=1".to_owned(),
    ];
    if geteuid().is_root() {
        // apt would fetch as the _apt user, who cannot write into this private folder.
        options.push("APT::Sandbox::User=root".to_owned());
    }
    let apt = |arguments: &[&str], dir: &Path| {
        let mut command = Command::new("apt-get");
        for option in &options {
            command.args(["-o", option]);
        }
        command.args(arguments).current_dir(dir);
        command
    };
    note(&format!(
        "python install: fetching Debian's {SOURCE_PACKAGE} source package ({SOURCE_RELEASE}) from {mirror}"
    ));
    let log = work.join("apt.log");
    run_step(STEP, apt(&["update"], work), &log, FETCH_DEADLINE, None)?;
    run_step(
        STEP,
        apt(&["source", "--download-only", SOURCE_PACKAGE], &work.join("download")),
        &log,
        FETCH_DEADLINE,
        None,
    )?;
    let tarball = work.join("download").join(DEBIAN_TARBALL);
    if !tarball.is_file() {
        return Err(failed(
            STEP,
            format!("{SOURCE_RELEASE}'s {SOURCE_PACKAGE} has no {DEBIAN_TARBALL} (does it ship another version now?)"),
        ));
    }
    Ok(tarball)
}

/// Builds one interpreter into `dir/<name>`, offline, from the tarball in `cache`.
fn build_one(tool: &BuildTool, build: &Build, dir: &Path, cache: &Path) -> anyhow::Result<()> {
    const STEP: &str = "build";
    let prefix = dir.join(build.name);
    let log = dir.join(format!("{}.log", build.name));
    // Not marked built: what a build stopped half-way left, built again from scratch.
    let _ = fs::remove_dir_all(&prefix);
    let _ = fs::remove_file(&log);
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    note(&format!(
        "python install: building CPython {} ({}) into {}: about {BUILD_MINUTES_ON_TWO_CPUS} minutes on 2 CPUs; \
         log: {}",
        build.name,
        if build.free_threaded { "free-threaded" } else { "with the GIL" },
        prefix.display(),
        log.display()
    ));
    // python-build's work tree and its full log, in our folder rather than /tmp: kept after a failure, for a
    // look, and removed when the build is made again.
    let work = dir.join(format!(".work-{}", build.name));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|error| failed(STEP, format!("{}: {error}", work.display())))?;
    let mut command = Command::new(&tool.program);
    command
        .arg(tool.definitions.join(build.name))
        .arg(&prefix)
        .env("TMPDIR", &work)
        .env("PYTHON_BUILD_CACHE_PATH", cache)
        // The tarball is in the cache: nothing is downloaded, and no mirror is asked.
        .env("PYTHON_BUILD_SKIP_MIRROR", "1")
        .env("MAKE_OPTS", format!("-j{jobs}"));
    run_step(STEP, command, &log, BUILD_DEADLINE, Some(Duration::from_secs(BUILD_MINUTES_ON_TWO_CPUS * 60)))?;
    let executable = prefix.join("bin").join(build.executable);
    let interpreter = Interpreter::probe(&executable).map_err(|error| failed(STEP, format!("{error:#}")))?;
    if interpreter.free_threaded != build.free_threaded || interpreter.version != VERSION {
        return Err(failed(
            STEP,
            format!("{} is {} {}, not what was asked", executable.display(), interpreter.name(), interpreter.version),
        ));
    }
    fs::write(prefix.join(BUILT_MARK), format!("{}\n", interpreter.name()))
        .map_err(|error| failed(STEP, format!("{}: {error}", prefix.display())))?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

/// Runs one step's command to its end within `deadline`, its output in `log`, in a process group of its own so
/// that a stop (a signal to this task, or the deadline) ends the compilers it started too. Says every
/// [`PROGRESS_EVERY`] how long it has run, next to `expected` when known.
fn run_step(
    step: &'static str,
    mut command: Command,
    log: &Path,
    deadline: Duration,
    expected: Option<Duration>,
) -> anyhow::Result<()> {
    let output = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| failed(step, format!("{}: {error}", log.display())))?;
    let errors = output.try_clone().map_err(|error| failed(step, format!("{}: {error}", log.display())))?;
    command.stdin(Stdio::null()).stdout(output).stderr(errors).process_group(0);
    let program = command.get_program().to_string_lossy().into_owned();
    let process = dies_with_us(&mut command).spawn().map_err(|error| failed(step, format!("{program}: {error}")))?;
    let pid = Pid::from_raw(process.id() as i32);
    let started = Instant::now();
    let mut said = Instant::now();
    let stop_group = || {
        let _ = killpg(pid, Signal::SIGTERM);
        let reaped = child::stop(pid, Duration::from_secs(3));
        let _ = killpg(pid, Signal::SIGKILL);
        reaped
    };
    loop {
        match child::wait4(Some(pid), false) {
            Ok(Some(reaped)) if reaped.status.success() => return Ok(()),
            Ok(Some(reaped)) => {
                return Err(failed(
                    step,
                    format!("{program} {}; its last lines:\n{}", reaped.describe(), tail(log, 15)),
                ));
            }
            Ok(None) => {}
            Err(errno) => return Err(anyhow!("could not wait for {program}: {errno}")),
        }
        if let Some(signal) = signals::received() {
            stop_group();
            return Err(TaskInterrupted { signal }.into());
        }
        if started.elapsed() > deadline {
            stop_group();
            return Err(failed(
                step,
                format!("{program} did not finish within {} minutes; log: {}", deadline.as_secs() / 60, log.display()),
            ));
        }
        if said.elapsed() >= PROGRESS_EVERY {
            said = Instant::now();
            let of = expected.map_or_else(String::new, |expected| format!(" of about {} s", expected.as_secs()));
            note(&format!("python install: {step}: {} s{of}", started.elapsed().as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of `log`.
fn tail(log: &Path, lines: usize) -> String {
    let Ok(file) = fs::File::open(log) else { return String::new() };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_main_archive_in_either_format() {
        let deb822 = "Types: deb\nURIs: http://deb.example.org/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\n\nTypes: deb\nURIs: http://deb.example.org/debian-security\n\
                      Suites: bookworm-security\nComponents: main\n";
        assert_eq!(mirror_in(deb822).as_deref(), Some("http://deb.example.org/debian"));
        let security_first = "Types: deb\nURIs: http://s.example.org/debian-security\nSuites: bookworm-security\n\n\
                              Types: deb\nURIs: https://m.example.org/debian/\nSuites: bookworm\n";
        assert_eq!(mirror_in(security_first).as_deref(), Some("https://m.example.org/debian"));
        let one_line = "# deb http://old.example.org/debian buster main\n\
                        deb http://s.example.org/debian-security bookworm-security main\n\
                        deb [arch=amd64 signed-by=/k.gpg] http://m.example.org/debian bookworm main contrib\n";
        assert_eq!(mirror_in(one_line).as_deref(), Some("http://m.example.org/debian"));
        assert_eq!(mirror_in("deb-src http://m.example.org/debian bookworm main\n"), None);
        assert_eq!(mirror_in("deb file:/cdrom bookworm main\n"), None);
    }

    #[test]
    fn the_checksum_is_read_from_the_definition_of_the_tarball_itself() {
        let hash = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640";
        let definition = format!(
            "install_package \"openssl-3.5.1\" \"https://x/openssl-3.5.1.tar.gz#{}\" mac_openssl\n\
             install_package \"Python-3.13.5\" \"https://www.python.org/ftp/python/3.13.5/{TARBALL}#{hash}\" standard\n",
            "1".repeat(64)
        );
        assert_eq!(sha256_in_definition(&definition).as_deref(), Some(hash));
        assert_eq!(sha256_in_definition(&format!("…/{TARBALL}#abc\n")), None);
        assert_eq!(sha256_in_definition("install_package \"Python-3.13.5\" \"…/Python-3.13.5.tgz#00\""), None);
    }
}
