//! Faults scheduled into a run (`--fault AT:ACTION`, `[[fault]]`): what they are, how they are
//! read and named, and the schedule that carries them out while the workload runs.
//!
//! Actions that signal processes (kill, pause, resume, restart) need a deployment rbench spawned;
//! the others (failover, reshard, debug-sleep) go through the protocol and work on any cluster or
//! server. Each fault carried out yields one [`FaultOutcome`], with the outage a probe measured:
//! the time from the action until the affected slots (or server) answered a write again.
//!
//! Faults whose time the run does not reach (the workload ended first) are not carried out and
//! yield no outcome: the report lists what happened, not what was planned.

mod actions;
mod probe;
mod reshard;
mod view;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::stop::Stop;
use crate::workload;

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// SIGKILL a master that owns slots (the first alive one, in node order).
    KillMaster,
    /// SIGKILL node N (default: a replica, else node 0).
    KillNode(Option<usize>),
    /// SIGSTOP node N (default: a master that owns slots).
    Pause(Option<usize>),
    /// SIGCONT node N (default: the node paused last).
    Resume(Option<usize>),
    /// Start killed node N again with its data dir (default: the node killed last).
    Restart(Option<usize>),
    /// `CLUSTER FAILOVER` on a replica whose master is up and owns slots.
    Failover,
    /// Move this many slots from the master with the most slots to the one with the fewest.
    Reshard(u32),
    /// `DEBUG SLEEP` on a master: it answers nothing for this long.
    DebugSleep(Duration),
    /// `BGREWRITEAOF` on a master: the fork and rewrite the AOF experiments see at random, on time.
    Bgrewriteaof,
    /// `BGSAVE` on a master: an RDB snapshot's fork, on time.
    Bgsave,
}

/// An action and when to carry it out, counted from the start of measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: Duration,
    pub action: Action,
}

const ACTIONS: &str = "kill-master, kill-node[=N], pause[=N], resume[=N], restart[=N], failover, reshard=N, debug-sleep=S, bgrewriteaof, bgsave";

/// Most slots a reshard can move: all of them.
const MAX_SLOTS: u32 = crate::cluster::slot::SLOTS as u32;

impl Action {
    /// Reads `kill-master`, `kill-node[=N]`, `pause[=N]`, `resume[=N]`, `restart[=N]`,
    /// `failover`, `reshard=N`, `debug-sleep=S`, `bgrewriteaof` and `bgsave` (`=` or a space before the argument). Errors
    /// give only the reason: callers say where the text came from.
    pub fn parse(s: &str) -> Result<Action, String> {
        let text = s.trim();
        let (name, arg) = match text.split_once(['=', ' ']) {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (text, None),
        };
        match name {
            "kill-master" => no_arg(name, arg).map(|()| Action::KillMaster),
            "failover" => no_arg(name, arg).map(|()| Action::Failover),
            "bgrewriteaof" => no_arg(name, arg).map(|()| Action::Bgrewriteaof),
            "bgsave" => no_arg(name, arg).map(|()| Action::Bgsave),
            "kill-node" => node_arg(name, arg).map(Action::KillNode),
            "pause" => node_arg(name, arg).map(Action::Pause),
            "resume" => node_arg(name, arg).map(Action::Resume),
            "restart" => node_arg(name, arg).map(Action::Restart),
            "reshard" => slots_arg(arg).map(Action::Reshard),
            "debug-sleep" => sleep_arg(arg).map(Action::DebugSleep),
            _ => Err(format!("unknown action `{name}`: use {ACTIONS}")),
        }
    }

    /// Whether the action signals server processes, which only a deployment rbench spawned has.
    pub fn needs_spawned(&self) -> bool {
        match self {
            Action::KillMaster
            | Action::KillNode(_)
            | Action::Pause(_)
            | Action::Resume(_)
            | Action::Restart(_) => true,
            Action::Failover
            | Action::Reshard(_)
            | Action::DebugSleep(_)
            | Action::Bgrewriteaof
            | Action::Bgsave => false,
        }
    }

