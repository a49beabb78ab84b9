//! The scanner against hand-picked replies, hostile ones, and (proptest) generated RESP2/RESP3
//! streams split anywhere and corrupted anywhere, judged against redis-protocol's decoders.

use proptest::prelude::*;
use redis_protocol::resp2::decode::decode_range as resp2_range;
use redis_protocol::resp2::types::RangeFrame as R2;
use redis_protocol::resp3::decode::complete::decode_range as resp3_range;
use redis_protocol::resp3::types::RangeFrame as R3;

use super::*;

/// A classification, owned.
#[derive(Clone, Debug, PartialEq)]
enum C {
    Ok,
    Err(ErrorClass, Vec<u8>),
    Push,
}

fn owned(r: Reply<'_>) -> C {
    match r {
        Reply::Ok | Reply::Nil => C::Ok,
        Reply::Push => C::Push,
        Reply::Error(c, m) => C::Err(c, m.to_vec()),
    }
}

/// The scanner fed `chunks` in turn: what it classified, and whether it reported a protocol error.
fn scan(chunks: &[&[u8]]) -> (Vec<C>, bool) {
    let mut sc = Scanner::new();
    let mut got = Vec::new();
    for c in chunks {
        let r: Result<(), ProtocolError> = sc.feed(c, |r| {
            got.push(owned(r));
            Ok(())
        });
        if r.is_err() {
            return (got, true);
        }
        assert!(sc.held() <= 4096, "scanner holds {} bytes", sc.held());
    }
    (got, false)
}

fn whole(bytes: &[u8]) -> (Vec<C>, bool) {
    scan(&[bytes])
}

#[derive(Debug, PartialEq)]
enum End {
    Complete,
    Incomplete,
    Error,
}

fn error_of(msg: &[u8]) -> C {
    let kept = &msg[..msg.len().min(MSG_MAX)];
    C::Err(ErrorClass::of_error(kept), kept.to_vec())
}

/// redis-protocol's reading of a whole stream, frame by frame as `decode_value` reads one: RESP2
/// first, RESP3 where RESP2 cannot frame it.
fn oracle(buf: &[u8]) -> (Vec<C>, End) {
    let (mut pos, mut got) = (0, Vec::new());
    while pos < buf.len() {
        let rest = &buf[pos..];
        match resp2_range(rest) {
            Ok(Some((f, n))) => {
                got.push(match f {
                    R2::Error((s, e)) => error_of(&rest[s..e]),
                    _ => C::Ok,
                });
                pos += n;
                continue;
            }
            Ok(None) => return (got, End::Incomplete),
            Err(_) => {}
        }
        match resp3_range(rest) {
            Ok(Some((f, n))) => {
                got.push(match f {
                    R3::SimpleError { data: (s, e), .. } | R3::BlobError { data: (s, e), .. } => {
                        error_of(&rest[s..e])
                    }
                    R3::Push { .. } => C::Push,
                    _ => C::Ok,
                });
                pos += n;
            }
            Ok(None) => return (got, End::Incomplete),
            Err(_) => return (got, End::Error),
        }
    }
    (got, End::Complete)
}

/// The scanner on `chunks` (which make up `stream`) against the oracle on `stream`: the same replies
/// where both accept; a protocol error wherever the oracle finds one; where the scanner is stricter
/// (see the module's notes) it errors, having reported only replies the oracle also reported.
fn agrees(stream: &[u8], chunks: &[&[u8]]) {
    let (want, end) = oracle(stream);
    let (got, failed) = scan(chunks);
    let shown = String::from_utf8_lossy(stream);
    if failed || end == End::Error {
        assert!(failed, "oracle rejects, scanner accepts {shown:?}: {got:?}");
        assert!(
            got.len() <= want.len() && want[..got.len()] == got[..],
            "{shown:?}: scanner {got:?}, oracle {want:?}"
        );
    } else {
        assert_eq!(got, want, "{shown:?}");
    }
}

/// `stream` cut at `cuts` (positions taken modulo its length).
fn split<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    at.push(0);
    at.push(stream.len());
    at.sort_unstable();
    at.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

// ---------------------------------------------------------------------------------------------
// Hand-picked replies

