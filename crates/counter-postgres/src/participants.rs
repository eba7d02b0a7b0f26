//! Participants that share one run across machines, in the server's own tables: the run's members table
//! (`counter_lab_<run id>:p`) holds the configuration they share (row `#config`) and a row per participant
//! (its workers, whether they are ready, its heartbeat, what it reported, whether it has left). The server's
//! clock, not a participant's, says when a heartbeat has lapsed.
//!
//! The run id is claimed by creating the members table and the counter's in one transaction: of two claims at
//! once, one waits and then fails on the name. The others join: same configuration, room left, no member that
//! stopped without leaving; a participant past the run's number (two joining at once) sees its place in the
//! order of joining and withdraws. Each says its workers are ready and waits until every member's are; at the
//! end each reports, waits for every other to report or to go unheard, reads the total, and leaves; the last to
//! leave drops the tables, never while a member not heard from may still write.

use std::sync::Arc;

use counter_client::{
    participants::{Beat, Found, HEARTBEAT_TTL, Reported, may_join, shared_configuration},
    store::{Entry, Record, Roll},
};
use tokio_postgres::{Client, error::SqlState};

use crate::{
    client::{WorkerError, within},
    options::{Error, Isolation, ServerError},
    run::{Answer, Run},
    worker::Job,
};

/// This participant's place in the run: its tag, where its workers' own rows begin (sharded), the prefix of its
/// connections' names, what its workers share.
pub(crate) struct Participant {
    pub(crate) tag: String,
    pub(crate) shard_base: u64,
    /// Its tag after `counter-lab-`: `pg_stat_activity` tells this participant's connections apart by it.
    pub(crate) prefix: String,
    pub(crate) job: Arc<Job>,
}

/// The members table's configuration row: not a participant.
const CONFIG_TAG: &str = "#config";

/// A participant's place in the run.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Its tag: pid-random.
    pub(crate) tag: String,
    /// Where its workers' own rows begin (sharded): after every earlier member's.
    pub(crate) shard_base: u64,
}

/// A PostgreSQL participant's beat: its row's `beat` set to the server's clock, on a connection of its own, made
/// again if it broke (terminated, or a server that stalled), so that a participant at work stays heard from.
pub(crate) struct PostgresBeat {
    pub(crate) connection: tokio_postgres::Config,
    pub(crate) isolation: Isolation,
    pub(crate) members: String,
    pub(crate) tag: String,
    pub(crate) timeout: std::time::Duration,
    pub(crate) client: Option<Client>,
}

impl Beat for PostgresBeat {
    async fn beat(&mut self) {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = crate::client::connect(&self.connection, self.isolation, self.timeout).await.ok();
        }
        if let Some(client) = &self.client {
            let beat = format!("UPDATE {} SET beat = clock_timestamp() WHERE tag = $1", self.members);
            if within(self.timeout, client.execute(&beat, &[&self.tag])).await.is_err() {
                self.client = None;
            }
        }
    }
}

/// Whether a member's heartbeat has lapsed, by the server's clock.
fn lapsed_sql() -> String {
    format!("clock_timestamp() - beat > interval '{} milliseconds'", HEARTBEAT_TTL.as_millis())
}

