//! Turns a planned target into something to run against: spawns a local deployment when asked,
//! checks the server answers (auth, cluster mode), discovers the topology, reads the persistence
//! settings for the results, and owns the spawned processes until dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Route, Topology, TopologyError};
use crate::config::{Target, TargetKind, Workload};
use crate::conn::{Auth, Conn, ConnError, handshake_error};
use crate::deploy::{DeployError, Deployment, SpawnSpec};
use crate::net::tls::{self, TlsOptions};
use crate::net::{Dialer, Peer};
use crate::resp::{ErrorClass, Value};
use crate::stop::Stop;
use crate::workload::command::{Script, ScriptKind};

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
    #[error("{0}")]
    Tls(String),
}

/// A target ready to run against: reached and checked (and spawned, when the plan asks), with its
/// route, what the results say about it, and the spawned servers it owns until dropped.
pub struct ReadyTarget {
    pub name: String,
    pub route: Route,
    pub auth: Auth,
    pub dial: Dialer,
    pub deployment: String,
    pub persistence: String,
    /// `redis 7.0.15`, `valkey 8.0.1`, or `unknown` when INFO is not allowed.
    pub server_version: String,
    pub masters: usize,
    pub warnings: Vec<String>,
    pub spawned: Option<Deployment>,
}

impl ReadyTarget {
    pub fn is_cluster(&self) -> bool {
        matches!(self.route, Route::Cluster(_))
    }

    /// The server runs on this machine: a unix socket, or a loopback address.
    pub fn is_local(&self) -> bool {
        match &self.route {
            Route::Single(Peer::Tcp(a)) => a.ip().is_loopback(),
            Route::Single(_) => true,
            Route::Cluster(t) => t.snapshot().nodes.iter().all(|a| a.ip().is_loopback()),
        }
    }

    /// FLUSHALL on the server, or on every master of a cluster.
    pub async fn flush(&self) -> Result<(), ConnError> {
        for a in self.masters() {
            let mut c = Conn::connect(&self.dial, a, &self.auth, 4096).await?;
            if let Value::Error(e) = c.request(&[b"FLUSHALL"]).await? {
                return Err(c.command_error("FLUSHALL", e));
            }
        }
        Ok(())
    }

    /// The server, or every master of the cluster.
    fn masters(&self) -> Vec<Peer> {
        match &self.route {
            Route::Single(p) => vec![p.clone()],
            Route::Cluster(t) => {
                let m = t.snapshot();
                m.masters()
                    .into_iter()
                    .filter_map(|i| m.nodes.get(i as usize).copied().map(Peer::Tcp))
                    .collect()
            }
        }
    }

    /// Loads the workload's scripts (SCRIPT LOAD) and function libraries (FUNCTION LOAD REPLACE)
    /// on every master, so the first EVALSHA/FCALL finds them.
    pub async fn load_scripts(&self, scripts: &[Script]) -> Result<(), ConnError> {
        if scripts.is_empty() {
            return Ok(());
        }
        for a in self.masters() {
            let mut c = Conn::connect(&self.dial, a, &self.auth, 4096).await?;
            for s in scripts {
                let body = s.body.as_bytes();
                let (name, args): (&str, Vec<&[u8]>) = match s.kind {
                    ScriptKind::Eval => ("SCRIPT LOAD", vec![b"SCRIPT", b"LOAD", body]),
                    ScriptKind::Function => (
                        "FUNCTION LOAD",
                        vec![b"FUNCTION", b"LOAD", b"REPLACE", body],
                    ),
                };
                let reply = c.request(&args).await?;
                if let Value::Error(e) = reply {
                    return Err(c.command_error(name, e));
                }
            }
        }
        Ok(())
    }

    /// Cluster targets get a background topology refresher for the length of a run: it stops when
    /// the returned guard drops.
    pub fn start_refresher(&self) -> Option<Refresher> {
        let Route::Cluster(t) = &self.route else {
            return None;
        };
        Some(Refresher(tokio::spawn(
            t.clone().refresher(Duration::from_millis(100)),
        )))
    }
}

/// A running topology refresher, aborted when dropped.
pub struct Refresher(tokio::task::JoinHandle<()>);

impl Drop for Refresher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where the target is reached: a cluster's seeds, or one server.
enum Reach {
    Cluster(Vec<SocketAddr>),
    Single(Peer),
}

