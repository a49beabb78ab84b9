//! Locally spawned Redis deployments (standalone server or cluster) for rbench
//! and its tests.
//!
//! Blocking std code only: servers are child processes on free loopback ports,
//! each with its own directory inside a fresh temp dir that is removed on
//! shutdown. Children get `PR_SET_PDEATHSIG = SIGKILL`, which fires when the
//! *thread* that spawned them exits — so call [`Deployment::spawn`] from a
//! long-lived thread (the main thread), never from tokio's `spawn_blocking`.

mod process;
mod resp;
pub mod tls;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::{OwnedChild, ServerProc};

use crate::resp::Value;
use crate::stop::Stop;

/// How long a single server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Budget for `redis-cli --cluster create`, and separately for convergence.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);
/// Cancel flag / readiness polling period.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Per-operation socket timeout for probes; short so cancel stays responsive.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a server gets to exit after SIGTERM before it is SIGKILLed on shutdown.
const SIGTERM_GRACE: Duration = Duration::from_secs(2);
/// Extra attempts per server after losing a race for its port.
const PORT_RETRIES: usize = 3;

/// What to start.
#[derive(Debug, Clone, PartialEq)]
pub enum SpawnSpec {
    /// One server. `redis_args` are extra argv tokens appended after our
    /// defaults (one token per element, e.g. `["--appendonly", "yes"]`).
    Standalone { redis_args: Vec<String> },
    /// `masters * (1 + replicas)` nodes joined with `redis-cli --cluster create`.
    /// `masters` must be at least 3 (a redis-cli requirement): the profile, which is where a
    /// spec comes from, refuses fewer at its line, and `redis-cli --cluster create` would too.
    Cluster {
        masters: usize,
        replicas: usize,
        redis_args: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "redis-server not found on PATH: install it with `apt-get install -y redis-server redis-tools` (or brew install redis)"
    )]
    RedisServerNotFound,
    #[error(
        "redis-cli not found on PATH (needed for clusters and Deployment::cli): install it with `apt-get install -y redis-tools` (or brew install redis)"
    )]
    RedisCliNotFound,
    #[error("invalid deployment spec: {0}")]
    InvalidSpec(String),
    #[error("could not find {wanted} free loopback port(s) on 127.0.0.1")]
    NoFreePorts { wanted: usize },
    #[error("redis-server on 127.0.0.1:{port} failed to start: {reason}")]
    StartFailed { port: u16, reason: String },
    #[error("redis-cli --cluster create failed: {0}")]
    ClusterCreate(String),
    #[error("timed out after {}s waiting for {what}: {detail}", .after.as_secs())]
    Timeout {
        what: String,
        after: Duration,
        detail: String,
    },
    #[error("interrupted while starting the Redis deployment")]
    Interrupted,
    #[error("no node with index {index} (deployment has {len} nodes)")]
    NoSuchNode { index: usize, len: usize },
    #[error("node {index} ({addr}) is not running")]
    NotRunning { index: usize, addr: SocketAddr },
    #[error("node {index} ({addr}) is still running: only a killed node can be restarted")]
    StillRunning { index: usize, addr: SocketAddr },
    #[error("could not send {signal} to node {index} ({addr})")]
    Signal {
        index: usize,
        addr: SocketAddr,
        signal: &'static str,
    },
    #[error("redis-cli failed: {0}")]
    Cli(String),
    #[error("I/O error {context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl DeployError {
    fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        DeployError::Io {
            context: context.into(),
            error,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

/// One server. `role` is as assigned at creation; failovers don't update it.
#[derive(Debug, Clone)]
pub struct Node {
    pub addr: SocketAddr,
    pub pid: u32,
    pub role: Role,
}

/// A running deployment. Owns the server processes and the temp dir; both are
/// cleaned up by [`Deployment::shutdown`] or on drop.
#[derive(Debug)]
pub struct Deployment {
    cluster: bool,
    masters: usize,
    /// Parallel to `procs` once spawn has succeeded.
    nodes: Vec<Node>,
    procs: Vec<ServerProc>,
    dir: PathBuf,
    dir_removed: bool,
    /// A TLS deployment: its certificates and each server's (plain port, TLS port). The plain
    /// loopback port stays for rbench's own set-up probes and redis-cli; clients use TLS.
    tls: Option<(tls::TlsFiles, Vec<(u16, u16)>)>,
}

/// Progress notifications from spawn; lets tests see PIDs and the temp dir
/// even when spawn fails.
#[cfg_attr(not(test), allow(dead_code))]
enum SpawnEvent<'a> {
    TempDir(&'a Path),
    Started { pid: u32, port: u16 },
}

/// The servers a [`SpawnSpec`] asks for, validated: how many, in which roles, with which arguments.
struct Layout<'a> {
    cluster: bool,
    masters: usize,
    replicas: usize,
    total: usize,
    user_args: &'a [String],
    /// The installed redis-server takes `--enable-debug-command` (see `server_args`).
    enable_debug: bool,
}

