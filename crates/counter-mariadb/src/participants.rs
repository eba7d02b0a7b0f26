//! Participants that share one run across machines, in the server's own tables: the run's members table
//! (`counter_lab_<run id>:p`) holds the configuration they share (row `#config`) and a row per participant (its
//! workers, whether they are ready, its heartbeat, what it reported, whether it has left). The server's clock,
//! not a participant's, says when a heartbeat has lapsed.
//!
//! The run id is claimed by creating the counter's table (DDL commits on its own: of two claims at once, one
//! fails on the name), then the members table with its configuration row in one statement. The others join
//! (a joiner that comes between the two statements waits for the second): same configuration, room left, no
//! member that stopped without leaving; one past the run's number sees its place in the order of joining and
//! withdraws. The protocol around it is the coordinator's.

use std::{sync::Arc, time::Duration};

use counter_client::{
    participants::{Beat, Found, HEARTBEAT_TTL, Reported, may_join, shared_configuration},
    store::{Entry, Record, Roll},
};
use mysql_async::{Conn, Opts, Row, prelude::Queryable};

use crate::{
    client::{WorkerError, column, connect, first, within},
    options::{Error, ServerError},
    run::{Answer, Run},
    worker::Job,
};

/// This participant's place in the run: its tag, where its workers' own rows begin (sharded), what its
/// workers share.
pub(crate) struct Participant {
    pub(crate) tag: String,
    pub(crate) shard_base: u64,
    pub(crate) job: Arc<Job>,
}

/// The members table's configuration row: not a participant.
const CONFIG_TAG: &str = "#config";
/// The server's error: the table is there already.
const TABLE_EXISTS: u16 = 1050;
/// The server's error: the table is not there.
const NO_TABLE: u16 = 1146;

/// A participant's beat: its row's `beat` set to the server's clock, on a connection of its own, made again if
/// it broke, so that a participant at work stays heard from.
pub(crate) struct MariadbBeat {
    pub(crate) opts: Opts,
    pub(crate) statement: String,
    pub(crate) timeout: Duration,
    pub(crate) conn: Option<Conn>,
}

impl Beat for MariadbBeat {
    async fn beat(&mut self) {
        if self.conn.is_none() {
            self.conn = connect(self.opts.clone(), self.timeout).await.ok();
        }
        if let Some(conn) = &mut self.conn
            && within(self.timeout, conn.query_drop(&self.statement)).await.is_err()
        {
            self.conn = None;
        }
    }
}

/// Whether a member's heartbeat has lapsed, by the server's clock.
fn lapsed_sql() -> String {
    format!("beat < NOW(6) - INTERVAL {} MICROSECOND", HEARTBEAT_TTL.as_micros())
}

/// The number of the rows where `condition` holds, as SQL.
fn count_where(condition: &str) -> String {
    format!("CAST(COALESCE(SUM({condition}), 0) AS SIGNED)")
}

