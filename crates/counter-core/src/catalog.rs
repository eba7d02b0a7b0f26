//! What the tools (`cargo xtask`, the tests) know about each model, in one [`Description`] per model: its
//! server (the flag that names one, the program a private one needs), its start methods, the sizes its rows and
//! sweeps get, the figures of its own they read, and the few sentences only it can say. The tools loop over the
//! descriptions and never ask which model they hold; with [`model`](crate::model), the only place in the core
//! that names a particular model.

use crate::{
    child::on_path,
    config::Strategy,
    model::{Model, StartMethod},
};

/// A model whose step is slow: the increments its rows get in the default scenarios, and why in words.
#[derive(Debug, Clone, Copy)]
pub struct SlowStep {
    /// In `io-like` (a short sleep before each step).
    pub io_like: u64,
    /// In `cpu-contended` (no work, a million increments for the others).
    pub contended: u64,
    /// Why, for the table: `a round trip per step`.
    pub why: &'static str,
}

/// What the tools know about one model.
#[derive(Debug)]
pub struct Description {
    /// The model.
    pub model: Model,
    /// The server its counter lives in, when it has one: the flag that names one, and the program that a
    /// private one needs on the `PATH`.
    pub server: Option<Server>,
    /// The flag that picks how a worker is started, when the model has several ways.
    pub start_flag: Option<&'static str>,
    /// Fewer increments per worker in the default scenarios, when each step is a round trip or more and the
    /// scenario's own would keep the comparison from ending within a minute; such rows are timed among
    /// themselves, and the table says why.
    pub slow_step: Option<SlowStep>,
    /// The flag that makes its binary serve a private server for many runs (and print the value of its server
    /// flag), when a server of its own costs each run more than its measurement can afford.
    pub serve_flag: Option<&'static str>,
    /// The figure in its reports' extension that counts the transactions its server refused as conflicting
    /// (and the run made again), where a server does that.
    pub refusals_figure: Option<&'static str>,
    /// Rows a comparison adds for this model beside its plain ones, where a setting of its own changes the
    /// outcome (PostgreSQL's isolation levels).
    pub extra_rows: &'static [ExtraRows],
    /// Workers in the probe's larger run: enough that one more worker stands above page granularity.
    pub probe_workers: u64,
    /// Worker counts of a sweep, and of a quick one.
    pub sweep_counts: (&'static [u64], &'static [u64]),
    /// The figure in its reports' extension that says what its server holds for the clients, bytes, and what it
    /// is in words.
    pub server_memory_figure: Option<(&'static str, &'static str)>,
    /// Why a racy row of this model lost nothing, when the model itself rules a loss out there (no work
    /// inside the read-modify-write can be interrupted on one thread).
    pub racy_cannot_lose: Option<&'static str>,
    /// Its workers are processes: summed RSS counts what they share once per process, and the memory
    /// sentences set one such worker against the others.
    pub workers_are_processes: bool,
}

/// Rows of a model run with flags of its own: labelled `<model> <label>`, for the strategies named.
#[derive(Debug)]
pub struct ExtraRows {
    /// What the rows are called after the model's name.
    pub label: &'static str,
    /// The flags that make them.
    pub flags: &'static [&'static str],
    /// The strategies whose outcome the flags change.
    pub syncs: &'static [Strategy],
}

/// The server a model keeps its counter in.
#[derive(Debug)]
pub struct Server {
    /// The flag that points the binary at a server (`--redis`).
    pub flag: &'static str,
    /// The program a private server needs on the `PATH`, and how to install it.
    pub program: &'static str,
    /// The Debian package that brings it (and the store's own client tools, which it depends on).
    pub package: &'static str,
    /// A folder of versions where packages put the program off the `PATH` (`<folder>/<version>/bin/<program>`).
    pub versions_under: Option<&'static str>,
}

impl Server {
    /// The command that installs it.
    pub fn install(&self) -> String {
        format!("apt-get install {}", self.package)
    }

    /// Whether the program is here: [`Server::find`] finds it.
    pub fn found(&self) -> bool {
        self.find(self.program).is_some()
    }

