//! What to send: the tests (named as redis-benchmark names them), weighted mixes and custom commands.
//! Every built-in test is one row of `OPS`; `template` compiles rows (and custom commands) into the
//! bytes sent. Knows nothing of connections or output.

pub mod command;
pub mod fill;
pub mod generator;
pub mod keys;
pub mod lanes;
pub mod pacing;
mod settings;
pub mod shape;
pub mod template;

pub use command::{Cmd, UserCommand};
pub use settings::Workload;

use std::fmt;

/// One kind of request; its facts are its row in `OPS`.
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
    /// redis-benchmark's "LPUSH (needed to benchmark LRANGE)": fills the lists the LRANGE tests
    /// read. Not selectable by name: `fill` puts it before the first LRANGE test.
    LpushFill,
    Lrange100,
    Lrange300,
    Lrange500,
    Lrange600,
    Mset,
    Xadd,
    /// `MGET (10 keys)`: MSET's keys read back. Not in the default suite (redis-benchmark's).
    Mget,
    /// valkey-benchmark's FCALL test: one of `--num-functions` functions of a library loaded at
    /// set-up, called with `--num-keys-in-fcall` keys. Not in the default suite. Stays last: it
    /// sizes `OPS`.
    Fcall,
}

/// One argument of a built-in command, as the table spells it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arg {
    Lit(&'static [u8]),
    /// The row's prefix + the drawn key as 12 digits (`key:000000001234`).
    Key,
    /// The payload (`-d`).
    Value,
    /// `element:` + the drawn member as 12 digits.
    Member,
    /// The drawn member as a plain decimal (ZADD's score).
    Score,
    /// `MAXLEN ~ N` with `--stream-maxlen N`, nothing without.
    StreamMaxlen,
    /// `rbench_fN numkeys key...`: a function of the FCALL library and its keys
    /// (`EncodeOpts::fcall`).
    Fcall,
    /// Key `i` (0..10) of the drawn key's group of ten, the keys that share all but the last digit.
    /// On a cluster they share a hash tag (`key:{00000000123}4`), so an MSET of them is valid there;
    /// elsewhere they are plain 12-digit keys.
    Grouped(u8),
}

/// Which end of a list a push writes to, so `--list-maxlen` trims the other end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ListEnd {
    Head,
    Tail,
}

/// Everything rbench knows about one test.
#[derive(Debug)]
struct OpDef {
    op: Op,
    name: &'static str,
    /// redis-benchmark's key name (`key:`, `counter:`, `mylist:`...); empty when keyless.
    prefix: &'static [u8],
    /// Only reads (eligible for replicas with --read-from-replicas).
    read: bool,
    /// Sent as an inline command line (`PING\r\n`) instead of a RESP array.
    inline: bool,
    args: &'static [Arg],
    /// With `--list-maxlen N`, an `LTRIM` follows, keeping the N newest elements at this end.
    trim: Option<ListEnd>,
    /// Reads lists that the LRANGE fill must fill first.
    reads_lists: bool,
    /// Not selectable with `-t` or `--mix` (the LRANGE fill is planned, not asked for).
    internal: bool,
    /// Not in the default suite (redis-benchmark's), but selectable.
    extra: bool,
    // Derived from `args` once, because the generator asks per request.
    has_key: bool,
}

/// A row with the defaults (writes, RESP array, no follow-up).
const fn def(op: Op, name: &'static str, prefix: &'static [u8], args: &'static [Arg]) -> OpDef {
    let mut has_key = false;
    let mut i = 0;
    while i < args.len() {
        if matches!(args[i], Arg::Key | Arg::Grouped(_) | Arg::Fcall) {
            has_key = true;
        }
        i += 1;
    }
    OpDef {
        op,
        name,
        prefix,
        read: false,
        inline: false,
        args,
        trim: None,
        reads_lists: false,
        internal: false,
        extra: false,
        has_key,
    }
}

impl OpDef {
    const fn read(self) -> OpDef {
        OpDef { read: true, ..self }
    }

    const fn inline(self) -> OpDef {
        OpDef {
            inline: true,
            ..self
        }
    }

    const fn trim(self, end: ListEnd) -> OpDef {
        OpDef {
            trim: Some(end),
            ..self
        }
    }

