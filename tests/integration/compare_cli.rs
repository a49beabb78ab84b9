//! `rbench compare BASELINE.csv CANDIDATE.csv` through the binary: the nightly regression verdict on
//! real results files and on synthetic ones written with the exact long-CSV header, thresholds,
//! `--latest` on history files, and unusable input (exit 2, one line on stderr).

use crate::support;

use std::collections::HashMap;
use std::path::Path;

use rbench::schema::long_header;
use support::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn header() -> Vec<String> {
    long_header()
}

/// One synthetic results row; every column not set here gets a plausible value.
#[derive(Clone)]
struct Row {
    ts: &'static str,
    run_id: &'static str,
    target: &'static str,
    test: &'static str,
    rps: f64,
    p99: f64,
    interrupted: bool,
    /// A searched row's found rate (`slo_max_rps`), objective `p99<=1ms`.
    slo_max: Option<f64>,
    mix: bool,
}

fn row(target: &'static str, test: &'static str, rps: f64, p99: f64) -> Row {
    Row {
        ts: "2026-11-20T02:00:00Z",
        run_id: "20261120T020000Z-0001",
        target,
        test,
        rps,
        p99,
        interrupted: false,
        slo_max: None,
        mix: false,
    }
}

/// `r` as 5 repeats of one run, jittered by −0.2..+0.2 % (the median is `r`'s own value): a verdict
/// needs repeats to tell a change from noise.
fn reps(r: Row) -> Vec<Row> {
    (0..5)
        .map(|k| {
            let f = 1.0 + 0.001 * (k as f64 - 2.0);
            Row {
                rps: r.rps * f,
                p99: r.p99 * f,
                ..r.clone()
            }
        })
        .collect()
}

/// Every row of `rows` as 5 repeats.
fn repeated(rows: &[Row]) -> Vec<Row> {
    rows.iter().cloned().flat_map(reps).collect()
}

impl Row {
    fn at(mut self, ts: &'static str, run_id: &'static str) -> Row {
        self.ts = ts;
        self.run_id = run_id;
        self
    }

    fn cells(&self) -> HashMap<&'static str, String> {
        let mut m: HashMap<&'static str, String> = HashMap::new();
        let fixed = [
            ("rbench_version", "0.1.0"),
            ("git_rev", "abc1234"),
            ("profile", "nightly"),
            ("deployment", "standalone"),
            ("persistence", "none"),
            ("clients", "50"),
            ("pipeline", "1"),
            ("data_size", "3"),
            ("keyspace", "100000"),
            ("target_rps", ""),
            ("requests", "20000"),
            ("ok", "20000"),
            ("errors", "0"),
            ("avg_ms", "0.500"),
            ("min_ms", "0.100"),
            ("p50_ms", "0.450"),
            ("p95_ms", "0.900"),
            ("p999_ms", "5.000"),
            ("max_ms", "9.000"),
            ("masters", "1"),
            ("threads", "1"),
            ("key_dist", "uniform"),
            ("mix", "false"),
            ("repeat", "1"),
            ("achieved_rps", ""),
            ("p99_uncorrected_ms", ""),
            ("error_classes", ""),
        ];
        for (k, v) in fixed {
            m.insert(k, v.to_string());
        }
        m.insert("timestamp", self.ts.to_string());
        m.insert("run_id", self.run_id.to_string());
        m.insert("target", self.target.to_string());
        m.insert("test", self.test.to_string());
        m.insert("rps", format!("{:.2}", self.rps));
        m.insert("duration_s", format!("{:.3}", 20000.0 / self.rps));
        m.insert("p99_ms", format!("{:.3}", self.p99));
        m.insert("interrupted", self.interrupted.to_string());
        m.insert("mix", self.mix.to_string());
        if let Some(rate) = self.slo_max {
            m.insert("slo", "p99<=1ms".to_string());
            m.insert("slo_max_rps", format!("{rate:.0}"));
        }
        m
    }
}

