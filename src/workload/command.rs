//! Commands users write: a name, a template (one command or a `;` sequence such as
//! `MULTI; INCR c:__key__; EXEC`), a weight, and optionally its own key space, sizes, TTL and
//! script. Parsed and checked once, at planning; `template` compiles them per run.

use super::generator::DataSize;
use super::keys::{KeyDist, KeyPattern};
use super::{Op, Part, RAND_NTH};

/// A script a command runs by its SHA (EVALSHA) or a library its FCALLs call, loaded on every
/// master at set-up.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub kind: ScriptKind,
    pub body: String,
    /// SHA1 of the body, as SCRIPT LOAD answers it (`__sha__`).
    pub sha: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// SCRIPT LOAD; NOSCRIPT is answered by loading it again.
    Eval,
    /// FUNCTION LOAD REPLACE.
    Function,
}

/// A command of the user's: `--command NAME=TEMPLATE`, a profile's `[[command]]`, or the
/// redis-benchmark style command line (`rbench SET k:__rand_int__ __data__`).
#[derive(Clone, Debug, PartialEq)]
pub struct UserCommand {
    pub name: String,
    /// Its commands (one unless a sequence), each as words of literals and placeholders.
    pub seq: Vec<Vec<Vec<Part>>>,
    pub weight: u32,
    pub pattern: KeyPattern,
    /// Its own key range (`lo`, count); None: the phase's `0..-r`.
    pub range: Option<(u64, u64)>,
    pub key_dist: Option<KeyDist>,
    pub sizes: Option<DataSize>,
    /// TTL range in milliseconds.
    pub ttl: Option<(u64, u64)>,
    /// Eligible for replicas with --read-from-replicas.
    pub read: bool,
    pub script: Option<Script>,
}

/// One entry of a phase: a built-in test or a user command (an index into `Workload::commands`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmd {
    Builtin(Op),
    User(u16),
}

/// Commands that only read: with --read-from-replicas they may go to replicas.
const READS: &[&str] = &[
    "GET",
    "MGET",
    "EXISTS",
    "STRLEN",
    "GETRANGE",
    "HGET",
    "HGETALL",
    "HMGET",
    "HLEN",
    "HEXISTS",
    "HKEYS",
    "HVALS",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "SMEMBERS",
    "SISMEMBER",
    "SCARD",
    "ZRANGE",
    "ZREVRANGE",
    "ZSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZCARD",
    "ZCOUNT",
    "ZRANGEBYSCORE",
    "XRANGE",
    "XLEN",
    "TTL",
    "PTTL",
    "TYPE",
    "EVALSHA_RO",
    "EVAL_RO",
    "FCALL_RO",
    "BITCOUNT",
    "GETBIT",
    "PFCOUNT",
];

/// Name check shared by every way of naming a command: it is a results row's name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "command name `{name}` must be letters, digits, `_`, `-` or `.`"
        ));
    }
    if super::parse_test(name).is_ok() || name.eq_ignore_ascii_case("custom") {
        return Err(format!(
            "command name `{name}` is a built-in test's: name it apart (e.g. my_{})",
            name.to_ascii_lowercase()
        ));
    }
    Ok(())
}

impl UserCommand {
    /// A command from its template text, with the run's defaults for everything else.
    pub fn new(name: &str, template: &str) -> Result<UserCommand, String> {
        check_name(name)?;
        let seq = parse_template(template)?;
        Ok(UserCommand {
            name: name.to_string(),
            read: seq.iter().all(|c| is_read(c)),
            seq,
            weight: 1,
            pattern: KeyPattern::default(),
            range: None,
            key_dist: None,
            sizes: None,
            ttl: None,
            script: None,
        })
    }

