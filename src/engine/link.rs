//! One non-blocking connection of the engine: its stream, the bytes not yet written, the tail of a
//! reply not yet complete, and its window of requests in flight (a FIFO: Redis answers in order).
//! Knows RESP and its handshake, nothing of workloads or reporting.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::IpAddr;

use mio::{Interest, Registry, Token};

use super::Req;
use super::timer::Ns;
use crate::cluster::topology::parse_redirect;
use crate::conn::HandshakeCmd;
use crate::net::Transport;
use crate::net::{Dialer, Peer};
use crate::resp::scan::Scanner;
use crate::resp::{self, ErrorClass, ProtocolError, Reply};

/// What an entry of the window is waiting for.
#[derive(Clone, Copy, Debug)]
pub enum Pending {
    Req(Req),
    /// A command of a sequence before its last: its error is the request's (the next `Req`).
    Inner,
    /// A follow-up counted in its own row (the request's PEXPIRE): recorded, not a window slot.
    Follow(Req),
    /// A reply read and dropped: ASKING before an asked command, LTRIM after a capped LPUSH.
    Skip,
    /// A handshake command (AUTH, SELECT, READONLY, PING), named for errors; whether any reply
    /// but a refusal will do (see `HandshakeCmd::optional`).
    Handshake(&'static str, bool),
}

/// What a request's reply came to: success, or its error class with, for MOVED/ASK, the slot and
/// the address it redirects to.
#[derive(Clone, Copy, Debug)]
pub enum ReplyOutcome {
    Ok,
    Err(ErrorClass, Option<(u16, std::net::SocketAddr)>),
}

/// One request's reply (or a dropped one), with when its bytes arrived.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    pub req: Req,
    pub outcome: ReplyOutcome,
    pub at: Ns,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No stream (never connected, or lost).
    Idle,
    Connecting {
        since: Ns,
    },
    Handshake {
        since: Ns,
    },
    Ready,
}

/// Why a link stopped working.
#[derive(Debug)]
pub enum LinkFail {
    Connect(io::Error),
    Io(io::Error),
    Eof,
    /// Requests went unanswered too long (a stalled or partitioned node).
    Timeout,
    Protocol(ProtocolError),
    /// A handshake command was refused: its name and the server's words.
    Handshake(&'static str, String),
    /// The server's first reply on the connection refused it (maxclients, NOAUTH, LOADING), or an
    /// error came before any request: Redis over its maxclients accepts, says so and closes.
    Refused(String),
}

impl LinkFail {
    /// What happened, in words, for the summary next to its class.
    pub fn words(&self) -> String {
        match self {
            LinkFail::Connect(e) => format!("connect: {e}"),
            LinkFail::Io(e) => e.to_string(),
            LinkFail::Eof => "connection closed by the server".into(),
            LinkFail::Timeout => "no reply in time".into(),
            LinkFail::Protocol(e) => e.to_string(),
            LinkFail::Handshake(cmd, msg) => format!("{cmd}: {msg}"),
            LinkFail::Refused(msg) => msg.clone(),
        }
    }

    /// The class the requests in flight on the link end up with.
    pub fn class(&self) -> ErrorClass {
        match self {
            LinkFail::Connect(_) => ErrorClass::ConnRefused,
            LinkFail::Io(_) | LinkFail::Eof => ErrorClass::ConnLost,
            LinkFail::Timeout => ErrorClass::Timeout,
            LinkFail::Protocol(_) => ErrorClass::Protocol,
            LinkFail::Handshake(_, msg) | LinkFail::Refused(msg) => {
                ErrorClass::of_error(msg.as_bytes())
            }
        }
    }
}

pub struct Link<T> {
    stream: Option<T>,
    pub node: u16,
    pub addr: Peer,
    pub state: State,
    /// Bytes encoded but not yet accepted by the socket.
    pub wbuf: Vec<u8>,
    /// Where in a reply the stream is: replies are classified as their bytes arrive, so a link
    /// holds no reply bytes of its own whatever the server sends.
    scanner: Scanner,
    pub window: VecDeque<Pending>,
    /// Requests (not replies) in the window: what `-P` bounds.
    pub busy: usize,
    handshake_left: usize,
    /// No reply has come on this connection yet: the first one may be a refusal of it.
    unproven: bool,
    /// Opened at set-up (and not lost since): a refusal fails the run, as at set-up.
    pub initial: bool,
    /// On its node's free list (see `Node::free`).
    pub listed: bool,
    /// On the loop's list of links to flush this iteration.
    pub dirty: bool,
    /// The first error an inner command of the sequence being answered got (with its redirect).
    inner_err: Option<(ErrorClass, Option<(u16, std::net::SocketAddr)>)>,
}

impl<T: Transport> Link<T> {
    pub fn new(node: u16, addr: Peer) -> Link<T> {
        Link {
            stream: None,
            node,
            addr,
            state: State::Idle,
            wbuf: Vec::new(),
            scanner: Scanner::new(),
            window: VecDeque::new(),
            busy: 0,
            handshake_left: 0,
            unproven: false,
            initial: false,
            listed: false,
            dirty: false,
            inner_err: None,
        }
    }

