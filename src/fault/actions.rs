//! Carrying out each action: choosing the node, acting on it (a signal through the deployment, or
//! a command), and measuring how long the affected slots were down.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::probe::Probe;
use super::view::{self, ADMIN_TIMEOUT, ClusterNode, Net, node_label};
use super::{Action, Done, Failed, FaultEnv, Window, reshard};
use crate::deploy::{Deployment, Role};
use crate::resp::Value;

/// Pause between two checks of a node's PING or ROLE.
const POLL: Duration = Duration::from_millis(50);
/// Bound of one PING while waiting for a node to answer.
const PING_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a restarted cluster node is given to turn into a replica before it is named.
const SETTLE: Duration = Duration::from_secs(3);
/// Extra time a DEBUG SLEEP's own reply may take beyond the sleep.
const DEBUG_REPLY_SLACK: Duration = Duration::from_secs(10);
/// How long an error reply to DEBUG SLEEP is waited for before probing.
const DEBUG_REFUSAL_WAIT: Duration = Duration::from_millis(50);

/// The schedule's state across faults.
pub(super) struct Ctx<'a> {
    dep: Option<&'a mut Deployment>,
    net: Net,
    /// Nodes killed by a fault, the last one last: `restart` takes them back in that order.
    killed: Vec<usize>,
    /// Nodes paused by a fault and not resumed, the last one last.
    paused: Vec<usize>,
}

/// The node an action acts on.
struct Target {
    /// Its index in the deployment, when there is one.
    index: Option<usize>,
    addr: SocketAddr,
    master: bool,
    /// A slot it owns, when it is a master with slots: its outage is that slot's.
    slot: Option<u16>,
}

