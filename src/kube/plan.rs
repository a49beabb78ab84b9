//! The run planned here as the pods will plan it, so a mistake the planner catches (a profile value,
//! a custom command beside `-t`, a spawned target, a share of a profile's `-n` that is 0) is one
//! `rbench kube:` line on this machine rather than N failed pods.

use std::net::{Ipv4Addr, SocketAddr};

use super::KubeError;
use crate::cli::{Cli, RunFlags};
use crate::config::{self, ConfigError};

/// Plans the run of the Job's last shard (the smallest share), as the pods will, without dialling.
pub fn check(run: &RunFlags, workers: u32, run_id: &str) -> Result<(), KubeError> {
    if let Some(p) = &run.cli.runs.profile
        && !p.exists()
    {
        // The pods read the profile in the image; one only there cannot be checked here.
        return Ok(());
    }
    let cli = pods_cli(&run.cli, workers, run_id)?;
    // The pods' environment (REDISCLI_AUTH from a Secret) is not this machine's.
    let no_env = |_: &str| None;
    config::plan_with(&cli, &no_env, &no_dns)
        .map(drop)
        .map_err(KubeError::Plan)
}

/// The target hosts are in-cluster names (redis.load.svc) that need not resolve here; the plan is
/// only checked, never dialled, so any address will do.
fn no_dns(_host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
}

/// The flags as shard N-1 of N gets them. Its `--start-at` is left out: the instant was checked by
/// kube against its own clock, and the run id it would derive is given. With TLS on, the file
/// paths name a Secret's keys mounted in the pods, so they are not read here; with TLS off they
/// stay, for the planner to refuse as flags that need `--tls`.
fn pods_cli(cli: &Cli, workers: u32, run_id: &str) -> Result<Cli, KubeError> {
    let mut c = cli.clone();
    c.scale.shard = Some(format!("{}/{workers}", workers - 1));
    c.scale.run_id = Some(run_id.to_string());
    let rediss = match &c.conn.uri {
        Some(u) => crate::uri::parse(u).map_err(KubeError::Uri)?.tls,
        None => false,
    };
    if c.conn.tls.tls || rediss {
        let t = &mut c.conn.tls;
        t.cacert = None;
        // One of the pair alone is refused before any file is read: keep it for that message.
        if t.cert.is_some() && t.key.is_some() {
            (t.cert, t.key) = (None, None);
        }
    }
    Ok(c)
}
