//! Scripted fake servers for what a real server cannot be made to do: malformed replies, connections
//! dropped mid-run, slow replies. Each is a std::net listener on 127.0.0.1:0 with a thread per
//! connection; it answers the handshake rbench needs (PING, AUTH, SELECT, CONFIG GET, INFO) unless the
//! script says otherwise.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use support::*;

/// What the fake server does with one command.
enum Action {
    Reply(Vec<u8>),
    /// Sleep, then reply.
    Delay(Duration, Vec<u8>),
    /// Close the connection without replying.
    Close,
    /// Send these bytes, then `x` without end (until the client goes away).
    Endless(Vec<u8>),
}

/// Per-connection state a script may use: how many benchmark (non-handshake) commands it has seen.
struct ConnState {
    bench_commands: u64,
}

type Script = dyn Fn(&[Vec<u8>], &mut ConnState) -> Action + Send + Sync;

struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    fn start(
        script: impl Fn(&[Vec<u8>], &mut ConnState) -> Action + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind fake server");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accepted2.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                let stop = stop2.clone();
                std::thread::spawn(move || serve(stream, &*script, &stop));
            }
        });
        FakeServer {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }

    fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one command: a RESP array of bulk strings, or an inline command (`PING\r\n`). `pending`
/// holds bytes read past the previous command (a pipeline arrives together).
fn read_command(r: &mut impl BufRead, pending: &mut Vec<u8>) -> Option<Vec<Vec<u8>>> {
    loop {
        if let Some((args, used)) = parse_command(pending).ok()? {
            pending.drain(..used);
            return Some(args);
        }
        let chunk = r.fill_buf().ok()?;
        if chunk.is_empty() {
            return None;
        }
        let n = chunk.len();
        pending.extend_from_slice(chunk);
        r.consume(n);
    }
}

/// The replies rbench's connection set-up needs, or None for a benchmark command.
fn handshake_reply(cmd: &[Vec<u8>]) -> Option<Vec<u8>> {
    let name = String::from_utf8_lossy(cmd.first()?).to_ascii_uppercase();
    match name.as_str() {
        "PING" => Some(b"+PONG\r\n".to_vec()),
        "AUTH" | "SELECT" => Some(b"+OK\r\n".to_vec()),
        // CONFIG GET appendonly ...: not a persistence-aware, non-cluster server. (rbench sends no
        // PING or INFO of its own any more; they stay answered as a server would.)
        "CONFIG" => Some(b"*0\r\n".to_vec()),
        "INFO" => Some(b"$0\r\n\r\n".to_vec()),
        _ => None,
    }
}

fn serve(stream: TcpStream, script: &Script, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut state = ConnState { bench_commands: 0 };
    let mut pending = Vec::new();
    while let Some(cmd) = read_command(&mut reader, &mut pending) {
        if stop.load(Ordering::SeqCst) || cmd.is_empty() {
            return;
        }
        let action = script(&cmd, &mut state);
        let bytes = match action {
            Action::Reply(b) => b,
            Action::Delay(d, b) => {
                std::thread::sleep(d);
                b
            }
            Action::Close => return,
            Action::Endless(head) => {
                let chunk = vec![b'x'; 64 * 1024];
                let _ = writer.write_all(&head);
                while !stop.load(Ordering::SeqCst) && writer.write_all(&chunk).is_ok() {}
                return;
            }
        };
        if writer.write_all(&bytes).is_err() {
            return;
        }
    }
}

/// A script: handshake commands answered normally, benchmark commands by `bench`.
fn after_handshake(
    bench: impl Fn(&[Vec<u8>], &mut ConnState) -> Action + Send + Sync + 'static,
) -> impl Fn(&[Vec<u8>], &mut ConnState) -> Action + Send + Sync + 'static {
    move |cmd, state| match handshake_reply(cmd) {
        Some(r) => Action::Reply(r),
        None => {
            state.bench_commands += 1;
            bench(cmd, state)
        }
    }
}