    /// Where `program` (the server's, or one of its package's) is: on the `PATH`, among the system's daemons
    /// (`/usr/sbin`, which a user's `PATH` may lack), or where the packages put it, the newest version first
    /// (`<versions_under>/<version>/bin/<program>`).
    pub fn find(&self, program: &str) -> Option<std::path::PathBuf> {
        let versioned = || {
            let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(self.versions_under?)
                .ok()?
                .flatten()
                .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
                .map(|(version, bin)| (version, bin.join(program)))
                .filter(|(_, path)| path.is_file())
                .collect();
            found.sort();
            found.pop().map(|(_, path)| path)
        };
        on_path(program)
            .or_else(|| Some(std::path::Path::new("/usr/sbin").join(program)).filter(|path| path.is_file()))
            .or_else(versioned)
    }
}

/// One description per model, in the order of [`Model::ALL`].
pub const DESCRIPTIONS: [Description; 6] = [
    Description {
        model: Model::Threads,
        server: None,
        start_flag: None,
        slow_step: None,
        serve_flag: None,
        extra_rows: &[],
        refusals_figure: None,
        probe_workers: 1000,
        sweep_counts: (&[1, 10, 100, 1_000, 10_000], &[1, 10, 100]),
        server_memory_figure: None,
        racy_cannot_lose: None,
        workers_are_processes: false,
    },
    Description {
        model: Model::Processes,
        server: None,
        start_flag: Some("--start"),
        slow_step: None,
        serve_flag: None,
        extra_rows: &[],
        refusals_figure: None,
        probe_workers: 1000,
        sweep_counts: (&[1, 10, 100, 1_000, 10_000], &[1, 10, 100]),
        server_memory_figure: None,
        racy_cannot_lose: None,
        workers_are_processes: true,
    },
    Description {
        model: Model::Async,
        server: None,
        start_flag: None,
        slow_step: None,
        serve_flag: None,
        extra_rows: &[],
        refusals_figure: None,
        // A task is a few hundred bytes: a thousand of them are lost in page granularity.
        probe_workers: 100_000,
        sweep_counts: (&[1, 10, 100, 1_000, 10_000, 100_000, 1_000_000], &[1, 1_000, 10_000]),
        server_memory_figure: None,
        racy_cannot_lose: Some(
            "on one thread, a task cannot be interrupted between a read and its write unless an await sits there",
        ),
        workers_are_processes: false,
    },
    Description {
        model: Model::Redis,
        server: Some(Server {
            flag: "--redis",
            program: "redis-server",
            package: "redis-server",
            versions_under: None,
        }),
        start_flag: None,
        // Its lock is a lease (SET NX PX): it expires under a holder that pauses past it.
        // A round trip is tens of microseconds at best: a million of them a worker would take minutes.
        slow_step: Some(SlowStep { io_like: 30, contended: 100, why: "a round trip per step" }),
        // A private server costs a run about 120 ms to start and stop (134 ms a run against 13 on one server,
        // one worker, one increment): the comparison's runs share one.
        serve_flag: Some("--serve"),
        extra_rows: &[],
        refusals_figure: None,
        probe_workers: 1000,
        // A connection holds a descriptor here and one in the server: a few thousand is what a server expects.
        sweep_counts: (&[1, 10, 100, 1_000, 3_000], &[1, 10, 100]),
        server_memory_figure: Some(("server_memory_added_bytes", "the server's used_memory")),
        racy_cannot_lose: None,
        workers_are_processes: false,
    },
    Description {
        model: Model::Postgres,
        server: Some(Server {
            flag: "--postgres",
            program: "postgres",
            package: "postgresql",
            // Debian's layout: /usr/lib/postgresql/15/bin/postgres.
            versions_under: Some("/usr/lib/postgresql"),
        }),
        start_flag: None,
        // A transaction is a few round trips and a commit: a few thousand a second on one row.
        slow_step: Some(SlowStep { io_like: 30, contended: 50, why: "a transaction per step" }),
        // initdb alone takes 0.6 s here: the comparison's runs share one cluster.
        serve_flag: Some("--serve"),
        refusals_figure: Some("serialization_failures"),
        // The lost update at read committed, refused and made again at the stricter levels.
        extra_rows: &[
            ExtraRows {
                label: "repeatable-read",
                flags: &["--isolation", "repeatable-read"],
                syncs: &[Strategy::Racy],
            },
            ExtraRows { label: "serializable", flags: &["--isolation", "serializable"], syncs: &[Strategy::Racy] },
        ],
        probe_workers: 100,
        // Each connection is a server process: a few hundred is what a server is configured for.
        sweep_counts: (&[1, 10, 100, 300], &[1, 10, 30]),
        server_memory_figure: Some(("server_pss_added_bytes", "the server's PSS (its processes, a backend each)")),
        racy_cannot_lose: None,
        workers_are_processes: false,
    },
    Description {
        model: Model::Mariadb,
        server: Some(Server {
            flag: "--mariadb",
            program: "mariadbd",
            package: "mariadb-server",
            versions_under: None,
        }),
        start_flag: None,
        // A transaction is a few round trips and a commit, as PostgreSQL's.
        slow_step: Some(SlowStep { io_like: 30, contended: 50, why: "a transaction per step" }),
        // mariadb-install-db alone takes about a second: the comparison's runs share one server.
        serve_flag: Some("--serve"),
        refusals_figure: Some("refused"),
        // The lost update at repeatable read (the default), refused with snapshot isolation on.
        extra_rows: &[ExtraRows {
            label: "snapshot-isolation",
            flags: &["--snapshot-isolation", "on"],
            syncs: &[Strategy::Racy],
        }],
        probe_workers: 100,
        // A thread per connection: a few hundred is what a server is configured for.
        sweep_counts: (&[1, 10, 100, 300], &[1, 10, 30]),
        server_memory_figure: Some(("server_pss_added_bytes", "the server's PSS (one process, a thread each)")),
        racy_cannot_lose: None,
        workers_are_processes: false,
    },
];

