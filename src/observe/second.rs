//! One node's second: what changed between two samples of it (rates, deltas) and the events its state
//! changes mean (a BGSAVE or an AOF rewrite starting or ending, a fork, a role change). Pure: the
//! sampler decides which two samples are compared.

use super::info::NodeSample;

/// What one node did in one second of the measured window. Every value is None when unknown (the
/// node did not answer, refuses INFO, or does not report the field), never zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSecond {
    /// 1-based, like the client timeline's `elapsed_s`: second `sec` ends `sec` intervals after the
    /// window's start (the last one may be partial, see `span_s`).
    pub sec: usize,
    /// The wall time this second covers (the interval, less for the partial last one).
    pub span_s: f64,
    /// "127.0.0.1:7000" (or a unix socket's path).
    pub node: String,
    /// "master" or "replica"; the last known role when the node is missing, "" when never known.
    pub role: String,
    /// The node did not answer in time this second.
    pub missing: bool,
    /// CPU cores busy: Δ(used_cpu_sys + used_cpu_user) / Δwall.
    pub cpu_cores: Option<f64>,
    /// The main thread's share of a core (Redis ≥ 6.2).
    pub main_cpu: Option<f64>,
    /// Δtotal_commands_processed less the sampler's own commands: the load's (and other clients').
    pub commands: Option<u64>,
    /// The server's instantaneous_ops_per_sec.
    pub ops_per_sec: Option<u64>,
    pub used_memory: Option<u64>,
    pub rss: Option<u64>,
    pub fragmentation: Option<f64>,
    pub clients: Option<u64>,
    pub blocked: Option<u64>,
    pub evicted: Option<u64>,
    pub expired: Option<u64>,
    pub hits: Option<u64>,
    pub misses: Option<u64>,
    /// A BGSAVE is in progress at the second's end.
    pub bgsave: Option<bool>,
    /// An AOF rewrite is in progress at the second's end.
    pub aof_rewrite: Option<bool>,
    pub delayed_fsync: Option<u64>,
    pub forks: Option<u64>,
    pub latest_fork_usec: Option<u64>,
    /// master_repl_offset.
    pub repl_offset: Option<i64>,
    /// Replicas: their master's master_repl_offset − their slave_repl_offset, both sampled this
    /// second.
    pub lag_bytes: Option<i64>,
    /// Replicas: master_last_io_seconds_ago.
    pub lag_s: Option<i64>,
    /// `bgsave-start`, `bgsave-end`, `aof-rewrite-start`, `aof-rewrite-end`, `fork`, `node-missing`,
    /// `node-back`, `role-change`, `restart` (a new server process: counters started again).
    pub events: Vec<String>,
}

/// `cur − prev` of a counter; None when either is unknown or the counter went back (a reset).
pub fn delta(prev: Option<u64>, cur: Option<u64>) -> Option<u64> {
    cur?.checked_sub(prev?)
}

/// Seconds of CPU per second of wall time between two samples.
fn rate(prev: &NodeSample, cur: &NodeSample, cpu: fn(&NodeSample) -> Option<f64>) -> Option<f64> {
    let wall = cur.at.checked_duration_since(prev.at)?.as_secs_f64();
    let used = cpu(cur)? - cpu(prev)?;
    (wall > 0.0 && used >= 0.0).then(|| used / wall)
}