    /// redis-benchmark's command line: words as given, placeholders found wherever they are,
    /// nothing refused (an unknown `__x__` is sent as written, as redis-benchmark does).
    pub fn legacy(words: &[String]) -> UserCommand {
        let cmd: Vec<Vec<Part>> = words.iter().map(|w| super::parse_word(w)).collect();
        UserCommand {
            name: words.join(" "),
            read: false,
            seq: vec![cmd],
            weight: 1,
            pattern: KeyPattern::default(),
            range: None,
            key_dist: None,
            sizes: None,
            ttl: None,
            script: None,
        }
    }

    /// `-x`: an argument sent exactly as given (stdin), placeholders and all.
    pub fn push_literal(&mut self, arg: Vec<u8>) {
        if let Some(last) = self.seq.last_mut() {
            last.push(vec![Part::Lit(arg)]);
        }
    }

    /// Which `__rand_Nth__` placeholders it uses (bit i: the (i+1)th).
    pub fn nth_mask(&self) -> u16 {
        let mut m = 0;
        for p in self.seq.iter().flatten().flatten() {
            if let Part::RandNth(i) = p {
                m |= 1 << i;
            }
        }
        m
    }

    /// Whether a request draws a key (any key placeholder).
    pub fn has_key(&self) -> bool {
        self.seq.iter().flatten().flatten().any(|p| {
            matches!(
                p,
                Part::Key | Part::Keys(_) | Part::Pairs(_) | Part::RandInt
            )
        })
    }

    /// Resolves `__sha__` to the script's SHA (or refuses it without a script).
    pub fn set_script(&mut self, script: Option<Script>) -> Result<(), String> {
        let sha = script.as_ref().map(|s| s.sha.clone());
        for p in self.seq.iter_mut().flatten().flatten() {
            if *p == Part::Sha {
                let Some(sha) = &sha else {
                    return Err("`__sha__` needs a script (script = \"file.lua\")".into());
                };
                *p = Part::Lit(sha.clone().into_bytes());
            }
        }
        self.script = script;
        Ok(())
    }

    /// The argument (of command `i`) that routes it in a cluster: the first after the name; for
    /// EVAL/EVALSHA/FCALL the first key after numkeys. None: keyless (MULTI, EXEC, PING...).
    pub fn route_word(&self, i: usize) -> Option<&Vec<Part>> {
        let c = self.seq.get(i)?;
        let name = word_text(c.first()?)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let at = match name.as_str() {
            "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
                let numkeys = word_text(c.get(2)?)?.parse::<u64>().ok()?;
                (numkeys > 0).then_some(3)?
            }
            _ => 1,
        };
        c.get(at)
    }

    /// On a cluster every command of a sequence must go to one slot: each keyed command's routing
    /// argument is the same template (`c:__key__` twice), or they are literals of one slot (`slot`
    /// hashes a key: the cluster module's, passed in so workloads stay below it).
    pub fn one_slot(&self, slot: impl Fn(&[u8]) -> u16) -> Result<(), String> {
        let words: Vec<&Vec<Part>> = (0..self.seq.len())
            .filter_map(|i| self.route_word(i))
            .collect();
        let Some(first) = words.first() else {
            return Ok(());
        };
        if words.iter().all(|w| w == first) {
            return Ok(());
        }
        let slots: Option<Vec<u16>> = words
            .iter()
            .map(|w| match &w[..] {
                [Part::Lit(b)] => Some(slot(b)),
                _ => None,
            })
            .collect();
        match slots {
            Some(s) if s.iter().all(|x| *x == s[0]) => Ok(()),
            _ => Err(format!(
                "the keys of `{}` can be in several slots, which a cluster refuses (CROSSSLOT): \
                 give its commands the same key, or a hash tag",
                self.name
            )),
        }
    }
}

