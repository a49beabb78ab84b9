//! The server sampler (`rbench::observe`) against real servers: a standalone server's seconds and
//! the load's per-command figures (the sampler's own INFO taken out), `appendfsync always` fsyncs
//! seen by the LATENCY monitor, an AOF rewrite's start and end in the seconds they happened, an ACL
//! user without INFO (notes, unknown values, one attempt), and a 3+3 cluster where a killed replica
//! is missing, never zeros.

use crate::support;

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rbench::cluster::{Route, Topology};
use rbench::conn::Auth;
use rbench::deploy::Role;
use rbench::net::{Dialer, Peer};
use rbench::observe::{Sampler, SamplerOpts, ServerSecond, ServerWindow};
use support::{Expect, Redis, spawn_cluster, spawn_standalone, wait_for};

/// A sampler on `route`, and the clock a runner would set.
fn start(
    route: Route,
    auth: Auth,
    opts: SamplerOpts,
) -> (Sampler, Arc<OnceLock<Instant>>, Receiver<ServerSecond>) {
    let (tx, rx) = mpsc::channel();
    let clock = Arc::new(OnceLock::new());
    let sampler = Sampler::start(route, auth, Dialer::default(), opts, clock.clone(), tx);
    (sampler, clock, rx)
}

fn opts(interval_ms: u64, reset_stats: bool, latency_monitor: Option<u32>) -> SamplerOpts {
    SamplerOpts {
        interval: Duration::from_millis(interval_ms),
        reset_stats,
        latency_monitor,
    }
}

fn single(addr: std::net::SocketAddr) -> Route {
    Route::Single(Peer::Tcp(addr))
}