#[test]
fn every_reply_type() {
    let ok: [&[u8]; 22] = [
        b"+OK\r\n",
        b":-42\r\n",
        b":+7\r\n",
        b"$3\r\nabc\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*2\r\n$1\r\na\r\n:1\r\n",
        b"_\r\n",
        b",1.5\r\n",
        b",inf\r\n",
        b",-inf\r\n",
        b",nan\r\n",
        b"#t\r\n",
        b"(12345678901234567890123\r\n",
        b"=7\r\ntxt:abc\r\n",
        b"%1\r\n+k\r\n*1\r\n:1\r\n",
        b"~2\r\n+a\r\n:2\r\n",
        b"|1\r\n+ttl\r\n:3\r\n+OK\r\n",
        b"*1\r\n>1\r\n+x\r\n",
        b"+a\nb\r\n",
    ];
    for r in ok {
        assert_eq!(
            whole(r),
            (vec![C::Ok], false),
            "{:?}",
            String::from_utf8_lossy(r)
        );
        agrees(r, &[r]);
    }
    assert_eq!(
        whole(b"-ERR no\r\n"),
        (vec![C::Err(ErrorClass::Err, b"ERR no".to_vec())], false)
    );
    assert_eq!(
        whole(b"!8\r\nOOM a\r\nb\r\n"),
        (vec![C::Err(ErrorClass::Oom, b"OOM a\r\nb".to_vec())], false)
    );
    assert_eq!(whole(b">2\r\n+a\r\n+b\r\n"), (vec![C::Push], false));
    // An attribute is not a reply; the value after it is.
    assert_eq!(
        whole(b"|1\r\n+a\r\n+b\r\n-ERR x\r\n"),
        (vec![C::Err(ErrorClass::Err, b"ERR x".to_vec())], false)
    );
}

#[test]
fn malformed_replies_are_protocol_errors() {
    let bad: [&[u8]; 19] = [
        b"?x\r\n",
        b":abc\r\n",
        b":\r\n",
        b"$abc\r\n",
        b"$-7\r\n",
        b"*-2\r\n",
        b"$3\r\nabcXY",
        b"#x\r\n",
        b",one\r\n",
        b"=3\r\ntxt\r\n",
        b"=7\r\nhtm:abc\r\n",
        b"%-1\r\n",
        b"$?\r\n",
        b";3\r\nabc\r\n",
        b"|1\r\n+a\r\n+b\r\n|0\r\n+c\r\n",
        b"|0\r\n_\r\n",
        b"%1\r\n*0\r\n:1\r\n",
        b"~1\r\n*0\r\n",
        b"%1\r\n+k\r\n$-1\r\n",
    ];
    for b in bad {
        let (_, failed) = whole(b);
        assert!(failed, "accepted {:?}", String::from_utf8_lossy(b));
        agrees(b, &[b]);
    }
}

#[test]
fn every_split_gives_the_same_replies() {
    let stream: &[u8] = b"+OK\r\n-MOVED 3999 127.0.0.1:6381\r\n$5\r\nhe\r\no\r\n*2\r\n$1\r\na\r\n:1\r\n\
        %1\r\n+k\r\n~1\r\n,2.5\r\n|1\r\n+a\r\n+b\r\n!5\r\nERR x\r\n>1\r\n+p\r\n=6\r\nmkd:ab\r\n:9\r\n";
    let want = whole(stream);
    // (The attribute belongs to the blob error after it: one reply.)
    assert!(!want.1 && want.0.len() == 9, "{want:?}");
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let got = scan(&[&stream[..i], &stream[i..j], &stream[j..]]);
            assert_eq!(got, want, "cut at {i} and {j}");
        }
    }
    // Byte by byte.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(scan(&bytes), want);
    // The MOVED line split in the middle still gives its whole words.
    let moved = b"-MOVED 3999 127.0.0.1:6381\r\n";
    let (got, _) = scan(&[&moved[..9], &moved[9..27], &moved[27..]]);
    assert_eq!(got, [C::Err(ErrorClass::Moved, moved[1..26].to_vec())]);
}

#[test]
fn a_length_past_512mb_fails_at_once() {
    for head in [
        &b"$9999999999\r\n"[..],
        b"!536870913\r\n",
        b"=99999999999\r\n",
    ] {
        let mut sc = Scanner::new();
        let r: Result<(), ProtocolError> = sc.feed(head, |_| Ok(()));
        let e = r.unwrap_err();
        assert!(e.0.contains("512 MB"), "{e}");
    }
    // Exactly 512 MB is allowed.
    let mut sc = Scanner::new();
    let r: Result<(), ProtocolError> = sc.feed(b"$536870912\r\n", |_| Ok(()));
    assert!(r.is_ok());
}

