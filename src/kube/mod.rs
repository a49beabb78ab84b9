//! `rbench kube`: prints a Kubernetes Indexed Job that runs one rbench run as N shards (`--shard
//! I/N`), one pod each, all starting their load at one wall-clock instant. The manifest comes from
//! the flags alone: the run is planned here as the pods will plan it, but nothing is resolved or
//! contacted, since the Redis service's name exists only inside the cluster.

mod checks;
mod manifest;
mod names;
mod plan;
mod yaml;

pub use manifest::{INDEX_VAR, Job, SecretRef, manifest, pod_args};
pub use yaml::quote;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::KubeCli;
use crate::exit::RunError;

/// Where `--results-pvc` is mounted.
pub const RESULTS_MOUNT: &str = "/results";
/// Where `--tls-secret` is mounted.
pub const TLS_MOUNT: &str = "/etc/rbench/tls";
/// Time to apply the manifest and pull the image before the load starts.
const DEFAULT_START_IN: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{flag}: {why}")]
    Refused {
        flag: &'static str,
        why: &'static str,
    },
    #[error(
        "{0} would be written into the manifest in clear: put the password in a Secret and give \
         --password-secret NAME[:KEY]"
    )]
    Password(&'static str),
    #[error("{0}")]
    Uri(String),
    #[error("{flag} {path}: {why}")]
    TlsFile {
        flag: &'static str,
        path: String,
        why: &'static str,
    },
    #[error("{0}")]
    Split(String),
    #[error("{0}")]
    StartAt(String),
    #[error("--start-in takes a duration such as 90s, 2m or 1h, got `{0}`")]
    StartIn(String),
    #[error("{0}")]
    RunId(String),
    #[error("{flag} `{value}`: {rule}")]
    Name {
        flag: &'static str,
        value: String,
        rule: &'static str,
    },
    /// What the pods' own planning would refuse.
    #[error("{0}")]
    Plan(crate::config::ConfigError),
}

/// Prints the manifest on `out` (and when it starts on `err`), or fails with one `rbench kube: `
/// line (exit 2).
pub fn run(c: &KubeCli, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), RunError> {
    let j = job(c, SystemTime::now()).map_err(|e| RunError::usage("rbench kube", e))?;
    let _ = write!(out, "{}", manifest(&j));
    let _ = writeln!(
        err,
        "rbench kube: job/{}: {} shards start at {}; apply it before then",
        j.name, j.workers, j.start_at
    );
    Ok(())
}

/// The Job the flags describe, `now` deciding the start instant (and whether one given is past).
pub fn job(c: &KubeCli, now: SystemTime) -> Result<Job, KubeError> {
    checks::refuse(&c.run)?;
    checks::shares(&c.run, c.workers)?;
    let run_args = checks::pod_args(&c.run, c.tls_secret.is_some())?;
    let start = start_instant(c, now)?;
    let start_at = rfc3339_exact(start);
    // The pods parse the instant again: one rbench cannot write as text (a year past 9999) is refused.
    crate::start_at::parse(&start_at, now).map_err(KubeError::StartAt)?;
    let run_id = match &c.run_id {
        Some(id) => names::run_id(id)?,
        None => format!("{}-s{}", compact(start), c.workers),
    };
    plan::check(&c.run, c.workers, &run_id)?;
    let default_image = format!("rbench:{}", env!("CARGO_PKG_VERSION"));
    Ok(Job {
        name: names::job_name(&run_id, c.workers),
        namespace: c.namespace.as_deref().map(names::namespace).transpose()?,
        workers: c.workers,
        image: names::image(c.image.as_deref().unwrap_or(&default_image))?,
        start_at,
        run_args,
        flags: c.run.flags,
        results_pvc: (c.results_pvc.as_deref())
            .map(|p| names::object("--results-pvc", p))
            .transpose()?,
        password: c
            .password_secret
            .as_deref()
            .map(names::secret_ref)
            .transpose()?,
        tls_secret: (c.tls_secret.as_deref())
            .map(|s| names::object("--tls-secret", s))
            .transpose()?,
        run_id,
    })
}

/// `--start-at`, else now + `--start-in` rounded up to a whole 10 seconds (an instant that reads
/// well in logs and dashboards).
fn start_instant(c: &KubeCli, now: SystemTime) -> Result<SystemTime, KubeError> {
    if let Some(s) = &c.start_at {
        return crate::start_at::parse(s, now).map_err(KubeError::StartAt);
    }
    let wait = match &c.start_in {
        Some(s) => crate::workload::parse_duration(s).map_err(|_| KubeError::StartIn(s.clone()))?,
        None => DEFAULT_START_IN,
    };
    let t = (now + wait).duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
    Ok(UNIX_EPOCH + Duration::from_secs(secs.div_ceil(10) * 10))
}

/// RFC 3339 UTC, with the fraction of a second when there is one (a `--start-at` given so).
fn rfc3339_exact(t: SystemTime) -> String {
    let whole = crate::report::rfc3339(t);
    let nanos = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    if nanos == 0 {
        return whole;
    }
    let frac = format!("{nanos:09}");
    format!(
        "{}.{}Z",
        whole.trim_end_matches('Z'),
        frac.trim_end_matches('0')
    )
}

/// `2026-12-04T09:00:00Z` as `20261204T090000Z`, the form run ids take.
fn compact(t: SystemTime) -> String {
    crate::report::rfc3339(t)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

#[cfg(test)]
mod tests;
