//! One node followed through the window: each tick's sample (or its absence) becomes that second's
//! row, and the pairs of samples of one server process add up to the node's window. Pure: the
//! sampler feeds it what the node answered.

use std::collections::BTreeMap;

use super::info::{LatencyPercentiles, NodeSample};
use super::second::{self, ServerSecond, delta};
use super::window::NodeWindow;

/// The sampler's own commands sent to a node so far, by the name the server counts them under
/// (`info`, `config|set`, `auth`...): taken out of the window's per-command figures.
pub type OwnCounts = BTreeMap<String, u64>;

/// What a node gave at one tick.
#[derive(Clone, Debug)]
pub enum Observed {
    /// Its INFO, and the sampler's commands sent to it before that INFO.
    Sample(Box<NodeSample>, OwnCounts),
    /// No answer within the tick's budget (down, paused, unreachable).
    Missing,
    /// It refuses INFO: nothing about it can be known (and it is not asked again).
    Unknown,
}

/// One command's change over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdAcc {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// A node's history so far.
#[derive(Debug, Default)]
pub struct NodeTrack {
    pub name: String,
    /// The last sample and what the sampler had sent before it.
    last: Option<(NodeSample, OwnCounts)>,
    /// The previous tick gave a sample (so this tick's deltas are one second's).
    last_ok: bool,
    /// The previous tick found the node missing.
    missing: bool,
    role: String,
    acc: Totals,
}

#[derive(Debug, Default)]
struct Totals {
    cpu: (f64, f64),
    main_cpu: (f64, f64),
    main_cpu_peak: Option<f64>,
    peak_memory: Option<u64>,
    forks: Option<u64>,
    rewrites: Option<u64>,
    evicted: Option<u64>,
    expired: Option<u64>,
    delayed_fsync: Option<u64>,
    missing_seconds: usize,
    commands: BTreeMap<String, CmdAcc>,
    /// The last latencystats seen while the node was a master.
    latency: BTreeMap<String, LatencyPercentiles>,
}

/// Adds a known delta to a total that stays None until something is known.
fn add(total: &mut Option<u64>, d: Option<u64>) {
    if let Some(d) = d {
        *total = Some(total.unwrap_or(0) + d);
    }
}

impl NodeTrack {
    pub fn new(name: String) -> NodeTrack {
        NodeTrack {
            name,
            ..NodeTrack::default()
        }
    }

    /// The sample of the current tick, if the node answered it.
    pub fn current(&self) -> Option<&NodeSample> {
        self.last.as_ref().filter(|_| self.last_ok).map(|(s, _)| s)
    }

    /// The window's baseline (tick 0): no row.
    pub fn baseline(&mut self, obs: Observed) {
        match obs {
            Observed::Sample(s, own) => self.take(*s, own),
            // Missing from the start: its first second says so.
            Observed::Missing | Observed::Unknown => self.last_ok = false,
        }
    }

    /// Second `sec` (covering `span_s`; `full` unless it is the partial last one).
    pub fn second(&mut self, sec: usize, span_s: f64, full: bool, obs: Observed) -> ServerSecond {
        let mut row = match obs {
            Observed::Sample(s, own) => self.sampled(full, *s, own),
            Observed::Missing => self.went_missing(),
            Observed::Unknown => {
                self.last_ok = false;
                ServerSecond {
                    role: self.role.clone(),
                    ..ServerSecond::default()
                }
            }
        };
        row.sec = sec;
        row.span_s = span_s;
        row.node = self.name.clone();
        row
    }

    fn went_missing(&mut self) -> ServerSecond {
        let mut events = Vec::new();
        if !self.missing {
            events.push("node-missing".to_string());
        }
        self.missing = true;
        self.last_ok = false;
        self.acc.missing_seconds += 1;
        ServerSecond {
            role: self.role.clone(),
            missing: true,
            events,
            ..ServerSecond::default()
        }
    }

