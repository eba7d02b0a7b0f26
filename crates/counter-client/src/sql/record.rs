//! The participants' record of a store that keeps the counter in an SQL table, written once over what the store
//! brings ([`SqlStore`]: its dialect, its tables' statements, two ways to send SQL): the run's members table
//! (`<counter table>:p`) holds the configuration the participants share (row `#config`) and a row per
//! participant (its workers, whether they are ready, its heartbeat, what it reported, whether it has left). The
//! server's clock, not a participant's, says when a heartbeat has lapsed.
//!
//! The run id is claimed by creating the counter's table: of two claims at once, one fails on the name. The
//! claimer then makes the members table and its configuration row; a joiner that comes in between waits for them
//! (within the run's deadline). The others join: same configuration, room left, no member that stopped without
//! leaving; one past the run's number sees its place in the order of joining and withdraws.

use std::{future::Future, time::Instant};

use super::{
    request::{Driver, RequestError},
    table::Table,
};
use crate::{
    error::{Error, ServerError},
    participants::{Found, HEARTBEAT_TTL, Reported, may_join, shared_configuration},
    store::{Entry, Plan, Record, Roll},
};

/// How a store's SQL differs where the record's statements need it.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The server's clock, as of the statement: `clock_timestamp()`.
    pub now: &'static str,
    /// A column of that clock's type: `timestamptz`.
    pub timestamp: &'static str,
    /// A column numbered by the server in the order of insertion, a key: `bigserial`.
    pub serial: &'static str,
    /// A text column that can be a primary key: `text`.
    pub key_text: &'static str,
    /// The type an integer is cast to: `bigint`.
    pub integer: &'static str,
    /// What follows a table's columns: an engine, say.
    pub table_options: &'static str,
    /// An interval of so many microseconds.
    pub microseconds: fn(u128) -> String,
    /// The quote around an identifier: `"`.
    pub quote: char,
    /// A `SELECT` of the rows `(s, 0, 0, 0)` for `s` from the first number to the second.
    pub zero_rows: fn(i64, i64) -> String,
    /// Whether an `UPDATE` can answer rows (`RETURNING`).
    pub returning: bool,
    /// Parameter `n` (from 1) of a prepared statement: `$1`.
    pub param: fn(usize) -> String,
}

/// Why a statement failed, as far as the record is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The table was there already (or being made by another at the same moment).
    TableExists,
    /// The table is not there.
    NoTable,
    /// Anything else.
    Other,
}

/// A store that keeps its counter and its record in SQL tables: what the shared record needs of it.
pub trait SqlStore: Sync {
    /// The coordinator's connection.
    type Admin;
    /// A participant's place in the run.
    type Member;
    /// The driver's error.
    type Driver: Driver;
    /// Its SQL's differences.
    const DIALECT: Dialect;

    /// The run.
    fn plan(&self) -> Plan<'_>;
    /// How long a request may take (`--timeout`).
    fn timeout(&self) -> std::time::Duration {
        self.plan().timeout
    }
    /// The store's own settings the participants must share (`--isolation read-committed`).
    fn shared_settings(&self) -> String;
    /// The run's tables.
    fn table(&self) -> &Table;
    /// Makes the counter's table with rows for `workers` workers (and whatever else the store keeps beside it).
    fn create_counter(&self, workers: u64) -> String {
        self.table().create(workers)
    }
    /// Runs `sql` (one statement or several), within the run's deadline.
    fn batch(&self, admin: &mut Self::Admin, sql: &str)
    -> impl Future<Output = Result<(), RequestError<Self::Driver>>>;
    /// The rows `sql` answers, each column as text (or NULL), within the run's deadline.
    fn rows(
        &self,
        admin: &mut Self::Admin,
        sql: &str,
    ) -> impl Future<Output = Result<Vec<Vec<Option<String>>>, RequestError<Self::Driver>>>;
    /// The run's error for `error`: the server failed.
    fn failed(&self, error: &RequestError<Self::Driver>) -> Error;
}

/// The members table's configuration row: not a participant.
const CONFIG_TAG: &str = "#config";

fn members<S: SqlStore>(store: &S) -> String {
    store.table().members()
}

