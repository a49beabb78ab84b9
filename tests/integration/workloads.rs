//! Workloads users describe (`--command NAME=TEMPLATE`, `[[command]]`), judged by what real servers
//! did (`INFO commandstats`, the keys and TTLs left behind): a mix of templated commands and built-in
//! tests runs exactly `-n` calls on a standalone server and on a 3+3 cluster, TTLs land in their
//! ranges (SET ... PX, or a pipelined PEXPIRE in its own `NAME:expire` row), a hot set takes its
//! share, a MULTI/EXEC sequence is one request (and an aborted one is `execabort`, exit 3),
//! multi-key commands share a slot on a cluster, scripts are loaded on every master and called by
//! SHA, every command of a mix has its HDR files, the shipped `profiles/workloads/` run, and bad
//! workloads are refused in one line (exit 2, `file:line` in a profile) before anything is
//! contacted.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Commands the test itself or rbench's set-up may add: CONFIG RESETSTAT, INFO, rbench's CONFIG
/// GET.
fn bookkeeping(name: &str) -> bool {
    name == "info" || name == "config" || name.starts_with("config|")
}

/// `INFO commandstats` of node `i` as command → calls (`script|load` → n).
fn calls_on(dep: &Deployment, i: usize) -> BTreeMap<String, u64> {
    let text = cli_node(dep, i, &["INFO", "commandstats"]);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("cmdstat_"))
        .map(|l| {
            let (name, rest) = l.split_once(':').expect("cmdstat line");
            let calls = rest
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no calls in {l}"));
            (name.to_string(), calls)
        })
        .collect()
}

/// The calls of every master of `dep` added up, bookkeeping left out.
fn master_calls(dep: &Deployment) -> BTreeMap<String, u64> {
    let mut all = BTreeMap::new();
    for i in master_indexes(dep) {
        for (name, n) in calls_on(dep, i) {
            *all.entry(name).or_insert(0) += n;
        }
    }
    all.retain(|name, _| !bookkeeping(name));
    all
}

/// CONFIG RESETSTAT on every master of `dep`.
fn reset_masters(dep: &Deployment) {
    for i in master_indexes(dep) {
        assert_eq!(cli_node(dep, i, &["CONFIG", "RESETSTAT"]), "OK");
    }
}

fn calls(got: &BTreeMap<String, u64>, cmd: &str) -> u64 {
    got.get(cmd).copied().unwrap_or(0)
}

/// A mix draws each request's command at random by weight: `got` calls of a command of weight
/// `weight` out of `total` in a run of `n` requests must lie within five standard deviations of
/// the binomial mean (a wrong weight is off by far more; a right one fails about once in 10^6).
fn assert_share(what: &str, got: u64, n: u64, weight: u64, total: u64) {
    let p = weight as f64 / total as f64;
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (got as f64 - mean).abs() <= 5.0 * sd,
        "{what}: {got} calls of {n}, want {mean:.0} ± {:.0} (weight {weight} of {total})",
        5.0 * sd
    );
}