    /// The action as reports name it: `kill-node 3`, `reshard 100`, `debug-sleep 0.5s`.
    pub fn label(&self) -> String {
        let with = |name: &str, n: &Option<usize>| match n {
            Some(n) => format!("{name} {n}"),
            None => name.to_string(),
        };
        match self {
            Action::KillMaster => "kill-master".into(),
            Action::KillNode(n) => with("kill-node", n),
            Action::Pause(n) => with("pause", n),
            Action::Resume(n) => with("resume", n),
            Action::Restart(n) => with("restart", n),
            Action::Failover => "failover".into(),
            Action::Reshard(n) => format!("reshard {n}"),
            Action::DebugSleep(d) => format!("debug-sleep {}s", d.as_secs_f64()),
            Action::Bgrewriteaof => "bgrewriteaof".into(),
            Action::Bgsave => "bgsave".into(),
        }
    }
}

fn no_arg(name: &str, arg: Option<&str>) -> Result<(), String> {
    match arg {
        None => Ok(()),
        Some(a) => Err(format!("{name} takes no argument, got `{a}`")),
    }
}

fn node_arg(name: &str, arg: Option<&str>) -> Result<Option<usize>, String> {
    let Some(a) = arg else {
        return Ok(None);
    };
    a.parse().map(Some).map_err(|_| {
        format!("{name}={a}: the node must be a node number (0 for the first), e.g. {name}=1")
    })
}

fn slots_arg(arg: Option<&str>) -> Result<u32, String> {
    let a = arg.ok_or("reshard needs a number of slots, e.g. reshard=100")?;
    match a.parse::<u32>() {
        Ok(n) if (1..=MAX_SLOTS).contains(&n) => Ok(n),
        _ => Err(format!(
            "reshard={a}: the number of slots to move must be from 1 to {MAX_SLOTS}"
        )),
    }
}

fn sleep_arg(arg: Option<&str>) -> Result<Duration, String> {
    let a = arg.ok_or("debug-sleep needs a time, e.g. debug-sleep=2s or debug-sleep=500ms")?;
    workload::parse_duration(a).map_err(|_| {
        format!("debug-sleep={a}: the time must be above 0, like 2, 2s or 500ms (seconds without a unit)")
    })
}

/// Reads `AT:ACTION` (`5s:kill-master`, `2.5:reshard=100`); AT as `--duration` takes it.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    let (at, action) = s
        .split_once(':')
        .ok_or("expected AT:ACTION, e.g. 5s:kill-master")?;
    let at = workload::parse_duration(at)
        .map_err(|_| format!("`{}` is not a time: give it as 5, 5s or 500ms", at.trim()))?;
    Ok(Fault {
        at,
        action: Action::parse(action)?,
    })
}

/// What the schedule needs to reach the target: the deployment (for the actions that signal
/// processes) and how to talk to its servers.
pub struct FaultEnv<'a> {
    pub deployment: Option<&'a mut crate::deploy::Deployment>,
    pub route: crate::cluster::Route,
    pub auth: crate::conn::Auth,
    pub dial: crate::net::Dialer,
}

/// One fault carried out (or tried): when, on which node, and how long its slots were down.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultOutcome {
    /// Seconds from the start of measurement to the action.
    pub at_s: f64,
    /// The action's label.
    pub action: String,
    /// The node acted on: `127.0.0.1:PORT (master)` / `(replica)`; empty when none was found.
    pub node: String,
    /// Seconds from the action until the affected slots answered a write again; None when they
    /// did not before the probe gave up (next fault, 15 s, or the run's end).
    pub outage_s: Option<f64>,
    /// Seconds from the start of measurement to recovery (for a reshard: to its last slot).
    pub recovered_at_s: Option<f64>,
    /// Why the action could not be carried out (one line).
    pub error: Option<String>,
}

/// How often the caller's `tick` runs while the schedule waits or works.
const TICK: Duration = Duration::from_millis(50);
/// Longest an outage is measured: a fault that lasts longer is reported as unrecovered.
const MAX_OUTAGE: Duration = Duration::from_secs(15);

/// Carries out `faults` (in time order) at `started + fault.at`, once the workload has set
/// `started`. Returns early when `stop` is set (the workload ended): faults not reached yet are
/// left out. `tick` is called at least every 100 ms throughout (it passes on the workload's live
/// output). Blocks the calling thread, which must outlive the run: a restarted server dies with
/// the thread that started it. Writes nothing to stdout.
pub fn run_schedule(
    faults: &[Fault],
    env: FaultEnv<'_>,
    started: &OnceLock<Instant>,
    stop: &Stop,
    tick: &mut dyn FnMut(),
) -> Vec<FaultOutcome> {
    if faults.is_empty() {
        return Vec::new();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return not_carried_out(faults, &format!("cannot start a runtime: {e}")),
    };
    let Some(t0) = wait_for_start(started, stop, tick) else {
        return Vec::new();
    };
    let mut ctx = actions::Ctx::new(env);
    let mut outcomes = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        if !wait_until(t0 + f.at, stop, tick) {
            break;
        }
        let next = faults.get(i + 1).map(|n| t0 + n.at);
        let at = Instant::now();
        let window = Window {
            at,
            give_up: next.map_or(at + MAX_OUTAGE, |n| n.min(at + MAX_OUTAGE)),
            stop,
        };
        let result = ticking(&rt, ctx.carry_out(&f.action, &window), tick);
        outcomes.push(outcome(&f.action, t0, at, result));
    }
    outcomes
}