impl Run<'_> {
    fn refuse(&self, why: &str) -> Error {
        Error::Frontend(ServerError::RunTaken {
            run_id: self.id.clone(),
            data: format!("tables {}, {} and {}", self.table.quoted(), self.table.members(), self.table.connections()),
            why: why.to_owned(),
            remedy: "drop its tables",
        })
    }

    /// `sql`'s first row, within the deadline.
    async fn row(&self, admin: &mut Conn, sql: String) -> Result<Option<Row>, WorkerError> {
        within(self.timeout(), admin.query_first(sql)).await
    }

    /// Claims the run id (makes the run's tables) or joins the run that did; returns this participant's place.
    /// Without a run id given, the tables are new and the run is this process's alone.
    pub(crate) async fn claim_or_join(&self, admin: &mut Conn, tag: &str) -> Answer<(String, u64)> {
        let (timeout, workers) = (self.timeout(), self.config.workers());
        let created = within(timeout, admin.query_drop(self.table.create(workers))).await;
        if self.options.server.sharing.run_id.is_none() {
            created.map_err(|error| self.failed(&error))?;
            return Ok((tag.to_owned(), 0));
        }
        let isolation = format!("--isolation {}", self.options.isolation.sql().replace(' ', "-"));
        let shared = shared_configuration(self.config, self.options.server.sharing.participants, &isolation);
        match created {
            Ok(()) => {
                let members = format!(
                    "CREATE TABLE {} (tag VARCHAR(64) PRIMARY KEY, joined BIGINT NOT NULL AUTO_INCREMENT UNIQUE, \
                     config TEXT, workers BIGINT NOT NULL, ready BOOLEAN NOT NULL DEFAULT FALSE, \
                     beat DATETIME(6) NOT NULL DEFAULT NOW(6), done BIGINT, expected BIGINT, failed BIGINT, \
                     indeterminate BIGINT, left_run BOOLEAN NOT NULL DEFAULT FALSE) ENGINE=InnoDB \
                     SELECT ? AS tag, ? AS config, 0 AS workers",
                    self.table.members()
                );
                within(timeout, admin.exec_drop(members, (CONFIG_TAG, &shared))).await.map_err(|e| self.failed(&e))?;
            }
            Err(error) if error.code() == Some(TABLE_EXISTS) => self.check_joinable(admin, &shared).await?,
            Err(error) => return Err(self.failed(&error)),
        }
        self.join(admin, tag).await
    }

    /// A run under way that this participant may join: the same configuration, room left, every member alive.
    async fn check_joinable(&self, admin: &mut Conn, shared: &str) -> Answer<()> {
        let query = format!(
            "SELECT (SELECT config FROM {0} WHERE tag = '{CONFIG_TAG}'), {1}, {2}, {3} FROM {0} WHERE tag <> '{CONFIG_TAG}'",
            self.table.members(),
            count_where("1"),
            count_where("done IS NOT NULL OR left_run"),
            count_where(&lapsed_sql()),
        );
        // The claim makes the members table just after the counter's: a joiner between the two waits for it.
        let deadline = std::time::Instant::now() + self.timeout();
        let row = loop {
            match self.row(admin, query.clone()).await {
                Err(error) if error.code() == Some(NO_TABLE) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) if error.code() == Some(NO_TABLE) => {
                    return Err(self.refuse("the server holds a table of an earlier run with this id"));
                }
                other => break other.map_err(|error| self.failed(&error))?,
            }
        };
        let read = |index| row.as_ref().and_then(|row| column::<i64>(row, index).ok()).unwrap_or(0).max(0) as u64;
        let found = Found {
            configuration: row.as_ref().and_then(|row| column::<Option<String>>(row, 0).ok()).flatten(),
            members: read(1),
            ended: read(2) > 0,
            lapsed: read(3),
        };
        may_join(&found, shared, self.options.server.sharing.participants).map_err(|why| self.refuse(&why))
    }

    /// Adds this participant's row (and its workers' own rows, sharded), then checks that it is within the
    /// run's number: of two that joined at once, the later withdraws.
    async fn join(&self, admin: &mut Conn, tag: &str) -> Answer<(String, u64)> {
        let (timeout, members) = (self.timeout(), self.table.members());
        let insert = format!("INSERT INTO {members} (tag, workers) VALUES (?, ?)");
        within(timeout, admin.exec_drop(insert, (tag, self.config.workers()))).await.map_err(|e| self.failed(&e))?;
        let joined = admin.last_insert_id().unwrap_or(0);
        let place = format!("SELECT COUNT(*) FROM {members} WHERE tag <> '{CONFIG_TAG}' AND joined <= {joined}");
        let place: i64 =
            self.row(admin, place).await.and_then(|row| first(row.as_ref(), 0)).map_err(|e| self.failed(&e))?;
        let participants = self.options.server.sharing.participants;
        if place as u64 > participants {
            self.remove_member(admin, tag).await;
            return Err(self.refuse(&format!("the run has its {participants} participants already")));
        }
        // The configuration row is joined 1; the first member 2.
        let shard_base = joined.saturating_sub(2).saturating_mul(self.config.workers());
        if shard_base > 0 {
            within(timeout, admin.query_drop(self.table.add_shards(shard_base, self.config.workers())))
                .await
                .map_err(|error| self.failed(&error))?;
        }
        Ok((tag.to_owned(), shard_base))
    }

    /// Takes this participant out of a run that has not started: its row goes; returns the members left.
    async fn remove_member(&self, admin: &mut Conn, tag: &str) -> Option<u64> {
        let members = self.table.members();
        let _ = within(self.timeout(), admin.exec_drop(format!("DELETE FROM {members} WHERE tag = ?"), (tag,))).await;
        let left = format!("SELECT COUNT(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'");
        self.row(admin, left).await.ok().and_then(|row| first::<u64>(row.as_ref(), 0).ok())
    }

    /// The beat's statement: this member's row's `beat` set to the server's clock.
    pub(crate) fn beat_statement(&self, tag: &str) -> String {
        format!("UPDATE {} SET beat = NOW(6) WHERE tag = '{tag}'", self.table.members())
    }
}