    /// An LRANGE test: a read that needs filled lists.
    const fn lists(self) -> OpDef {
        OpDef {
            read: true,
            reads_lists: true,
            ..self
        }
    }

    const fn internal(self) -> OpDef {
        OpDef {
            internal: true,
            ..self
        }
    }

    const fn extra(self) -> OpDef {
        OpDef {
            extra: true,
            ..self
        }
    }
}

/// The tests, one row each, in `Op` order; the built-in ones in redis-benchmark's default order.
#[rustfmt::skip]
const OPS: [OpDef; Op::Fcall as usize + 1] = {
    use Arg::*;
    [
        def(Op::PingInline, "PING_INLINE", b"",          &[Lit(b"PING")]).inline(),
        def(Op::PingMbulk,  "PING_MBULK",  b"",          &[Lit(b"PING")]),
        def(Op::Set,        "SET",         b"key:",      &[Lit(b"SET"), Key, Value]),
        def(Op::Get,        "GET",         b"key:",      &[Lit(b"GET"), Key]).read(),
        def(Op::Incr,       "INCR",        b"counter:",  &[Lit(b"INCR"), Key]),
        def(Op::Lpush,      "LPUSH",       b"mylist:",   &[Lit(b"LPUSH"), Key, Value]).trim(ListEnd::Head),
        def(Op::Rpush,      "RPUSH",       b"mylist:",   &[Lit(b"RPUSH"), Key, Value]).trim(ListEnd::Tail),
        def(Op::Lpop,       "LPOP",        b"mylist:",   &[Lit(b"LPOP"), Key]),
        def(Op::Rpop,       "RPOP",        b"mylist:",   &[Lit(b"RPOP"), Key]),
        def(Op::Sadd,       "SADD",        b"myset:",    &[Lit(b"SADD"), Key, Member]),
        def(Op::Hset,       "HSET",        b"myhash:",   &[Lit(b"HSET"), Key, Member, Value]),
        def(Op::Spop,       "SPOP",        b"myset:",    &[Lit(b"SPOP"), Key]),
        def(Op::Zadd,       "ZADD",        b"myzset:",   &[Lit(b"ZADD"), Key, Score, Member]),
        def(Op::Zpopmin,    "ZPOPMIN",     b"myzset:",   &[Lit(b"ZPOPMIN"), Key]),
        def(Op::LpushFill,  "LPUSH (needed to benchmark LRANGE)", b"mylist:", &[Lit(b"LPUSH"), Key, Value])
            .trim(ListEnd::Head).internal(),
        def(Op::Lrange100,  "LRANGE_100",  b"mylist:",   &[Lit(b"LRANGE"), Key, Lit(b"0"), Lit(b"99")]).lists(),
        def(Op::Lrange300,  "LRANGE_300",  b"mylist:",   &[Lit(b"LRANGE"), Key, Lit(b"0"), Lit(b"299")]).lists(),
        // 450 elements, as redis-benchmark's LRANGE_500 reads ("first 450 elements").
        def(Op::Lrange500,  "LRANGE_500",  b"mylist:",   &[Lit(b"LRANGE"), Key, Lit(b"0"), Lit(b"449")]).lists(),
        def(Op::Lrange600,  "LRANGE_600",  b"mylist:",   &[Lit(b"LRANGE"), Key, Lit(b"0"), Lit(b"599")]).lists(),
        def(Op::Mset,       "MSET (10 keys)", b"key:",
            &[Lit(b"MSET"), Grouped(0), Value, Grouped(1), Value, Grouped(2), Value, Grouped(3), Value,
              Grouped(4), Value, Grouped(5), Value, Grouped(6), Value, Grouped(7), Value, Grouped(8), Value,
              Grouped(9), Value]),
        def(Op::Xadd,       "XADD",        b"mystream:",
            &[Lit(b"XADD"), Key, StreamMaxlen, Lit(b"*"), Lit(b"field"), Value]),
        def(Op::Mget,       "MGET (10 keys)", b"key:",
            &[Lit(b"MGET"), Grouped(0), Grouped(1), Grouped(2), Grouped(3), Grouped(4), Grouped(5),
              Grouped(6), Grouped(7), Grouped(8), Grouped(9)]).read().extra(),
        def(Op::Fcall,      "FCALL",       b"key:",      &[Lit(b"FCALL"), Fcall]).extra(),
    ]
};

