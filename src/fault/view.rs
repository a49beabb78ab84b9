//! Talking to the target's servers for the faults: connections and requests bounded in time (a
//! paused or sleeping server never answers), and the cluster as `CLUSTER NODES` shows it.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::cluster::Route;
use crate::conn::{Auth, Conn};
use crate::net::Dialer;
use crate::resp::Value;

/// Bound of one administrative request (CLUSTER NODES, SETSLOT, ROLE...).
pub(super) const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How the faults reach the servers, and every node address seen so far.
pub(super) struct Net {
    pub(super) route: Route,
    pub(super) auth: Auth,
    pub(super) dial: Dialer,
    /// Nodes to ask about the cluster, the ones that failed to answer last.
    known: RefCell<Vec<SocketAddr>>,
}

impl Net {
    pub(super) fn new(route: Route, auth: Auth, dial: Dialer, nodes: &[SocketAddr]) -> Net {
        let mut known: Vec<SocketAddr> = match &route {
            // A unix socket is not a node faults can reach by address.
            Route::Single(p) => p.tcp().into_iter().collect(),
            Route::Cluster(t) => t.snapshot().nodes.clone(),
        };
        for a in nodes {
            if !known.contains(a) {
                known.push(*a);
            }
        }
        Net {
            route,
            auth,
            dial,
            known: RefCell::new(known),
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.route, Route::Cluster(_))
    }

    /// The standalone server's address (the first known one on a cluster).
    pub(super) fn single(&self) -> Option<SocketAddr> {
        match &self.route {
            Route::Single(p) => p.tcp(),
            Route::Cluster(_) => self.known.borrow().first().copied(),
        }
    }

    /// Opens a connection (with the run's AUTH and TLS) within `within`.
    pub(super) async fn connect(&self, addr: SocketAddr, within: Duration) -> Result<Conn, String> {
        match tokio::time::timeout(within, Conn::connect(&self.dial, addr, &self.auth, 4096)).await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{addr}: no answer within {:.1} s",
                within.as_secs_f64()
            )),
        }
    }

    /// One request on a connection of its own.
    pub(super) async fn ask(
        &self,
        addr: SocketAddr,
        args: &[&[u8]],
        within: Duration,
    ) -> Result<Value, String> {
        let mut conn = self.connect(addr, within).await?;
        request(&mut conn, args, within).await
    }

    /// The cluster as the first node that answers (each within `within`) sees it, trying `avoid`
    /// (the nodes that just failed) only last.
    pub(super) async fn cluster_nodes(
        &self,
        avoid: &[SocketAddr],
        within: Duration,
    ) -> Result<Vec<ClusterNode>, String> {
        let mut candidates = self.known.borrow().clone();
        candidates.sort_by_key(|a| avoid.contains(a));
        let mut last = "no node to ask".to_string();
        for addr in candidates {
            match self.ask(addr, &[b"CLUSTER", b"NODES"], within).await {
                Ok(v) => match v.into_text() {
                    Ok(text) => {
                        let nodes = parse_cluster_nodes(&text, addr.ip());
                        self.learn(&nodes);
                        return Ok(nodes);
                    }
                    Err(e) => last = format!("{addr}: CLUSTER NODES: {e}"),
                },
                Err(e) => last = e,
            }
            self.demote(addr);
        }
        Err(format!("no node answered CLUSTER NODES ({last})"))
    }

    fn learn(&self, nodes: &[ClusterNode]) {
        let mut known = self.known.borrow_mut();
        for n in nodes {
            if !known.contains(&n.addr) {
                known.push(n.addr);
            }
        }
    }

    /// Moves `addr` to the end of the nodes to ask: it did not answer.
    pub(super) fn demote(&self, addr: SocketAddr) {
        let mut known = self.known.borrow_mut();
        if let Some(i) = known.iter().position(|a| *a == addr) {
            let a = known.remove(i);
            known.push(a);
        }
    }

    /// ROLE's first word (`master`, `slave`), or None when the node does not answer.
    pub(super) async fn role(&self, addr: SocketAddr) -> Option<String> {
        let v = self.ask(addr, &[b"ROLE"], ADMIN_TIMEOUT).await.ok()?;
        v.as_array()?.first()?.text().map(|t| t.into_owned())
    }
}

/// `request` bounded by `within`.
pub(super) async fn request(
    conn: &mut Conn,
    args: &[&[u8]],
    within: Duration,
) -> Result<Value, String> {
    match tokio::time::timeout(within, conn.request(args)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{}: no reply within {:.1} s",
            conn.peer(),
            within.as_secs_f64()
        )),
    }
}

/// A request that must be answered `+OK`.
pub(super) async fn expect_ok(
    conn: &mut Conn,
    args: &[&[u8]],
    within: Duration,
) -> Result<(), String> {
    match request(conn, args, within).await? {
        Value::Simple(s) if s == "OK" => Ok(()),
        Value::Error(e) => Err(format!("{}: {}: {e}", conn.peer(), words(args))),
        other => Err(format!(
            "{}: {}: unexpected reply {other:?}",
            conn.peer(),
            words(args)
        )),
    }
}