impl<'a> Layout<'a> {
    fn new(spec: &'a SpawnSpec) -> Result<Self, DeployError> {
        match spec {
            SpawnSpec::Standalone { redis_args } => Ok(Layout {
                cluster: false,
                masters: 1,
                replicas: 0,
                total: 1,
                user_args: redis_args,
                enable_debug: false,
            }),
            SpawnSpec::Cluster {
                masters,
                replicas,
                redis_args,
            } => {
                let total = replicas
                    .checked_add(1)
                    .and_then(|per_shard| per_shard.checked_mul(*masters))
                    .filter(|&t| t <= 1000)
                    .ok_or_else(|| {
                        DeployError::InvalidSpec(format!(
                            "{masters} masters x (1 + {replicas} replicas) is too many nodes (max 1000)"
                        ))
                    })?;
                Ok(Layout {
                    cluster: true,
                    masters: *masters,
                    replicas: *replicas,
                    total,
                    user_args: redis_args,
                    enable_debug: false,
                })
            }
        }
    }

    /// Arguments after the per-server defaults: cluster settings first so the
    /// user's `redis_args` can override them.
    fn server_args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        if self.enable_debug {
            // Redis 7 refuses DEBUG (the `debug-sleep` fault) unless told otherwise; `local`
            // keeps it to loopback clients, which is all a spawned server has.
            args.extend(["--enable-debug-command", "local"].map(String::from));
        }
        if self.cluster {
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    // The default 5 s delay before a diskless full sync would
                    // make every cluster spawn wait 5 s for its replicas.
                    "--repl-diskless-sync-delay",
                    "0",
                    // CLUSTER SLOTS hides replicas whose replication offset
                    // is still 0, and on an idle master only the replication
                    // PING (default every 10 s) moves it.
                    "--repl-ping-replica-period",
                    "1",
                ]
                .map(String::from),
            );
        }
        args.extend(self.user_args.iter().cloned());
        args
    }
}

/// Removes the temp dirs that runs killed outright (SIGKILL, a crash) left under the system temp
/// dir: `rbench-<pid>-<n>-<nanos>`, ours, of a PID that no longer exists. Returns how many.
pub fn remove_leftover_temp_dirs() -> usize {
    process::remove_leftover_temp_dirs(&std::env::temp_dir())
}

/// For an exit at once (a second signal): SIGKILLs every server (and redis-cli) this process
/// spawned and has not reaped yet, waits until they are dead, and removes every temp dir not removed
/// yet. Deployments cannot spawn or clean up any more afterwards: exit right after.
pub fn kill_spawned_and_remove_temp_dirs() {
    process::kill_all_and_remove_dirs();
}

/// Waits `d` between probes; a stop ends the wait at once.
fn pause(cancel: &Stop, d: Duration) -> Result<(), DeployError> {
    if cancel.wait_timeout(d) {
        Err(DeployError::Interrupted)
    } else {
        Ok(())
    }
}

fn check_cancel(cancel: &Stop) -> Result<(), DeployError> {
    if cancel.is_stopped() {
        Err(DeployError::Interrupted)
    } else {
        Ok(())
    }
}

impl Deployment {
    /// Start the deployment on free loopback ports in a fresh temp dir and
    /// wait until it is ready (standalone: answers PING; cluster: every node
    /// reports `cluster_state:ok`, sees all nodes, `CLUSTER SLOTS` covers all
    /// 16384 slots with every replica listed, and replicas' links are up).
    ///
    /// `cancel` is checked while waiting; once stopped, everything started so far
    /// is torn down and [`DeployError::Interrupted`] is returned.
    ///
    /// Must be called from a long-lived thread (see the module docs on
    /// PDEATHSIG).
    pub fn spawn(spec: &SpawnSpec, cancel: &Stop) -> Result<Deployment, DeployError> {
        Self::spawn_observed(spec, false, cancel, &mut |_| {})
    }

    /// As [`Deployment::spawn`]; with `tls`, every server also listens on a TLS port with a
    /// certificate from a throwaway CA ([`Deployment::tls_ca`]).
    pub fn spawn_with(
        spec: &SpawnSpec,
        tls: bool,
        cancel: &Stop,
    ) -> Result<Deployment, DeployError> {
        Self::spawn_observed(spec, tls, cancel, &mut |_| {})
    }

