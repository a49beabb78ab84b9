//! The saturation search (`--slo`) against real redis-server processes: the rate it finds holds
//! when run again alone, a rate well above it does not, an impossible objective is reported as not
//! met, a profile fills the table's column per target, and bad input is one line with exit 2.

use crate::support;

use std::time::Duration;

use support::*;

/// One open-loop run at `rate` for 2 s: (achieved rps, p50 ms).
fn run_at(dep: &Deployment, rate: f64, dir: &TempDir, tag: &str) -> (f64, f64) {
    let json = dir.join(&format!("{tag}.json"));
    let rate = format!("{rate:.0}");
    let res = run_rbench(&args_for(
        dep,
        &[
            "-q",
            "-t",
            "set",
            "--rps",
            &rate,
            "--duration",
            "2s",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ],
    ));
    res.assert_ok();
    let doc = read_json(&json);
    let r = &doc["results"][0];
    (
        json_f64(r, &["achieved_rps"]),
        json_f64(r, &["latency", "p50_ms"]),
    )
}

#[test]
fn the_rate_found_holds() {
    // The objective is on the median, not the tail: a shared 2-core CI machine stalls often
    // enough to put p99 over a few ms even at a tenth of the ceiling (seen: 3.7 ms at 24k/s),
    // while the median rises only when the server queues, which is what the search is about.
    let _one = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("slo-found");
    let json = dir.join("search.json");
    let res = run_rbench_env(
        &args_for(
            &dep,
            &[
                "-t",
                "set",
                "--slo",
                "p50=500us",
                "--slo-step",
                "1s",
                "--out",
                &dir.arg(),
                "--json",
                &json.to_string_lossy(),
            ],
        ),
        &[],
        Duration::from_secs(120),
    );
    res.assert_ok();
    // The ladder is printed as it runs, ending in the verdict line.
    assert!(
        res.stdout.contains("the highest rate with p50 ≤ 500 us"),
        "{}",
        res.stdout
    );
    assert!(res.stdout.contains("closed-loop ceiling"), "{}", res.stdout);
    let doc = read_json(&json);
    let r = &doc["results"][0];
    let slo = &r["slo"];
    assert_eq!(slo["objective"], "p50<=500us", "{slo}");
    let steps = slo["steps"].as_array().expect("steps");
    assert!(steps.len() >= 2, "{slo}");
    for s in steps {
        for k in ["rate", "achieved", "p50_ms", "p99_ms"] {
            assert!(s[k].as_f64().is_some(), "{k} in {s}");
        }
        assert_eq!(s["pass"].as_bool(), Some(s["why"] == ""), "{s}");
    }
    let ceiling = json_f64(slo, &["ceiling_rps"]);
    let outcome = slo["outcome"].as_str().unwrap_or_default();
    let max = slo["max_rps"].as_f64();
    // The row is the measurement at the rate found: its target is that rate.
    if let Some(max) = max {
        assert_eq!(json_f64(r, &["target_rps"]), max, "{r}");
        // A pass above it was luck: a miss at or below its rate followed (the answer passes twice).
        let rate = |s: &serde_json::Value| json_f64(s, &["rate"]);
        for (i, s) in steps.iter().enumerate() {
            if s["pass"] == true && rate(s) > max {
                assert!(
                    steps[i + 1..]
                        .iter()
                        .any(|m| m["pass"] == false && rate(m) <= rate(s)),
                    "{slo}"
                );
            }
        }
        // And the rate found held every one of the five runs --slo-confirm asks for by default,
        // which the summary and the verdict line say.
        let held = steps
            .iter()
            .filter(|s| rate(s) == max && s["pass"] == true)
            .count();
        let runs = steps.iter().filter(|s| rate(s) == max).count();
        if outcome == "found" {
            assert_eq!((held, runs), (5, 5), "{slo}");
            assert_eq!(
                (slo["max_rps_held"].as_u64(), slo["max_rps_runs"].as_u64()),
                (Some(5), Some(5)),
                "{slo}"
            );
            assert!(res.stdout.contains("(held 5/5"), "{}", res.stdout);
            let missed = json_f64(slo, &["missed_rps"]);
            assert!(missed > max, "{slo}");
            assert!(
                slo["missed_rps_held"].as_u64() < slo["missed_rps_runs"].as_u64(),
                "{slo}"
            );
        }
    }
    match outcome {
        "found" => {
            let max = max.expect("a found rate");
            // Alone, the rate found meets the objective, loosely: on a shared machine a stall can
            // cost one run, so the best of three runs counts, within 3x the objective.
            let runs: Vec<(f64, f64)> = (0..3)
                .map(|i| run_at(&dep, max, &dir, &format!("at{i}")))
                .collect();
            assert!(
                runs.iter().all(|(a, _)| *a >= 0.9 * max),
                "at {max}: {runs:?}"
            );
            let best = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
            assert!(best <= 3.0 * 0.5, "at {max}: {runs:?}");
            // Nothing is asserted "well above" it: on a loaded 2-core CI runner both the probe and
            // the search understate what the server takes unloaded (seen: 1.5x the ceiling met
            // p50 0.045 ms), so no rate is reliably above the server's edge there.
        }
        "at_ceiling" => {
            assert_eq!(max, Some(ceiling.round()), "{slo}");
            assert!(res.stdout.contains("not reached below"), "{}", res.stdout);
            let above = 1.5 * ceiling;
            let (achieved, _) = run_at(&dep, above, &dir, "above");
            assert!(achieved < 0.97 * above, "at {above}: achieved {achieved}");
        }
        other => panic!("p50 ≤ 500 us is within any server's reach, got {other}: {slo}"),
    }
    // The long CSV carries the objective and the rate at its end.
    let csv = Csv::read(&dir.join("runs.csv"));
    let row = &csv.rows[0];
    assert_eq!(csv.get(row, "slo"), "p50<=500us");
    let want = max.map(|m| format!("{m:.0}")).unwrap_or_default();
    assert_eq!(csv.get(row, "slo_max_rps"), want);
}

