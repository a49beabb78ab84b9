//! Streaming reply classification: replies are classified as their bytes arrive, in any split, and
//! nothing is ever buffered in proportion to a declared length. A bulk body is skipped as it comes
//! (its trailing CRLF checked), aggregates are counted, lines keep only what classification needs.
//! A peer that declares more than Redis itself would send (`proto-max-bulk-len`, 512 MB) or nests
//! deeper than any reply does is a protocol error at once.
//!
//! The grammar is RESP2 and RESP3 together, as `decode_value` accepts them, validated as
//! redis-protocol's decoders validate them, with these deliberate differences (all stricter, each a
//! protocol error here): a bulk, blob or verbatim body must end in CRLF (redis-protocol skips two
//! bytes unchecked); declared lengths above 512 MB; nesting deeper than [`MAX_DEPTH`]; number lines
//! longer than [`NUM_MAX`] bytes; RESP3 streamed types (`$?`, `*?`, `;`, `.`) and HELLO frames, which
//! a server never sends unasked. Map keys and set members are not checked for hashability, and a
//! RESP2 null nested in a RESP3 aggregate is accepted: neither can cost memory.

use super::{ErrorClass, ProtocolError, Reply};

/// Redis's `proto-max-bulk-len` default: no server sends a longer string.
pub const MAX_BULK: u64 = 512 * 1024 * 1024;
/// Deeper nesting than any real reply: a hostile `*1\r\n*1\r\n...` must not grow the stack forever.
pub const MAX_DEPTH: usize = 128;
/// The longest number line kept (lengths, integers, doubles).
pub const NUM_MAX: usize = 64;
/// The longest error message kept: classification needs the first word, MOVED/ASK a short line.
pub const MSG_MAX: usize = 512;

/// Where the next byte of the stream falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// The type byte of a value.
    Type,
    /// The line after type byte `kind`; `cr`: its last byte so far was `\r`.
    Line { kind: u8, cr: bool },
    /// `left` bytes of a body still to skip; `keep` says what of it to keep.
    Body { left: u64, keep: Keep },
    /// The CRLF after a body: `\r` next, or (`lf`) `\n` next.
    BodyEnd { lf: bool, keep: Keep },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    Nothing,
    /// A top-level blob error's words.
    Msg,
    /// A verbatim string's format (`txt`/`mkd`): its first 3 bytes.
    Format,
}

/// What the top-level reply in progress is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Top {
    Ok,
    Error,
    Push,
    /// A null at the top (`$-1`, `*-1`, `_`): an EXEC whose WATCH failed answers so.
    Nil,
}

/// One open aggregate: its kind and the elements it still owes (maps count keys and values).
#[derive(Clone, Copy, Debug)]
struct Open {
    left: u64,
    agg: Agg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agg {
    Array,
    Map,
    Set,
    /// Describes the value after it; its end is not a value.
    Attr,
}

impl Open {
    /// The next element is a map key or a set member, which redis-protocol requires hashable (no
    /// aggregate).
    fn wants_hashable(&self) -> bool {
        match self.agg {
            Agg::Set => true,
            Agg::Map | Agg::Attr => self.left.is_multiple_of(2),
            Agg::Array => false,
        }
    }
}

/// Per-connection streaming state (a few words when idle; its buffers never exceed
/// [`MSG_MAX`] + 1 bytes, the +1 a line's CR, and [`MAX_DEPTH`] entries).
#[derive(Debug)]
pub struct Scanner {
    st: St,
    open: Vec<Open>,
    /// The current line's bytes (capped), or a verbatim format.
    line: Vec<u8>,
    /// Bytes of the current line so far, stored or not.
    line_len: u64,
    top: Top,
    /// The top-level error's first words.
    msg: Vec<u8>,
    /// The value just completed was an attribute: another may not follow.
    after_attr: bool,
    /// The value being read follows an attribute (a null may not).
    attached: bool,
    /// The top-level reply so far holds a RESP2-only null (`$-1`, `*-1`) / a RESP3-only type: a
    /// reply is one protocol or the other, never both (as the decoders read it).
    resp2: bool,
    resp3: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

fn perr<E: From<ProtocolError>>(msg: impl Into<String>) -> E {
    E::from(ProtocolError(msg.into()))
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            st: St::Type,
            open: Vec::new(),
            line: Vec::new(),
            line_len: 0,
            top: Top::Ok,
            msg: Vec::new(),
            after_attr: false,
            attached: false,
            resp2: false,
            resp3: false,
        }
    }

