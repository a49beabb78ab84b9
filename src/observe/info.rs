//! `INFO` replies parsed: `field:value` lines under `# Section` headers, and the one sample of a node
//! the sampler takes from an `INFO all` reply. A field a server does not report (an older Redis, a
//! Redis-compatible server, a proxy) is None, never zero: the reports say "unknown", not "idle".

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// An `INFO` reply: its sections in order, and every field by name.
#[derive(Clone, Debug, Default)]
pub struct Info {
    sections: Vec<(String, Vec<(String, String)>)>,
    /// Field name → (section index, field index). A name seen twice keeps its first place.
    index: HashMap<String, (usize, usize)>,
}

impl Info {
    /// Parses the text of an `INFO` reply. Lines that are not `field:value` are skipped (a server
    /// may add anything); fields before any `# Section` header go into a section named "".
    pub fn parse(text: &str) -> Info {
        let mut info = Info::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(name) = line.strip_prefix('#') {
                info.sections.push((name.trim().to_string(), Vec::new()));
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if info.sections.is_empty() {
                info.sections.push((String::new(), Vec::new()));
            }
            let s = info.sections.len() - 1;
            let fields = &mut info.sections[s].1;
            info.index
                .entry(key.to_string())
                .or_insert((s, fields.len()));
            fields.push((key.to_string(), value.to_string()));
        }
        info
    }

    /// The raw value of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        let &(s, f) = self.index.get(field)?;
        Some(self.sections[s].1[f].1.as_str())
    }

    pub fn u64(&self, field: &str) -> Option<u64> {
        self.get(field)?.trim().parse().ok()
    }

    pub fn i64(&self, field: &str) -> Option<i64> {
        self.get(field)?.trim().parse().ok()
    }

    pub fn f64(&self, field: &str) -> Option<f64> {
        self.get(field)?.trim().parse().ok()
    }

    /// A `0`/`1` flag.
    pub fn flag(&self, field: &str) -> Option<bool> {
        match self.get(field)?.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }
    }

    /// The section names, in the reply's order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(n, _)| n.as_str())
    }

    /// The fields of section `name` (case-insensitive: `Commandstats`, `commandstats`).
    pub fn section(&self, name: &str) -> impl Iterator<Item = (&str, &str)> {
        self.sections
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, fields)| fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Every field, in order (whatever its section).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sections
            .iter()
            .flat_map(|(_, fields)| fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// `key=value,key=value` (the values of `cmdstat_*`, `latency_percentiles_usec_*`, `db0`).
fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(',').filter_map(|p| p.split_once('='))
}

/// One `cmdstat_<name>` line. `rejected_calls`/`failed_calls` exist from Redis 6.2 on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub usec_per_call: Option<f64>,
    pub rejected_calls: Option<u64>,
    pub failed_calls: Option<u64>,
}

impl CmdStat {
    fn parse(value: &str) -> Option<CmdStat> {
        let mut s = CmdStat::default();
        let (mut calls, mut usec) = (None, None);
        for (k, v) in pairs(value) {
            match k {
                "calls" => calls = v.parse().ok(),
                "usec" => usec = v.parse().ok(),
                "usec_per_call" => s.usec_per_call = v.parse().ok(),
                "rejected_calls" => s.rejected_calls = v.parse().ok(),
                "failed_calls" => s.failed_calls = v.parse().ok(),
                _ => {}
            }
        }
        s.calls = calls?;
        s.usec = usec.unwrap_or(0);
        Some(s)
    }
}

/// One `latency_percentiles_usec_<name>` line (Redis 7's latencystats), in microseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyPercentiles {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

impl LatencyPercentiles {
    fn parse(value: &str) -> LatencyPercentiles {
        let mut l = LatencyPercentiles::default();
        for (k, v) in pairs(value) {
            let v = v.parse().ok();
            match k {
                "p50" => l.p50 = v,
                "p99" => l.p99 = v,
                "p99.9" => l.p999 = v,
                _ => {}
            }
        }
        l
    }
}

/// What one `INFO all` reply says about a node, at the moment it was asked.
#[derive(Clone, Debug)]
pub struct NodeSample {
    pub at: Instant,
    /// Tells a restarted server (counters back at zero) from the one sampled before.
    pub run_id: Option<String>,
    /// "master" or "replica" (INFO's "slave").
    pub role: Option<String>,
    pub used_cpu_sys: Option<f64>,
    pub used_cpu_user: Option<f64>,
    /// Redis ≥ 6.2 only.
    pub used_cpu_sys_main_thread: Option<f64>,
    pub used_cpu_user_main_thread: Option<f64>,
    pub total_commands_processed: Option<u64>,
    pub instantaneous_ops_per_sec: Option<u64>,
    pub used_memory: Option<u64>,
    pub used_memory_rss: Option<u64>,
    pub mem_fragmentation_ratio: Option<f64>,
    pub connected_clients: Option<u64>,
    pub blocked_clients: Option<u64>,
    pub evicted_keys: Option<u64>,
    pub expired_keys: Option<u64>,
    pub keyspace_hits: Option<u64>,
    pub keyspace_misses: Option<u64>,
    pub rdb_bgsave_in_progress: Option<bool>,
    pub aof_enabled: Option<bool>,
    pub aof_rewrite_in_progress: Option<bool>,
    /// Rewrites started since the server's start (Redis 7).
    pub aof_rewrites: Option<u64>,
    pub aof_delayed_fsync: Option<u64>,
    pub latest_fork_usec: Option<u64>,
    pub total_forks: Option<u64>,
    pub master_repl_offset: Option<i64>,
    /// Replicas only: how far this replica has applied its master's stream.
    pub slave_repl_offset: Option<i64>,
    /// Replicas only: "host:port" of the master, to find its offset.
    pub master: Option<String>,
    pub master_last_io_seconds_ago: Option<i64>,
    pub master_link_status: Option<String>,
    /// `cmdstat_<name>`, names lowercase, subcommands as written (`client|setname`).
    pub commands: BTreeMap<String, CmdStat>,
    /// `latency_percentiles_usec_<name>`, named as `commands`.
    pub latency: BTreeMap<String, LatencyPercentiles>,
}

