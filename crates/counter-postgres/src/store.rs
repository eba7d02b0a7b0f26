//! The PostgreSQL store as the shared coordinator drives it (`counter_client::store::Store`): the coordinator's
//! connection, the workers (module `worker`), the run's shared record (module `participants`), and the server's
//! figures: the private server's PSS before and with the clients, and the backend process of each connection.

use std::sync::Arc;

use counter_client::{
    sql::{SqlCounts, SqlFigures},
    store::{Connect, NoKeeper, Plan, Store, Totals},
};
use counter_core::{config::Strategy, extension::Extension, proc, workload::Start};
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::{
    client::{Reconnect, WorkerError, connect, within},
    figures::PostgresFigures,
    options::{Error, Isolation},
    participants::{Participant, PostgresBeat},
    run::{Answer, Run},
    worker::{Job, Worker},
};

/// What a worker's task carries until it has connected.
pub(crate) struct Connector {
    connection: tokio_postgres::Config,
    isolation: Isolation,
    timeout: std::time::Duration,
    job: Arc<Job>,
    /// Its own row (sharded).
    shard: u64,
}

impl Connect for Connector {
    type Worker = Worker;

    async fn connect(self, start: watch::Receiver<Start>) -> Result<Worker, WorkerError> {
        let Connector { connection, isolation, timeout, job, shard } = self;
        let client = connect(&connection, isolation, timeout).await?;
        let reconnect = Reconnect { connection, isolation, patience: counter_client::reconnect_patience(timeout) };
        Worker::prepare(client, job, shard, timeout, reconnect, start).await
    }
}

/// The server's figures around the clients' connecting.
#[derive(Default)]
pub(crate) struct Probe {
    server_pss_before_kib: Option<u64>,
    server_pss_with_clients_kib: Option<u64>,
    backends_measured: u64,
    backend_pss_kib: Option<f64>,
    backend_uss_kib: Option<f64>,
}

impl Store for Run<'_> {
    type Worker = Worker;
    type Connector = Connector;
    type Probe = Probe;
    type Beat = PostgresBeat;
    type Keeper = NoKeeper;

    fn plan(&self) -> Plan<'_> {
        Plan::of(crate::MODEL, self.config, &self.options.server, (&self.id, &self.server, self.server_pid))
    }

    fn server_processes(&self) -> Vec<i32> {
        self.server_pid.map(|server| proc::process_tree(server).unwrap_or_else(|_| vec![server])).unwrap_or_default()
    }

    fn hold_try(&self) -> String {
        self.server_pid.map_or_else(
            || "psql -c 'SELECT pid, application_name FROM pg_stat_activity'".to_owned(),
            |server| format!("ps -o pid,rss,cmd --ppid {server}"),
        )
    }

    async fn connect(&self) -> Answer<Client> {
        self.connect_first().await
    }

    async fn answers(&self, admin: &mut Client) -> bool {
        !admin.is_closed() && within(self.options.server.timeout, admin.batch_execute("SELECT 1")).await.is_ok()
    }

    async fn connect_again(&self) -> Answer<Client> {
        self.admin_connection().await.map_err(|error| self.failed(&error))
    }

    async fn claim(&self, admin: &mut Client, tag: &str) -> Answer<Participant> {
        let shard_base = counter_client::sql::record::claim(self, admin, tag).await?;
        let job = Job { config: self.config.clone(), table: self.table.clone() };
        Ok(Participant { prefix: format!("counter-lab-{tag}"), tag: tag.to_owned(), shard_base, job: Arc::new(job) })
    }

    async fn probe(&self, _admin: &mut Client) -> Answer<Probe> {
        Ok(Probe { server_pss_before_kib: self.server_pss_kib(), ..Probe::default() })
    }

    fn connector(&self, member: &Participant, index: u64) -> Connector {
        let mut connection = self.connection.clone();
        connection.application_name(format!("{}-{index}", member.prefix));
        Connector {
            connection,
            isolation: self.options.isolation,
            timeout: self.options.server.timeout,
            job: Arc::clone(&member.job),
            shard: member.shard_base + index,
        }
    }

    async fn worker_failed(&self, _admin: &mut Client, error: WorkerError) -> Error {
        self.failed(&error)
    }

    async fn probe_clients(&self, admin: &mut Client, member: &Participant, probe: &mut Probe) -> Answer<()> {
        probe.server_pss_with_clients_kib = self.server_pss_kib();
        (probe.backends_measured, probe.backend_pss_kib, probe.backend_uss_kib) =
            self.backends(admin, &member.prefix).await?;
        Ok(())
    }

    fn beat(&self, member: &Participant) -> PostgresBeat {
        let mut connection = self.connection.clone();
        connection.application_name("counter-lab");
        PostgresBeat {
            connection,
            isolation: self.options.isolation,
            statement: counter_client::sql::record::beat_statement(self, &member.tag),
            timeout: self.options.server.timeout,
            client: None,
        }
    }

    fn figures(&self, _member: &Participant, probe: Probe, totals: &Totals<SqlCounts>) -> Extension {
        PostgresFigures {
            sql: SqlFigures::of(
                (&self.server, self.options.isolation, self.table.name()),
                totals,
                (probe.server_pss_before_kib, probe.server_pss_with_clients_kib),
            ),
            serialization_failures: totals.own.refused,
            backends_measured: probe.backends_measured,
            backend_pss_kib: probe.backend_pss_kib,
            backend_uss_kib: probe.backend_uss_kib,
        }
        .extension(self.config.strategy())
    }

    fn retries(&self, totals: &Totals<SqlCounts>) -> Option<u64> {
        // The compare-and-swap strategy's own retries; refused transactions are the server's figure.
        (self.config.strategy() == Strategy::Optimistic).then_some(totals.own.version_conflicts)
    }

    /// What this run's choices mean, for the report.
    fn prevented(&self, totals: &Totals<SqlCounts>) -> Option<u64> {
        Some(totals.own.refused)
    }

    fn notes(&self) -> Vec<String> {
        let (config, options) = (self.config, self.options);
        let mut notes = vec![format!(
            "each worker is a tokio task with its own connection, served by a backend process of the server; every \
             transaction at {}; memory is the tree's: this client process and the private server's processes, if any",
            options.isolation.sql()
        )];
        notes.extend(counter_client::sql::common_notes(config.strategy(), options.server.sharing.is_shared()));
        if options.isolation != Isolation::ReadCommitted {
            notes.push(
                "a transaction refused with SQLSTATE 40001 (or 40P01) is rolled back and made again, and counted under \
                 refused"
                    .to_owned(),
            );
        }
        notes
    }
}
