//! `--json FILE`: the machine-readable summary of every result, as Serialize types. Keys come out
//! sorted (through `serde_json::Value`, whose map is ordered by key without serde_json's
//! `preserve_order`), as the summary always had them: field order here is free.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::shape::ShapeReport;
use super::{RunMeta, TestResult, experiment};
use crate::slo::{SloResult, Step};
use crate::stats::{Summary, ms};

/// The whole document.
#[derive(Serialize)]
struct Doc<'a> {
    timestamp: &'a str,
    run_id: &'a str,
    rbench_version: &'a str,
    git_rev: &'a str,
    profile: &'a str,
    /// What the machine's settings may distort (empty: nothing found).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    environment: &'a [String],
    results: Vec<ResultJson<'a>>,
}

/// `results[i]`.
#[derive(Serialize)]
struct ResultJson<'a> {
    target: &'a str,
    deployment: &'a str,
    persistence: &'a str,
    server_version: &'a str,
    masters: usize,
    test: &'a str,
    mix: bool,
    clients: usize,
    connections: usize,
    pipeline: usize,
    threads: usize,
    data_size: &'a str,
    keyspace: u64,
    key_dist: &'a str,
    target_rps: Option<f64>,
    achieved_rps: Option<f64>,
    max_lag_ms: Option<f64>,
    repeat: u32,
    requests: u64,
    duration_s: f64,
    rps: f64,
    ok: u64,
    errors: u64,
    error_classes: BTreeMap<&'static str, u64>,
    error_words: BTreeMap<&'static str, &'a str>,
    latency: Latency,
    latency_uncorrected: Option<Latency>,
    client_lag: Option<Latency>,
    unanswered: u64,
    interrupted: bool,
    timeline: Vec<SecondJson>,
    #[serde(flatten)]
    experiment: experiment::ExperimentJson<'a>,
    shard: Option<u32>,
    shards: u32,
    start_unix_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slo: Option<SloJson<'a>>,
    /// Whose limit the figures are: `client`, `server`, `neither`, `unknown`.
    bound: &'static str,
    bound_why: &'a str,
    /// What the servers did meanwhile (null members: unknown).
    server: ServerJson<'a>,
    /// rbench's busiest engine thread, share of one core.
    client_cpu: Option<f64>,
    /// `--rps` with a shape: the seconds short of it, and latency per band of its peak rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_shape: Option<ShapeJson<'a>>,
}

/// `results[i].rate_shape`.
#[derive(Serialize)]
struct ShapeJson<'a> {
    spec: &'a str,
    peak_rps: f64,
    seconds: usize,
    short_seconds: Vec<ShortJson>,
    bands: Vec<BandJson>,
}

#[derive(Serialize)]
struct ShortJson {
    second: usize,
    target_rps: f64,
    achieved_rps: f64,
}

#[derive(Serialize)]
struct BandJson {
    from_pct: u32,
    to_pct: u32,
    seconds: u64,
    requests: u64,
    latency: Latency,
}

fn shape_json(s: &ShapeReport) -> ShapeJson<'_> {
    ShapeJson {
        spec: &s.spec,
        peak_rps: s.peak_rps,
        seconds: s.seconds,
        short_seconds: s
            .short
            .iter()
            .map(|x| ShortJson {
                second: x.second,
                target_rps: x.target_rps,
                achieved_rps: x.achieved_rps,
            })
            .collect(),
        bands: s
            .bands
            .iter()
            .map(|b| BandJson {
                from_pct: b.from_pct,
                to_pct: b.to_pct,
                seconds: b.seconds,
                requests: b.requests,
                latency: (&b.latency).into(),
            })
            .collect(),
    }
}

/// `results[i].server`.
#[derive(Serialize)]
struct ServerJson<'a> {
    us_per_call: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    cpu_cores: Option<f64>,
    main_thread_cpu: Option<f64>,
    peak_memory: Option<u64>,
    forks: Option<u64>,
    aof_rewrites: Option<u64>,
    evictions: Option<u64>,
    delayed_fsync: Option<u64>,
    events: Vec<EventJson<'a>>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct EventJson<'a> {
    at_s: f64,
    kind: &'a str,
    node: &'a str,
    latency_ms: Option<u64>,
}

fn server_json(o: &super::observed::Observed) -> ServerJson<'_> {
    ServerJson {
        us_per_call: o.server_us_per_call,
        p50_ms: o.server_p50_ms,
        p99_ms: o.server_p99_ms,
        cpu_cores: o.server_cpu,
        main_thread_cpu: o.server_main_cpu,
        peak_memory: o.peak_memory,
        forks: o.forks,
        aof_rewrites: o.aof_rewrites,
        evictions: o.evictions,
        delayed_fsync: o.delayed_fsync,
        events: o
            .events
            .iter()
            .map(|e| EventJson {
                at_s: e.at_s,
                kind: &e.kind,
                node: &e.node,
                latency_ms: e.latency_ms,
            })
            .collect(),
        notes: &o.notes,
    }
}