/// `-h 127.0.0.1 -p PORT --cluster` for the first master of a cluster, then `rest`.
fn cluster_args(dep: &Deployment, rest: &[&str]) -> Vec<String> {
    let seed = dep.nodes()[master_indexes(dep)[0]].addr.port().to_string();
    let mut v = strings(&["--cluster", "-h", "127.0.0.1", "-p", &seed]);
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// The file names under `dir/hdr`.
fn hdr_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("hdr"))
        .unwrap_or_else(|e| panic!("reading {}/hdr: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Asserts `dir/hdr` has a `.hdr` and a `.hlog` for each of `tests` (`<run>-<target>-<test>-r1`).
fn assert_hdr_files(dir: &Path, tests: &[&str]) {
    let names = hdr_names(dir);
    for test in tests {
        for ext in ["hdr", "hlog"] {
            let suffix = format!("-{test}-r1.{ext}");
            let found = names.iter().filter(|n| n.ends_with(&suffix)).count();
            assert_eq!(found, 1, "one *{suffix} in {names:?}");
        }
    }
}

/// A `[[target]]` naming an existing server.
fn addr_target(port: u16) -> String {
    format!("\n[[target]]\nname = \"here\"\naddr = \"127.0.0.1:{port}\"\n")
}

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
        + 1
}

/// Every key matching `pattern` with its PTTL, read in one Lua call.
fn pttls(dep: &Deployment, pattern: &str) -> Vec<i64> {
    let script = "local r = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                  r[#r + 1] = redis.call('PTTL', k) end return r";
    Redis::connect(dep.addr())
        .cmd(&["EVAL", script, "0", pattern])
        .array()
        .iter()
        .map(|v| v.int())
        .collect()
}

/// One `rbench ARGS` that must be refused: exit 2, no panic, nothing on stdout, one stderr line
/// that starts with `prefix` (a profile's `path:line:`, or "" for flags) and contains `needle`.
fn assert_refused(what: &str, args: &[String], prefix: &str, needle: &str) {
    let res = run_rbench(args);
    res.assert_no_panic();
    assert_eq!(res.code, 2, "{what}: {res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{what}: stderr:\n{}", res.stderr);
    assert!(
        lines[0].starts_with(prefix),
        "{what}: want a line starting with {prefix:?}, got {:?}",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "{what}: want {needle:?} in {:?}",
        lines[0]
    );
    assert!(res.stdout.trim().is_empty(), "{what}: {}", res.stdout);
}

// ---------------------------------------------------------------------------------------------
// Exact accounting
// ---------------------------------------------------------------------------------------------

const MIX_ARGS: [&str; 16] = [
    "-n",
    "20000",
    "-r",
    "1000",
    "-P",
    "7",
    "--clients",
    "5",
    "--threads",
    "2",
    "--command",
    "r=GET __key__",
    "--command",
    "w=SET __key__ __data__",
    "--mix",
    "r=3,w=1,incr=1",
];

/// The server ran exactly 20000 calls of the mix's three commands in its 3:1:1 shares, each
/// command's row says as many requests as the server ran, and nothing failed.
fn assert_mix_accounting(got: &BTreeMap<String, u64>, out: &Path) {
    let n = 20000;
    let want = [("get", "r", 3), ("set", "w", 1), ("incr", "INCR", 1)];
    let sum: u64 = want.iter().map(|(cmd, _, _)| calls(got, cmd)).sum();
    assert_eq!(sum, n, "{got:?}");
    let csv = results_csv(out);
    for (cmd, test, weight) in want {
        assert_share(test, calls(got, cmd), n, weight, 5);
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "requests"), calls(got, cmd) as f64, "{row:?}");
        assert_eq!(csv.num(row, "ok"), calls(got, cmd) as f64, "{row:?}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
        assert_eq!(csv.get(row, "error_classes"), "", "{row:?}");
        assert_eq!(csv.get(row, "mix"), "true", "{row:?}");
    }
    assert_eq!(csv.rows.len(), 3, "{}", csv.text);
}

/// `--command` names and built-in tests in one `--mix`: exactly `-n` calls whatever `-P`,
/// `--clients` and `--threads`, in the mix's shares, each command a row (runs.csv, the timeline,
/// its HDR files) named as the user named it; the commands' `__key__` is the built-in SET/GET's
/// `key:{}` pattern.
#[test]
fn a_mix_of_commands_and_tests_runs_exactly_n() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("wl-mix");
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    let mut args = vec!["-q", "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(&MIX_ARGS);
    let res = run_rbench(&args_for(&dep, &args));
    res.assert_ok();
    let mut got = command_calls(&dep);
    got.retain(|name, _| !bookkeeping(name));
    // Nothing but the three commands (the CONFIG GET of set-up is bookkeeping).
    let sent: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(sent, ["get", "incr", "set"], "{got:?}");
    assert_mix_accounting(&got, out.path());

    let mut printed: Vec<String> = res
        .stdout
        .lines()
        .map(|l| {
            parse_quiet_line(l)
                .unwrap_or_else(|| panic!("bad -q line {l:?}"))
                .0
        })
        .collect();
    printed.sort();
    assert_eq!(printed, ["INCR", "r", "w"], "{}", res.stdout);
    let timeline = read_timeline(out.path());
    for test in ["r", "w", "INCR"] {
        assert!(
            !timeline.rows_for_test(test).is_empty(),
            "no {test} in the timeline:\n{}",
            timeline.text
        );
    }
    assert_hdr_files(out.path(), &["r", "w", "INCR"]);

    // `w` wrote the keys SET would (key:NNNNNNNNNNNN within -r), INCR its counters: nothing else.
    let keys = count_keys(&dep, "key:*");
    assert!((1..=1000).contains(&keys), "{keys} key:* keys");
    let counters = count_keys(&dep, "counter:*");
    assert_eq!(cli_int(&dep, &["DBSIZE"]), keys + counters);
    assert_eq!(
        sum_over_keys(&dep, "counter:*", "GET"),
        calls(&got, "incr") as i64
    );
}

