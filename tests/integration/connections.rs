//! How rbench reaches a server: unix sockets (`-s`), TLS (`--tls` and its certificate flags,
//! spawned TLS deployments) and `-u` URIs, each against real redis-server processes spawned on free
//! loopback ports (or sockets) by tests/integration/support and stopped by PID.
//!
//! Certificates are made by the test support: with rbench's own `deploy::tls::make` (a CA and a
//! server certificate for localhost/127.0.0.1/::1) or, for the expired case, with rcgen directly.
//! Every bad TLS case must end in one stderr line that says what is wrong, with exit 1, no panic,
//! and well within a generous bound.

use crate::support;

use std::time::Duration;

use support::*;

/// Generous bound for a run that must fail (the TLS-to-plain case waits ~5 s for a handshake).
const FAIL_BOUND: Duration = Duration::from_secs(20);

/// Runs rbench expecting failure with `code`; asserts exactly one non-empty stderr line, containing
/// every one of `needles`, no panic, and an end within `FAIL_BOUND`. Returns that line.
fn fails_with_one_line<S: AsRef<str>>(args: &[S], code: i32, needles: &[&str]) -> String {
    let out = run_rbench_env(args, &[], FAIL_BOUND + Duration::from_secs(10));
    let argv: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    assert!(!out.timed_out, "rbench {argv:?} hung: {out:?}");
    out.assert_no_panic();
    assert_eq!(
        out.code, code,
        "rbench {argv:?}: want exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.elapsed < FAIL_BOUND,
        "rbench {argv:?} took {:?} to fail",
        out.elapsed
    );
    let lines = out.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "rbench {argv:?}: want one stderr line, got:\n{}",
        out.stderr
    );
    for n in needles {
        assert!(
            lines[0].contains(n),
            "rbench {argv:?}: stderr line lacks {n:?}: {}",
            lines[0]
        );
    }
    lines[0].to_string()
}

/// Runs `-t set -n N -q` with `flags` against the TLS server and asserts the server ran exactly N SETs.
fn sets_counted(srv: &TlsServer, flags: &[&str], n: u64) {
    let n_arg = n.to_string();
    let mut args = strings(flags);
    args.extend(strings(&["-t", "set", "-n", &n_arg, "-q", "--no-save"]));
    run_rbench(&args).assert_ok();
    assert_eq!(cmdstat_calls(&srv.cli(&["INFO", "commandstats"]), "set"), n);
}

// ---------------------------------------------------------------------------------------------
// Unix sockets
// ---------------------------------------------------------------------------------------------

