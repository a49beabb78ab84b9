//! The outage probe: a write (`SET rbench:probe:{tag} 1`) every ~50 ms to the node that owns the
//! affected slot now, until one is answered OK. It follows MOVED and ASK, and re-reads who owns
//! the slot whenever the node it wrote to failed to answer (killed, paused, asleep).

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Window;
use super::view::{self, Net};
use crate::cluster::slot::slot_of;
use crate::cluster::topology::parse_redirect;
use crate::conn::Conn;
use crate::resp::Value;

/// Pause between two probe writes.
const INTERVAL: Duration = Duration::from_millis(50);
/// Bound of one probe write (and its connection): short, for a paused server never answers.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(300);
/// MOVED/ASK hops followed within one attempt.
const MAX_HOPS: usize = 3;
/// Tags tried to find a key of a given slot; each slot is hit long before.
const MAX_TAGS: u32 = 4_000_000;

/// A key whose hash tag puts it in `slot`: `rbench:probe:{N}` for the first such N.
pub(super) fn key_for_slot(slot: u16) -> Option<Vec<u8>> {
    (0..MAX_TAGS)
        .find(|n| slot_of(n.to_string().as_bytes()) == slot)
        .map(|n| format!("rbench:probe:{{{n}}}").into_bytes())
}

pub(super) struct Probe<'n> {
    net: &'n Net,
    key: Vec<u8>,
    /// The slot followed on a cluster; None: a standalone server.
    slot: Option<u16>,
    /// Where the slot lives, as far as we know.
    addr: SocketAddr,
    conn: Option<Conn>,
    /// Error replies in a row: past a few, who owns the slot is read again.
    refused: u32,
}

/// Error replies after which the probe asks again who owns the slot.
const REREAD_AFTER_REFUSALS: u32 = 4;

/// What one probe write came to: the reply as the probe reads it (not a `resp::Reply`).
enum ProbeOutcome {
    Ok,
    Moved(SocketAddr),
    Ask(SocketAddr),
    /// An error reply (CLUSTERDOWN, TRYAGAIN, LOADING...): the node answers, the slot does not.
    Refused,
    /// No reply: the node is down, paused or asleep.
    Silent,
}

