//! Where requests go and when they are written: drawing them (closed loop: when a slot is free;
//! open loop: when due), routing each to its node's queue, filling free window slots from the
//! queues, and one write per link per iteration.

use mio::Token;

use super::Req;
use super::admission::Due;
use super::event_loop::Engine;
use super::link::{Link, Pending};
use super::timer::Ns;
use crate::cluster::Route;
use crate::cluster::topology::NO_NODE;
use crate::net::Transport;
use crate::resp::ErrorClass;
use crate::workload::template::Role;

impl<T: Transport> Engine<T> {
    /// One link to node `n` per client of this thread (not connected yet).
    pub(super) fn add_links(&mut self, n: u16) {
        for _ in 0..self.io.clients.max(1) {
            let l = self.links.len();
            self.links
                .push(Link::new(n, self.nodes.get(n).addr.clone()));
            self.nodes.get_mut(n).links.push(l);
        }
    }

    /// Puts link `l` on its node's free list when it can take another request.
    pub(super) fn list(&mut self, l: usize) {
        let p = self.shared.load.pipeline;
        let link = &mut self.links[l];
        if link.listed || !link.ready() || link.busy >= p {
            return;
        }
        link.listed = true;
        let n = link.node;
        self.nodes.get_mut(n).free.push(l);
        self.nodes.mark(n);
    }

    /// A link finished connecting: it takes requests from now on.
    pub(super) fn link_up(&mut self, l: usize) {
        self.nodes.up(self.links[l].node);
        self.list(l);
    }

    /// Picks up a new slot map (a MOVED patch or a refresh): queued requests are routed again.
    pub(super) fn follow_map(&mut self) {
        let Route::Cluster(t) = &self.shared.route else {
            return;
        };
        let mut moved = std::mem::take(&mut self.rerouted);
        if self.nodes.follow(&**t, &mut moved) {
            for r in moved.drain(..) {
                self.enqueue(r, false);
            }
        }
        self.rerouted = moved;
    }

    /// The node request `r` goes to (see `NodeTable::route`).
    #[inline]
    pub(super) fn route(&mut self, r: &Req) -> u16 {
        // Closures: a standalone server or an ASK target needs neither the key nor the op.
        let shared = &*self.shared;
        let op = r.op as usize;
        let lane = &shared.lanes.lanes[op];
        let key = |key: &mut _| lane.template.route_key(&r.draw, key);
        self.nodes.route(r.ask_node, key, || lane.read)
    }

    /// Routes `r` into its node's queue (at the front for redirects: they are older).
    pub(super) fn enqueue(&mut self, r: Req, front: bool) {
        let n = self.route(&r);
        if n == NO_NODE {
            // Slot not served (yet): CLUSTERDOWN, as the server would say.
            let now = self.clock.now();
            self.on_error(r, ErrorClass::ClusterDown, None, now);
            return;
        }
        self.nodes.push(n, r, front);
    }

    /// A fresh request drawn by the generators, intended at `at`.
    #[inline]
    fn draw(&mut self, at: Ns) -> Req {
        let d = self.generator.draw();
        Req {
            draw: d.args,
            intended: at,
            sent: at,
            vlen: d.len as u32,
            ttl_ms: d.ttl_ms,
            attempts: 0,
            ask_node: NO_NODE,
            op: d.lane as u8,
            redirects: 0,
            last_err: ErrorClass::Other,
            flags: 0,
        }
    }

    /// Due retries go back to their queues; open loop: due requests of the schedule are drawn.
    pub(super) fn admit(&mut self, now: Ns) {
        let mut at = 0;
        while let Some(r) = self.adm.due_retry(now, &mut at) {
            self.enqueue(r, false);
        }
        // Draw only what the windows can take now: the rest stays in the schedule, and its
        // latency still counts from its intended time when it is drawn later.
        let p = self.shared.load.pipeline;
        let cap = self.links.len() * p;
        while let Due::Draw(at) = self.adm.scheduled(now, self.nodes.queued < cap) {
            let mut r = self.draw(at);
            let mut n = self.route(&r);
            // A stalled node's queue is full: its share goes to the others meanwhile.
            for _ in 0..16 {
                if !self.nodes.full(n, p) {
                    break;
                }
                r = self.draw(at);
                n = self.route(&r);
            }
            self.enqueue(r, false);
        }
    }

    /// When the next scheduled request is due, if a free slot could take it now.
    pub(super) fn next_due(&self) -> Option<Ns> {
        let room = self.nodes.queued < self.links.len() * self.shared.load.pipeline;
        let due = self.adm.next_due(room)?;
        self.nodes.any_free().then_some(due)
    }

    pub(super) fn pump_marked(&mut self) {
        while let Some(n) = self.nodes.next_marked() {
            self.pump(n);
        }
    }

    /// Fills the free window slots of node `n`'s links: queued requests first, then (closed
    /// loop) fresh ones.
    fn pump(&mut self, n: u16) {
        let p = self.shared.load.pipeline;
        loop {
            let Some(l) = self.free_link(n) else {
                if self.wants_links(n) {
                    let now = self.clock.now();
                    self.reconnect(n, now);
                }
                return;
            };
            let t = self.clock.now();
            while self.links[l].busy < p {
                let Some(r) = self.next_for(n, t) else {
                    return;
                };
                self.send(l, r, t);
            }
            self.nodes.get_mut(n).free.pop();
            self.links[l].listed = false;
        }
    }

