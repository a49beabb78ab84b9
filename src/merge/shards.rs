//! The shards of one run (`--shard I/N`, one results folder each) added back into the run they are:
//! requests, successes and errors summed; latency percentiles from the union of the histograms
//! (never an average of percentiles); TPS over the union of the measured windows; timelines added
//! second by second, lined up by each shard's wall-clock start. Shards that are not of one run
//! (another run id, other tests or options, one missing or given twice) are refused.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::report::saved::SavedRun;
use crate::report::{RunMeta, TestResult};
use hdrhistogram::Histogram;

use crate::stats::{Second, Tick, summarize};

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{}: run {run} was not run with --shard (nothing to merge it with)", .dir.display())]
    NotAShard { dir: PathBuf, run: String },
    #[error("{} holds run {}, {} holds run {}: not shards of one run (pick one with --run)", .a.display(), .a_run, .b.display(), .b_run)]
    RunIds {
        a: PathBuf,
        a_run: String,
        b: PathBuf,
        b_run: String,
    },
    #[error("{} is shard {shard} of {b_count}, {} of a run of {a_count} shards", .b.display(), .a.display())]
    Counts {
        a: PathBuf,
        a_count: u32,
        b: PathBuf,
        shard: u32,
        b_count: u32,
    },
    #[error("shard {shard}/{count} is given twice: {} and {}", .a.display(), .b.display())]
    Twice {
        shard: u32,
        count: u32,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("shard{} {} of {count} missing: give every shard's folder", if .missing.len() > 1 { "s" } else { "" }, list(.missing))]
    Missing { missing: Vec<u32>, count: u32 },
    #[error("{} and {} ran {what}: not shards of one run", .a.display(), .b.display())]
    Differ {
        a: PathBuf,
        b: PathBuf,
        what: String,
    },
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// One shard's folder, loaded.
pub struct ShardRun {
    pub dir: PathBuf,
    pub run: SavedRun,
}

/// The merged run: its identity (the shards'), its rows, and how far apart the shards started.
pub struct Merged {
    pub meta: RunMeta,
    pub results: Vec<TestResult>,
    pub shards: u32,
    /// Per row, the gap between its first and last shard's start (None: the files do not say).
    pub start_spread: Vec<Option<Duration>>,
}

/// Checks the shards belong together and adds them up, in shard order.
pub fn merge(mut runs: Vec<ShardRun>) -> Result<Merged, ShardError> {
    let count = check_shards(&mut runs)?;
    let first = &runs[0];
    for other in &runs[1..] {
        check_same_rows(first, other)?;
    }
    let (results, start_spread) = (0..first.run.results.len())
        .map(|i| {
            let rows: Vec<&TestResult> = runs.iter().map(|r| &r.run.results[i]).collect();
            add(&rows, count)
        })
        .unzip();
    Ok(Merged {
        meta: first.run.meta.clone(),
        results,
        shards: count,
        start_spread,
    })
}

/// One run id, one shard count, every shard once; sorts `runs` by shard.
fn check_shards(runs: &mut [ShardRun]) -> Result<u32, ShardError> {
    let shard_of = |r: &ShardRun| match r.run.results.first() {
        Some(TestResult {
            shard: Some(i),
            shards,
            ..
        }) => Ok((*i, *shards)),
        _ => Err(ShardError::NotAShard {
            dir: r.dir.clone(),
            run: r.run.meta.run_id.clone(),
        }),
    };
    let (_, count) = shard_of(&runs[0])?;
    for r in runs.iter() {
        let (index, n) = shard_of(r)?;
        let head = &runs[0];
        if r.run.meta.run_id != head.run.meta.run_id {
            return Err(ShardError::RunIds {
                a: head.dir.clone(),
                a_run: head.run.meta.run_id.clone(),
                b: r.dir.clone(),
                b_run: r.run.meta.run_id.clone(),
            });
        }
        if n != count {
            return Err(ShardError::Counts {
                a: head.dir.clone(),
                a_count: count,
                b: r.dir.clone(),
                shard: index,
                b_count: n,
            });
        }
    }
    runs.sort_by_key(|r| shard_of(r).map_or(0, |s| s.0));
    for pair in runs.windows(2) {
        let (a, b) = (shard_of(&pair[0])?.0, shard_of(&pair[1])?.0);
        if a == b {
            return Err(ShardError::Twice {
                shard: a,
                count,
                a: pair[0].dir.clone(),
                b: pair[1].dir.clone(),
            });
        }
    }
    let given: Vec<u32> = runs
        .iter()
        .filter_map(|r| shard_of(r).ok())
        .map(|s| s.0)
        .collect();
    let missing: Vec<u32> = (0..count).filter(|i| !given.contains(i)).collect();
    if !missing.is_empty() {
        return Err(ShardError::Missing { missing, count });
    }
    Ok(count)
}

