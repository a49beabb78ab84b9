//! HdrHistogram files in the ecosystem's own formats: the interval log (`.hlog`: one compressed,
//! base64 histogram per second, with the standard header lines, as HistogramLogAnalyzer,
//! HistogramLogProcessor and Python's `hdrh` read it), and a reader that takes a log or a bare V2 /
//! V2-deflate histogram (today's `.hdr`), telling them apart by content, not by name.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::stats::new_histogram;

/// Values are µs; dividing by 1000 makes `Interval_Max` read in ms, as in the Java tools' logs.
const MAX_VALUE_DIVISOR: f64 = 1000.0;
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
/// HdrHistogram's V2 cookies (bare and deflate-wrapped), as every implementation writes them.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Cookie, payload length, normalizing offset, digits, lowest, highest, integer-to-double ratio.
const V2_HEADER: usize = 40;
/// A V2 payload is at most a few MB even for 5 digits over the whole u64 range; the cap keeps a
/// damaged or hostile file from inflating without bound.
const MAX_INFLATED: u64 = 64 << 20;
/// Where a byte slice has no file name (see [`HdrFileError::with_path`]).
const NO_FILE: &str = "interval log";

#[derive(Debug, thiserror::Error)]
pub enum HdrFileError {
    #[error("{}: no such file", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: is a folder, not an HDR file", .path.display())]
    Folder { path: PathBuf },
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an HDR histogram (V2, V2-deflate or interval log)", .path.display())]
    NotHdr { path: PathBuf },
    #[error("{}: not an HdrHistogram interval log", .path.display())]
    NotLog { path: PathBuf },
    #[error("{}: damaged HDR data: {why}", .path.display())]
    Damaged { path: PathBuf, why: String },
}

impl HdrFileError {
    /// The same error naming `path` (errors from [`read_intervals`] only know the bytes).
    pub fn with_path(self, path: &Path) -> HdrFileError {
        let path = path.to_path_buf();
        match self {
            HdrFileError::Missing { .. } => HdrFileError::Missing { path },
            HdrFileError::Folder { .. } => HdrFileError::Folder { path },
            HdrFileError::Read { source, .. } => HdrFileError::Read { path, source },
            HdrFileError::NotHdr { .. } => HdrFileError::NotHdr { path },
            HdrFileError::NotLog { .. } => HdrFileError::NotLog { path },
            HdrFileError::Damaged { why, .. } => HdrFileError::Damaged { path, why },
        }
    }
}

fn damaged(why: impl Into<String>) -> HdrFileError {
    HdrFileError::Damaged {
        path: NO_FILE.into(),
        why: why.into(),
    }
}

/// One interval of a log: its start as seconds after the log's StartTime (BaseTime when there is
/// no StartTime), its length, and its histogram.
#[derive(Clone, Debug)]
pub struct Interval {
    pub start_s: f64,
    pub length_s: f64,
    pub hist: Histogram<u64>,
}

/// An interval log: the header lines the Java, C and Python readers expect (the comment, format
/// version, StartTime with a readable date, BaseTime, the max-value divisor, the legend), then one
/// line per `(offset from start, length, histogram)`. Offsets are relative to BaseTime = start.
pub fn interval_log(
    start: SystemTime,
    comment: &str,
    intervals: &[(Duration, Duration, &Histogram<u64>)],
) -> Vec<u8> {
    let mut bytes = log_header(start, comment);
    bytes.extend_from_slice(&log_lines(intervals));
    bytes
}

/// The header lines of an interval log starting at `start` (see [`interval_log`]): a log written
/// as its seconds come starts with these, then appends [`log_lines`].
pub fn log_header(start: SystemTime, comment: &str) -> Vec<u8> {
    let secs = start
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut out = String::new();
    for line in comment.lines() {
        out.push_str(&format!("#[{line}]\n"));
    }
    out.push_str("#[Histogram log format version 1.3]\n");
    out.push_str(&format!(
        "#[StartTime: {secs:.3} (seconds since epoch), {}]\n",
        super::rfc3339(start)
    ));
    out.push_str(&format!("#[BaseTime: {secs:.3} (seconds since epoch)]\n"));
    out.push_str(&format!("#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]\n"));
    out.push_str(LEGEND);
    out.into_bytes()
}

