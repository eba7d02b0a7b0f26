//! The keys of one run, all under `counter-lab:<run-id>:`, and nothing else: a run never touches, flushes or
//! scans another key.

/// A run's keys.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) prefix: String,
    /// The run's shared configuration, set by the participant that claims the run id (`SET NX`).
    pub(crate) config: String,
    /// The counter (racy, mutex, atomic, optimistic).
    pub(crate) value: String,
    /// One field per worker (sharded).
    pub(crate) shards: String,
    /// The mutex.
    pub(crate) lock: String,
    /// Fenced: the last token granted with the lock (INCR).
    pub(crate) fence: String,
    /// Fenced: the newest token the counter has been read or written with; an older one is refused.
    pub(crate) fence_newest: String,
    /// Workers ready, over every participant.
    pub(crate) ready: String,
    /// Each participant's increments done and expected, as `done expected`, by participant tag (a hash).
    pub(crate) done: String,
    /// Every participant's tag (a set).
    pub(crate) members: String,
    /// Participants that have read the totals; the last one removes the keys.
    pub(crate) left: String,
    /// Before each participant's tag: a key it keeps alive while it runs (a heartbeat with a TTL).
    pub(crate) alive_prefix: String,
}

impl Keys {
    pub(crate) fn new(run_id: &str) -> Keys {
        let prefix = format!("counter-lab:{run_id}:");
        let key = |name: &str| format!("{prefix}{name}");
        Keys {
            config: key("config"),
            value: key("value"),
            shards: key("shards"),
            lock: key("lock"),
            fence: key("fence"),
            fence_newest: key("fence-newest"),
            ready: key("ready"),
            done: key("done"),
            members: key("members"),
            left: key("left"),
            alive_prefix: key("alive:"),
            prefix,
        }
    }

    /// Every key a run may create but the heartbeats (which expire by themselves).
    pub(crate) fn all(&self) -> [&str; 10] {
        [
            &self.config,
            &self.value,
            &self.shards,
            &self.lock,
            &self.fence,
            &self.fence_newest,
            &self.ready,
            &self.done,
            &self.members,
            &self.left,
        ]
    }

    /// A participant's heartbeat key.
    pub(crate) fn alive(&self, tag: &str) -> String {
        format!("{}{tag}", self.alive_prefix)
    }
}
