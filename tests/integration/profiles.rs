//! Profiles (`rbench -c FILE`) end to end, driving the binary: the shipped persistence and cluster
//! profiles on deployments rbench spawns itself, the configuration table (console and
//! `table-<run>.md`), `--repeat` medians, flags overriding the profile, `password_env`, profile errors
//! at `file:line`, and — for every spawned run — that no `redis-server` outlives rbench, whether it
//! succeeds, fails or is interrupted with Ctrl-C.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::procs::proc_stat;
use support::*;

// Tests that put load on the machine run one at a time (`serial()`): the AOF comparison must not
// measure a neighbouring test, and a 2-core machine gains nothing from overlapping them.

fn shipped(name: &str) -> String {
    format!("{}/profiles/{name}", env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Watching rbench's children
// ---------------------------------------------------------------------------------------------

/// A process seen as a child of rbench. `start` (clock ticks since boot) tells it apart from a later
/// process that reuses its PID.
#[derive(Clone, Debug)]
struct Proc {
    pid: u32,
    comm: String,
    start: u64,
}

/// Children of `parent` named redis-server or redis-cli, right now.
fn redis_children(parent: u32) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (comm, _, ppid, start) = proc_stat(pid)?;
            (ppid == parent && (comm == "redis-server" || comm == "redis-cli")).then_some(Proc {
                pid,
                comm,
                start,
            })
        })
        .collect()
}

/// Polls `/proc` every 20 ms for redis-server / redis-cli children of one rbench process, and
/// remembers every one it saw.
struct ChildWatch {
    seen: Arc<Mutex<BTreeMap<u32, Proc>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ChildWatch {
    fn start(parent: u32) -> ChildWatch {
        let seen: Arc<Mutex<BTreeMap<u32, Proc>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                for p in redis_children(parent) {
                    s.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(p.pid)
                        .or_insert(p);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        ChildWatch {
            seen,
            stop,
            handle: Some(handle),
        }
    }

    fn servers_seen(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|p| p.comm == "redis-server")
            .count()
    }

    /// Stops watching; every child seen.
    fn finish(mut self) -> Vec<Proc> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.values().cloned().collect()
    }
}

impl Drop for ChildWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The children in `seen` that still exist (running or zombie), described.
fn still_present(seen: &[Proc]) -> Vec<String> {
    seen.iter()
        .filter_map(|p| {
            let (comm, state, ppid, start) = proc_stat(p.pid)?;
            (start == p.start).then(|| format!("{} {comm} (state {state}, ppid {ppid})", p.pid))
        })
        .collect()
}

/// Every child seen must be gone — not running, not a zombie — now that rbench has exited; and at
/// least `min_servers` redis-servers must have been seen (otherwise the check proves nothing).
fn assert_children_gone(seen: &[Proc], min_servers: usize, what: &str) {
    let servers = seen.iter().filter(|p| p.comm == "redis-server").count();
    assert!(
        servers >= min_servers,
        "{what}: saw {servers} redis-server children of rbench, expected at least {min_servers}: {seen:?}"
    );
    let left = still_present(seen);
    assert!(
        left.is_empty(),
        "{what}: still present after rbench exited: {left:?}"
    );
}

/// The watcher itself: it must see a live child and call it "not gone", or every leak check above
/// would pass vacuously.
#[test]
fn child_watch_tells_a_live_server_from_a_stopped_one() {
    let dep = spawn_standalone(&[]);
    let pid = dep.nodes()[0].pid;
    let watch = ChildWatch::start(std::process::id());
    wait_for(
        "the watcher to see our redis-server",
        Duration::from_secs(5),
        || {
            watch
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&pid)
        },
    );
    let ours: Vec<Proc> = watch
        .finish()
        .into_iter()
        .filter(|p| p.pid == pid)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        still_present(&ours).len(),
        1,
        "a running redis-server was reported gone"
    );
    drop(dep);
    assert_children_gone(&ours, 1, "stopped server");
}

