//! Pre-compiled request templates: the constant bytes of each command (array header, command name,
//! key prefix, fixed arguments) are laid out once per run, so encoding a request is a few copies of
//! literals plus the 12 key digits and the value. `encode()` in mod.rs stays the readable reference;
//! a test keeps the two byte-identical.

use bytes::{BufMut, BytesMut};

use super::{Draw, EncodeOpts, Op};
use crate::resp::{format_u64, write_padded12};

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Lit(Vec<u8>),
    /// The 12 key digits.
    Key,
    /// `$20\r\nelement:<12 digits>\r\n`
    Member,
    /// `$<len>\r\n<value>\r\n`
    Value,
    /// `$<len>\r\n<member as decimal>\r\n` (ZADD's score)
    Score,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    segs: Vec<Seg>,
    replies: usize,
}

struct Builder {
    segs: Vec<Seg>,
}

impl Builder {
    fn lit(&mut self, b: &[u8]) {
        if let Some(Seg::Lit(last)) = self.segs.last_mut() {
            last.extend_from_slice(b);
        } else {
            self.segs.push(Seg::Lit(b.to_vec()));
        }
    }

    fn arr(&mut self, n: usize) {
        self.lit(format!("*{n}\r\n").as_bytes());
    }

    fn bulk(&mut self, b: &[u8]) {
        self.lit(format!("${}\r\n", b.len()).as_bytes());
        self.lit(b);
        self.lit(b"\r\n");
    }

    fn key(&mut self, op: Op) {
        let prefix = op.key_prefix();
        self.lit(format!("${}\r\n", prefix.len() + 12).as_bytes());
        self.lit(prefix);
        self.segs.push(Seg::Key);
        self.lit(b"\r\n");
    }

    fn push(&mut self, s: Seg) {
        self.segs.push(s);
    }
}

impl Template {
    /// The template of `op`, or None for commands encoded by the general path (custom commands).
    pub fn compile(op: Op, opts: &EncodeOpts) -> Option<Template> {
        let mut b = Builder { segs: Vec::new() };
        let mut replies = 1;
        match op {
            Op::Custom => return None,
            Op::PingInline => b.lit(b"PING\r\n"),
            Op::PingMbulk => {
                b.arr(1);
                b.bulk(b"PING");
            }
            Op::Set => {
                b.arr(3);
                b.bulk(b"SET");
                b.key(op);
                b.push(Seg::Value);
            }
            Op::Get | Op::Incr | Op::Lpop | Op::Rpop | Op::Spop | Op::Zpopmin => {
                let name: &[u8] = match op {
                    Op::Get => b"GET",
                    Op::Incr => b"INCR",
                    Op::Lpop => b"LPOP",
                    Op::Rpop => b"RPOP",
                    Op::Spop => b"SPOP",
                    _ => b"ZPOPMIN",
                };
                b.arr(2);
                b.bulk(name);
                b.key(op);
            }
            Op::Lpush | Op::Rpush => {
                b.arr(3);
                b.bulk(if op == Op::Lpush { b"LPUSH" } else { b"RPUSH" });
                b.key(op);
                b.push(Seg::Value);
                if let Some(max) = opts.list_maxlen {
                    b.arr(4);
                    b.bulk(b"LTRIM");
                    b.key(op);
                    if op == Op::Lpush {
                        b.bulk(b"0");
                        b.bulk(max.saturating_sub(1).to_string().as_bytes());
                    } else {
                        b.bulk(format!("-{}", max.max(1)).as_bytes());
                        b.bulk(b"-1");
                    }
                    replies = 2;
                }
            }
            Op::Sadd => {
                b.arr(3);
                b.bulk(b"SADD");
                b.key(op);
                b.push(Seg::Member);
            }
            Op::Hset => {
                b.arr(4);
                b.bulk(b"HSET");
                b.key(op);
                b.push(Seg::Member);
                b.push(Seg::Value);
            }
            Op::Zadd => {
                b.arr(4);
                b.bulk(b"ZADD");
                b.key(op);
                b.push(Seg::Score);
                b.push(Seg::Member);
            }
            Op::Lrange100 => {
                b.arr(4);
                b.bulk(b"LRANGE");
                b.key(op);
                b.bulk(b"0");
                b.bulk(b"99");
            }
            Op::Xadd => {
                match opts.stream_maxlen {
                    Some(max) => {
                        b.arr(8);
                        b.bulk(b"XADD");
                        b.key(op);
                        b.bulk(b"MAXLEN");
                        b.bulk(b"~");
                        b.bulk(max.to_string().as_bytes());
                    }
                    None => {
                        b.arr(5);
                        b.bulk(b"XADD");
                        b.key(op);
                    }
                }
                b.bulk(b"*");
                b.bulk(b"field");
                b.push(Seg::Value);
            }
        }
        Some(Template {
            segs: b.segs,
            replies,
        })
    }

