//! Whose limit a row's figures are: the load generator's (`client`), the server's (`server`),
//! neither's (the rate asked for was met with room to spare), or `unknown` (one side could not be
//! observed). A closed-loop TPS is the server's capacity only when rbench was not the bottleneck;
//! no peer tool says so, so every row says it here.

use std::fmt;

/// A thread (or a server's main thread) at least this busy is taken to be the bottleneck: a
/// single-threaded event loop cannot go faster than one core.
pub const BUSY: f64 = 0.9;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bound {
    Client,
    Server,
    Neither,
    #[default]
    Unknown,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Client => "client",
            Bound::Server => "server",
            Bound::Neither => "neither",
            Bound::Unknown => "unknown",
        }
    }

    /// The column's text read back (old files have none: unknown).
    pub fn parse(s: &str) -> Bound {
        match s {
            "client" => Bound::Client,
            "server" => Bound::Server,
            "neither" => Bound::Neither,
            _ => Bound::Unknown,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a row's verdict is made from, each side as a fraction of one core.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Evidence {
    /// rbench's busiest engine thread: the time it ran or waited to run (a thread that shares its
    /// core with another process wants the core even while it waits), over the window.
    pub client: Option<f64>,
    /// The busiest master's main thread (or its whole process where INFO has no main-thread figure).
    pub server: Option<f64>,
    /// Open loop: how the schedule went. None in closed loop.
    pub schedule: Option<Schedule>,
}

/// An open-loop run against its schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Schedule {
    /// The achieved rate fell short of the target, or requests went out long after their time.
    pub fell_behind: bool,
    /// The client's own delay in taking due requests while a window slot was free (ms, the
    /// median): the part of the lag that is rbench's; the rest was spent waiting on the server.
    /// The median, because a saturated engine is late on most requests, while a shared machine
    /// that descheduled it now and then makes only its tail late.
    pub own_lag_ms: f64,
    /// The largest lag behind the schedule (ms).
    pub max_lag_ms: f64,
    /// The server was out for a while: connections lost or refused, cluster down, a fault
    /// scheduled into the row, a node missing from the sampler's seconds.
    pub outage: bool,
    /// Every window was full at the row's latency: clients × pipeline in flight cannot carry the
    /// rate (Little's law), however fast rbench is.
    pub window_limited: bool,
}

/// The verdict and, in a few words, why.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub bound: Bound,
    pub why: String,
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Classifies a row from its evidence.
pub fn classify(e: &Evidence) -> Verdict {
    let busy = |v: Option<f64>| v.map(|v| v >= BUSY);
    let (c, s) = (busy(e.client), busy(e.server));
    let v = |bound, why: String| Verdict { bound, why };
    match e.schedule {
        Some(sch) if sch.fell_behind => return behind(e, &sch),
        Some(sch) => return on_time(e, &sch),
        None => {}
    }
    match (c, s) {
        (Some(true), Some(true)) => v(
            Bound::Neither,
            format!(
                "both saturated (rbench {}, server {}): the machine is the limit",
                pct(e.client.unwrap_or(0.0)),
                pct(e.server.unwrap_or(0.0))
            ),
        ),
        (Some(true), _) => v(
            Bound::Client,
            format!(
                "rbench's busiest thread was {} busy{}",
                pct(e.client.unwrap_or(0.0)),
                e.server
                    .map(|s| format!(", the server's main thread {}", pct(s)))
                    .unwrap_or_default()
            ),
        ),
        (_, Some(true)) => v(
            Bound::Server,
            format!(
                "the server's main thread was {} busy",
                pct(e.server.unwrap_or(0.0))
            ),
        ),
        // Neither at a core: in a closed loop the side doing most of the waiting-for-CPU sets
        // the pace (rbench sharing its core with another process never reaches 90% of it).
        (Some(false), Some(false)) => paced(e.client.unwrap_or(0.0), e.server.unwrap_or(0.0)),
        _ => v(Bound::Unknown, "a side could not be observed".into()),
    }
}

