//! The coordinator of a run whose workers are clients of a server, written once for every [`Store`]: it claims
//! the run, connects the clients a few at a time, measures the tree once every one is connected, holds, meets
//! the other participants, starts every worker at once, joins them (the first failure stops the others), meets
//! again, reads the total, leaves, and fills in the report. A run alone removes its data whatever happened (but
//! with `--keep`); a participant that fails or is stopped leaves the run without a report, so that the others
//! need not wait for it, and the data goes with the last one out.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use counter_core::{
    cpu::CpuUsage,
    error::{Error as CoreError, RunInterrupted},
    hold,
    proc::memory,
    report::{Measurements, RunReport, WorkerTally},
    signals,
    workload::Start,
};
use tokio::sync::watch;

use crate::{
    NotReady,
    error::{CoordinationError, Error},
    participants::{
        Heartbeat, Met, RENDEZVOUS_POLL, RendezvousTimeout, Reported, Tally, last_out_after, participant_tag,
    },
    store::{Connect, Counted, Stop, Store, Totals, Worker},
};

/// How often the rendezvous looks at the members in its first second, and the meeting at the end always.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// The runtime thread's stack: the drivers' handshakes nest deeper than a small main-thread stack allows.
const RUNTIME_STACK_BYTES: usize = 2 << 20;

/// Runs the workload against `store` and reports what happened: the coordination on a current-thread runtime,
/// on a thread of its own with a stack of known size, so that a small main-thread limit (`ulimit -s 128`) is
/// not the drivers'.
pub fn run<S: Store>(store: &S) -> Result<RunReport, Error> {
    let runtime_failed = |detail: String| coordination(CoordinationError::Runtime(detail));
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("runtime".to_owned())
            .stack_size(RUNTIME_STACK_BYTES)
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| runtime_failed(format!("no tokio runtime: {source}")))?;
                let cpu_before = CpuUsage::of_this_process();
                // On the heap: the coordination's future holds every client's connection setup.
                runtime.block_on(Box::pin(coordinate(store, cpu_before)))
            })
            .map_err(|source| runtime_failed(format!("no runtime thread: {source}")))?;
        thread.join().unwrap_or_else(|_| Err(runtime_failed("the runtime thread panicked".to_owned())))
    })
}

/// [`run`], then `private` (the server the run started, if any) dropped: it stops once every connection of the
/// run is closed.
pub fn run_then_stop<S: Store, P>(store: &S, private: Option<P>) -> Result<RunReport, Error> {
    let outcome = run(store);
    drop(private);
    outcome
}

/// Runs the workload against `store` on the current runtime and reports what happened.
pub async fn coordinate<S: Store>(store: &S, cpu_before: CpuUsage) -> Result<RunReport, Error> {
    let mut admin = store.connect().await?;
    let tag = participant_tag();
    let member = store.claim(&mut admin, &tag).await?;
    let mut phase = Phase::Joined;
    let outcome = measure(store, &mut admin, &member, cpu_before, &mut phase).await;
    let left_behind = match (store.plan().sharing.is_shared(), phase) {
        // Alone, the run's data goes whatever happened (unless kept).
        (false, _) if store.plan().keep => None,
        (false, _) => remove(store, &mut admin).await,
        (true, Phase::Left) => None,
        // Before the start: taken out of the run, so that the others neither start with its workers counted
        // nor wait for it.
        (true, Phase::Joined) => withdraw(store, &mut admin, &member).await,
        // After it: a participant that stopped or failed is gone, not paused; the others need not wait for it.
        (true, Phase::Running) => abandon(store, &mut admin, &member).await,
    };
    if let Some(what) = left_behind {
        counter_core::output::eprint(&format!("{}: {what}\n", store.plan().model.binary()));
    }
    match outcome {
        Ok(report) => Ok(report),
        Err(Stop::Failed(error)) => Err(error),
        Err(Stop::Signal(signal)) => {
            let measured = Measurements { stopped: true, ..Measurements::default() };
            let report = RunReport::new(store.plan().model, store.plan().config, measured);
            Err(RunInterrupted { signal, partial: Box::new(report) }.into())
        }
    }
}

/// Where a participant is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A member, not started.
    Joined,
    /// Started, not yet left.
    Running,
    /// Left (with its report, whole or partial).
    Left,
}