// Every model has its description, in the list's order, or the core does not build.
const _: () = {
    let mut index = 0;
    while index < Model::ALL.len() {
        assert!(Model::ALL[index] as usize == index && DESCRIPTIONS[index].model as usize == index);
        index += 1;
    }
};

impl Description {
    /// Whether the model can run here (`url`: the server given for it, if any), or the one line that says why
    /// not and how to change that.
    pub fn available(&self, url: Option<&str>) -> Result<(), String> {
        let Some(server) = &self.server else { return Ok(()) };
        if url.is_some() || server.found() {
            return Ok(());
        }
        Err(format!(
            "no {} found and no --server {}=URL: the {} rows are skipped ({})",
            server.program,
            self.model.name(),
            self.model.name(),
            server.install()
        ))
    }

    /// The flags every run of the model gets: the server given (`url`), if any.
    pub fn server_flags(&self, url: Option<&str>) -> Vec<String> {
        match (&self.server, url) {
            (Some(server), Some(url)) => vec![server.flag.to_owned(), url.to_owned()],
            _ => Vec::new(),
        }
    }

    /// The variants of the model to run: one per start method in `starts` (with its label and flags) when the
    /// model has start methods and some were asked for, else the model alone.
    pub fn variants(&self, starts: &[StartMethod]) -> Vec<(Option<StartMethod>, Vec<String>)> {
        match self.start_flag {
            Some(flag) if !starts.is_empty() => {
                starts.iter().map(|&start| (Some(start), vec![flag.to_owned(), start.name().to_owned()])).collect()
            }
            _ => vec![(None, Vec::new())],
        }
    }
}

/// The description of `model`.
pub const fn of(model: Model) -> &'static Description {
    &DESCRIPTIONS[model as usize]
}

/// The flag of every model's server (`--redis`, ...): what a record must never show the value of.
pub fn server_flags() -> impl Iterator<Item = &'static str> {
    DESCRIPTIONS.iter().filter_map(|description| description.server.as_ref()).map(|server| server.flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_its_one_description_in_the_list_s_order() {
        let described: Vec<Model> = DESCRIPTIONS.iter().map(|description| description.model).collect();
        assert_eq!(described, Model::ALL);
        for model in Model::ALL {
            assert_eq!(of(model).model, model);
        }
    }

    #[test]
    fn a_model_with_a_server_says_how_to_get_one_or_runs_on_the_one_given() {
        for description in DESCRIPTIONS.iter().filter(|description| description.server.is_some()) {
            let server = description.server.as_ref().unwrap();
            let url = "store://127.0.0.1:1";
            assert!(description.available(Some(url)).is_ok());
            assert_eq!(description.server_flags(Some(url)), [server.flag, url]);
            if !server.found() {
                let why = description.available(None).unwrap_err();
                assert!(why.contains(&server.install()) && why.contains(description.model.name()), "{why}");
            }
        }
    }

    #[test]
    fn start_methods_make_variants_only_where_the_model_has_them() {
        for description in &DESCRIPTIONS {
            let variants = description.variants(&StartMethod::ALL);
            let expected = if description.start_flag.is_some() { StartMethod::ALL.len() } else { 1 };
            assert_eq!(variants.len(), expected, "{:?}", description.model);
            assert_eq!(description.variants(&[]).len(), 1);
        }
    }
}
