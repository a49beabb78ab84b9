//! The trend's numbers (each night's spread and baseline, the marks) and its Markdown, on ledgers
//! and histories written here, and on the history fixtures of earlier versions.

use std::path::{Path, PathBuf};

use super::data::{self, Mark, Options, Trend};
use super::{TrendError, markdown, read_history};
use crate::report::compare::Thresholds;
use crate::report::ledger::{self, NightRecord};
use crate::schema::LongRow;

fn opts(k: usize) -> Options {
    Options {
        nights: k,
        thresholds: Thresholds {
            max_drop: 0.05,
            max_p99_rise: 0.10,
        },
    }
}

fn night(i: usize, status: &str, accepted: bool, regressions: &[&str]) -> NightRecord {
    NightRecord {
        timestamp: format!("2026-12-{:02}T02:00:00Z", i + 1),
        run_id: format!("r{i}"),
        profile: "p.toml".into(),
        status: status.into(),
        accepted,
        rows: 3,
        regressions: regressions.iter().map(|s| s.to_string()).collect(),
    }
}

/// A row of test `test` on `local`, night `i`, with throughput `rps` and p99 `p99`.
fn row(i: usize, test: &str, rps: f64, p99: f64) -> LongRow {
    LongRow {
        timestamp: format!("2026-12-{:02}T02:00:00Z", i + 1),
        run_id: format!("r{i}"),
        rbench_version: "0.1.0".into(),
        git_rev: format!("rev{i}"),
        target: "local".into(),
        test: test.into(),
        clients: "50".into(),
        pipeline: "1".into(),
        data_size: "3".into(),
        keyspace: "1000".into(),
        rps: rps.to_string(),
        p99_ms: p99.to_string(),
        ..LongRow::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Five nights of SET: the third regressed (not accepted), the others joined the baseline.
fn five_nights(k: usize) -> Trend {
    let nights = vec![
        night(0, "first", true, &[]),
        night(1, "pass", true, &[]),
        night(2, "regression", false, &["SET on local"]),
        night(3, "pass", true, &[]),
        night(4, "pass", true, &[]),
    ];
    let per_night: [[f64; 3]; 5] = [
        [100.0, 102.0, 98.0],
        [110.0, 111.0, 109.0],
        [50.0, 52.0, 51.0],
        [120.0, 121.0, 119.0],
        [100.0, 100.0, 100.0],
    ];
    let mut rows = Vec::new();
    for (i, v) in per_night.iter().enumerate() {
        for &rps in v {
            rows.push(row(i, "SET", rps, 1000.0 / rps));
        }
    }
    data::build(nights, &rows, opts(k)).unwrap()
}

#[test]
fn each_night_is_drawn_against_the_last_k_accepted_nights_before_it() {
    let t = five_nights(2);
    assert_eq!(t.configs.len(), 1);
    let c = &t.configs[0];
    // Night 4's baseline skips night 2 (a regression, not accepted): nights 1 and 3.
    assert_eq!(t.baseline_nights(4), [1, 3]);
    assert_eq!(t.baseline_nights(3), [0, 1]);
    assert_eq!(t.baseline_nights(0), Vec::<usize>::new());
    assert!(
        c.tps.points[0].baseline.is_none(),
        "the first night has none"
    );

    let b = c.tps.points[4].baseline.unwrap();
    assert_eq!(b.nights, 2);
    // The verdict pools every repeat: median of 109..111 and 119..121 is (111 + 119) / 2.
    assert!(close(b.median, 115.0), "{b:?}");
    // The band is the range of the baseline nights' own medians.
    assert!(close(b.lo, 110.0) && close(b.hi, 120.0), "{b:?}");
    assert!(close(b.threshold, 115.0 * 0.95), "{b:?}");

    let s = c.tps.points[0].spread.unwrap();
    assert_eq!((s.median, s.min, s.max, s.n), (100.0, 98.0, 102.0, 3));

    // p99's threshold is above its baseline: 1000/rps, lower is better.
    let p = c.p99.points[4].baseline.unwrap();
    assert!(close(p.threshold, p.median * 1.10), "{p:?}");
    assert!(p.lo < p.hi);
}

#[test]
fn a_wider_baseline_takes_more_nights() {
    let t = five_nights(5);
    assert_eq!(t.baseline_nights(4), [0, 1, 3]);
    let b = t.configs[0].tps.points[4].baseline.unwrap();
    assert_eq!(b.nights, 3);
    assert!(close(b.lo, 100.0) && close(b.hi, 120.0), "{b:?}");
    assert_eq!(t.judged_against(4), 3);
}

#[test]
fn marks_follow_the_ledger_and_name_the_configuration() {
    let nights = vec![
        night(0, "first", true, &[]),
        night(1, "regression", false, &["SET on local"]),
        night(2, "accepted", true, &["SET on local"]),
        night(3, "errors", false, &[]),
        night(4, "incomplete", false, &[]),
        night(5, "inconclusive", false, &[]),
        night(6, "unjudged", false, &[]),
        night(7, "from-the-future", false, &[]),
    ];
    let rows: Vec<LongRow> = (0..8)
        .flat_map(|i| [row(i, "SET", 100.0, 1.0), row(i, "GET", 200.0, 1.0)])
        .collect();
    let t = data::build(nights, &rows, opts(5)).unwrap();
    let get = t.configs.iter().find(|c| c.key.test == "GET").unwrap();
    let set = t.configs.iter().find(|c| c.key.test == "SET").unwrap();
    let marks = |c| (0..8).map(|i| t.mark(c, i)).collect::<Vec<_>>();
    use Mark::*;
    assert_eq!(
        marks(set),
        [
            Normal,
            Regression,
            AcceptedRegression,
            Errors,
            Incomplete,
            Inconclusive,
            Unjudged,
            Unjudged
        ]
    );
    // GET did not regress on nights 1 and 2: the night's other statuses still show.
    assert_eq!(marks(get)[..3], [Normal, Normal, Accepted]);
    assert!(!Errors.joined() && !Incomplete.joined() && Regression.joined());
    assert_eq!(t.config_status(set, 1), "REGRESSION");
    assert_eq!(t.config_status(get, 1), "ok");
    assert_eq!(t.config_status(set, 3), "errors");
}

#[test]
fn rows_group_as_compare_keys_them() {
    let nights = vec![night(0, "first", true, &[])];
    let mut a = row(0, "SET", 100.0, 1.0);
    a.clients = "50.0".into();
    let b = row(0, "SET", 200.0, 1.0);
    let mut piped = row(0, "SET", 900.0, 1.0);
    piped.pipeline = "16".into();
    let mut cut = row(0, "SET", 1.0, 1.0);
    cut.interrupted = "true".into();
    let mut stray = row(0, "SET", 5.0, 1.0);
    stray.run_id = "not-in-the-ledger".into();
    let t = data::build(nights, &[a, b, piped, cut, stray], opts(5)).unwrap();
    assert_eq!(
        t.configs.len(),
        2,
        "50 and 50.0 clients are one configuration"
    );
    let one = &t.configs[0];
    assert_eq!(one.key.config(), "c=50 p=1 size=3 keys=1000");
    let s = one.tps.points[0].spread.unwrap();
    assert_eq!(
        (s.n, s.median),
        (2, 150.0),
        "interrupted and stray rows left out"
    );
    assert_eq!(t.configs[1].key.config(), "c=50 p=16 size=3 keys=1000");
}

#[test]
fn a_searched_row_charts_its_highest_rate() {
    let nights = vec![night(0, "first", true, &[])];
    let mut r = row(0, "SET", 900.0, 2.0);
    r.slo = "p99<=50ms".into();
    r.slo_max_rps = "1000".into();
    let t = data::build(nights, &[r], opts(5)).unwrap();
    let c = &t.configs[0];
    assert_eq!(c.tps_title(), "max rps @ p99<=50ms");
    assert_eq!(c.tps.points[0].spread.unwrap().median, 1000.0);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/results")
        .join(name)
        .join("runs.csv")
}

#[test]
fn histories_of_earlier_versions_still_read() {
    for (name, run, tests) in [
        ("v0-basic", "20261207T101034Z-401b", 2),
        ("basic", "20261207T101034Z-401b", 2),
        ("mix", "20261207T101034Z-4023", 2),
        ("slo", "20261207T101034Z-4029", 1),
        ("openloop", "20261207T101040Z-407c", 1),
    ] {
        let rows = read_history(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut n = night(0, "first", true, &[]);
        n.run_id = run.into();
        let t = data::build(vec![n], &rows, opts(5)).unwrap();
        assert_eq!(t.configs.len(), tests, "{name}");
        assert_eq!(
            (t.nights[0].version.as_str(), t.nights[0].git_rev.as_str()),
            ("0.1.0", "ae0268d79ff5")
        );
        assert!(
            t.configs.iter().all(|c| c.tps.points[0].spread.is_some()),
            "{name}"
        );
        if name == "slo" {
            assert_eq!(t.configs[0].tps_title(), "max rps @ p99<=50ms");
        }
        if name == "openloop" {
            assert!(t.configs[0].key.target_rps.is_some());
        }
    }
}

#[test]
fn the_markdown_has_the_status_line_the_configurations_and_the_last_ten_nights() {
    let mut nights: Vec<NightRecord> = (0..12).map(|i| night(i, "pass", true, &[])).collect();
    nights[0].status = "first".into();
    nights[11] = night(11, "regression", false, &["SET on local"]);
    let mut rows = Vec::new();
    for i in 0..12 {
        let slow = if i == 11 { 0.5 } else { 1.0 };
        for rps in [1000.0, 1010.0, 990.0] {
            rows.push(row(i, "SET", rps * slow, 2.0 / slow));
        }
        rows.push(row(i, "GET|x", 5000.0, 1.0));
    }
    let t = data::build(nights, &rows, opts(5)).unwrap();
    let md = markdown::summary(&t);
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "## rbench nightly: REGRESSION");
    assert!(
        lines[2].starts_with("Night r11 of 2026-12-12 (rbench 0.1.0, git rev11): regression in SET on local against the last 5 accepted nights"),
        "{}",
        lines[2]
    );
    let set = lines
        .iter()
        .find(|l| l.starts_with("| SET on local"))
        .unwrap();
    assert_eq!(
        *set,
        "| SET on local (c=50 p=1 size=3 keys=1000) | 2026-12-12 | 500 | 1000 | -50.0% | 4.000 | 2.000 | +100.0% | REGRESSION |"
    );
    // A `|` in a name would end the cell: escaped.
    assert!(md.contains("| GET\\|x on local"), "{md}");
    let last = md.split("### Last 10 nights").nth(1).expect("the nights");
    let runs: Vec<&str> = last.lines().filter(|l| l.starts_with("| 2026")).collect();
    assert_eq!(runs.len(), 10);
    assert!(
        runs[0].starts_with("| 2026-12-12 | r11 | rev11 | regression | SET on local |"),
        "{}",
        runs[0]
    );
    assert!(runs[9].starts_with("| 2026-12-03 | r2 |"), "{}", runs[9]);
    assert!(md.contains("-5% rps or +10% p99"), "{md}");
}

#[test]
fn the_headline_says_what_an_unjudged_night_means() {
    let t = data::build(
        vec![night(0, "first", true, &[]), night(1, "errors", false, &[])],
        &[row(0, "SET", 1.0, 1.0)],
        opts(5),
    )
    .unwrap();
    let (word, sentence) = t.headline();
    assert_eq!(word, "ERRORS");
    assert!(sentence.contains("(rbench -, git -)"), "{sentence}");
    assert!(
        sentence.contains("tests failed the error check"),
        "{sentence}"
    );
    let md = markdown::summary(&t);
    assert!(md.contains("### Last 2 nights"), "{md}");
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbench-trend-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_folder_without_a_history_is_refused_in_one_line() {
    let dir = temp("refused");
    let err = |o: Options| super::write(&dir, &o).unwrap_err();
    assert!(matches!(err(opts(0)), TrendError::Nights));
    assert!(matches!(err(opts(5)), TrendError::NoLedger(_)));
    std::fs::write(dir.join(ledger::LEDGER), ledger::HEADER.join(",") + "\n").unwrap();
    assert!(matches!(err(opts(5)), TrendError::NoNights(_)));
    ledger::append(&dir.join(ledger::LEDGER), &night(0, "first", true, &[])).unwrap();
    let e = err(opts(5));
    assert!(matches!(e, TrendError::NoHistory(_)), "{e}");
    std::fs::write(
        dir.join(ledger::HISTORY),
        "run_id,target,test,clients,pipeline,data_size,keyspace,rps,p99_ms\nr0,local,SET,50,1,3,1000,fast,1\n",
    )
    .unwrap();
    let e = err(opts(5)).to_string();
    assert!(
        e.ends_with("line 2: run r0: invalid number `fast` in column `rps`"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    std::fs::write(
        dir.join(ledger::HISTORY),
        "run_id,target,test,clients,pipeline,data_size,keyspace,rps,p99_ms\nr0,local,SET,50,1,3,1000,900,1\n",
    )
    .unwrap();
    let [html, md] = super::write(&dir, &opts(5)).unwrap();
    assert!(html.ends_with("trend.html") && md.ends_with("trend.md"));
    let page = std::fs::read_to_string(&html).unwrap();
    let body = page.trim_start_matches("<!DOCTYPE html>").trim_start();
    roxmltree::Document::parse(body).expect("well-formed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_page_draws_the_last_sixty_nights_and_is_well_formed() {
    let nights: Vec<NightRecord> = (0..70).map(|i| night(i, "pass", true, &[])).collect();
    let rows: Vec<LongRow> = (0..70).map(|i| row(i, "SET<&>", 100.0, 1.0)).collect();
    let t = data::build(nights, &rows, opts(5)).unwrap();
    let page = super::html::page(&t);
    assert!(page.contains("The last 60 of 70 nights are drawn."));
    assert_eq!(page.matches("<g class=\"night mark-normal\"").count(), 120);
    assert!(page.contains("SET&lt;&amp;&gt; on local"));
    let body = page.trim_start_matches("<!DOCTYPE html>").trim_start();
    roxmltree::Document::parse(body).expect("well-formed");
}
