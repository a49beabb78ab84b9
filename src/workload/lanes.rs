//! A phase as the engine runs it: one lane per results row. A lane is a command (built-in or the
//! user's) with everything drawn for it resolved: template, key space, sizes, TTL; a command
//! whose TTL rides in a PEXPIRE after it adds a lane of weight 0 for that follow-up (`NAME:expire`),
//! so its replies are counted apart and its own latency stays its own.

use super::command::{Expiry, Script, ScriptKind, UserCommand};
use super::generator::LaneDraw;
use super::keys::{Sampler, Space};
use super::template::Template;
use super::{Cmd, EncodeOpts, Workload};

/// One results row of a phase.
#[derive(Clone, Debug)]
pub struct Lane {
    pub name: String,
    pub template: Template,
    pub read: bool,
    pub draw: LaneDraw,
    /// `SCRIPT LOAD <body>`, encoded: sent before a request that met NOSCRIPT is retried.
    pub reload: Option<Vec<u8>>,
    /// What the row says of it: value sizes, key distribution, key space.
    pub sizes_label: String,
    pub dist_label: String,
    pub keyspace: u64,
    /// The commands one request sends, as the server counts them (`INFO commandstats`): what the
    /// row's server-side time is read from.
    pub commands: Vec<String>,
}

/// A phase's lanes and the key spaces they draw from (the first is the phase's own).
#[derive(Clone, Debug)]
pub struct Lanes {
    pub lanes: Vec<Lane>,
    pub spaces: Vec<Space>,
}

impl Lanes {
    /// The lanes of `phase` under `w`, keys in `0..keyspace` unless a command has its own range;
    /// `cluster`: multi-key commands tag their keys.
    pub fn build(phase: &[(Cmd, u32)], w: &Workload, keyspace: u64, cluster: bool) -> Lanes {
        let own = Space {
            lo: 0,
            n: keyspace.max(1),
            dist: w.key_dist.clone(),
        };
        let mut out = Lanes {
            lanes: Vec::new(),
            spaces: vec![own],
        };
        let opts = EncodeOpts {
            keyspace,
            cluster,
            ..w.encode.clone()
        };
        let mut follows = Vec::new();
        for &(cmd, weight) in phase {
            match cmd {
                Cmd::Builtin(op) => {
                    let keys = Sampler::new(&out.spaces[0], 0, 1);
                    let template = Template::compile(op, &opts).with_keys(keys);
                    out.lanes.push(Lane {
                        name: op.name().to_string(),
                        read: op.is_read(),
                        draw: LaneDraw {
                            weight,
                            space: op.has_key().then_some(0),
                            sizes: w.sizes.clone(),
                            ttl: None,
                            nth_mask: template.rand_nth_mask(),
                        },
                        template,
                        reload: None,
                        sizes_label: w.sizes.label(),
                        dist_label: w.key_dist.label(),
                        keyspace,
                        commands: vec![op.server_command()],
                    });
                }
                Cmd::User(i) => {
                    let c = &w.commands[i as usize];
                    let row = out.user_lane(c, weight, w, cluster, phase.len() + follows.len());
                    if let Some(f) = row {
                        follows.push(f);
                    }
                }
            }
        }
        out.lanes.extend(follows);
        out
    }

    /// Adds `c`'s lane; returns its follow-up lane (to go after every command's own), whose
    /// index will be `follow_at`.
    fn user_lane(
        &mut self,
        c: &UserCommand,
        weight: u32,
        w: &Workload,
        cluster: bool,
        follow_at: usize,
    ) -> Option<Lane> {
        let space = self.space_of(c);
        let spec = self.spaces[space].clone();
        let sampler = Sampler::new(&spec, 0, 1);
        // The run's --ttl is for the commands that write; a read's own `ttl` is the user's call.
        let ttl = c.ttl.or(w.ttl.filter(|_| !c.read));
        let c = &UserCommand { ttl, ..c.clone() };
        let follows = c.expiry() == Expiry::Pexpire;
        let row = follows.then_some(follow_at as u8);
        let template = Template::compile_user(c, sampler, cluster, row);
        let sizes = c.sizes.clone().unwrap_or_else(|| w.sizes.clone());
        let lane = Lane {
            name: c.name.clone(),
            read: c.read,
            draw: LaneDraw {
                weight,
                space: c.has_key().then_some(space),
                sizes: sizes.clone(),
                ttl,
                nth_mask: c.nth_mask(),
            },
            reload: c.script.as_ref().and_then(reload_bytes),
            template,
            sizes_label: sizes.label(),
            dist_label: spec.dist.label(),
            keyspace: spec.n,
            commands: server_commands(c),
        };
        let follow = follows.then(|| Lane {
            name: format!("{}:expire", c.name),
            template: Template::compile_follow(c, cluster),
            read: false,
            draw: LaneDraw {
                weight: 0,
                ..lane.draw.clone()
            },
            reload: None,
            commands: vec!["pexpire".into()],
            ..lane.clone()
        });
        self.lanes.push(lane);
        follow
    }

    /// The key space `c` draws from: the phase's own unless it has its own range or distribution;
    /// commands with the same ones share a space (and a sequential walk).
    fn space_of(&mut self, c: &UserCommand) -> usize {
        if c.range.is_none() && c.key_dist.is_none() {
            return 0;
        }
        let first = &self.spaces[0];
        let (lo, n) = c.range.unwrap_or((0, first.n));
        let s = Space {
            lo,
            n,
            dist: c.key_dist.clone().unwrap_or_else(|| first.dist.clone()),
        };
        match self.spaces.iter().position(|x| *x == s) {
            Some(i) => i,
            None => {
                self.spaces.push(s);
                self.spaces.len() - 1
            }
        }
    }

    /// Each lane's share of the phase's requests by weight (0 for a follow-up lane).
    pub fn weight_shares(&self) -> Vec<f64> {
        let total: u32 = self.lanes.iter().map(|l| l.draw.weight).sum();
        let total = f64::from(total.max(1));
        self.lanes
            .iter()
            .map(|l| f64::from(l.draw.weight) / total)
            .collect()
    }

    /// The rows' names, in lane order.
    pub fn names(&self) -> Vec<String> {
        self.lanes.iter().map(|l| l.name.clone()).collect()
    }

    /// The largest value any lane sends (the payload buffer's size).
    pub fn max_value(&self) -> usize {
        self.lanes
            .iter()
            .map(|l| l.draw.sizes.max)
            .max()
            .unwrap_or(0)
    }
}

/// The `SCRIPT LOAD` that answers NOSCRIPT (functions survive failovers: they are replicated).
fn reload_bytes(s: &Script) -> Option<Vec<u8>> {
    (s.kind == ScriptKind::Eval).then(|| {
        let mut b = bytes::BytesMut::new();
        crate::resp::encode_command(&mut b, &[&b"SCRIPT"[..], &b"LOAD"[..], s.body.as_bytes()]);
        b.to_vec()
    })
}

/// The server's names of the commands `c` sends: each command's first word when it is literal.
fn server_commands(c: &UserCommand) -> Vec<String> {
    c.seq
        .iter()
        .filter_map(|cmd| match cmd.first().map(Vec::as_slice) {
            Some([crate::workload::Part::Lit(w)]) => {
                Some(String::from_utf8_lossy(w).to_ascii_lowercase())
            }
            _ => None,
        })
        .collect()
}