/// A side at least this busy, and at least `LEAD` times the other, sets a closed loop's pace.
const PACE: f64 = 0.6;
const LEAD: f64 = 1.5;

/// A closed loop where neither side is at a core.
fn paced(client: f64, server: f64) -> Verdict {
    let v = |bound, why: String| Verdict { bound, why };
    if client >= PACE && client >= LEAD * server {
        return v(
            Bound::Client,
            format!(
                "rbench's busiest thread was {} busy, the server's main thread only {}: rbench set the pace",
                pct(client),
                pct(server)
            ),
        );
    }
    if server >= PACE && server >= LEAD * client {
        return v(
            Bound::Server,
            format!(
                "the server's main thread was {} busy, rbench's busiest thread only {}: the server set the pace",
                pct(server),
                pct(client)
            ),
        );
    }
    v(
        Bound::Neither,
        format!(
            "neither side was saturated (rbench {}, server {})",
            pct(client),
            pct(server)
        ),
    )
}

/// rbench took due requests this late (median, ms) while a window slot was free: its own delay.
/// Below it the open loop kept its schedule itself (an open-loop engine polls the last
/// microseconds before a due request, so its CPU says nothing of its headroom).
const OWN_LAG_MS: f64 = 1.0;

/// An open-loop row that fell behind its schedule: whose delay it was.
fn behind(e: &Evidence, sch: &Schedule) -> Verdict {
    let v = |bound, why: String| Verdict { bound, why };
    if sch.outage {
        return v(
            Bound::Server,
            format!(
                "requests waited up to {:.1} ms on the server: an outage or a stall, not rbench",
                sch.max_lag_ms
            ),
        );
    }
    let own = sch.own_lag_ms >= OWN_LAG_MS.max(sch.max_lag_ms / 4.0);
    if own && e.client.is_none_or(|c| c >= BUSY) {
        return v(
            Bound::Client,
            format!(
                "rbench itself took due requests {:.1} ms late (median) with its busiest thread {} busy",
                sch.own_lag_ms,
                pct(e.client.unwrap_or(0.0))
            ),
        );
    }
    if let Some(s) = e.server.filter(|s| *s >= BUSY) {
        return v(
            Bound::Server,
            format!("the server's main thread was {} busy", pct(s)),
        );
    }
    if sch.window_limited {
        return v(
            Bound::Neither,
            "every window was full: too few clients × pipeline for this rate at this latency"
                .into(),
        );
    }
    if !own {
        return v(
            Bound::Server,
            format!(
                "requests waited {:.1} ms on the server; rbench's own delay was {:.1} ms",
                sch.max_lag_ms, sch.own_lag_ms
            ),
        );
    }
    v(
        Bound::Unknown,
        "the schedule slipped for no cause seen".into(),
    )
}

