//! One pipelined connection: a write buffer flushed with one `write_all` per batch, a read buffer that
//! replies are parsed from in place, and the AUTH/SELECT handshake.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use redis_protocol::resp2::{decode::decode, types::OwnedFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::resp::{self, ProtocolError, Reply};

/// Credentials and database for the handshake. The password never appears in Debug output.
#[derive(Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbnum: Option<u32>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbnum", &self.dbnum)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: timed out after {secs:.1} s")]
    ConnectTimeout { addr: SocketAddr, secs: f64 },
    #[error("{addr}: authentication failed: {msg}")]
    Auth { addr: SocketAddr, msg: String },
    #[error(
        "{addr}: the server requires a password (NOAUTH): pass -a PASSWORD or set REDISCLI_AUTH"
    )]
    NoAuth { addr: SocketAddr },
    #[error("{addr}: {cmd} failed: {msg}")]
    Command {
        addr: SocketAddr,
        cmd: &'static str,
        msg: String,
    },
    #[error("{addr}: connection lost: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: connection closed by server")]
    Eof { addr: SocketAddr },
    #[error("{addr}: {source}")]
    Protocol {
        addr: SocketAddr,
        source: ProtocolError,
    },
    #[error("{addr}: no reply within {secs:.1} s")]
    Timeout { addr: SocketAddr, secs: f64 },
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the handshake and the set-up PING wait for a reply: a server that accepts connections but
/// never answers (hung, or not Redis) must fail the run instead of hanging it.
pub const SETUP_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(
    addr: SocketAddr,
    fut: impl std::future::Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    tokio::time::timeout(SETUP_REPLY_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(ConnError::Timeout {
                addr,
                secs: SETUP_REPLY_TIMEOUT.as_secs_f64(),
            })
        })
}

pub struct Conn {
    stream: TcpStream,
    pub addr: SocketAddr,
    /// Commands of the current batch; flushed with one write.
    pub wbuf: BytesMut,
    rbuf: BytesMut,
}

impl Conn {
    /// Connects with TCP_NODELAY and runs the handshake (AUTH, SELECT). `capacity` sizes the buffers to
    /// the pipeline window so 10k connections stay cheap (DESIGN §5).
    pub async fn connect(
        addr: SocketAddr,
        auth: &Auth,
        capacity: usize,
    ) -> Result<Conn, ConnError> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(ConnError::Connect { addr, source }),
            Err(_) => {
                return Err(ConnError::ConnectTimeout {
                    addr,
                    secs: CONNECT_TIMEOUT.as_secs_f64(),
                });
            }
        };
        stream
            .set_nodelay(true)
            .map_err(|source| ConnError::Io { addr, source })?;
        let cap = capacity.clamp(512, 64 * 1024);
        let mut conn = Conn {
            stream,
            addr,
            wbuf: BytesMut::with_capacity(cap),
            rbuf: BytesMut::with_capacity(cap),
        };
        bounded(addr, conn.handshake(auth)).await?;
        Ok(conn)
    }

    async fn handshake(&mut self, auth: &Auth) -> Result<(), ConnError> {
        let addr = self.addr;
        if let Some(pass) = &auth.password {
            let reply = match &auth.user {
                Some(user) => {
                    self.request(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                        .await?
                }
                None => self.request(&[b"AUTH", pass.as_bytes()]).await?,
            };
            if let OwnedFrame::Error(msg) = reply {
                // Redis answers "ERR AUTH <password> called without any password configured"
                // without echoing the password, but never print what we sent, only the server's words.
                return Err(ConnError::Auth {
                    addr,
                    msg: redact(&msg, pass),
                });
            }
        }
        if let Some(db) = auth.dbnum.filter(|&d| d != 0) {
            let db = db.to_string();
            if let OwnedFrame::Error(msg) = self.request(&[b"SELECT", db.as_bytes()]).await? {
                return Err(self.command_error("SELECT", msg));
            }
        }
        Ok(())
    }

    /// Checks the server answers commands (a NOAUTH here means a password is needed).
    pub async fn ping(&mut self) -> Result<(), ConnError> {
        match bounded(self.addr, self.request(&[b"PING"])).await? {
            OwnedFrame::Error(msg) if msg.starts_with("NOAUTH") => {
                Err(ConnError::NoAuth { addr: self.addr })
            }
            OwnedFrame::Error(msg) => Err(self.command_error("PING", msg)),
            _ => Ok(()),
        }
    }

    pub fn command_error(&self, cmd: &'static str, msg: String) -> ConnError {
        ConnError::Command {
            addr: self.addr,
            cmd,
            msg,
        }
    }

    /// One command, one decoded reply: for the handshake and topology queries, not the hot path.
    pub async fn request(&mut self, args: &[&[u8]]) -> Result<OwnedFrame, ConnError> {
        resp::encode_command(&mut self.wbuf, args);
        self.flush().await?;
        loop {
            match decode(&self.rbuf) {
                Ok(Some((frame, used))) => {
                    self.rbuf.advance(used);
                    return Ok(frame);
                }
                Ok(None) => self.fill().await?,
                Err(e) => {
                    return Err(ConnError::Protocol {
                        addr: self.addr,
                        source: ProtocolError(e.to_string().lines().next().unwrap_or("").into()),
                    });
                }
            }
        }
    }

    /// Writes the whole batch in (normally) one syscall.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        let res = self.stream.write_all(&self.wbuf).await;
        self.wbuf.clear();
        res.map_err(|source| ConnError::Io {
            addr: self.addr,
            source,
        })
    }

    async fn fill(&mut self) -> Result<(), ConnError> {
        if self.rbuf.capacity() - self.rbuf.len() < 512 {
            self.rbuf.reserve(16 * 1024);
        }
        match self.stream.read_buf(&mut self.rbuf).await {
            Ok(0) => Err(ConnError::Eof { addr: self.addr }),
            Ok(_) => Ok(()),
            Err(source) => Err(ConnError::Io {
                addr: self.addr,
                source,
            }),
        }
    }

    /// Reads `n` replies, calling `on_reply(i, reply, arrival)` for each in order. `arrival` is taken
    /// once per read, after the bytes arrived, which is both cheaper and closer to the truth than
    /// timestamping while parsing.
    pub async fn read_replies<F>(&mut self, n: usize, mut on_reply: F) -> Result<(), ConnError>
    where
        F: FnMut(usize, Reply<'_>, Instant),
    {
        let mut done = 0;
        let mut arrival = Instant::now();
        while done < n {
            match resp::parse_reply(&self.rbuf) {
                Ok(Some((reply, used))) => {
                    on_reply(done, reply, arrival);
                    self.rbuf.advance(used);
                    done += 1;
                }
                Ok(None) => {
                    self.fill().await?;
                    arrival = Instant::now();
                }
                Err(source) => {
                    return Err(ConnError::Protocol {
                        addr: self.addr,
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

fn redact(msg: &str, secret: &str) -> String {
    if secret.is_empty() {
        msg.to_string()
    } else {
        msg.replace(secret, "<redacted>")
    }
}

/// Reads a bulk/simple string frame as text (for INFO, CONFIG GET...).
pub fn frame_text(frame: &OwnedFrame) -> Option<String> {
    match frame {
        OwnedFrame::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        OwnedFrame::SimpleString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}
