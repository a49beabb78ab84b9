//! `rbench kube`: the manifest it prints is a valid Kubernetes Job (kubernetes-validate --strict,
//! offline, against the schemas it ships), says what the scale-out needs (Indexed, N completions,
//! the shard flags, the index from the downward API, the password from a Secret), and carries the
//! user's arguments exactly; bad input is one line and exit 2. One test runs the pods' commands, as
//! Kubernetes would expand them, against a real server on loopback.

use crate::support;

use serde_json::Value;
use support::{
    RunOutput, Running, TempDir, cli, command_calls, run_rbench, run_rbench_env, serial,
    spawn_standalone, write_file_arg,
};

/// An explicit Kubernetes version whose schemas kubernetes-validate ships (1.25 to 1.37 in 1.37.0).
const K8S: &str = "1.30.0";

/// Custom command arguments no YAML writer may mangle: indicators, quotes, escapes, comments,
/// words YAML 1.1 reads as booleans or nulls, numbers, line breaks of every kind, controls, and
/// Kubernetes' own `$(VAR)` syntax.
const HOSTILE: [&str; 12] = [
    "k: v # not a comment",
    "\"double\" 'single' \\back\\slash",
    "-leading-dash",
    "*alias &anchor !tag %directive @at `tick` |pipe >fold",
    "{flow: [seq, 1]}, ? key",
    "yes",
    "~",
    "0x1F",
    "line\nbreak\r\ttab \u{1} \u{85} \u{2028} \u{feff} end",
    "$(REDISCLI_AUTH) $(JOB_COMPLETION_INDEX) $$ $",
    "   spaces   ",
    "clé 鍵 🔑",
];
const HOSTILE_USER: &str = "app: #\"x' y";

/// The python3 checker; panics with its output unless it exits 0.
fn check(args: &[&str]) -> String {
    let (code, text) = support::python_script("check-kube.py", args);
    assert_eq!(code, 0, "check-kube.py {args:?}:\n{text}");
    text
}

fn kube(args: &[&str]) -> RunOutput {
    let mut all = vec!["kube"];
    all.extend_from_slice(args);
    let out = run_rbench(&all);
    out.assert_ok();
    out
}

/// The variant with a results volume, namespace and password Secret, and a hostile custom command.
fn pvc_args() -> Vec<&'static str> {
    let mut v = vec![
        "-h",
        "redis.load.svc",
        "--user",
        HOSTILE_USER,
        "--workers",
        "3",
        "--namespace",
        "load",
        "--password-secret=redis-auth:pw",
        "--results-pvc",
        "rbench-results",
        "--start-in",
        "5m",
        "-n",
        "100000",
        "SET",
    ];
    v.extend(HOSTILE);
    v
}

#[test]
fn manifests_pass_strict_offline_validation() {
    // The checker refuses every socket: kubernetes-validate must use the schemas it ships.
    assert!(check(&["guard-selftest"]).contains("network use refused"));
    let dir = TempDir::new("kube-validate");
    let with_pvc = kube(&pvc_args()).stdout;
    let without = kube(&[
        "--workers",
        "2",
        "--password-secret",
        "redis-auth",
        "--tls",
        "--cacert",
        "/home/me/ca.crt",
        "--tls-secret",
        "redis-tls",
        "SET",
        HOSTILE[0],
    ])
    .stdout;
    for (name, text) in [("pvc.yaml", &with_pvc), ("logs.yaml", &without)] {
        let path = write_file_arg(&dir, name, text);
        let out = check(&["validate", K8S, &path]);
        assert!(
            out.contains("passed for resource job/rbench-") && out.contains("against version 1.30"),
            "{out}"
        );
    }
    // The check can fail: a misspelt field is caught.
    let typo = write_file_arg(
        &dir,
        "typo.yaml",
        &with_pvc.replace("completionMode", "completionMod"),
    );
    let (code, text) = support::python_script("check-kube.py", &["validate", K8S, &typo]);
    assert!(
        code != 0 && text.contains("'completionMod' was unexpected"),
        "{text}"
    );
}

/// The manifest as a YAML reader sees it.
fn parsed(yaml: &str) -> Value {
    let dir = TempDir::new("kube-parse");
    let path = write_file_arg(&dir, "job.yaml", yaml);
    let docs: Value = serde_json::from_str(&check(&["json", &path])).expect("JSON");
    assert_eq!(docs.as_array().map(Vec::len), Some(1), "{docs}");
    docs[0].clone()
}

