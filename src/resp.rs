//! RESP encoding into a reusable buffer and in-place reply classification. Knows nothing of workloads:
//! it writes arrays of bulk strings and tells an OK reply from each class of error reply.

use bytes::{BufMut, BytesMut};
use redis_protocol::resp2::{decode::decode_range, types::RangeFrame};

/// Why a request did not succeed, as counted in the summary and the timeline. Server error replies are
/// classified by their first word; connection-level failures have their own classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    Err,
    WrongType,
    Oom,
    NoAuth,
    NoPerm,
    Moved,
    Ask,
    TryAgain,
    ClusterDown,
    CrossSlot,
    Loading,
    Busy,
    ReadOnly,
    MasterDown,
    ExecAbort,
    Other,
    ConnLost,
    ConnRefused,
    Timeout,
    Protocol,
    Redirects,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 21] = [
        ErrorClass::Err,
        ErrorClass::WrongType,
        ErrorClass::Oom,
        ErrorClass::NoAuth,
        ErrorClass::NoPerm,
        ErrorClass::Moved,
        ErrorClass::Ask,
        ErrorClass::TryAgain,
        ErrorClass::ClusterDown,
        ErrorClass::CrossSlot,
        ErrorClass::Loading,
        ErrorClass::Busy,
        ErrorClass::ReadOnly,
        ErrorClass::MasterDown,
        ErrorClass::ExecAbort,
        ErrorClass::Other,
        ErrorClass::ConnLost,
        ErrorClass::ConnRefused,
        ErrorClass::Timeout,
        ErrorClass::Protocol,
        ErrorClass::Redirects,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    /// Column / label name (DESIGN §6: `moved,ask,clusterdown,conn_lost,oom`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Err => "err",
            ErrorClass::WrongType => "wrongtype",
            ErrorClass::Oom => "oom",
            ErrorClass::NoAuth => "noauth",
            ErrorClass::NoPerm => "noperm",
            ErrorClass::Moved => "moved",
            ErrorClass::Ask => "ask",
            ErrorClass::TryAgain => "tryagain",
            ErrorClass::ClusterDown => "clusterdown",
            ErrorClass::CrossSlot => "crossslot",
            ErrorClass::Loading => "loading",
            ErrorClass::Busy => "busy",
            ErrorClass::ReadOnly => "readonly",
            ErrorClass::MasterDown => "masterdown",
            ErrorClass::ExecAbort => "execabort",
            ErrorClass::Other => "other",
            ErrorClass::ConnLost => "conn_lost",
            ErrorClass::ConnRefused => "conn_refused",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Redirects => "too_many_redirects",
        }
    }

    /// Classifies a server error message (without the leading `-`) by its first word.
    pub fn of_error(msg: &[u8]) -> ErrorClass {
        let word = msg.split(|&b| b == b' ').next().unwrap_or(msg);
        match word {
            b"ERR" => {
                // CROSSSLOT arrives as `-CROSSSLOT`, but some proxies wrap it in ERR.
                ErrorClass::Err
            }
            b"WRONGTYPE" => ErrorClass::WrongType,
            b"OOM" => ErrorClass::Oom,
            b"NOAUTH" | b"WRONGPASS" => ErrorClass::NoAuth,
            b"NOPERM" => ErrorClass::NoPerm,
            b"MOVED" => ErrorClass::Moved,
            b"ASK" => ErrorClass::Ask,
            b"TRYAGAIN" => ErrorClass::TryAgain,
            b"CLUSTERDOWN" => ErrorClass::ClusterDown,
            b"CROSSSLOT" => ErrorClass::CrossSlot,
            b"LOADING" => ErrorClass::Loading,
            b"BUSY" => ErrorClass::Busy,
            b"READONLY" => ErrorClass::ReadOnly,
            b"MASTERDOWN" => ErrorClass::MasterDown,
            b"EXECABORT" => ErrorClass::ExecAbort,
            _ => ErrorClass::Other,
        }
    }
}

/// What one reply means to the load generator. Borrowed from the read buffer: nothing is allocated.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    Error(ErrorClass, &'a [u8]),
}

/// A reply that is not valid RESP: the connection cannot be trusted after it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed reply from server: {0}")]
pub struct ProtocolError(pub String);

