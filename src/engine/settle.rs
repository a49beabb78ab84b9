//! What replies mean: successes recorded, errors passed through the cluster reply policy, lost
//! connections' requests retried, and the run's end (what was never sent is not counted; what was
//! sent and waits for a retry ends as its last error).

use std::net::SocketAddr;

use super::Req;
use super::admission::{Fate, Unsent};
use super::event_loop::Engine;
use super::link::{LinkFail, ReplyOutcome, State};
use super::timer::Ns;
use crate::cluster::Route;
use crate::conn;
use crate::net::Transport;
use crate::resp::ErrorClass;

impl<T: Transport> Engine<T> {
    /// The second of the run that `at` falls in.
    #[inline]
    pub(super) fn sec(&self, at: Ns) -> usize {
        (at.saturating_sub(self.adm.start()) / 1_000_000_000) as usize
    }

    /// Records the replies read this iteration.
    pub(super) fn settle(&mut self) {
        let mut done = std::mem::take(&mut self.done);
        for d in done.drain(..) {
            match d.outcome {
                ReplyOutcome::Ok => {
                    let r = &d.req;
                    let sec = self.sec(d.at);
                    let us = d.at.saturating_sub(r.intended) / 1000;
                    let sent_us = d.at.saturating_sub(r.sent) / 1000;
                    self.rec.ok(r.op as usize, sec, us, sent_us);
                }
                ReplyOutcome::Err(class, redirect) => self.on_error(d.req, class, redirect, d.at),
            }
        }
        self.done = done;
    }

    /// Carries out what admission decides for a request that failed with `class`.
    pub(super) fn on_error(
        &mut self,
        r: Req,
        class: ErrorClass,
        redirect: Option<(u16, SocketAddr)>,
        now: Ns,
    ) {
        let (op, sec) = (r.op as usize, self.sec(now));
        if self.reload_script(r, class, sec) {
            return;
        }
        let judged = self
            .adm
            .judge(r, class, redirect, self.nodes.cluster(), now);
        if judged.refresh
            && let Route::Cluster(t) = &self.shared.route
        {
            t.request_refresh();
        }
        match judged.fate {
            Fate::Fail { class, also } => {
                if let Some(e) = also {
                    self.rec.event(op, sec, e);
                }
                self.rec.failed(op, sec, class);
            }
            // The run ended between the redirect and its retry: it ends as the redirect.
            Fate::GaveUp => {
                self.rec.event(op, sec, class);
                self.rec.gave_up(op, sec);
            }
            Fate::Redirect {
                mut req,
                slot,
                to,
                ask,
            } => {
                self.rec.event(op, sec, class);
                if let Route::Cluster(t) = &self.shared.route {
                    self.nodes.redirect(&**t, &mut req, slot, to, ask);
                }
                self.follow_map();
                self.enqueue(req, true);
            }
            Fate::Retry => self.rec.event(op, sec, class),
        }
    }

    /// NOSCRIPT for a command with a script (the server lost it: a failover to a replica that
    /// never had it, a SCRIPT FLUSH): counted as its class, the request is sent again at once
    /// behind a SCRIPT LOAD on the same connection. A few times at most.
    fn reload_script(&mut self, mut r: Req, class: ErrorClass, sec: usize) -> bool {
        let op = r.op as usize;
        let scripted = self.shared.lanes.lanes[op].reload.is_some();
        if class != ErrorClass::NoScript || !scripted || r.attempts >= 3 || self.adm.stopping() {
            return false;
        }
        self.rec.event(op, sec, class);
        r.flags |= Req::RELOAD;
        r.attempts += 1;
        self.enqueue(r, true);
        true
    }

