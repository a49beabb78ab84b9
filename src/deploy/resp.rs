//! Blocking probes of readiness and cluster health, without spawning a `redis-cli` process per poll:
//! the crate's own RESP client ([`crate::resp::blocking`]) and readers of what the replies say.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::resp::{Value, blocking};

/// Redis Cluster hash slot count.
pub(super) const CLUSTER_SLOTS: usize = crate::cluster::slot::SLOTS;

/// Send one command on a fresh connection and read one reply.
/// `timeout` bounds connect, write and read separately.
pub(super) fn request(addr: SocketAddr, args: &[&str], timeout: Duration) -> io::Result<Value> {
    blocking::request(addr, args, timeout)
}

/// Value of `key:value` in INFO / CLUSTER INFO text.
pub(super) fn info_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// What a CLUSTER SLOTS reply says about slot ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotCoverage {
    /// Distinct slots that have an owner.
    pub covered: usize,
    /// Fewest nodes (master + replicas) listed for any range; 0 if no ranges.
    pub min_nodes_per_range: usize,
}

pub(super) fn slot_coverage(reply: &Value) -> Result<SlotCoverage, String> {
    let ranges = match reply {
        Value::Array(ranges) => ranges,
        Value::Error(e) => return Err(e.clone()),
        other => return Err(format!("unexpected CLUSTER SLOTS reply {other:?}")),
    };
    let mut owned = vec![false; CLUSTER_SLOTS];
    let mut min_nodes = usize::MAX;
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(format!("malformed CLUSTER SLOTS entry {range:?}"));
        };
        let (start, end) = match (fields.first(), fields.get(1)) {
            (Some(Value::Int(s)), Some(Value::Int(e))) => (*s, *e),
            _ => return Err(format!("malformed CLUSTER SLOTS range {fields:?}")),
        };
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Err(format!(
                "negative slot in CLUSTER SLOTS range {start}-{end}"
            ));
        };
        if start > end || end >= CLUSTER_SLOTS {
            return Err(format!("invalid CLUSTER SLOTS range {start}-{end}"));
        }
        for slot in owned.iter_mut().take(end + 1).skip(start) {
            *slot = true;
        }
        min_nodes = min_nodes.min(fields.len().saturating_sub(2));
    }
    Ok(SlotCoverage {
        covered: owned.iter().filter(|&&o| o).count(),
        min_nodes_per_range: if ranges.is_empty() { 0 } else { min_nodes },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_field_finds_values() {
        let info = "# Cluster\r\ncluster_state:ok\r\ncluster_known_nodes:6\r\n";
        assert_eq!(info_field(info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(info, "cluster_known_nodes"), Some("6"));
        assert_eq!(info_field(info, "cluster_size"), None);
    }

    fn range(start: i64, end: i64, nodes: usize) -> Value {
        let mut fields = vec![Value::Int(start), Value::Int(end)];
        for _ in 0..nodes {
            fields.push(Value::Array(vec![
                Value::Bulk(b"127.0.0.1".to_vec()),
                Value::Int(7000),
            ]));
        }
        Value::Array(fields)
    }

    #[test]
    fn slot_coverage_counts_distinct_slots_and_nodes() {
        let full = Value::Array(vec![
            range(0, 5460, 2),
            range(5461, 10922, 2),
            range(10923, 16383, 1),
        ]);
        assert_eq!(
            slot_coverage(&full).unwrap(),
            SlotCoverage {
                covered: CLUSTER_SLOTS,
                min_nodes_per_range: 1
            }
        );
        let partial = Value::Array(vec![range(0, 99, 1), range(50, 149, 1)]);
        assert_eq!(slot_coverage(&partial).unwrap().covered, 150);
        let empty = Value::Array(vec![]);
        assert_eq!(
            slot_coverage(&empty).unwrap(),
            SlotCoverage {
                covered: 0,
                min_nodes_per_range: 0
            }
        );
        assert!(slot_coverage(&Value::Array(vec![range(5, 16384, 1)])).is_err());
        assert!(slot_coverage(&Value::Error("ERR cluster support disabled".into())).is_err());
    }
}