impl NodeSample {
    /// The sample an `INFO all` reply taken at `at` gives.
    pub fn from_info(info: &Info, at: Instant) -> NodeSample {
        let master = match (info.get("master_host"), info.u64("master_port")) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            _ => None,
        };
        NodeSample {
            at,
            run_id: info.get("run_id").map(String::from),
            role: info.get("role").map(|r| match r {
                "slave" => "replica".to_string(),
                other => other.to_string(),
            }),
            used_cpu_sys: info.f64("used_cpu_sys"),
            used_cpu_user: info.f64("used_cpu_user"),
            used_cpu_sys_main_thread: info.f64("used_cpu_sys_main_thread"),
            used_cpu_user_main_thread: info.f64("used_cpu_user_main_thread"),
            total_commands_processed: info.u64("total_commands_processed"),
            instantaneous_ops_per_sec: info.u64("instantaneous_ops_per_sec"),
            used_memory: info.u64("used_memory"),
            used_memory_rss: info.u64("used_memory_rss"),
            mem_fragmentation_ratio: info.f64("mem_fragmentation_ratio"),
            connected_clients: info.u64("connected_clients"),
            blocked_clients: info.u64("blocked_clients"),
            evicted_keys: info.u64("evicted_keys"),
            expired_keys: info.u64("expired_keys"),
            keyspace_hits: info.u64("keyspace_hits"),
            keyspace_misses: info.u64("keyspace_misses"),
            rdb_bgsave_in_progress: info.flag("rdb_bgsave_in_progress"),
            aof_enabled: info.flag("aof_enabled"),
            aof_rewrite_in_progress: info.flag("aof_rewrite_in_progress"),
            aof_rewrites: info.u64("aof_rewrites"),
            aof_delayed_fsync: info.u64("aof_delayed_fsync"),
            latest_fork_usec: info.u64("latest_fork_usec"),
            total_forks: info.u64("total_forks"),
            master_repl_offset: info.i64("master_repl_offset"),
            slave_repl_offset: info.i64("slave_repl_offset"),
            master,
            master_last_io_seconds_ago: info.i64("master_last_io_seconds_ago"),
            master_link_status: info.get("master_link_status").map(String::from),
            commands: named(info, "cmdstat_", CmdStat::parse),
            latency: named(info, "latency_percentiles_usec_", |v| {
                Some(LatencyPercentiles::parse(v))
            }),
        }
    }

    /// CPU seconds (system + user) since the server started.
    pub fn cpu(&self) -> Option<f64> {
        Some(self.used_cpu_sys? + self.used_cpu_user?)
    }

    /// Main-thread CPU seconds (Redis ≥ 6.2).
    pub fn main_cpu(&self) -> Option<f64> {
        Some(self.used_cpu_sys_main_thread? + self.used_cpu_user_main_thread?)
    }

    pub fn is_master(&self) -> bool {
        self.role.as_deref() == Some("master")
    }
}

