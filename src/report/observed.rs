//! What the servers and rbench itself did while a row was measured: the server's own time per
//! call beside the client's latency, the server's CPU, memory, forks, rewrites and evictions, its
//! latency events, and whose limit the row's figures are (`bound`). Filled from the server sampler
//! (`observe::sampler`) and the runner's per-second client CPU; printed, saved and read back here.

use std::fmt::Write as _;

use crate::observe::bound::Bound;

/// A row's observations. `None` is unknown: not sampled (`--server-stats off`), refused by the
/// server (an ACL user without INFO, a proxy), or a file older than the columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The server's own time per request of the row, µs (INFO commandstats, Δ over the window).
    pub server_us_per_call: Option<f64>,
    /// The server's percentiles for the row's command over the window (Redis 7 latencystats), ms.
    pub server_p50_ms: Option<f64>,
    pub server_p99_ms: Option<f64>,
    /// The busiest node's CPU (user + sys) in cores, averaged over the window.
    pub server_cpu: Option<f64>,
    /// The busiest master's main thread, as a share of one core, over the window.
    pub server_main_cpu: Option<f64>,
    /// Highest used_memory seen on a node (bytes).
    pub peak_memory: Option<u64>,
    pub forks: Option<u64>,
    pub aof_rewrites: Option<u64>,
    pub evictions: Option<u64>,
    pub delayed_fsync: Option<u64>,
    /// rbench's busiest engine thread: running or waiting to run, as a share of one core.
    pub client_cpu: Option<f64>,
    pub bound: Bound,
    /// Why, in a few words.
    pub bound_why: String,
    /// Latency-monitor events and the sampler's state changes, for the charts' markers.
    pub events: Vec<Marker>,
    /// What could not be observed, one line each.
    pub notes: Vec<String>,
    /// rbench's own seconds (its busiest thread's demand, its own lag), for the timeline.
    pub client_seconds: Vec<crate::observe::threads::ClientSecond>,
}

/// A server event at a time of the row's window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marker {
    pub at_s: f64,
    pub kind: String,
    pub node: String,
    pub latency_ms: Option<u64>,
}

impl Marker {
    /// `fork at 3.0 s (12 ms)`.
    pub fn label(&self) -> String {
        let ms = self
            .latency_ms
            .map(|m| format!(" ({m} ms)"))
            .unwrap_or_default();
        format!("{} at {:.1} s{ms}", self.kind, self.at_s)
    }
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

impl Observed {
    /// The client's p50 split into the server's share and the rest:
    /// `client p50 0.210 ms = server 0.004 + network, queueing and client 0.206 ms`.
    pub fn split(&self, client_p50_ms: f64, p: usize) -> Option<String> {
        let (server, what) = match (self.server_p50_ms, self.server_us_per_call) {
            (Some(s), _) => (s, "server p50"),
            (None, Some(us)) => (us / 1000.0, "server mean"),
            _ => return None,
        };
        let rest = (client_p50_ms - server).max(0.0);
        // The server's share is microseconds: a digit more than the client's figures.
        let q = p + 1;
        Some(format!(
            "client p50 {client_p50_ms:.p$} ms = {what} {server:.q$} + network, queueing and client {rest:.q$} ms"
        ))
    }

    /// The block's lines about the server and whose limit the row is (empty when nothing is known).
    pub fn block_lines(&self, client_p50_ms: f64, precision: usize) -> String {
        let mut s = String::new();
        let p = precision.max(3);
        if let Some(us) = self.server_us_per_call {
            let pcts = match (self.server_p50_ms, self.server_p99_ms) {
                (Some(a), Some(b)) => format!(" (p50 {:.1}, p99 {:.1} us)", a * 1e3, b * 1e3),
                _ => String::new(),
            };
            let _ = writeln!(s, "  server time: {us:.2} us per call{pcts}");
        }
        if let Some(line) = self.split(client_p50_ms, p) {
            let _ = writeln!(s, "  {line}");
        }
        if let Some(line) = self.load_line() {
            let _ = writeln!(s, "  {line}");
        }
        if let Some(line) = self.server_line() {
            let _ = writeln!(s, "  {line}");
        }
        if !self.events.is_empty() {
            let list: Vec<String> = self.events.iter().take(8).map(Marker::label).collect();
            let more = self.events.len().saturating_sub(8);
            let more = if more > 0 {
                format!("; {more} more")
            } else {
                String::new()
            };
            let _ = writeln!(s, "  server events: {}{more}", list.join("; "));
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        s
    }

    /// `load: server 0.93 cores (main thread 92%), rbench busiest thread 35%: bound = server (...)`.
    fn load_line(&self) -> Option<String> {
        if self.server_cpu.is_none() && self.client_cpu.is_none() && self.bound == Bound::Unknown {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(c) = self.server_cpu {
            let main = self
                .server_main_cpu
                .map(|m| format!(" (main thread {})", pct(m)))
                .unwrap_or_default();
            parts.push(format!("server {c:.2} cores{main}"));
        }
        if let Some(c) = self.client_cpu {
            parts.push(format!("rbench busiest thread {}", pct(c)));
        }
        let why = if self.bound_why.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.bound_why)
        };
        Some(format!(
            "load: {}: bound = {}{why}",
            parts.join(", "),
            self.bound
        ))
    }

