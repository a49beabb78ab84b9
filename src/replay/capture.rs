//! Captured traffic, read one line at a time: `redis-cli MONITOR` output
//! (`1701943201.123456 [0 127.0.0.1:51234] "SET" "k" "v"`) and memtier_benchmark's
//! `--monitor-input` files, whose lines are the same MONITOR form or only the quoted command
//! (memtier takes everything from a line's first `"`). Nothing is held but the current line, so a
//! capture of many GB streams through in constant memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// One captured command.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    /// Capture time, µs since the Unix epoch (a line without a time takes the previous line's).
    pub t_us: u64,
    /// The captured client, numbered by first appearance from 0.
    pub client: u32,
    pub db: u32,
    /// Run by a script (`[0 lua]`): EVAL/FCALL itself is captured too, so these are not sent.
    pub from_script: bool,
    /// The command and its arguments, unescaped.
    pub args: Vec<Bytes>,
    /// 1-based line number in the file.
    pub line: u64,
}

impl Captured {
    /// The command's name, uppercase (`SET`).
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_uppercase()
    }
}

/// Why a line is not a captured command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("no timestamp (expected `SECONDS.MICROS [DB CLIENT] \"CMD\" ...`)")]
    Timestamp,
    #[error("no `[DB CLIENT]` after the timestamp")]
    Client,
    #[error("unterminated quotes")]
    Unterminated,
    #[error("a closing quote must be followed by a space")]
    AfterQuote,
    #[error("no command")]
    Empty,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: {source}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        source: std::io::Error,
    },
    #[error("{}:{line}: not a MONITOR line: {why}: {text}", path.display())]
    Bad {
        path: PathBuf,
        line: u64,
        why: LineError,
        text: String,
    },
}

/// A line taken apart, before the client is numbered.
#[derive(Debug, PartialEq)]
struct Parsed<'a> {
    t_us: Option<u64>,
    db: u32,
    client: &'a [u8],
    args: Vec<Bytes>,
}

/// A capture file read line by line.
pub struct CaptureReader {
    path: PathBuf,
    input: BufReader<File>,
    buf: Vec<u8>,
    line: u64,
    last_t: u64,
    clients: HashMap<Box<[u8]>, u32>,
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let open = |source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        };
        let f = File::open(path).map_err(open)?;
        if f.metadata().map_err(open)?.is_dir() {
            return Err(open(std::io::Error::other("is a directory")));
        }
        Ok(CaptureReader {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(256 * 1024, f),
            buf: Vec::new(),
            line: 0,
            last_t: 0,
            clients: HashMap::new(),
        })
    }

    /// The next command (None at the end). A bad line is an error naming its line; the caller
    /// may go on reading after it (`--skip-bad-lines`).
    pub fn next_command(&mut self) -> Option<Result<Captured, CaptureError>> {
        loop {
            self.buf.clear();
            self.line += 1;
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(CaptureError::Read {
                        path: self.path.clone(),
                        line: self.line,
                        source,
                    }));
                }
            }
            let text = trim_eol(&self.buf);
            match parse_line(text) {
                Ok(None) => continue,
                Ok(Some(p)) => {
                    let c = numbered(&mut self.clients, &mut self.last_t, self.line, p);
                    return Some(Ok(c));
                }
                Err(why) => {
                    let shown = String::from_utf8_lossy(&text[..text.len().min(80)]).into_owned();
                    return Some(Err(CaptureError::Bad {
                        path: self.path.clone(),
                        line: self.line,
                        why,
                        text: shown,
                    }));
                }
            }
        }
    }
}

