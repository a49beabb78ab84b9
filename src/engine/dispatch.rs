//! Where requests go and when they are written: drawing them (closed loop: when a slot is free;
//! open loop: when due), routing each to its node's queue, filling free window slots from the
//! queues, and one write per link per iteration.

use std::collections::VecDeque;
use std::time::Duration;

use mio::Token;

use super::Req;
use super::event_loop::{Engine, Node};
use super::link::{Link, Pending};
use super::timer::Ns;
use crate::cluster::Route;
use crate::cluster::policy::BACKOFF_BASE;
use crate::cluster::slot::slot_of;
use crate::cluster::topology::NO_NODE;
use crate::net::Peer;
use crate::net::Transport;
use crate::resp::ErrorClass;
use crate::workload::MAX_KEY;

impl<T: Transport> Engine<T> {
    /// Makes node `n` known to this thread.
    pub(super) fn ensure_node(&mut self, n: u16) {
        while self.nodes.len() <= n as usize {
            let id = self.nodes.len();
            let addr = match &self.shared.route {
                Route::Single(p) => p.clone(),
                Route::Cluster(_) => Peer::Tcp(self.map.nodes[id]),
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

    /// One link to node `n` per client of this thread (not connected yet).
    pub(super) fn add_links(&mut self, n: u16) {
        for _ in 0..self.io.clients.max(1) {
            let l = self.links.len();
            self.links
                .push(Link::new(n, self.nodes[n as usize].addr.clone()));
            self.nodes[n as usize].links.push(l);
        }
    }

    /// Puts link `l` on its node's free list when it can take another request.
    pub(super) fn list(&mut self, l: usize) {
        let p = self.shared.pipeline;
        let link = &mut self.links[l];
        if link.listed || !link.ready() || link.busy >= p {
            return;
        }
        link.listed = true;
        let n = link.node;
        self.nodes[n as usize].free.push(l);
        self.mark(n);
    }

    pub(super) fn mark(&mut self, n: u16) {
        let node = &mut self.nodes[n as usize];
        if !node.marked {
            node.marked = true;
            self.to_pump.push(n);
        }
    }

    /// A link finished connecting: it takes requests from now on.
    pub(super) fn link_up(&mut self, l: usize) {
        let n = self.links[l].node as usize;
        self.nodes[n].backoff = BACKOFF_BASE;
        self.nodes[n].down_since = None;
        self.list(l);
    }

    /// Picks up a new slot map (a MOVED patch or a refresh): queued requests are routed again.
    pub(super) fn follow_map(&mut self) {
        let Route::Cluster(t) = &self.shared.route else {
            return;
        };
        let e = t.epoch();
        if e == self.epoch {
            return;
        }
        self.map = t.snapshot();
        self.epoch = e;
        let mut moved = Vec::new();
        for node in &mut self.nodes {
            let keep: VecDeque<Req> = node
                .queue
                .drain(..)
                .filter(|r| {
                    let stay = r.ask_node != NO_NODE;
                    if !stay {
                        moved.push(*r);
                    }
                    stay
                })
                .collect();
            node.queue = keep;
        }
        self.queued -= moved.len();
        for r in moved {
            self.enqueue(r, false);
        }
    }

    /// The node request `r` goes to: the ASK target, the owner of its key's slot (a replica for
    /// reads with --read-from-replicas), or any master for keyless commands.
    pub(super) fn route(&mut self, r: &Req) -> u16 {
        if !self.cluster {
            return 0;
        }
        if r.ask_node != NO_NODE {
            return r.ask_node;
        }
        let mut key = [0u8; MAX_KEY];
        let t = &self.shared.templates[r.op as usize];
        let len = t.route_key(&r.draw, &mut key);
        if len == 0 {
            if self.masters_epoch != self.epoch {
                self.masters = self.map.masters();
                self.masters_epoch = self.epoch;
            }
            if self.masters.is_empty() {
                return NO_NODE;
            }
            self.rr = self.rr.wrapping_add(1);
            return self.masters[self.rr % self.masters.len()];
        }
        let owner = self.map.owner(slot_of(&key[..len]));
        let op = self.shared.ops[r.op as usize];
        if owner != NO_NODE
            && self.shared.read_from_replicas
            && op.is_read()
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

    /// Routes `r` into its node's queue (at the front for redirects: they are older).
    pub(super) fn enqueue(&mut self, r: Req, front: bool) {
        let n = self.route(&r);
        if n == NO_NODE {
            // Slot not served (yet): CLUSTERDOWN, as the server would say.
            let now = self.clock.now();
            self.on_error(r, ErrorClass::ClusterDown, None, now);
            return;
        }
        self.ensure_node(n);
        let q = &mut self.nodes[n as usize].queue;
        if front {
            q.push_front(r);
        } else {
            q.push_back(r);
        }
        self.queued += 1;
        self.mark(n);
    }

    /// A fresh request drawn by the generators, intended at `at`.
    fn draw(&mut self, at: Ns) -> Req {
        let (op, draw, vlen) = self.generator.draw(&self.shared.ops);
        self.claimed += 1;
        Req {
            draw,
            intended: at,
            sent: at,
            vlen: vlen as u32,
            attempts: 0,
            ask_node: NO_NODE,
            op: op as u8,
            redirects: 0,
            last_err: ErrorClass::Other,
        }
    }

    /// Most requests a node's queue holds before draws that land on it are drawn again: a stalled
    /// node gets its window and this much more, and the others keep their share meanwhile.
    fn queue_cap(&self, n: u16) -> usize {
        let links = self.nodes.get(n as usize).map_or(0, |x| x.links.len());
        (links * self.shared.pipeline * 4).max(64)
    }

    /// Due retries go back to their queues; open loop: due requests of the schedule are drawn.
    pub(super) fn admit(&mut self, now: Ns) {
        if !self.retries.is_empty() {
            let mut i = 0;
            while i < self.retries.len() {
                if self.retries[i].0 <= now {
                    let (_, r) = self.retries.swap_remove(i);
                    self.enqueue(r, false);
                } else {
                    i += 1;
                }
            }
        }
        if self.stopping.is_some() {
            return;
        }
        // Draw only what the windows can take now: the rest stays in the schedule, and its
        // latency still counts from its intended time when it is drawn later.
        let cap = self.links.len() * self.shared.pipeline;
        let rel = now.saturating_sub(self.start);
        loop {
            let Some(s) = self.schedule.as_mut() else {
                return;
            };
            if self.queued >= cap {
                if s.next_due().is_some_and(|d| d <= rel) {
                    self.held_at = now;
                }
                return;
            }
            let Some(due) = s.take_due(rel) else {
                return;
            };
            if self.start + due > self.held_at {
                crate::stats::record(&mut self.own_lag, (rel - due) / 1000);
            }
            let mut r = self.draw(self.start + due);
            let mut n = self.route(&r);
            // A stalled node's queue is full: its share goes to the others meanwhile.
            for _ in 0..16 {
                if n == NO_NODE
                    || (self.nodes.get(n as usize).map_or(0, |x| x.queue.len()) < self.queue_cap(n))
                {
                    break;
                }
                self.claimed -= 1;
                r = self.draw(self.start + due);
                n = self.route(&r);
            }
            self.enqueue(r, false);
        }
    }

    /// When the next scheduled request is due, if a free slot could take it now.
    pub(super) fn next_due(&self) -> Option<Ns> {
        let s = self.schedule.as_ref()?;
        if self.stopping.is_some() || self.queued >= self.links.len() * self.shared.pipeline {
            return None;
        }
        if !self.nodes.iter().any(|n| !n.free.is_empty()) {
            return None;
        }
        Some(self.start + s.next_due()?)
    }

    pub(super) fn pump_marked(&mut self) {
        while let Some(n) = self.to_pump.pop() {
            self.nodes[n as usize].marked = false;
            self.pump(n);
        }
    }

    /// Fills the free window slots of node `n`'s links: queued requests first, then (closed
    /// loop) fresh ones.
    fn pump(&mut self, n: u16) {
        let p = self.shared.pipeline;
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
            self.nodes[n as usize].free.pop();
            self.links[l].listed = false;
        }
    }

    /// The top of node `n`'s free list, dropping entries that no longer have room.
    fn free_link(&mut self, n: u16) -> Option<usize> {
        let p = self.shared.pipeline;
        while let Some(&l) = self.nodes[n as usize].free.last() {
            let link = &self.links[l];
            if link.ready() && link.busy < p {
                return Some(l);
            }
            self.nodes[n as usize].free.pop();
            self.links[l].listed = false;
        }
        None
    }

    fn next_for(&mut self, n: u16, t: Ns) -> Option<Req> {
        if let Some(r) = self.nodes[n as usize].queue.pop_front() {
            self.queued -= 1;
            return Some(r);
        }
        self.generate_for(n, t)
    }

    /// Closed loop: draws until a request lands on node `n`; the others' go to their queues
    /// (or, when a queue is full, are drawn again without spending the budget).
    fn generate_for(&mut self, n: u16, t: Ns) -> Option<Req> {
        if self.schedule.is_some() || self.stopping.is_some() {
            return None;
        }
        for _ in 0..64 {
            if !self.budget.take(&self.shared.budget) {
                return None;
            }
            let r = self.draw(t);
            let m = self.route(&r);
            if m == n {
                return Some(r);
            }
            if m != NO_NODE
                && self
                    .nodes
                    .get(m as usize)
                    .is_some_and(|x| x.queue.len() >= self.queue_cap(m))
            {
                self.claimed -= 1;
                self.budget.untake();
                continue;
            }
            self.enqueue(r, false);
        }
        None
    }

    /// Encodes `r` onto link `l` (written at the end of the iteration).
    fn send(&mut self, l: usize, mut r: Req, t: Ns) {
        if r.fresh() {
            if self.schedule.is_some() {
                self.max_lag = self.max_lag.max(t.saturating_sub(r.intended));
            } else {
                r.intended = t;
            }
        }
        r.sent = t;
        let shared = &*self.shared;
        let link = &mut self.links[l];
        if r.ask_node != NO_NODE {
            link.wbuf.extend_from_slice(ASKING);
            link.window.push_back(Pending::Skip);
        }
        let value = &shared.payload[..r.vlen as usize];
        let replies = shared.templates[r.op as usize].encode(&r.draw, value, &mut link.wbuf);
        link.window.push_back(Pending::Req(r));
        for _ in 1..replies {
            link.window.push_back(Pending::Skip);
        }
        link.busy += 1;
        self.in_flight += 1;
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
        if !self.nodes[n as usize].queue.is_empty() {
            return true;
        }
        if self.schedule.is_some() || self.stopping.is_some() || self.budget.exhausted() {
            return false;
        }
        if !self.cluster {
            return true;
        }
        if self.masters_epoch != self.epoch {
            self.masters = self.map.masters();
            self.masters_epoch = self.epoch;
        }
        self.masters.contains(&n)
    }

    /// Node `n` has work but no usable link: (re)connect its idle links, unless it failed recently.
    pub(super) fn reconnect(&mut self, n: u16, now: Ns) {
        if now < self.nodes[n as usize].retry_at || self.stopping.is_some() {
            return;
        }
        if self.nodes[n as usize].links.is_empty() {
            self.add_links(n);
        }
        let links = self.nodes[n as usize].links.clone();
        for l in links {
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
        let hs = if self.nodes[self.links[l].node as usize].replica {
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
        if self.stopping.is_some() {
            return;
        }
        self.connect_link(l, now);
    }

    /// A down node may be tried again after its backoff; the backoff doubles up to half a second.
    pub(super) fn node_failed(&mut self, n: u16, now: Ns) {
        let node = &mut self.nodes[n as usize];
        node.retry_at = now + node.backoff.as_nanos() as Ns;
        node.down_since.get_or_insert(now);
        node.backoff = (node.backoff * 2).min(Duration::from_millis(500));
        if let Route::Cluster(t) = &self.shared.route {
            t.request_refresh();
        }
    }
}

/// `ASKING`, sent before a command that follows an ASK redirect.
const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";