/// The text of a word that is all literal.
fn word_text(w: &[Part]) -> Option<String> {
    match w {
        [Part::Lit(b)] => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

fn is_read(cmd: &[Vec<Part>]) -> bool {
    cmd.first()
        .and_then(|w| word_text(w))
        .is_some_and(|n| READS.contains(&n.to_ascii_uppercase().as_str()))
}

/// `GET __key__`, `MULTI; INCR c:__key__; EXPIRE c:__key__ 60; EXEC`: commands split at `;`,
/// words at spaces (double quotes keep spaces in a word), placeholders checked.
pub fn parse_template(text: &str) -> Result<Vec<Vec<Vec<Part>>>, String> {
    let mut seq = Vec::new();
    for part in split_commands(text)? {
        let words = split_words(&part)?;
        if words.is_empty() {
            continue;
        }
        let cmd = words
            .iter()
            .map(|w| parse_placeholders(w))
            .collect::<Result<Vec<_>, _>>()?;
        seq.push(cmd);
    }
    if seq.is_empty() {
        return Err("the command is empty".into());
    }
    check_transactions(&seq)?;
    Ok(seq)
}

/// Splits at `;` outside double quotes.
fn split_commands(text: &str) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        match (c, out.last_mut()) {
            (';', _) if !quoted => out.push(String::new()),
            (_, Some(cur)) => cur.push(c),
            (_, None) => {}
        }
    }
    if quoted {
        return Err(format!("unclosed double quote in `{text}`"));
    }
    Ok(out)
}

fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(cur.take()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Ok(words)
}

/// One word's placeholders; an unknown `__name__` is refused. `__keys_N__`, `__pairs_N__` and
/// `__ttl__` expand to whole arguments, so they must be words of their own.
fn parse_placeholders(w: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = w;
    while let Some(i) = rest.find("__") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("__") else { break };
        let name = &after[..j];
        let Some(part) = placeholder(name)? else {
            // `a__b__c`-like text that is no placeholder name: literal up to the second `__`.
            push_lit(&mut parts, &rest[..i + 2]);
            rest = after;
            continue;
        };
        push_lit(&mut parts, &rest[..i]);
        parts.push(part);
        rest = &after[j + 2..];
    }
    push_lit(&mut parts, rest);
    let whole = matches!(
        parts.as_slice(),
        [Part::Keys(_)] | [Part::Pairs(_)] | [Part::Ttl]
    );
    let alone = parts
        .iter()
        .any(|p| matches!(p, Part::Keys(_) | Part::Pairs(_) | Part::Ttl));
    if alone && !whole {
        return Err(format!(
            "`{w}`: __keys_N__, __pairs_N__ and __ttl__ must be words of their own"
        ));
    }
    Ok(parts)
}

fn push_lit(parts: &mut Vec<Part>, s: &str) {
    if s.is_empty() {
        return;
    }
    match parts.last_mut() {
        Some(Part::Lit(b)) => b.extend_from_slice(s.as_bytes()),
        _ => parts.push(Part::Lit(s.as_bytes().to_vec())),
    }
}

/// Most keys one `__keys_N__`/`__pairs_N__` sends.
pub const MAX_MULTI: u16 = 1000;

/// The placeholder `__name__` (None: not a placeholder's shape, e.g. `__` inside a literal).
fn placeholder(name: &str) -> Result<Option<Part>, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(None);
    }
    let n = |rest: &str| -> Result<u16, String> {
        match rest.parse::<u16>() {
            Ok(n) if (1..=MAX_MULTI).contains(&n) => Ok(n),
            _ => Err(format!(
                "`__{name}__`: N must be a whole number from 1 to {MAX_MULTI}"
            )),
        }
    };
    let part = match name {
        "key" => Part::Key,
        "data" => Part::Data,
        "ttl" => Part::Ttl,
        "sha" => Part::Sha,
        "rand_int" => Part::RandInt,
        _ if name.starts_with("keys_") => Part::Keys(n(&name[5..])?),
        _ if name.starts_with("pairs_") => Part::Pairs(n(&name[6..])?),
        _ => match super::NTH_NAMES.iter().position(|x| *x == name) {
            Some(i) if i < RAND_NTH => Part::RandNth(i as u8),
            _ => {
                return Err(format!(
                    "unknown placeholder `__{name}__` (known: __key__, __keys_N__, __pairs_N__, \
                     __data__, __ttl__, __sha__, __rand_int__, __rand_1st__ .. __rand_9th__)"
                ));
            }
        },
    };
    Ok(Some(part))
}

