//! The processes and temp dirs of one rbench run, found by its own TMPDIR: its temp dirs are the
//! `rbench-*` entries there and its servers the processes working in a dir under it.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use super::{TempDir, wait_for};

/// A process at one moment; its start time tells it from a later process that reuses the PID.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    pub pid: u32,
    pub start: u64,
}

/// (comm, state, ppid, start time) from `/proc/<pid>/stat`.
pub fn proc_stat(pid: u32) -> Option<(String, char, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm = text.get(text.find('(')? + 1..text.rfind(')')?)?.to_string();
    let rest: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let state = rest.first()?.chars().next()?;
    Some((
        comm,
        state,
        rest.get(1)?.parse().ok()?,
        rest.get(19)?.parse().ok()?,
    ))
}

pub fn seen(pid: u32) -> Option<Seen> {
    proc_stat(pid).map(|(_, _, _, start)| Seen { pid, start })
}

/// The processes working in a dir under `dir`: a spawned redis-server works in its own dir, under
/// the run's TMPDIR (its command line does not say: redis-server rewrites it).
pub fn working_under(dir: &Path) -> Vec<Seen> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .filter_map(seen)
        .collect()
}

/// The redis-servers of the run whose TMPDIR is `tmp`, once there are at least `n`.
pub fn wait_for_servers(tmp: &TempDir, n: usize) -> Vec<Seen> {
    let mut servers = Vec::new();
    wait_for(
        "rbench to spawn redis-server",
        Duration::from_secs(60),
        || {
            servers = working_under(tmp.path());
            servers.len() >= n
        },
    );
    servers
}

/// The children of `pid` (the thread that spawns servers is rbench's main thread).
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `rbench-*` entries of a TMPDIR: temp dirs a run left behind.
pub fn rbench_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap_or_else(|e| panic!("reading {}: {e}", tmp.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("rbench-"))
        .collect()
}

/// Once rbench has exited: none of `servers` runs any more (a zombie waiting for its new parent to
/// reap it is dead already), no process works under the run's TMPDIR, and no temp dir is left there.
pub fn assert_nothing_left(tmp: &TempDir, servers: &[Seen], what: &str) {
    let running = || -> Vec<String> {
        servers
            .iter()
            .filter_map(|s| {
                let (comm, state, ppid, start) = proc_stat(s.pid)?;
                (start == s.start && state != 'Z')
                    .then(|| format!("{} {comm} (state {state}, ppid {ppid})", s.pid))
            })
            .collect()
    };
    // A killed process may take a moment to be gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !running().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        running().is_empty(),
        "{what}: still running: {:?}",
        running()
    );
    let inside = working_under(tmp.path());
    assert!(
        inside.is_empty(),
        "{what}: processes working under {} still exist: {inside:?}",
        tmp.arg()
    );
    let dirs = rbench_dirs(tmp.path());
    assert!(dirs.is_empty(), "{what}: temp dirs left: {dirs:?}");
}