// ---------------------------------------------------------------------------------------------
// On a cluster
// ---------------------------------------------------------------------------------------------

/// On a 3+3 cluster: the same mix, exactly -n calls summed over the masters; `__keys_N__` and
/// `__pairs_N__` requests whose keys share a hash tag (no CROSSSLOT, no redirect); a script
/// loaded on every master and called by its SHA.
#[test]
fn commands_on_a_cluster() {
    let dep = spawn_cluster(&[]);
    let _turn = serial();
    cluster_mix_runs_exactly_n(&dep);
    multi_key_commands_share_a_slot(&dep);
    a_script_is_loaded_on_every_master(&dep);
    fcall_and_mget_tests_run(&dep, true);
}

/// valkey-benchmark's FCALL test (a library of --num-functions loaded on every master, each call
/// with --num-keys-in-fcall keys) and MGET: exactly -n calls, every function's one EXISTS, no
/// error (a call's keys share a slot on a cluster).
fn fcall_and_mget_tests_run(dep: &Deployment, cluster: bool) {
    reset_masters(dep);
    let out = TempDir::new("wl-fcall");
    let args = [
        "-q",
        "--out",
        out.path().to_str().unwrap(),
        "-n",
        "2000",
        "-r",
        "100000",
        "-P",
        "3",
        "-t",
        "fcall,mget",
        "--num-functions",
        "7",
        "--num-keys-in-fcall",
        "3",
    ];
    let argv = match cluster {
        true => cluster_args(dep, &args),
        false => args_for(dep, &args),
    };
    run_rbench(&argv).assert_ok();
    let got = master_calls(dep);
    assert_eq!(calls(&got, "fcall"), 2000, "{got:?}");
    assert_eq!(calls(&got, "exists"), 2000, "{got:?}");
    assert_eq!(calls(&got, "mget"), 2000, "{got:?}");
    let masters = master_indexes(dep).len() as u64;
    assert_eq!(calls(&got, "function|load"), masters, "{got:?}");
    let csv = results_csv(out.path());
    for test in ["FCALL", "MGET (10 keys)"] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "ok"), 2000.0, "{row:?}");
        assert_eq!(csv.get(row, "error_classes"), "", "{row:?}");
    }
    // Seven functions, all called.
    let listed = cli(dep, &["FUNCTION", "LIST", "LIBRARYNAME", "rbench"]);
    assert_eq!(listed.matches("rbench_f").count(), 7, "{listed}");
}

#[test]
fn fcall_and_mget_on_a_server() {
    let dep = spawn_standalone(&[]);
    fcall_and_mget_tests_run(&dep, false);
}

