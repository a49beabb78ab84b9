//! The saturation search's ladder, `slo-<run_id>.csv`: every step of every result's search, so the
//! HTML report drawn from the saved files (during the run and with `rbench report`) has the same
//! `SloResult`s the run held in memory. One row per step; the search's own fields repeat on each of
//! its rows. Numbers are written in Rust's shortest round-trip form, so they read back exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::TestResult;
use super::files::{WriteError, write_atomic};
use super::saved::{LoadError, Table};
use crate::slo::{Outcome, SloResult, Step};

/// The ladder file's columns. `step` counts from 1; a search that ran no step has one row with the
/// step columns empty. `measured_ms` lists each objective's percentile in the order of
/// `objective`, space-separated.
pub const HEADER: [&str; 18] = [
    "target",
    "test",
    "repeat",
    "objective",
    "outcome",
    "max_rps",
    "ceiling_rps",
    "held",
    "step",
    "rate",
    "achieved",
    "p50_ms",
    "p99_ms",
    "measured_ms",
    "requests",
    "errors",
    "pass",
    "why",
];

/// The ladder file of run `run_id`.
pub fn file_name(run_id: &str) -> String {
    format!("slo-{run_id}.csv")
}

/// Writes the ladder of every result that ran a search into `dir`, whole; nothing when none did.
pub fn write(
    dir: &Path,
    run_id: &str,
    results: &[TestResult],
) -> Result<Option<PathBuf>, WriteError> {
    let searches: Vec<Search> = results
        .iter()
        .filter_map(|r| {
            Some((
                r.target.as_str(),
                r.test.as_str(),
                r.repeat,
                r.slo.as_ref()?,
            ))
        })
        .collect();
    if searches.is_empty() {
        return Ok(None);
    }
    let path = dir.join(file_name(run_id));
    let bytes = ladder_csv(&searches).map_err(|source| WriteError {
        path: path.clone(),
        source,
    })?;
    write_atomic(&path, &bytes)?;
    Ok(Some(path))
}

/// A result's search with what identifies the result: target, test, repeat.
type Search<'a> = (&'a str, &'a str, u32, &'a SloResult);

fn ladder_csv(searches: &[Search]) -> Result<Vec<u8>, std::io::Error> {
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).map_err(io)?;
    for &(target, test, repeat, s) in searches {
        let head = [
            target.to_string(),
            test.to_string(),
            repeat.to_string(),
            s.objective.clone(),
            s.outcome.name().to_string(),
            s.max_rps.map(num).unwrap_or_default(),
            num(s.ceiling_rps),
            s.held.to_string(),
        ];
        if s.steps.is_empty() {
            let none = [""; HEADER.len() - 8].map(String::from);
            w.write_record(head.iter().chain(&none)).map_err(io)?;
        }
        for (i, st) in s.steps.iter().enumerate() {
            w.write_record(head.iter().chain(&step_fields(i, st)))
                .map_err(io)?;
        }
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn step_fields(i: usize, st: &Step) -> [String; 10] {
    let measured: Vec<String> = st.measured.iter().map(|&v| num(v)).collect();
    [
        (i + 1).to_string(),
        num(st.rate),
        num(st.achieved),
        num(st.p50_ms),
        num(st.p99_ms),
        measured.join(" "),
        st.requests.to_string(),
        st.errors.to_string(),
        st.pass.to_string(),
        st.why.clone(),
    ]
}

/// Shortest text that parses back to the same f64.
fn num(v: f64) -> String {
    format!("{v}")
}

/// Searches read back, by (target, test, repeat).
pub type Ladders = HashMap<(String, String, u32), SloResult>;

/// The ladder file at `path`; empty when there is none (a run without `--slo`, or one written
/// before the file existed).
pub fn read(path: &Path) -> Result<Ladders, LoadError> {
    let mut out = Ladders::new();
    if !path.is_file() {
        return Ok(out);
    }
    let t = Table::read(path)?;
    for row in &t.rows {
        let key = (
            t.get(row, "target").to_string(),
            t.get(row, "test").to_string(),
            t.num(row, "repeat")? as u32,
        );
        let search = match out.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(search_of(&t, row)?),
        };
        if !t.get(row, "step").is_empty() {
            search.steps.push(step_of(&t, row)?);
        }
    }
    Ok(out)
}

/// The search's own fields of a row, without steps.
fn search_of(t: &Table, row: &csv::StringRecord) -> Result<SloResult, LoadError> {
    let outcome = t.get(row, "outcome");
    Ok(SloResult {
        objective: t.get(row, "objective").to_string(),
        max_rps: match t.get(row, "max_rps") {
            "" => None,
            _ => Some(t.num(row, "max_rps")?),
        },
        ceiling_rps: t.num(row, "ceiling_rps")?,
        outcome: Outcome::parse(outcome)
            .ok_or_else(|| t.malformed(row, &format!("unknown outcome `{outcome}`")))?,
        steps: Vec::new(),
        held: t.flag(row, "held")?,
    })
}

