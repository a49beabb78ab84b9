//! Target rates, weighted mixes, durations, Ctrl-C, timelines, bounded structures and key
//! distributions, against real redis-server processes.

use crate::support;

use std::time::Duration;

use support::*;

/// At least two per-second rows for `test`, each with successes, adding up to `ok`.
fn assert_timeline_covers(timeline: &Csv, test: &str, ok: f64) {
    let rows = timeline.rows_for_test(test);
    assert!(rows.len() >= 2, "{test}: {}", timeline.text);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            timeline.num(r, "elapsed_s"),
            (i + 1) as f64,
            "{}",
            timeline.text
        );
        assert_eq!(timeline.num(r, "errors"), 0.0, "{}", timeline.text);
    }
    for r in &rows[..2] {
        assert!(timeline.num(r, "ok") > 0.0, "{test}: {}", timeline.text);
        assert!(timeline.num(r, "p50_ms") > 0.0, "{test}: {}", timeline.text);
    }
    let sum: f64 = rows.iter().map(|r| timeline.num(r, "ok")).sum();
    assert_eq!(sum, ok, "{test}: {}", timeline.text);
}

#[test]
fn mix_follows_the_weights() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("mix");
    let n = 20_000.0;
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "--mix",
            "set=3,get=7",
            "-n",
            "20000",
            "-r",
            "1000",
            "--out",
            &out.arg(),
        ],
    ));
    res.assert_ok();
    // -q: one line per command of the mix, nothing else.
    let lines: Vec<&str> = res.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", res.stdout);
    let names: Vec<String> = lines
        .iter()
        .map(|l| {
            parse_quiet_line(l)
                .unwrap_or_else(|| panic!("bad -q line {l:?}"))
                .0
        })
        .collect();
    assert_eq!(names, ["SET", "GET"]);

    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 2, "{}", csv.text);
    let set = csv.num(csv.row_for_test("SET"), "requests");
    let get = csv.num(csv.row_for_test("GET"), "requests");
    assert_eq!(set + get, n, "the mix shares one request budget");
    let share = set / n;
    assert!(
        (0.28..=0.32).contains(&share),
        "SET share {share} (SET {set}, GET {get})"
    );
    for test in ["SET", "GET"] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "errors"), 0.0);
        assert_eq!(csv.get(row, "mix"), "true");
    }
    let keys = cli_int(&dep, &["DBSIZE"]);
    assert!(keys > 0 && keys <= 1000, "DBSIZE {keys}");
}

#[test]
fn target_rate_is_achieved() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("rps");
    let json = dir.join("rps.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "set",
            "--rps",
            "2000",
            "--duration",
            "3s",
            "--clients",
            "10",
            "--json",
            json.to_str().unwrap(),
            "--out",
            &dir.arg(),
        ],
    ));
    res.assert_ok();
    let doc = read_json(&json);
    let r = &doc["results"][0];
    let achieved = json_f64(r, &["achieved_rps"]);
    assert_eq!(json_f64(r, &["target_rps"]), 2000.0);
    eprintln!("--rps 2000: achieved {achieved:.1} rps");
    assert!(
        (1900.0..=2100.0).contains(&achieved),
        "achieved {achieved} rps for a 2000 rps target"
    );
    // The results CSV agrees: requests / duration_s.
    let csv = results_csv(dir.path());
    let row = csv.row_for_test("SET");
    let rate = csv.num(row, "requests") / csv.num(row, "duration_s");
    assert!((1900.0..=2100.0).contains(&rate), "CSV rate {rate}");
    assert_eq!(csv.num(row, "errors"), 0.0);
    assert_eq!(csv.get(row, "target_rps"), "2000");
    assert!(!csv.get(row, "p99_uncorrected_ms").is_empty());

    // The timeline of a 3 s run has a row per second with successes, and accounts for every reply.
    let run_id = csv.get(row, "run_id");
    let timeline = timeline_of(dir.path(), run_id);
    assert_timeline_covers(&timeline, "SET", csv.num(row, "ok"));
}

