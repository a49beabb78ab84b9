//! `rbench nightly -c PROFILE --out DIR`: the nightly regression job in one command.
//!
//! Each night runs the profile, appends its rows to `DIR/history.csv` as they are measured, judges
//! them against a baseline made of the last K *accepted* nights (the shared verdict of `compare`),
//! and records the night in `DIR/nights.csv`: its verdict and whether it joined the baseline. The
//! first night has nothing to compare with and becomes the baseline; a regressed night does not
//! join it unless `--accept` says the change was intended.

use std::io::Write;

use crate::cli::{Cli, NightlyCli, OutputFlags, RunsFlags};
use crate::exit::RunError;
use crate::report::compare::{self, Evaluation, Row, Thresholds, Verdict};
use crate::report::ledger::{self, LedgerError, NightRecord};
use crate::report::trend;
use crate::session;

/// Who the night's own lines are from.
const WHO: &str = "rbench nightly";

pub use crate::report::ledger::{HISTORY, LEDGER};

/// Why the history cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum NightlyError {
    #[error("--nights must be at least 1")]
    Nights,
    #[error("{0}")]
    Thresholds(String),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    History(#[from] compare::CompareError),
    #[error(
        "{ledger} lists accepted night {run_id}, which has no rows in {history}: restore the history, or move both files away to start a new baseline"
    )]
    MissingNight {
        ledger: String,
        history: String,
        run_id: String,
    },
}

/// The night's run as flags: the profile, quiet, into the nightly folder.
fn night_cli(c: &NightlyCli) -> Cli {
    Cli {
        runs: RunsFlags {
            profile: Some(c.profile.clone()),
            ..RunsFlags::default()
        },
        output: OutputFlags {
            quiet: true,
            out: c.out.clone(),
            ..OutputFlags::default()
        },
        ..Cli::default()
    }
}

pub fn run(
    c: &NightlyCli,
    ctx: &crate::Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let _signals = crate::signals::watch(&ctx.stop);
    let (th, baseline_ids) = prepare(c).map_err(|e| RunError::usage(WHO, e))?;
    let mut plan = session::plan(&night_cli(c), &*ctx.env)?;
    plan.output.long_csv = HISTORY;
    plan.output.run_files = false;
    let (ran, meta) = session::execute(&plan, &ctx.stop, out, err);
    let ledger = c.out.join(LEDGER);
    let mut record = |status: &str, accepted: bool, rows: usize, regressed: &[String]| {
        let night = NightRecord {
            timestamp: meta.timestamp.clone(),
            run_id: meta.run_id.clone(),
            profile: meta.profile.clone(),
            status: status.to_string(),
            accepted,
            rows,
            regressions: regressed.to_vec(),
        };
        let res = ledger::append(&ledger, &night);
        write_trend(c, &th, err);
        res
    };
    match ran {
        Err(e @ RunError::Check(_)) => {
            // Figures from runs whose requests failed say nothing about speed: never a baseline.
            let _ = record("errors", false, 0, &[]);
            let why = "tests failed the error check; night not judged";
            return Err(e.then(RunError::failed(WHO, why)));
        }
        Err(e) => {
            // Whatever was measured is in the history already; an incomplete night (a failure,
            // or stopped by SIGINT, SIGTERM or SIGHUP) never joins the baseline.
            let _ = record("incomplete", false, 0, &[]);
            let why = "the run did not complete; night not judged";
            return Err(e.then(RunError::failed(WHO, why)));
        }
        Ok(()) => {}
    }
    let j = judge(c, &th, &baseline_ids, &meta.run_id, out).map_err(|e| {
        let _ = record("unjudged", false, 0, &[]);
        RunError::usage(WHO, e)
    })?;
    let (status, accepted) = outcome(&j, c);
    record(status, accepted, j.rows, &j.regressed).map_err(|e| RunError::failed(WHO, e))?;
    let _ = writeln!(out, "{}", summary_line(&j, c, &meta.run_id));
    match (accepted, j.verdict) {
        (true, _) => Ok(()),
        (false, Verdict::Inconclusive) => Err(RunError::Inconclusive),
        (false, _) => Err(RunError::Regression),
    }
}

/// The night's status in the ledger, and whether it joins the baseline.
fn outcome(j: &Judgement, c: &NightlyCli) -> (&'static str, bool) {
    match (j.first, j.verdict) {
        (true, _) => ("first", true),
        (false, Verdict::Pass) => ("pass", true),
        (false, Verdict::Inconclusive) => ("inconclusive", c.accept || c.inconclusive_ok),
        (false, Verdict::Regression) if c.accept => ("accepted", true),
        (false, Verdict::Regression) => ("regression", false),
    }
}

