//! Rate shapes (`--rps ramp:...`, `steps:`, `spike:`, `sine:`, `file:`) against real redis-server
//! processes: the schedule follows the shape, every output says the target beside what was
//! achieved, shards split a shape, and a bad shape is one line and exit 2.

use crate::support;

use support::*;

/// A ramp from 500 to 3000 rps over 4 s: the shape's mean per second is 812.5, 1437.5, 2062.5
/// and 2687.5 rps, 7000 requests in all.
const RAMP: &str = "ramp:500..3000/4s";
const RAMP_SECONDS: [f64; 4] = [812.5, 1437.5, 2062.5, 2687.5];

#[test]
fn a_ramp_runs_its_length_and_every_output_says_its_target() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("ramp");
    let json = dir.join("summary.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-t",
            "set",
            "--rps",
            RAMP,
            "--clients",
            "10",
            "--json",
            json.to_str().unwrap(),
            "--out",
            &dir.arg(),
        ],
    ));
    res.assert_ok();
    // No -n or --duration: the shape's own 4 s, every request it schedules in them.
    let csv = results_csv(dir.path());
    let row = csv.row_for_test("SET");
    let requests = csv.num(row, "requests");
    assert!((6999.0..=7001.0).contains(&requests), "{requests} requests");
    assert!(
        (csv.num(row, "duration_s") - 4.0).abs() < 0.5,
        "{}",
        csv.text
    );
    assert_eq!(
        csv.get(row, "target_rps"),
        "1750",
        "the shape's mean over the run"
    );
    assert_eq!(csv.get(row, "rate_shape"), RAMP);
    assert!(!csv.get(row, "short_seconds").is_empty());

    // The timeline gives each second's target: the shape's mean over it.
    let timeline = read_timeline(dir.path());
    let rows = timeline.rows_for_test("SET");
    assert!(rows.len() >= 4, "{}", timeline.text);
    for (r, want) in rows.iter().zip(RAMP_SECONDS) {
        assert_eq!(timeline.num(r, "target_rps"), want, "{}", timeline.text);
    }
    let first = timeline.num(rows[0], "ok");
    let last = timeline.num(rows[3], "ok");
    assert!(last > 2.0 * first, "the rate climbs: {first} then {last}");

    // The console: live lines with target and achieved, and the shape's block.
    assert!(
        res.stdout.contains("| target 812 rps, achieved"),
        "{}",
        res.stdout
    );
    assert!(
        res.stdout
            .contains(&format!("rate shape: {RAMP} (peak 3000 rps)"))
    );
    assert!(
        res.stdout
            .contains("latency by target rate (share of the peak):")
    );
    assert!(
        res.stdout.contains("target rate: mean 1750.00 rps"),
        "{}",
        res.stdout
    );

    // The JSON summary: the shape, its seconds, and bands holding every request.
    let doc = read_json(&json);
    let r = &doc["results"][0];
    let shape = &r["rate_shape"];
    assert_eq!(shape["spec"], RAMP);
    assert_eq!(shape["peak_rps"], 3000.0);
    assert_eq!(shape["seconds"], 4);
    let bands = shape["bands"].as_array().unwrap();
    let in_bands: u64 = bands.iter().map(|b| b["requests"].as_u64().unwrap()).sum();
    let ok = r["ok"].as_u64().unwrap();
    assert_eq!(in_bands, ok, "{shape}");
    // 812.5 of 3000 is 27%: the first second is in the 20-30% band; the last (90%) in 80-90%.
    assert_eq!(bands[0]["from_pct"], 20, "{shape}");
    assert_eq!(bands.last().unwrap()["to_pct"], 90, "{shape}");
    assert!(bands[0]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r["timeline"][0]["target_rps"], 812.5);

    // The saved report draws the target line over the throughput columns.
    let report = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".html"))
        .expect("an HTML report");
    let html = std::fs::read_to_string(report).unwrap();
    assert!(html.contains("target rps"), "the chart's legend");
}

#[test]
fn a_profiles_rate_file_is_found_beside_it_and_steps_hold() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("rate-file");
    // A step at 1 s and a spike at 2 s; the file is named relative to the profile.
    write_file(
        &dir,
        "day.csv",
        "t_s,rps\n0,400\n1,400\n1,1200\n2,1200\n2,2400\n3,2400\n",
    );
    let port = dep.addr().port().to_string();
    let profile = write_file_arg(
        &dir,
        "p.toml",
        &format!(
            "[defaults]\ntests = [\"get\"]\nrps = \"file:day.csv\"\nclients = 8\n\
             [[target]]\nname = \"t\"\naddr = \"127.0.0.1:{port}\"\n"
        ),
    );
    let out = dir.join("out");
    let res = run_rbench(&["-c", &profile, "-q", "--out", out.to_str().unwrap()]);
    res.assert_ok();
    let csv = results_csv(&out);
    let row = csv.row_for_test("GET");
    let requests = csv.num(row, "requests");
    assert!(
        (3999.0..=4001.0).contains(&requests),
        "{requests}: 400 + 1200 + 2400"
    );
    let timeline = read_timeline(&out);
    let targets: Vec<f64> = timeline
        .rows_for_test("GET")
        .iter()
        .take(3)
        .map(|r| timeline.num(r, "target_rps"))
        .collect();
    assert_eq!(targets, [400.0, 1200.0, 2400.0], "{}", timeline.text);
}