/// The values of a second ending with `cur`. `prev` is the same server's sample from the second
/// before, or None (first sample, a gap, a restart): then rates and deltas are unknown.
pub fn values(prev: Option<&NodeSample>, cur: &NodeSample) -> ServerSecond {
    let d = |f: fn(&NodeSample) -> Option<u64>| delta(prev.and_then(f), f(cur));
    ServerSecond {
        role: cur.role.clone().unwrap_or_default(),
        cpu_cores: prev.and_then(|p| rate(p, cur, NodeSample::cpu)),
        main_cpu: prev.and_then(|p| rate(p, cur, NodeSample::main_cpu)),
        commands: d(|s| s.total_commands_processed),
        ops_per_sec: cur.instantaneous_ops_per_sec,
        used_memory: cur.used_memory,
        rss: cur.used_memory_rss,
        fragmentation: cur.mem_fragmentation_ratio,
        clients: cur.connected_clients,
        blocked: cur.blocked_clients,
        evicted: d(|s| s.evicted_keys),
        expired: d(|s| s.expired_keys),
        hits: d(|s| s.keyspace_hits),
        misses: d(|s| s.keyspace_misses),
        bgsave: cur.rdb_bgsave_in_progress,
        aof_rewrite: cur.aof_rewrite_in_progress,
        delayed_fsync: d(|s| s.aof_delayed_fsync),
        forks: d(|s| s.total_forks),
        latest_fork_usec: cur.latest_fork_usec,
        repl_offset: cur.master_repl_offset,
        lag_s: cur.master_last_io_seconds_ago.filter(|_| !cur.is_master()),
        ..ServerSecond::default()
    }
}

/// AOF rewrites that started between `prev` and `cur` (same server): the rise of `aof_rewrites`
/// (Redis 7) catches rewrites that began and ended between two samples; without it, a flag that
/// went up.
pub fn rewrites_started(prev: &NodeSample, cur: &NodeSample) -> u64 {
    let rose = |f: fn(&NodeSample) -> Option<bool>| f(prev) == Some(false) && f(cur) == Some(true);
    match delta(prev.aof_rewrites, cur.aof_rewrites) {
        Some(n) => n,
        None => u64::from(rose(|s| s.aof_rewrite_in_progress)),
    }
}