/// The count of rows where `condition` holds, as an integer.
fn count_where<S: SqlStore>(condition: &str) -> String {
    format!("CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS {})", S::DIALECT.integer)
}

/// Whether a member's heartbeat has lapsed, by the server's clock.
fn lapsed<S: SqlStore>() -> String {
    let dialect = S::DIALECT;
    format!("beat < {} - {}", dialect.now, (dialect.microseconds)(HEARTBEAT_TTL.as_micros()))
}

/// Column `index` of `row` as a number (0 where it is NULL or not a number).
fn number(row: Option<&Vec<Option<String>>>, index: usize) -> u64 {
    row.and_then(|row| row.get(index)?.as_deref()?.parse::<i64>().ok()).map_or(0, |n| n.max(0) as u64)
}

fn refuse<S: SqlStore>(store: &S, why: &str) -> Error {
    Error::Frontend(ServerError::RunTaken {
        run_id: store.plan().run_id.to_owned(),
        data: format!("tables {}", store.table().named()),
        why: why.to_owned(),
        remedy: "drop its tables",
    })
}

/// The first row `sql` answers.
async fn first_row<S: SqlStore>(
    store: &S,
    admin: &mut S::Admin,
    sql: &str,
) -> Result<Option<Vec<Option<String>>>, Error> {
    let rows = store.rows(admin, sql).await.map_err(|error| store.failed(&error))?;
    Ok(rows.into_iter().next())
}

/// Claims the run id (makes the run's tables) or joins the run that did; returns where this participant's
/// workers' own rows begin. Without a run id given, the tables are new and the run is this process's alone.
pub async fn claim<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str) -> Result<u64, Error> {
    let plan = store.plan();
    let workers = plan.config.workers();
    let created = store.batch(admin, &store.create_counter(workers)).await;
    if plan.sharing.run_id.is_none() {
        created.map_err(|error| store.failed(&error))?;
        return Ok(0);
    }
    // Our own flags' text, quoted as a literal: nothing in it needs escaping, and what would is left out.
    let shared = shared_configuration(plan.config, plan.sharing.participants, &store.shared_settings())
        .replace(['\'', '\\'], "");
    match created {
        Ok(()) => {
            let dialect = S::DIALECT;
            let make = format!(
                "CREATE TABLE {0} (tag {1} PRIMARY KEY, joined {2}, config text, workers bigint NOT NULL, \
                 ready boolean NOT NULL DEFAULT false, beat {3} NOT NULL DEFAULT {4}, done bigint, expected bigint, \
                 failed bigint, indeterminate bigint, left_run boolean NOT NULL DEFAULT false){5}; \
                 INSERT INTO {0} (tag, config, workers) VALUES ('{CONFIG_TAG}', '{shared}', 0)",
                members(store),
                dialect.key_text,
                dialect.serial,
                dialect.timestamp,
                dialect.now,
                dialect.table_options
            );
            store.batch(admin, &make).await.map_err(|error| store.failed(&error))?;
        }
        Err(error) if error.failure() == Failure::TableExists => check_joinable(store, admin, &shared).await?,
        Err(error) => return Err(store.failed(&error)),
    }
    join(store, admin, tag).await
}