fn fake_args(server: &FakeServer, rest: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["-h", "127.0.0.1", "-p", &server.port()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

#[test]
fn garbage_to_every_command_is_a_clear_error() {
    let server = FakeServer::start(|_, _| Action::Reply(b"!garbage\r\n".to_vec()));
    let res = run_rbench_env(
        &fake_args(
            &server,
            &["-t", "set", "-n", "100", "--clients", "2", "--no-save"],
        ),
        &[],
        Duration::from_secs(30),
    );
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "stderr: {}", res.stderr);
    assert!(lines[0].contains(&server.port()), "{}", lines[0]);
    assert!(server.connections() >= 1);
}

#[test]
fn a_server_that_never_answers_fails_instead_of_hanging() {
    // Accepts connections and reads commands, but never replies (a hung server, or a port that is
    // not Redis). Set-up must give up with a clear error rather than wait forever.
    let server = FakeServer::start(|_, _| Action::Delay(Duration::from_secs(3600), Vec::new()));
    // Without a password the set-up CONFIG GET waits; with one, the AUTH of the handshake. Both
    // at once.
    let runs: Vec<Running> = [&[][..], &["-a", "pw-never-shown", "--no-auth-warning"][..]]
        .iter()
        .map(|extra| {
            let mut args = vec!["-t", "set", "-n", "10", "--clients", "2", "--no-save"];
            args.extend_from_slice(extra);
            Running::start(&fake_args(&server, &args), &[])
        })
        .collect();
    for run in runs {
        let res = run.wait(Duration::from_secs(40));
        eprintln!("{res:?}");
        res.assert_no_panic();
        assert!(!res.timed_out, "rbench hung on a silent server");
        assert_eq!(res.code, 1, "{res:?}");
        let lines = res.stderr_lines();
        assert_eq!(lines.len(), 1, "stderr: {}", res.stderr);
        assert!(lines[0].contains("no reply"), "{}", lines[0]);
        assert!(!res.stderr.contains("pw-never-shown"));
    }
}

#[test]
fn garbage_replies_are_counted_as_protocol_errors() {
    let server = FakeServer::start(after_handshake(|_, _| {
        Action::Reply(b"!garbage\r\n".to_vec())
    }));
    let dir = TempDir::new("garbage");
    let json = dir.join("g.json");
    let res = run_rbench_env(
        &fake_args(
            &server,
            &[
                "-t",
                "set",
                "-n",
                "40",
                "--clients",
                "2",
                "--json",
                json.to_str().unwrap(),
                "--out",
                &dir.arg(),
            ],
        ),
        &[],
        Duration::from_secs(60),
    );
    eprintln!("{res:?}");
    res.assert_no_panic();
    // Results are printed and saved, and the run fails with the check's code, naming the class.
    assert_eq!(res.code, 3, "{res:?}");
    assert!(res.stdout.contains("protocol="), "{}", res.stdout);
    let last = res.stderr_lines().last().copied().unwrap_or("");
    assert!(
        last.contains("SET on")
            && last.contains("no successful reply")
            && last.contains("protocol=40"),
        "{last}"
    );
    let doc = read_json(&json);
    let r = &doc["results"][0];
    assert_eq!(json_f64(r, &["ok"]), 0.0, "{r}");
    assert_eq!(json_f64(r, &["errors"]), 40.0, "{r}");
    assert_eq!(json_f64(r, &["error_classes", "protocol"]), 40.0, "{r}");
    let csv = results_csv(dir.path());
    let row = csv.row_for_test("SET");
    assert_eq!(csv.num(row, "ok"), 0.0);
    assert_eq!(csv.num(row, "errors"), 40.0);
}

#[test]
fn dropped_connections_are_retried_and_counted() {
    // Every connection answers 5 benchmark commands, then closes on the 6th without a reply.
    let server = FakeServer::start(after_handshake(|_, st| {
        if st.bench_commands > 5 {
            Action::Close
        } else {
            Action::Reply(b"+OK\r\n".to_vec())
        }
    }));
    let dir = TempDir::new("connlost");
    let json = dir.join("c.json");
    let res = run_rbench_env(
        &fake_args(
            &server,
            &[
                "-t",
                "set",
                "-n",
                "200",
                "--clients",
                "4",
                "--json",
                json.to_str().unwrap(),
                "--no-save",
            ],
        ),
        &[],
        Duration::from_secs(60),
    );
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 0, "{res:?}");
    let doc = read_json(&json);
    let r = &doc["results"][0];
    // Lost requests were re-sent on new connections and succeeded; the losses are counted.
    assert_eq!(json_f64(r, &["ok"]), 200.0, "{r}");
    assert_eq!(json_f64(r, &["errors"]), 0.0, "{r}");
    let lost = json_f64(r, &["error_classes", "conn_lost"]);
    assert!(lost >= 30.0, "conn_lost {lost}: {r}");
    assert!(res.stdout.contains("conn_lost="), "{}", res.stdout);
    // 200 requests at 5 per connection: about 40 connections, plus the set-up ones.
    assert!(
        server.connections() >= 40,
        "{} connections",
        server.connections()
    );
}