#[test]
fn shards_split_a_shape_and_stay_in_phase() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("shape-shards");
    let json = dir.join("s.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "set",
            "--rps",
            "steps:1000,3000/1s",
            "--shard",
            "1/2",
            "--run-id",
            "sh",
            "--json",
            json.to_str().unwrap(),
            "--no-save",
        ],
    ));
    res.assert_ok();
    let r = &read_json(&json)["results"][0];
    // Half of the shape: 500 then 1500 rps, 2000 requests.
    let requests = r["requests"].as_f64().unwrap();
    assert!((1999.0..=2001.0).contains(&requests), "{requests}");
    assert_eq!(r["rate_shape"]["peak_rps"], 1500.0);
    assert_eq!(r["timeline"][0]["target_rps"], 500.0);
}

#[test]
fn a_stalled_server_shows_as_short_seconds_and_latency() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("shape-stall");
    let json = dir.join("s.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-t",
            "set",
            "--rps",
            "steps:500,500,500/1s",
            "--fault",
            "1.5s:debug-sleep=1",
            "--json",
            json.to_str().unwrap(),
            "--no-save",
        ],
    ));
    res.assert_ok();
    let r = &read_json(&json)["results"][0];
    // The stall's requests were due while the server slept: latency from their due time.
    assert!(r["latency"]["p99_ms"].as_f64().unwrap() >= 400.0, "{r}");
    let short = r["rate_shape"]["short_seconds"].as_array().unwrap();
    assert!(
        short.iter().any(|s| s["second"] == 2),
        "second 2 fell short: {short:?}"
    );
    assert!(res.stdout.contains("WARNING: "), "{}", res.stdout);
}

#[test]
fn a_bad_shape_is_one_line_and_exit_2() {
    let dir = TempDir::new("bad-shape");
    let back = write_file_arg(&dir, "back.csv", "0,100\n2,300\n1,100\n");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            strings(&["--rps", "ramp:1000/5s"]),
            "ramp:FROM..TO/DURATION",
        ),
        (strings(&["--rps", "0"]), "a rate must be above 0"),
        (strings(&["--rps", "-5"]), "a rate must be above 0"),
        (
            strings(&["--rps", "steps:100,0/1s"]),
            "a rate must be above 0",
        ),
        (
            strings(&["--rps", "wave:1/1s"]),
            "unknown rate shape `wave`",
        ),
        (
            strings(&["--rps", &format!("file:{back}")]),
            "back.csv:3: time goes back",
        ),
    ];
    for (args, words) in cases {
        let mut argv = strings(&["-p", "1", "-t", "set"]);
        argv.extend(args);
        let res = run_rbench(&argv);
        assert_eq!(res.code, 2, "{argv:?}: {}", res.stderr);
        let lines = res.stderr_lines();
        assert_eq!(lines.len(), 1, "{argv:?}: {}", res.stderr);
        assert!(lines[0].contains(words), "{argv:?}: {}", res.stderr);
        res.assert_no_panic();
    }
    // In a profile: its file and line.
    let profile = write_file_arg(
        &dir,
        "p.toml",
        "[defaults]\nrps = \"ramp:5..x/3s\"\n[[target]]\nname = \"a\"\naddr = \"127.0.0.1:1\"\n",
    );
    let res = run_rbench(&["-c", &profile]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("p.toml:2: rps:"), "{}", res.stderr);
}

#[test]
fn a_mixs_commands_share_the_target_by_weight() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("shape-mix");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "--mix",
            "set=1,get=3",
            "--rps",
            "steps:1000,2000/1s",
            "--out",
            &dir.arg(),
        ],
    ));
    res.assert_ok();
    let timeline = read_timeline(dir.path());
    for (test, want) in [("SET", [250.0, 500.0]), ("GET", [750.0, 1500.0])] {
        let got: Vec<f64> = timeline
            .rows_for_test(test)
            .iter()
            .take(2)
            .map(|r| timeline.num(r, "target_rps"))
            .collect();
        assert_eq!(got, want, "{test}: {}", timeline.text);
    }
    // Both rows carry the phase's short seconds (judged on both commands' replies together).
    let csv = results_csv(dir.path());
    let short = |t| csv.get(csv.row_for_test(t), "short_seconds").to_string();
    assert!(!short("SET").is_empty());
    assert_eq!(short("SET"), short("GET"));
}
