//! One pipelined connection over any byte stream (TCP today; TLS or a unix socket plug in through
//! [`Conn::from_stream`]): a write buffer flushed with one `write_all` per batch, a read buffer that
//! replies are parsed from in place, and the AUTH/SELECT(/READONLY) handshake.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::net::{AsyncIo, Dialer, Peer};
use crate::resp::{self, ErrorClass, ProtocolError, Value};

/// Credentials and database for the handshake. The password never appears in Debug output.
#[derive(Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbnum: Option<u32>,
    /// The profile's `password_env`, named when the server asks for a password it did not get.
    pub password_env: Option<String>,
    /// `-3`: every connection sends HELLO 3 and reads RESP3 from then on. (Here because everything
    /// that opens a connection already carries the handshake's settings.)
    pub resp3: bool,
    /// `--enable-tracking`: every connection sends CLIENT TRACKING on.
    pub tracking: bool,
}

impl Auth {
    /// The variable to name when a password is missing: the profile's, if it named one.
    pub fn password_var(&self) -> Option<String> {
        self.password_env
            .clone()
            .filter(|_| self.password.is_none())
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbnum", &self.dbnum)
            .field("password_env", &self.password_env)
            .field("resp3", &self.resp3)
            .field("tracking", &self.tracking)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: Peer, source: std::io::Error },
    /// An engine thread could not set up its poller or timer: no server was involved yet.
    #[error("cannot start the event loop: {0}")]
    EventLoop(std::io::Error),
    #[error("cannot connect to {addr}: timed out after {secs:.1} s")]
    ConnectTimeout { addr: Peer, secs: f64 },
    #[error("{addr}: authentication failed: {msg}")]
    Auth { addr: Peer, msg: String },
    #[error(
        "{addr}: the server requires a password (NOAUTH): {}",
        nopass_hint(var)
    )]
    NoAuth {
        addr: Peer,
        /// The environment variable the password was to come from (None: `-a` or REDISCLI_AUTH).
        var: Option<String>,
    },
    #[error("{addr} refused the connection: {msg}{hint}")]
    Refused {
        addr: Peer,
        msg: String,
        hint: &'static str,
    },
    #[error("{addr}: {cmd} failed: {msg}")]
    Command {
        addr: Peer,
        cmd: &'static str,
        msg: String,
    },
    #[error("{addr}: connection lost: {source}")]
    Io { addr: Peer, source: std::io::Error },
    #[error("{addr}: connection closed by server")]
    Eof { addr: Peer },
    #[error("{addr}: {source}")]
    Protocol { addr: Peer, source: ProtocolError },
    /// A TLS handshake failure, in words (see `net::tls::words`).
    #[error("{addr}: {msg}")]
    Tls { addr: Peer, msg: String },
    #[error("{addr}: no reply within {secs:.1} s")]
    Timeout { addr: Peer, secs: f64 },
}

