//! Signals end to end, driving the binary on deployments it spawns: SIGTERM and SIGHUP stop a run
//! the way Ctrl-C does (what was measured is printed and saved, servers stopped, temp dirs removed,
//! exit 128 + the signal), also for `rbench nightly`; a second signal exits at once and still leaves
//! nothing behind; Ctrl-C during start-up is not lost; and temp dirs of runs that were killed
//! outright are removed by the next run.
//!
//! Each run gets its own TMPDIR, so its temp dirs are the `rbench-*` entries there and its servers are
//! the processes working in a dir under it.

use crate::support;

use std::time::{Duration, Instant};

use support::procs::*;
use support::*;

/// A spawned standalone target running `tests` for `duration` each.
fn standalone_profile(dir: &TempDir, tests: &str, duration: &str) -> String {
    write_file_arg(
        dir,
        "standalone.toml",
        &format!(
            "[defaults]\ntests = [{tests}]\nduration = \"{duration}\"\nclients = 5\nkeyspace = 1000\n\n\
             [[target]]\nname = \"spawned\"\nspawn = \"standalone\"\n"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// SIGTERM and SIGHUP
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_stops_the_run_like_ctrl_c_keeps_what_was_measured_and_leaves_nothing() {
    let _g = serial();
    let work = TempDir::new("sigterm");
    let tmp = TempDir::new("sigterm-tmp");
    let out = TempDir::new("sigterm-out");
    let profile = standalone_profile(&work, "\"set\", \"get\", \"incr\"", "2s");
    let json = work.join("results.json");
    let mut running = start_rbench_signals(
        &[
            "-c",
            &profile,
            "--out",
            &out.arg(),
            "--json",
            &json.to_string_lossy(),
        ],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGTERM, libc::SIG_DFL)],
    );
    let servers = wait_for_servers(&tmp, 1);
    assert_eq!(servers.len(), 1, "{servers:?}");
    // SET's row is saved when SET is done; then GET runs for 2 s.
    wait_for("SET's row in runs.csv", Duration::from_secs(60), || {
        out.join("runs.csv").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    running.signal(libc::SIGTERM);
    let res = running.wait(Duration::from_secs(60));
    let took = sent.elapsed();

    res.assert_no_panic();
    assert_eq!(res.code, 143, "{res:?}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(
        res.stderr.contains(
            "rbench: interrupted by SIGTERM; results measured so far were reported and saved"
        ),
        "{}",
        res.stderr
    );
    assert_nothing_left(&tmp, &servers, "SIGTERM");

    // The summary: the table of what was measured, and where it was saved.
    assert!(
        res.stdout.contains("| test") && res.stdout.contains("spawned TPS"),
        "{}",
        res.stdout
    );
    assert!(res.stdout.contains("results: runs.csv"), "{}", res.stdout);

    // Whole rows (Csv::parse is strict; the file ends with a newline): SET in full, GET up to the
    // signal, INCR never started.
    let csv = results_csv(out.path());
    assert!(csv.text.ends_with('\n'), "{:?}", csv.text);
    let tests: Vec<&str> = csv.rows.iter().map(|r| csv.get(r, "test")).collect();
    assert_eq!(tests, ["SET", "GET"], "{}", csv.text);
    let set = csv.num(&csv.rows[0], "duration_s");
    let get = csv.num(&csv.rows[1], "duration_s");
    assert!((1.5..=2.0).contains(&set), "SET duration_s {set}");
    assert!(get < 1.95, "GET duration_s {get}: not interrupted?");
    assert!(csv.num(&csv.rows[1], "ok") > 0.0, "{}", csv.text);
    let timeline = read_timeline(out.path());
    assert!(!timeline.rows.is_empty());
    let tables = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("table-") && n.ends_with(".md"))
        .count();
    assert_eq!(tables, 1);

    let doc = read_json(&json);
    let results = doc["results"].as_array().expect("results");
    let flags: Vec<(&str, bool)> = results
        .iter()
        .map(|r| {
            (
                r["test"].as_str().unwrap_or(""),
                r["interrupted"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(flags, [("SET", false), ("GET", true)], "{doc}");
}

#[test]
fn sighup_stops_the_run_with_129_unless_rbench_started_with_it_ignored() {
    let _g = serial();
    let work = TempDir::new("sighup");
    let profile = standalone_profile(&work, "\"set\"", "30s");

    let tmp = TempDir::new("sighup-tmp");
    let out = TempDir::new("sighup-out");
    let mut running = start_rbench_signals(
        &["-c", &profile, "-q", "--out", &out.arg()],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGHUP, libc::SIG_DFL)],
    );
    let servers = wait_for_servers(&tmp, 1);
    std::thread::sleep(Duration::from_secs(1));
    running.signal(libc::SIGHUP);
    let res = running.wait(Duration::from_secs(60));
    res.assert_no_panic();
    assert_eq!(res.code, 129, "{res:?}");
    assert!(
        res.stderr.contains("interrupted by SIGHUP"),
        "{}",
        res.stderr
    );
    assert_nothing_left(&tmp, &servers, "SIGHUP");
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 1, "{}", csv.text);
    assert!(csv.num(&csv.rows[0], "duration_s") < 29.0, "{}", csv.text);

    // Under `nohup`, hang-ups are ignored; SIGTERM still stops the run.
    let tmp = TempDir::new("nohup-tmp");
    let mut running = start_rbench_signals(
        &["-c", &profile, "-q", "--no-save"],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGHUP, libc::SIG_IGN)],
    );
    let pid = running.pid();
    let servers = wait_for_servers(&tmp, 1);
    std::thread::sleep(Duration::from_millis(500));
    running.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_secs(1));
    let state = proc_stat(pid).map(|(_, state, _, _)| state);
    assert!(
        state.is_some_and(|s| s != 'Z'),
        "rbench started with SIGHUP ignored stopped on SIGHUP (state {state:?})"
    );
    running.signal(libc::SIGTERM);
    let res = running.wait(Duration::from_secs(60));
    res.assert_no_panic();
    assert_eq!(res.code, 143, "{res:?}");
    assert_nothing_left(&tmp, &servers, "SIGTERM after an ignored SIGHUP");
}

