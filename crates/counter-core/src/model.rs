//! The three ways of making workers, each with the one set of names it goes by, and the three ways of starting
//! a worker process.

use serde::{Deserialize, Serialize};

/// How the workers are made.
///
/// Its name on the command line, in JSON and in tables is [`Model::name`]; every other name (the binary, the
/// words for one or several workers) comes from the same table in [`Model::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
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
    pub const ALL: [Model; 4] = [Model::Threads, Model::Processes, Model::Async, Model::Redis];

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
        }
    }

    /// `threads`, `processes`, `async`: the value of `--models`, the `model` field of a report.
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
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_name_comes_from_the_one_table() {
        for model in Model::ALL {
            let flag = model.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(flag.as_deref(), Some(model.name()), "the flag value is the name");
            assert_eq!(serde_json::to_string(&model).unwrap(), format!("\"{}\"", model.name()), "JSON too");
            assert_eq!(model.binary(), format!("counter-{}", model.name()));
        }
    }
}

/// How a worker process is started: Python's three start methods, which `counter-processes --start` and the
/// Python reference programs' `--start-method` both take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
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

    /// The method's name, as the flags take it.
    pub const fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Forkserver => "forkserver",
            StartMethod::Spawn => "spawn",
        }
    }
}
