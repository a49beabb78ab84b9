//! The sampler's connection to one node: connected when needed, dropped on any failure (a reply that
//! came late would answer the wrong request) and made again next second; the commands it sends
//! counted, so the window can take them out of the server's figures; a refusal (ACL, a proxy)
//! noted once and never asked again.

use std::time::{Duration, Instant};

use crate::conn::{self, Auth, Conn, ConnError};
use crate::net::{Dialer, Peer};
use crate::resp::Value;

use super::info::{Info, NodeSample};
use super::latency::{self, MonitorState};
use super::track::{Observed, OwnCounts};

/// What every node's connection shares.
pub struct Ctx {
    pub dial: Dialer,
    /// The run's credentials without what only the load's connections want (RESP3, tracking,
    /// SELECT): INFO is the same in every database and protocol.
    pub auth: Auth,
    /// `Some(ms)`: set latency-monitor-threshold on each node; None: read it.
    pub latency_monitor: Option<u32>,
}

impl Ctx {
    pub fn new(dial: Dialer, auth: Auth, latency_monitor: Option<u32>) -> Ctx {
        let auth = Auth {
            dbnum: None,
            resp3: false,
            tracking: false,
            ..auth
        };
        Ctx {
            dial,
            auth,
            latency_monitor,
        }
    }
}

/// Why a node gave nothing.
enum Fail {
    /// Down, unreachable, slow: try again next second.
    Down(String),
    /// Refuses (ACL, credentials, a proxy): the note to give, once.
    Refused(String),
}

pub struct Node {
    pub name: String,
    peer: Peer,
    conn: Option<Conn>,
    /// Set up once (the latency monitor, the stats reset) on its first connection.
    prepared: bool,
    /// INFO (or the connection itself) was refused: the node is not asked again.
    refused: bool,
    /// The sampler's commands sent to this node so far.
    pub own: OwnCounts,
    /// The latency monitor's state, once read or set.
    pub monitor: Option<MonitorState>,
    /// Why it was last missing.
    pub last_error: Option<String>,
    /// What could not be read, one line each.
    pub notes: Vec<String>,
}

/// The name the server counts a command under: `info`, `config|set` (Redis 7 counts a container
/// command's subcommands apart).
fn counted_as(args: &[&[u8]]) -> String {
    let word = |a: &[u8]| String::from_utf8_lossy(a).to_ascii_lowercase();
    let first = args.first().map_or_else(String::new, |a| word(a));
    match (first.as_str(), args.get(1)) {
        ("config" | "client" | "latency", Some(sub)) => format!("{first}|{}", word(sub)),
        _ => first,
    }
}

impl Node {
    pub fn new(peer: Peer) -> Node {
        Node {
            name: peer.to_string(),
            peer,
            conn: None,
            prepared: false,
            refused: false,
            own: OwnCounts::new(),
            monitor: None,
            last_error: None,
            notes: Vec::new(),
        }
    }

    fn count(&mut self, args: &[&[u8]]) {
        *self.own.entry(counted_as(args)).or_insert(0) += 1;
    }

    /// Connects if not connected (the handshake's commands counted); on its first connection the
    /// node is also prepared (`reset`: CONFIG RESETSTAT first).
    async fn connect(&mut self, ctx: &Ctx, reset: bool) -> Result<(), Fail> {
        if self.conn.is_some() {
            return Ok(());
        }
        let conn = Conn::connect(&ctx.dial, self.peer.clone(), &ctx.auth, 4096)
            .await
            .map_err(|e| match e {
                ConnError::Auth { .. } | ConnError::NoAuth { .. } | ConnError::Command { .. } => {
                    Fail::Refused(format!("{e}: its server figures are unknown"))
                }
                e => Fail::Down(e.to_string()),
            })?;
        for cmd in conn::handshake_commands(&ctx.auth, false) {
            let args: Vec<&[u8]> = cmd.args.iter().map(Vec::as_slice).collect();
            self.count(&args);
        }
        self.conn = Some(conn);
        if !self.prepared {
            self.prepared = true;
            self.prepare(ctx, reset).await.map_err(Fail::Down)?;
        }
        Ok(())
    }

