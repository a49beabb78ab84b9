//! The replay's seconds: each closed as the clock leaves it, handed to the session's sink (live
//! lines, the timeline CSV, the `.hlog`s) and kept only as a `Tick`, so a long replay's memory does
//! not grow with its histograms.

use std::time::Instant;

use super::Seconds;
use super::driver::Shared;
use crate::stats::{Second, Tick};

/// The replay's seconds, closed as the clock passes them: handed to the sink, kept as `Tick`s.
pub(super) struct Clock<'k> {
    sink: &'k mut dyn Seconds,
    /// Seconds closed so far (the next to close is this one).
    pub closed: usize,
    pub timeline: Vec<Vec<Tick>>,
}

impl<'k> Clock<'k> {
    pub fn new(names: usize, sink: &'k mut dyn Seconds) -> Clock<'k> {
        Clock {
            sink,
            closed: 0,
            timeline: vec![Vec::new(); names],
        }
    }

    /// Closes every second before the one `now` is in (outcomes are recorded at the instant they
    /// happen, so none lands in a second once the clock has left it).
    pub fn close_until(&mut self, sh: &Shared<'_>, now: Instant) {
        while self.closed < sh.sec(now) {
            let (sec, rows) = sh.rec.borrow_mut().close_second();
            self.keep(&rows);
            self.sink.second(sec, &rows);
            self.closed += 1;
        }
    }

    /// The replay ended: the seconds before now closed, and the one it ended in handed over.
    pub fn finish(&mut self, sh: &Shared<'_>) {
        self.close_until(sh, Instant::now());
        let (sec, rows) = sh.rec.borrow_mut().close_second();
        if rows.iter().any(Option::is_some) {
            self.keep(&rows);
            self.sink.partial(sec, &rows);
        }
    }

    fn keep(&mut self, rows: &[Option<Second>]) {
        for (t, r) in self.timeline.iter_mut().zip(rows) {
            t.push(r.as_ref().map(Tick::of).unwrap_or_default());
        }
    }
}
