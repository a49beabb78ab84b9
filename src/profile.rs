//! Profile files (`rbench -c FILE`): a TOML workload (`[defaults]`) plus the deployments to run it
//! against (`[[target]]`).
//!
//! Parsing is strict: unknown keys, wrong types and contradictory settings are rejected here, once,
//! with `file:line` so the user can jump straight to the mistake. `[defaults]` fills the command
//! line's own flag groups (`cli`), each key's line kept beside them, so config checks a value once
//! whichever gave it and still cites the file through [`Profile::error_at`].
//!
//! Passwords are never stored in a profile (profiles get committed and shared): a target can only
//! name the environment variable that holds one.

use crate::net::tls::TlsOptions;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de;
use toml::Spanned;

use crate::cli::Cli;
use crate::cli::text::{DataSizeText, DurationText};
use crate::deploy::SpawnSpec;
use toml::de::DeValue;

/// A value and the 1-based line of the profile it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub line: usize,
}

/// A parsed and validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The path as given on the command line (used verbatim in error messages).
    pub path: PathBuf,
    pub defaults: Defaults,
    /// In file order; never empty.
    pub targets: Vec<TargetSpec>,
    /// `[[fault]]` entries, in file order.
    pub faults: Vec<FaultSpec>,
    /// `[[command]]` entries, in file order.
    pub commands: Vec<CommandSpec>,
}

/// One `[[command]]` entry as written, each value with its line; config checks the values.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// Line of the `name` key.
    pub line: usize,
    pub name: At<String>,
    pub command: At<String>,
    pub weight: Option<At<i64>>,
    pub key: Option<At<String>>,
    /// A count (`100000`) or a range (`"1000-1999"`).
    pub keyspace: Option<At<String>>,
    pub key_dist: Option<At<String>>,
    pub data_size: Option<At<String>>,
    pub ttl: Option<At<String>>,
    /// Script and function files, relative to the profile's folder.
    pub script: Option<At<PathBuf>>,
    pub function: Option<At<PathBuf>>,
    pub read: Option<At<bool>>,
}

/// The `[defaults]` table: the workload, as the same flag groups the command line fills (serde
/// fills them here, clap there), and the line of each key. Every key is optional; flags override
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    /// The settings; the groups a profile cannot set stay at their defaults.
    pub settings: Cli,
    /// Each key given, with its value's line.
    lines: Vec<(String, usize)>,
}

impl Defaults {
    /// The line of `key`'s value, if the table gives it.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, l)| *l)
    }
}

/// One `[[fault]]` entry: `at` and `action` kept as written, checked by the integrator.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub at: At<String>,
    pub action: At<String>,
}

/// How to reach (or create) the deployment a target names, as the `[[target]]` writes it
/// (addresses unresolved); config turns it into a `config::TargetKind`.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpecKind {
    /// An existing standalone server, `host:port` (`[v6]:port` for IPv6).
    Addr(String),
    /// Seed nodes of an existing cluster, each `host:port`; never empty.
    Cluster(Vec<String>),
    /// A deployment rbench starts itself.
    Spawn(SpawnSpec),
}

/// One `[[target]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Unique within the profile, matches `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// Line of the `[[target]]` header.
    pub line: usize,
    pub kind: TargetSpecKind,
    /// ACL user, non-empty when given.
    pub user: Option<String>,
    /// Name of the environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// Only with `addr` (clusters have database 0 only, so 0 is the one value allowed there).
    pub dbnum: Option<u32>,
    /// `tls = true` and its settings; a spawned TLS target gets a throwaway CA.
    pub tls: Option<TlsOptions>,
}

/// A problem in a profile, located as `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError {
    /// As given by the user, so the message matches what they typed.
    pub path: PathBuf,
    /// 1-based; 0 when the problem is not tied to a line (e.g. the file cannot be read).
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.msg)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.msg)
        }
    }
}

impl Profile {
    /// An error citing this profile at `line`, for validation done after parsing.
    pub fn error_at(&self, line: usize, msg: impl Into<String>) -> ProfileError {
        ProfileError {
            path: self.path.clone(),
            line,
            msg: msg.into(),
        }
    }
}

