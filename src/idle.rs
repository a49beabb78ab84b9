//! `-I`, redis-benchmark's idle mode: open `--clients` connections, send nothing after the handshake,
//! and hold them until a signal. Used to see what idle clients cost a server (memory, `maxclients`).
//! A cluster gets `--clients` connections to every master, as a benchmark's clients would hold.
//! Every connection is watched: one the server closes (`timeout`, `CLIENT KILL`) or writes to is
//! reported as it happens.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cluster::Topology;
use crate::config::{Plan, Target, TargetKind};
use crate::conn::{Auth, Conn, ConnError};
use crate::exit::RunError;
use crate::net::{Dialer, Peer};
use crate::stop::Stop;
use crate::{signals, target};

/// At most this many connects in flight (below Redis's default listen backlog of 511).
const MAX_CONNECTING: usize = 256;
/// How long after the last connect a server's refusal still counts as one. Redis refuses
/// (maxclients) unasked, as it accepts, and -I asks nothing: its words arrive within
/// milliseconds on the loopback, so this window catches them before "open" is claimed.
const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
enum IdleError {
    #[error(
        "-I holds connections to one existing server or cluster: give -h/-p (with --cluster for a cluster)"
    )]
    Target,
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("{0}")]
    Setup(String),
}

/// What the server did to a held connection.
enum Event {
    /// It wrote something unasked (an error before closing, a push): the first line of it,
    /// and whether it was an error reply.
    Wrote(String, bool),
    Closed(String),
}

type Watched = (usize, Peer, Event);

/// Runs idle mode until a signal (then exiting 128 + signal, as any run) or a failure.
pub fn run(
    plan: &Plan,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let held = match start(plan) {
        Ok((rt, addrs, t)) => rt.block_on(hold(&addrs, t, plan.workload.clients, stop, out, err)),
        Err(e @ IdleError::Target) => return Err(RunError::usage("rbench", e)),
        Err(e) => Err(RunError::failed("rbench", e)),
    };
    match (held, signals::stopped_by(stop)) {
        (held, None) => held,
        (Ok(()), Some(sig)) => Err(RunError::Stopped(sig)),
        // A failure while a signal stopped the run exits as the signal.
        (Err(e), Some(sig)) => Err(RunError::Signalled {
            inner: Box::new(e),
            sig,
        }),
    }
}

/// The runtime and the addresses to hold connections to: the server, or every master.
fn start(plan: &Plan) -> Result<(tokio::runtime::Runtime, Vec<Peer>, &Target), IdleError> {
    let [t] = &plan.targets[..] else {
        return Err(IdleError::Target);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| IdleError::Setup(format!("cannot start the runtime: {e}")))?;
    let addrs = match &t.kind {
        TargetKind::Standalone(p) => vec![p.clone()],
        TargetKind::Cluster(seeds) => rt.block_on(masters(seeds, &t.auth, &t.dial))?,
        TargetKind::Spawn(_) => return Err(IdleError::Target),
    };
    target::raise_nofile_limit(plan.workload.clients * addrs.len())
        .map_err(|e| IdleError::Setup(e.to_string()))?;
    Ok((rt, addrs, t))
}

async fn masters(seeds: &[SocketAddr], auth: &Auth, dial: &Dialer) -> Result<Vec<Peer>, IdleError> {
    let topo = Topology::discover(seeds, auth, dial)
        .await
        .map_err(|e| IdleError::Setup(e.to_string()))?;
    let map = topo.snapshot();
    Ok(map
        .masters()
        .into_iter()
        .filter_map(|i| map.nodes.get(i as usize).copied().map(Peer::Tcp))
        .collect())
}

/// Opens one connection (TCP, unix socket or TLS, as the target says).
async fn dial(addr: Peer, t: &Target) -> Result<Conn, ConnError> {
    // Idle connections never carry requests: the smallest buffers will do.
    Conn::connect(&t.dial, addr, &t.auth, 512).await
}

