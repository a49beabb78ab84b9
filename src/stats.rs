//! Latency histograms, outcome counters and the per-second timeline. One recorder per engine thread,
//! written without locks; merged with `Histogram::add` at the end.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::resp::ErrorClass;

/// A latency histogram in microseconds, 3 significant digits, auto-resizing: no upper cap clips a stall.
pub fn new_histogram() -> Histogram<u64> {
    // new() only fails for sigfig > 5.
    Histogram::new(3).unwrap_or_else(|_| unreachable_histogram())
}

fn second_histogram() -> Histogram<u64> {
    // Per-second buckets only feed p50/p99/max of the timeline: 2 digits keep long runs small.
    Histogram::new(2).unwrap_or_else(|_| unreachable_histogram())
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // Histogram::new_with_max with these bounds is valid; kept as a fallback instead of a panic.
    Histogram::new_with_bounds(1, u64::MAX / 2, 2).unwrap_or_else(|_| std::process::abort())
}

#[inline]
pub fn record(h: &mut Histogram<u64>, us: u64) {
    // Auto-resize makes record() infallible in practice; saturate rather than lose a sample.
    if h.record(us.max(1)).is_err() {
        h.saturating_record(us.max(1));
    }
}

#[derive(Clone, Debug)]
pub struct Second {
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub failed: u64,
    pub events: [u64; ErrorClass::COUNT],
}

impl Default for Second {
    fn default() -> Self {
        Self::new()
    }
}

impl Second {
    pub fn new() -> Second {
        Second {
            hist: second_histogram(),
            ok: 0,
            failed: 0,
            events: [0; ErrorClass::COUNT],
        }
    }

    pub fn merge(&mut self, o: &Second) {
        let _ = self.hist.add(&o.hist);
        self.ok += o.ok;
        self.failed += o.failed;
        for (a, b) in self.events.iter_mut().zip(o.events.iter()) {
            *a += b;
        }
    }
}

/// Everything measured for one command of one run.
#[derive(Clone, Debug)]
pub struct OpStats {
    /// Successful replies, latency from the intended send time (µs).
    pub hist: Histogram<u64>,
    /// Successful replies, latency from the actual send time (µs) — what tools that suffer from
    /// coordinated omission report. Only filled in open-loop runs.
    pub hist_sent: Histogram<u64>,
    pub ok: u64,
    /// Requests that ended in an error (after retries, where retrying made sense).
    pub failed: u64,
    /// Every error seen, by class, including redirects and retried failures.
    pub events: [u64; ErrorClass::COUNT],
    pub seconds: Vec<Second>,
    /// The first words seen for each error class (the server's, or what broke the connection),
    /// so a summary can say what "err=36787" was.
    pub words: Words,
}

/// The first message seen per error class.
pub type Words = [Option<Box<str>>; ErrorClass::COUNT];

/// Messages are kept to this many bytes: enough to read, never a hostile reply's whole body.
pub const WORDS_MAX: usize = 200;

impl OpStats {
    pub fn new() -> OpStats {
        OpStats {
            hist: new_histogram(),
            hist_sent: new_histogram(),
            ok: 0,
            failed: 0,
            events: [0; ErrorClass::COUNT],
            seconds: Vec::new(),
            words: Default::default(),
        }
    }

    fn second(&mut self, s: usize) -> &mut Second {
        if self.seconds.len() <= s {
            self.seconds.resize_with(s + 1, Second::new);
        }
        &mut self.seconds[s]
    }

    pub fn merge(&mut self, o: &OpStats) {
        let _ = self.hist.add(&o.hist);
        let _ = self.hist_sent.add(&o.hist_sent);
        self.ok += o.ok;
        self.failed += o.failed;
        for (a, b) in self.events.iter_mut().zip(o.events.iter()) {
            *a += b;
        }
        for (i, s) in o.seconds.iter().enumerate() {
            self.second(i).merge(s);
        }
        for (a, b) in self.words.iter_mut().zip(o.words.iter()) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.failed
    }
}

impl Default for OpStats {
    fn default() -> Self {
        Self::new()
    }
}

/// One thread's measurements for one run: owned by its event loop and written to directly (no lock,
/// nothing shared), handed over whole when the thread ends. `sec` arguments are the second of the
/// run the outcome fell in.
#[derive(Debug)]
pub struct Recorder {
    pub ops: Vec<OpStats>,
    open_loop: bool,
}

impl Recorder {
    pub fn new(n_ops: usize, open_loop: bool) -> Recorder {
        Recorder {
            ops: (0..n_ops).map(|_| OpStats::new()).collect(),
            open_loop,
        }
    }

    /// A success: latency from the intended time and from the actual send (µs). Always inlined:
    /// once per request, and outlined it costs a call and a reload of the recorder's fields.
    #[inline(always)]
    pub fn ok(&mut self, op: usize, sec: usize, us: u64, sent_us: u64) {
        let Some(o) = self.ops.get_mut(op) else {
            return;
        };
        o.ok += 1;
        record(&mut o.hist, us);
        if self.open_loop {
            record(&mut o.hist_sent, sent_us);
        }
        let b = o.second(sec);
        b.ok += 1;
        record(&mut b.hist, us);
    }