/// Spawns (if asked) and checks the target. Must run on a long-lived thread: spawned servers die
/// with the thread that started them.
pub fn prepare(
    t: &Target,
    w: &Workload,
    rt: &tokio::runtime::Runtime,
    cancel: &Stop,
) -> Result<ReadyTarget, TargetError> {
    let (spawned, reach) = reach(t, cancel)?;
    if cancel.is_stopped() {
        return Err(TargetError::Deploy(DeployError::Interrupted));
    }
    let dial = dialer_for(t, spawned.as_ref())?;
    let check = async {
        let (route, masters, probe) = route(reach, &t.auth, &dial).await?;
        // The one command rbench itself sends (redis-benchmark reads CONFIG too): it also proves
        // the server answers, which the handshake no longer does when there is nothing to set up.
        let plain = dial.is_plain(&probe);
        let mut conn = Conn::connect(&dial, probe, &t.auth, 4096).await?;
        let config = server_config(&mut conn, &t.auth)
            .await
            .map_err(|e| plain_to_tls_hint(e, plain))?;
        let mut warnings = Vec::new();
        if let Route::Single(a) = &route
            && config.get("cluster-enabled").map(String::as_str) == Some("yes")
        {
            warnings.push(format!(
                "{a} is a Redis Cluster node: pass --cluster so keys are routed by slot (without it, keys owned by other nodes fail with MOVED)"
            ));
        }
        let server_version = server_version(&mut conn).await;
        raise_nofile_limit(w.clients * masters)?;
        Ok::<ReadyTarget, TargetError>(ReadyTarget {
            name: t.name.clone(),
            deployment: if matches!(route, Route::Cluster(_)) {
                "cluster".into()
            } else {
                "standalone".into()
            },
            route,
            auth: t.auth.clone(),
            dial: dial.clone(),
            persistence: persistence(&config),
            server_version,
            masters,
            warnings,
            spawned,
        })
    };
    // A server that accepts but never answers must not make Ctrl-C wait for the setup timeouts.
    rt.block_on(async {
        tokio::select! {
            r = check => r,
            () = cancel.stopped() => Err(TargetError::Deploy(DeployError::Interrupted)),
        }
    })
}

/// Spawns the deployment if the target asks for one; where to reach it.
fn reach(t: &Target, cancel: &Stop) -> Result<(Option<Deployment>, Reach), TargetError> {
    Ok(match &t.kind {
        TargetKind::Standalone(p) => (None, Reach::Single(p.clone())),
        TargetKind::Cluster(seeds) => (None, Reach::Cluster(seeds.clone())),
        TargetKind::Spawn(spec) => {
            let d = Deployment::spawn_with(spec, t.tls.is_some(), cancel)?;
            let reach = match spec {
                SpawnSpec::Cluster { .. } => {
                    Reach::Cluster(d.nodes().iter().map(|n| d.client_addr(n.addr)).collect())
                }
                SpawnSpec::Standalone { .. } => Reach::Single(Peer::Tcp(d.client_addr(d.addr()))),
            };
            (Some(d), reach)
        }
    })
}

/// The route, the number of masters, and the node to read the configuration from (a master).
async fn route(
    reach: Reach,
    auth: &Auth,
    dial: &Dialer,
) -> Result<(Route, usize, Peer), TargetError> {
    Ok(match reach {
        Reach::Cluster(seeds) => {
            let topo = Topology::discover(&seeds, auth, dial).await?;
            let map = topo.snapshot();
            let probe = map
                .masters()
                .first()
                .and_then(|i| map.nodes.get(*i as usize).copied())
                .unwrap_or(seeds[0]);
            let masters = map.masters().len();
            (Route::Cluster(Arc::new(topo)), masters, Peer::Tcp(probe))
        }
        Reach::Single(p) => (Route::Single(p.clone()), 1, p),
    })
}

/// A TLS port drops a plain client's first command: say so, not just "connection lost".
fn plain_to_tls_hint(e: TargetError, plain_tcp: bool) -> TargetError {
    match e {
        TargetError::Conn(c @ (ConnError::Io { .. } | ConnError::Eof { .. })) if plain_tcp => {
            TargetError::Tls(format!("{c} (is it a TLS port? pass --tls)"))
        }
        other => other,
    }
}