/// A run under way that this participant may join: the same configuration, room left, every member alive. A
/// claim between its two steps (no members table yet, or no configuration row) is waited for.
async fn check_joinable<S: SqlStore>(store: &S, admin: &mut S::Admin, shared: &str) -> Result<(), Error> {
    let query = format!(
        "SELECT (SELECT config FROM {0} WHERE tag = '{CONFIG_TAG}'), {1}, {2}, {3} FROM {0} WHERE tag <> '{CONFIG_TAG}'",
        members(store),
        count_where::<S>("true"),
        count_where::<S>("done IS NOT NULL OR left_run"),
        count_where::<S>(&lapsed::<S>()),
    );
    let deadline = Instant::now() + store.timeout();
    let row = loop {
        let answer = store.rows(admin, &query).await;
        let row = match answer {
            Ok(rows) => rows.into_iter().next(),
            Err(error) if error.failure() == Failure::NoTable => None,
            Err(error) => return Err(store.failed(&error)),
        };
        let configured = row.as_ref().and_then(|row| row.first()?.as_ref()).is_some();
        if configured || Instant::now() >= deadline {
            break row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let Some(row) = row else {
        return Err(refuse(store, "the server holds a table of an earlier run with this id"));
    };
    let found = Found {
        configuration: row.first().cloned().flatten(),
        members: number(Some(&row), 1),
        ended: number(Some(&row), 2) > 0,
        lapsed: number(Some(&row), 3),
    };
    may_join(&found, shared, store.plan().sharing.participants).map_err(|why| refuse(store, &why))
}

/// Adds this participant's row (and its workers' own rows, sharded), then checks that it is within the run's
/// number: of two that joined at once, the later withdraws.
async fn join<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str) -> Result<u64, Error> {
    let (plan, members) = (store.plan(), members(store));
    let workers = plan.config.workers();
    let insert = format!("INSERT INTO {members} (tag, workers) VALUES ('{tag}', {workers}) RETURNING joined");
    let joined = number(first_row(store, admin, &insert).await?.as_ref(), 0);
    let place = format!("SELECT count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}' AND joined <= {joined}");
    let place = number(first_row(store, admin, &place).await?.as_ref(), 0);
    if place > plan.sharing.participants {
        withdraw(store, admin, tag).await;
        return Err(refuse(store, &format!("the run has its {} participants already", plan.sharing.participants)));
    }
    // The configuration row is joined 1; the first member 2.
    let shard_base = joined.saturating_sub(2).saturating_mul(workers);
    if shard_base > 0 {
        store
            .batch(admin, &store.table().add_shards(shard_base, workers))
            .await
            .map_err(|error| store.failed(&error))?;
    }
    Ok(shard_base)
}

/// Takes a participant out of a run that has not started: its row goes; returns the members left.
pub async fn withdraw<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str) -> Option<u64> {
    let members = members(store);
    let _ = store.batch(admin, &format!("DELETE FROM {members} WHERE tag = '{tag}'")).await;
    let left = format!("SELECT count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'");
    let rows = store.rows(admin, &left).await.ok()?;
    Some(number(rows.first(), 0))
}

/// The heartbeat's statement: the participant's row's `beat` set to the server's clock.
pub fn beat_statement<S: SqlStore>(store: &S, tag: &str) -> String {
    format!("UPDATE {} SET beat = {} WHERE tag = '{tag}'", members(store), S::DIALECT.now)
}

/// Says a participant's workers are ready.
pub async fn say_ready<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str) -> Result<(), Error> {
    let ready = format!("UPDATE {} SET ready = true, beat = {} WHERE tag = '{tag}'", members(store), S::DIALECT.now);
    store.batch(admin, &ready).await.map_err(|error| store.failed(&error))
}

/// The workers ready over every member, and the ready members whose heartbeat lapsed.
pub async fn roll<S: SqlStore>(store: &S, admin: &mut S::Admin) -> Result<Roll, Error> {
    let count = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN ready THEN workers ELSE 0 END), 0) AS {}), {} FROM {} WHERE tag <> \
         '{CONFIG_TAG}'",
        S::DIALECT.integer,
        count_where::<S>(&format!("ready AND NOT left_run AND {}", lapsed::<S>())),
        members(store)
    );
    let row = first_row(store, admin, &count).await?;
    Ok(Roll { ready_workers: number(row.as_ref(), 0), stopped: number(row.as_ref(), 1) })
}

/// Records a participant's report.
pub async fn report<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str, local: &Reported) -> Result<(), Error> {
    let report = format!(
        "UPDATE {} SET done = {}, expected = {}, failed = {}, indeterminate = {} WHERE tag = '{tag}'",
        members(store),
        local.done,
        local.expected,
        local.unsettled.failed,
        local.unsettled.indeterminate
    );
    store.batch(admin, &report).await.map_err(|error| store.failed(&error))
}