/// Runs rbench to completion while watching its children.
fn run_watched(args: &[String], env: &[(&str, &str)], timeout: Duration) -> (RunOutput, Vec<Proc>) {
    let running = Running::process(args, env);
    let watch = ChildWatch::start(running.pid());
    let res = running.wait(timeout);
    (res, watch.finish())
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// The cells of every `| ... |` line of `text`, trimmed: header, separator, then the rows.
fn table_cells(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|') && l.ends_with('|') && l.len() > 1)
        .map(|l| {
            l[1..l.len() - 1]
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The one run_id of a results file.
fn single_run_id(csv: &Csv) -> String {
    let ids: std::collections::BTreeSet<&str> =
        csv.rows.iter().map(|r| csv.get(r, "run_id")).collect();
    assert_eq!(ids.len(), 1, "want one run_id in\n{}", csv.text);
    ids.into_iter().next().unwrap_or_default().to_string()
}

/// stdout without the closing `results: ... in DIR` line rbench prints after the table.
fn stdout_before_results_line(stdout: &str) -> &str {
    let t = stdout.trim_end();
    match t.rfind('\n') {
        Some(i) if t[i + 1..].starts_with("results: ") => t[..i].trim_end(),
        _ => t,
    }
}

/// Median SET rps per target from a `--repeat 3` results file.
fn set_medians(csv: &Csv, targets: &[&str]) -> Vec<f64> {
    targets
        .iter()
        .map(|t| {
            median3(
                csv.rows
                    .iter()
                    .filter(|r| csv.get(r, "target") == *t && csv.get(r, "test") == "SET")
                    .map(|r| csv.num(r, "rps"))
                    .collect(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Shipped profiles on spawned deployments
// ---------------------------------------------------------------------------------------------

#[test]
fn persistence_profile_end_to_end() {
    let _g = serial();
    let out = TempDir::new("persistence");
    let args = strings(&[
        "-c",
        &shipped("persistence.toml"),
        "-t",
        "set,get",
        "-n",
        "20000",
        // The flag over the profile's `repeat = 3`: one row per target and test.
        "--repeat",
        "1",
        "--out",
        &out.arg(),
    ]);
    let (res, seen) = run_watched(&args, &[], Duration::from_secs(120));
    res.assert_ok();
    assert_children_gone(&seen, 3, "persistence profile");

    // runs.csv: 3 targets × 2 tests, persistence read back from each server.
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 6, "{}", csv.text);
    let want = [
        ("no-aof", "none"),
        ("aof-everysec", "aof-everysec"),
        ("aof-always", "aof-always"),
    ];
    for (i, row) in csv.rows.iter().enumerate() {
        let (target, persistence) = want[i / 2];
        let test = ["SET", "GET"][i % 2];
        let ctx = format!("row {i}: {row:?}");
        assert_eq!(csv.get(row, "target"), target, "{ctx}");
        assert_eq!(csv.get(row, "test"), test, "{ctx}");
        assert_eq!(csv.get(row, "persistence"), persistence, "{ctx}");
        assert_eq!(csv.get(row, "deployment"), "standalone", "{ctx}");
        assert_eq!(csv.get(row, "profile"), "persistence", "{ctx}");
        assert_eq!(csv.num(row, "requests"), 20000.0, "{ctx}");
        assert_eq!(csv.num(row, "ok"), 20000.0, "{ctx}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{ctx}");
        assert_eq!(csv.num(row, "clients"), 50.0, "{ctx}");
        assert_eq!(csv.num(row, "keyspace"), 100000.0, "{ctx}");
        assert!(csv.num(row, "rps") > 0.0, "{ctx}");
    }

    // The table: on stdout, last, and the same in table-<run_id>.md.
    let run_id = single_run_id(&csv);
    let md_path = out.join(&format!("table-{run_id}.md"));
    let md = std::fs::read_to_string(&md_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", md_path.display()));
    let cells = table_cells(&md);
    assert_eq!(
        cells.first().map(|h| h.join(" | ")),
        Some(
            "test | no-aof TPS | p50 ms | aof-everysec TPS | p50 ms | aof-always TPS | p50 ms"
                .to_string()
        ),
        "{md}"
    );
    assert_eq!(cells.len(), 4, "header, separator, SET, GET:\n{md}");
    assert!(
        cells[1]
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':')),
        "{md}"
    );
    for (row, test) in cells[2..].iter().zip(["SET", "GET"]) {
        assert_eq!(row.len(), 7, "{md}");
        assert_eq!(row[0], test, "{md}");
        for (j, (target, _)) in want.iter().enumerate() {
            let tps = &row[1 + 2 * j];
            let p50 = &row[2 + 2 * j];
            assert!(
                is_fixed_decimal(tps, 2),
                "{test} {target} TPS {tps:?}\n{md}"
            );
            assert!(
                is_fixed_decimal(p50, 3),
                "{test} {target} p50 {p50:?}\n{md}"
            );
            let r = csv
                .rows
                .iter()
                .find(|r| csv.get(r, "target") == *target && csv.get(r, "test") == test)
                .expect("row exists");
            assert_eq!(tps, csv.get(r, "rps"), "{test} {target}: table vs runs.csv");
            assert_eq!(
                p50,
                csv.get(r, "p50_ms"),
                "{test} {target}: table vs runs.csv"
            );
        }
    }
    // Under the table, a sentence per test orders the targets by TPS, fastest first (equal rates
    // in column order); one run each is ordered but not judged.
    for test in ["SET", "GET"] {
        let mut by_rps: Vec<(&str, f64)> = want
            .iter()
            .map(|(target, _)| {
                let r = csv
                    .rows
                    .iter()
                    .find(|r| csv.get(r, "target") == *target && csv.get(r, "test") == test)
                    .expect("row exists");
                (*target, csv.num(r, "rps"))
            })
            .collect();
        by_rps.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut sentence = format!("- {test}: {}", by_rps[0].0);
        for w in by_rps.windows(2) {
            let step = if w[0].1 == w[1].1 { "=" } else { ">" };
            sentence.push_str(&format!(" {step} {}", w[1].0));
        }
        sentence.push_str(" (one run each: not judged)");
        assert!(
            md.lines().any(|l| l == sentence),
            "no line {sentence:?} in:\n{md}"
        );
    }
    assert!(
        md.contains("Targets by median TPS, fastest first: ≫ clearly faster"),
        "{md}"
    );
    let shown = stdout_before_results_line(&res.stdout);
    assert!(
        shown.ends_with(md.trim_end()),
        "stdout does not end with the table of {}:\n{md}\n--- stdout tail:\n{}",
        md_path.display(),
        &shown[shown.len().saturating_sub(800)..]
    );

    // fsync before every reply costs throughput. One run on a noisy machine can mislead, so when
    // it does not show, compare medians of --repeat 3 (up to twice) before calling it a failure.
    let rps_of = |csv: &Csv, target: &str| {
        let r = csv
            .rows
            .iter()
            .find(|r| csv.get(r, "target") == target && csv.get(r, "test") == "SET")
            .expect("SET row");
        csv.num(r, "rps")
    };
    let (no_aof, always) = (rps_of(&csv, "no-aof"), rps_of(&csv, "aof-always"));
    eprintln!("SET rps, single run: no-aof {no_aof:.2}, aof-always {always:.2}");
    if always < no_aof {
        return;
    }
    let mut measured = vec![format!(
        "single run: no-aof {no_aof:.2}, aof-always {always:.2}"
    )];
    for attempt in 1..=2 {
        let dir = TempDir::new("persistence-repeat");
        let (res, seen) = run_watched(
            &strings(&[
                "-c",
                &shipped("persistence.toml"),
                "-t",
                "set",
                "-n",
                "20000",
                "--repeat",
                "3",
                "-q",
                "--out",
                &dir.arg(),
            ]),
            &[],
            Duration::from_secs(120),
        );
        res.assert_ok();
        assert_children_gone(&seen, 3, "persistence profile, --repeat 3");
        let m = set_medians(&results_csv(dir.path()), &["no-aof", "aof-always"]);
        eprintln!(
            "SET rps, median of 3 (attempt {attempt}): no-aof {:.2}, aof-always {:.2}",
            m[0], m[1]
        );
        if m[1] < m[0] {
            return;
        }
        measured.push(format!(
            "median of 3, attempt {attempt}: no-aof {:.2}, aof-always {:.2}",
            m[0], m[1]
        ));
    }
    panic!("AOF always was never slower than no AOF for SET: {measured:?}");
}

#[test]
fn repeat_keeps_every_row_and_the_table_shows_medians() {
    let _g = serial();
    let dir = TempDir::new("repeat");
    let profile = write_file(
        &dir,
        "small.toml",
        "# A small spawned run, repeated.\n\
         [defaults]\n\
         tests = [\"set\", \"get\"]\n\
         clients = 10\n\
         requests = 3000\n\
         keyspace = 1000\n\
         \n\
         [[target]]\n\
         name = \"solo\"\n\
         spawn = \"standalone\"\n",
    );
    let out = TempDir::new("repeat-out");
    let (res, seen) = run_watched(
        &strings(&[
            "-c",
            &profile.to_string_lossy(),
            "--repeat",
            "3",
            "--out",
            &out.arg(),
        ]),
        &[],
        Duration::from_secs(60),
    );
    res.assert_ok();
    assert_children_gone(&seen, 1, "--repeat 3");

    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 6, "{}", csv.text);
    let run_id = single_run_id(&csv);
    let md = std::fs::read_to_string(out.join(&format!("table-{run_id}.md"))).expect("table file");
    let cells = table_cells(&md);
    assert_eq!(cells.len(), 4, "{md}");
    assert_eq!(cells[0], ["test", "solo TPS", "±", "p50 ms", "±"], "{md}");
    assert!(md.contains("median of 3 runs"), "{md}");
    for (row, test) in cells[2..].iter().zip(["SET", "GET"]) {
        let rows = csv.rows_for_test(test);
        let repeats: Vec<String> = rows
            .iter()
            .map(|r| csv.get(r, "repeat").to_string())
            .collect();
        assert_eq!(repeats, ["1", "2", "3"], "{test}:\n{}", csv.text);
        for r in &rows {
            assert_eq!(csv.num(r, "ok"), 3000.0, "{r:?}");
            assert_eq!(csv.num(r, "errors"), 0.0, "{r:?}");
        }
        let rps: Vec<f64> = rows.iter().map(|r| csv.num(r, "rps")).collect();
        let p50: Vec<f64> = rows.iter().map(|r| csv.num(r, "p50_ms")).collect();
        assert_eq!(row[0], test, "{md}");
        assert_eq!(
            row[1],
            format!("{:.2}", median3(rps.clone())),
            "{test}: table TPS is not the median of {rps:?}"
        );
        assert_eq!(
            row[3],
            format!("{:.3}", median3(p50.clone())),
            "{test}: table p50 is not the median of {p50:?}"
        );
        // The spread beside each median: half the range of the runs, over the median.
        let half_range = |v: &[f64]| {
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
            50.0 * (hi - lo) / median3(v.to_vec())
        };
        assert_eq!(row[2], format!("±{:.1}%", half_range(&rps)), "{md}");
        assert_eq!(row[4], format!("±{:.1}%", half_range(&p50)), "{md}");
    }
    // The console shows the same table.
    assert!(
        stdout_before_results_line(&res.stdout).ends_with(md.trim_end()),
        "{}",
        res.stdout
    );
}

/// With repeats, the passes go round the targets (a slow minute on the machine hits every
/// configuration a little, not one wholly); every deployment is stopped at the end.
#[test]
fn repeats_go_round_the_targets() {
    let _g = serial();
    let dir = TempDir::new("round");
    let profile = write_file(
        &dir,
        "two.toml",
        "[defaults]\n\
         tests = [\"set\"]\n\
         clients = 5\n\
         requests = 500\n\
         repeat = 2\n\
         \n\
         [[target]]\n\
         name = \"a\"\n\
         spawn = \"standalone\"\n\
         \n\
         [[target]]\n\
         name = \"b\"\n\
         spawn = \"standalone\"\n",
    );
    let out = TempDir::new("round-out");
    let (res, seen) = run_watched(
        &strings(&["-c", &profile.to_string_lossy(), "-q", "--out", &out.arg()]),
        &[],
        Duration::from_secs(60),
    );
    res.assert_ok();
    assert_children_gone(&seen, 2, "two targets, repeat 2");
    let csv = results_csv(out.path());
    let order: Vec<String> = csv
        .rows
        .iter()
        .map(|r| format!("{}{}", csv.get(r, "target"), csv.get(r, "repeat")))
        .collect();
    assert_eq!(order, ["a1", "b1", "a2", "b2"], "{}", csv.text);
    let heads: Vec<&str> = res.stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        heads,
        [
            "[a, repeat 1/2]",
            "[b, repeat 1/2]",
            "[a, repeat 2/2]",
            "[b, repeat 2/2]"
        ],
        "{}",
        res.stdout
    );
}

#[test]
fn spawned_cluster_profile() {
    let _g = serial();
    let out = TempDir::new("cluster");
    let (res, seen) = run_watched(
        &strings(&[
            "-c",
            &shipped("cluster.toml"),
            "-t",
            "set,get",
            "-n",
            "5000",
            "-q",
            "--out",
            &out.arg(),
        ]),
        &[],
        Duration::from_secs(120),
    );
    res.assert_ok();
    assert_children_gone(&seen, 6, "cluster profile");
    assert!(
        seen.iter().any(|p| p.comm == "redis-cli"),
        "expected redis-cli --cluster create among the children: {seen:?}"
    );
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 2, "{}", csv.text);
    for (row, test) in csv.rows.iter().zip(["SET", "GET"]) {
        assert_eq!(csv.get(row, "test"), test, "{row:?}");
        assert_eq!(csv.get(row, "target"), "cluster-3x1", "{row:?}");
        assert_eq!(csv.get(row, "deployment"), "cluster", "{row:?}");
        assert_eq!(csv.get(row, "masters"), "3", "{row:?}");
        assert_eq!(csv.num(row, "ok"), 5000.0, "{row:?}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
        assert_eq!(csv.get(row, "error_classes"), "", "{row:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Nothing left behind: errors and Ctrl-C
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_leave_no_server_behind() {
    let _g = serial();
    let dir = TempDir::new("errors");

    // The spawned target runs, the next one is unreachable.
    let port = free_port();
    let profile = write_file(
        &dir,
        "unreachable.toml",
        &format!(
            "[defaults]\ntests = [\"set\"]\nrequests = 2000\nclients = 5\n\n\
             [[target]]\nname = \"spawned\"\nspawn = \"standalone\"\n\n\
             [[target]]\nname = \"unreachable\"\naddr = \"127.0.0.1:{port}\"\n"
        ),
    );
    let out = TempDir::new("errors-out");
    let (res, seen) = run_watched(
        &strings(&["-c", &profile.to_string_lossy(), "-q", "--out", &out.arg()]),
        &[],
        Duration::from_secs(60),
    );
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    assert_children_gone(&seen, 1, "spawned then unreachable");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("unreachable") && lines[0].contains(&port.to_string()),
        "{}",
        lines[0]
    );
    // What ran before the failure is kept.
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 1, "{}", csv.text);
    assert_eq!(csv.get(&csv.rows[0], "target"), "spawned");

    // Failing while the spawned server is up: it authenticates as a user that does not exist.
    let profile = write_file(
        &dir,
        "wrongpass.toml",
        "[defaults]\ntests = [\"set\"]\nrequests = 1000\nclients = 5\n\n\
         [[target]]\nname = \"spawned-auth\"\nspawn = \"standalone\"\nuser = \"nobody\"\n\
         password_env = \"RB_TEST_WRONG_PASS\"\n",
    );
    let (res, seen) = run_watched(
        &strings(&["-c", &profile.to_string_lossy(), "-q", "--no-save"]),
        &[("RB_TEST_WRONG_PASS", "not-the-password")],
        Duration::from_secs(60),
    );
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    assert_children_gone(&seen, 1, "spawned, then authentication failed");
    assert!(!res.stderr.contains("not-the-password"), "{}", res.stderr);
}

#[test]
fn bad_redis_args_fail_in_one_line_and_leave_nothing() {
    let _g = serial();
    let dir = TempDir::new("bad-args");
    let profile = write_file(
        &dir,
        "bad-args.toml",
        "[defaults]\ntests = [\"set\"]\nrequests = 1000\n\n\
         [[target]]\nname = \"broken\"\nspawn = \"standalone\"\n\
         redis_args = [\"--no-such-option\", \"1\"]\n",
    );
    let out = TempDir::new("bad-args-out");
    let (res, seen) = run_watched(
        &strings(&["-c", &profile.to_string_lossy(), "--out", &out.arg()]),
        &[],
        Duration::from_secs(60),
    );
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    // The server may die before the watcher sees it; whatever was seen must be gone.
    assert_children_gone(&seen, 0, "bad redis_args");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("broken") && lines[0].contains("no-such-option"),
        "the error should name the target and the reason: {}",
        lines[0]
    );
    assert!(
        !out.join("runs.csv").exists(),
        "no results expected from a run that never started"
    );
}

#[test]
fn ctrl_c_stops_the_run_keeps_whole_rows_and_the_server_is_gone() {
    let _g = serial();
    let dir = TempDir::new("sigint");
    let profile = write_file(
        &dir,
        "long.toml",
        "[defaults]\ntests = [\"set\", \"get\"]\nduration = \"30s\"\nclients = 10\nkeyspace = 1000\n\n\
         [[target]]\nname = \"long\"\nspawn = \"standalone\"\n",
    );
    let out = TempDir::new("sigint-out");
    let mut running = Running::process(
        &strings(&["-c", &profile.to_string_lossy(), "-q", "--out", &out.arg()]),
        &[],
    );
    let watch = ChildWatch::start(running.pid());
    wait_for(
        "rbench to spawn redis-server",
        Duration::from_secs(20),
        || watch.servers_seen() >= 1,
    );
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    running.signal(libc::SIGINT);
    let res = running.wait(Duration::from_secs(60));
    let stopped_after = sent.elapsed();
    let seen = watch.finish();

    res.assert_no_panic();
    assert_eq!(res.code, 130, "{res:?}");
    assert!(
        stopped_after < Duration::from_secs(10),
        "took {stopped_after:?} to stop after SIGINT"
    );
    assert_children_gone(&seen, 1, "SIGINT");
    assert!(res.stderr.contains("interrupted"), "{}", res.stderr);

    // Whole rows only: every line has every column (Csv::parse is strict) and the file ends with a
    // newline. The interrupted SET is there; GET never started.
    let csv = results_csv(out.path());
    assert!(csv.text.ends_with('\n'), "{:?}", csv.text);
    assert_eq!(csv.rows.len(), 1, "{}", csv.text);
    let row = &csv.rows[0];
    assert_eq!(csv.get(row, "test"), "SET");
    assert!(csv.num(row, "ok") > 0.0, "{row:?}");
    let secs = csv.num(row, "duration_s");
    assert!((1.0..29.0).contains(&secs), "duration_s {secs}");
    // The -q line of what was measured was printed.
    assert!(
        res.stdout
            .lines()
            .any(|l| parse_quiet_line(l).is_some_and(|(n, _, _)| n == "SET")),
        "{}",
        res.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Profile errors and flags
// ---------------------------------------------------------------------------------------------

/// Runs rbench on a bad profile: exit 2, one stderr line starting with `<path>:<line>:` and
/// containing `needle`, nothing on stdout, nothing spawned.
fn assert_profile_error(dir: &TempDir, name: &str, text: &str, line: usize, needle: &str) {
    let path = write_file(dir, name, text);
    let p = path.to_string_lossy().into_owned();
    let out = TempDir::new("bad-profile-out");
    let (res, seen) = run_watched(
        &strings(&["-c", &p, "--out", &out.arg()]),
        &[],
        Duration::from_secs(30),
    );
    res.assert_no_panic();
    assert_eq!(res.code, 2, "{name}: {res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{name}: stderr:\n{}", res.stderr);
    let prefix = format!("{p}:{line}:");
    assert!(
        lines[0].starts_with(&prefix),
        "{name}: want a line starting with {prefix:?}, got {:?}",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "{name}: want {needle:?} in {:?}",
        lines[0]
    );
    assert!(res.stdout.trim().is_empty(), "{name}: {}", res.stdout);
    assert!(seen.is_empty(), "{name}: spawned {seen:?}");
    assert!(!out.join("runs.csv").exists(), "{name}");
}

const SPAWN_TARGET: &str = "\n[[target]]\nname = \"s\"\nspawn = \"standalone\"\n";

#[test]
fn bad_profiles_exit_2_at_file_and_line() {
    let dir = TempDir::new("bad-profiles");
    assert_profile_error(
        &dir,
        "unknown-key.toml",
        &format!("# comment\n[defaults]\nclients = 5\nclinets = 5\n{SPAWN_TARGET}"),
        4,
        "unknown key `clinets`",
    );
    assert_profile_error(
        &dir,
        "unknown-target-key.toml",
        &format!("[defaults]\nclients = 5\n{SPAWN_TARGET}port = 6379\n"),
        7,
        "unknown key `port`",
    );
    assert_profile_error(
        &dir,
        "syntax.toml",
        &format!("[defaults]\n\nclients = 5\nrequests = = 3\n{SPAWN_TARGET}"),
        4,
        "invalid TOML",
    );
    assert_profile_error(
        &dir,
        "unclosed.toml",
        "[defaults]\nclients = 5\n\n[[target]\nname = \"s\"\nspawn = \"standalone\"\n",
        4,
        "invalid TOML",
    );
    assert_profile_error(
        &dir,
        "mix.toml",
        &format!(
            "# weights\n[defaults]\nclients = 5\n\nmix = \"set=0\"\nrequests = 10\n{SPAWN_TARGET}"
        ),
        5,
        "set=0",
    );
    assert_profile_error(
        &dir,
        "mix-name.toml",
        &format!("[defaults]\n\n\nmix = \"set=1,gett=2\"\n{SPAWN_TARGET}"),
        4,
        "gett",
    );
    assert_profile_error(
        &dir,
        "tests.toml",
        &format!("# tests\n\n[defaults]\nclients = 5\ntests = [\"set\", \"nope\"]\n{SPAWN_TARGET}"),
        5,
        "nope",
    );
    assert_profile_error(
        &dir,
        "duration.toml",
        &format!("[defaults]\nclients = 5\nduration = \"soon\"\n{SPAWN_TARGET}"),
        3,
        "soon",
    );
    assert_profile_error(
        &dir,
        "password.toml",
        &format!("[defaults]\nclients = 5\n{SPAWN_TARGET}password = \"hunter2\"\n"),
        7,
        "password_env",
    );

    // A missing file: exit 2 and a message naming it.
    let missing = dir.join("no-such-profile.toml");
    let m = missing.to_string_lossy().into_owned();
    let res = run_rbench(&strings(&["-c", &m, "--no-save"]));
    res.assert_no_panic();
    assert_eq!(res.code, 2, "{res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains(&m) && lines[0].contains("cannot read profile"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("No such file"), "say why: {}", lines[0]);
}

#[test]
fn flags_override_the_profile() {
    let _g = serial();
    let out = TempDir::new("override");
    let (res, seen) = run_watched(
        &strings(&[
            "-t",
            "get",
            "-c",
            &shipped("standalone.toml"),
            "-n",
            "1000",
            "--out",
            &out.arg(),
        ]),
        &[],
        Duration::from_secs(60),
    );
    res.assert_ok();
    assert_children_gone(&seen, 1, "standalone profile");
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 1, "only GET should run:\n{}", csv.text);
    let row = &csv.rows[0];
    assert_eq!(csv.get(row, "test"), "GET");
    assert_eq!(csv.num(row, "requests"), 1000.0);
    assert_eq!(csv.num(row, "ok"), 1000.0);
    // What the flags did not name still comes from the profile.
    assert_eq!(csv.num(row, "clients"), 50.0);
    assert_eq!(csv.num(row, "keyspace"), 100000.0);
    assert_eq!(csv.get(row, "target"), "standalone");
    assert!(res.stdout.contains("====== GET"), "{}", res.stdout);
    for other in ["SET", "INCR", "LPUSH", "XADD"] {
        assert!(
            !res.stdout.contains(&format!("====== {other}")),
            "{other} ran:\n{}",
            res.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------------
// password_env
// ---------------------------------------------------------------------------------------------

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_not_in_files(dir: &Path, secret: &str) {
    let files = files_under(dir);
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the password appears in {}",
            f.display()
        );
    }
}

#[test]
fn password_env_authenticates_and_is_never_written() {
    const PASS: &str = "Pr0file-s3cret-9617";
    let _g = serial();
    let dep = spawn_standalone(&["--requirepass", PASS]);
    let dir = TempDir::new("password-env");
    let profile = write_file(
        &dir,
        "auth.toml",
        &format!(
            "[defaults]\ntests = [\"set\", \"get\"]\nrequests = 2000\nclients = 5\nkeyspace = 100\n\n\
             [[target]]\nname = \"authed\"\naddr = \"127.0.0.1:{}\"\npassword_env = \"RB_TEST_PASS\"\n",
            dep.addr().port()
        ),
    );
    let p = profile.to_string_lossy().into_owned();

    let out = TempDir::new("password-env-ok");
    let json = out.join("summary.json");
    let ok = start_rbench_unset(
        &strings(&[
            "-c",
            &p,
            "--out",
            &out.arg(),
            "--json",
            &json.to_string_lossy(),
        ]),
        &[("RB_TEST_PASS", PASS)],
        &[],
    )
    .wait(RUN_TIMEOUT);
    ok.assert_ok();
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 2, "{}", csv.text);
    for row in &csv.rows {
        assert_eq!(csv.num(row, "ok"), 2000.0, "{row:?}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
    }
    assert!(
        cli_int(&dep, &["-a", PASS, "--no-auth-warning", "DBSIZE"]) > 0,
        "the authenticated run wrote nothing"
    );
    assert!(json.exists());

    let out_fail = TempDir::new("password-env-fail");
    let fail = start_rbench_unset(
        &strings(&["-c", &p, "--out", &out_fail.arg()]),
        &[],
        &["RB_TEST_PASS"],
    )
    .wait(RUN_TIMEOUT);
    fail.assert_no_panic();
    assert_eq!(fail.code, 1, "{fail:?}");
    let lines = fail.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", fail.stderr);
    assert!(lines[0].contains("NOAUTH"), "{}", lines[0]);
    // The hint names the variable the profile reads, not REDISCLI_AUTH.
    assert!(
        lines[0].contains("$RB_TEST_PASS, which is not set") && !lines[0].contains("REDISCLI_AUTH"),
        "{}",
        lines[0]
    );

    for (what, s) in [
        ("stdout", &ok.stdout),
        ("stderr", &ok.stderr),
        ("stdout (failed run)", &fail.stdout),
        ("stderr (failed run)", &fail.stderr),
    ] {
        assert!(!s.contains(PASS), "the password appears in {what}:\n{s}");
    }
    assert_not_in_files(out.path(), PASS);
    assert_not_in_files(out_fail.path(), PASS);
    assert!(
        files_under(out.path()).len() >= 3,
        "expected runs.csv, timeline, table, ... in {}",
        out.path().display()
    );
}