/// Starts the window now; returns its start and its wall-clock time (unix seconds).
fn start_window(clock: &OnceLock<Instant>) -> (Instant, f64) {
    let t0 = Instant::now();
    clock.set(t0).expect("the clock is set once");
    (t0, unix_now())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits until the sampler's baseline INFO has run on the server at `addr` (its connection's last
/// command is `info`), so what the test sends next falls inside the window.
fn wait_baseline(addr: std::net::SocketAddr) {
    let mut r = Redis::connect(addr);
    wait_for(
        "the sampler's baseline INFO",
        Duration::from_secs(10),
        || r.cmd(&["CLIENT", "LIST"]).string().contains("cmd=info"),
    );
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Sends SETs one at a time until `until`; returns how many were acknowledged and their mean
/// round trip.
fn write_until(addr: std::net::SocketAddr, until: Instant, value_len: usize) -> (u64, Duration) {
    std::thread::spawn(move || {
        let mut r = Redis::connect(addr);
        let value = "v".repeat(value_len);
        let (mut n, began) = (0u64, Instant::now());
        while Instant::now() < until {
            r.cmd(&["SET", &format!("key:{}", n % 1000), &value]).ok();
            n += 1;
        }
        (n, began.elapsed() / n.max(1) as u32)
    })
    .join()
    .expect("the writer")
}

/// `field` of `cmdstat_<name>` as the server reports it now.
fn cmdstat(addr: std::net::SocketAddr, name: &str, field: &str) -> u64 {
    let info = Redis::connect(addr).cmd(&["INFO", "commandstats"]).string();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:")))
        .unwrap_or_default();
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn check_rows(rows: &[ServerSecond], w: &ServerWindow, nodes: usize) {
    assert_eq!(
        rows.len(),
        w.seconds * nodes,
        "one row per node per second: {rows:#?}"
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.sec, i / nodes + 1, "rows in order: {row:?}");
        assert!(row.span_s > 0.0, "{row:?}");
    }
}

#[test]
fn standalone_seconds_and_the_loads_commands() {
    let dep = spawn_standalone(&[]);
    let (sampler, clock, rx) = start(
        single(dep.addr()),
        Auth::default(),
        opts(1000, true, Some(1)),
    );
    let (t0, _) = start_window(&clock);
    wait_baseline(dep.addr());
    let (sent, _) = write_until(dep.addr(), t0 + Duration::from_millis(3300), 16);
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    assert!(w.seconds >= 3, "{w:#?}");
    check_rows(&rows, &w, 1);
    assert!(w.notes.is_empty(), "{:?}", w.notes);
    let set = &w.commands["set"];
    assert_eq!(
        set.calls, sent,
        "the SETs the test sent inside the window: {w:#?}"
    );
    assert_eq!((set.failed, set.rejected), (0, 0));
    assert!(set.usec > 0 && set.usec_per_call().is_some());
    // Stats were reset before the window: latencystats are the window's own.
    assert!(set.p50_us.is_some() && set.p99_us >= set.p50_us, "{set:?}");
    assert!(
        w.commands.get("info").is_none_or(|c| c.calls == 0),
        "the sampler's INFO is not the load's: {:?}",
        w.commands
    );
    assert!(!w.commands.contains_key("config|set"), "{:?}", w.commands);
    // Per second, the server's commands less the sampler's: the test's SETs and the few CLIENT
    // LISTs that waited for the baseline.
    let per_second: u64 = rows.iter().map(|r| r.commands.unwrap()).sum();
    assert!(
        (sent..=sent + 20).contains(&per_second),
        "{per_second} vs {sent} SETs"
    );
    let full = &rows[..rows.len() - 1];
    for row in full {
        assert!(!row.missing && row.role == "master", "{row:?}");
        assert!(row.commands.is_some_and(|c| c > 0), "{row:?}");
        assert!(row.cpu_cores.is_some() && row.main_cpu.is_some(), "{row:?}");
        assert!(
            row.used_memory.is_some() && row.clients.is_some(),
            "{row:?}"
        );
        assert_eq!(
            (row.evicted, row.forks, row.lag_bytes),
            (Some(0), Some(0), None),
            "{row:?}"
        );
    }
    let node = &w.nodes[..];
    assert_eq!(node.len(), 1);
    assert_eq!(node[0].node, dep.addr().to_string());
    assert_eq!((node[0].missing_seconds, node[0].forks), (0, Some(0)));
    assert!(
        node[0].cpu_cores.is_some() && node[0].main_cpu_peak.is_some(),
        "{node:?}"
    );
    assert!(node[0].peak_memory.is_some());
}

#[test]
fn fsync_always_shows_in_the_latency_monitor() {
    let dep = spawn_standalone(&["--appendonly", "yes", "--appendfsync", "always"]);
    let (sampler, clock, rx) = start(
        single(dep.addr()),
        Auth::default(),
        opts(1000, true, Some(1)),
    );
    let (t0, wall0) = start_window(&clock);
    wait_baseline(dep.addr());
    let (sent, rtt) = write_until(dep.addr(), t0 + Duration::from_millis(2300), 100);
    let w = sampler.finish();
    let wall_end = unix_now();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 1);
    assert_eq!(w.commands["set"].calls, sent);
    // What the sampler reports is what the server's monitor holds for the window.
    let history = Redis::connect(dep.addr()).cmd(&["LATENCY", "HISTORY", "aof-fsync-always"]);
    let in_window: Vec<i64> = history
        .array()
        .into_iter()
        .map(|e| e.array().remove(0).int())
        .filter(|&ts| ts as f64 >= wall0.floor() && ts as f64 <= wall_end)
        .collect();
    let fsyncs: Vec<_> = w
        .events
        .iter()
        .filter(|e| e.kind == "aof-fsync-always")
        .collect();
    assert_eq!(
        fsyncs.len(),
        in_window.len(),
        "{:?} vs {in_window:?}",
        w.events
    );
    assert!(
        fsyncs
            .iter()
            .all(|e| e.latency_ms >= Some(1) && e.at_s >= 0.0),
        "{fsyncs:?}"
    );
    let delayed = w.nodes[0]
        .delayed_fsync
        .expect("Redis 7 reports aof_delayed_fsync");
    // A SET's round trip of 2 ms or more is mostly its fsync: some must have exceeded the 1 ms
    // threshold. (A disk that syncs faster gives the monitor nothing to record.)
    eprintln!(
        "mean SET round trip with appendfsync always: {rtt:?}; fsync events {}",
        fsyncs.len()
    );
    if rtt >= Duration::from_millis(2) {
        assert!(!fsyncs.is_empty() || delayed > 0, "{w:#?}");
    }
}

#[test]
fn an_aof_rewrite_starts_and_ends_in_its_seconds() {
    let dep = spawn_standalone(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut r = Redis::connect(dep.addr());
    let value = "x".repeat(100);
    for chunk in 0..20 {
        let cmds: Vec<Vec<String>> = (0..10_000)
            .map(|i| vec!["SET".into(), format!("k:{chunk}:{i}"), value.clone()])
            .collect();
        r.pipeline(&cmds);
    }
    let (sampler, clock, rx) = start(single(dep.addr()), Auth::default(), opts(1000, false, None));
    let (t0, _) = start_window(&clock);
    wait_baseline(dep.addr());
    // Well inside second 2: tick 1 has sampled, tick 2 has not.
    sleep_until(t0 + Duration::from_millis(1400));
    let reply = r.cmd(&["BGREWRITEAOF"]).string();
    assert!(reply.contains("rewriting started"), "{reply}");
    wait_for("the rewrite to end", Duration::from_secs(30), || {
        r.cmd(&["INFO", "persistence"])
            .string()
            .contains("aof_rewrite_in_progress:0")
    });
    let done_sec = t0.elapsed().as_secs() as usize + 1;
    sleep_until(Instant::now() + Duration::from_millis(1100));
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 1);
    let sec_of = |kind: &str| {
        let secs: Vec<usize> = rows
            .iter()
            .filter(|r| r.events.iter().any(|e| e == kind))
            .map(|r| r.sec)
            .collect();
        assert_eq!(secs.len(), 1, "one {kind}: {rows:#?}");
        secs[0]
    };
    assert_eq!(sec_of("aof-rewrite-start"), 2, "{rows:#?}");
    let end = sec_of("aof-rewrite-end");
    assert!(
        (2..=done_sec + 1).contains(&end),
        "ended in second {end} (done by {done_sec})"
    );
    assert_eq!(sec_of("fork"), 2);
    let node = &w.nodes[0];
    assert_eq!(
        (node.aof_rewrites, node.forks),
        (Some(1), Some(1)),
        "{node:?}"
    );
    let kinds: Vec<_> = w.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"aof-rewrite-start") && kinds.contains(&"aof-rewrite-end"),
        "{kinds:?}"
    );
    assert!(rows.iter().any(|r| r.aof_rewrite == Some(false)));
}

