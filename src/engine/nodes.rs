//! The node table of one engine thread: the nodes it knows (id = index in the slot map), each
//! one's queue of requests waiting for a window slot, its reconnect backoff, and the thread's copy
//! of the slot map with its epoch. Decides which node a request goes to and what a MOVED, an ASK or
//! a new map changes. Knows nothing of sockets: links are only indices here.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Req;
use super::timer::Ns;
use crate::cluster::Route;
use crate::cluster::policy::{BACKOFF_BASE, BACKOFF_MAX};
use crate::cluster::slot::slot_of;
use crate::cluster::topology::{NO_NODE, SlotMap, Topology};
use crate::net::Peer;
use crate::workload::MAX_KEY;

/// One node as seen by one thread: its links (one per client), the ones with a free window slot,
/// and the requests waiting for one.
pub(super) struct Node {
    pub addr: Peer,
    pub replica: bool,
    pub links: Vec<usize>,
    pub free: Vec<usize>,
    pub queue: VecDeque<Req>,
    /// When a down node may be connected to again, and the backoff after that.
    pub retry_at: Ns,
    pub backoff: Duration,
    /// First failed connect since the node last worked (None: it works).
    pub down_since: Option<Ns>,
    /// Waiting to be pumped (on the table's list).
    pub marked: bool,
}

/// Where a cluster's slot map comes from: the run's shared topology (a plain map in tests).
/// Static dispatch: the engine is monomorphised over it, nothing is looked up per request.
pub(super) trait SlotSource {
    fn epoch(&self) -> u64;
    fn snapshot(&self) -> Arc<SlotMap>;
    /// MOVED: patch the slot's owner (every thread sees it at the next epoch).
    fn moved(&self, slot: u16, to: SocketAddr);
    /// The id of an ASK target, registered if new.
    fn node_id(&self, to: SocketAddr) -> u16;
}

impl SlotSource for Topology {
    #[inline]
    fn epoch(&self) -> u64 {
        Topology::epoch(self)
    }
    fn snapshot(&self) -> Arc<SlotMap> {
        Topology::snapshot(self)
    }
    fn moved(&self, slot: u16, to: SocketAddr) {
        Topology::moved(self, slot, to)
    }
    fn node_id(&self, to: SocketAddr) -> u16 {
        Topology::node_id(self, to)
    }
}

pub(super) struct NodeTable {
    nodes: Vec<Node>,
    /// Requests in node queues (over all nodes).
    pub queued: usize,
    /// Standalone: the one server (node 0). None: a cluster, routed by `map`.
    single: Option<Peer>,
    map: Arc<SlotMap>,
    epoch: u64,
    /// The map's masters, cached for keyless commands (recomputed when the epoch moves).
    masters: Vec<u16>,
    masters_epoch: u64,
    /// Round robin over masters (keyless) or replicas (reads).
    rr: usize,
    read_from_replicas: bool,
    /// Nodes marked for pumping, each once.
    to_pump: Vec<u16>,
}

impl NodeTable {
    pub fn new(route: &Route, read_from_replicas: bool) -> NodeTable {
        match route {
            Route::Single(p) => NodeTable::with(Some(p.clone()), Arc::new(SlotMap::empty()), 0),
            Route::Cluster(t) => NodeTable::with(None, t.snapshot(), t.epoch()),
        }
        .reading_replicas(read_from_replicas)
    }

    fn with(single: Option<Peer>, map: Arc<SlotMap>, epoch: u64) -> NodeTable {
        NodeTable {
            nodes: Vec::new(),
            queued: 0,
            single,
            map,
            epoch,
            masters: Vec::new(),
            masters_epoch: u64::MAX,
            rr: 0,
            read_from_replicas: false,
            to_pump: Vec::new(),
        }
    }

    fn reading_replicas(mut self, on: bool) -> NodeTable {
        self.read_from_replicas = on;
        self
    }