/// What Kubernetes makes of an arg: `$(VAR)` of a declared variable expanded, `$$` turned into `$`
/// (the expansion of k8s.io/kubernetes/third_party/forked/golang/expansion).
fn expand(s: &str, vars: &[(&str, &str)]) -> String {
    let (b, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        if b[i] != b'$' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'$' => {
                out.push(b'$');
                i += 2;
            }
            b'(' => match s[i + 2..].find(')') {
                Some(end) => {
                    let name = &s[i + 2..i + 2 + end];
                    match vars.iter().find(|(k, _)| *k == name) {
                        Some((_, v)) => out.extend_from_slice(v.as_bytes()),
                        None => out.extend_from_slice(format!("$({name})").as_bytes()),
                    }
                    i += end + 3;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    i += 2;
                }
            },
            c => {
                out.extend_from_slice(&[b'$', c]);
                i += 2;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

#[test]
fn the_job_runs_indexed_shards_with_the_users_args_exactly() {
    let password = "s3cret-pw-that-must-not-leak";
    let out = run_rbench_env(
        &[&["kube"][..], &pvc_args()].concat(),
        &[("REDISCLI_AUTH", password)],
        support::RUN_TIMEOUT,
    );
    out.assert_ok();
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
    let job = parsed(&out.stdout);
    let spec = &job["spec"];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["namespace"], "load");
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        (spec["completions"].as_u64(), spec["parallelism"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(spec["backoffLimit"], 0);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let c = &pod["containers"][0];
    let env = c["env"].as_array().unwrap();
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {env:?}"))
    };
    assert_eq!(
        var("JOB_COMPLETION_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let secret = &var("REDISCLI_AUTH")["valueFrom"]["secretKeyRef"];
    assert_eq!(
        (&secret["name"], &secret["key"]),
        (&Value::from("redis-auth"), &Value::from("pw"))
    );
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/results");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "rbench-results"
    );

    // What shard 2's rbench receives once Kubernetes has expanded the args.
    let args: Vec<String> = strs(&c["args"])
        .iter()
        .map(|a| {
            expand(
                a,
                &[("JOB_COMPLETION_INDEX", "2"), ("REDISCLI_AUTH", password)],
            )
        })
        .collect();
    let start = args
        .iter()
        .position(|a| a == "--start-at")
        .expect("--start-at")
        + 1;
    let id = format!("{}-s3", args[start].replace(['-', ':'], ""));
    let ours = [
        "--shard",
        "2/3",
        "--start-at",
        &args[start],
        "--run-id",
        &id,
        "--out",
        &format!("/results/{id}/shard-2"),
    ];
    let user_flags = &pvc_args()[..4];
    let user_after = ["-n", "100000"];
    let expected: Vec<&str> = [user_flags, &user_after, &ours, &["SET"], &HOSTILE].concat();
    assert_eq!(args, expected);
    assert_eq!(job["metadata"]["labels"]["rbench/run-id"], id.as_str());
}

/// `rbench kube ARGS` is refused: one `rbench kube:` line containing `says`, exit 2, no manifest.
fn refused(args: &[&str], says: &str) -> RunOutput {
    let mut all = vec!["kube"];
    all.extend_from_slice(args);
    let out = run_rbench(&all);
    out.assert_no_panic();
    let lines = out.stderr_lines();
    assert!(
        out.code == 2 && out.stdout.is_empty() && lines.len() == 1,
        "{args:?}: code {}\n--- stdout\n{}\n--- stderr\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(
        lines[0].starts_with("rbench kube: ") && lines[0].contains(says),
        "{args:?}: {}",
        lines[0]
    );
    out
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    refused(&["-t", "set", "--workers", "0"], "--workers");
    refused(&["-t", "set", "--workers", "four"], "--workers");
    refused(&["-t", "set"], "--workers");
    let out = refused(&["-a", "hunter2", "--workers", "2"], "--password-secret");
    assert!(!out.stderr.contains("hunter2"));
    let out = refused(
        &["-u", "redis://app:hunter2@redis", "--workers", "2"],
        "--password-secret",
    );
    assert!(!out.stderr.contains("hunter2"));
    refused(&["--shard", "1/2", "--workers", "2"], "--shard");
    refused(
        &["--workers", "2", "--start-at", "2020-01-01T00:00:00Z"],
        "in the past",
    );
    refused(&["--loop", "--workers", "2"], "-l/--loop");
    refused(&["--workers", "2", "--no-such-flag"], "--no-such-flag");
    refused(
        &["--workers", "2", "--cacert", "ca.crt", "--tls"],
        "--tls-secret",
    );
    refused(
        &["--workers", "2", "--namespace", "Not_A_Label"],
        "--namespace",
    );
    refused(
        &["-n", "2", "--workers", "3"],
        "leaves shard 2/3 no requests",
    );
}

/// The run is planned on this machine as each pod will plan it (host names unresolved), so what
/// the planner refuses is refused here, in its words, before any pod starts.
#[test]
fn what_the_pods_would_refuse_is_refused_here() {
    let dir = TempDir::new("kube-plan");
    let profile = write_file_arg(
        &dir,
        "bad.toml",
        "[defaults]\nclients = 10\nkey_dist = \"sometimes\"\n\n[[target]]\nname = \"in-cluster\"\naddr = \"redis.load.svc:6379\"\n",
    );
    let out = refused(
        &["-c", &profile, "--workers", "2"],
        &format!("{profile}:3: "),
    );
    assert!(out.stderr.contains("sometimes"), "{}", out.stderr);
    refused(
        &[
            "-h",
            "redis.load.svc",
            "-t",
            "get",
            "--workers",
            "2",
            "SET",
            "k",
            "v",
        ],
        "a custom command (`SET k v`) cannot be combined with -t or --mix",
    );
    refused(
        &["-h", "redis.load.svc", "-t", "sett", "--workers", "2"],
        "unknown test `sett`",
    );
    let spawns = write_file_arg(
        &dir,
        "spawns.toml",
        "[[target]]\nname = \"local\"\nspawn = \"standalone\"\n",
    );
    refused(
        &["-c", &spawns, "--workers", "2"],
        "target local is a deployment this process spawns",
    );
    // The same profile with its target fixed is planned without resolving the in-cluster name.
    let good = write_file_arg(
        &dir,
        "good.toml",
        "[defaults]\nclients = 10\n\n[[target]]\nname = \"in-cluster\"\naddr = \"redis.load.svc:6379\"\n",
    );
    kube(&["-c", &good, "--workers", "2"]);
}

#[test]
fn help_shows_an_example_and_the_exit_codes() {
    let out = kube(&["--help"]);
    for part in [
        "--workers",
        "--password-secret",
        "--results-pvc",
        "Example:",
        "kubectl apply",
        "Exit: 0",
        "profiles/",
    ] {
        assert!(out.stdout.contains(part), "{part}:\n{}", out.stdout);
    }
    let main = run_rbench(&["--help"]);
    assert!(
        main.stdout.contains("rbench kube [run flags] --workers N"),
        "{}",
        main.stdout
    );
}

/// The pods' commands do what the manifest promises: shard I of 3 each (index from the downward
/// API's variable), started at one instant, adding up to the run's -n on the server, JSON on stdout
/// when there is no results volume.
#[test]
fn the_pods_commands_run_as_the_shards_of_one_run() {
    let _serial = serial();
    let dep = spawn_standalone(&[]);
    let port = dep.addr().port().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = (now + 3).to_string();
    let out = kube(&[
        "-p",
        &port,
        "-t",
        "set",
        "-n",
        "3001",
        "-r",
        "100",
        "--workers",
        "3",
        "--start-at",
        &at,
    ]);
    let job = parsed(&out.stdout);
    let args = strs(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    let pods: Vec<Running> = (0..3)
        .map(|i| {
            let index = i.to_string();
            let argv: Vec<String> = args
                .iter()
                .map(|a| expand(a, &[("JOB_COMPLETION_INDEX", &index)]))
                .collect();
            Running::start(&argv, &[])
        })
        .collect();
    let mut starts = Vec::new();
    for (i, pod) in pods.into_iter().enumerate() {
        let o = pod.wait(std::time::Duration::from_secs(30));
        o.assert_ok();
        let json = &o.stdout[o.stdout.find("\n{").expect("the JSON summary on stdout")..];
        let doc: Value = serde_json::from_str(json).expect("JSON");
        let r = &doc["results"][0];
        assert_eq!(r["shard"].as_u64(), Some(i as u64));
        assert_eq!(r["shards"].as_u64(), Some(3));
        assert_eq!(
            r["requests"].as_u64(),
            Some(if i == 0 { 1001 } else { 1000 })
        );
        starts.push(r["start_unix_s"].as_f64().expect("start_unix_s"));
    }
    assert_eq!(command_calls(&dep).get("set"), Some(&3001));
    let at: f64 = at.parse().unwrap();
    for s in starts {
        assert!(
            s >= at && s < at + 0.25,
            "started at {s}, the manifest said {at}"
        );
    }
}