/// MULTI needs its EXEC (or DISCARD) later in the sequence, and EXEC a MULTI before it.
fn check_transactions(seq: &[Vec<Vec<Part>>]) -> Result<(), String> {
    let mut open = false;
    for c in seq {
        let name = c
            .first()
            .and_then(|w| word_text(w))
            .unwrap_or_default()
            .to_ascii_uppercase();
        match name.as_str() {
            "MULTI" if open => return Err("MULTI inside a MULTI".into()),
            "MULTI" => open = true,
            "EXEC" | "DISCARD" if !open => return Err(format!("{name} without a MULTI before it")),
            "EXEC" | "DISCARD" => open = false,
            _ => {}
        }
    }
    if open {
        return Err("MULTI without an EXEC after it".into());
    }
    Ok(())
}

/// Whether a sequence ends with EXEC (a nil reply to it is a failed WATCH, not a success).
pub fn ends_with_exec(seq: &[Vec<Vec<Part>>]) -> bool {
    seq.last()
        .and_then(|c| c.first())
        .and_then(|w| word_text(w))
        .is_some_and(|n| n.eq_ignore_ascii_case("EXEC"))
}

/// How a command's TTL reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No TTL (none given, or no key to give it to).
    None,
    /// The template places `__ttl__` itself.
    Own,
    /// A SET with no expiry option of its own: `PX ms` rides in it.
    Px,
    /// A `PEXPIRE key ms` pipelined after it, counted in its own row.
    Pexpire,
}

impl UserCommand {
    /// How its TTL (if any) is sent.
    pub fn expiry(&self) -> Expiry {
        if self.ttl.is_none() || !self.has_key() {
            Expiry::None
        } else if self.seq.iter().flatten().any(|w| w[..] == [Part::Ttl]) {
            Expiry::Own
        } else if takes_px(&self.seq) {
            Expiry::Px
        } else {
            Expiry::Pexpire
        }
    }
}

/// A SET with no expiry option of its own, so a TTL can ride in it (`PX ms`).
fn takes_px(seq: &[Vec<Vec<Part>>]) -> bool {
    let [c] = seq else { return false };
    let texts: Vec<String> = c
        .iter()
        .map(|w| word_text(w).unwrap_or_default().to_ascii_uppercase())
        .collect();
    texts.first().is_some_and(|n| n == "SET")
        && !texts
            .iter()
            .any(|t| matches!(t.as_str(), "EX" | "PX" | "EXAT" | "PXAT" | "KEEPTTL"))
}

/// `60s`, `30s-300s`, `500ms-2s`: a TTL range in milliseconds (at least 1 ms).
pub fn parse_ttl(s: &str) -> Result<(u64, u64), String> {
    let one = |t: &str| -> Result<u64, String> {
        let d = super::parse_duration(t.trim()).map_err(|_| {
            format!("bad TTL `{s}`: expected a duration (60s, 30m) or a range (30s-300s)")
        })?;
        Ok((d.as_millis() as u64).max(1))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let v = one(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!(
            "TTL range `{s}` is reversed: the shorter TTL goes first"
        ));
    }
    Ok((lo, hi))
}

/// The FCALL test's library: `functions` functions `rbench_f0`.. that each check their keys
/// exist (one read, as cheap as a function call gets while still touching its keys).
pub fn fcall_library(functions: u32) -> Script {
    let mut body = String::from(
        "#!lua name=rbench\nlocal function f(keys, args)\n  if #keys == 0 then return 0 end\n  \
         return redis.call('EXISTS', unpack(keys))\nend\n",
    );
    for i in 0..functions {
        body.push_str(&format!(
            "redis.register_function{{function_name='rbench_f{i}', callback=f, flags={{'no-writes'}}}}\n"
        ));
    }
    Script {
        kind: ScriptKind::Function,
        sha: sha1_hex(&body),
        body,
    }
}