impl Record for Run<'_> {
    type Admin = Conn;
    type Member = Participant;

    async fn withdraw(&self, admin: &mut Conn, member: &Participant) -> Option<u64> {
        self.remove_member(admin, &member.tag).await
    }

    async fn say_ready(&self, admin: &mut Conn, member: &Participant) -> Answer<()> {
        let ready = format!("UPDATE {} SET ready = TRUE, beat = NOW(6) WHERE tag = ?", self.table.members());
        within(self.timeout(), admin.exec_drop(ready, (&member.tag,))).await.map_err(|e| self.failed(&e))
    }

    async fn roll(&self, admin: &mut Conn) -> Answer<Roll> {
        let count = format!(
            "SELECT {}, {} FROM {} WHERE tag <> '{CONFIG_TAG}'",
            count_where("CASE WHEN ready THEN workers ELSE 0 END"),
            count_where(&format!("ready AND NOT left_run AND {}", lapsed_sql())),
            self.table.members()
        );
        let row = self.row(admin, count).await.map_err(|e| self.failed(&e))?;
        let figure = |index| first::<i64>(row.as_ref(), index).unwrap_or(0).max(0) as u64;
        Ok(Roll { ready_workers: figure(0), stopped: figure(1) })
    }

    async fn report(&self, admin: &mut Conn, member: &Participant, local: &Reported) -> Answer<()> {
        let report = format!(
            "UPDATE {} SET done = ?, expected = ?, failed = ?, indeterminate = ? WHERE tag = ?",
            self.table.members()
        );
        let figures = (local.done, local.expected, local.unsettled.failed, local.unsettled.indeterminate, &member.tag);
        within(self.timeout(), admin.exec_drop(report, figures)).await.map_err(|e| self.failed(&e))
    }

    /// Every member's entry: its report, read back only if it adds up, or whether it is unheard (its heartbeat
    /// lapsed, or it left without a report).
    async fn entries(&self, admin: &mut Conn) -> Answer<Vec<Entry>> {
        let look = format!(
            "SELECT done, expected, failed, indeterminate, {} OR left_run FROM {} WHERE tag <> '{CONFIG_TAG}'",
            lapsed_sql(),
            self.table.members()
        );
        let rows: Vec<Row> = within(self.timeout(), admin.query(look)).await.map_err(|e| self.failed(&e))?;
        Ok(rows
            .iter()
            .map(|row| {
                let figure = |index| column::<Option<i64>>(row, index).ok().flatten();
                match (figure(0), figure(1)) {
                    (Some(done), Some(expected)) => Entry {
                        reported: Reported::decode(&format!(
                            "{done} {expected} {} {}",
                            figure(2).unwrap_or(0),
                            figure(3).unwrap_or(0)
                        )),
                        unheard: true,
                    },
                    _ => Entry { reported: None, unheard: figure(4).unwrap_or(0) != 0 },
                }
            })
            .collect())
    }

    /// Says this member has left; returns how many members have left, and how many there are. Tables already
    /// gone mean the last other member out dropped them, having counted this one as left.
    async fn leave(&self, admin: &mut Conn, member: &Participant) -> Answer<(u64, u64)> {
        let members = self.table.members();
        let leave = format!("UPDATE {members} SET left_run = TRUE WHERE tag = ?");
        let count = format!("SELECT {}, COUNT(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'", count_where("left_run"));
        let answer = match within(self.timeout(), admin.exec_drop(leave, (&member.tag,))).await {
            Ok(()) => self.row(admin, count).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(row) => {
                let figure = |index| first::<i64>(row.as_ref(), index).unwrap_or(0).max(0) as u64;
                Ok((figure(0), figure(1)))
            }
            Err(error) if error.code() == Some(NO_TABLE) => Ok((0, u64::MAX)),
            Err(error) => Err(self.failed(&error)),
        }
    }

    async fn prepare_counter(&self, _admin: &mut Conn) -> Answer<()> {
        // The table was made with its rows when the run was claimed.
        Ok(())
    }

    async fn final_value(&self, admin: &mut Conn) -> Answer<u64> {
        self.total(admin).await
    }

    async fn remove_run(&self, admin: &mut Conn) -> Result<(), String> {
        within(self.timeout(), admin.query_drop(self.table.drop_statement())).await.map_err(|error| {
            format!("the run's tables ({}) could not be dropped ({error}); drop them by hand", self.table.name())
        })
    }
}
