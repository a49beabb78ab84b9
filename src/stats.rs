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
            words: Default::default(),
        }
    }

    pub fn merge(&mut self, o: &OpStats) {
        let _ = self.hist.add(&o.hist);
        let _ = self.hist_sent.add(&o.hist_sent);
        self.ok += o.ok;
        self.failed += o.failed;
        for (a, b) in self.events.iter_mut().zip(o.events.iter()) {
            *a += b;
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

/// One command's counters and the seconds of its timeline not yet handed over.
#[derive(Debug)]
struct Lane {
    stats: OpStats,
    /// Open seconds: index i is second `base + i` of the run (see `Recorder::close_second`).
    open: Vec<Second>,
}

impl Lane {
    /// The open second `i` after the oldest one. A plain bounds check on the common path, as the
    /// growing timeline had: the cold path grows the window, or folds a late outcome (`i`
    /// wrapped below 0) into the oldest open second.
    #[inline(always)]
    fn second(&mut self, i: usize) -> &mut Second {
        if i < self.open.len() {
            return &mut self.open[i];
        }
        self.grow(i)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) -> &mut Second {
        // More than a day ahead is a second before the oldest open one (a wrapped subtraction).
        let i = if i > 86_400 { 0 } else { i };
        if self.open.len() <= i {
            self.open.resize_with(i + 1, Second::new);
        }
        &mut self.open[i]
    }
}

/// One thread's measurements for one run: owned by its event loop and written to directly (no lock,
/// nothing shared), handed over whole when the thread ends. `sec` arguments are the second of the
/// run the outcome fell in. Only the seconds not yet closed are kept: `close_second` moves the
/// oldest out (the engine does so once a second), so a long run's recorder does not grow.
#[derive(Debug)]
pub struct Recorder {
    lanes: Vec<Lane>,
    /// The run's second that `Lane::open[0]` is.
    base: usize,
    open_loop: bool,
}

impl Recorder {
    pub fn new(n_ops: usize, open_loop: bool) -> Recorder {
        Recorder {
            lanes: (0..n_ops)
                .map(|_| Lane {
                    stats: OpStats::new(),
                    open: Vec::new(),
                })
                .collect(),
            base: 0,
            open_loop,
        }
    }

    /// A success: latency from the intended time and from the actual send (µs). Always inlined:
    /// once per request, and outlined it costs a call and a reload of the recorder's fields.
    #[inline(always)]
    pub fn ok(&mut self, op: usize, sec: usize, us: u64, sent_us: u64) {
        let base = self.base;
        let Some(l) = self.lanes.get_mut(op) else {
            return;
        };
        let o = &mut l.stats;
        o.ok += 1;
        record(&mut o.hist, us);
        if self.open_loop {
            record(&mut o.hist_sent, sent_us);
        }
        let b = l.second(sec.wrapping_sub(base));
        b.ok += 1;
        record(&mut b.hist, us);
    }

    /// An error that will be retried (a redirect, a lost connection...): counted, not final.
    pub fn event(&mut self, op: usize, sec: usize, class: ErrorClass) {
        let base = self.base;
        if let Some(l) = self.lanes.get_mut(op) {
            l.stats.events[class.index()] += 1;
            l.second(sec.wrapping_sub(base)).events[class.index()] += 1;
        }
    }

    /// The request ended in this error.
    pub fn failed(&mut self, op: usize, sec: usize, class: ErrorClass) {
        let base = self.base;
        if let Some(l) = self.lanes.get_mut(op) {
            l.stats.failed += 1;
            l.stats.events[class.index()] += 1;
            let b = l.second(sec.wrapping_sub(base));
            b.failed += 1;
            b.events[class.index()] += 1;
        }
    }

    /// The run ended while the request waited for a retry: it failed, and its error was already
    /// counted as an event.
    pub fn gave_up(&mut self, op: usize, sec: usize) {
        let base = self.base;
        if let Some(l) = self.lanes.get_mut(op) {
            l.stats.failed += 1;
            l.second(sec.wrapping_sub(base)).failed += 1;
        }
    }

    /// Keeps `msg` as the words of `class` for `op`, unless some are kept already (cheap when so:
    /// an all-errors run calls this for every reply).
    #[inline]
    pub fn words(&mut self, op: usize, class: ErrorClass, msg: &[u8]) {
        if let Some(l) = self.lanes.get_mut(op)
            && l.stats.words[class.index()].is_none()
        {
            l.stats.words[class.index()] = Some(clip_words(msg));
        }
    }

    /// Requests finished (ok or failed) so far.
    pub fn finished(&self) -> u64 {
        self.ops().map(OpStats::requests).sum()
    }

    /// Every command's counters and histograms, in the phase's order.
    pub fn ops(&self) -> impl Iterator<Item = &OpStats> {
        self.lanes.iter().map(|l| &l.stats)
    }

    /// The oldest open second, moved out (None for a command with nothing in it or after it);
    /// the next one becomes the oldest. Returns the second's number and its rows.
    pub fn close_second(&mut self) -> (usize, Vec<Option<Second>>) {
        let sec = self.base;
        self.base += 1;
        let rows = self
            .lanes
            .iter_mut()
            .map(|l| (!l.open.is_empty()).then(|| l.open.remove(0)))
            .collect();
        (sec, rows)
    }

    /// The most seconds any command holds open (what `close_second` keeps small).
    pub fn open_seconds(&self) -> usize {
        self.lanes.iter().map(|l| l.open.len()).max().unwrap_or(0)
    }

    /// Every command's open seconds, from second `base` on (scenarios, which never close
    /// seconds, take their whole timeline here).
    fn take_open(&mut self) -> Vec<Vec<Second>> {
        self.lanes
            .iter_mut()
            .map(|l| std::mem::take(&mut l.open))
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
        for (a, b) in out.iter_mut().zip(r.ops()) {
            a.merge(b);
        }
    }
    out
}

/// Takes the seconds the threads' recorders still hold and merges them per command: a scenario's
/// whole timeline (its recorders never close a second, so every one is still open).
pub fn merge_timelines(recorders: &mut [Recorder], n_ops: usize) -> Vec<Vec<Second>> {
    let mut out: Vec<Vec<Second>> = vec![Vec::new(); n_ops];
    for r in recorders {
        let base = r.base;
        for (a, lane) in out.iter_mut().zip(r.take_open()) {
            for (i, s) in lane.into_iter().enumerate() {
                let k = base + i;
                if a.len() <= k {
                    a.resize_with(k + 1, Second::new);
                }
                a[k].merge(&s);
            }
        }
    }
    out
}

/// The timeline of a run limited to `secs` seconds: replies that landed just after the end (the
/// last batch in flight) are folded into the last second instead of showing as a nearly empty extra
/// second that looks like a collapse.
pub fn fold_tail(seconds: &[Second], secs: Option<Duration>) -> Vec<Second> {
    let keep = kept_seconds(secs);
    let mut out: Vec<Second> = seconds.iter().take(keep).cloned().collect();
    if let Some(last) = out.last_mut() {
        for extra in seconds.iter().skip(keep) {
            last.merge(extra);
        }
    }
    out
}

/// How many seconds a timeline of a run limited to `secs` has (`fold_tail`): the seconds after
/// them fold into the last.
pub fn kept_seconds(secs: Option<Duration>) -> usize {
    secs.map_or(usize::MAX, |d| (d.as_secs_f64().ceil() as usize).max(1))
}

/// One second of a result's timeline as the files and pages show it: its counts and its
/// p50/p99/max, without the histogram (a long run keeps a few dozen bytes a second, not kilobytes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tick {
    pub ok: u64,
    pub failed: u64,
    /// Per error class; None for a second without any (most of them).
    pub events: Option<Box<[u64; ErrorClass::COUNT]>>,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Open loop: the phase's target over this second (requests due in it, all its commands).
    pub target: Option<f64>,
}

impl Tick {
    pub fn of(s: &Second) -> Tick {
        let h = &s.hist;
        let (p50_us, p99_us, max_us) = match h.is_empty() {
            true => (0, 0, 0),
            false => (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.max()),
        };
        let mut t = Tick {
            ok: s.ok,
            failed: s.failed,
            events: None,
            p50_us,
            p99_us,
            max_us,
            target: None,
        };
        for (i, &n) in s.events.iter().enumerate() {
            t.add_event(i, n);
        }
        t
    }

    /// Errors of the class with index `i` (`ErrorClass::index`) in this second.
    pub fn event(&self, i: usize) -> u64 {
        self.events.as_ref().map_or(0, |e| e[i])
    }

    /// Every class's errors in this second.
    pub fn events(&self) -> [u64; ErrorClass::COUNT] {
        self.events
            .as_deref()
            .copied()
            .unwrap_or([0; ErrorClass::COUNT])
    }

    /// Adds `o`'s counts (not its percentiles: a sum of seconds of several commands, for the
    /// throughput around a fault).
    pub fn add_counts(&mut self, o: &Tick) {
        self.ok += o.ok;
        self.failed += o.failed;
        for (i, n) in o.events().into_iter().enumerate() {
            self.add_event(i, n);
        }
    }

    pub fn add_event(&mut self, i: usize, n: u64) {
        if n > 0 {
            self.events.get_or_insert_with(Default::default)[i] += n;
        }
    }
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

/// A rate shape's latencies by band: the seconds whose target fell in each tenth of the shape's
/// peak rate, and each command's histogram over them (`bands[lane][band]`).
#[derive(Clone, Debug)]
pub struct RateBands {
    pub seconds: [u64; RateBands::COUNT],
    pub lanes: Vec<Vec<Histogram<u64>>>,
}

impl RateBands {
    pub const COUNT: usize = 10;

    pub fn new(lanes: usize) -> RateBands {
        RateBands {
            seconds: [0; RateBands::COUNT],
            lanes: (0..lanes)
                .map(|_| (0..RateBands::COUNT).map(|_| new_histogram()).collect())
                .collect(),
        }
    }

    /// The band of a second whose target is `share` of the peak (0..=1).
    pub fn band_of(share: f64) -> usize {
        ((share * RateBands::COUNT as f64).ceil() as usize).clamp(1, RateBands::COUNT) - 1
    }

    /// One second of the phase (its commands' rows) in `band`.
    pub fn add(&mut self, band: usize, rows: &[Option<Second>]) {
        self.seconds[band] += 1;
        for (lane, row) in self.lanes.iter_mut().zip(rows) {
            if let Some(s) = row {
                let _ = lane[band].add(&s.hist);
            }
        }
    }
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
        let mut recs = [a, b];
        let merged = merge_all(&recs, 2);
        let seconds = merge_timelines(&mut recs, 2);
        assert_eq!(merged[0].ok, 3);
        assert_eq!(seconds[0].len(), 2);
        assert_eq!(seconds[0][1].ok, 2);
        assert_eq!(seconds[1][0].events[ErrorClass::Oom.index()], 1);
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
            c.ops().next().unwrap().words[ErrorClass::Err.index()]
                .as_ref()
                .unwrap()
                .len(),
            WORDS_MAX
        );
        let s = summarize(&merged[0].hist);
        assert!((s.min - 0.1).abs() < 0.001);
        let folded = fold_tail(&seconds[0], Some(Duration::from_secs(1)));
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].ok, 3);
        assert_eq!(fold_tail(&seconds[0], None).len(), 2);
    }

    #[test]
    fn a_recorder_closing_its_seconds_holds_only_the_open_ones() {
        let mut r = Recorder::new(2, true);
        let mut closed = 0;
        for sec in 0..1000 {
            for _ in 0..10 {
                r.ok(0, sec, 100 + sec as u64, 90);
            }
            r.failed(1, sec, ErrorClass::Timeout);
            // The engine closes a second once the clock is past it; a reply may already be in
            // the next one.
            r.ok(0, sec + 1, 50, 50);
            let (n, rows) = r.close_second();
            assert_eq!(n, sec);
            let row = rows[0].as_ref().expect("second recorded");
            assert_eq!(row.ok, if sec == 0 { 10 } else { 11 });
            assert_eq!(rows[1].as_ref().map(|s| s.failed), Some(1));
            closed += 1;
            assert!(r.open_seconds() <= 2, "second {sec}: {}", r.open_seconds());
        }
        assert_eq!(closed, 1000);
        assert_eq!(r.ops().next().unwrap().ok, 11_000);
        // A late outcome (a second already closed) lands in the oldest open second.
        r.ok(0, 3, 7, 7);
        let (_, rows) = r.close_second();
        assert_eq!(rows[0].as_ref().map(|s| s.ok), Some(2));
        assert_eq!(r.open_seconds(), 0);
    }

    #[test]
    fn a_tick_keeps_counts_and_percentiles_without_the_histogram() {
        let mut s = Second::new();
        s.ok = 100;
        s.failed = 2;
        s.events[ErrorClass::Oom.index()] = 2;
        s.hist.record_n(100, 98).unwrap();
        s.hist.record_n(2000, 2).unwrap();
        let t = Tick::of(&s);
        assert_eq!((t.ok, t.failed), (100, 2));
        assert_eq!(t.event(ErrorClass::Oom.index()), 2);
        assert_eq!(t.event(ErrorClass::Moved.index()), 0);
        // The second's histogram keeps 2 digits: values within 1%.
        assert_eq!(t.p50_us, 100);
        assert!((1990..=2020).contains(&t.max_us), "{t:?}");
        assert!((1990..=2020).contains(&t.p99_us), "{t:?}");
        assert_eq!(Tick::of(&Second::new()), Tick::default());
    }
}
