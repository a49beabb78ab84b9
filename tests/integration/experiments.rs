//! The reference experiments as rbench runs them, end to end through the binary: the stream and
//! consistency scenarios, scheduled faults on spawned deployments, the shipped experiment profiles,
//! and the bad input that must stop a run before it starts (exit 2, one line).

use crate::support;

use std::time::Duration;

use support::procs::*;
use support::*;

/// Runs rbench with its own TMPDIR (so its servers and temp dirs can be found afterwards).
fn run_in(tmp: &TempDir, args: &[String], timeout: Duration) -> RunOutput {
    run_rbench_process_env(args, &[("TMPDIR", &tmp.arg())], timeout)
}

/// The run's results[i] with the given test name.
fn result<'a>(doc: &'a serde_json::Value, test: &str) -> &'a serde_json::Value {
    doc["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["test"] == test))
        .unwrap_or_else(|| panic!("no result {test} in {doc}"))
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {v}"))
}

// ---------------------------------------------------------------------------------------------
// Bad input: one line, exit 2, before anything is spawned or sent
// ---------------------------------------------------------------------------------------------

fn assert_usage(args: &[&str], needle: &str) {
    let out = run_rbench(&strings(args));
    assert_eq!(out.code, 2, "{args:?}: {out:?}");
    out.assert_no_panic();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected: {out:?}");
    assert!(lines[0].contains(needle), "{args:?}: {:?}", lines[0]);
}

/// `base` then `rest`, as one argument list.
fn after<'a>(base: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(rest).copied().collect()
}

