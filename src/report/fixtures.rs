//! Tests of the results schema against files today's readers must keep reading: folders written by
//! rbench before the schema had one owner (`tests/fixtures/results/`), and the `--json` summary as
//! the hand-built `json!` code produced it (kept here, verbatim, as the oracle).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::experiment::{Experiment, FaultRow};
use super::{RunMeta, TestResult, compare, files, saved};
use crate::resp::ErrorClass;
use crate::schema::{self, LongRow, TimelineRow};
use crate::slo::{Outcome, SloResult, Step};
use crate::stats::{Second, Summary};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/results")
        .join(name)
}

fn timeline_of(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("timeline-")
        })
        .unwrap()
}

/// Every row of a CSV file through the schema type `T`, and written back under the header the
/// first row gives (or the file's own, with no rows).
fn reread<T: serde::Serialize + for<'de> serde::Deserialize<'de>>(path: &Path) -> (Vec<T>, String) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let header = schema::clean_header(rdr.headers().unwrap());
    let rows: Vec<T> = rdr
        .records()
        .map(|r| schema::read_row(&r.unwrap(), &header).unwrap())
        .collect();
    let h = rows
        .first()
        .map_or(header.clone(), |r| schema::header_of(r).unwrap());
    let bytes = files::csv_bytes(Some(&h), &rows).unwrap();
    // Columns appended since the file was written are left out: they are the only difference.
    let mut back = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let width = header.len();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in back.records() {
        let r = r.unwrap();
        w.write_record(r.iter().take(width)).unwrap();
    }
    let bytes = w.into_inner().unwrap();
    (rows, String::from_utf8(bytes).unwrap())
}

const RUNS: [&str; 7] = [
    "basic", "mix", "slo", "openloop", "errors", "stream", "fault",
];

#[test]
fn every_fixture_reads_and_writes_back_byte_for_byte() {
    for run in RUNS {
        let dir = fixture(run);
        let (rows, text) = reread::<LongRow>(&dir.join("runs.csv"));
        assert!(!rows.is_empty(), "{run}");
        assert_eq!(
            text,
            std::fs::read_to_string(dir.join("runs.csv")).unwrap(),
            "{run}"
        );
        let t = timeline_of(&dir);
        let (_, text) = reread::<TimelineRow>(&t);
        assert_eq!(text, std::fs::read_to_string(&t).unwrap(), "{run} timeline");
    }
}

#[test]
fn the_new_writer_gives_the_fixtures_long_csv_and_timeline() {
    // Read back with the report's reader, then written by today's writer: same bytes, where the
    // reader keeps every column the file has (lag and the uncorrected p99 are not read back, and a
    // mix run saves the HDR files of its last command only, so its other seconds have no latency).
    for run in ["basic", "errors", "fault"] {
        let dir = fixture(run);
        let saved = saved::load(&dir, None).unwrap();
        let rows: Vec<LongRow> = saved
            .results
            .iter()
            .map(|r| files::long_row(&saved.meta, r))
            .collect();
        let (mut want, _) = reread::<LongRow>(&dir.join("runs.csv"));
        // The reader keeps the start to the microsecond through an f64: the last digit may move.
        for (w, r) in want.iter_mut().zip(&rows) {
            let (a, b): (f64, f64) = (
                w.start_unix_s.parse().unwrap(),
                r.start_unix_s.parse().unwrap(),
            );
            assert!((a - b).abs() < 2e-6, "{run}: {a} {b}");
            w.start_unix_s.clone_from(&r.start_unix_s);
            // Files older than the column say nothing of the bound; written again, it is unknown.
            assert_eq!((w.bound.as_str(), r.bound.as_str()), ("", "unknown"));
            w.bound.clone_from(&r.bound);
        }
        assert_eq!(rows, want, "{run}");
        let timeline = files::timeline_csv(&saved.results);
        assert_eq!(
            timeline,
            std::fs::read_to_string(timeline_of(&dir)).unwrap(),
            "{run}"
        );
    }
}

