//! The configuration table (DESIGN §6): tests as rows, one TPS / p50 column pair per target; with
//! `--repeat`, each cell is the median of the runs.

use super::TestResult;
use super::verdict::median;

fn ordered_unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in it {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// (median TPS, median p50 ms, runs) of one cell.
pub fn cell(results: &[TestResult], target: &str, test: &str) -> Option<(f64, f64, usize)> {
    let runs: Vec<&TestResult> = results
        .iter()
        .filter(|r| r.target == target && r.test == test)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let tps: Vec<f64> = runs.iter().map(|r| r.rps).collect();
    let p50: Vec<f64> = runs.iter().map(|r| r.latency.p50).collect();
    Some((median(&tps), median(&p50), runs.len()))
}

pub fn markdown(results: &[TestResult]) -> String {
    let targets = ordered_unique(results.iter().map(|r| r.target.as_str()));
    let tests = ordered_unique(results.iter().map(|r| r.test.as_str()));
    let mut header = vec!["test".to_string()];
    for t in &targets {
        header.push(format!("{t} TPS"));
        header.push("p50 ms".to_string());
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for test in &tests {
        let mut row = vec![test.to_string()];
        for t in &targets {
            match cell(results, t, test) {
                Some((tps, p50, _)) => {
                    row.push(format!("{tps:.2}"));
                    row.push(format!("{p50:.3}"));
                }
                None => {
                    row.push("-".into());
                    row.push("-".into());
                }
            }
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain(std::iter::once(header[i].len()))
                .max()
                .unwrap_or(1)
                .max(3)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!(" {:<w$} |", c, w = widths[i]));
            } else {
                out.push_str(&format!(" {:>w$} |", c, w = widths[i]));
            }
        }
        out.push('\n');
    };
    line(&header, &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{}|", "-".repeat(w + 2)));
        } else {
            out.push_str(&format!("{}:|", "-".repeat(w + 1)));
        }
    }
    out.push('\n');
    for r in &rows {
        line(r, &mut out);
    }
    let repeats = results.iter().map(|r| r.repeat).max().unwrap_or(1);
    if repeats > 1 {
        out.push_str(&format!("\nEach cell is the median of {repeats} runs.\n"));
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
}
