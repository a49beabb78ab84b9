//! One connection of a replay to one server node: the write half the connection's worker writes
//! to, and a reader task of its own that matches replies to the commands in flight (FIFO) and
//! hands each outcome back to the worker. Writing never waits for replies: a replay is pipelined,
//! as the clients it captured may have been.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc::UnboundedSender;

use super::feed::Item;
use crate::conn::{Conn, ConnError};
use crate::net::{AsyncIo, Peer};
use crate::resp::{self, ErrorClass, Value};

/// A command in flight, and what it has been through.
#[derive(Debug)]
pub(super) struct Own {
    pub item: Rc<Item>,
    pub due: Instant,
    pub sent: Instant,
    pub attempts: u16,
    pub redirects: u8,
}

/// What a reply answers: a replayed command, or one sent for it whose reply is dropped (the
/// SELECT that puts a connection in the captured database, ASKING).
pub(super) type Pending = Option<Own>;

/// What a link's reader tells its worker.
pub(super) enum Event {
    Reply {
        own: Own,
        at: Instant,
        /// An error reply: its class and words.
        err: Option<(ErrorClass, String)>,
        from: Peer,
    },
    /// The connection broke; what was in flight on it is the worker's to settle.
    Down { from: Peer, msg: String },
}

pub(super) struct Link {
    wr: WriteHalf<Box<dyn AsyncIo>>,
    pub wbuf: BytesMut,
    pub pending: Rc<RefCell<VecDeque<Pending>>>,
    /// The database this connection is in (standalone).
    pub db: u32,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Link {
    /// Connects (with the run's handshake) and starts the reader, on the current `LocalSet`.
    pub async fn open(
        env: &super::Env,
        peer: Peer,
        events: UnboundedSender<Event>,
    ) -> Result<Link, ConnError> {
        let conn = Conn::connect(&env.dial, peer.clone(), &env.auth, 16 * 1024).await?;
        let (stream, rbuf) = conn.into_parts();
        let (rd, wr) = tokio::io::split(stream);
        let pending = Rc::new(RefCell::new(VecDeque::new()));
        let reader =
            tokio::task::spawn_local(read_replies(rd, rbuf, pending.clone(), peer, events));
        Ok(Link {
            wr,
            wbuf: BytesMut::with_capacity(4096),
            pending,
            db: env.auth.dbnum.unwrap_or(0),
            reader,
        })
    }

    /// Queues `bytes` whose reply is `p`.
    pub fn queue(&mut self, bytes: &[u8], p: Pending) {
        self.wbuf.extend_from_slice(bytes);
        self.pending.borrow_mut().push_back(p);
    }

    /// Writes what was queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let res = self.wr.write_all(&self.wbuf).await;
        self.wbuf.clear();
        res
    }
}

async fn read_replies(
    mut rd: ReadHalf<Box<dyn AsyncIo>>,
    mut rbuf: BytesMut,
    pending: Rc<RefCell<VecDeque<Pending>>>,
    from: Peer,
    events: UnboundedSender<Event>,
) {
    let down = |msg: String| Event::Down {
        from: from.clone(),
        msg,
    };
    loop {
        loop {
            let (value, used) = match resp::decode_value(&rbuf) {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(down(format!("{from}: {}", e.0)));
                    return;
                }
            };
            rbuf.advance(used);
            let at = Instant::now();
            let Some(Some(own)) = pending.borrow_mut().pop_front() else {
                continue;
            };
            let err = match value {
                Value::Error(msg) => Some((ErrorClass::of_error(msg.as_bytes()), msg)),
                _ => None,
            };
            let from = from.clone();
            if events.send(Event::Reply { own, at, err, from }).is_err() {
                return;
            }
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        match rd.read_buf(&mut rbuf).await {
            Ok(0) => {
                let _ = events.send(down(format!("{from}: the server closed the connection")));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send(down(format!("{from}: {e}")));
                return;
            }
        }
    }
}