/// The same rows in the same order, run with the same options.
fn check_same_rows(a: &ShardRun, b: &ShardRun) -> Result<(), ShardError> {
    let differ = |what: String| ShardError::Differ {
        a: a.dir.clone(),
        b: b.dir.clone(),
        what,
    };
    let names = |r: &ShardRun| -> Vec<String> {
        r.run
            .results
            .iter()
            .map(|t| format!("{} on {} (repeat {})", t.test, t.target, t.repeat))
            .collect()
    };
    let (na, nb) = (names(a), names(b));
    if na != nb {
        let at = na.iter().zip(&nb).position(|(x, y)| x != y);
        return Err(differ(match at {
            Some(i) => format!("different tests: {} against {}", na[i], nb[i]),
            None => format!("{} against {} tests", na.len(), nb.len()),
        }));
    }
    if a.run.meta.version != b.run.meta.version {
        return Err(differ(format!(
            "different rbench versions ({} and {})",
            a.run.meta.version, b.run.meta.version
        )));
    }
    for (x, y) in a.run.results.iter().zip(&b.run.results) {
        if let Some((field, vx, vy)) = options(x)
            .into_iter()
            .zip(options(y))
            .find_map(|((f, vx), (_, vy))| (vx != vy).then_some((f, vx, vy)))
        {
            return Err(differ(format!(
                "{} on {} with {field} {vx} and {vy}",
                x.test, x.target
            )));
        }
    }
    Ok(())
}