#[test]
fn an_endless_body_is_skipped_in_constant_memory() {
    let mut sc = Scanner::new();
    let mut replies = 0;
    let mut on = |_: Reply<'_>| -> Result<(), ProtocolError> {
        replies += 1;
        Ok(())
    };
    sc.feed(b"$400000000\r\n", &mut on).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..381 {
        sc.feed(&chunk, &mut on).unwrap();
        assert!(sc.held() < 256, "{}", sc.held());
    }
    sc.feed(&chunk[..400_000_000 - 381 * (1 << 20)], &mut on)
        .unwrap();
    sc.feed(b"\r\n+OK\r\n", &mut on).unwrap();
    assert_eq!(replies, 2);
    assert!(sc.is_idle());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = b"*1\r\n".repeat(10_000);
    let (got, failed) = whole(&deep);
    assert!(failed && got.is_empty());
    let ok = [b"*1\r\n".repeat(MAX_DEPTH), b":1\r\n".to_vec()].concat();
    assert_eq!(whole(&ok), (vec![C::Ok], false));
}

#[test]
fn long_lines_keep_little() {
    // An error message is cut to its first MSG_MAX bytes, in one piece or split.
    let long = [b"-ERR ".to_vec(), vec![b'y'; 5000], b"\r\n".to_vec()].concat();
    for cut in [3, 600, 5003] {
        let (got, failed) = scan(&[&long[..cut], &long[cut..]]);
        assert!(!failed);
        match &got[..] {
            [C::Err(ErrorClass::Err, m)] => assert_eq!(m[..], long[1..1 + MSG_MAX]),
            other => panic!("{other:?}"),
        }
    }
    // A status line of any length costs nothing.
    let status = [b"+".to_vec(), vec![b'z'; 100_000], b"\r\n".to_vec()].concat();
    assert_eq!(
        scan(&[&status[..50_000], &status[50_000..]]),
        (vec![C::Ok], false)
    );
    // A number line is bounded.
    let number = [b":".to_vec(), vec![b'1'; NUM_MAX + 5], b"\r\n".to_vec()].concat();
    assert!(whole(&number).1);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let seeds: [&[u8]; 4] = [
        b"*3\r\n$1\r\na\r\n:5\r\n*1\r\n+x\r\n",
        b"%2\r\n+a\r\n~1\r\n#t\r\n|1\r\n+b\r\n_\r\n=5\r\ntxt:x\r\n",
        b"!5\r\nERR x\r\n>1\r\n,1e5\r\n",
        b"-MOVED 1 127.0.0.1:1\r\n$-1\r\n",
    ];
    for s in seeds {
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut v = s.to_vec();
            let i = (state as usize) % v.len();
            v[i] = (state >> 32) as u8;
            let cut = (state >> 16) as usize % (v.len() + 1);
            agrees(&v, &[&v[..cut], &v[cut..]]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated streams (proptest; PROPTEST_CASES sets how many, scripts/fuzz-replies.sh runs 10^7)

fn crlf(mut v: Vec<u8>) -> Vec<u8> {
    v.extend_from_slice(b"\r\n");
    v
}

fn line(kind: u8, text: impl AsRef<[u8]>) -> Vec<u8> {
    crlf([&[kind][..], text.as_ref()].concat())
}

fn sized(kind: u8, body: &[u8]) -> Vec<u8> {
    crlf([line(kind, body.len().to_string()), body.to_vec()].concat())
}

fn words() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ERR unknown command".to_string()),
        Just("MOVED 3999 127.0.0.1:6381".to_string()),
        Just("ASK 12 127.0.0.1:7002".to_string()),
        Just("OOM command not allowed".to_string()),
        Just("WRONGTYPE Operation".to_string()),
        Just("LOADING Redis is loading".to_string()),
        "[A-Z]{1,8}( [ -~]{0,30})?",
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

/// A RESP2 reply.
fn resp2() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        text().prop_map(|t| line(b'+', t)),
        words().prop_map(|w| line(b'-', w)),
        any::<i64>().prop_map(|i| line(b':', i.to_string())),
        body().prop_map(|b| sized(b'$', &b)),
        Just(b"$-1\r\n".to_vec()),
        Just(b"*-1\r\n".to_vec()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop::collection::vec(inner, 0..4)
            .prop_map(|items| [line(b'*', items.len().to_string()), items.concat()].concat())
    })
}

/// A RESP3 value usable as a map key or set member.
fn resp3_hashable() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        text().prop_map(|t| line(b'+', t)),
        any::<i64>().prop_map(|i| line(b':', i.to_string())),
        body().prop_map(|b| sized(b'$', &b)),
        any::<bool>().prop_map(|b| line(b'#', if b { "t" } else { "f" })),
    ]
}