    /// Appends one request; returns how many replies it produces. Small pieces are gathered in a
    /// stack buffer so the write buffer sees few, larger copies.
    #[inline]
    pub fn encode(&self, draw: &Draw, value: &[u8], buf: &mut BytesMut) -> usize {
        let mut tmp = [0u8; 256];
        let mut n = 0usize;
        // Copies into the stack buffer, spilling to `buf` when it would not fit.
        macro_rules! put {
            ($bytes:expr) => {{
                let b: &[u8] = $bytes;
                if n + b.len() > tmp.len() {
                    buf.put_slice(&tmp[..n]);
                    n = 0;
                }
                if b.len() > tmp.len() {
                    buf.put_slice(b);
                } else {
                    tmp[n..n + b.len()].copy_from_slice(b);
                    n += b.len();
                }
            }};
        }
        // `$<len>\r\n<bytes>\r\n`
        macro_rules! bulk {
            ($bytes:expr) => {{
                let b: &[u8] = $bytes;
                let mut l = [0u8; 20];
                put!(b"$");
                put!(format_u64(b.len() as u64, &mut l));
                put!(b"\r\n");
                put!(b);
                put!(b"\r\n");
            }};
        }
        for seg in &self.segs {
            match seg {
                Seg::Lit(b) => put!(b),
                Seg::Key => {
                    let mut d = [0u8; 12];
                    write_padded12(draw.key, &mut d);
                    put!(&d);
                }
                Seg::Member => {
                    let mut m = *b"$20\r\nelement:000000000000\r\n";
                    write_padded12(draw.member, &mut m[13..25]);
                    put!(&m);
                }
                Seg::Score => {
                    let mut d = [0u8; 20];
                    bulk!(format_u64(draw.member, &mut d));
                }
                Seg::Value => bulk!(value),
            }
        }
        buf.put_slice(&tmp[..n]);
        self.replies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{MAX_KEY, encode, key_of};

    /// Templates produce exactly the bytes of the reference encoder, for every op and option.
    #[test]
    fn templates_match_the_reference_encoder() {
        let big = vec![b'x'; 1000];
        let opt_sets = [
            EncodeOpts::default(),
            EncodeOpts {
                stream_maxlen: Some(1000),
                list_maxlen: Some(7),
                custom: None,
            },
        ];
        for opts in &opt_sets {
            for op in Op::BUILTIN {
                let t = Template::compile(op, opts).expect("builtin ops have templates");
                for (key, member, value) in [
                    (0u64, 0u64, &b""[..]),
                    (42, 99_999, &b"abc"[..]),
                    (999_999_999_999, 7, &big[..]),
                ] {
                    let d = Draw { key, member };
                    let mut k = [0u8; MAX_KEY];
                    let kl = key_of(op, &d, opts, &mut k);
                    let mut want = BytesMut::new();
                    let rw = encode(op, &d, &k[..kl], value, opts, &mut want);
                    let mut got = BytesMut::new();
                    let rg = t.encode(&d, value, &mut got);
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                        "{op:?}"
                    );
                    assert_eq!(rg, rw);
                }
            }
        }
        assert!(Template::compile(Op::Custom, &EncodeOpts::default()).is_none());
    }
}