/// Removes the run's data through `admin`, connected again if it broke; what could not be removed, named.
async fn remove<S: Store>(store: &S, admin: &mut S::Admin) -> Option<String> {
    if let Err(error) = store.reconnect(admin, false).await {
        return Some(format!("the run's data could not be removed (the server did not answer: {error})"));
    }
    store.remove_run(admin).await.err()
}

/// Takes this member out of a shared run that has not started; the data goes if nobody else is in it.
async fn withdraw<S: Store>(store: &S, admin: &mut S::Admin, member: &S::Member) -> Option<String> {
    if store.reconnect(admin, false).await.is_err() {
        return Some(
            "could not take itself out of the shared run: the others give up once its heartbeat lapses".into(),
        );
    }
    let remaining = store.withdraw(admin, member).await?;
    // Nobody else came, or every other member stopped before the start (the run can never start: a newcomer is
    // refused it): nothing of the run is left to keep.
    let others_stopped = remaining > 0 && store.roll(admin).await.is_ok_and(|roll| roll.stopped >= remaining);
    if (remaining == 0 || others_stopped) && !store.plan().keep { store.remove_run(admin).await.err() } else { None }
}

/// Leaves a shared run without a report; the data goes if every member has left.
async fn abandon<S: Store>(store: &S, admin: &mut S::Admin, member: &S::Member) -> Option<String> {
    if store.reconnect(admin, false).await.is_err() {
        return Some("left the shared run without saying so: the others stop waiting once its heartbeat lapses".into());
    }
    match store.leave(admin, member).await {
        Ok((left, everyone)) if left >= everyone && !store.plan().keep => store.remove_run(admin).await.err(),
        _ => None,
    }
}

/// What one worker's task ends with: its index and counts.
type Joined<S> = (u64, Counted<<<S as Store>::Worker as Worker>::Counts>);

/// The workers' tasks.
type Tasks<S> = tokio::task::JoinSet<Result<Joined<S>, <<S as Store>::Worker as Worker>::Error>>;

async fn measure<S: Store>(
    store: &S,
    admin: &mut S::Admin,
    member: &S::Member,
    cpu_before: CpuUsage,
    phase: &mut Phase,
) -> Result<RunReport, Stop> {
    let config = store.plan().config;
    let workers = config.workers();
    let mut probe = store.probe(admin).await?;
    let started = Instant::now();
    let (start_tx, start_rx) = watch::channel(Start::Waiting);
    let mut tasks = connect_workers(store, admin, member, &start_tx, start_rx).await?;
    let start_time = started.elapsed();
    // The tree, as ps and smem see it: this client process, and the private server's processes (if any).
    let mut pids = vec![std::process::id() as i32];
    pids.extend(store.server_processes());
    let taken = format!("all {workers} clients connected, before they started");
    let client_memory = memory::snapshot(&pids, taken).map_err(|error| Stop::Failed(CoreError::Probe(error).into()))?;
    let abort = |stop: Stop| {
        let _ = start_tx.send(Start::Abort);
        stop
    };
    store.probe_clients(admin, member, &mut probe).await.map_err(|error| abort(error.into()))?;
    if let Some(hold_for) = config.hold() {
        crate::announce_hold(
            store.plan().model,
            hold_for,
            workers,
            (store.plan().server_pid, store.plan().server),
            store.hold_try(),
        );
        if let hold::Outcome::Signal(signal) = crate::hold(hold_for).await {
            return Err(abort(Stop::Signal(signal)));
        }
    }
    let heartbeat = store.plan().sharing.is_shared().then(|| Heartbeat::start(store.beat(member)));
    rendezvous(store, admin, member).await.map_err(abort)?;
    store.prepare_counter(admin).await.map_err(|error| abort(error.into()))?;
    let keeper = store.keeper().map(Heartbeat::start);
    let go = Instant::now();
    let _ = start_tx.send(Start::Go);
    *phase = Phase::Running;
    let mut counted = join(store, admin, &mut tasks, &start_tx).await?;
    let wall_time = go.elapsed();
    if let Some(keeper) = keeper {
        keeper.stop().await;
    }
    let mut totals = Totals::default();
    let mut worker_reports = WorkerTally::with_capacity(workers);
    for (index, counted) in &mut counted {
        totals.add(counted);
        worker_reports.push(crate::worker_report(*index, counted.increments_done, counted.elapsed));
    }
    let local = Reported { done: totals.done, expected: config.expected(), unsettled: totals.unsettled };
    let (met, final_value) = end(store, admin, member, heartbeat, &local, phase).await?;
    let stopped = signals::received();
    let measured = Measurements {
        final_value,
        wall_time,
        start_time,
        cpu: CpuUsage::of_this_process().since(cpu_before),
        memory: client_memory,
        peak_rss_kib: memory::peak_rss_kib(pids[0]).ok(),
        retries: store.retries(&totals),
        extension: Some(store.figures(member, probe, &totals)),
        others: met.others,
        unsettled: Some(totals.unsettled),
        workers: worker_reports,
        stopped: stopped.is_some(),
        notes: store.notes(),
        trace: config.trace().map(|_| {
            let prevented = store.prevented(&totals);
            (std::mem::take(&mut totals.traces), prevented)
        }),
        ..Measurements::default()
    };
    let report = RunReport::new(store.plan().model, config, measured);
    match stopped {
        Some(signal) => Err(Stop::Failed(RunInterrupted { signal, partial: Box::new(report) }.into())),
        None => Ok(report),
    }
}