    fn spawn_observed(
        spec: &SpawnSpec,
        tls: bool,
        cancel: &Stop,
        observe: &mut dyn FnMut(SpawnEvent<'_>),
    ) -> Result<Deployment, DeployError> {
        let mut plan = Layout::new(spec)?;
        let server_bin = process::find_redis_server()?;
        plan.enable_debug = process::takes_enable_debug_command(&server_bin);
        let cli_bin = if plan.cluster {
            Some(process::find_redis_cli()?)
        } else {
            None
        };
        check_cancel(cancel)?;

        // From here on, any early return drops `dep`, which tears down
        // whatever has been started and removes the temp dir.
        let mut dep = Deployment {
            cluster: plan.cluster,
            masters: plan.masters,
            nodes: Vec::new(),
            procs: Vec::new(),
            dir: process::create_temp_dir()?,
            dir_removed: false,
            tls: None,
        };
        observe(SpawnEvent::TempDir(&dep.dir));
        if tls {
            dep.tls = Some((tls::make(&dep.dir.join("tls"))?, Vec::new()));
        }

        let ports = process::pick_ports(plan.total, plan.cluster, &[])?;
        dep.start_servers(&server_bin, &plan, &ports, cancel, observe)?;
        match cli_bin {
            Some(cli) => {
                dep.create_cluster(&cli, plan.replicas, cancel)?;
                dep.wait_cluster_ready(plan.total, plan.replicas, cancel)?;
                dep.nodes = dep.read_roles()?;
            }
            None => {
                dep.nodes = dep
                    .procs
                    .iter()
                    .map(|p| Node {
                        addr: p.addr(),
                        pid: p.child.pid(),
                        role: Role::Master,
                    })
                    .collect();
            }
        }
        if dep.nodes.is_empty() {
            return Err(DeployError::InvalidSpec("no server to start".into()));
        }
        Ok(dep)
    }

    /// Launch all servers at once, then wait for each to answer PING,
    /// relaunching on a new port any that lost the race for its port.
    fn start_servers(
        &mut self,
        bin: &Path,
        plan: &Layout<'_>,
        ports: &[u16],
        cancel: &Stop,
        observe: &mut dyn FnMut(SpawnEvent<'_>),
    ) -> Result<(), DeployError> {
        // Every port tried so far, so a retry never picks a known-bad one.
        let mut tried = ports.to_vec();
        for &port in ports {
            let args = self.args_for(plan, port, &mut tried)?;
            let proc = ServerProc::launch(bin, &self.dir, port, &args)?;
            observe(SpawnEvent::Started {
                pid: proc.child.pid(),
                port,
            });
            self.procs.push(proc);
        }
        for proc in &mut self.procs {
            let mut retries = 0;
            loop {
                match wait_ready(proc, cancel) {
                    Ok(()) => break,
                    Err(_) if retries < PORT_RETRIES && proc.lost_port_race() => {
                        retries += 1;
                        let new_port = process::pick_ports(1, plan.cluster, &tried)?
                            .first()
                            .copied()
                            .ok_or(DeployError::NoFreePorts { wanted: 1 })?;
                        // The old process already exited; replacing drops it.
                        let args = Self::tls_args(&mut self.tls, plan, new_port, &mut tried)
                            .map(|t| [plan.server_args(), t].concat())?;
                        *proc = ServerProc::launch(bin, &self.dir, new_port, &args)?;
                        observe(SpawnEvent::Started {
                            pid: proc.child.pid(),
                            port: new_port,
                        });
                        tried.push(new_port);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The server's arguments: the plan's, and a TLS port of its own in a TLS deployment.
    fn args_for(
        &mut self,
        plan: &Layout<'_>,
        port: u16,
        tried: &mut Vec<u16>,
    ) -> Result<Vec<String>, DeployError> {
        let tls = Self::tls_args(&mut self.tls, plan, port, tried)?;
        Ok([plan.server_args(), tls].concat())
    }

    fn tls_args(
        tls: &mut Option<(tls::TlsFiles, Vec<(u16, u16)>)>,
        plan: &Layout<'_>,
        port: u16,
        tried: &mut Vec<u16>,
    ) -> Result<Vec<String>, DeployError> {
        let Some((files, ports)) = tls else {
            return Ok(Vec::new());
        };
        let tls_port = process::pick_ports(1, false, tried)?
            .first()
            .copied()
            .ok_or(DeployError::NoFreePorts { wanted: 1 })?;
        tried.push(tls_port);
        ports.push((port, tls_port));
        Ok(files.server_args(tls_port, plan.cluster))
    }

    /// The throwaway CA a TLS deployment's certificates are signed by.
    pub fn tls_ca(&self) -> Option<&Path> {
        self.tls.as_ref().map(|(f, _)| f.ca.as_path())
    }

    /// Where clients connect to the server at `addr`: its TLS port in a TLS deployment.
    pub fn client_addr(&self, addr: SocketAddr) -> SocketAddr {
        let tls_port = self.tls.as_ref().and_then(|(_, ports)| {
            ports
                .iter()
                .rev()
                .find(|(plain, _)| *plain == addr.port())
                .map(|(_, t)| *t)
        });
        match tls_port {
            Some(p) => SocketAddr::new(addr.ip(), p),
            None => addr,
        }
    }

    fn create_cluster(
        &mut self,
        cli: &Path,
        replicas: usize,
        cancel: &Stop,
    ) -> Result<(), DeployError> {
        let log_path = self.dir.join("cluster-create.log");
        let log = File::create(&log_path)
            .map_err(|e| DeployError::io(format!("creating {}", log_path.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| DeployError::io("duplicating a file handle", e))?;
        let mut cmd = Command::new(cli);
        cmd.args(["--cluster", "create"])
            .args(self.procs.iter().map(|p| format!("127.0.0.1:{}", p.port)))
            .arg("--cluster-replicas")
            .arg(replicas.to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        // Dropping `child` on any early return kills and reaps redis-cli.
        let mut child = OwnedChild::spawn(&mut cmd).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DeployError::RedisCliNotFound
            } else {
                DeployError::io(format!("spawning {}", cli.display()), e)
            }
        })?;
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            check_cancel(cancel)?;
            if let Some(status) = child.poll_exit() {
                if status.success() {
                    return Ok(());
                }
                return Err(DeployError::ClusterCreate(format!(
                    "{status}: {}",
                    process::tail_lines(&log_path, 6)
                )));
            }
            if !child.is_running() {
                return Err(DeployError::ClusterCreate(
                    "lost track of the redis-cli process".to_string(),
                ));
            }
            self.check_servers_alive()?;
            if Instant::now() >= deadline {
                return Err(DeployError::Timeout {
                    what: "redis-cli --cluster create".to_string(),
                    after: CLUSTER_TIMEOUT,
                    detail: process::tail_lines(&log_path, 6),
                });
            }
            pause(cancel, POLL_INTERVAL)?;
        }
    }

    fn wait_cluster_ready(
        &mut self,
        total: usize,
        replicas: usize,
        cancel: &Stop,
    ) -> Result<(), DeployError> {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            check_cancel(cancel)?;
            self.check_servers_alive()?;
            let Some(problem) = self.cluster_problem(total, replicas, cancel)? else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(DeployError::Timeout {
                    what: "cluster_state:ok with all slots covered on every node".to_string(),
                    after: CLUSTER_TIMEOUT,
                    detail: problem,
                });
            }
            pause(cancel, POLL_INTERVAL)?;
        }
    }

    /// First reason the cluster is not ready yet, or `None` when it is.
    fn cluster_problem(
        &self,
        total: usize,
        replicas: usize,
        cancel: &Stop,
    ) -> Result<Option<String>, DeployError> {
        for proc in &self.procs {
            check_cancel(cancel)?;
            let addr = proc.addr();
            let info = match query_text(addr, &["CLUSTER", "INFO"]) {
                Ok(info) => info,
                Err(e) => return Ok(Some(format!("{addr}: CLUSTER INFO: {e}"))),
            };
            let state = resp::info_field(&info, "cluster_state").unwrap_or("?");
            if state != "ok" {
                return Ok(Some(format!("{addr}: cluster_state:{state}")));
            }
            let known = resp::info_field(&info, "cluster_known_nodes").unwrap_or("?");
            if known.parse::<usize>().ok() != Some(total) {
                return Ok(Some(format!("{addr}: knows {known} of {total} nodes")));
            }
            let coverage = resp::request(addr, &["CLUSTER", "SLOTS"], PROBE_TIMEOUT)
                .map_err(|e| e.to_string())
                .and_then(|reply| resp::slot_coverage(&reply));
            match coverage {
                Err(e) => return Ok(Some(format!("{addr}: CLUSTER SLOTS: {e}"))),
                Ok(c) if c.covered < resp::CLUSTER_SLOTS => {
                    return Ok(Some(format!(
                        "{addr}: CLUSTER SLOTS covers {} of {} slots",
                        c.covered,
                        resp::CLUSTER_SLOTS
                    )));
                }
                Ok(c) if c.min_nodes_per_range < 1 + replicas => {
                    return Ok(Some(format!(
                        "{addr}: CLUSTER SLOTS lists only {} node(s) for some range, want {}",
                        c.min_nodes_per_range,
                        1 + replicas
                    )));
                }
                Ok(_) => {}
            }
            // A replica that never finished its initial sync refuses to fail
            // over, so failover tests need the links up before we return.
            let repl = match query_text(addr, &["INFO", "replication"]) {
                Ok(repl) => repl,
                Err(e) => return Ok(Some(format!("{addr}: INFO replication: {e}"))),
            };
            if resp::info_field(&repl, "role") == Some("slave") {
                let link = resp::info_field(&repl, "master_link_status").unwrap_or("?");
                if link != "up" {
                    return Ok(Some(format!("{addr}: replica master_link_status:{link}")));
                }
            }
        }
        Ok(None)
    }

    fn read_roles(&self) -> Result<Vec<Node>, DeployError> {
        self.procs
            .iter()
            .map(|proc| {
                let addr = proc.addr();
                let repl = query_text(addr, &["INFO", "replication"]).map_err(|e| {
                    DeployError::StartFailed {
                        port: proc.port,
                        reason: format!("INFO replication failed after cluster creation: {e}"),
                    }
                })?;
                let role = match resp::info_field(&repl, "role") {
                    Some("slave") => Role::Replica,
                    _ => Role::Master,
                };
                Ok(Node {
                    addr,
                    pid: proc.child.pid(),
                    role,
                })
            })
            .collect()
    }

    /// Error out (with the log tail) if any server has died.
    fn check_servers_alive(&mut self) -> Result<(), DeployError> {
        for proc in &mut self.procs {
            if let Some(status) = proc.child.poll_exit() {
                return Err(DeployError::StartFailed {
                    port: proc.port,
                    reason: format!("exited ({status}): {}", proc.output_tail()),
                });
            }
        }
        Ok(())
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// First node's address (standalone: the server; cluster: a seed).
    pub fn addr(&self) -> SocketAddr {
        // `spawn_observed` returns no deployment without a node.
        self.nodes[0].addr
    }

    /// Number of masters requested (1 for standalone).
    pub fn masters(&self) -> usize {
        self.masters
    }

    /// The deployment's temp dir (gone after shutdown).
    pub fn temp_dir(&self) -> &Path {
        &self.dir
    }

    /// Path of node `index`'s Redis log file, for debugging.
    pub fn log_path(&self, index: usize) -> Option<PathBuf> {
        self.procs.get(index).map(|p| p.dir.join("redis.log"))
    }

    /// Kill one node now with SIGKILL and reap it. Idempotent; out-of-range
    /// indexes are ignored.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(proc) = self.procs.get_mut(index) {
            proc.child.kill_and_reap();
            proc.paused = false;
        }
    }

    /// The running server of node `index`, or why there is none.
    fn running_proc(&mut self, index: usize) -> Result<&mut ServerProc, DeployError> {
        let len = self.procs.len();
        let proc = self
            .procs
            .get_mut(index)
            .ok_or(DeployError::NoSuchNode { index, len })?;
        if !proc.child.is_running() {
            return Err(DeployError::NotRunning {
                index,
                addr: proc.addr(),
            });
        }
        Ok(proc)
    }

    /// Stops node `index` with SIGSTOP: it keeps its connections but answers nothing (and
    /// gossips nothing) until [`Deployment::resume_node`]. Shutdown continues it first.
    pub fn pause_node(&mut self, index: usize) -> Result<(), DeployError> {
        self.stop_or_continue(index, true)
    }

    /// Continues node `index` with SIGCONT (harmless when it was not paused).
    pub fn resume_node(&mut self, index: usize) -> Result<(), DeployError> {
        self.stop_or_continue(index, false)
    }

    /// SIGSTOP (`pause`) or SIGCONT a running node, remembering which it is now.
    fn stop_or_continue(&mut self, index: usize, pause: bool) -> Result<(), DeployError> {
        let (sig, signal) = if pause {
            (libc::SIGSTOP, "SIGSTOP")
        } else {
            (libc::SIGCONT, "SIGCONT")
        };
        let proc = self.running_proc(index)?;
        if !proc.child.signal(sig) {
            return Err(DeployError::Signal {
                index,
                addr: proc.addr(),
                signal,
            });
        }
        proc.paused = pause;
        Ok(())
    }

    /// Starts killed node `index` again on its port, in its directory, with its arguments, and
    /// waits until it answers PING. A cluster node reads its nodes.conf there and rejoins the
    /// cluster (as a replica, when another node took its slots meanwhile).
    pub fn restart_node(&mut self, index: usize) -> Result<(), DeployError> {
        let len = self.procs.len();
        let proc = self
            .procs
            .get_mut(index)
            .ok_or(DeployError::NoSuchNode { index, len })?;
        if proc.child.is_running() {
            return Err(DeployError::StillRunning {
                index,
                addr: proc.addr(),
            });
        }
        // The dead server is reaped already: replacing it signals nothing.
        *proc = proc.relaunch()?;
        if let Some(node) = self.nodes.get_mut(index) {
            node.pid = proc.child.pid();
        }
        wait_ready(proc, &Stop::new())
    }

    /// Whether node `index`'s server is running (paused counts as running).
    pub fn is_alive(&mut self, index: usize) -> bool {
        self.procs
            .get_mut(index)
            .is_some_and(|p| p.child.is_running())
    }

    /// Whether node `index` was paused and not resumed since.
    pub fn is_paused(&self, index: usize) -> bool {
        self.procs.get(index).is_some_and(|p| p.paused)
    }

    /// Where clients reach node `index` (its TLS port in a TLS deployment).
    pub fn node_addr(&self, index: usize) -> Option<SocketAddr> {
        self.nodes.get(index).map(|n| self.client_addr(n.addr))
    }

    /// The node at `addr`, given as its plain or its client (TLS) address.
    pub fn node_index(&self, addr: SocketAddr) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.addr == addr || self.client_addr(n.addr) == addr)
    }

    /// PID of node `index`'s current server (the relaunched one after a restart).
    pub fn node_pid(&self, index: usize) -> Option<u32> {
        self.procs.get(index).map(|p| p.child.pid())
    }

    /// Run `redis-cli -h 127.0.0.1 -p PORT ARGS...` against node `index` and
    /// return its trimmed stdout. Redis error replies are returned as text
    /// (redis-cli exits 0 for them); connection failures are errors.
    pub fn cli(&self, index: usize, args: &[&str]) -> Result<String, DeployError> {
        let node = self.nodes.get(index).ok_or(DeployError::NoSuchNode {
            index,
            len: self.nodes.len(),
        })?;
        let bin = process::find_redis_cli()?;
        let port = node.addr.port().to_string();
        let out = Command::new(&bin)
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DeployError::io(format!("running {}", bin.display()), e))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = if stderr.trim().is_empty() {
            stdout.as_str()
        } else {
            stderr.trim()
        };
        Err(DeployError::Cli(format!(
            "`redis-cli -p {port} {}` {}: {}",
            args.join(" "),
            out.status,
            why.lines().collect::<Vec<_>>().join(" | ")
        )))
    }

