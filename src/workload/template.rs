//! The one encoder of benchmark requests. A test's row of the op table (or the custom command line) is
//! compiled once per run into literal bytes with a few holes (key digits, member, score, value), so
//! encoding a request is a handful of copies and no allocation.

use bytes::BufMut;

use super::command::{Expiry, UserCommand, ends_with_exec};
use super::generator::Rng;
use super::keys::{KeyPattern, Sampler};
use super::{Arg, DrawnArgs, EncodeOpts, ListEnd, MAX_KEY, Op, OpDef, Part};
use crate::resp::format_u64;

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Lit(Vec<u8>),
    /// The drawn key as 12 digits (also `__rand_int__`).
    KeyDigits,
    /// `__rand_1st__` .. `__rand_9th__` (0 = 1st) as 12 digits.
    NthDigits(u8),
    /// The drawn member as 12 digits.
    MemberDigits,
    /// `{` + the drawn key's first 11 digits + `}`: the hash tag of its group of ten (MSET).
    TagDigits,
    /// Key `i` of the drawn key's group of ten (see `group_member`): `{ddddddddddd}d` when `tag`
    /// (cluster runs: one slot for the group), else 12 digits like every other key.
    Grouped {
        i: u8,
        tag: bool,
    },
    /// `$<fixed + values × value length>\r\n`: the header of an argument holding the value.
    ValueLen {
        fixed: usize,
        values: usize,
    },
    /// The value bytes.
    Value,
    /// `$<len>\r\n<value>\r\n`: an argument that is just the value (the common case, in one step).
    ValueBulk,
    /// `$<len>\r\n<member as decimal>\r\n` (ZADD's score).
    Score,
    /// Key `i` of a multi-key command as 12 digits (key 0 is the drawn key; the others are drawn
    /// from the command's key space, seeded by the draw, so a retry sends the same keys).
    MultiDigits(u16),
    /// `$<len>\r\nrbench_f<member mod n>\r\n`: one of the FCALL library's `n` functions.
    Function(u32),
    /// `$<len>\r\n<ttl>\r\n`: the drawn TTL in milliseconds, or in seconds (`__ttl__`).
    Ttl {
        secs: bool,
    },
}

/// What one reply of a request is for, in the order the server sends them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The reply that completes the request (its latency ends here).
    Main,
    /// A command of a sequence before its last: an error here is the request's error.
    Inner,
    /// Dropped (the LTRIM after a capped push).
    Skip,
    /// A follow-up counted in a row of its own (the PEXPIRE that gives a command its TTL).
    Follow(u8),
}

/// One compiled request: `encode` appends it, `route_key` says where it goes in cluster mode.
#[derive(Clone, Debug)]
pub struct Template {
    segs: Vec<Seg>,
    /// The routing key, as literals and key digits only (`route_key` relies on it); empty when keyless.
    route: Vec<Seg>,
    route_len: usize,
    /// One per reply the request gets, in order.
    roles: Vec<Role>,
    /// The last command is an EXEC: a nil reply is a failed WATCH, not a success.
    exec_last: bool,
    /// Bounds MSET's groups (`EncodeOpts::keyspace`).
    keyspace: u64,
    /// Draws the extra keys of `__keys_N__`/`__pairs_N__`.
    multi: Option<Sampler>,
}

/// Lays out segments, merging adjacent literals so encoding copies fewer, larger pieces.
#[derive(Default)]
struct Builder {
    segs: Vec<Seg>,
}

impl Builder {
    fn lit(&mut self, b: &[u8]) {
        match self.segs.last_mut() {
            Some(Seg::Lit(last)) => last.extend_from_slice(b),
            _ if b.is_empty() => {}
            _ => self.segs.push(Seg::Lit(b.to_vec())),
        }
    }

    fn hole(&mut self, s: Seg) {
        self.segs.push(s);
    }

    fn arr(&mut self, n: usize) {
        self.lit(format!("*{n}\r\n").as_bytes());
    }

    fn bulk(&mut self, b: &[u8]) {
        self.lit(format!("${}\r\n", b.len()).as_bytes());
        self.lit(b);
        self.lit(b"\r\n");
    }

    fn key(&mut self, prefix: &[u8]) {
        self.lit(format!("${}\r\n", prefix.len() + 12).as_bytes());
        self.lit(prefix);
        self.hole(Seg::KeyDigits);
        self.lit(b"\r\n");
    }

    /// One argument made of literals and placeholders (a user command's word, or the value).
    fn word(&mut self, parts: &[Part], pat: &KeyPattern) {
        if parts == [Part::Data] {
            self.hole(Seg::ValueBulk);
            return;
        }
        if parts == [Part::Ttl] {
            self.hole(Seg::Ttl { secs: true });
            return;
        }
        let (fixed, values) = word_len(parts, pat);
        if values == 0 {
            self.lit(format!("${fixed}\r\n").as_bytes());
        } else {
            self.hole(Seg::ValueLen { fixed, values });
        }
        for p in parts {
            match p {
                Part::Lit(b) => self.lit(b),
                Part::RandInt => self.hole(Seg::KeyDigits),
                Part::RandNth(i) => self.hole(Seg::NthDigits(*i)),
                Part::Data => self.hole(Seg::Value),
                Part::Key => {
                    self.lit(&pat.prefix);
                    self.hole(Seg::KeyDigits);
                    self.lit(&pat.suffix);
                }
                // Words of their own (checked when parsed): handled by `user_word`.
                Part::Keys(_) | Part::Pairs(_) | Part::Ttl | Part::Sha => {}
            }
        }
        self.lit(b"\r\n");
    }