fn nopass_hint(var: &Option<String>) -> String {
    match var {
        Some(v) => format!("the profile takes it from ${v}, which is not set"),
        None => "pass -a PASSWORD or set REDISCLI_AUTH".into(),
    }
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the handshake and set-up requests (CONFIG GET) wait for a reply: a server that accepts connections but
/// never answers (hung, or not Redis) must fail the run instead of hanging it.
pub const SETUP_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(
    addr: Peer,
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

/// One command a new connection sends before any request.
#[derive(Clone, Debug)]
pub struct HandshakeCmd {
    /// Named in errors.
    pub name: &'static str,
    pub args: Vec<Vec<u8>>,
    /// Sent only to prove the server answers: any reply but a refusal of the connection will do
    /// (a least-privilege user may get NOPERM, a proxy may not know the command).
    pub optional: bool,
}

/// The commands a new connection sends before any request, in order: AUTH when a password is set,
/// SELECT for a non-zero database, READONLY for replica reads. Nothing else: the server's command
/// counts must show only what the user asked for, so a connection's first reply serves to catch a
/// refusal (a server over `maxclients` accepts, sends its refusal and closes; see the engine's link).
pub fn handshake_commands(auth: &Auth, readonly: bool) -> Vec<HandshakeCmd> {
    let required = |name, args| HandshakeCmd {
        name,
        args,
        optional: false,
    };
    let mut cmds = Vec::new();
    if let Some(pass) = &auth.password {
        let mut args = vec![b"AUTH".to_vec()];
        args.extend(auth.user.as_ref().map(|u| u.as_bytes().to_vec()));
        args.push(pass.as_bytes().to_vec());
        cmds.push(required("AUTH", args));
    }
    if let Some(db) = auth.dbnum.filter(|&d| d != 0) {
        let args = vec![b"SELECT".to_vec(), db.to_string().into_bytes()];
        cmds.push(required("SELECT", args));
    }
    cmds.extend(protocol_commands(auth));
    if readonly {
        cmds.push(required("READONLY", vec![b"READONLY".to_vec()]));
    }
    cmds
}

/// HELLO 3 (`-3`) and CLIENT TRACKING on (`--enable-tracking`), as redis-benchmark sends them; after
/// AUTH so a password-protected server accepts them. A server that refuses either fails the run:
/// measuring without the asked-for protocol would measure something else.
fn protocol_commands(auth: &Auth) -> Vec<HandshakeCmd> {
    let words = |w: &[&str]| w.iter().map(|s| s.as_bytes().to_vec()).collect();
    let mut cmds = Vec::new();
    if auth.resp3 {
        cmds.push(HandshakeCmd {
            name: "HELLO",
            args: words(&["HELLO", "3"]),
            optional: false,
        });
    }
    if auth.tracking {
        cmds.push(HandshakeCmd {
            name: "CLIENT TRACKING",
            args: words(&["CLIENT", "TRACKING", "on"]),
            optional: false,
        });
    }
    cmds
}

/// Whether an error reply `msg` to handshake command `cmd` fails the connection.
pub fn handshake_refused(cmd: &HandshakeCmd, msg: &[u8]) -> bool {
    !cmd.optional || ErrorClass::of_error(msg).refuses_connection()
}

/// What an error reply `msg` to handshake command `cmd` means for the run.
pub fn handshake_error(addr: Peer, cmd: &'static str, msg: &str, auth: &Auth) -> ConnError {
    match ErrorClass::of_error(msg.as_bytes()) {
        ErrorClass::NoAuth if cmd != "AUTH" => {
            return ConnError::NoAuth {
                addr,
                var: auth.password_var(),
            };
        }
        ErrorClass::MaxClients | ErrorClass::Loading => {
            return ConnError::Refused {
                addr,
                msg: msg.to_string(),
                hint: refusal_hint(msg),
            };
        }
        _ => {}
    }
    if cmd == "AUTH" {
        // Redis answers "ERR AUTH <password> called without any password configured" without
        // echoing the password, but never print what we sent, only the server's words.
        let secret = auth.password.as_deref().unwrap_or("");
        return ConnError::Auth {
            addr,
            msg: redact(msg, secret),
        };
    }
    ConnError::Command {
        addr,
        cmd,
        msg: msg.to_string(),
    }
}

fn refusal_hint(msg: &str) -> &'static str {
    match ErrorClass::of_error(msg.as_bytes()) {
        ErrorClass::MaxClients => {
            " (the server's maxclients is reached: raise it, or use fewer --clients)"
        }
        ErrorClass::Loading => " (the server is loading its dataset: try again when it is done)",
        _ => "",
    }
}

pub struct Conn<S = Box<dyn AsyncIo>> {
    stream: S,
    /// The server (errors name it).
    peer: Peer,
    /// Commands of the current batch; flushed with one write.
    pub wbuf: BytesMut,
    rbuf: BytesMut,
}

/// An error connecting to `peer`: TLS failures in their own words.
pub fn connect_error(peer: Peer, source: std::io::Error) -> ConnError {
    match crate::net::tls::failure_words(&source) {
        Some(msg) => ConnError::Tls { addr: peer, msg },
        None => ConnError::Connect { addr: peer, source },
    }
}

/// A failed read or write. TLS 1.3 settles client authentication after the client's handshake is
/// done, so the server's refusal of a missing or bad client certificate arrives on the first read:
/// it gets TLS words, not "connection lost".
pub fn io_error(peer: Peer, source: std::io::Error) -> ConnError {
    match crate::net::tls::failure_words(&source) {
        Some(msg) => ConnError::Tls { addr: peer, msg },
        None => ConnError::Io { addr: peer, source },
    }
}

impl Conn {
    /// Connects through `dial` (TCP, unix socket or TLS) and runs the handshake (AUTH, SELECT...).
    /// `capacity` sizes the buffers to the pipeline window so 10k connections stay cheap.
    pub async fn connect(
        dial: &Dialer,
        peer: impl Into<Peer>,
        auth: &Auth,
        capacity: usize,
    ) -> Result<Conn, ConnError> {
        let peer = peer.into();
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, dial.connect_async(&peer)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(connect_error(peer, source)),
            Err(_) if dial.tls.is_some() => {
                return Err(ConnError::Tls {
                    addr: peer,
                    msg: format!(
                        "TLS: no handshake within {:.0} s: is it a TLS port? (a plain Redis port waits silently)",
                        CONNECT_TIMEOUT.as_secs_f64()
                    ),
                });
            }
            Err(_) => {
                return Err(ConnError::ConnectTimeout {
                    addr: peer,
                    secs: CONNECT_TIMEOUT.as_secs_f64(),
                });
            }
        };
        Conn::from_stream(stream, peer, auth, capacity).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Wraps an already-connected stream and runs the handshake.
    pub async fn from_stream(
        stream: S,
        peer: Peer,
        auth: &Auth,
        capacity: usize,
    ) -> Result<Conn<S>, ConnError> {
        let cap = capacity.clamp(512, 64 * 1024);
        let mut conn = Conn {
            stream,
            peer: peer.clone(),
            wbuf: BytesMut::with_capacity(cap),
            rbuf: BytesMut::with_capacity(cap),
        };
        bounded(peer, conn.handshake(auth)).await?;
        Ok(conn)
    }

    async fn handshake(&mut self, auth: &Auth) -> Result<(), ConnError> {
        for cmd in handshake_commands(auth, false) {
            let args: Vec<&[u8]> = cmd.args.iter().map(Vec::as_slice).collect();
            if let Value::Error(msg) = self.request(&args).await?
                && handshake_refused(&cmd, msg.as_bytes())
            {
                return Err(handshake_error(self.peer.clone(), cmd.name, &msg, auth));
            }
        }
        Ok(())
    }

    /// The handshaken stream and what was read past the handshake's replies, for a caller that
    /// reads and writes on its own (`replay` pipelines with a reader of its own).
    pub fn into_parts(self) -> (S, BytesMut) {
        (self.stream, self.rbuf)
    }

    /// The server as errors name it.
    pub fn peer(&self) -> Peer {
        self.peer.clone()
    }

    pub fn command_error(&self, cmd: &'static str, msg: String) -> ConnError {
        ConnError::Command {
            addr: self.peer.clone(),
            cmd,
            msg,
        }
    }

    /// One command, one decoded reply: for the handshake and topology queries, not the hot path.
    /// Error replies are `Ok(Value::Error)`; the caller knows what they mean.
    pub async fn request(&mut self, args: &[&[u8]]) -> Result<Value, ConnError> {
        resp::encode_command(&mut self.wbuf, args);
        self.flush().await?;
        let addr = self.peer.clone();
        let protocol = move |msg: String| ConnError::Protocol {
            addr: addr.clone(),
            source: ProtocolError(msg),
        };
        loop {
            match resp::decode_value(&self.rbuf) {
                Ok(Some((value, used))) => {
                    self.rbuf.advance(used);
                    return Ok(value);
                }
                Ok(None) if self.rbuf.len() > resp::MAX_REPLY => {
                    return Err(protocol("reply larger than 64 MiB".into()));
                }
                Ok(None) => self.fill().await?,
                Err(e) => return Err(protocol(e.0)),
            }
        }
    }

    /// Waits until the server sends something unasked (idle connections): the bytes that came, or
    /// `Eof` when it closed the connection.
    pub async fn unsolicited(&mut self) -> Result<Vec<u8>, ConnError> {
        if self.rbuf.is_empty() {
            self.fill().await?;
        }
        Ok(self.rbuf.split().to_vec())
    }

    /// As [`Conn::request`], for set-up: a server that does not answer fails after
    /// `SETUP_REPLY_TIMEOUT` instead of hanging the run.
    pub async fn setup_request(&mut self, args: &[&[u8]]) -> Result<Value, ConnError> {
        bounded(self.peer.clone(), self.request(args)).await
    }

    /// Writes the whole batch in (normally) one syscall.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        let res = self.stream.write_all(&self.wbuf).await;
        self.wbuf.clear();
        res.map_err(|source| io_error(self.peer.clone(), source))
    }

    async fn fill(&mut self) -> Result<(), ConnError> {
        if self.rbuf.capacity() - self.rbuf.len() < 512 {
            self.rbuf.reserve(16 * 1024);
        }
        match self.stream.read_buf(&mut self.rbuf).await {
            Ok(0) => Err(ConnError::Eof {
                addr: self.peer.clone(),
            }),
            Ok(_) => Ok(()),
            Err(source) => Err(io_error(self.peer.clone(), source)),
        }
    }
}

