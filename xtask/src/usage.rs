//! The error of a request that cannot be met, which every task ends with exit 2.

/// A request that cannot be met (exit 2): a flag's value, an export path that cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);
