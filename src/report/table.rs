//! The configuration table (DESIGN §6): tests as rows, one TPS / p50 column pair per target; with
//! `--repeat`, each cell is the median of the runs with its spread (± half the min–max range) beside
//! it, and a row's winner is named only when its range clears every other target's.

use super::TestResult;
use super::verdict::median;

pub fn ordered_unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in it {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The median of a cell's repeats and the range they fell in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread {
            median: median(values),
            min,
            max,
            runs: values.len(),
        })
    }

    /// Half the min–max range as a percentage of the median: `±2.1%`.
    pub fn half_range_pct(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            50.0 * (self.max - self.min) / self.median.abs()
        }
    }

    pub fn pct_label(&self) -> String {
        format!("±{:.1}%", self.half_range_pct())
    }
}

/// One cell of the table: the repeats of one test against one target.
#[derive(Clone, Debug)]
pub struct Cell {
    pub tps: Spread,
    pub p50: Spread,
    pub p99: Spread,
}

pub fn cell(results: &[TestResult], target: &str, test: &str) -> Option<Cell> {
    let runs: Vec<&TestResult> = results
        .iter()
        .filter(|r| r.target == target && r.test == test)
        .collect();
    let of = |f: fn(&TestResult) -> f64| Spread::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    Some(Cell {
        // As runs.csv keeps it (2 decimals), so a table rendered later from the file is the same
        // table: the median of an even number of runs would otherwise differ in the last digit.
        tps: of(|r| (r.rps * 100.0).round() / 100.0)?,
        p50: of(|r| r.latency.p50)?,
        p99: of(|r| r.latency.p99)?,
    })
}

/// The index of the row's clear winner by throughput: the highest median whose lowest run beats
/// every other target's highest. None with a single target, a single run (no spread to judge by),
/// or overlapping ranges.
pub fn winner(cells: &[Option<Cell>]) -> Option<usize> {
    let present: Vec<(usize, &Spread)> = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| (i, &c.tps)))
        .collect();
    if present.len() < 2 || present.iter().any(|(_, s)| s.runs < 2) {
        return None;
    }
    let (best, top) = present
        .iter()
        .max_by(|a, b| a.1.median.total_cmp(&b.1.median))?;
    let clear = present
        .iter()
        .filter(|(i, _)| i != best)
        .all(|(_, s)| top.min > s.max);
    clear.then_some(*best)
}

/// The objective of the run's searches, shown as `p99 ≤ 1 ms` (None: nothing was searched).
pub fn slo_objective(results: &[TestResult]) -> Option<String> {
    let s = results.iter().find_map(|r| r.slo.as_ref())?;
    Some(crate::slo::display_label(&s.objective))
}

/// A cell of the "max rps @ objective" column: what the search found, and with repeats how many
/// runs of the rate held it.
pub fn slo_cell(results: &[TestResult], target: &str, test: &str) -> Option<String> {
    use crate::slo::Outcome;
    let runs: Vec<&crate::slo::SloResult> = results
        .iter()
        .filter(|r| r.target == target && r.test == test)
        .filter_map(|r| r.slo.as_ref())
        .collect();
    let first = runs.first()?;
    let found = match (first.outcome, first.max_rps) {
        (Outcome::Found, Some(r)) => format!("{r:.0}"),
        (Outcome::AtCeiling, _) => format!("≥{:.0} (ceiling)", first.ceiling_rps),
        (Outcome::Interrupted, Some(r)) => format!("{r:.0} (interrupted)"),
        (Outcome::Interrupted, None) => "interrupted".into(),
        _ => "not met".into(),
    };
    Some(match runs.len() {
        1 => found,
        n => format!(
            "{found}, held {}/{n}",
            runs.iter().filter(|s| s.held).count()
        ),
    })
}

/// The table's content: header and rows of text cells, plus a note per row on its winner.
struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    verdicts: Vec<String>,
}

