//! What only this model measures, and its own words: the server and its isolation level, the round trips and
//! their latency, the transactions the server refused, the memory of its backend processes; carried in the
//! report as its extension, and read back from it for the "why" lines.

use counter_client::sql::{self, SqlFigures};
use counter_core::{config::Strategy, extension::Extension, render::ModelWords, report::RunReport, units};
use serde::{Deserialize, Serialize};

/// The figures under the report's `extension` (named "server").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostgresFigures {
    /// What every SQL store measures: the server, the isolation level, the round trips, the server's PSS.
    #[serde(flatten)]
    pub sql: SqlFigures,
    /// Transactions the server refused to serialize (SQLSTATE 40001) or ended as a deadlock's victim (40P01),
    /// each rolled back and made again.
    pub serialization_failures: u64,
    /// The backend processes serving this run's connections, measured from `/proc` (none for a server this
    /// process cannot see).
    pub backends_measured: u64,
    /// Their mean PSS, KiB.
    pub backend_pss_kib: Option<f64>,
    /// Their mean USS, KiB.
    pub backend_uss_kib: Option<f64>,
}

impl PostgresFigures {
    /// The report's section: these figures, and a line for each of their groups.
    pub fn extension(&self, strategy: Strategy) -> Extension {
        let memory = match (self.backend_pss_kib, self.backend_uss_kib) {
            (Some(pss), Some(uss)) => format!(
                "a backend process per connection: PSS {} and USS {} each (mean of {}){}",
                units::kib(pss),
                units::kib(uss),
                self.backends_measured,
                self.sql
                    .server_pss_added_bytes
                    .map(|added| format!(
                        "; the server's PSS grew by {} with the clients",
                        units::kib(added as f64 / 1024.0)
                    ))
                    .unwrap_or_default()
            ),
            _ => "a backend process per connection, not visible from here (another machine, or another user's)"
                .to_owned(),
        };
        sql::report_lines(
            Extension::new("server", self),
            &self.sql,
            strategy,
            (self.serialization_failures, "SQLSTATE 40001 or 40P01"),
            ("", memory),
        )
    }
}

/// This model's words: each strategy as statements, and the "why" lines from the figures above.
pub const WORDS: ModelWords = ModelWords { strategy: |strategy| Some(sql::strategy_statements(strategy)), why };

/// The "why" lines where the server's figures say more than the generic ones.
fn why(report: &RunReport) -> Option<Vec<String>> {
    let figures: PostgresFigures = report.extension.as_ref()?.figures().ok()?;
    let refused = figures.serialization_failures;
    let lost_because = format!(
        "a transaction reads the row as last committed and writes what it computed, even when another transaction \
         committed a new value in between: the lost update the isolation-level literature calls P4{}",
        if refused > 0 { format!(" ({refused} refused transactions did not prevent it)") } else { String::new() }
    );
    let why = sql::Why { figures: &figures.sql, lost_because: &lost_because, refused_as: "(SQLSTATE 40001)", refused };
    sql::why(report, &why)
}