/// A long CSV with rbench's exact header; `drop` leaves a column out (header and rows).
fn long_csv(rows: &[Row], drop: Option<&str>) -> String {
    let cols: Vec<String> = header()
        .into_iter()
        .filter(|c| Some(c.as_str()) != drop)
        .collect();
    let mut s = cols.join(",");
    s.push('\n');
    for r in rows {
        let cells = r.cells();
        let line: Vec<String> = cols
            .iter()
            .map(|c| cells.get(c.as_str()).cloned().unwrap_or_default())
            .collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn compare(base: &Path, cand: &Path, extra: &[&str]) -> RunOutput {
    let mut args = vec!["compare".to_string(), path_arg(base), path_arg(cand)];
    args.extend(extra.iter().map(|s| s.to_string()));
    let res = run_rbench(&args);
    res.assert_no_panic();
    res
}

fn assert_pass(res: &RunOutput, what: &str) {
    assert_eq!(
        res.code, 0,
        "{what}: want exit 0\n--- stdout\n{}\n--- stderr\n{}",
        res.stdout, res.stderr
    );
    assert!(
        res.stdout.contains("no regression"),
        "{what}: {}",
        res.stdout
    );
    assert!(!res.stdout.contains("REGRESSION"), "{what}: {}", res.stdout);
    assert!(res.stderr.trim().is_empty(), "{what}: {}", res.stderr);
}

fn assert_regression(res: &RunOutput, what: &str) {
    assert_eq!(
        res.code, 1,
        "{what}: want exit 1\n--- stdout\n{}\n--- stderr\n{}",
        res.stdout, res.stderr
    );
    assert!(res.stdout.contains("REGRESSION"), "{what}: {}", res.stdout);
    assert!(
        !res.stdout.contains("no regression"),
        "{what}: {}",
        res.stdout
    );
}

/// Exit 2, nothing on stdout, exactly one stderr line containing every needle.
fn assert_unusable(res: &RunOutput, needles: &[&str], what: &str) {
    assert_eq!(res.code, 2, "{what}: want exit 2: {res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{what}: stderr:\n{}", res.stderr);
    for n in needles {
        assert!(lines[0].contains(n), "{what}: want {n:?} in {:?}", lines[0]);
    }
    assert!(
        res.stdout.trim().is_empty(),
        "{what}: stdout:\n{}",
        res.stdout
    );
}

/// The report line of `test` (on any target).
fn report_line<'a>(stdout: &'a str, test: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(test))
        .unwrap_or_else(|| panic!("no {test} line in:\n{stdout}"))
}

/// Rewrites one column of a CSV file with `f`.
fn edit_column(text: &str, column: &str, f: impl Fn(&str) -> String) -> String {
    let csv = Csv::parse(text);
    let c = csv.col(column);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&csv.header).expect("header");
    for r in &csv.rows {
        let mut r = r.clone();
        r[c] = f(&r[c]);
        w.write_record(&r).expect("row");
    }
    String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
}

// ---------------------------------------------------------------------------------------------
// Real results files
// ---------------------------------------------------------------------------------------------

/// Runs a tiny spawned SET/GET workload into `dir`; returns the text of its runs.csv.
fn real_run(dir: &TempDir) -> String {
    let profile = format!("{}/profiles/standalone.toml", env!("CARGO_MANIFEST_DIR"));
    run_rbench(&[
        "-c",
        &profile,
        "-t",
        "set,get",
        "-n",
        // Repeats of some 50 ms swung 2× when the other tests of this file started beside them,
        // enough to overlap a halved rate; at some 200 ms a burst next door moves them less.
        "40000",
        "--clients",
        "10",
        "--repeat",
        "5",
        "-q",
        "--out",
        &dir.arg(),
    ])
    .assert_ok();
    std::fs::read_to_string(dir.join("runs.csv")).expect("runs.csv")
}