// `Op::def` indexes the table by discriminant, and routing keys fit MAX_KEY: checked when compiling.
const _: () = {
    let mut i = 0;
    while i < OPS.len() {
        assert!(OPS[i].op as usize == i, "OPS rows must be in Op order");
        assert!(OPS[i].prefix.len() + 14 <= MAX_KEY, "key prefix too long");
        i += 1;
    }
};

impl Op {
    /// Every test of redis-benchmark's default suite, in its order, the LRANGE fill included.
    pub const BUILTIN: [Op; OPS.len() - 2] = {
        let mut out = [Op::Set; OPS.len() - 2];
        let mut i = 0;
        let mut n = 0;
        while i < OPS.len() {
            if !OPS[i].extra {
                out[n] = OPS[i].op;
                n += 1;
            }
            i += 1;
        }
        assert!(n == out.len(), "two extra tests: BUILTIN's length says so");
        out
    };

    /// Every test, the default suite's and the extra ones (MGET).
    pub const ALL: [Op; OPS.len()] = {
        let mut out = [Op::Set; OPS.len()];
        let mut i = 0;
        while i < OPS.len() {
            out[i] = OPS[i].op;
            i += 1;
        }
        out
    };

    #[inline]
    fn def(self) -> &'static OpDef {
        &OPS[self as usize]
    }

    /// The test name redis-benchmark prints (and rbench's CSV uses).
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The name `-t` and `--mix` know it by: the printed name up to its first space (`MSET`), or
    /// None for a test that is planned rather than asked for (the LRANGE fill).
    pub fn flag(self) -> Option<&'static str> {
        let d = self.def();
        (!d.internal).then(|| d.name.split(' ').next().unwrap_or(d.name))
    }

    /// Whether the test reads lists that the LRANGE fill must fill first.
    pub fn reads_lists(self) -> bool {
        self.def().reads_lists
    }

    /// Whether the command only reads (eligible for replicas with --read-from-replicas).
    pub fn is_read(self) -> bool {
        self.def().read
    }

    /// The command the server counts it under in `INFO commandstats` (`set`, `lrange`, ...).
    pub fn server_command(self) -> String {
        match self.def().args.first() {
            Some(Arg::Lit(w)) => String::from_utf8_lossy(w).to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    /// Whether requests draw a key (a key argument).
    #[inline]
    pub fn has_key(self) -> bool {
        self.def().has_key
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
    #[error(
        "bad data size `{0}`: expected bytes like 3, a range like 16-512, or sizes with weights like 32:60,1024:40 (at most 512 MiB)"
    )]
    BadDataSize(String),
    #[error(
        "bad key distribution `{0}`: expected uniform, zipf, zipf:S (0 < S < 10), seq, gaussian, gaussian:MEAN,STDDEV or hot:P%:Q% (e.g. hot:1%:90%)"
    )]
    BadKeyDist(String),
    #[error("bad duration `{0}`: expected e.g. 30s, 2m, 500ms, 1h")]
    BadDuration(String),
}

fn known_tests() -> String {
    let mut v: Vec<String> = Op::ALL
        .iter()
        .filter_map(|o| o.flag())
        .map(str::to_ascii_lowercase)
        .collect();
    v.push("ping".into());
    v.push("lrange".into());
    v.join(",")
}

/// Parses one test name; `ping` means both ping tests and `lrange` the four LRANGE tests, as in
/// redis-benchmark.
pub fn parse_test(name: &str) -> Result<Vec<Op>, WorkloadError> {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "ping" => return Ok(vec![Op::PingInline, Op::PingMbulk]),
        "lrange" => {
            return Ok(vec![
                Op::Lrange100,
                Op::Lrange300,
                Op::Lrange500,
                Op::Lrange600,
            ]);
        }
        _ => {}
    }
    Op::ALL
        .iter()
        .find(|o| o.flag().is_some_and(|f| f.eq_ignore_ascii_case(&lower)))
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