#[test]
fn a_server_that_always_drops_ends_the_run_at_its_duration() {
    let server = FakeServer::start(after_handshake(|_, _| Action::Close));
    let dir = TempDir::new("alwaysdrop");
    let json = dir.join("d.json");
    let res = run_rbench_env(
        &fake_args(
            &server,
            &[
                "-t",
                "set",
                "--duration",
                "1s",
                "--clients",
                "2",
                "--json",
                json.to_str().unwrap(),
                "--no-save",
            ],
        ),
        &[],
        Duration::from_secs(30),
    );
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    assert!(
        res.elapsed < Duration::from_secs(10),
        "took {:?}",
        res.elapsed
    );
    let doc = read_json(&json);
    let r = &doc["results"][0];
    assert_eq!(json_f64(r, &["ok"]), 0.0, "{r}");
    assert!(json_f64(r, &["errors"]) >= 1.0, "{r}");
    assert!(json_f64(r, &["error_classes", "conn_lost"]) >= 1.0, "{r}");
}

#[test]
fn slow_replies_show_in_latency() {
    let server = FakeServer::start(after_handshake(|_, _| {
        Action::Delay(Duration::from_millis(200), b"+OK\r\n".to_vec())
    }));
    let dir = TempDir::new("slow");
    let json = dir.join("s.json");
    let res = run_rbench_env(
        &fake_args(
            &server,
            &[
                "-t",
                "set",
                "-n",
                "20",
                "--clients",
                "5",
                "--json",
                json.to_str().unwrap(),
                "--no-save",
            ],
        ),
        &[],
        Duration::from_secs(30),
    );
    res.assert_ok();
    let doc = read_json(&json);
    let r = &doc["results"][0];
    assert_eq!(json_f64(r, &["ok"]), 20.0);
    let p50 = json_f64(r, &["latency", "p50_ms"]);
    let min = json_f64(r, &["latency", "min_ms"]);
    eprintln!("slow server: p50 {p50} ms, min {min} ms");
    assert!(min >= 195.0, "min {min} ms for 200 ms replies");
    assert!(
        (195.0..=600.0).contains(&p50),
        "p50 {p50} ms for 200 ms replies"
    );
    // 4 rounds of 200 ms per client: the run took at least 0.8 s of measured time.
    assert!(json_f64(r, &["duration_s"]) >= 0.75, "{r}");
}

/// The reply a server that knows only GET and SET gives (a Redis-compatible proxy, or mini-redis):
/// no PING, CONFIG, INFO or anything else.
fn get_set_only(cmd: &[Vec<u8>], _: &mut ConnState) -> Action {
    let name = String::from_utf8_lossy(cmd.first().map_or(&[][..], |c| c)).to_ascii_uppercase();
    match name.as_str() {
        "SET" => Action::Reply(b"+OK\r\n".to_vec()),
        "GET" => Action::Reply(b"$3\r\nabc\r\n".to_vec()),
        _ => Action::Reply(format!("-ERR unknown command '{name}'\r\n").into_bytes()),
    }
}

/// Set-up needs nothing but the handshake's answer: a server that knows only GET and SET runs
/// them, its persistence shown as unknown; a test whose command it does not know fails the run
/// (exit 3) with the server's words.
#[test]
fn a_server_that_knows_only_get_and_set_runs_them() {
    let server = FakeServer::start(get_set_only);
    let dir = TempDir::new("getset");
    let json = dir.join("g.json");
    let res = run_rbench_env(
        &fake_args(
            &server,
            &["-t", "set,get", "-n", "200", "--clients", "4", "--no-save"],
        ),
        &[],
        Duration::from_secs(30),
    );
    eprintln!("{res:?}");
    res.assert_ok();
    assert!(
        res.stdout.contains("persistence: unknown"),
        "{}",
        res.stdout
    );
    let res = run_rbench_env(
        &fake_args(
            &server,
            &[
                "-t",
                "get,lpush",
                "-n",
                "200",
                "--clients",
                "4",
                "--json",
                json.to_str().unwrap(),
                "--no-save",
            ],
        ),
        &[],
        Duration::from_secs(30),
    );
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("LPUSH on") && lines[0].contains("ERR unknown command 'LPUSH'"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("GET on"), "{}", lines[0]);
    let doc = read_json(&json);
    assert_eq!(json_f64(&doc["results"][0], &["ok"]), 200.0);
    let lpush = &doc["results"][1];
    assert_eq!(json_f64(lpush, &["errors"]), 200.0, "{lpush}");
    assert_eq!(
        lpush["error_words"]["err"].as_str(),
        Some("ERR unknown command 'LPUSH'"),
        "{lpush}"
    );
}