/// Reads and parses a profile file.
pub fn load_profile(path: &Path) -> Result<Profile, ProfileError> {
    let err = |line: usize, msg: String| ProfileError {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let bytes = std::fs::read(path).map_err(|e| err(0, format!("cannot read profile: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        err(
            line_of(e.as_bytes(), bad),
            "profile is not valid UTF-8".to_string(),
        )
    })?;
    parse_profile(path, &text)
}

/// Parses profile text; `path` is only used in error messages and stored in the result.
pub fn parse_profile(path: &Path, text: &str) -> Result<Profile, ProfileError> {
    Parser { path, text }.parse()
}

// ---------------------------------------------------------------------------------------------
// Raw, serde-facing shape of the file. Every value is `Spanned` so errors can cite its line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// Read from the tree by `defaults` (each flag group takes its keys); here for the list of
    /// top-level keys in messages.
    #[allow(dead_code)]
    defaults: Option<de::IgnoredAny>,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    command: Vec<Spanned<RawCommand>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    name: Spanned<String>,
    command: Spanned<String>,
    weight: Option<Spanned<i64>>,
    key: Option<Spanned<String>>,
    keyspace: Option<Spanned<DataSizeText>>,
    key_dist: Option<Spanned<String>>,
    data_size: Option<Spanned<DataSizeText>>,
    ttl: Option<Spanned<DurationText>>,
    script: Option<Spanned<String>>,
    function: Option<Spanned<String>>,
    read: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<DurationText>,
    action: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    spawn: Option<Spanned<String>>,
    addr: Option<Spanned<String>>,
    cluster: Option<Spanned<Vec<Spanned<String>>>>,
    masters: Option<Spanned<usize>>,
    replicas: Option<Spanned<usize>>,
    redis_args: Option<Spanned<Vec<String>>>,
    user: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    dbnum: Option<Spanned<u32>>,
    tls: Option<Spanned<bool>>,
    sni: Option<Spanned<String>>,
    cacert: Option<Spanned<String>>,
    cacertdir: Option<Spanned<String>>,
    insecure: Option<Spanned<bool>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    tls_ciphers: Option<Spanned<String>>,
    tls_ciphersuites: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------

struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> ProfileError {
        ProfileError {
            path: self.path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.text.as_bytes(), s.span().start)
    }

    fn at<T>(&self, s: Spanned<T>) -> At<T> {
        At {
            line: self.line(&s),
            value: s.into_inner(),
        }
    }

    fn parse(&self) -> Result<Profile, ProfileError> {
        let root = toml::de::DeTable::parse(self.text).map_err(|e| {
            let line = e
                .span()
                .map_or(0, |s| line_of(self.text.as_bytes(), s.start));
            let mut msg = format!("invalid TOML: {}", first_line(e.message()));
            // The span covers the repeated key; naming it saves a search.
            if msg.ends_with("duplicate key")
                && let Some(key) = e.span().and_then(|s| self.text.get(s))
                && !key.is_empty()
                && !key.contains('\n')
            {
                msg = format!("{msg} `{key}`");
            }
            self.err(line, msg)
        })?;
        // Checked on the untyped tree so a password is refused wherever it was put, before any
        // other complaint about the file.
        self.check_tree(root.get_ref())?;

        let defaults = match root
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == "defaults")
        {
            Some((_, d)) => self.defaults(d)?,
            None => Defaults::default(),
        };
        let raw = RawProfile::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| self.serde_error(&e))?;

        if raw.target.is_empty() {
            return Err(self.err(
                1,
                "no targets: add at least one [[target]] with spawn, addr or cluster",
            ));
        }
        let mut targets: Vec<TargetSpec> = Vec::with_capacity(raw.target.len());
        for t in raw.target {
            let t = self.target(t)?;
            if let Some(first) = targets.iter().find(|o| o.name == t.name) {
                return Err(self.err(
                    t.line,
                    format!(
                        "duplicate target name \"{}\" (first used by the target at line {})",
                        t.name, first.line
                    ),
                ));
            }
            targets.push(t);
        }
        let faults = raw
            .fault
            .into_iter()
            .map(|f| {
                let f = f.into_inner();
                FaultSpec {
                    at: self.text(f.at),
                    action: self.at(f.action),
                }
            })
            .collect();
        let commands = raw.command.into_iter().map(|c| self.command(c)).collect();
        Ok(Profile {
            path: self.path.to_path_buf(),
            defaults,
            targets,
            faults,
            commands,
        })
    }

    /// A `[[command]]` with its lines; files named relative to the profile's folder.
    fn command(&self, c: Spanned<RawCommand>) -> CommandSpec {
        let c = c.into_inner();
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let file = |s: Spanned<String>| {
            let at = self.at(s);
            At {
                line: at.line,
                value: dir.join(at.value),
            }
        };
        let text = |s: Spanned<DataSizeText>| {
            let at = self.at(s);
            At {
                line: at.line,
                value: at.value.0,
            }
        };
        CommandSpec {
            line: self.line(&c.name),
            name: self.at(c.name),
            command: self.at(c.command),
            weight: c.weight.map(|w| self.at(w)),
            key: c.key.map(|k| self.at(k)),
            keyspace: c.keyspace.map(text),
            key_dist: c.key_dist.map(|k| self.at(k)),
            data_size: c.data_size.map(text),
            ttl: c.ttl.map(|t| self.text(t)),
            script: c.script.map(file),
            function: c.function.map(file),
            read: c.read.map(|r| self.at(r)),
        }
    }

    /// Walks the whole document without recursion (depth is bounded by the TOML parser, but an
    /// explicit stack costs nothing and cannot overflow).
    fn check_tree(&self, root: &toml::de::DeTable<'_>) -> Result<(), ProfileError> {
        use toml::de::DeValue;
        for name in ["target", "fault", "command"] {
            if let Some((k, v)) = root.iter().find(|(k, _)| k.get_ref().as_ref() == name)
                && let DeValue::Table(_) = v.get_ref()
            {
                return Err(self.err(
                    self.line(k),
                    format!("`{name}` must be an array of tables: write [[{name}]], not [{name}]"),
                ));
            }
        }
        let mut stack: Vec<&toml::de::DeTable<'_>> = vec![root];
        let mut arrays: Vec<&toml::de::DeArray<'_>> = Vec::new();
        while !stack.is_empty() || !arrays.is_empty() {
            if let Some(table) = stack.pop() {
                for (k, v) in table.iter() {
                    if k.get_ref().eq_ignore_ascii_case("password") {
                        return Err(self.err(
                            self.line(k),
                            "passwords are not stored in profiles; use password_env = \"VAR\"",
                        ));
                    }
                    match v.get_ref() {
                        DeValue::Table(t) => stack.push(t),
                        DeValue::Array(a) => arrays.push(a),
                        _ => {}
                    }
                }
            } else if let Some(array) = arrays.pop() {
                for v in array.iter() {
                    match v.get_ref() {
                        DeValue::Table(t) => stack.push(t),
                        DeValue::Array(a) => arrays.push(a),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Turns a serde error into one line: names the key when the value's line shows it, and
    /// speaks TOML rather than Rust (`table`, `array`, `non-negative integer`).
    fn serde_error(&self, e: &toml::de::Error) -> ProfileError {
        let mut msg = first_line(e.message())
            .replace("unknown field", "unknown key")
            .replace("missing field", "missing required key")
            .replace("invalid type: map", "invalid type: table")
            .replace("expected a sequence", "expected an array")
            .replace("expected usize", "expected a non-negative integer")
            .replace("expected u64", "expected a non-negative integer")
            .replace("expected u32", "expected an integer from 0 to 4294967295")
            .replace("expected u16", "expected an integer from 0 to 65535")
            .replace("expected i64", "expected an integer")
            .replace("expected f64", "expected a number");
        let Some(span) = e.span() else {
            return self.err(0, msg);
        };
        if let Some(key) = key_before(self.text, span.start) {
            msg = format!("{key}: {msg}");
        }
        self.err(line_of(self.text.as_bytes(), span.start), msg)
    }

    /// What the [defaults] table may not hold beyond its types: both tests and mix, empty lists,
    /// a rate that is no rate. (Counts of 0 are refused by config, which names their source.)
    fn check_defaults(&self, d: &Defaults) -> Result<(), ProfileError> {
        let load = &d.settings.load;
        let line = |key: &str| d.line(key).unwrap_or(0);
        if let (Some(_), Some(_)) = (&load.tests, &load.mix) {
            let (tl, ml) = (line("tests"), line("mix"));
            let (at, other, other_line) = if ml >= tl {
                (ml, "tests", tl)
            } else {
                (tl, "mix", ml)
            };
            return Err(self.err(
                at,
                format!("give either tests or mix, not both ({other} is set at line {other_line})"),
            ));
        }
        if let Some(t) = &load.tests {
            if t.0.is_empty() {
                return Err(self.err(
                    line("tests"),
                    "tests must list at least one test, e.g. [\"set\", \"get\"]",
                ));
            }
            if t.0.iter().any(|n| n.trim().is_empty()) {
                return Err(self.err(line("tests"), "tests must not contain empty names"));
            }
        }
        if load.mix.as_ref().is_some_and(|m| m.trim().is_empty()) {
            return Err(self.err(line("mix"), "mix must not be empty, e.g. \"set=3,get=7\""));
        }
        // A number is checked here, at its line; a shape's text is parsed (its file read) by config.
        if let Some(v) = load
            .rps
            .as_deref()
            .and_then(|v| v.trim().parse::<f64>().ok())
            && (!v.is_finite() || v <= 0.0)
        {
            return Err(self.err(
                line("rps"),
                format!("rps must be a positive number of requests per second, got {v}"),
            ));
        }
        Ok(())
    }

    /// The `[defaults]` table into the flag groups (each takes the keys it knows), refusing a key
    /// none of them knows.
    fn defaults(&self, table: &Spanned<DeValue<'_>>) -> Result<Defaults, ProfileError> {
        let DeValue::Table(t) = table.get_ref() else {
            return Err(self.err(
                self.line(table),
                format!(
                    "defaults: invalid type: {}, expected a table",
                    table.get_ref().type_str()
                ),
            ));
        };
        let known = Cli::profile_keys();
        let mut lines = Vec::new();
        for (k, v) in t.iter() {
            let key = k.get_ref().as_ref();
            if !known.contains(&key) {
                let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                return Err(self.err(
                    self.line(k),
                    format!(
                        "unknown key `{key}`, expected one of {}",
                        expected.join(", ")
                    ),
                ));
            }
            lines.push((key.to_string(), self.line(v)));
        }
        let settings = Cli::from_profile(|| toml::de::ValueDeserializer::from(table.clone()))
            .map_err(|e| self.serde_error(&e))?;
        let d = Defaults { settings, lines };
        self.check_defaults(&d)?;
        Ok(d)
    }

    fn text(&self, s: Spanned<DurationText>) -> At<String> {
        let a = self.at(s);
        At {
            value: a.value.0,
            line: a.line,
        }
    }

    fn target(&self, st: Spanned<RawTarget>) -> Result<TargetSpec, ProfileError> {
        let line = self.line(&st);
        let mut t = st.into_inner();
        let tls = self.tls_options(&mut t, line)?;
        let name = self.target_name(&t.name)?;
        self.one_way_to_reach(&t, &name, line)?;
        self.spawn_keys(&t)?;
        let kind = if let Some(s) = t.spawn {
            let redis_args = t.redis_args.map(Spanned::into_inner).unwrap_or_default();
            self.spawn_spec(s, t.masters, t.replicas, redis_args)?
        } else if let Some(a) = t.addr {
            if let Err(why) = check_addr(a.get_ref()) {
                return Err(self.err(self.line(&a), format!("addr: {why}")));
            }
            TargetSpecKind::Addr(a.into_inner())
        } else if let Some(c) = t.cluster {
            TargetSpecKind::Cluster(self.seeds(c)?)
        } else {
            // Unreachable by the check above; still an error rather than a panic.
            return Err(self.err(line, "target needs one of spawn, addr or cluster"));
        };
        self.auth_keys(&t.user, &t.password_env, &t.dbnum, &kind)?;
        Ok(TargetSpec {
            name,
            line,
            kind,
            tls,
            user: t.user.map(Spanned::into_inner),
            password_env: t.password_env.map(Spanned::into_inner),
            dbnum: t.dbnum.map(Spanned::into_inner),
        })
    }

    fn target_name(&self, name: &Spanned<String>) -> Result<String, ProfileError> {
        let n = name.get_ref();
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(self.err(
                self.line(name),
                format!("invalid target name {n:?}: use letters, digits, '_', '.' and '-' only"),
            ));
        }
        Ok(n.clone())
    }

    /// Exactly one of spawn, addr and cluster; cites the second one found, in file order.
    fn one_way_to_reach(&self, t: &RawTarget, name: &str, line: usize) -> Result<(), ProfileError> {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        if let Some(s) = &t.spawn {
            kinds.push(("spawn", self.line(s)));
        }
        if let Some(s) = &t.addr {
            kinds.push(("addr", self.line(s)));
        }
        if let Some(s) = &t.cluster {
            kinds.push(("cluster", self.line(s)));
        }
        kinds.sort_by_key(|k| k.1);
        match kinds.as_slice() {
            [] => Err(self.err(
                line,
                format!("target \"{name}\" needs one of spawn, addr or cluster"),
            )),
            [_] => Ok(()),
            [(a, _), (b, bl), ..] => Err(self.err(
                *bl,
                format!(
                    "target \"{name}\" has both {a} and {b}; give exactly one of spawn, addr, cluster"
                ),
            )),
        }
    }

    /// The keys that only spawned targets (or spawned clusters) take.
    fn spawn_keys(&self, t: &RawTarget) -> Result<(), ProfileError> {
        let spawn_kind = t.spawn.as_ref().map(|s| s.get_ref().as_str());
        // Checked first: a misspelt kind would otherwise surface as "masters only applies...".
        if let Some(s) = &t.spawn
            && !matches!(s.get_ref().as_str(), "standalone" | "cluster")
        {
            return Err(self.err(
                self.line(s),
                format!(
                    "unknown spawn kind {:?}: expected \"standalone\" or \"cluster\" (persistence is set with redis_args, e.g. [\"--appendonly\", \"yes\"])",
                    s.get_ref()
                ),
            ));
        }
        for (key, v) in [("masters", &t.masters), ("replicas", &t.replicas)] {
            if let Some(v) = v
                && spawn_kind != Some("cluster")
            {
                return Err(self.err(
                    self.line(v),
                    format!("{key} only applies to spawn = \"cluster\""),
                ));
            }
        }
        let Some(a) = &t.redis_args else {
            return Ok(());
        };
        if t.spawn.is_none() {
            return Err(self.err(
                self.line(a),
                "redis_args only applies to spawned targets (spawn = \"standalone\" or \"cluster\")",
            ));
        }
        if a.get_ref().iter().any(|arg| sets_password(arg)) {
            return Err(self.err(
                self.line(a),
                "redis_args must not set requirepass/masterauth: passwords are not stored in profiles (spawned servers listen on loopback only)",
            ));
        }
        Ok(())
    }

    fn spawn_spec(
        &self,
        s: Spanned<String>,
        masters: Option<Spanned<usize>>,
        replicas: Option<Spanned<usize>>,
        redis_args: Vec<String>,
    ) -> Result<TargetSpecKind, ProfileError> {
        match s.get_ref().as_str() {
            "standalone" => Ok(TargetSpecKind::Spawn(SpawnSpec::Standalone { redis_args })),
            "cluster" => {
                let masters = match masters {
                    Some(m) if !(3..=16384).contains(m.get_ref()) => {
                        return Err(self.err(
                            self.line(&m),
                            format!(
                                "masters must be between 3 and 16384 (Redis Cluster needs at least 3), got {}",
                                m.get_ref()
                            ),
                        ));
                    }
                    Some(m) => m.into_inner(),
                    None => 3,
                };
                let replicas = replicas.map_or(1, Spanned::into_inner);
                Ok(TargetSpecKind::Spawn(SpawnSpec::Cluster {
                    masters,
                    replicas,
                    redis_args,
                }))
            }
            // Rejected by spawn_keys; kept as an error rather than a panic.
            other => Err(self.err(self.line(&s), format!("unknown spawn kind {other:?}"))),
        }
    }

    fn seeds(&self, c: Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, ProfileError> {
        if c.get_ref().is_empty() {
            return Err(self.err(
                self.line(&c),
                "cluster must list at least one seed node, e.g. [\"127.0.0.1:7000\"]",
            ));
        }
        let mut seeds = Vec::with_capacity(c.get_ref().len());
        for seed in c.into_inner() {
            if let Err(why) = check_addr(seed.get_ref()) {
                return Err(self.err(self.line(&seed), format!("cluster: {why}")));
            }
            seeds.push(seed.into_inner());
        }
        Ok(seeds)
    }

    fn auth_keys(
        &self,
        user: &Option<Spanned<String>>,
        password_env: &Option<Spanned<String>>,
        dbnum: &Option<Spanned<u32>>,
        kind: &TargetSpecKind,
    ) -> Result<(), ProfileError> {
        if let Some(u) = user
            && u.get_ref().is_empty()
        {
            return Err(self.err(self.line(u), "user must not be empty"));
        }
        if let Some(p) = password_env
            && !is_env_name(p.get_ref())
        {
            return Err(self.err(
                self.line(p),
                format!(
                    "password_env must name an environment variable (letters, digits, '_'), got {:?}",
                    p.get_ref()
                ),
            ));
        }
        if let Some(db) = dbnum
            && *db.get_ref() != 0
            && matches!(
                kind,
                TargetSpecKind::Cluster(_) | TargetSpecKind::Spawn(SpawnSpec::Cluster { .. })
            )
        {
            return Err(self.err(
                self.line(db),
                "dbnum must be 0 for a cluster (Redis Cluster has database 0 only)",
            ));
        }
        Ok(())
    }
}

impl Parser<'_> {
    /// A target's TLS keys: settings without `tls = true` would be ignored, so they are refused.
    fn tls_options(
        &self,
        t: &mut RawTarget,
        line: usize,
    ) -> Result<Option<TlsOptions>, ProfileError> {
        let path = |v: Option<Spanned<String>>| v.map(|s| PathBuf::from(s.into_inner()));
        let text = |v: Option<Spanned<String>>| v.map(Spanned::into_inner);
        let o = TlsOptions {
            sni: text(t.sni.take()),
            cacert: path(t.cacert.take()),
            cacertdir: path(t.cacertdir.take()),
            insecure: t.insecure.take().is_some_and(Spanned::into_inner),
            cert: path(t.cert.take()),
            key: path(t.key.take()),
            ciphers: text(t.tls_ciphers.take()),
            ciphersuites: text(t.tls_ciphersuites.take()),
        };
        match &t.tls {
            Some(on) if *on.get_ref() => Ok(Some(o)),
            _ if o != TlsOptions::default() => {
                let line = t.tls.as_ref().map_or(line, |s| self.line(s));
                Err(self.err(
                    line,
                    "sni, cacert, cacertdir, insecure, cert, key and tls_ciphers(uites) need tls = true in the same [[target]]",
                ))
            }
            _ => Ok(None),
        }
    }
}

/// 1-based line of a byte offset (offsets past the end count as the last line).
fn line_of(text: &[u8], offset: usize) -> usize {
    let end = offset.min(text.len());
    text[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// First non-blank line of a possibly multi-line message.
fn first_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("error")
        .to_string()
}

/// The key of a `key = value` line when `offset` is where the value starts, so type errors can
/// name the key they are about.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let key = before[line_start..].trim_end().strip_suffix('=')?.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\''));
    ok.then_some(key)
}

/// `host:port` or `[v6]:port`, port 1..=65535, host non-empty.
fn check_addr(addr: &str) -> Result<(), String> {
    host_port(addr).map(|_| ())
}

/// A target's address split into the host as written (brackets kept) and the port. The one
/// parser of profile addresses: the profile checks them with it, at their line; config splits
/// them with it to resolve.
pub fn host_port(addr: &str) -> Result<(&str, u16), String> {
    let shape = "expected host:port, e.g. \"127.0.0.1:6379\" or \"[::1]:6379\"";
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{addr:?}: unclosed '['; {shape}"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("{addr:?}: missing port; {shape}"))?;
        (host, port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("{addr:?}: missing port; {shape}"))?;
        if host.contains(':') {
            return Err(format!(
                "{addr:?}: put an IPv6 address in brackets, e.g. \"[::1]:6379\""
            ));
        }
        (host, port)
    };
    if host.trim().is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!("{addr:?}: empty or malformed host; {shape}"));
    }
    // All digits: u16's parser would also take "+6379".
    match port.parse::<u16>() {
        // The port ends the address in both forms.
        Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => {
            Ok((&addr[..addr.len() - port.len() - 1], p))
        }
        _ => Err(format!("{addr:?}: port must be a number from 1 to 65535")),
    }
}

