//! rbench --cluster against real, locally spawned 3-master/3-replica clusters: every core test routes
//! by slot with no redirects, slot hashing agrees with the server, a slot migrated mid-run is followed
//! (ASK, then MOVED) without losing requests, and a master killed mid-run fails over with errors
//! counted and throughput recovered.
//!
//! Clusters are spawned in parallel, but the load phases run one at a time (a 2-core machine).

use crate::support;

use std::time::{Duration, Instant};

use rbench::cluster::slot::slot_of;
use rbench::deploy::{Deployment, Role};

use rbench::resp::Value;
use support::{Expect, Redis, read_results, read_timeline};
use support::{LoggedRun, TempDir, parse_quiet_line, rbench, results_csv, serial};
use support::{dbsize, master_indexes, node_info_field};

const CORE_TESTS: [&str; 17] = [
    "set",
    "get",
    "incr",
    "lpush",
    "rpush",
    "lpop",
    "rpop",
    "sadd",
    "hset",
    "spop",
    "zadd",
    "zpopmin",
    "lrange_100",
    "xadd",
    "mset",
    "ping_inline",
    "ping_mbulk",
];

fn spawn_cluster() -> Deployment {
    let t = Instant::now();
    let dep = support::spawn_cluster(&[]);
    eprintln!("cluster up in {:.1?}", t.elapsed());
    dep
}

fn conn(dep: &Deployment, i: usize) -> Redis {
    Redis::connect(dep.nodes()[i].addr)
}

fn port(dep: &Deployment, i: usize) -> String {
    dep.nodes()[i].addr.port().to_string()
}

/// Non-destructive checks share one cluster.
#[test]
fn stable_cluster_routes_every_test_by_slot() {
    let dep = spawn_cluster();
    slot_hashing_agrees_with_the_server(&dep);
    let _turn = serial();
    set_run_reaches_every_master(&dep);
    every_core_test_works(&dep);
    a_node_without_cluster_flag_is_named(&dep);
}

/// Without --cluster, a cluster node is recognised from rbench's one CONFIG GET (cluster-enabled)
/// and the user told to pass --cluster.
fn a_node_without_cluster_flag_is_named(dep: &Deployment) {
    let p = port(dep, master_indexes(dep)[0]);
    let args = ["-h", "127.0.0.1", "-p", &p, "-t", "ping", "-n", "10", "-q"];
    let out = rbench(
        &[&args[..], &["--no-save"]].concat(),
        Duration::from_secs(30),
    );
    assert!(
        out.stderr
            .contains("is a Redis Cluster node: pass --cluster"),
        "{}",
        out.stderr
    );
}

