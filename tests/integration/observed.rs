//! Numbers that explain themselves, end to end through `rbench`: the server's side of a row
//! (fsync cost, a forced AOF rewrite on the timeline beside its second's p99), whose limit a row
//! is (client-bound, server-bound, neither), servers that refuse INFO, and a cluster node lost
//! mid-run. The sampler's own behaviour is tested in `observe.rs`.

use crate::support;

use std::path::Path;
use std::process::{Child, Command};

use rbench::schema::{LongRow, ServerTimelineRow, TimelineRow};
use support::*;

fn rows<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Vec<T> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = rbench::schema::clean_header(rdr.headers().unwrap());
    rdr.records()
        .map(|r| rbench::schema::read_row(&r.unwrap(), &header).unwrap())
        .collect()
}

/// The one file in `dir` whose name starts with `prefix`.
fn file(dir: &Path, prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
}

fn long(dir: &Path) -> Vec<LongRow> {
    rows(&dir.join("runs.csv"))
}

fn run_ok(dep: &Deployment, args: &[&str]) -> RunOutput {
    let mut a = target_args(dep);
    a.extend(strings(args));
    let out = run_rbench(&a);
    log_run(&a.join(" "), &out);
    out.assert_ok();
    out
}

#[test]
fn aof_always_shows_its_fsync_cost_on_the_server_side() {
    let _turn = serial();
    let dep = spawn_standalone(&["--appendonly", "yes", "--appendfsync", "always"]);
    let dir = TempDir::new("obs-always");
    let d = dir.arg();
    run_ok(
        &dep,
        &[
            "-t",
            "set",
            "-n",
            "20000",
            "--clients",
            "10",
            "--set-latency-monitor",
            "1",
            "--out",
            &d,
        ],
    );
    let row = &long(dir.path())[0];
    let us: f64 = row.server_us_per_call.parse().unwrap();
    assert!(us > 0.0, "{row:?}");
    assert!(row.server_delayed_fsync.parse::<u64>().is_ok(), "{row:?}");
    let events: Vec<String> = rows::<TimelineRow>(&file(dir.path(), "timeline-"))
        .into_iter()
        .filter_map(|r| r.server_events)
        .collect();
    let fsyncs = events.iter().any(|e| e.contains("aof-fsync-always@"));
    let delayed: u64 = row.server_delayed_fsync.parse().unwrap();
    // An fsync costs what the disk takes: where it took over a millisecond (the client's mean
    // says so), the server's own evidence must be there.
    let avg: f64 = row.avg_ms.parse().unwrap();
    eprintln!("avg {avg} ms, server {us} us/call, events {events:?}, delayed fsyncs {delayed}");
    if avg >= 2.0 {
        assert!(fsyncs || delayed > 0, "avg {avg} ms: {events:?}");
    }
    // The existing server's monitor was set only because --set-latency-monitor asked.
    let v = cli(&dep, &["CONFIG", "GET", "latency-monitor-threshold"]);
    assert!(v.lines().any(|l| l.trim() == "1"), "{v}");
}