// ---------------------------------------------------------------------------------------------
// A second signal
// ---------------------------------------------------------------------------------------------

/// The server is stopped (SIGSTOP) before the first SIGTERM, so the graceful stop takes seconds: 2 s
/// for the requests in flight, then 2 s for the server to answer SIGTERM. The second SIGTERM must
/// not wait for that.
#[test]
fn a_second_signal_exits_at_once_and_still_leaves_nothing() {
    let _g = serial();
    let work = TempDir::new("second");
    let tmp = TempDir::new("second-tmp");
    let out = TempDir::new("second-out");
    let profile = standalone_profile(&work, "\"set\"", "30s");
    let mut running = start_rbench_signals(
        &["-c", &profile, "-q", "--out", &out.arg()],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGTERM, libc::SIG_DFL)],
    );
    let servers = wait_for_servers(&tmp, 1);
    assert_eq!(servers.len(), 1, "{servers:?}");
    std::thread::sleep(Duration::from_secs(1));
    let server = servers[0];
    let (comm, _, ppid, start) = proc_stat(server.pid).expect("the server runs");
    assert!(
        comm == "redis-server" && ppid == running.pid() && start == server.start,
        "{comm} {ppid}"
    );
    // SAFETY: kill(2) on rbench's own child, checked just above; it is killed by rbench (or by
    // PDEATHSIG when rbench goes), stopped or not.
    unsafe {
        libc::kill(server.pid as libc::pid_t, libc::SIGSTOP);
    }
    running.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    running.signal(libc::SIGTERM);
    let res = running.wait(Duration::from_secs(60));
    let took = sent.elapsed();

    res.assert_no_panic();
    assert_eq!(res.code, 143, "{res:?}");
    assert!(
        res.stderr.contains(
            "rbench: second signal (SIGTERM): exiting now; the test in progress is not saved"
        ),
        "{}",
        res.stderr
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} to exit after the second signal"
    );
    assert_nothing_left(&tmp, &servers, "second SIGTERM");
    // The first signal's stop gives up on the silent server after a quiet spell and may have saved
    // the test before the second came; if so, whole rows marked as cut short — never a partial file.
    let runs = out.join("runs.csv");
    if runs.exists() {
        let csv = Csv::read(&runs);
        assert_eq!(csv.rows.len(), 1, "{}", csv.text);
        assert_eq!(csv.get(&csv.rows[0], "interrupted"), "true", "{}", csv.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C during start-up
// ---------------------------------------------------------------------------------------------

/// SIGINT as soon as the first redis-server exists. rbench starts with SIGINT ignored, as a
/// background job of a script does: a signal that came before the handlers were installed would be
/// lost and the run go on to exit 0 (without ignoring, it would kill rbench outright and leave its
/// temp dir). The handlers used to be installed by a thread racing with start-up, so this failed
/// about one round in two.
#[test]
fn sigint_while_the_deployment_starts_stops_with_130() {
    let _g = serial();
    let work = TempDir::new("startup");
    let profile = standalone_profile(&work, "\"set\"", "20s");
    for round in 0..3 {
        let tmp = TempDir::new("startup-tmp");
        let mut running = start_rbench_signals(
            &["-c", &profile, "-q", "--no-save"],
            &[("TMPDIR", &tmp.arg())],
            &[(libc::SIGINT, libc::SIG_IGN)],
        );
        let pid = running.pid();
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            if let Some(&c) = children(pid).first() {
                break c;
            }
            assert!(Instant::now() < deadline, "round {round}: nothing spawned");
            std::thread::sleep(Duration::from_micros(200));
        };
        let sent = Instant::now();
        running.signal(libc::SIGINT);
        let servers: Vec<Seen> = seen(first).into_iter().collect();
        let res = running.wait(Duration::from_secs(60));
        let took = sent.elapsed();
        res.assert_no_panic();
        assert_eq!(res.code, 130, "round {round}: {res:?}");
        assert!(
            took < Duration::from_secs(10),
            "round {round}: took {took:?} to stop"
        );
        assert!(
            res.stderr.contains("interrupted by SIGINT"),
            "round {round}: {}",
            res.stderr
        );
        assert_nothing_left(&tmp, &servers, "SIGINT at start-up");
    }

    // A cluster takes seconds to join: SIGINT meanwhile.
    let tmp = TempDir::new("startup-cluster-tmp");
    let profile = write_file_arg(
        &work,
        "cluster.toml",
        "[defaults]\ntests = [\"set\"]\nduration = \"20s\"\nclients = 5\n\n\
         [[target]]\nname = \"cluster\"\nspawn = \"cluster\"\nmasters = 3\nreplicas = 0\n",
    );
    let mut running = start_rbench_signals(
        &["-c", &profile, "-q", "--no-save"],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGINT, libc::SIG_IGN)],
    );
    let servers = wait_for_servers(&tmp, 3);
    std::thread::sleep(Duration::from_millis(100));
    running.signal(libc::SIGINT);
    let res = running.wait(Duration::from_secs(60));
    res.assert_no_panic();
    assert_eq!(res.code, 130, "{res:?}");
    assert!(
        res.stderr.contains("interrupted by SIGINT"),
        "{}",
        res.stderr
    );
    assert_nothing_left(&tmp, &servers, "SIGINT while a cluster starts");
}

