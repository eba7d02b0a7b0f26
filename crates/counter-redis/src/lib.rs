//! The shared-counter experiment with the counter in Redis: each worker is a tokio task with its own connection,
//! as a client on another machine would be, and the seed's race comes back at network scale.
//!
//! By default the binary starts a private `redis-server` (module `server`) on a Unix socket in a fresh directory,
//! with no TCP port and no persistence, and stops it on every way out; `--redis URL` uses a server that is
//! already there (`redis://` or `unix://`, credentials in the URL). The strategies map one to one (module `worker`):
//! racy is GET then SET (the window is a round trip), mutex a lock key taken with `SET NX PX` and released with a
//! compare-and-delete script, atomic is INCR, sharded HINCRBY on a field per worker, optimistic
//! WATCH / GET / MULTI / SET / EXEC retried when EXEC fails.
//!
//! With `--run-id ID --participants N`, N copies of the binary, on any machines that reach the same server,
//! meet in Redis: every worker of every participant is connected before any starts, each participant prints
//! its own report, and the counts (final value, lost updates) are over all of them. A run's keys live under
//! `counter-lab:<run-id>:` and are removed at the end (`--keep` keeps them); nothing else on the server is
//! touched.
//!
//! Every command has a timeout (`--timeout`): a server that stops answering ends the run with an error naming
//! it, never a hang. TLS (`rediss://`) is not built in: such a URL is refused, saying so.
#![warn(missing_docs)]

mod figures;
mod keys;
mod options;
mod participants;
mod run;
mod served;
mod server;
mod store;
mod worker;

use counter_core::{
    cli::Frontend,
    config::{Abilities, Config, ConfigError},
    model::Model,
    report::RunReport,
};
use redis::Client;

pub use crate::{
    figures::RedisFigures,
    options::{Error, PASSWORD_VARIABLE, RedisOptions, ServerError},
};
use crate::{
    keys::Keys,
    options::{connection_info, describe},
    run::Run,
    server::RedisServer,
};

/// The model this crate runs.
pub const MODEL: Model = Model::Redis;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: Some(counter_client::NO_POOL),
        no_fencing: None,
    },
    work_help: counter_client::WORK_HELP,
    words: figures::WORDS,
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());

/// Runs the workload against the counter in Redis and reports what happened.
pub fn run(config: &Config, options: &RedisOptions) -> Result<RunReport, Error> {
    options.validate()?;
    counter_client::make_room_for(config.workers())?;
    let private = match &options.server.url {
        Some(_) => None,
        None => Some(RedisServer::start(config.workers())?),
    };
    let url = match (&private, &options.server.url) {
        (Some(private), _) => private.url(),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("a private server is started when no URL is given"),
    };
    // The URL is never shown (it may hold a password, in any shape): only what was parsed from it.
    let invalid = |error: redis::RedisError| {
        ConfigError::Conflict(format!(
            "invalid --redis URL (its {} characters are not shown): {error}; a redis://[:password@]host[:port][/db] \
             or unix:///path/to/socket[?db=N] URL is expected, the password better in {PASSWORD_VARIABLE}",
            url.chars().count()
        ))
    };
    let (info, password) = connection_info(&url).map_err(invalid)?;
    let server = private.as_ref().map_or_else(|| describe(&info, password), RedisServer::describe);
    let client = Client::open(info).map_err(invalid)?;
    let id = options.server.sharing.id();
    let run = Run {
        config,
        options,
        client,
        server,
        server_pid: private.as_ref().map(RedisServer::pid),
        password,
        keys: Keys::new(&id),
        id,
    };
    counter_client::coordinator::run_then_stop(&run, private)
}

/// Connections a served server allows: many runs of a few clients each, one after another.
const SERVED_CONNECTIONS: u64 = 1000;

/// `--serve`: starts a private server, prints the URL that `--redis` takes, and keeps the server, answering
/// requests about it (`counter_client::serve`), until standard input closes or a stop signal arrives; then
/// stops it and removes its directory. For a tool that runs this binary many times, so that a server outlives
/// one run and nothing of it outlives this process (a `kill -9` included: the next start removes what that left).
pub fn serve() -> Result<(), Error> {
    let private = RedisServer::start(SERVED_CONNECTIONS)?;
    counter_client::serve::serve(&mut served::ServedRedis::new(private));
    Ok(())
}
