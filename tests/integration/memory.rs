//! A long run keeps nothing per second in memory: its seconds go to disk as they close. A run
//! killed with SIGKILL (no chance to save anything at the end) leaves its timeline CSV and `.hlog`
//! up to its last complete second.

use std::time::{Duration, Instant};

use crate::support::*;

/// Rows of the timeline CSV in `dir` (none while it does not exist).
fn timeline_rows(dir: &TempDir) -> Option<Csv> {
    let path = std::fs::read_dir(dir.path())
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("timeline-"))
        })?;
    Some(Csv::read(&path))
}

#[test]
fn a_run_killed_mid_way_leaves_its_seconds_on_disk() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("killed");
    let args = args_for(
        &dep,
        &[
            "-t",
            "set",
            "--rps",
            "2000",
            "--duration",
            "30",
            "--out",
            &dir.arg(),
            "-q",
        ],
    );
    let mut run = Running::process(&args, &[]);
    std::thread::sleep(Duration::from_millis(3500));
    // Second 3 closes 3 s after the start (connections first): on a busy machine, wait for it
    // a little longer rather than kill too soon. The run lasts 30 s; nothing is saved before.
    let deadline = Instant::now() + Duration::from_secs(20);
    while timeline_rows(&dir).is_none_or(|t| t.rows.len() < 3) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    run.signal(libc::SIGKILL);
    let out = run.wait(Duration::from_secs(10));
    assert_ne!(out.code, 0, "killed: {}", out.stderr);
    let t = timeline_rows(&dir).expect("a timeline CSV written while the run went on");
    let seconds: Vec<u64> = t
        .rows
        .iter()
        .map(|r| t.num(r, "elapsed_s") as u64)
        .collect();
    assert!(seconds.len() >= 3, "{seconds:?}");
    assert_eq!(seconds[..3], [1, 2, 3], "one row a second, in order");
    for r in &t.rows[..3] {
        assert_eq!(t.get(r, "test"), "SET");
        assert!(t.num(r, "ok") > 0.0, "{r:?}");
        assert!(t.num(r, "p50_ms") > 0.0, "{r:?}");
    }
    let hlogs: Vec<_> = std::fs::read_dir(dir.join("hdr"))
        .expect("hdr folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hlog"))
        .collect();
    assert_eq!(hlogs.len(), 1, "{hlogs:?}");
    let bytes = std::fs::read(&hlogs[0]).expect("read .hlog");
    let intervals = rbench::report::hlog::read_intervals(&bytes).expect("a whole interval log");
    assert!(intervals.len() >= 3, "{} intervals", intervals.len());
    for (i, iv) in intervals.iter().take(3).enumerate() {
        assert!(
            (iv.start_s - i as f64).abs() < 1e-6,
            "interval {i} at {}",
            iv.start_s
        );
        assert_eq!(
            iv.hist.len() as f64,
            t.num(&t.rows[i], "ok"),
            "second {}",
            i + 1
        );
    }
}