// ---------------------------------------------------------------------------------------------
// Leftovers of killed runs, and nightly
// ---------------------------------------------------------------------------------------------

/// A PID that no longer exists: a child that has been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("running true");
    let pid = child.id();
    child.wait().expect("reaping true");
    pid
}

#[test]
fn temp_dirs_of_killed_runs_are_removed_at_start() {
    let _g = serial();
    let work = TempDir::new("leftover");
    let tmp = TempDir::new("leftover-tmp");
    let profile = write_file_arg(
        &work,
        "quick.toml",
        "[defaults]\ntests = [\"set\"]\nrequests = 2000\nclients = 5\n\n\
         [[target]]\nname = \"spawned\"\nspawn = \"standalone\"\n",
    );
    let dead = dead_pid();
    let gone = tmp.join(&format!("rbench-{dead}-0-123"));
    std::fs::create_dir_all(gone.join("6379")).unwrap();
    std::fs::write(gone.join("6379").join("redis.log"), "left behind").unwrap();
    let kept = [
        format!("rbench-{}-0-456", std::process::id()),
        format!("rbench-profile-test-{dead}-0-1"),
        format!("rbench-{dead}-0-12x"),
    ];
    for k in &kept {
        std::fs::create_dir(tmp.join(k)).unwrap();
    }

    let res = run_rbench_process_env(
        &["-c", &profile, "-q", "--no-save"],
        &[("TMPDIR", &tmp.arg())],
        RUN_TIMEOUT,
    );
    res.assert_ok();
    assert!(!gone.exists(), "the dead run's temp dir is still there");
    for k in &kept {
        assert!(tmp.join(k).exists(), "{k} was removed");
    }
    let lines = res.stderr_lines();
    assert_eq!(
        lines,
        ["rbench: removed 1 leftover temp dir of a run that was killed"],
        "{}",
        res.stderr
    );

    // Nothing left to remove: nothing said.
    let res = run_rbench_process_env(
        &["-c", &profile, "-q", "--no-save"],
        &[("TMPDIR", &tmp.arg())],
        RUN_TIMEOUT,
    );
    res.assert_ok();
    assert!(res.stderr.trim().is_empty(), "{}", res.stderr);
    let mut left = rbench_dirs(tmp.path());
    left.sort();
    let mut want = kept.to_vec();
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn nightly_stopped_by_sigterm_records_an_incomplete_night() {
    let _g = serial();
    let work = TempDir::new("nightly-sig");
    let tmp = TempDir::new("nightly-sig-tmp");
    let out = TempDir::new("nightly-sig-out");
    let profile = standalone_profile(&work, "\"set\"", "30s");
    let gone = tmp.join(&format!("rbench-{}-3-42", dead_pid()));
    std::fs::create_dir(&gone).unwrap();

    let mut running = start_rbench_signals(
        &["nightly", "-c", &profile, "--out", &out.arg()],
        &[("TMPDIR", &tmp.arg())],
        &[(libc::SIGTERM, libc::SIG_DFL)],
    );
    let servers = wait_for_servers(&tmp, 1);
    std::thread::sleep(Duration::from_secs(1));
    running.signal(libc::SIGTERM);
    let res = running.wait(Duration::from_secs(60));
    res.assert_no_panic();
    assert_eq!(res.code, 143, "{res:?}");
    assert!(!gone.exists(), "nightly did not remove the leftover");
    assert!(
        res.stderr
            .contains("rbench: removed 1 leftover temp dir of a run that was killed"),
        "{}",
        res.stderr
    );
    assert!(
        res.stderr.contains("interrupted by SIGTERM") && res.stderr.contains("night not judged"),
        "{}",
        res.stderr
    );
    assert_nothing_left(&tmp, &servers, "nightly SIGTERM");
    let history = Csv::read(&out.join("history.csv"));
    assert_eq!(history.rows.len(), 1, "{}", history.text);
    let ledger = Csv::read(&out.join("nights.csv"));
    assert_eq!(ledger.rows.len(), 1, "{}", ledger.text);
    assert_eq!(ledger.get(&ledger.rows[0], "status"), "incomplete");
    assert_eq!(ledger.get(&ledger.rows[0], "accepted"), "no");
}