    /// Key `i` of a multi-key command: on a cluster `prefix{D0}Di suffix`, so all share key 0's
    /// slot.
    fn multi_key(&mut self, i: u16, pat: &KeyPattern, tag: bool) {
        let len = pat.key_len() + if tag { 14 } else { 0 };
        self.lit(format!("${len}\r\n").as_bytes());
        self.lit(&pat.prefix);
        if tag {
            self.lit(b"{");
            self.hole(Seg::KeyDigits);
            self.lit(b"}");
        }
        self.hole(Seg::MultiDigits(i));
        self.lit(&pat.suffix);
        self.lit(b"\r\n");
    }
}

/// A word's length apart from the value, and how many times it holds the value.
fn word_len(parts: &[Part], pat: &KeyPattern) -> (usize, usize) {
    parts.iter().fold((0, 0), |(fixed, values), p| match p {
        Part::Lit(b) => (fixed + b.len(), values),
        Part::RandInt | Part::RandNth(_) => (fixed + 12, values),
        Part::Key => (fixed + pat.key_len(), values),
        Part::Data => (fixed, values + 1),
        Part::Keys(_) | Part::Pairs(_) | Part::Ttl | Part::Sha => (fixed, values),
    })
}

/// How many RESP arguments `arg` expands to under these options.
fn argc(arg: Arg, opts: &EncodeOpts) -> usize {
    match arg {
        Arg::StreamMaxlen if opts.stream_maxlen.is_none() => 0,
        Arg::StreamMaxlen => 3,
        Arg::Fcall => 2 + opts.fcall.1 as usize,
        _ => 1,
    }
}

/// The FCALL library's functions are `rbench_f0` .. `rbench_f{n-1}`.
pub const FUNCTION_PREFIX: &[u8] = b"rbench_f";

/// How many RESP arguments a user command's word expands to.
fn user_argc(w: &[Part]) -> usize {
    match w {
        [Part::Keys(n)] => *n as usize,
        [Part::Pairs(n)] => 2 * *n as usize,
        _ => 1,
    }
}

impl Template {
    /// The sampler a built-in's extra keys are drawn with (the FCALL test's).
    pub fn with_keys(mut self, keys: Sampler) -> Template {
        self.multi = Some(keys);
        self
    }

    /// Compiles the built-in test `op` under `opts`.
    pub fn compile(op: Op, opts: &EncodeOpts) -> Template {
        let def = op.def();
        let n: usize = def.args.iter().map(|&a| argc(a, opts)).sum();
        let mut b = Builder::default();
        let mut roles = vec![Role::Main];
        if def.inline {
            inline(&mut b, def);
        } else if n > 0 {
            b.arr(n);
            for &a in def.args {
                arg(&mut b, def, a, opts);
            }
            if trim(&mut b, def, opts.list_maxlen) {
                roles.push(Role::Skip);
            }
        }
        let route = route(def, opts);
        Template {
            route_len: route.iter().map(seg_len).sum(),
            route,
            segs: b.segs,
            roles,
            exec_last: false,
            keyspace: opts.keyspace,
            multi: None,
        }
    }

    /// Compiles a user command: its sequence, the TTL it carries (`Expiry`: `PX` in a SET, or a
    /// pipelined PEXPIRE counted in row `follow`), keys from `keys` (its space, for
    /// `__keys_N__`), tagged on a cluster.
    pub fn compile_user(
        c: &UserCommand,
        keys: Sampler,
        cluster: bool,
        follow: Option<u8>,
    ) -> Template {
        let mut b = Builder::default();
        let px = c.expiry() == Expiry::Px;
        let mut roles = Vec::new();
        for (i, cmd) in c.seq.iter().enumerate() {
            let extra = if px { 2 } else { 0 };
            b.arr(cmd.iter().map(|w| user_argc(w)).sum::<usize>() + extra);
            for w in cmd {
                user_word(&mut b, w, &c.pattern, cluster);
            }
            if px {
                b.bulk(b"PX");
                b.hole(Seg::Ttl { secs: false });
            }
            let last = i + 1 == c.seq.len();
            roles.push(if last { Role::Main } else { Role::Inner });
        }
        let route = user_route(c, cluster);
        if let (Some(row), Expiry::Pexpire) = (follow, c.expiry()) {
            pexpire(&mut b, &route, &c.pattern);
            roles.push(Role::Follow(row));
        }
        Template {
            route_len: route.iter().map(seg_len).sum(),
            route,
            segs: b.segs,
            roles,
            exec_last: ends_with_exec(&c.seq),
            keyspace: 0,
            multi: Some(keys),
        }
    }

    /// The follow-up alone (`PEXPIRE key ms`): how a retried follow-up is sent again.
    pub fn compile_follow(c: &UserCommand, cluster: bool) -> Template {
        let mut b = Builder::default();
        let route = user_route(c, cluster);
        pexpire(&mut b, &route, &c.pattern);
        Template {
            route_len: route.iter().map(seg_len).sum(),
            route,
            segs: b.segs,
            roles: vec![Role::Main],
            exec_last: false,
            keyspace: 0,
            multi: None,
        }
    }

    /// One per reply the request gets, in order.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The request ends with an EXEC (a nil reply to it means its WATCH failed).
    pub fn exec_last(&self) -> bool {
        self.exec_last
    }

    /// Which `__rand_Nth__` placeholders the request uses (bit i: the (i+1)th), so only those are drawn.
    pub fn rand_nth_mask(&self) -> u16 {
        self.segs.iter().fold(0, |m, s| match s {
            Seg::NthDigits(i) => m | 1 << i,
            _ => m,
        })
    }