/// Whether a redis-server argument would put a password on the command line.
fn sets_password(arg: &str) -> bool {
    let a = arg
        .trim_start()
        .trim_start_matches('-')
        .to_ascii_lowercase();
    a.starts_with("requirepass") || a.starts_with("masterauth")
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    /// A `[defaults]` setting as the old `At` (value and line), for the assertions.
    macro_rules! field {
        ($d:expr, $g:ident . $f:ident) => {
            $d.settings.$g.$f.clone().map(|value| At {
                value,
                line: $d.line(stringify!($f)).unwrap(),
            })
        };
    }

    use super::*;

    const SHIPPED: [(&str, &str); 5] = [
        (
            "standalone.toml",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/standalone.toml"
            )),
        ),
        (
            "persistence.toml",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/persistence.toml"
            )),
        ),
        (
            "cluster.toml",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/cluster.toml"
            )),
        ),
        (
            "remote-cluster.toml",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/remote-cluster.toml"
            )),
        ),
        (
            "nightly.toml",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/nightly.toml"
            )),
        ),
    ];

    fn shipped(name: &str) -> Profile {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles")).join(name);
        load_profile(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        parse_profile(Path::new("p.toml"), text)
    }

    /// Asserts the error renders as `p.toml:LINE: ...` and mentions `needle`.
    #[track_caller]
    fn bad(text: &str, line: usize, needle: &str) {
        let e = match parse(text) {
            Ok(p) => panic!("expected an error, parsed {p:?}"),
            Err(e) => e,
        };
        let shown = e.to_string();
        let prefix = format!("p.toml:{line}: ");
        assert!(
            shown.starts_with(&prefix),
            "want prefix {prefix:?}, got {shown:?}"
        );
        assert!(shown.contains(needle), "want {needle:?} in {shown:?}");
        assert!(!shown.contains('\n'), "multi-line message: {shown:?}");
    }

    const T: &str = "[[target]]\nname = \"t\"\nspawn = \"standalone\"\n";

    #[test]
    fn shipped_profiles_parse() {
        for (name, _) in SHIPPED {
            let p = shipped(name);
            assert!(!p.targets.is_empty(), "{name}");
        }
    }

    #[test]
    fn standalone_profile_content() {
        let p = shipped("standalone.toml");
        let d = &p.defaults;
        let tests = field!(d, load.tests).unwrap().value;
        assert_eq!(
            tests.0,
            [
                "set", "get", "incr", "lpush", "lpop", "sadd", "hset", "xadd"
            ]
        );
        assert_eq!(field!(d, load.clients).as_ref().unwrap().value, 50);
        assert_eq!(field!(d, load.requests).as_ref().unwrap().value, 100_000);
        assert_eq!(p.targets.len(), 1);
        assert!(matches!(
            p.targets[0].kind,
            TargetSpecKind::Spawn(SpawnSpec::Standalone { .. })
        ));
    }

    #[test]
    fn persistence_profile_content() {
        let p = shipped("persistence.toml");
        let got: Vec<(&str, &TargetSpecKind)> = p
            .targets
            .iter()
            .map(|t| (t.name.as_str(), &t.kind))
            .collect();
        let sa = |args: &[&str]| {
            TargetSpecKind::Spawn(SpawnSpec::Standalone {
                redis_args: args.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert_eq!(
            got,
            vec![
                ("no-aof", &sa(&["--appendonly", "no"])),
                (
                    "aof-everysec",
                    &sa(&["--appendonly", "yes", "--appendfsync", "everysec"])
                ),
                (
                    "aof-always",
                    &sa(&["--appendonly", "yes", "--appendfsync", "always"])
                ),
            ]
        );
        assert_eq!(
            field!(p.defaults, load.requests).as_ref().unwrap().value,
            25_000
        );
        assert_eq!(field!(p.defaults, load.clients).as_ref().unwrap().value, 50);
    }

    #[test]
    fn cluster_profiles_content() {
        let p = shipped("cluster.toml");
        assert_eq!(
            p.targets[0].kind,
            TargetSpecKind::Spawn(SpawnSpec::Cluster {
                masters: 3,
                replicas: 1,
                redis_args: vec![]
            })
        );
        assert_eq!(
            field!(p.defaults, load.keyspace).as_ref().unwrap().value,
            100_000
        );

        let p = shipped("remote-cluster.toml");
        let seeds: Vec<String> = (7000..=7005).map(|p| format!("127.0.0.1:{p}")).collect();
        assert_eq!(p.targets[0].kind, TargetSpecKind::Cluster(seeds));
        assert_eq!(p.targets[0].password_env.as_deref(), Some("REDISCLI_AUTH"));

        let p = shipped("nightly.toml");
        let names: Vec<&str> = p.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["no-aof", "aof-everysec"]);
        assert_eq!(field!(p.defaults, runs.repeat).as_ref().unwrap().value, 6);
        assert!(field!(p.defaults, load.seed).is_some());
        // Time-based cells after an uncounted warm-up, no request count.
        assert_eq!(
            field!(p.defaults, load.duration).as_ref().unwrap().value,
            "1.5s"
        );
        assert_eq!(
            field!(p.defaults, load.warmup).as_ref().unwrap().value,
            "500ms"
        );
        assert!(field!(p.defaults, load.requests).is_none());
    }

    #[test]
    fn full_example_values_and_lines() {
        let text = r#"# header
[defaults]
tests = ["set", "get"]
clients = 50
pipeline = 16
data_size = 3
keyspace = 100000
key_dist = "zipf:0.9"
requests = 100000
duration = "30s"
rps = 5000
repeat = 3
threads = 2
seed = 42
stream_maxlen = 10000
list_maxlen = 1000

[[target]]
name = "cluster"
spawn = "cluster"
masters = 5
replicas = 0
redis_args = ["--save", ""]

[[target]]
name = "local"
addr = "[::1]:6379"
user = "default"
password_env = "RBENCH_LOCAL_PASSWORD"
dbnum = 2

[[target]]
name = "remote.cluster_1"
cluster = ["127.0.0.1:7000", "redis-a:7001"]
"#;
        let p = parse(text).unwrap();
        let d = &p.defaults;
        assert_eq!(
            field!(d, load.tests),
            Some(At {
                value: crate::cli::TestList(vec!["set".into(), "get".into()]),
                line: 3
            })
        );
        assert_eq!(
            field!(d, load.data_size),
            Some(At {
                value: "3".into(),
                line: 6
            })
        );
        assert_eq!(
            field!(d, load.rps),
            Some(At {
                value: "5000".to_string(),
                line: 11
            })
        );
        assert_eq!(
            field!(d, load.duration).as_ref().map(|a| a.value.as_str()),
            Some("30s")
        );
        assert_eq!(
            field!(d, load.list_maxlen).as_ref().map(|a| a.line),
            Some(16)
        );
        full_example_targets(&p);
    }

    /// The full example's three targets, each of its kind, at its line.
    fn full_example_targets(p: &Profile) {
        assert_eq!(p.targets.len(), 3);
        assert_eq!(p.targets[0].line, 18);
        assert_eq!(
            p.targets[0].kind,
            TargetSpecKind::Spawn(SpawnSpec::Cluster {
                masters: 5,
                replicas: 0,
                redis_args: vec!["--save".into(), "".into()]
            })
        );
        let local = &p.targets[1];
        assert_eq!(local.line, 25);
        assert_eq!(local.kind, TargetSpecKind::Addr("[::1]:6379".into()));
        assert_eq!(local.user.as_deref(), Some("default"));
        assert_eq!(local.password_env.as_deref(), Some("RBENCH_LOCAL_PASSWORD"));
        assert_eq!(local.dbnum, Some(2));
        assert_eq!(p.targets[2].line, 32);
        assert!(matches!(&p.targets[2].kind, TargetSpecKind::Cluster(s) if s.len() == 2));
    }

    #[test]
    fn minimal_and_defaulted() {
        let p = parse("[[target]]\nname = \"c\"\nspawn = \"cluster\"\n").unwrap();
        assert_eq!(p.defaults, Defaults::default());
        assert_eq!(
            p.targets[0].kind,
            TargetSpecKind::Spawn(SpawnSpec::Cluster {
                masters: 3,
                replicas: 1,
                redis_args: vec![]
            })
        );
        // data_size as a range string, mix instead of tests, CRLF line ends.
        let p = parse(&format!(
            "[defaults]\r\nmix = \"set=3,get=7\"\r\ndata_size = \"16-512\"\r\n{}",
            T.replace('\n', "\r\n")
        ))
        .unwrap();
        assert_eq!(field!(p.defaults, load.data_size).unwrap().value, "16-512");
        assert_eq!(field!(p.defaults, load.mix).unwrap().line, 2);
        assert_eq!(p.targets[0].line, 4);
        // Inline array-of-tables form works too.
        let p = parse("target = [{ name = \"a\", addr = \"h:1\" }]\n").unwrap();
        assert_eq!(p.targets[0].kind, TargetSpecKind::Addr("h:1".into()));
    }

    #[test]
    fn syntax_errors() {
        bad("[defaults\nclients = 1\n", 1, "invalid TOML");
        bad(&format!("{T}\nx = \"abc\n"), 5, "invalid TOML");
        bad(
            &format!("[defaults]\nclients = 1\nclients = 2\n{T}"),
            3,
            "invalid TOML: duplicate key `clients`",
        );
        bad(
            &format!("{T}[defaults]\nclients = 1 pipeline = 2\n"),
            5,
            "invalid TOML",
        );
    }

    #[test]
    fn unknown_keys() {
        bad(
            &format!("[defaults]\nclients = 1\nclinets = 2\n{T}"),
            3,
            "unknown key `clinets`, expected one of `tests`, `mix`, `clients`",
        );
        bad(
            &format!("{T}port = 6379\n"),
            4,
            "unknown key `port`, expected one of `name`, `spawn`, `addr`, `cluster`",
        );
        bad(&format!("\n{T}targets = 1\n"), 5, "unknown key `targets`");
        bad(
            &format!("{T}[defaults.extra]\nx = 1\n"),
            4,
            "unknown key `extra`",
        );
        bad("[target]\nname = \"t\"\n", 1, "write [[target]]");
    }

    #[test]
    fn wrong_types() {
        bad(
            &format!("[defaults]\n\nclients = \"50\"\n{T}"),
            3,
            "clients: invalid type: string \"50\", expected a non-negative integer",
        );
        bad(
            &format!("[defaults]\npipeline = -1\n{T}"),
            2,
            "expected a non-negative integer",
        );
        bad(
            &format!("[defaults]\nrps = true\n{T}"),
            2,
            "expected a rate like 5000",
        );
        bad(
            &format!("[defaults]\ntests = \"set,get\"\n{T}"),
            2,
            "expected an array",
        );
        bad(
            &format!("[defaults]\nduration = 30\n{T}"),
            2,
            "like \"30s\"",
        );
        bad(&format!("[defaults]\n\nwarmup = 1\n{T}"), 3, "like \"30s\"");
        bad(
            &format!("[defaults]\ndata_size = -3\n{T}"),
            2,
            "data_size: invalid value",
        );
        bad(
            &format!("[defaults]\ndata_size = 1.5\n{T}"),
            2,
            "range string",
        );
        bad(
            &format!("[defaults]\nrepeat = 5000000000\n{T}"),
            2,
            "repeat: invalid value",
        );
        bad(
            "[[target]]\nname = 7\nspawn = \"standalone\"\n",
            2,
            "name: invalid type",
        );
        bad(
            "defaults = 1\n[[target]]\nname = \"a\"\n",
            1,
            "invalid type: integer",
        );
        bad(
            "[[target]]\nname = \"a\"\ncluster = \"h:1\"\n",
            3,
            "expected an array",
        );
        bad(&format!("\n{T}dbnum = -1\n"), 5, "dbnum: invalid value");
    }

    #[test]
    fn targets_required() {
        bad("", 1, "no targets");
        bad("# nothing\n[defaults]\nclients = 1\n", 1, "no targets");
        bad(
            "\n\n[[target]]\nspawn = \"standalone\"\n",
            3,
            "missing required key `name`",
        );
    }

    #[test]
    fn target_kind_exactly_one() {
        bad(
            "\n[[target]]\nname = \"a\"\nuser = \"u\"\n",
            2,
            "needs one of spawn, addr or cluster",
        );
        bad(
            "[[target]]\nname = \"a\"\naddr = \"h:1\"\n\nspawn = \"standalone\"\n",
            5,
            "has both addr and spawn",
        );
        bad(
            "[[target]]\nname = \"a\"\ncluster = [\"h:1\"]\naddr = \"h:1\"\nspawn = \"cluster\"\n",
            4,
            "has both cluster and addr",
        );
    }

    #[test]
    fn spawn_options() {
        bad(
            "[[target]]\nname = \"a\"\nspawn = \"aof\"\n",
            3,
            "unknown spawn kind \"aof\"",
        );
        bad(
            "[[target]]\nname = \"a\"\nspawn = \"clustr\"\nmasters = 3\n",
            3,
            "unknown spawn kind \"clustr\"",
        );
        bad(
            &format!("{T}masters = 3\n"),
            4,
            "masters only applies to spawn = \"cluster\"",
        );
        bad(
            "[[target]]\nname = \"a\"\naddr = \"h:1\"\nreplicas = 1\n",
            4,
            "replicas only applies",
        );
        bad(
            "[[target]]\nname = \"a\"\nspawn = \"cluster\"\nmasters = 2\n",
            4,
            "masters must be between 3 and 16384",
        );
        bad(
            "[[target]]\nname = \"a\"\naddr = \"h:1\"\nredis_args = []\n",
            4,
            "redis_args only applies to spawned targets",
        );
        bad(
            &format!("{T}redis_args = [\"--requirepass\", \"x\"]\n"),
            4,
            "must not set requirepass",
        );
    }

    #[test]
    fn target_names() {
        bad(
            &format!("{T}\n[[target]]\nname = \"t\"\naddr = \"h:1\"\n"),
            5,
            "duplicate target name \"t\" (first used by the target at line 1)",
        );
        bad(
            "[[target]]\nname = \"\"\nspawn = \"standalone\"\n",
            2,
            "invalid target name \"\"",
        );
        bad(
            "[[target]]\nname = \"a b\"\nspawn = \"standalone\"\n",
            2,
            "invalid target name",
        );
        bad(
            "[[target]]\nname = \"é\"\nspawn = \"standalone\"\n",
            2,
            "invalid target name",
        );
    }

    #[test]
    fn workload_checks() {
        bad(
            &format!("[defaults]\ntests = [\"set\"]\nmix = \"set=1\"\n{T}"),
            3,
            "either tests or mix, not both (tests is set at line 2)",
        );
        bad(
            &format!("[defaults]\nmix = \"set=1\"\ntests = [\"set\"]\n{T}"),
            3,
            "(mix is set at line 2)",
        );
        bad(
            &format!("[defaults]\ntests = []\n{T}"),
            2,
            "at least one test",
        );
        bad(
            &format!("[defaults]\ntests = [\"set\", \" \"]\n{T}"),
            2,
            "empty names",
        );
        bad(
            &format!("[defaults]\nmix = \"\"\n{T}"),
            2,
            "mix must not be empty",
        );
        // Counts of 0: config refuses them, naming the flag or the key (config::tests).
        bad(
            &format!("[defaults]\nrps = 0\n{T}"),
            2,
            "rps must be a positive number",
        );
        bad(
            &format!("[defaults]\nrps = nan\n{T}"),
            2,
            "rps must be a positive number",
        );
        bad(
            &format!("[defaults]\nrps = -inf\n{T}"),
            2,
            "rps must be a positive number",
        );
        // Both requests and duration are fine: whichever ends first.
        let p = parse(&format!(
            "[defaults]\nrequests = 5\nduration = \"1s\"\nrps = 0.5\n{T}"
        ))
        .unwrap();
        assert_eq!(field!(p.defaults, load.rps).unwrap().value, "0.5");
    }

    #[test]
    fn addresses() {
        for good in ["127.0.0.1:6379", "[::1]:6379", "redis.example:1", "h:65535"] {
            assert_eq!(check_addr(good), Ok(()), "{good}");
        }
        // The host as written (brackets kept, as config's resolver takes it) and the port.
        assert_eq!(host_port("[::1]:6379"), Ok(("[::1]", 6379)));
        assert_eq!(host_port("redis.example:1"), Ok(("redis.example", 1)));
        for (addr, why) in [
            ("127.0.0.1", "missing port"),
            (":6379", "empty or malformed host"),
            ("h:", "port must be"),
            ("h:0", "port must be"),
            ("h:65536", "port must be"),
            ("h:63a", "port must be"),
            ("h:+6379", "port must be"),
            ("::1:6379", "brackets"),
            ("[::1]6379", "missing port"),
            ("[::1:6379", "unclosed"),
            ("[]:6379", "empty or malformed host"),
            ("a b:1", "empty or malformed host"),
        ] {
            bad(
                &format!("[[target]]\nname = \"a\"\naddr = \"{addr}\"\n"),
                3,
                &format!("addr: {addr:?}: "),
            );
            let got = check_addr(addr).unwrap_err();
            assert!(got.contains(why), "{addr}: {got}");
        }
        bad(
            "[[target]]\nname = \"a\"\ncluster = []\n",
            3,
            "at least one seed node",
        );
        bad(
            "[[target]]\nname = \"a\"\ncluster = [\n  \"h:1\",\n  \"h2\",\n]\n",
            5,
            "cluster: \"h2\": missing port",
        );
    }

    #[test]
    fn auth_fields() {
        bad(
            "# x\n[defaults]\npassword = \"s\"\n",
            3,
            "passwords are not stored in profiles; use password_env = \"VAR\"",
        );
        bad(
            &format!("{T}password = \"hunter2\"\n"),
            4,
            "passwords are not stored in profiles",
        );
        bad("\nPassword = 1\n", 2, "passwords are not stored");
        bad(
            "[x.y]\nz = [{ password = 1 }]\n",
            2,
            "passwords are not stored",
        );
        // Checked before anything else, so a password is never silently accepted next to other
        // mistakes.
        bad(
            "[[target]]\nbogus = 1\npassword = \"s\"\n",
            3,
            "passwords are not stored",
        );
        bad(
            &format!("{T}password_env = \"1BAD\"\n"),
            4,
            "password_env must name",
        );
        bad(&format!("{T}user = \"\"\n"), 4, "user must not be empty");
        bad(
            "[[target]]\nname = \"c\"\ncluster = [\"h:1\"]\ndbnum = 3\n",
            4,
            "dbnum must be 0 for a cluster",
        );
        bad(
            "[[target]]\nname = \"c\"\nspawn = \"cluster\"\ndbnum = 1\n",
            4,
            "dbnum must be 0",
        );
        let p = parse("[[target]]\nname = \"c\"\ncluster = [\"h:1\"]\ndbnum = 0\n").unwrap();
        assert_eq!(p.targets[0].dbnum, Some(0));
    }

    #[test]
    fn error_display_and_error_at() {
        let p = parse(T).unwrap();
        let e = p.error_at(7, "bad mix \"x\"");
        assert_eq!(e.to_string(), "p.toml:7: bad mix \"x\"");
        let e = p.error_at(0, "whole file");
        assert_eq!(e.to_string(), "p.toml: whole file");
    }

    #[test]
    fn load_errors() {
        let missing = Path::new("/nonexistent/rbench/profile.toml");
        let e = load_profile(missing).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/rbench/profile.toml: cannot read profile: "),
            "{e}"
        );

        let dir = std::env::temp_dir().join(format!("rbench-profile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad-utf8.toml");
        std::fs::write(&path, b"[[target]]\nname = \"a\"\naddr = \"\xff:1\"\n").unwrap();
        let e = load_profile(&path).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.line, 3, "{e}");
        assert!(e.msg.contains("UTF-8"), "{e}");
    }

    /// Truncations and byte substitutions of every shipped profile: errors are fine, panics and
    /// multi-line messages are not.
    #[test]
    fn no_panics_on_mangled_input() {
        for (_, text) in SHIPPED {
            let mut cases: Vec<String> = Vec::new();
            for (i, _) in text.char_indices() {
                cases.push(text[..i].to_string());
                for sub in ["", "\"", "=", "\n", "]]"] {
                    let mut s = text[..i].to_string();
                    s.push_str(sub);
                    s.push_str(&text[i..].chars().skip(1).collect::<String>());
                    cases.push(s);
                }
            }
            for c in &cases {
                if let Err(e) = parse(c) {
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(line_of(b"a\nb\nc", 0), 1);
        assert_eq!(line_of(b"a\nb\nc", 2), 2);
        assert_eq!(line_of(b"a\nb\nc", 99), 3);
        assert_eq!(first_line("\n  one\ntwo"), "one");
        assert_eq!(first_line(""), "error");
        assert_eq!(key_before("a\nclients = \"x\"", 12), Some("clients"));
        assert_eq!(key_before("x = [1,\n 2]", 9), None);
        assert!(is_env_name("REDISCLI_AUTH") && is_env_name("_x1"));
        assert!(!is_env_name("") && !is_env_name("A-B") && !is_env_name("A=B"));
        assert!(sets_password("--requirepass") && sets_password("masterauth x"));
        assert!(!sets_password("--appendonly"));
    }
}