impl Target {
    fn label(&self) -> String {
        node_label(self.addr, self.master)
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn new(env: FaultEnv<'a>) -> Ctx<'a> {
        let nodes: Vec<SocketAddr> = env.deployment.as_deref().map_or_else(Vec::new, |d| {
            (0..d.nodes().len())
                .filter_map(|i| d.node_addr(i))
                .collect()
        });
        Ctx {
            dep: env.deployment,
            net: Net::new(env.route, env.auth, env.dial, &nodes),
            killed: Vec::new(),
            paused: Vec::new(),
        }
    }

    pub(super) async fn carry_out(
        &mut self,
        action: &Action,
        w: &Window<'_>,
    ) -> Result<Done, Failed> {
        if action.needs_spawned() && self.dep.is_none() {
            return Err(Failed::new(format!(
                "{} needs a deployment rbench spawned (it signals server processes)",
                action.label()
            )));
        }
        match action {
            Action::KillMaster => self.kill_master(w).await,
            Action::KillNode(n) => self.kill_node(*n, w).await,
            Action::Pause(n) => self.pause(*n, w).await,
            Action::Resume(n) => self.resume(*n, w).await,
            Action::Restart(n) => self.restart(*n, w).await,
            Action::Failover => self.failover(w).await,
            Action::Reshard(n) => reshard::run(&self.net, *n, w).await,
            Action::DebugSleep(d) => self.debug_sleep(*d, w).await,
            Action::Bgrewriteaof => self.background(b"BGREWRITEAOF", w).await,
            Action::Bgsave => self.background(b"BGSAVE", w).await,
        }
    }

    /// The deployment; `carry_out` checked there is one for the actions that call this.
    fn dep(&mut self) -> Result<&mut Deployment, Failed> {
        self.dep
            .as_deref_mut()
            .ok_or_else(|| Failed::new("needs a deployment rbench spawned"))
    }

    /// Whether node `i` can be acted on: running and not paused.
    fn usable(&mut self, i: usize) -> bool {
        self.dep
            .as_deref_mut()
            .is_some_and(|d| d.is_alive(i) && !d.is_paused(i))
    }

    /// The index of the deployment node at `addr`; None without a deployment.
    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.dep.as_deref().and_then(|d| d.node_index(addr))
    }

    /// The cluster now, asked of the nodes we did not pause or kill first (a paused node would
    /// hold the question until its timeout).
    async fn view(&self) -> Result<Vec<ClusterNode>, Failed> {
        let avoid: Vec<SocketAddr> = match self.dep.as_deref() {
            Some(d) => self
                .paused
                .iter()
                .chain(&self.killed)
                .filter_map(|&i| d.node_addr(i))
                .collect(),
            None => Vec::new(),
        };
        self.net
            .cluster_nodes(&avoid, ADMIN_TIMEOUT)
            .await
            .map_err(Failed::new)
    }

    /// A master that owns slots and is up: with a deployment, the first in node order (so
    /// repeated kills go through the masters one by one), else the one with the lowest slot.
    async fn pick_master(&mut self) -> Result<Target, Failed> {
        if !self.net.is_cluster() {
            return self.standalone();
        }
        let mut masters: Vec<ClusterNode> = self
            .view()
            .await?
            .into_iter()
            .filter(ClusterNode::serving_master)
            .collect();
        masters.sort_by_key(|m| (self.index_of(m.addr), m.slots.first().copied()));
        for m in masters {
            let index = self.index_of(m.addr);
            if self.dep.is_none() || index.is_some_and(|i| self.usable(i)) {
                return Ok(Target {
                    index,
                    addr: m.addr,
                    master: true,
                    slot: m.slots.first().map(|r| r.0),
                });
            }
        }
        Err(Failed::new("no master that owns slots is up"))
    }

    fn standalone(&self) -> Result<Target, Failed> {
        let addr = self
            .dep
            .as_deref()
            .and_then(|d| d.node_addr(0))
            .or_else(|| self.net.single())
            .ok_or_else(|| Failed::new("no server to act on"))?;
        Ok(Target {
            index: self.dep.as_ref().map(|_| 0),
            addr,
            master: true,
            slot: None,
        })
    }

    /// Deployment node `i` as the cluster sees it now (its role, a slot it owns).
    async fn node(&mut self, i: usize) -> Result<Target, Failed> {
        let dep = self.dep()?;
        let len = dep.nodes().len();
        let (Some(addr), Some(node)) = (dep.node_addr(i), dep.nodes().get(i)) else {
            return Err(Failed::new(format!(
                "no node {i}: the deployment has {len} (0 to {})",
                len.saturating_sub(1)
            )));
        };
        let mut t = Target {
            index: Some(i),
            addr,
            master: node.role == Role::Master,
            slot: None,
        };
        if self.net.is_cluster()
            && let Some(n) = self.view().await?.into_iter().find(|n| n.addr == addr)
        {
            t.master = n.master;
            t.slot = n.slots.first().map(|r| r.0).filter(|_| n.master);
        }
        Ok(t)
    }

    /// When `t`'s slots answer a write again: at once for a replica.
    async fn outage_of(&self, t: &Target, w: &Window<'_>) -> Option<Instant> {
        if !self.net.is_cluster() {
            return Probe::single(&self.net, t.addr).until_ok(w).await;
        }
        match t.slot {
            Some(slot) => match Probe::slot(&self.net, slot, t.addr) {
                Ok(mut p) => p.until_ok(w).await,
                Err(_) => None,
            },
            None => Some(w.at),
        }
    }

    fn kill(&mut self, i: usize) -> Result<(), Failed> {
        self.dep()?.kill_node(i);
        self.paused.retain(|&p| p != i);
        self.killed.retain(|&k| k != i);
        self.killed.push(i);
        Ok(())
    }

    async fn kill_master(&mut self, w: &Window<'_>) -> Result<Done, Failed> {
        let t = self.pick_master().await?;
        let i = t
            .index
            .ok_or_else(|| Failed::on(&t.label(), "not a node of the deployment"))?;
        self.kill(i)?;
        Ok(Done {
            node: t.label(),
            recovered: self.outage_of(&t, w).await,
            outage: None,
        })
    }

    /// The node `kill-node` takes without an index: a replica that is up, else node 0.
    async fn default_victim(&mut self) -> Result<usize, Failed> {
        if !self.net.is_cluster() {
            return Ok(0);
        }
        let mut replicas: Vec<usize> = self
            .view()
            .await?
            .iter()
            .filter(|n| !n.master && !n.failed)
            .filter_map(|n| self.index_of(n.addr))
            .collect();
        replicas.sort_unstable();
        Ok(replicas.into_iter().find(|&i| self.usable(i)).unwrap_or(0))
    }

    /// Node `i` (or a default), checked to be running.
    async fn running_node(&mut self, i: usize) -> Result<Target, Failed> {
        let t = self.node(i).await?;
        if !self.dep()?.is_alive(i) {
            return Err(Failed::on(&t.label(), format!("node {i} is not running")));
        }
        Ok(t)
    }

    async fn kill_node(&mut self, n: Option<usize>, w: &Window<'_>) -> Result<Done, Failed> {
        let i = match n {
            Some(i) => i,
            None => self.default_victim().await?,
        };
        let t = self.running_node(i).await?;
        self.kill(i)?;
        Ok(Done {
            node: t.label(),
            recovered: self.outage_of(&t, w).await,
            outage: None,
        })
    }

    async fn pause(&mut self, n: Option<usize>, w: &Window<'_>) -> Result<Done, Failed> {
        let t = match n {
            Some(i) => self.running_node(i).await?,
            None => self.pick_master().await?,
        };
        let i = t
            .index
            .ok_or_else(|| Failed::on(&t.label(), "not a node of the deployment"))?;
        self.dep()?
            .pause_node(i)
            .map_err(|e| Failed::on(&t.label(), e.to_string()))?;
        self.paused.retain(|&p| p != i);
        self.paused.push(i);
        Ok(Done {
            node: t.label(),
            recovered: self.outage_of(&t, w).await,
            outage: None,
        })
    }

    async fn resume(&mut self, n: Option<usize>, w: &Window<'_>) -> Result<Done, Failed> {
        let i = match n.or_else(|| self.paused.last().copied()) {
            Some(i) => i,
            None => return Err(Failed::new("resume: no node is paused")),
        };
        let t = self.node_without_view(i)?;
        self.dep()?
            .resume_node(i)
            .map_err(|e| Failed::on(&t.label(), e.to_string()))?;
        self.paused.retain(|&p| p != i);
        let recovered = self.until_pong(t.addr, w).await;
        let master = self.net.role(t.addr).await.is_none_or(|r| r == "master");
        Ok(Done {
            node: node_label(t.addr, master),
            recovered,
            outage: None,
        })
    }

    /// Node `i` as the deployment knows it: a paused node cannot be asked.
    fn node_without_view(&mut self, i: usize) -> Result<Target, Failed> {
        let dep = self.dep()?;
        let len = dep.nodes().len();
        match (dep.node_addr(i), dep.nodes().get(i)) {
            (Some(addr), Some(node)) => Ok(Target {
                index: Some(i),
                addr,
                master: node.role == Role::Master,
                slot: None,
            }),
            _ => Err(Failed::new(format!(
                "no node {i}: the deployment has {len} (0 to {})",
                len.saturating_sub(1)
            ))),
        }
    }

    async fn restart(&mut self, n: Option<usize>, w: &Window<'_>) -> Result<Done, Failed> {
        let i = match n {
            Some(i) => i,
            None => self.last_killed()?,
        };
        let t = self.node_without_view(i)?;
        // Blocks until the server answers PING (a few ms for a small data set): the server must
        // be started from this thread, which it dies with.
        self.dep()?
            .restart_node(i)
            .map_err(|e| Failed::on(&t.label(), e.to_string()))?;
        let recovered = Some(Instant::now());
        self.killed.retain(|&k| k != i);
        let master = self.settled_role(t.addr, w).await;
        Ok(Done {
            node: node_label(t.addr, master),
            recovered,
            outage: None,
        })
    }

    fn last_killed(&mut self) -> Result<usize, Failed> {
        let killed = self.killed.clone();
        let dep = self.dep()?;
        killed
            .into_iter()
            .rev()
            .find(|&k| !dep.is_alive(k))
            .ok_or_else(|| Failed::new("restart: no node was killed (nothing to restart)"))
    }

    /// Whether a restarted node is a master, once it had time to learn that its slots were
    /// taken over (it then turns into a replica of their new owner by itself).
    async fn settled_role(&self, addr: SocketAddr, w: &Window<'_>) -> bool {
        if !self.net.is_cluster() {
            return true;
        }
        let asking = async {
            while self.net.role(addr).await.as_deref() != Some("slave") {
                tokio::time::sleep(POLL).await;
            }
        };
        let replica = tokio::time::timeout(SETTLE, w.within(asking)).await;
        !matches!(replica, Ok(Some(())))
    }

    /// When the node at `addr` answers PING (NOAUTH counts: it is serving).
    async fn until_pong(&self, addr: SocketAddr, w: &Window<'_>) -> Option<Instant> {
        let pinging = async {
            loop {
                match self.net.ask(addr, &[b"PING"], PING_TIMEOUT).await {
                    Ok(Value::Simple(_)) => return Instant::now(),
                    Ok(Value::Error(e)) if e.starts_with("NOAUTH") => return Instant::now(),
                    _ => tokio::time::sleep(POLL).await,
                }
            }
        };
        w.within(pinging).await
    }

    async fn failover(&mut self, w: &Window<'_>) -> Result<Done, Failed> {
        if !self.net.is_cluster() {
            return Err(Failed::new("failover needs a cluster"));
        }
        let (replica, slot) = self.pick_replica().await?;
        let label = replica.label();
        match self
            .net
            .ask(replica.addr, &[b"CLUSTER", b"FAILOVER"], ADMIN_TIMEOUT)
            .await
        {
            Ok(Value::Simple(s)) if s == "OK" => {}
            Ok(Value::Error(e)) => {
                return Err(Failed::on(&label, format!("CLUSTER FAILOVER: {e}")));
            }
            Ok(other) => return Err(Failed::on(&label, format!("CLUSTER FAILOVER: {other:?}"))),
            Err(e) => return Err(Failed::on(&label, e)),
        }
        let recovered = match self.until_master(replica.addr, w).await {
            true => match Probe::slot(&self.net, slot, replica.addr) {
                Ok(mut p) => p.until_ok(w).await,
                Err(_) => None,
            },
            false => None,
        };
        Ok(Done {
            node: label,
            recovered,
            outage: None,
        })
    }

    /// A replica that is up and whose master is up and owns slots, and one of those slots.
    async fn pick_replica(&mut self) -> Result<(ClusterNode, u16), Failed> {
        let view = self.view().await?;
        let mut candidates: Vec<(ClusterNode, u16)> = view
            .iter()
            .filter(|r| !r.master && !r.failed)
            .filter_map(|r| {
                let id = r.master_id.as_deref()?;
                let m = view.iter().find(|m| m.id == id && m.serving_master())?;
                Some((r.clone(), m.slots.first()?.0))
            })
            .collect();
        candidates.sort_by_key(|(r, _)| (self.index_of(r.addr), r.addr));
        candidates.retain(|(r, _)| self.index_of(r.addr).is_none_or(|i| self.usable(i)));
        // A replica still syncing, or one just restarted whose view of the cluster has not
        // settled, lets the manual failover time out: the longest-running replica whose link to
        // its master is up goes first.
        let mut best: Option<(usize, u64)> = None;
        for (i, (r, _)) in candidates.iter().enumerate() {
            if let Some(up) = self.synced_uptime(r.addr).await
                && best.is_none_or(|(_, b)| up > b)
            {
                best = Some((i, up));
            }
        }
        match best
            .map(|(i, _)| i)
            .or((!candidates.is_empty()).then_some(0))
        {
            Some(i) => Ok(candidates.swap_remove(i)),
            None => Err(Failed::new(
                "failover: no replica that is up and whose master is up and owns slots",
            )),
        }
    }

    /// The uptime of the replica at `addr` if its link to its master is up (None: it is not).
    async fn synced_uptime(&self, addr: SocketAddr) -> Option<u64> {
        let info = |section: &'static [u8]| async move {
            let v = self
                .net
                .ask(addr, &[b"INFO", section], ADMIN_TIMEOUT)
                .await
                .ok()?;
            v.into_text().ok()
        };
        let repl = info(b"replication").await?;
        if !repl.lines().any(|l| l.trim() == "master_link_status:up") {
            return None;
        }
        let server = info(b"server").await?;
        server
            .lines()
            .find_map(|l| l.trim().strip_prefix("uptime_in_seconds:"))
            .and_then(|v| v.parse().ok())
    }