    /// Whether requests have no routing key (any cluster node will do).
    pub fn keyless(&self) -> bool {
        self.route_len == 0
    }

    /// Writes the key that routes the request in cluster mode; returns its length (0 = keyless).
    #[inline]
    pub fn route_key(&self, draw: &DrawnArgs, out: &mut [u8; MAX_KEY]) -> usize {
        let mut n = 0;
        for seg in &self.route {
            let len = seg_len(seg);
            // compile() keeps routes within MAX_KEY; `get_mut` only makes that impossible to break.
            let Some(dst) = out.get_mut(n..n + len) else {
                return 0;
            };
            match seg {
                Seg::Lit(b) => dst.copy_from_slice(b),
                Seg::NthDigits(i) => dst.copy_from_slice(&digits12(draw.nth[*i as usize])),
                Seg::TagDigits => dst.copy_from_slice(&tagged(draw.key)[..len]),
                _ => dst.copy_from_slice(&digits12(draw.key)),
            }
            n += len;
        }
        n
    }

    /// Key `i` of a multi-key request (key 0: the drawn one).
    #[inline]
    fn multi_key(&self, draw: &DrawnArgs, i: u16) -> u64 {
        match (&self.multi, i) {
            (_, 0) | (None, _) => draw.key,
            (Some(s), i) => s.draw(&mut Rng::new(draw.member.wrapping_add(u64::from(i)))),
        }
    }

    /// Appends one request (`ttl_ms`: its TTL, for a command with one); returns how many replies
    /// the server will send for it.
    #[inline]
    pub fn encode<B: BufMut>(
        &self,
        draw: &DrawnArgs,
        ttl_ms: u32,
        value: &[u8],
        buf: &mut B,
    ) -> usize {
        let mut tmp = [0u8; GATHER];
        let mut n = 0usize;
        // Macros rather than a helper struct: with `n` a plain local it stays in a register (measured:
        // ~8 % fewer instructions per request).
        macro_rules! put {
            ($bytes:expr) => {{
                let b: &[u8] = $bytes;
                if n + b.len() > GATHER {
                    buf.put_slice(&tmp[..n]);
                    n = 0;
                }
                if b.len() > GATHER {
                    buf.put_slice(b);
                } else {
                    tmp[n..n + b.len()].copy_from_slice(b);
                    n += b.len();
                }
            }};
        }
        macro_rules! hdr {
            ($len:expr) => {{
                let mut d = [0; 20];
                put!(b"$");
                put!(format_u64($len as u64, &mut d));
                put!(b"\r\n");
            }};
        }
        // A bulk string holding a decimal number.
        macro_rules! num {
            ($v:expr) => {{
                let mut d = [0; 20];
                let t = format_u64($v, &mut d);
                hdr!(t.len());
                put!(t);
                put!(b"\r\n");
            }};
        }
        let ks = self.keyspace;
        for seg in &self.segs {
            match seg {
                Seg::Lit(b) => put!(b),
                Seg::KeyDigits => put!(&digits12(draw.key)),
                Seg::NthDigits(i) => put!(&digits12(draw.nth[*i as usize])),
                Seg::MemberDigits => put!(&digits12(draw.member)),
                Seg::TagDigits => put!(&tagged(draw.key)[..13]),
                Seg::Grouped { i, tag: true } => put!(&tagged(group_member(draw.key, *i, ks))),
                Seg::Grouped { i, tag: false } => put!(&digits12(group_member(draw.key, *i, ks))),
                Seg::ValueLen { fixed, values } => hdr!(fixed + values * value.len()),
                Seg::Value => put!(value),
                Seg::ValueBulk => {
                    hdr!(value.len());
                    put!(value);
                    put!(b"\r\n");
                }
                Seg::Score => num!(draw.member),
                Seg::MultiDigits(i) => put!(&digits12(self.multi_key(draw, *i))),
                Seg::Function(n) => {
                    let mut d = [0; 20];
                    let f = format_u64(draw.member % u64::from((*n).max(1)), &mut d);
                    hdr!(FUNCTION_PREFIX.len() + f.len());
                    put!(FUNCTION_PREFIX);
                    put!(f);
                    put!(b"\r\n");
                }
                Seg::Ttl { secs: true } => num!(u64::from(ttl_ms.max(1)).div_ceil(1000)),
                Seg::Ttl { secs: false } => num!(u64::from(ttl_ms.max(1))),
            }
        }
        buf.put_slice(&tmp[..n]);
        self.roles.len()
    }
}

/// An inline command line: the row's literal words, space-separated (only PING_INLINE is inline).
fn inline(b: &mut Builder, def: &OpDef) {
    let words: Vec<&[u8]> = def
        .args
        .iter()
        .filter_map(|a| match a {
            Arg::Lit(w) => Some(*w),
            _ => None,
        })
        .collect();
    b.lit(&words.join(&b' '));
    b.lit(b"\r\n");
}