impl Run<'_> {
    /// What every participant of a run must share, as the claim records it.
    fn shared_configuration(&self) -> String {
        let isolation = format!("--isolation {}", self.options.isolation.sql().replace(' ', "-"));
        shared_configuration(self.config, self.options.server.sharing.participants, &isolation)
    }

    fn members(&self) -> String {
        self.table.members_quoted()
    }

    fn refuse(&self, why: &str) -> Error {
        Error::Frontend(ServerError::RunTaken {
            run_id: self.id.clone(),
            data: format!("tables {} and {}", self.table.quoted(), self.members()),
            why: why.to_owned(),
            remedy: "drop its tables",
        })
    }

    /// Claims the run id (makes the run's tables) or joins the run that did; returns this participant's place.
    /// Without a run id given, the tables are new and the run is this process's alone.
    pub(crate) async fn claim(&self, admin: &Client, tag: &str) -> Result<Member, Error> {
        let timeout = self.options.server.timeout;
        let workers = self.config.workers();
        if self.options.server.sharing.run_id.is_none() {
            within(timeout, admin.batch_execute(&self.table.create(workers)))
                .await
                .map_err(|error| self.failed(&error))?;
            return Ok(Member { tag: tag.to_owned(), shard_base: 0 });
        }
        let members = self.members();
        let shared = self.shared_configuration();
        let create = format!(
            "BEGIN; \
             CREATE TABLE {members} (tag text PRIMARY KEY, joined bigserial, config text, workers bigint NOT NULL, \
             ready boolean NOT NULL DEFAULT false, beat timestamptz NOT NULL DEFAULT clock_timestamp(), \
             done bigint, expected bigint, failed bigint, indeterminate bigint, \
             left_run boolean NOT NULL DEFAULT false); \
             INSERT INTO {members} (tag, config, workers) VALUES ('{CONFIG_TAG}', {}, 0); \
             {}; COMMIT",
            quote_literal(&shared),
            self.table.create(workers)
        );
        match within(timeout, admin.batch_execute(&create)).await {
            Ok(()) => {}
            Err(error) => {
                let _ = within(timeout, admin.batch_execute("ROLLBACK")).await;
                if !is_name_taken(&error) {
                    return Err(self.failed(&error));
                }
                self.check_joinable(admin, &shared).await?;
            }
        }
        self.join(admin, tag).await
    }

    /// A run under way that this participant may join: the same configuration, room left, every member alive.
    async fn check_joinable(&self, admin: &Client, shared: &str) -> Result<(), Error> {
        let timeout = self.options.server.timeout;
        let members = self.members();
        let query = format!(
            "SELECT (SELECT config FROM {members} WHERE tag = '{CONFIG_TAG}'), \
             count(*) FILTER (WHERE tag <> '{CONFIG_TAG}'), \
             count(*) FILTER (WHERE tag <> '{CONFIG_TAG}' AND (done IS NOT NULL OR left_run)), \
             count(*) FILTER (WHERE tag <> '{CONFIG_TAG}' AND {}) FROM {members}",
            lapsed_sql()
        );
        let row = within(timeout, admin.query_one(&query, &[])).await.map_err(|error| match &error {
            // The members table is missing: the counter's table alone is there, an earlier run's.
            WorkerError::Server(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                self.refuse("the server holds a table of an earlier run with this id")
            }
            _ => self.failed(&error),
        })?;
        let read = |index| u64::try_from(row.try_get::<_, Option<i64>>(index).ok().flatten().unwrap_or(0)).unwrap_or(0);
        let found = Found {
            configuration: row.try_get(0).ok().flatten(),
            members: read(1),
            ended: read(2) > 0,
            lapsed: read(3),
        };
        may_join(&found, shared, self.options.server.sharing.participants).map_err(|why| self.refuse(&why))
    }

    /// Adds this participant's row (and its workers' own rows, sharded), then checks that it is within the
    /// run's number: of two that joined at once, the later withdraws.
    async fn join(&self, admin: &Client, tag: &str) -> Result<Member, Error> {
        let timeout = self.options.server.timeout;
        let members = self.members();
        let workers = i64::try_from(self.config.workers()).unwrap_or(i64::MAX);
        let insert = format!("INSERT INTO {members} (tag, workers) VALUES ($1, $2) RETURNING joined");
        let joined: i64 = within(timeout, admin.query_one(&insert, &[&tag, &workers]))
            .await
            .and_then(|row| row.try_get(0).map_err(WorkerError::Server))
            .map_err(|error| self.failed(&error))?;
        let place = format!("SELECT count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}' AND joined <= $1");
        let place: i64 = within(timeout, admin.query_one(&place, &[&joined]))
            .await
            .and_then(|row| row.try_get(0).map_err(WorkerError::Server))
            .map_err(|error| self.failed(&error))?;
        if place as u64 > self.options.server.sharing.participants {
            self.remove_member(admin, tag).await;
            return Err(self.refuse(&format!(
                "the run has its {} participants already",
                self.options.server.sharing.participants
            )));
        }
        // The configuration row is joined 1; the first member 2.
        let shard_base = u64::try_from(joined.saturating_sub(2)).unwrap_or(0).saturating_mul(self.config.workers());
        if shard_base > 0 {
            within(timeout, admin.batch_execute(&self.table.add_shards(shard_base, self.config.workers())))
                .await
                .map_err(|error| self.failed(&error))?;
        }
        Ok(Member { tag: tag.to_owned(), shard_base })
    }

    /// Takes this participant out of a run that has not started (stopped, or failed): its row goes, so that
    /// the others neither start with its workers counted nor wait for it; returns the members left.
    async fn remove_member(&self, admin: &Client, tag: &str) -> Option<u64> {
        let timeout = self.options.server.timeout;
        let members = self.members();
        let delete = format!("DELETE FROM {members} WHERE tag = $1");
        let _ = within(timeout, admin.execute(&delete, &[&tag])).await;
        let left = format!("SELECT count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'");
        let remaining: i64 = within(timeout, admin.query_one(&left, &[])).await.ok()?.try_get(0).ok()?;
        u64::try_from(remaining).ok()
    }
}