/// One line per `(offset from the log's start, length, histogram)` (see [`interval_log`]).
pub fn log_lines(intervals: &[(Duration, Duration, &Histogram<u64>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    for &(at, length, h) in intervals {
        match interval_line(&mut ser, at, length, h) {
            Some(line) => bytes.extend_from_slice(&line),
            // Not seen with u64 counts; a note beats a silent gap.
            None => bytes.extend_from_slice(
                format!(
                    "#[interval at {:.3} s could not be encoded]\n",
                    at.as_secs_f64()
                )
                .as_bytes(),
            ),
        }
    }
    bytes
}

/// One interval line, written by hdrhistogram's log writer (timestamps, max, base64 of V2-deflate).
/// A writer per line, so a failed line leaves nothing half-written; its header (only the divisor
/// note) is dropped, as ours already has it.
fn interval_line(
    ser: &mut V2DeflateSerializer,
    at: Duration,
    length: Duration,
    h: &Histogram<u64>,
) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut buf, ser)
        .ok()?;
    w.write_histogram(h, at, length, None).ok()?;
    let lines = buf.split_inclusive(|&b| b == b'\n');
    Some(
        lines
            .filter(|l| !l.starts_with(b"#"))
            .flatten()
            .copied()
            .collect(),
    )
}

/// The histogram in `path`: a bare V2 or V2-deflate histogram, or the sum of an interval log's
/// intervals.
pub fn read_histogram(path: &Path) -> Result<Histogram<u64>, HdrFileError> {
    let bytes = read_file(path)?;
    let hist = if cookie(&bytes).is_some() {
        decode_v2(&bytes)
    } else {
        read_intervals(&bytes)
            .map_err(|e| match e {
                HdrFileError::NotLog { path } => HdrFileError::NotHdr { path },
                other => other,
            })
            .and_then(|iv| sum(iv.iter().map(|i| &i.hist)).map_err(|e| damaged(e.to_string())))
    };
    hist.map_err(|e| e.with_path(path))
}

fn read_file(path: &Path) -> Result<Vec<u8>, HdrFileError> {
    let path_buf = || path.to_path_buf();
    if path.is_dir() {
        return Err(HdrFileError::Folder { path: path_buf() });
    }
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => HdrFileError::Missing { path: path_buf() },
        _ => HdrFileError::Read {
            path: path_buf(),
            source,
        },
    })
}

/// The union of `hists` (never an average of their percentiles), kept at the finest precision
/// among them so same-precision inputs add bucket for bucket.
pub fn sum<'a, I>(hists: I) -> Result<Histogram<u64>, hdrhistogram::AdditionError>
where
    I: Iterator<Item = &'a Histogram<u64>> + Clone,
{
    let digits = hists.clone().map(Histogram::sigfig).max().unwrap_or(3);
    let mut total = Histogram::new(digits).unwrap_or_else(|_| new_histogram());
    for h in hists {
        total.add(h)?;
    }
    Ok(total)
}

/// The intervals of an interval log, in file order.
pub fn read_intervals(bytes: &[u8]) -> Result<Vec<Interval>, HdrFileError> {
    // The parser wants every line ended; a hand-edited file may lack the last newline.
    let text: Cow<[u8]> = if bytes.ends_with(b"\n") || bytes.is_empty() {
        Cow::Borrowed(bytes)
    } else {
        Cow::Owned([bytes, b"\n"].concat())
    };
    // Without a header line, anything that fails to parse is simply not a log.
    let fail = |e: HdrFileError| {
        if has_log_header(&text) {
            e
        } else {
            HdrFileError::NotLog {
                path: NO_FILE.into(),
            }
        }
    };
    let mut clock = Clock::default();
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&text) {
        match entry {
            Ok(LogEntry::StartTime(t)) => clock.start = Some(t.as_secs_f64()),
            Ok(LogEntry::BaseTime(t)) => clock.base = Some(t.as_secs_f64()),
            Ok(LogEntry::Interval(iv)) => {
                let n = out.len() + 1;
                let hist = decode_base64(iv.encoded_histogram())
                    .map_err(|why| fail(damaged(format!("interval {n}: {why}"))))?;
                out.push(Interval {
                    start_s: clock.offset(iv.start_timestamp().as_secs_f64()),
                    length_s: iv.duration().as_secs_f64(),
                    hist,
                });
            }
            Err(LogIteratorError::ParseError { offset }) => {
                let line = line_at(&text, offset);
                let why = format!("line {line}: not a header, comment or interval line");
                return Err(fail(damaged(why)));
            }
        }
    }
    if out.is_empty() && !has_log_header(&text) {
        return Err(fail(damaged("")));
    }
    Ok(out)
}