/// Parses one reply at the start of `buf`. `Ok(None)` means "incomplete, read more" — a normal state.
/// Returns the classification and the number of bytes the reply occupies.
///
/// The replies a benchmark sees are almost all one line or one bulk string; those are framed here
/// directly (a profile showed the general decoder costing more than the rest of the per-reply work at
/// -P 16). Everything else — arrays, RESP3 types, anything odd — goes to redis-protocol's decoder,
/// which also produces the error for malformed input.
#[inline]
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ProtocolError> {
    let kind = match buf.first() {
        None => return Ok(None),
        Some(&k @ (b'+' | b'-' | b':' | b'$')) => k,
        Some(_) => return decode_general(buf),
    };
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    if nl == 0 || buf[nl - 1] != b'\r' {
        return decode_general(buf);
    }
    let end = nl - 1;
    match kind {
        b'+' => Ok(Some((Reply::Ok, end + 2))),
        b'-' => {
            let msg = &buf[1..end];
            Ok(Some((
                Reply::Error(ErrorClass::of_error(msg), msg),
                end + 2,
            )))
        }
        b':' => match parse_len(&buf[1..end]) {
            Some(_) => Ok(Some((Reply::Ok, end + 2))),
            None => decode_general(buf),
        },
        _ => match parse_len(&buf[1..end]) {
            Some(-1) => Ok(Some((Reply::Ok, end + 2))),
            Some(n) if n >= 0 => {
                let total = end + 2 + n as usize + 2;
                if buf.len() < total {
                    Ok(None)
                } else if &buf[total - 2..total] == b"\r\n" {
                    Ok(Some((Reply::Ok, total)))
                } else {
                    Err(ProtocolError("bulk string not terminated by CRLF".into()))
                }
            }
            _ => decode_general(buf),
        },
    }
}