    /// Waits until ROLE on `addr` says master; false when `w` gave up first.
    async fn until_master(&self, addr: SocketAddr, w: &Window<'_>) -> bool {
        let asking = async {
            while self.net.role(addr).await.as_deref() != Some("master") {
                tokio::time::sleep(POLL).await;
            }
        };
        w.within(asking).await.is_some()
    }

    async fn debug_sleep(&mut self, d: Duration, w: &Window<'_>) -> Result<Done, Failed> {
        let t = self.pick_master().await?;
        let label = t.label();
        let mut conn = self
            .net
            .connect(t.addr, ADMIN_TIMEOUT)
            .await
            .map_err(|e| Failed::on(&label, e))?;
        let secs = d.as_secs_f64().to_string();
        // On a task of its own: the reply comes only when the sleep is over, and the probe
        // measures meanwhile.
        let mut sleeping = tokio::spawn(async move {
            let args: [&[u8]; 3] = [b"DEBUG", b"SLEEP", secs.as_bytes()];
            view::request(&mut conn, &args, d + DEBUG_REPLY_SLACK).await
        });
        // A refusal (DEBUG disabled) comes back at once; a sleeping server says nothing.
        tokio::select! {
            r = &mut sleeping => {
                if let Some(e) = debug_refusal(r) {
                    return Err(Failed::on(&label, e));
                }
            }
            () = tokio::time::sleep(DEBUG_REFUSAL_WAIT) => {}
        }
        Ok(Done {
            node: label,
            recovered: self.outage_of(&t, w).await,
            outage: None,
        })
    }
}