/// Every reply an error: the run completes, shows the server's words, and exits 3 — unless the
/// errors are within --max-error-rate.
#[test]
fn all_error_replies_fail_the_run_with_the_servers_words() {
    let server = FakeServer::start(after_handshake(|_, _| {
        Action::Reply(b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec())
    }));
    let args = ["-t", "set", "-n", "300", "--clients", "3", "--no-save"];
    let res = run_rbench_env(&fake_args(&server, &args), &[], Duration::from_secs(30));
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    // The summary names the class and quotes the server.
    assert!(
        res.stdout
            .contains("oom: OOM command not allowed when used memory > 'maxmemory'."),
        "{}",
        res.stdout
    );
    let line = res.stderr_lines().join("\n");
    assert!(
        line.contains("SET on") && line.contains("no successful reply") && line.contains("oom=300"),
        "{line}"
    );
    let mut tolerant = args.to_vec();
    tolerant.extend(["--max-error-rate", "100%"]);
    let res = run_rbench_env(&fake_args(&server, &tolerant), &[], Duration::from_secs(30));
    // No successful reply at all fails whatever the rate allows.
    assert_eq!(res.code, 3, "{res:?}");
}

/// Some errors, within the allowed share, pass; above it, fail.
#[test]
fn max_error_rate_bounds_the_failed_share() {
    // Every 10th command on a connection fails: 10 % of requests.
    let server = FakeServer::start(after_handshake(|_, st| {
        if st.bench_commands % 10 == 0 {
            Action::Reply(b"-ERR injected\r\n".to_vec())
        } else {
            Action::Reply(b"+OK\r\n".to_vec())
        }
    }));
    let run = |rate: &str| {
        let args = [
            "-t",
            "set",
            "-n",
            "1000",
            "--clients",
            "2",
            "--no-save",
            "-q",
            "--max-error-rate",
            rate,
        ];
        let res = run_rbench_env(&fake_args(&server, &args), &[], Duration::from_secs(30));
        eprintln!("{res:?}");
        res.assert_no_panic();
        res
    };
    assert_eq!(run("0.15").code, 0);
    assert_eq!(run("12%").code, 0);
    let res = run("5%");
    assert_eq!(res.code, 3);
    // About 100 (connections do not split the 1000 requests exactly evenly).
    assert!(
        res.stderr.contains("of 1000 requests failed"),
        "{}",
        res.stderr
    );
    assert!(res.stderr.contains(": ERR injected"), "{}", res.stderr);
    let bad = run("150%");
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(bad.stderr_lines().len(), 1, "{}", bad.stderr);
}

/// Malformed replies of several kinds: each is a protocol error for its request, never a success.
#[test]
fn malformed_replies_are_protocol_errors() {
    for reply in [
        &b"$-7\r\n"[..],
        b"?foo\r\n",
        b"$5\r\nab\r\n+OK\r\n",
        b":12x\r\n",
    ] {
        let server = FakeServer::start(after_handshake(move |_, _| Action::Reply(reply.to_vec())));
        let args = ["-t", "get", "-n", "20", "--clients", "1", "--no-save", "-q"];
        let res = run_rbench_env(&fake_args(&server, &args), &[], Duration::from_secs(30));
        eprintln!("{res:?}");
        res.assert_no_panic();
        assert_eq!(res.code, 3, "{:?}: {res:?}", String::from_utf8_lossy(reply));
        assert!(res.stderr.contains("protocol="), "{}", res.stderr);
    }
}

/// A server that completes the handshake, then never answers: a timed test ends promptly after
/// its duration (not 2 s of grace later), and fails the run for having no successful reply.
#[test]
fn a_server_silent_after_the_handshake_ends_promptly() {
    let server = FakeServer::start(after_handshake(|_, _| {
        Action::Delay(Duration::from_secs(3600), Vec::new())
    }));
    let args = [
        "-t",
        "set,get",
        "--duration",
        "1s",
        "--clients",
        "2",
        "--no-save",
        "-q",
    ];
    let res = run_rbench_env(&fake_args(&server, &args), &[], Duration::from_secs(60));
    eprintln!("{res:?}");
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    // Two 1 s tests; each used to wait out a 2 s grace for replies that never came.
    assert!(
        res.elapsed < Duration::from_millis(3500),
        "took {:?}",
        res.elapsed
    );
    assert!(res.stderr.contains("no successful reply"), "{}", res.stderr);
}