fn cluster_mix_runs_exactly_n(dep: &Deployment) {
    let out = TempDir::new("wl-cluster-mix");
    reset_masters(dep);
    let mut args = vec!["-q", "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(&MIX_ARGS);
    run_rbench(&cluster_args(dep, &args)).assert_ok();
    let got = master_calls(dep);
    assert_mix_accounting(&got, out.path());
    // Every master served some of it: routed by slot, not all to the seed.
    for i in master_indexes(dep) {
        let c = calls_on(dep, i);
        assert!(calls(&c, "get") > 0, "master {i}: {c:?}");
    }
}

fn multi_key_commands_share_a_slot(dep: &Deployment) {
    for i in master_indexes(dep) {
        assert_eq!(cli_node(dep, i, &["FLUSHALL"]), "OK");
    }
    reset_masters(dep);
    let out = TempDir::new("wl-cluster-multikey");
    let args = [
        "-q",
        "--out",
        out.path().to_str().unwrap(),
        "-n",
        "1000",
        "-r",
        "100000",
        "-P",
        "4",
        "--clients",
        "4",
        "--command",
        "mg=MGET __keys_5__",
        "--command",
        "ms=MSET __pairs_3__",
    ];
    run_rbench(&cluster_args(dep, &args)).assert_ok();
    let got = master_calls(dep);
    let (mget, mset) = (calls(&got, "mget"), calls(&got, "mset"));
    assert_eq!(mget + mset, 1000, "{got:?}");
    // Without --mix, the commands run as one mix of weight 1 each.
    assert_share("mg", mget, 1000, 1, 2);
    let csv = results_csv(out.path());
    for (test, n) in [("mg", mget), ("ms", mset)] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "ok"), n as f64, "{row:?}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
        // crossslot, moved or ask would show here.
        assert_eq!(csv.get(row, "error_classes"), "", "{row:?}");
    }
    // The pairs' keys: `key:{TAG}digits`, three distinct ones per MSET (bar a rare repeat).
    let mut keys = Vec::new();
    for i in master_indexes(dep) {
        let text = cli_node(dep, i, &["KEYS", "*"]);
        keys.extend(text.lines().map(String::from));
    }
    assert!(
        keys.len() as u64 > 2 * mset,
        "{} keys for {mset} MSETs",
        keys.len()
    );
    for k in &keys {
        let tagged = k.strip_prefix("key:{").and_then(|r| r.split_once('}'));
        assert!(
            tagged.is_some_and(|(tag, digits)| !tag.is_empty()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())),
            "key {k:?} is not key:{{TAG}}digits"
        );
    }
}

fn a_script_is_loaded_on_every_master(dep: &Deployment) {
    let dir = TempDir::new("wl-cluster-script");
    let script = write_file_arg(
        &dir,
        "incrby.lua",
        "return redis.call('INCRBY', KEYS[1], ARGV[1])\n",
    );
    let profile = format!(
        "[defaults]\nrequests = 600\nclients = 3\n\n[[command]]\nname = \"lua\"\n\
         command = \"EVALSHA __sha__ 1 __key__ 2\"\nkey = \"lua:{{}}\"\nscript = \"{script}\"\n"
    );
    let p = write_file_arg(&dir, "script.toml", &format!("{profile}{}", addr_target(1)));
    reset_masters(dep);
    // The flags name the cluster: they replace the profile's target.
    run_rbench(&cluster_args(dep, &["-c", &p, "-q", "--no-save"])).assert_ok();
    for i in master_indexes(dep) {
        let c = calls_on(dep, i);
        // `script|load` (Redis 7), `script` before.
        let loads = calls(&c, "script|load") + calls(&c, "script");
        assert!(loads >= 1, "master {i}: {c:?}");
        assert!(calls(&c, "evalsha") > 0, "master {i}: {c:?}");
    }
    let got = master_calls(dep);
    assert_eq!(calls(&got, "evalsha"), 600, "{got:?}");
    assert_eq!(calls(&got, "incrby"), 600, "{got:?}");
    assert_eq!(calls(&got, "eval"), 0, "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// TTLs, hot sets, sequences, scripts on a standalone server
// ---------------------------------------------------------------------------------------------

/// `ttl` on SET goes out as SET ... PX (no other command); on HSET as a pipelined PEXPIRE counted
/// in its own `h:expire` row. Every key the run left has a TTL inside its command's range.
#[test]
fn ttls_land_in_their_ranges() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("wl-ttl");
    let out = TempDir::new("wl-ttl-out");
    let profile = format!(
        "[defaults]\nrequests = 4000\nkeyspace = 100000\npipeline = 5\nclients = 4\n\n\
         [[command]]\nname = \"s\"\ncommand = \"SET __key__ __data__\"\nkey = \"t:{{}}\"\n\
         ttl = \"30s-300s\"\n\n\
         [[command]]\nname = \"h\"\ncommand = \"HSET __key__ f __data__\"\nkey = \"h:{{}}\"\n\
         ttl = \"60s\"\n{}",
        addr_target(dep.addr().port())
    );
    let p = write_file_arg(&dir, "ttl.toml", &profile);
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    let started = Instant::now();
    run_rbench(&strings(&["-c", &p, "-q", "--out", &out.arg()])).assert_ok();

    let mut got = command_calls(&dep);
    got.retain(|name, _| !bookkeeping(name));
    let (set, hset) = (calls(&got, "set"), calls(&got, "hset"));
    assert_eq!(set + hset, 4000, "{got:?}");
    assert_eq!(
        calls(&got, "pexpire"),
        hset,
        "one PEXPIRE per HSET: {got:?}"
    );
    let sent: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(sent, ["hset", "pexpire", "set"], "{got:?}");

    let csv = results_csv(out.path());
    let tests: Vec<&str> = csv.rows.iter().map(|r| csv.get(r, "test")).collect();
    assert!(
        !tests.contains(&"s:expire"),
        "SET takes PX, no PEXPIRE: {tests:?}"
    );
    assert_eq!(csv.rows.len(), 3, "{}", csv.text);
    for (test, n) in [("s", set), ("h", hset), ("h:expire", hset)] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "requests"), n as f64, "{row:?}");
        assert_eq!(csv.num(row, "ok"), n as f64, "{row:?}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
    }

    // Every key, read back: a TTL within its range, less the time since the run started.
    let slack = started.elapsed().as_millis() as i64 + 1000;
    let strings_ttl = pttls(&dep, "t:*");
    let hashes_ttl = pttls(&dep, "h:*");
    assert!(strings_ttl.len() > 100, "{} t:* keys", strings_ttl.len());
    assert!(hashes_ttl.len() > 100, "{} h:* keys", hashes_ttl.len());
    for t in &strings_ttl {
        assert!((30_000 - slack..=300_000).contains(t), "t:* PTTL {t}");
    }
    for t in &hashes_ttl {
        assert!((60_000 - slack..=60_000).contains(t), "h:* PTTL {t}");
    }
    // Drawn across the range, not one value.
    let (lo, hi) = (
        strings_ttl.iter().min().unwrap(),
        strings_ttl.iter().max().unwrap(),
    );
    assert!(hi - lo >= 60_000, "t:* TTLs from {lo} to {hi} ms");
}

