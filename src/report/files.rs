//! Results files under `--out`: the long CSV (appended, whole rows in one write), the per-second
//! timeline CSV, HDR histograms (V2, mergeable across machines, and the per-second interval log that
//! HdrHistogram's own tools read), the configuration table in Markdown, and the optional JSON
//! summary. Whole files are written to a temp name and renamed, so an interrupted run never leaves a
//! half-written file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::{Serializer, V2Serializer};

use super::{RunMeta, TestResult, experiment, hlog, slo, table};
use crate::resp::ErrorClass;
use crate::stats::{ms, summarize};

pub const LONG_CSV: &str = "runs.csv";

/// DESIGN §6, then extensions (appended only, so old parsers keep working).
pub const LONG_HEADER: [&str; 26] = [
    "timestamp",
    "run_id",
    "rbench_version",
    "git_rev",
    "profile",
    "target",
    "deployment",
    "persistence",
    "test",
    "clients",
    "pipeline",
    "data_size",
    "keyspace",
    "target_rps",
    "requests",
    "duration_s",
    "rps",
    "ok",
    "errors",
    "avg_ms",
    "min_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
];
pub const LONG_EXTRA: [&str; 15] = [
    "masters",
    "threads",
    "key_dist",
    "mix",
    "repeat",
    "achieved_rps",
    "p99_uncorrected_ms",
    "error_classes",
    "interrupted",
    "server_version",
    "slo",
    "slo_max_rps",
    "shard",
    "shards",
    "start_unix_s",
];

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// An instant as Unix seconds to the microsecond (what lines shards' windows up in `rbench merge`).
fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn long_row(meta: &RunMeta, r: &TestResult) -> Vec<String> {
    let l = &r.latency;
    let classes: Vec<String> = r
        .error_classes()
        .iter()
        .map(|(c, n)| format!("{}={n}", c.name()))
        .collect();
    vec![
        meta.timestamp.clone(),
        meta.run_id.clone(),
        meta.version.clone(),
        meta.git_rev.clone(),
        meta.profile.clone(),
        r.target.clone(),
        r.deployment.clone(),
        r.persistence.clone(),
        r.test.clone(),
        r.clients.to_string(),
        r.pipeline.to_string(),
        r.data_size.clone(),
        r.keyspace.to_string(),
        r.target_rps.map(|v| format!("{v}")).unwrap_or_default(),
        r.requests.to_string(),
        f3(r.duration_s),
        format!("{:.2}", r.rps),
        r.ok.to_string(),
        r.errors.to_string(),
        f3(l.avg),
        f3(l.min),
        f3(l.p50),
        f3(l.p95),
        f3(l.p99),
        f3(l.p999),
        f3(l.max),
        r.masters.to_string(),
        r.threads.to_string(),
        r.key_dist.clone(),
        r.mix.to_string(),
        r.repeat.to_string(),
        r.achieved_rps
            .map(|v| format!("{v:.2}"))
            .unwrap_or_default(),
        r.latency_uncorrected.map(|u| f3(u.p99)).unwrap_or_default(),
        classes.join(" "),
        r.interrupted.to_string(),
        r.server_version.clone(),
        r.slo
            .as_ref()
            .map(|s| s.objective.clone())
            .unwrap_or_default(),
        r.slo
            .as_ref()
            .and_then(|s| s.max_rps)
            .map(|v| format!("{v:.0}"))
            .unwrap_or_default(),
        r.shard.map(|i| i.to_string()).unwrap_or_default(),
        r.shards.to_string(),
        r.started.map(unix_seconds).unwrap_or_default(),
    ]
}

/// Appends the rows of `results` to `<dir>/<name>` (the long CSV), with the header when the file is
/// new. The rows go out in one `write_all` on an O_APPEND file, so a crash leaves whole rows or none.
pub fn append_long_csv(
    dir: &Path,
    name: &str,
    meta: &RunMeta,
    results: &[TestResult],
) -> Result<PathBuf, WriteError> {
    let path = dir.join(name);
    fs::create_dir_all(dir).map_err(werr(dir))?;
    let fresh = fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    if fresh {
        let header: Vec<&str> = LONG_HEADER
            .iter()
            .chain(LONG_EXTRA.iter())
            .copied()
            .collect();
        w.write_record(&header).map_err(io).map_err(werr(&path))?;
    }
    for r in results {
        w.write_record(long_row(meta, r))
            .map_err(io)
            .map_err(werr(&path))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(werr(&path))?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(werr(&path))?;
    f.write_all(&bytes).map_err(werr(&path))?;
    Ok(path)
}

/// Writes `bytes` to `path` via a temp file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(werr(dir))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(werr(path))
}