fn arg(b: &mut Builder, def: &OpDef, a: Arg, opts: &EncodeOpts) {
    match a {
        Arg::Lit(l) => b.bulk(l),
        Arg::Key => b.key(def.prefix),
        Arg::Value => b.hole(Seg::ValueBulk),
        Arg::Member => {
            b.lit(b"$20\r\nelement:");
            b.hole(Seg::MemberDigits);
            b.lit(b"\r\n");
        }
        Arg::Score => b.hole(Seg::Score),
        Arg::Grouped(i) => {
            let tag = opts.cluster;
            let len = def.prefix.len() + if tag { 14 } else { 12 };
            b.lit(format!("${len}\r\n").as_bytes());
            b.lit(def.prefix);
            b.hole(Seg::Grouped { i, tag });
            b.lit(b"\r\n");
        }
        Arg::Fcall => {
            let (functions, keys) = opts.fcall;
            b.hole(Seg::Function(functions));
            b.bulk(keys.to_string().as_bytes());
            let pat = KeyPattern {
                prefix: def.prefix.to_vec(),
                suffix: Vec::new(),
            };
            (0..keys).for_each(|i| b.multi_key(i, &pat, opts.cluster));
        }
        Arg::StreamMaxlen => {
            if let Some(max) = opts.stream_maxlen {
                b.bulk(b"MAXLEN");
                b.bulk(b"~");
                b.bulk(max.to_string().as_bytes());
            }
        }
    }
}

/// One word of a user command: multi-key words expand to their arguments.
fn user_word(b: &mut Builder, w: &[Part], pat: &KeyPattern, cluster: bool) {
    match w {
        [Part::Keys(n)] => (0..*n).for_each(|i| b.multi_key(i, pat, cluster)),
        [Part::Pairs(n)] => (0..*n).for_each(|i| {
            b.multi_key(i, pat, cluster);
            b.hole(Seg::ValueBulk);
        }),
        _ => b.word(w, pat),
    }
}

/// `PEXPIRE <routing key> <ttl ms>`.
fn pexpire(b: &mut Builder, route: &[Seg], pat: &KeyPattern) {
    b.arr(3);
    b.bulk(b"PEXPIRE");
    let len: usize = route.iter().map(seg_len).sum();
    b.lit(format!("${len}\r\n").as_bytes());
    for s in route {
        match s {
            Seg::Lit(l) => b.lit(l),
            other => b.hole(other.clone()),
        }
    }
    b.lit(b"\r\n");
    b.hole(Seg::Ttl { secs: false });
    let _ = pat;
}

/// The `--list-maxlen` follow-up of a push: an LTRIM keeping the newest elements at the end it writes
/// to. Returns whether it added one.
fn trim(b: &mut Builder, def: &OpDef, list_maxlen: Option<u64>) -> bool {
    let (Some(end), Some(max)) = (def.trim, list_maxlen) else {
        return false;
    };
    b.arr(4);
    b.bulk(b"LTRIM");
    b.key(def.prefix);
    match end {
        ListEnd::Head => {
            b.bulk(b"0");
            b.bulk(max.saturating_sub(1).to_string().as_bytes());
        }
        ListEnd::Tail => {
            b.bulk(format!("-{}", max.max(1)).as_bytes());
            b.bulk(b"-1");
        }
    }
    true
}

/// The routing key: a built-in's prefix + digits.
fn route(def: &OpDef, opts: &EncodeOpts) -> Vec<Seg> {
    if def.args.contains(&Arg::Key) {
        return vec![Seg::Lit(def.prefix.to_vec()), Seg::KeyDigits];
    }
    if def.args.contains(&Arg::Grouped(0)) {
        // In a cluster every key of the group has this hash tag, so this key routes them all.
        return vec![Seg::Lit(def.prefix.to_vec()), Seg::TagDigits];
    }
    if def.args.contains(&Arg::Fcall) && opts.fcall.1 > 0 {
        // Key 0 (the drawn key); on a cluster every key carries its digits as a hash tag.
        let open = [def.prefix, &b"{"[..]].concat();
        return match opts.cluster {
            true => vec![Seg::Lit(open), Seg::KeyDigits, Seg::Lit(b"}".to_vec())],
            false => vec![Seg::Lit(def.prefix.to_vec()), Seg::KeyDigits],
        };
    }
    Vec::new()
}

/// A user command routes by its first key argument (`UserCommand::route_word`), when that is a
/// short key: a word holding the value is no key, and one longer than MAX_KEY is not one rbench
/// builds. A multi-key word routes by key 0 (on a cluster, by the hash tag they share).
fn user_route(c: &UserCommand, cluster: bool) -> Vec<Seg> {
    let Some(parts) = (0..c.seq.len()).find_map(|i| c.route_word(i)) else {
        return Vec::new();
    };
    let pat = &c.pattern;
    if let [Part::Keys(_) | Part::Pairs(_)] = &parts[..] {
        let mut r = vec![Seg::Lit(pat.prefix.clone())];
        if cluster {
            r.extend([
                Seg::Lit(b"{".to_vec()),
                Seg::KeyDigits,
                Seg::Lit(b"}".to_vec()),
            ]);
        }
        r.extend([Seg::KeyDigits, Seg::Lit(pat.suffix.clone())]);
        return r;
    }
    let routable = parts.iter().all(|p| {
        matches!(
            p,
            Part::Lit(_) | Part::Key | Part::RandInt | Part::RandNth(_)
        )
    });
    if !routable || word_len(parts, pat).0 > MAX_KEY {
        return Vec::new();
    }
    let mut r = Vec::new();
    for p in parts {
        match p {
            Part::Lit(b) => r.push(Seg::Lit(b.clone())),
            Part::RandNth(i) => r.push(Seg::NthDigits(*i)),
            Part::Key => r.extend([
                Seg::Lit(pat.prefix.clone()),
                Seg::KeyDigits,
                Seg::Lit(pat.suffix.clone()),
            ]),
            _ => r.push(Seg::KeyDigits),
        }
    }
    r.retain(|s| !matches!(s, Seg::Lit(b) if b.is_empty()));
    r
}