/// After the join: the coordinator's connection made again (at once when a stop signal came), the meeting at the
/// end, the total, and, in a shared run, the leaving (the last out removes the run's data). From here a stop signal
/// outranks the server's failure: the run was stopped.
async fn end<S: Store>(
    store: &S,
    admin: &mut S::Admin,
    member: &S::Member,
    heartbeat: Option<Heartbeat>,
    local: &Reported,
    phase: &mut Phase,
) -> Result<(Met, u64), Stop> {
    let or_stopped = |error: Error| match signals::received() {
        Some(signal) => Stop::Signal(signal),
        None => Stop::Failed(error),
    };
    store.reconnect(admin, signals::received().is_none()).await.map_err(or_stopped)?;
    let met = meet_at_the_end(store, admin, member, local).await?;
    // Read once every participant has finished (or gone unheard), before any leaves.
    let final_value = store.final_value(admin).await.map_err(or_stopped)?;
    if let Some(heartbeat) = heartbeat {
        heartbeat.stop().await;
        let (left, everyone) = store.leave(admin, member).await.map_err(or_stopped)?;
        *phase = Phase::Left;
        if (left >= met.last_out_after || left >= everyone)
            && !store.plan().keep
            && let Err(what) = store.remove_run(admin).await
        {
            counter_core::output::eprint(&format!("{}: {what}\n", store.plan().model.binary()));
        }
    }
    Ok((met, final_value))
}

/// Every worker connected and prepared, each on a task of its own that waits at the start line; or the first
/// failure, or a stop signal, either of which sends every waiting worker home.
async fn connect_workers<S: Store>(
    store: &S,
    admin: &mut S::Admin,
    member: &S::Member,
    start_tx: &watch::Sender<Start>,
    start_rx: watch::Receiver<Start>,
) -> Result<Tasks<S>, Stop> {
    let workers = store.plan().config.workers();
    let ready = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    // A server takes new connections from a queue of its listen backlog: a thousand clients connecting at once
    // would overflow it, so they connect a few at a time.
    let connecting = Arc::new(tokio::sync::Semaphore::new(S::CONNECTING_AT_ONCE));
    for index in 0..workers {
        let connector = store.connector(member, index);
        let (mut start, ready, connecting) = (start_rx.clone(), Arc::clone(&ready), Arc::clone(&connecting));
        tasks.spawn(async move {
            let permit = connecting.acquire_owned().await;
            let worker = connector.connect(start.clone()).await?;
            drop(permit);
            ready.fetch_add(1, Ordering::Relaxed);
            let go = start.wait_for(|start| *start != Start::Waiting).await.map(|start| *start).ok();
            if go != Some(Start::Go) {
                return Ok((index, Counted::default()));
            }
            worker.run().await.map(|counted| (index, counted))
        });
    }
    match crate::until_connected(&mut tasks, &ready, workers, start_tx).await {
        Ok(()) => Ok(tasks),
        Err(NotReady::Signal(signal)) => Err(Stop::Signal(signal)),
        Err(NotReady::Failed(error)) => Err(Stop::Failed(store.worker_failed(admin, error).await)),
        Err(NotReady::Panicked { ready }) => Err(panicked(workers.saturating_sub(ready))),
    }
}