/// Every fault, with the reason none could be carried out.
fn not_carried_out(faults: &[Fault], why: &str) -> Vec<FaultOutcome> {
    faults
        .iter()
        .map(|f| FaultOutcome {
            at_s: f.at.as_secs_f64(),
            action: f.action.label(),
            node: String::new(),
            outage_s: None,
            recovered_at_s: None,
            error: Some(why.to_string()),
        })
        .collect()
}

/// The start of measurement, or None when the run ended before it began.
fn wait_for_start(
    started: &OnceLock<Instant>,
    stop: &Stop,
    tick: &mut dyn FnMut(),
) -> Option<Instant> {
    loop {
        if let Some(t0) = started.get() {
            return Some(*t0);
        }
        if stop.is_stopped() {
            return None;
        }
        tick();
        stop.wait_timeout(TICK);
    }
}

/// Sleeps until `due`, ticking; false when the run ended first.
fn wait_until(due: Instant, stop: &Stop, tick: &mut dyn FnMut()) -> bool {
    loop {
        if stop.is_stopped() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        tick();
        stop.wait_timeout((due - now).min(TICK));
    }
}

/// Runs `fut` to completion on `rt`, calling `tick` every [`TICK`] meanwhile.
fn ticking<T>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T>,
    tick: &mut dyn FnMut(),
) -> T {
    rt.block_on(async move {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return r,
                () = tokio::time::sleep(TICK) => tick(),
            }
        }
    })
}

/// When a fault was carried out and until when its outage is measured.
pub(crate) struct Window<'a> {
    at: Instant,
    give_up: Instant,
    stop: &'a Stop,
}

impl Window<'_> {
    /// Whether the probe must give up: the next fault is due, 15 s have passed, or the run ended.
    fn over(&self) -> bool {
        Instant::now() >= self.give_up || self.stop.is_stopped()
    }

    /// Runs `fut` until the window is over: None when it was cut short (one slow request must
    /// not carry a probe past the next fault's time).
    async fn within<T>(&self, fut: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            r = tokio::time::timeout_at(self.give_up.into(), fut) => r.ok(),
            () = self.stop.stopped() => None,
        }
    }
}

/// What an action did: the node, and when its slots answered again.
struct Done {
    node: String,
    /// When the affected slots answered again; None: not before the probe gave up.
    recovered: Option<Instant>,
    /// Overrides `recovered - at` as the outage (a reshard's longest gap).
    outage: Option<Option<Duration>>,
}

/// Why an action could not be carried out, and the node it was aimed at (if any).
struct Failed {
    node: String,
    error: String,
}

impl Failed {
    fn new(error: impl Into<String>) -> Failed {
        Failed {
            node: String::new(),
            error: one_line(&error.into()),
        }
    }

    fn on(node: &str, error: impl Into<String>) -> Failed {
        Failed {
            node: node.to_string(),
            error: one_line(&error.into()),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn outcome(
    action: &Action,
    t0: Instant,
    at: Instant,
    result: Result<Done, Failed>,
) -> FaultOutcome {
    let since_t0 = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    let mut o = FaultOutcome {
        at_s: since_t0(at),
        action: action.label(),
        node: String::new(),
        outage_s: None,
        recovered_at_s: None,
        error: None,
    };
    match result {
        Ok(done) => {
            let outage = done
                .outage
                .unwrap_or_else(|| done.recovered.map(|r| r.saturating_duration_since(at)));
            o.node = done.node;
            o.outage_s = outage.map(|d| d.as_secs_f64());
            o.recovered_at_s = match done.outage {
                Some(_) => done.recovered.map(since_t0),
                None => o.outage_s.map(|s| o.at_s + s),
            };
        }
        Err(f) => {
            o.node = f.node;
            o.error = Some(f.error);
        }
    }
    o
}

#[cfg(test)]
mod tests;