/// SHA1 of a script, hex, as Redis names it.
pub fn sha1_hex(body: &str) -> String {
    use sha1_smol::Sha1;
    Sha1::from(body.as_bytes()).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_sequences() {
        let seq = parse_template("MULTI; INCR c:__key__; EXPIRE c:__key__ 60; EXEC").unwrap();
        assert_eq!(seq.len(), 4);
        assert_eq!(seq[1][1], [Part::Lit(b"c:".to_vec()), Part::Key]);
        assert!(ends_with_exec(&seq));
        let q = parse_template(r#"SET "a b" "x;y""#).unwrap();
        assert_eq!(q[0][1], [Part::Lit(b"a b".to_vec())]);
        assert_eq!(q[0][2], [Part::Lit(b"x;y".to_vec())]);
        assert_eq!(
            parse_template("MGET __keys_5__").unwrap()[0][1],
            [Part::Keys(5)]
        );
        let expiry = |t: &str| {
            let mut c = UserCommand::new("t", t).unwrap();
            c.ttl = Some((1, 2));
            c.expiry()
        };
        assert_eq!(expiry("SET __key__ __data__"), Expiry::Px);
        assert_eq!(expiry("SET __key__ v EX 5"), Expiry::Pexpire);
        assert_eq!(expiry("HSET h:__key__ f v"), Expiry::Pexpire);
        assert_eq!(expiry("SET __key__ v EX __ttl__"), Expiry::Own);
        assert_eq!(expiry("PING"), Expiry::None);
        // Text that only looks like it: kept literal.
        assert_eq!(
            parse_template("GET a__b").unwrap()[0][1],
            [Part::Lit(b"a__b".to_vec())]
        );
    }

    #[test]
    fn bad_templates_say_why() {
        for (t, why) in [
            ("GET __foo__", "unknown placeholder `__foo__`"),
            ("MULTI; INCR a", "MULTI without an EXEC"),
            ("EXEC", "EXEC without a MULTI"),
            ("MGET k:__keys_2__", "must be words of their own"),
            ("MGET __keys_0__", "N must be"),
            ("", "empty"),
            ("SET \"a", "unclosed"),
        ] {
            let e = parse_template(t).unwrap_err();
            assert!(e.contains(why), "{t}: {e}");
        }
    }

    #[test]
    fn names_and_ttls() {
        assert!(check_name("session").is_ok());
        assert!(check_name("GET").unwrap_err().contains("built-in"));
        assert!(check_name("a b").is_err());
        assert_eq!(parse_ttl("60s").unwrap(), (60_000, 60_000));
        assert_eq!(parse_ttl("30s-5m").unwrap(), (30_000, 300_000));
        assert!(parse_ttl("300s-30s").unwrap_err().contains("reversed"));
        assert!(parse_ttl("x").is_err());
        assert_eq!(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn sequences_must_share_a_slot() {
        let ok = UserCommand::new("t", "MULTI; INCR c:__key__; EXPIRE c:__key__ 60; EXEC").unwrap();
        let slot = crate::cluster::slot::slot_of;
        assert!(ok.one_slot(slot).is_ok());
        let bad =
            UserCommand::new("t", "MULTI; INCR a:__key__; INCR b:__rand_1st__; EXEC").unwrap();
        assert!(bad.one_slot(slot).unwrap_err().contains("several slots"));
        let tags = UserCommand::new("t", "MULTI; INCR {x}a; INCR {x}b; EXEC").unwrap();
        assert!(tags.one_slot(slot).is_ok());
        let script = UserCommand::new("s", "EVALSHA abc 1 rl:__key__ 10").unwrap();
        assert_eq!(script.route_word(0).unwrap()[1], Part::Key);
        assert!(UserCommand::new("r", "HGETALL s:__key__").unwrap().read);
    }
}
