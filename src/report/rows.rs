//! The result rows of what was measured: a phase's commands, or a scenario's roles, on one target.
//! Every report (console, files, merge) starts from these rows.

use std::time::SystemTime;

use super::TestResult;
use crate::config::Workload;
use crate::replay::{self, ReplaySpec};
use crate::runner::{PhaseResult, PhaseSpec};
use crate::scenario::{Outcome, Scenario};
use crate::shard::Shard;
use crate::stats::{self, OpStats, Tick, summarize};
use crate::target::ReadyTarget;

/// What every row of one run shares.
struct Shape<'a> {
    w: &'a Workload,
    keyspace: u64,
    repeat: u32,
    elapsed: f64,
    interrupted: bool,
    shard: Option<Shard>,
    started: SystemTime,
}

/// One row per command of the phase `spec`, which `res` measured on `prepared` (`names` are the
/// commands' test names).
pub fn of_phase(
    prepared: &ReadyTarget,
    spec: &PhaseSpec<'_>,
    names: &[String],
    repeat: u32,
    shard: Option<Shard>,
    res: &PhaseResult,
) -> Vec<TestResult> {
    let w = spec.workload;
    let elapsed = res.elapsed.as_secs_f64().max(1e-9);
    // The target rate is the whole phase's (one schedule shared by a mix's commands), so the
    // achieved rate next to it is too.
    let phase_requests: u64 = res.stats.iter().map(|s| s.requests()).sum();
    let shares = spec.lanes.weight_shares();
    let shape = Shape {
        w,
        keyspace: spec.keyspace,
        repeat,
        elapsed,
        interrupted: res.interrupted,
        shard,
        started: res.started_at,
    };
    res.stats
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let lane = spec.lanes.lanes.get(i);
            let mut timeline = res.timeline.get(i).cloned().unwrap_or_default();
            // Each command's target is its share (by weight) of the schedule's; a follow-up
            // (weight 0) is not scheduled at all.
            let share = shares.get(i).copied().unwrap_or(1.0);
            if let (Some(rate), true) = (&w.rps, share > 0.0) {
                let due = super::shape::targets(rate, timeline.len(), elapsed);
                for (t, d) in timeline.iter_mut().zip(due) {
                    t.target = Some(d * share);
                }
            }
            let mut r = TestResult {
                mix: spec.lanes.lanes.len() > 1,
                hlog: spec
                    .keep_hists
                    .then(|| res.hlog.get(i).cloned().unwrap_or_default()),
                achieved_rps: w.rps.as_ref().map(|_| phase_requests as f64 / elapsed),
                rate_shape: w.rps.as_ref().and_then(|rate| {
                    super::shape::of_phase(rate, &res.timeline, res.bands.as_ref(), i, elapsed)
                }),
                max_lag_ms: res.max_lag.map(|d| d.as_secs_f64() * 1000.0),
                client_lag: res.client_lag.as_ref().map(summarize),
                unanswered: if i == 0 { res.unanswered } else { 0 },
                ..row(prepared, &shape, &names[i], st, timeline)
            };
            // A command with its own sizes or key space says so in its row.
            if let Some(l) = lane {
                (r.data_size, r.key_dist) = (l.sizes_label.clone(), l.dist_label.clone());
                r.keyspace = l.keyspace;
            }
            r
        })
        .collect()
}

/// One row per role of the scenario `spec` (producers, consumers; writers, readers) run with the
/// workload `w`; the first carries the scenario's ledger.
pub fn of_scenario(
    prepared: &ReadyTarget,
    w: &Workload,
    spec: &Scenario,
    repeat: u32,
    shard: Option<Shard>,
    o: &Outcome,
) -> Vec<TestResult> {
    let (name, keyspace) = match spec {
        Scenario::Stream(s) => ("stream", s.streams as u64),
        Scenario::Consistency(c) => ("consistency", c.keys),
    };
    let shape = Shape {
        w,
        keyspace,
        repeat,
        elapsed: o.elapsed.as_secs_f64().max(1e-9),
        interrupted: o.interrupted,
        shard,
        started: SystemTime::now()
            .checked_sub(o.elapsed)
            .unwrap_or_else(SystemTime::now),
    };
    // A role that sent nothing (no consumers: the OOM drill) gets no row.
    let mut rows: Vec<TestResult> = o
        .rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || r.stats.requests() > 0)
        .map(|(_, r)| {
            let seconds = stats::fold_tail(&r.seconds, w.duration);
            let name = format!("{name} {}", r.command);
            TestResult {
                clients: r.clients,
                connections: r.clients * prepared.masters.max(1),
                threads: 1,
                hlog: Some(seconds.iter().map(|s| s.hist.clone()).collect()),
                ..row(
                    prepared,
                    &shape,
                    &name,
                    &r.stats,
                    seconds.iter().map(Tick::of).collect(),
                )
            }
        })
        .collect();
    if let Some(first) = rows.first_mut() {
        first.experiment = super::experiment::Experiment::of_scenario(&o.report, &o.lag);
    }
    rows
}