#[test]
fn real_results_files() {
    let (a_dir, b_dir, work) = (
        TempDir::new("compare-a"),
        TempDir::new("compare-b"),
        TempDir::new("compare-work"),
    );
    let a = real_run(&a_dir);
    let b = real_run(&b_dir);
    let run_ids = |text: &str| {
        let csv = Csv::parse(text);
        let mut ids: Vec<String> = csv
            .rows
            .iter()
            .map(|r| csv.get(r, "run_id").to_string())
            .collect();
        ids.dedup();
        ids
    };
    assert_eq!(run_ids(&a).len(), 1, "{a}");
    assert_ne!(run_ids(&a), run_ids(&b), "two runs, two run ids");
    let a_path = a_dir.join("runs.csv");
    let b_path = b_dir.join("runs.csv");

    // The same measurements on both sides: nothing to flag.
    let same = write_file(&work, "same.csv", &a);
    let res = compare(&a_path, &same, &[]);
    assert_pass(&res, "identical files");
    assert!(
        res.stdout.contains("in 2 compared configurations"),
        "{}",
        res.stdout
    );
    for test in ["SET", "GET"] {
        let line = report_line(&res.stdout, test);
        assert!(line.contains("+0.0%"), "{line}");
        assert!(line.trim_end().ends_with("ok"), "{line}");
    }

    // Two separate runs (different run ids and timestamps) match configuration by configuration.
    let res = compare(
        &a_path,
        &b_path,
        &["--max-drop", "99%", "--max-p99-rise", "100000%"],
    );
    assert_pass(&res, "two real runs, loose thresholds");
    assert!(
        res.stdout.contains("in 2 compared configurations") && !res.stdout.contains("only in"),
        "{}",
        res.stdout
    );

    // Throughput halved in the candidate: past the threshold and beyond the repeats' noise (5 vs 5
    // repeats, every candidate below every baseline sample unless a repeat swung by 2×).
    let dropped = edit_column(&a, "rps", |v| {
        format!("{:.2}", v.parse::<f64>().expect("rps") * 0.5)
    });
    let cand = write_file(&work, "dropped.csv", &dropped);
    let res = compare(&a_path, &cand, &[]);
    assert_regression(&res, "rps -50%, default 5%");
    for test in ["SET", "GET"] {
        let line = report_line(&res.stdout, test);
        assert!(line.contains("REGRESSION (rps p="), "{line}");
        assert!(line.contains("-50.0%"), "{line}");
    }
    assert!(res.stdout.contains("2 regressions"), "{}", res.stdout);
    assert_regression(
        &compare(&a_path, &cand, &["--max-drop", "40%"]),
        "rps -50%, max drop 40%",
    );
    assert_pass(
        &compare(&a_path, &cand, &["--max-drop", "60%"]),
        "rps -50%, max drop 60%",
    );
    // A bare number is a percentage too.
    assert_pass(
        &compare(&a_path, &cand, &["--max-drop", "60"]),
        "rps -50%, max drop 60",
    );
}

// ---------------------------------------------------------------------------------------------
// Synthetic files
// ---------------------------------------------------------------------------------------------

