//! The configuration table (DESIGN §6): tests as rows, one TPS / p50 column pair per target; with
//! `--repeat`, each cell is the median of the runs with its spread (± half the min–max range) beside
//! it. Below it, a sentence per test orders the targets by median TPS and says which steps are
//! clear (`ordering`).

pub mod ordering;

use super::TestResult;
use super::verdict::median;
pub use ordering::Ordering;

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
    /// The range of the middle runs, ⌊n/5⌋ dropped at each end (the whole range below 5 runs):
    /// what `ordering::judge` compares, so one stray repeat in nine does not blur a clear step.
    pub lo: f64,
    pub hi: f64,
    pub runs: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let cut = n / 5;
        Some(Spread {
            median: median(values),
            min: sorted[0],
            max: sorted[n - 1],
            lo: sorted[cut],
            hi: sorted[n - 1 - cut],
            runs: n,
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

/// The test's targets by median TPS, fastest first, each step judged (`ordering::judge`).
pub fn ordering<'a>(test: &'a str, targets: &[&'a str], cells: &[Option<Cell>]) -> Ordering<'a> {
    let tps: Vec<Option<Spread>> = cells.iter().map(|c| c.as_ref().map(|c| c.tps)).collect();
    Ordering::of(test, targets, &tps)
}

/// The index of the row's winner by throughput: the target clearly faster (`ordering::judge`)
/// than every other one. None with a single target, too few runs, or no clear lead.
pub fn winner(cells: &[Option<Cell>]) -> Option<usize> {
    let names = vec![""; cells.len()];
    ordering("", &names, cells).winner()
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

/// The table's content: header and rows of text cells.
struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// What the table's columns show: a `±` beside each median with repeats, a search's column.
struct Columns {
    spread: bool,
    slo: Option<String>,
}

fn grid(results: &[TestResult]) -> Grid {
    let targets = ordered_unique(results.iter().map(|r| r.target.as_str()));
    let tests = ordered_unique(results.iter().map(|r| r.test.as_str()));
    let cols = Columns {
        spread: results.iter().any(|r| r.repeat > 1),
        slo: slo_objective(results),
    };
    let mut header = vec!["test".to_string()];
    for t in &targets {
        header.push(format!("{t} TPS"));
        if cols.spread {
            header.push("±".into());
        }
        header.push("p50 ms".to_string());
        if cols.spread {
            header.push("±".into());
        }
        if let Some(o) = &cols.slo {
            header.push(format!("{t} max rps @ {o}"));
        }
    }
    let rows = tests
        .iter()
        .map(|test| grid_row(results, &targets, test, &cols))
        .collect();
    Grid { header, rows }
}

fn grid_row(results: &[TestResult], targets: &[&str], test: &str, cols: &Columns) -> Vec<String> {
    let mut row = vec![test.to_string()];
    for t in targets {
        let (tps, p50) = match cell(results, t, test) {
            Some(c) => (
                (format!("{:.2}", c.tps.median), c.tps.pct_label()),
                (format!("{:.3}", c.p50.median), c.p50.pct_label()),
            ),
            None => (("-".into(), "-".into()), ("-".into(), "-".into())),
        };
        row.push(tps.0);
        if cols.spread {
            row.push(tps.1);
        }
        row.push(p50.0);
        if cols.spread {
            row.push(p50.1);
        }
        if cols.slo.is_some() {
            row.push(slo_cell(results, t, test).unwrap_or_else(|| "-".into()));
        }
    }
    row
}

/// The ordering of every test's targets, in the table's row order. None with a single target, or
/// when the run searched (`--slo`): each search chose its own rate, so TPS says nothing of which
/// target is faster.
pub fn orderings(results: &[TestResult]) -> Vec<Ordering<'_>> {
    let targets = ordered_unique(results.iter().map(|r| r.target.as_str()));
    if targets.len() < 2 || slo_objective(results).is_some() {
        return Vec::new();
    }
    ordered_unique(results.iter().map(|r| r.test.as_str()))
        .into_iter()
        .map(|test| {
            let cells: Vec<Option<Cell>> = targets.iter().map(|t| cell(results, t, test)).collect();
            ordering(test, &targets, &cells)
        })
        .collect()
}

/// What the table's notes say of the ordering's symbols and rule.
pub fn ordering_legend() -> String {
    format!(
        "Targets by median TPS, fastest first: ≫ clearly faster (every run beats every run of the next, the extremes of 5 or more aside, and the medians are {:.0} % apart or more; needs {} runs each), ≈ within noise, > not judged.",
        (ordering::MIN_RATIO - 1.0) * 100.0,
        ordering::MIN_RUNS
    )
}

/// One test's ordering as the table's notes show it: the compact form, and the words when
/// something was judged.
pub fn ordering_line(o: &Ordering) -> String {
    match o.words() {
        Some(w) => format!("{} — {w}", o.compact()),
        None => o.compact(),
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
    notes(results, &mut out);
    out
}

/// The lines under the table: what a cell is, and each test's ordering.
fn notes(results: &[TestResult], out: &mut String) {
    let repeats = results.iter().map(|r| r.repeat).max().unwrap_or(1);
    let orderings = orderings(results);
    if repeats > 1 || !orderings.is_empty() {
        out.push('\n');
    }
    if repeats > 1 {
        out.push_str(&format!(
            "Each cell is the median of {repeats} runs; ± is half the range of the runs, as a percentage of the median.\n"
        ));
        if slo_objective(results).is_some() {
            out.push_str("TPS is the rate each search found, run again per repeat: compare the max rps columns; \"held k/n\" counts the runs of that rate that met the objective.\n");
        }
    }
    if !orderings.is_empty() {
        out.push_str(&ordering_legend());
        out.push('\n');
    }
    for o in &orderings {
        out.push_str(&format!("- {}\n", ordering_line(o)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordering::Link;

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
    fn one_stray_repeat_of_nine_does_not_blur_a_clear_step() {
        // 1.7× apart, but one repeat of the faster fell into the slower's range: with 9 runs the
        // extremes are left out; with 3, a run in the other's range is overlap.
        let fast = [170.0, 168.0, 172.0, 90.0, 171.0, 169.0, 173.0, 167.0, 170.0];
        let slow = [100.0, 99.0, 101.0, 98.0, 102.0, 100.0, 97.0, 103.0, 100.0];
        let o = order(&[tps(&fast), tps(&slow)]);
        assert_eq!(o.links, vec![Link::Clear]);
        let o = order(&[tps(&[170.0, 90.0, 172.0]), tps(&[100.0, 99.0, 101.0])]);
        assert_eq!(o.links, vec![Link::Noise]);
        let s = Spread::of(&fast).unwrap();
        assert_eq!((s.min, s.lo, s.hi, s.max), (90.0, 167.0, 172.0, 173.0));
    }

    /// The ordering of one test over targets `a`, `b`, `c`, ... with these TPS runs.
    fn order(cells: &[Option<Cell>]) -> Ordering<'static> {
        const NAMES: [&str; 4] = ["a", "b", "c", "d"];
        ordering("SET", &NAMES[..cells.len()], cells)
    }

    #[test]
    fn clear_steps_are_ranges_apart_and_five_per_cent_apart() {
        // c's runs all beat a's, a's all beat b's, each by well over 5 %.
        let o = order(&[
            tps(&[100.0, 104.0, 102.0]),
            tps(&[52.0, 54.0, 50.0]),
            tps(&[210.0, 200.0, 205.0]),
        ]);
        assert_eq!(o.compact(), "SET: c ≫ a ≫ b");
        assert_eq!(
            o.words().unwrap(),
            "c is clearly faster than a (2.0×); a is clearly faster than b (1.96×)"
        );
        assert_eq!(o.links, [Link::Clear, Link::Clear]);
        // The winner is the one clearly faster than every other: the same as the sentence's head.
        assert_eq!(
            winner(&[tps(&[100.0, 104.0, 102.0]), tps(&[210.0, 200.0, 205.0])]),
            Some(1)
        );
        // Apart, but by 1 %: within noise however tidy the runs.
        let o = order(&[tps(&[101.0, 101.2, 101.1]), tps(&[100.0, 100.1, 100.2])]);
        assert_eq!(o.compact(), "SET: a ≈ b");
        assert_eq!(o.words().unwrap(), "a and b are within noise");
        assert_eq!(
            winner(&[tps(&[101.0, 101.2, 101.1]), tps(&[100.0, 100.1, 100.2])]),
            None
        );
    }

    #[test]
    fn overlapping_runs_are_within_noise_however_far_the_medians() {
        // Medians 20 % apart, but one run of b beats one of a.
        let cells = [
            tps(&[120.0, 80.0, 125.0]),
            tps(&[100.0, 95.0, 90.0]),
            tps(&[40.0, 41.0, 42.0]),
        ];
        let o = order(&cells);
        assert_eq!(o.compact(), "SET: a ≈ b ≫ c");
        assert_eq!(
            o.words().unwrap(),
            "a and b are within noise; b is clearly faster than c (2.3×)"
        );
        assert_eq!(winner(&cells), None);
        // ≈ is not transitive: a chain of it whose ends are clearly apart says so.
        let chain = order(&[
            tps(&[100.0, 90.0, 110.0]),
            tps(&[80.0, 89.0, 95.0]),
            tps(&[70.0, 75.0, 85.0]),
        ]);
        assert_eq!(chain.compact(), "SET: a ≈ b ≈ c (a ≫ c)");
        assert!(
            chain
                .words()
                .unwrap()
                .ends_with("; but a is clearly faster than c (1.33×)"),
            "{:?}",
            chain.words()
        );
    }

    #[test]
    fn one_run_each_is_ordered_but_not_judged() {
        let cells = [tps(&[100.0]), tps(&[300.0]), tps(&[200.0])];
        let o = order(&cells);
        assert_eq!(o.compact(), "SET: b > c > a (one run each: not judged)");
        assert_eq!(o.words(), None);
        assert_eq!(winner(&cells), None);
        // Two runs each: equal targets' ranges fall apart by chance 1 time in 3, so not judged either.
        let o = order(&[tps(&[100.0, 101.0]), tps(&[300.0, 301.0])]);
        assert_eq!(o.compact(), "SET: b > a (fewer than 3 runs: > not judged)");
        assert_eq!(o.links, [Link::Unjudged]);
        // A cell with fewer runs (an interrupted repeat) leaves only its own steps unjudged.
        let o = order(&[
            tps(&[300.0, 310.0, 305.0]),
            tps(&[100.0, 101.0, 99.0]),
            tps(&[50.0]),
        ]);
        assert_eq!(
            o.compact(),
            "SET: a ≫ b > c (fewer than 3 runs: > not judged)"
        );
        assert_eq!(
            o.words().unwrap(),
            "a is clearly faster than b (3.0×); b ran 2.0× c (too few runs to judge)"
        );
    }

    #[test]
    fn a_missing_cell_is_named_and_the_others_still_judged() {
        let cells = [tps(&[10.0, 11.0, 12.0]), None, tps(&[50.0, 51.0, 52.0])];
        let o = order(&cells);
        assert_eq!(o.compact(), "SET: c ≫ a; no result: b");
        assert_eq!(
            o.words().unwrap(),
            "c is clearly faster than a (4.6×); b has no result"
        );
        assert_eq!(winner(&cells), Some(2));
        // Only one target left: nothing to order against.
        let o = order(&[None, tps(&[1.0, 2.0, 3.0])]);
        assert_eq!(o.compact(), "SET: b; no result: a");
        assert_eq!(o.words(), None);
        assert_eq!(winner(&[None, tps(&[1.0, 2.0, 3.0])]), None);
        assert_eq!(winner(&[tps(&[1.0, 2.0, 3.0])]), None);
    }

    #[test]
    fn ties_keep_the_column_order() {
        let cells = [
            tps(&[100.0, 90.0, 110.0]),
            tps(&[95.0, 100.0, 105.0]),
            tps(&[100.0, 99.0, 101.0]),
        ];
        let o = order(&cells);
        assert_eq!(o.compact(), "SET: a ≈ b ≈ c");
        assert_eq!(winner(&cells), None);
        let o = order(&[tps(&[7.0]), tps(&[7.0]), tps(&[9.0])]);
        assert_eq!(o.compact(), "SET: c > a = b (one run each: not judged)");
        // Nothing done at all on either side: equal, not infinitely apart.
        let o = order(&[tps(&[0.0, 0.0, 0.0]), tps(&[0.0, 0.0, 0.0])]);
        assert_eq!(o.compact(), "SET: a ≈ b");
    }

    fn result(target: &str, test: &str, repeat: u32, rps: f64) -> TestResult {
        TestResult {
            rps,
            repeat,
            ..TestResult::blank(target, test)
        }
    }

    #[test]
    fn the_markdown_notes_carry_a_sentence_per_test() {
        let mut results = Vec::new();
        for (repeat, k) in [(1, 0.0), (2, 1.0), (3, 2.0)] {
            for (target, set, get) in [("no-aof", 100.0, 50.0), ("aof-always", 40.0, 51.0)] {
                results.push(result(target, "SET", repeat, set + k));
                results.push(result(target, "GET", repeat, get + k));
            }
        }
        let md = markdown(&results);
        assert!(md.contains(&format!("\n{}\n", ordering_legend())), "{md}");
        assert!(
            md.ends_with(
                "- SET: no-aof ≫ aof-always — no-aof is clearly faster than aof-always (2.5×)\n\
                 - GET: aof-always ≈ no-aof — aof-always and no-aof are within noise\n"
            ),
            "{md}"
        );
        // One target: nothing to order. One run each: ordered, not judged.
        assert!(!markdown(&results[..2]).contains("Targets by median"));
        let once: Vec<TestResult> = results.iter().filter(|r| r.repeat == 1).cloned().collect();
        assert!(
            markdown(&once).ends_with(
                "- SET: no-aof > aof-always (one run each: not judged)\n\
                 - GET: aof-always > no-aof (one run each: not judged)\n"
            ),
            "{}",
            markdown(&once)
        );
    }
}
