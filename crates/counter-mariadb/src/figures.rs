//! What only this model measures, and its own words: the server, its isolation level and snapshot isolation,
//! the round trips, the transactions the server refused, what the server's memory and threads grew by with the
//! clients; carried in the report as its extension, and read back from it for the "why" lines.

use counter_client::sql::{self, SqlFigures};
use counter_core::{config::Strategy, extension::Extension, render::ModelWords, report::RunReport, units};
use serde::{Deserialize, Serialize};

/// The figures under the report's `extension` (named "server").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MariadbFigures {
    /// What every SQL store measures: the server, the isolation level, the round trips, the server's PSS.
    #[serde(flatten)]
    pub sql: SqlFigures,
    /// `innodb_snapshot_isolation` of every session; none where the server lacks it.
    pub snapshot_isolation: Option<bool>,
    /// Transactions the server refused (1020, 1213, 1205), each rolled back and made again.
    pub refused: u64,
    /// What its USS grew by, bytes.
    pub server_uss_added_bytes: Option<i64>,
    /// The server's threads before the clients connected.
    pub server_threads_before: Option<u64>,
    /// Of those, threads kept idle for the next connections (a connection that ended left its thread there),
    /// which the first clients take instead of new ones.
    #[serde(default)]
    pub server_threads_cached_before: Option<u64>,
    /// Its threads once every client was connected: a thread per connection.
    pub server_threads_with_clients: Option<u64>,
}

impl MariadbFigures {
    /// The report's section: these figures, and a line for each of their groups.
    pub fn extension(&self, strategy: Strategy) -> Extension {
        let threads = (self.server_threads_before, self.server_threads_with_clients);
        let memory = match (self.sql.server_pss_added_bytes, threads.0, threads.1) {
            (Some(pss), Some(before), Some(with)) => format!(
                "a thread per connection: {before} threads before the clients ({} idle in its thread cache), {with} \
                 with them; the server's PSS grew by {}, its USS by {}",
                self.server_threads_cached_before.unwrap_or(0),
                units::kib(pss as f64 / 1024.0),
                units::kib(self.server_uss_added_bytes.unwrap_or(0) as f64 / 1024.0)
            ),
            _ => "a thread per connection, not visible from here (another machine, or another user's)".to_owned(),
        };
        let snapshot = match self.snapshot_isolation {
            Some(true) => ", snapshot isolation on",
            Some(false) => ", snapshot isolation off",
            None => "",
        };
        sql::report_lines(
            Extension::new("server", self),
            &self.sql,
            strategy,
            (self.refused, "error 1020, 1213 or 1205"),
            (snapshot, memory),
        )
    }
}

/// This model's words: each strategy as statements, and the "why" lines from the figures above.
pub const WORDS: ModelWords = ModelWords { strategy: |strategy| Some(sql::strategy_statements(strategy)), why };

/// The "why" lines where the server's figures say more than the generic ones.
fn why(report: &RunReport) -> Option<Vec<String>> {
    let figures: MariadbFigures = report.extension.as_ref()?.figures().ok()?;
    let lost_because = format!(
        "{}a transaction reads its snapshot and writes what it computed, even when another transaction committed a \
         new value in between: the lost update (P4), which InnoDB lets through unless innodb_snapshot_isolation is on",
        if figures.snapshot_isolation == Some(false) { "without snapshot isolation " } else { "" }
    );
    let why = sql::Why {
        figures: &figures.sql,
        lost_because: &lost_because,
        refused_as: "(1020, or a deadlock's victim: 1213)",
        refused: figures.refused,
    };
    sql::why(report, &why)
}