/// The 1-based line number of byte `offset`.
fn line_at(text: &[u8], offset: usize) -> usize {
    1 + text[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The legend or one of the standard `#[...]` header lines: what makes text an interval log even
/// before (or without) any interval.
fn has_log_header(text: &[u8]) -> bool {
    const MARKS: [&[u8]; 4] = [
        b"\"StartTimestamp\"",
        b"#[Histogram log format version",
        b"#[StartTime: ",
        b"#[BaseTime: ",
    ];
    text.split(|&b| b == b'\n')
        .any(|l| MARKS.iter().any(|m| l.starts_with(m)))
}

/// Turns interval timestamps into seconds after the log's start, as the Java reader does: with a
/// BaseTime they are offsets from it; without one, stamps more than a year before StartTime are
/// offsets from StartTime and others are epoch seconds; with no StartTime the first interval starts.
#[derive(Default)]
struct Clock {
    start: Option<f64>,
    base: Option<f64>,
    first: Option<f64>,
}

impl Clock {
    fn offset(&mut self, stamp: f64) -> f64 {
        const YEAR_S: f64 = 365.0 * 86_400.0;
        let base = self.base.unwrap_or(match self.start {
            Some(s) if stamp < s - YEAR_S => s,
            _ => 0.0,
        });
        let at = base + stamp;
        let start = match self.start {
            Some(s) => s,
            None => *self.first.get_or_insert(at),
        };
        at - start
    }
}

fn decode_base64(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("bad base64 ({e})"))?;
    decode_v2(&bytes).map_err(|e| match e {
        HdrFileError::Damaged { why, .. } => why,
        other => other.to_string(),
    })
}

fn cookie(bytes: &[u8]) -> Option<u32> {
    let c = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    [V2_COOKIE, V2_DEFLATE_COOKIE].contains(&c).then_some(c)
}

/// The big-endian u32 at `at`, as a length.
fn len_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes(b.try_into().ok()?) as usize)
}

/// A bare V2 or V2-deflate histogram. Lengths are checked against the bytes at hand first:
/// hdrhistogram's decoder allocates whatever the length field says.
fn decode_v2(bytes: &[u8]) -> Result<Histogram<u64>, HdrFileError> {
    let raw: Cow<[u8]> = match cookie(bytes) {
        Some(V2_COOKIE) => Cow::Borrowed(bytes),
        Some(_) => Cow::Owned(inflate(bytes)?),
        None => {
            return Err(HdrFileError::NotHdr {
                path: NO_FILE.into(),
            });
        }
    };
    if cookie(&raw) != Some(V2_COOKIE) {
        return Err(damaged("compressed histogram does not hold a V2 histogram"));
    }
    match len_at(&raw, 4) {
        Some(n) if n <= raw.len().saturating_sub(V2_HEADER) && raw.len() >= V2_HEADER => {}
        _ => return Err(damaged("truncated histogram")),
    }
    Deserializer::new()
        .deserialize(&mut &raw[..])
        .map_err(|e| damaged(e.to_string()))
}