/// `key_dist = "hot:1%:90%"`: the 100 busiest of 10000 counters took 90% (± 2%) of 50000 INCRs,
/// every one of which the server ran.
#[test]
fn a_hot_set_takes_its_share() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("wl-hot");
    let profile = format!(
        "[defaults]\nrequests = 50000\npipeline = 10\nclients = 4\n\n\
         [[command]]\nname = \"hit\"\ncommand = \"INCR __key__\"\nkey = \"hot:{{}}\"\n\
         keyspace = 10000\nkey_dist = \"hot:1%:90%\"\n{}",
        addr_target(dep.addr().port())
    );
    let p = write_file_arg(&dir, "hot.toml", &profile);
    run_rbench(&strings(&["-c", &p, "-q", "--no-save"])).assert_ok();
    let script = "local r = {} for _, k in ipairs(redis.call('KEYS', 'hot:*')) do \
                  r[#r + 1] = tonumber(redis.call('GET', k)) end return r";
    let mut counts: Vec<i64> = Redis::connect(dep.addr())
        .cmd(&["EVAL", script, "0"])
        .array()
        .iter()
        .map(|v| v.int())
        .collect();
    assert!(
        counts.len() <= 10000,
        "{} keys for keyspace 10000",
        counts.len()
    );
    assert_eq!(cli_int(&dep, &["DBSIZE"]), counts.len() as i64);
    let total: i64 = counts.iter().sum();
    assert_eq!(total, 50000);
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: i64 = counts.iter().take(100).sum();
    let share = top as f64 / total as f64;
    eprintln!("hot:1%:90%: the 100 busiest keys took {share:.4} of {total}");
    assert!((0.88..=0.92).contains(&share), "top 100 keys: {share}");
    // The cold keys were drawn too (not a 100-key key space).
    assert!(counts.len() > 1000, "{} keys", counts.len());
}

