//! One private server for every run of a model whose binary can serve one (`--serve`): started before the
//! rows are measured, its connection string given to each run as the model's server flag, stopped at the end
//! (its standard input closed; killed if it does not stop in time). It dies with this process, and its cluster
//! with it. The memory probe uses it too, its process tree sampled with each run's, so that a probe's figures
//! include the server's share.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use counter_core::{child, model::Model};
use nix::unistd::Pid;

use crate::{
    models::{self, ServerArgs},
    output,
};

/// How long a served server gets to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it gets to stop once its input is closed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server shared by a model's runs.
pub(super) struct SharedServer {
    /// Whose rows it serves.
    pub(super) model: Model,
    child: Child,
}

impl SharedServer {
    /// Its process: the binary that serves, whose descendants are the server's processes.
    pub(super) fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        // Its input closed is its signal to stop; then TERM, a grace, KILL, as for any child.
        drop(self.child.stdin.take());
        let pid = Pid::from_raw(self.child.id() as i32);
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child::stop(pid, Duration::from_secs(1));
    }
}

/// Starts a shared server for each model in `models` whose binary serves one and whose server was not given;
/// returns them, and the servers the runs are to use. A server that does not start is said in one line, and
/// that model's runs start their own.
pub(super) fn start(
    models: &[Model],
    given: &ServerArgs,
    bin_dir: &std::path::Path,
) -> (Vec<SharedServer>, ServerArgs) {
    let mut servers = given.clone();
    let mut started = Vec::new();
    for &model in models {
        let Some(flag) = models::of(model).serve_flag else { continue };
        if given.url(model).is_some() {
            continue;
        }
        match serve(model, &bin_dir.join(model.binary()), flag) {
            Ok((server, url)) => {
                servers = servers.with(model, &url);
                started.push(server);
            }
            Err(why) => output::note(&format!(
                "xtask: no shared server for the {} rows ({why}); each run makes its own",
                model.name()
            )),
        }
    }
    (started, servers)
}

fn serve(model: Model, program: &std::path::Path, flag: &str) -> Result<(SharedServer, String), String> {
    let mut command = Command::new(program);
    command.arg(flag).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut process = child::dies_with_us(&mut command)
        .spawn()
        .map_err(|source| format!("could not run {}: {source}", program.display()))?;
    let stdout = process.stdout.take().ok_or("no output")?;
    let server = SharedServer { model, child: process };
    // Read on a thread of its own, so that the wait has a deadline.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = sender.send(BufReader::new(stdout).read_line(&mut line).map(|_| line));
    });
    match receiver.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => Ok((server, line.trim().to_owned())),
        Ok(_) => Err(format!("{} {flag} ended without saying where it listens", program.display())),
        Err(_) => Err(format!("{} {flag} did not say where it listens within {START_TIMEOUT:?}", program.display())),
    }
}
