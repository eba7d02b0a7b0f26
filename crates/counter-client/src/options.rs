//! What every server model's run is asked for beyond the workload and its store's own options: the server, the
//! run's sharing, whether its data is kept, and the deadline of every request.

use std::time::Duration;

use counter_core::config::ConfigError;

use crate::participants::Sharing;

/// How to reach the server and share the run, the same for every store.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A server to use, as the store's server flag takes it; `None` starts a private one.
    pub url: Option<String>,
    /// The run's id and its participants.
    pub sharing: Sharing,
    /// Keep the run's data at the end.
    pub keep: bool,
    /// How long connecting, or any request, may take before the run fails.
    pub timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { url: None, sharing: Sharing::default(), keep: false, timeout: Duration::from_secs(5) }
    }
}

impl ServerOptions {
    /// Checks them, `flag` being the store's server flag: a run id that makes valid names, participants with a
    /// run id and a server given, a deadline the clock can keep.
    pub fn validate(&self, flag: &str) -> Result<(), ConfigError> {
        self.sharing.validate(self.url.is_some(), flag)?;
        crate::check_deadline("--timeout", self.timeout)
    }
}