/// A MULTI/EXEC sequence is one request: -n 1000 is 1000 of each of its commands, one row with
/// 1000 ok, and the EXPIRE inside it took effect.
#[test]
fn a_transaction_is_one_request() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("wl-txn");
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    let args = [
        "-q",
        "--out",
        out.path().to_str().unwrap(),
        "-n",
        "1000",
        "-r",
        "200",
        "-P",
        "4",
        "--clients",
        "3",
        "--command",
        "txn=MULTI; INCR c:__key__; EXPIRE c:__key__ 60; EXEC",
    ];
    run_rbench(&args_for(&dep, &args)).assert_ok();
    let mut got = command_calls(&dep);
    got.retain(|name, _| !bookkeeping(name));
    let want: BTreeMap<String, u64> = ["multi", "incr", "expire", "exec"]
        .iter()
        .map(|c| (c.to_string(), 1000))
        .collect();
    assert_eq!(got, want);
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 1, "{}", csv.text);
    let row = csv.row_for_test("txn");
    assert_eq!(csv.num(row, "requests"), 1000.0, "{row:?}");
    assert_eq!(csv.num(row, "ok"), 1000.0, "{row:?}");
    assert_eq!(csv.num(row, "errors"), 0.0, "{row:?}");
    assert_eq!(csv.get(row, "error_classes"), "", "{row:?}");
    assert_eq!(sum_over_keys(&dep, "c:*", "GET"), 1000);
    let ttls = pttls(&dep, "c:*");
    assert!(!ttls.is_empty());
    assert!(ttls.iter().all(|t| (1..=60_000).contains(t)), "{ttls:?}");
}

/// A transaction the server aborts (an unknown command queued) fails every request as
/// `execabort`: the results are saved and the run exits 3 naming the command and the class.
#[test]
fn an_aborted_transaction_is_execabort_and_exit_3() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("wl-abort");
    let args = [
        "-q",
        "--out",
        out.path().to_str().unwrap(),
        "-n",
        "200",
        "--clients",
        "2",
        "--command",
        "bad=MULTI; NOSUCHCMD __key__; EXEC",
    ];
    let res = run_rbench(&args_for(&dep, &args));
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    let last = res.stderr_lines().last().copied().unwrap_or("");
    assert!(
        last.contains("bad on") && last.contains("execabort=200"),
        "{last}"
    );
    let csv = results_csv(out.path());
    let row = csv.row_for_test("bad");
    assert_eq!(csv.num(row, "ok"), 0.0, "{row:?}");
    assert_eq!(csv.num(row, "errors"), 200.0, "{row:?}");
    assert_eq!(csv.get(row, "error_classes"), "execabort=200", "{row:?}");
    assert_eq!(
        cmdstat_calls(&cli(&dep, &["INFO", "commandstats"]), "multi"),
        200
    );
}

/// NOSCRIPT (the server's scripts flushed mid-run): the script is loaded again and the calls go
/// on; any failed request is of class `noscript`.
#[test]
fn a_flushed_script_is_loaded_again() {
    let _turn = serial();
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("wl-noscript");
    let out = TempDir::new("wl-noscript-out");
    let script = write_file_arg(&dir, "incr.lua", "return redis.call('INCR', KEYS[1])\n");
    let profile = format!(
        "[defaults]\nclients = 2\nrps = 400\nduration = \"3s\"\nmax_error_rate = \"100%\"\n\n\
         [[command]]\nname = \"lua\"\ncommand = \"EVALSHA __sha__ 1 __key__\"\n\
         key = \"s:{{}}\"\nscript = \"{script}\"\n{}",
        addr_target(dep.addr().port())
    );
    let p = write_file_arg(&dir, "noscript.toml", &profile);
    let run = Running::start(&strings(&["-c", &p, "-q", "--out", &out.arg()]), &[]);
    wait_for("EVALSHA calls", Duration::from_secs(20), || {
        cmdstat_calls(&cli(&dep, &["INFO", "commandstats"]), "evalsha") > 50
    });
    // Counters first: the reload after the flush must fall after the reset.
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    assert_eq!(cli(&dep, &["SCRIPT", "FLUSH"]), "OK");
    let res = run.wait(RUN_TIMEOUT);
    res.assert_ok();
    let after = command_calls(&dep);
    // (Before Redis 7, `script` counts the FLUSH too.)
    let loads = calls(&after, "script|load") + calls(&after, "script").saturating_sub(1);
    assert!(loads >= 1, "not loaded again after SCRIPT FLUSH: {after:?}");
    // Calls after the flush ran the script (each INCR is one of the script's).
    assert!(calls(&after, "incr") > 100, "{after:?}");
    let csv = results_csv(out.path());
    let row = csv.row_for_test("lua");
    let classes = csv.get(row, "error_classes");
    assert!(
        classes.is_empty() || classes.split(' ').all(|c| c.starts_with("noscript=")),
        "{row:?}"
    );
    assert!(csv.num(row, "ok") > 0.0, "{row:?}");
}

