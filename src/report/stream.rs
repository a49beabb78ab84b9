//! A measured phase's seconds on disk as they close, so a run killed at any point leaves its
//! timeline and interval logs up to the last second: each complete second is appended to the run's
//! timeline CSV (one row per command, in one write) and to each command's `.hlog`. Nothing is kept
//! in memory for it; the timeline CSV is still rewritten whole after each result
//! (`files::write_run_files`), the `.hlog`s are not.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::files::{self, WriteError};
use super::{RunMeta, hlog};
use crate::resp::ErrorClass;
use crate::runner::Progress;
use crate::schema::{self, TimelineRow};
use crate::stats::{Second, Tick, kept_seconds, ms};
use crate::workload::shape::Rate;

/// Appends `rows` to the CSV file at `path` in one `write_all` on an O_APPEND file, each projected
/// onto the header the file already has (a column the row lacks is left empty, a field the file has
/// no column for is dropped). A file that does not exist yet (or is empty) gets `header_if_new`
/// first, and the rows projected onto it.
pub fn append_projected<R: Serialize>(
    path: &Path,
    header_if_new: &csv::StringRecord,
    rows: &[R],
) -> Result<(), WriteError> {
    let werr = files::werr(path);
    let res = (|| -> std::io::Result<()> {
        let existing = read_header(path)?;
        let (header, mut bytes) = match existing {
            Some(h) => (h, Vec::new()),
            None => (
                header_if_new.clone(),
                files::csv_bytes(Some(header_if_new), [(); 0])?,
            ),
        };
        let projected: Vec<Vec<String>> = rows
            .iter()
            .map(|r| project(&header, r))
            .collect::<std::io::Result<_>>()?;
        bytes.extend(files::csv_bytes(None, projected)?);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(&bytes)
    })();
    res.map_err(werr)
}

/// The first record of the CSV at `path` (None: no file, or an empty one).
fn read_header(path: &Path) -> std::io::Result<Option<csv::StringRecord>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut line = String::new();
    BufReader::new(f).read_line(&mut line)?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let first = r
        .records()
        .next()
        .transpose()
        .map_err(std::io::Error::other)?;
    Ok(first.filter(|h| !h.is_empty()))
}

/// `row`'s cells in the order of `header`.
fn project<R: Serialize>(header: &csv::StringRecord, row: &R) -> std::io::Result<Vec<String>> {
    let names = schema::header_of(row).map_err(std::io::Error::other)?;
    let bytes = files::csv_bytes(None, [row])?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    let values = r
        .records()
        .next()
        .transpose()
        .map_err(std::io::Error::other)?;
    let values = values.unwrap_or_default();
    let cell = |name: &str| {
        let at = names.iter().position(|n| n == name)?;
        values.get(at).map(str::to_string)
    };
    Ok(header.iter().map(|h| cell(h).unwrap_or_default()).collect())
}

/// Where a phase's seconds go: the run's timeline CSV and one `.hlog` per command.
pub struct Destination<'a> {
    /// The results folder (`--out`).
    pub dir: &'a Path,
    pub meta: &'a RunMeta,
    pub target: &'a str,
    /// The phase's commands (its lanes' names), one results row each.
    pub tests: &'a [String],
    pub repeat: u32,
    /// A timed phase's length (its last second takes the replies after the end).
    pub duration: Option<Duration>,
    /// The open loop's rate, and each command's share of it (by weight): each second's row says
    /// its target.
    pub rate: Option<(&'a Rate, Vec<f64>)>,
}

/// One command's `.hlog` and its timeline rows' identity.
struct Lane {
    test: String,
    hlog: PathBuf,
    comment: String,
    /// A timed phase's last second, with what came after the end (written when the phase ends).
    held: Option<Second>,
    /// Its share of the open loop's schedule (0: a follow-up, not scheduled).
    share: f64,
}

/// A `Progress` that forwards to the console's and writes each complete second to disk.
pub struct SecondsWriter<'p> {
    inner: &'p mut dyn Progress,
    out: Option<Out>,
    /// The first write error (the rest of the phase then writes nothing more).
    error: Option<WriteError>,
}

struct Out {
    timeline: PathBuf,
    target: String,
    repeat: u32,
    lanes: Vec<Lane>,
    /// A timed phase's seconds (its last one holds the tail), and its length in seconds.
    keep: usize,
    duration: Option<f64>,
    rate: Option<Rate>,
}

