//! HDR files in the ecosystem's formats: the `.hlog` interval logs a run writes decode with an
//! independent reader (Python's `hdrh`) to the run's own numbers, and `rbench merge` adds `.hdr` and
//! `.hlog` files into exactly the histogram of all their values, or refuses bad input in one line.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use support::*;

/// Whether `python3` can import `hdrh` (PyPI `hdrhistogram`, installed by scripts/setup.sh). Missing
/// outside CI: a loud skip; in CI (env CI set): a failure, so the check cannot silently vanish.
fn have_python_hdrh() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import hdrh"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the `hdrh` module (pip install hdrhistogram) is required in CI"
        );
        eprintln!(
            "\n!!! SKIPPED: python3 or its `hdrh` module is missing (bash scripts/setup.sh installs it); \
             the .hlog files were not checked with an independent decoder !!!\n"
        );
    }
    ok
}

/// Sums every interval of an interval log with hdrh's own reader; prints counts and percentiles
/// (µs) and each interval's start offset and length (s) as JSON.
const DECODE: &str = r#"
import json, sys
from hdrh.log import HistogramLogReader
from hdrh.histogram import HdrHistogram
total = HdrHistogram(1, 24 * 3600 * 10**6, 2)
reader = HistogramLogReader(sys.argv[1], total)
starts, lengths = [], []
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    start_s = h.get_start_time_stamp() / 1000.0
    starts.append(start_s - reader.get_start_time_sec())
    lengths.append(h.get_end_time_stamp() / 1000.0 - start_s)
    total.add(h)
print(json.dumps({"count": total.get_total_count(), "p50": total.get_value_at_percentile(50),
                  "p99": total.get_value_at_percentile(99), "max": total.get_max_value(),
                  "starts": starts, "lengths": lengths}))
"#;

fn decode_with_hdrh(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", DECODE])
        .arg(path)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "hdrh could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("decoder prints JSON")
}

/// The one file in `dir/hdr` ending with `suffix`.
fn hdr_file(dir: &TempDir, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir.join("hdr"))
        .expect("hdr folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one *{suffix} expected: {found:?}");
    found[0].clone()
}

/// Within a per-second histogram's bucket (2 significant digits: 1/128 of the value, twice for
/// a neighbouring rank) plus the JSON's 3-decimal rounding.
fn assert_near(what: &str, hdrh_us: f64, json_ms: f64) {
    let got = hdrh_us / 1000.0;
    let tol = json_ms / 64.0 + 0.002;
    assert!(
        (got - json_ms).abs() <= tol,
        "{what}: hdrh {got} ms vs rbench {json_ms} ms"
    );
}

#[test]
fn interval_logs_decode_with_python_hdrh_to_the_runs_numbers() {
    if !have_python_hdrh() {
        return;
    }
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("hlog");
    let json = dir.join("run.json");
    let json_arg = json.to_string_lossy().into_owned();
    // Over a second, so each log holds a full interval and the last, partial one.
    let args = args_for(
        &dep,
        &[
            "-t",
            "set,get",
            "--duration",
            "1500ms",
            "--clients",
            "2",
            "-q",
            "--out",
            &dir.arg(),
            "--json",
            &json_arg,
        ],
    );
    run_rbench(&args).assert_ok();
    let doc = read_json(&json);
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        let test = r["test"].as_str().expect("test name");
        let hlog = hdr_file(&dir, &format!("-{test}-r1.hlog"));
        hdr_file(&dir, &format!("-{test}-r1.hdr"));
        let got = decode_with_hdrh(&hlog);
        // Every latency recorded is a successful reply's.
        let ok = r["ok"].as_u64().expect("ok");
        assert!(ok > 0);
        assert_eq!(got["count"].as_u64(), Some(ok), "{test}: count");
        let lat = |k: &str| json_f64(r, &["latency", k]);
        assert_near(test, got["p50"].as_f64().unwrap(), lat("p50_ms"));
        assert_near(test, got["p99"].as_f64().unwrap(), lat("p99_ms"));
        assert_near(test, got["max"].as_f64().unwrap(), lat("max_ms"));
        // One interval per timeline second, at 0, 1, ... s, the last one partial.
        let seconds = r["timeline"].as_array().expect("timeline");
        let starts = got["starts"].as_array().expect("starts");
        let lengths = got["lengths"].as_array().expect("lengths");
        assert_eq!(starts.len(), seconds.len(), "{test}: intervals");
        assert!(starts.len() >= 2, "{test}: {starts:?}");
        for (i, (s, sec)) in starts.iter().zip(seconds).enumerate() {
            assert!(
                (s.as_f64().unwrap() - i as f64).abs() < 0.002,
                "{test}: {starts:?}"
            );
            let span = json_f64(sec, &["span_s"]);
            assert!(
                (lengths[i].as_f64().unwrap() - span).abs() < 0.002,
                "{test}: {lengths:?}"
            );
        }
    }
}

