//! What the server did over a whole measured window, from baseline to last sample: per node (CPU,
//! memory, forks, rewrites), per command over the masters (the load's calls, the sampler's own taken
//! out), events, and notes on what could not be read.

use std::collections::BTreeMap;

use super::track::NodeTrack;

/// The window's summary, as `Sampler::finish` returns it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerWindow {
    /// One per node ever sampled, in the order they were first seen.
    pub nodes: Vec<NodeWindow>,
    /// By lowercase command name (`client|setname` as the server names it): the change over the
    /// window on MASTERS only (replicas replay the writes), less the sampler's own commands. A
    /// command the load did not send is absent.
    pub commands: BTreeMap<String, CmdWindow>,
    /// LATENCY monitor events and state changes, by time.
    pub events: Vec<ServerEvent>,
    /// One line each: what could not be read, and why.
    pub notes: Vec<String>,
    /// Seconds in the window (the partial last one included).
    pub seconds: usize,
}

/// One command over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdWindow {
    pub calls: u64,
    /// Microseconds the server spent executing them.
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// From latencystats (Redis 7), only when the sampler reset the stats before the window
    /// (otherwise they are since the server's start: None). Several masters: the highest node's,
    /// an upper bound of the whole's percentile (percentiles are never averaged).
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

impl CmdWindow {
    pub fn usec_per_call(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.usec as f64 / self.calls as f64)
    }
}

/// One node over the window. Counters are None when the node never reported them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeWindow {
    pub node: String,
    /// The last role seen ("" when never known).
    pub role: String,
    /// CPU cores busy on average (Δcpu / Δwall over the seconds it answered).
    pub cpu_cores: Option<f64>,
    /// The main thread's average share of a core (Redis ≥ 6.2).
    pub main_cpu: Option<f64>,
    /// The main thread's busiest full second.
    pub main_cpu_peak: Option<f64>,
    /// The highest used_memory sampled.
    pub peak_memory: Option<u64>,
    pub forks: Option<u64>,
    /// AOF rewrites started in the window.
    pub aof_rewrites: Option<u64>,
    pub evicted: Option<u64>,
    pub expired: Option<u64>,
    pub delayed_fsync: Option<u64>,
    pub missing_seconds: usize,
}

/// Something that happened on a node: a LATENCY monitor event (`aof-fsync-always`, `fork`,
/// `expire-cycle`, `command`, ... with its latency) or a state change seen by the sampler
/// (`bgsave-start`, `aof-rewrite-end`, `node-missing`, ...; no latency).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerEvent {
    pub node: String,
    /// Seconds from the window's start: the sample that saw a state change; the LATENCY monitor's
    /// whole-second time stamp (so up to 1 s early, never below 0).
    pub at_s: f64,
    pub kind: String,
    pub latency_ms: Option<u64>,
}

/// The summary of `tracks`. `percentiles`: the stats were reset before the window, so latencystats
/// are the window's own.
pub(crate) fn summarize(
    tracks: &[NodeTrack],
    mut events: Vec<ServerEvent>,
    notes: Vec<String>,
    seconds: usize,
    percentiles: bool,
) -> ServerWindow {
    let mut commands: BTreeMap<String, CmdWindow> = BTreeMap::new();
    for t in tracks {
        for (name, c) in t.commands() {
            let w = commands.entry(name.clone()).or_default();
            w.calls += c.calls;
            w.usec += c.usec;
            w.rejected += c.rejected;
            w.failed += c.failed;
        }
    }
    commands.retain(|_, c| c.calls + c.rejected + c.failed > 0);
    if percentiles {
        for t in tracks {
            for (name, l) in t.latency() {
                if let Some(w) = commands.get_mut(name) {
                    w.p50_us = max_opt(w.p50_us, l.p50);
                    w.p99_us = max_opt(w.p99_us, l.p99);
                }
            }
        }
    }
    events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    ServerWindow {
        nodes: tracks.iter().map(NodeTrack::window).collect(),
        commands,
        events,
        notes,
        seconds,
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usec_per_call_needs_calls() {
        let c = CmdWindow {
            calls: 4,
            usec: 10,
            ..CmdWindow::default()
        };
        assert_eq!(c.usec_per_call(), Some(2.5));
        assert_eq!(CmdWindow::default().usec_per_call(), None);
        assert_eq!(max_opt(None, Some(1.0)), Some(1.0));
        assert_eq!(max_opt(Some(3.0), Some(1.0)), Some(3.0));
        assert_eq!(max_opt(None, None), None);
    }
}