#[test]
fn scenario_flags_that_make_no_sense_are_refused() {
    let p = free_port().to_string();
    let base = ["-h", "127.0.0.1", "-p", &p];
    let with = |rest: &[&'static str]| after(&base, rest);
    assert_usage(
        &with(&["--scenario", "stream", "-t", "set"]),
        "cannot be combined with -t",
    );
    assert_usage(
        &with(&["--scenario", "consistency", "--mix", "set=1,get=1"]),
        "cannot be combined with --mix",
    );
    assert_usage(&with(&["--scenario", "stream", "-P", "8"]), "-P");
    assert_usage(&with(&["--scenario", "bogus"]), "unknown scenario `bogus`");
    assert_usage(&with(&["--producers", "2"]), "add --scenario stream");
    assert_usage(
        &with(&["--scenario", "consistency", "--crash-rate", "0.1"]),
        "not of --scenario consistency",
    );
    assert_usage(
        &with(&["--scenario", "stream", "--crash-rate", "1.5"]),
        "from 0 to 1",
    );
}

#[test]
fn faults_that_cannot_happen_are_refused() {
    let p = free_port().to_string();
    let base = ["-h", "127.0.0.1", "-p", &p, "-t", "set"];
    let with = |rest: &[&'static str]| after(&base, rest);
    assert_usage(
        &with(&["--duration", "10s", "--fault", "2s:kill-master"]),
        "needs a deployment rbench spawned",
    );
    assert_usage(
        &with(&["--duration", "10s", "--fault", "12s:failover"]),
        "past the run's end",
    );
    assert_usage(&with(&["--fault", "2s:failover"]), "need --duration");
    assert_usage(
        &with(&["--duration", "10s", "--fault", "2s:explode"]),
        "--fault 2s:explode",
    );
    assert_usage(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &p,
            "-t",
            "set,get",
            "--duration",
            "5s",
            "--fault",
            "1s:debug-sleep=1",
        ],
        "one test",
    );
}

#[test]
fn bad_fault_entries_in_a_profile_are_reported_at_their_line() {
    let dir = TempDir::new("bad-fault");
    let bad_action = write_file_arg(
        &dir,
        "profile.toml",
        "[defaults]\ntests = [\"set\"]\nduration = \"5s\"\n\n[[fault]]\nat = \"1s\"\naction = \"melt\"\n\n[[target]]\nname = \"s\"\nspawn = \"standalone\"\n",
    );
    let out = run_rbench(&["-c", &bad_action]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!("{bad_action}:7: action:")),
        "{out:?}"
    );
    let late = write_file_arg(
        &dir,
        "profile.toml",
        "[defaults]\ntests = [\"set\"]\nduration = \"5s\"\n\n[[fault]]\nat = \"9s\"\naction = \"kill-master\"\n\n[[target]]\nname = \"s\"\nspawn = \"standalone\"\n",
    );
    let out = run_rbench(&["-c", &late]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("{late}:6: fault kill-master: at 9s is past")),
        "{out:?}"
    );
    let single = write_file_arg(
        &dir,
        "profile.toml",
        "[defaults]\ntests = [\"set\"]\n\n[fault]\nat = \"1s\"\naction = \"pause\"\n\n[[target]]\nname = \"s\"\nspawn = \"standalone\"\n",
    );
    let out = run_rbench(&["-c", &single]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("write [[fault]]"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// Scenarios through the binary
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_scenario_reports_its_ledger_in_every_output() {
    let _l = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("stream-cli");
    let json = dir.join("r.json");
    let out = run_rbench(&args_for(
        &dep,
        &[
            "--scenario",
            "stream",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--crash-rate",
            "0.02",
            "--claim-idle",
            "200ms",
            "-n",
            "3000",
            "--out",
            &dir.arg(),
            "--json",
            &json.to_string_lossy(),
        ],
    ));
    out.assert_ok();
    assert!(out.stdout.contains("stream: produced 3000"), "{out:?}");
    let doc = read_json(&json);
    let s = &result(&doc, "stream XADD")["stream"];
    assert_eq!(u(s, "produced"), 3000, "{s}");
    assert_eq!(u(s, "acked"), 3000, "{s}");
    assert_eq!(u(s, "lost"), 0, "{s}");
    assert_eq!(u(s, "pending"), 0, "{s}");
    assert!(
        u(s, "reclaimed") > 0,
        "2% crashes leave entries to reclaim: {s}"
    );
    assert!(json_f64(s, &["e2e_p50_ms"]) > 0.0, "{s}");
    let consumers = result(&doc, "stream XREADGROUP");
    assert!(u(consumers, "ok") > 0, "{consumers}");
    // The consumer lag has a column of its own in the timeline.
    let timeline = read_timeline(dir.path());
    assert!(timeline.col("lag") > 0);
}

#[test]
fn stream_without_crashes_reclaims_nothing_and_duplicates_nothing() {
    let _l = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("stream-calm");
    let json = dir.join("r.json");
    let out = run_rbench(&args_for(
        &dep,
        &[
            "--scenario",
            "stream",
            "--producers",
            "3",
            "--consumers",
            "2",
            "--rps",
            "2000",
            "-n",
            "2000",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ],
    ));
    out.assert_ok();
    let doc = read_json(&json);
    let s = &result(&doc, "stream XADD")["stream"];
    for (k, want) in [("produced", 2000), ("acked", 2000), ("delivered", 2000)] {
        assert_eq!(u(s, k), want, "{k}: {s}");
    }
    for k in ["reclaimed", "duplicates", "pending", "lost"] {
        assert_eq!(u(s, k), 0, "{k}: {s}");
    }
    // What the server holds agrees with the ledger: every entry in the stream, none pending.
    assert_eq!(cli_int(&dep, &["XLEN", "rbench:stream:{0}"]), 2000);
    let pending = cli(&dep, &["XPENDING", "rbench:stream:{0}", "rbench"]);
    assert!(pending.starts_with('0'), "{pending}");
}

#[test]
fn stream_on_a_cluster_accounts_for_every_entry_across_a_master_kill() {
    let _l = serial();
    let tmp = TempDir::new("stream-kill-tmp");
    let dir = TempDir::new("stream-kill");
    let json = dir.join("r.json");
    let out = run_in(
        &tmp,
        &strings(&[
            "-c",
            "profiles/stream.toml",
            "--duration",
            "8s",
            "--drain",
            "6s",
            "--fault",
            "2s:kill-master",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ]),
        Duration::from_secs(120),
    );
    out.assert_no_panic();
    // Entries the dead master had not passed to its replica are lost: exit 3 says so.
    assert!(out.code == 0 || out.code == 3, "{out:?}");
    let doc = read_json(&json);
    let r = result(&doc, "stream XADD");
    let s = &r["stream"];
    let produced = u(s, "produced");
    assert!(produced > 5000, "{s}");
    assert_eq!(
        u(s, "acked") + u(s, "pending") + u(s, "lost"),
        produced,
        "{s}"
    );
    if out.code == 3 {
        assert!(
            u(s, "lost") > 0 && out.stderr.contains("produced entries lost"),
            "{out:?}"
        );
    }
    let faults = r["faults"].as_array().expect("faults");
    assert!(
        faults[0]["outage_s"].as_f64().unwrap_or(0.0) > 0.5,
        "{}",
        faults[0]
    );
    assert_nothing_left(&tmp, &[], "stream across a master kill");
}

#[test]
fn consistency_finds_the_writes_an_outside_flushall_lost() {
    let _l = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("consistency-cli");
    let json = dir.join("r.json");
    let run = Running::start(
        &args_for(
            &dep,
            &[
                "--scenario",
                "consistency",
                "--clients",
                "4",
                "-r",
                "200",
                "--duration",
                "4s",
                "--no-save",
                "--json",
                &json.to_string_lossy(),
            ],
        ),
        &[],
    );
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(cli(&dep, &["FLUSHALL"]), "OK");
    let out = run.wait(Duration::from_secs(60));
    // Lost acknowledged writes fail the run's check, and say so.
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("acknowledged increments lost"),
        "{out:?}"
    );
    let doc = read_json(&json);
    let c = &result(&doc, "consistency INCR")["consistency"];
    assert!(u(c, "lost") > 0, "{c}");
    assert!(u(c, "acked") > 0 && u(c, "reads") > 0, "{c}");
}

#[test]
fn consistency_on_an_untouched_server_loses_nothing() {
    let _l = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("consistency-ok");
    let json = dir.join("r.json");
    let out = run_rbench(&args_for(
        &dep,
        &[
            "--scenario",
            "consistency",
            "--clients",
            "4",
            "-r",
            "100",
            "-n",
            "5000",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ],
    ));
    out.assert_ok();
    let doc = read_json(&json);
    let c = &result(&doc, "consistency INCR")["consistency"];
    assert_eq!(u(c, "lost"), 0, "{c}");
    assert_eq!(u(c, "unacked_applied"), 0, "{c}");
    assert_eq!(u(c, "acked"), 5000, "{c}");
    // What the writers acknowledged is what the server holds.
    assert_eq!(sum_over_keys(&dep, "*", "GET"), 5000);
}

// ---------------------------------------------------------------------------------------------
// Shipped profiles and faults on spawned deployments
// ---------------------------------------------------------------------------------------------

#[test]
fn oom_profile_counts_refusals_and_the_time_to_the_first() {
    let _l = serial();
    let tmp = TempDir::new("oom-tmp");
    let dir = TempDir::new("oom-out");
    let json = dir.join("r.json");
    let out = run_in(
        &tmp,
        &strings(&[
            "-c",
            "profiles/oom.toml",
            "--duration",
            "4s",
            "--out",
            &dir.arg(),
            "--json",
            &json.to_string_lossy(),
        ]),
        Duration::from_secs(90),
    );
    out.assert_ok();
    let doc = read_json(&json);
    let r = result(&doc, "stream XADD");
    let s = &r["stream"];
    assert!(json_f64(s, &["first_oom_s"]) > 0.0, "{s}");
    assert!(u(s, "produced_before_oom") > 0, "{s}");
    assert!(u(&r["error_classes"], "oom") > 0, "{r}");
    assert!(out.stdout.contains("first OOM refusal after"), "{out:?}");
    let timeline = read_timeline(dir.path());
    assert!(timeline.col("oom") > 0);
    assert_nothing_left(&tmp, &[], "oom profile");
}

#[test]
fn reshard_profile_moves_slots_and_loses_no_acknowledged_write() {
    let _l = serial();
    let tmp = TempDir::new("reshard-tmp");
    let dir = TempDir::new("reshard-out");
    let json = dir.join("r.json");
    let out = run_in(
        &tmp,
        &strings(&[
            "-c",
            "profiles/reshard.toml",
            "--duration",
            "8s",
            "--fault",
            "2s:reshard=300",
            "--clients",
            "4",
            "--no-save",
            "--json",
            &json.to_string_lossy(),
        ]),
        Duration::from_secs(120),
    );
    out.assert_ok();
    let doc = read_json(&json);
    let r = result(&doc, "consistency INCR");
    assert_eq!(u(&r["consistency"], "lost"), 0, "{r}");
    let faults = r["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 1, "{r}");
    assert_eq!(faults[0]["action"], "reshard 300");
    assert!(faults[0]["error"].is_null(), "{}", faults[0]);
    assert!(faults[0]["outage_s"].as_f64().is_some(), "{}", faults[0]);
    assert_nothing_left(&tmp, &[], "reshard profile");
}

#[test]
fn faults_on_a_spawned_cluster_are_carried_out_measured_and_marked() {
    let _l = serial();
    let tmp = TempDir::new("faults-tmp");
    let dir = TempDir::new("faults-out");
    let json = dir.join("r.json");
    let profile = write_file_arg(
        &dir,
        "profile.toml",
        "[defaults]\ntests = [\"set\"]\nclients = 6\nrps = 2000\nduration = \"16s\"\n\n\
         [[fault]]\nat = \"1s\"\naction = \"kill-master\"\n\n\
         [[fault]]\nat = \"7s\"\naction = \"restart\"\n\n\
         [[fault]]\nat = \"10s\"\naction = \"failover\"\n\n\
         [[fault]]\nat = \"12s\"\naction = \"debug-sleep=1\"\n\n\
         [[target]]\nname = \"c\"\nspawn = \"cluster\"\nmasters = 3\nreplicas = 1\n",
    );
    let out = run_in(
        &tmp,
        &strings(&[
            "-c",
            &profile,
            "--out",
            &dir.arg(),
            "--json",
            &json.to_string_lossy(),
        ]),
        Duration::from_secs(120),
    );
    out.assert_no_panic();
    assert!(out.stdout.contains("faults:"), "{out:?}");
    let doc = read_json(&json);
    let r = result(&doc, "SET");
    let faults = r["faults"].as_array().expect("faults");
    let actions: Vec<&str> = faults.iter().filter_map(|f| f["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["kill-master", "restart", "failover", "debug-sleep 1s"],
        "{r}"
    );
    for f in faults {
        assert!(f["error"].is_null(), "{f}");
        let outage = f["outage_s"].as_f64().unwrap_or_else(|| panic!("{f}"));
        assert!((0.0..15.0).contains(&outage), "{f}");
    }
    // A master's death is an outage of its slots until the replica takes over.
    assert!(
        faults[0]["outage_s"].as_f64().unwrap_or(0.0) > 0.5,
        "{}",
        faults[0]
    );
    assert!(
        faults[3]["outage_s"].as_f64().unwrap_or(0.0) >= 0.5,
        "{}",
        faults[3]
    );
    // Requests are retried through the failover: the run still answers nearly everything.
    assert!(u(r, "ok") > 20_000, "{r}");
    let timeline = read_timeline(dir.path());
    let marked: Vec<String> = timeline
        .maps()
        .into_iter()
        .filter_map(|m| m.get("fault").cloned())
        .filter(|f| !f.is_empty())
        .collect();
    assert_eq!(marked.len(), 4, "{marked:?}");
    assert!(
        marked[0].starts_with("kill-master 127.0.0.1:"),
        "{marked:?}"
    );
    assert_nothing_left(&tmp, &[], "faults on a spawned cluster");
}
