//! The user's commands: a profile's `[[command]]` entries and `--command NAME=TEMPLATE` flags (or
//! redis-benchmark's command line), each checked once with its `file:line`, script files read and
//! hashed, before anything is contacted.

use std::path::Path;

use super::layers::Layers;
use super::{ConfigError, invalid};
use crate::profile::{At, CommandSpec};
use crate::workload::command::{Script, ScriptKind, UserCommand, parse_ttl, sha1_hex};
use crate::workload::generator::DataSize;
use crate::workload::keys::{KeyDist, KeyPattern};

/// Every command the user defined, in order: the profile's, then the flags'. A name defined twice
/// is refused (a `--command` does not silently replace a profile's).
pub fn user_commands(s: &Layers) -> Result<Vec<UserCommand>, ConfigError> {
    let mut out: Vec<UserCommand> = Vec::new();
    if let Some(p) = s.profile() {
        for spec in &p.commands {
            let c = from_profile(s, spec)?;
            if out.iter().any(|o| o.name == c.name) {
                let msg = format!("command `{}` is defined twice", c.name);
                return Err(s.at(spec.name.line, msg));
            }
            out.push(c);
        }
    }
    for flag in &s.flags.load.commands {
        let c = from_flag(flag)?;
        if out.iter().any(|o| o.name == c.name) {
            return Err(invalid(format!(
                "--command: `{}` is defined twice (a profile's [[command]] or another --command)",
                c.name
            )));
        }
        out.push(c);
    }
    Ok(out)
}

/// `--command NAME=TEMPLATE`.
fn from_flag(flag: &str) -> Result<UserCommand, ConfigError> {
    let bad = |why: String| invalid(format!("--command `{flag}`: {why}"));
    let (name, template) = flag
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=TEMPLATE, e.g. read='GET user:__key__'".into()))?;
    let mut c = UserCommand::new(name.trim(), template).map_err(&bad)?;
    c.set_script(None).map_err(|_| {
        bad("`__sha__` needs the script's file: give this command in a profile's [[command]] with script = \"file.lua\"".into())
    })?;
    Ok(c)
}

/// One `[[command]]`, each value's mistake at its line.
fn from_profile(s: &Layers, c: &CommandSpec) -> Result<UserCommand, ConfigError> {
    let at = |line: usize, msg: String| s.at(line, format!("command `{}`: {msg}", c.name.value));
    let mut u = UserCommand::new(&c.name.value, &c.command.value).map_err(|e| {
        let line = if e.contains("name") {
            c.name.line
        } else {
            c.command.line
        };
        s.at(line, e)
    })?;
    if let Some(w) = &c.weight {
        if w.value <= 0 || w.value > 1_000_000 {
            return Err(at(w.line, "weight must be from 1 to 1000000".into()));
        }
        u.weight = w.value as u32;
    }
    if let Some((line, k)) = c.key.as_ref().map(text) {
        u.pattern = KeyPattern::parse(k).map_err(|e| at(line, e))?;
    }
    if let Some((line, r)) = c.keyspace.as_ref().map(text) {
        u.range = Some(key_range(r).map_err(|e| at(line, e))?);
    }
    if let Some((line, d)) = c.key_dist.as_ref().map(text) {
        u.key_dist = Some(KeyDist::parse(d).map_err(|e| at(line, e.to_string()))?);
    }
    if let Some((line, d)) = c.data_size.as_ref().map(text) {
        u.sizes = Some(DataSize::parse(d).map_err(|e| at(line, e.to_string()))?);
    }
    if let Some((line, t)) = c.ttl.as_ref().map(text) {
        u.ttl = Some(parse_ttl(t).map_err(|e| at(line, e))?);
        if !u.has_key() {
            return Err(at(line, "a TTL needs a key (__key__) to expire".into()));
        }
    }
    if let Some(r) = &c.read {
        u.read = r.value;
    }
    let script = match (&c.script, &c.function) {
        (Some(a), Some(_)) => {
            return Err(at(a.line, "give script or function, not both".into()));
        }
        (Some(f), None) => Some(script(f, ScriptKind::Eval).map_err(|e| at(f.line, e))?),
        (None, Some(f)) => Some(script(f, ScriptKind::Function).map_err(|e| at(f.line, e))?),
        (None, None) => None,
    };
    u.set_script(script).map_err(|e| at(c.command.line, e))?;
    Ok(u)
}

fn text(a: &At<String>) -> (usize, &str) {
    (a.line, a.value.as_str())
}

/// `100000` (keys 0..N) or `"1000-1999"` (both ends included).
fn key_range(s: &str) -> Result<(u64, u64), String> {
    let bad =
        || format!("bad keyspace `{s}`: expected a count (100000) or a range (\"1000-1999\")");
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    match s.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (num(a)?, num(b)?);
            if lo > hi {
                return Err(format!("keyspace range `{s}` is reversed"));
            }
            Ok((lo, hi - lo + 1))
        }
        None => match num(s)? {
            0 => Err("keyspace must be at least 1".into()),
            n => Ok((0, n)),
        },
    }
}

/// A script or function library file, read and hashed.
fn script(f: &At<std::path::PathBuf>, kind: ScriptKind) -> Result<Script, String> {
    let body = read(&f.value)?;
    if body.trim().is_empty() {
        return Err(format!("{} is empty", f.value.display()));
    }
    Ok(Script {
        kind,
        sha: sha1_hex(&body),
        body,
    })
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// On a cluster, each command's requests must go to one slot.
pub fn check_slots(commands: &[UserCommand], s: &Layers) -> Result<(), ConfigError> {
    for c in commands {
        if let Err(e) = c.one_slot(crate::cluster::slot::slot_of) {
            let line = s.profile().and_then(|p| {
                p.commands
                    .iter()
                    .find(|x| x.name.value == c.name)
                    .map(|x| x.command.line)
            });
            return Err(match line {
                Some(l) => s.at(l, e),
                None => invalid(format!("--command {}: {e}", c.name)),
            });
        }
    }
    Ok(())
}