impl Ctx<'_> {
    /// BGREWRITEAOF or BGSAVE on a master (one already running is an error the server names);
    /// the probe measures the fork's stall as the outage.
    async fn background(&mut self, cmd: &'static [u8], w: &Window<'_>) -> Result<Done, Failed> {
        let t = self.pick_master().await?;
        let label = t.label();
        let name = String::from_utf8_lossy(cmd);
        let mut conn = self
            .net
            .connect(t.addr, ADMIN_TIMEOUT)
            .await
            .map_err(|e| Failed::on(&label, e))?;
        match view::request(&mut conn, &[cmd], ADMIN_TIMEOUT).await {
            Ok(Value::Error(e)) => return Err(Failed::on(&label, format!("{name}: {e}"))),
            Err(e) => return Err(Failed::on(&label, format!("{name}: {e}"))),
            Ok(_) => {}
        }
        Ok(Done {
            node: label,
            recovered: self.outage_of(&t, w).await,
            outage: None,
        })
    }
}

/// Why DEBUG SLEEP was not carried out; a refusal says how to enable DEBUG.
fn debug_refusal(r: Result<Result<Value, String>, tokio::task::JoinError>) -> Option<String> {
    match r {
        Ok(Ok(Value::Error(e))) => Some(format!(
            "DEBUG SLEEP: {e} (start redis-server with --enable-debug-command local)"
        )),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("DEBUG SLEEP: {e}")),
        Err(e) => Some(format!("DEBUG SLEEP: {e}")),
    }
}
