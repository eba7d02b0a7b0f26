//! The run's tables: `counter_lab_<run id>`, a row per shard (row 0 the shared counter, row `i + 1` worker `i`'s
//! own), each with its value and a version for the optimistic strategy; `<name>:c`, each connection of the run
//! and the participant whose it is (so that the server can end one participant's connections); and, for a run
//! shared by participants, `<name>:p`, its members (module `participants`). Nothing else is touched.

/// The run's tables.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    name: String,
}

impl Table {
    /// The shared counter's row.
    pub(crate) const SHARED_ROW: i32 = 0;

    /// The tables of run `id`, which holds only ASCII letters, digits, `-`, `_` and `.` (checked where it is
    /// given or drawn), so that quoted it is a name as it stands; 12 + 48 + 2 characters fit MariaDB's 64.
    pub(crate) fn new(id: &str) -> Table {
        Table { name: format!("counter_lab_{id}") }
    }

    /// Worker `index`'s own row (sharded).
    pub(crate) fn shard_of(index: u64) -> i32 {
        i32::try_from(index.saturating_add(1)).unwrap_or(i32::MAX)
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its name, quoted as an identifier.
    pub(crate) fn quoted(&self) -> String {
        format!("`{}`", self.name)
    }

    /// The members table's name, quoted.
    pub(crate) fn members(&self) -> String {
        format!("`{}:p`", self.name)
    }

    /// The connections table's name, quoted.
    pub(crate) fn connections(&self) -> String {
        format!("`{}:c`", self.name)
    }

    /// Makes the counter's table with a row per shard, every value 0, and the connections table.
    pub(crate) fn create(&self, workers: u64) -> String {
        format!(
            "CREATE TABLE {} (shard INT PRIMARY KEY, v BIGINT NOT NULL, version BIGINT NOT NULL) ENGINE=InnoDB \
             SELECT seq AS shard, 0 AS v, 0 AS version FROM seq_0_to_{}; \
             CREATE TABLE IF NOT EXISTS {} (id BIGINT UNSIGNED PRIMARY KEY, pid INT NOT NULL) ENGINE=InnoDB",
            self.quoted(),
            Table::shard_of(workers.saturating_sub(1)),
            self.connections()
        )
    }

    /// Adds the own rows of `workers` more workers, numbered from `base` on (sharded, with participants).
    pub(crate) fn add_shards(&self, base: u64, workers: u64) -> String {
        format!(
            "INSERT INTO {} SELECT seq, 0, 0 FROM seq_{}_to_{}",
            self.quoted(),
            Table::shard_of(base),
            Table::shard_of(base.saturating_add(workers).saturating_sub(1))
        )
    }

    /// Records the session's connection as participant `pid`'s, as each connection of a worker's begins.
    pub(crate) fn register(&self, pid: u32) -> String {
        format!("REPLACE INTO {} VALUES (CONNECTION_ID(), {pid})", self.connections())
    }

    /// The counter's value: the sum of every row (one row but sharded).
    pub(crate) fn total(&self) -> String {
        format!("SELECT CAST(COALESCE(SUM(v), 0) AS SIGNED) FROM {}", self.quoted())
    }

    /// Removes the tables.
    pub(crate) fn drop_statement(&self) -> String {
        format!("DROP TABLE IF EXISTS {}, {}, {}", self.quoted(), self.members(), self.connections())
    }
}