/// A parsed line as a `Captured`: its client numbered by first appearance, a missing time taken
/// from the line before.
fn numbered(
    clients: &mut HashMap<Box<[u8]>, u32>,
    last_t: &mut u64,
    line: u64,
    p: Parsed<'_>,
) -> Captured {
    let t_us = p.t_us.unwrap_or(*last_t);
    *last_t = t_us;
    let next = clients.len() as u32;
    let client = match clients.get(p.client) {
        Some(&c) => c,
        None => *clients.entry(p.client.into()).or_insert(next),
    };
    Captured {
        t_us,
        client,
        db: p.db,
        from_script: p.client == b"lua",
        args: p.args,
        line,
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

/// One line: Ok(None) for a line that holds no command (blank, or redis-cli's `OK`).
fn parse_line(line: &[u8]) -> Result<Option<Parsed<'_>>, LineError> {
    let line = line.trim_ascii();
    if line.is_empty() || line == b"OK" {
        return Ok(None);
    }
    if line[0] == b'"' {
        // memtier's form: the command alone, no time, one client.
        let args = split_args(line)?;
        return Ok(Some(Parsed {
            t_us: None,
            db: 0,
            client: b"-",
            args,
        }));
    }
    let (t_us, rest) = timestamp(line)?;
    let rest = rest.trim_ascii_start();
    let (db, client, rest) = if rest.first() == Some(&b'"') {
        // Redis before 2.6 wrote no `[db client]`.
        (0, &b"-"[..], rest)
    } else {
        client_part(rest)?
    };
    Ok(Some(Parsed {
        t_us: Some(t_us),
        db,
        client,
        args: split_args(rest)?,
    }))
}

/// `1701943201.123456` → µs, and what follows it.
fn timestamp(line: &[u8]) -> Result<(u64, &[u8]), LineError> {
    let end = line
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b'.'))
        .unwrap_or(line.len());
    let text = std::str::from_utf8(&line[..end]).map_err(|_| LineError::Timestamp)?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || frac.len() > 9 || frac.contains('.') {
        return Err(LineError::Timestamp);
    }
    let secs: u64 = secs.parse().map_err(|_| LineError::Timestamp)?;
    let mut micros = 0u64;
    for (i, c) in frac.bytes().take(6).enumerate() {
        micros += u64::from(c - b'0') * 10u64.pow(5 - i as u32);
    }
    let us = secs
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .ok_or(LineError::Timestamp)?;
    Ok((us, &line[end..]))
}

/// `[0 127.0.0.1:51234] ...`, `[0 lua] ...`, `[3 unix:/tmp/redis.sock] ...` → db, client, rest.
fn client_part(rest: &[u8]) -> Result<(u32, &[u8], &[u8]), LineError> {
    let inner = rest.strip_prefix(b"[").ok_or(LineError::Client)?;
    let sp = inner
        .iter()
        .position(|&c| c == b' ')
        .ok_or(LineError::Client)?;
    let db = std::str::from_utf8(&inner[..sp])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(LineError::Client)?;
    let after = &inner[sp + 1..];
    // The client ends at the `] ` before the first quote (an IPv6 address holds brackets too).
    let quote = after.iter().position(|&c| c == b'"').unwrap_or(after.len());
    let close = after[..quote]
        .iter()
        .rposition(|&c| c == b']')
        .ok_or(LineError::Client)?;
    Ok((db, &after[..close], &after[close + 1..]))
}

/// The arguments of a command line as MONITOR (and memtier) write them: `"double quoted"` with
/// sdscatrepr's escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`), `'single quoted'`, or
/// bare words.
fn split_args(mut s: &[u8]) -> Result<Vec<Bytes>, LineError> {
    let mut args = Vec::new();
    loop {
        s = s.trim_ascii_start();
        let Some(&first) = s.first() else { break };
        let (arg, rest) = match first {
            b'"' => double_quoted(&s[1..])?,
            b'\'' => single_quoted(&s[1..])?,
            _ => {
                let end = s
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(s.len());
                (s[..end].to_vec(), &s[end..])
            }
        };
        args.push(Bytes::from(arg));
        s = rest;
    }
    if args.is_empty() {
        return Err(LineError::Empty);
    }
    Ok(args)
}

fn double_quoted(mut s: &[u8]) -> Result<(Vec<u8>, &[u8]), LineError> {
    let mut out = Vec::new();
    loop {
        match s {
            [] => return Err(LineError::Unterminated),
            [b'\\', b'x', h, l, rest @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(hex(*h) << 4 | hex(*l));
                s = rest;
            }
            [b'\\', c, rest @ ..] => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'a' => 7,
                    b'b' => 8,
                    other => *other,
                });
                s = rest;
            }
            [b'"', rest @ ..] => return closed(out, rest),
            [c, rest @ ..] => {
                out.push(*c);
                s = rest;
            }
        }
    }
}

fn single_quoted(mut s: &[u8]) -> Result<(Vec<u8>, &[u8]), LineError> {
    let mut out = Vec::new();
    loop {
        match s {
            [] => return Err(LineError::Unterminated),
            [b'\\', b'\'', rest @ ..] => {
                out.push(b'\'');
                s = rest;
            }
            [b'\'', rest @ ..] => return closed(out, rest),
            [c, rest @ ..] => {
                out.push(*c);
                s = rest;
            }
        }
    }
}