    #[inline]
    pub fn ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Starts a non-blocking connect and queues the handshake behind it.
    pub fn connect(
        &mut self,
        registry: &Registry,
        token: Token,
        handshake: &[HandshakeCmd],
        dial: &Dialer,
        now: Ns,
    ) -> Result<(), LinkFail> {
        let mut s = T::connect(&self.addr, dial).map_err(LinkFail::Connect)?;
        registry
            .register(&mut s, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(LinkFail::Connect)?;
        self.stream = Some(s);
        self.state = State::Connecting { since: now };
        for cmd in handshake {
            let args: Vec<&[u8]> = cmd.args.iter().map(Vec::as_slice).collect();
            let mut b = bytes::BytesMut::new();
            resp::encode_command(&mut b, &args);
            self.wbuf.extend_from_slice(&b);
            self.window
                .push_back(Pending::Handshake(cmd.name, cmd.optional));
        }
        self.handshake_left = handshake.len();
        self.unproven = true;
        Ok(())
    }

    /// A writable (or error) event while connecting: Ok(true) when the connection is up.
    pub fn finish_connect(&mut self, now: Ns) -> Result<bool, LinkFail> {
        let Some(s) = self.stream.as_ref() else {
            return Ok(false);
        };
        if !s.poll_connected().map_err(LinkFail::Connect)? {
            return Ok(false);
        }
        self.state = if self.handshake_left > 0 || s.handshaking() {
            State::Handshake { since: now }
        } else {
            State::Ready
        };
        self.flush()?;
        Ok(true)
    }

    /// Closes the stream; returns the requests that were in flight (the caller decides their fate)
    /// in `lost`, and how many follow-ups were dropped with them (a retried request sends its
    /// follow-up again).
    pub fn close(&mut self, registry: &Registry, lost: &mut Vec<Req>) -> usize {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
        self.state = State::Idle;
        self.wbuf.clear();
        self.scanner = Scanner::new();
        self.inner_err = None;
        let mut follows = 0;
        for p in self.window.drain(..) {
            match p {
                Pending::Req(r) => lost.push(r),
                Pending::Follow(_) => follows += 1,
                _ => {}
            }
        }
        self.busy = 0;
        self.handshake_left = 0;
        self.initial = false;
        follows
    }

    /// Writes what the socket takes; the rest waits for the next writable event.
    pub fn flush(&mut self) -> Result<(), LinkFail> {
        let Some(s) = self.stream.as_mut() else {
            return Ok(());
        };
        if matches!(self.state, State::Connecting { .. }) {
            return Ok(());
        }
        while !self.wbuf.is_empty() {
            match s.write(&self.wbuf) {
                Ok(n) if n == self.wbuf.len() => self.wbuf.clear(),
                Ok(0) => return Err(LinkFail::Eof),
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkFail::Io(e)),
            }
        }
        // Bytes a transport still holds (TLS records the socket did not take); a no-op for TCP.
        match s.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(LinkFail::Io(e)),
            _ => Ok(()),
        }
    }

    /// Reads what has arrived and turns complete replies into `out` entries, timestamped once per
    /// read (`now` is called after the bytes are in); an error reply's words go to `words` with
    /// its request's op. Returns whether the handshake just completed.
    pub fn read(
        &mut self,
        scratch: &mut [u8],
        now: &mut dyn FnMut() -> Ns,
        out: &mut Vec<Done>,
        words: &mut dyn FnMut(u8, ErrorClass, &[u8]),
    ) -> Result<bool, LinkFail> {
        let mut became_ready = false;
        loop {
            let Some(s) = self.stream.as_mut() else {
                return Ok(became_ready);
            };
            // Always into the thread's scratch buffer: an idle link holds no buffer of its own.
            let Some(n) = read_some(s, scratch)? else {
                return Ok(became_ready || self.handshake_done());
            };
            let at = now();
            let mut sides = Sides {
                window: &mut self.window,
                busy: &mut self.busy,
                handshake_left: &mut self.handshake_left,
                unproven: &mut self.unproven,
                inner_err: &mut self.inner_err,
                from: self.addr.tcp().map(|a| a.ip()),
                words: &mut *words,
            };
            self.scanner
                .feed(&scratch[..n], |reply| sides.reply(reply, at, out))?;
            became_ready |= self.handshake_done();
            // A short read drained the socket; edge-triggered readiness will tell us of more.
            if n < scratch.len() {
                return Ok(became_ready);
            }
        }
    }

