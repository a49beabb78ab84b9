//! THE protocol module: RESP encoding into a reusable buffer, in-place reply classification for the hot
//! path, and one owned reply type ([`Value`]) with a blocking client for everything else that speaks to
//! a server (handshakes, topology queries, deployment probes, tests). Knows nothing of workloads.

pub mod scan;

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use redis_protocol::resp2::{decode::decode as decode_resp2, types::OwnedFrame as Resp2Frame};
use redis_protocol::resp3::{
    decode::complete::decode as decode_resp3, types::OwnedFrame as Resp3Frame,
};

/// Why a request did not succeed, as counted in the summary and the timeline. Server error replies are
/// classified by their first word (the maxclients refusal, an ERR, by its message); connection-level
/// failures have their own classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    Err,
    WrongType,
    Oom,
    NoAuth,
    NoPerm,
    Moved,
    Ask,
    TryAgain,
    ClusterDown,
    CrossSlot,
    Loading,
    Busy,
    ReadOnly,
    MasterDown,
    ExecAbort,
    MaxClients,
    Misconf,
    Other,
    ConnLost,
    ConnRefused,
    Timeout,
    Protocol,
    Redirects,
    /// EVALSHA of a script the server does not have (after a failover or a SCRIPT FLUSH).
    NoScript,
    /// An EXEC answered nil: a key under WATCH changed, the transaction did not run.
    ExecNil,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 25] = [
        ErrorClass::Err,
        ErrorClass::WrongType,
        ErrorClass::Oom,
        ErrorClass::NoAuth,
        ErrorClass::NoPerm,
        ErrorClass::Moved,
        ErrorClass::Ask,
        ErrorClass::TryAgain,
        ErrorClass::ClusterDown,
        ErrorClass::CrossSlot,
        ErrorClass::Loading,
        ErrorClass::Busy,
        ErrorClass::ReadOnly,
        ErrorClass::MasterDown,
        ErrorClass::ExecAbort,
        ErrorClass::MaxClients,
        ErrorClass::Misconf,
        ErrorClass::Other,
        ErrorClass::ConnLost,
        ErrorClass::ConnRefused,
        ErrorClass::Timeout,
        ErrorClass::Protocol,
        ErrorClass::Redirects,
        ErrorClass::NoScript,
        ErrorClass::ExecNil,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    /// Column / label name: `moved,ask,clusterdown,conn_lost,oom` in the results files.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Err => "err",
            ErrorClass::WrongType => "wrongtype",
            ErrorClass::Oom => "oom",
            ErrorClass::NoAuth => "noauth",
            ErrorClass::NoPerm => "noperm",
            ErrorClass::Moved => "moved",
            ErrorClass::Ask => "ask",
            ErrorClass::TryAgain => "tryagain",
            ErrorClass::ClusterDown => "clusterdown",
            ErrorClass::CrossSlot => "crossslot",
            ErrorClass::Loading => "loading",
            ErrorClass::Busy => "busy",
            ErrorClass::ReadOnly => "readonly",
            ErrorClass::MasterDown => "masterdown",
            ErrorClass::ExecAbort => "execabort",
            ErrorClass::MaxClients => "maxclients",
            ErrorClass::Misconf => "misconf",
            ErrorClass::Other => "other",
            ErrorClass::ConnLost => "conn_lost",
            ErrorClass::ConnRefused => "conn_refused",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Redirects => "too_many_redirects",
            ErrorClass::NoScript => "noscript",
            ErrorClass::ExecNil => "exec_nil",
        }
    }

    /// Classifies a server error message (without the leading `-`) by its first word, but for the
    /// maxclients refusal, told apart from other ERRs by its message.
    pub fn of_error(msg: &[u8]) -> ErrorClass {
        let word = msg.split(|&b| b == b' ').next().unwrap_or(msg);
        match word {
            // Redis refuses a connection over maxclients with a plain ERR; it is told apart by its
            // words because it means "fewer connections", not "bad command".
            b"ERR" if msg.starts_with(MAXCLIENTS_MSG) => ErrorClass::MaxClients,
            b"ERR" => ErrorClass::Err,
            b"WRONGTYPE" => ErrorClass::WrongType,
            b"OOM" => ErrorClass::Oom,
            b"NOAUTH" | b"WRONGPASS" => ErrorClass::NoAuth,
            b"NOPERM" => ErrorClass::NoPerm,
            b"MOVED" => ErrorClass::Moved,
            b"ASK" => ErrorClass::Ask,
            b"TRYAGAIN" => ErrorClass::TryAgain,
            b"CLUSTERDOWN" => ErrorClass::ClusterDown,
            b"CROSSSLOT" => ErrorClass::CrossSlot,
            b"LOADING" => ErrorClass::Loading,
            b"BUSY" => ErrorClass::Busy,
            b"READONLY" => ErrorClass::ReadOnly,
            b"MASTERDOWN" => ErrorClass::MasterDown,
            b"EXECABORT" => ErrorClass::ExecAbort,
            b"MISCONF" => ErrorClass::Misconf,
            b"NOSCRIPT" => ErrorClass::NoScript,
            _ => ErrorClass::Other,
        }
    }
}

