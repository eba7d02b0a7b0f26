//! What a store's run can fail with beyond the reasons every frontend shares: the same for every store, each
//! naming its server in its own words.

use counter_core::error::RunError;

use crate::participants::RendezvousTimeout;

/// Why a store's run produced no report: a reason every frontend shares, or [`ServerError`].
pub type Error = RunError<ServerError>;

/// What only a store's run can hit.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The private server did not start.
    #[error("could not start a private {server}: {detail}")]
    ServerStart {
        /// What it is: `redis-server`.
        server: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The server stopped answering during the run, or answered with an error.
    #[error("the {store} server ({server}) failed during the run: {detail}")]
    Server {
        /// Whose: `redis`.
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
