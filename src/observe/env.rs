//! The machine a run happens on, checked before it starts: settings that are known to distort
//! Redis latency or a load generator's figures. Each finding is one warning line, recorded in the
//! run's files; none is fatal (a user may have reasons, and remote servers are not ours to judge).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What the checks need to know about the run.
#[derive(Clone, Debug, Default)]
pub struct RunFacts {
    pub clients: usize,
    /// Some target writes an RDB or an AOF (forks for BGSAVE/rewrites).
    pub persistence: bool,
    /// Some target's server runs on this machine (spawned, or on loopback).
    pub local_server: bool,
    /// The spawned servers' process ids (for the shared-core check).
    pub server_pids: Vec<u32>,
    /// The soft open-files limit rbench runs with (after raising it).
    pub open_files: Option<u64>,
}

/// Where the checks read /proc and /sys: `/` on a real run, a fake tree in tests.
#[derive(Clone, Debug)]
pub struct Root(pub PathBuf);

impl Default for Root {
    fn default() -> Root {
        Root(PathBuf::from("/"))
    }
}

impl Root {
    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(rel))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// Every finding, one line each, without the `rbench: warning:` prefix.
pub fn check(root: &Root, facts: &RunFacts) -> Vec<String> {
    let mut out = Vec::new();
    if facts.local_server {
        out.extend(huge_pages(root));
        if facts.persistence {
            out.extend(overcommit(root));
        }
        out.extend(shared_core(root, &facts.server_pids));
    }
    out.extend(somaxconn(root, facts.clients));
    out.extend(governor(root));
    if let Some(n) = facts.open_files {
        let want = facts.clients as u64 + OPEN_FILES_MARGIN;
        if n < want {
            out.push(format!(
                "open-files limit {n} is below --clients {} + {OPEN_FILES_MARGIN}: connections will fail (ulimit -n {want})",
                facts.clients
            ));
        }
    }
    out
}

/// Sockets beyond the clients: set-up connections, the sampler's, files.
const OPEN_FILES_MARGIN: u64 = 64;

fn huge_pages(root: &Root) -> Option<String> {
    let v = root.read("sys/kernel/mm/transparent_hugepage/enabled")?;
    v.contains("[always]").then(|| {
        "transparent huge pages are enabled (always): Redis warns of latency and memory spikes after forks (echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)".to_string()
    })
}

fn overcommit(root: &Root) -> Option<String> {
    let v = root.read("proc/sys/vm/overcommit_memory")?;
    (v == "0").then(|| {
        "vm.overcommit_memory = 0 with persistence on: a BGSAVE or AOF rewrite fork can fail under memory pressure (sysctl vm.overcommit_memory=1)".to_string()
    })
}

fn somaxconn(root: &Root, clients: usize) -> Option<String> {
    let n: usize = root.read("proc/sys/net/core/somaxconn")?.parse().ok()?;
    (n < clients).then(|| {
        format!("net.core.somaxconn = {n} is below --clients {clients}: connections opened at once can be dropped and retried seconds later (sysctl net.core.somaxconn={clients})")
    })
}

fn governor(root: &Root) -> Option<String> {
    let dir = root.0.join("sys/devices/system/cpu");
    let mut seen = BTreeSet::new();
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let is_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        let gov = e.path().join("cpufreq/scaling_governor");
        if let (true, Ok(g)) = (is_cpu, std::fs::read_to_string(gov)) {
            seen.insert(g.trim().to_string());
        }
    }
    let other: Vec<_> = seen.into_iter().filter(|g| g != "performance").collect();
    (!other.is_empty()).then(|| {
        format!(
            "CPU frequency governor {} (not performance): clock speed varies within and between runs",
            other.join(", ")
        )
    })
}

