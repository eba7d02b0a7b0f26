//! The closed list of models (the ways of making workers), each with the one set of names it goes by, and the
//! three ways of starting a worker process. With `catalog`, the only place in the core that names a particular
//! model.

use serde::{Deserialize, Serialize};

/// How the workers are made.
///
/// Its name on the command line, in JSON and in tables is [`Model::name`]; every other name (the binary, the
/// words for one or several workers) comes from the same table in [`Model::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// One OS thread per worker, in one process.
    Threads,
    /// One forked process per worker, sharing the counter through a shared-memory segment.
    Processes,
    /// One tokio task per worker.
    Async,
    /// One tokio task per worker, each a client with its own connection to a Redis server that holds the counter.
    Redis,
    /// One tokio task per worker, each a client with its own connection to a PostgreSQL server that holds the
    /// counter in a table.
    Postgres,
    /// One tokio task per worker, each a client with its own connection to a MariaDB server (a thread per
    /// connection) that holds the counter in a table.
    Mariadb,
}

/// Every name of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelNames {
    /// On the command line and in reports: `threads`.
    pub name: &'static str,
    /// The binary that runs it: `counter-threads`.
    pub binary: &'static str,
    /// One worker, in words: `thread`.
    pub worker: &'static str,
    /// Several workers, in words: `threads`.
    pub workers: &'static str,
}

impl Model {
    /// Every model, in the order the project presents them.
    pub const ALL: [Model; 6] =
        [Model::Threads, Model::Processes, Model::Async, Model::Redis, Model::Postgres, Model::Mariadb];

    /// The one table of names.
    pub const fn names(self) -> ModelNames {
        match self {
            Model::Threads => {
                ModelNames { name: "threads", binary: "counter-threads", worker: "thread", workers: "threads" }
            }
            Model::Processes => {
                ModelNames { name: "processes", binary: "counter-processes", worker: "process", workers: "processes" }
            }
            Model::Async => ModelNames { name: "async", binary: "counter-async", worker: "task", workers: "tasks" },
            Model::Redis => ModelNames { name: "redis", binary: "counter-redis", worker: "client", workers: "clients" },
            Model::Postgres => {
                ModelNames { name: "postgres", binary: "counter-postgres", worker: "client", workers: "clients" }
            }
            Model::Mariadb => {
                ModelNames { name: "mariadb", binary: "counter-mariadb", worker: "client", workers: "clients" }
            }
        }
    }

    /// `threads`, `processes`, ...: the value of `--models`, the `model` field of a report.
    pub const fn name(self) -> &'static str {
        self.names().name
    }

    /// The binary that runs this model.
    pub const fn binary(self) -> &'static str {
        self.names().binary
    }

    /// What one worker is, in words.
    pub const fn worker_noun(self) -> &'static str {
        self.names().worker
    }

    /// What several workers are, in words.
    pub const fn worker_nouns(self) -> &'static str {
        self.names().workers
    }

    /// Whether its binary runs the workers' loops on a pool (`--pool`): where the workers are its own threads or
    /// processes. The one home of the fact: the frontends' abilities are checked against it when they are built,
    /// and the tools read it.
    pub const fn pools(self) -> bool {
        matches!(self, Model::Threads | Model::Processes)
    }

    /// Whether its lock can expire under a live holder (a lease: Redis's `SET NX PX`), so that `--sync fenced`
    /// means something; a lock in memory, or a row lock held to COMMIT, is never taken from a holder that lives.
    /// The one home of the fact, as [`Model::pools`].
    pub const fn lock_expires(self) -> bool {
        matches!(self, Model::Redis)
    }

    /// The model in a few words, for `--help`.
    pub const fn summary(self) -> &'static str {
        match self {
            Model::Threads => "one OS thread per worker",
            Model::Processes => "one process per worker, the counter in a shared-memory segment",
            Model::Async => "one tokio task per worker",
            Model::Redis => "one tokio task per worker, each a client of a Redis server that holds the counter",
            Model::Postgres => "one tokio task per worker, each a client of a PostgreSQL server that holds the counter",
            Model::Mariadb => "one tokio task per worker, each a client of a MariaDB server that holds the counter",
        }
    }
}

/// How a worker process is started: Python's three start methods, which `counter-processes --start` and the
/// Python reference programs' `--start-method` both take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartMethod {
    /// Fork the coordinator: a copy-on-write copy of it.
    #[default]
    Fork,
    /// Fork each worker from a small server started first.
    Forkserver,
    /// Start the program anew for each worker (fork and exec).
    Spawn,
}

impl StartMethod {
    /// Every method.
    pub const ALL: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];

    /// The method in a few words, for `--help`.
    pub const fn summary(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork the coordinator for each worker",
            StartMethod::Forkserver => "fork each worker from a small server started first",
            StartMethod::Spawn => "start the program anew for each worker",
        }
    }

    /// The method's name, as the flags take it.
    pub const fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Forkserver => "forkserver",
            StartMethod::Spawn => "spawn",
        }
    }
}