/// `slot_of` equals CLUSTER KEYSLOT for plain keys, hash tags and the brace edge cases.
fn slot_hashing_agrees_with_the_server(dep: &Deployment) {
    let mut keys: Vec<Vec<u8>> = [
        "",
        "foo",
        "bar",
        "123456789",
        "{user1}.a",
        "{user1}.b",
        "user1",
        "foo{}bar",
        "foo{}{bar}",
        "{{a}}",
        "{{a}",
        "a{b}{c}",
        "{}",
        "{",
        "}",
        "}{",
        "}{a}",
        "a{",
        "{a",
        "x{ab}y",
        "{a}{b}",
        "{}{a}",
        "a{{}}b",
        "key:000000000042",
        "{migr}:000000000001",
        "mylist:000000099999",
        "{user1000}.following",
        "{user1000}.followers",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    keys.push(vec![0xff, b'{', 0x00, b'}', 0x80]);
    keys.push(b"sp ace{ \r\n }tail".to_vec());
    // Generated keys drawn from an alphabet heavy in braces.
    let alphabet = b"ab{}{}xy:0";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 12) as usize + (i % 3);
        let k: Vec<u8> = (0..len)
            .map(|j| alphabet[((x >> (j * 5)) % alphabet.len() as u64) as usize])
            .collect();
        keys.push(k);
    }
    let mut c = conn(dep, 0);
    let cmds: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|k| vec![b"CLUSTER".to_vec(), b"KEYSLOT".to_vec(), k.clone()])
        .collect();
    let replies = c.pipeline(&cmds);
    let mut mismatches = Vec::new();
    for (k, r) in keys.iter().zip(replies) {
        let server = r.int();
        let ours = i64::from(slot_of(k));
        if server != ours {
            mismatches.push(format!(
                "{:?}: server {server}, rbench {ours}",
                String::from_utf8_lossy(k)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "slot_of disagrees with CLUSTER KEYSLOT for {} of {} keys:\n{}",
        mismatches.len(),
        keys.len(),
        mismatches.join("\n")
    );
    // And through redis-cli itself, for a few.
    for k in ["foo", "{user1}.a", "foo{}bar", "{{a}}", "a{b}{c}"] {
        let cli = dep.cli(0, &["CLUSTER", "KEYSLOT", k]).expect("redis-cli");
        assert_eq!(cli, slot_of(k.as_bytes()).to_string(), "key {k}");
    }
    eprintln!("slot_of agrees with CLUSTER KEYSLOT on {} keys", keys.len());
}

/// A SET run spreads keys over every master, and needs no redirect (rbench's map is right).
fn set_run_reaches_every_master(dep: &Deployment) {
    let dir = TempDir::new("cluster-set");
    let json = dir.join("r.json");
    let n = 5000u64;
    let out = rbench(
        &[
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &port(dep, 0),
            "-t",
            "set",
            "-n",
            &n.to_string(),
            "-r",
            "10000",
            "--clients",
            "8",
            "-q",
            "--json",
            json.to_str().unwrap(),
            "--out",
            &dir.arg(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.stdout.lines().count(), 1, "one -q line");
    let (name, _, _) = parse_quiet_line(out.stdout.trim()).expect("a -q line");
    assert_eq!(name, "SET");
    let r = &read_results(&json)[0];
    assert_eq!((r.requests, r.ok, r.errors), (n, n, 0), "{r:?}");
    assert!(
        r.classes.is_empty(),
        "a stable cluster needs no redirects or retries: {r:?}"
    );
    assert_eq!(r.keyspace, 10000);
    let sizes: Vec<i64> = master_indexes(dep)
        .into_iter()
        .map(|i| dbsize(dep.nodes()[i].addr))
        .collect();
    let total: i64 = sizes.iter().sum();
    eprintln!("DBSIZE per master after {n} SETs over 10000 keys: {sizes:?}");
    assert!(total > 0 && total <= n as i64, "{sizes:?}");
    for s in &sizes {
        // Three masters with a third of the slots each: none may be (nearly) empty.
        assert!(*s * 10 > total, "a master got too few keys: {sizes:?}");
    }
    // The long CSV agrees: ok + errors == requests, and no error classes.
    let rows = results_csv(dir.path()).maps();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["requests"], n.to_string());
    assert_eq!(row["ok"], n.to_string());
    assert_eq!(row["errors"], "0");
    assert_eq!(row["error_classes"], "");
    assert_eq!(row["deployment"], "cluster");
    assert_eq!(row["masters"], "3");
}

/// Every core test name runs with --cluster: a well-formed -q line each, no errors, no redirects, and
/// the cluster's default keyspace.
fn every_core_test_works(dep: &Deployment) {
    let dir = TempDir::new("cluster-core");
    let json = dir.join("r.json");
    let n = 2000u64;
    let tests = CORE_TESTS.join(",");
    // Seeded from a replica: discovery must still find (and only use) the masters.
    let replica = (0..dep.nodes().len())
        .find(|&i| dep.nodes()[i].role == Role::Replica)
        .expect("a replica");
    let out = rbench(
        &[
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &port(dep, replica),
            "-t",
            &tests,
            "-n",
            &n.to_string(),
            "--clients",
            "8",
            "-P",
            "4",
            "-q",
            "--json",
            json.to_str().unwrap(),
            "--no-save",
        ],
        Duration::from_secs(90),
    );
    // The tests as printed: LRANGE_100 after the LPUSH that fills its lists, MSET with its keys.
    let fill = "LPUSH (needed to benchmark LRANGE)";
    let mut names: Vec<String> = Vec::new();
    for t in CORE_TESTS {
        match t {
            "lrange_100" => names.extend([fill.to_string(), "LRANGE_100".into()]),
            "mset" => names.push("MSET (10 keys)".into()),
            t => names.push(t.to_ascii_uppercase()),
        }
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), names.len(), "{}", out.stdout);
    for (line, t) in lines.iter().zip(&names) {
        let (name, rps, p50) =
            parse_quiet_line(line).unwrap_or_else(|| panic!("not a -q line: {line}"));
        assert_eq!(&name, t);
        assert!(rps > 0.0 && p50 > 0.0, "{line}");
    }
    let results = read_results(&json);
    assert_eq!(results.len(), names.len());
    // Keyless commands are spread over the masters as cheaply as keyed ones are routed: PING costs
    // the server less than GET, so it must not be far slower (a relative check, not a speed limit).
    let rps = |name: &str| results.iter().find(|r| r.test == name).unwrap().rps;
    for ping in ["PING_INLINE", "PING_MBULK"] {
        assert!(
            rps(ping) * 4.0 >= rps("GET"),
            "{ping} at {:.0} rps vs GET at {:.0} rps: keyless routing is the bottleneck",
            rps(ping),
            rps("GET")
        );
    }
    for (r, t) in results.iter().zip(&names) {
        assert_eq!(&r.test, t);
        // MSET's ten keys share a slot (no CROSSSLOT), as every other test's key is routed.
        assert_eq!((r.requests, r.ok, r.errors), (n, n, 0), "{r:?}");
        assert!(r.classes.is_empty(), "{t}: unexpected error events {r:?}");
        // The LRANGE test reads only the lists its fill filled, 600 elements each: N / (600 +
        // threads) lists.
        if t == "LRANGE_100" || t == fill {
            assert!((1..=n / 601).contains(&r.keyspace), "{r:?}");
        } else {
            assert_eq!(r.keyspace, 100_000, "cluster default keyspace");
        }
        assert_eq!(r.unanswered, 0, "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slot migration
// ---------------------------------------------------------------------------------------------

/// Owner of `slot` among the masters, from CLUSTER NODES.
fn slot_owner(dep: &Deployment, slot: u16) -> usize {
    let nodes = conn(dep, master_indexes(dep)[0])
        .cmd(&["CLUSTER", "NODES"])
        .string();
    for line in nodes.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 9 || !f[2].contains("master") {
            continue;
        }
        let owns = f[8..].iter().any(|r| {
            if r.starts_with('[') {
                return false;
            }
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
            (a..=b).contains(&slot)
        });
        if owns {
            let port: u16 = f[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap();
            return dep
                .nodes()
                .iter()
                .position(|n| n.addr.port() == port)
                .unwrap();
        }
    }
    panic!("no owner for slot {slot}:\n{nodes}");
}

/// Moves `slot` from `src` to `dst` the way redis-cli --cluster reshard does, slowly: the slot stays
/// MIGRATING/IMPORTING for `spread` while its keys move in small batches, then it is handed over.
/// Returns the number of keys moved.
fn migrate_slot(dep: &Deployment, slot: u16, src: usize, dst: usize, spread: Duration) -> usize {
    let mut s = conn(dep, src);
    let mut d = conn(dep, dst);
    let src_id = s.cmd(&["CLUSTER", "MYID"]).string();
    let dst_id = d.cmd(&["CLUSTER", "MYID"]).string();
    let slot_s = slot.to_string();
    let dst_port = port(dep, dst);
    d.cmd(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src_id])
        .ok();
    s.cmd(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst_id])
        .ok();
    let until = Instant::now() + spread;
    let mut moved = 0;
    loop {
        let batch = if Instant::now() < until { "20" } else { "1000" };
        let keys = s.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot_s, batch]).array();
        if keys.is_empty() && Instant::now() >= until {
            break;
        }
        if !keys.is_empty() {
            let mut args: Vec<Vec<u8>> =
                ["MIGRATE", "127.0.0.1", &dst_port, "", "0", "5000", "KEYS"]
                    .iter()
                    .map(|a| a.as_bytes().to_vec())
                    .collect();
            moved += keys.len();
            args.extend(keys.into_iter().map(|k| k.bytes()));
            let r = s.pipeline(&[args]).remove(0);
            assert!(
                matches!(&r, Value::Simple(t) if t == "OK" || t == "NOKEY"),
                "MIGRATE: {r:?}"
            );
        }
        if Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Hand over: the importing node first, then the source, then everyone else.
    d.cmd(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])
        .ok();
    s.cmd(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])
        .ok();
    for m in master_indexes(dep) {
        if m != src && m != dst {
            conn(dep, m)
                .cmd(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id])
                .ok();
        }
    }
    moved
}