#[test]
fn rps_drop_and_p99_rise_thresholds() {
    let dir = TempDir::new("compare-thresholds");
    let base = write_file(
        &dir,
        "base.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 50000.0, 2.0),
                row("no-aof", "GET", 60000.0, 1.5),
            ]),
            None,
        ),
    );

    let rps_down = write_file(
        &dir,
        "rps-down.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 40000.0, 2.0),
                row("no-aof", "GET", 60000.0, 1.5),
            ]),
            None,
        ),
    );
    let res = compare(&base, &rps_down, &[]);
    assert_regression(&res, "SET rps -20%");
    assert!(
        report_line(&res.stdout, "SET").contains("REGRESSION (rps p="),
        "{}",
        res.stdout
    );
    assert!(
        report_line(&res.stdout, "GET").trim_end().ends_with("ok"),
        "{}",
        res.stdout
    );
    assert!(res.stdout.contains("1 regression in 2"), "{}", res.stdout);
    assert_pass(
        &compare(&base, &rps_down, &["--max-drop", "30%"]),
        "max drop 30%",
    );

    // p99 up 20%: past 10%, within 25%; up 5%: within 10%.
    let p99_up = write_file(
        &dir,
        "p99-up.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 50000.0, 2.4),
                row("no-aof", "GET", 60000.0, 1.575),
            ]),
            None,
        ),
    );
    let res = compare(&base, &p99_up, &["--max-p99-rise", "10%"]);
    assert_regression(&res, "SET p99 +20%");
    let set = report_line(&res.stdout, "SET");
    assert!(
        set.contains("REGRESSION (p99 p=") && set.contains("+20.0%"),
        "{set}"
    );
    assert!(
        report_line(&res.stdout, "GET").trim_end().ends_with("ok"),
        "GET p99 +5% is within 10%: {}",
        res.stdout
    );
    assert_pass(
        &compare(&base, &p99_up, &["--max-p99-rise", "25%"]),
        "p99 +20%, max rise 25%",
    );

    // Faster and lower latency is never a regression.
    let better = write_file(
        &dir,
        "better.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 70000.0, 1.0),
                row("no-aof", "GET", 80000.0, 1.0),
            ]),
            None,
        ),
    );
    assert_pass(&compare(&base, &better, &[]), "improvement");
}

#[test]
fn latest_picks_the_newest_run_of_a_history_file() {
    let dir = TempDir::new("compare-latest");
    const OLD: (&str, &str) = ("2026-11-20T02:00:00Z", "20261120T020000Z-0001");
    const NEW: (&str, &str) = ("2026-11-21T02:00:00Z", "20261121T020000Z-0002");
    let base = write_file(
        &dir,
        "baseline.csv",
        &long_csv(
            &reps(row("no-aof", "SET", 50000.0, 2.0).at(OLD.0, OLD.1)),
            None,
        ),
    );

    // Newest run is fine, an older one was slow. The newest rows come first in the file, so
    // "newest" cannot mean "last in the file".
    let history = write_file(
        &dir,
        "history-good-newest.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 50000.0, 2.0).at(NEW.0, NEW.1),
                row("no-aof", "SET", 25000.0, 2.0).at(OLD.0, OLD.1),
            ]),
            None,
        ),
    );
    let res = compare(&base, &history, &["--latest"]);
    assert_pass(&res, "--latest, newest run good");
    let set = report_line(&res.stdout, "SET");
    assert!(
        set.contains("+0.0%") && !set.contains("25000"),
        "the newest candidate run (50000) should be compared: {set}"
    );
    // Without --latest both runs count: the centre of the ten is 35355 (-29%), but half the candidate's
    // samples equal the baseline's, so that is not told from noise.
    let res = compare(&base, &history, &[]);
    assert_pass(&res, "no --latest, both runs");
    let set = report_line(&res.stdout, "SET");
    assert!(
        set.contains("-29.3%") && set.contains("within noise"),
        "{set}"
    );

    // Newest run is slow, the older one was fine.
    let history = write_file(
        &dir,
        "history-bad-newest.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 50000.0, 2.0).at(OLD.0, OLD.1),
                row("no-aof", "SET", 25000.0, 2.0).at(NEW.0, NEW.1),
            ]),
            None,
        ),
    );
    assert_regression(
        &compare(&base, &history, &["--latest"]),
        "--latest, newest run slow",
    );

    // --latest applies to the baseline too: its newest run is the reference.
    let base_history = write_file(
        &dir,
        "baseline-history.csv",
        &long_csv(
            &repeated(&[
                row("no-aof", "SET", 100000.0, 2.0).at(OLD.0, OLD.1),
                row("no-aof", "SET", 50000.0, 2.0).at(NEW.0, NEW.1),
            ]),
            None,
        ),
    );
    let cand = write_file(
        &dir,
        "cand.csv",
        &long_csv(
            &reps(row("no-aof", "SET", 50000.0, 2.0).at(NEW.0, NEW.1)),
            None,
        ),
    );
    assert_pass(
        &compare(&base_history, &cand, &["--latest"]),
        "--latest baseline",
    );
    // Without it both baseline runs count (their centre: 70711).
    let res = compare(&base_history, &cand, &[]);
    assert!(
        report_line(&res.stdout, "SET").contains("-29.3%"),
        "{}",
        res.stdout
    );
}

