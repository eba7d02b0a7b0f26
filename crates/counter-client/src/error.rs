//! What a store's run can fail with beyond the reasons every frontend shares: the same for every store, each
//! naming its server in its own words.

use counter_core::error::RunError;

use crate::store::CoordinationError;

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