/// What must be alike across the shards of a row (their counts and rates are their own).
fn options(r: &TestResult) -> [(&'static str, String); 10] {
    [
        ("deployment", r.deployment.clone()),
        ("persistence", r.persistence.clone()),
        ("masters", r.masters.to_string()),
        ("clients", r.clients.to_string()),
        ("pipeline", r.pipeline.to_string()),
        ("threads", r.threads.to_string()),
        ("data size", r.data_size.clone()),
        ("key space", r.keyspace.to_string()),
        ("key distribution", r.key_dist.clone()),
        (
            "rate",
            match r.target_rps {
                Some(_) => "open loop (--rps)".into(),
                None => "closed loop".into(),
            },
        ),
    ]
}

/// One row of the run from its shards' rows, and how far apart the shards started it.
fn add(rows: &[&TestResult], count: u32) -> (TestResult, Option<Duration>) {
    let first = rows[0];
    let starts: Option<Vec<SystemTime>> = rows.iter().map(|r| r.started).collect();
    let window = starts.as_ref().map(|s| Window::of(s, rows));
    let (ticks, hists) = timeline(rows, window.as_ref());
    let mut m = TestResult {
        shard: None,
        shards: count,
        hist: crate::report::hlog::sum(rows.iter().map(|r| &r.hist))
            .unwrap_or_else(|_| first.hist.clone()),
        timeline: ticks,
        hlog: Some(hists),
        started: window.as_ref().map(|w| w.start),
        duration_s: match &window {
            Some(w) => w.seconds,
            None => rows.iter().map(|r| r.duration_s).fold(0.0, f64::max),
        },
        latency_uncorrected: None,
        client_lag: None,
        slo: None,
        experiment: Default::default(),
        ..first.clone()
    };
    let sum = |f: fn(&TestResult) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    let sum_opt =
        |f: fn(&TestResult) -> Option<f64>| rows.iter().map(|r| f(r)).sum::<Option<f64>>();
    m.requests = sum(|r| r.requests);
    m.ok = sum(|r| r.ok);
    m.errors = sum(|r| r.errors);
    m.unanswered = sum(|r| r.unanswered);
    for (i, e) in m.events.iter_mut().enumerate() {
        *e = rows.iter().map(|r| r.events[i]).sum();
    }
    // The load came from every shard's clients at once.
    m.clients = rows.iter().map(|r| r.clients).sum();
    m.connections = rows.iter().map(|r| r.connections).sum();
    m.threads = rows.iter().map(|r| r.threads).sum();
    m.target_rps = sum_opt(|r| r.target_rps);
    m.achieved_rps = sum_opt(|r| r.achieved_rps);
    m.max_lag_ms = rows.iter().filter_map(|r| r.max_lag_ms).reduce(f64::max);
    m.interrupted = rows.iter().any(|r| r.interrupted);
    m.latency = summarize(&m.hist);
    m.rps = m.ok as f64 / m.duration_s.max(1e-9);
    (m, window.map(|w| w.spread))
}

/// The union of the shards' measured windows.
struct Window {
    start: SystemTime,
    seconds: f64,
    /// Each shard's start, in whole seconds after `start` (where its timeline goes).
    offsets: Vec<usize>,
    spread: Duration,
}

impl Window {
    fn of(starts: &[SystemTime], rows: &[&TestResult]) -> Window {
        let start = starts
            .iter()
            .copied()
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let after = |t: SystemTime| t.duration_since(start).unwrap_or_default();
        let end = starts
            .iter()
            .zip(rows)
            .map(|(s, r)| after(*s).as_secs_f64() + r.duration_s)
            .fold(0.0, f64::max);
        Window {
            start,
            seconds: end,
            offsets: starts
                .iter()
                .map(|s| after(*s).as_secs_f64().round() as usize)
                .collect(),
            spread: starts.iter().map(|s| after(*s)).max().unwrap_or_default(),
        }
    }
}

/// Second k of the run holds second k − offset of every shard: counts added, and its percentiles
/// from the union of the shards' histograms of that second (their `.hlog`s), returned beside.
fn timeline(rows: &[&TestResult], w: Option<&Window>) -> (Vec<Tick>, Vec<Histogram<u64>>) {
    let offset = |i: usize| w.map_or(0, |w| w.offsets[i]);
    let len = rows
        .iter()
        .enumerate()
        .map(|(i, r)| offset(i) + r.timeline.len())
        .max()
        .unwrap_or(0);
    let mut out: Vec<Second> = (0..len).map(|_| Second::new()).collect();
    // The shards' targets add up as their shares of the rate do.
    let mut targets: Vec<Option<f64>> = vec![None; len];
    for (i, r) in rows.iter().enumerate() {
        let hists = r.hlog.as_deref().unwrap_or_default();
        for (k, s) in r.timeline.iter().enumerate() {
            if let Some(t) = s.target {
                *targets[offset(i) + k].get_or_insert(0.0) += t;
            }
            let o = &mut out[offset(i) + k];
            o.ok += s.ok;
            o.failed += s.failed;
            for (a, b) in o.events.iter_mut().zip(s.events()) {
                *a += b;
            }
            if let Some(h) = hists.get(k) {
                let _ = o.hist.add(h);
            }
        }
    }
    let ticks = out
        .iter()
        .zip(targets)
        .map(|(s, target)| Tick {
            target,
            ..Tick::of(s)
        })
        .collect();
    (ticks, out.into_iter().map(|s| s.hist).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::saved::SavedRun;

    const T0: u64 = 1_796_374_800;

    /// Shard `index` of 2: a SET row of `secs` seconds started `delay_ms` after T0, each second
    /// `per_sec` requests at latency `lat` µs.
    fn shard(index: u32, delay_ms: u64, secs: usize, per_sec: u64, lat: u64) -> ShardRun {
        let mut r = TestResult::blank("t", "SET");
        r.shard = Some(index);
        r.shards = 2;
        r.started = Some(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(delay_ms),
        );
        r.duration_s = secs as f64;
        let mut hists = Vec::new();
        for _ in 0..secs {
            let mut s = Second::new();
            s.ok = per_sec;
            s.hist.record_n(lat, per_sec).unwrap();
            r.hist.record_n(lat, per_sec).unwrap();
            r.timeline.push(Tick::of(&s));
            hists.push(s.hist);
        }
        r.hlog = Some(hists);
        r.requests = per_sec * secs as u64;
        r.ok = r.requests;
        ShardRun {
            dir: PathBuf::from(format!("shard{index}")),
            run: SavedRun {
                meta: RunMeta {
                    timestamp: String::new(),
                    run_id: "r-s2".into(),
                    version: "0.1.0".into(),
                    git_rev: String::new(),
                    profile: String::new(),
                    environment: Vec::new(),
                },
                results: vec![r],
            },
        }
    }

    #[test]
    fn adds_counts_unions_histograms_and_windows() {
        // Shard 1 starts 2.2 s later: the run's window is 0 .. 5.2 s, its timeline lines up at 2.
        let m = merge(vec![
            shard(1, 2200, 3, 100, 2000),
            shard(0, 0, 4, 300, 1000),
        ])
        .unwrap();
        let r = &m.results[0];
        assert_eq!((r.requests, r.ok, r.shard, r.shards), (1500, 1500, None, 2));
        assert_eq!(r.clients, 100);
        assert!((r.duration_s - 5.2).abs() < 1e-9);
        assert!((r.rps - 1500.0 / 5.2).abs() < 1e-6);
        assert_eq!(r.hist.len(), 1500);
        // 1200 of 1500 samples at 1 ms: p50 is 1 ms, p99 2 ms (never an average of the two).
        assert!((r.latency.p50 - 1.0).abs() < 0.01 && (r.latency.p99 - 2.0).abs() < 0.01);
        let per_sec: Vec<u64> = r.timeline.iter().map(|s| s.ok).collect();
        assert_eq!(per_sec, [300, 300, 400, 400, 100]);
        // A second's percentiles from the union of the shards' histograms of it: 300 at 1 ms
        // and 100 at 2 ms.
        let third = &r.timeline[2];
        assert!((995..=1010).contains(&third.p50_us), "{third:?}");
        assert!((1990..=2020).contains(&third.max_us), "{third:?}");
        assert_eq!(r.hlog.as_ref().map(|h| h[2].len()), Some(400));
        assert_eq!(m.start_spread, [Some(Duration::from_millis(2200))]);
        assert_eq!(
            r.started,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(T0))
        );
    }

    #[test]
    fn refuses_what_is_not_one_run() {
        let err = |runs| merge(runs).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(vec![shard(0, 0, 1, 1, 1)]).contains("shard 1 of 2 missing"));
        assert!(err(vec![shard(0, 0, 1, 1, 1), shard(0, 0, 1, 1, 1)]).contains("given twice"));
        let mut other = shard(1, 0, 1, 1, 1);
        other.run.results[0].pipeline = 16;
        assert!(err(vec![shard(0, 0, 1, 1, 1), other]).contains("SET on t with pipeline 1 and 16"));
        let mut three = shard(1, 0, 1, 1, 1);
        three.run.results[0].shards = 3;
        assert!(err(vec![shard(0, 0, 1, 1, 1), three]).contains("of a run of 2 shards"));
        let mut plain = shard(1, 0, 1, 1, 1);
        plain.run.results[0].shard = None;
        assert!(err(vec![shard(0, 0, 1, 1, 1), plain]).contains("not run with --shard"));
    }
}