/// A RESP3 reply.
fn resp3() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        text().prop_map(|t| line(b'+', t)),
        words().prop_map(|w| line(b'-', w)),
        any::<i64>().prop_map(|i| line(b':', i.to_string())),
        body().prop_map(|b| sized(b'$', &b)),
        Just(b"_\r\n".to_vec()),
        // (As Redis writes doubles: short; rbench refuses number lines over NUM_MAX bytes.)
        any::<f64>().prop_map(|d| line(b',', format!("{d:e}"))),
        Just(b",inf\r\n".to_vec()),
        any::<bool>().prop_map(|b| line(b'#', if b { "t" } else { "f" })),
        "[0-9]{1,40}".prop_map(|n| line(b'(', n)),
        words().prop_map(|w| sized(b'!', w.as_bytes())),
        (prop_oneof![Just("txt"), Just("mkd")], body())
            .prop_map(|(f, b)| sized(b'=', &[f.as_bytes(), b":", &b].concat())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| [
                line(b'*', v.len().to_string()),
                v.concat()
            ]
            .concat()),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| [
                line(b'>', v.len().to_string()),
                v.concat()
            ]
            .concat()),
            prop::collection::vec(resp3_hashable(), 0..4).prop_map(|v| [
                line(b'~', v.len().to_string()),
                v.concat()
            ]
            .concat()),
            prop::collection::vec((resp3_hashable(), inner.clone()), 0..3).prop_map(|kv| {
                let pairs: Vec<u8> = kv
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), v.clone()].concat())
                    .collect();
                [line(b'%', kv.len().to_string()), pairs].concat()
            }),
            (resp3_hashable(), inner.clone(), inner).prop_map(|(k, v, value)| {
                // A null or another attribute cannot carry attributes: a status instead.
                let bare = !value.starts_with(b"_") && !value.starts_with(b"|");
                let value = if bare { value } else { line(b'+', "v") };
                [line(b'|', "1"), k, v, value].concat()
            }),
        ]
    })
}

/// Several replies of one protocol, one after another.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(resp2(), 1..8).prop_map(|v| v.concat()),
        prop::collection::vec(resp3(), 1..8).prop_map(|v| v.concat()),
    ]
}

#[derive(Clone, Debug)]
enum Corrupt {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn corrupt(mut v: Vec<u8>, edits: &[Corrupt]) -> Vec<u8> {
    for e in edits {
        let n = v.len();
        match *e {
            Corrupt::Set(i, b) if n > 0 => v[i % n] = b,
            Corrupt::Insert(i, b) => v.insert(i % (n + 1), b),
            Corrupt::Delete(i) if n > 0 => {
                v.remove(i % n);
            }
            Corrupt::Truncate(i) => v.truncate(i % (n + 1)),
            _ => {}
        }
    }
    v
}

fn edit() -> impl Strategy<Value = Corrupt> {
    // Bytes that matter to the grammar, more often than chance would pick them.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"\r\n-+:$*_,#(!=%~>|?;.0123456789".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Corrupt::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Corrupt::Insert(i, b)),
        any::<usize>().prop_map(Corrupt::Delete),
        any::<usize>().prop_map(Corrupt::Truncate),
    ]
}

proptest! {
    /// Valid streams, split anywhere: exactly what redis-protocol reads, and nothing refused.
    #[test]
    fn valid_streams_classify_as_the_decoder_does(
        s in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let (want, end) = oracle(&s);
        prop_assert_eq!(end, End::Complete);
        let chunks = split(&s, &cuts);
        let (got, failed) = scan(&chunks);
        prop_assert!(!failed, "refused {:?}", String::from_utf8_lossy(&s));
        prop_assert_eq!(got, want);
    }

    /// Corrupted streams: never a panic, never more accepted than the decoder accepts.
    #[test]
    fn corrupted_streams_are_errors_where_the_decoder_finds_them(
        s in stream(),
        edits in prop::collection::vec(edit(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let bad = corrupt(s, &edits);
        agrees(&bad, &split(&bad, &cuts));
    }

    /// Any bytes at all, after any prefix: no panic, and memory bounded whatever was declared.
    #[test]
    fn arbitrary_bytes_are_safe(
        head in prop_oneof![Just(Vec::new()), Just(b"$9999999999".to_vec()), Just(b"*4294967296\r\n".to_vec())],
        tail in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let v = [head, tail].concat();
        agrees(&v, &split(&v, &cuts));
    }
}