#[test]
fn unusable_input_exits_2_with_one_line() {
    let dir = TempDir::new("compare-bad");
    let good_rows = [row("no-aof", "SET", 50000.0, 2.0)];
    let good = write_file(&dir, "good.csv", &long_csv(&good_rows, None));

    // A required column is missing.
    let no_rps = write_file(&dir, "no-rps.csv", &long_csv(&good_rows, Some("rps")));
    assert_unusable(
        &compare(&good, &no_rps, &[]),
        &["no-rps.csv", "missing column", "rps"],
        "missing rps column",
    );
    let no_p99 = write_file(&dir, "no-p99.csv", &long_csv(&good_rows, Some("p99_ms")));
    assert_unusable(
        &compare(&no_p99, &good, &[]),
        &["no-p99.csv", "p99_ms"],
        "missing p99 column in the baseline",
    );

    // A garbage number, in the second data row (line 3 of the file).
    let text = long_csv(
        &[
            row("no-aof", "SET", 50000.0, 2.0),
            row("no-aof", "GET", 60000.0, 1.5),
        ],
        None,
    );
    let garbage = write_file(&dir, "garbage.csv", &text.replace("60000.00", "6O000.x"));
    assert_unusable(
        &compare(&good, &garbage, &[]),
        &["garbage.csv:3", "6O000.x", "rps"],
        "garbage rps",
    );
    let nan = write_file(&dir, "nan.csv", &text.replace("60000.00", "NaN"));
    assert_unusable(&compare(&good, &nan, &[]), &["nan.csv", "NaN"], "NaN rps");

    // Empty, header only, missing.
    let empty = write_file(&dir, "empty.csv", "");
    assert_unusable(&compare(&good, &empty, &[]), &["empty.csv"], "empty file");
    let header_only = write_file(&dir, "header-only.csv", &long_csv(&[], None));
    assert_unusable(
        &compare(&header_only, &good, &[]),
        &["header-only.csv", "no rows"],
        "header only",
    );
    let missing = dir.join("does-not-exist.csv");
    assert_unusable(
        &compare(&good, &missing, &[]),
        &["does-not-exist.csv"],
        "missing file",
    );
    assert_unusable(
        &compare(&missing, &good, &[]),
        &["does-not-exist.csv"],
        "missing baseline",
    );

    // A short row.
    let short = write_file(
        &dir,
        "short.csv",
        &format!("{}no-aof,SET\n", long_csv(&good_rows, None)),
    );
    assert_unusable(&compare(&good, &short, &[]), &["short.csv"], "short row");

    // Nothing in common.
    let other = write_file(
        &dir,
        "other.csv",
        &long_csv(&[row("aof-always", "GET", 50000.0, 2.0)], None),
    );
    assert_unusable(
        &compare(&good, &other, &[]),
        &["no configuration"],
        "no match",
    );
}