/// Every field named `<prefix><name>`, by lowercase name, parsed by `parse`.
fn named<T>(info: &Info, prefix: &str, parse: impl Fn(&str) -> Option<T>) -> BTreeMap<String, T> {
    info.fields()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(prefix)?;
            Some((name.to_ascii_lowercase(), parse(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS7: &str = include_str!("fixtures/redis-7.0-info-all.txt");
    const REDIS7_REPLICA: &str = include_str!("fixtures/redis-7.0-replica-info-all.txt");
    const REDIS5: &str = include_str!("fixtures/redis-5-info-trimmed.txt");

    #[test]
    fn parses_sections_and_typed_fields() {
        let info = Info::parse(REDIS7);
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        assert_eq!(info.u64("tcp_port"), Some(17391));
        assert_eq!(info.f64("mem_fragmentation_ratio"), Some(12.78));
        assert_eq!(info.i64("second_repl_offset"), Some(-1));
        assert_eq!(info.flag("aof_enabled"), Some(true));
        assert_eq!(info.flag("redis_mode"), None, "not a flag");
        assert_eq!(info.u64("no_such_field"), None);
        let names: Vec<_> = info.section_names().collect();
        assert_eq!(names[..3], ["Server", "Clients", "Memory"]);
        assert!(names.contains(&"Latencystats") && names.contains(&"Errorstats"));
        let errors: Vec<_> = info.section("errorstats").collect();
        assert_eq!(errors, [("errorstat_ERR", "count=1")]);
        // No CR survives in a value.
        assert!(info.fields().all(|(_, v)| !v.contains('\r')));
    }

    #[test]
    fn sample_from_redis_7() {
        let s = NodeSample::from_info(&Info::parse(REDIS7), Instant::now());
        assert_eq!(s.role.as_deref(), Some("master"));
        assert!(s.is_master());
        assert_eq!(s.used_cpu_sys, Some(0.016891));
        assert_eq!(s.used_cpu_user_main_thread, Some(0.020768));
        assert!((s.cpu().unwrap() - 0.037987).abs() < 1e-9);
        assert!((s.main_cpu().unwrap() - 0.037382).abs() < 1e-9);
        assert_eq!(s.total_commands_processed, Some(3));
        assert_eq!(s.instantaneous_ops_per_sec, Some(1));
        assert_eq!(s.used_memory, Some(990928));
        assert_eq!(s.used_memory_rss, Some(12374016));
        assert_eq!(s.connected_clients, Some(1));
        assert_eq!(s.blocked_clients, Some(0));
        assert_eq!(s.keyspace_hits, Some(1));
        assert_eq!(s.rdb_bgsave_in_progress, Some(false));
        assert_eq!(s.aof_rewrite_in_progress, Some(false));
        assert_eq!(s.aof_rewrites, Some(0));
        assert_eq!(s.aof_delayed_fsync, Some(0));
        assert_eq!(s.total_forks, Some(0));
        assert_eq!(s.master_repl_offset, Some(0));
        assert_eq!(s.slave_repl_offset, None);
        assert_eq!(s.master, None);
        assert_eq!(
            s.run_id.as_deref(),
            Some("cd14dd94fddcea67a2a666456a71d8a97c63560f")
        );
        let names: Vec<_> = s.commands.keys().map(String::as_str).collect();
        assert_eq!(names, ["client|setname", "get", "set"]);
        assert_eq!(
            s.commands["set"],
            CmdStat {
                calls: 1,
                usec: 151,
                usec_per_call: Some(151.0),
                rejected_calls: Some(0),
                failed_calls: Some(0),
            }
        );
        let set = &s.latency["set"];
        assert_eq!(
            (set.p50, set.p99, set.p999),
            (Some(151.551), Some(151.551), Some(151.551))
        );
        assert!(s.latency.contains_key("client|setname"));
    }

    #[test]
    fn sample_from_a_replica() {
        let s = NodeSample::from_info(&Info::parse(REDIS7_REPLICA), Instant::now());
        assert_eq!(s.role.as_deref(), Some("replica"));
        assert!(!s.is_master());
        assert_eq!(s.master.as_deref(), Some("127.0.0.1:17392"));
        assert_eq!(s.slave_repl_offset, Some(50));
        assert_eq!(s.master_repl_offset, Some(50));
        assert_eq!(s.master_last_io_seconds_ago, Some(1));
        assert_eq!(s.master_link_status.as_deref(), Some("up"));
    }

    #[test]
    fn older_servers_leave_newer_fields_unknown() {
        let s = NodeSample::from_info(&Info::parse(REDIS5), Instant::now());
        assert_eq!(s.cpu(), Some(3.75));
        assert_eq!(s.used_cpu_sys_main_thread, None);
        assert_eq!(s.main_cpu(), None);
        assert_eq!(s.total_forks, None);
        assert_eq!(s.aof_rewrites, None);
        assert_eq!(s.aof_delayed_fsync, None);
        assert_eq!(s.rdb_bgsave_in_progress, Some(true));
        assert_eq!(s.latest_fork_usec, Some(812));
        assert!(s.latency.is_empty());
        // Names are lowercased; calls without rejected/failed counts still parse.
        assert_eq!(s.commands["get"].calls, 200);
        assert_eq!(s.commands["set"].rejected_calls, None);
        assert_eq!(s.commands["set"].usec, 2500);
        assert_eq!(s.commands.len(), 3);
    }

    #[test]
    fn odd_lines_are_skipped() {
        let info = Info::parse("no colon here\r\nkey:value:with:colons\r\n\r\n# S\r\nn:1\r\n");
        assert_eq!(info.get("key"), Some("value:with:colons"));
        assert_eq!(info.u64("n"), Some(1));
        let s = NodeSample::from_info(&Info::parse(""), Instant::now());
        assert_eq!(s.role, None);
        assert!(s.commands.is_empty());
        // A cmdstat without calls is not a command.
        let info = Info::parse("cmdstat_x:usec=3\ncmdstat_y:calls=2\n");
        let s = NodeSample::from_info(&info, Instant::now());
        assert_eq!(s.commands.keys().collect::<Vec<_>>(), ["y"]);
        assert_eq!(s.commands["y"].usec, 0);
    }
}
