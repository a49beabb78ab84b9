//! What to send: the tests (named as redis-benchmark names them), weighted mixes, custom commands, and
//! how each request is encoded. Knows nothing of connections or output.

pub mod generator;
pub mod pacing;
pub mod template;

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::resp::{put_array_header, put_bulk, put_bulk_header, put_bulk_u64, write_padded12};

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    PingInline,
    PingMbulk,
    Set,
    Get,
    Incr,
    Lpush,
    Rpush,
    Lpop,
    Rpop,
    Sadd,
    Hset,
    Spop,
    Zadd,
    Zpopmin,
    Lrange100,
    Xadd,
    /// A user-supplied command line (index into the custom templates).
    Custom,
}

impl Op {
    pub const BUILTIN: [Op; 16] = [
        Op::PingInline,
        Op::PingMbulk,
        Op::Set,
        Op::Get,
        Op::Incr,
        Op::Lpush,
        Op::Rpush,
        Op::Lpop,
        Op::Rpop,
        Op::Sadd,
        Op::Hset,
        Op::Spop,
        Op::Zadd,
        Op::Zpopmin,
        Op::Lrange100,
        Op::Xadd,
    ];

    /// The test name redis-benchmark prints (and rbench's CSV uses).
    pub fn name(self) -> &'static str {
        match self {
            Op::PingInline => "PING_INLINE",
            Op::PingMbulk => "PING_MBULK",
            Op::Set => "SET",
            Op::Get => "GET",
            Op::Incr => "INCR",
            Op::Lpush => "LPUSH",
            Op::Rpush => "RPUSH",
            Op::Lpop => "LPOP",
            Op::Rpop => "RPOP",
            Op::Sadd => "SADD",
            Op::Hset => "HSET",
            Op::Spop => "SPOP",
            Op::Zadd => "ZADD",
            Op::Zpopmin => "ZPOPMIN",
            Op::Lrange100 => "LRANGE_100",
            Op::Xadd => "XADD",
            Op::Custom => "CUSTOM",
        }
    }

    /// Key prefix, as redis-benchmark's key names (`key:`, `counter:`, `mylist`...).
    fn key_prefix(self) -> &'static [u8] {
        match self {
            Op::Set | Op::Get => b"key:",
            Op::Incr => b"counter:",
            Op::Lpush | Op::Rpush | Op::Lpop | Op::Rpop | Op::Lrange100 => b"mylist:",
            Op::Sadd | Op::Spop => b"myset:",
            Op::Hset => b"myhash:",
            Op::Zadd | Op::Zpopmin => b"myzset:",
            Op::Xadd => b"mystream:",
            Op::PingInline | Op::PingMbulk | Op::Custom => b"",
        }
    }

    /// Whether the command only reads (eligible for replicas with --read-from-replicas).
    pub fn is_read(self) -> bool {
        matches!(self, Op::Get | Op::Lrange100)
    }

    pub fn has_key(self) -> bool {
        !matches!(self, Op::PingInline | Op::PingMbulk)
    }

    pub fn uses_value(self) -> bool {
        matches!(
            self,
            Op::Set | Op::Lpush | Op::Rpush | Op::Hset | Op::Xadd | Op::Custom
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WorkloadError {
    #[error("unknown test `{0}` (known: {known})", known = known_tests())]
    UnknownTest(String),
    #[error("empty test list")]
    EmptyTests,
    #[error("bad --mix `{0}`: {1}")]
    BadMix(String, String),
    #[error("bad data size `{0}`: expected bytes like 3 or a range like 16-512 (at most 512 MiB)")]
    BadDataSize(String),
    #[error("bad --key-dist `{0}`: expected uniform, zipf, zipf:S (0 < S < 10) or seq")]
    BadKeyDist(String),
    #[error("bad duration `{0}`: expected e.g. 30s, 2m, 500ms, 1h")]
    BadDuration(String),
}

fn known_tests() -> String {
    let mut v: Vec<String> = Op::BUILTIN
        .iter()
        .map(|o| o.name().to_ascii_lowercase())
        .collect();
    v.push("ping".into());
    v.push("lrange".into());
    v.join(",")
}

/// Parses one test name; `ping` means both ping tests and `lrange` LRANGE_100, as in redis-benchmark.
pub fn parse_test(name: &str) -> Result<Vec<Op>, WorkloadError> {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "ping" => return Ok(vec![Op::PingInline, Op::PingMbulk]),
        "lrange" => return Ok(vec![Op::Lrange100]),
        _ => {}
    }
    Op::BUILTIN
        .iter()
        .find(|o| o.name().eq_ignore_ascii_case(&lower))
        .map(|&o| vec![o])
        .ok_or_else(|| WorkloadError::UnknownTest(name.trim().to_string()))
}

/// `-t set,get,lpush`: tests run one after another, duplicates dropped, order kept.
pub fn parse_tests<S: AsRef<str>>(names: &[S]) -> Result<Vec<Op>, WorkloadError> {
    let mut out = Vec::new();
    for n in names {
        if n.as_ref().trim().is_empty() {
            continue;
        }
        for op in parse_test(n.as_ref())? {
            if !out.contains(&op) {
                out.push(op);
            }
        }
    }
    if out.is_empty() {
        return Err(WorkloadError::EmptyTests);
    }
    Ok(out)
}

/// `--mix set=3,get=7`: commands interleaved in one run by weight.
pub fn parse_mix(spec: &str) -> Result<Vec<(Op, u32)>, WorkloadError> {
    let bad = |why: String| WorkloadError::BadMix(spec.to_string(), why);
    let mut out: Vec<(Op, u32)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("`{part}` is not NAME=WEIGHT")))?;
        let ops = parse_test(name).map_err(|e| bad(e.to_string()))?;
        let w: i64 = weight
            .trim()
            .parse()
            .map_err(|_| bad(format!("weight `{}` is not a whole number", weight.trim())))?;
        if w <= 0 || w > 1_000_000 {
            return Err(bad(format!(
                "weight of {} must be between 1 and 1000000",
                name.trim()
            )));
        }
        for op in ops {
            if out.iter().any(|(o, _)| *o == op) {
                return Err(bad(format!("{} is listed twice", op.name())));
            }
            out.push((op, w as u32));
        }
    }
    if out.is_empty() {
        return Err(bad("no commands".into()));
    }
    Ok(out)
}