/// The first words of a command, for errors (never MIGRATE's AUTH arguments).
fn words(args: &[&[u8]]) -> String {
    args.iter()
        .take(3)
        .map(|a| String::from_utf8_lossy(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ClusterNode {
    pub(super) id: String,
    pub(super) addr: SocketAddr,
    pub(super) master: bool,
    pub(super) master_id: Option<String>,
    /// Flagged `fail` (or without an address): not a node to act on.
    pub(super) failed: bool,
    /// Owned slot ranges, inclusive.
    pub(super) slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    pub(super) fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|(a, b)| usize::from(*b) - usize::from(*a) + 1)
            .sum()
    }

    pub(super) fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }

    /// A master with slots that is not marked failed.
    pub(super) fn serving_master(&self) -> bool {
        self.master && !self.failed && !self.slots.is_empty()
    }

    /// `127.0.0.1:PORT (master)`.
    pub(super) fn label(&self) -> String {
        node_label(self.addr, self.master)
    }
}

pub(super) fn node_label(addr: SocketAddr, master: bool) -> String {
    format!("{addr} ({})", if master { "master" } else { "replica" })
}

/// The master that owns `slot`, failed or not (a failed one still owns it until its replica
/// takes over).
pub(super) fn owner(nodes: &[ClusterNode], slot: u16) -> Option<&ClusterNode> {
    nodes.iter().find(|n| n.master && n.owns(slot))
}

/// Parses `CLUSTER NODES`; an empty host means the host of the node that answered, `from`.
/// Lines it cannot read are skipped: a node in handshake has no id or address yet.
pub(super) fn parse_cluster_nodes(text: &str, from: IpAddr) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| parse_line(line, from))
        .collect()
}

fn parse_line(line: &str, from: IpAddr) -> Option<ClusterNode> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let addr = parse_addr(f[1], from)?;
    let flags: Vec<&str> = f[2].split(',').collect();
    if flags.contains(&"handshake") {
        return None;
    }
    Some(ClusterNode {
        id: f[0].to_string(),
        addr,
        master: flags.contains(&"master"),
        master_id: (f[3] != "-").then(|| f[3].to_string()),
        failed: flags.contains(&"fail") || flags.contains(&"noaddr"),
        slots: f[8..].iter().filter_map(|s| parse_slots(s)).collect(),
    })
}

/// `127.0.0.1:30001@40001[,hostname]` → the client address.
fn parse_addr(field: &str, from: IpAddr) -> Option<SocketAddr> {
    let hostport = field.split(['@', ',']).next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "" => from,
        h => h.parse().ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

/// `0-5460` or `5461`; the `[slot->-id]` import/migration markers are not owned slots.
fn parse_slots(s: &str) -> Option<(u16, u16)> {
    if s.starts_with('[') {
        return None;
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b && usize::from(b) < crate::cluster::slot::SLOTS).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 [10923->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@31001 myself,master - 0 0 1 connected 0-5459 5460
abc 127.0.0.1:30009@31009 handshake - 0 0 0 connected
";

    #[test]
    fn cluster_nodes_are_read_with_roles_slots_and_failures() {
        let from: IpAddr = "127.0.0.9".parse().unwrap();
        let nodes = parse_cluster_nodes(NODES, from);
        assert_eq!(nodes.len(), 5, "{nodes:?}");
        let r = &nodes[0];
        assert_eq!(r.addr, "127.0.0.1:30004".parse().unwrap());
        assert!(!r.master && !r.failed && r.slots.is_empty());
        assert_eq!(
            r.master_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert_eq!(nodes[2].slots, vec![(10923, 16383)]);
        assert!(nodes[3].failed);
        let me = &nodes[4];
        assert_eq!(me.addr, "127.0.0.9:30001".parse().unwrap());
        assert_eq!(me.slots, vec![(0, 5459), (5460, 5460)]);
        assert_eq!(me.slot_count(), 5461);
        assert!(me.serving_master() && me.owns(5460) && !me.owns(5461));
        assert_eq!(owner(&nodes, 5461).map(|n| n.addr.port()), Some(30002));
        assert_eq!(me.label(), "127.0.0.9:30001 (master)");
        assert_eq!(r.label(), "127.0.0.1:30004 (replica)");
    }

    #[test]
    fn unreadable_lines_and_fields_are_skipped() {
        let from: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(parse_cluster_nodes("", from).is_empty());
        assert!(parse_cluster_nodes("garbage line", from).is_empty());
        assert!(parse_cluster_nodes("id :0@0 master,noaddr - 0 0 0 connected", from).is_empty());
        assert_eq!(parse_slots("16384"), None);
        assert_eq!(parse_slots("5-3"), None);
        assert_eq!(parse_slots("x"), None);
        assert_eq!(parse_slots("7"), Some((7, 7)));
    }
}