#[test]
fn an_impossible_objective_is_not_met() {
    let _one = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("slo-impossible");
    let json = dir.join("search.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "get",
            "--slo",
            "p50=1us",
            "--slo-step",
            "300ms",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ],
    ));
    res.assert_ok();
    let line = res.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("GET: p50 ≤ 1 us not met, even at the lowest step"),
        "{line}"
    );
    let slo = &read_json(&json)["results"][0]["slo"];
    assert_eq!(slo["outcome"], "not_met", "{slo}");
    assert!(slo["max_rps"].is_null(), "{slo}");
    let steps = slo["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["pass"] == false), "{slo}");
    // Latency stops improving long before the floor: the descent gives up early.
    assert!(steps.len() <= 10, "{} steps: {slo}", steps.len());
}

#[test]
fn a_profile_fills_the_column_per_target() {
    let _one = serial();
    let dir = TempDir::new("slo-profile");
    let profile = dir.join("sat.toml");
    std::fs::write(
        &profile,
        "[defaults]\ntests = [\"set\"]\nclients = 20\nslo = \"p50=1ms\"\nslo_step = \"400ms\"\n\
         slo_resolution = \"10%\"\nslo_confirm = 2\nrepeat = 2\n\n\
         [[target]]\nname = \"no-aof\"\nspawn = \"standalone\"\n\n\
         [[target]]\nname = \"aof-everysec\"\nspawn = \"standalone\"\n\
         redis_args = [\"--appendonly\", \"yes\"]\n",
    )
    .expect("profile");
    let out = dir.join("out");
    let res = run_rbench_process_env(
        &[
            "-c".to_string(),
            profile.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ],
        &[("TMPDIR", &dir.arg())],
        Duration::from_secs(120),
    );
    res.assert_ok();
    let table = std::fs::read_dir(&out)
        .expect("results")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("table-"))
        })
        .expect("a table file");
    let text = std::fs::read_to_string(&table).expect("table");
    let header = text.lines().next().unwrap_or_default();
    for t in ["no-aof", "aof-everysec"] {
        assert!(
            header.contains(&format!("{t} max rps @ p50 ≤ 1 ms")),
            "{text}"
        );
    }
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("| SET"))
        .expect("SET row")
        .split('|')
        .map(str::trim)
        .collect();
    // Each target's cell names a rate or the ceiling, and how many of the 2 runs held it.
    let cells: Vec<&&str> = row.iter().filter(|c| c.contains("held")).collect();
    assert_eq!(cells.len(), 2, "{text}");
    for c in cells {
        assert!(c.ends_with("/2"), "{c}");
        assert!(
            c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '≥'),
            "{c}"
        );
    }
    let csv = Csv::read(&out.join("runs.csv"));
    assert_eq!(csv.rows.len(), 4, "{}", csv.text);
    assert!(
        csv.rows.iter().all(|r| csv.get(r, "slo") == "p50<=1ms"),
        "{}",
        csv.text
    );
}

#[test]
fn bad_objectives_are_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 8] = [
        (&["--slo", "p99=abc"], "`abc` is not a latency"),
        (&["--slo", "p42=1ms"], "unknown percentile `p42`"),
        (
            &["--slo", "p99=1ms", "--rps", "1000"],
            "cannot be combined with --rps",
        ),
        (&["--slo", "p99=1ms", "-n", "1000"], "-n or --duration"),
        (
            &["--slo", "p99=1ms", "--slo-step", "10ms"],
            "--slo-step must be at least",
        ),
        (&["--slo-resolution", "2%"], "--slo-resolution needs --slo"),
        (&["--slo-confirm", "3"], "--slo-confirm needs --slo"),
        (
            &["--slo", "p99=1ms", "--slo-confirm", "21"],
            "--slo-confirm must be 1 to 20",
        ),
    ];
    for (args, needle) in cases {
        let mut argv = vec!["-p".to_string(), free_port().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let out = run_rbench(&argv);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        out.assert_no_panic();
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{args:?}: {out:?}");
        assert!(lines[0].contains(needle), "{args:?}: {}", lines[0]);
    }
}
