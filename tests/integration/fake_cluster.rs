//! rbench's cluster routing against scripted fake cluster nodes (plain std::net threads on
//! 127.0.0.1:0): redirect loops end, ASK is followed without touching the slot map, MOVED patches it,
//! and every connection authenticates. The fakes count what reaches them, so the assertions are about
//! where requests went, not only about what rbench reports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support;

use fake::{FakeCluster, Scenario};
use support::{JsonResult, read_results};
use support::{RunOutput, TempDir, parse_command, rbench, rbench_any};

const N: u64 = 200;
const A: usize = 0;
const B: usize = 1;

fn bench(cluster: &FakeCluster, extra: &[&str]) -> (RunOutput, JsonResult) {
    let dir = TempDir::new("fake");
    let json = dir.join("out.json");
    let port = cluster.addr(A).port().to_string();
    let n = N.to_string();
    let mut args = vec![
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "set",
        "-n",
        &n,
        "--clients",
        "4",
        "-q",
        "--no-save",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = rbench_any(&args, Duration::from_secs(30));
    let results = read_results(&json);
    assert_eq!(results.len(), 1, "one test, one result");
    let r = results.into_iter().next().unwrap();
    assert_eq!(r.test, "SET");
    // Exit 0 exactly when no request failed (the default --max-error-rate is 0).
    let expected = if r.errors > 0 || r.ok == 0 { 3 } else { 0 };
    assert_eq!(out.code, expected, "{r:?}\n{}", out.stderr);
    // Preflight and discovery went through the fakes' CLUSTER SLOTS.
    assert!(cluster.stat(A).cluster_slots.load(Ordering::SeqCst) >= 1);
    (out, r)
}

/// A → MOVED to B, B → MOVED to A: every request must end as `too_many_redirects`, promptly.
#[test]
fn redirect_loop_ends_in_too_many_redirects() {
    let cluster = FakeCluster::start(Scenario::RedirectLoop, None);
    let (out, r) = bench(&cluster, &[]);
    assert!(
        out.elapsed < Duration::from_secs(25),
        "took {:?}",
        out.elapsed
    );
    // Every request failed: the run says so in its exit code and one line naming the class.
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("SET on") && out.stderr.contains("too_many_redirects="),
        "{}",
        out.stderr
    );
    assert_eq!(r.requests, N, "every request is accounted for: {r:?}");
    assert_eq!(r.ok, 0, "{r:?}");
    assert_eq!(r.errors, N, "{r:?}");
    assert_eq!(r.class("too_many_redirects"), N, "{r:?}");
    let moved = r.class("moved");
    // Each request follows the loop a few times (bounded) before giving up.
    assert!(
        (2 * N..=20 * N).contains(&moved),
        "moved events {moved} for {N} requests: {r:?}"
    );
    // The fakes saw exactly the redirects rbench counted: one MOVED per data command.
    let seen =
        cluster.stat(A).data.load(Ordering::SeqCst) + cluster.stat(B).data.load(Ordering::SeqCst);
    assert_eq!(
        seen, moved,
        "data commands seen by the fakes vs moved events"
    );
    assert!(cluster.stat(B).conns.load(Ordering::SeqCst) >= 1);
    // The -q line still appears for a run whose requests all failed.
    assert!(
        support::parse_quiet_line(out.stdout.trim())
            .is_some_and(|(name, rps, _)| name == "SET" && rps == 0.0),
        "{}",
        out.stdout
    );
}