/// `30s`, `2m`, `500ms`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, WorkloadError> {
    let t = s.trim();
    let bad = || WorkloadError::BadDuration(s.to_string());
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let secs = v * mult;
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 86400.0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// One argument of a custom command: literal bytes and placeholders.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(Vec<u8>),
    RandInt,
    Data,
}

/// A custom command line (`rbench SET foo:__rand_int__ __data__`).
#[derive(Clone, Debug, PartialEq)]
pub struct CustomCommand {
    args: Vec<Vec<Part>>,
    pub name: String,
    /// Which argument routes the command in cluster mode (the first after the command name).
    key_arg: Option<usize>,
}

impl CustomCommand {
    pub fn parse(words: &[String]) -> CustomCommand {
        let args = words
            .iter()
            .map(|w| {
                let mut parts = Vec::new();
                let mut rest = w.as_str();
                while !rest.is_empty() {
                    let next = [("__rand_int__", Part::RandInt), ("__data__", Part::Data)]
                        .into_iter()
                        .filter_map(|(pat, part)| rest.find(pat).map(|i| (i, pat.len(), part)))
                        .min_by_key(|(i, _, _)| *i);
                    match next {
                        Some((i, len, part)) => {
                            if i > 0 {
                                parts.push(Part::Lit(rest.as_bytes()[..i].to_vec()));
                            }
                            parts.push(part);
                            rest = &rest[i + len..];
                        }
                        None => {
                            parts.push(Part::Lit(rest.as_bytes().to_vec()));
                            rest = "";
                        }
                    }
                }
                parts
            })
            .collect::<Vec<_>>();
        let key_arg = if args.len() > 1 { Some(1) } else { None };
        CustomCommand {
            name: words.join(" "),
            args,
            key_arg,
        }
    }

    fn arg_len(parts: &[Part], value_len: usize) -> usize {
        parts
            .iter()
            .map(|p| match p {
                Part::Lit(b) => b.len(),
                Part::RandInt => 12,
                Part::Data => value_len,
            })
            .sum()
    }

    fn put_arg(buf: &mut impl BufMut, parts: &[Part], rand: u64, value: &[u8]) {
        for p in parts {
            match p {
                Part::Lit(b) => buf.put_slice(b),
                Part::RandInt => {
                    let mut d = [0u8; 12];
                    write_padded12(rand, &mut d);
                    buf.put_slice(&d);
                }
                Part::Data => buf.put_slice(value),
            }
        }
    }
}