fn step_of(t: &Table, row: &csv::StringRecord) -> Result<Step, LoadError> {
    let measured = t
        .get(row, "measured_ms")
        .split_whitespace()
        .map(|v| {
            v.parse()
                .map_err(|_| t.malformed(row, &format!("`measured_ms` has `{v}`, not a number")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Step {
        rate: t.num(row, "rate")?,
        achieved: t.num(row, "achieved")?,
        p50_ms: t.num(row, "p50_ms")?,
        p99_ms: t.num(row, "p99_ms")?,
        measured,
        errors: t.num(row, "errors")? as u64,
        requests: t.num(row, "requests")? as u64,
        pass: t.flag(row, "pass")?,
        why: t.get(row, "why").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::files::write_run_files;
    use crate::report::saved;
    use crate::schema::long_header;

    fn step(rate: f64, p99: f64, pass: bool, why: &str) -> Step {
        Step {
            rate,
            achieved: rate * 0.999_123_456_789,
            p50_ms: p99 / 3.0,
            p99_ms: p99,
            measured: vec![p99, p99 / 3.0],
            errors: u64::from(!pass),
            requests: (rate * 5.0) as u64,
            pass,
            why: why.to_string(),
        }
    }

    /// A ladder with an awkward `why` (commas, quotes), and a repeat's single re-run step.
    fn ladder(held: bool, steps: Vec<Step>) -> SloResult {
        SloResult {
            objective: "p99<=1ms,p50<=200us".into(),
            max_rps: Some(37_500.0),
            ceiling_rps: 101_234.567_891_234,
            outcome: Outcome::Found,
            steps,
            held,
        }
    }

    /// A results folder written by hand: `rows` results of run RUN1, no ladder.
    fn folder(name: &str, rows: &[(&str, u32, &str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rbench-slo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let header = long_header();
        let mut csv = format!("{}\n", header.join(","));
        for (target, repeat, slo, max) in rows {
            csv.push_str(&format!(
                "2026-12-04T00:00:00Z,RUN1,0.1.0,abc,,{target},standalone,none,SET,50,1,3,1000,37500,187000,5.0,37400.00,187000,0,0.2,0.1,0.2,0.3,0.9,1.0,4.0,1,1,uniform,false,{repeat},37400.00,,,false,redis 7.0.15,{slo},{max}\n"
            ));
        }
        std::fs::write(dir.join("runs.csv"), csv).unwrap();
        dir
    }

    #[test]
    fn a_ladder_reads_back_as_written() {
        let dir = folder(
            "roundtrip",
            &[
                ("a", 1, "p99<=1ms,p50<=200us", "37500"),
                ("a", 2, "p99<=1ms,p50<=200us", "37500"),
                ("b", 1, "", ""),
            ],
        );
        let mut run = saved::load(&dir, None).unwrap();
        let steps = vec![
            step(
                50_000.0,
                4.25,
                false,
                "p99 4.25 ms > 1 ms, p50 \"1.4 ms\" > 200 us",
            ),
            step(25_000.0, 0.7, true, ""),
            step(37_500.0, 0.9, true, ""),
            step(
                43_750.0,
                1.1,
                false,
                "achieved 91% of the target,\nand p99 1.1 ms > 1 ms",
            ),
        ];
        run.results[0].slo = Some(ladder(true, steps));
        run.results[1].slo = Some(ladder(false, vec![step(37_500.0, 1.2, false, "p99, high")]));
        // A search interrupted before its first step.
        let mut none = ladder(false, Vec::new());
        (none.outcome, none.max_rps) = (Outcome::Interrupted, None);
        run.results[2].slo = Some(none);
        write_run_files(&dir, &run.meta, &run.results, run.results.len()).unwrap();
        let back = saved::load(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        for (a, b) in run.results.iter().zip(&back.results) {
            assert_eq!(a.slo, b.slo, "{} r{}", a.target, a.repeat);
        }
    }

    #[test]
    fn no_ladder_file_no_search() {
        let dir = folder("none", &[("a", 1, "", "")]);
        let run = saved::load(&dir, None).unwrap();
        assert!(read(&dir.join(file_name("RUN1"))).unwrap().is_empty());
        assert_eq!(run.results[0].slo, None);
        // Nothing to write: no file.
        assert_eq!(write(&dir, "RUN1", &run.results).unwrap(), None);
        assert!(!dir.join(file_name("RUN1")).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_long_csv_alone_keeps_the_objective_and_the_answer() {
        let dir = folder(
            "longonly",
            &[("a", 1, "p99<=1ms", "37500"), ("b", 1, "p99<=1ms", "")],
        );
        let run = saved::load(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let a = run.results[0].slo.as_ref().unwrap();
        assert_eq!(
            (a.objective.as_str(), a.max_rps),
            ("p99<=1ms", Some(37_500.0))
        );
        assert!(a.steps.is_empty());
        let b = run.results[1].slo.as_ref().unwrap();
        assert_eq!((b.max_rps, b.outcome), (None, Outcome::NotMet));
    }

    #[test]
    fn the_header_is_what_the_rows_fill() {
        let s = ladder(true, vec![step(1000.0, 0.5, true, "")]);
        let bytes = ladder_csv(&[("a", "SET", 1, &s)]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "a,SET,1,\"p99<=1ms,p50<=200us\",found,37500,101234.567891234,true,1,1000,999.1234567890001,0.16666666666666666,0.5,0.5 0.16666666666666666,5000,0,true,"
        );
    }
}