    /// `server: peak memory 12.3 MB, forks 1, AOF rewrites 1, evictions 0, delayed fsyncs 0`.
    fn server_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(m) = self.peak_memory {
            parts.push(format!("peak memory {:.1} MB", m as f64 / 1e6));
        }
        let counts = [
            ("forks", self.forks),
            ("AOF rewrites", self.aof_rewrites),
            ("evictions", self.evictions),
            ("delayed fsyncs", self.delayed_fsync),
        ];
        for (name, v) in counts {
            if let Some(v) = v {
                parts.push(format!("{name} {v}"));
            }
        }
        (!parts.is_empty()).then(|| format!("server: {}", parts.join(", ")))
    }

    /// The one-line warning for a client-bound row (its figure measures rbench, not the server).
    pub fn client_bound_warning(&self, test: &str) -> Option<String> {
        (self.bound == Bound::Client).then(|| {
            format!(
                "{test}: client-bound ({}): this figure measures rbench, not the server; add --threads, use fewer clients per thread or -P, or split the load with --shard",
                self.bound_why
            )
        })
    }
}

/// A count or a figure as its cell: empty when unknown.
pub fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A fraction or a time as its cell, to 3 decimals: empty when unknown.
pub fn cell3(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// A cell read back: None when empty or not a number.
pub fn read<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.trim().parse().ok()
}

/// What a phase observed besides its latencies: the server sampler's window (None: off), and
/// rbench's own seconds.
pub struct PhaseObservation<'a> {
    pub window: Option<&'a crate::observe::ServerWindow>,
    pub client: &'a [crate::observe::threads::ClientSecond],
    /// The lanes' server command names, one list per row (`Lane::commands`).
    pub commands: Vec<&'a [String]>,
    /// Spawned servers: the busiest main thread's demand (ran or waited to run, share of the
    /// window), which a core shared with another process cannot hide the way CPU time does.
    pub server_demand: Option<f64>,
}

impl PhaseObservation<'_> {
    /// Fills each row's `observed` from the phase's observation.
    pub fn fill(&self, rows: &mut [super::TestResult]) {
        let client = client_demand(self.client);
        for (i, r) in rows.iter_mut().enumerate() {
            let mut o = self.window.map(server_side).unwrap_or_default();
            if let (Some(w), Some(cmds)) = (self.window, self.commands.get(i)) {
                (o.server_us_per_call, o.server_p50_ms, o.server_p99_ms) = per_call(w, cmds);
            }
            o.client_cpu = client;
            o.client_seconds = self.client.to_vec();
            let mut e = evidence(r, &o, self.window);
            e.server = match (e.server, self.server_demand) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let v = crate::observe::bound::classify(&e);
            (o.bound, o.bound_why) = (v.bound, v.why);
            r.observed = o;
        }
    }
}

/// The busiest engine thread's demand over the phase: the mean of its full seconds (the last,
/// partial one too when it is all there is).
fn client_demand(seconds: &[crate::observe::threads::ClientSecond]) -> Option<f64> {
    let full = &seconds[..seconds.len().saturating_sub(1).max(1).min(seconds.len())];
    (!full.is_empty())
        .then(|| full.iter().map(|c| c.busiest_demand).sum::<f64>() / full.len() as f64)
}

/// The server's figures that are the same for every row of a phase.
fn server_side(w: &crate::observe::ServerWindow) -> Observed {
    let masters = || w.nodes.iter().filter(|n| n.role != "replica");
    let max_f = |f: fn(&crate::observe::NodeWindow) -> Option<f64>| {
        w.nodes.iter().filter_map(f).reduce(f64::max)
    };
    let sum = |it: &mut dyn Iterator<Item = Option<u64>>| {
        it.fold(None, |a: Option<u64>, v| match (a, v) {
            (a, None) => a,
            (None, Some(v)) => Some(v),
            (Some(a), Some(v)) => Some(a + v),
        })
    };
    Observed {
        server_cpu: max_f(|n| n.cpu_cores),
        server_main_cpu: masters().filter_map(|n| n.main_cpu).reduce(f64::max),
        peak_memory: w.nodes.iter().filter_map(|n| n.peak_memory).max(),
        forks: sum(&mut w.nodes.iter().map(|n| n.forks)),
        aof_rewrites: sum(&mut w.nodes.iter().map(|n| n.aof_rewrites)),
        evictions: sum(&mut masters().map(|n| n.evicted)),
        delayed_fsync: sum(&mut w.nodes.iter().map(|n| n.delayed_fsync)),
        events: w
            .events
            .iter()
            .map(|e| Marker {
                at_s: e.at_s,
                kind: e.kind.clone(),
                node: e.node.clone(),
                latency_ms: e.latency_ms,
            })
            .collect(),
        notes: w.notes.clone(),
        ..Observed::default()
    }
}