/// The target's dialer; a spawned TLS deployment's trusts the CA made for it.
fn dialer_for(t: &Target, spawned: Option<&Deployment>) -> Result<Dialer, TargetError> {
    match (&t.tls, spawned.and_then(|d| d.tls_ca())) {
        (Some(o), Some(ca)) => {
            let o = TlsOptions {
                cacert: Some(ca.to_path_buf()),
                ..o.clone()
            };
            let c = tls::build(&o, None).map_err(TargetError::Tls)?;
            Ok(Dialer {
                tls: Some(Arc::new(c)),
            })
        }
        _ => Ok(t.dial.clone()),
    }
}

/// What rbench reads of a server's configuration: persistence for the results, and whether it is a
/// cluster node (to warn when --cluster is missing).
const CONFIG_PARAMS: [&[u8]; 4] = [b"appendonly", b"appendfsync", b"save", b"cluster-enabled"];

/// The server's answer for `CONFIG_PARAMS`, by name: one `CONFIG GET` of them all, or one per name
/// for servers before Redis 7 that take a single pattern. Empty when CONFIG is not allowed (a
/// least-privilege user, a proxy): nothing needs it. A refusal of the connection (maxclients,
/// NOAUTH, LOADING), a server that does not answer or one that does not speak RESP fail the target.
async fn server_config(
    conn: &mut Conn,
    auth: &Auth,
) -> Result<HashMap<String, String>, TargetError> {
    let mut out = HashMap::new();
    let mut all: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
    all.extend(CONFIG_PARAMS);
    let reply = conn.setup_request(&all).await?;
    let single = match &reply {
        Value::Error(msg) => {
            refusal(conn, msg, auth)?;
            msg.contains("wrong number of arguments")
        }
        _ => false,
    };
    if !single {
        read_pairs(&reply, &mut out);
        return Ok(out);
    }
    for p in CONFIG_PARAMS {
        let reply = conn.setup_request(&[b"CONFIG", b"GET", p]).await?;
        read_pairs(&reply, &mut out);
    }
    Ok(out)
}

/// A refusal of the connection in reply to the set-up CONFIG GET fails the target as a
/// handshake's would.
fn refusal(conn: &Conn, msg: &str, auth: &Auth) -> Result<(), TargetError> {
    if ErrorClass::of_error(msg.as_bytes()).refuses_connection() {
        return Err(handshake_error(conn.peer(), "CONFIG GET", msg, auth).into());
    }
    Ok(())
}

/// `[name, value, name, value, ...]` into `out` (an error or anything else adds nothing).
fn read_pairs(reply: &Value, out: &mut HashMap<String, String>) {
    let Some(items) = reply.as_array() else {
        return;
    };
    for pair in items.chunks_exact(2) {
        if let (Some(k), Some(v)) = (pair[0].text(), pair[1].text()) {
            out.insert(k.to_ascii_lowercase(), v.into_owned());
        }
    }
}

/// The server's name and version from `INFO server`, for the report's run parameters; a server
/// that refuses INFO (a least-privilege user) is `unknown`, never a failure.
async fn server_version(conn: &mut Conn) -> String {
    let Ok(reply) = conn.setup_request(&[b"INFO", b"server"]).await else {
        return "unknown".into();
    };
    let text = reply
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    version_of_info(&text)
}

fn version_of_info(text: &str) -> String {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    match (field("valkey_version"), field("redis_version")) {
        (Some(v), _) => format!("valkey {v}"),
        (None, Some(v)) => format!("redis {v}"),
        (None, None) => "unknown".into(),
    }
}

/// `none`, `rdb`, `aof-everysec`, `aof-always`, `aof-no`, or `unknown` when CONFIG is not allowed.
fn persistence(config: &HashMap<String, String>) -> String {
    match config.get("appendonly").map(String::as_str) {
        None => "unknown".into(),
        Some("yes") => {
            let fsync = config.get("appendfsync").map_or("unknown", String::as_str);
            format!("aof-{fsync}")
        }
        Some(_) if config.get("save").is_some_and(|s| !s.trim().is_empty()) => "rdb".into(),
        Some(_) => "none".into(),
    }
}

/// Raises the soft open-file limit to the hard limit, and fails clearly when even that cannot hold
/// `connections` sockets (10k connections must work).
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

#[cfg(test)]
mod tests {
    use super::version_of_info;

    #[test]
    fn names_the_server_and_its_version() {
        let redis = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n";
        assert_eq!(version_of_info(redis), "redis 7.0.15");
        let valkey = "# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(version_of_info(valkey), "valkey 8.0.1");
        assert_eq!(version_of_info("-ERR no"), "unknown");
    }
}