#[test]
fn a_forced_rewrite_shows_on_the_timeline_beside_its_seconds_p99() {
    let _turn = serial();
    let dep = spawn_standalone(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut r = Redis::connect(dep.addr());
    // 20k keys saved 20 µs apart: a rewrite of about two seconds, whatever the disk.
    r.cmd(&["DEBUG", "POPULATE", "20000", "pop"]);
    r.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "20"]);
    let dir = TempDir::new("obs-rewrite");
    let d = dir.arg();
    run_ok(
        &dep,
        &[
            "-t",
            "set",
            "-r",
            "1000",
            "--rps",
            "2000",
            "--duration",
            "6",
            "--fault",
            "1500ms:bgrewriteaof",
            "--out",
            &d,
        ],
    );
    let timeline = rows::<TimelineRow>(&file(dir.path(), "timeline-"));
    let at = |kind: &str| {
        timeline
            .iter()
            .position(|r| r.server_events.as_deref().unwrap_or("").contains(kind))
            .unwrap_or_else(|| panic!("no {kind} in {timeline:#?}"))
    };
    let (start, end) = (at("aof-rewrite-start@"), at("aof-rewrite-end@"));
    assert!(start < end, "started in second {start}, ended in {end}");
    assert_eq!(timeline[start].elapsed_s, "2", "{timeline:#?}");
    // That second's p99 sits beside it.
    assert!(timeline[start].p99_ms.parse::<f64>().unwrap() > 0.0);
    let row = &long(dir.path())[0];
    assert_eq!(row.server_aof_rewrites, "1", "{row:?}");
    assert!(row.server_forks.parse::<u64>().unwrap() >= 1, "{row:?}");
    // The server timeline has the node's seconds, the rewrite in progress among them.
    let server = rows::<ServerTimelineRow>(&file(dir.path(), "server-timeline-"));
    assert!(
        server.iter().any(|s| s.aof_rewrite == "true"),
        "{server:#?}"
    );
    assert!(
        server
            .iter()
            .all(|s| s.missing == "false" && !s.cpu_cores.is_empty())
    );
}

/// A process started under `taskset -c CPU`, killed by PID when dropped.
struct Pinned(Child);

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pin(pid: u32, cpu: u32) {
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "taskset could not pin {pid}");
}

/// `rbench ARGS` as a child pinned to `cpu`; its exit must be 0.
fn pinned_run(cpu: u32, args: &[String]) {
    let mut all = vec!["-c".to_string(), cpu.to_string(), rbench_bin().to_string()];
    all.extend(args.iter().cloned());
    let out = Command::new("taskset").args(&all).output().unwrap();
    eprintln!(
        "taskset {}\nstdout: {}\nstderr: {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset").arg("-V").output().is_ok()
}

/// A server pinned to CPU 1, for the tests that pin rbench to CPU 0 (None: the machine cannot).
fn server_on_cpu_1() -> Option<(std::sync::MutexGuard<'static, ()>, Deployment)> {
    if !two_cpus() {
        eprintln!("skipped: needs two CPUs and taskset");
        return None;
    }
    let turn = serial();
    let dep = spawn_standalone(&[]);
    pin(dep.node_pid(0).unwrap(), 1);
    Some((turn, dep))
}

