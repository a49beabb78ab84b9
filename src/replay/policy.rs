//! What a replay must not send: commands that would stop, wipe, reconfigure or block the server it
//! replays against, or that make no sense replayed (MONITOR), plus what the user names with
//! `--skip`; `--allow` lifts one default exclusion on purpose. Commands scripts ran (`[0 lua]`) are
//! never sent: the EVAL/FCALL that ran them is in the capture and runs them again.

/// Excluded unless `--allow`ed: `NAME` or `NAME|SUBCOMMAND`.
pub const DEFAULT_EXCLUDED: [&str; 6] = [
    "MONITOR",
    "SHUTDOWN",
    "FLUSHALL",
    "FLUSHDB",
    "CONFIG|SET",
    "DEBUG",
];

/// How skipped commands of scripts are listed.
pub const FROM_SCRIPTS: &str = "(run by scripts)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("--allow {0}: not excluded by default (the defaults: {list})", list = DEFAULT_EXCLUDED.join(", "))]
    NotExcluded(String),
    #[error("--skip: an empty command name")]
    Empty,
}

/// The exclusions of one replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Uppercase `NAME` or `NAME|SUB`.
    excluded: Vec<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            excluded: DEFAULT_EXCLUDED.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// `config set`, `CONFIG|SET`, `config` → `CONFIG|SET`, `CONFIG`.
fn normal(s: &str) -> String {
    s.split(['|', ' '])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("|")
        .to_ascii_uppercase()
}

impl Policy {
    /// The defaults, minus `allow`, plus `skip` (each a comma-separated list, repeatable).
    pub fn new(skip: &[String], allow: &[String]) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        for a in allow.iter().flat_map(|s| s.split(',')).map(normal) {
            let before = p.excluded.len();
            p.excluded.retain(|e| *e != a);
            if p.excluded.len() == before {
                return Err(PolicyError::NotExcluded(a));
            }
        }
        for s in skip.iter().flat_map(|s| s.split(',')) {
            let s = normal(s);
            if s.is_empty() {
                return Err(PolicyError::Empty);
            }
            if !p.excluded.contains(&s) {
                p.excluded.push(s);
            }
        }
        Ok(p)
    }

    /// The name a skipped command is listed under (None: send it).
    pub fn skipped(&self, args: &[bytes::Bytes], from_script: bool) -> Option<String> {
        let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
        if from_script {
            return Some(FROM_SCRIPTS.to_string());
        }
        if self.excluded.contains(&name) {
            return Some(name);
        }
        let sub = args.get(1)?;
        let full = format!(
            "{name}|{}",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        );
        self.excluded
            .contains(&full)
            .then(|| full.replace('|', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn cmd(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn defaults() {
        let p = Policy::default();
        assert_eq!(
            p.skipped(&cmd(&["flushall"]), false),
            Some("FLUSHALL".into())
        );
        assert_eq!(
            p.skipped(&cmd(&["config", "set", "x", "y"]), false),
            Some("CONFIG SET".into())
        );
        assert_eq!(p.skipped(&cmd(&["CONFIG", "GET", "x"]), false), None);
        assert_eq!(
            p.skipped(&cmd(&["debug", "sleep", "0"]), false),
            Some("DEBUG".into())
        );
        assert_eq!(p.skipped(&cmd(&["GET", "k"]), false), None);
        assert_eq!(
            p.skipped(&cmd(&["GET", "k"]), true),
            Some(FROM_SCRIPTS.into())
        );
    }

    #[test]
    fn skip_and_allow() {
        let p = Policy::new(
            &["keys,Scan".into(), "client kill".into()],
            &["debug".into()],
        )
        .unwrap();
        assert_eq!(p.skipped(&cmd(&["KEYS", "*"]), false), Some("KEYS".into()));
        assert_eq!(p.skipped(&cmd(&["scan", "0"]), false), Some("SCAN".into()));
        assert_eq!(
            p.skipped(&cmd(&["client", "KILL", "x"]), false),
            Some("CLIENT KILL".into())
        );
        assert_eq!(p.skipped(&cmd(&["DEBUG", "SLEEP", "0"]), false), None);
        let p = Policy::new(&[], &["config set".into()]).unwrap();
        assert_eq!(p.skipped(&cmd(&["CONFIG", "SET", "a", "b"]), false), None);
        assert_eq!(
            Policy::new(&[], &["GET".into()]),
            Err(PolicyError::NotExcluded("GET".into()))
        );
        assert_eq!(Policy::new(&["a,,b".into()], &[]), Err(PolicyError::Empty));
    }
}