    /// Moves a link whose handshake (commands, and the transport's own) just ended to Ready.
    fn handshake_done(&mut self) -> bool {
        let transport = self.stream.as_ref().is_some_and(|s| s.handshaking());
        if matches!(self.state, State::Handshake { .. }) && self.handshake_left == 0 && !transport {
            self.state = State::Ready;
            return true;
        }
        false
    }

    /// Up, with nothing in flight and nothing left to write.
    pub fn drained(&self) -> bool {
        self.ready() && self.window.is_empty() && self.wbuf.is_empty()
    }

    /// Send time of the oldest request in flight.
    pub fn oldest_sent(&self) -> Option<Ns> {
        self.window.iter().find_map(|p| match p {
            Pending::Req(r) => Some(r.sent),
            _ => None,
        })
    }
}

/// `Ok(None)` when the socket has nothing now.
fn read_some<T: Read>(s: &mut T, buf: &mut [u8]) -> Result<Option<usize>, LinkFail> {
    loop {
        match s.read(buf) {
            Ok(0) => return Err(LinkFail::Eof),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LinkFail::Io(e)),
        }
    }
}

/// The parts of a link that parsing updates (borrowed apart from the buffer being parsed).
struct Sides<'a> {
    window: &'a mut VecDeque<Pending>,
    busy: &'a mut usize,
    handshake_left: &'a mut usize,
    unproven: &'a mut bool,
    inner_err: &'a mut Option<(ErrorClass, Option<(u16, std::net::SocketAddr)>)>,
    /// A redirect's address without a host is on this one (a unix socket redirects nowhere).
    from: Option<IpAddr>,
    words: &'a mut dyn FnMut(u8, ErrorClass, &[u8]),
}

impl Sides<'_> {
    /// Matches one reply to the request it answers (the window is a FIFO: Redis answers in order).
    fn reply(&mut self, reply: Reply<'_>, at: Ns, out: &mut Vec<Done>) -> Result<(), LinkFail> {
        if let Reply::Push = reply {
            // Out-of-band (RESP3 invalidations and the like): not an answer to anything.
            return Ok(());
        }
        self.check_refusal(&reply)?;
        let Some(p) = self.window.pop_front() else {
            return Err(LinkFail::Protocol(ProtocolError(
                "a reply arrived for no request".into(),
            )));
        };
        match p {
            Pending::Skip => {}
            Pending::Handshake(cmd, optional) => {
                if let Reply::Error(class, msg) = reply
                    && (!optional || class.refuses_connection())
                {
                    let msg = String::from_utf8_lossy(msg).into_owned();
                    return Err(LinkFail::Handshake(cmd, msg));
                }
                *self.handshake_left = self.handshake_left.saturating_sub(1);
            }
            Pending::Req(req) => {
                *self.busy -= 1;
                let outcome = match self.inner_err.is_some() {
                    // Read, not taken, when there is none: the common case stays a load.
                    false => self.outcome(req, reply),
                    true => self.sequence_outcome(req, reply),
                };
                out.push(Done { req, outcome, at });
            }
            Pending::Inner => {
                if let Reply::Error(..) = reply
                    && self.inner_err.is_none()
                    && let ReplyOutcome::Err(c, redirect) = self.outcome(self.next_req(), reply)
                {
                    *self.inner_err = Some((c, redirect));
                }
            }
            Pending::Follow(req) => {
                let outcome = self.outcome(req, reply);
                out.push(Done { req, outcome, at });
            }
        }
        Ok(())
    }

    /// The outcome of a sequence one of whose inner commands failed. Its first inner error is the
    /// request's when it says where to go or to wait (MOVED, TRYAGAIN...: the whole sequence is
    /// retried); otherwise the last reply says (EXECABORT after a refused command), else the
    /// inner error.
    #[cold]
    fn sequence_outcome(&mut self, req: Req, reply: Reply<'_>) -> ReplyOutcome {
        let Some((c, redirect)) = self.inner_err.take() else {
            return self.outcome(req, reply);
        };
        if c.retried_in_cluster() {
            return ReplyOutcome::Err(c, redirect);
        }
        match self.outcome(req, reply) {
            ReplyOutcome::Ok => ReplyOutcome::Err(c, redirect),
            last => last,
        }
    }

    /// What a request's own reply means; an error's words are kept with its op.
    #[inline]
    fn outcome(&mut self, req: Req, reply: Reply<'_>) -> ReplyOutcome {
        match reply {
            Reply::Error(c, msg) => {
                (self.words)(req.op, c, msg);
                let redirect = matches!(c, ErrorClass::Moved | ErrorClass::Ask)
                    .then(|| parse_redirect(msg, self.from?))
                    .flatten();
                ReplyOutcome::Err(c, redirect)
            }
            Reply::Nil if req.has(Req::NIL_FAILS) => ReplyOutcome::Err(ErrorClass::ExecNil, None),
            Reply::Ok | Reply::Nil | Reply::Push => ReplyOutcome::Ok,
        }
    }

    /// The request the inner replies ahead of it belong to.
    fn next_req(&self) -> Req {
        self.window
            .iter()
            .find_map(|p| match p {
                Pending::Req(r) => Some(*r),
                _ => None,
            })
            .unwrap_or_else(Req::blank)
    }
}