/// What Redis sends (then closes) to a connection accepted over its `maxclients`.
pub const MAXCLIENTS_MSG: &[u8] = b"ERR max number of clients reached";

impl ErrorClass {
    /// What a cluster client follows or waits out: a sequence that met one in an inner command
    /// is retried whole, as that error.
    pub fn retried_in_cluster(self) -> bool {
        matches!(
            self,
            ErrorClass::Moved
                | ErrorClass::Ask
                | ErrorClass::TryAgain
                | ErrorClass::ClusterDown
                | ErrorClass::Loading
                | ErrorClass::MasterDown
                | ErrorClass::ReadOnly
        )
    }

    /// Refusals of the connection itself rather than of one command: met while connecting, they
    /// fail the run at set-up (no number measured through them would mean anything).
    pub fn refuses_connection(self) -> bool {
        matches!(
            self,
            ErrorClass::MaxClients | ErrorClass::NoAuth | ErrorClass::Loading
        )
    }
}

/// What one reply means to the load generator. An error's words are borrowed (from the read buffer,
/// or the scanner's capped copy when the reply came in pieces): nothing is allocated per reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    /// A null reply (`$-1`, `*-1`, RESP3 `_`): a success but for an EXEC (its WATCH failed).
    Nil,
    Error(ErrorClass, &'a [u8]),
    /// A RESP3 push (out-of-band data such as an invalidation): not a reply to any request.
    Push,
}

/// A reply that is not valid RESP: the connection cannot be trusted after it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed reply from server: {0}")]
pub struct ProtocolError(pub String);

