//! The fault schedule (`rbench::fault::run_schedule`) against real, locally spawned servers: on a
//! 3-master, 1-replica cluster, kill-master (its replica takes over), restart (the killed node
//! rejoins as a replica), failover, pause and resume, debug-sleep and reshard, each with its outage
//! measured; on a standalone server, debug-sleep and the errors of actions it cannot take; faults
//! the run does not reach are not carried out. Every server is gone when its deployment drops.

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rbench::cluster::slot::slot_of;
use rbench::cluster::topology::parse_redirect;
use rbench::cluster::{Route, Topology};
use rbench::conn::{Auth, Conn};
use rbench::deploy::{Deployment, Role};
use rbench::fault::{Fault, FaultEnv, FaultOutcome, parse_fault, run_schedule};
use rbench::net::Dialer;
use rbench::resp::Value;
use support::{spawn_cluster, spawn_standalone, wait_for};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn faults(specs: &[&str]) -> Vec<Fault> {
    specs
        .iter()
        .map(|s| parse_fault(s).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

/// The route a run would have to `dep`: the discovered cluster, or the server.
fn route_to(dep: &Deployment) -> Route {
    if !dep.is_cluster() {
        return Route::Single(rbench::net::Peer::Tcp(dep.addr()));
    }
    let topo = rt()
        .block_on(Topology::discover(
            &[dep.addr()],
            &Auth::default(),
            &Dialer::default(),
        ))
        .expect("discover the cluster");
    Route::Cluster(Arc::new(topo))
}

/// Runs `specs` as a run that started measuring now and ends after `run_for`.
fn schedule(
    dep: Option<&mut Deployment>,
    route: Route,
    specs: &[&str],
    run_for: Duration,
) -> Vec<FaultOutcome> {
    let env = FaultEnv {
        deployment: dep,
        route,
        auth: Auth::default(),
        dial: Dialer::default(),
    };
    let started = OnceLock::new();
    let began = Instant::now();
    let _ = started.set(began);
    let stop = rbench::stop::Stop::new();
    let mut ticks = 0u32;
    let mut last_tick = Instant::now();
    let mut longest_gap = Duration::ZERO;
    let out = run_schedule(&faults(specs), env, &started, &stop, &mut || {
        ticks += 1;
        longest_gap = longest_gap.max(last_tick.elapsed());
        last_tick = Instant::now();
        if began.elapsed() >= run_for {
            stop.request();
        }
    });
    assert!(ticks > 0);
    // Restart blocks for the server's start: allow it a little more than 100 ms.
    assert!(
        longest_gap < Duration::from_millis(500),
        "no tick for {longest_gap:?}"
    );
    // Shown with --nocapture, and on failure.
    eprintln!("{specs:?} -> {out:?}");
    out
}

const LONG: Duration = Duration::from_secs(60);

/// The node an outcome names, as its address.
fn node_of(o: &FaultOutcome) -> SocketAddr {
    o.node
        .split(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {o:?}"))
}

fn role(dep: &Deployment, i: usize) -> String {
    let out = dep.cli(i, &["ROLE"]).unwrap_or_default();
    out.lines().next().unwrap_or("").to_string()
}

/// Slots owned by each master, by address, as node `i` sees them.
fn slot_counts(dep: &Deployment, i: usize) -> Vec<(SocketAddr, usize)> {
    let text = dep.cli(i, &["CLUSTER", "NODES"]).expect("CLUSTER NODES");
    let mut counts = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || !f[2].contains("master") {
            continue;
        }
        let addr: SocketAddr = f[1].split('@').next().unwrap().parse().unwrap();
        let n: usize = f[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .map(|s| match s.split_once('-') {
                Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
                None => 1,
            })
            .sum();
        if n > 0 {
            counts.push((addr, n));
        }
    }
    counts.sort();
    counts
}

/// A key whose slot is `slot`.
fn key_in(slot: u16, n: usize) -> String {
    (0u32..)
        .map(|t| t.to_string())
        .find(|t| slot_of(t.as_bytes()) == slot)
        .map(|t| format!("k{n}:{{{t}}}"))
        .unwrap()
}

/// One command on the cluster, sent where the slot lives (following MOVED).
async fn on_cluster(start: SocketAddr, args: &[&[u8]]) -> Value {
    let mut addr = start;
    for _ in 0..5 {
        let mut c = Conn::connect(&Dialer::default(), addr, &Auth::default(), 4096)
            .await
            .expect("connect");
        let v = c.request(args).await.expect("request");
        match &v {
            Value::Error(e) if e.starts_with("MOVED") => {
                addr = parse_redirect(e.as_bytes(), addr.ip()).unwrap().1;
            }
            _ => return v,
        }
    }
    panic!("too many redirects for {args:?}")
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Drops `dep` and checks that none of its servers (relaunched ones included) is left.
fn drop_and_check(dep: Deployment) {
    let pids: Vec<u32> = (0..dep.nodes().len())
        .filter_map(|i| dep.node_pid(i))
        .collect();
    let dir = dep.temp_dir().to_path_buf();
    drop(dep);
    for pid in pids {
        assert!(!pid_alive(pid), "server {pid} survived the deployment");
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

fn assert_done(o: &FaultOutcome) {
    assert!(o.error.is_none(), "{o:?}");
    assert!(o.at_s >= 0.0 && o.at_s < 30.0, "{o:?}");
    if let (Some(out), Some(rec)) = (o.outage_s, o.recovered_at_s) {
        assert!(rec >= o.at_s && out >= 0.0, "{o:?}");
    }
}

#[test]
fn faults_on_a_spawned_cluster_are_carried_out_and_measured() {
    let mut dep = spawn_cluster(&[]);
    let route = route_to(&dep);

    // kill-master, then restart: the replica takes over; the old master comes back as a replica.
    let out = schedule(
        Some(&mut dep),
        route.clone(),
        &["10ms:kill-master", "7s:restart"],
        LONG,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    let (kill, restart) = (&out[0], &out[1]);
    assert_done(kill);
    assert_done(restart);
    assert_eq!(kill.action, "kill-master");
    assert!(
        kill.node.starts_with("127.0.0.1:") && kill.node.ends_with("(master)"),
        "{kill:?}"
    );
    let outage = kill.outage_s.expect("the slots answered again");
    assert!(outage > 0.5 && outage < 10.0, "{kill:?}");
    let killed = dep.node_index(node_of(kill)).expect("a node of ours");
    let masters = slot_counts(&dep, (killed + 1) % 6);
    assert_eq!(masters.len(), 3, "{masters:?}");
    let promoted = masters
        .iter()
        .filter_map(|(a, _)| dep.node_index(*a))
        .any(|i| dep.nodes()[i].role == Role::Replica);
    assert!(promoted, "no replica became master: {masters:?}");

    assert_eq!(restart.action, "restart");
    assert_eq!(node_of(restart), node_of(kill));
    assert!(restart.outage_s.is_some(), "{restart:?}");
    assert!(dep.is_alive(killed));
    wait_for(
        "the restarted node to be a replica",
        Duration::from_secs(10),
        || role(&dep, killed) == "slave",
    );
    assert!(restart.node.ends_with("(replica)"), "{restart:?}");

    // failover: a replica takes over its master's slots on request.
    let out = schedule(Some(&mut dep), route.clone(), &["10ms:failover"], LONG);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_done(&out[0]);
    assert!(out[0].node.ends_with("(replica)"), "{out:?}");
    assert!(out[0].outage_s.is_some_and(|s| s < 10.0), "{out:?}");
    let taken_over = dep.node_index(node_of(&out[0])).unwrap();
    assert_eq!(role(&dep, taken_over), "master");

    pause_resume_sleep_and_reshard(&mut dep, &route);
    drop_and_check(dep);
}

/// The rest of the cluster test, on the same cluster.
fn pause_resume_sleep_and_reshard(dep: &mut Deployment, route: &Route) {
    // pause then resume, within the node timeout: no failover, the node answers again.
    let out = schedule(
        Some(dep),
        route.clone(),
        &["10ms:pause", "800ms:resume"],
        LONG,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_done(&out[0]);
    assert_done(&out[1]);
    assert_eq!(node_of(&out[0]), node_of(&out[1]));
    assert!(out[1].outage_s.is_some_and(|s| s < 2.0), "{out:?}");
    let paused = dep.node_index(node_of(&out[0])).unwrap();
    assert!(!dep.is_paused(paused));
    assert_eq!(dep.cli(paused, &["PING"]).unwrap(), "PONG");

    let out = schedule(Some(dep), route.clone(), &["10ms:debug-sleep=1"], LONG);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_done(&out[0]);
    assert_eq!(out[0].action, "debug-sleep 1s");
    let outage = out[0].outage_s.expect("recovered");
    assert!((0.5..5.0).contains(&outage), "{out:?}");

    reshard_moves_slots_with_their_keys(dep, route);

    // kill-node takes a replica by default: no slot goes down; restart brings it back.
    let out = schedule(
        Some(dep),
        route.clone(),
        &["10ms:kill-node", "300ms:restart"],
        LONG,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_done(&out[0]);
    assert_done(&out[1]);
    assert!(out[0].node.ends_with("(replica)"), "{out:?}");
    assert_eq!(out[0].outage_s, Some(0.0), "{out:?}");
    assert_eq!(node_of(&out[0]), node_of(&out[1]));
    assert!(out[1].node.ends_with("(replica)"), "{out:?}");
    let back = dep.node_index(node_of(&out[1])).unwrap();
    assert_eq!(role(dep, back), "slave");
}

fn reshard_moves_slots_with_their_keys(dep: &mut Deployment, route: &Route) {
    let live = (0..6).find(|&i| dep.is_alive(i)).unwrap();
    let before = slot_counts(dep, live);
    // Keys in the first 60 slots of every slot range: whichever master gives slots, they move.
    let starts = range_starts(dep, live);
    assert!(starts.len() >= 3, "{starts:?}");
    let keys: Vec<String> = starts
        .iter()
        .flat_map(|&s| (0..60u16).map(move |d| (s.saturating_add(d), d)))
        .filter(|&(slot, _)| slot < 16384)
        .map(|(slot, d)| key_in(slot, usize::from(d)))
        .collect();
    let seed = dep.node_addr(live).unwrap();
    let rt = rt();
    for k in &keys {
        let v = rt.block_on(on_cluster(seed, &[b"SET", k.as_bytes(), k.as_bytes()]));
        assert_eq!(v, Value::Simple("OK".into()), "{k}");
    }

    let out = schedule(Some(dep), route.clone(), &["10ms:reshard=50"], LONG);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_done(&out[0]);
    assert_eq!(out[0].action, "reshard 50");
    assert!(out[0].outage_s.is_some_and(|s| s < 5.0), "{out:?}");
    assert!(out[0].recovered_at_s.is_some(), "{out:?}");

    // The last SETSLOT reaches the node we ask (a replica, maybe) by gossip: give it a moment.
    let moved = || {
        let after = slot_counts(dep, live);
        let mut gained: Vec<i64> = before
            .iter()
            .zip(&after)
            .filter(|((a, _), (b, _))| a == b)
            .map(|((_, n), (_, m))| *m as i64 - *n as i64)
            .collect();
        gained.sort();
        (gained, after)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (gained, after) = loop {
        let seen = moved();
        if seen.0 == [-50, 0, 50] || std::time::Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(gained, vec![-50, 0, 50], "{before:?} -> {after:?}");
    for k in &keys {
        let v = rt.block_on(on_cluster(seed, &[b"GET", k.as_bytes()]));
        assert_eq!(v, Value::Bulk(k.clone().into_bytes()), "{k}");
    }
}

/// The first slot of every master's slot ranges, as node `i` sees them.
fn range_starts(dep: &Deployment, i: usize) -> Vec<u16> {
    let text = dep.cli(i, &["CLUSTER", "NODES"]).expect("CLUSTER NODES");
    text.lines()
        .flat_map(|l| l.split_whitespace().skip(8))
        .filter(|r| !r.starts_with('['))
        .filter_map(|r| r.split('-').next()?.parse().ok())
        .collect()
}

#[test]
fn on_a_standalone_server_debug_sleep_works_and_cluster_actions_say_why_not() {
    let mut dep = spawn_standalone(&[]);
    let route = route_to(&dep);
    let out = schedule(
        Some(&mut dep),
        route,
        &["10ms:debug-sleep=1", "1500ms:failover", "1600ms:reshard=10"],
        LONG,
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert_done(&out[0]);
    assert_eq!(out[0].node, format!("{} (master)", dep.addr()));
    let outage = out[0].outage_s.expect("recovered");
    assert!((0.5..5.0).contains(&outage), "{out:?}");
    assert_eq!(out[1].error.as_deref(), Some("failover needs a cluster"));
    assert_eq!(out[2].error.as_deref(), Some("reshard needs a cluster"));
    assert!(out[1].at_s >= 1.5, "{out:?}");
    drop_and_check(dep);
}

#[test]
fn faults_the_run_does_not_reach_are_not_carried_out() {
    let mut dep = spawn_standalone(&[]);
    let route = route_to(&dep);
    let began = Instant::now();
    let out = schedule(
        Some(&mut dep),
        route,
        &["10ms:pause", "300ms:resume", "5s:kill-node"],
        Duration::from_millis(800),
    );
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(out.len(), 2, "{out:?}");
    // Pausing the only server stops its writes until the resume: the probe gives up then.
    assert_done(&out[0]);
    assert_eq!(out[0].outage_s, None, "{out:?}");
    assert_done(&out[1]);
    assert!(
        dep.is_alive(0),
        "the kill after the run's end was carried out"
    );
    assert_eq!(dep.cli(0, &["PING"]).unwrap(), "PONG");
    drop_and_check(dep);
}

#[test]
fn signalling_faults_without_a_spawned_deployment_are_refused() {
    let dep = spawn_standalone(&[]);
    let route = route_to(&dep);
    let out = schedule(None, route, &["10ms:kill-master", "50ms:restart"], LONG);
    assert_eq!(out.len(), 2, "{out:?}");
    for o in &out {
        let e = o.error.as_deref().unwrap_or("");
        assert!(e.contains("needs a deployment rbench spawned"), "{o:?}");
        assert_eq!((o.outage_s, o.recovered_at_s), (None, None));
    }
    assert_eq!(dep.cli(0, &["PING"]).unwrap(), "PONG");
    let out = schedule(
        None,
        Route::Single(rbench::net::Peer::Tcp(dep.addr())),
        &["10ms:restart"],
        LONG,
    );
    assert!(out[0].error.is_some(), "{out:?}");
    drop_and_check(dep);
}

#[test]
fn restart_without_a_killed_node_and_a_bad_node_index_are_errors() {
    let mut dep = spawn_standalone(&[]);
    let route = route_to(&dep);
    let out = schedule(
        Some(&mut dep),
        route,
        &["10ms:restart", "20ms:kill-node=7", "30ms:resume"],
        LONG,
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        out[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no node was killed"),
        "{out:?}"
    );
    assert!(
        out[1].error.as_deref().unwrap_or("").contains("no node 7"),
        "{out:?}"
    );
    assert!(
        out[2]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no node is paused"),
        "{out:?}"
    );
    assert!(dep.is_alive(0));
    drop_and_check(dep);
}
