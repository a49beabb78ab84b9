//! The capture read once before anything is sent: a bad line, a capture with nothing to replay,
//! or a SELECT a cluster cannot follow is bad input found before the first connection, and the
//! replay learns its command names (its result rows) and its time span. Only counts are kept, so
//! this pass streams as the replay does.

use super::capture::{CaptureError, CaptureReader};
use super::{ReplayError, ReplaySpec};

/// What the capture holds, as this replay will play it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Survey {
    /// The command names this replay sends, uppercase, by first appearance: its result rows.
    pub names: Vec<String>,
    /// The first and last captured times (µs), over the whole capture (shards share one clock).
    pub first_t: u64,
    pub last_t: u64,
    /// Captured clients in the file, and those this replay plays (its shard's).
    pub captured_clients: u64,
    pub replayed_clients: u64,
    /// Commands one pass sends (not skipped, this shard's).
    pub commands: u64,
    /// Lines passed over (`--skip-bad-lines`).
    pub bad_lines: u64,
}

impl Survey {
    /// The capture's length, µs: a `--loop` pass starts this long after the one before.
    pub fn span_us(&self) -> u64 {
        self.last_t.saturating_sub(self.first_t)
    }
}

/// Reads `spec.file` through.
pub fn survey(spec: &ReplaySpec) -> Result<Survey, ReplayError> {
    let mut r = CaptureReader::open(&spec.file)?;
    let mut s = Survey {
        first_t: u64::MAX,
        ..Survey::default()
    };
    let mut seen_clients = 0u64;
    let mut mine_clients = std::collections::HashSet::new();
    while let Some(c) = r.next_command() {
        let c = match c {
            Ok(c) => c,
            Err(CaptureError::Bad { .. }) if spec.skip_bad_lines => {
                s.bad_lines += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        s.first_t = s.first_t.min(c.t_us);
        s.last_t = s.last_t.max(c.t_us);
        seen_clients = seen_clients.max(u64::from(c.client) + 1);
        if !spec.mine(c.client) || spec.policy.skipped(&c.args, c.from_script).is_some() {
            continue;
        }
        let name = c.name();
        if spec.cluster && name == "SELECT" && c.args.get(1).is_none_or(|d| &d[..] != b"0") {
            let db = c
                .args
                .get(1)
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default();
            return Err(ReplayError::SelectOnCluster {
                path: spec.file.clone(),
                line: c.line,
                db,
            });
        }
        mine_clients.insert(c.client);
        s.commands += 1;
        if !s.names.contains(&name) {
            s.names.push(name);
        }
    }
    s.captured_clients = seen_clients;
    s.replayed_clients = mine_clients.len() as u64;
    if s.commands == 0 {
        let why = if seen_clients == 0 {
            ""
        } else if spec.shard.is_some() {
            " for this shard (every command is another shard's or skipped)"
        } else {
            " (every command is skipped)"
        };
        return Err(ReplayError::NoCommands {
            path: spec.file.clone(),
            why,
        });
    }
    Ok(s)
}
