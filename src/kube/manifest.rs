//! The Job manifest, written by hand: it is small and always of one shape, and every string from
//! the command line goes through [`quote`], so no YAML library is needed to get it right.

use std::fmt::Write;

use super::yaml::quote;
use super::{RESULTS_MOUNT, TLS_MOUNT};

/// The environment variable every pod finds its shard index in.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The Dockerfile's user and group: the results volume is made writable for it (fsGroup).
const IMAGE_GID: u32 = 10001;
/// How long a finished Job (its pods, their logs) is kept.
const KEEP_FINISHED_S: u32 = 86_400;

/// Everything the manifest says.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub name: String,
    pub namespace: Option<String>,
    pub run_id: String,
    pub workers: u32,
    pub image: String,
    /// The start instant, RFC 3339 UTC.
    pub start_at: String,
    /// The run flags as the pods get them: flags first (`flags` of them), then a custom command.
    pub run_args: Vec<String>,
    pub flags: usize,
    pub results_pvc: Option<String>,
    pub password: Option<SecretRef>,
    pub tls_secret: Option<String>,
}

/// A key of a Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretRef {
    pub name: String,
    pub key: String,
}

/// Kubernetes expands `$(VAR)` in args and turns `$$` into `$`: each `$` of the user's is written
/// `$$`, so the arguments reach rbench exactly as given (`$(REDISCLI_AUTH)` stays text).
fn literal(arg: &str) -> String {
    arg.replace('$', "$$")
}

/// The container's args: the run flags, this shard's flags, then the custom command if any (after
/// it, clap would read everything as the command's words).
pub fn pod_args(job: &Job) -> Vec<String> {
    let idx = format!("$({INDEX_VAR})");
    let mut ours = vec![
        "--shard".to_string(),
        format!("{idx}/{}", job.workers),
        "--start-at".to_string(),
        job.start_at.clone(),
        "--run-id".to_string(),
        job.run_id.clone(),
    ];
    match job.results_pvc {
        Some(_) => ours.extend([
            "--out".to_string(),
            format!("{RESULTS_MOUNT}/{}/shard-{idx}", job.run_id),
        ]),
        None => ours.extend(["--no-save", "--json", "-"].map(String::from)),
    }
    let user = |a: &[String]| a.iter().map(|s| literal(s)).collect::<Vec<_>>();
    let (flags, command) = job.run_args.split_at(job.flags.min(job.run_args.len()));
    [user(flags), ours, user(command)].concat()
}

/// The whole manifest: the comment header, then the Job.
pub fn manifest(job: &Job) -> String {
    let mut y = header(job);
    let labels = |y: &mut String, indent: &str| {
        let _ = writeln!(y, "{indent}app.kubernetes.io/name: \"rbench\"");
        let _ = writeln!(y, "{indent}rbench/run-id: {}", quote(&job.run_id));
    };
    y.push_str("apiVersion: batch/v1\nkind: Job\nmetadata:\n");
    let _ = writeln!(y, "  name: {}", quote(&job.name));
    if let Some(ns) = &job.namespace {
        let _ = writeln!(y, "  namespace: {}", quote(ns));
    }
    y.push_str("  labels:\n");
    labels(&mut y, "    ");
    let _ = write!(
        y,
        "spec:\n  completionMode: Indexed\n  completions: {n}\n  parallelism: {n}\n\
         \x20 # No retries: a retried shard would start after the start instant (and refuses to),\n\
         \x20 # or, failing mid-run and run again, would send its share of the load twice.\n\
         \x20 backoffLimit: 0\n\
         \x20 # The finished Job, its pods and their logs are deleted after a day.\n\
         \x20 ttlSecondsAfterFinished: {KEEP_FINISHED_S}\n\
         \x20 template:\n    metadata:\n      labels:\n",
        n = job.workers
    );
    labels(&mut y, "        ");
    y.push_str(
        "    spec:\n      restartPolicy: Never\n\
         \x20     # One shard per node where the scheduler can: spreading the load over machines is\n\
         \x20     # what sharding is for.\n\
         \x20     affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n\
         \x20           - weight: 100\n              podAffinityTerm:\n\
         \x20               topologyKey: kubernetes.io/hostname\n\
         \x20               labelSelector:\n                  matchLabels:\n",
    );
    labels(&mut y, "                    ");
    if job.results_pvc.is_some() {
        let _ = write!(
            y,
            "      # The image's user may write to the results volume.\n\
             \x20     securityContext:\n        fsGroup: {IMAGE_GID}\n"
        );
    }
    container(&mut y, job);
    volumes(&mut y, job);
    y
}

