//! What scenarios and faults add to a result: the stream and consistency ledgers, one row per
//! fault (outage, errors by class during it, throughput before/during/after), consumer lag per
//! second; and how each output shows them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fault::FaultOutcome;
use crate::resp::ErrorClass;
use crate::scenario::{ConsistencyReport, Report, StreamReport};
use crate::stats::Tick;

use super::TestResult;

/// Seconds of throughput compared before and after a fault.
const AROUND_S: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct Experiment {
    pub stream: Option<StreamReport>,
    pub consistency: Option<ConsistencyReport>,
    pub faults: Vec<FaultRow>,
    /// Stream: per second of the run, entries produced and not yet acked.
    pub lag: Vec<u64>,
    /// `rbench replay`: what was played and what was not sent.
    pub replay: Option<crate::replay::Report>,
}

impl Experiment {
    /// A scenario's ledger and lag, as its headline row carries them (faults are attached later).
    pub fn of_scenario(report: &Report, lag: &[u64]) -> Experiment {
        let (stream, consistency) = match report {
            Report::Stream(s) => (Some(s.clone()), None),
            Report::Consistency(c) => (None, Some(c.clone())),
        };
        Experiment {
            stream,
            consistency,
            faults: Vec::new(),
            lag: lag.to_vec(),
            replay: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultRow {
    pub at_s: f64,
    pub action: String,
    pub node: String,
    pub outage_s: Option<f64>,
    pub recovered_at_s: Option<f64>,
    /// Errors by class in the seconds from the fault to its recovery (or the run's end).
    pub errors: Vec<(ErrorClass, u64)>,
    /// Successful replies per second in the seconds before, during and after the outage.
    pub tps_before: Option<f64>,
    pub tps_during: Option<f64>,
    pub tps_after: Option<f64>,
    /// The fault could not be carried out.
    pub error: Option<String>,
}

/// The rows of the faults carried out during a run whose (merged) timeline is `timeline`.
pub fn fault_rows(outcomes: &[FaultOutcome], timeline: &[Tick]) -> Vec<FaultRow> {
    outcomes
        .iter()
        .map(|o| {
            let start = (o.at_s.max(0.0).floor() as usize).min(timeline.len());
            let end = o
                .recovered_at_s
                .map_or(timeline.len(), |r| r.max(0.0).ceil() as usize)
                .clamp(start, timeline.len());
            // An outage shorter than a second still owns the second it fell in.
            let during_end = end.max((start + 1).min(timeline.len()));
            // Throughput during: the seconds wholly inside the outage. The second it ends in
            // holds the burst of requests that waited it out, which would hide the drop.
            let inside_end = o
                .recovered_at_s
                .map_or(during_end, |r| r.max(0.0).floor() as usize)
                .clamp((start + 1).min(during_end), during_end);
            let mut errors = [0u64; ErrorClass::COUNT];
            for s in &timeline[start..during_end] {
                for (a, b) in errors.iter_mut().zip(s.events()) {
                    *a += b;
                }
            }
            let after_end = (during_end + AROUND_S).min(timeline.len());
            FaultRow {
                at_s: o.at_s,
                action: o.action.clone(),
                node: o.node.clone(),
                outage_s: o.outage_s,
                recovered_at_s: o.recovered_at_s,
                errors: ErrorClass::ALL
                    .iter()
                    .filter(|c| errors[c.index()] > 0)
                    .map(|&c| (c, errors[c.index()]))
                    .collect(),
                tps_before: mean_ok(&timeline[start.saturating_sub(AROUND_S)..start]),
                tps_during: mean_ok(&timeline[start..inside_end]),
                tps_after: o
                    .recovered_at_s
                    .and_then(|_| mean_ok(&timeline[during_end..after_end])),
                error: o.error.clone(),
            }
        })
        .collect()
}

fn mean_ok(seconds: &[Tick]) -> Option<f64> {
    (!seconds.is_empty())
        .then(|| seconds.iter().map(|s| s.ok as f64).sum::<f64>() / seconds.len() as f64)
}

/// Puts the rows of the faults carried out during a run on the run's first result, measured on
/// the timeline of all its results together (a fault hits every command of a mix alike).
pub fn attach_faults(rows: &mut [TestResult], outcomes: &[FaultOutcome]) {
    if outcomes.is_empty() {
        return;
    }
    let mut merged: Vec<Tick> = Vec::new();
    for r in rows.iter() {
        for (i, s) in r.timeline.iter().enumerate() {
            match merged.get_mut(i) {
                Some(m) => m.add_counts(s),
                None => merged.push(s.clone()),
            }
        }
    }
    if let Some(first) = rows.first_mut() {
        first.experiment.faults = fault_rows(outcomes, &merged);
    }
}

/// The faults that started in second `i` of a run (0-based), for the timeline's `fault` column.
pub fn faults_in_second(r: &TestResult, i: usize) -> String {
    r.experiment
        .faults
        .iter()
        .filter(|f| f.at_s.max(0.0).floor() as usize == i)
        .map(|f| format!("{} {}", f.action, f.node))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a result's scenario failed its check: acknowledged data that the server lost.
pub fn check(r: &TestResult) -> Option<String> {
    let e = &r.experiment;
    let lost = match (&e.stream, &e.consistency) {
        (Some(s), _) if s.lost > 0 => format!("{} of {} produced entries lost", s.lost, s.produced),
        (_, Some(c)) if c.lost > 0 => {
            format!("{} acknowledged increments lost", c.lost)
        }
        _ => return None,
    };
    Some(format!("{} on {}: {lost}", r.test, r.target))
}

/// The lines the default output adds under a result's block.
pub fn console(r: &TestResult) -> String {
    let e = &r.experiment;
    let mut s = String::new();
    if let Some(st) = &e.stream {
        stream_lines(st, &mut s);
    }
    if let Some(c) = &e.consistency {
        s.push_str(&format!(
            "  consistency: {} writes ({} acked, {} failed), {} reads\n    lost {}, not acked but applied {}, stale reads {}\n",
            c.writes, c.acked, c.failed, c.reads, c.lost, c.unacked_applied, c.stale_reads
        ));
    }
    if !e.faults.is_empty() {
        s.push_str("  faults:\n");
        for f in &e.faults {
            s.push_str(&fault_line(f));
        }
    }
    s
}

fn stream_lines(st: &StreamReport, s: &mut String) {
    s.push_str(&format!(
        "  stream: produced {}, delivered {}, acked {}, reclaimed {}, duplicates {}, pending {}, lost {}\n",
        st.produced, st.delivered, st.acked, st.reclaimed, st.duplicates, st.pending, st.lost
    ));
    if st.acked > 0 {
        s.push_str(&format!(
            "    end to end (send to ack): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms\n",
            st.e2e_p50_ms, st.e2e_p99_ms, st.e2e_max_ms
        ));
    }
    if let Some(t) = st.first_oom_s {
        s.push_str(&format!(
            "    first OOM refusal after {t:.2} s, {} entries produced before it\n",
            st.produced_before_oom.unwrap_or(0)
        ));
    }
}

fn fault_line(f: &FaultRow) -> String {
    let tps = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let outage = match (&f.error, f.outage_s) {
        (Some(e), _) => format!("failed: {e}"),
        (None, Some(o)) => format!("outage {o:.2} s"),
        (None, None) => "not recovered by the end".to_string(),
    };
    let errors = if f.errors.is_empty() {
        "no errors".to_string()
    } else {
        f.errors
            .iter()
            .map(|(c, n)| format!("{}={n}", c.name()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "    {:>7.2}s {} {}: {outage}; {errors}; ok/s before {} during {} after {}\n",
        f.at_s,
        f.action,
        f.node,
        tps(f.tps_before),
        tps(f.tps_during),
        tps(f.tps_after)
    )
}

/// The result's `stream`, `consistency` and `faults` members for `--json`, each only when the
/// result has it.
#[derive(Serialize)]
pub struct ExperimentJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a StreamReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consistency: Option<&'a ConsistencyReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    faults: Vec<FaultJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay: Option<&'a crate::replay::Report>,
}

#[derive(Serialize)]
struct FaultJson<'a> {
    at_s: f64,
    action: &'a str,
    node: &'a str,
    outage_s: Option<f64>,
    recovered_at_s: Option<f64>,
    errors: BTreeMap<&'static str, u64>,
    tps_before: Option<f64>,
    tps_during: Option<f64>,
    tps_after: Option<f64>,
    error: Option<&'a str>,
}

pub fn json(r: &TestResult) -> ExperimentJson<'_> {
    let e = &r.experiment;
    ExperimentJson {
        stream: e.stream.as_ref(),
        consistency: e.consistency.as_ref(),
        faults: e
            .faults
            .iter()
            .map(|f| FaultJson {
                at_s: f.at_s,
                action: &f.action,
                node: &f.node,
                outage_s: f.outage_s,
                recovered_at_s: f.recovered_at_s,
                errors: f.errors.iter().map(|&(c, n)| (c.name(), n)).collect(),
                tps_before: f.tps_before,
                tps_during: f.tps_during,
                tps_after: f.tps_after,
                error: f.error.as_deref(),
            })
            .collect(),
        replay: e.replay.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(ok: u64, conn_lost: u64) -> Tick {
        let mut s = Tick {
            ok,
            ..Tick::default()
        };
        s.add_event(ErrorClass::ConnLost.index(), conn_lost);
        s
    }

    fn outcome(at_s: f64, outage_s: Option<f64>) -> FaultOutcome {
        FaultOutcome {
            at_s,
            action: "kill-master".into(),
            node: "127.0.0.1:7000 (master)".into(),
            outage_s,
            recovered_at_s: outage_s.map(|o| at_s + o),
            error: None,
        }
    }

    #[test]
    fn a_fault_row_splits_the_timeline_at_the_fault_and_its_recovery() {
        // 5 s at 100 ok/s, 3 s of outage with errors, 4 s back at 90.
        let mut t: Vec<Tick> = (0..5).map(|_| second(100, 0)).collect();
        t.extend((0..3).map(|_| second(10, 7)));
        t.extend((0..4).map(|_| second(90, 0)));
        let rows = fault_rows(&[outcome(5.2, Some(2.5))], &t);
        let r = &rows[0];
        assert_eq!(r.tps_before, Some(100.0));
        assert_eq!(r.tps_during, Some(10.0));
        assert_eq!(r.tps_after, Some(90.0));
        assert_eq!(r.errors, vec![(ErrorClass::ConnLost, 21)]);
    }

    #[test]
    fn the_burst_in_the_second_an_outage_ends_is_not_throughput_during_it() {
        // Down from 2.0 s to 5.5 s; the requests that waited all complete in second 5.
        let t: Vec<Tick> = [100, 100, 0, 0, 0, 900, 100, 100]
            .into_iter()
            .map(|ok| second(ok, 0))
            .collect();
        let r = &fault_rows(&[outcome(2.0, Some(3.5))], &t)[0];
        assert_eq!(r.tps_during, Some(0.0));
        assert_eq!(r.tps_after, Some(100.0));
    }

    #[test]
    fn an_unrecovered_fault_runs_to_the_end_and_has_no_after() {
        let t: Vec<Tick> = (0..4).map(|i| second(10 * i, 1)).collect();
        let r = &fault_rows(&[outcome(0.5, None)], &t)[0];
        assert_eq!(r.tps_before, None, "nothing before the first second");
        assert_eq!(r.tps_during, Some(15.0));
        assert_eq!(r.tps_after, None);
        assert_eq!(r.errors, vec![(ErrorClass::ConnLost, 4)]);
        // A fault past the timeline's end (the run stopped early) yields an empty row, no panic.
        let r = &fault_rows(&[outcome(9.0, Some(1.0))], &t)[0];
        assert_eq!((r.tps_during, r.tps_after), (None, None));
        assert!(r.errors.is_empty());
    }
}
