//! What a store's run can fail with beyond the reasons every frontend shares: the same for every store, each
//! naming its server in its own words.

use counter_core::error::{EXIT_FAILURE, EXIT_USAGE, FrontendError, RunError};

use counter_core::{catalog, model::Model};

use crate::participants::RendezvousTimeout;

impl ServerError {
    /// The run's error when `store`'s server (`server`, as the report names it) failed during the run: `detail`,
    /// with anything that looks like a credential taken out.
    pub fn failed(store: &'static str, server: &str, detail: &str) -> Error {
        Error::Frontend(ServerError::Server {
            store,
            server: server.to_owned(),
            detail: counter_core::secrets::redact(detail),
        })
    }

    /// The run's error when `store`'s server could not be used as given (exit 2): `detail`, redacted.
    pub fn unusable(store: &'static str, server: &str, detail: &str) -> Error {
        Error::Frontend(ServerError::Unusable {
            store,
            server: server.to_owned(),
            detail: counter_core::secrets::redact(detail),
        })
    }

    /// The run's error when `store`'s server refused the first connection (exit 2): why, and what to check.
    pub fn not_connected(store: &'static str, server: &str, error: &impl std::fmt::Display) -> Error {
        let detail = format!("{error} (is the server running, and are the address and the credentials right?)");
        ServerError::unusable(store, server, &detail)
    }
}

/// Why `model` has no private server here, and the two ways out: its package (from its catalog entry) or a
/// server of the user's.
fn no_server(model: Model, looked: &str) -> String {
    match &catalog::of(model).server {
        Some(server) => format!(
            "no {} found ({looked}): install it (`{}`), or pass {} URL to use a server that is already running",
            server.program,
            server.install(),
            server.flag
        ),
        None => format!("{} keeps its counter in no server", model.name()),
    }
}

/// Why a store's run produced no report: a reason every frontend shares, or [`ServerError`].
pub type Error = RunError<ServerError>;

/// What only a store's run can hit.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No server to start here, and none given: the request cannot be met as it stands; the message says how.
    #[error("{}", no_server(*.model, .looked))]
    NoServer {
        /// The model whose server is missing.
        model: Model,
        /// Where the binary looked for it.
        looked: &'static str,
    },
    /// The server given could not be used (refused, a wrong password, too old for the run): the request cannot
    /// be met as it stands.
    #[error("could not use the {store} server {server}: {detail}")]
    Unusable {
        /// Whose: its model's name.
        store: &'static str,
        /// Which, as the report names it.
        server: String,
        /// Why, and what to do.
        detail: String,
    },
    /// The run id is taken by another run, or by one that will not take this participant.
    #[error("run '{run_id}' ({data}): {why}; choose another --run-id, or {remedy}")]
    RunTaken {
        /// The run.
        run_id: String,
        /// Its data on the server, named: `keys counter-lab:x:*`.
        data: String,
        /// Why it is refused.
        why: String,
        /// How to remove that data: `remove its keys`.
        remedy: &'static str,
    },
    /// The private server did not start.
    #[error("could not start a private {server}: {detail}")]
    ServerStart {
        /// What it is, as the store names its server.
        server: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The server stopped answering during the run, or answered with an error.
    #[error("the {store} server ({server}) failed during the run: {detail}")]
    Server {
        /// Whose: its model's name.
        store: &'static str,
        /// Which, as the report names it.
        server: String,
        /// What went wrong, in the client's words (which carry their own causes).
        detail: String,
    },
    /// The coordination failed (the other participants did not all come, a worker panicked).
    #[error(transparent)]
    Coordination(#[from] CoordinationError),
}

/// Why the coordination itself failed, whatever the store.
#[derive(Debug, thiserror::Error)]
pub enum CoordinationError {
    /// The other participants did not all come.
    #[error(transparent)]
    Rendezvous(RendezvousTimeout),
    /// A participant of the run stopped (its heartbeat lapsed) before the start: the others would wait for it in
    /// vain.
    #[error(
        "run '{run_id}': {stopped} of its participants stopped without leaving before the start (their heartbeat \
         lapsed); this one gives up rather than wait for them"
    )]
    ParticipantStopped {
        /// The run.
        run_id: String,
        /// How many stopped.
        stopped: u64,
    },
    /// The run's runtime could not be made, or ended without a result.
    #[error("the run's runtime failed: {0}")]
    Runtime(String),
    /// A worker's task ended without a result (it panicked).
    #[error("worker {worker} ended without a result")]
    WorkerPanicked {
        /// The worker.
        worker: u64,
    },
}

impl FrontendError for ServerError {
    /// A request that cannot be met here (no server, an unusable one, a run id taken) is 2; a failure, 1.
    fn exit_code(&self) -> u8 {
        match self {
            ServerError::NoServer { .. } | ServerError::Unusable { .. } | ServerError::RunTaken { .. } => EXIT_USAGE,
            ServerError::ServerStart { .. } | ServerError::Server { .. } | ServerError::Coordination(_) => EXIT_FAILURE,
        }
    }
}