#[test]
fn the_report_reader_gets_the_fixtures_values() {
    let basic = saved::load(&fixture("basic"), None).unwrap();
    assert_eq!(basic.meta.run_id, "20261207T101034Z-401b");
    assert_eq!(basic.meta.git_rev, "ae0268d79ff5");
    let set = &basic.results[0];
    assert_eq!(
        (set.test.as_str(), set.requests, set.ok),
        ("SET", 2000, 2000)
    );
    assert_eq!(
        (set.rps, set.latency.p50, set.latency.p99),
        (70709.07, 0.237, 3.795)
    );
    assert_eq!(set.server_version, "redis 7.0.15");
    assert_eq!(set.timeline.len(), 1);
    assert!(!set.hist.is_empty());

    let mix = saved::load(&fixture("mix"), None).unwrap();
    let repeats: Vec<(bool, u32, u64)> = mix
        .results
        .iter()
        .map(|r| (r.mix, r.repeat, r.ok))
        .collect();
    assert_eq!(
        repeats,
        [
            (true, 1, 597),
            (true, 1, 1403),
            (true, 2, 606),
            (true, 2, 1394)
        ]
    );

    let errors = saved::load(&fixture("errors"), None).unwrap();
    let e = &errors.results[0];
    assert_eq!(e.events[ErrorClass::WrongType.index()], 500);
    assert_eq!(e.timeline[0].event(ErrorClass::WrongType.index()), 500);

    let open = saved::load(&fixture("openloop"), None).unwrap();
    assert_eq!(
        (open.results[0].target_rps, open.results[0].achieved_rps),
        (Some(1000.0), Some(1000.0))
    );

    let fault = saved::load(&fixture("fault"), None).unwrap();
    let f = &fault.results[0].experiment.faults;
    assert_eq!((f[0].at_s, f[0].action.as_str()), (1.0, "debug-sleep"));
    assert_eq!(f[0].node, "0.2s 127.0.0.1:16391 (master)");
}

#[test]
fn the_slo_readers_get_the_ladder_and_the_long_csv_columns() {
    let run = saved::load(&fixture("slo"), None).unwrap();
    let slo = run.results[0].slo.as_ref().unwrap();
    assert_eq!(
        (slo.objective.as_str(), slo.max_rps),
        ("p99<=50ms", Some(96445.0))
    );
    assert_eq!(slo.outcome, Outcome::Found);
    assert_eq!(slo.steps.len(), 5);
    assert_eq!(
        slo.steps[1].why,
        "p99 253.055 ms > 50 ms, delivered 74% of the target"
    );
    assert_eq!((slo.steps[4].rate, slo.steps[4].p99_ms), (96445.0, 9.191));
    // Without the ladder file, the long CSV's two columns alone.
    let (rows, _) = reread::<LongRow>(&fixture("slo").join("runs.csv"));
    assert_eq!(
        (rows[0].slo.as_str(), rows[0].slo_max_rps.as_str()),
        ("p99<=50ms", "96445")
    );
}

#[test]
fn older_formats_still_read() {
    // 26 columns, and a timeline without `repeat`: a test's seconds restart with each repeat.
    let run = saved::load(&fixture("v0-mix"), None).unwrap();
    let got: Vec<(u32, usize, Option<u64>, f64)> = run
        .results
        .iter()
        .map(|r| {
            (
                r.repeat,
                r.timeline.len(),
                r.timeline.first().map(|s| s.ok),
                r.rps,
            )
        })
        .collect();
    // No repeat column in the long CSV: every row is repeat 1, so the timeline's second pass
    // (repeat 2) is left unmatched, as before the schema.
    assert_eq!(got[0], (1, 1, Some(597), 64654.22));
    assert_eq!(got[1], (1, 1, Some(1403), 151942.83));
    assert_eq!(got[2], (1, 0, None, 28019.24));
    assert_eq!(run.results[0].shards, 1);
    assert_eq!(run.results[0].started, None);
    let basic = saved::load(&fixture("v0-basic"), None).unwrap();
    assert_eq!(basic.results.len(), 2);
    assert_eq!(basic.results[1].latency.p99, 0.658);
    let rows = compare::load(&fixture("v0-basic").join("runs.csv")).unwrap();
    assert_eq!(rows.len(), 2);
}

#[test]
fn compare_reads_the_fixtures() {
    let rows = compare::load(&fixture("mix").join("runs.csv")).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].run_id, "20261207T101034Z-4023");
    let th = compare::Thresholds {
        max_drop: 0.05,
        max_p99_rise: 0.1,
    };
    let a = compare::load(&fixture("basic").join("runs.csv")).unwrap();
    let b = compare::load(&fixture("v0-basic").join("runs.csv")).unwrap();
    let ev = compare::evaluate(a, b, &th);
    assert_eq!(ev.rows.len(), 2);
    assert_eq!(ev.verdict(), compare::Verdict::Pass);
}