#[test]
fn a_user_without_info_gets_notes_and_unknowns() {
    let dep = spawn_standalone(&[]);
    Redis::connect(dep.addr())
        .cmd(&[
            "ACL", "SETUSER", "bench", "on", ">pw", "+@all", "-info", "-config", "-latency",
        ])
        .ok();
    let auth = Auth {
        user: Some("bench".into()),
        password: Some("pw".into()),
        ..Auth::default()
    };
    let (sampler, clock, rx) = start(single(dep.addr()), auth, opts(250, true, Some(1)));
    let (t0, _) = start_window(&clock);
    sleep_until(t0 + Duration::from_millis(1100));
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 1);
    assert!(w.seconds >= 4, "{w:#?}");
    let notes = w.notes.join("\n");
    for what in [
        "INFO refused",
        "CONFIG RESETSTAT refused",
        "latency-monitor-threshold refused",
    ] {
        assert!(notes.contains(what), "{what}: {notes}");
    }
    assert!(notes.contains("NOPERM"), "the server's words: {notes}");
    for row in &rows {
        assert!(!row.missing, "it answered, it refused: {row:?}");
        assert_eq!(
            (row.cpu_cores, row.used_memory, row.commands),
            (None, None, None),
            "{row:?}"
        );
    }
    assert!(w.commands.is_empty(), "{:?}", w.commands);
    assert_eq!(w.nodes[0].cpu_cores, None);
    // One attempt each, not one a second.
    let addr = dep.addr();
    assert_eq!(cmdstat(addr, "info", "rejected_calls"), 1);
    assert_eq!(cmdstat(addr, "config|resetstat", "rejected_calls"), 1);
    assert_eq!(cmdstat(addr, "config|set", "rejected_calls"), 1);
}