#[test]
fn rbench_sharing_its_core_with_a_busy_loop_is_client_bound() {
    let Some((_turn, dep)) = server_on_cpu_1() else {
        return;
    };
    let hog = Pinned(
        Command::new("taskset")
            .args(["-c", "0", "sh", "-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    let dir = TempDir::new("obs-client");
    let mut args = target_args(&dep);
    args.extend(strings(&[
        "-t",
        "get",
        "--duration",
        "3",
        "--clients",
        "50",
        "--threads",
        "1",
        "--out",
        &dir.arg(),
    ]));
    pinned_run(0, &args);
    drop(hog);
    let row = &long(dir.path())[0];
    assert_eq!(row.bound, "client", "{row:?}");
    assert!(
        row.bound_why.starts_with("rbench's busiest thread was"),
        "{row:?}"
    );
}

#[test]
fn a_cpu_heavy_command_on_the_servers_core_is_server_bound() {
    let Some((_turn, dep)) = server_on_cpu_1() else {
        return;
    };
    let mut r = Redis::connect(dep.addr());
    let items: Vec<String> = (0..5000).map(|i| ((i * 7919) % 5000).to_string()).collect();
    let mut cmd = vec!["RPUSH".to_string(), "biglist".to_string()];
    cmd.extend(items);
    r.cmd(&cmd);
    let dir = TempDir::new("obs-server");
    let mut args = target_args(&dep);
    args.extend(strings(&[
        "--command",
        "sort=SORT biglist LIMIT 0 1",
        "--duration",
        "3",
        "--clients",
        "8",
        "--out",
        &dir.arg(),
    ]));
    pinned_run(0, &args);
    let row = &long(dir.path())[0];
    assert_eq!(row.bound, "server", "{row:?}");
    // The server's own time per SORT is most of what the client waited.
    let us: f64 = row.server_us_per_call.parse().unwrap();
    assert!(us > 100.0, "{row:?}");
}

#[test]
fn an_open_loop_run_at_a_third_of_capacity_is_neither() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("obs-capacity");
    run_ok(&dep, &["-t", "set", "--duration", "2", "--out", &dir.arg()]);
    let capacity: f64 = long(dir.path())[0].rps.parse().unwrap();
    let rate = format!("{:.0}", capacity * 0.3);
    let dir = TempDir::new("obs-neither");
    run_ok(
        &dep,
        &[
            "-t",
            "set",
            "--duration",
            "3",
            "--rps",
            &rate,
            "--out",
            &dir.arg(),
        ],
    );
    let row = &long(dir.path())[0];
    assert_eq!(row.bound, "neither", "{row:?}");
}

#[test]
fn a_server_refusing_info_runs_as_before_with_unknowns_and_a_note() {
    let dep = spawn_standalone(&[]);
    let mut r = Redis::connect(dep.addr());
    r.cmd(&[
        "ACL", "SETUSER", "bench", "on", ">pw", "~*", "&*", "+@all", "-info", "-config", "-latency",
    ]);
    let dir = TempDir::new("obs-acl");
    let out = run_ok(
        &dep,
        &[
            "--user",
            "bench",
            "-a",
            "pw",
            "-t",
            "set",
            "-n",
            "5000",
            "--out",
            &dir.arg(),
            "--set-latency-monitor",
            "1",
        ],
    );
    let row = &long(dir.path())[0];
    assert_eq!(row.ok, "5000");
    assert_eq!(
        (row.server_us_per_call.as_str(), row.server_cpu.as_str()),
        ("", ""),
        "{row:?}"
    );
    assert!(out.stdout.contains("note: "), "{}", out.stdout);
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn a_master_killed_mid_run_is_missing_in_its_seconds_and_the_lag_is_the_servers() {
    // A request in flight on the killed master's connection is lost (conn_lost, as documented):
    // this test is about the server's seconds, so a few such losses are allowed.
    let _turn = serial();
    let dir = TempDir::new("obs-cluster");
    let profile = write_file_arg(
        &dir,
        "kill.toml",
        "[defaults]\nmix = \"set=1,get=1\"\nclients = 20\nkeyspace = 10000\nrps = 2000\nduration = \"6s\"\n\
         max_error_rate = \"1%\"\n\n\
         [[fault]]\nat = \"1500ms\"\naction = \"kill-master\"\n\n\
         [[target]]\nname = \"c\"\nspawn = \"cluster\"\nmasters = 3\nreplicas = 1\n",
    );
    let out_dir = dir.join("out");
    let args = strings(&[
        "-c",
        &profile,
        "-q",
        "--out",
        &out_dir.display().to_string(),
    ]);
    let out = run_rbench(&args);
    log_run(&args.join(" "), &out);
    out.assert_ok();
    let server = rows::<ServerTimelineRow>(&file(&out_dir, "server-timeline-"));
    let nodes: std::collections::BTreeSet<&str> = server.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(
        nodes.len(),
        6,
        "every node sampled, replicas included: {nodes:?}"
    );
    let missing: Vec<&ServerTimelineRow> = server.iter().filter(|s| s.missing == "true").collect();
    assert!(!missing.is_empty(), "{server:#?}");
    for s in &missing {
        assert!(
            s.cpu_cores.is_empty() && s.commands.is_empty() && s.used_memory.is_empty(),
            "{s:?}"
        );
        assert!(s.elapsed_s.parse::<u32>().unwrap() >= 2, "{s:?}");
    }
    // A schedule missed during the failover is the server's: the warning says so, and gives no
    // advice about clients.
    for line in out.stderr.lines().filter(|l| l.contains("achieved")) {
        assert!(line.contains("the server fell behind"), "{line}");
        assert!(!line.contains("add --clients"), "{line}");
    }
    for row in long(&out_dir) {
        assert_ne!(row.bound, "client", "{row:?}");
    }
}