#[test]
fn a_mix_at_a_target_rate_reports_the_schedule_rate() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("mixrps");
    let json = dir.join("mixrps.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "--mix",
            "set=1,get=3",
            "--rps",
            "1000",
            "--duration",
            "2s",
            "--clients",
            "10",
            "-r",
            "100",
            "--json",
            json.to_str().unwrap(),
            "--out",
            &dir.arg(),
        ],
    ));
    res.assert_ok();
    let doc = read_json(&json);
    let rows = doc["results"].as_array().expect("results");
    assert_eq!(rows.len(), 2);
    let total: f64 = rows.iter().map(|r| json_f64(r, &["requests"])).sum();
    let duration = json_f64(&rows[0], &["duration_s"]);
    let rate = total / duration;
    assert!((950.0..=1050.0).contains(&rate), "mix rate {rate}");
    let get_share = json_f64(&rows[1], &["requests"]) / total;
    assert!((0.70..=0.80).contains(&get_share), "GET share {get_share}");
    // The target is the whole mix's: each command's row reports the rate the schedule achieved, not
    // its own share of it, and keeping up with the schedule is not "falling behind".
    for r in rows {
        assert_eq!(json_f64(r, &["target_rps"]), 1000.0);
        let achieved = json_f64(r, &["achieved_rps"]);
        assert!(
            (950.0..=1050.0).contains(&achieved),
            "{}: achieved {achieved}",
            r["test"]
        );
    }
    assert!(!res.stdout.contains("fell behind"), "{}", res.stdout);
    assert!(!res.stderr.contains("fell behind"), "{}", res.stderr);
    // One timeline per command of the mix.
    let csv = results_csv(dir.path());
    let run_id = csv.get(&csv.rows[0], "run_id");
    let timeline = timeline_of(dir.path(), run_id);
    for test in ["SET", "GET"] {
        assert_timeline_covers(&timeline, test, csv.num(csv.row_for_test(test), "ok"));
    }
}

#[test]
fn a_stall_shows_up_in_corrected_latency() {
    let dep = spawn_standalone(&["--enable-debug-command", "yes"]);
    let dir = TempDir::new("stall");
    let json = dir.join("stall.json");
    // Few connections, so the handful of requests that were on the wire during the stall stay below
    // 1% of the samples: the uncorrected p99 then misses the stall, as a closed-loop tool would.
    let run = Running::start(
        &args_for(
            &dep,
            &[
                "-t",
                "set",
                "--rps",
                "1000",
                "--duration",
                "4s",
                "--clients",
                "5",
                "--json",
                json.to_str().unwrap(),
                "--no-save",
            ],
        ),
        &[],
    );
    // Stall ~1 s into the measured run (its first SET creates the key), well before its end.
    wait_for("the run to start", Duration::from_secs(10), || {
        cli_int(&dep, &["DBSIZE"]) > 0
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(cli(&dep, &["DEBUG", "SLEEP", "0.5"]), "OK");
    let res = run.wait(Duration::from_secs(30));
    res.assert_ok();
    let doc = read_json(&json);
    let r = &doc["results"][0];
    let corrected = json_f64(r, &["latency", "p99_ms"]);
    let uncorrected = json_f64(r, &["latency_uncorrected", "p99_ms"]);
    let max = json_f64(r, &["latency", "max_ms"]);
    eprintln!(
        "stall: corrected p99 {corrected:.3} ms, uncorrected p99 {uncorrected:.3} ms, max {max:.3} ms"
    );
    // 500 of the run's ~4000 requests fall due during the stall: p99 sits inside its tail.
    assert!(corrected >= 400.0, "corrected p99 {corrected} ms");
    assert!(
        corrected >= 5.0 * uncorrected,
        "corrected p99 {corrected} ms vs uncorrected {uncorrected} ms"
    );
    assert!(max >= 400.0, "max {max} ms after a 500 ms stall");
    assert!(
        res.stdout.contains("uncorrected (from actual send)"),
        "{}",
        res.stdout
    );
    assert_eq!(json_f64(r, &["errors"]), 0.0);
}

#[test]
fn duration_ends_a_closed_loop_run() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("duration");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-t",
            "get",
            "--duration",
            "2s",
            "--clients",
            "4",
            "--out",
            &out.arg(),
        ],
    ));
    res.assert_ok();
    assert!(
        res.elapsed >= Duration::from_millis(1900) && res.elapsed < Duration::from_secs(15),
        "took {:?}",
        res.elapsed
    );
    assert!(res.stdout.contains("====== GET on"), "{}", res.stdout);
    let csv = results_csv(out.path());
    let row = csv.row_for_test("GET");
    let d = csv.num(row, "duration_s");
    assert!((1.9..=2.1).contains(&d), "duration_s {d}");
    assert!(csv.num(row, "requests") > 0.0);
    assert_eq!(csv.num(row, "ok"), csv.num(row, "requests"));
    assert_eq!(csv.num(row, "errors"), 0.0);
}