/// `n` GETs on one connection against a server answering each with `head` and endless bytes; the
/// run must end with exit 3. Returns its output and peak RSS (kB).
fn endless_gets(head: &'static [u8], n: &str) -> (RunOutput, u64) {
    let server = FakeServer::start(after_handshake(move |_, _| Action::Endless(head.to_vec())));
    let args = ["-t", "get", "-n", n, "--clients", "1", "--no-save", "-q"];
    let run = Running::process(&fake_args(&server, &args), &[]);
    let (res, peak) = peak_rss_kb(run, Duration::from_secs(120));
    eprintln!("{res:?}\npeak RSS {peak} kB");
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    (res, peak)
}

/// A bulk string declared past Redis's own 512 MB limit is a protocol error at once: nothing is
/// buffered waiting for it.
#[test]
fn a_bulk_length_past_512mb_is_a_protocol_error_at_once() {
    let (res, peak) = endless_gets(b"$9999999999\r\n", "5");
    assert!(res.stderr.contains("protocol=5"), "{}", res.stderr);
    assert!(res.stderr.contains("512 MB"), "{}", res.stderr);
    assert!(
        res.elapsed < Duration::from_secs(10),
        "took {:?}",
        res.elapsed
    );
    assert!(peak < 100_000, "peak RSS {peak} kB");
}

/// A reply that never ends (a bulk body past its declared length) is read as it arrives and dropped:
/// the client's memory stays flat however much the server sends.
#[test]
fn an_endless_reply_keeps_memory_flat() {
    // 512 MB is allowed; after it the CRLF never comes, which is the protocol error that ends it.
    let (res, peak) = endless_gets(b"$536870912\r\n", "1");
    assert!(res.stderr.contains("protocol=1"), "{}", res.stderr);
    // Loosely: the whole process, far below the 512 MB it was sent.
    assert!(peak > 0 && peak < 100_000, "peak RSS {peak} kB");
}

/// A transaction whose WATCHed key changed: EXEC answers nil (`*-1`), which a real server does only
/// when another client wins a race, so a script plays it: some EXECs are nil (by the count of
/// commands seen so far), some not. The nil ones count as `exec_nil`, the others succeed; a nil
/// GET (a missing key) stays a success.
#[test]
fn a_nil_exec_is_a_failed_watch_and_a_nil_get_is_not() {
    let server = FakeServer::start(after_handshake(|cmd, state| {
        let name = String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase();
        Action::Reply(match name.as_str() {
            "WATCH" | "MULTI" => b"+OK\r\n".to_vec(),
            "INCR" => b"+QUEUED\r\n".to_vec(),
            "EXEC" if (state.bench_commands / 4) % 2 == 0 => b"*-1\r\n".to_vec(),
            "EXEC" => b"*1\r\n:1\r\n".to_vec(),
            _ => b"$-1\r\n".to_vec(),
        })
    }));
    let dir = TempDir::new("fake-exec-nil");
    let out = dir.arg();
    let args = [
        "--command",
        "tx=WATCH w:__key__; MULTI; INCR w:__key__; EXEC",
        "--command",
        "get=GET missing",
        "-n",
        "400",
        "--clients",
        "1",
        "--max-error-rate",
        "100%",
        "-q",
        "--out",
        &out,
    ];
    // `get` is a built-in test's name: refused. The name is the user's, not the command's.
    let refused = run_rbench(&fake_args(&server, &args));
    assert_eq!(refused.code, 2, "{refused:?}");
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == "get=GET missing" {
                "miss=GET missing"
            } else {
                a
            }
        })
        .collect();
    let res = run_rbench(&fake_args(&server, &args));
    res.assert_ok();
    let csv = results_csv(dir.path());
    let tx = csv.row_for_test("tx");
    let (ok, errors) = (csv.num(tx, "ok"), csv.num(tx, "errors"));
    assert_eq!(ok + errors, csv.num(tx, "requests"), "{tx:?}");
    assert!(ok > 0.0 && errors > 0.0, "{tx:?}");
    assert_eq!(
        csv.get(tx, "error_classes"),
        format!("exec_nil={errors}"),
        "{tx:?}"
    );
    let miss = csv.row_for_test("miss");
    assert_eq!(csv.num(miss, "errors"), 0.0, "{miss:?}");
    assert!(csv.num(miss, "ok") > 0.0, "{miss:?}");
}