fn grid(results: &[TestResult]) -> Grid {
    let targets = ordered_unique(results.iter().map(|r| r.target.as_str()));
    let tests = ordered_unique(results.iter().map(|r| r.test.as_str()));
    let spread = results.iter().any(|r| r.repeat > 1);
    let slo = slo_objective(results);
    let mut header = vec!["test".to_string()];
    for t in &targets {
        header.push(format!("{t} TPS"));
        if spread {
            header.push("±".into());
        }
        header.push("p50 ms".to_string());
        if spread {
            header.push("±".into());
        }
        if let Some(o) = &slo {
            header.push(format!("{t} max rps @ {o}"));
        }
    }
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for test in &tests {
        let cells: Vec<Option<Cell>> = targets.iter().map(|t| cell(results, t, test)).collect();
        let mut row = vec![test.to_string()];
        for (t, c) in targets.iter().zip(&cells) {
            let (tps, p50) = match c {
                Some(c) => (
                    (format!("{:.2}", c.tps.median), c.tps.pct_label()),
                    (format!("{:.3}", c.p50.median), c.p50.pct_label()),
                ),
                None => (("-".into(), "-".into()), ("-".into(), "-".into())),
            };
            row.push(tps.0);
            if spread {
                row.push(tps.1);
            }
            row.push(p50.0);
            if spread {
                row.push(p50.1);
            }
            if slo.is_some() {
                row.push(slo_cell(results, t, test).unwrap_or_else(|| "-".into()));
            }
        }
        rows.push(row);
        // A search chose each rate itself: TPS ranges say nothing of which target is faster.
        if spread && targets.len() > 1 && slo.is_none() {
            verdicts.push(match winner(&cells) {
                Some(i) => format!(
                    "{test}: {} is fastest (its range clears the others)",
                    targets[i]
                ),
                None => format!("{test}: no clear winner (the ranges overlap)"),
            });
        }
    }
    Grid {
        header,
        rows,
        verdicts,
    }
}

pub fn markdown(results: &[TestResult]) -> String {
    let g = grid(results);
    let widths: Vec<usize> = (0..g.header.len())
        .map(|i| {
            g.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(g.header[i].chars().count()))
                .max()
                .unwrap_or(1)
                .max(3)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
            if i == 0 {
                out.push_str(&format!(" {c}{pad} |"));
            } else {
                out.push_str(&format!(" {pad}{c} |"));
            }
        }
        out.push('\n');
    };
    line(&g.header, &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{}|", "-".repeat(w + 2)));
        } else {
            out.push_str(&format!("{}:|", "-".repeat(w + 1)));
        }
    }
    out.push('\n');
    for r in &g.rows {
        line(r, &mut out);
    }
    let repeats = results.iter().map(|r| r.repeat).max().unwrap_or(1);
    if repeats > 1 {
        out.push_str(&format!(
            "\nEach cell is the median of {repeats} runs; ± is half the range of the runs, as a percentage of the median.\n"
        ));
        if slo_objective(results).is_some() {
            out.push_str("TPS is the rate each search found, run again per repeat: compare the max rps columns; \"held k/n\" counts the runs of that rate that met the objective.\n");
        }
        for v in &g.verdicts {
            out.push_str(&format!("- {v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    fn tps(values: &[f64]) -> Option<Cell> {
        let s = Spread::of(values)?;
        Some(Cell {
            tps: s,
            p50: s,
            p99: s,
        })
    }

    #[test]
    fn spread_is_half_the_range_over_the_median() {
        let s = Spread::of(&[90.0, 100.0, 110.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (100.0, 90.0, 110.0, 3));
        assert_eq!(s.pct_label(), "±10.0%");
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn a_winner_needs_a_range_that_clears_the_others() {
        // Clear: 120..130 against 100..110 and 80..90.
        let clear = [
            tps(&[100.0, 110.0]),
            tps(&[120.0, 125.0, 130.0]),
            tps(&[80.0, 90.0]),
        ];
        assert_eq!(winner(&clear), Some(1));
        // Overlapping: the best median does not win.
        let overlap = [tps(&[100.0, 121.0]), tps(&[120.0, 130.0])];
        assert_eq!(winner(&overlap), None);
        // One run each: no spread to judge by.
        assert_eq!(winner(&[tps(&[100.0]), tps(&[200.0])]), None);
        // A missing cell does not stop the others from being judged.
        assert_eq!(winner(&[tps(&[1.0, 2.0]), None, tps(&[5.0, 6.0])]), Some(2));
        assert_eq!(winner(&[tps(&[1.0, 2.0])]), None);
    }
}
