//! `rbench nightly` through the binary against a real redis-server: the first night on an empty
//! folder creates the history and the baseline, a same-code night passes, a night on a server made
//! slow (SIGSTOP/SIGCONT duty cycle on its PID) fails naming the test and stays out of the baseline
//! unless `--accept`, and unusable input exits 2 before anything runs.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::*;

/// A small, quick profile against `addr`: SET only, 5 repeats of 300 ms.
fn profile(dir: &TempDir, addr: &str) -> String {
    profile_of(dir, addr, 5)
}

fn profile_of(dir: &TempDir, addr: &str, repeat: u32) -> String {
    let text = format!(
        "[defaults]\ntests = [\"set\"]\nclients = 10\nkeyspace = 1000\nduration = \"300ms\"\nwarmup = \"100ms\"\nrepeat = {repeat}\nseed = 7\n\n[[target]]\nname = \"local\"\naddr = \"{addr}\"\n"
    );
    let path = dir.join("nightly-test.toml");
    std::fs::write(&path, text).expect("profile");
    path.to_string_lossy().into_owned()
}

fn nightly(profile: &str, out: &TempDir, extra: &[&str]) -> RunOutput {
    let mut args = vec![
        "nightly".to_string(),
        "-c".into(),
        profile.into(),
        "--out".into(),
        out.arg(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let res = run_rbench(&args);
    res.assert_no_panic();
    res
}

/// The ledger's (status, accepted) per night.
fn ledger(out: &TempDir) -> Vec<(String, String)> {
    let csv = Csv::read(&out.join("nights.csv"));
    csv.rows
        .iter()
        .map(|r| {
            (
                csv.get(r, "status").to_string(),
                csv.get(r, "accepted").to_string(),
            )
        })
        .collect()
}

/// The latest night's status as `trend.md` heads it (nightly rewrites it after every night).
fn trend_status(out: &TempDir) -> String {
    let md = std::fs::read_to_string(out.join("trend.md")).expect("trend.md");
    assert!(
        out.join("trend.html").is_file(),
        "trend.html beside trend.md"
    );
    let head = md.lines().next().unwrap_or("");
    head.strip_prefix("## rbench nightly: ")
        .unwrap_or_else(|| panic!("{md}"))
        .to_string()
}

/// Stops and continues `pid` every 4 ms while it runs: half the server's time gone, and every
/// reply that waits out a stop shows it in p99.
struct DutyCycle {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    pid: i32,
}

impl DutyCycle {
    fn start(pid: u32) -> DutyCycle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let pid = pid as i32;
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                std::thread::sleep(Duration::from_millis(4));
                unsafe { libc::kill(pid, libc::SIGCONT) };
                std::thread::sleep(Duration::from_millis(4));
            }
        });
        DutyCycle {
            stop,
            handle: Some(handle),
            pid,
        }
    }
}

impl Drop for DutyCycle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
    }
}

#[test]
fn nights_first_same_slow_and_accepted() {
    let dep = spawn_standalone(&[]);
    let work = TempDir::new("nightly-profile");
    let out = TempDir::new("nightly-out");
    let prof = profile(&work, &dep.addr().to_string());
    // Loose thresholds keep a same-code night on a busy CI machine from failing; the slow night
    // is far past them.
    let loose = ["--max-drop", "35%", "--max-p99-rise", "300%"];

    // Night 1: an empty folder; the night becomes the baseline.
    let res = nightly(&prof, &out, &loose);
    res.assert_ok();
    assert!(
        res.stdout.contains("nightly: first night"),
        "{}",
        res.stdout
    );
    let history = Csv::read(&out.join("history.csv"));
    assert_eq!(history.rows.len(), 5, "5 repeats of SET");
    assert_eq!(ledger(&out), [("first".into(), "yes".into())]);
    assert!(
        !out.join("runs.csv").exists(),
        "nightly keeps one history file"
    );
    assert_eq!(trend_status(&out), "FIRST");

    // Night 2: same code, same server.
    let res = nightly(&prof, &out, &loose);
    res.assert_ok();
    assert!(res.stdout.contains("nightly: PASS"), "{}", res.stdout);
    assert!(res.stdout.contains("5/5"), "{}", res.stdout);

    // A night whose requests fail (a full server answers OOM) is not judged and never a baseline.
    assert_eq!(
        cli(&dep, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        "OK"
    );
    assert_eq!(cli(&dep, &["CONFIG", "SET", "maxmemory", "1"]), "OK");
    let res = nightly(&prof, &out, &loose);
    assert_eq!(cli(&dep, &["CONFIG", "SET", "maxmemory", "0"]), "OK");
    assert_eq!(res.code, 3, "{res:?}");
    assert!(res.stderr.contains("oom="), "{}", res.stderr);
    assert!(res.stderr.contains("night not judged"), "{}", res.stderr);
    assert_eq!(
        trend_status(&out),
        "ERRORS",
        "the trend is redrawn on every path"
    );

    // Night 3: the server loses half its time.
    let slow = DutyCycle::start(dep.nodes()[0].pid);
    let res = nightly(&prof, &out, &loose);
    drop(slow);
    assert_eq!(res.code, 1, "{res:?}");
    let verdict = res
        .stdout
        .lines()
        .find(|l| l.starts_with("local"))
        .unwrap_or_else(|| panic!("no verdict row: {}", res.stdout));
    assert!(verdict.contains("REGRESSION (rps p="), "{verdict}");
    assert!(
        res.stdout
            .contains("nightly: REGRESSION in SET on local; night"),
        "{}",
        res.stdout
    );

    // Night 4: slow again, accepted on purpose; later nights are judged against it too.
    let slow = DutyCycle::start(dep.nodes()[0].pid);
    let res = nightly(&prof, &out, &[&loose[..], &["--accept"]].concat());
    drop(slow);
    assert_eq!(res.code, 0, "{res:?}");
    assert!(
        res.stdout.contains("accepted anyway (--accept)"),
        "{}",
        res.stdout
    );
    assert_eq!(
        ledger(&out),
        [
            ("first".into(), "yes".into()),
            ("pass".into(), "yes".into()),
            ("errors".into(), "no".into()),
            ("regression".into(), "no".into()),
            ("accepted".into(), "yes".into()),
        ]
    );

    // The trend page marks the errors night and the regression on SET's charts.
    assert_eq!(trend_status(&out), "ACCEPTED");
    let page = std::fs::read_to_string(out.join("trend.html")).expect("trend.html");
    for mark in ["mark-errors", "mark-regression", "mark-accepted-regression"] {
        assert_eq!(
            page.matches(&format!("class=\"night {mark}\"")).count(),
            2,
            "{mark}: SET's throughput and p99 charts"
        );
    }

    // One header, whole rows: 5 nights × 5 repeats.
    let text = std::fs::read_to_string(out.join("history.csv")).expect("history");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("timestamp,")).count(),
        1
    );
    assert_eq!(Csv::parse(&text).rows.len(), 25);
}

