//! A run's tables in an SQL store, named and made the same way on every server, in its dialect:
//! `counter_lab_<run id>`, a row per shard (row 0 the shared counter, row `i + 1` worker `i`'s own), each with
//! its value, a version for the optimistic strategy, and the value a traced write overwrote; `<name>:p`, the members of a run shared by participants
//! (module `record`); and `<name>:c`, where a store that ends a participant's connections by their ids keeps
//! them. Nothing else on the server is touched.

use super::{Statement, record::Dialect};

/// The run's tables, and the statements on them.
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
    dialect: Dialect,
}

impl Table {
    /// The shared counter's row.
    pub const SHARED_ROW: i64 = 0;

    /// The tables of run `id`, which holds only ASCII letters, digits, `-`, `_` and `.` (checked where it is
    /// given or drawn), so that quoted it is a name as it stands; 12 + 48 + 2 characters fit 63.
    pub fn new(id: &str, dialect: Dialect) -> Table {
        Table { name: format!("counter_lab_{id}"), dialect }
    }

    /// Worker `index`'s own row (sharded).
    pub fn shard_of(index: u64) -> i64 {
        i64::try_from(index.saturating_add(1)).unwrap_or(i64::MAX)
    }

    /// The row worker `index` adds to: its own with `sharded`, the shared one otherwise.
    pub fn row_of(index: u64, sharded: bool) -> i64 {
        if sharded { Table::shard_of(index) } else { Table::SHARED_ROW }
    }

    /// The counter table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn quote(&self, suffix: &str) -> String {
        let quote = self.dialect.quote;
        format!("{quote}{}{suffix}{quote}", self.name)
    }

    /// The counter table's name, quoted as an identifier.
    pub fn quoted(&self) -> String {
        self.quote("")
    }

    /// The members table's name, quoted.
    pub fn members(&self) -> String {
        self.quote(":p")
    }

    /// The connections table's name, quoted.
    pub fn connections(&self) -> String {
        self.quote(":c")
    }

    /// The names of every table a run may have, unquoted, as a list of SQL literals (for `IN (...)`).
    pub fn names_literal(&self) -> String {
        format!("'{0}', '{0}:p', '{0}:c'", self.name)
    }

    /// Every table of the run, named for a message.
    pub fn named(&self) -> String {
        format!("{} and {}", self.quoted(), self.members())
    }

    /// Makes the counter's table with a row per shard, every value 0.
    pub fn create(&self, workers: u64) -> String {
        format!(
            "CREATE TABLE {} (shard BIGINT PRIMARY KEY, v BIGINT NOT NULL, version BIGINT NOT NULL, prev BIGINT NOT \
             NULL){}; {}",
            self.quoted(),
            self.dialect.table_options,
            self.insert_rows(Table::SHARED_ROW, Table::shard_of(workers.saturating_sub(1)))
        )
    }

    /// Adds the own rows of `workers` more workers, numbered from `base` on (sharded, with participants).
    pub fn add_shards(&self, base: u64, workers: u64) -> String {
        self.insert_rows(Table::shard_of(base), Table::shard_of(base.saturating_add(workers).saturating_sub(1)))
    }

    /// Inserts rows `from` to `to`, each with 0 as its value, its version and its previous value.
    fn insert_rows(&self, from: i64, to: i64) -> String {
        format!("INSERT INTO {} {}", self.quoted(), (self.dialect.zero_rows)(from, to))
    }

    /// The counter's value: the sum of every row (one row but sharded).
    pub fn total(&self) -> String {
        format!("SELECT CAST(COALESCE(SUM(v), 0) AS {}) FROM {}", self.dialect.integer, self.quoted())
    }

    /// The shared row's value.
    pub fn shared_value(&self) -> String {
        format!("SELECT v FROM {} WHERE shard = {}", self.quoted(), Table::SHARED_ROW)
    }

    /// Removes every table of the run.
    pub fn drop_statement(&self) -> String {
        format!("DROP TABLE IF EXISTS {}, {}, {}", self.quoted(), self.members(), self.connections())
    }

    /// The text of `statement` on a worker's row, with the dialect's parameters, numbered in the order they
    /// appear: the value (if any), the row, the version (if any).
    pub fn text(&self, statement: Statement) -> String {
        let (name, p) = (self.quoted(), self.dialect.param);
        let read = format!("SELECT v FROM {name} WHERE shard = {}", p(1));
        match statement {
            Statement::Read => read,
            Statement::ReadForUpdate => format!("{read} FOR UPDATE"),
            Statement::TryReadForUpdate => format!("{read} FOR UPDATE SKIP LOCKED"),
            Statement::Write => format!("UPDATE {name} SET v = {} WHERE shard = {}", p(1), p(2)),
            Statement::AddOne => format!("UPDATE {name} SET v = v + 1 WHERE shard = {}", p(1)),
            Statement::ReadVersioned => format!("SELECT v, version FROM {name} WHERE shard = {}", p(1)),
            Statement::WriteIfVersion => format!(
                "UPDATE {name} SET v = {}, version = version + 1 WHERE shard = {} AND version = {}",
                p(1),
                p(2),
                p(3)
            ),
            Statement::WriteKeepingPrevious => format!(
                "UPDATE {name} SET prev = v, v = {} WHERE shard = {}{}",
                p(1),
                p(2),
                if self.dialect.returning { " RETURNING prev" } else { "" }
            ),
            // A locking read (the row is the writer's already): at repeatable read a plain one reads the snapshot.
            Statement::ReadPrevious => format!("SELECT prev FROM {name} WHERE shard = {} FOR UPDATE", p(1)),
        }
    }
}