    /// An error that will be retried (a redirect, a lost connection...): counted, not final.
    pub fn event(&mut self, op: usize, sec: usize, class: ErrorClass) {
        if let Some(o) = self.ops.get_mut(op) {
            o.events[class.index()] += 1;
            o.second(sec).events[class.index()] += 1;
        }
    }

    /// The request ended in this error.
    pub fn failed(&mut self, op: usize, sec: usize, class: ErrorClass) {
        if let Some(o) = self.ops.get_mut(op) {
            o.failed += 1;
            o.events[class.index()] += 1;
            let b = o.second(sec);
            b.failed += 1;
            b.events[class.index()] += 1;
        }
    }

    /// The run ended while the request waited for a retry: it failed, and its error was already
    /// counted as an event.
    pub fn gave_up(&mut self, op: usize, sec: usize) {
        if let Some(o) = self.ops.get_mut(op) {
            o.failed += 1;
            o.second(sec).failed += 1;
        }
    }

    /// Keeps `msg` as the words of `class` for `op`, unless some are kept already (cheap when so:
    /// an all-errors run calls this for every reply).
    #[inline]
    pub fn words(&mut self, op: usize, class: ErrorClass, msg: &[u8]) {
        if let Some(o) = self.ops.get_mut(op)
            && o.words[class.index()].is_none()
        {
            o.words[class.index()] = Some(clip_words(msg));
        }
    }

    /// Requests finished (ok or failed) so far.
    pub fn finished(&self) -> u64 {
        self.ops.iter().map(OpStats::requests).sum()
    }

    /// Second `sec` of every command (empty where nothing happened), for the live view.
    pub fn second_rows(&self, sec: usize) -> Vec<Option<Second>> {
        self.ops
            .iter()
            .map(|o| o.seconds.get(sec).cloned())
            .collect()
    }
}

#[cold]
fn clip_words(msg: &[u8]) -> Box<str> {
    let text = String::from_utf8_lossy(&msg[..msg.len().min(WORDS_MAX)]);
    text.trim_end().into()
}

/// Merges the threads' recorders of one run.
pub fn merge_all(recorders: &[Recorder], n_ops: usize) -> Vec<OpStats> {
    let mut out: Vec<OpStats> = (0..n_ops).map(|_| OpStats::new()).collect();
    for r in recorders {
        for (a, b) in out.iter_mut().zip(r.ops.iter()) {
            a.merge(b);
        }
    }
    out
}

/// The timeline of a run limited to `secs` seconds: replies that landed just after the end (the
/// last batch in flight) are folded into the last second instead of showing as a nearly empty extra
/// second that looks like a collapse.
pub fn fold_tail(seconds: &[Second], secs: Option<Duration>) -> Vec<Second> {
    let keep = secs.map_or(usize::MAX, |d| (d.as_secs_f64().ceil() as usize).max(1));
    let mut out: Vec<Second> = seconds.iter().take(keep).cloned().collect();
    if let Some(last) = out.last_mut() {
        for extra in seconds.iter().skip(keep) {
            last.merge(extra);
        }
    }
    out
}

/// Milliseconds with µs resolution, as printed everywhere.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency summary of a histogram (ms).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub avg: f64,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

pub fn summarize(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        avg: h.mean() / 1000.0,
        min: ms(h.min()),
        p50: ms(h.value_at_quantile(0.50)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_outcomes_per_second_and_merges() {
        let mut a = Recorder::new(2, true);
        a.ok(0, 0, 100, 90);
        a.ok(0, 1, 500_000_000, 10);
        a.event(1, 0, ErrorClass::Moved);
        a.failed(1, 0, ErrorClass::Oom);
        a.words(1, ErrorClass::Oom, b"OOM command not allowed");
        a.words(1, ErrorClass::Oom, b"OOM second message");
        a.gave_up(1, 0);
        assert_eq!(a.finished(), 4);
        let mut b = Recorder::new(2, true);
        b.ok(0, 1, 200, 200);
        let merged = merge_all(&[a, b], 2);
        assert_eq!(merged[0].ok, 3);
        assert_eq!(merged[0].seconds.len(), 2);
        assert_eq!(merged[0].seconds[1].ok, 2);
        // A 500 s stall is kept, not clipped.
        assert!(merged[0].hist.max() >= 499_000_000);
        assert_eq!(merged[0].hist_sent.len(), 3);
        assert_eq!(merged[1].failed, 2);
        assert_eq!(merged[1].events[ErrorClass::Moved.index()], 1);
        assert_eq!(merged[1].events[ErrorClass::Oom.index()], 1);
        // The first words of a class are kept, clipped.
        assert_eq!(
            merged[1].words[ErrorClass::Oom.index()].as_deref(),
            Some("OOM command not allowed")
        );
        let mut c = Recorder::new(1, false);
        c.words(0, ErrorClass::Err, &[b'x'; 10_000]);
        assert_eq!(
            c.ops[0].words[ErrorClass::Err.index()]
                .as_ref()
                .unwrap()
                .len(),
            WORDS_MAX
        );
        let s = summarize(&merged[0].hist);
        assert!((s.min - 0.1).abs() < 0.001);
        let folded = fold_tail(&merged[0].seconds, Some(Duration::from_secs(1)));
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].ok, 3);
        assert_eq!(fold_tail(&merged[0].seconds, None).len(), 2);
    }
}