/// rbench and a spawned server can only run on one and the same core: every figure measures both.
fn shared_core(root: &Root, pids: &[u32]) -> Option<String> {
    let mine = allowed(root, "proc/self/status")?;
    for pid in pids {
        let theirs = allowed(root, &format!("proc/{pid}/status"))?;
        let all: BTreeSet<u32> = mine.union(&theirs).copied().collect();
        if all.len() == 1 {
            let cpu = all.iter().next().copied().unwrap_or(0);
            return Some(format!(
                "rbench and the spawned server (pid {pid}) share one core (cpu {cpu}): every figure measures both"
            ));
        }
    }
    None
}

/// The CPUs a process may run on (`Cpus_allowed_list` of its status file).
fn allowed(root: &Root, status: &str) -> Option<BTreeSet<u32>> {
    let text = root.read(status)?;
    let line = text.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
    cpu_list(line.split_once(':')?.1.trim())
}

/// `0-3,5` → {0,1,2,3,5}.
pub fn cpu_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

/// The soft open-files limit of this process.
pub fn open_files_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
    ok.then_some(r.rlim_cur)
}

/// For tests of callers: a root with the given files.
pub fn fake_root(dir: &Path, files: &[(&str, &str)]) -> std::io::Result<Root> {
    for (rel, text) in files {
        let p = dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, text)?;
    }
    Ok(Root(dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbench-env-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn facts() -> RunFacts {
        RunFacts {
            clients: 1000,
            persistence: true,
            local_server: true,
            server_pids: vec![42],
            open_files: Some(512),
        }
    }

    #[test]
    fn a_machine_set_up_badly_gets_one_line_per_finding() {
        let d = tmp("bad");
        let root = fake_root(
            &d,
            &[
                (
                    "sys/kernel/mm/transparent_hugepage/enabled",
                    "[always] madvise never\n",
                ),
                ("proc/sys/vm/overcommit_memory", "0\n"),
                ("proc/sys/net/core/somaxconn", "128\n"),
                (
                    "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
                    "powersave\n",
                ),
                (
                    "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
                    "performance\n",
                ),
                ("proc/self/status", "Name:\tx\nCpus_allowed_list:\t1\n"),
                ("proc/42/status", "Name:\tredis\nCpus_allowed_list:\t1\n"),
            ],
        )
        .unwrap();
        let lines = check(&root, &facts());
        let _ = std::fs::remove_dir_all(&d);
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(lines[0].starts_with("transparent huge pages are enabled"));
        assert!(lines[1].starts_with("vm.overcommit_memory = 0"));
        assert!(lines[2].contains("share one core (cpu 1)"));
        assert!(lines[3].starts_with("net.core.somaxconn = 128 is below --clients 1000"));
        assert_eq!(
            lines[4],
            "CPU frequency governor powersave (not performance): clock speed varies within and between runs"
        );
        assert!(lines[5].starts_with("open-files limit 512 is below --clients 1000 + 64"));
    }

    #[test]
    fn a_machine_set_up_well_gets_none() {
        let d = tmp("good");
        let root = fake_root(
            &d,
            &[
                (
                    "sys/kernel/mm/transparent_hugepage/enabled",
                    "always [madvise] never\n",
                ),
                ("proc/sys/vm/overcommit_memory", "1\n"),
                ("proc/sys/net/core/somaxconn", "4096\n"),
                ("proc/self/status", "Cpus_allowed_list:\t0-1\n"),
                ("proc/42/status", "Cpus_allowed_list:\t1\n"),
            ],
        )
        .unwrap();
        let f = RunFacts {
            open_files: Some(100_000),
            ..facts()
        };
        let lines = check(&root, &f);
        let _ = std::fs::remove_dir_all(&d);
        assert!(lines.is_empty(), "{lines:#?}");
        // Nothing readable (another OS, a container without /sys): nothing said.
        assert!(check(&Root(tmp("none")), &RunFacts::default()).is_empty());
    }

    #[test]
    fn cpu_lists_parse() {
        let s = cpu_list("0-3,5").unwrap();
        assert_eq!(s.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 5]);
        assert!(cpu_list("3-1").is_none());
        assert!(cpu_list("x").is_none());
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