/// An open-loop row that kept its schedule: rbench's share is its own delay, not its CPU.
fn on_time(e: &Evidence, sch: &Schedule) -> Verdict {
    let v = |bound, why: String| Verdict { bound, why };
    if sch.own_lag_ms >= OWN_LAG_MS && e.client.is_none_or(|c| c >= BUSY) {
        return v(
            Bound::Client,
            format!(
                "rbench itself took due requests {:.1} ms late (median)",
                sch.own_lag_ms
            ),
        );
    }
    if let Some(s) = e.server.filter(|s| *s >= BUSY) {
        return v(
            Bound::Server,
            format!("the server's main thread was {} busy", pct(s)),
        );
    }
    let server = e
        .server
        .map(|s| format!(", the server's main thread {}", pct(s)))
        .unwrap_or_default();
    v(
        Bound::Neither,
        format!(
            "on schedule: rbench's own delay p50 {:.2} ms{server}",
            sch.own_lag_ms
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(client: Option<f64>, server: Option<f64>) -> Evidence {
        Evidence {
            client,
            server,
            schedule: None,
        }
    }

    #[test]
    fn closed_loop_the_busy_side_is_the_limit() {
        assert_eq!(classify(&ev(Some(0.97), Some(0.4))).bound, Bound::Client);
        assert_eq!(classify(&ev(Some(0.5), Some(0.95))).bound, Bound::Server);
        assert_eq!(classify(&ev(Some(0.3), Some(0.2))).bound, Bound::Neither);
        // rbench sharing its core: 75% wanted, the server at 40%: rbench set the pace.
        assert_eq!(classify(&ev(Some(0.75), Some(0.4))).bound, Bound::Client);
        assert_eq!(classify(&ev(Some(0.3), Some(0.7))).bound, Bound::Server);
        assert_eq!(classify(&ev(Some(0.7), Some(0.6))).bound, Bound::Neither);
        assert_eq!(classify(&ev(Some(0.95), Some(0.95))).bound, Bound::Neither);
        // A server that refuses INFO: a busy client is still a client-bound row.
        assert_eq!(classify(&ev(Some(0.95), None)).bound, Bound::Client);
        assert_eq!(classify(&ev(Some(0.5), None)).bound, Bound::Unknown);
        assert_eq!(classify(&ev(None, Some(0.99))).bound, Bound::Server);
        assert_eq!(classify(&ev(None, None)).bound, Bound::Unknown);
        let why = classify(&ev(Some(0.97), Some(0.4))).why;
        assert_eq!(
            why,
            "rbench's busiest thread was 97% busy, the server's main thread 40%"
        );
    }

    #[test]
    fn a_schedule_missed_while_waiting_on_the_server_is_the_servers() {
        // The failover case: 4.5 s behind, rbench idle and its own delay tiny.
        let failover = Evidence {
            client: Some(0.1),
            server: Some(0.05),
            schedule: Some(Schedule {
                fell_behind: true,
                own_lag_ms: 0.2,
                max_lag_ms: 4570.4,
                outage: true,
                window_limited: true,
            }),
        };
        let v = classify(&failover);
        assert_eq!(v.bound, Bound::Server);
        assert_eq!(
            v.why,
            "requests waited up to 4570.4 ms on the server: an outage or a stall, not rbench"
        );
        // No outage, windows full: too few connections, nobody's saturation.
        let few = Evidence {
            schedule: Some(Schedule {
                outage: false,
                ..failover.schedule.unwrap()
            }),
            ..failover
        };
        assert_eq!(classify(&few).bound, Bound::Neither);
        assert!(classify(&few).why.starts_with("every window was full"));
        // An outage explains the lag even when the engine looks busy (it polls before due times).
        let busy = Evidence {
            client: Some(0.99),
            ..failover
        };
        assert_eq!(classify(&busy).bound, Bound::Server);
        // No outage, and rbench itself took requests late: the client's.
        let own = Evidence {
            schedule: Some(Schedule {
                outage: false,
                own_lag_ms: 3000.0,
                ..failover.schedule.unwrap()
            }),
            ..busy
        };
        assert_eq!(classify(&own).bound, Bound::Client);
        // On schedule: neither, however busy the polling engine looks.
        let fine = Evidence {
            client: Some(0.98),
            server: Some(0.3),
            schedule: Some(Schedule {
                own_lag_ms: 0.05,
                ..Schedule::default()
            }),
        };
        assert_eq!(classify(&fine).bound, Bound::Neither);
        assert_eq!(
            classify(&fine).why,
            "on schedule: rbench's own delay p50 0.05 ms, the server's main thread 30%"
        );
        let late = Evidence {
            schedule: Some(Schedule {
                own_lag_ms: 3.0,
                ..Schedule::default()
            }),
            ..fine
        };
        assert_eq!(classify(&late).bound, Bound::Client);
    }

    #[test]
    fn names_read_back() {
        for b in [Bound::Client, Bound::Server, Bound::Neither, Bound::Unknown] {
            assert_eq!(Bound::parse(b.name()), b);
        }
        assert_eq!(Bound::parse(""), Bound::Unknown);
    }
}