impl Sides<'_> {
    /// With no set-up round trip, the first reply on a connection is where a refusal shows: an
    /// error before any request, or a refusing error (maxclients, NOAUTH, LOADING) to the first
    /// request. Handshake commands judge their own replies. The request stays in the window, so
    /// closing the link hands it back.
    fn check_refusal(&mut self, reply: &Reply<'_>) -> Result<(), LinkFail> {
        if !std::mem::take(self.unproven) {
            return Ok(());
        }
        let Reply::Error(class, msg) = reply else {
            return Ok(());
        };
        let refused = match self.window.front() {
            None => true,
            Some(Pending::Handshake(..)) => false,
            Some(_) => class.refuses_connection(),
        };
        if refused {
            return Err(LinkFail::Refused(String::from_utf8_lossy(msg).into_owned()));
        }
        Ok(())
    }
}

impl From<ProtocolError> for LinkFail {
    fn from(e: ProtocolError) -> LinkFail {
        LinkFail::Protocol(e)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use mio::{Events, Poll};

    use super::*;

    /// Replies split at awkward places, and one larger than the scratch buffer, come out whole, in
    /// order, matched to their requests; a skipped reply (ASKING) is dropped.
    #[test]
    fn replies_are_framed_across_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut poll = Poll::new().unwrap();
        let mut link: Link<mio::net::TcpStream> = Link::new(0, Peer::Tcp(addr));
        link.connect(poll.registry(), Token(0), &[], &Dialer::default(), 0)
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !link.finish_connect(0).unwrap() {
            assert!(Instant::now() < deadline);
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
        }
        for op in 0..3 {
            link.window.push_back(Pending::Req(Req::test(op, 0)));
            link.busy += 1;
        }
        link.window.insert(1, Pending::Skip);
        let big = vec![b'x'; 100_000];
        let mut bytes = b"+OK\r\n+OK\r\n-MOVED 12 127.0.0.1:7001\r\n".to_vec();
        bytes.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        bytes.extend_from_slice(&big);
        bytes.extend_from_slice(b"\r\n");
        let mut scratch = vec![0u8; 4096];
        let mut out = Vec::new();
        let mut t = 0;
        let mut now = || {
            t += 1;
            t
        };
        for chunk in bytes.chunks(7_777) {
            server.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(2));
            link.read(&mut scratch, &mut now, &mut out, &mut |_, _, _| {})
                .unwrap();
        }
        while out.len() < 3 && Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
            link.read(&mut scratch, &mut now, &mut out, &mut |_, _, _| {})
                .unwrap();
        }
        let ops: Vec<u8> = out.iter().map(|d| d.req.op).collect();
        assert_eq!(ops, [0, 1, 2]);
        assert!(matches!(out[0].outcome, ReplyOutcome::Ok));
        match out[1].outcome {
            ReplyOutcome::Err(ErrorClass::Moved, Some((12, a))) => assert_eq!(a.port(), 7001),
            other => panic!("{other:?}"),
        }
        assert!(matches!(out[2].outcome, ReplyOutcome::Ok));
        assert_eq!(link.busy, 0);
        assert!(link.window.is_empty());
        // Nothing of the large reply was kept.
        assert!(link.scanner.held() < 1024, "{}", link.scanner.held());
    }

    /// A link connected (with no handshake) to a listener, and the server's end.
    fn connected() -> (Link<mio::net::TcpStream>, std::net::TcpStream, Poll) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let poll = Poll::new().unwrap();
        let mut link: Link<mio::net::TcpStream> = Link::new(0, Peer::Tcp(addr));
        link.connect(poll.registry(), Token(0), &[], &Dialer::default(), 0)
            .unwrap();
        let (server, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !link.finish_connect(0).unwrap() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        (link, server, poll)
    }

    /// Reads until `want` replies are out or the link fails.
    fn read_until(
        link: &mut Link<mio::net::TcpStream>,
        want: usize,
    ) -> Result<Vec<Done>, LinkFail> {
        let mut scratch = vec![0u8; 512];
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.len() < want {
            assert!(Instant::now() < deadline, "no reply read");
            link.read(&mut scratch, &mut || 0, &mut out, &mut |_, _, _| {})?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(out)
    }

    /// With no handshake, the first reply on a connection is where a refusal shows.
    #[test]
    fn a_first_reply_that_refuses_fails_the_link() {
        // Before any request (Redis over maxclients writes and closes at once).
        let (mut link, mut server, _poll) = connected();
        server
            .write_all(b"-ERR max number of clients reached\r\n")
            .unwrap();
        match read_until(&mut link, 1) {
            Err(f @ LinkFail::Refused(_)) => assert_eq!(f.class(), ErrorClass::MaxClients),
            other => panic!("{other:?}"),
        }
        // As the first request's reply: the request stays in the window for the caller.
        for (first, class) in [
            (
                &b"-ERR max number of clients reached\r\n"[..],
                ErrorClass::MaxClients,
            ),
            (b"-NOAUTH Authentication required.\r\n", ErrorClass::NoAuth),
            (
                b"-LOADING Redis is loading the dataset in memory\r\n",
                ErrorClass::Loading,
            ),
        ] {
            let (mut link, mut server, _poll) = connected();
            link.window.push_back(Pending::Req(Req::test(0, 0)));
            link.busy = 1;
            server.write_all(first).unwrap();
            match read_until(&mut link, 1) {
                Err(f @ LinkFail::Refused(_)) => assert_eq!(f.class(), class),
                other => panic!("{other:?}"),
            }
            assert_eq!(link.window.len(), 1);
        }
        // Any other first reply is the request's; later refusing words are a request's error.
        let (mut link, mut server, _poll) = connected();
        for op in 0..2 {
            link.window.push_back(Pending::Req(Req::test(op, 0)));
        }
        link.busy = 2;
        server
            .write_all(b"-NOPERM no\r\n-ERR max number of clients reached\r\n")
            .unwrap();
        let out = read_until(&mut link, 2).unwrap();
        assert!(matches!(
            out[0].outcome,
            ReplyOutcome::Err(ErrorClass::NoPerm, None)
        ));
        assert!(matches!(
            out[1].outcome,
            ReplyOutcome::Err(ErrorClass::MaxClients, None)
        ));
    }

    #[test]
    fn a_refused_handshake_names_the_command() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let poll = Poll::new().unwrap();
        let mut link: Link<mio::net::TcpStream> = Link::new(0, Peer::Tcp(addr));
        let hs = [HandshakeCmd {
            name: "AUTH",
            args: vec![b"AUTH".to_vec(), b"pw".to_vec()],
            optional: false,
        }];
        link.connect(poll.registry(), Token(0), &hs, &Dialer::default(), 0)
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !link.finish_connect(0).unwrap() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(matches!(link.state, State::Handshake { .. }));
        server
            .write_all(b"-WRONGPASS invalid password\r\n")
            .unwrap();
        let mut scratch = vec![0u8; 512];
        let mut out = Vec::new();
        loop {
            match link.read(&mut scratch, &mut || 0, &mut out, &mut |_, _, _| {}) {
                Ok(_) => assert!(Instant::now() < deadline, "no reply read"),
                Err(LinkFail::Handshake(cmd, msg)) => {
                    assert_eq!(cmd, "AUTH");
                    assert!(msg.starts_with("WRONGPASS"), "{msg}");
                    assert_eq!(LinkFail::Handshake(cmd, msg).class(), ErrorClass::NoAuth);
                    return;
                }
                Err(e) => panic!("{e:?}"),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