/// The V2 histogram inside a V2-deflate envelope (cookie, length, zlib stream), at most
/// `MAX_INFLATED` bytes.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, HdrFileError> {
    let zlib = len_at(bytes, 4)
        .and_then(|n| bytes.get(8..8usize.checked_add(n)?))
        .ok_or_else(|| damaged("truncated compressed histogram"))?;
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(zlib)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut raw)
        .map_err(|e| damaged(format!("cannot inflate: {e}")))?;
    if raw.len() as u64 > MAX_INFLATED {
        return Err(damaged("compressed histogram inflates past 64 MiB"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer, V2Serializer};

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new(3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn intervals_round_trip() {
        let a = hist(&[100, 200, 300]);
        let b = hist(&[]);
        let c = hist(&[5_000_000, 42]);
        let start = UNIX_EPOCH + Duration::from_millis(1_795_350_896_250);
        let secs = Duration::from_secs;
        let log = interval_log(
            start,
            "rbench test\nsecond line",
            &[
                (secs(0), secs(1), &a),
                (secs(1), secs(1), &b),
                (secs(2), Duration::from_millis(400), &c),
            ],
        );
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(
            text.starts_with(
                "#[rbench test]\n#[second line]\n#[Histogram log format version 1.3]\n"
            )
        );
        assert!(text.contains(
            "#[StartTime: 1795350896.250 (seconds since epoch), 2026-11-22T12:34:56Z]\n"
        ));
        assert!(text.contains(&format!("\n{LEGEND}0.000,1.000,0.300,HISTF")));
        let iv = read_intervals(&log).unwrap();
        let counts: Vec<u64> = iv.iter().map(|i| i.hist.len()).collect();
        assert_eq!(counts, [3, 0, 2]);
        let starts: Vec<f64> = iv.iter().map(|i| i.start_s).collect();
        assert_eq!(starts, [0.0, 1.0, 2.0]);
        assert_eq!(iv[2].length_s, 0.4);
        assert_eq!(iv[2].hist.max(), c.max());
        // The sum is the union of the intervals.
        let all = sum(iv.iter().map(|i| &i.hist)).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!((all.min(), all.value_at_quantile(0.5)), (42, 200));
        assert_eq!(all.max(), c.max());
    }

    #[test]
    fn reads_bare_histograms_and_logs_by_content() {
        let dir = std::env::temp_dir().join(format!("rbench-hlog-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = hist(&[1, 10, 100, 1000]);
        let mut v2 = Vec::new();
        V2Serializer::new().serialize(&h, &mut v2).unwrap();
        let mut deflate = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut deflate)
            .unwrap();
        let log = interval_log(
            UNIX_EPOCH,
            "",
            &[(Duration::ZERO, Duration::from_secs(1), &h)],
        );
        // Names say nothing: a log saved as .hdr still reads.
        for (name, bytes) in [("a.hdr", &v2), ("b.bin", &deflate), ("c.hdr", &log)] {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            let back = read_histogram(&p).unwrap();
            assert_eq!((back.len(), back.max()), (4, h.max()), "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rejects_garbage_with_one_line_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("rbench-hlog-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = hist(&[7]);
        let mut v2 = Vec::new();
        V2Serializer::new().serialize(&h, &mut v2).unwrap();
        let mut huge = v2.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let log = interval_log(UNIX_EPOCH, "x", &[(Duration::ZERO, Duration::ZERO, &h)]);
        let bad_line = [&log[..], b"1.000,1.000,0.1,!!notbase64!!\n"].concat();
        let junk = [&log[..], b"garbage\n"].concat();
        let cases: [(&str, &[u8], &str); 7] = [
            ("text.hdr", b"hello world\n", "not an HDR histogram"),
            ("empty.hdr", b"", "not an HDR histogram"),
            (
                "comments.hlog",
                b"# just a comment\n",
                "not an HDR histogram",
            ),
            ("cut.hdr", &v2[..v2.len() - 3], "truncated"),
            ("huge.hdr", &huge, "truncated"),
            ("line.hlog", &bad_line, "interval 2: bad base64"),
            (
                "junk.hlog",
                &junk,
                "line 8: not a header, comment or interval line",
            ),
        ];
        for (name, bytes, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            let msg = read_histogram(&p).unwrap_err().to_string();
            assert!(msg.starts_with(&p.display().to_string()), "{msg}");
            assert!(msg.contains(want) && !msg.contains('\n'), "{name}: {msg}");
        }
        let missing = read_histogram(&dir.join("nope.hdr")).unwrap_err();
        assert!(missing.to_string().ends_with("nope.hdr: no such file"));
        assert!(matches!(
            read_histogram(&dir),
            Err(HdrFileError::Folder { .. })
        ));
        assert!(matches!(
            read_intervals(&v2),
            Err(HdrFileError::NotLog { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
