//! The MariaDB store as the shared coordinator drives it (`counter_client::store::Store`): the coordinator's
//! connection, the workers (module `worker`), the run's shared record (module `participants`), and the
//! server's figures: the private server's memory and threads before and with the clients.

use std::sync::Arc;

use counter_client::{
    sql::{SqlCounts, SqlFigures, Statement},
    store::{Connect, NoKeeper, Plan, Store, Totals},
};
use counter_core::{config::Strategy, extension::Extension, proc::memory::ProcessMemory, workload::Start};
use mysql_async::{Conn, Row, prelude::Queryable};
use tokio::sync::watch;

use crate::{
    client::{WorkerError, first, within},
    figures::MariadbFigures,
    options::{Error, Snapshot},
    participants::{MariadbBeat, Participant},
    run::{Answer, Run},
    worker::{Job, Worker},
};

/// What a worker's task carries until it has connected.
pub(crate) struct Connector {
    job: Arc<Job>,
    /// Its own row (sharded).
    shard: u64,
}

impl Connect for Connector {
    type Worker = Worker;

    async fn connect(self, start: watch::Receiver<Start>) -> Result<Worker, WorkerError> {
        Worker::connect(self.job, self.shard, start).await
    }
}

/// The server's process before the clients connect, and with them.
#[derive(Default)]
pub(crate) struct Probe {
    before: Option<ProcessMemory>,
    /// Threads the server keeps idle for the next connections (a connection that ended leaves its thread there).
    cached: Option<u64>,
    with_clients: Option<ProcessMemory>,
}

impl Store for Run<'_> {
    type Worker = Worker;
    type Connector = Connector;
    type Probe = Probe;
    type Beat = MariadbBeat;
    type Keeper = NoKeeper;

    fn plan(&self) -> Plan<'_> {
        Plan::of(crate::MODEL, self.config, &self.options.server, (&self.id, &self.server, self.server_pid))
    }

    fn hold_try(&self) -> String {
        self.server_pid.map_or_else(
            || "mariadb -e 'SHOW PROCESSLIST'".to_owned(),
            |server| format!("ps -T -o spid,comm -p {server}"),
        )
    }

    async fn connect(&self) -> Answer<Conn> {
        self.connect_first().await
    }

    async fn answers(&self, admin: &mut Conn) -> bool {
        within(self.timeout(), admin.ping()).await.is_ok()
    }

    async fn connect_again(&self) -> Answer<Conn> {
        self.admin_connection().await.map_err(|error| self.failed(&error))
    }

    async fn claim(&self, admin: &mut Conn, tag: &str) -> Answer<Participant> {
        let shard_base = counter_client::sql::record::claim(self, admin, tag).await?;
        let tag = tag.to_owned();
        // Each connection of a worker's records itself as this participant's, as it begins.
        let register =
            format!("REPLACE INTO {} VALUES (CONNECTION_ID(), {})", self.table.connections(), std::process::id());
        let job = Job {
            config: self.config.clone(),
            statements: Statement::ALL.map(|statement| self.table.text(statement)),
            opts: self.session().opts(&self.opts, Some(register)),
            timeout: self.timeout(),
            patience: self.patience(),
        };
        Ok(Participant { tag, shard_base, job: Arc::new(job) })
    }

    async fn probe(&self, admin: &mut Conn) -> Answer<Probe> {
        let cached = within(self.timeout(), admin.query_first::<Row, _>("SHOW GLOBAL STATUS LIKE 'Threads\\_cached'"))
            .await
            .and_then(|row| first::<u64>(row.as_ref(), 1))
            .map_err(|error| self.failed(&error))?;
        Ok(Probe { before: self.server_memory(), cached: Some(cached), with_clients: None })
    }

    fn connector(&self, member: &Participant, index: u64) -> Connector {
        Connector { job: Arc::clone(&member.job), shard: member.shard_base + index }
    }

    async fn worker_failed(&self, _admin: &mut Conn, error: WorkerError) -> Error {
        self.failed(&error)
    }

    async fn probe_clients(&self, _admin: &mut Conn, _member: &Participant, probe: &mut Probe) -> Answer<()> {
        probe.with_clients = self.server_memory();
        Ok(())
    }

    fn beat(&self, member: &Participant) -> MariadbBeat {
        MariadbBeat {
            opts: self.session().opts(&self.opts, None),
            statement: counter_client::sql::record::beat_statement(self, &member.tag),
            timeout: self.timeout(),
            conn: None,
        }
    }

    fn figures(&self, _member: &Participant, probe: Probe, totals: &Totals<SqlCounts>) -> Extension {
        let added = probe.before.as_ref().zip(probe.with_clients.as_ref());
        MariadbFigures {
            sql: SqlFigures::of(
                (&self.server, self.options.isolation, self.table.name()),
                totals,
                (
                    probe.before.as_ref().map(|before| before.pss_kib),
                    probe.with_clients.as_ref().map(|with| with.pss_kib),
                ),
            ),
            snapshot_isolation: self.session().snapshot.map(|snapshot| snapshot == Snapshot::On),
            refused: totals.own.refused,
            server_uss_added_bytes: added.map(|(before, with)| (with.uss_kib as i64 - before.uss_kib as i64) * 1024),
            server_threads_before: probe.before.as_ref().map(|before| before.threads),
            server_threads_cached_before: probe.cached,
            server_threads_with_clients: probe.with_clients.as_ref().map(|with| with.threads),
        }
        .extension(self.config.strategy())
    }

    fn retries(&self, totals: &Totals<SqlCounts>) -> Option<u64> {
        // The compare-and-swap strategy's own retries; refused transactions are the server's figure.
        (self.config.strategy() == Strategy::Optimistic).then_some(totals.own.version_conflicts)
    }

    fn prevented(&self, totals: &Totals<SqlCounts>) -> Option<u64> {
        Some(totals.own.refused)
    }

    fn notes(&self) -> Vec<String> {
        let options = self.options;
        let snapshot = match self.session().snapshot {
            Some(Snapshot::On) => "innodb_snapshot_isolation on",
            Some(Snapshot::Off) => "innodb_snapshot_isolation off",
            None => "a server without innodb_snapshot_isolation",
        };
        let mut notes = vec![format!(
            "each worker is a tokio task with its own connection, served by a thread of the server's; every \
             transaction at {}, {snapshot}; memory is the tree's: this client process and the private server's, if any",
            options.isolation.sql()
        )];
        notes.extend(counter_client::sql::common_notes(self.config.strategy(), options.server.sharing.is_shared()));
        notes.push(
            "a transaction refused with error 1020 (snapshot isolation), 1213 (deadlock) or 1205 (lock wait timeout) \
             is rolled back and made again, and counted under refused"
                .to_owned(),
        );
        notes
    }
}