#[test]
fn a_killed_replica_is_missing_not_zero() {
    let mut dep = spawn_cluster(&[]);
    let topo = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(Topology::discover(
            &[dep.addr()],
            &Auth::default(),
            &Dialer::default(),
        ))
        .expect("discover the cluster");
    let route = Route::Cluster(Arc::new(topo));
    let (sampler, clock, rx) = start(route, Auth::default(), opts(1000, false, None));
    let (t0, _) = start_window(&clock);
    let victim = (0..dep.nodes().len())
        .find(|&i| dep.nodes()[i].role == Role::Replica)
        .expect("a replica");
    let victim_name = dep.nodes()[victim].addr.to_string();
    sleep_until(t0 + Duration::from_millis(1500));
    dep.kill_node(victim);
    sleep_until(t0 + Duration::from_millis(4300));
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 6);
    assert_eq!(
        w.nodes.len(),
        6,
        "every node, replicas included: {:?}",
        w.nodes
    );
    let mut names: Vec<_> = w.nodes.iter().map(|n| n.node.clone()).collect();
    names.sort();
    let mut expected: Vec<_> = dep.nodes().iter().map(|n| n.addr.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    let replicas = rows
        .iter()
        .filter(|r| r.sec == 1 && r.role == "replica")
        .count();
    assert_eq!(replicas, 3, "{rows:#?}");
    for row in &rows {
        let down = row.node == victim_name && row.sec >= 2;
        assert_eq!(row.missing, down, "{row:?}");
        if down {
            assert_eq!(
                (row.used_memory, row.cpu_cores, row.commands, row.clients),
                (None, None, None, None)
            );
            assert_eq!(row.role, "replica", "its last known role");
        } else {
            assert!(
                row.used_memory.is_some() && row.clients.is_some(),
                "{row:?}"
            );
        }
        if row.role == "replica" && !row.missing {
            assert!(row.lag_bytes.is_some() && row.lag_s.is_some(), "{row:?}");
        }
    }
    let missing_events: Vec<_> = rows
        .iter()
        .filter(|r| r.events.iter().any(|e| e == "node-missing"))
        .map(|r| (r.node.as_str(), r.sec))
        .collect();
    assert_eq!(missing_events, [(victim_name.as_str(), 2)]);
    let victim_window = w.nodes.iter().find(|n| n.node == victim_name).unwrap();
    assert_eq!(victim_window.missing_seconds, w.seconds - 1);
    assert!(
        w.notes.iter().any(|n| n.starts_with(&victim_name)),
        "{:?}",
        w.notes
    );
    // The replicas' replayed writes are not the load's: nothing was sent, nothing counted
    // (cluster gossip runs on the bus, not as commands).
    assert!(w.commands.keys().all(|k| k != "set"), "{:?}", w.commands);
}

#[test]
fn a_paused_server_is_missing_then_back() {
    let mut dep = spawn_standalone(&[]);
    let (sampler, clock, rx) = start(single(dep.addr()), Auth::default(), opts(1000, false, None));
    let (t0, _) = start_window(&clock);
    wait_baseline(dep.addr());
    // Paused across tick 2 (t0 + 2 s): its INFO times out; resumed well before tick 3.
    sleep_until(t0 + Duration::from_millis(1300));
    dep.pause_node(0).expect("SIGSTOP");
    sleep_until(t0 + Duration::from_millis(2600));
    dep.resume_node(0).expect("SIGCONT");
    sleep_until(t0 + Duration::from_millis(4300));
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 1);
    let missing: Vec<usize> = rows.iter().filter(|r| r.missing).map(|r| r.sec).collect();
    assert_eq!(missing, [2], "{rows:#?}");
    assert_eq!(rows[1].events, ["node-missing"]);
    assert_eq!(rows[1].used_memory, None);
    assert_eq!(rows[2].events, ["node-back"]);
    // Back after a gap: its gauges are known, one second's deltas are not.
    assert!(
        rows[2].used_memory.is_some() && rows[2].commands.is_none(),
        "{:?}",
        rows[2]
    );
    assert!(rows[3].commands.is_some(), "{:?}", rows[3]);
    assert_eq!(w.nodes[0].missing_seconds, 1);
    assert!(
        w.notes.iter().any(|n| n.contains("no answer in 1 of")),
        "{:?}",
        w.notes
    );
}

#[test]
fn no_server_and_no_window() {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], support::free_port()));
    // Finished before the window started: nothing sampled, said so, at once.
    let (sampler, _clock, rx) = start(single(addr), Auth::default(), opts(1000, true, Some(1)));
    let w = sampler.finish();
    assert_eq!((w.seconds, w.nodes.len()), (0, 1), "{w:#?}");
    assert!(
        w.notes.iter().any(|n| n.contains("never started")),
        "{:?}",
        w.notes
    );
    assert!(rx.try_iter().next().is_none());
    // Nothing listening: every second missing, none zero, one note.
    let (sampler, clock, rx) = start(single(addr), Auth::default(), opts(200, false, None));
    let (t0, _) = start_window(&clock);
    sleep_until(t0 + Duration::from_millis(700));
    let w = sampler.finish();
    let rows: Vec<ServerSecond> = rx.try_iter().collect();
    check_rows(&rows, &w, 1);
    assert!(
        rows.iter()
            .all(|r| r.missing && r.used_memory.is_none() && r.role.is_empty())
    );
    assert_eq!(w.nodes[0].missing_seconds, w.seconds);
    assert_eq!(rows[0].events, ["node-missing"]);
    assert!(rows[1..].iter().all(|r| r.events.is_empty()));
    assert_eq!(w.notes.len(), 1, "{:?}", w.notes);
    assert!(w.notes[0].starts_with(&addr.to_string()), "{:?}", w.notes);
}