/// The per-second timeline of every result so far (DESIGN §6), one file per invocation.
pub fn timeline_csv(results: &[TestResult]) -> String {
    // One column per error class seen anywhere in this file.
    let classes: Vec<ErrorClass> = ErrorClass::ALL
        .iter()
        .copied()
        .filter(|c| results.iter().any(|r| r.events[c.index()] > 0))
        .collect();
    // span_s: the seconds of the run a row covers — 1 but for a run's last, partial second, whose
    // counts are not a per-second rate.
    // Faults and consumer lag get a column once any result has them (plain runs keep the format).
    let faults = results.iter().any(|r| !r.experiment.faults.is_empty());
    let lag = results.iter().any(|r| !r.experiment.lag.is_empty());
    let mut out = String::from("elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s");
    for c in &classes {
        out.push(',');
        out.push_str(c.name());
    }
    if lag {
        out.push_str(",lag");
    }
    if faults {
        out.push_str(",fault");
    }
    // Last, so the columns before keep their places: which repeat a row belongs to.
    out.push_str(",repeat\n");
    for r in results {
        for (i, s) in r.timeline.iter().enumerate() {
            let (p50, p99, max) = if s.hist.is_empty() {
                (0.0, 0.0, 0.0)
            } else {
                (
                    ms(s.hist.value_at_quantile(0.5)),
                    ms(s.hist.value_at_quantile(0.99)),
                    ms(s.hist.max()),
                )
            };
            out.push_str(&format!(
                "{},{},{},{},{},{p50:.3},{p99:.3},{max:.3},{:.3}",
                i + 1,
                csv_field(&r.target),
                csv_field(&r.test),
                s.ok,
                s.failed,
                r.span_of_second(i)
            ));
            for c in &classes {
                out.push_str(&format!(",{}", s.events[c.index()]));
            }
            if lag {
                match r.experiment.lag.get(i) {
                    Some(n) => out.push_str(&format!(",{n}")),
                    None => out.push(','),
                }
            }
            if faults {
                out.push(',');
                out.push_str(&csv_field(&experiment::faults_in_second(r, i)));
            }
            out.push_str(&format!(",{}\n", r.repeat));
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The HDR files' name for a result, without the extension: `<run>-<target>-<test>-r<repeat>`.
pub fn hdr_stem(run_id: &str, r: &TestResult) -> String {
    format!(
        "{run_id}-{}-{}-r{}",
        file_safe(&r.target),
        file_safe(&r.test),
        r.repeat
    )
}

/// Everything but the long CSV, rewritten after each result: timeline, table, the SLO ladder (when
/// a result ran a search), and the newest result's HDR files (`.hdr`, `.hlog`).
pub fn write_run_files(
    dir: &Path,
    meta: &RunMeta,
    results: &[TestResult],
) -> Result<(), WriteError> {
    write_atomic(
        &dir.join(format!("timeline-{}.csv", meta.run_id)),
        timeline_csv(results).as_bytes(),
    )?;
    write_atomic(
        &dir.join(format!("table-{}.md", meta.run_id)),
        table::markdown(results).as_bytes(),
    )?;
    slo::write(dir, &meta.run_id, results)?;
    match results.last() {
        Some(r) => write_hdr(dir, meta, r),
        None => Ok(()),
    }
}

/// A result's histogram (`.hdr`) and per-second interval log (`.hlog`) under `<dir>/hdr/`.
pub fn write_hdr(dir: &Path, meta: &RunMeta, r: &TestResult) -> Result<(), WriteError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(&r.hist, &mut bytes)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))
        .map_err(werr(dir))?;
    let stem = hdr_stem(&meta.run_id, r);
    let hdr = dir.join("hdr");
    write_atomic(&hdr.join(format!("{stem}.hdr")), &bytes)?;
    write_atomic(&hdr.join(format!("{stem}.hlog")), &interval_log(meta, r))
}

/// The result's per-second histograms as an HdrHistogram interval log, from the instant its
/// measurement began (or, not known, `duration_s` before now: the log is written as the test ends).
fn interval_log(meta: &RunMeta, r: &TestResult) -> Vec<u8> {
    let now = SystemTime::now();
    let took = Duration::try_from_secs_f64(r.duration_s).unwrap_or_default();
    let start = r
        .started
        .unwrap_or_else(|| now.checked_sub(took).unwrap_or(now));
    let comment = format!(
        "rbench {} run {} target {} test {} repeat {}, values in microseconds",
        meta.version, meta.run_id, r.target, r.test, r.repeat
    );
    let intervals: Vec<_> = r
        .timeline
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let span = Duration::try_from_secs_f64(r.span_of_second(i)).unwrap_or_default();
            (Duration::from_secs(i as u64), span, &s.hist)
        })
        .collect();
    hlog::interval_log(start, &comment, &intervals)
}

/// `--json FILE`: a machine-readable summary of every result.
pub fn json(meta: &RunMeta, results: &[TestResult]) -> String {
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
                    let h = summarize(&s.hist);
                    let mut sec = serde_json::json!({"elapsed_s": i + 1, "span_s": r.span_of_second(i), "ok": s.ok, "errors": s.failed, "p50_ms": h.p50, "p99_ms": h.p99, "max_ms": h.max});
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
                experiment::json(r, map);
                map.insert("shard".into(), r.shard.into());
                map.insert("shards".into(), r.shards.into());
                let started = r.started.and_then(|t| t.duration_since(UNIX_EPOCH).ok());
                map.insert(
                    "start_unix_s".into(),
                    started.map(|d| d.as_secs_f64()).into(),
                );
                if let Some(slo) = &r.slo {
                    map.insert("slo".into(), slo_json(slo));
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
fn slo_json(s: &crate::slo::SloResult) -> serde_json::Value {
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
    serde_json::json!({
        "objective": s.objective, "max_rps": s.max_rps, "ceiling_rps": s.ceiling_rps,
        "outcome": s.outcome.name(), "held": s.held, "steps": steps,
    })
}
