//! The slot map: which node serves each of the 16384 slots, built from `CLUSTER SLOTS`, patched on
//! MOVED and rebuilt on faults. A flat slot → node table (32 KiB) instead of sorted ranges: one index
//! instead of a binary search on every request, and MOVED patches a single entry.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::slot::SLOTS;
use crate::conn::{Auth, Conn, ConnError};
use crate::net::Dialer;
use crate::resp::Value;

pub const NO_NODE: u16 = u16::MAX;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("{addr}: CLUSTER SLOTS failed: {msg}")]
    Reply { addr: SocketAddr, msg: String },
    #[error(
        "{addr}: cluster support is disabled on this server (drop --cluster, or point at a cluster node)"
    )]
    NotCluster { addr: SocketAddr },
    #[error("{addr}: the cluster serves no slots yet (is `redis-cli --cluster create` done?)")]
    NoSlots { addr: SocketAddr },
    #[error("no cluster node answered: {0}")]
    Unreachable(String),
}

#[derive(Clone, Debug)]
pub struct SlotMap {
    /// Every node ever seen in this run; the index is the node's id and never changes, so worker
    /// connection tables stay valid across refreshes.
    pub nodes: Vec<SocketAddr>,
    pub slot_owner: Box<[u16]>,
    /// Replicas of each node (by node id) as of the last refresh.
    pub replicas: Vec<Vec<u16>>,
    pub is_replica: Vec<bool>,
}

impl SlotMap {
    pub fn empty() -> SlotMap {
        SlotMap {
            nodes: Vec::new(),
            slot_owner: vec![NO_NODE; SLOTS].into_boxed_slice(),
            replicas: Vec::new(),
            is_replica: Vec::new(),
        }
    }

    /// The id of `addr`, registering it if new.
    pub fn node_id(&mut self, addr: SocketAddr) -> u16 {
        if let Some(i) = self.nodes.iter().position(|a| *a == addr) {
            return i as u16;
        }
        self.nodes.push(addr);
        self.replicas.push(Vec::new());
        self.is_replica.push(false);
        (self.nodes.len() - 1) as u16
    }

    #[inline]
    pub fn owner(&self, slot: u16) -> u16 {
        self.slot_owner
            .get(slot as usize)
            .copied()
            .unwrap_or(NO_NODE)
    }