    /// Stop everything: SIGTERM, wait up to ~2 s, SIGKILL stragglers, reap,
    /// and remove the temp dir. Idempotent; also run on drop.
    pub fn shutdown(&mut self) {
        for proc in &mut self.procs {
            // A stopped (paused) server would not act on SIGTERM until continued, and
            // would only go at the SIGKILL after the grace period.
            if proc.paused {
                proc.child.signal(libc::SIGCONT);
                proc.paused = false;
            }
            proc.child.terminate();
        }
        let deadline = Instant::now() + SIGTERM_GRACE;
        while Instant::now() < deadline && self.procs.iter_mut().any(|p| p.child.is_running()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        for proc in &mut self.procs {
            proc.child.kill_and_reap();
        }
        if !self.dir_removed {
            process::remove_dir(&self.dir);
            self.dir_removed = true;
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Wait until the server answers PING (NOAUTH also proves it is serving).
fn wait_ready(proc: &mut ServerProc, cancel: &Stop) -> Result<(), DeployError> {
    let deadline = proc.started + READY_TIMEOUT;
    loop {
        check_cancel(cancel)?;
        if let Some(status) = proc.child.poll_exit() {
            return Err(DeployError::StartFailed {
                port: proc.port,
                reason: format!("exited ({status}): {}", proc.output_tail()),
            });
        }
        let reply = resp::request(proc.addr(), &["PING"], PROBE_TIMEOUT);
        let answers = match &reply {
            Ok(Value::Simple(s)) => s == "PONG",
            Ok(Value::Error(e)) => e.starts_with("NOAUTH"),
            _ => false,
        };
        // A squatter's PONG (a server that took the port first) does not mean ours is up: ours is
        // about to die of "Address already in use", and its exit sends it to the port retry.
        let squatter =
            answers && process::owns_listener(proc.child.pid(), proc.port) == Some(false);
        if answers && !squatter {
            return Ok(());
        }
        let last = match reply {
            Ok(_) if squatter => "answered by another process holding the port".to_string(),
            Ok(other) => format!("unexpected PING reply {other:?}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(DeployError::Timeout {
                what: format!("redis-server on {} to answer PING", proc.addr()),
                after: READY_TIMEOUT,
                detail: format!("{last}; {}", proc.output_tail()),
            });
        }
        pause(cancel, POLL_INTERVAL)?;
    }
}

fn query_text(addr: SocketAddr, args: &[&str]) -> Result<String, String> {
    resp::request(addr, args, PROBE_TIMEOUT)
        .map_err(|e| e.to_string())
        .and_then(Value::into_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    fn standalone(args: &[&str]) -> SpawnSpec {
        SpawnSpec::Standalone {
            redis_args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn standalone_applies_user_args_and_shuts_down_cleanly() {
        let cancel = Stop::new();
        let mut dep = Deployment::spawn(
            &standalone(&["--appendonly", "yes", "--appendfsync", "always"]),
            &cancel,
        )
        .expect("spawn standalone");
        assert!(!dep.is_cluster());
        assert_eq!(dep.masters(), 1);
        assert_eq!(dep.nodes().len(), 1);
        assert_eq!(dep.nodes()[0].role, Role::Master);
        assert_eq!(dep.addr(), dep.nodes()[0].addr);
        assert!(dep.addr().ip().is_loopback());

        assert_eq!(dep.cli(0, &["PING"]).unwrap(), "PONG");
        assert_eq!(
            dep.cli(0, &["CONFIG", "GET", "appendfsync"]).unwrap(),
            "appendfsync\nalways"
        );
        assert_eq!(
            dep.cli(0, &["CONFIG", "GET", "appendonly"]).unwrap(),
            "appendonly\nyes"
        );
        // Our own defaults are in force too.
        assert_eq!(dep.cli(0, &["CONFIG", "GET", "save"]).unwrap(), "save");
        assert!(matches!(
            dep.cli(1, &["PING"]),
            Err(DeployError::NoSuchNode { index: 1, len: 1 })
        ));

        let pid = dep.nodes()[0].pid;
        let dir = dep.temp_dir().to_path_buf();
        assert!(dir.exists());
        assert!(pid_alive(pid));
        dep.shutdown();
        assert!(!pid_alive(pid), "server {pid} still running after shutdown");
        assert!(!dir.exists(), "temp dir {} left behind", dir.display());
        dep.shutdown(); // idempotent
        assert!(dep.cli(0, &["PING"]).is_err());
    }

    #[test]
    fn drop_stops_the_server_and_removes_the_temp_dir() {
        let cancel = Stop::new();
        let dep = Deployment::spawn(&standalone(&[]), &cancel).expect("spawn standalone");
        let pid = dep.nodes()[0].pid;
        let dir = dep.temp_dir().to_path_buf();
        assert!(pid_alive(pid));
        drop(dep);
        assert!(!pid_alive(pid));
        assert!(!dir.exists());
    }

    #[test]
    fn cluster_3_masters_3_replicas_is_ready_and_kill_node_works() {
        let cancel = Stop::new();
        let spec = SpawnSpec::Cluster {
            masters: 3,
            replicas: 1,
            redis_args: vec![],
        };
        let mut dep = Deployment::spawn(&spec, &cancel).expect("spawn cluster");
        assert!(dep.is_cluster());
        assert_eq!(dep.masters(), 3);
        assert_eq!(dep.nodes().len(), 6);
        let count = |role| dep.nodes().iter().filter(|n| n.role == role).count();
        assert_eq!(count(Role::Master), 3);
        assert_eq!(count(Role::Replica), 3);
        assert_eq!(dep.addr(), dep.nodes()[0].addr);
        for i in 0..dep.nodes().len() {
            let info = dep.cli(i, &["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_state:ok"), "node {i}: {info}");
        }
        assert_eq!(dep.cli(0, &["CLUSTER", "KEYSLOT", "foo"]).unwrap(), "12182");
        // User args still land on cluster nodes; our cluster defaults too.
        assert_eq!(
            dep.cli(0, &["CONFIG", "GET", "cluster-node-timeout"])
                .unwrap(),
            "cluster-node-timeout\n2000"
        );

        let victim = dep
            .nodes()
            .iter()
            .position(|n| n.role == Role::Replica)
            .expect("a replica");
        let pid = dep.nodes()[victim].pid;
        assert!(pid_alive(pid));
        dep.kill_node(victim);
        assert!(!pid_alive(pid), "killed node {pid} still exists");
        dep.kill_node(victim); // idempotent
        dep.kill_node(99); // out of range: ignored
        assert!(matches!(
            dep.cli(victim, &["PING"]),
            Err(DeployError::Cli(_))
        ));

        let pids: Vec<u32> = dep.nodes().iter().map(|n| n.pid).collect();
        let dir = dep.temp_dir().to_path_buf();
        drop(dep);
        for pid in pids {
            assert!(!pid_alive(pid), "pid {pid} survived drop");
        }
        assert!(!dir.exists());
    }

    fn answers_ping(addr: SocketAddr) -> bool {
        matches!(resp::request(addr, &["PING"], PROBE_TIMEOUT), Ok(Value::Simple(s)) if s == "PONG")
    }

    #[test]
    fn a_node_can_be_paused_resumed_killed_and_restarted() {
        let mut dep = Deployment::spawn(&standalone(&[]), &Stop::new()).unwrap();
        let addr = dep.nodes()[0].addr;
        assert_eq!(dep.node_addr(0), Some(addr));
        assert_eq!(dep.node_index(addr), Some(0));
        assert_eq!(dep.node_addr(1), None);
        // Spawned servers take DEBUG (the debug-sleep fault).
        assert_eq!(dep.cli(0, &["DEBUG", "SLEEP", "0"]).unwrap(), "OK");

        dep.pause_node(0).unwrap();
        assert!(dep.is_paused(0) && dep.is_alive(0));
        assert!(!answers_ping(addr), "a paused server answered");
        dep.resume_node(0).unwrap();
        assert!(!dep.is_paused(0));
        assert!(answers_ping(addr));
        assert!(matches!(
            dep.restart_node(0),
            Err(DeployError::StillRunning { index: 0, .. })
        ));
        assert!(matches!(
            dep.pause_node(3),
            Err(DeployError::NoSuchNode { index: 3, len: 1 })
        ));

        let old = dep.node_pid(0).unwrap();
        dep.kill_node(0);
        assert!(!dep.is_alive(0) && !pid_alive(old));
        assert!(matches!(
            dep.resume_node(0),
            Err(DeployError::NotRunning { index: 0, .. })
        ));
        dep.restart_node(0).expect("restart");
        let new = dep.node_pid(0).unwrap();
        assert_ne!(old, new);
        assert_eq!(dep.nodes()[0].pid, new);
        assert!(dep.is_alive(0) && answers_ping(addr));
        drop(dep);
        assert!(!pid_alive(new), "restarted server {new} survived drop");
    }

    #[test]
    fn shutdown_continues_a_paused_server_instead_of_waiting_for_it() {
        let mut dep = Deployment::spawn(&standalone(&[]), &Stop::new()).unwrap();
        let pid = dep.nodes()[0].pid;
        dep.pause_node(0).unwrap();
        let began = Instant::now();
        dep.shutdown();
        assert!(!pid_alive(pid));
        // SIGTERM alone would have waited out the grace period and then SIGKILLed it.
        assert!(began.elapsed() < SIGTERM_GRACE, "{:?}", began.elapsed());
    }

    #[test]
    fn user_args_override_cluster_defaults() {
        let spec = SpawnSpec::Cluster {
            masters: 3,
            replicas: 0,
            redis_args: vec!["--cluster-node-timeout".into(), "3000".into()],
        };
        let dep = Deployment::spawn(&spec, &Stop::new()).expect("spawn cluster");
        assert_eq!(dep.nodes().len(), 3);
        assert!(dep.nodes().iter().all(|n| n.role == Role::Master));
        assert_eq!(
            dep.cli(2, &["CONFIG", "GET", "cluster-node-timeout"])
                .unwrap(),
            "cluster-node-timeout\n3000"
        );
    }

    /// Starts one standalone server asked for on `port`; the (pid, port) of every launch.
    fn start_on(port: u16) -> (Deployment, Vec<(u32, u16)>) {
        let spec = standalone(&[]);
        let plan = Layout::new(&spec).unwrap();
        let mut dep = Deployment {
            cluster: false,
            masters: 1,
            nodes: Vec::new(),
            procs: Vec::new(),
            dir: process::create_temp_dir().unwrap(),
            dir_removed: false,
            tls: None,
        };
        let bin = process::find_redis_server().unwrap();
        let mut started = Vec::new();
        dep.start_servers(&bin, &plan, &[port], &Stop::new(), &mut |e| {
            if let SpawnEvent::Started { pid, port } = e {
                started.push((pid, port));
            }
        })
        .expect("retry on a new port");
        (dep, started)
    }

    /// The first launch on `taken` died; the second, on another port, is the deployment's.
    fn assert_relaunched(dep: Deployment, started: &[(u32, u16)], taken: u16) {
        assert_eq!(started.len(), 2, "{started:?}");
        assert_eq!(started[0].1, taken);
        assert!(!pid_alive(started[0].0));
        assert_eq!(dep.procs.len(), 1);
        assert_ne!(dep.procs[0].port, taken);
        assert_eq!(dep.procs[0].port, started[1].1);
        let pid = started[1].0;
        assert!(pid_alive(pid));
        drop(dep);
        assert!(!pid_alive(pid));
    }

    #[test]
    fn server_that_loses_its_port_is_relaunched_on_another() {
        // Occupy a port, then ask for a server on it: it must die with
        // "Address already in use" and be retried on a fresh port.
        let squatter = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let (dep, started) = start_on(taken);
        assert_relaunched(dep, &started, taken);
    }

    #[test]
    fn a_server_whose_port_another_server_holds_is_relaunched() {
        // Another redis-server holds the port and answers PING: ours still lost the race, whether
        // its exit or the squatter's PONG is seen first (`owns_listener` tells the PONG apart).
        let squatter = Deployment::spawn(&standalone(&[]), &Stop::new()).unwrap();
        let taken = squatter.addr().port();
        let (dep, started) = start_on(taken);
        assert_relaunched(dep, &started, taken);
    }

    #[test]
    fn preset_cancel_flag_interrupts_before_starting_anything() {
        let cancel = Stop::new();
        cancel.request();
        let mut started = 0;
        let res =
            Deployment::spawn_observed(&standalone(&[]), false, &cancel, &mut |_| started += 1);
        assert!(matches!(res, Err(DeployError::Interrupted)));
        assert_eq!(started, 0);
    }

    #[test]
    fn cancel_during_spawn_tears_everything_down() {
        let cancel = Stop::new();
        let spec = SpawnSpec::Cluster {
            masters: 3,
            replicas: 1,
            redis_args: vec![],
        };
        let mut pids = Vec::new();
        let mut dir = None;
        let res = Deployment::spawn_observed(&spec, false, &cancel, &mut |event| match event {
            SpawnEvent::TempDir(d) => dir = Some(d.to_path_buf()),
            SpawnEvent::Started { pid, port } => {
                assert!(port > 0);
                pids.push(pid);
                // Cancel once every server is launched, i.e. while waiting.
                if pids.len() == 6 {
                    cancel.request();
                }
            }
        });
        assert!(matches!(res, Err(DeployError::Interrupted)), "{res:?}");
        assert_eq!(pids.len(), 6);
        for pid in pids {
            assert!(!pid_alive(pid), "pid {pid} survived cancellation");
        }
        let dir = dir.expect("temp dir reported");
        assert!(!dir.exists(), "temp dir {} left behind", dir.display());
    }

    #[test]
    fn bad_redis_arg_reports_the_reason() {
        let mut pids = Vec::new();
        let mut dir = None;
        let res = Deployment::spawn_observed(
            &standalone(&["--no-such-option", "1"]),
            false,
            &Stop::new(),
            &mut |event| match event {
                SpawnEvent::TempDir(d) => dir = Some(d.to_path_buf()),
                SpawnEvent::Started { pid, .. } => pids.push(pid),
            },
        );
        let err = res.expect_err("bad arg must fail");
        assert!(matches!(err, DeployError::StartFailed { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("Bad directive") && msg.contains("no-such-option"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "multi-line message: {msg}");
        assert_eq!(pids.len(), 1, "a config error must not be retried");
        assert!(!pid_alive(pids[0]));
        assert!(dir.is_some_and(|d| !d.exists()));
    }

    #[test]
    fn invalid_cluster_specs_are_rejected_up_front() {
        let cancel = Stop::new();
        // Fewer than 3 masters is the profile's to refuse (profile::tests::spawn_options).
        let err = Deployment::spawn(
            &SpawnSpec::Cluster {
                masters: 3,
                replicas: usize::MAX,
                redis_args: vec![],
            },
            &cancel,
        )
        .expect_err("overflowing node count must be rejected");
        assert!(matches!(err, DeployError::InvalidSpec(_)));
    }

    #[test]
    fn error_messages_are_single_line_and_actionable() {
        assert_eq!(
            DeployError::RedisServerNotFound.to_string(),
            "redis-server not found on PATH: install it with `apt-get install -y redis-server redis-tools` (or brew install redis)"
        );
        assert!(
            DeployError::RedisCliNotFound
                .to_string()
                .contains("redis-cli not found on PATH")
        );
        let timeout = DeployError::Timeout {
            what: "x".into(),
            after: Duration::from_secs(10),
            detail: "y".into(),
        };
        assert_eq!(timeout.to_string(), "timed out after 10s waiting for x: y");
        let io = DeployError::io("creating /tmp/x", std::io::Error::other("boom"));
        assert_eq!(io.to_string(), "I/O error creating /tmp/x: boom");
        assert!(process::find_binary("redis-server", Some("/nonexistent".into())).is_none());
    }
}
