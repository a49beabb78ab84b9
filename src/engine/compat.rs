//! TEMPORARY shims until conn::handshake_* and Template::route_key land (removed before commit).
use std::net::SocketAddr;

use crate::conn::{Auth, ConnError};
use crate::workload::template::Template;
use crate::workload::{Draw, EncodeOpts, MAX_KEY, Op};

pub fn handshake_commands(auth: &Auth, readonly: bool) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut v = Vec::new();
    if let Some(p) = &auth.password {
        let mut a = vec![b"AUTH".to_vec()];
        if let Some(u) = &auth.user {
            a.push(u.as_bytes().to_vec());
        }
        a.push(p.as_bytes().to_vec());
        v.push(("AUTH", a));
    }
    if let Some(db) = auth.dbnum.filter(|&d| d != 0) {
        v.push((
            "SELECT",
            vec![b"SELECT".to_vec(), db.to_string().into_bytes()],
        ));
    }
    if readonly {
        v.push(("READONLY", vec![b"READONLY".to_vec()]));
    }
    v
}

pub fn handshake_error(addr: SocketAddr, cmd: &'static str, msg: &str, _auth: &Auth) -> ConnError {
    if msg.starts_with("NOAUTH") {
        return ConnError::NoAuth { addr };
    }
    if cmd == "AUTH" {
        return ConnError::Auth {
            addr,
            msg: msg.to_string(),
        };
    }
    ConnError::Command {
        addr,
        cmd,
        msg: msg.to_string(),
    }
}

pub struct Tpl {
    pub op: Op,
    pub t: Option<Template>,
    pub opts: EncodeOpts,
}

impl Tpl {
    pub fn compile(op: Op, opts: &EncodeOpts) -> Tpl {
        Tpl {
            op,
            t: Template::compile(op, opts),
            opts: opts.clone(),
        }
    }
    pub fn route_key(&self, d: &Draw, out: &mut [u8; MAX_KEY]) -> usize {
        crate::workload::key_of(self.op, d, &self.opts, out)
    }
    pub fn encode(&self, d: &Draw, value: &[u8], buf: &mut Vec<u8>) -> usize {
        let mut b = bytes::BytesMut::new();
        let n = match &self.t {
            Some(t) => t.encode(d, value, &mut b),
            None => {
                let mut k = [0u8; MAX_KEY];
                let kl = crate::workload::key_of(self.op, d, &self.opts, &mut k);
                crate::workload::encode(self.op, d, &k[..kl], value, &self.opts, &mut b)
            }
        };
        buf.extend_from_slice(&b);
        n
    }
}