impl<'p> SecondsWriter<'p> {
    /// Forwards to `inner`; writes under `to` (None: nothing is written, as without `--out`).
    pub fn new(inner: &'p mut dyn Progress, to: Option<Destination<'_>>) -> SecondsWriter<'p> {
        let out = to.map(|d| Out {
            timeline: d.dir.join(schema::timeline_name(&d.meta.run_id)),
            target: d.target.to_string(),
            repeat: d.repeat,
            lanes: d
                .tests
                .iter()
                .enumerate()
                .map(|(i, test)| {
                    let stem = files::hdr_stem_of(&d.meta.run_id, d.target, test, d.repeat);
                    Lane {
                        test: test.clone(),
                        hlog: d.dir.join("hdr").join(format!("{stem}.hlog")),
                        comment: files::hlog_comment(d.meta, d.target, test, d.repeat),
                        held: None,
                        share: d
                            .rate
                            .as_ref()
                            .and_then(|(_, s)| s.get(i).copied())
                            .unwrap_or(1.0),
                    }
                })
                .collect(),
            keep: kept_seconds(d.duration),
            duration: d.duration.map(|t| t.as_secs_f64()),
            rate: d.rate.map(|(r, _)| r.clone()),
        });
        SecondsWriter {
            inner,
            out,
            error: None,
        }
    }

    /// Writes the held last second of a timed phase; returns the first write error, if any.
    pub fn finish(mut self) -> Option<WriteError> {
        if let Some(out) = self.out.as_mut() {
            let held: Vec<Option<Second>> = out.lanes.iter_mut().map(|l| l.held.take()).collect();
            if held.iter().any(Option::is_some) {
                let res = out.write(out.keep, &held);
                self.note(res);
            }
        }
        self.error
    }

    fn note(&mut self, res: Result<(), WriteError>) {
        if let Err(e) = res {
            self.error.get_or_insert(e);
            // One failure (a full disk, a removed folder) ends the streaming, not the phase.
            self.out = None;
        }
    }
}

impl Out {
    /// Second `sec` (1-based) of every lane: its timeline rows, then its `.hlog` lines.
    fn write(&self, sec: usize, rows: &[Option<Second>]) -> Result<(), WriteError> {
        let span = self
            .duration
            .map_or(1.0, |d| (d - (sec - 1) as f64).clamp(0.0, 1.0));
        let lines: Vec<TimelineRow> = self
            .lanes
            .iter()
            .zip(rows)
            .filter_map(|(l, r)| r.as_ref().map(|s| self.row(l, sec, span, s)))
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        let plain = schema::header_of(&TimelineRow::default()).map_err(|e| WriteError {
            path: self.timeline.clone(),
            source: std::io::Error::other(e),
        })?;
        append_projected(&self.timeline, &plain, &lines)?;
        let at = Duration::from_secs(sec as u64 - 1);
        let length = Duration::from_secs_f64(span);
        for (l, r) in self.lanes.iter().zip(rows) {
            if let Some(s) = r {
                append(&l.hlog, &hlog::log_lines(&[(at, length, &s.hist)]))?;
            }
        }
        Ok(())
    }

    /// A timeline row with every error class's cell (the file's header picks the ones it has).
    fn row(&self, l: &Lane, sec: usize, span: f64, s: &Second) -> TimelineRow {
        let t = Tick::of(s);
        let mut row = TimelineRow {
            elapsed_s: sec.to_string(),
            target: self.target.clone(),
            test: l.test.clone(),
            ok: t.ok.to_string(),
            errors: t.failed.to_string(),
            p50_ms: files::f3(ms(t.p50_us)),
            p99_ms: files::f3(ms(t.p99_us)),
            max_ms: files::f3(ms(t.max_us)),
            span_s: files::f3(span),
            repeat: self.repeat.to_string(),
            target_rps: self.rate.as_ref().filter(|_| l.share > 0.0).map(|r| {
                let from = (sec - 1) as f64;
                format!("{:.2}", l.share * r.mean(from, from + span.max(1e-3)))
            }),
            ..TimelineRow::default()
        };
        for (k, cell) in row.classes_mut().into_iter().enumerate() {
            *cell = Some(t.event(ErrorClass::ALL[k].index()).to_string());
        }
        row
    }

    /// Each lane's `.hlog` begins: its header lines, from the phase's wall-clock start.
    fn begin(&self, at: SystemTime) -> Result<(), WriteError> {
        for l in &self.lanes {
            let werr = files::werr(&l.hlog);
            let res = (|| {
                if let Some(dir) = l.hlog.parent() {
                    fs::create_dir_all(dir)?;
                }
                fs::write(&l.hlog, hlog::log_header(at, &l.comment))
            })();
            res.map_err(werr)?;
        }
        Ok(())
    }
}

/// Appends `bytes` to `path` in one write.
fn append(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(files::werr(path))?;
    f.write_all(bytes).map_err(files::werr(path))
}

impl Progress for SecondsWriter<'_> {
    fn started(&mut self, at: SystemTime) {
        self.inner.started(at);
        if let Some(out) = &self.out {
            let res = out.begin(at);
            self.note(res);
        }
    }

    fn tick(&mut self, completed: u64, total: Option<u64>, elapsed: Duration) {
        self.inner.tick(completed, total, elapsed);
    }

    fn second(&mut self, sec: usize, rows: &[Option<Second>]) {
        self.inner.second(sec, rows);
        self.write(sec, rows);
    }

    fn partial(&mut self, sec: usize, rows: &[Option<Second>]) {
        self.inner.partial(sec, rows);
        self.write(sec, rows);
    }
}