    /// The top of node `n`'s free list, dropping entries that no longer have room.
    fn free_link(&mut self, n: u16) -> Option<usize> {
        let p = self.shared.load.pipeline;
        while let Some(&l) = self.nodes.get(n).free.last() {
            let link = &self.links[l];
            if link.ready() && link.busy < p {
                return Some(l);
            }
            self.nodes.get_mut(n).free.pop();
            self.links[l].listed = false;
        }
        None
    }

    #[inline]
    fn next_for(&mut self, n: u16, t: Ns) -> Option<Req> {
        if let Some(r) = self.nodes.pop(n) {
            return Some(r);
        }
        self.generate_for(n, t)
    }

    /// Closed loop: draws until a request lands on node `n`; the others' go to their queues
    /// (or, when a queue is full, are drawn again without spending the budget).
    fn generate_for(&mut self, n: u16, t: Ns) -> Option<Req> {
        if !self.adm.drawing() {
            return None;
        }
        for _ in 0..64 {
            if !self.adm.take(&self.shared.budget) {
                return None;
            }
            let r = self.draw(t);
            let m = self.route(&r);
            if m == n {
                return Some(r);
            }
            if self.nodes.full(m, self.shared.load.pipeline) {
                self.adm.untake();
                continue;
            }
            self.enqueue(r, false);
        }
        None
    }

    /// Encodes `r` onto link `l` (written at the end of the iteration).
    #[inline]
    fn send(&mut self, l: usize, mut r: Req, t: Ns) {
        self.adm.stamp(&mut r, t);
        let shared = &*self.shared;
        let link = &mut self.links[l];
        let lane = &shared.lanes.lanes[r.op as usize];
        if r.ask_node != NO_NODE {
            link.wbuf.extend_from_slice(ASKING);
            link.window.push_back(Pending::Skip);
        }
        if r.has(Req::RELOAD)
            && let Some(load) = &lane.reload
        {
            link.wbuf.extend_from_slice(load);
            link.window.push_back(Pending::Skip);
        }
        let value = &shared.payload[..r.vlen as usize];
        lane.template
            .encode(&r.draw, r.ttl_ms, value, &mut link.wbuf);
        r.flags = if lane.template.exec_last() {
            Req::NIL_FAILS
        } else {
            0
        };
        // Each reply that ends as a record (the request's, a follow-up's) is one in flight.
        let roles = lane.template.roles();
        let mut records = 1;
        if let [Role::Main] = roles {
            link.window.push_back(Pending::Req(r));
        } else {
            records = 0;
            for role in roles {
                link.window.push_back(match *role {
                    Role::Main => Pending::Req(r),
                    Role::Inner => Pending::Inner,
                    Role::Skip => Pending::Skip,
                    Role::Follow(row) => Pending::Follow(Req { op: row, ..r }),
                });
                records += matches!(role, Role::Main | Role::Follow(_)) as usize;
            }
        }
        link.busy += 1;
        self.in_flight += records;
        if !link.dirty {
            link.dirty = true;
            self.dirty.push(l);
        }
    }

    /// One write per link that got requests this iteration.
    pub(super) fn flush_dirty(&mut self) {
        while let Some(l) = self.dirty.pop() {
            self.links[l].dirty = false;
            if let Err(f) = self.links[l].flush() {
                let now = self.clock.now();
                self.link_failed(l, f, now);
            }
        }
    }

    /// Node `n` has work for more links: requests queued for it, or (closed loop) budget left and
    /// it is a node requests are drawn for.
    pub(super) fn wants_links(&mut self, n: u16) -> bool {
        if !self.nodes.get(n).queue.is_empty() {
            return true;
        }
        self.adm.wants_fresh() && self.nodes.drawn_for(n)
    }

    /// Node `n` has work but no usable link: (re)connect its idle links, unless it failed recently.
    pub(super) fn reconnect(&mut self, n: u16, now: Ns) {
        if !self.nodes.may_connect(n, now) || self.adm.stopping() {
            return;
        }
        if self.nodes.get(n).links.is_empty() {
            self.add_links(n);
        }
        for i in 0..self.nodes.get(n).links.len() {
            let l = self.nodes.get(n).links[i];
            if self.links[l].state != super::link::State::Idle {
                continue;
            }
            if !self.connect_link(l, now) {
                return;
            }
        }
    }

    /// Connects link `l` with its node's handshake; false (and the failure handled) if that failed.
    fn connect_link(&mut self, l: usize, now: Ns) -> bool {
        let hs = if self.nodes.get(self.links[l].node).replica {
            &self.handshake_ro
        } else {
            &self.handshake
        };
        match self.links[l].connect(self.poll.registry(), Token(l), hs, &self.shared.dial, now) {
            Ok(()) => true,
            Err(f) => {
                self.link_failed(l, f, now);
                false
            }
        }
    }

    /// `-k 0`: closes a link whose every request was answered and connects it again at once (the
    /// free list drops it until it is up).
    pub(super) fn recycle(&mut self, l: usize, now: Ns) {
        let mut lost = Vec::new();
        self.links[l].close(self.poll.registry(), &mut lost);
        if self.adm.stopping() {
            return;
        }
        self.connect_link(l, now);
    }

    /// A down node may be tried again after its backoff (doubling); the cluster is asked to
    /// refresh its map, as the node may have failed over.
    pub(super) fn node_failed(&mut self, n: u16, now: Ns) {
        self.nodes.failed(n, now);
        if let Route::Cluster(t) = &self.shared.route {
            t.request_refresh();
        }
    }
}

/// `ASKING`, sent before a command that follows an ASK redirect.
const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";