    fn sampled(&mut self, full: bool, s: NodeSample, own: OwnCounts) -> ServerSecond {
        let prev = self.last.take();
        let same = prev.as_ref().filter(|(p, _)| p.run_id == s.run_id);
        let mut row = second::values(same.map(|(p, _)| p).filter(|_| self.last_ok), &s);
        if let Some((_, p_own)) = same {
            let sent = |o: &OwnCounts| o.values().sum::<u64>();
            let ours = sent(&own).saturating_sub(sent(p_own));
            row.commands = row.commands.map(|c| c.saturating_sub(ours));
        }
        if self.missing {
            row.events.push("node-back".into());
        }
        match (&prev, same) {
            (Some(_), None) => row.events.push("restart".into()),
            (_, Some((p, p_own))) => {
                row.events.extend(second::events(p, &s));
                self.add_pair(p, p_own, &s, &own);
            }
            (None, None) => {}
        }
        if let (Some((p, _)), None) = (&prev, same)
            && p.role.is_some()
            && s.role.is_some()
            && p.role != s.role
        {
            row.events.push("role-change".into());
        }
        if full && let Some(m) = row.main_cpu {
            self.acc.main_cpu_peak = Some(self.acc.main_cpu_peak.map_or(m, |p| p.max(m)));
        }
        self.take(s, own);
        row
    }

    fn take(&mut self, s: NodeSample, own: OwnCounts) {
        if let Some(m) = s.used_memory {
            self.acc.peak_memory = Some(self.acc.peak_memory.map_or(m, |p| p.max(m)));
        }
        if let Some(r) = &s.role {
            self.role = r.clone();
        }
        if s.is_master() {
            self.acc.latency = s.latency.clone();
        }
        self.last = Some((s, own));
        self.last_ok = true;
        self.missing = false;
    }

    /// Adds what one server process did between two of its samples (any gap between them).
    fn add_pair(&mut self, p: &NodeSample, p_own: &OwnCounts, s: &NodeSample, own: &OwnCounts) {
        let wall = s.at.saturating_duration_since(p.at).as_secs_f64();
        for (cpu, f) in [
            (
                &mut self.acc.cpu,
                NodeSample::cpu as fn(&NodeSample) -> Option<f64>,
            ),
            (&mut self.acc.main_cpu, NodeSample::main_cpu),
        ] {
            if let (Some(a), Some(b)) = (f(p), f(s))
                && b >= a
            {
                cpu.0 += b - a;
                cpu.1 += wall;
            }
        }
        let a = &mut self.acc;
        add(&mut a.forks, delta(p.total_forks, s.total_forks));
        add(&mut a.evicted, delta(p.evicted_keys, s.evicted_keys));
        add(&mut a.expired, delta(p.expired_keys, s.expired_keys));
        add(
            &mut a.delayed_fsync,
            delta(p.aof_delayed_fsync, s.aof_delayed_fsync),
        );
        if p.aof_rewrites.is_some() || p.aof_rewrite_in_progress.is_some() {
            add(&mut a.rewrites, Some(second::rewrites_started(p, s)));
        }
        if s.is_master() {
            for (name, c) in commands_between(p, p_own, s, own) {
                let t = a.commands.entry(name).or_default();
                t.calls += c.calls;
                t.usec += c.usec;
                t.rejected += c.rejected;
                t.failed += c.failed;
            }
        }
    }

    /// Per-command totals over the window (masters' seconds only).
    pub fn commands(&self) -> &BTreeMap<String, CmdAcc> {
        &self.acc.commands
    }

    pub fn latency(&self) -> &BTreeMap<String, LatencyPercentiles> {
        &self.acc.latency
    }

    pub fn window(&self) -> NodeWindow {
        let avg = |(used, wall): (f64, f64)| (wall > 0.0).then(|| used / wall);
        let a = &self.acc;
        NodeWindow {
            node: self.name.clone(),
            role: self.role.clone(),
            cpu_cores: avg(a.cpu),
            main_cpu: avg(a.main_cpu),
            main_cpu_peak: a.main_cpu_peak,
            peak_memory: a.peak_memory,
            forks: a.forks,
            aof_rewrites: a.rewrites,
            evicted: a.evicted,
            expired: a.expired,
            delayed_fsync: a.delayed_fsync,
            missing_seconds: a.missing_seconds,
        }
    }
}

