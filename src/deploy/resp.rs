//! A blocking one-shot request for probing readiness and cluster health without spawning a
//! `redis-cli` process per poll. Encoding and decoding are the crate's own RESP code
//! (`crate::resp`, redis-protocol); this file only does the blocking socket round trip.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use redis_protocol::resp2::{decode::decode, types::OwnedFrame};

/// Redis Cluster hash slot count.
pub(super) const CLUSTER_SLOTS: usize = crate::cluster::slot::SLOTS;

/// A confused peer (or a non-Redis process that grabbed the port) must not make us buffer forever.
const MAX_REPLY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// Textual payload of a status or bulk reply; error replies become `Err`.
    pub(super) fn into_text(self) -> Result<String, String> {
        match self {
            Reply::Simple(s) => Ok(s),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Reply::Error(e) => Err(e),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    fn from_frame(f: OwnedFrame) -> Reply {
        match f {
            OwnedFrame::SimpleString(s) => Reply::Simple(String::from_utf8_lossy(&s).into_owned()),
            OwnedFrame::Error(e) => Reply::Error(e),
            OwnedFrame::Integer(i) => Reply::Integer(i),
            OwnedFrame::BulkString(b) => Reply::Bulk(Some(b)),
            OwnedFrame::Array(items) => {
                Reply::Array(Some(items.into_iter().map(Reply::from_frame).collect()))
            }
            OwnedFrame::Null => Reply::Bulk(None),
        }
    }
}

/// Send one command on a fresh connection and read one reply.
/// `timeout` bounds connect, write and read separately.
pub(super) fn request(addr: SocketAddr, args: &[&str], timeout: Duration) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let mut out = BytesMut::new();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    crate::resp::encode_command(&mut out, &args);
    stream.write_all(&out)?;
    read_reply(&mut stream)
}

pub(super) fn read_reply<R: Read>(r: &mut R) -> io::Result<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match decode(&buf) {
            Ok(Some((frame, _))) => return Ok(Reply::from_frame(frame)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
        if buf.len() > MAX_REPLY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply too large",
            ));
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a reply",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
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

pub(super) fn slot_coverage(reply: &Reply) -> Result<SlotCoverage, String> {
    let ranges = match reply {
        Reply::Array(Some(ranges)) => ranges,
        Reply::Error(e) => return Err(e.clone()),
        other => return Err(format!("unexpected CLUSTER SLOTS reply {other:?}")),
    };
    let mut owned = vec![false; CLUSTER_SLOTS];
    let mut min_nodes = usize::MAX;
    for range in ranges {
        let Reply::Array(Some(fields)) = range else {
            return Err(format!("malformed CLUSTER SLOTS entry {range:?}"));
        };
        let (start, end) = match (fields.first(), fields.get(1)) {
            (Some(Reply::Integer(s)), Some(Reply::Integer(e))) => (*s, *e),
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

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut &bytes[..])
    }

    #[test]
    fn parses_scalar_replies() {
        assert_eq!(parse(b"+PONG\r\n").unwrap(), Reply::Simple("PONG".into()));
        assert_eq!(
            parse(b"-LOADING dataset\r\n").unwrap(),
            Reply::Error("LOADING dataset".into())
        );
        assert_eq!(parse(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(
            parse(b"$5\r\nhe\r\no\r\n").unwrap(),
            Reply::Bulk(Some(b"he\r\no".to_vec()))
        );
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Bulk(None));
    }

    #[test]
    fn parses_nested_arrays() {
        let reply = parse(b"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n").unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Bulk(Some(b"a".to_vec()))
                ])),
                Reply::Array(Some(vec![])),
            ]))
        );
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(parse(b"").is_err());
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$3\r\nab").is_err());
        assert!(parse(b"*2\r\n:1\r\n").is_err());
    }

    #[test]
    fn info_field_finds_values() {
        let info = "# Cluster\r\ncluster_state:ok\r\ncluster_known_nodes:6\r\n";
        assert_eq!(info_field(info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(info, "cluster_known_nodes"), Some("6"));
        assert_eq!(info_field(info, "cluster_size"), None);
    }

    fn range(start: i64, end: i64, nodes: usize) -> Reply {
        let mut fields = vec![Reply::Integer(start), Reply::Integer(end)];
        for _ in 0..nodes {
            fields.push(Reply::Array(Some(vec![
                Reply::Bulk(Some(b"127.0.0.1".to_vec())),
                Reply::Integer(7000),
            ])));
        }
        Reply::Array(Some(fields))
    }

    #[test]
    fn slot_coverage_counts_distinct_slots_and_nodes() {
        let full = Reply::Array(Some(vec![
            range(0, 5460, 2),
            range(5461, 10922, 2),
            range(10923, 16383, 1),
        ]));
        assert_eq!(
            slot_coverage(&full).unwrap(),
            SlotCoverage {
                covered: CLUSTER_SLOTS,
                min_nodes_per_range: 1
            }
        );
        let partial = Reply::Array(Some(vec![range(0, 99, 1), range(50, 149, 1)]));
        assert_eq!(slot_coverage(&partial).unwrap().covered, 150);
        let empty = Reply::Array(Some(vec![]));
        assert_eq!(
            slot_coverage(&empty).unwrap(),
            SlotCoverage {
                covered: 0,
                min_nodes_per_range: 0
            }
        );
        assert!(slot_coverage(&Reply::Array(Some(vec![range(5, 16384, 1)]))).is_err());
        assert!(slot_coverage(&Reply::Error("ERR cluster support disabled".into())).is_err());
    }
}