fn wait_owner(dep: &Deployment, slot: u16, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while slot_owner(dep, slot) != want {
        assert!(Instant::now() < deadline, "slot {slot} never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slot_migration_mid_run_is_followed() {
    let dep = spawn_cluster();
    let _turn = serial();
    let slot = slot_of(b"{migr}");
    let src = slot_owner(&dep, slot);
    let dst = *master_indexes(&dep)
        .iter()
        .find(|&&m| m != src)
        .expect("another master");
    let seed = port(&dep, src);

    // 1. A --duration run writing only keys of the migrating slot, while the slot moves src → dst.
    let dir = TempDir::new("cluster-migr");
    let json = dir.join("r.json");
    let run = LoggedRun::start(&[
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &seed,
        "--duration",
        "6s",
        "-r",
        "5000",
        "--clients",
        "4",
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--out",
        &dir.arg(),
        "SET",
        "{migr}:__rand_int__",
        "__data__",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let keys = migrate_slot(&dep, slot, src, dst, Duration::from_millis(1500));
    run.finish(Duration::from_secs(40));
    eprintln!("migrated slot {slot} ({keys} keys) from node {src} to node {dst} mid-run");
    wait_owner(&dep, slot, dst);
    let r = &read_results(&json)[0];
    eprintln!(
        "duration run: requests={} ok={} errors={} classes={:?}",
        r.requests, r.ok, r.errors, r.classes
    );
    assert!(keys > 0, "the run wrote no keys before the migration");
    assert!(r.class("ask") > 0, "no ASK followed: {r:?}");
    assert!(r.class("moved") > 0, "no MOVED followed: {r:?}");
    assert_eq!(r.requests, r.ok + r.errors);
    assert_eq!(r.unanswered, 0, "{r:?}");
    assert!(r.ok > 1000, "{r:?}");
    assert!(
        r.errors <= r.requests / 100,
        "too many failures for a planned migration: {r:?}"
    );
    let rows = results_csv(dir.path()).maps();
    let row = &rows[0];
    let num = |k: &str| row[k].parse::<u64>().unwrap();
    assert_eq!(num("ok") + num("errors"), num("requests"), "{row:?}");
    assert_eq!(num("requests"), r.requests);
    assert!(row["error_classes"].contains("ask="), "{row:?}");
    assert!(row["error_classes"].contains("moved="), "{row:?}");
    // After the hand-over the keys live on dst, none on src.
    let count = |i| {
        conn(&dep, i)
            .cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
            .int()
    };
    assert_eq!(count(src), 0);
    assert!(count(dst) > 0);

    // 2. An -n run (paced, so it spans the migration) reading the slot while it moves back.
    let n = 5000u64;
    let json2 = dir.join("r2.json");
    let run = LoggedRun::start(&[
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &seed,
        "-n",
        &n.to_string(),
        "--rps",
        "1000",
        "-r",
        "5000",
        "--clients",
        "4",
        "-q",
        "--json",
        json2.to_str().unwrap(),
        "--no-save",
        "GET",
        "{migr}:__rand_int__",
    ]);
    std::thread::sleep(Duration::from_millis(1000));
    let keys_back = migrate_slot(&dep, slot, dst, src, Duration::from_millis(1500));
    run.finish(Duration::from_secs(40));
    wait_owner(&dep, slot, src);
    let r2 = &read_results(&json2)[0];
    eprintln!(
        "-n run: migrated {keys_back} keys back; requests={} ok={} errors={} classes={:?}",
        r2.requests, r2.ok, r2.errors, r2.classes
    );
    assert_eq!(
        r2.requests, n,
        "every one of -n {n} requests is counted: {r2:?}"
    );
    assert_eq!(r2.ok + r2.errors, n);
    assert_eq!(r2.unanswered, 0);
    assert!(r2.class("ask") + r2.class("moved") > 0, "{r2:?}");
    assert!(r2.class("moved") > 0, "{r2:?}");
    assert!(r2.errors <= n / 100, "{r2:?}");
}

// ---------------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------------

#[test]
fn failover_mid_run_recovers() {
    let mut dep = spawn_cluster();
    let _turn = serial();
    let masters = master_indexes(&dep);
    let (seed, victim) = (masters[0], masters[1]);
    let victim_port = dep.nodes()[victim].addr.port();
    let replica = (0..dep.nodes().len())
        .find(|&i| {
            dep.nodes()[i].role == Role::Replica
                && node_info_field(&dep, i, "replication", "master_port") == victim_port.to_string()
        })
        .expect("the victim's replica");
    let conns_before: u64 = node_info_field(&dep, replica, "stats", "total_connections_received")
        .parse()
        .unwrap();
    let clients = 10;

    let dir = TempDir::new("cluster-failover");
    let json = dir.join("r.json");
    let started = Instant::now();
    let run = LoggedRun::start(&[
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &port(&dep, seed),
        "--duration",
        "20s",
        "-t",
        "set",
        "-r",
        "10000",
        "--clients",
        &clients.to_string(),
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--out",
        &dir.arg(),
    ]);
    std::thread::sleep(Duration::from_secs(4));
    dep.kill_node(victim);
    let killed_at = started.elapsed();
    // The replica takes over (node timeout 2 s + election).
    let mut promoted_after = None;
    while started.elapsed() < Duration::from_secs(19) {
        if conn(&dep, replica).cmd(&["ROLE"]).array()[0].string() == "master" {
            promoted_after = Some(started.elapsed() - killed_at);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    run.finish(Duration::from_secs(45));
    let promoted_after = promoted_after.expect("the replica was never promoted");

    // The cluster's view: the replica is a master now, the victim failed.
    let nodes = conn(&dep, seed).cmd(&["CLUSTER", "NODES"]).string();
    let line_of = |port: u16| {
        nodes
            .lines()
            .find(|l| l.contains(&format!(":{port}@")))
            .unwrap_or_else(|| panic!("{port} not in CLUSTER NODES:\n{nodes}"))
            .to_string()
    };
    let flags = |line: String| line.split_whitespace().nth(2).unwrap_or("").to_string();
    let rep_flags = flags(line_of(dep.nodes()[replica].addr.port()));
    assert!(
        rep_flags.contains("master"),
        "promoted node: {rep_flags}\n{nodes}"
    );
    let victim_flags = flags(line_of(victim_port));
    assert!(
        victim_flags.contains("fail"),
        "killed node: {victim_flags}\n{nodes}"
    );
    // rbench found and used the new master: every client connected to it, and it holds keys.
    let conns_after: u64 = node_info_field(&dep, replica, "stats", "total_connections_received")
        .parse()
        .unwrap();
    assert!(
        conns_after - conns_before >= clients,
        "the promoted node got {} connections, want at least one per client ({clients})",
        conns_after - conns_before
    );
    assert!(dbsize(dep.nodes()[replica].addr) > 0);

    let r = &read_results(&json)[0];
    let timeline = read_timeline(dir.path());
    let cols: Vec<String> = timeline.header.clone();
    eprintln!(
        "failover timeline (master killed at {killed_at:.1?} after start, replica promoted {promoted_after:.1?} later):"
    );
    eprintln!("  {}", cols.join(","));
    for row in &timeline.rows {
        eprintln!("  {}", row.join(","));
    }
    let ok_of = |sec: usize| -> u64 {
        timeline
            .rows
            .iter()
            .find(|r| r[0] == sec.to_string())
            .map(|r| r[3].parse().unwrap())
            .unwrap_or(0)
    };
    // The CSV timeline, the JSON timeline and the totals agree.
    let csv_ok: Vec<u64> = timeline
        .rows
        .iter()
        .map(|r| r[3].parse().unwrap())
        .collect();
    assert_eq!(csv_ok, r.timeline_ok, "CSV vs JSON timeline");
    assert_eq!(csv_ok.iter().sum::<u64>(), r.ok, "timeline ok vs total ok");
    let first3: u64 = (1..=3).map(ok_of).sum();
    let last3: u64 = (18..=20).map(ok_of).sum();
    let baseline = first3 as f64 / 3.0;
    let outage_start = (1..=20).find(|&s| (ok_of(s) as f64) < baseline * 0.5);
    let recovered = outage_start.and_then(|s0| {
        (s0..=20)
            .find(|&s| (ok_of(s) as f64) >= baseline * 0.5)
            .map(|s| (s0, s))
    });
    eprintln!(
        "summary: first 3 s {:.0} ok/s, last 3 s {:.0} ok/s ({:.0}%); outage from second {:?}, recovered at second {:?} ({:?} s); requests={} ok={} errors={} classes={:?}",
        baseline,
        last3 as f64 / 3.0,
        100.0 * last3 as f64 / first3.max(1) as f64,
        outage_start,
        recovered.map(|r| r.1),
        recovered.map(|(a, b)| b - a),
        r.requests,
        r.ok,
        r.errors,
        r.classes
    );
    let faults = r.class("conn_lost") + r.class("conn_refused") + r.class("clusterdown");
    assert!(faults > 0, "the failover left no trace: {r:?}");
    assert!(
        cols.iter()
            .any(|c| ["conn_lost", "conn_refused", "clusterdown"].contains(&c.as_str())),
        "timeline has no error class columns: {cols:?}"
    );
    assert_eq!(r.requests, r.ok + r.errors);
    assert_eq!(r.unanswered, 0, "{r:?}");
    assert!(first3 > 0, "no baseline throughput");
    assert!(
        last3 * 2 >= first3,
        "throughput did not recover: first 3 s {first3} ok, last 3 s {last3} ok"
    );
    // Requests parked during the outage were retried, not dropped: failures stay a small share.
    assert!(r.errors * 20 <= r.requests, "{r:?}");
}