    /// Link `l` stopped working: its requests in flight are retried (or fail) by the policy; a
    /// failed connect also backs the node off.
    pub(super) fn link_failed(&mut self, l: usize, f: LinkFail, now: Ns) {
        self.refused_at_setup(l, &f);
        let was = self.links[l].state;
        let n = self.links[l].node;
        let class = f.class();
        let mut lost = std::mem::take(&mut self.lost);
        let follows = self.links[l].close(self.poll.registry(), &mut lost);
        self.in_flight -= follows;
        let words = f.words();
        let ops = lost.iter().map(|r| r.op as usize);
        let queued = self.nodes.get(n).queue.front().map(|r| r.op as usize);
        for op in ops.chain(queued) {
            self.rec.words(op, class, words.as_bytes());
        }
        self.in_flight -= lost.len();
        if matches!(was, State::Connecting { .. } | State::Handshake { .. }) {
            // A connect attempt failed: one event, and the node's queued requests now wait for
            // its next attempt carrying this error.
            let op = self.nodes.get(n).queue.front().map_or(0, |r| r.op as usize);
            let sec = self.sec(now);
            self.rec.event(op, sec, class);
            for r in self.nodes.get_mut(n).queue.iter_mut() {
                r.last_err = class;
            }
            self.node_failed(n, now);
        }
        for r in lost.drain(..) {
            self.on_error(r, class, None, now);
        }
        self.lost = lost;
    }

    /// A connection opened at set-up whose first reply refused it (a server over its maxclients
    /// accepts, answers the first request with its refusal and closes) fails the run as a set-up
    /// round trip would have: no number measured beside it would mean anything. Every thread stops.
    fn refused_at_setup(&mut self, l: usize, f: &LinkFail) {
        if let LinkFail::Refused(msg) = f
            && self.links[l].initial
            && self.fatal.is_none()
        {
            let addr = self.links[l].addr.clone();
            self.fatal = Some(conn::handshake_error(
                addr,
                "connection",
                msg,
                &self.shared.auth,
            ));
            self.shared
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Requests queued for a node that has no working link give up after the retry window.
    pub(super) fn expire_queues(&mut self, now: Ns) {
        let mut gone = std::mem::take(&mut self.lost);
        for n in 0..self.nodes.len() as u16 {
            let node = self.nodes.get(n);
            let up = node.links.iter().any(|&l| self.links[l].ready());
            if up || node.queue.is_empty() {
                continue;
            }
            let adm = &self.adm;
            self.nodes
                .drop_queued(n, |r| adm.expired(r, now), &mut gone);
            let sec = self.sec(now);
            for r in gone.drain(..) {
                let class = match r.last_err {
                    ErrorClass::Other => ErrorClass::ConnRefused,
                    c => c,
                };
                self.rec.failed(r.op as usize, sec, class);
            }
        }
        self.lost = gone;
    }

    /// A closed-loop run against one server draws requests only when a connection is up, so a
    /// server that is gone leaves nothing to time out: once it has refused connections for the
    /// retry window, each client's next request fails as refused and the run ends.
    pub(super) fn give_up_on_dead_server(&mut self, now: Ns) {
        let down_since = self.nodes.iter().next().and_then(|n| n.down_since);
        if self.nodes.cluster() || !self.adm.server_gone(down_since, now) {
            return;
        }
        let sec = self.sec(now);
        for _ in 0..self.io.clients.max(1) {
            if !self.adm.take(&self.shared.budget) {
                break;
            }
            let op = self.generator.draw().lane;
            self.rec.failed(op, sec, ErrorClass::ConnRefused);
            let why = b"the server refused connections for the whole retry window";
            self.rec.words(op, ErrorClass::ConnRefused, why);
        }
        self.begin_stop(now);
    }

    /// The run is over (deadline or Ctrl-C): requests never sent are dropped uncounted, those
    /// waiting for a retry end as their last error; replies in flight are still awaited.
    pub(super) fn begin_stop(&mut self, now: Ns) {
        let sec = self.sec(now);
        let mut waiting = Vec::new();
        self.adm.begin_stop(now, &mut waiting);
        self.nodes.drain_all(&mut waiting);
        for r in waiting {
            if self.adm.unsent(&r) == Unsent::GaveUp {
                self.rec.gave_up(r.op as usize, sec);
            }
        }
    }
}