/// A result with every optional part of the summary filled.
fn rich(test: &str) -> TestResult {
    let mut r = TestResult::blank("10.0.0.1:6379", test);
    (r.requests, r.ok, r.errors, r.duration_s, r.rps) = (1000, 990, 10, 2.5, 396.123_456_7);
    r.events[ErrorClass::Moved.index()] = 4;
    r.events[ErrorClass::ConnLost.index()] = 6;
    r.words[ErrorClass::ConnLost.index()] = Some("connection reset \"x\"".into());
    r.latency = Summary {
        avg: 0.5,
        min: 0.01,
        p50: 0.4,
        p95: 0.9,
        p99: 1.25,
        p999: 3.0,
        max: 7.5,
    };
    r.latency_uncorrected = Some(Summary {
        p99: 1.0,
        ..Summary::default()
    });
    r.client_lag = Some(Summary::default());
    (r.target_rps, r.achieved_rps, r.max_lag_ms) = (Some(400.0), Some(398.5), Some(f64::NAN));
    let mut s = Second::new();
    s.ok = 400;
    s.hist.record(1500).unwrap();
    let s = crate::stats::Tick::of(&s);
    r.timeline = vec![s.clone(), s.clone(), s];
    r.experiment = Experiment {
        stream: Some(Default::default()),
        consistency: Some(Default::default()),
        faults: vec![FaultRow {
            at_s: 1.2,
            action: "kill".into(),
            node: "n1".into(),
            outage_s: Some(0.5),
            errors: vec![(ErrorClass::ConnLost, 6)],
            error: Some("refused".into()),
            ..FaultRow::default()
        }],
        lag: vec![3, 0],
        replay: None,
    };
    r.slo = Some(SloResult {
        objective: "p99<=1ms".into(),
        max_rps: None,
        ceiling_rps: 500.0,
        outcome: Outcome::NotMet,
        steps: vec![Step {
            rate: 250.0,
            achieved: 249.9,
            p50_ms: 0.3,
            p99_ms: 1.5,
            measured: vec![1.5],
            errors: 1,
            requests: 1249,
            pass: false,
            why: "p99 1.5 ms > 1 ms".into(),
        }],
        held: false,
    });
    (r.shard, r.shards) = (Some(2), 3);
    r.started = Some(UNIX_EPOCH + Duration::from_micros(1_796_638_234_692_893));
    r
}

#[test]
fn the_json_summary_is_byte_identical_to_the_hand_built_one() {
    let meta = RunMeta {
        timestamp: "2026-12-07T10:10:34Z".into(),
        run_id: "R1".into(),
        version: "0.1.0".into(),
        git_rev: "abc".into(),
        profile: "p".into(),
        environment: Vec::new(),
    };
    let plain = TestResult::blank("a", "SET");
    let results = [rich("GET"), plain];
    assert_eq!(
        without_observed(&files::json(&meta, &results)),
        json_before(&meta, &results)
    );
    assert_eq!(files::json(&meta, &[]), json_before(&meta, &[]));
    // And on the fixtures' results as the report reads them back.
    for run in RUNS {
        let saved = saved::load(&fixture(run), None).unwrap();
        assert_eq!(
            without_observed(&files::json(&saved.meta, &saved.results)),
            json_before(&saved.meta, &saved.results),
            "{run}"
        );
    }
}