impl<'n> Probe<'n> {
    /// Probes the standalone server at `addr`.
    pub(super) fn single(net: &'n Net, addr: SocketAddr) -> Probe<'n> {
        Probe {
            net,
            key: b"rbench:probe".to_vec(),
            slot: None,
            addr,
            conn: None,
            refused: 0,
        }
    }

    /// Probes `slot`, starting at `hint`, its owner as last seen.
    pub(super) fn slot(net: &'n Net, slot: u16, hint: SocketAddr) -> Result<Probe<'n>, String> {
        let key =
            key_for_slot(slot).ok_or_else(|| format!("no probe key found for slot {slot}"))?;
        Ok(Probe {
            net,
            key,
            slot: Some(slot),
            addr: hint,
            conn: None,
            refused: 0,
        })
    }

    /// Probes until a write is answered OK: its time, or None when `w` gives up first.
    pub(super) async fn until_ok(&mut self, w: &Window<'_>) -> Option<Instant> {
        let probing = async {
            loop {
                if self.attempt().await {
                    return Instant::now();
                }
                tokio::time::sleep(INTERVAL).await;
            }
        };
        w.within(probing).await
    }

    /// Probes until `done` is set and a write after it is answered; returns the longest stretch
    /// without an answered write (from the first unanswered write to the next answered one), or
    /// None when the slot did not answer after `done` before `w` gave up.
    pub(super) async fn longest_gap(
        &mut self,
        done: &Cell<Option<Instant>>,
        w: &Window<'_>,
    ) -> Option<Duration> {
        let mut down_since: Option<Instant> = None;
        let mut worst = Duration::ZERO;
        loop {
            let sent = Instant::now();
            let finished = done.get().is_some();
            if self.attempt().await {
                if let Some(since) = down_since.take() {
                    worst = worst.max(since.elapsed());
                }
                if finished {
                    return Some(worst);
                }
            } else {
                down_since.get_or_insert(sent);
                if finished && w.over() {
                    return None;
                }
            }
            tokio::time::sleep(INTERVAL).await;
        }
    }

    /// One write, following up to [`MAX_HOPS`] redirects; true when it was answered OK.
    pub(super) async fn attempt(&mut self) -> bool {
        for _ in 0..MAX_HOPS {
            match self.write().await {
                ProbeOutcome::Ok => {
                    self.refused = 0;
                    return true;
                }
                ProbeOutcome::Moved(to) => self.move_to(to),
                ProbeOutcome::Ask(to) => return self.asking(to).await,
                ProbeOutcome::Refused => {
                    // A node that answers CLUSTERDOWN may have lost the slot meanwhile.
                    self.refused += 1;
                    if self.refused.is_multiple_of(REREAD_AFTER_REFUSALS) {
                        self.reread_owner().await;
                    }
                    return false;
                }
                ProbeOutcome::Silent => {
                    self.net.demote(self.addr);
                    self.reread_owner().await;
                    return false;
                }
            }
        }
        false
    }

    fn move_to(&mut self, to: SocketAddr) {
        if to != self.addr {
            self.addr = to;
            self.conn = None;
        }
    }

    async fn write(&mut self) -> ProbeOutcome {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => match self.net.connect(self.addr, ATTEMPT_TIMEOUT).await {
                Ok(c) => c,
                Err(_) => return ProbeOutcome::Silent,
            },
        };
        let args: [&[u8]; 3] = [b"SET", &self.key, b"1"];
        let reply = view::request(&mut conn, &args, ATTEMPT_TIMEOUT).await;
        // A connection whose request timed out may still get that reply later: never reuse it.
        let Ok(v) = reply else {
            return ProbeOutcome::Silent;
        };
        self.conn = Some(conn);
        classify(&v, self.addr)
    }

    /// ASK: the slot is being migrated and the key is not at its owner any more.
    async fn asking(&mut self, to: SocketAddr) -> bool {
        let Ok(mut conn) = self.net.connect(to, ATTEMPT_TIMEOUT).await else {
            return false;
        };
        if view::request(&mut conn, &[b"ASKING"], ATTEMPT_TIMEOUT)
            .await
            .is_err()
        {
            return false;
        }
        let args: [&[u8]; 3] = [b"SET", &self.key, b"1"];
        matches!(
            view::request(&mut conn, &args, ATTEMPT_TIMEOUT).await,
            Ok(Value::Simple(s)) if s == "OK"
        )
    }

    /// Asks the other nodes who owns the slot now (a replica may have taken over).
    async fn reread_owner(&mut self) {
        let Some(slot) = self.slot else {
            return;
        };
        if let Ok(nodes) = self.net.cluster_nodes(&[self.addr], ATTEMPT_TIMEOUT).await
            && let Some(o) = view::owner(&nodes, slot)
        {
            let to = o.addr;
            self.move_to(to);
        }
    }
}

fn classify(v: &Value, from: SocketAddr) -> ProbeOutcome {
    match v {
        Value::Simple(s) if s == "OK" => ProbeOutcome::Ok,
        Value::Error(e) => {
            let redirect = parse_redirect(e.as_bytes(), from.ip()).map(|(_, a)| a);
            match (e.split_whitespace().next(), redirect) {
                (Some("MOVED"), Some(a)) => ProbeOutcome::Moved(a),
                (Some("ASK"), Some(a)) => ProbeOutcome::Ask(a),
                _ => ProbeOutcome::Refused,
            }
        }
        _ => ProbeOutcome::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_land_in_the_slot_asked_for() {
        for slot in [0u16, 1, 5460, 5461, 12182, 16383] {
            let key = key_for_slot(slot).expect("a key");
            assert_eq!(slot_of(&key), slot, "{}", String::from_utf8_lossy(&key));
            assert!(key.starts_with(b"rbench:probe:{"));
        }
    }

    #[test]
    fn replies_are_classified() {
        let from: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let moved = Value::Error("MOVED 3999 127.0.0.1:6381".into());
        assert!(matches!(classify(&moved, from), ProbeOutcome::Moved(a) if a.port() == 6381));
        let ask = Value::Error("ASK 3999 :6382".into());
        assert!(
            matches!(classify(&ask, from), ProbeOutcome::Ask(a) if a == "127.0.0.1:6382".parse().unwrap())
        );
        let down = Value::Error("CLUSTERDOWN The cluster is down".into());
        assert!(matches!(classify(&down, from), ProbeOutcome::Refused));
        assert!(matches!(
            classify(&Value::Simple("OK".into()), from),
            ProbeOutcome::Ok
        ));
        assert!(matches!(classify(&Value::Nil, from), ProbeOutcome::Refused));
    }
}