/// Opens `clients` connections to each address, at most MAX_CONNECTING at a time; the first
/// refusal fails them all (with the server's words).
async fn open_all(
    addrs: &[Peer],
    t: &Target,
    clients: usize,
    stop: &Stop,
) -> Result<Vec<Conn>, IdleError> {
    let mut todo = addrs
        .iter()
        .flat_map(|a| std::iter::repeat_n(a.clone(), clients));
    let mut pending = JoinSet::new();
    let mut open = Vec::new();
    loop {
        while pending.len() < MAX_CONNECTING
            && let Some(a) = todo.next()
        {
            let t = t.clone();
            pending.spawn(async move { dial(a, &t).await });
        }
        let done = tokio::select! {
            done = pending.join_next() => done,
            () = stop.stopped() => None,
        };
        let Some(done) = done else {
            return Ok(open);
        };
        let conn = done.map_err(|e| IdleError::Setup(format!("connecting: {e}")))??;
        open.push(conn);
    }
}

/// Holds the connections until a signal (or until the server closed them all).
async fn hold(
    addrs: &[Peer],
    t: &Target,
    clients: usize,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let conns = open_all(addrs, t, clients, stop)
        .await
        .map_err(|e| RunError::failed("rbench", e))?;
    if stop.is_stopped() {
        return Ok(());
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watchers = JoinSet::new();
    let opened = conns.len();
    for (i, c) in conns.into_iter().enumerate() {
        watchers.spawn(watch(i + 1, c, tx.clone()));
    }
    drop(tx);
    let early = settle(&mut rx)
        .await
        .map_err(|refusal| RunError::failed("rbench", refusal))?;
    let names: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let _ = writeln!(
        out,
        "{opened} idle connections open to {} (Ctrl-C to close them)\nclients: {opened}",
        names.join(", "),
    );
    let _ = out.flush();
    let mut open = opened;
    for ev in early {
        report(ev, &mut open, out, err)?;
    }
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => report(ev, &mut open, out, err)?,
                // Every watcher ends by reporting its close, so the last close failed the run
                // already; should they all end otherwise, no connection is held either.
                None => {
                    let why = "the server closed every idle connection";
                    return Err(RunError::failed("rbench", why));
                }
            },
            () = stop.stopped() => {
                // Dropping the watchers closes the connections.
                watchers.abort_all();
                let _ = writeln!(err, "rbench: closed {open} idle connections");
                return Ok(());
            },
        }
    }
}

/// Waits SETTLE for refusals. An error reply in that window means the server did not take
/// the connection (maxclients, protected mode): Err with its words. Otherwise the events seen.
async fn settle(rx: &mut mpsc::UnboundedReceiver<Watched>) -> Result<Vec<Watched>, String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + SETTLE;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let (i, addr, Event::Wrote(what, true)) = &ev {
            return Err(format!(
                "idle connection {i} to {addr}: the server refused it: {what}"
            ));
        }
        seen.push(ev);
    }
    Ok(seen)
}

/// Prints one event; an error when no connection is left.
fn report(
    ev: Watched,
    open: &mut usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    match ev {
        (i, addr, Event::Wrote(what, _)) => {
            let _ = writeln!(
                err,
                "rbench: idle connection {i} to {addr}: the server sent: {what}"
            );
        }
        (i, addr, Event::Closed(why)) => {
            *open -= 1;
            let _ = writeln!(err, "rbench: idle connection {i} to {addr}: {why}");
            let _ = writeln!(out, "clients: {open}");
            if *open == 0 {
                let why = "the server closed every idle connection";
                return Err(RunError::failed("rbench", why));
            }
        }
    }
    Ok(())
}

/// Reports what the server does to one held connection, until it closes it.
async fn watch(i: usize, mut c: Conn, tx: mpsc::UnboundedSender<Watched>) {
    loop {
        let ev = match c.unsolicited().await {
            Ok(bytes) => Event::Wrote(first_line(&bytes), bytes.first() == Some(&b'-')),
            Err(ConnError::Eof { .. }) => Event::Closed("closed by the server".into()),
            Err(e) => Event::Closed(e.to_string()),
        };
        let closed = matches!(ev, Event::Closed(_));
        if tx.send((i, c.peer(), ev)).is_err() || closed {
            return;
        }
    }
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim()
        .trim_start_matches(['-', '+'])
        .chars()
        .take(200)
        .collect()
}
