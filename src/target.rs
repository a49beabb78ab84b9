//! Turns a planned target into something to run against: spawns a local deployment when asked,
//! checks the server answers (auth, cluster mode), discovers the topology, reads the persistence
//! settings for the results, and owns the spawned processes until dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cluster::{Route, Topology, TopologyError};
use crate::config::{Target, TargetKind, Workload};
use crate::conn::{Auth, Conn, ConnError};
use crate::deploy::{DeployError, Deployment, SpawnSpec};
use crate::resp::Value;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Deploy(#[from] DeployError),
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("{0}")]
    Limit(String),
}

pub struct Prepared {
    pub name: String,
    pub route: Route,
    pub auth: Auth,
    pub deployment: String,
    pub persistence: String,
    pub masters: usize,
    pub warnings: Vec<String>,
    pub spawned: Option<Deployment>,
}

impl Prepared {
    pub fn is_cluster(&self) -> bool {
        matches!(self.route, Route::Cluster(_))
    }

    /// FLUSHALL on the server, or on every master of a cluster.
    pub async fn flush(&self) -> Result<(), ConnError> {
        let addrs: Vec<SocketAddr> = match &self.route {
            Route::Single(a) => vec![*a],
            Route::Cluster(t) => {
                let m = t.snapshot();
                m.masters()
                    .into_iter()
                    .filter_map(|i| m.nodes.get(i as usize).copied())
                    .collect()
            }
        };
        for a in addrs {
            let mut c = Conn::connect(a, &self.auth, 4096).await?;
            if let Value::Error(e) = c.request(&[b"FLUSHALL"]).await? {
                return Err(c.command_error("FLUSHALL", e));
            }
        }
        Ok(())
    }

    /// Cluster targets get a background topology refresher for the length of a run.
    pub fn start_refresher(&self) -> Option<(tokio::task::JoinHandle<()>, Arc<AtomicBool>)> {
        let Route::Cluster(t) = &self.route else {
            return None;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let h = tokio::spawn(
            t.clone()
                .refresher(stop.clone(), Duration::from_millis(100)),
        );
        Some((h, stop))
    }
}

/// Spawns (if asked) and checks the target. Must run on a long-lived thread: spawned servers die
/// with the thread that started them.
pub fn prepare(
    t: &Target,
    w: &Workload,
    rt: &tokio::runtime::Runtime,
    cancel: &AtomicBool,
) -> Result<Prepared, TargetError> {
    let (spawned, cluster_seeds, single) = match &t.kind {
        TargetKind::Standalone(a) => (None, None, Some(*a)),
        TargetKind::Cluster(seeds) => (None, Some(seeds.clone()), None),
        TargetKind::Spawn(spec) => {
            let d = Deployment::spawn(spec, cancel)?;
            match spec {
                SpawnSpec::Cluster { .. } => {
                    let masters: Vec<SocketAddr> = d.nodes().iter().map(|n| n.addr).collect();
                    (Some(d), Some(masters), None)
                }
                SpawnSpec::Standalone { .. } => {
                    let a = d.addr();
                    (Some(d), None, Some(a))
                }
            }
        }
    };
    if cancel.load(Ordering::SeqCst) {
        return Err(TargetError::Deploy(DeployError::Interrupted));
    }
    let check = async {
        let mut warnings = Vec::new();
        let (route, masters, probe) = match (cluster_seeds, single) {
            (Some(seeds), _) => {
                let topo = Topology::discover(&seeds, &t.auth).await?;
                let map = topo.snapshot();
                let masters = map.masters().len();
                let probe = map
                    .masters()
                    .first()
                    .and_then(|i| map.nodes.get(*i as usize).copied())
                    .unwrap_or(seeds[0]);
                (Route::Cluster(Arc::new(topo)), masters, probe)
            }
            (None, Some(a)) => (Route::Single(a), 1, a),
            (None, None) => unreachable_route(),
        };
        // The handshake proves the server answers; nothing after it is required.
        let mut conn = Conn::connect(probe, &t.auth, 4096).await?;
        let persistence = persistence(&mut conn).await;
        if let Route::Single(a) = route
            && info_field(&mut conn, "cluster", "cluster_enabled")
                .await
                .as_deref()
                == Some("1")
        {
            warnings.push(format!(
                    "{a} is a Redis Cluster node: pass --cluster so keys are routed by slot (without it, keys owned by other nodes fail with MOVED)"
                ));
        }
        let conns = w.clients * masters;
        raise_nofile_limit(conns)?;
        Ok::<Prepared, TargetError>(Prepared {
            name: t.name.clone(),
            deployment: if matches!(route, Route::Cluster(_)) {
                "cluster".into()
            } else {
                "standalone".into()
            },
            route,
            auth: t.auth.clone(),
            persistence,
            masters,
            warnings,
            spawned,
        })
    };
    // A server that accepts but never answers must not make Ctrl-C wait for the setup timeouts.
    rt.block_on(async {
        tokio::select! {
            r = check => r,
            _ = async {
                while !cancel.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => Err(TargetError::Deploy(DeployError::Interrupted)),
        }
    })
}

fn unreachable_route() -> (Route, usize, SocketAddr) {
    let a = SocketAddr::from(([127, 0, 0, 1], 6379));
    (Route::Single(a), 1, a)
}

/// `none`, `rdb`, `aof-everysec`, `aof-always`, `aof-no`, or `unknown` when CONFIG is not allowed.
async fn persistence(conn: &mut Conn) -> String {
    // CONFIG GET answers [name, value].
    let get = |v: &Value| Some(v.as_array()?.get(1)?.text()?.into_owned());
    let aof = conn.request(&[b"CONFIG", b"GET", b"appendonly"]).await.ok();
    let Some(aof) = aof.as_ref().and_then(get) else {
        return "unknown".into();
    };
    if aof == "yes" {
        let fsync = conn
            .request(&[b"CONFIG", b"GET", b"appendfsync"])
            .await
            .ok();
        let fsync = fsync
            .as_ref()
            .and_then(get)
            .unwrap_or_else(|| "unknown".into());
        return format!("aof-{fsync}");
    }
    let save = conn.request(&[b"CONFIG", b"GET", b"save"]).await.ok();
    match save.as_ref().and_then(get) {
        Some(s) if !s.trim().is_empty() => "rdb".into(),
        _ => "none".into(),
    }
}

async fn info_field(conn: &mut Conn, section: &str, field: &str) -> Option<String> {
    let reply = conn.request(&[b"INFO", section.as_bytes()]).await.ok()?;
    let text = reply.text()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Raises the soft open-file limit to the hard limit, and fails clearly when even that cannot hold
/// `connections` sockets (DESIGN §5: 10k connections must work).
pub fn raise_nofile_limit(connections: usize) -> Result<(), TargetError> {
    let need = connections as u64 + 64;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Ok(());
        }
        if lim.rlim_cur < lim.rlim_max {
            let mut raised = lim;
            raised.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    if lim.rlim_cur < need {
        return Err(TargetError::Limit(format!(
            "{connections} connections need about {need} open files, but the limit is {}: raise it (ulimit -n {need}) or use fewer --clients",
            lim.rlim_cur
        )));
    }
    Ok(())
}