/// The summary without the members the observations added (the oracle predates them), which
/// are checked here instead: present on every result, unknown when nothing was observed.
fn without_observed(json: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(json).unwrap();
    for r in doc["results"].as_array_mut().unwrap() {
        let m = r.as_object_mut().unwrap();
        assert_eq!(m.remove("bound").unwrap(), "unknown");
        assert!(m.remove("bound_why").is_some());
        assert!(m.remove("client_cpu").unwrap().is_null());
        assert!(m.remove("server").unwrap()["us_per_call"].is_null());
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

// ---- the summary as built before the schema (verbatim), the oracle of the test above ----

use super::experiment;

/// `--json FILE`: a machine-readable summary of every result.
pub fn json_before(meta: &RunMeta, results: &[TestResult]) -> String {
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let lat = |s: &crate::stats::Summary| {
                serde_json::json!({
                    "avg_ms": s.avg, "min_ms": s.min, "p50_ms": s.p50, "p95_ms": s.p95,
                    "p99_ms": s.p99, "p999_ms": s.p999, "max_ms": s.max
                })
            };
            let classes: serde_json::Map<String, serde_json::Value> = r
                .error_classes()
                .into_iter()
                .map(|(c, n)| (c.name().to_string(), n.into()))
                .collect();
            let words: serde_json::Map<String, serde_json::Value> = r
                .error_classes()
                .into_iter()
                .filter_map(|(c, _)| Some((c.name().to_string(), r.words_of(c)?.into())))
                .collect();
            let mut row = serde_json::json!({
                "target": r.target, "deployment": r.deployment, "persistence": r.persistence,
                "server_version": r.server_version,
                "masters": r.masters, "test": r.test, "mix": r.mix, "clients": r.clients,
                "connections": r.connections, "pipeline": r.pipeline, "threads": r.threads,
                "data_size": r.data_size, "keyspace": r.keyspace, "key_dist": r.key_dist,
                "target_rps": r.target_rps, "achieved_rps": r.achieved_rps, "max_lag_ms": r.max_lag_ms,
                "repeat": r.repeat, "requests": r.requests, "duration_s": r.duration_s, "rps": r.rps,
                "ok": r.ok, "errors": r.errors, "error_classes": classes, "error_words": words,
                "latency": lat(&r.latency),
                "latency_uncorrected": r.latency_uncorrected.as_ref().map(lat),
                "client_lag": r.client_lag.as_ref().map(lat),
                "unanswered": r.unanswered, "interrupted": r.interrupted,
                "timeline": r.timeline.iter().enumerate().map(|(i, s)| {
                    let ms = crate::stats::ms;
                    let mut sec = serde_json::json!({"elapsed_s": i + 1, "span_s": r.span_of_second(i), "ok": s.ok, "errors": s.failed, "p50_ms": ms(s.p50_us), "p99_ms": ms(s.p99_us), "max_ms": ms(s.max_us)});
                    if let Some(n) = r.experiment.lag.get(i) {
                        sec["lag"] = (*n).into();
                    }
                    let f = experiment::faults_in_second(r, i);
                    if !f.is_empty() {
                        sec["fault"] = f.into();
                    }
                    sec
                }).collect::<Vec<_>>(),
            });
            if let Some(map) = row.as_object_mut() {
                exp_json_before(r, map);
                map.insert("shard".into(), r.shard.into());
                map.insert("shards".into(), r.shards.into());
                let started = r.started.and_then(|t| t.duration_since(UNIX_EPOCH).ok());
                map.insert(
                    "start_unix_s".into(),
                    started.map(|d| d.as_secs_f64()).into(),
                );
                if let Some(slo) = &r.slo {
                    map.insert("slo".into(), slo_json_before(slo));
                }
            }
            row
        })
        .collect();
    let doc = serde_json::json!({
        "timestamp": meta.timestamp, "run_id": meta.run_id, "rbench_version": meta.version,
        "git_rev": meta.git_rev, "profile": meta.profile, "results": rows,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// `results[i].slo`: what the search found and every step it ran.
fn slo_json_before(s: &crate::slo::SloResult) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = s
        .steps
        .iter()
        .map(|st| {
            serde_json::json!({
                "rate": st.rate, "achieved": st.achieved, "p50_ms": st.p50_ms, "p99_ms": st.p99_ms,
                "measured_ms": st.measured, "requests": st.requests, "errors": st.errors,
                "pass": st.pass, "why": st.why,
            })
        })
        .collect();
    let runs = |r: Option<f64>| s.steps.iter().filter(|st| Some(st.rate) == r).count();
    let held = |r: Option<f64>| {
        let at = s.steps.iter().filter(|st| Some(st.rate) == r);
        at.filter(|st| st.pass).count()
    };
    let missed = s.steps.iter().filter(|st| !st.pass).map(|st| st.rate);
    let missed = missed.reduce(f64::min);
    serde_json::json!({
        "objective": s.objective, "max_rps": s.max_rps, "ceiling_rps": s.ceiling_rps,
        "outcome": s.outcome.name(), "held": s.held, "steps": steps,
        "max_rps_runs": runs(s.max_rps), "max_rps_held": held(s.max_rps),
        "missed_rps": missed, "missed_rps_runs": runs(missed), "missed_rps_held": held(missed),
    })
}

/// The result's `stream`, `consistency` and `faults` members for `--json`.
fn exp_json_before(r: &TestResult, row: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let e = &r.experiment;
    if let Some(s) = &e.stream {
        row.insert(
            "stream".into(),
            json!({
                "produced": s.produced, "delivered": s.delivered, "acked": s.acked,
                "reclaimed": s.reclaimed, "duplicates": s.duplicates, "pending": s.pending,
                "lost": s.lost, "e2e_p50_ms": s.e2e_p50_ms, "e2e_p99_ms": s.e2e_p99_ms,
                "e2e_max_ms": s.e2e_max_ms, "first_oom_s": s.first_oom_s,
                "produced_before_oom": s.produced_before_oom,
            }),
        );
    }
    if let Some(c) = &e.consistency {
        row.insert(
            "consistency".into(),
            json!({
                "writes": c.writes, "acked": c.acked, "failed": c.failed, "lost": c.lost,
                "unacked_applied": c.unacked_applied, "reads": c.reads,
                "stale_reads": c.stale_reads,
            }),
        );
    }
    if !e.faults.is_empty() {
        let rows: Vec<serde_json::Value> = e
            .faults
            .iter()
            .map(|f| {
                let errors: serde_json::Map<String, serde_json::Value> = f
                    .errors
                    .iter()
                    .map(|(c, n)| (c.name().to_string(), (*n).into()))
                    .collect();
                json!({
                    "at_s": f.at_s, "action": f.action, "node": f.node, "outage_s": f.outage_s,
                    "recovered_at_s": f.recovered_at_s, "errors": errors,
                    "tps_before": f.tps_before, "tps_during": f.tps_during,
                    "tps_after": f.tps_after, "error": f.error,
                })
            })
            .collect();
        row.insert("faults".into(), rows.into());
    }
}