impl Record for Run<'_> {
    type Admin = Client;
    type Member = Participant;

    async fn withdraw(&self, admin: &mut Client, member: &Participant) -> Option<u64> {
        self.remove_member(admin, &member.tag).await
    }

    /// Says this participant's workers are ready.
    async fn say_ready(&self, admin: &mut Client, member: &Participant) -> Answer<()> {
        let tag = member.tag.as_str();
        let ready = format!("UPDATE {} SET ready = true, beat = clock_timestamp() WHERE tag = $1", self.members());
        within(self.options.server.timeout, admin.execute(&ready, &[&tag])).await.map(drop).map_err(|e| self.failed(&e))
    }

    /// The workers ready over every member, and the ready members whose heartbeat lapsed (by the server's clock;
    /// one still connecting its workers has no heartbeat yet).
    async fn roll(&self, admin: &mut Client) -> Answer<Roll> {
        let count = format!(
            "SELECT COALESCE(sum(workers) FILTER (WHERE ready), 0)::bigint, \
             count(*) FILTER (WHERE ready AND NOT left_run AND {}) FROM {} WHERE tag <> '{CONFIG_TAG}'",
            lapsed_sql(),
            self.members()
        );
        let row =
            within(self.options.server.timeout, admin.query_one(&count, &[])).await.map_err(|e| self.failed(&e))?;
        let figure = |index| u64::try_from(row.try_get::<_, i64>(index).unwrap_or(0)).unwrap_or(0);
        Ok(Roll { ready_workers: figure(0), stopped: figure(1) })
    }

    /// Records this participant's report.
    async fn report(&self, admin: &mut Client, member: &Participant, local: &Reported) -> Answer<()> {
        let tag = member.tag.as_str();
        let number = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let report = format!(
            "UPDATE {} SET done = $2, expected = $3, failed = $4, indeterminate = $5 WHERE tag = $1",
            self.members()
        );
        let figures = [local.done, local.expected, local.unsettled.failed, local.unsettled.indeterminate].map(number);
        within(
            self.options.server.timeout,
            admin.execute(&report, &[&tag, &figures[0], &figures[1], &figures[2], &figures[3]]),
        )
        .await
        .map(drop)
        .map_err(|error| self.failed(&error))
    }

    /// Every member's entry: its report, read back only if it adds up, or whether it is unheard (its heartbeat
    /// lapsed, or it left without a report). A member that wrote a report, readable or not, is done.
    async fn entries(&self, admin: &mut Client) -> Answer<Vec<Entry>> {
        let look = format!(
            "SELECT done, expected, failed, indeterminate, {} OR left_run FROM {} WHERE tag <> '{CONFIG_TAG}'",
            lapsed_sql(),
            self.members()
        );
        let rows = within(self.options.server.timeout, admin.query(&look, &[])).await.map_err(|e| self.failed(&e))?;
        Ok(rows
            .iter()
            .map(|row| {
                let figure = |index: usize| row.try_get::<_, Option<i64>>(index).ok().flatten();
                match (figure(0), figure(1)) {
                    (Some(done), Some(expected)) => Entry {
                        reported: Reported::decode(&format!(
                            "{done} {expected} {} {}",
                            figure(2).unwrap_or(0),
                            figure(3).unwrap_or(0)
                        )),
                        unheard: true,
                    },
                    _ => Entry { reported: None, unheard: row.try_get::<_, bool>(4).unwrap_or(false) },
                }
            })
            .collect())
    }

    /// Says this participant has left (with its report, or without); returns how many members have left, and
    /// how many there are. Tables already gone mean the last other member out dropped them, having counted this
    /// one as left (it leaves at the same moment): nothing is left to do.
    async fn leave(&self, admin: &mut Client, member: &Participant) -> Answer<(u64, u64)> {
        let (timeout, tag) = (self.options.server.timeout, member.tag.as_str());
        let members = self.members();
        let gone = |error: &WorkerError| matches!(error, WorkerError::Server(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE));
        let dropped_by_another = Ok((0, u64::MAX));
        let leave = format!("UPDATE {members} SET left_run = true WHERE tag = $1");
        match within(timeout, admin.execute(&leave, &[&tag])).await {
            Ok(_) => {}
            Err(error) if gone(&error) => return dropped_by_another,
            Err(error) => return Err(self.failed(&error)),
        }
        let count =
            format!("SELECT count(*) FILTER (WHERE left_run), count(*) FROM {members} WHERE tag <> '{CONFIG_TAG}'");
        let row = match within(timeout, admin.query_one(&count, &[])).await {
            Ok(row) => row,
            Err(error) if gone(&error) => return dropped_by_another,
            Err(error) => return Err(self.failed(&error)),
        };
        let figure = |index| u64::try_from(row.try_get::<_, i64>(index).unwrap_or(0)).unwrap_or(0);
        Ok((figure(0), figure(1)))
    }

    async fn prepare_counter(&self, _admin: &mut Client) -> Answer<()> {
        // The table was made with its rows when the run was claimed.
        Ok(())
    }

    async fn final_value(&self, admin: &mut Client) -> Answer<u64> {
        self.total(admin).await
    }

    /// Drops the run's tables; what could not be dropped, named.
    async fn remove_run(&self, admin: &mut Client) -> Result<(), String> {
        within(self.options.server.timeout, admin.batch_execute(&self.table.drop_statement())).await.map_err(|error| {
            format!(
                "the run's tables ({} and {}) could not be dropped ({error}); drop them by hand",
                self.table.quoted(),
                self.members()
            )
        })
    }
}

/// An error that says the name is taken: the table exists (42P07), or two made it at once (the catalog's
/// unique index, 23505, or the table's row type, 42710, whichever the server met first).
fn is_name_taken(error: &WorkerError) -> bool {
    matches!(error, WorkerError::Server(e) if e.code().is_some_and(|code| {
        *code == SqlState::DUPLICATE_TABLE || *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::DUPLICATE_OBJECT
    }))
}

/// `text` as an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn the_members_table_fits_a_postgres_name() {
        let id = "x".repeat(counter_client::participants::MAX_RUN_ID);
        let table = Table::new(&id);
        // NAMEDATALEN is 64: a longer name would be cut short, silently.
        assert!(table.members_quoted().trim_matches('"').len() <= 63, "{}", table.members_quoted());
    }
}
