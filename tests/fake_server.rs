//! Scripted fake servers for what a real server cannot be made to do: malformed replies, connections
//! dropped mid-run, slow replies. Each is a std::net listener on 127.0.0.1:0 with a thread per
//! connection; it answers the handshake rbench needs (PING, AUTH, SELECT, CONFIG GET, INFO) unless the
//! script says otherwise.

mod support;

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

/// Reads one command: a RESP array of bulk strings, or an inline command (`PING\r\n`).
fn read_command(r: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line).ok()? == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&line).trim_end().to_string();
    let Some(count) = text.strip_prefix('*') else {
        return Some(
            text.split_whitespace()
                .map(|w| w.as_bytes().to_vec())
                .collect(),
        );
    };
    let n: usize = count.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_until(b'\n', &mut line).ok()?;
        let len: usize = String::from_utf8_lossy(&line)
            .trim_end()
            .strip_prefix('$')?
            .parse()
            .ok()?;
        let mut buf = vec![0u8; len + 2];
        r.read_exact(&mut buf).ok()?;
        buf.truncate(len);
        args.push(buf);
    }
    Some(args)
}

/// The replies rbench's connection set-up needs, or None for a benchmark command.
fn handshake_reply(cmd: &[Vec<u8>]) -> Option<Vec<u8>> {
    let name = String::from_utf8_lossy(cmd.first()?).to_ascii_uppercase();
    match name.as_str() {
        "PING" => Some(b"+PONG\r\n".to_vec()),
        "AUTH" | "SELECT" => Some(b"+OK\r\n".to_vec()),
        // CONFIG GET appendonly / save, INFO cluster: not a persistence-aware, non-cluster server.
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
    while let Some(cmd) = read_command(&mut reader) {
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
    // Without a password the set-up PING waits; with one, the AUTH of the handshake. Both at once.
    let runs: Vec<Running> = [&[][..], &["-a", "pw-never-shown"][..]]
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
    assert_eq!(res.code, 0, "{res:?}");
    assert!(res.stdout.contains("protocol="), "{}", res.stdout);
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
    assert_eq!(res.code, 0, "{res:?}");
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