/// Joins every worker. The one failure policy: the first failure ends the run, and the others are told to stop
/// at once (their increments under way end as they do: acknowledged, failed or indeterminate).
async fn join<S: Store>(
    store: &S,
    admin: &mut S::Admin,
    tasks: &mut Tasks<S>,
    start_tx: &watch::Sender<Start>,
) -> Result<Vec<Joined<S>>, Stop> {
    let mut counted: Vec<Joined<S>> = Vec::with_capacity(usize::try_from(store.plan().config.workers()).unwrap_or(0));
    let mut failure = None;
    while let Some(joined) = crate::next_or_stop(tasks, start_tx).await {
        match joined {
            Ok(Ok(done)) => counted.push(done),
            Ok(Err(error)) => {
                let _ = start_tx.send(Start::Abort);
                if failure.is_none() {
                    failure = Some(Stop::Failed(store.worker_failed(admin, error).await));
                }
            }
            Err(_) => {
                let _ = start_tx.send(Start::Abort);
                failure.get_or_insert_with(|| panicked(counted.len() as u64));
            }
        }
    }
    if let Some(stop) = failure {
        return Err(stop);
    }
    counted.sort_by_key(|(index, _)| *index);
    Ok(counted)
}

fn panicked(worker: u64) -> Stop {
    Stop::Failed(coordination(CoordinationError::WorkerPanicked { worker }))
}

fn coordination(error: CoordinationError) -> Error {
    counter_core::error::RunError::Frontend(error.into())
}

/// Every worker of every participant ready before any starts: this member says its workers are ready and waits
/// until every member's are, for at most the rendezvous timeout. A member that stopped meanwhile (its heartbeat
/// lapsed) ends the wait at once: it would never come. On any way out but the start, the coordinator takes this
/// member out of the run.
async fn rendezvous<S: Store>(store: &S, admin: &mut S::Admin, member: &S::Member) -> Result<(), Stop> {
    let sharing = store.plan().sharing;
    if !sharing.is_shared() {
        return Ok(());
    }
    let everyone = store.plan().config.workers().saturating_mul(sharing.participants);
    let waiting = Instant::now();
    store.say_ready(admin, member).await?;
    loop {
        if let Some(signal) = signals::received() {
            return Err(Stop::Signal(signal));
        }
        let roll = store.roll(admin).await?;
        if roll.ready_workers >= everyone {
            return Ok(());
        }
        // A member unheard for longer than the heartbeat's lapse has stopped (or is paused): the run cannot
        // start with it, nor without it.
        if roll.stopped > 0 {
            return Err(Stop::Failed(coordination(CoordinationError::ParticipantStopped {
                run_id: store.plan().run_id.to_owned(),
                stopped: roll.stopped,
            })));
        }
        if waiting.elapsed() > sharing.rendezvous_timeout {
            return Err(Stop::Failed(coordination(CoordinationError::Rendezvous(RendezvousTimeout {
                run_id: store.plan().run_id.to_owned(),
                ready: roll.ready_workers,
                everyone,
                waited: sharing.rendezvous_timeout,
            }))));
        }
        // Looked at often at first, then at most ten times a poll: a long wait need not cost many requests.
        let pause = if waiting.elapsed() < Duration::from_secs(1) { LOOK_EVERY } else { RENDEZVOUS_POLL / 10 };
        tokio::time::sleep(pause).await;
    }
}

/// With participants: reports this one's increments, waits until every other has reported or gone unheard, and
/// returns their share. Stopped after it reported, it does not wait, and its report is partial.
async fn meet_at_the_end<S: Store>(
    store: &S,
    admin: &mut S::Admin,
    member: &S::Member,
    local: &Reported,
) -> Result<Met, Stop> {
    let participants = store.plan().sharing.participants;
    if participants == 1 {
        return Ok(Met { others: None, last_out_after: 0 });
    }
    store.report(admin, member, local).await?;
    loop {
        let stopped = signals::received().is_some();
        let entries = match store.entries(admin).await {
            Ok(entries) => entries,
            Err(error) if !stopped => return Err(error.into()),
            Err(_) => Vec::new(),
        };
        let reports: Vec<Reported> = entries.iter().filter_map(|entry| entry.reported).collect();
        let missing = (entries.len() - reports.len()) as u64;
        let unheard = entries.iter().filter(|entry| entry.reported.is_none() && entry.unheard).count() as u64;
        if stopped || missing == 0 || unheard == missing {
            let reported = reports.len() as u64;
            let members = entries.len() as u64;
            let tally = Tally::of(reports, missing);
            return Ok(Met {
                others: Some(tally.others(participants, local, store.plan().config)),
                last_out_after: last_out_after(reported, missing, stopped.then_some(members)),
            });
        }
        tokio::time::sleep(LOOK_EVERY * 5).await;
    }
}