/// Everything needed to encode one request, drawn by the generators.
#[derive(Clone, Copy, Debug)]
pub struct Draw {
    pub key: u64,
    pub member: u64,
}

/// Per-run options that change how commands are encoded.
#[derive(Clone, Debug, Default)]
pub struct EncodeOpts {
    pub stream_maxlen: Option<u64>,
    pub list_maxlen: Option<u64>,
    pub custom: Option<CustomCommand>,
}

/// Longest key the encoder builds (prefix + 12 digits), so keys fit a stack buffer.
pub const MAX_KEY: usize = 64;

/// The routing key of a request, written into `out`; returns its length (0 = no key).
pub fn key_of(op: Op, draw: &Draw, opts: &EncodeOpts, out: &mut [u8; MAX_KEY]) -> usize {
    if op == Op::Custom {
        let Some(c) = &opts.custom else { return 0 };
        let Some(parts) = c.key_arg.and_then(|i| c.args.get(i)) else {
            return 0;
        };
        let len = CustomCommand::arg_len(parts, 0);
        if len > MAX_KEY || parts.contains(&Part::Data) {
            return 0;
        }
        let mut w = &mut out[..];
        CustomCommand::put_arg(&mut w, parts, draw.key, b"");
        return len;
    }
    if !op.has_key() {
        return 0;
    }
    let prefix = op.key_prefix();
    out[..prefix.len()].copy_from_slice(prefix);
    write_padded12(draw.key, &mut out[prefix.len()..]);
    prefix.len() + 12
}

/// Appends the request to `buf`. `key` is what `key_of` produced; `value` the payload slice.
/// Returns how many replies the server will send (LPUSH with --list-maxlen adds an LTRIM).
pub fn encode(
    op: Op,
    draw: &Draw,
    key: &[u8],
    value: &[u8],
    opts: &EncodeOpts,
    buf: &mut BytesMut,
) -> usize {
    let mut member = [0u8; 20];
    member[..8].copy_from_slice(b"element:");
    write_padded12(draw.member, &mut member[8..]);
    match op {
        Op::PingInline => buf.put_slice(b"PING\r\n"),
        Op::PingMbulk => buf.put_slice(b"*1\r\n$4\r\nPING\r\n"),
        Op::Set => cmd(buf, &[b"SET", key, value]),
        Op::Get => cmd(buf, &[b"GET", key]),
        Op::Incr => cmd(buf, &[b"INCR", key]),
        Op::Lpush | Op::Rpush => {
            let name: &[u8] = if op == Op::Lpush { b"LPUSH" } else { b"RPUSH" };
            cmd(buf, &[name, key, value]);
            if let Some(max) = opts.list_maxlen {
                // LTRIM keeps the newest `max` elements at the end LPUSH/RPUSH writes to.
                put_array_header(buf, 4);
                put_bulk(buf, b"LTRIM");
                put_bulk(buf, key);
                if op == Op::Lpush {
                    put_bulk(buf, b"0");
                    put_bulk_u64(buf, max.saturating_sub(1));
                } else {
                    let mut t = [0u8; 21];
                    t[0] = b'-';
                    let mut d = [0u8; 20];
                    let s = crate::resp::format_u64(max.max(1), &mut d);
                    t[1..1 + s.len()].copy_from_slice(s);
                    put_bulk(buf, &t[..1 + s.len()]);
                    put_bulk(buf, b"-1");
                }
                return 2;
            }
        }
        Op::Lpop => cmd(buf, &[b"LPOP", key]),
        Op::Rpop => cmd(buf, &[b"RPOP", key]),
        Op::Sadd => cmd(buf, &[b"SADD", key, &member]),
        Op::Spop => cmd(buf, &[b"SPOP", key]),
        Op::Hset => cmd(buf, &[b"HSET", key, &member, value]),
        Op::Zadd => {
            let mut d = [0u8; 20];
            let score = crate::resp::format_u64(draw.member, &mut d);
            cmd(buf, &[b"ZADD", key, score, &member]);
        }
        Op::Zpopmin => cmd(buf, &[b"ZPOPMIN", key]),
        Op::Lrange100 => cmd(buf, &[b"LRANGE", key, b"0", b"99"]),
        Op::Xadd => match opts.stream_maxlen {
            Some(max) => {
                put_array_header(buf, 8);
                put_bulk(buf, b"XADD");
                put_bulk(buf, key);
                put_bulk(buf, b"MAXLEN");
                put_bulk(buf, b"~");
                put_bulk_u64(buf, max);
                put_bulk(buf, b"*");
                put_bulk(buf, b"field");
                put_bulk(buf, value);
            }
            None => cmd(buf, &[b"XADD", key, b"*", b"field", value]),
        },
        Op::Custom => {
            if let Some(c) = &opts.custom {
                put_array_header(buf, c.args.len());
                for parts in &c.args {
                    put_bulk_header(buf, CustomCommand::arg_len(parts, value.len()));
                    CustomCommand::put_arg(buf, parts, draw.key, value);
                    buf.put_slice(b"\r\n");
                }
            }
        }
    }
    1
}

