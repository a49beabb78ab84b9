//! What a run is before it starts: the identity its rows are written under, and how many sockets
//! it may open.

use std::time::SystemTime;

use crate::config::{Plan, TargetKind};
use crate::deploy;
use crate::report::{self, RunMeta};

/// Upper bound of sockets a run opens (clients × nodes for clusters, checked again at preflight).
pub(super) fn plan_connections(plan: &Plan) -> usize {
    let nodes = plan
        .targets
        .iter()
        .map(|t| match &t.kind {
            TargetKind::Spawn(deploy::SpawnSpec::Cluster { masters, .. }) => *masters,
            TargetKind::Cluster(_) => 3,
            _ => 1,
        })
        .max()
        .unwrap_or(1);
    plan.workload.clients * nodes
}

pub(super) fn run_meta(plan: &Plan) -> RunMeta {
    let now = SystemTime::now();
    let ts = report::rfc3339(now);
    let compact: String = ts.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    RunMeta {
        run_id: plan
            .scale
            .run_id
            .clone()
            .unwrap_or_else(|| format!("{compact}-{:04x}", run_suffix())),
        timestamp: ts,
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_rev: option_env!("RBENCH_GIT_REV")
            .unwrap_or("unknown")
            .to_string(),
        profile: plan.profile.clone(),
        environment: Vec::new(),
    }
}

/// Tells apart the runs started in one second: the process id, plus the runs this process
/// started before (in-process callers run several).
fn run_suffix() -> u32 {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let before = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::process::id().wrapping_add(before.wrapping_mul(0x9e37)) & 0xffff
}