#[derive(Serialize)]
struct Latency {
    avg_ms: f64,
    min_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

impl From<&Summary> for Latency {
    fn from(s: &Summary) -> Latency {
        Latency {
            avg_ms: s.avg,
            min_ms: s.min,
            p50_ms: s.p50,
            p95_ms: s.p95,
            p99_ms: s.p99,
            p999_ms: s.p999,
            max_ms: s.max,
        }
    }
}

/// `results[i].timeline[s]`: `lag` and `fault` only in the seconds that have them.
#[derive(Serialize)]
struct SecondJson {
    elapsed_s: usize,
    span_s: f64,
    ok: u64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    fault: String,
    /// Open loop: the requests per second due over this second.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_rps: Option<f64>,
}

/// `results[i].slo`: what the search found and every step it ran.
#[derive(Serialize)]
struct SloJson<'a> {
    objective: &'a str,
    max_rps: Option<f64>,
    ceiling_rps: f64,
    outcome: &'static str,
    held: bool,
    /// The steps at `max_rps`, and how many met the objectives (the confirmation).
    max_rps_runs: u32,
    max_rps_held: u32,
    /// The lowest rate that missed (the bracket's top), its steps and passes.
    missed_rps: Option<f64>,
    missed_rps_runs: u32,
    missed_rps_held: u32,
    steps: Vec<StepJson<'a>>,
}

#[derive(Serialize)]
struct StepJson<'a> {
    rate: f64,
    achieved: f64,
    p50_ms: f64,
    p99_ms: f64,
    measured_ms: &'a [f64],
    requests: u64,
    errors: u64,
    pass: bool,
    why: &'a str,
}

/// The summary of `results`, pretty-printed.
pub fn json(meta: &RunMeta, results: &[TestResult]) -> String {
    let doc = Doc {
        timestamp: &meta.timestamp,
        run_id: &meta.run_id,
        rbench_version: &meta.version,
        git_rev: &meta.git_rev,
        profile: &meta.profile,
        environment: &meta.environment,
        results: results.iter().map(result_json).collect(),
    };
    serde_json::to_value(doc)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

fn result_json(r: &TestResult) -> ResultJson<'_> {
    let classes = r.error_classes();
    ResultJson {
        target: &r.target,
        deployment: &r.deployment,
        persistence: &r.persistence,
        server_version: &r.server_version,
        masters: r.masters,
        test: &r.test,
        mix: r.mix,
        clients: r.clients,
        connections: r.connections,
        pipeline: r.pipeline,
        threads: r.threads,
        data_size: &r.data_size,
        keyspace: r.keyspace,
        key_dist: &r.key_dist,
        target_rps: r.target_rps,
        achieved_rps: r.achieved_rps,
        max_lag_ms: r.max_lag_ms,
        repeat: r.repeat,
        requests: r.requests,
        duration_s: r.duration_s,
        rps: r.rps,
        ok: r.ok,
        errors: r.errors,
        error_classes: classes.iter().map(|&(c, n)| (c.name(), n)).collect(),
        error_words: classes
            .iter()
            .filter_map(|&(c, _)| Some((c.name(), r.words_of(c)?)))
            .collect(),
        latency: (&r.latency).into(),
        latency_uncorrected: r.latency_uncorrected.as_ref().map(Latency::from),
        client_lag: r.client_lag.as_ref().map(Latency::from),
        unanswered: r.unanswered,
        interrupted: r.interrupted,
        timeline: (0..r.timeline.len()).map(|i| second_json(r, i)).collect(),
        experiment: experiment::json(r),
        shard: r.shard,
        shards: r.shards,
        start_unix_s: r
            .started
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
        slo: r.slo.as_ref().map(slo_json),
        bound: r.observed.bound.name(),
        bound_why: &r.observed.bound_why,
        server: server_json(&r.observed),
        client_cpu: r.observed.client_cpu,
        rate_shape: r.rate_shape.as_ref().map(shape_json),
    }
}

fn second_json(r: &TestResult, i: usize) -> SecondJson {
    let s = &r.timeline[i];
    SecondJson {
        elapsed_s: i + 1,
        span_s: r.span_of_second(i),
        ok: s.ok,
        errors: s.failed,
        p50_ms: ms(s.p50_us),
        p99_ms: ms(s.p99_us),
        max_ms: ms(s.max_us),
        lag: r.experiment.lag.get(i).copied(),
        fault: experiment::faults_in_second(r, i),
        target_rps: s.target,
    }
}

fn slo_json(s: &SloResult) -> SloJson<'_> {
    // (held, runs) of a rate, (0, 0) for none.
    let tally = |r: Option<f64>| r.map_or((0, 0), |r| s.tally(r));
    let missed = s.lowest_miss();
    let ((max_rps_held, max_rps_runs), (missed_rps_held, missed_rps_runs)) =
        (tally(s.max_rps), tally(missed));
    SloJson {
        objective: &s.objective,
        max_rps: s.max_rps,
        ceiling_rps: s.ceiling_rps,
        outcome: s.outcome.name(),
        held: s.held,
        max_rps_runs,
        max_rps_held,
        missed_rps: missed,
        missed_rps_runs,
        missed_rps_held,
        steps: s.steps.iter().map(step_json).collect(),
    }
}

fn step_json(st: &Step) -> StepJson<'_> {
    StepJson {
        rate: st.rate,
        achieved: st.achieved,
        p50_ms: st.p50_ms,
        p99_ms: st.p99_ms,
        measured_ms: &st.measured,
        requests: st.requests,
        errors: st.errors,
        pass: st.pass,
        why: &st.why,
    }
}