/// A RESP integer: optional `-`, then 1..=18 digits (longer ones go to the general decoder).
#[inline]
fn parse_len(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

fn decode_general(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ProtocolError> {
    match decode_range(buf) {
        Ok(Some((frame, used))) => {
            let reply = match frame {
                RangeFrame::Error((start, end)) => {
                    let msg = &buf[start..end];
                    Reply::Error(ErrorClass::of_error(msg), msg)
                }
                _ => Reply::Ok,
            };
            Ok(Some((reply, used)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(ProtocolError(first_line(&e.to_string()))),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// `*N\r\n`
#[inline]
pub fn put_array_header(buf: &mut BytesMut, n: usize) {
    buf.put_u8(b'*');
    put_decimal(buf, n as u64);
    buf.put_slice(b"\r\n");
}

/// `$len\r\nbytes\r\n`
#[inline]
pub fn put_bulk(buf: &mut BytesMut, bytes: &[u8]) {
    put_bulk_header(buf, bytes.len());
    buf.put_slice(bytes);
    buf.put_slice(b"\r\n");
}

#[inline]
pub fn put_bulk_header(buf: &mut BytesMut, len: usize) {
    buf.put_u8(b'$');
    put_decimal(buf, len as u64);
    buf.put_slice(b"\r\n");
}

/// A bulk string holding a decimal number.
#[inline]
pub fn put_bulk_u64(buf: &mut BytesMut, v: u64) {
    let mut tmp = [0u8; 20];
    let s = format_u64(v, &mut tmp);
    put_bulk(buf, s);
}

/// A whole command from its arguments (used off the hot path: handshake, topology queries).
pub fn encode_command(buf: &mut BytesMut, args: &[&[u8]]) {
    put_array_header(buf, args.len());
    for a in args {
        put_bulk(buf, a);
    }
}

#[inline]
pub fn put_decimal(buf: &mut BytesMut, v: u64) {
    let mut tmp = [0u8; 20];
    buf.put_slice(format_u64(v, &mut tmp));
}

/// Formats without allocating (the hot path encodes lengths and counters for every request).
#[inline]
pub fn format_u64(mut v: u64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &tmp[i..]
}

/// Writes `v` as exactly 12 zero-padded digits (redis-benchmark's `__rand_int__` width).
#[inline]
pub fn write_padded12(v: u64, out: &mut [u8]) {
    let mut v = v % 1_000_000_000_000;
    for slot in out[..12].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut b = BytesMut::new();
        encode_command(&mut b, &[b"SET", b"k", b"vv"]);
        assert_eq!(&b[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n");
        b.clear();
        put_bulk_u64(&mut b, 1234567);
        assert_eq!(&b[..], b"$7\r\n1234567\r\n");
        let mut t = [0u8; 20];
        assert_eq!(format_u64(0, &mut t), b"0");
        assert_eq!(format_u64(u64::MAX, &mut t), b"18446744073709551615");
        let mut k = [0u8; 12];
        write_padded12(42, &mut k);
        assert_eq!(&k, b"000000000042");
    }

    #[test]
    fn classifies_replies() {
        assert_eq!(parse_reply(b"+OK\r\n").unwrap(), Some((Reply::Ok, 5)));
        assert_eq!(parse_reply(b":12\r\n$1\r\n").unwrap(), Some((Reply::Ok, 5)));
        assert_eq!(parse_reply(b"$-1\r\n").unwrap(), Some((Reply::Ok, 5)));
        assert_eq!(parse_reply(b"$3\r\nab").unwrap(), None);
        assert_eq!(parse_reply(b"*2\r\n$1\r\na\r\n").unwrap(), None);
        assert_eq!(parse_reply(b"").unwrap(), None);
        let (r, n) = parse_reply(b"-MOVED 3999 127.0.0.1:6381\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(n, 28);
        assert_eq!(
            r,
            Reply::Error(ErrorClass::Moved, b"MOVED 3999 127.0.0.1:6381")
        );
        let (r, _) = parse_reply(b"-OOM command not allowed\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(r, Reply::Error(ErrorClass::Oom, _)));
        let (r, _) = parse_reply(b"-WRONGTYPE Operation\r\n").unwrap().unwrap();
        assert!(matches!(r, Reply::Error(ErrorClass::WrongType, _)));
        let (r, _) = parse_reply(b"-ERR unknown\r\n").unwrap().unwrap();
        assert!(matches!(r, Reply::Error(ErrorClass::Err, _)));
        assert!(parse_reply(b"!garbage\r\n").is_err());
        assert!(parse_reply(b"$abc\r\n").is_err());
    }

    /// The fast path frames exactly what redis-protocol's decoder frames.
    #[test]
    fn fast_path_agrees_with_the_decoder() {
        // (redis-protocol accepts a bulk string whose CRLF is missing; the fast path rejects it.)
        assert!(parse_reply(b"$3\r\nabcXY").is_err());
        let cases: [&[u8]; 11] = [
            b"+OK\r\n",
            b"-ERR x y\r\n",
            b":123\r\n",
            b":-5\r\n",
            b"$3\r\nabc\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"$10\r\nabc",
            b"+partial",
            b":12a\r\n",
            b"$-7\r\n",
        ];
        for c in cases {
            for cut in 0..=c.len() {
                let part = &c[..cut];
                let fast =
                    parse_reply(part).map(|r| r.map(|(rep, n)| (matches!(rep, Reply::Ok), n)));
                let slow =
                    decode_general(part).map(|r| r.map(|(rep, n)| (matches!(rep, Reply::Ok), n)));
                assert_eq!(
                    fast.is_ok(),
                    slow.is_ok(),
                    "{:?}",
                    String::from_utf8_lossy(part)
                );
                if let (Ok(a), Ok(b)) = (fast, slow) {
                    assert_eq!(a, b, "{:?}", String::from_utf8_lossy(part));
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix and byte-flip of some replies.
        let seeds: [&[u8]; 5] = [
            b"*3\r\n$1\r\na\r\n:5\r\n*1\r\n+x\r\n",
            b"$5\r\nhello\r\n",
            b"-ERR x\r\n",
            b"*-1\r\n",
            b":-9223372036854775808\r\n",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for s in seeds {
            for cut in 0..=s.len() {
                let _ = parse_reply(&s[..cut]);
            }
            for _ in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut v = s.to_vec();
                let i = (state as usize) % v.len();
                v[i] = (state >> 32) as u8;
                let _ = parse_reply(&v);
            }
        }
    }
}