impl SecondsWriter<'_> {
    /// Second `sec` on disk, or held when it is a timed phase's last (or after it).
    fn write(&mut self, sec: usize, rows: &[Option<Second>]) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        if sec >= out.keep {
            // A timed phase's last second, and the replies after its end: written at the end.
            for (l, r) in out.lanes.iter_mut().zip(rows) {
                match (&mut l.held, r) {
                    (Some(h), Some(r)) => h.merge(r),
                    (None, Some(r)) => l.held = Some(r.clone()),
                    _ => {}
                }
            }
            return;
        }
        let res = out.write(sec, rows);
        self.note(res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        a: &'static str,
        b: &'static str,
        c: &'static str,
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbench-stream-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rows_are_projected_onto_the_header_the_file_has() {
        let d = dir("project");
        let path = d.join("t.csv");
        let header = csv::StringRecord::from(vec!["a", "b", "c"]);
        let row = Row {
            a: "1",
            b: "x,y",
            c: "3",
        };
        append_projected(&path, &header, &[&row]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b,c\n1,\"x,y\",3\n");
        // A file with other columns: its order, empty where the row has nothing, extras dropped.
        fs::write(&path, "c,z,a\n").unwrap();
        append_projected(&path, &header, &[&row, &row]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "c,z,a\n3,,1\n3,,1\n");
        let _ = fs::remove_dir_all(&d);
    }

    struct Nothing;
    impl Progress for Nothing {
        fn tick(&mut self, _: u64, _: Option<u64>, _: Duration) {}
        fn second(&mut self, _: usize, _: &[Option<Second>]) {}
    }

    fn second(ok: u64, us: u64) -> Option<Second> {
        let mut s = Second::new();
        s.ok = ok;
        s.hist.record_n(us, ok).unwrap();
        Some(s)
    }

    #[test]
    fn each_second_is_on_disk_as_it_closes_and_the_tail_folds_at_the_end() {
        let d = dir("seconds");
        let meta = RunMeta {
            timestamp: String::new(),
            run_id: "R1".into(),
            version: "0.1.0".into(),
            git_rev: String::new(),
            profile: String::new(),
            environment: Vec::new(),
        };
        let tests = ["SET".to_string(), "GET".to_string()];
        let mut inner = Nothing;
        let mut w = SecondsWriter::new(
            &mut inner,
            Some(Destination {
                dir: &d,
                meta: &meta,
                target: "t",
                tests: &tests,
                repeat: 1,
                duration: Some(Duration::from_millis(2500)),
                rate: None,
            }),
        );
        w.started(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        w.second(1, &[second(10, 100), None]);
        w.second(2, &[second(20, 200), second(5, 50)]);
        let csv = fs::read_to_string(d.join("timeline-R1.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(
            csv.starts_with("elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s,repeat\n")
        );
        assert!(
            csv.contains("\n1,t,SET,10,0,0.100,0.100,0.100,1.000,1\n"),
            "{csv}"
        );
        // Second 3 is the last of 2.5 s: held with the tail (second 4) until the end.
        w.second(3, &[second(1, 100), None]);
        w.second(4, &[second(2, 100), None]);
        assert_eq!(fs::read_to_string(d.join("timeline-R1.csv")).unwrap(), csv);
        assert!(w.finish().is_none());
        let csv = fs::read_to_string(d.join("timeline-R1.csv")).unwrap();
        assert!(
            csv.ends_with("3,t,SET,3,0,0.100,0.100,0.100,0.500,1\n"),
            "{csv}"
        );
        let log = fs::read(d.join("hdr/R1-t-SET-r1.hlog")).unwrap();
        let iv = hlog::read_intervals(&log).unwrap();
        let counts: Vec<u64> = iv.iter().map(|i| i.hist.len()).collect();
        assert_eq!(counts, [10, 20, 3]);
        assert!((iv[2].start_s - 2.0).abs() < 1e-6 && (iv[2].length_s - 0.5).abs() < 1e-6);
        let get = hlog::read_intervals(&fs::read(d.join("hdr/R1-t-GET-r1.hlog")).unwrap()).unwrap();
        assert_eq!(get.len(), 1);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn without_a_folder_nothing_is_written_and_the_console_still_hears() {
        #[derive(Default)]
        struct Count(usize);
        impl Progress for Count {
            fn tick(&mut self, _: u64, _: Option<u64>, _: Duration) {}
            fn second(&mut self, _: usize, _: &[Option<Second>]) {
                self.0 += 1;
            }
        }
        let mut inner = Count::default();
        let mut w = SecondsWriter::new(&mut inner, None);
        w.second(1, &[second(1, 1)]);
        assert!(w.finish().is_none());
        assert_eq!(inner.0, 1);
    }
}
