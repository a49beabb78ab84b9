//! Flag > profile > default, applied once and generically: the command line's settings with the
//! profile's `[defaults]` filled in where no flag was given, and where each value came from, so a
//! complaint names what the user wrote: the flag (`-P (pipeline) must be at least 1`) or the
//! profile's key at its line (`p.toml:3: pipeline must be at least 1`). Defaults are applied where
//! each value is used (`unwrap_or`), since some depend on others (threads on clients).

use std::fmt::Display;

use clap::CommandFactory;

use super::{ConfigError, invalid};
use crate::cli::Cli;
use crate::profile::Profile;

/// The settings of one plan, in their layers.
pub struct Layers<'a> {
    /// As given on the command line: some rules are about what was typed (`-t` with `--mix`).
    pub flags: &'a Cli,
    /// The flags, with the profile's value for each setting they leave unset.
    pub merged: Cli,
    profile: Option<&'a Profile>,
    /// The settings `merged` took from the profile.
    taken: Vec<&'static str>,
}

impl<'a> Layers<'a> {
    pub fn new(flags: &'a Cli, profile: Option<&'a Profile>) -> Layers<'a> {
        let mut merged = flags.clone();
        let taken = match profile {
            Some(p) => merged.fill_from(&p.defaults.settings),
            None => Vec::new(),
        };
        Layers {
            flags,
            merged,
            profile,
            taken,
        }
    }

    /// The profile's line for `key`'s value, if that is where the value came from.
    pub fn line(&self, key: &str) -> Option<usize> {
        let p = self.profile?;
        self.taken.contains(&key).then(|| p.defaults.line(key))?
    }

    /// Whether the profile gives `key` (whether or not a flag overrides it).
    pub fn in_profile(&self, key: &str) -> bool {
        self.profile.is_some_and(|p| p.defaults.line(key).is_some())
    }

    /// The profile's line for `key`, whether or not a flag overrides it.
    pub fn profile_line(&self, key: &str) -> Option<usize> {
        self.profile.and_then(|p| p.defaults.line(key))
    }

    /// A complaint about `key`'s value: at the profile's line if it came from there, else plain.
    pub fn error(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        match (self.profile, self.line(key)) {
            (Some(p), Some(line)) => ConfigError::Profile(p.error_at(line, msg)),
            _ => invalid(msg),
        }
    }

    /// A complaint at a line of the profile (a plain one without a profile).
    /// The profile the flags name, if any.
    pub fn profile(&self) -> Option<&'a Profile> {
        self.profile
    }

    pub fn at(&self, line: usize, msg: impl Into<String>) -> ConfigError {
        match self.profile {
            Some(p) => ConfigError::Profile(p.error_at(line, msg)),
            None => invalid(msg),
        }
    }

    /// A complaint at the profile's line of `key` (a rule about the profile's own value).
    pub fn error_at_key(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        match (self.profile, self.profile_line(key)) {
            (Some(p), Some(line)) => ConfigError::Profile(p.error_at(line, msg)),
            _ => invalid(msg),
        }
    }

    /// `key` as the user wrote it: the profile's key, or the flag (`-P (pipeline)`, `--clients`).
    pub fn name(&self, key: &str) -> String {
        match self.line(key) {
            Some(_) => key.to_string(),
            None => flag_name(key),
        }
    }

    /// A count that must be at least 1 (0 is refused, named as written).
    pub fn at_least_1<T: Copy + PartialEq + Default>(
        &self,
        key: &str,
        v: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match v {
            Some(n) if n == T::default() => {
                Err(self.error(key, format!("{} must be at least 1", self.name(key))))
            }
            v => Ok(v),
        }
    }

    /// Parses `key`'s text with `parse`; its complaint is reported as it is, at the profile's line
    /// when the text came from there.
    pub fn parse<V: ?Sized, T, E: Display>(
        &self,
        key: &str,
        v: Option<&V>,
        parse: impl Fn(&V) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        v.map(|s| parse(s).map_err(|e| self.error(key, e.to_string())))
            .transpose()
    }
}

/// The flag of the setting `key` (clap's id is the field's name, which is the profile key):
/// `-P (pipeline)` when it has a short form, else `--clients`.
pub fn flag_name(key: &str) -> String {
    let cmd = Cli::command();
    let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == key) else {
        return key.to_string();
    };
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s} ({l})"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_as_messages_write_them() {
        assert_eq!(flag_name("pipeline"), "-P (pipeline)");
        assert_eq!(flag_name("keyspace"), "-r (keyspace)");
        assert_eq!(flag_name("clients"), "--clients");
        assert_eq!(flag_name("slo_resolution"), "--slo-resolution");
        assert_eq!(flag_name("stream_maxlen"), "--stream-maxlen");
    }
}
