//! `trend.md`: what a CI job posts after a night. The latest night's status line, a row per
//! configuration (its latest median against the baseline that night was judged by), and the last
//! nights.

use std::fmt::Write;

use super::data::{Trend, change, fmt_ms, fmt_rps, or_dash};
use crate::report::compare::Thresholds;

/// Nights listed at the end, newest first.
pub(super) const LAST_NIGHTS: usize = 10;

pub(super) fn summary(t: &Trend) -> String {
    let (word, sentence) = t.headline();
    let mut s = format!("## rbench nightly: {word}\n\n{}\n\n", cell(&sentence));
    configurations(&mut s, t);
    s.push('\n');
    s.push_str(&basis(t.opts.nights, &t.opts.thresholds));
    let shown = t.nights.len().min(LAST_NIGHTS);
    let _ = match shown {
        1 => writeln!(s, "\n\n### The night\n"),
        n => writeln!(s, "\n\n### Last {n} nights\n"),
    };
    s.push_str("| date | run | git | status | regressions |\n|---|---|---|---|---|\n");
    for n in t.nights.iter().rev().take(LAST_NIGHTS) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            cell(n.date()),
            cell(&n.rec.run_id),
            cell(or_dash(&n.git_rev)),
            cell(or_dash(&n.rec.status)),
            cell(or_dash(&n.rec.regressions.join(", "))),
        );
    }
    s
}

/// One row per configuration: its latest night, median against that night's baseline.
fn configurations(s: &mut String, t: &Trend) {
    if t.configs.is_empty() {
        s.push_str("No configuration measured yet.\n");
        return;
    }
    s.push_str(
        "| configuration | night | rps | baseline rps | Δ rps | p99 ms | baseline p99 | Δ p99 | status |\n\
         |---|---|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for c in &t.configs {
        let Some(i) = c.latest() else { continue };
        let (tps, p99) = (c.tps.points[i], c.p99.points[i]);
        let num = |v: Option<f64>, f: fn(f64) -> String| v.map_or("-".into(), f);
        let (tm, tb) = (tps.spread.map(|x| x.median), tps.baseline.map(|b| b.median));
        let (pm, pb) = (p99.spread.map(|x| x.median), p99.baseline.map(|b| b.median));
        let delta = |b: Option<f64>, m: Option<f64>| match (b, m) {
            (Some(b), Some(m)) => change(b, m),
            _ => "-".into(),
        };
        let mut name = format!("{} ({})", c.key.label(), c.key.config());
        if c.slo.is_some() {
            let _ = write!(name, ", {}", c.tps_title());
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&name),
            cell(t.nights[i].date()),
            num(tm, fmt_rps),
            num(tb, fmt_rps),
            delta(tb, tm),
            num(pm, fmt_ms),
            num(pb, fmt_ms),
            delta(pb, pm),
            cell(&t.config_status(c, i)),
        );
    }
}

/// What the baseline and the thresholds are, in one sentence.
pub(super) fn basis(k: usize, th: &Thresholds) -> String {
    format!(
        "Baseline of a night: the last {k} accepted nights before it, the median of all their repeats. \
         A median {} rps or {} p99 from it is past the threshold; the verdict also asks that the change be \
         beyond the noise of the repeats and of the baseline nights.",
        pct(-th.max_drop),
        pct(th.max_p99_rise)
    )
}

/// A signed percentage with as many decimals as it needs: `-5%`, `+10%`, `+0.5%`.
fn pct(frac: f64) -> String {
    let s = format!("{:+.2}", frac * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