/// One row per captured command name that a replay sent (`o`, of `spec`, on `prepared`); the
/// first carries what was played and what was not sent.
pub fn of_replay(
    prepared: &ReadyTarget,
    w: &Workload,
    spec: &ReplaySpec,
    shard: Option<Shard>,
    o: &replay::Outcome,
) -> Vec<TestResult> {
    let shape = Shape {
        w,
        keyspace: 0,
        repeat: 1,
        elapsed: o.elapsed.as_secs_f64().max(1e-9),
        interrupted: o.interrupted,
        shard,
        started: o.started_at,
    };
    let open = matches!(spec.speed, replay::Speed::Times(_));
    let sent: u64 = o.stats.iter().map(|s| s.requests()).sum();
    let mut rows: Vec<TestResult> = (o.names.iter().zip(&o.stats).zip(&o.timeline))
        .filter(|((_, st), _)| st.requests() > 0)
        .map(|((name, st), timeline)| {
            // Its .hlog was written second by second as the replay ran.
            let base = row(prepared, &shape, name, st, timeline.clone());
            TestResult {
                mix: o.names.len() > 1,
                // --clients as given (shards of one run share it); what was opened beside it.
                clients: spec.clients,
                connections: o.connections * prepared.masters.max(1),
                pipeline: 1,
                threads: 1,
                data_size: "captured".into(),
                key_dist: "captured".into(),
                latency_uncorrected: open.then(|| summarize(&st.hist_sent)),
                achieved_rps: open.then(|| sent as f64 / shape.elapsed),
                max_lag_ms: open.then_some(o.max_lag.as_secs_f64() * 1000.0),
                ..base
            }
        })
        .collect();
    if let Some(first) = rows.first_mut() {
        first.unanswered = o.unanswered;
        first.experiment.replay = Some(replay::Report::of(spec, o));
    }
    rows
}

/// A result row of one command (or scenario role) measured on `prepared`, with its timeline.
fn row(
    prepared: &ReadyTarget,
    s: &Shape<'_>,
    name: &str,
    st: &OpStats,
    timeline: Vec<Tick>,
) -> TestResult {
    let w = s.w;
    TestResult {
        target: prepared.name.clone(),
        deployment: prepared.deployment.clone(),
        persistence: prepared.persistence.clone(),
        server_version: prepared.server_version.clone(),
        masters: prepared.masters,
        test: name.to_string(),
        mix: false,
        clients: w.clients,
        connections: w.clients * prepared.masters.max(1),
        pipeline: w.pipeline,
        threads: w.threads.min(w.clients),
        data_size: w.sizes.label(),
        keyspace: s.keyspace,
        key_dist: w.key_dist.label(),
        target_rps: w.rps.as_ref().map(|r| r.mean(0.0, s.elapsed)),
        repeat: s.repeat,
        requests: st.requests(),
        duration_s: s.elapsed,
        rps: st.ok as f64 / s.elapsed,
        ok: st.ok,
        errors: st.failed,
        events: st.events,
        words: st.words.clone(),
        latency: summarize(&st.hist),
        latency_uncorrected: w.rps.as_ref().map(|_| summarize(&st.hist_sent)),
        hist: st.hist.clone(),
        timeline,
        hlog: None,
        achieved_rps: None,
        max_lag_ms: None,
        client_lag: None,
        unanswered: 0,
        interrupted: s.interrupted,
        experiment: Default::default(),
        slo: None,
        shard: s.shard.map(|sh| sh.index),
        shards: s.shard.map_or(1, |sh| sh.count),
        started: Some(s.started),
        observed: Default::default(),
        rate_shape: None,
    }
}