#[test]
fn unix_socket_runs_every_request_over_the_socket() {
    let tmp = TempDir::new("unixsock");
    let sock = tmp.join("redis.sock").to_string_lossy().into_owned();
    let dep = spawn_standalone(&["--unixsocket", &sock, "--unixsocketperm", "700"]);

    // No -h/-p: if -s were ignored, rbench would go to 127.0.0.1:6379, not this server.
    run_rbench(&strings(&[
        "-s",
        &sock,
        "-t",
        "set",
        "-n",
        "1000",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    let stats = cli(&dep, &["INFO", "commandstats"]);
    assert_eq!(cmdstat_calls(&stats, "set"), 1000, "{stats}");

    // Every link rbench opened is gone again, and nothing was refused.
    wait_for("rbench's links to close", Duration::from_secs(10), || {
        info_field(&cli(&dep, &["INFO", "clients"]), "connected_clients").as_deref() == Some("1")
    });
    let info = cli(&dep, &["INFO", "stats"]);
    assert_eq!(
        info_field(&info, "rejected_connections").as_deref(),
        Some("0"),
        "{info}"
    );
}

#[test]
fn unix_socket_links_show_as_unix_clients_while_running() {
    let tmp = TempDir::new("unixsock-live");
    let sock = tmp.join("redis.sock").to_string_lossy().into_owned();
    let dep = spawn_standalone(&["--unixsocket", &sock, "--unixsocketperm", "700"]);

    let run = Running::start(
        &strings(&[
            "-s",
            &sock,
            "-t",
            "set",
            "--clients",
            "3",
            "--rps",
            "300",
            "--duration",
            "5",
            "-q",
            "--no-save",
        ]),
        &[],
    );
    // CLIENT LIST marks unix-socket clients with flag U (and addr=<socket path>:0).
    let mut seen = String::new();
    wait_for(
        "3 unix-socket clients in CLIENT LIST",
        Duration::from_secs(15),
        || {
            seen = cli(&dep, &["CLIENT", "LIST"]);
            seen.lines()
                .filter(|l| l.contains(&format!("addr={sock}:")) && l.contains(" flags=U"))
                .count()
                >= 3
        },
    );
    for l in seen
        .lines()
        .filter(|l| l.contains(&format!("addr={sock}:")))
    {
        assert!(l.contains(" db=0 "), "unexpected client state: {l}");
    }
    let out = run.wait(RUN_TIMEOUT);
    out.assert_ok();
    assert!(cmdstat_calls(&cli(&dep, &["INFO", "commandstats"]), "set") > 0);
}

#[test]
fn unix_socket_with_cluster_is_a_usage_error() {
    let tmp = TempDir::new("unixsock-cluster");
    let sock = tmp.join("redis.sock").to_string_lossy().into_owned();
    fails_with_one_line(
        &strings(&[
            "-s",
            &sock,
            "--cluster",
            "-t",
            "set",
            "-n",
            "10",
            "-q",
            "--no-save",
        ]),
        2,
        &[],
    );
}

#[test]
fn missing_unix_socket_is_one_line_naming_the_path() {
    let tmp = TempDir::new("unixsock-missing");
    let sock = tmp.join("nonexistent.sock").to_string_lossy().into_owned();
    fails_with_one_line(
        &strings(&["-s", &sock, "-t", "set", "-n", "10", "-q", "--no-save"]),
        1,
        &[&sock],
    );
}

// ---------------------------------------------------------------------------------------------
// A TLS-only server
// ---------------------------------------------------------------------------------------------

#[test]
fn tls_only_server_set_get_counted_by_the_server() {
    let srv = TlsServer::start(&[]);
    run_rbench(&strings(&[
        "--tls",
        "--cacert",
        &srv.ca_arg(),
        "-p",
        &srv.port_arg(),
        "-t",
        "set,get",
        "-n",
        "2000",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    let stats = srv.cli(&["INFO", "commandstats"]);
    assert_eq!(cmdstat_calls(&stats, "set"), 2000, "{stats}");
    assert_eq!(cmdstat_calls(&stats, "get"), 2000, "{stats}");
}

#[test]
fn tls_pipelined_with_several_threads() {
    let srv = TlsServer::start(&[]);
    run_rbench(&strings(&[
        "--tls",
        "--cacert",
        &srv.ca_arg(),
        "-p",
        &srv.port_arg(),
        "-t",
        "set",
        "-P",
        "16",
        "--clients",
        "4",
        "--threads",
        "2",
        "-n",
        "20000",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    let stats = srv.cli(&["INFO", "commandstats"]);
    assert_eq!(cmdstat_calls(&stats, "set"), 20000, "{stats}");
}

#[test]
fn tls_insecure_needs_no_ca() {
    let srv = TlsServer::start(&[]);
    sets_counted(&srv, &["--tls", "--insecure", "-p", &srv.port_arg()], 300);
}

#[test]
fn tls_cacertdir_holding_the_ca() {
    let srv = TlsServer::start(&[]);
    let cadir = TempDir::new("cacertdir");
    std::fs::copy(&srv.files.ca, cadir.join("test-ca.pem")).expect("copying the CA");
    let flags = ["--tls", "--cacertdir", &cadir.arg(), "-p", &srv.port_arg()];
    sets_counted(&srv, &flags, 300);
}

#[test]
fn rediss_uri_with_cacert() {
    let srv = TlsServer::start(&[]);
    let uri = format!("rediss://127.0.0.1:{}", srv.port);
    sets_counted(&srv, &["-u", &uri, "--cacert", &srv.ca_arg()], 400);
}

// ---------------------------------------------------------------------------------------------
// Bad TLS cases: one line each, exit 1
// ---------------------------------------------------------------------------------------------

#[test]
fn tls_unknown_ca() {
    let srv = TlsServer::start(&[]);
    fails_with_one_line(
        &strings(&[
            "--tls",
            "-p",
            &srv.port_arg(),
            "-t",
            "set",
            "-n",
            "10",
            "-q",
            "--no-save",
        ]),
        1,
        &["not signed by a CA rbench trusts"],
    );
    assert_eq!(cmdstat_calls(&srv.cli(&["INFO", "commandstats"]), "set"), 0);
}

#[test]
fn tls_wrong_name() {
    let srv = TlsServer::start(&[]);
    fails_with_one_line(
        &strings(&[
            "--tls",
            "--cacert",
            &srv.ca_arg(),
            "--sni",
            "wrong.example",
            "-p",
            &srv.port_arg(),
            "-t",
            "set",
            "-n",
            "10",
            "-q",
            "--no-save",
        ]),
        1,
        &["not valid for the name"],
    );
}

#[test]
fn tls_expired_certificate() {
    let dir = TempDir::new("tls-expired");
    let files = make_expired_tls_files(&dir, "tls");
    let srv = TlsServer::start_with(dir, files, &[]);
    fails_with_one_line(
        &strings(&[
            "--tls",
            "--cacert",
            &srv.ca_arg(),
            "-p",
            &srv.port_arg(),
            "-t",
            "set",
            "-n",
            "10",
            "-q",
            "--no-save",
        ]),
        1,
        &["has expired"],
    );
}

#[test]
fn tls_client_against_a_plain_port() {
    let dep = spawn_standalone(&[]);
    let certs = TempDir::new("tls-to-plain");
    let files = make_tls_files(&certs, "tls");
    fails_with_one_line(
        &args_for(
            &dep,
            &[
                "--tls",
                "--cacert",
                &files.ca.to_string_lossy(),
                "-t",
                "set",
                "-n",
                "10",
                "-q",
                "--no-save",
            ],
        ),
        1,
        &["is it a TLS port?"],
    );
}

#[test]
fn plain_client_against_a_tls_port() {
    let srv = TlsServer::start(&[]);
    fails_with_one_line(
        &strings(&[
            "-p",
            &srv.port_arg(),
            "-t",
            "set",
            "-n",
            "10",
            "-q",
            "--no-save",
        ]),
        1,
        &["is it a TLS port? pass --tls"],
    );
}

#[test]
fn tls_flags_without_tls_are_usage_errors() {
    let certs = TempDir::new("tls-flags");
    let files = make_tls_files(&certs, "tls");
    let ca = files.ca.to_string_lossy().into_owned();
    let port = free_port().to_string();
    for flags in [
        vec!["--cacert", ca.as_str()],
        vec!["--insecure"],
        vec!["--sni", "localhost"],
    ] {
        let mut args = flags.clone();
        args.extend(["-p", &port, "-t", "set", "-n", "10", "-q", "--no-save"]);
        fails_with_one_line(&strings(&args), 2, &[]);
    }
}

#[test]
fn client_certificate_required_by_the_server() {
    let srv = TlsServer::start(&["--tls-auth-clients", "yes"]);
    let base = strings(&[
        "--tls",
        "--cacert",
        &srv.ca_arg(),
        "-p",
        &srv.port_arg(),
        "-t",
        "set",
        "-n",
        "200",
        "-q",
        "--no-save",
    ]);
    let line = fails_with_one_line(&base, 1, &[]);
    assert!(
        line.contains("requires a client certificate") && line.contains("--cert"),
        "the refusal should say a client certificate is missing: {line}"
    );
    assert_eq!(cmdstat_calls(&srv.cli(&["INFO", "commandstats"]), "set"), 0);

    // The server's own certificate is signed by the same CA, so it serves as a client one.
    let mut with_cert = base.clone();
    with_cert.extend([
        "--cert".to_string(),
        srv.files.cert.to_string_lossy().into_owned(),
        "--key".to_string(),
        srv.files.key.to_string_lossy().into_owned(),
    ]);
    run_rbench(&with_cert).assert_ok();
    assert_eq!(
        cmdstat_calls(&srv.cli(&["INFO", "commandstats"]), "set"),
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Spawned TLS deployments from a profile
// ---------------------------------------------------------------------------------------------

/// Runs `profile` (written to a temp file) and checks both tests ran with no errors and made a
/// table row each.
fn run_profile_clean(profile: &str, target: &str) {
    let tmp = TempDir::new("tls-profile");
    let file = tmp.join("p.toml");
    std::fs::write(&file, profile).expect("writing the profile");
    let out = run_rbench_env(
        &strings(&["-c", &file.to_string_lossy(), "--no-save"]),
        &[],
        Duration::from_secs(180),
    );
    out.assert_ok();
    for test in ["SET", "GET"] {
        assert!(
            out.stdout
                .contains(&format!("====== {test} on {target} ======")),
            "no {test} section:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("3000 requests completed"),
            "{}",
            out.stdout
        );
        let row = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("| {test} ")))
            .unwrap_or_else(|| panic!("no table row for {test}:\n{}", out.stdout));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let rps: f64 = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("TPS cell not a number: {row}"));
        assert!(rps > 0.0, "{row}");
    }
    assert_eq!(
        out.stdout.matches("errors: none").count(),
        2,
        "every test must be error-free:\n{}",
        out.stdout
    );
    for l in out.stdout.lines().chain(out.stderr.lines()) {
        let low = l.to_lowercase();
        assert!(
            !low.contains("error") || l.trim() == "errors: none",
            "error line: {l}\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn spawned_tls_cluster_from_a_profile() {
    run_profile_clean(
        r#"
[defaults]
tests = ["set", "get"]
requests = 3000
clients = 10

[[target]]
name = "c"
spawn = "cluster"
tls = true
"#,
        "c",
    );
}

#[test]
fn spawned_tls_standalone_from_a_profile() {
    run_profile_clean(
        r#"
[defaults]
tests = ["set", "get"]
requests = 3000
clients = 10

[[target]]
name = "s"
spawn = "standalone"
tls = true
"#,
        "s",
    );
}

// ---------------------------------------------------------------------------------------------
// URIs
// ---------------------------------------------------------------------------------------------

/// Adds user `app` (password `secret`, all commands) and takes SET away from the default user, so
/// a SET benchmark only succeeds when rbench really logs in as `app`.
fn with_acl_user(dep: &Deployment) {
    let r = cli(
        dep,
        &["ACL", "SETUSER", "app", "on", ">secret", "~*", "+@all"],
    );
    assert_eq!(r, "OK");
    assert_eq!(cli(dep, &["ACL", "SETUSER", "default", "-set"]), "OK");
}

#[test]
fn uri_with_user_password_and_db() {
    let dep = spawn_standalone(&[]);
    with_acl_user(&dep);
    let uri = format!("redis://app:secret@127.0.0.1:{}/2", dep.addr().port());
    run_rbench(&strings(&[
        "-u",
        &uri,
        "-t",
        "set",
        "-n",
        "500",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    assert!(cli_int(&dep, &["-n", "2", "DBSIZE"]) > 0);
    assert_eq!(cli_int(&dep, &["-n", "0", "DBSIZE"]), 0);
    // The same run as the default user is refused (so the one above really logged in as `app`).
    let port = dep.addr().port().to_string();
    let out = run_rbench(&strings(&[
        "-p",
        &port,
        "--dbnum",
        "6",
        "-t",
        "set",
        "-n",
        "50",
        "-q",
        "--no-save",
    ]));
    out.assert_no_panic();
    assert_ne!(out.code, 0, "SET as the default user should fail: {out:?}");
    assert_eq!(cli_int(&dep, &["-n", "6", "DBSIZE"]), 0);
}

#[test]
fn uri_with_password_only() {
    let dep = spawn_standalone(&["--requirepass", "pw0rd"]);
    let uri = format!("redis://:pw0rd@127.0.0.1:{}/1", dep.addr().port());
    let out = run_rbench(&strings(&[
        "-u",
        &uri,
        "-t",
        "set",
        "-n",
        "300",
        "-q",
        "--no-save",
    ]));
    out.assert_ok();
    assert!(
        cli_int(
            &dep,
            &["-a", "pw0rd", "--no-auth-warning", "-n", "1", "DBSIZE"]
        ) > 0
    );
    assert_eq!(
        cli_int(
            &dep,
            &["-a", "pw0rd", "--no-auth-warning", "-n", "0", "DBSIZE"]
        ),
        0
    );
}

#[test]
fn uri_with_a_wrong_password_fails_without_printing_it() {
    let dep = spawn_standalone(&[]);
    with_acl_user(&dep);
    let wrong = "NotTheSecret123";
    let uri = format!("redis://app:{wrong}@127.0.0.1:{}/2", dep.addr().port());
    let out = run_rbench_env(
        &strings(&["-u", &uri, "-t", "set", "-n", "100", "-q", "--no-save"]),
        &[],
        FAIL_BOUND,
    );
    out.assert_no_panic();
    assert_eq!(out.code, 1, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("WRONGPASS") || all.contains("authentication failed"),
        "{all}"
    );
    assert!(!all.contains(wrong), "the password was printed: {all}");
    assert_eq!(cli_int(&dep, &["-n", "2", "DBSIZE"]), 0);
}

#[test]
fn uri_with_an_unknown_scheme_is_a_usage_error() {
    let out = run_rbench_env(
        &strings(&["-u", "http://x", "-t", "set", "-n", "10", "-q", "--no-save"]),
        &[],
        FAIL_BOUND,
    );
    out.assert_no_panic();
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn explicit_dbnum_beats_the_uri_db() {
    let dep = spawn_standalone(&[]);
    with_acl_user(&dep);
    let uri = format!("redis://app:secret@127.0.0.1:{}/2", dep.addr().port());
    run_rbench(&strings(&[
        "-u",
        &uri,
        "--dbnum",
        "3",
        "-t",
        "set",
        "-n",
        "300",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    assert!(cli_int(&dep, &["-n", "3", "DBSIZE"]) > 0);
    assert_eq!(cli_int(&dep, &["-n", "2", "DBSIZE"]), 0);
    assert_eq!(cli_int(&dep, &["-n", "0", "DBSIZE"]), 0);
}

#[test]
fn explicit_port_beats_the_uri_port() {
    let dep = spawn_standalone(&[]);
    // Nothing listens on the URI's port; -p names the real server.
    let uri = format!("redis://127.0.0.1:{}/4", free_port());
    run_rbench(&strings(&[
        "-u",
        &uri,
        "-p",
        &dep.addr().port().to_string(),
        "-t",
        "set",
        "-n",
        "200",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    assert!(cli_int(&dep, &["-n", "4", "DBSIZE"]) > 0);
}

#[test]
fn explicit_user_and_password_beat_the_uri_ones() {
    let dep = spawn_standalone(&[]);
    with_acl_user(&dep);
    let uri = format!("redis://app:NotTheSecret@127.0.0.1:{}/5", dep.addr().port());
    run_rbench(&strings(&[
        "-u",
        &uri,
        "--user",
        "app",
        "-a",
        "secret",
        "--no-auth-warning",
        "-t",
        "set",
        "-n",
        "200",
        "-q",
        "--no-save",
    ]))
    .assert_ok();
    assert!(cli_int(&dep, &["-n", "5", "DBSIZE"]) > 0);
}

#[test]
fn client_certificate_from_another_ca_is_rejected() {
    let srv = TlsServer::start(&["--tls-auth-clients", "yes"]);
    // Another server's certificate: signed by a CA `srv` does not trust.
    let other = TlsServer::start(&[]);
    let cert = other.files.cert.to_string_lossy().into_owned();
    let key = other.files.key.to_string_lossy().into_owned();
    let args = strings(&[
        "--tls",
        "--cacert",
        &srv.ca_arg(),
        "--cert",
        &cert,
        "--key",
        &key,
        "-p",
        &srv.port_arg(),
        "-t",
        "set",
        "-n",
        "100",
        "-q",
        "--no-save",
    ]);
    let line = fails_with_one_line(&args, 1, &["rejected rbench's client certificate"]);
    assert!(line.contains("--cert"), "{line}");
    assert_eq!(cmdstat_calls(&srv.cli(&["INFO", "commandstats"]), "set"), 0);
}