/// `--mix set=3,get=7,session=2`: commands interleaved in one run by weight; a name is a
/// built-in test or one of `commands` (the user's, by name).
pub fn parse_mix(spec: &str, commands: &[UserCommand]) -> Result<Vec<(Cmd, u32)>, WorkloadError> {
    let bad = |why: String| WorkloadError::BadMix(spec.to_string(), why);
    let mut out: Vec<(Cmd, u32)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("`{part}` is not NAME=WEIGHT")))?;
        let cmds: Vec<Cmd> = match commands.iter().position(|c| c.name == name.trim()) {
            Some(i) => vec![Cmd::User(i as u16)],
            None => parse_test(name)
                .map_err(|e| bad(mix_unknown(e, commands)))?
                .into_iter()
                .map(Cmd::Builtin)
                .collect(),
        };
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
        for c in cmds {
            if out.iter().any(|(o, _)| *o == c) {
                return Err(bad(format!("{} is listed twice", name.trim())));
            }
            out.push((c, w as u32));
        }
    }
    if out.is_empty() {
        return Err(bad("no commands".into()));
    }
    Ok(out)
}

/// An unknown name in a mix: the tests and the user's commands it could have been.
fn mix_unknown(e: WorkloadError, commands: &[UserCommand]) -> String {
    if commands.is_empty() {
        return e.to_string();
    }
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    format!("{e}; commands: {}", names.join(","))
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

/// One argument of a user command: literal bytes and placeholders.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Lit(Vec<u8>),
    /// redis-benchmark's `__rand_int__`: the drawn key's 12 digits.
    RandInt,
    /// valkey-benchmark's `__rand_1st__` .. `__rand_9th__` (0 = 1st): a key of its own, the same
    /// wherever it appears in one command.
    RandNth(u8),
    Data,
    /// `__key__`: the command's key (its pattern around the drawn number).
    Key,
    /// `__keys_N__`: N keys of the command's key space, as N arguments.
    Keys(u16),
    /// `__pairs_N__`: N key/value pairs (MSET).
    Pairs(u16),
    /// `__ttl__`: the drawn TTL, in seconds.
    Ttl,
    /// `__sha__`: the script's SHA1 (replaced by a literal once the script is read).
    Sha,
}

/// valkey-benchmark's names for `__rand_Nth__`, in order.
pub const NTH_NAMES: [&str; RAND_NTH] = [
    "rand_1st", "rand_2nd", "rand_3rd", "rand_4th", "rand_5th", "rand_6th", "rand_7th", "rand_8th",
    "rand_9th",
];

/// The placeholders a redis-benchmark style command line knows (`__key__`, `__data__`...); an
/// unknown one there is sent as written, as redis-benchmark sends it.
const LEGACY: [(&str, Part); 11] = [
    ("__rand_int__", Part::RandInt),
    ("__rand_1st__", Part::RandNth(0)),
    ("__rand_2nd__", Part::RandNth(1)),
    ("__rand_3rd__", Part::RandNth(2)),
    ("__rand_4th__", Part::RandNth(3)),
    ("__rand_5th__", Part::RandNth(4)),
    ("__rand_6th__", Part::RandNth(5)),
    ("__rand_7th__", Part::RandNth(6)),
    ("__rand_8th__", Part::RandNth(7)),
    ("__rand_9th__", Part::RandNth(8)),
    ("__data__", Part::Data),
];

/// How many `__rand_Nth__` placeholders there are.
pub const RAND_NTH: usize = 9;

/// One word of a redis-benchmark style command line: literals between placeholders.
fn parse_word(w: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = w;
    while !rest.is_empty() {
        let next = LEGACY
            .iter()
            .filter_map(|(pat, part)| rest.find(pat).map(|i| (i, pat.len(), part)))
            .min_by_key(|(i, _, _)| *i);
        match next {
            Some((i, len, part)) => {
                if i > 0 {
                    parts.push(Part::Lit(rest.as_bytes()[..i].to_vec()));
                }
                parts.push(part.clone());
                rest = &rest[i + len..];
            }
            None => {
                parts.push(Part::Lit(rest.as_bytes().to_vec()));
                rest = "";
            }
        }
    }
    parts
}

/// The numbers the generator drew for one request's arguments (key, member, `__rand_Nth__` keys):
/// with the payload and the TTL, all a template needs to encode it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DrawnArgs {
    pub key: u64,
    /// Also the seed of a multi-key command's other keys.
    pub member: u64,
    /// `__rand_1st__` .. `__rand_9th__`: drawn only for the ones the command uses (else 0).
    pub nth: [u64; RAND_NTH],
}