#[test]
fn bad_thresholds_exit_2() {
    let dir = TempDir::new("compare-thresholds-bad");
    let f = write_file(
        &dir,
        "f.csv",
        &long_csv(&[row("no-aof", "SET", 50000.0, 2.0)], None),
    );
    for (flag, value) in [
        ("--max-drop", "abc"),
        ("--max-drop", "5%%"),
        ("--max-p99-rise", "ten%"),
        ("--max-p99-rise", "inf"),
    ] {
        let res = compare(&f, &f, &[flag, value]);
        assert_unusable(&res, &[flag, value], &format!("{flag} {value}"));
    }
    // Negative, written so clap does not take it for a flag.
    let res = compare(&f, &f, &["--max-drop=-5%"]);
    assert_unusable(&res, &["--max-drop", "-5%"], "--max-drop=-5%");
    // The same files with sane thresholds are fine, so it was the threshold that failed.
    assert_pass(&compare(&f, &f, &["--max-drop", "5%"]), "sane threshold");
}

/// Rows of tests a signal cut short are partial measurements: compare leaves them out.
#[test]
fn interrupted_rows_are_not_samples() {
    let work = TempDir::new("cmp-interrupted");
    let base = repeated(&[row("a", "SET", 100_000.0, 1.0)]);
    let mut cand = repeated(&[row("a", "SET", 100_000.0, 1.0)]);
    // Cut short: a third of the throughput, and every such row would be a regression.
    cand.extend(
        reps(row("a", "SET", 30_000.0, 1.0))
            .into_iter()
            .map(|r| Row {
                interrupted: true,
                ..r
            }),
    );
    let b = write_file(&work, "b.csv", &long_csv(&base, None));
    let c = write_file(&work, "c.csv", &long_csv(&cand, None));
    assert_pass(&compare(&b, &c, &[]), "interrupted rows left out");
    // Only cut-short rows in the candidate: nothing left to compare.
    let only = reps(row("a", "SET", 30_000.0, 1.0))
        .into_iter()
        .map(|r| Row {
            interrupted: true,
            ..r
        })
        .collect::<Vec<_>>();
    let c = write_file(&work, "c2.csv", &long_csv(&only, None));
    let res = compare(&b, &c, &[]);
    assert_ne!(res.code, 0, "{res:?}");
    assert!(!res.stdout.contains("no regression"), "{}", res.stdout);
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// Three outcomes, three exit codes: judged and fine (0), a regression (1), and a change past the
/// threshold that the samples cannot judge (4, or 0 with `--inconclusive-ok`).
#[test]
fn a_change_that_cannot_be_judged_exits_4() {
    let dir = TempDir::new("compare-outcomes");
    let one = |rps| long_csv(&[row("no-aof", "SET", rps, 1.0)], None);
    let base = write_file(&dir, "base.csv", &one(50000.0));
    let cand = write_file(&dir, "cand.csv", &one(40000.0));
    let res = compare(&base, &cand, &[]);
    assert_eq!(res.code, 4, "one repeat a side, -20%: {res:?}");
    assert!(
        report_line(&res.stdout, "SET").ends_with(
            "NOT JUDGED: too few samples (rps 1 vs 1 repeats: judging needs 3 or more on each side (--repeat 3))"
        ),
        "{}",
        res.stdout
    );
    assert!(
        res.stdout
            .contains("INCONCLUSIVE: no regression, 1 not judged"),
        "{}",
        res.stdout
    );
    assert!(res.stderr.trim().is_empty(), "{}", res.stderr);
    let res = compare(&base, &cand, &["--inconclusive-ok"]);
    assert_eq!(res.code, 0, "--inconclusive-ok: {res:?}");
    // A change inside the threshold needs no repeats to be fine.
    let near = write_file(&dir, "near.csv", &one(49000.0));
    assert_pass(&compare(&base, &near, &[]), "one repeat a side, -2%");
    // The same drop with repeats is judged: a regression.
    let base = write_file(
        &dir,
        "base5.csv",
        &long_csv(&reps(row("no-aof", "SET", 50000.0, 1.0)), None),
    );
    let cand = write_file(
        &dir,
        "cand5.csv",
        &long_csv(&reps(row("no-aof", "SET", 40000.0, 1.0)), None),
    );
    assert_regression(&compare(&base, &cand, &[]), "five repeats a side, -20%");
}

/// A searched row is judged on the rate its search found, one sample per run; its p99 (measured
/// at whatever rate was found) is not judged.
#[test]
fn a_searched_profile_is_judged_on_the_rate_found() {
    let dir = TempDir::new("compare-searched");
    const RUNS: [(&str, &str); 4] = [
        ("2026-11-20T02:00:00Z", "20261120T020000Z-0001"),
        ("2026-11-21T02:00:00Z", "20261121T020000Z-0002"),
        ("2026-11-22T02:00:00Z", "20261122T020000Z-0003"),
        ("2026-11-23T02:00:00Z", "20261123T020000Z-0004"),
    ];
    let searched = |rate: f64, p99: f64, at: (&'static str, &'static str)| Row {
        slo_max: Some(rate),
        ..row("no-aof", "SET", rate, p99).at(at.0, at.1)
    };
    let history: Vec<Row> = RUNS
        .iter()
        .zip([100_000.0, 102_000.0, 98_000.0, 101_000.0])
        .map(|(at, rate)| searched(rate, 0.9, *at))
        .collect();
    let base = write_file(&dir, "history.csv", &long_csv(&history, None));
    let tonight = ("2026-11-24T02:00:00Z", "20261124T020000Z-0005");
    let cand = |rate: f64, p99: f64| long_csv(&[searched(rate, p99, tonight)], None);
    let res = compare(
        &base,
        &write_file(&dir, "low.csv", &cand(70_000.0, 0.9)),
        &[],
    );
    assert_regression(&res, "found rate -30%");
    assert!(
        report_line(&res.stdout, "SET").contains("REGRESSION (max rps p="),
        "{}",
        res.stdout
    );
    assert_pass(
        &compare(
            &base,
            &write_file(&dir, "same.csv", &cand(99_000.0, 1.8)),
            &[],
        ),
        "found rate -1%, p99 at that rate doubled",
    );
    // One baseline search cannot judge a rate: exit 4, saying what would.
    let one = write_file(&dir, "one.csv", &long_csv(&history[..1], None));
    let res = compare(
        &one,
        &write_file(&dir, "low1.csv", &cand(70_000.0, 0.9)),
        &[],
    );
    assert_eq!(res.code, 4, "{res:?}");
    assert!(
        res.stdout
            .contains("a searched rate is judged against 3 or more runs"),
        "{}",
        res.stdout
    );
}

/// A command of a mix is its own configuration: judged per command, never pooled with the same
/// command run alone.
#[test]
fn a_mix_is_judged_per_command() {
    let dir = TempDir::new("compare-mix");
    let mixed = |test, rps| Row {
        mix: true,
        ..row("no-aof", test, rps, 1.0)
    };
    let rows = |set_mix: f64| {
        let mut v = repeated(&[row("no-aof", "SET", 50000.0, 1.0)]);
        v.extend(repeated(&[mixed("SET", set_mix), mixed("GET", 90000.0)]));
        long_csv(&v, None)
    };
    let base = write_file(&dir, "base.csv", &rows(30000.0));
    let res = compare(&base, &write_file(&dir, "cand.csv", &rows(24000.0)), &[]);
    assert_regression(&res, "the mix's SET -20%");
    assert!(
        res.stdout.contains("in 3 compared configurations"),
        "{}",
        res.stdout
    );
    let mix_set = res
        .stdout
        .lines()
        .find(|l| l.contains(" mix ") && l.split_whitespace().nth(1) == Some("SET"))
        .unwrap_or_else(|| panic!("{}", res.stdout));
    assert!(mix_set.contains("REGRESSION (rps"), "{mix_set}");
    assert!(
        report_line(&res.stdout, "SET").trim_end().ends_with("ok"),
        "{}",
        res.stdout
    );
}