    #[inline]
    pub fn cluster(&self) -> bool {
        self.single.is_none()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    pub fn get(&self, n: u16) -> &Node {
        &self.nodes[n as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, n: u16) -> &mut Node {
        &mut self.nodes[n as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The nodes connected before the clock starts: the one server, or every master.
    pub fn initial(&self) -> Vec<u16> {
        match self.single {
            Some(_) => vec![0],
            None => self.map.masters(),
        }
    }

    /// Makes node `n` known to this thread.
    pub fn ensure(&mut self, n: u16) {
        while self.nodes.len() <= n as usize {
            let id = self.nodes.len();
            let addr = match &self.single {
                Some(p) => p.clone(),
                None => Peer::Tcp(self.map.nodes[id]),
            };
            self.nodes.push(Node {
                addr,
                replica: self.map.is_replica.get(id).copied().unwrap_or(false),
                links: Vec::new(),
                free: Vec::new(),
                queue: VecDeque::new(),
                retry_at: 0,
                backoff: BACKOFF_BASE,
                down_since: None,
                marked: false,
            });
        }
    }

    /// The node a request goes to: the ASK target, the owner of its key's slot (a replica for
    /// reads with --read-from-replicas), or any master for keyless commands (`key` writes the
    /// routing key and returns its length, 0: none; `read` says whether the command only reads,
    /// asked only when it matters). `NO_NODE`: the slot is not served.
    #[inline]
    pub fn route(
        &mut self,
        ask_node: u16,
        key: impl FnOnce(&mut [u8; MAX_KEY]) -> usize,
        read: impl FnOnce() -> bool,
    ) -> u16 {
        if self.single.is_some() {
            return 0;
        }
        if ask_node != NO_NODE {
            return ask_node;
        }
        let mut buf = [0u8; MAX_KEY];
        let len = key(&mut buf);
        if len == 0 {
            self.refresh_masters();
            if self.masters.is_empty() {
                return NO_NODE;
            }
            self.rr = self.rr.wrapping_add(1);
            return self.masters[self.rr % self.masters.len()];
        }
        let owner = self.map.owner(slot_of(&buf[..len]));
        if owner != NO_NODE
            && self.read_from_replicas
            && read()
            && let Some(reps) = self
                .map
                .replicas
                .get(owner as usize)
                .filter(|r| !r.is_empty())
        {
            self.rr = self.rr.wrapping_add(1);
            return reps[self.rr % reps.len()];
        }
        owner
    }

    fn refresh_masters(&mut self) {
        if self.masters_epoch != self.epoch {
            self.masters = self.map.masters();
            self.masters_epoch = self.epoch;
        }
    }

    /// Node `n` is one that fresh requests are drawn for (the server, or a master).
    pub fn drawn_for(&mut self, n: u16) -> bool {
        if self.single.is_some() {
            return true;
        }
        self.refresh_masters();
        self.masters.contains(&n)
    }

    /// Takes up a newer slot map from `src`, if there is one: the requests queued by the old map
    /// (all but those sent on by an ASK) go to `moved`, to be routed again. False: no change.
    pub fn follow(&mut self, src: &impl SlotSource, moved: &mut Vec<Req>) -> bool {
        let e = src.epoch();
        if e == self.epoch {
            return false;
        }
        self.map = src.snapshot();
        self.epoch = e;
        let before = moved.len();
        for node in &mut self.nodes {
            node.queue.retain(|r| {
                let stay = r.ask_node != NO_NODE;
                if !stay {
                    moved.push(*r);
                }
                stay
            });
        }
        self.queued -= moved.len() - before;
        true
    }

    /// A MOVED or ASK reply for `r`: MOVED patches the shared map (followed at its next epoch);
    /// ASK sends this one request to `to`, once, and leaves the map alone.
    pub fn redirect(
        &self,
        src: &impl SlotSource,
        r: &mut Req,
        slot: u16,
        to: SocketAddr,
        ask: bool,
    ) {
        r.ask_node = NO_NODE;
        if ask {
            r.ask_node = src.node_id(to);
        } else {
            src.moved(slot, to);
        }
    }

    /// Most requests a node's queue holds before draws that land on it are drawn again: a stalled
    /// node gets its window and this much more, and the others keep their share meanwhile.
    #[inline]
    pub fn full(&self, n: u16, pipeline: usize) -> bool {
        self.nodes
            .get(n as usize)
            .is_some_and(|x| x.queue.len() >= (x.links.len() * pipeline * 4).max(64))
    }

    /// Queues `r` for node `n` (at the front for redirects: they are older) and marks the node.
    #[inline]
    pub fn push(&mut self, n: u16, r: Req, front: bool) {
        self.ensure(n);
        let q = &mut self.nodes[n as usize].queue;
        if front {
            q.push_front(r);
        } else {
            q.push_back(r);
        }
        self.queued += 1;
        self.mark(n);
    }

    #[inline]
    pub fn pop(&mut self, n: u16) -> Option<Req> {
        let r = self.nodes[n as usize].queue.pop_front()?;
        self.queued -= 1;
        Some(r)
    }

    /// Puts node `n` on the list to pump (once).
    #[inline]
    pub fn mark(&mut self, n: u16) {
        let node = &mut self.nodes[n as usize];
        if !node.marked {
            node.marked = true;
            self.to_pump.push(n);
        }
    }

    /// The next marked node, unmarked.
    #[inline]
    pub fn next_marked(&mut self) -> Option<u16> {
        let n = self.to_pump.pop()?;
        self.nodes[n as usize].marked = false;
        Some(n)
    }

    #[inline]
    pub fn any_marked(&self) -> bool {
        !self.to_pump.is_empty()
    }

    pub fn any_free(&self) -> bool {
        self.nodes.iter().any(|n| !n.free.is_empty())
    }

    /// A link of node `n` came up: it works again, with the backoff reset.
    pub fn up(&mut self, n: u16) {
        let node = &mut self.nodes[n as usize];
        node.backoff = BACKOFF_BASE;
        node.down_since = None;
    }

    /// A connect to node `n` failed: it may be tried again after its backoff, which doubles up to
    /// `BACKOFF_MAX`.
    pub fn failed(&mut self, n: u16, now: Ns) {
        let node = &mut self.nodes[n as usize];
        node.retry_at = now + node.backoff.as_nanos() as Ns;
        node.down_since.get_or_insert(now);
        node.backoff = (node.backoff * 2).min(BACKOFF_MAX);
    }

    /// Node `n` may be connected to at `now` (its backoff is over).
    #[inline]
    pub fn may_connect(&self, n: u16, now: Ns) -> bool {
        now >= self.nodes[n as usize].retry_at
    }

    /// Drops from node `n`'s queue the requests `gone` picks, in order, into `out`.
    pub fn drop_queued(&mut self, n: u16, mut gone: impl FnMut(&Req) -> bool, out: &mut Vec<Req>) {
        let before = out.len();
        self.nodes[n as usize].queue.retain(|r| {
            let g = gone(r);
            if g {
                out.push(*r);
            }
            !g
        });
        self.queued -= out.len() - before;
    }

    /// Empties every queue into `out` (the run is stopping).
    pub fn drain_all(&mut self, out: &mut Vec<Req>) {
        for node in &mut self.nodes {
            out.extend(node.queue.drain(..));
        }
        self.queued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::slot::SLOTS;
    use std::cell::RefCell;

    /// A shared topology without a server: a map and an epoch that MOVED/ASK change as Redis's
    /// topology does.
    struct FakeSource {
        map: RefCell<SlotMap>,
        epoch: RefCell<u64>,
    }

    impl SlotSource for FakeSource {
        fn epoch(&self) -> u64 {
            *self.epoch.borrow()
        }
        fn snapshot(&self) -> Arc<SlotMap> {
            Arc::new(self.map.borrow().clone())
        }
        fn moved(&self, slot: u16, to: SocketAddr) {
            let mut m = self.map.borrow_mut();
            let id = m.node_id(to);
            m.slot_owner[slot as usize] = id;
            *self.epoch.borrow_mut() += 1;
        }
        fn node_id(&self, to: SocketAddr) -> u16 {
            self.map.borrow_mut().node_id(to)
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Two masters: node 0 owns the lower half of the slots, node 1 the upper; node 2 replicates 0.
    fn source() -> FakeSource {
        let mut m = SlotMap::empty();
        let (a, b, c) = (
            m.node_id(addr(7000)),
            m.node_id(addr(7001)),
            m.node_id(addr(7002)),
        );
        for s in 0..SLOTS {
            m.slot_owner[s] = if s < SLOTS / 2 { a } else { b };
        }
        m.replicas[a as usize].push(c);
        m.is_replica[c as usize] = true;
        FakeSource {
            map: RefCell::new(m),
            epoch: RefCell::new(1),
        }
    }

    fn table(src: &FakeSource) -> NodeTable {
        NodeTable::with(None, src.snapshot(), src.epoch())
    }

    fn key(k: &'static [u8]) -> impl FnOnce(&mut [u8; MAX_KEY]) -> usize {
        move |b| {
            b[..k.len()].copy_from_slice(k);
            k.len()
        }
    }

    /// "foo" hashes to slot 12182 (upper half), "bar" to 5061 (lower half).
    #[test]
    fn keys_go_to_their_slot_owner_and_reads_to_replicas_when_asked() {
        let src = source();
        let mut t = table(&src);
        assert_eq!(t.route(NO_NODE, key(b"foo"), || false), 1);
        assert_eq!(t.route(NO_NODE, key(b"bar"), || true), 0);
        t.read_from_replicas = true;
        assert_eq!(
            t.route(NO_NODE, key(b"bar"), || true),
            2,
            "a read goes to 0's replica"
        );
        assert_eq!(
            t.route(NO_NODE, key(b"bar"), || false),
            0,
            "a write stays on the master"
        );
        assert_eq!(
            t.route(NO_NODE, key(b"foo"), || true),
            1,
            "no replica: the owner"
        );
    }

    #[test]
    fn keyless_commands_take_turns_over_the_masters() {
        let src = source();
        let mut t = table(&src);
        let picks: Vec<u16> = (0..4).map(|_| t.route(NO_NODE, |_| 0, || false)).collect();
        assert_eq!(picks, [1, 0, 1, 0], "both masters, never the replica");
        assert!(t.drawn_for(0) && t.drawn_for(1) && !t.drawn_for(2));
    }

    #[test]
    fn a_standalone_server_is_node_zero() {
        let mut t = NodeTable::with(Some(Peer::Tcp(addr(6379))), Arc::new(SlotMap::empty()), 0);
        assert!(!t.cluster());
        assert_eq!(t.route(NO_NODE, key(b"foo"), || false), 0);
        assert_eq!(t.initial(), [0]);
        t.ensure(0);
        assert_eq!(t.get(0).addr, Peer::Tcp(addr(6379)));
    }

    #[test]
    fn an_unserved_slot_has_no_node() {
        let src = source();
        src.map.borrow_mut().slot_owner[12182] = NO_NODE;
        let mut t = table(&src);
        assert_eq!(t.route(NO_NODE, key(b"foo"), || false), NO_NODE);
    }

    #[test]
    fn moved_gives_the_slot_a_new_owner_at_a_new_epoch_and_requeues() {
        let src = source();
        let mut t = table(&src);
        let mut moved = Vec::new();
        assert!(!t.follow(&src, &mut moved), "same epoch: nothing to follow");
        // Two requests for "foo" wait on node 1 when its slot moves to a new node.
        t.push(1, Req::test(0, 0), false);
        t.push(1, Req::test(0, 0), false);
        let mut r = Req::test(0, 0);
        t.redirect(&src, &mut r, 12182, addr(7005), false);
        assert_eq!(r.ask_node, NO_NODE, "MOVED is not a one-shot");
        assert!(t.follow(&src, &mut moved));
        assert_eq!(t.epoch, 2);
        assert_eq!(moved.len(), 2, "queued requests are routed again");
        assert_eq!(t.queued, 0);
        assert_eq!(
            t.route(NO_NODE, key(b"foo"), || false),
            3,
            "the new node owns the slot"
        );
        assert_eq!(
            t.route(NO_NODE, key(b"bar"), || false),
            0,
            "other slots stay"
        );
        t.ensure(3);
        assert_eq!(t.get(3).addr, Peer::Tcp(addr(7005)));
    }

    #[test]
    fn ask_sends_one_request_to_the_target_and_leaves_the_map() {
        let src = source();
        let mut t = table(&src);
        let mut r = Req::test(0, 0);
        t.redirect(&src, &mut r, 12182, addr(7001), true);
        assert_eq!(r.ask_node, 1);
        assert_eq!(t.route(r.ask_node, |_| unreachable!(), || false), 1);
        let mut r = Req::test(0, 0);
        t.redirect(&src, &mut r, 12182, addr(7000), true);
        assert_eq!(
            t.route(r.ask_node, key(b"foo"), || false),
            0,
            "the asked node"
        );
        assert_eq!(
            t.route(NO_NODE, key(b"foo"), || false),
            1,
            "the owner is unchanged"
        );
        assert_eq!(src.epoch(), 1, "no map change");
        // A request sent on by ASK keeps its target across a map change; the others are re-routed.
        t.push(0, r, false);
        t.push(0, Req::test(0, 0), false);
        *src.epoch.borrow_mut() += 1;
        let mut moved = Vec::new();
        assert!(t.follow(&src, &mut moved));
        assert_eq!((moved.len(), t.queued), (1, 1));
        assert_eq!(t.pop(0).map(|q| q.ask_node), Some(0));
    }

    #[test]
    fn a_full_queue_is_full_and_marks_are_taken_once() {
        let src = source();
        let mut t = table(&src);
        assert!(!t.full(0, 16), "an unknown node takes requests");
        for _ in 0..64 {
            t.push(0, Req::test(0, 0), false);
        }
        assert!(t.full(0, 1), "no links: 64 requests at most");
        t.get_mut(0).links = vec![0, 1];
        assert!(!t.full(0, 16), "two links at -P 16 hold 128");
        assert_eq!(t.next_marked(), Some(0));
        assert_eq!(t.next_marked(), None, "marked once however many pushes");
        let mut gone = Vec::new();
        let mut i = 0;
        t.drop_queued(
            0,
            |_| {
                i += 1;
                i % 2 == 0
            },
            &mut gone,
        );
        assert_eq!((gone.len(), t.queued), (32, 32));
        t.drain_all(&mut gone);
        assert_eq!((gone.len(), t.queued), (64, 0));
    }

    #[test]
    fn a_failing_node_backs_off_doubling_until_it_works() {
        let src = source();
        let mut t = table(&src);
        t.ensure(0);
        let ms = 1_000_000;
        t.failed(0, 0);
        assert!(!t.may_connect(0, ms) && t.may_connect(0, 2 * ms));
        t.failed(0, 10 * ms);
        assert!(
            !t.may_connect(0, 13 * ms) && t.may_connect(0, 14 * ms),
            "4 ms after 2"
        );
        assert_eq!(t.get(0).down_since, Some(0), "down since the first failure");
        for _ in 0..20 {
            t.failed(0, 10 * ms);
        }
        assert_eq!(t.get(0).backoff, BACKOFF_MAX);
        t.up(0);
        assert_eq!(
            (t.get(0).backoff, t.get(0).down_since),
            (BACKOFF_BASE, None)
        );
    }
}