/// Length of a routing segment (literals, key digits and a hash tag only).
fn seg_len(s: &Seg) -> usize {
    match s {
        Seg::Lit(b) => b.len(),
        Seg::TagDigits => 13,
        _ => 12,
    }
}

/// Key `i` of `key`'s group: the keys that differ from it only in the last digit and lie below
/// `keyspace` (0: unbounded), taken in turn. A group cut short by the end of the key space repeats
/// its keys, so `-r K` still touches at most K keys (with one key, all ten are that key, as
/// redis-benchmark's MSET without -r).
#[inline]
fn group_member(key: u64, i: u8, keyspace: u64) -> u64 {
    let base = key - key % 10;
    let size = match keyspace {
        0 => 10,
        k => k.saturating_sub(base).clamp(1, 10),
    };
    // Keys near u64::MAX have a shorter group (no wrapping past it).
    let size = size.min((u64::MAX - base).saturating_add(1));
    base + u64::from(i) % size
}

/// `{ddddddddddd}d`: `v` as 12 digits with the first 11 in braces (a hash tag shared by its group).
#[inline]
fn tagged(v: u64) -> [u8; 14] {
    let d = digits12(v);
    let mut out = [b'{'; 14];
    out[1..12].copy_from_slice(&d[..11]);
    out[12] = b'}';
    out[13] = d[11];
    out
}

