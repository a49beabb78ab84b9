//! A scenario's connection to the deployment: one request at a time, routed by key to the slot's
//! owner, following MOVED/ASK and retrying transient faults with the engine's policy
//! (`cluster::policy::decide`), so scenarios survive the faults they are run against.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::cluster::Route;
use crate::cluster::policy::{self, Action, Attempt};
use crate::cluster::slot::slot_of;
use crate::cluster::topology::{NO_NODE, parse_redirect};
use crate::conn::{Conn, ConnError};
use crate::net::Peer;
use crate::resp::{ErrorClass, Value};
use crate::stats::Recorder;

use super::{Env, REPLY_TIMEOUT};

/// Where a request's errors are counted: a recorder, the command's row in it, and the clock the
/// timeline's seconds count from.
pub struct Tally<'a> {
    pub rec: &'a mut Recorder,
    pub op: usize,
    pub origin: Instant,
}

impl Tally<'_> {
    pub fn sec(&self) -> usize {
        self.origin.elapsed().as_secs() as usize
    }

    /// The request ended in `class` (`msg`: the server's words or what broke).
    pub fn failed(&mut self, class: ErrorClass, msg: &str) {
        let sec = self.sec();
        self.rec.failed(self.op, sec, class);
        self.rec.words(self.op, class, msg.as_bytes());
    }

    fn event(&mut self, class: ErrorClass, msg: &str) {
        let sec = self.sec();
        self.rec.event(self.op, sec, class);
        self.rec.words(self.op, class, msg.as_bytes());
    }

    /// A success, latency from `intended` and from `sent`.
    pub fn ok(&mut self, intended: Instant, sent: Instant) {
        let now = Instant::now();
        let sec = self.sec();
        let us = |t: Instant| now.saturating_duration_since(t).as_micros() as u64;
        self.rec.ok(self.op, sec, us(intended), us(sent));
    }
}

/// A request that did not succeed: its class and words (already counted as failed).
#[derive(Clone, Debug)]
pub struct Failed {
    pub class: ErrorClass,
    pub msg: String,
}

pub struct Client<'a> {
    env: &'a Env,
    conns: HashMap<Peer, Conn>,
}

/// One attempt's result: a reply, or a failure with its class and words.
type Tried = Result<Value, (ErrorClass, String)>;

impl<'a> Client<'a> {
    pub fn new(env: &'a Env) -> Client<'a> {
        Client {
            env,
            conns: HashMap::new(),
        }
    }

    /// Sends `args` (about `key`) until it gets a reply that is not a redirect or a transient
    /// fault, or the policy gives up. `block` is how long the command itself may wait (BLOCK).
    /// Error replies that end the request (OOM, WRONGTYPE...) come back as `Failed`.
    pub async fn call(
        &mut self,
        key: &[u8],
        args: &[&[u8]],
        block: Duration,
        tally: &mut Tally<'_>,
    ) -> Result<Value, Failed> {
        let start = Instant::now();
        let cluster = matches!(self.env.route, Route::Cluster(_));
        let (mut attempts, mut redirects) = (0u16, 0u8);
        let mut ask: Option<Peer> = None;
        loop {
            let (to, tried) = match ask.take() {
                Some(to) => {
                    let tried = self.attempt(&to, true, args, block).await;
                    (Some(to), tried)
                }
                None => match self.owner(key) {
                    Some(to) => {
                        let tried = self.attempt(&to, false, args, block).await;
                        (Some(to), tried)
                    }
                    None => (
                        None,
                        Err((ErrorClass::ClusterDown, "no node owns the slot".into())),
                    ),
                },
            };
            let (class, msg) = match tried {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let decision = policy::decide(&Attempt {
                class,
                // No node asked (a hole in the map): nothing redirected.
                redirect: to
                    .and_then(|p| p.tcp())
                    .and_then(|a| parse_redirect(msg.as_bytes(), a.ip())),
                cluster,
                attempts,
                redirects,
                age: start.elapsed(),
                retry_window: self.env.retry_window,
                stopping: self.env.stop.is_stopped(),
            });
            if decision.refresh {
                self.request_refresh();
            }
            match decision.action {
                Action::Redirect { slot, to, ask: a } => {
                    tally.event(class, &msg);
                    redirects += 1;
                    if a {
                        ask = Some(Peer::Tcp(to));
                    } else if let Route::Cluster(t) = &self.env.route {
                        t.moved(slot, to);
                    }
                }
                Action::Retry { after } => {
                    tally.event(class, &msg);
                    attempts += 1;
                    tokio::time::sleep(after).await;
                }
                Action::Fail { class, also } => {
                    if let Some(c) = also {
                        tally.event(c, &msg);
                    }
                    tally.failed(class, &msg);
                    return Err(Failed { class, msg });
                }
            }
        }
    }

    /// The node that owns `key`'s slot (None: the map has a hole there).
    fn owner(&self, key: &[u8]) -> Option<Peer> {
        match &self.env.route {
            Route::Single(p) => Some(p.clone()),
            Route::Cluster(t) => {
                let map = t.snapshot();
                let id = map.owner(slot_of(key));
                (id != NO_NODE).then(|| map.nodes.get(id as usize).copied().map(Peer::Tcp))?
            }
        }
    }

    fn request_refresh(&self) {
        if let Route::Cluster(t) = &self.env.route {
            t.request_refresh();
        }
    }

    /// One try on `to` (after ASKING when `asking`), within the reply timeout. A connection that
    /// failed is dropped so the next try dials again.
    async fn attempt(&mut self, to: &Peer, asking: bool, args: &[&[u8]], block: Duration) -> Tried {
        let conn = match self.conn(to).await {
            Ok(c) => c,
            Err(e) => return Err((connect_class(&e), e.to_string())),
        };
        let wait = REPLY_TIMEOUT + block;
        let res = tokio::time::timeout(wait, async {
            if asking {
                conn.request(&[b"ASKING"]).await?;
            }
            conn.request(args).await
        })
        .await;
        let fail = match res {
            Ok(Ok(Value::Error(msg))) => return Err((ErrorClass::of_error(msg.as_bytes()), msg)),
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => (io_class(&e), e.to_string()),
            Err(_) => (
                ErrorClass::Timeout,
                format!("{to}: no reply within {:.1} s", wait.as_secs_f64()),
            ),
        };
        self.conns.remove(to);
        Err(fail)
    }

    async fn conn(&mut self, to: &Peer) -> Result<&mut Conn, ConnError> {
        if !self.conns.contains_key(to) {
            let c = Conn::connect(&self.env.dial, to.clone(), &self.env.auth, 4096).await?;
            self.conns.insert(to.clone(), c);
        }
        Ok(self.conns.get_mut(to).expect("just inserted"))
    }
}

/// A connection that could not be made: refused (transient: the node may come back) unless the
/// server turned us away for a reason retrying cannot fix.
fn connect_class(e: &ConnError) -> ErrorClass {
    match e {
        ConnError::Auth { .. } | ConnError::NoAuth { .. } => ErrorClass::NoAuth,
        ConnError::Tls { .. } | ConnError::Protocol { .. } => ErrorClass::Protocol,
        ConnError::Timeout { .. } => ErrorClass::Timeout,
        _ => ErrorClass::ConnRefused,
    }
}

fn io_class(e: &ConnError) -> ErrorClass {
    match e {
        ConnError::Protocol { .. } => ErrorClass::Protocol,
        ConnError::Timeout { .. } => ErrorClass::Timeout,
        _ => ErrorClass::ConnLost,
    }
}