fn closed(arg: Vec<u8>, rest: &[u8]) -> Result<(Vec<u8>, &[u8]), LineError> {
    match rest.first() {
        Some(c) if !c.is_ascii_whitespace() => Err(LineError::AfterQuote),
        _ => Ok((arg, rest)),
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(p: &'a Parsed<'a>) -> Vec<&'a [u8]> {
        p.args.iter().map(|a| &a[..]).collect()
    }

    #[test]
    fn monitor_lines() {
        let p = parse_line(br#"1701943201.123456 [0 127.0.0.1:51234] "SET" "k" "v""#)
            .unwrap()
            .unwrap();
        assert_eq!(p.t_us, Some(1_701_943_201_123_456));
        assert_eq!((p.db, p.client), (0, &b"127.0.0.1:51234"[..]));
        assert_eq!(args(&p), [&b"SET"[..], b"k", b"v"]);
        let p = parse_line(br#"1.5 [3 lua] "incr" "c""#).unwrap().unwrap();
        assert_eq!((p.t_us, p.db, p.client), (Some(1_500_000), 3, &b"lua"[..]));
        let p = parse_line(br#"2.000001 [0 unix:/tmp/r.sock] "PING""#)
            .unwrap()
            .unwrap();
        assert_eq!(p.client, b"unix:/tmp/r.sock");
        let p = parse_line(br#"2.1 [0 [::1]:6000] "GET" "a]b""#)
            .unwrap()
            .unwrap();
        assert_eq!(p.client, b"[::1]:6000");
        assert_eq!(args(&p), [&b"GET"[..], b"a]b"]);
        // Redis before 2.6: no [db client].
        let p = parse_line(br#"3.25 "GET" "x""#).unwrap().unwrap();
        assert_eq!((p.t_us, p.client), (Some(3_250_000), &b"-"[..]));
    }

    #[test]
    fn escapes() {
        let line = r#"1.0 [0 c:1] "SET" "a\"b\\c" "\n\r\t\a\b" "\x00\xff\xAb" "é""#;
        let p = parse_line(line.as_bytes()).unwrap().unwrap();
        assert_eq!(p.args[1], &b"a\"b\\c"[..]);
        assert_eq!(p.args[2], &b"\n\r\t\x07\x08"[..]);
        assert_eq!(p.args[3], &b"\x00\xff\xab"[..]);
        assert_eq!(p.args[4], "é".as_bytes());
    }

    #[test]
    fn memtier_form_and_blank_lines() {
        let p = parse_line(br#""SET" "k" 'v w' bare"#).unwrap().unwrap();
        assert_eq!((p.t_us, p.client), (None, &b"-"[..]));
        assert_eq!(args(&p), [&b"SET"[..], b"k", b"v w", b"bare"]);
        assert_eq!(parse_line(b"OK"), Ok(None));
        assert_eq!(parse_line(b"   "), Ok(None));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            parse_line(br#"hello "SET""#).unwrap_err(),
            LineError::Timestamp
        );
        assert_eq!(
            parse_line(br#"1.0 "SET"#).unwrap_err(),
            LineError::Unterminated
        );
        assert_eq!(
            parse_line(br#"1.0 [0 c "SET""#).unwrap_err(),
            LineError::Client
        );
        assert_eq!(
            parse_line(br#"1.0 [x c] "SET""#).unwrap_err(),
            LineError::Client
        );
        assert_eq!(parse_line(br#"1.0 [0 c]"#).unwrap_err(), LineError::Empty);
        assert_eq!(
            parse_line(br#"1.0 [0 c] "SET"x"#).unwrap_err(),
            LineError::AfterQuote
        );
        assert_eq!(
            parse_line(b"1.2.3 [0 c] \"X\"").unwrap_err(),
            LineError::Timestamp
        );
    }

    #[test]
    fn reader_numbers_clients_and_lines() {
        let dir = std::env::temp_dir().join(format!("rbench-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.txt");
        std::fs::write(
            &path,
            "OK\n1.0 [0 a:1] \"SET\" \"k\" \"v\"\n1.5 [0 b:2] \"GET\" \"k\"\r\nnope\n\"PING\"\n2.0 [0 a:1] \"DEL\" \"k\"\n",
        )
        .unwrap();
        let mut r = CaptureReader::open(&path).unwrap();
        let c = r.next_command().unwrap().unwrap();
        assert_eq!(
            (c.line, c.client, c.t_us, c.name()),
            (2, 0, 1_000_000, "SET".into())
        );
        let c = r.next_command().unwrap().unwrap();
        assert_eq!((c.line, c.client), (3, 1));
        let e = r.next_command().unwrap().unwrap_err();
        assert!(e.to_string().contains(":4: not a MONITOR line"), "{e}");
        let c = r.next_command().unwrap().unwrap();
        assert_eq!((c.line, c.client, c.t_us), (5, 2, 1_500_000));
        let c = r.next_command().unwrap().unwrap();
        assert_eq!((c.line, c.client), (6, 0));
        assert!(r.next_command().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