    /// True when no reply is partly consumed.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.st == St::Type && self.open.is_empty() && !self.after_attr
    }

    /// Heap bytes held (for tests: bounded whatever was declared).
    pub fn held(&self) -> usize {
        self.line.capacity() + self.msg.capacity() + self.open.capacity() * size_of::<Open>()
    }

    /// Consumes all of `buf`, calling `on_reply` once per completed top-level reply, in order.
    /// Stops at the first error: a malformed stream is `E::from(ProtocolError)`; an error from
    /// `on_reply` passes through. After an error the scanner is not to be used again.
    #[inline]
    pub fn feed<E: From<ProtocolError>>(
        &mut self,
        buf: &[u8],
        mut on_reply: impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut pos = 0;
        while pos < buf.len() {
            if self.is_idle() {
                match fast(&buf[pos..]) {
                    Some(Ok((reply, used))) => {
                        on_reply(reply)?;
                        pos += used;
                        continue;
                    }
                    Some(Err(e)) => return Err(E::from(e)),
                    None => {}
                }
            }
            pos += self.step(&buf[pos..], &mut on_reply)?;
        }
        Ok(())
    }

    /// Consumes at least one byte of `buf` (non-empty); returns how many.
    fn step<E: From<ProtocolError>>(
        &mut self,
        buf: &[u8],
        on: &mut impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        match self.st {
            St::Type => {
                self.begin(buf[0])?;
                Ok(1)
            }
            St::Line { kind, cr } => self.line_bytes(kind, cr, buf, on),
            St::Body { left, keep } => {
                let n = (buf.len() as u64).min(left) as usize;
                self.keep(keep, &buf[..n]);
                self.st = if left == n as u64 {
                    St::BodyEnd { lf: false, keep }
                } else {
                    St::Body {
                        left: left - n as u64,
                        keep,
                    }
                };
                Ok(n)
            }
            St::BodyEnd { lf, keep } => {
                let want = if lf { b'\n' } else { b'\r' };
                if buf[0] != want {
                    return Err(perr("bulk string not terminated by CRLF"));
                }
                if lf {
                    self.body_done(keep)?;
                    self.value_done(on)?;
                } else {
                    self.st = St::BodyEnd { lf: true, keep };
                }
                Ok(1)
            }
        }
    }

    /// A type byte: the line that follows is read next.
    fn begin<E: From<ProtocolError>>(&mut self, kind: u8) -> Result<(), E> {
        match kind {
            b'+' | b'-' | b':' | b'$' | b'*' | b'_' | b',' | b'#' | b'(' | b'!' | b'=' | b'%'
            | b'~' | b'>' | b'|' => {}
            _ => return Err(perr(format!("invalid reply type byte 0x{kind:02x}"))),
        }
        if self.open.is_empty() && !self.after_attr {
            self.resp2 = false;
            self.resp3 = false;
        }
        if matches!(
            kind,
            b'_' | b',' | b'#' | b'(' | b'!' | b'=' | b'%' | b'~' | b'>' | b'|'
        ) {
            self.resp3 = true;
            self.one_protocol()?;
        }
        if kind == b'|' && self.after_attr {
            return Err(perr("an attribute followed by another"));
        }
        if matches!(kind, b'*' | b'%' | b'~' | b'>')
            && self.open.last().is_some_and(Open::wants_hashable)
        {
            return Err(perr("an aggregate as a map key or set member"));
        }
        self.attached = self.after_attr;
        if kind == b'_' {
            self.no_attributes()?;
        }
        self.after_attr = false;
        if self.open.is_empty() && kind != b'|' {
            self.top = match kind {
                b'-' | b'!' => Top::Error,
                b'>' => Top::Push,
                _ => Top::Ok,
            };
            self.msg.clear();
        }
        self.line.clear();
        self.line_len = 0;
        self.st = St::Line { kind, cr: false };
        Ok(())
    }

    /// Bytes of a line; at its CRLF the line is acted on.
    fn line_bytes<E: From<ProtocolError>>(
        &mut self,
        kind: u8,
        cr: bool,
        buf: &[u8],
        on: &mut impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        // The line ends at the first CRLF (a lone CR or LF is part of it, as redis-protocol reads it).
        let end = if cr && buf[0] == b'\n' {
            Some(0)
        } else {
            let mut from = 0;
            loop {
                match buf[from..].iter().position(|&b| b == b'\n') {
                    Some(i) if from + i > 0 && buf[from + i - 1] == b'\r' => break Some(from + i),
                    Some(i) => from += i + 1,
                    None => break None,
                }
            }
        };
        let take = end.unwrap_or(buf.len());
        self.keep_line(kind, &buf[..take])?;
        let Some(end) = end else {
            self.st = St::Line {
                kind,
                cr: buf[buf.len() - 1] == b'\r',
            };
            return Ok(buf.len());
        };
        // The CR before the LF is not content.
        let content = (self.line_len - 1) as usize;
        self.line.truncate(content);
        self.msg_truncate(kind, content);
        self.line_done(kind, on)?;
        Ok(end + 1)
    }

    /// Keeps what the line's kind needs: a top-level error's first words, a number's digits.
    fn keep_line<E: From<ProtocolError>>(&mut self, kind: u8, bytes: &[u8]) -> Result<(), E> {
        self.line_len += bytes.len() as u64;
        match kind {
            b'-' if self.open.is_empty() => push_capped(&mut self.msg, bytes, MSG_MAX + 1),
            b'+' | b'-' | b'(' | b'_' => {}
            _ => {
                // (+1: the line's CR may be among them.)
                if self.line_len > NUM_MAX as u64 + 1 {
                    return Err(perr(format!(
                        "a `{}` line longer than {NUM_MAX} bytes",
                        kind as char
                    )));
                }
                self.line.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Drops the CR a top-level error line kept at its end.
    fn msg_truncate(&mut self, kind: u8, content: usize) {
        if kind == b'-' && self.open.is_empty() {
            self.msg.truncate(content.min(MSG_MAX));
        }
    }

    /// A whole line of kind `kind` (its content in `self.line` where kept).
    fn line_done<E: From<ProtocolError>>(
        &mut self,
        kind: u8,
        on: &mut impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.st = St::Type;
        let text = std::str::from_utf8(&self.line).ok();
        match kind {
            b'_' if self.open.is_empty() => self.top = Top::Nil,
            b'+' | b'-' | b'(' | b'_' => {}
            b':' => check(text.and_then(|t| t.parse::<i64>().ok()), "integer").map(drop)?,
            b',' => check(text.and_then(|t| t.parse::<f64>().ok()), "double").map(drop)?,
            b'#' => check(matches!(text, Some("t" | "f")).then_some(()), "boolean")?,
            b'$' | b'*' => match signed(text)? {
                -1 => {
                    self.resp2 = true;
                    self.one_protocol()?;
                    self.no_attributes()?;
                    if self.open.is_empty() {
                        self.top = Top::Nil;
                    }
                }
                n if n < -1 => return Err(perr(format!("negative length {n}"))),
                n if kind == b'$' => return self.body(n as u64, Keep::Nothing),
                n => return self.aggregate(n as u64, Agg::Array, on),
            },
            // RESP3 streamed aggregates (`?`, and -1 as the decoder reads it) are not complete replies.
            b'%' | b'~' => {
                let n = signed(text)?;
                if n < 0 {
                    return Err(perr("streamed aggregates are not supported"));
                }
                let n = n as u64;
                let (n, agg) = if kind == b'%' {
                    (n.saturating_mul(2), Agg::Map)
                } else {
                    (n, Agg::Set)
                };
                return self.aggregate(n, agg, on);
            }
            b'>' => return self.aggregate(unsigned(text)?, Agg::Array, on),
            b'|' => return self.aggregate(unsigned(text)?.saturating_mul(2), Agg::Attr, on),
            b'!' => {
                let keep = if self.open.is_empty() {
                    Keep::Msg
                } else {
                    Keep::Nothing
                };
                return self.body(unsigned(text)?, keep);
            }
            b'=' => {
                let n = unsigned(text)?;
                if n < 4 {
                    return Err(perr("verbatim string shorter than its format"));
                }
                return self.body(n, Keep::Format);
            }
            _ => return Err(perr("invalid reply type")),
        }
        self.value_done(on)
    }

    /// A bulk-like body of `len` bytes follows.
    fn body<E: From<ProtocolError>>(&mut self, len: u64, keep: Keep) -> Result<(), E> {
        if len > MAX_BULK {
            return Err(perr(format!(
                "bulk length {len} exceeds 512 MB (proto-max-bulk-len)"
            )));
        }
        self.line.clear();
        self.st = if len == 0 {
            St::BodyEnd { lf: false, keep }
        } else {
            St::Body { left: len, keep }
        };
        Ok(())
    }

    fn keep(&mut self, keep: Keep, bytes: &[u8]) {
        match keep {
            Keep::Nothing => {}
            Keep::Msg => push_capped(&mut self.msg, bytes, MSG_MAX),
            Keep::Format => push_capped(&mut self.line, bytes, 3),
        }
    }

    /// A body and its CRLF have been read: a verbatim string's format is checked now, as
    /// redis-protocol does once the whole string is in.
    fn body_done<E: From<ProtocolError>>(&mut self, keep: Keep) -> Result<(), E> {
        self.st = St::Type;
        if keep == Keep::Format && !matches!(&self.line[..], b"txt" | b"mkd") {
            return Err(perr("verbatim string with an unknown format"));
        }
        self.line.clear();
        Ok(())
    }

    /// An aggregate of `n` elements opens (or, empty, is a whole value at once).
    fn aggregate<E: From<ProtocolError>>(
        &mut self,
        n: u64,
        agg: Agg,
        on: &mut impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if n == 0 {
            if agg == Agg::Attr {
                self.after_attr = true;
                return Ok(());
            }
            return self.value_done(on);
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(perr(format!("replies nested deeper than {MAX_DEPTH}")));
        }
        self.open.push(Open { left: n, agg });
        Ok(())
    }

    fn one_protocol<E: From<ProtocolError>>(&self) -> Result<(), E> {
        if self.resp2 && self.resp3 {
            return Err(perr("a RESP2 null inside a RESP3 reply"));
        }
        Ok(())
    }

    fn no_attributes<E: From<ProtocolError>>(&self) -> Result<(), E> {
        if self.attached {
            return Err(perr("a null cannot carry attributes"));
        }
        Ok(())
    }

    /// A value is complete: it counts towards the aggregates around it; at the top, it is a reply.
    fn value_done<E: From<ProtocolError>>(
        &mut self,
        on: &mut impl FnMut(Reply<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.st = St::Type;
        loop {
            let Some(o) = self.open.last_mut() else {
                let reply = match self.top {
                    Top::Ok => Reply::Ok,
                    Top::Nil => Reply::Nil,
                    Top::Push => Reply::Push,
                    Top::Error => Reply::Error(ErrorClass::of_error(&self.msg), &self.msg),
                };
                return on(reply);
            };
            o.left -= 1;
            if o.left > 0 {
                return Ok(());
            }
            let attr = o.agg == Agg::Attr;
            self.open.pop();
            if attr {
                // Attributes describe the value that follows; they are not one.
                self.after_attr = true;
                return Ok(());
            }
        }
    }
}

fn push_capped(v: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let room = cap.saturating_sub(v.len());
    v.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn check<T, E: From<ProtocolError>>(v: Option<T>, what: &str) -> Result<T, E> {
    v.ok_or_else(|| perr(format!("invalid {what}")))
}

/// A length as RESP2 (and RESP3 aggregates) read it: a signed integer, `?` for streamed.
fn signed<E: From<ProtocolError>>(text: Option<&str>) -> Result<i64, E> {
    match text {
        Some("?") => Err(perr("streamed replies are not supported")),
        t => check(t.and_then(|t| t.parse::<i64>().ok()), "length"),
    }
}

fn unsigned<E: From<ProtocolError>>(text: Option<&str>) -> Result<u64, E> {
    check(text.and_then(|t| t.parse::<u64>().ok()), "length")
}

/// The replies a benchmark sees almost always — a status, an error, an integer, a bulk string —
/// framed directly when wholly in `buf` (the general machine costs more per reply). None: let the
/// state machine take it.
#[inline]
fn fast(buf: &[u8]) -> Option<Result<(Reply<'_>, usize), ProtocolError>> {
    let kind = *buf.first()?;
    if !matches!(kind, b'+' | b'-' | b':' | b'$') {
        return None;
    }
    let nl = buf.iter().position(|&b| b == b'\n')?;
    if nl < 2 || buf[nl - 1] != b'\r' {
        return None;
    }
    let end = nl - 1;
    let line = &buf[1..end];
    match kind {
        b'+' => Some(Ok((Reply::Ok, nl + 1))),
        b'-' if line.len() <= MSG_MAX => {
            let class = ErrorClass::of_error(line);
            Some(Ok((Reply::Error(class, line), nl + 1)))
        }
        b':' => super::parse_len(line).map(|_| Ok((Reply::Ok, nl + 1))),
        b'$' => match super::parse_len(line)? {
            -1 => Some(Ok((Reply::Nil, nl + 1))),
            n if (0..=MAX_BULK as i64).contains(&n) => {
                let total = nl + 1 + n as usize + 2;
                if buf.len() < total {
                    None
                } else if &buf[total - 2..total] == b"\r\n" {
                    Some(Ok((Reply::Ok, total)))
                } else {
                    Some(Err(ProtocolError(
                        "bulk string not terminated by CRLF".into(),
                    )))
                }
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