/// Per-run options that change how built-in tests are encoded.
#[derive(Clone, Debug, Default)]
pub struct EncodeOpts {
    pub stream_maxlen: Option<u64>,
    pub list_maxlen: Option<u64>,
    /// The key space keys are drawn from (set per phase): MSET's groups of ten stay inside it.
    /// 0: not known, groups are whole.
    pub keyspace: u64,
    /// Keys of one command must share a slot (set per target): MSET's keys get a hash tag.
    pub cluster: bool,
    /// The FCALL test: (functions in the library, keys per call).
    pub fcall: (u32, u16),
}

/// Longest routing key (a builtin's is at most prefix + 14 bytes), so keys fit a stack buffer.
pub const MAX_KEY: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

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
            parse_mix("set=3, get=7", &[]).unwrap(),
            vec![(Cmd::Builtin(Op::Set), 3), (Cmd::Builtin(Op::Get), 7)]
        );
        let user = [UserCommand::new("read", "GET __key__").unwrap()];
        assert_eq!(
            parse_mix("read=7,set=1", &user).unwrap(),
            vec![(Cmd::User(0), 7), (Cmd::Builtin(Op::Set), 1)]
        );
        assert!(
            parse_mix("nope=1", &user)
                .unwrap_err()
                .to_string()
                .contains("commands: read")
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
            assert!(parse_mix(bad, &[]).is_err(), "{bad}");
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
    fn the_table_describes_every_test() {
        for op in Op::ALL {
            let d = op.def();
            assert_eq!(
                d.has_key,
                !d.prefix.is_empty(),
                "{op}: a key needs a prefix"
            );
            match op.flag() {
                Some(f) => assert_eq!(parse_test(f).unwrap(), [op]),
                None => assert_eq!(op, Op::LpushFill),
            }
        }
        assert!(Op::Get.is_read() && Op::Lrange100.is_read() && !Op::Set.is_read());
        assert!(!Op::PingInline.has_key() && Op::Mget.has_key() && Op::Incr.has_key());
        assert!(Op::Mget.is_read() && !Op::BUILTIN.contains(&Op::Mget));
        assert_eq!(parse_test("mget").unwrap(), [Op::Mget]);
        assert!(Op::Mset.has_key() && !Op::Mset.is_read());
        assert_eq!(Op::BUILTIN.len(), 21);
        assert_eq!(Op::BUILTIN[20], Op::Xadd);
        assert_eq!(Op::Lrange100.to_string(), "LRANGE_100");
        assert_eq!(Op::Mset.flag(), Some("MSET"));
        assert_eq!(parse_test("mset").unwrap(), [Op::Mset]);
        // The fill is planned, never asked for: not by its printed name nor by `lpush`.
        assert_eq!(parse_test("lpush").unwrap(), [Op::Lpush]);
        assert!(parse_test(Op::LpushFill.name()).is_err());
        assert!(!known_tests().contains("needed"), "{}", known_tests());
    }

    /// With no -t, the suite is redis-benchmark 7's, in its order.
    #[test]
    fn the_default_suite_is_redis_benchmarks() {
        let names: Vec<&str> = Op::BUILTIN.iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "PING_INLINE",
                "PING_MBULK",
                "SET",
                "GET",
                "INCR",
                "LPUSH",
                "RPUSH",
                "LPOP",
                "RPOP",
                "SADD",
                "HSET",
                "SPOP",
                "ZADD",
                "ZPOPMIN",
                "LPUSH (needed to benchmark LRANGE)",
                "LRANGE_100",
                "LRANGE_300",
                "LRANGE_500",
                "LRANGE_600",
                "MSET (10 keys)",
                "XADD",
            ]
        );
        let lrange = parse_tests(&["lrange"]).unwrap();
        assert_eq!(
            lrange,
            [Op::Lrange100, Op::Lrange300, Op::Lrange500, Op::Lrange600]
        );
        assert!(lrange.iter().all(|o| o.reads_lists() && o.is_read()));
        assert!(!Op::LpushFill.reads_lists() && !Op::Get.reads_lists());
    }
}