#[test]
fn unusable_input_exits_2_before_running() {
    let work = TempDir::new("nightly-bad");
    let out = TempDir::new("nightly-bad-out");
    // Unreachable on purpose: nothing may get as far as connecting.
    let prof = profile(&work, "127.0.0.1:1");

    let res = nightly(&prof, &out, &["--nights", "0"]);
    assert_eq!(res.code, 2, "{res:?}");
    assert_eq!(
        res.stderr_lines(),
        ["rbench nightly: --nights must be at least 1"]
    );

    let res = nightly(&prof, &out, &["--max-drop", "lots"]);
    assert_eq!(res.code, 2, "{res:?}");
    assert!(res.stderr.contains("--max-drop"), "{}", res.stderr);

    let res = nightly(&work.join("missing.toml").to_string_lossy(), &out, &[]);
    assert_eq!(res.code, 2, "{res:?}");
    assert!(res.stderr.contains("missing.toml"), "{}", res.stderr);

    // A ledger naming an accepted night that the history lacks.
    std::fs::write(
        out.join("nights.csv"),
        "timestamp,run_id,profile,status,accepted,rows,regressions\n2026-11-20T02:00:00Z,gone-1,x,first,yes,5,\n",
    )
    .expect("ledger");
    let res = nightly(&prof, &out, &[]);
    assert_eq!(res.code, 2, "{res:?}");
    assert_eq!(res.stderr_lines().len(), 1, "{}", res.stderr);
    assert!(res.stderr.contains("history.csv"), "{}", res.stderr);

    std::fs::write(out.join("history.csv"), "timestamp,run_id\n").expect("history");
    std::fs::write(
        out.join("nights.csv"),
        "timestamp,run_id,profile,status,accepted,rows,regressions\nx,y,z,first,maybe,5,\n",
    )
    .expect("ledger");
    let res = nightly(&prof, &out, &[]);
    assert_eq!(res.code, 2, "{res:?}");
    assert!(
        res.stderr.contains("accepted must be yes or no"),
        "{}",
        res.stderr
    );
    assert!(res.stdout.is_empty(), "{}", res.stdout);
}

/// A profile of one repeat cannot judge a night: a night far below the first is inconclusive
/// (exit 4, kept out of the baseline), unless `--inconclusive-ok` accepts it.
#[test]
fn a_night_that_cannot_be_judged_exits_4() {
    let dep = spawn_standalone(&[]);
    let work = TempDir::new("nightly-one-profile");
    let out = TempDir::new("nightly-one-out");
    let prof = profile_of(&work, &dep.addr().to_string(), 1);
    nightly(&prof, &out, &[]).assert_ok();
    // The first night made ten times faster in the history: every later night is 90 % down.
    let history = out.join("history.csv");
    let text = std::fs::read_to_string(&history).expect("history");
    let csv = Csv::parse(&text);
    let rps = csv.col("rps");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&csv.header).expect("header");
    for r in &csv.rows {
        let mut r = r.clone();
        r[rps] = format!("{:.2}", r[rps].parse::<f64>().expect("rps") * 10.0);
        w.write_record(&r).expect("row");
    }
    std::fs::write(&history, w.into_inner().expect("flush")).expect("history");
    let loose = ["--max-p99-rise", "1000000%"];
    let res = nightly(&prof, &out, &loose);
    assert_eq!(res.code, 4, "{res:?}");
    assert!(
        res.stdout
            .contains("nightly: INCONCLUSIVE: SET on local moved past the threshold"),
        "{}",
        res.stdout
    );
    assert!(res.stdout.contains("--repeat 3"), "{}", res.stdout);
    let res = nightly(&prof, &out, &[&loose[..], &["--inconclusive-ok"]].concat());
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(
        ledger(&out),
        [
            ("first".into(), "yes".into()),
            ("inconclusive".into(), "no".into()),
            ("inconclusive".into(), "yes".into()),
        ]
    );
}