/// What each command did between two samples of one server, less the sampler's own commands sent
/// in between. A command the sampler sent is counted under its subcommand (`config|set`, Redis 7)
/// or, for servers that count only the container, under it (`config`). Its time is taken out in
/// proportion: the server does not say whose calls took how long.
pub fn commands_between(
    p: &NodeSample,
    p_own: &OwnCounts,
    s: &NodeSample,
    own: &OwnCounts,
) -> BTreeMap<String, CmdAcc> {
    let mut out: BTreeMap<String, CmdAcc> = BTreeMap::new();
    for (name, c) in &s.commands {
        let before = p.commands.get(name).cloned().unwrap_or_default();
        // Counts that went back were reset (CONFIG RESETSTAT): all of them are since then.
        let back = c.calls < before.calls;
        let d = |cur: u64, old: u64| if back { cur } else { cur.saturating_sub(old) };
        let opt = |x: Option<u64>| x.unwrap_or(0);
        out.insert(
            name.clone(),
            CmdAcc {
                calls: d(c.calls, before.calls),
                usec: d(c.usec, before.usec),
                rejected: d(opt(c.rejected_calls), opt(before.rejected_calls)),
                failed: d(opt(c.failed_calls), opt(before.failed_calls)),
            },
        );
    }
    for (name, n) in own {
        let sent = n.saturating_sub(p_own.get(name).copied().unwrap_or(0));
        let container = name.split('|').next().unwrap_or(name);
        let key = [name.as_str(), container]
            .into_iter()
            .find(|k| out.contains_key(*k));
        if let (Some(key), true) = (key, sent > 0) {
            let c = out.get_mut(key).expect("found above");
            let left = c.calls.saturating_sub(sent);
            c.usec = (c.usec * left).checked_div(c.calls).unwrap_or(0);
            c.calls = left;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::info::Info;
    use std::time::{Duration, Instant};

    fn at(t0: Instant, ms: u64, text: &str) -> NodeSample {
        NodeSample::from_info(&Info::parse(text), t0 + Duration::from_millis(ms))
    }

    fn sample_of(s: NodeSample, own: OwnCounts) -> Observed {
        Observed::Sample(Box::new(s), own)
    }

    fn own(pairs: &[(&str, u64)]) -> OwnCounts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn info(run: &str, calls: u64, cpu: f64, mem: u64) -> String {
        format!(
            "run_id:{run}\nrole:master\nused_cpu_sys:{cpu}\nused_cpu_user:0\n\
             used_cpu_sys_main_thread:{cpu}\nused_cpu_user_main_thread:0\n\
             total_commands_processed:{calls}\nused_memory:{mem}\ntotal_forks:0\n\
             cmdstat_set:calls={calls},usec={calls},usec_per_call=1.00\n\
             cmdstat_info:calls=10,usec=1000,usec_per_call=100.00\n"
        )
    }

    #[test]
    fn own_commands_are_taken_out() {
        let t = Instant::now();
        let p = at(
            t,
            0,
            "cmdstat_info:calls=5,usec=500\ncmdstat_set:calls=10,usec=20\n\
                         cmdstat_config:calls=1,usec=9\ncmdstat_get:calls=4,usec=4\n",
        );
        let s = at(
            t,
            1000,
            "cmdstat_info:calls=8,usec=800\ncmdstat_set:calls=30,usec=60\n\
                            cmdstat_config:calls=3,usec=27\ncmdstat_get:calls=4,usec=4\n",
        );
        // Sent since: 2 INFO (one another client's), a CONFIG SET (counted as `config` here).
        let d = commands_between(
            &p,
            &own(&[("info", 4), ("config|set", 1)]),
            &s,
            &own(&[("info", 6), ("config|set", 2), ("ping", 1)]),
        );
        assert_eq!(
            d["set"],
            CmdAcc {
                calls: 20,
                usec: 40,
                ..CmdAcc::default()
            }
        );
        assert_eq!((d["info"].calls, d["info"].usec), (1, 100));
        assert_eq!((d["config"].calls, d["config"].usec), (1, 9));
        assert_eq!(d["get"].calls, 0);
        assert!(!d.contains_key("ping"));
    }

    #[test]
    fn a_reset_counts_from_zero() {
        let t = Instant::now();
        let p = at(t, 0, "cmdstat_set:calls=100,usec=100\n");
        let s = at(t, 1000, "cmdstat_set:calls=7,usec=14,failed_calls=1\n");
        let d = commands_between(&p, &OwnCounts::new(), &s, &OwnCounts::new());
        assert_eq!(
            d["set"],
            CmdAcc {
                calls: 7,
                usec: 14,
                rejected: 0,
                failed: 1
            }
        );
    }

    #[test]
    fn seconds_rows_and_the_window() {
        let t = Instant::now();
        let mut n = NodeTrack::new("127.0.0.1:7000".into());
        n.baseline(sample_of(
            at(t, 0, &info("a", 100, 1.0, 10)),
            own(&[("info", 0)]),
        ));
        let s1 = at(t, 1000, &info("a", 300, 1.5, 50));
        let r1 = n.second(1, 1.0, true, sample_of(s1, own(&[("info", 1)])));
        assert_eq!(
            (r1.sec, r1.node.as_str(), r1.missing),
            (1, "127.0.0.1:7000", false)
        );
        assert_eq!(r1.commands, Some(199), "the sampler's INFO taken out");
        assert!((r1.cpu_cores.unwrap() - 0.5).abs() < 1e-9);
        assert!(n.current().is_some());
        // Missing: no values, one event, then back: deltas unknown for that second.
        let r2 = n.second(2, 1.0, true, Observed::Missing);
        assert!(r2.missing && r2.commands.is_none() && r2.used_memory.is_none());
        assert_eq!(
            (r2.role.as_str(), r2.events.as_slice()),
            ("master", &["node-missing".to_string()][..])
        );
        assert!(n.current().is_none());
        let r3 = n.second(3, 1.0, true, Observed::Missing);
        assert!(r3.missing && r3.events.is_empty());
        let s4 = at(t, 4000, &info("a", 600, 3.0, 20));
        let r4 = n.second(4, 1.0, true, sample_of(s4, own(&[("info", 2)])));
        assert_eq!(r4.events, ["node-back"]);
        assert_eq!(
            (r4.commands, r4.cpu_cores, r4.used_memory),
            (None, None, Some(20))
        );
        // A partial last second counts in the totals but not for the peak.
        let s5 = at(t, 4500, &info("a", 700, 4.0, 30));
        let r5 = n.second(5, 0.5, false, sample_of(s5, own(&[("info", 3)])));
        assert!((r5.main_cpu.unwrap() - 2.0).abs() < 1e-9);
        let w = n.window();
        assert_eq!(w.missing_seconds, 2);
        assert_eq!(w.peak_memory, Some(50));
        assert!((w.cpu_cores.unwrap() - 3.0 / 4.5).abs() < 1e-9, "{w:?}");
        assert_eq!(w.main_cpu_peak, Some(0.5));
        assert_eq!(w.forks, Some(0));
        assert_eq!(w.evicted, None, "never reported");
        assert_eq!(n.commands()["set"].calls, 600);
        // 10 INFO calls all along, 3 sent by the sampler: nothing left of the sampler's.
        assert_eq!(n.commands()["info"].calls, 0);
    }

    #[test]
    fn a_restart_starts_over_and_unknown_is_not_missing() {
        let t = Instant::now();
        let mut n = NodeTrack::new("n".into());
        n.baseline(sample_of(
            at(t, 0, &info("a", 100, 1.0, 10)),
            OwnCounts::new(),
        ));
        let r = n.second(
            1,
            1.0,
            true,
            sample_of(at(t, 1000, &info("b", 5, 0.1, 10)), OwnCounts::new()),
        );
        assert_eq!(r.events, ["restart"]);
        assert_eq!((r.commands, r.cpu_cores), (None, None));
        assert!(n.commands().is_empty(), "nothing counted across a restart");
        let r = n.second(2, 1.0, true, Observed::Unknown);
        assert!(!r.missing && r.used_memory.is_none() && r.events.is_empty());
        assert_eq!(n.window().missing_seconds, 0);
        // A replica's commands (replayed writes) are not counted.
        let mut rep = NodeTrack::new("r".into());
        let text = |c| info("x", c, 0.0, 1).replace("role:master", "role:slave");
        rep.baseline(sample_of(at(t, 0, &text(1)), OwnCounts::new()));
        let r = rep.second(
            1,
            1.0,
            true,
            sample_of(at(t, 1000, &text(50)), OwnCounts::new()),
        );
        assert_eq!((r.role.as_str(), r.commands), ("replica", Some(49)));
        assert!(rep.commands().is_empty());
        let r = rep.second(
            2,
            1.0,
            true,
            sample_of(at(t, 2000, &info("x", 60, 0.0, 1)), OwnCounts::new()),
        );
        assert_eq!(r.events, ["role-change"]);
    }
}