// ---------------------------------------------------------------------------------------------
// Files, the shipped profiles, bad input
// ---------------------------------------------------------------------------------------------

/// Every command of a mix gets its own `.hdr` and `.hlog`, not only the last one.
#[test]
fn every_command_of_a_mix_has_its_hdr_files() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("wl-mix-hdr");
    let args = [
        "-q",
        "--out",
        out.path().to_str().unwrap(),
        "--mix",
        "set=1,get=1",
        "-n",
        "2000",
        "-r",
        "100",
    ];
    run_rbench(&args_for(&dep, &args)).assert_ok();
    assert_hdr_files(out.path(), &["SET", "GET"]);
    assert_eq!(
        hdr_names(out.path()).len(),
        4,
        "{:?}",
        hdr_names(out.path())
    );
}

fn shipped_workload(name: &str) -> String {
    format!("{}/profiles/workloads/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Each shipped workload runs on the server it spawns: exit 0, a row with successes for every
/// command it names (and a `NAME:expire` row for a TTL on anything but SET), -n shared by them.
#[test]
fn the_shipped_workloads_run() {
    let _turn = serial();
    for name in [
        "cache.toml",
        "session.toml",
        "leaderboard.toml",
        "ratelimiter.toml",
        "queue.toml",
    ] {
        let path = shipped_workload(name);
        let text = std::fs::read_to_string(&path).expect("a shipped profile");
        let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        let commands = doc["command"].as_array().expect("[[command]] entries");
        assert!(!commands.is_empty(), "{name}");
        let out = TempDir::new("wl-shipped");
        let res = run_rbench(&strings(&[
            "-c",
            &path,
            "-n",
            "2000",
            "-q",
            "--out",
            &out.arg(),
        ]));
        res.assert_ok();
        let csv = results_csv(out.path());
        let mut requests = 0.0;
        for c in commands {
            let test = c["name"].as_str().expect("name");
            let template = c["command"].as_str().expect("command");
            let row = csv.row_for_test(test);
            let ctx = format!("{name}: {test}: {row:?}");
            assert!(csv.num(row, "ok") > 0.0, "{ctx}");
            assert_eq!(csv.num(row, "errors"), 0.0, "{ctx}");
            requests += csv.num(row, "requests");
            let plain_set = template.to_ascii_uppercase().starts_with("SET ");
            if c.get("ttl").is_some() && !plain_set {
                let expire = csv.row_for_test(&format!("{test}:expire"));
                assert_eq!(csv.num(expire, "ok"), csv.num(row, "ok"), "{ctx}");
            }
        }
        assert_eq!(
            requests, 2000.0,
            "{name}: -n is the commands' total\n{}",
            csv.text
        );
        eprintln!("{name}: {} rows, all ok", csv.rows.len());
    }
}

/// Bad workloads: exit 2, one line (`file:line:` first for a profile), nothing contacted (the
/// targets are ports nobody listens on: a connection attempt would be exit 1).
#[test]
fn bad_workloads_are_refused_in_one_line() {
    let dir = TempDir::new("wl-bad");
    let port = free_port();
    let target = addr_target(port);
    let head = "# a bad workload\n[defaults]\nrequests = 10\n\n";
    let command = |body: &str| format!("{head}[[command]]\nname = \"x\"\n{body}\n{target}");
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "placeholder",
            command("command = \"GET __foo__\""),
            "command =",
            "__foo__",
        ),
        (
            "weight",
            command("command = \"GET __key__\"\nweight = 0"),
            "weight =",
            "weight",
        ),
        (
            "sizes",
            command("command = \"SET __key__ __data__\"\ndata_size = \"32:x\""),
            "data_size =",
            "32:x",
        ),
        (
            "ttl",
            command("command = \"SET __key__ __data__\"\nttl = \"300s-30s\""),
            "ttl =",
            "300s-30s",
        ),
        (
            "sequence",
            command("command = \"MULTI; INCR a\""),
            "command =",
            "EXEC",
        ),
        (
            "script",
            command("command = \"EVALSHA __sha__ 1 __key__\"\nscript = \"missing.lua\""),
            "script =",
            "missing.lua",
        ),
        (
            "builtin-name",
            format!("{head}[[command]]\nname = \"get\"\ncommand = \"GET __key__\"\n{target}"),
            "name = \"get\"",
            "get",
        ),
        (
            "mix-name",
            format!(
                "{head}mix = \"x=1,nosuch=1\"\n\n[[command]]\nname = \"x\"\n\
                 command = \"GET __key__\"\n{target}"
            ),
            "mix =",
            "nosuch",
        ),
    ];
    for (what, text, at, needle) in &cases {
        let p = write_file_arg(&dir, &format!("{what}.toml"), text);
        let prefix = format!("{p}:{}:", line_of(text, at));
        assert_refused(what, &strings(&["-c", &p, "--no-save"]), &prefix, needle);
    }

    // The same mistakes as flags: one line naming what was written.
    let p = port.to_string();
    let flags = |rest: &[&str]| {
        let mut v = strings(&["-h", "127.0.0.1", "-p", &p, "--no-save"]);
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let cli_cases: [(&str, Vec<String>, &str); 8] = [
        (
            "placeholder",
            flags(&["--command", "x=GET __foo__"]),
            "__foo__",
        ),
        (
            "builtin-name",
            flags(&["--command", "get=GET __key__"]),
            "get",
        ),
        ("mix-name", flags(&["--mix", "nosuch=1"]), "nosuch"),
        (
            "mix-name-beside-commands",
            flags(&["--command", "x=GET __key__", "--mix", "x=1,nosuch=1"]),
            "nosuch",
        ),
        ("sequence", flags(&["--command", "x=MULTI; INCR a"]), "EXEC"),
        (
            "ttl",
            flags(&["--ttl", "300s-30s", "--command", "x=SET __key__ __data__"]),
            "300s-30s",
        ),
        (
            "sizes",
            flags(&["-d", "32:x", "--command", "x=SET __key__ __data__"]),
            "32:x",
        ),
        (
            "cross-slot-sequence",
            flags(&["--cluster", "--command", "x=MULTI; INCR a; INCR b; EXEC"]),
            "slot",
        ),
    ];
    for (what, args, needle) in &cli_cases {
        assert_refused(what, args, "", needle);
    }
}

/// Two commands with one key pattern and range share their keys: after the writer's phase, every
/// read of the reader's finds a key (the server's keyspace hits and misses say so).
#[test]
fn commands_sharing_a_key_space_read_what_was_written() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("wl-shared");
    let profile = write_file(
        &dir,
        "shared.toml",
        "[defaults]\nclients = 4\n\n\
         [[command]]\nname = \"write\"\ncommand = \"SET __key__ __data__\"\nkey = \"user:{}\"\nkeyspace = \"1000-1049\"\nkey_dist = \"seq\"\n\n\
         [[command]]\nname = \"read\"\ncommand = \"GET __key__\"\nkey = \"user:{}\"\nkeyspace = \"1000-1049\"\nkey_dist = \"seq\"\n\n\
         [[target]]\nname = \"t\"\naddr = \"127.0.0.1:1\"\n",
    );
    let p = profile.to_string_lossy().into_owned();
    let run = |mix: &str, n: &str| {
        run_rbench(&args_for(
            &dep,
            &["-c", &p, "--mix", mix, "-n", n, "-q", "--no-save"],
        ))
        .assert_ok();
    };
    run("write=1", "50");
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    run("read=1", "500");
    let stats = cli(&dep, &["INFO", "stats"]);
    let field = |name: &str| -> u64 {
        let line = stats
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        line.split(':')
            .nth(1)
            .unwrap_or("x")
            .trim()
            .parse()
            .unwrap_or(u64::MAX)
    };
    assert_eq!(
        (field("keyspace_hits:"), field("keyspace_misses:")),
        (500, 0),
        "{stats}"
    );
    // The 50 keys of the range, by the pattern: user:000000001000 .. user:000000001049.
    assert_eq!(count_keys(&dep, "user:*"), 50);
    assert_eq!(cli(&dep, &["EXISTS", "user:000000001049"]), "1");
}
