//! The server timeline file (`server-timeline-<run>.csv`): the sampler's rows, one per node and
//! second, appended by a thread of its own as each second closes, so a run killed at any point
//! leaves every second the sampler closed on disk.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use super::files::WriteError;
use super::stream::append_projected;
use crate::observe::ServerSecond;
use crate::schema::{self, ServerTimelineRow};

/// Where a phase's rows go, and what they are labelled with.
#[derive(Clone, Debug)]
pub struct Label {
    pub target: String,
    pub phase: String,
    pub repeat: u32,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn f3(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// A sampler's second as its row.
pub fn row(l: &Label, s: &ServerSecond) -> ServerTimelineRow {
    ServerTimelineRow {
        elapsed_s: s.sec.to_string(),
        span_s: format!("{:.3}", s.span_s),
        target: l.target.clone(),
        phase: l.phase.clone(),
        repeat: l.repeat.to_string(),
        node: s.node.clone(),
        role: s.role.clone(),
        missing: s.missing.to_string(),
        cpu_cores: f3(s.cpu_cores),
        main_cpu: f3(s.main_cpu),
        commands: opt(s.commands),
        ops_per_sec: opt(s.ops_per_sec),
        used_memory: opt(s.used_memory),
        rss: opt(s.rss),
        fragmentation: f3(s.fragmentation),
        clients: opt(s.clients),
        blocked: opt(s.blocked),
        evicted: opt(s.evicted),
        expired: opt(s.expired),
        hits: opt(s.hits),
        misses: opt(s.misses),
        bgsave: opt(s.bgsave),
        aof_rewrite: opt(s.aof_rewrite),
        delayed_fsync: opt(s.delayed_fsync),
        forks: opt(s.forks),
        latest_fork_usec: opt(s.latest_fork_usec),
        repl_offset: opt(s.repl_offset),
        lag_bytes: opt(s.lag_bytes),
        lag_s: opt(s.lag_s),
        events: s.events.join(" "),
    }
}

/// Appends the rows `rx` brings to the run's server timeline in `dir` (None: drops them) until the
/// sampler hangs up; the first write error, if any, when joined.
pub fn spawn_writer(
    dir: Option<PathBuf>,
    run_id: &str,
    label: Label,
    rx: Receiver<ServerSecond>,
) -> std::io::Result<JoinHandle<Option<WriteError>>> {
    let path = dir.map(|d| d.join(schema::server_timeline_name(run_id)));
    std::thread::Builder::new()
        .name("rbench-server-timeline".into())
        .spawn(move || write_all(path.as_deref(), &label, &rx))
}

fn write_all(
    path: Option<&Path>,
    label: &Label,
    rx: &Receiver<ServerSecond>,
) -> Option<WriteError> {
    let header = schema::header_of(&ServerTimelineRow::default()).unwrap_or_default();
    let mut failed = None;
    for s in rx {
        if let (Some(p), None) = (path, &failed)
            && let Err(e) = append_projected(p, &header, &[row(label, &s)])
        {
            failed = Some(e);
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_appended_as_they_come_and_unknown_is_empty() {
        let dir = std::env::temp_dir().join(format!("rbench-st-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (tx, rx) = std::sync::mpsc::channel();
        let label = Label {
            target: "t".into(),
            phase: "SET".into(),
            repeat: 2,
        };
        let h = spawn_writer(Some(dir.clone()), "R1", label, rx).unwrap();
        let mut s = ServerSecond {
            sec: 1,
            span_s: 1.0,
            node: "127.0.0.1:7000".into(),
            role: "master".into(),
            cpu_cores: Some(0.5),
            aof_rewrite: Some(true),
            events: vec!["aof-rewrite-start".into(), "fork".into()],
            ..ServerSecond::default()
        };
        tx.send(s.clone()).unwrap();
        s.sec = 2;
        s.missing = true;
        (s.cpu_cores, s.aof_rewrite, s.events) = (None, None, Vec::new());
        tx.send(s).unwrap();
        drop(tx);
        assert!(h.join().unwrap().is_none());
        let text = std::fs::read_to_string(dir.join("server-timeline-R1.csv")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0]
                .starts_with("elapsed_s,span_s,target,phase,repeat,node,role,missing,cpu_cores")
        );
        assert!(
            lines[1].starts_with("1,1.000,t,SET,2,127.0.0.1:7000,master,false,0.500,"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(",true,,,,,,,aof-rewrite-start fork"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("2,1.000,t,SET,2,127.0.0.1:7000,master,true,,,"),
            "{text}"
        );
    }
}