/// A → ASK to B; B only accepts after ASKING on the same connection. Requests succeed, ask events are
/// counted, and the slot map is not changed: every request still goes to A first.
#[test]
fn ask_is_followed_with_asking_and_leaves_the_map_alone() {
    let cluster = FakeCluster::start(Scenario::AskToB, Some("s3cret"));
    let (out, r) = bench(&cluster, &["-a", "s3cret"]);
    assert_eq!(r.requests, N, "{r:?}");
    assert_eq!(r.ok, N, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    assert_eq!(r.class("ask"), N, "one ASK per request: {r:?}");
    assert_eq!(r.class("moved"), 0, "{r:?}");
    let (a, b) = (cluster.stat(A), cluster.stat(B));
    assert_eq!(
        a.data.load(Ordering::SeqCst),
        N,
        "every request went to the slot owner A first (the map was not changed by ASK)"
    );
    assert_eq!(
        b.asked_ok.load(Ordering::SeqCst),
        N,
        "B served each one after ASKING"
    );
    assert_eq!(
        b.unasked.load(Ordering::SeqCst),
        0,
        "no command reached B without ASKING"
    );
    assert_eq!(b.asking.load(Ordering::SeqCst), N);
    for s in [a, b] {
        assert_eq!(
            s.noauth.load(Ordering::SeqCst),
            0,
            "a connection skipped AUTH"
        );
        assert!(s.auth_ok.load(Ordering::SeqCst) >= 1);
    }
    assert!(!out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"));
}

/// A --duration run whose deadline falls while requests are between an ASK and its retry: those
/// requests end as failures of class `ask`, not of some unrelated class.
#[test]
fn run_ending_mid_redirect_counts_the_redirect_class() {
    let cluster = FakeCluster::start(Scenario::SlowAskToB, None);
    let dir = TempDir::new("fake-dur");
    let json = dir.join("out.json");
    let port = cluster.addr(A).port().to_string();
    rbench(
        &[
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set",
            "--duration",
            "1s",
            "--clients",
            "4",
            "-q",
            "--no-save",
            // The few requests the deadline cuts mid-redirect fail; that is not this test's point.
            "--max-error-rate",
            "50%",
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    let r = &read_results(&json)[0];
    eprintln!("{r:?}");
    assert!(r.ok > 0, "{r:?}");
    assert_eq!(r.requests, r.ok + r.errors);
    // A is slow, so at the deadline nearly every client is waiting on A's ASK; whatever ends there
    // is at most one request per client, and is labelled by what happened to it.
    assert!(r.errors <= 4, "{r:?}");
    assert_eq!(
        r.class("other"),
        0,
        "requests ended mid-redirect were labelled `other`: {r:?}"
    );
    assert_eq!(r.class("moved"), 0, "{r:?}");
    assert_eq!(cluster.stat(B).unasked.load(Ordering::SeqCst), 0);
}

/// TRYAGAIN, CLUSTERDOWN, LOADING and dropped connections are retried (after a backoff, with a
/// topology refresh) until they succeed: every request ends ok, and each fault is counted by class.
#[test]
fn transient_faults_are_retried_and_counted() {
    let cluster = FakeCluster::start(Scenario::Transient, None);
    let (out, r) = bench(&cluster, &[]);
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert_eq!((r.requests, r.ok, r.errors), (N, N, 0), "{r:?}");
    assert_eq!(r.class("tryagain"), 10, "{r:?}");
    assert_eq!(r.class("clusterdown"), 10, "{r:?}");
    assert_eq!(r.class("loading"), 10, "{r:?}");
    // Each hang-up loses the command it cut off (pipeline 1: nothing else was in flight on it).
    assert_eq!(r.class("conn_lost"), 3, "{r:?}");
    let a = cluster.stat(A);
    // 30 error replies + 3 unanswered commands were sent again.
    assert_eq!(a.data.load(Ordering::SeqCst), N + 33);
    // 4 clients' connections, plus one per hang-up (and preflight/topology connections).
    assert!(a.conns.load(Ordering::SeqCst) >= 4 + 3);
    // CLUSTERDOWN and lost connections asked for a refresh: CLUSTER SLOTS beyond discovery.
    assert!(
        a.cluster_slots.load(Ordering::SeqCst) >= 2,
        "no topology refresh after CLUSTERDOWN / connection loss"
    );
    assert_eq!(cluster.stat(B).data.load(Ordering::SeqCst), 0);
}

/// A → MOVED to B (and from then on CLUSTER SLOTS says B owns everything): rbench patches its map
/// after the first MOVED, so A sees only the first requests and B serves the rest.
#[test]
fn moved_patches_the_slot_map() {
    let cluster = FakeCluster::start(Scenario::MovedToB, None);
    // One key: one slot, so the first MOVED moves all traffic.
    let (_, r) = bench(&cluster, &["-r", "1"]);
    assert_eq!(r.requests, N, "{r:?}");
    assert_eq!(r.ok, N, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    let (a, b) = (cluster.stat(A), cluster.stat(B));
    let at_a = a.data.load(Ordering::SeqCst);
    assert_eq!(r.class("moved"), at_a, "one MOVED per command A saw: {r:?}");
    assert!(at_a >= 1, "A never redirected anything");
    // 4 clients, pipeline 1: each may have one request in flight to A before the map changes.
    assert!(
        at_a <= 8,
        "A still got {at_a} requests after MOVED: the map was not patched"
    );
    assert_eq!(b.data.load(Ordering::SeqCst), N, "B served every request");
}

/// Fake servers: enough of RESP and of a cluster node's commands to satisfy rbench's preflight,
/// handshake and topology queries, plus a scripted answer to data commands.
mod fake {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Scenario {
        RedirectLoop,
        AskToB,
        /// As AskToB, but A takes 20 ms to answer, so a run's deadline falls mid-redirect.
        SlowAskToB,
        MovedToB,
        /// Only A: TRYAGAIN, CLUSTERDOWN and LOADING 10 times each, then OK, hanging up on the
        /// 50th, 100th and 150th data command.
        Transient,
    }

    /// `answer`'s reply meaning "close the connection without replying".
    pub const HANG_UP: &[u8] = b"<hang up>";

    #[derive(Default, Debug)]
    pub struct Stats {
        pub conns: AtomicU64,
        pub data: AtomicU64,
        pub asking: AtomicU64,
        pub asked_ok: AtomicU64,
        pub unasked: AtomicU64,
        pub noauth: AtomicU64,
        pub auth_ok: AtomicU64,
        pub cluster_slots: AtomicU64,
    }

    struct Shared {
        scenario: Scenario,
        addrs: Vec<SocketAddr>,
        /// The node CLUSTER SLOTS names as owner of every slot.
        owner: AtomicUsize,
        password: Option<String>,
        stats: Vec<Stats>,
        stop: AtomicBool,
    }

    pub struct FakeCluster {
        shared: Arc<Shared>,
        threads: Mutex<Vec<JoinHandle<()>>>,
    }

    impl FakeCluster {
        pub fn start(scenario: Scenario, password: Option<&str>) -> FakeCluster {
            let listeners: Vec<TcpListener> = (0..2)
                .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
                .collect();
            let shared = Arc::new(Shared {
                scenario,
                addrs: listeners.iter().map(|l| l.local_addr().unwrap()).collect(),
                owner: AtomicUsize::new(A),
                password: password.map(String::from),
                stats: (0..2).map(|_| Stats::default()).collect(),
                stop: AtomicBool::new(false),
            });
            let mut threads = Vec::new();
            for (node, l) in listeners.into_iter().enumerate() {
                l.set_nonblocking(true).unwrap();
                let shared = shared.clone();
                threads.push(std::thread::spawn(move || accept_loop(l, node, shared)));
            }
            FakeCluster {
                shared,
                threads: Mutex::new(threads),
            }
        }

        pub fn addr(&self, node: usize) -> SocketAddr {
            self.shared.addrs[node]
        }

        pub fn stat(&self, node: usize) -> &Stats {
            &self.shared.stats[node]
        }
    }

    impl Drop for FakeCluster {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::SeqCst);
            for t in self.threads.lock().unwrap().drain(..) {
                let _ = t.join();
            }
        }
    }

    fn accept_loop(l: TcpListener, node: usize, shared: Arc<Shared>) {
        let mut conns = Vec::new();
        while !shared.stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((s, _)) => {
                    shared.stats[node].conns.fetch_add(1, Ordering::SeqCst);
                    let shared = shared.clone();
                    conns.push(std::thread::spawn(move || serve(s, node, shared)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => break,
            }
        }
        for c in conns {
            let _ = c.join();
        }
    }

    struct ConnState {
        authed: bool,
        asking: bool,
    }

    fn serve(mut s: TcpStream, node: usize, shared: Arc<Shared>) {
        let _ = s.set_nonblocking(false);
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut st = ConnState {
            authed: shared.password.is_none(),
            asking: false,
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while !shared.stop.load(Ordering::SeqCst) {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
            let mut out = Vec::new();
            loop {
                match parse_command(&buf) {
                    Ok(Some((args, used))) => {
                        buf.drain(..used);
                        if !args.is_empty() {
                            let reply = answer(&shared, node, &mut st, &args);
                            if reply == HANG_UP {
                                // Drop the connection with this command unanswered (and
                                // whatever else was pipelined behind it).
                                let _ = s.write_all(&out);
                                return;
                            }
                            out.extend_from_slice(&reply);
                        }
                    }
                    Ok(None) => break,
                    Err(()) => {
                        let _ = s.write_all(b"-ERR Protocol error\r\n");
                        return;
                    }
                }
            }
            if !out.is_empty() && s.write_all(&out).is_err() {
                return;
            }
        }
    }

    fn answer(shared: &Shared, node: usize, st: &mut ConnState, args: &[Vec<u8>]) -> Vec<u8> {
        let stats = &shared.stats[node];
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let asking = std::mem::take(&mut st.asking);
        if name == "AUTH" {
            let given = args.last().map(|p| String::from_utf8_lossy(p).into_owned());
            return match (&shared.password, given) {
                (Some(p), Some(g)) if *p == g && args.len() >= 2 => {
                    st.authed = true;
                    stats.auth_ok.fetch_add(1, Ordering::SeqCst);
                    b"+OK\r\n".to_vec()
                }
                (None, _) => b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec(),
                _ => b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".to_vec(),
            };
        }
        if !st.authed {
            stats.noauth.fetch_add(1, Ordering::SeqCst);
            return b"-NOAUTH Authentication required.\r\n".to_vec();
        }
        match name.as_str() {
            "PING" => return b"+PONG\r\n".to_vec(),
            "ASKING" => {
                st.asking = true;
                stats.asking.fetch_add(1, Ordering::SeqCst);
                return b"+OK\r\n".to_vec();
            }
            "READONLY" | "SELECT" => return b"+OK\r\n".to_vec(),
            "CONFIG" => return b"-ERR CONFIG is disabled on this fake\r\n".to_vec(),
            "INFO" => return bulk(b"# Cluster\r\ncluster_enabled:1\r\n"),
            "CLUSTER" => {
                let sub = args
                    .get(1)
                    .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase())
                    .unwrap_or_default();
                if sub == "SLOTS" {
                    stats.cluster_slots.fetch_add(1, Ordering::SeqCst);
                    return cluster_slots(shared.addrs[shared.owner.load(Ordering::SeqCst)]);
                }
                return b"-ERR unknown CLUSTER subcommand on this fake\r\n".to_vec();
            }
            _ => {}
        }
        // A data command: its key is the first argument.
        let seq = stats.data.fetch_add(1, Ordering::SeqCst);
        let slot = args
            .get(1)
            .map(|k| rbench::cluster::slot::slot_of(k))
            .unwrap_or(0);
        let other = shared.addrs[1 - node];
        let redirect = |kind: &str| format!("-{kind} {slot} {other}\r\n").into_bytes();
        match (shared.scenario, node) {
            (Scenario::RedirectLoop, _) => redirect("MOVED"),
            (Scenario::AskToB, A) => redirect("ASK"),
            (Scenario::SlowAskToB, A) => {
                std::thread::sleep(Duration::from_millis(20));
                redirect("ASK")
            }
            (Scenario::AskToB | Scenario::SlowAskToB, _) if asking => {
                stats.asked_ok.fetch_add(1, Ordering::SeqCst);
                b"+OK\r\n".to_vec()
            }
            (Scenario::AskToB | Scenario::SlowAskToB, _) => {
                stats.unasked.fetch_add(1, Ordering::SeqCst);
                redirect("MOVED")
            }
            (Scenario::MovedToB, A) => {
                // The slot has moved for good: topology queries now say so too.
                shared.owner.store(B, Ordering::SeqCst);
                redirect("MOVED")
            }
            (Scenario::MovedToB, _) => b"+OK\r\n".to_vec(),
            (Scenario::Transient, _) => match seq {
                0..10 => b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n".to_vec(),
                10..20 => b"-CLUSTERDOWN The cluster is down\r\n".to_vec(),
                20..30 => b"-LOADING Redis is loading the dataset in memory\r\n".to_vec(),
                50 | 100 | 150 => HANG_UP.to_vec(),
                _ => b"+OK\r\n".to_vec(),
            },
        }
    }

    fn bulk(b: &[u8]) -> Vec<u8> {
        let mut v = format!("${}\r\n", b.len()).into_bytes();
        v.extend_from_slice(b);
        v.extend_from_slice(b"\r\n");
        v
    }

    /// Every slot on `owner`, as Redis 7 formats it.
    fn cluster_slots(owner: SocketAddr) -> Vec<u8> {
        let mut v = b"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n".to_vec();
        v.extend_from_slice(&bulk(owner.ip().to_string().as_bytes()));
        v.extend_from_slice(format!(":{}\r\n", owner.port()).as_bytes());
        v.extend_from_slice(&bulk(format!("{:040x}", owner.port()).as_bytes()));
        v.extend_from_slice(b"*0\r\n");
        v
    }
}