    /// Distinct nodes that own at least one slot.
    pub fn masters(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .slot_owner
            .iter()
            .copied()
            .filter(|&n| n != NO_NODE)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn covered(&self) -> usize {
        self.slot_owner.iter().filter(|&&n| n != NO_NODE).count()
    }

    /// Rebuilds the map from a `CLUSTER SLOTS` reply, keeping the ids of nodes already known.
    /// `queried` resolves the empty/unknown host that Redis reports for the node answering.
    pub fn apply_cluster_slots(
        &mut self,
        reply: &Value,
        queried: SocketAddr,
    ) -> Result<(), TopologyError> {
        let bad = |msg: &str| TopologyError::Reply {
            addr: queried,
            msg: msg.to_string(),
        };
        let Value::Array(ranges) = reply else {
            return match reply {
                Value::Error(e) if e.contains("cluster support disabled") => {
                    Err(TopologyError::NotCluster { addr: queried })
                }
                Value::Error(e) => Err(bad(e)),
                _ => Err(bad("unexpected reply type")),
            };
        };
        let mut owner = vec![NO_NODE; SLOTS].into_boxed_slice();
        for r in self.replicas.iter_mut() {
            r.clear();
        }
        for range in ranges {
            let Value::Array(items) = range else {
                return Err(bad("slot range is not an array"));
            };
            let (Some(Value::Int(start)), Some(Value::Int(end))) = (items.first(), items.get(1))
            else {
                return Err(bad("slot range without bounds"));
            };
            if *start < 0 || *end >= SLOTS as i64 || start > end {
                return Err(bad("slot range out of bounds"));
            }
            let mut ids = Vec::new();
            for node in &items[2..] {
                if let Some(addr) = node_addr(node, queried) {
                    ids.push(self.node_id(addr));
                }
            }
            let Some((&master, replicas)) = ids.split_first() else {
                continue;
            };
            for s in *start..=*end {
                owner[s as usize] = master;
            }
            self.is_replica[master as usize] = false;
            for &r in replicas {
                self.is_replica[r as usize] = true;
                if !self.replicas[master as usize].contains(&r) {
                    self.replicas[master as usize].push(r);
                }
            }
        }
        self.slot_owner = owner;
        Ok(())
    }
}

/// `[host, port, id, ...]` → address. An empty host or `?` means "the node you asked".
fn node_addr(node: &Value, queried: SocketAddr) -> Option<SocketAddr> {
    let parts = node.as_array()?;
    let host = parts.first()?.text()?;
    let port = u16::try_from(parts.get(1)?.as_int()?).ok()?;
    let ip = if host.is_empty() || host == "?" {
        queried.ip()
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        ip
    } else {
        // Hostnames (cluster-announce-hostname) resolve through the system resolver, off the hot path.
        use std::net::ToSocketAddrs;
        return (&*host, port).to_socket_addrs().ok()?.next();
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses `MOVED 3999 127.0.0.1:6381` / `ASK ...` into slot and address. An empty host (`:6381`,
/// sent with `cluster-preferred-endpoint-type unknown-endpoint`) means the host of the node that
/// replied, `from`.
pub fn parse_redirect(msg: &[u8], from: IpAddr) -> Option<(u16, SocketAddr)> {
    let text = std::str::from_utf8(msg).ok()?;
    let mut it = text.split_ascii_whitespace();
    let _kind = it.next()?;
    let slot: u16 = it.next()?.parse().ok()?;
    let addr = it.next()?;
    if slot as usize >= SLOTS {
        return None;
    }
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Some((slot, a));
    }
    if let Some(port) = addr.strip_prefix(':') {
        return Some((slot, SocketAddr::new(from, port.parse().ok()?)));
    }
    use std::net::ToSocketAddrs;
    let a = addr.to_socket_addrs().ok()?.next()?;
    Some((slot, a))
}

/// The cluster's shared view: workers read a snapshot, patch it on MOVED, and ask for a refresh on
/// faults; one background task does the refreshing so a failover costs one CLUSTER SLOTS per
/// interval, not one per worker.
pub struct Topology {
    map: RwLock<Arc<SlotMap>>,
    epoch: AtomicU64,
    seeds: Vec<SocketAddr>,
    auth: Auth,
    dial: Dialer,
    wanted: AtomicBool,
    notify: Notify,
}

impl Topology {
    /// Discovers the topology from the first seed that answers.
    pub async fn discover(
        seeds: &[SocketAddr],
        auth: &Auth,
        dial: &Dialer,
    ) -> Result<Topology, TopologyError> {
        let mut map = SlotMap::empty();
        fetch_into(&mut map, seeds, auth, dial).await?;
        if map.covered() == 0 {
            return Err(TopologyError::NoSlots { addr: seeds[0] });
        }
        Ok(Topology {
            map: RwLock::new(Arc::new(map)),
            epoch: AtomicU64::new(1),
            seeds: seeds.to_vec(),
            auth: auth.clone(),
            dial: dial.clone(),
            wanted: AtomicBool::new(false),
            notify: Notify::new(),
        })
    }

    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> Arc<SlotMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// MOVED: the slot now lives at `addr`. Patches one entry; an unknown node also gets a refresh.
    pub fn moved(&self, slot: u16, addr: SocketAddr) {
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        let known = guard.nodes.contains(&addr);
        let m = Arc::make_mut(&mut guard);
        let id = m.node_id(addr);
        if m.owner(slot) != id {
            m.slot_owner[slot as usize] = id;
            self.epoch.fetch_add(1, Ordering::AcqRel);
        } else if !known {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        drop(guard);
        if !known {
            self.request_refresh();
        }
    }

    /// Registers a node (ASK targets) and returns its id.
    pub fn node_id(&self, addr: SocketAddr) -> u16 {
        if let Some(i) = self.snapshot().nodes.iter().position(|a| *a == addr) {
            return i as u16;
        }
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        let id = Arc::make_mut(&mut guard).node_id(addr);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        id
    }

    pub fn request_refresh(&self) {
        if !self.wanted.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    /// Refreshes when asked, at most every `min_interval`, until its task is dropped. A request
    /// made while a refresh runs leaves a permit in `notify`, so none is lost.
    pub async fn refresher(self: Arc<Self>, min_interval: Duration) {
        let mut last = Instant::now() - min_interval;
        loop {
            self.notify.notified().await;
            if !self.wanted.load(Ordering::Acquire) {
                continue;
            }
            let since = last.elapsed();
            if since < min_interval {
                tokio::time::sleep(min_interval - since).await;
            }
            self.wanted.store(false, Ordering::Release);
            last = Instant::now();
            let _ = self.refresh().await;
        }
    }

    /// Rebuilds the map from any node that answers (current masters first, then replicas, then seeds).
    pub async fn refresh(&self) -> Result<(), TopologyError> {
        let current = self.snapshot();
        let mut candidates: Vec<SocketAddr> = current
            .masters()
            .into_iter()
            .filter_map(|i| current.nodes.get(i as usize).copied())
            .collect();
        for (i, a) in current.nodes.iter().enumerate() {
            if current.is_replica.get(i).copied().unwrap_or(false) && !candidates.contains(a) {
                candidates.push(*a);
            }
        }
        for a in &self.seeds {
            if !candidates.contains(a) {
                candidates.push(*a);
            }
        }
        let mut next = (*current).clone();
        fetch_into(&mut next, &candidates, &self.auth, &self.dial).await?;
        if next.covered() == 0 {
            return Ok(());
        }
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Nodes registered by MOVED/ASK while we were fetching keep their ids.
        for a in guard.nodes.iter().skip(next.nodes.len()) {
            next.node_id(*a);
        }
        if next.nodes.len() >= guard.nodes.len()
            && next.nodes[..guard.nodes.len()] == guard.nodes[..]
        {
            *guard = Arc::new(next);
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }
}

/// Asks each candidate in turn for CLUSTER SLOTS until one answers with a usable map.
async fn fetch_into(
    map: &mut SlotMap,
    candidates: &[SocketAddr],
    auth: &Auth,
    dial: &Dialer,
) -> Result<(), TopologyError> {
    let mut last_err: Option<TopologyError> = None;
    for &addr in candidates {
        let attempt = async {
            let mut conn = Conn::connect(dial, addr, auth, 4096).await?;
            let reply = conn.request(&[b"CLUSTER", b"SLOTS"]).await?;
            if let Value::Error(e) = &reply
                && e.starts_with("NOAUTH")
            {
                return Err(TopologyError::Conn(ConnError::NoAuth {
                    addr: addr.into(),
                    var: auth.password_var(),
                }));
            }
            let mut candidate = map.clone();
            candidate.apply_cluster_slots(&reply, addr)?;
            Ok::<SlotMap, TopologyError>(candidate)
        };
        match attempt.await {
            Ok(m) if m.covered() > 0 => {
                *map = m;
                return Ok(());
            }
            Ok(_) => last_err = Some(TopologyError::NoSlots { addr }),
            // Configuration errors are final: another node will say the same.
            Err(
                e @ (TopologyError::NotCluster { .. }
                | TopologyError::Conn(ConnError::NoAuth { .. })
                | TopologyError::Conn(ConnError::Auth { .. })),
            ) => {
                return Err(e);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(match last_err {
        Some(e @ TopologyError::NoSlots { .. }) if candidates.len() == 1 => e,
        Some(e) if candidates.len() == 1 => e,
        Some(e) => TopologyError::Unreachable(e.to_string()),
        None => TopologyError::Unreachable("no seed nodes".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![bulk(host), Value::Int(port), bulk("id")])
    }

    #[test]
    fn builds_the_map_from_cluster_slots() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7003),
            ]),
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("", 7001)]),
        ]);
        let q: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let mut m = SlotMap::empty();
        m.apply_cluster_slots(&reply, q).unwrap();
        assert_eq!(m.covered(), 16384);
        assert_eq!(m.nodes[m.owner(0) as usize].port(), 7000);
        assert_eq!(m.nodes[m.owner(16383) as usize], q);
        assert_eq!(m.masters().len(), 2);
        assert_eq!(m.replicas[0], vec![1]);
        assert!(m.is_replica[1]);
        // Ids are stable across rebuilds: a failover promotes the replica without renumbering.
        let swapped = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16383),
            node("127.0.0.1", 7003),
        ])]);
        m.apply_cluster_slots(&swapped, q).unwrap();
        assert_eq!(m.owner(100), 1);
        assert!(!m.is_replica[1]);
        assert!(
            m.apply_cluster_slots(
                &Value::Error("ERR This instance has cluster support disabled".into()),
                q
            )
            .is_err()
        );
    }

    #[test]
    fn parses_redirects() {
        let lo: IpAddr = [127, 0, 0, 2].into();
        let (s, a) = parse_redirect(b"MOVED 3999 127.0.0.1:6381", lo).unwrap();
        assert_eq!((s, a.port()), (3999, 6381));
        assert!(parse_redirect(b"ASK 99999 127.0.0.1:1", lo).is_none());
        assert!(parse_redirect(b"MOVED x", lo).is_none());
        let (_, a) = parse_redirect(b"ASK 1 [::1]:7000", lo).unwrap();
        assert!(a.is_ipv6());
        let (_, a) = parse_redirect(b"MOVED 5 :7001", lo).unwrap();
        assert_eq!(a, SocketAddr::new(lo, 7001));
    }
}