/// Two-digit pairs "00".."99", so digits are written two per division.
const PAIRS: [u8; 200] = {
    let mut t = [0; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `v` as exactly 12 zero-padded digits (redis-benchmark's `__rand_int__` width), modulo 10^12.
/// Runs for every key; two 32-bit halves and digit pairs keep it to a few multiplications.
#[inline]
fn digits12(v: u64) -> [u8; 12] {
    let v = v % 1_000_000_000_000;
    let mut out = [0; 12];
    for (at, mut half) in [(0, (v / 1_000_000) as u32), (6, (v % 1_000_000) as u32)] {
        for i in (0..3).rev() {
            let p = (half % 100) as usize * 2;
            half /= 100;
            out[at + 2 * i..at + 2 * i + 2].copy_from_slice(&PAIRS[p..p + 2]);
        }
    }
    out
}

/// Small pieces are gathered in a stack buffer of this size, so the write buffer sees few, larger
/// copies.
const GATHER: usize = 256;

#[cfg(test)]
mod tests {
    use redis_protocol::resp2::encode::encode;
    use redis_protocol::resp2::types::{OwnedFrame, Resp2Frame};

    use super::*;

    type Argv = Vec<Vec<u8>>;

    fn s(b: &[u8]) -> Vec<u8> {
        b.to_vec()
    }

    fn key(prefix: &str, d: &DrawnArgs) -> Vec<u8> {
        format!("{prefix}{:012}", d.key % 1_000_000_000_000).into_bytes()
    }

    /// What each test sends, spelled out by hand (one argv per command; PING_INLINE is not an array).
    fn argv(op: Op, d: &DrawnArgs, v: &[u8], o: &EncodeOpts) -> Vec<Argv> {
        let member = format!("element:{:012}", d.member % 1_000_000_000_000).into_bytes();
        let score = d.member.to_string().into_bytes();
        let k = |p| key(p, d);
        match op {
            Op::PingInline => unreachable!("inline"),
            Op::PingMbulk => vec![vec![s(b"PING")]],
            Op::Set => vec![vec![s(b"SET"), k("key:"), s(v)]],
            Op::Get => vec![vec![s(b"GET"), k("key:")]],
            Op::Incr => vec![vec![s(b"INCR"), k("counter:")]],
            Op::Lpush | Op::LpushFill => {
                let mut c = vec![vec![s(b"LPUSH"), k("mylist:"), s(v)]];
                if let Some(m) = o.list_maxlen {
                    let stop = m.saturating_sub(1).to_string().into_bytes();
                    c.push(vec![s(b"LTRIM"), k("mylist:"), s(b"0"), stop]);
                }
                c
            }
            Op::Rpush => {
                let mut c = vec![vec![s(b"RPUSH"), k("mylist:"), s(v)]];
                if let Some(m) = o.list_maxlen {
                    let start = format!("-{m}").into_bytes();
                    c.push(vec![s(b"LTRIM"), k("mylist:"), start, s(b"-1")]);
                }
                c
            }
            Op::Lpop => vec![vec![s(b"LPOP"), k("mylist:")]],
            Op::Rpop => vec![vec![s(b"RPOP"), k("mylist:")]],
            Op::Sadd => vec![vec![s(b"SADD"), k("myset:"), member]],
            Op::Hset => vec![vec![s(b"HSET"), k("myhash:"), member, s(v)]],
            Op::Spop => vec![vec![s(b"SPOP"), k("myset:")]],
            Op::Zadd => vec![vec![s(b"ZADD"), k("myzset:"), score, member]],
            Op::Zpopmin => vec![vec![s(b"ZPOPMIN"), k("myzset:")]],
            Op::Lrange100 => vec![vec![s(b"LRANGE"), k("mylist:"), s(b"0"), s(b"99")]],
            Op::Lrange300 => vec![vec![s(b"LRANGE"), k("mylist:"), s(b"0"), s(b"299")]],
            Op::Lrange500 => vec![vec![s(b"LRANGE"), k("mylist:"), s(b"0"), s(b"449")]],
            Op::Lrange600 => vec![vec![s(b"LRANGE"), k("mylist:"), s(b"0"), s(b"599")]],
            Op::Mset => {
                let mut a = vec![s(b"MSET")];
                for key in mset_keys(d.key, o.keyspace, o.cluster) {
                    a.push(key.into_bytes());
                    a.push(s(v));
                }
                vec![a]
            }
            Op::Xadd => {
                let mut a = vec![s(b"XADD"), k("mystream:")];
                if let Some(m) = o.stream_maxlen {
                    a.extend([s(b"MAXLEN"), s(b"~"), m.to_string().into_bytes()]);
                }
                a.extend([s(b"*"), s(b"field"), s(v)]);
                vec![a]
            }
            Op::Fcall => {
                let (n, keys) = o.fcall;
                let f = format!("rbench_f{}", d.member % u64::from(n.max(1)));
                let mut a = vec![s(b"FCALL"), f.into_bytes(), keys.to_string().into_bytes()];
                let digits = format!("{:012}", d.key % 1_000_000_000_000);
                for _ in 0..keys {
                    a.push(match o.cluster {
                        true => format!("key:{{{digits}}}{digits}").into_bytes(),
                        false => format!("key:{digits}").into_bytes(),
                    });
                }
                vec![a]
            }
            Op::Mget => {
                let mut a = vec![s(b"MGET")];
                a.extend(
                    mset_keys(d.key, o.keyspace, o.cluster)
                        .into_iter()
                        .map(String::into_bytes),
                );
                vec![a]
            }
        }
    }

    /// MSET's ten keys, spelled out: the drawn key's group of ten (same first 11 digits), members
    /// at or past `keyspace` left out and the rest taken in turn; in a cluster the 11 digits are a
    /// hash tag.
    fn mset_keys(key: u64, keyspace: u64, cluster: bool) -> Vec<String> {
        let d = format!("{:012}", key % 1_000_000_000_000);
        let base = key - key % 10;
        let members: Vec<u64> = (0..10)
            .filter_map(|j| base.checked_add(j))
            .filter(|&m| keyspace == 0 || m < keyspace)
            .collect();
        (0..10)
            .map(|i| {
                let m = members[i % members.len()] % 10;
                match cluster {
                    true => format!("key:{{{}}}{m}", &d[..11]),
                    false => format!("key:{}{m}", &d[..11]),
                }
            })
            .collect()
    }

    /// redis-protocol's encoding of commands as arrays of bulk strings.
    fn resp(cmds: &[Argv]) -> Vec<u8> {
        let mut out = Vec::new();
        for argv in cmds {
            let f = OwnedFrame::Array(argv.iter().cloned().map(OwnedFrame::BulkString).collect());
            let mut b = vec![0; f.encode_len(false)];
            let n = encode(&mut b, &f, false).expect("encodes");
            out.extend_from_slice(&b[..n]);
        }
        out
    }

    fn draws() -> [DrawnArgs; 4] {
        let nth = |b: u64| std::array::from_fn(|i| b.wrapping_mul(i as u64 + 3));
        [
            DrawnArgs::default(),
            DrawnArgs {
                key: 7,
                member: 9,
                nth: nth(11),
            },
            DrawnArgs {
                key: 999_999_999_999,
                member: 99_999,
                nth: nth(333_333_333_333),
            },
            DrawnArgs {
                key: u64::MAX,
                member: u64::MAX,
                nth: [u64::MAX; 9],
            },
        ]
    }

    fn values() -> Vec<Vec<u8>> {
        // Empty, short, and sizes around the gather buffer's edge.
        [0, 3, 200, 255, 256, 257, 1000, 70_000]
            .map(|n| vec![b'x'; n])
            .to_vec()
    }

    fn run(t: &Template, d: &DrawnArgs, v: &[u8]) -> (Vec<u8>, usize) {
        let mut b = Vec::new();
        let replies = t.encode(d, 1, v, &mut b);
        (b, replies)
    }

    fn show(b: &[u8]) -> String {
        String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned()
    }

    /// Every test's template, under both option sets, is byte for byte what redis-protocol encodes.
    #[test]
    fn templates_match_redis_protocol() {
        let opt_sets = [
            EncodeOpts::default(),
            EncodeOpts {
                stream_maxlen: Some(1000),
                list_maxlen: Some(7),
                keyspace: 0,
                cluster: true,
                fcall: (10, 3),
            },
        ];
        for opts in &opt_sets {
            for op in Op::ALL {
                for d in &draws() {
                    // The drawn key is always inside the key space.
                    let opts = &EncodeOpts {
                        keyspace: [0, d.key.saturating_add(1)][d.key as usize % 2],
                        ..opts.clone()
                    };
                    let t = &Template::compile(op, opts);
                    for v in &values() {
                        let (got, replies) = run(t, d, v);
                        if op == Op::PingInline {
                            assert_eq!((&got[..], replies), (&b"PING\r\n"[..], 1));
                            continue;
                        }
                        let cmds = argv(op, d, v, opts);
                        assert_eq!(show(&got), show(&resp(&cmds)), "{op} {d:?}");
                        assert_eq!(got, resp(&cmds), "{op} {d:?} value {}", v.len());
                        assert_eq!(replies, cmds.len(), "{op}");
                        let mut k = [0; MAX_KEY];
                        let n = t.route_key(d, &mut k);
                        // MSET routes by its keys' shared hash tag (`key:{ddddddddddd}`).
                        let tag = format!("key:{{{:012}", d.key % 1_000_000_000_000);
                        let tag = format!("{}}}", &tag[..16]).into_bytes();
                        // FCALL by its first key's hash tag on a cluster (`key:{d..d}`).
                        let fcall = match opts.cluster {
                            true => format!("key:{{{:012}}}", d.key % 1_000_000_000_000),
                            false => format!("key:{:012}", d.key % 1_000_000_000_000),
                        };
                        let keyed = op != Op::Fcall || opts.fcall.1 > 0;
                        let want = match op {
                            Op::Mset | Op::Mget => Some(&tag[..]),
                            Op::Fcall => Some(fcall.as_bytes()).filter(|_| keyed),
                            _ => cmds[0].get(1).filter(|_| op.has_key()).map(|w| &w[..]),
                        };
                        assert_eq!(want, (n > 0).then_some(&k[..n]), "{op}");
                        assert_eq!(t.keyless(), !(op.has_key() && keyed), "{op}");
                    }
                }
            }
        }
    }

    /// Custom command words with their placeholders substituted, as redis-benchmark does.
    fn substitute(words: &[&str], d: &DrawnArgs, v: &[u8]) -> Argv {
        let twelve = |k: u64| format!("{:012}", k % 1_000_000_000_000);
        let data = String::from_utf8(v.to_vec()).unwrap();
        let nth = [
            "1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th",
        ];
        words
            .iter()
            .map(|w| {
                let mut w = w.replace("__rand_int__", &twelve(d.key));
                for (i, n) in nth.iter().enumerate() {
                    w = w.replace(&format!("__rand_{n}__"), &twelve(d.nth[i]));
                }
                w.replace("__data__", &data)
            })
            .map(String::into_bytes)
            .collect()
    }

    #[test]
    fn custom_templates_match_redis_protocol() {
        let long = format!("{}__rand_int__", "k".repeat(MAX_KEY - 12));
        let too_long = format!("{}__rand_int__", "k".repeat(MAX_KEY - 11));
        let cases: [(&[&str], bool); 12] = [
            (
                &["SET", "a:__rand_1st__", "__rand_9th__-__rand_1st__"],
                true,
            ),
            (
                &["SMOVE", "s:__rand_2nd__", "d:__rand_3rd__", "__rand_int__"],
                true,
            ),
            (&["HSET", "h:__rand_5th__", "f", "__data__"], true),
            (&["SET", "user:__rand_int__", "v=__data__!"], true),
            (&["PING"], false),
            (&["HSET", "h", "f:__rand_int__", "__data____data__"], true),
            (&["SET", "k:__data__", "x"], false),
            (&["GET", &long], true),
            (&["GET", &too_long], false),
            (&["GET", "__rand_int____rand_int__"], true),
            (&["GET", ""], false),
            (&["__rand_int__", "__rand_int__-", "-__data__-"], true),
        ];
        for (words, routed) in cases {
            let c = UserCommand::legacy(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
            let t = Template::compile_user(&c, sampler(), false, None);
            assert_eq!(t.keyless(), !routed, "{words:?}");
            for d in &draws() {
                for v in &values() {
                    let want = substitute(words, d, v);
                    let (got, replies) = run(&t, d, v);
                    assert_eq!(
                        got,
                        resp(std::slice::from_ref(&want)),
                        "{words:?} value {}",
                        v.len()
                    );
                    assert_eq!(replies, 1);
                    let mut k = [0; MAX_KEY];
                    let n = t.route_key(d, &mut k);
                    let key = want.get(1).filter(|_| routed).map(|w| &w[..]);
                    assert_eq!((n > 0).then_some(&k[..n]), key, "{words:?}");
                }
            }
        }
    }

    fn sampler() -> Sampler {
        let space = crate::workload::keys::Space {
            lo: 0,
            n: 1000,
            dist: crate::workload::keys::KeyDist::Uniform,
        };
        Sampler::new(&space, 0, 1)
    }

    fn enc(op: Op, opts: &EncodeOpts) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        Template::compile(op, opts).encode(
            &DrawnArgs {
                key: 7,
                member: 9,
                ..DrawnArgs::default()
            },
            0,
            b"xyz",
            &mut b,
        );
        b.to_vec()
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
            keyspace: 0,
            fcall: (1, 1),
            cluster: false,
        };
        let x = String::from_utf8(enc(Op::Xadd, &o)).unwrap();
        assert!(
            x.contains("MAXLEN\r\n$1\r\n~\r\n$3\r\n100\r\n$1\r\n*"),
            "{x}"
        );
        // MSET: the drawn key's group of ten (0..9), cut to the key space (8 keys: 0..7, 0, 1),
        // tagged in a cluster.
        let m = |keyspace, cluster| {
            let o = EncodeOpts {
                keyspace,
                cluster,
                ..Default::default()
            };
            String::from_utf8(enc(Op::Mset, &o)).unwrap()
        };
        let plain = m(8, false);
        assert!(plain.starts_with("*21\r\n$4\r\nMSET\r\n$16\r\nkey:000000000000\r\n$3\r\nxyz\r\n"));
        assert!(
            plain.ends_with("$16\r\nkey:000000000001\r\n$3\r\nxyz\r\n"),
            "{plain}"
        );
        assert!(plain.contains("key:000000000007") && !plain.contains("key:000000000008"));
        let tagged = m(0, true);
        assert!(tagged.contains("$18\r\nkey:{00000000000}0\r\n"), "{tagged}");
        assert!(
            tagged.ends_with("$18\r\nkey:{00000000000}9\r\n$3\r\nxyz\r\n"),
            "{tagged}"
        );
        let l = String::from_utf8(enc(Op::Lpush, &o)).unwrap();
        assert!(l.ends_with("LTRIM\r\n$19\r\nmylist:000000000007\r\n$1\r\n0\r\n$1\r\n9\r\n"));
        let r = String::from_utf8(enc(Op::Rpush, &o)).unwrap();
        assert!(r.ends_with("$3\r\n-10\r\n$2\r\n-1\r\n"), "{r}");
    }

    fn user(template: &str, f: impl FnOnce(&mut UserCommand)) -> UserCommand {
        let mut c = UserCommand::new("t", template).unwrap();
        f(&mut c);
        c
    }

    fn enc_user(c: &UserCommand, cluster: bool, d: &DrawnArgs) -> (String, Vec<Role>, Vec<u8>) {
        let t = Template::compile_user(c, sampler(), cluster, Some(5));
        let mut b = Vec::new();
        t.encode(d, 61_500, b"xyz", &mut b);
        let mut k = [0u8; MAX_KEY];
        let n = t.route_key(d, &mut k);
        (
            String::from_utf8(b).unwrap(),
            t.roles().to_vec(),
            k[..n].to_vec(),
        )
    }

    #[test]
    fn encodes_user_commands() {
        let d = DrawnArgs {
            key: 7,
            member: 9,
            ..DrawnArgs::default()
        };
        let c = user("SET __key__ v=__data__!", |c| {
            c.pattern = KeyPattern::parse("user:{}:x").unwrap();
        });
        let (got, roles, route) = enc_user(&c, false, &d);
        assert_eq!(
            got,
            "*3\r\n$3\r\nSET\r\n$19\r\nuser:000000000007:x\r\n$6\r\nv=xyz!\r\n"
        );
        assert_eq!(
            (roles, &route[..]),
            (vec![Role::Main], &b"user:000000000007:x"[..])
        );
        // A TTL: in a SET as PX; after anything else as a PEXPIRE counted in its own row.
        let set = user("SET __key__ __data__", |c| c.ttl = Some((1000, 2000)));
        let (got, roles, _) = enc_user(&set, false, &d);
        assert!(
            got.ends_with("$2\r\nPX\r\n$5\r\n61500\r\n") && got.starts_with("*5\r\n"),
            "{got}"
        );
        assert_eq!(roles, [Role::Main]);
        let hset = user("HSET s:__key__ f __data__", |c| c.ttl = Some((1000, 2000)));
        let (got, roles, _) = enc_user(&hset, false, &d);
        assert!(
            got.ends_with("*3\r\n$7\r\nPEXPIRE\r\n$18\r\ns:key:000000000007\r\n$5\r\n61500\r\n"),
            "{got}"
        );
        assert_eq!(roles, [Role::Main, Role::Follow(5)]);
        let f = Template::compile_follow(&hset, false);
        let mut b = Vec::new();
        f.encode(&d, 1, b"", &mut b);
        assert!(
            String::from_utf8(b)
                .unwrap()
                .starts_with("*3\r\n$7\r\nPEXPIRE")
        );
        // A sequence: every reply but the last is an inner one; `__ttl__` in seconds.
        let tx = user(
            "MULTI; INCR c:__key__; EXPIRE c:__key__ __ttl__; EXEC",
            |_| {},
        );
        let (got, roles, route) = enc_user(&tx, false, &d);
        assert_eq!(roles, [Role::Inner, Role::Inner, Role::Inner, Role::Main]);
        assert!(
            got.contains("EXPIRE\r\n$18\r\nc:key:000000000007\r\n$2\r\n62\r\n"),
            "{got}"
        );
        assert_eq!(route, b"c:key:000000000007");
        assert!(Template::compile_user(&tx, sampler(), false, None).exec_last());
    }

    #[test]
    fn multi_key_commands_share_a_tag_on_a_cluster() {
        let d = DrawnArgs {
            key: 7,
            member: 9,
            ..DrawnArgs::default()
        };
        let mget = user("MGET __keys_3__", |_| {});
        let (plain, _, _) = enc_user(&mget, false, &d);
        assert!(
            plain.starts_with("*4\r\n$4\r\nMGET\r\n$16\r\nkey:000000000007\r\n$16\r\nkey:"),
            "{plain}"
        );
        let (tagged, _, route) = enc_user(&mget, true, &d);
        assert_eq!(tagged.matches("key:{000000000007}").count(), 3, "{tagged}");
        assert_eq!(route, b"key:{000000000007}000000000007");
        // The same draw sends the same keys (a retry), another draw others.
        assert_eq!(enc_user(&mget, true, &d).0, tagged);
        let other = DrawnArgs { member: 10, ..d };
        assert_ne!(enc_user(&mget, true, &other).0, tagged);
        let mset = user("MSET __pairs_2__", |_| {});
        let (got, _, _) = enc_user(&mset, false, &d);
        assert!(
            got.starts_with("*5\r\n$4\r\nMSET\r\n$16\r\nkey:000000000007\r\n$3\r\nxyz\r\n"),
            "{got}"
        );
    }

    #[test]
    fn key_digits_match_redis_benchmarks_width() {
        // 7, 77, 777... up to past u64::MAX (wrapping), and edges.
        let sevens =
            std::iter::successors(Some(7u64), |v| Some(v.wrapping_mul(10).wrapping_add(7)));
        for x in sevens
            .take(22)
            .chain([0, 9, 10, 99, 123_456_789_012, u64::MAX])
        {
            let mut want = [0; 12];
            crate::resp::write_padded12(x, &mut want);
            assert_eq!(digits12(x), want, "{x}");
        }
    }

    /// Inline rows can only hold literal words (the inline encoder writes nothing else).
    #[test]
    fn inline_rows_are_literal() {
        for op in Op::BUILTIN.into_iter().filter(|op| op.def().inline) {
            assert!(
                op.def().args.iter().all(|a| matches!(a, Arg::Lit(_))),
                "{op}"
            );
        }
    }
}