fn redact(msg: &str, secret: &str) -> String {
    if secret.is_empty() {
        msg.to_string()
    } else {
        msg.replace(secret, "<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream};

    fn auth(user: Option<&str>, password: Option<&str>, dbnum: Option<u32>) -> Auth {
        Auth {
            user: user.map(String::from),
            password: password.map(String::from),
            dbnum,
            password_env: None,
            ..Auth::default()
        }
    }

    fn names(cmds: &[HandshakeCmd]) -> Vec<String> {
        cmds.iter()
            .map(|c| {
                let words: Vec<_> = c.args.iter().map(|a| String::from_utf8_lossy(a)).collect();
                words.join(" ")
            })
            .collect()
    }

    #[test]
    fn handshake_commands_in_order() {
        // Nothing to set up, nothing sent: the server's command counts show only the tests.
        for a in [Auth::default(), auth(None, None, Some(0))] {
            assert!(handshake_commands(&a, false).is_empty());
        }
        let all = handshake_commands(&auth(Some("u"), Some("p"), Some(3)), true);
        assert_eq!(
            all.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["AUTH", "SELECT", "READONLY"]
        );
        assert!(all.iter().all(|c| !c.optional));
        assert_eq!(names(&all), ["AUTH u p", "SELECT 3", "READONLY"]);
        let pass_only = handshake_commands(&auth(None, Some("p"), None), false);
        assert_eq!(names(&pass_only), ["AUTH p"]);
    }

    #[test]
    fn resp3_and_tracking_follow_auth() {
        let a = Auth {
            resp3: true,
            tracking: true,
            ..auth(None, Some("p"), Some(2))
        };
        let cmds = handshake_commands(&a, true);
        assert_eq!(
            names(&cmds),
            [
                "AUTH p",
                "SELECT 2",
                "HELLO 3",
                "CLIENT TRACKING on",
                "READONLY"
            ]
        );
        assert!(cmds.iter().all(|c| !c.optional));
        // HELLO's reply proves the connection was accepted: no PING needed.
        let hello_only = Auth {
            resp3: true,
            ..Auth::default()
        };
        assert_eq!(names(&handshake_commands(&hello_only, false)), ["HELLO 3"]);
        let tracking_only = Auth {
            tracking: true,
            ..Auth::default()
        };
        assert_eq!(
            names(&handshake_commands(&tracking_only, false)),
            ["CLIENT TRACKING on"]
        );
    }

    #[test]
    fn handshake_errors_are_typed_and_redacted() {
        let addr = Peer::Tcp("127.0.0.1:1".parse().unwrap());
        let a = auth(None, Some("hunter2"), None);
        let e = handshake_error(addr.clone(), "AUTH", "WRONGPASS hunter2 is wrong", &a);
        assert!(
            matches!(&e, ConnError::Auth { msg, .. } if msg == "WRONGPASS <redacted> is wrong")
        );
        assert!(!e.to_string().contains("hunter2"));
        let e = handshake_error(
            addr.clone(),
            "SELECT",
            "NOAUTH Authentication required.",
            &a,
        );
        assert!(matches!(e, ConnError::NoAuth { .. }));
        let e = handshake_error(addr.clone(), "SELECT", "ERR DB index is out of range", &a);
        assert_eq!(
            e.to_string(),
            "127.0.0.1:1: SELECT failed: ERR DB index is out of range"
        );
        // A refusal is named as one, with the server's words, even in reply to AUTH.
        let e = handshake_error(
            addr.clone(),
            "AUTH",
            "ERR max number of clients reached",
            &a,
        );
        assert!(matches!(e, ConnError::Refused { .. }), "{e}");
        assert!(e.to_string().starts_with(
            "127.0.0.1:1 refused the connection: ERR max number of clients reached (the server's maxclients"
        ));
        let e = handshake_error(
            addr.clone(),
            "PING",
            "LOADING Redis is loading the dataset in memory",
            &a,
        );
        assert!(e.to_string().contains("loading its dataset"), "{e}");
        // The hint names the variable the profile reads the password from.
        let from_env = Auth {
            password_env: Some("MY_VAR".into()),
            ..Auth::default()
        };
        let e = handshake_error(
            addr.clone(),
            "PING",
            "NOAUTH Authentication required.",
            &from_env,
        );
        assert!(e.to_string().contains("$MY_VAR, which is not set"), "{e}");
        assert!(!e.to_string().contains("REDISCLI_AUTH"), "{e}");
        let e = handshake_error(addr.clone(), "PING", "NOAUTH Authentication required.", &a);
        assert!(e.to_string().contains("REDISCLI_AUTH"), "{e}");
    }

    #[test]
    fn only_refusals_fail_an_optional_command() {
        let ping = &HandshakeCmd {
            name: "PING",
            args: vec![b"PING".to_vec()],
            optional: true,
        };
        assert!(!handshake_refused(
            ping,
            b"NOPERM User u has no permissions to run the 'ping' command"
        ));
        assert!(!handshake_refused(ping, b"ERR unknown command 'PING'"));
        assert!(handshake_refused(
            ping,
            b"ERR max number of clients reached"
        ));
        assert!(handshake_refused(ping, b"NOAUTH Authentication required."));
        assert!(handshake_refused(ping, b"LOADING Redis is loading"));
        let auth_cmd = &handshake_commands(&auth(None, Some("p"), None), false)[0];
        assert!(handshake_refused(auth_cmd, b"ERR unknown command 'AUTH'"));
    }

    /// A scripted server on the other end of an in-memory stream: answers each command line it
    /// reads (RESP arrays are recognised by their first bulk string only) with the next reply.
    async fn serve(peer: DuplexStream, replies: Vec<&'static [u8]>) -> Vec<String> {
        let (r, mut w) = tokio::io::split(peer);
        let mut lines = BufReader::new(r).lines();
        let mut seen = Vec::new();
        let mut replies = replies.into_iter();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(n) = line.strip_prefix('*') {
                let n: usize = n.parse().unwrap();
                let mut words = Vec::new();
                for _ in 0..n * 2 {
                    words.push(lines.next_line().await.unwrap().unwrap());
                }
                let args: Vec<_> = words.into_iter().skip(1).step_by(2).collect();
                seen.push(args.join(" "));
                let Some(reply) = replies.next() else { break };
                w.write_all(reply).await.unwrap();
            }
        }
        seen
    }

    #[tokio::test]
    async fn conn_runs_over_any_stream() {
        let (client, server) = tokio::io::duplex(4096);
        let server = tokio::spawn(serve(
            server,
            vec![
                b"+OK\r\n",
                b"+OK\r\n",
                b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
            ],
        ));
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = auth(None, Some("pw"), Some(2));
        let mut conn = Conn::from_stream(client, addr.into(), &a, 100)
            .await
            .unwrap();
        let reply = conn
            .request(&[b"CONFIG", b"GET", b"appendonly"])
            .await
            .unwrap();
        assert_eq!(
            reply.as_array().and_then(|v| v[1].text()).as_deref(),
            Some("no")
        );
        drop(conn);
        assert_eq!(
            server.await.unwrap(),
            ["AUTH pw", "SELECT 2", "CONFIG GET appendonly"]
        );
    }

    #[tokio::test]
    async fn handshake_error_replies_fail_the_connection() {
        let (client, server) = tokio::io::duplex(4096);
        tokio::spawn(serve(server, vec![b"-WRONGPASS invalid password pw\r\n"]));
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = Conn::from_stream(client, addr.into(), &auth(None, Some("pw"), None), 100)
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "127.0.0.1:1: authentication failed: WRONGPASS invalid password <redacted>"
        );
    }
}