/// A RESP integer: optional `-`, then 1..=18 digits (longer ones go to the scanner's state machine).
#[inline]
pub(crate) fn parse_len(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Replies read off the hot path are buffered whole; a confused peer (or a non-Redis process on the
/// port) must not make us buffer forever.
pub const MAX_REPLY: usize = 64 * 1024 * 1024;

/// One whole reply, owned: for handshakes, topology queries and probes, never the hot path. RESP3
/// types map onto their RESP2 shapes (map, set and push → array, double and big number → bulk
/// string, boolean → integer) so callers match one set of variants whatever the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    /// A status or bulk string as text (lossy UTF-8).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Simple(s) => Some(Cow::Borrowed(s)),
            Value::Bulk(b) => Some(String::from_utf8_lossy(b)),
            _ => None,
        }
    }

    /// As [`Value::text`], owned; an error reply becomes `Err` with the server's message.
    pub fn into_text(self) -> Result<String, String> {
        match self {
            Value::Simple(s) => Ok(s),
            Value::Bulk(b) => Ok(lossy(b)),
            Value::Error(e) => Err(e),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes of a bulk or status string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(s) => Some(s.as_bytes()),
            Value::Bulk(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    fn from_resp2(f: Resp2Frame) -> Value {
        match f {
            Resp2Frame::SimpleString(s) => Value::Simple(lossy(s)),
            Resp2Frame::Error(e) => Value::Error(e),
            Resp2Frame::Integer(i) => Value::Int(i),
            Resp2Frame::BulkString(b) => Value::Bulk(b),
            Resp2Frame::Array(items) => {
                Value::Array(items.into_iter().map(Value::from_resp2).collect())
            }
            Resp2Frame::Null => Value::Nil,
        }
    }

    fn from_resp3(f: Resp3Frame) -> Value {
        let many = |items: Vec<Resp3Frame>| {
            Value::Array(items.into_iter().map(Value::from_resp3).collect())
        };
        match f {
            Resp3Frame::SimpleString { data, .. } => Value::Simple(lossy(data)),
            Resp3Frame::SimpleError { data, .. } => Value::Error(data),
            Resp3Frame::BlobError { data, .. } => Value::Error(lossy(data)),
            Resp3Frame::BlobString { data, .. }
            | Resp3Frame::BigNumber { data, .. }
            | Resp3Frame::VerbatimString { data, .. }
            | Resp3Frame::ChunkedString(data) => Value::Bulk(data),
            Resp3Frame::Number { data, .. } => Value::Int(data),
            Resp3Frame::Boolean { data, .. } => Value::Int(i64::from(data)),
            Resp3Frame::Double { data, .. } => Value::Bulk(data.to_string().into_bytes()),
            Resp3Frame::Null => Value::Nil,
            Resp3Frame::Array { data, .. } | Resp3Frame::Push { data, .. } => many(data),
            Resp3Frame::Set { data, .. } => many(data.into_iter().collect()),
            // (Map order is the decoder's hash order: callers look entries up by key.)
            Resp3Frame::Map { data, .. } => {
                many(data.into_iter().flat_map(|(k, v)| [k, v]).collect())
            }
            // Only ever sent by clients.
            Resp3Frame::Hello { .. } => Value::Error("unexpected HELLO frame".into()),
        }
    }
}

fn lossy(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Decodes one whole reply at the start of `buf`: `Ok(None)` means incomplete, read more. Returns the
/// value and the bytes it used.
///
/// RESP2 first (RESP3's decoder rejects RESP2's `$-1`/`*-1` nulls); input RESP2 cannot frame goes to
/// the RESP3 decoder, which frames RESP3 replies and RESP2 ones nested in RESP3 aggregates. When
/// both reject it, RESP2's complaint is the one reported.
///
/// RESP3 push messages (`>`: invalidations with `--enable-tracking`, pub/sub) answer no request:
/// they are skipped, and the reply after them is the one returned.
pub fn decode_value(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut skipped = 0;
    loop {
        let rest = &buf[skipped..];
        let resp2_err = match decode_resp2(rest) {
            Ok(r) => return Ok(r.map(|(f, n)| (Value::from_resp2(f), skipped + n))),
            Err(e) => e,
        };
        match decode_resp3(rest) {
            Ok(Some((Resp3Frame::Push { .. }, n))) => skipped += n,
            Ok(r) => return Ok(r.map(|(f, n)| (Value::from_resp3(f), skipped + n))),
            Err(_) => return Err(ProtocolError(first_line(&resp2_err.to_string()))),
        }
    }
}

/// `*N\r\n`
#[inline]
pub fn put_array_header(buf: &mut BytesMut, n: usize) {
    buf.put_u8(b'*');
    put_decimal(buf, n as u64);
    buf.put_slice(b"\r\n");
}

/// `$len\r\nbytes\r\n`
#[inline]
pub fn put_bulk(buf: &mut BytesMut, bytes: &[u8]) {
    put_bulk_header(buf, bytes.len());
    buf.put_slice(bytes);
    buf.put_slice(b"\r\n");
}

#[inline]
pub fn put_bulk_header(buf: &mut BytesMut, len: usize) {
    buf.put_u8(b'$');
    put_decimal(buf, len as u64);
    buf.put_slice(b"\r\n");
}

/// A whole command from its arguments (used off the hot path: handshake, topology queries).
pub fn encode_command(buf: &mut BytesMut, args: &[&[u8]]) {
    put_array_header(buf, args.len());
    for a in args {
        put_bulk(buf, a);
    }
}

#[inline]
pub fn put_decimal(buf: &mut BytesMut, v: u64) {
    let mut tmp = [0u8; 20];
    buf.put_slice(format_u64(v, &mut tmp));
}

/// Formats without allocating (the hot path encodes lengths and counters for every request).
#[inline]
pub fn format_u64(mut v: u64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &tmp[i..]
}

/// Writes `v` as exactly 12 zero-padded digits (redis-benchmark's `__rand_int__` width).
#[inline]
pub fn write_padded12(v: u64, out: &mut [u8]) {
    let mut v = v % 1_000_000_000_000;
    for slot in out[..12].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A blocking client for probes, admin commands and tests: one request, or one pipelined batch, at a
/// time over any `Read + Write` stream.
pub mod blocking {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    use bytes::BytesMut;

    use super::{MAX_REPLY, Value, decode_value, put_array_header, put_bulk};

    pub struct Client<S = TcpStream> {
        stream: S,
        /// Bytes read past the last reply: pipelined replies arrive together.
        buf: Vec<u8>,
    }

    impl Client<TcpStream> {
        /// Connects with TCP_NODELAY; `timeout` bounds the connect, then each read and each write.
        pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
            let stream = TcpStream::connect_timeout(&addr, timeout)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            stream.set_nodelay(true)?;
            Ok(Client::new(stream))
        }
    }

    impl<S: Read + Write> Client<S> {
        pub fn new(stream: S) -> Self {
            Client {
                stream,
                buf: Vec::new(),
            }
        }

        pub fn get_ref(&self) -> &S {
            &self.stream
        }

        /// One command, one reply. Error replies are `Ok(Value::Error)`; `Err` is I/O or protocol.
        pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Value> {
            let mut replies = self.pipeline(std::slice::from_ref(&args))?;
            Ok(replies.remove(0))
        }

        /// Sends every command in one write, then reads one reply per command.
        pub fn pipeline<C, A>(&mut self, cmds: &[C]) -> io::Result<Vec<Value>>
        where
            C: AsRef<[A]>,
            A: AsRef<[u8]>,
        {
            let mut out = BytesMut::new();
            for args in cmds {
                let args = args.as_ref();
                put_array_header(&mut out, args.len());
                for a in args {
                    put_bulk(&mut out, a.as_ref());
                }
            }
            self.stream.write_all(&out)?;
            cmds.iter().map(|_| self.read_value()).collect()
        }

        /// The next reply on the stream.
        pub fn read_value(&mut self) -> io::Result<Value> {
            loop {
                match decode_value(&self.buf) {
                    Ok(Some((value, used))) => {
                        self.buf.drain(..used);
                        return Ok(value);
                    }
                    Ok(None) if self.buf.len() > MAX_REPLY => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "reply larger than 64 MiB",
                        ));
                    }
                    Ok(None) => self.fill()?,
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
        }

        fn fill(&mut self) -> io::Result<()> {
            let start = self.buf.len();
            // Reads grow with the reply, so a large one is not re-decoded every 4 KiB.
            self.buf.resize(start + start.clamp(4096, 1 << 20), 0);
            let read = loop {
                match self.stream.read(&mut self.buf[start..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            self.buf.truncate(start + *read.as_ref().unwrap_or(&0));
            match read? {
                0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a reply",
                )),
                _ => Ok(()),
            }
        }
    }

    /// One command on a fresh connection (readiness and health probes).
    pub fn request<A: AsRef<[u8]>>(
        addr: SocketAddr,
        args: &[A],
        timeout: Duration,
    ) -> io::Result<Value> {
        Client::connect(addr, timeout)?.request(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut b = BytesMut::new();
        encode_command(&mut b, &[b"SET", b"k", b"vv"]);
        assert_eq!(&b[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n");
        let mut t = [0u8; 20];
        assert_eq!(format_u64(0, &mut t), b"0");
        assert_eq!(format_u64(u64::MAX, &mut t), b"18446744073709551615");
        let mut k = [0u8; 12];
        write_padded12(42, &mut k);
        assert_eq!(&k, b"000000000042");
    }

    fn value(bytes: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
        decode_value(bytes)
    }

    fn whole(bytes: &[u8]) -> Value {
        let (v, used) = value(bytes).unwrap().expect("a whole reply");
        assert_eq!(used, bytes.len(), "{:?}", String::from_utf8_lossy(bytes));
        v
    }

    #[test]
    fn decodes_resp2_values() {
        assert_eq!(whole(b"+PONG\r\n"), Value::Simple("PONG".into()));
        assert_eq!(
            whole(b"-LOADING dataset\r\n"),
            Value::Error("LOADING dataset".into())
        );
        assert_eq!(whole(b":-42\r\n"), Value::Int(-42));
        assert_eq!(
            whole(b"$5\r\nhe\r\no\r\n"),
            Value::Bulk(b"he\r\no".to_vec())
        );
        assert_eq!(whole(b"$-1\r\n"), Value::Nil);
        assert_eq!(whole(b"*-1\r\n"), Value::Nil);
        assert_eq!(
            whole(b"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n"),
            Value::Array(vec![
                Value::Array(vec![Value::Int(1), Value::Bulk(b"a".to_vec())]),
                Value::Array(vec![]),
            ])
        );
        // Only the first reply is consumed.
        assert_eq!(value(b":1\r\n:2\r\n").unwrap(), Some((Value::Int(1), 4)));
    }

    #[test]
    fn decodes_resp3_values_as_their_resp2_shapes() {
        assert_eq!(whole(b"_\r\n"), Value::Nil);
        assert_eq!(whole(b"#t\r\n"), Value::Int(1));
        assert_eq!(whole(b",1.5\r\n"), Value::Bulk(b"1.5".to_vec()));
        assert_eq!(
            whole(b"(12345678901234567890\r\n"),
            Value::Bulk(b"12345678901234567890".to_vec())
        );
        assert_eq!(whole(b"!3\r\nERR\r\n"), Value::Error("ERR".into()));
        assert_eq!(whole(b"=7\r\ntxt:abc\r\n"), Value::Bulk(b"abc".to_vec()));
        assert_eq!(
            whole(b"%1\r\n+proto\r\n:3\r\n"),
            Value::Array(vec![Value::Simple("proto".into()), Value::Int(3)])
        );
        assert_eq!(
            whole(b"*2\r\n:1\r\n~1\r\n_\r\n"),
            Value::Array(vec![Value::Int(1), Value::Array(vec![Value::Nil])])
        );
        // Pushes answer no request: the reply after them is the one decoded.
        let push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
        let mut stream = push.to_vec();
        stream.extend_from_slice(b"+OK\r\n:1\r\n");
        assert_eq!(
            value(&stream).unwrap(),
            Some((Value::Simple("OK".into()), push.len() + 5))
        );
        assert_eq!(value(push).unwrap(), None);
        // A RESP2-looking prefix of a RESP3 aggregate is just incomplete.
        assert_eq!(value(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(value(b"*2\r\n:1\r\n~1\r\n").unwrap(), None);
    }

    #[test]
    fn incomplete_and_malformed_values() {
        let full = b"*2\r\n$3\r\nabc\r\n:7\r\n";
        for cut in 0..full.len() {
            assert_eq!(value(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        for bad in [&b"?x\r\n"[..], b":abc\r\n", b"!garbage\r\n", b"*1\r\n?\r\n"] {
            let e = value(bad).unwrap_err();
            assert!(!e.0.is_empty() && !e.0.contains('\n'), "{e}");
        }
    }

    #[test]
    fn value_helpers() {
        assert_eq!(Value::Bulk(b"x".to_vec()).text().as_deref(), Some("x"));
        assert_eq!(Value::Simple("OK".into()).into_text(), Ok("OK".into()));
        assert_eq!(
            Value::Error("ERR no".into()).into_text(),
            Err("ERR no".into())
        );
        assert!(Value::Int(1).into_text().is_err());
        assert_eq!(Value::Int(3).as_int(), Some(3));
        assert_eq!(Value::Simple("a".into()).as_bytes(), Some(&b"a"[..]));
        assert_eq!(
            Value::Array(vec![Value::Nil]).as_array(),
            Some(&[Value::Nil][..])
        );
        assert_eq!(Value::Nil.into_array(), None);
    }

    /// A scripted peer: replies are served from `input`, in reads of at most `chunk` bytes.
    struct Peer {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
        sent: Vec<u8>,
    }

    impl std::io::Read for Peer {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(self.chunk).min(self.input.len() - self.pos);
            out[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl std::io::Write for Peer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.sent.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn peer(input: &[u8], chunk: usize) -> blocking::Client<Peer> {
        blocking::Client::new(Peer {
            input: input.to_vec(),
            pos: 0,
            chunk,
            sent: Vec::new(),
        })
    }

    #[test]
    fn blocking_client_pipelines_and_keeps_leftovers() {
        let mut c = peer(b"+OK\r\n$3\r\nabc\r\n-ERR x\r\n:5\r\n", 3);
        let replies = c
            .pipeline(&[vec!["SET", "k", "abc"], vec!["GET", "k"], vec!["BAD"]])
            .unwrap();
        assert_eq!(
            replies,
            [
                Value::Simple("OK".into()),
                Value::Bulk(b"abc".to_vec()),
                Value::Error("ERR x".into())
            ]
        );
        assert_eq!(c.request(&[&b"DBSIZE"[..]]).unwrap(), Value::Int(5));
        let sent = &c.get_ref().sent;
        assert!(sent.starts_with(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nabc\r\n*2\r\n"));
        assert!(sent.ends_with(b"*1\r\n$6\r\nDBSIZE\r\n"));
        let e = c.read_value().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        let e = peer(b"?x\r\n", 64).read_value().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn blocking_client_bounds_a_reply() {
        // A bulk string declared far larger than the bound, then bytes without end.
        struct Endless(bool);
        impl std::io::Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let head = b"$999999999999\r\n";
                if !self.0 {
                    self.0 = true;
                    out[..head.len()].copy_from_slice(head);
                    return Ok(head.len());
                }
                out.fill(b'x');
                Ok(out.len())
            }
        }
        impl std::io::Write for Endless {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let e = blocking::Client::new(Endless(false))
            .request(&["GET", "k"])
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("64 MiB"), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix and byte-flip of some replies.
        let seeds: [&[u8]; 5] = [
            b"*3\r\n$1\r\na\r\n:5\r\n*1\r\n+x\r\n",
            b"$5\r\nhello\r\n",
            b"-ERR x\r\n",
            b"*-1\r\n",
            b":-9223372036854775808\r\n",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for s in seeds {
            for cut in 0..=s.len() {
                let _ = decode_value(&s[..cut]);
            }
            for _ in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut v = s.to_vec();
                let i = (state as usize) % v.len();
                v[i] = (state >> 32) as u8;
                let _ = decode_value(&v);
            }
        }
    }
}