#[test]
fn sigint_reports_and_saves_what_was_measured() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("sigint");
    let mut run = Running::start(
        &args_for(
            &dep,
            &[
                "-t",
                "set,get",
                "--duration",
                "30s",
                "--clients",
                "4",
                "--out",
                &out.arg(),
            ],
        ),
        &[],
    );
    wait_for("the run to start", Duration::from_secs(10), || {
        cli_int(&dep, &["DBSIZE"]) > 0
    });
    std::thread::sleep(Duration::from_millis(1500));
    run.signal(libc::SIGINT);
    let res = run.wait(Duration::from_secs(20));
    res.assert_no_panic();
    assert_eq!(res.code, 130, "{res:?}");
    assert!(
        res.elapsed < Duration::from_secs(15),
        "took {:?}",
        res.elapsed
    );
    assert!(res.stdout.contains("====== SET on"), "{}", res.stdout);
    assert!(res.stdout.contains("(interrupted)"), "{}", res.stdout);
    assert!(
        !res.stdout.contains("====== GET on"),
        "GET ran after Ctrl-C: {}",
        res.stdout
    );
    assert!(res.stderr.contains("interrupted"), "{}", res.stderr);

    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 1, "{}", csv.text);
    let row = &csv.rows[0];
    assert_eq!(row.len(), csv.header.len());
    assert_eq!(csv.get(row, "test"), "SET");
    let d = csv.num(row, "duration_s");
    assert!(d > 0.5 && d < 10.0, "duration_s {d}");
    assert!(csv.num(row, "ok") > 0.0);
    assert!(csv.num(row, "rps") > 0.0);
    assert!(csv.text.ends_with('\n'));
}

#[test]
fn stream_and_list_caps_bound_memory() {
    let dep = spawn_standalone(&[]);
    run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "xadd",
            "-n",
            "5000",
            "-r",
            "1",
            "--stream-maxlen",
            "100",
            "--no-save",
        ],
    ))
    .assert_ok();
    let xlen = cli_int(&dep, &["XLEN", "mystream:000000000000"]);
    assert!(
        (100..=200).contains(&xlen),
        "XLEN {xlen} with --stream-maxlen 100"
    );

    for test in ["lpush", "rpush"] {
        cli(&dep, &["DEL", "mylist:000000000000"]);
        let out = TempDir::new("listcap");
        run_rbench(&args_for(
            &dep,
            &[
                "-q",
                "-t",
                test,
                "-n",
                "5000",
                "-r",
                "1",
                "--list-maxlen",
                "50",
                "--out",
                &out.arg(),
            ],
        ))
        .assert_ok();
        let llen = cli_int(&dep, &["LLEN", "mylist:000000000000"]);
        assert!(
            (1..=50).contains(&llen),
            "{test}: LLEN {llen} with --list-maxlen 50"
        );
        // The LTRIM replies are not counted as requests.
        let csv = results_csv(out.path());
        let row = &csv.rows[0];
        assert_eq!(csv.num(row, "requests"), 5000.0);
        assert_eq!(csv.num(row, "ok"), 5000.0);
    }
}

#[test]
fn key_distributions() {
    let dep = spawn_standalone(&[]);
    // seq with one client walks the key space once.
    run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "--key-dist",
            "seq",
            "-r",
            "100",
            "-t",
            "set",
            "-n",
            "100",
            "--clients",
            "1",
            "--no-save",
        ],
    ))
    .assert_ok();
    assert_eq!(cli_int(&dep, &["DBSIZE"]), 100);

    let distinct = |dist: &str| {
        cli(&dep, &["FLUSHALL"]);
        run_rbench(&args_for(
            &dep,
            &[
                "-q",
                "--key-dist",
                dist,
                "-r",
                "10000",
                "-t",
                "set",
                "-n",
                "5000",
                "--no-save",
            ],
        ))
        .assert_ok();
        cli_int(&dep, &["DBSIZE"])
    };
    let uniform = distinct("uniform");
    let zipf = distinct("zipf");
    eprintln!("distinct keys for 5000 SETs over 10000: uniform {uniform}, zipf {zipf}");
    // Uniform: 10000 * (1 - e^-0.5) ≈ 3935.
    assert!((3600..=4300).contains(&uniform), "uniform {uniform}");
    assert!(
        zipf > 0 && (zipf as f64) < 0.6 * uniform as f64,
        "zipf {zipf} vs uniform {uniform}"
    );
}
