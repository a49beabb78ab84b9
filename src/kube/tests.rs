use super::*;
use crate::cli::{self, Command};

/// 2026-12-04T08:58:03.5Z
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_796_374_683_500)
}

fn kube(args: &[&str]) -> KubeCli {
    let mut argv = vec!["rbench", "kube"];
    argv.extend_from_slice(args);
    match cli::parse(argv) {
        Ok(Command::Kube(k)) => k,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn job_of(args: &[&str]) -> Job {
    job(&kube(args), now()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn refusal(args: &[&str]) -> String {
    match job(&kube(args), now()) {
        Ok(j) => panic!("{args:?} was accepted: {j:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_start_defaults_to_two_minutes_on_a_ten_second_mark() {
    let j = job_of(&["-t", "set", "--workers", "3"]);
    assert_eq!(j.start_at, "2026-12-04T09:00:10Z");
    assert_eq!(j.run_id, "20261204T090010Z-s3");
    assert_eq!(j.name, "rbench-20261204t090010z-s3");
    let j = job_of(&["--workers=2", "--start-in", "90s"]);
    assert_eq!(j.start_at, "2026-12-04T08:59:40Z");
    let j = job_of(&["--workers=2", "--start-in=1h"]);
    assert_eq!(j.start_at, "2026-12-04T09:58:10Z");
    assert!(refusal(&["--workers=2", "--start-in", "soon"]).contains("--start-in"));
}

#[test]
fn start_at_takes_rfc3339_and_unix_seconds_in_the_future() {
    let at = |s: &str| job_of(&["--workers", "2", "--start-at", s]).start_at;
    assert_eq!(at("2026-12-04T09:00:00Z"), "2026-12-04T09:00:00Z");
    assert_eq!(at("2026-12-04T10:00:00+01:00"), "2026-12-04T09:00:00Z");
    assert_eq!(at("2026-12-04T09:00:00.250Z"), "2026-12-04T09:00:00.25Z");
    assert_eq!(at("1796374800"), "2026-12-04T09:00:00Z");
    let past = refusal(&["--workers", "2", "--start-at", "2026-12-04T08:58:00Z"]);
    assert!(past.contains("in the past"), "{past}");
    let garbage = refusal(&["--workers", "2", "--start-at", "tomorrow"]);
    assert!(garbage.contains("RFC 3339"), "{garbage}");
    let far = refusal(&["--workers", "2", "--start-at", "999999999999"]);
    assert!(far.contains("--start-at"), "{far}");
    assert!(
        cli::parse([
            "rbench",
            "kube",
            "--workers",
            "2",
            "--start-at",
            "1796374800",
            "--start-in",
            "2m"
        ])
        .is_err()
    );
}

#[test]
fn run_ids_and_names_are_checked() {
    let j = job_of(&["--workers", "4", "--run-id", "Nightly_2026.12"]);
    assert_eq!(j.run_id, "Nightly_2026.12");
    assert_eq!(j.name, "rbench-nightly-2026-12");
    assert!(refusal(&["--workers", "4", "--run-id", "a/b"]).contains("--run-id"));
    assert!(refusal(&["--workers", "4", "--run-id", "ends-"]).contains("--run-id"));
    assert!(refusal(&["--workers", "4", "--namespace", "Prod"]).contains("--namespace `Prod`"));
    assert!(refusal(&["--workers", "4", "--results-pvc", "a b"]).contains("--results-pvc"));
    assert!(refusal(&["--workers", "4", "--image", "rbench latest"]).contains("--image"));
    assert_eq!(
        job_of(&["--workers", "4"]).image,
        format!("rbench:{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_pods_args_end_with_the_shard_flags() {
    let j = job_of(&[
        "-h",
        "redis",
        "-n",
        "1000",
        "--workers",
        "3",
        "--results-pvc",
        "res",
    ]);
    assert_eq!(
        pod_args(&j),
        [
            "-h",
            "redis",
            "-n",
            "1000",
            "--shard",
            "$(JOB_COMPLETION_INDEX)/3",
            "--start-at",
            "2026-12-04T09:00:10Z",
            "--run-id",
            "20261204T090010Z-s3",
            "--out",
            "/results/20261204T090010Z-s3/shard-$(JOB_COMPLETION_INDEX)",
        ]
    );
    let j = job_of(&["--workers", "2", "-q"]);
    assert!(pod_args(&j).ends_with(&["--no-save", "--json", "-"].map(String::from)));
}

#[test]
fn a_custom_command_stays_last_and_literal() {
    // Kube's flags may stand before or among the run flags, `--flag=value` or `--flag value`;
    // after the custom command's first word every argument is the command's.
    let j = job_of(&[
        "-P",
        "4",
        "--workers=2",
        "-r",
        "10",
        "SET",
        "k:$(HOME)",
        "--workers",
        "$$",
    ]);
    let args = pod_args(&j);
    assert_eq!(&args[..4], ["-P", "4", "-r", "10"]);
    assert_eq!(&args[4..6], ["--shard", "$(JOB_COMPLETION_INDEX)/2"]);
    assert_eq!(
        &args[args.len() - 4..],
        ["SET", "k:$$(HOME)", "--workers", "$$$$"]
    );
}

#[test]
fn passwords_never_reach_the_manifest() {
    for args in [
        &["-a", "hunter2", "--workers", "2"][..],
        &["--pass=hunter2", "--workers", "2"],
        &["-u", "redis://app:hunter2@redis:6379", "--workers", "2"],
        &["-u", "redis://hunter2@redis", "--workers", "2"],
    ] {
        let e = refusal(args);
        assert!(
            e.contains("--password-secret") && !e.contains("hunter2"),
            "{e}"
        );
    }
    let j = job_of(&[
        "-u",
        "redis://redis:6379",
        "--user",
        "app",
        "--workers",
        "2",
        "--password-secret",
        "auth:pw",
    ]);
    let y = manifest(&j);
    assert!(
        y.contains(
            "secretKeyRef:\n                  name: \"auth\"\n                  key: \"pw\""
        ),
        "{y}"
    );
    assert!(y.contains("- name: REDISCLI_AUTH"));
}

#[test]
fn what_a_job_cannot_carry_is_refused() {
    for (args, flag) in [
        (&["--shard", "1/2"][..], "--shard"),
        (&["--out", "results"], "--out"),
        (&["--json", "-"], "--json"),
        (&["--no-save"], "--no-save"),
        (&["-l"], "-l/--loop"),
        (&["-qI"], "-I/--idle"),
        (&["--scenario", "stream"], "--scenario"),
        (
            &["--fault", "5s:kill-master", "--duration", "10s"],
            "--fault",
        ),
        (&["--slo", "p99=1ms"], "--slo"),
        (&["-s", "/tmp/redis.sock"], "-s/--socket"),
        (&["-x", "SET", "k"], "-x"),
        (&["--flush"], "--flush"),
        (&["--tls", "--cacertdir", "/etc/ssl/certs"], "--cacertdir"),
    ] {
        let all = [&["--workers", "2"][..], args].concat();
        let e = refusal(&all);
        assert!(e.starts_with(&format!("{flag}:")), "{args:?}: {e}");
    }
}

#[test]
fn tls_files_come_from_the_secret() {
    let e = refusal(&["--tls", "--cacert", "/home/me/ca.crt", "--workers", "2"]);
    assert!(e.contains("--tls-secret"), "{e}");
    let j = job_of(&[
        "--tls",
        "--cacert",
        "/home/me/ca.crt",
        "--cert=client.crt",
        "--key",
        "k/client.key",
        "--workers",
        "2",
        "--tls-secret",
        "redis-tls",
    ]);
    assert_eq!(
        &j.run_args[..],
        [
            "--tls",
            "--cacert",
            "/etc/rbench/tls/ca.crt",
            "--cert=/etc/rbench/tls/client.crt",
            "--key",
            "/etc/rbench/tls/client.key"
        ]
    );
    let y = manifest(&j);
    assert!(
        y.contains("secretName: \"redis-tls\"") && y.contains("mountPath: /etc/rbench/tls"),
        "{y}"
    );
}

#[test]
fn bad_run_flags_and_workers_are_parse_errors() {
    for args in [
        &["--workers", "0"][..],
        &["--workers", "many"],
        &["-t", "set"],
        &["--workers", "2", "--no-such-flag"],
        &["--workers", "2", "-n", "lots"],
    ] {
        let mut argv = vec!["rbench", "kube"];
        argv.extend_from_slice(args);
        assert!(cli::parse(argv).is_err(), "{args:?}");
    }
}

#[test]
fn the_manifest_has_its_parts_only_when_asked() {
    let plain = manifest(&job_of(&["--workers", "2"]));
    assert!(
        !plain.contains("namespace:") && !plain.contains("volumes:"),
        "{plain}"
    );
    assert!(
        !plain.contains("fsGroup") && !plain.contains("REDISCLI_AUTH"),
        "{plain}"
    );
    assert!(plain.contains("kubectl logs --tail=-1"), "{plain}");
    let full = manifest(&job_of(&[
        "--workers",
        "2",
        "--namespace",
        "load",
        "--results-pvc",
        "res",
    ]));
    assert!(
        full.contains("  namespace: \"load\"\n") && full.contains("claimName: \"res\""),
        "{full}"
    );
    assert!(
        full.contains("fsGroup: 10001") && full.contains("rbench merge /results/"),
        "{full}"
    );
    assert!(
        full.contains("kubectl -n load wait --for=condition=complete job/rbench-"),
        "{full}"
    );
}

#[test]
fn every_shard_gets_requests_and_rate() {
    let e = refusal(&["-n", "2", "--workers", "3"]);
    assert!(
        e.starts_with("-n 2 over 3 shards leaves shard 2/3 no requests"),
        "{e}"
    );
    let e = refusal(&["--rps", "3", "--duration", "5s", "--workers", "4"]);
    assert!(
        e.starts_with("--rps 3 over 4 shards leaves shard 3/4 no rate"),
        "{e}"
    );
    job_of(&["-n", "3", "--workers", "3"]);
    job_of(&["--rps", "1.5", "--duration", "5s", "--workers", "4"]);
}

/// A profile file of its own (tests run in parallel), for `-c`.
fn profile_file(text: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rbench-kube-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_run_is_planned_here_as_the_pods_plan_it() {
    let e = refusal(&["-t", "set", "--workers", "2", "SET", "k", "v"]);
    assert_eq!(
        e,
        "a custom command (`SET k v`) cannot be combined with -t or --mix"
    );
    let e = refusal(&["-t", "nosuch", "--workers", "2"]);
    assert!(e.starts_with("unknown test `nosuch` (known: "), "{e}");
    let e = refusal(&["--workers", "2", "--cacert", "ca.crt", "--tls-secret", "t"]);
    assert_eq!(e, "--cacert needs --tls (or a rediss:// URI)");
    let e = refusal(&[
        "--workers",
        "2",
        "--tls",
        "--cert",
        "c.crt",
        "--tls-secret",
        "t",
    ]);
    assert_eq!(e, "--cert and --key go together");
    // In-cluster names need not resolve here, on the flags or in a profile.
    job_of(&["-h", "redis.load.svc.cluster.local", "--workers", "2"]);
    let p = profile_file("[[target]]\nname = \"in-cluster\"\naddr = \"redis.load.svc:6379\"\n");
    job_of(&["-c", p.to_str().unwrap(), "--workers", "2"]);
}

#[test]
fn a_profiles_mistakes_are_refused_at_its_line() {
    const TARGET: &str = "[[target]]\nname = \"t\"\naddr = \"redis:6379\"\n";
    let p = profile_file(&format!(
        "[defaults]\ntests = [\"set\"]\ndata_size = \"huge\"\n{TARGET}"
    ));
    let p = p.to_str().unwrap();
    let e = refusal(&["-c", p, "--workers", "2"]);
    assert!(e.starts_with(&format!("{p}:3: ")), "{e}");
    let p = profile_file(&format!("[defaults]\nrequests = 2\n{TARGET}"));
    let e = refusal(&["-c", p.to_str().unwrap(), "--workers", "3"]);
    assert!(
        e.starts_with("-n 2 over 3 shards leaves shard 2/3 no requests"),
        "{e}"
    );
    let p = profile_file("[[target]]\nname = \"local\"\nspawn = \"standalone\"\n");
    let e = refusal(&["-c", p.to_str().unwrap(), "--workers", "2"]);
    assert!(
        e.starts_with("--shard 1/2: target local is a deployment this process spawns"),
        "{e}"
    );
    // A profile only the image has is read there.
    job_of(&["-c", "no/such/profile-here.toml", "--workers", "2"]);
}