    /// One command on the open connection, counted; an I/O failure drops the connection.
    async fn request(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        self.count(args);
        let conn = self.conn.as_mut().ok_or("not connected")?;
        match conn.request(args).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.conn = None;
                Err(e.to_string())
            }
        }
    }

    /// CONFIG RESETSTAT (when asked) and the latency monitor; refusals become notes.
    async fn prepare(&mut self, ctx: &Ctx, reset: bool) -> Result<(), String> {
        if reset && let Value::Error(e) = self.request(&[b"CONFIG", b"RESETSTAT"]).await? {
            self.notes.push(format!(
                "{}: CONFIG RESETSTAT refused ({e}): its latency percentiles are not the window's",
                self.name
            ));
        }
        let words: &[&[u8]] = match ctx.latency_monitor {
            Some(_) => &[b"CONFIG", b"SET"],
            None => &[b"CONFIG", b"GET"],
        };
        self.count(words);
        let conn = self.conn.as_mut().ok_or("not connected")?;
        match latency::prepare(conn, ctx.latency_monitor).await {
            Ok(state) => self.monitor = Some(state),
            Err(note) => self
                .notes
                .push(format!("{note}: no LATENCY events from it")),
        }
        Ok(())
    }

    /// Connects and prepares (before the window), within `budget`.
    pub async fn set_up(&mut self, ctx: &Ctx, reset: bool, budget: Duration) {
        match tokio::time::timeout(budget, self.connect(ctx, reset)).await {
            Ok(Ok(())) => {}
            Ok(Err(fail)) => {
                self.failed(fail);
            }
            Err(_) => {
                self.failed(Fail::Down(format!("no answer within {budget:?}")));
            }
        }
    }

    /// This tick's INFO, within `budget` (connecting first if needed).
    pub async fn sample(&mut self, ctx: &Ctx, budget: Duration) -> Observed {
        if self.refused {
            return Observed::Unknown;
        }
        match tokio::time::timeout(budget, self.ask_info(ctx)).await {
            Ok(Ok(obs)) => obs,
            Ok(Err(fail)) => self.failed(fail),
            Err(_) => self.failed(Fail::Down(format!(
                "no answer within {:.0} ms",
                budget.as_secs_f64() * 1000.0
            ))),
        }
    }

    fn failed(&mut self, fail: Fail) -> Observed {
        self.conn = None;
        match fail {
            Fail::Down(why) => {
                self.last_error = Some(why);
                Observed::Missing
            }
            Fail::Refused(note) => {
                self.refused = true;
                self.notes.push(note);
                Observed::Unknown
            }
        }
    }

    async fn ask_info(&mut self, ctx: &Ctx) -> Result<Observed, Fail> {
        self.connect(ctx, false).await?;
        let own = self.own.clone();
        let at = Instant::now();
        match self.request(&[b"INFO", b"all"]).await.map_err(Fail::Down)? {
            Value::Error(e) => Err(Fail::Refused(format!(
                "{}: INFO refused ({e}): its server figures are unknown",
                self.name
            ))),
            v => match v.into_text() {
                Ok(text) => Ok(Observed::Sample(
                    Box::new(NodeSample::from_info(&Info::parse(&text), at)),
                    own,
                )),
                Err(e) => Err(Fail::Refused(format!(
                    "{}: INFO answered {e}: its server figures are unknown",
                    self.name
                ))),
            },
        }
    }

    /// The LATENCY monitor's events, when it is on (after the window: not counted).
    pub async fn histories(
        &mut self,
        ctx: &Ctx,
        budget: Duration,
    ) -> Result<Vec<(String, Vec<(u64, u64)>)>, String> {
        if !matches!(self.monitor, Some(MonitorState::On { .. })) || self.refused {
            return Ok(Vec::new());
        }
        let read = async {
            self.connect(ctx, false).await.map_err(|f| match f {
                Fail::Down(s) | Fail::Refused(s) => s,
            })?;
            let conn = self.conn.as_mut().ok_or("not connected")?;
            latency::histories(conn).await
        };
        match tokio::time::timeout(budget, read).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{}: LATENCY: no answer within {budget:?}",
                self.name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_as_the_server_counts_them() {
        assert_eq!(counted_as(&[b"INFO", b"all"]), "info");
        assert_eq!(counted_as(&[b"CONFIG", b"SET", b"x", b"1"]), "config|set");
        assert_eq!(
            counted_as(&[b"CLIENT", b"TRACKING", b"on"]),
            "client|tracking"
        );
        assert_eq!(counted_as(&[b"LATENCY"]), "latency");
        assert_eq!(counted_as(&[b"AUTH", b"u", b"p"]), "auth");
        assert_eq!(counted_as(&[]), "");
    }
}