/// Every member's entry: its report, read back only if it adds up, or whether it is unheard (its heartbeat
/// lapsed, or it left without a report).
pub async fn entries<S: SqlStore>(store: &S, admin: &mut S::Admin) -> Result<Vec<Entry>, Error> {
    let look = format!(
        "SELECT done, expected, failed, indeterminate, CASE WHEN {} OR left_run THEN 1 ELSE 0 END FROM {} WHERE tag \
         <> '{CONFIG_TAG}'",
        lapsed::<S>(),
        members(store)
    );
    let rows = store.rows(admin, &look).await.map_err(|error| store.failed(&error))?;
    Ok(rows
        .iter()
        .map(|row| match (row.first().cloned().flatten(), row.get(1).cloned().flatten()) {
            (Some(done), Some(expected)) => Entry {
                reported: Reported::decode(&format!(
                    "{done} {expected} {} {}",
                    number(Some(row), 2),
                    number(Some(row), 3)
                )),
                unheard: true,
            },
            _ => Entry { reported: None, unheard: number(Some(row), 4) != 0 },
        })
        .collect())
}

/// Says a participant has left; returns how many members have left, and how many there are. Tables already gone
/// mean the last other member out dropped them, having counted this one as left.
pub async fn leave<S: SqlStore>(store: &S, admin: &mut S::Admin, tag: &str) -> Result<(u64, u64), Error> {
    let members = members(store);
    let leave = format!("UPDATE {members} SET left_run = true WHERE tag = '{tag}'");
    let count = format!("SELECT {}, count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'", count_where::<S>("left_run"));
    let answer = match store.batch(admin, &leave).await {
        Ok(()) => store.rows(admin, &count).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(rows) => Ok((number(rows.first(), 0), number(rows.first(), 1))),
        Err(error) if error.failure() == Failure::NoTable => Ok((0, u64::MAX)),
        Err(error) => Err(store.failed(&error)),
    }
}

/// The counter's value.
pub async fn final_value<S: SqlStore>(store: &S, admin: &mut S::Admin) -> Result<u64, Error> {
    Ok(number(first_row(store, admin, &store.table().total()).await?.as_ref(), 0))
}

/// Drops the run's tables; what could not be dropped, named.
pub async fn remove_run<S: SqlStore>(store: &S, admin: &mut S::Admin) -> Result<(), String> {
    store.batch(admin, &store.table().drop_statement()).await.map_err(|error| {
        format!(
            "the run's tables ({}) could not be dropped ({}); drop them by hand",
            store.table().named(),
            store.failed(&error)
        )
    })
}

/// A participant of a run in an SQL store, as the record knows it: by its tag.
pub trait Tagged {
    /// Its tag.
    fn tag(&self) -> &str;
}

/// Every SQL store's record is this module's.
impl<S: SqlStore<Member: Tagged>> Record for S {
    type Admin = S::Admin;
    type Member = S::Member;

    async fn withdraw(&self, admin: &mut S::Admin, member: &S::Member) -> Option<u64> {
        withdraw(self, admin, member.tag()).await
    }

    async fn say_ready(&self, admin: &mut S::Admin, member: &S::Member) -> Result<(), Error> {
        say_ready(self, admin, member.tag()).await
    }

    async fn roll(&self, admin: &mut S::Admin) -> Result<Roll, Error> {
        roll(self, admin).await
    }

    async fn report(&self, admin: &mut S::Admin, member: &S::Member, local: &Reported) -> Result<(), Error> {
        report(self, admin, member.tag(), local).await
    }

    async fn entries(&self, admin: &mut S::Admin) -> Result<Vec<Entry>, Error> {
        entries(self, admin).await
    }

    async fn leave(&self, admin: &mut S::Admin, member: &S::Member) -> Result<(u64, u64), Error> {
        leave(self, admin, member.tag()).await
    }

    async fn prepare_counter(&self, _admin: &mut S::Admin) -> Result<(), Error> {
        // The table was made with its rows when the run was claimed.
        Ok(())
    }

    async fn final_value(&self, admin: &mut S::Admin) -> Result<u64, Error> {
        final_value(self, admin).await
    }

    async fn remove_run(&self, admin: &mut S::Admin) -> Result<(), String> {
        remove_run(self, admin).await
    }
}
