//! What replies mean: successes recorded, errors passed through the cluster reply policy, lost
//! connections' requests retried, and the run's end (what was never sent is not counted; what was
//! sent and waits for a retry ends as its last error).

use std::net::SocketAddr;

use super::Req;
use super::event_loop::Engine;
use super::link::{LinkFail, ReplyOutcome, State};
use super::timer::Ns;
use crate::cluster::Route;
use crate::cluster::policy::{self, Action, Attempt};
use crate::cluster::topology::NO_NODE;
use crate::conn;
use crate::net::Transport;
use crate::resp::ErrorClass;

impl<T: Transport> Engine<T> {
    /// The second of the run that `at` falls in.
    #[inline]
    pub(super) fn sec(&self, at: Ns) -> usize {
        (at.saturating_sub(self.start) / 1_000_000_000) as usize
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

    /// Carries out the reply policy's decision for a request that failed with `class`.
    pub(super) fn on_error(
        &mut self,
        mut r: Req,
        class: ErrorClass,
        redirect: Option<(u16, SocketAddr)>,
        now: Ns,
    ) {
        let d = policy::decide(&Attempt {
            class,
            redirect,
            cluster: self.cluster,
            attempts: r.attempts,
            redirects: r.redirects,
            age: std::time::Duration::from_nanos(now.saturating_sub(r.intended)),
            retry_window: self.shared.retry_window,
            stopping: self.stopping.is_some(),
        });
        if d.refresh
            && let Route::Cluster(t) = &self.shared.route
        {
            t.request_refresh();
        }
        let (op, sec) = (r.op as usize, self.sec(now));
        match d.action {
            Action::Fail { class, also } => {
                if let Some(e) = also {
                    self.rec.event(op, sec, e);
                }
                self.rec.failed(op, sec, class);
            }
            Action::Redirect { slot, to, ask } => {
                self.rec.event(op, sec, class);
                if self.stopping.is_some() {
                    // The run ended between the redirect and its retry: it ends as the redirect.
                    self.rec.gave_up(op, sec);
                    return;
                }
                r.redirects += 1;
                r.last_err = class;
                r.ask_node = NO_NODE;
                if let Route::Cluster(t) = &self.shared.route {
                    if ask {
                        r.ask_node = t.node_id(to);
                    } else {
                        t.moved(slot, to);
                    }
                }
                self.follow_map();
                self.enqueue(r, true);
            }
            Action::Retry { after } => {
                self.rec.event(op, sec, class);
                r.attempts = r.attempts.saturating_add(1);
                r.last_err = class;
                r.ask_node = NO_NODE;
                self.retries.push((now + after.as_nanos() as Ns, r));
            }
        }
    }

    /// Link `l` stopped working: its requests in flight are retried (or fail) by the policy; a
    /// failed connect also backs the node off.
    pub(super) fn link_failed(&mut self, l: usize, f: LinkFail, now: Ns) {
        self.refused_at_setup(l, &f);
        let was = self.links[l].state;
        let n = self.links[l].node;
        let class = f.class();
        let mut lost = std::mem::take(&mut self.lost);
        self.links[l].close(self.poll.registry(), &mut lost);
        let words = f.words();
        let ops = lost.iter().map(|r| r.op as usize);
        let queued = self.nodes[n as usize].queue.front().map(|r| r.op as usize);
        for op in ops.chain(queued) {
            self.rec.words(op, class, words.as_bytes());
        }
        self.in_flight -= lost.len();
        if matches!(was, State::Connecting { .. } | State::Handshake { .. }) {
            // A connect attempt failed: one event, and the node's queued requests now wait for
            // its next attempt carrying this error.
            let op = self.nodes[n as usize]
                .queue
                .front()
                .map_or(0, |r| r.op as usize);
            let sec = self.sec(now);
            self.rec.event(op, sec, class);
            for r in self.nodes[n as usize].queue.iter_mut() {
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
        let window = self.shared.retry_window.as_nanos() as Ns;
        for n in 0..self.nodes.len() {
            let up = self.nodes[n].links.iter().any(|&l| self.links[l].ready());
            if up || self.nodes[n].queue.is_empty() {
                continue;
            }
            let sec = self.sec(now);
            let q = std::mem::take(&mut self.nodes[n].queue);
            let mut keep = std::collections::VecDeque::with_capacity(q.len());
            for r in q {
                if now.saturating_sub(r.intended) < window {
                    keep.push_back(r);
                    continue;
                }
                self.queued -= 1;
                let class = match r.last_err {
                    ErrorClass::Other => ErrorClass::ConnRefused,
                    c => c,
                };
                self.rec.failed(r.op as usize, sec, class);
            }
            self.nodes[n].queue = keep;
        }
    }

    /// A closed-loop run against one server draws requests only when a connection is up, so a
    /// server that is gone leaves nothing to time out: once it has refused connections for the
    /// retry window, each client's next request fails as refused and the run ends.
    pub(super) fn give_up_on_dead_server(&mut self, now: Ns) {
        let window = self.shared.retry_window.as_nanos() as Ns;
        let dead = !self.cluster
            && self.schedule.is_none()
            && self.stopping.is_none()
            && self
                .nodes
                .first()
                .and_then(|n| n.down_since)
                .is_some_and(|t| now.saturating_sub(t) >= window);
        if !dead {
            return;
        }
        let sec = self.sec(now);
        for _ in 0..self.io.clients.max(1) {
            if !self.budget.take(&self.shared.budget) {
                break;
            }
            let (op, _, _) = self.generator.draw(&self.shared.ops);
            self.claimed += 1;
            self.rec.failed(op, sec, ErrorClass::ConnRefused);
            let why = b"the server refused connections for the whole retry window";
            self.rec.words(op, ErrorClass::ConnRefused, why);
        }
        self.begin_stop(now);
    }

    /// The run is over (deadline or Ctrl-C): requests never sent are dropped uncounted, those
    /// waiting for a retry end as their last error; replies in flight are still awaited.
    pub(super) fn begin_stop(&mut self, now: Ns) {
        self.stopping = Some(now);
        let sec = self.sec(now);
        let mut waiting: Vec<Req> = self.retries.drain(..).map(|(_, r)| r).collect();
        for node in &mut self.nodes {
            waiting.extend(node.queue.drain(..));
        }
        self.queued = 0;
        for r in waiting {
            if r.fresh() {
                self.claimed -= 1;
            } else {
                self.rec.gave_up(r.op as usize, sec);
            }
        }
    }
}