/// The state changes between `prev` and `cur` of the same server process, in the order they
/// happened as far as two samples can tell.
pub fn events(prev: &NodeSample, cur: &NodeSample) -> Vec<String> {
    let mut out = Vec::new();
    let was = |f: fn(&NodeSample) -> Option<bool>| (f(prev), f(cur));
    let bgsave = was(|s| s.rdb_bgsave_in_progress);
    let rewrite = was(|s| s.aof_rewrite_in_progress);
    let started = rewrites_started(prev, cur) > 0;
    if delta(prev.total_forks, cur.total_forks).is_some_and(|n| n > 0) {
        out.push("fork");
    }
    if bgsave == (Some(false), Some(true)) {
        out.push("bgsave-start");
    }
    if bgsave == (Some(true), Some(false)) {
        out.push("bgsave-end");
    }
    // `aof_rewrites` rises when a rewrite starts (Redis 7), so one that started and finished between
    // two samples still shows: start, then end. One that ended and another that started in the same
    // second (rare) reads as one.
    if started || rewrite == (Some(false), Some(true)) {
        out.push("aof-rewrite-start");
        if rewrite.1 == Some(false) {
            out.push("aof-rewrite-end");
        }
    } else if rewrite == (Some(true), Some(false)) {
        out.push("aof-rewrite-end");
    }
    if prev.role.is_some() && cur.role.is_some() && prev.role != cur.role {
        out.push("role-change");
    }
    out.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::info::Info;
    use std::time::{Duration, Instant};

    fn sample(at: Instant, text: &str) -> NodeSample {
        NodeSample::from_info(&Info::parse(text), at)
    }

    #[test]
    fn rates_and_deltas_between_two_samples() {
        let t = Instant::now();
        let a = sample(
            t,
            "role:master\nused_cpu_sys:1.0\nused_cpu_user:2.0\nused_cpu_sys_main_thread:0.5\n\
             used_cpu_user_main_thread:1.0\ntotal_commands_processed:100\nkeyspace_hits:5\n\
             expired_keys:7\nused_memory:10\ninstantaneous_ops_per_sec:3\n",
        );
        let b = sample(
            t + Duration::from_millis(500),
            "role:master\nused_cpu_sys:1.25\nused_cpu_user:2.25\nused_cpu_sys_main_thread:0.6\n\
             used_cpu_user_main_thread:1.1\ntotal_commands_processed:350\nkeyspace_hits:9\n\
             expired_keys:7\nused_memory:20\ninstantaneous_ops_per_sec:500\n",
        );
        let row = values(Some(&a), &b);
        assert!((row.cpu_cores.unwrap() - 1.0).abs() < 1e-9, "{row:?}");
        assert!((row.main_cpu.unwrap() - 0.4).abs() < 1e-9, "{row:?}");
        assert_eq!(row.commands, Some(250));
        assert_eq!(row.hits, Some(4));
        assert_eq!(row.expired, Some(0), "a known zero stays zero");
        assert_eq!(row.misses, None, "not reported: unknown");
        assert_eq!(row.used_memory, Some(20));
        assert_eq!(row.ops_per_sec, Some(500));
        assert_eq!(row.role, "master");
        assert_eq!(row.lag_s, None);
        // Without a previous sample only the gauges are known.
        let first = values(None, &b);
        assert_eq!((first.cpu_cores, first.commands), (None, None));
        assert_eq!(first.used_memory, Some(20));
        // A counter that went back (restart, RESETSTAT) is unknown, not a huge number.
        assert_eq!(values(Some(&b), &a).commands, None);
        assert_eq!(delta(Some(5), Some(3)), None);
        assert_eq!(delta(None, Some(3)), None);
    }

    #[test]
    fn state_changes_become_events() {
        let t = Instant::now();
        let s = |text: &str| sample(t, text);
        let idle = s(
            "role:master\nrdb_bgsave_in_progress:0\naof_rewrite_in_progress:0\n\
                      aof_rewrites:2\ntotal_forks:4\n",
        );
        let saving = s(
            "role:master\nrdb_bgsave_in_progress:1\naof_rewrite_in_progress:0\n\
                        aof_rewrites:2\ntotal_forks:5\n",
        );
        assert_eq!(events(&idle, &saving), ["fork", "bgsave-start"]);
        assert_eq!(events(&saving, &idle), ["bgsave-end"]);
        let rewriting = s(
            "role:master\nrdb_bgsave_in_progress:0\naof_rewrite_in_progress:1\n\
                           aof_rewrites:3\ntotal_forks:5\n",
        );
        assert_eq!(events(&idle, &rewriting), ["fork", "aof-rewrite-start"]);
        assert_eq!(events(&rewriting, &idle), ["aof-rewrite-end"]);
        // Started and finished between two samples: both, in order.
        let done = s(
            "role:master\nrdb_bgsave_in_progress:0\naof_rewrite_in_progress:0\n\
                      aof_rewrites:3\ntotal_forks:5\n",
        );
        assert_eq!(
            events(&idle, &done),
            ["fork", "aof-rewrite-start", "aof-rewrite-end"]
        );
        assert_eq!(rewrites_started(&idle, &done), 1);
        assert!(events(&done, &done).is_empty());
        let replica = s("role:slave\n");
        assert_eq!(events(&idle, &replica), ["role-change"]);
    }

    #[test]
    fn without_aof_rewrites_the_flag_counts_starts() {
        let t = Instant::now();
        let off = sample(t, "aof_rewrite_in_progress:0\n");
        let on = sample(t, "aof_rewrite_in_progress:1\n");
        assert_eq!(rewrites_started(&off, &on), 1);
        assert_eq!(rewrites_started(&on, &on), 0);
        assert_eq!(rewrites_started(&on, &off), 0);
        assert_eq!(events(&off, &on), ["aof-rewrite-start"]);
        assert_eq!(events(&on, &off), ["aof-rewrite-end"]);
    }

    #[test]
    fn replicas_report_their_link() {
        let r = sample(
            Instant::now(),
            "role:slave\nmaster_host:127.0.0.1\nmaster_port:7000\nmaster_last_io_seconds_ago:2\n\
             slave_repl_offset:90\nmaster_repl_offset:90\n",
        );
        let row = values(None, &r);
        assert_eq!(row.role, "replica");
        assert_eq!(row.lag_s, Some(2));
        assert_eq!(row.repl_offset, Some(90));
    }
}
