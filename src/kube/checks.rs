//! The run flags a Job cannot carry, and the TLS file paths it rewrites into the mounted Secret.

use super::{KubeError, TLS_MOUNT, names};
use crate::cli::RunFlags;
use crate::shard::Shard;

/// TLS flags that name a file on this machine; with `--tls-secret` they name the Secret's keys.
const TLS_FILE_FLAGS: [&str; 3] = ["--cacert", "--cert", "--key"];

/// Refuses what a Job's shards cannot do, or what rbench kube sets itself.
pub fn refuse(run: &RunFlags) -> Result<(), KubeError> {
    no_password(&run.cli)?;
    let c = &run.cli;
    let refused = [
        (
            c.scale.shard.is_some(),
            "--shard",
            "rbench kube sets it: --workers N runs shards 0/N to N-1/N",
        ),
        (
            run.out_given,
            "--out",
            "rbench kube sets it: /results/ID/shard-I with --results-pvc",
        ),
        (
            c.output.json.is_some(),
            "--json",
            "rbench kube sets it: --json - (each pod's log) without --results-pvc",
        ),
        (
            c.output.no_save,
            "--no-save",
            "rbench kube sets it when no --results-pvc is given",
        ),
        (
            c.modes.loop_tests,
            "-l/--loop",
            "it runs until a signal, but a Job's shards must end to be merged",
        ),
        (
            c.modes.idle,
            "-I/--idle",
            "it holds connections until a signal, but a Job's shards must end",
        ),
        (
            c.experiment.scenario.is_some(),
            "--scenario",
            "a scenario cannot be sharded: one process must own it",
        ),
        (
            !c.experiment.fault.is_empty(),
            "--fault",
            "faults cannot be sharded: one process must own them",
        ),
        (
            !c.search.slo.is_empty(),
            "--slo",
            "a saturation search cannot be sharded: one process must own it",
        ),
        (
            c.conn.socket.is_some(),
            "-s/--socket",
            "a unix socket on this machine is not in the pods: give -h HOST",
        ),
        (
            c.modes.stdin_arg,
            "-x",
            "it reads stdin, which a Job's pods do not have",
        ),
        (
            c.runs.flush,
            "--flush",
            "each shard would FLUSHALL while the others run",
        ),
        (
            c.conn.tls.cacertdir.is_some(),
            "--cacertdir",
            "a directory on this machine is not in the pods: give --cacert FILE with --tls-secret NAME",
        ),
    ];
    match refused.into_iter().find(|(given, _, _)| *given) {
        Some((_, flag, why)) => Err(KubeError::Refused { flag, why }),
        None => Ok(()),
    }
}

/// A password given on the command line would be written into the manifest.
fn no_password(c: &crate::cli::Cli) -> Result<(), KubeError> {
    if c.conn.password.is_some() {
        return Err(KubeError::Password("-a/--pass"));
    }
    if let Some(u) = &c.conn.uri
        && crate::uri::parse(u)
            .map_err(KubeError::Uri)?
            .password
            .is_some()
    {
        return Err(KubeError::Password("a password in -u"));
    }
    Ok(())
}

/// Every shard must get part of `-n` and `--rps`: a pod given none would refuse to run.
pub fn shares(run: &RunFlags, workers: u32) -> Result<(), KubeError> {
    let last = Shard {
        index: workers - 1,
        count: workers,
    };
    if let Some(n) = run.cli.load.requests
        && last.share(n) == 0
    {
        return Err(KubeError::Split(format!(
            "-n {n} over {workers} shards leaves shard {last} no requests: give at least {workers}, or fewer --workers"
        )));
    }
    // A shape is split in proportion, so only a fixed rate can leave a shard nothing.
    if let Some(r) = run
        .cli
        .load
        .rps
        .as_deref()
        .and_then(|r| r.trim().parse::<f64>().ok())
        && r > 0.0
        && last.share_rate(r) <= 0.0
    {
        return Err(KubeError::Split(format!(
            "--rps {r} over {workers} shards leaves shard {last} no rate: give at least {workers}, or fewer --workers"
        )));
    }
    Ok(())
}

/// The run flags as the pods get them: `--cacert`, `--cert` and `--key` point into the Secret
/// mounted at [`TLS_MOUNT`] (by file name); without `--tls-secret` they are refused, since the pods
/// do not have this machine's files.
pub fn pod_args(run: &RunFlags, tls_secret: bool) -> Result<Vec<String>, KubeError> {
    let mut args = run.args.clone();
    let mut i = 0;
    while i < run.flags {
        let tok = args[i].clone();
        let (name, inline) = match tok.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (tok.as_str(), None),
        };
        if let Some(flag) = TLS_FILE_FLAGS.into_iter().find(|f| *f == name) {
            let path = inline.map_or_else(|| args[i + 1].clone(), str::to_string);
            if !tls_secret {
                return Err(KubeError::TlsFile {
                    flag,
                    path,
                    why: "names a file on this machine, which the pods do not have: put it in a \
                          Secret and give --tls-secret NAME",
                });
            }
            let inside = format!("{TLS_MOUNT}/{}", names::tls_key(flag, &path)?);
            match inline {
                Some(_) => args[i] = format!("{flag}={inside}"),
                None => {
                    args[i + 1] = inside;
                    i += 1;
                }
            }
        } else if crate::cli::run_flag_takes_value(&tok) {
            i += 1;
        }
        i += 1;
    }
    Ok(args)
}