fn header(job: &Job) -> String {
    let ns = job
        .namespace
        .as_ref()
        .map_or(String::new(), |n| format!(" -n {n}"));
    let mut h = format!(
        "# rbench kube: a Kubernetes Indexed Job running one rbench run as {n} shards, one pod each.\n\
         # Run id {id}, Job {name}.\n\
         # The shards start their load at {t}: apply this before then (kubectl apply -f FILE).\n\
         # Each pod connects, waits for that instant and runs its share; shards that start later\n\
         # refuse to run. The instant is wall-clock time: the nodes' clocks must be NTP-synced.\n\
         # Wait:    kubectl{ns} wait --for=condition=complete job/{name} --timeout=1h\n",
        n = job.workers,
        id = job.run_id,
        name = job.name,
        t = job.start_at,
    );
    match &job.results_pvc {
        Some(pvc) => {
            let _ = write!(
                h,
                "# Collect: on a pod that mounts PVC {pvc} at {RESULTS_MOUNT}, merge the shards:\n\
                 #   rbench merge {RESULTS_MOUNT}/{id}/shard-* --out {RESULTS_MOUNT}/{id}/merged\n",
                id = job.run_id
            );
        }
        None => {
            let _ = write!(
                h,
                "# Collect: each pod's log ends with its shard's JSON summary (--json -):\n\
                 #   for i in $(seq 0 {last}); do kubectl{ns} logs --tail=-1 \
                 -l job-name={name},batch.kubernetes.io/job-completion-index=$i; done\n",
                last = job.workers - 1,
                name = job.name
            );
        }
    }
    h
}

fn container(y: &mut String, job: &Job) {
    y.push_str("      containers:\n        - name: rbench\n");
    let _ = writeln!(y, "          image: {}", quote(&job.image));
    y.push_str("          args:\n");
    for a in pod_args(job) {
        let _ = writeln!(y, "            - {}", quote(&a));
    }
    y.push_str("          env:\n");
    let annotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']";
    let _ = write!(
        y,
        "            # Declared so that $({INDEX_VAR}) in args is expanded whatever the version.\n\
         \x20           - name: {INDEX_VAR}\n              valueFrom:\n                fieldRef:\n\
         \x20                 fieldPath: {}\n",
        quote(annotation)
    );
    if let Some(s) = &job.password {
        let _ = write!(
            y,
            "            # rbench reads the password from REDISCLI_AUTH when -a is not given.\n\
             \x20           - name: REDISCLI_AUTH\n              valueFrom:\n                secretKeyRef:\n\
             \x20                 name: {}\n                  key: {}\n",
            quote(&s.name),
            quote(&s.key)
        );
    }
    if job.results_pvc.is_none() && job.tls_secret.is_none() {
        return;
    }
    y.push_str("          volumeMounts:\n");
    if job.results_pvc.is_some() {
        let _ = write!(
            y,
            "            - name: results\n              mountPath: {RESULTS_MOUNT}\n"
        );
    }
    if job.tls_secret.is_some() {
        let _ = write!(
            y,
            "            - name: tls\n              mountPath: {TLS_MOUNT}\n              readOnly: true\n"
        );
    }
}

fn volumes(y: &mut String, job: &Job) {
    if job.results_pvc.is_none() && job.tls_secret.is_none() {
        return;
    }
    y.push_str("      volumes:\n");
    if let Some(pvc) = &job.results_pvc {
        let _ = write!(
            y,
            "        - name: results\n          persistentVolumeClaim:\n            claimName: {}\n",
            quote(pvc)
        );
    }
    if let Some(secret) = &job.tls_secret {
        let _ = write!(
            y,
            "        - name: tls\n          secret:\n            secretName: {}\n",
            quote(secret)
        );
    }
}