/// A deterministic spread of latencies from 1 µs to ~10 s (a 64-bit LCG; no rand crate needed).
fn latencies(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..n)
        .map(|_| {
            let digits = 1 + (next() % 7) as u32;
            1 + next() % 10u64.pow(digits)
        })
        .collect()
}

fn histogram_of(values: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("histogram");
    for &v in values {
        h.record(v).expect("record");
    }
    h
}

#[test]
fn merge_of_hdr_and_hlog_equals_the_histogram_of_all_values() {
    let dir = TempDir::new("merge");
    let a = latencies(1, 30_000);
    let parts = [
        latencies(2, 10_000),
        latencies(3, 7_000),
        latencies(4, 3_000),
    ];
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(&histogram_of(&a), &mut bytes)
        .expect("serialize");
    std::fs::write(dir.join("a.hdr"), bytes).expect("write a.hdr");
    let hists: Vec<Histogram<u64>> = parts.iter().map(|p| histogram_of(p)).collect();
    let secs = Duration::from_secs;
    let log = rbench::report::hlog::interval_log(
        SystemTime::now(),
        "merge test",
        &[
            (secs(0), secs(1), &hists[0]),
            (secs(1), secs(1), &hists[1]),
            (secs(2), Duration::from_millis(300), &hists[2]),
        ],
    );
    std::fs::write(dir.join("b.hlog"), log).expect("write b.hlog");

    let out_json = dir.join("merged.json");
    let run = run_rbench(&[
        "merge".to_string(),
        dir.join("a.hdr").to_string_lossy().into_owned(),
        dir.join("b.hlog").to_string_lossy().into_owned(),
        "--json".to_string(),
        out_json.to_string_lossy().into_owned(),
    ]);
    run.assert_ok();
    assert!(run.stdout.contains("merge of 2 files"), "{}", run.stdout);
    assert!(run.stdout.contains("50000 latencies"), "{}", run.stdout);

    let all: Vec<u64> = a.iter().chain(parts.iter().flatten()).copied().collect();
    let want = histogram_of(&all);
    let ms = |us: u64| us as f64 / 1000.0;
    let got = read_json(&out_json);
    assert_eq!(got["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(got["count"].as_u64(), Some(all.len() as u64));
    assert_eq!(json_f64(&got, &["min_ms"]), ms(want.min()));
    assert_eq!(json_f64(&got, &["max_ms"]), ms(want.max()));
    for (key, q) in [
        ("p50_ms", 0.5),
        ("p90_ms", 0.9),
        ("p99_ms", 0.99),
        ("p999_ms", 0.999),
        ("p9999_ms", 0.9999),
    ] {
        assert_eq!(
            json_f64(&got, &[key]),
            ms(want.value_at_quantile(q)),
            "{key}"
        );
    }
    let mean = json_f64(&got, &["mean_ms"]);
    assert!(
        (mean - want.mean() / 1000.0).abs() < 1e-6 * mean,
        "mean {mean}"
    );
    // The console block says the same, with 3 decimals.
    let p99 = format!("{:.3}", ms(want.value_at_quantile(0.99)));
    assert!(run.stdout.contains(&p99), "{}", run.stdout);
}

fn assert_refused(args: &[String], want: &str) {
    let run = run_rbench(args);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{args:?}: {run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{args:?}: {}", run.stderr);
    assert!(
        lines[0].starts_with("rbench merge: ") && lines[0].contains(want),
        "{args:?}: {}",
        lines[0]
    );
    assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
}

#[test]
fn merge_refuses_bad_input_in_one_line() {
    let dir = TempDir::new("merge-bad");
    let text = dir.join("notes.hdr");
    std::fs::write(&text, "these are notes, not a histogram\n").expect("write");
    let mut good = Vec::new();
    V2Serializer::new()
        .serialize(&histogram_of(&[1, 2, 3]), &mut good)
        .expect("serialize");
    std::fs::write(dir.join("good.hdr"), good).expect("write");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let args = |rest: &[String]| {
        let mut v = vec!["merge".to_string()];
        v.extend_from_slice(rest);
        v
    };
    let out_json = p("out.json");
    let json = ["--json".to_string(), out_json.clone()];
    assert_refused(&args(&[p("notes.hdr")]), "not an HDR histogram");
    assert_refused(
        &args(&[
            p("good.hdr"),
            p("notes.hdr"),
            json[0].clone(),
            json[1].clone(),
        ]),
        "notes.hdr: not an HDR histogram",
    );
    assert_refused(&args(&[p("missing.hlog")]), "missing.hlog: no such file");
    assert_refused(&args(&[dir.arg()]), "no results in this folder");
    assert_refused(&args(&[dir.arg(), p("good.hdr")]), "is a folder and");
    assert_refused(
        &args(&[p("good.hdr"), "-q".to_string()]),
        "-q is for merging results folders",
    );
    assert_refused(&args(&[]), "nothing given");
    assert_refused(&args(&[p("good.hdr"), p("good.hdr")]), "give it once");
    assert_refused(&args(&["--bogus".to_string()]), "--bogus");
    assert!(!Path::new(&out_json).exists(), "no JSON on a refused merge");
}