#[inline]
fn cmd(buf: &mut BytesMut, args: &[&[u8]]) {
    put_array_header(buf, args.len());
    for a in args {
        put_bulk(buf, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(op: Op, opts: &EncodeOpts) -> Vec<u8> {
        let d = Draw { key: 7, member: 9 };
        let mut k = [0u8; MAX_KEY];
        let n = key_of(op, &d, opts, &mut k);
        let mut b = BytesMut::new();
        encode(op, &d, &k[..n], b"xyz", opts, &mut b);
        b.to_vec()
    }

    #[test]
    fn parses_tests_and_mixes() {
        assert_eq!(
            parse_tests(&["set", "GET", "set"]).unwrap(),
            vec![Op::Set, Op::Get]
        );
        assert_eq!(
            parse_tests(&["ping"]).unwrap(),
            vec![Op::PingInline, Op::PingMbulk]
        );
        assert!(matches!(
            parse_tests(&["nope"]),
            Err(WorkloadError::UnknownTest(_))
        ));
        assert_eq!(parse_tests::<&str>(&[]), Err(WorkloadError::EmptyTests));
        assert_eq!(
            parse_mix("set=3, get=7").unwrap(),
            vec![(Op::Set, 3), (Op::Get, 7)]
        );
        for bad in [
            "set=0",
            "set=-1",
            "foo=1",
            "set",
            "set=x",
            "",
            "set=1,set=2",
        ] {
            assert!(parse_mix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("3").unwrap().as_secs(), 3);
        for bad in ["", "0s", "-1s", "abc", "5x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_like_redis_benchmark() {
        let o = EncodeOpts::default();
        assert_eq!(
            enc(Op::Set, &o),
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$3\r\nxyz\r\n"
        );
        assert_eq!(enc(Op::PingInline, &o), b"PING\r\n");
        assert_eq!(
            enc(Op::Sadd, &o),
            b"*3\r\n$4\r\nSADD\r\n$18\r\nmyset:000000000007\r\n$20\r\nelement:000000000009\r\n"
        );
        let o = EncodeOpts {
            stream_maxlen: Some(100),
            list_maxlen: Some(10),
            custom: None,
        };
        let x = String::from_utf8(enc(Op::Xadd, &o)).unwrap();
        assert!(
            x.contains("MAXLEN\r\n$1\r\n~\r\n$3\r\n100\r\n$1\r\n*"),
            "{x}"
        );
        let l = String::from_utf8(enc(Op::Lpush, &o)).unwrap();
        assert!(l.ends_with("LTRIM\r\n$19\r\nmylist:000000000007\r\n$1\r\n0\r\n$1\r\n9\r\n"));
        let r = String::from_utf8(enc(Op::Rpush, &o)).unwrap();
        assert!(r.ends_with("$3\r\n-10\r\n$2\r\n-1\r\n"), "{r}");
    }

    #[test]
    fn encodes_custom_commands() {
        let c = CustomCommand::parse(&[
            "SET".into(),
            "user:__rand_int__".into(),
            "v=__data__!".into(),
        ]);
        let o = EncodeOpts {
            custom: Some(c),
            ..Default::default()
        };
        assert_eq!(
            enc(Op::Custom, &o),
            b"*3\r\n$3\r\nSET\r\n$17\r\nuser:000000000007\r\n$6\r\nv=xyz!\r\n"
        );
        let mut k = [0u8; MAX_KEY];
        let n = key_of(Op::Custom, &Draw { key: 7, member: 0 }, &o, &mut k);
        assert_eq!(&k[..n], b"user:000000000007");
    }
}