/// Checks everything that can be checked before two minutes of measuring: flags, the ledger, and
/// that the baseline nights are in the history. Returns the thresholds and the baseline's run ids.
fn prepare(c: &NightlyCli) -> Result<(Thresholds, Vec<String>), NightlyError> {
    if c.nights == 0 {
        return Err(NightlyError::Nights);
    }
    let th = compare::thresholds(&c.thresholds.max_drop, &c.thresholds.max_p99_rise)
        .map_err(NightlyError::Thresholds)?;
    let ledger = c.out.join(LEDGER);
    let nights = ledger::read(&ledger)?;
    let ids: Vec<String> = nights
        .iter()
        .filter(|n| n.accepted)
        .map(|n| n.run_id.clone())
        .collect();
    let ids = ids[ids.len().saturating_sub(c.nights)..].to_vec();
    if !ids.is_empty() {
        let history = c.out.join(HISTORY);
        let rows = compare::load(&history)?;
        if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.run_id == *id)) {
            return Err(NightlyError::MissingNight {
                ledger: ledger.display().to_string(),
                history: history.display().to_string(),
                run_id: missing.clone(),
            });
        }
    }
    Ok((th, ids))
}

struct Judgement {
    first: bool,
    verdict: Verdict,
    rows: usize,
    regressed: Vec<String>,
    /// Configurations past their threshold that could not be judged.
    unjudged: Vec<String>,
    baseline_nights: usize,
}

/// Tonight's rows against the baseline nights' rows, with the verdict table printed.
fn judge(
    c: &NightlyCli,
    th: &Thresholds,
    baseline_ids: &[String],
    tonight: &str,
    out: &mut dyn Write,
) -> Result<Judgement, NightlyError> {
    let history = c.out.join(HISTORY);
    let rows = compare::load(&history)?;
    let (cand, rest): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.run_id == tonight);
    let base: Vec<Row> = rest
        .into_iter()
        .filter(|r| baseline_ids.contains(&r.run_id))
        .collect();
    let n = cand.len();
    if base.is_empty() {
        return Ok(Judgement {
            first: true,
            verdict: Verdict::Pass,
            rows: n,
            regressed: Vec::new(),
            unjudged: Vec::new(),
            baseline_nights: 0,
        });
    }
    let ev: Evaluation = compare::evaluate(base, cand, th);
    if ev.rows.is_empty() {
        // The profile changed beyond recognition: nothing of tonight can be judged, and tonight
        // is what later nights should be judged against.
        let _ = writeln!(
            out,
            "no configuration of this night is in the baseline (the profile changed?)"
        );
        return Ok(Judgement {
            first: true,
            verdict: Verdict::Pass,
            rows: n,
            regressed: Vec::new(),
            unjudged: Vec::new(),
            baseline_nights: baseline_ids.len(),
        });
    }
    let _ = writeln!(
        out,
        "\nnightly: this night against the last {} accepted night{} in {}",
        baseline_ids.len(),
        if baseline_ids.len() == 1 { "" } else { "s" },
        history.display()
    );
    compare::write_report(out, &ev, th).map_err(compare::CompareError::Output)?;
    Ok(Judgement {
        first: false,
        verdict: ev.verdict(),
        rows: n,
        regressed: ev.regressions(),
        unjudged: ev.inconclusive(),
        baseline_nights: baseline_ids.len(),
    })
}

fn summary_line(j: &Judgement, c: &NightlyCli, run_id: &str) -> String {
    let dir = c.out.display();
    if j.first && j.baseline_nights == 0 {
        return format!(
            "nightly: first night ({run_id}, {} rows): it is the baseline; later nights are judged against it. History in {dir}",
            j.rows
        );
    }
    if j.first {
        return format!(
            "nightly: night {run_id} starts a new baseline (nothing in common with the old one)"
        );
    }
    let ok = c.inconclusive_ok;
    match (j.verdict, c.accept) {
        (Verdict::Pass, _) => format!(
            "nightly: PASS: night {run_id} accepted into the baseline (judged against {} of at most {} nights)",
            j.baseline_nights, c.nights
        ),
        (Verdict::Inconclusive, accept) => format!(
            "nightly: INCONCLUSIVE: {} moved past the threshold and could not be judged; night {run_id} {}",
            j.unjudged.join(", "),
            if ok || accept {
                "accepted into the baseline (--inconclusive-ok or --accept)"
            } else {
                "not accepted into the baseline (exit 4; --inconclusive-ok accepts such nights)"
            }
        ),
        (Verdict::Regression, true) => format!(
            "nightly: REGRESSION in {}; night {run_id} accepted anyway (--accept): later nights are judged against it",
            j.regressed.join(", ")
        ),
        (Verdict::Regression, false) => format!(
            "nightly: REGRESSION in {}; night {run_id} not accepted into the baseline (rerun with --accept if the change is intended)",
            j.regressed.join(", ")
        ),
    }
}

/// Redraws the trend page from the ledger and history just written; the night's verdict and exit
/// code do not depend on it, so a failure is a warning.
fn write_trend(c: &NightlyCli, th: &Thresholds, err: &mut dyn Write) {
    let opts = trend::Options {
        nights: c.nights,
        thresholds: *th,
    };
    if let Err(e) = trend::write(&c.out, &opts) {
        let _ = writeln!(err, "{WHO}: warning: the trend page was not written: {e}");
    }
}