/// The server's own time per request of a row sending `cmds` (µs), and its percentiles (ms)
/// when it sends one command. In a MULTI/EXEC sequence EXEC's time holds the queued commands'
/// (they run inside it), so EXEC is left out of the sum. None when a command was never seen.
fn per_call(
    w: &crate::observe::ServerWindow,
    cmds: &[String],
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let tx = cmds.iter().any(|c| c == "multi");
    let mut total = 0.0;
    for c in cmds.iter().filter(|c| !(tx && *c == "exec")) {
        match w.commands.get(c).and_then(|s| s.usec_per_call()) {
            Some(us) => total += us,
            None => return (None, None, None),
        }
    }
    if cmds.is_empty() {
        return (None, None, None);
    }
    let one = (cmds.len() == 1)
        .then(|| w.commands.get(&cmds[0]))
        .flatten();
    let ms = |v: Option<f64>| v.map(|us| us / 1000.0);
    (
        Some(total),
        one.and_then(|s| ms(s.p50_us)),
        one.and_then(|s| ms(s.p99_us)),
    )
}

/// Error classes that mean the server (not rbench) was out for a while.
const OUTAGE: [crate::resp::ErrorClass; 8] = {
    use crate::resp::ErrorClass::*;
    [
        ConnLost,
        ConnRefused,
        Timeout,
        ClusterDown,
        TryAgain,
        MasterDown,
        Loading,
        Busy,
    ]
};

/// What the bound of row `r` is judged from.
fn evidence(
    r: &super::TestResult,
    o: &Observed,
    w: Option<&crate::observe::ServerWindow>,
) -> crate::observe::bound::Evidence {
    use crate::observe::bound::{Evidence, Schedule};
    let server = o.server_main_cpu.or(o.server_cpu);
    let schedule = r.target_rps.map(|rate| {
        let outage = OUTAGE.iter().any(|c| r.events[c.index()] > 0)
            || !r.experiment.faults.is_empty()
            || w.is_some_and(|w| w.nodes.iter().any(|n| n.missing_seconds > 0));
        // Little's law: what the connections' windows carry at the row's mean latency.
        let in_flight = (r.connections.max(1) * r.pipeline.max(1)) as f64;
        let carried = in_flight / (r.latency.avg / 1000.0).max(1e-6);
        Schedule {
            fell_behind: r.fell_behind(),
            own_lag_ms: r.client_lag.map_or(0.0, |c| c.p50),
            max_lag_ms: r.max_lag_ms.unwrap_or(0.0),
            outage,
            window_limited: rate >= 0.9 * carried,
        }
    });
    Evidence {
        client: o.client_cpu,
        server,
        schedule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed {
            server_us_per_call: Some(4.2),
            server_p50_ms: None,
            server_cpu: Some(0.93),
            server_main_cpu: Some(0.92),
            client_cpu: Some(0.35),
            bound: Bound::Server,
            bound_why: "the server's main thread was 92% busy".into(),
            peak_memory: Some(12_345_678),
            forks: Some(1),
            aof_rewrites: Some(1),
            events: vec![Marker {
                at_s: 3.0,
                kind: "fork".into(),
                node: "127.0.0.1:6379".into(),
                latency_ms: Some(12),
            }],
            ..Observed::default()
        }
    }

    #[test]
    fn the_block_splits_the_clients_latency_and_says_whose_limit_it_is() {
        let s = observed().block_lines(0.210, 3);
        assert_eq!(
            s,
            "  server time: 4.20 us per call\n  \
             client p50 0.210 ms = server mean 0.0042 + network, queueing and client 0.2058 ms\n  \
             load: server 0.93 cores (main thread 92%), rbench busiest thread 35%: bound = server (the server's main thread was 92% busy)\n  \
             server: peak memory 12.3 MB, forks 1, AOF rewrites 1\n  \
             server events: fork at 3.0 s (12 ms)\n"
        );
        // latencystats, when the server has them, are the split's server share.
        let with = Observed {
            server_p50_ms: Some(0.003),
            server_p99_ms: Some(0.011),
            ..observed()
        };
        assert!(with.block_lines(0.2, 3).contains(
            "server time: 4.20 us per call (p50 3.0, p99 11.0 us)\n  client p50 0.200 ms = server p50 0.0030"
        ));
        // Nothing observed: nothing printed.
        assert_eq!(Observed::default().block_lines(0.2, 3), "");
    }

    #[test]
    fn only_a_client_bound_row_warns() {
        assert!(observed().client_bound_warning("SET").is_none());
        let c = Observed {
            bound: Bound::Client,
            bound_why: "rbench's busiest thread was 97% busy".into(),
            ..observed()
        };
        assert_eq!(
            c.client_bound_warning("SET").unwrap(),
            "SET: client-bound (rbench's busiest thread was 97% busy): this figure measures rbench, not the server; add --threads, use fewer clients per thread or -P, or split the load with --shard"
        );
    }
}
