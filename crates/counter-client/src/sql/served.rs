//! `--serve`'s answers about a run's tables, written once for SQL stores (`crate::serve::Served`): the counter
//! is the shared row of the run's counter table, and what a run leaves is its tables, which wait for a
//! participant that did not end (a table has no time to live).

use super::table::Table;

/// A private SQL server as `--serve` asks it: one request on a connection of its own, within a deadline.
pub trait SqlServer {
    /// The first column of every row `sql` answers, as numbers.
    fn numbers(&self, sql: &str) -> Result<Vec<i64>, String>;
}

/// How many of the run's tables are on the server.
fn tables_there(server: &impl SqlServer, table: &Table) -> Result<u64, String> {
    // Compared whole: `_` is a wildcard in LIKE.
    let sql = format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ({})", table.names_literal());
    Ok(server.numbers(&sql)?.first().copied().unwrap_or(0).max(0) as u64)
}

/// The run's counter: 0 before its table is made.
pub fn counter(server: &impl SqlServer, table: &Table) -> Result<u64, String> {
    if tables_there(server, table)? == 0 {
        return Ok(0);
    }
    Ok(server.numbers(&table.shared_value())?.first().copied().unwrap_or(0).max(0) as u64)
}

/// The run's tables, if any are there, dropped and named.
pub fn left_behind(server: &impl SqlServer, table: &Table) -> Result<Vec<String>, String> {
    let found = tables_there(server, table)?;
    if found == 0 {
        return Ok(Vec::new());
    }
    server.numbers(&table.drop_statement())?;
    Ok(vec![format!("waits {}", counter_core::units::count(found, "table", "tables"))])
}
