//! The run's table: `counter_lab_<run id>`, a row per shard (row 0 the shared counter, row `i + 1` worker `i`'s
//! own), each with its value and a version for the optimistic strategy. Made at the start, dropped at the end
//! unless kept; nothing else on the server is touched. A run shared by participants has a second table,
//! `counter_lab_<run id>:p`, its members (module `participants`).

/// The run's table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    name: String,
}

impl Table {
    /// The shared counter's row.
    pub(crate) const SHARED_ROW: i32 = 0;

    /// The table of run `id`, which holds only ASCII letters, digits, `-`, `_` and `.` (checked where it is
    /// given or drawn), so that quoted it is a name as it stands.
    pub(crate) fn new(id: &str) -> Table {
        Table { name: format!("counter_lab_{id}") }
    }

    /// Worker `index`'s own row (sharded).
    pub(crate) fn shard_of(index: u64) -> i32 {
        i32::try_from(index.saturating_add(1)).unwrap_or(i32::MAX)
    }

    /// Its name, quoted as an identifier.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.name)
    }

    /// The members table's name, quoted as an identifier.
    pub(crate) fn members_quoted(&self) -> String {
        format!("\"{}:p\"", self.name)
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Makes the table with a row per shard, every value 0.
    pub(crate) fn create(&self, workers: u64) -> String {
        let name = self.quoted();
        format!(
            "CREATE TABLE {name} (shard integer PRIMARY KEY, v bigint NOT NULL, version bigint NOT NULL); \
             INSERT INTO {name} SELECT s, 0, 0 FROM generate_series(0, {}) AS s",
            Table::shard_of(workers.saturating_sub(1))
        )
    }

    /// Adds the own rows of `workers` more workers, numbered from `base` on (sharded, with participants).
    pub(crate) fn add_shards(&self, base: u64, workers: u64) -> String {
        format!(
            "INSERT INTO {} SELECT s, 0, 0 FROM generate_series({}, {}) AS s",
            self.quoted(),
            Table::shard_of(base),
            Table::shard_of(base.saturating_add(workers).saturating_sub(1))
        )
    }

    /// The counter's value: the shared row, or the sum of every row (sharded).
    pub(crate) fn total(&self) -> String {
        format!("SELECT COALESCE(SUM(v), 0)::bigint FROM {}", self.quoted())
    }

    /// Removes the table, and the members table if any.
    pub(crate) fn drop_statement(&self) -> String {
        format!("DROP TABLE IF EXISTS {}, {}", self.quoted(), self.members_quoted())
    }
}
