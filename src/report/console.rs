//! Console output: redis-benchmark's `-q` line and CSV (byte-compatible), the default per-test block,
//! the per-second live view, and the progress bar (stderr, only on a terminal).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::TestResult;
use crate::config::{Mode, OutputMode, Plan};
use crate::observe::bound::Bound;
use crate::runner::Progress;
use crate::stats::{Second, ms};
use crate::workload::shape::Rate;

/// A run's console text, in the output mode the plan chose: results on stdout, and in the one-line
/// modes the warnings a block would have carried on stderr.
pub struct Printer {
    mode: OutputMode,
    /// `-q` and more than one pass: each pass is headed with its target and number.
    pass_headers: bool,
    /// `-l`: passes are numbered on, not out of `repeats`.
    looping: bool,
    repeats: u32,
    precision: usize,
    latency_uncorrected: bool,
    /// The results folder and long CSV the closing line names (None: no run files written).
    saved_in: Option<(PathBuf, &'static str)>,
}

impl Printer {
    pub fn new(plan: &Plan) -> Printer {
        let o = &plan.output;
        Printer {
            mode: o.mode,
            pass_headers: o.pass_headers && (plan.targets.len() > 1 || plan.repeat > 1),
            looping: plan.mode == Mode::Loop,
            repeats: plan.repeat,
            precision: o.precision,
            latency_uncorrected: o.latency_uncorrected,
            saved_in: o
                .out_dir
                .clone()
                .filter(|_| o.run_files)
                .map(|d| (d, o.long_csv)),
        }
    }

    /// The default blocks: live lines, a search's steps and the closing table are shown too.
    pub fn verbose(&self) -> bool {
        self.mode == OutputMode::Blocks
    }

    /// The start of the run's stdout: the CSV header.
    pub fn header(&self, out: &mut dyn Write) {
        if self.mode == OutputMode::Csv {
            let _ = writeln!(out, "{CSV_HEADER}");
        }
    }

    /// `[target, repeat 2/3]` before a pass of `-q` output, when there is more than one: on stdout
    /// before `-q` lines, on stderr under `--csv`, so stdout stays one CSV (one header, then rows)
    /// that a CSV reader takes whole.
    pub fn pass_header(&self, out: &mut dyn Write, err: &mut dyn Write, target: &str, repeat: u32) {
        if !self.pass_headers {
            return;
        }
        let line = match (self.looping, self.repeats) {
            (true, _) => format!("[{target}, pass {repeat}]"),
            (_, 1) => format!("[{target}]"),
            (_, n) => format!("[{target}, repeat {repeat}/{n}]"),
        };
        let _ = if self.mode == OutputMode::Csv {
            writeln!(err, "{line}")
        } else {
            writeln!(out, "{line}")
        };
    }

    /// A result: its block, `-q` line or CSV row.
    pub fn row(&self, out: &mut dyn Write, err: &mut dyn Write, r: &TestResult) {
        let line = match self.mode {
            OutputMode::Csv => csv_row(r),
            OutputMode::Quiet => quiet_line(r),
            OutputMode::Blocks => block(r, self.precision),
        };
        let _ = writeln!(out, "{line}");
        // The block says both itself; the one-line modes keep stdout to their lines.
        if self.verbose() {
            return;
        }
        if r.fell_behind() {
            let _ = writeln!(
                err,
                "rbench: warning: {}: achieved {:.2} of {:.2} rps (max lag {:.1} ms): {}",
                r.test,
                r.achieved_rps.unwrap_or(0.0),
                r.target_rps.unwrap_or(0.0),
                r.max_lag_ms.unwrap_or(0.0),
                behind_cause(r)
            );
        } else if let Some(w) = r.observed.client_bound_warning(&r.test) {
            let _ = writeln!(err, "rbench: warning: {w}");
        }
        if self.latency_uncorrected
            && let Some(u) = &r.latency_uncorrected
        {
            let _ = writeln!(
                err,
                "{}: uncorrected (from actual send) p50={:.3} p99={:.3} max={:.3} msec",
                r.test, u.p50, u.p99, u.max
            );
        }
    }

    /// A mix's commands together, ahead of their blocks (`elapsed`: the phase's seconds).
    pub fn mix_total(&self, out: &mut dyn Write, target: &str, rows: &[TestResult], elapsed: f64) {
        if rows.len() < 2 || !self.verbose() {
            return;
        }
        let elapsed = elapsed.max(1e-9);
        let ok: u64 = rows.iter().map(|r| r.ok).sum();
        let failed: u64 = rows.iter().map(|r| r.errors).sum();
        let _ = writeln!(
            out,
            "====== mix total on {target} ======\n  {} requests in {elapsed:.2} seconds: {:.2} requests per second, {failed} failed\n",
            ok + failed,
            ok as f64 / elapsed,
        );
    }

    /// Text only the default console shows (a search's progress).
    pub fn note(&self, out: &mut dyn Write, text: &str) {
        if self.verbose() {
            let _ = writeln!(out, "{text}");
        }
    }

    /// The close of the run: the table of every result, and where the files went.
    pub fn summary(&self, out: &mut dyn Write, results: &[TestResult], run_id: &str) {
        if results.is_empty() || !self.verbose() {
            return;
        }
        let _ = writeln!(out, "{}", super::table::markdown(results));
        if let Some((dir, long_csv)) = &self.saved_in {
            let _ = writeln!(
                out,
                "results: {long_csv}, timeline-{run_id}.csv, table-{run_id}.md, report-{run_id}.html in {}",
                dir.display(),
            );
        }
    }
}

/// `SET: 22036.14 requests per second, p50=0.311 msec`; a searched test says what it found.
pub fn quiet_line(r: &TestResult) -> String {
    if let Some(s) = &r.slo {
        return format!(
            "{}: {} (p50={:.3} p99={:.3} msec at {:.2} requests per second)",
            r.test,
            s.verdict(&crate::slo::display_label(&s.objective)),
            r.latency.p50,
            r.latency.p99,
            r.rps
        );
    }
    format!(
        "{}: {:.2} requests per second, p50={:.3} msec",
        r.test, r.rps, r.latency.p50
    )
}

pub const CSV_HEADER: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

/// One row of redis-benchmark's `--csv` output.
pub fn csv_row(r: &TestResult) -> String {
    let l = &r.latency;
    format!(
        "\"{}\",\"{:.2}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\"",
        r.test.replace('"', "\"\""),
        r.rps,
        l.avg,
        l.min,
        l.p50,
        l.p95,
        l.p99,
        l.max
    )
}

/// The default block for one test; latencies with `precision` decimals (`--precision`).
pub fn block(r: &TestResult, precision: usize) -> String {
    let mut s = header(r);
    rate(r, &mut s);
    latency(r, precision, &mut s);
    s.push_str(&r.observed.block_lines(r.latency.p50, precision));
    errors(r, &mut s);
    s.push_str(&super::experiment::console(r));
    s
}

/// The title and the run's shape: requests, clients, payload, deployment.
fn header(r: &TestResult) -> String {
    let mut s = String::new();
    let title = if r.mix {
        format!("{} (mix)", r.test)
    } else {
        r.test.clone()
    };
    s.push_str(&format!("====== {title} on {} ======\n", r.target));
    s.push_str(&format!(
        "  {} requests completed in {:.2} seconds{}\n",
        r.requests,
        r.duration_s,
        if r.interrupted { " (interrupted)" } else { "" }
    ));
    let conns = if r.connections != r.clients {
        format!(" ({} connections)", r.connections)
    } else {
        String::new()
    };
    s.push_str(&format!(
        "  {} parallel clients{conns}, pipeline {}, {} threads\n",
        r.clients, r.pipeline, r.threads
    ));
    s.push_str(&format!(
        "  {} bytes payload, keyspace {} ({})\n",
        r.data_size, r.keyspace, r.key_dist
    ));
    s.push_str(&format!(
        "  deployment: {}{}, persistence: {}\n",
        r.deployment,
        if r.masters > 1 {
            format!(" ({} masters)", r.masters)
        } else {
            String::new()
        },
        r.persistence
    ));
    s
}

/// Throughput, and the target rate of an open-loop run.
fn rate(r: &TestResult, s: &mut String) {
    s.push_str(&format!(
        "  throughput summary: {:.2} requests per second\n",
        r.rps
    ));
    if let (Some(t), Some(a)) = (r.target_rps, r.achieved_rps) {
        let mean = if r.rate_shape.is_some() { "mean " } else { "" };
        s.push_str(&format!(
            "  target rate: {mean}{t:.2} rps, achieved {a:.2} rps ({:.1}%)\n",
            100.0 * a / t
        ));
        if let Some(shape) = &r.rate_shape {
            s.push_str(&super::shape::lines(shape));
        }
        if r.fell_behind() {
            s.push_str(&format!(
                "  WARNING: behind the schedule (max lag {:.1} ms): {}\n",
                r.max_lag_ms.unwrap_or(0.0),
                behind_cause(r)
            ));
            return;
        }
    }
    if let Some(w) = r.observed.client_bound_warning(&r.test) {
        s.push_str(&format!("  WARNING: {w}\n"));
    }
}

/// Why an open-loop row fell behind its schedule, and what to do: the cause the row's
/// observations name (see `observe::bound`), not a guess.
fn behind_cause(r: &TestResult) -> String {
    let o = &r.observed;
    match o.bound {
        Bound::Client => format!(
            "the client fell behind ({}); add --threads, use fewer clients per thread or -P, or split the load with --shard",
            o.bound_why
        ),
        Bound::Server => format!("the server fell behind ({})", o.bound_why),
        Bound::Neither => format!("{}; add --clients or -P", o.bound_why),
        Bound::Unknown => {
            "the schedule slipped (rbench's and the server's load were not observed); add --clients or -P if the windows were full".into()
        }
    }
}

fn latency(r: &TestResult, precision: usize, s: &mut String) {
    let l = &r.latency;
    s.push_str("  latency summary (msec):\n");
    s.push_str("          avg       min       p50       p95       p99     p99.9       max\n");
    let p = precision;
    s.push_str("   ");
    for v in [l.avg, l.min, l.p50, l.p95, l.p99, l.p999, l.max] {
        s.push_str(&format!(" {v:>9.p$}"));
    }
    s.push('\n');
    if let Some(u) = &r.latency_uncorrected {
        s.push_str(&format!(
            "  uncorrected (from actual send): p50 {:.p$}  p99 {:.p$}  max {:.p$} msec\n",
            u.p50, u.p99, u.max
        ));
    }
    if let Some(c) = &r.client_lag {
        s.push_str(&format!(
            "  client delay (due time to send, window free): p50 {:.p$}  p99 {:.p$}  max {:.p$} msec\n",
            c.p50, c.p99, c.max
        ));
    }
}

/// Failed requests by class with the server's words, and requests left unanswered.
fn errors(r: &TestResult, s: &mut String) {
    let classes = r.error_classes();
    if r.errors == 0 && classes.is_empty() {
        s.push_str("  errors: none\n");
    } else {
        let list: Vec<String> = classes
            .iter()
            .map(|(c, n)| format!("{}={n}", c.name()))
            .collect();
        s.push_str(&format!(
            "  errors: {} failed requests; events by class: {}\n",
            r.errors,
            list.join(" ")
        ));
        for (c, _) in &classes {
            if let Some(w) = r.words_of(*c) {
                s.push_str(&format!("    {}: {w}\n", c.name()));
            }
        }
    }
    if r.unanswered > 0 {
        s.push_str(&format!(
            "  {} requests were in flight when the run stopped (not counted)\n",
            r.unanswered
        ));
    }
}

/// `====== SET: the highest rate with p99 ≤ 1 ms ======` and the search's settings.
pub fn slo_header(label: &str, slo: &crate::slo::Slo) -> String {
    format!(
        "====== {label}: the highest rate with {} ======\n  open-loop steps of {} until within {}%; a step misses when over an objective, short of its rate, or failing requests\n  {:>12} {:>12} {:>9} {:>9}  result",
        slo.display(),
        span(slo.step),
        slo.resolution * 100.0,
        "target rps",
        "achieved",
        "p50 ms",
        "p99 ms",
    )
}

pub fn slo_ceiling(rate: f64, slo: &crate::slo::Slo) -> String {
    format!(
        "  {:>12} {rate:>12.0} {:>9} {:>9}  closed-loop ceiling ({})",
        "-",
        "",
        "",
        span(slo.probe())
    )
}

/// `5 s`, `1.5 s`, `500 ms`.
fn span(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// One step of the ladder: rate, achieved, p50, p99, and pass or why it missed; for a rate run
/// again (`runs` > 1), how often it has held so far.
pub fn slo_step(s: &crate::slo::Step, (held, runs): (u32, u32)) -> String {
    let mut verdict = if s.pass {
        "pass".to_string()
    } else {
        format!("miss: {}", s.why)
    };
    if runs > 1 {
        verdict.push_str(&format!(" (confirming: held {held}/{runs})"));
    }
    format!(
        "  {:>12.0} {:>12.1} {:>9.3} {:>9.3}  {verdict}",
        s.rate, s.achieved, s.p50_ms, s.p99_ms
    )
}

pub fn slo_rerun(label: &str, rate: f64, repeat: u32) -> String {
    format!("====== {label}: repeat {repeat} of the search's final rate, {rate:.0} rps ======")
}

/// Progress bar on stderr plus (in the default mode) one line per second on stdout.
pub struct ConsoleProgress<'a> {
    bar: Option<ProgressBar>,
    live: Option<&'a mut dyn Write>,
    label: String,
    /// The phase's commands, as the live lines name them.
    names: Vec<String>,
    requests: Option<u64>,
    duration: Option<Duration>,
    /// A rate shape: each live line says the second's target and what the phase achieved.
    shape: Option<Rate>,
}

/// Bar positions are thousandths of the run, whichever bound (requests or time) ends it first.
const BAR_LEN: u64 = 1000;

impl<'a> ConsoleProgress<'a> {
    pub fn new(
        label: String,
        names: Vec<String>,
        requests: Option<u64>,
        duration: Option<Duration>,
        live: Option<&'a mut dyn Write>,
    ) -> Self {
        let bounded = requests.is_some() || duration.is_some();
        let bar = std::io::stderr().is_terminal().then(|| {
            let (len, template) = if bounded {
                (
                    Some(BAR_LEN),
                    "{prefix} [{elapsed_precise}] {wide_bar} {msg}",
                )
            } else {
                (None, "{prefix} [{elapsed_precise}] {spinner} {msg}")
            };
            let b = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.set_prefix(label.clone());
            b
        });
        ConsoleProgress {
            bar,
            live,
            label,
            names,
            requests,
            duration,
            shape: None,
        }
    }

    /// Live lines say each second's target and achieved rate when `rate` is a shape.
    pub fn with_rate(mut self, rate: Option<&Rate>) -> Self {
        self.shape = rate.filter(|r| r.shape().is_some()).cloned();
        self
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// The bar's position (of `BAR_LEN`) and its message: requests against `-n`, seconds against
/// `--duration`, and the rate so far rounded as the `-q` lines round it.
pub fn bar_state(
    done: u64,
    requests: Option<u64>,
    duration: Option<Duration>,
    elapsed: Duration,
) -> (u64, String) {
    let by_requests = requests.map(|n| done as f64 / n.max(1) as f64);
    let by_time = duration.map(|d| elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9));
    let frac = by_requests.into_iter().chain(by_time).fold(0.0, f64::max);
    let pos = (frac.clamp(0.0, 1.0) * BAR_LEN as f64) as u64;
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let count = match requests {
        Some(n) => format!("{done}/{n} requests"),
        None => format!("{done} requests"),
    };
    let msg = match duration {
        Some(d) => format!(
            "{}s/{}s, {count}, {rate:.2} rps",
            elapsed.as_secs(),
            d.as_secs_f64().ceil() as u64
        ),
        None => format!("{count}, {rate:.2} rps"),
    };
    (pos, msg)
}

impl Progress for ConsoleProgress<'_> {
    fn tick(&mut self, completed: u64, _total: Option<u64>, elapsed: Duration) {
        if let Some(b) = &self.bar {
            let (pos, msg) = bar_state(completed, self.requests, self.duration, elapsed);
            b.set_position(pos);
            b.set_message(msg);
        }
    }

    fn second(&mut self, sec: usize, rows: &[Option<Second>]) {
        let Some(out) = self.live.as_deref_mut() else {
            return;
        };
        let mut line = format!("[{sec:>4}s]");
        if self.names.len() > 1 {
            line.push(' ');
            line.push_str(&self.label);
        }
        for (name, row) in self.names.iter().zip(rows) {
            let (ok, failed, p50, p99) = match row {
                Some(s) => (
                    s.ok,
                    s.failed,
                    ms(s.hist.value_at_quantile(0.5)),
                    ms(s.hist.value_at_quantile(0.99)),
                ),
                None => (0, 0, 0.0, 0.0),
            };
            line.push_str(&format!("  {name}: {ok} ok/s p50 {p50:.3} p99 {p99:.3} ms"));
            if failed > 0 {
                line.push_str(&format!(" {failed} err/s"));
            }
        }
        if let Some(rate) = &self.shape {
            let from = sec.saturating_sub(1) as f64;
            let done: u64 = rows.iter().flatten().map(|s| s.ok + s.failed).sum();
            let target = rate.mean(from, from + 1.0);
            line.push_str(&format!(
                "  | target {target:.0} rps, achieved {done} ({:.1}%)",
                100.0 * done as f64 / target.max(1e-9)
            ));
        }
        match &self.bar {
            Some(b) => b.suspend(|| {
                let _ = writeln!(out, "{line}");
            }),
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    /// A SET measured on `local`: 1000 requests in half a second.
    fn set_row() -> TestResult {
        TestResult {
            requests: 1000,
            duration_s: 0.5,
            rps: 2000.0,
            ok: 1000,
            latency: Summary {
                avg: 0.25,
                min: 0.1,
                p50: 0.2,
                p95: 0.4,
                p99: 0.5,
                p999: 0.9,
                max: 1.2,
            },
            ..TestResult::blank("local", "SET")
        }
    }

    /// An open-loop row that managed 800 of its 1000 rps.
    fn behind_row() -> TestResult {
        TestResult {
            target_rps: Some(1000.0),
            achieved_rps: Some(800.0),
            max_lag_ms: Some(150.0),
            latency_uncorrected: Some(Summary {
                p50: 0.3,
                p99: 0.6,
                max: 2.0,
                ..Summary::default()
            }),
            ..set_row()
        }
    }

    fn printer(mode: OutputMode) -> Printer {
        Printer {
            mode,
            pass_headers: false,
            looping: false,
            repeats: 1,
            precision: 3,
            latency_uncorrected: false,
            saved_in: None,
        }
    }

    /// What `f` prints to (stdout, stderr).
    fn printed(f: impl FnOnce(&mut dyn Write, &mut dyn Write)) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        f(&mut out, &mut err);
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (text(out), text(err))
    }

    fn plan(args: &[&str]) -> Plan {
        use clap::Parser;
        let argv = std::iter::once("rbench").chain(args.iter().copied());
        crate::config::plan(&crate::cli::Cli::parse_from(argv), &|_| None).unwrap()
    }

    #[test]
    fn a_row_prints_as_its_mode_says() {
        let r = set_row();
        let (out, err) = printed(|o, e| printer(OutputMode::Blocks).row(o, e, &r));
        assert_eq!(
            out,
            "====== SET on local ======\n\
             \x20 1000 requests completed in 0.50 seconds\n\
             \x20 50 parallel clients, pipeline 1, 1 threads\n\
             \x20 3 bytes payload, keyspace 1 (uniform)\n\
             \x20 deployment: standalone, persistence: none\n\
             \x20 throughput summary: 2000.00 requests per second\n\
             \x20 latency summary (msec):\n\
             \x20         avg       min       p50       p95       p99     p99.9       max\n\
             \x20       0.250     0.100     0.200     0.400     0.500     0.900     1.200\n\
             \x20 errors: none\n\n"
        );
        assert_eq!(err, "");
        let (out, err) = printed(|o, e| printer(OutputMode::Quiet).row(o, e, &r));
        assert_eq!(out, "SET: 2000.00 requests per second, p50=0.200 msec\n");
        assert_eq!(err, "");
        let (out, err) = printed(|o, e| printer(OutputMode::Csv).row(o, e, &r));
        assert_eq!(
            out,
            "\"SET\",\"2000.00\",\"0.250\",\"0.100\",\"0.200\",\"0.400\",\"0.500\",\"1.200\"\n"
        );
        assert_eq!(err, "");
        // --precision widens the block's latencies only.
        let wide = Printer {
            precision: 1,
            ..printer(OutputMode::Blocks)
        };
        let (out, _) = printed(|o, e| wide.row(o, e, &r));
        assert!(out.contains("\n          0.2       0.1       0.2"), "{out}");
    }

    #[test]
    fn falling_behind_goes_to_stderr_only_in_the_one_line_modes() {
        let mut r = behind_row();
        r.observed.bound = Bound::Client;
        r.observed.bound_why = "its busiest thread 97% busy".into();
        let warning = "rbench: warning: SET: achieved 800.00 of 1000.00 rps (max lag 150.0 ms): the client fell behind (its busiest thread 97% busy); add --threads, use fewer clients per thread or -P, or split the load with --shard\n";
        for mode in [OutputMode::Quiet, OutputMode::Csv] {
            let (out, err) = printed(|o, e| printer(mode).row(o, e, &r));
            assert_eq!(err, warning, "{mode:?}");
            assert!(!out.contains("behind"), "{mode:?}: {out}");
        }
        // The block carries it, and stderr stays quiet.
        let (out, err) = printed(|o, e| printer(OutputMode::Blocks).row(o, e, &r));
        assert_eq!(err, "");
        assert!(
            out.contains("  target rate: 1000.00 rps, achieved 800.00 rps (80.0%)\n  WARNING: behind the schedule (max lag 150.0 ms): the client fell behind (its busiest thread 97% busy); add --threads"),
            "{out}"
        );
        // A schedule missed while the server was out names the server, and gives no client advice.
        r.observed.bound = Bound::Server;
        r.observed.bound_why =
            "requests waited up to 150.0 ms on the server: an outage or a stall, not rbench".into();
        let (_, err) = printed(|o, e| printer(OutputMode::Quiet).row(o, e, &r));
        assert_eq!(
            err,
            "rbench: warning: SET: achieved 800.00 of 1000.00 rps (max lag 150.0 ms): the server fell behind (requests waited up to 150.0 ms on the server: an outage or a stall, not rbench)\n"
        );
        // A rate kept is no warning.
        let kept = TestResult {
            achieved_rps: Some(990.0),
            max_lag_ms: Some(5.0),
            ..behind_row()
        };
        assert_eq!(
            printed(|o, e| printer(OutputMode::Quiet).row(o, e, &kept)).1,
            ""
        );
    }

    #[test]
    fn uncorrected_latency_goes_to_stderr_when_asked_for_in_the_one_line_modes() {
        // On schedule: the uncorrected line alone.
        let r = TestResult {
            achieved_rps: Some(1000.0),
            max_lag_ms: Some(5.0),
            ..behind_row()
        };
        let asked = |mode| Printer {
            latency_uncorrected: true,
            ..printer(mode)
        };
        let line = "SET: uncorrected (from actual send) p50=0.300 p99=0.600 max=2.000 msec\n";
        assert_eq!(
            printed(|o, e| asked(OutputMode::Quiet).row(o, e, &r)).1,
            line
        );
        assert_eq!(printed(|o, e| asked(OutputMode::Csv).row(o, e, &r)).1, line);
        assert_eq!(
            printed(|o, e| printer(OutputMode::Quiet).row(o, e, &r)).1,
            ""
        );
        let (out, err) = printed(|o, e| asked(OutputMode::Blocks).row(o, e, &r));
        assert_eq!(err, "");
        assert!(
            out.contains(
                "  uncorrected (from actual send): p50 0.300  p99 0.600  max 2.000 msec\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_mix_total_sums_its_commands_in_the_default_mode_only() {
        let rows = [
            TestResult {
                ok: 600,
                ..TestResult::blank("local", "SET")
            },
            TestResult {
                ok: 300,
                errors: 10,
                ..TestResult::blank("local", "GET")
            },
        ];
        let (out, err) =
            printed(|o, _| printer(OutputMode::Blocks).mix_total(o, "local", &rows, 0.5));
        assert_eq!(
            out,
            "====== mix total on local ======\n  910 requests in 0.50 seconds: 1800.00 requests per second, 10 failed\n\n"
        );
        assert_eq!(err, "");
        for mode in [OutputMode::Quiet, OutputMode::Csv] {
            assert_eq!(
                printed(|o, _| printer(mode).mix_total(o, "local", &rows, 0.5)).0,
                ""
            );
        }
        // One command is no mix.
        let one =
            printed(|o, _| printer(OutputMode::Blocks).mix_total(o, "local", &rows[..1], 0.5));
        assert_eq!(one.0, "");
    }

    #[test]
    fn csv_outranks_quiet_and_keeps_its_pass_headers_on_stderr() {
        let p = Printer::new(&plan(&["-q", "--csv", "--repeat", "2"]));
        assert_eq!(p.mode, OutputMode::Csv);
        let (out, err) = printed(|o, e| {
            p.header(o);
            for repeat in 1..=2 {
                p.pass_header(o, e, "local", repeat);
                p.row(o, e, &set_row());
            }
            p.summary(o, &[set_row()], "RUN1");
        });
        // stdout: one header, then the rows; which pass a row is of goes to stderr.
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], CSV_HEADER);
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("\"SET\",\"2000.00\"")),
            "{out}"
        );
        assert_eq!(err, "[local, repeat 1/2]\n[local, repeat 2/2]\n");
        // --csv alone: no pass headers.
        let p = Printer::new(&plan(&["--csv", "--repeat", "2"]));
        assert_eq!(
            printed(|o, e| p.pass_header(o, e, "local", 1)),
            (String::new(), String::new())
        );
        // -q text keeps them on stdout, before its lines.
        let p = Printer::new(&plan(&["-q", "--repeat", "2"]));
        assert_eq!(
            printed(|o, e| p.pass_header(o, e, "local", 1)),
            ("[local, repeat 1/2]\n".into(), String::new())
        );
        let p = Printer::new(&plan(&["-q"]));
        assert_eq!(p.mode, OutputMode::Quiet);
        // One pass of one target needs no header, nor does a quiet run a CSV one.
        assert_eq!(printed(|o, e| p.pass_header(o, e, "local", 1)).0, "");
        assert_eq!(printed(|o, _| p.header(o)).0, "");
        assert_eq!(Printer::new(&plan(&[])).mode, OutputMode::Blocks);
    }

    #[test]
    fn pass_headers_number_the_passes() {
        let p = |looping, repeats| Printer {
            pass_headers: true,
            looping,
            repeats,
            ..printer(OutputMode::Quiet)
        };
        assert_eq!(
            printed(|o, e| p(false, 1).pass_header(o, e, "a", 1)).0,
            "[a]\n"
        );
        assert_eq!(
            printed(|o, e| p(false, 3).pass_header(o, e, "a", 2)).0,
            "[a, repeat 2/3]\n"
        );
        assert_eq!(
            printed(|o, e| p(true, 1).pass_header(o, e, "a", 7)).0,
            "[a, pass 7]\n"
        );
    }

    #[test]
    fn the_summary_is_the_table_and_where_the_files_went() {
        let results = [set_row()];
        let saved = Printer {
            saved_in: Some((PathBuf::from("/tmp/res"), "runs.csv")),
            ..printer(OutputMode::Blocks)
        };
        let (out, _) = printed(|o, _| saved.summary(o, &results, "RUN1"));
        assert_eq!(
            out,
            format!(
                "{}\nresults: runs.csv, timeline-RUN1.csv, table-RUN1.md, report-RUN1.html in /tmp/res\n",
                super::super::table::markdown(&results)
            )
        );
        let (out, _) = printed(|o, _| printer(OutputMode::Blocks).summary(o, &results, "RUN1"));
        assert_eq!(
            out,
            format!("{}\n", super::super::table::markdown(&results))
        );
        // Nothing measured, or a one-line mode: no table.
        assert_eq!(printed(|o, _| saved.summary(o, &[], "RUN1")).0, "");
        assert_eq!(
            printed(|o, _| printer(OutputMode::Quiet).summary(o, &results, "RUN1")).0,
            ""
        );
        assert_eq!(
            printed(|o, _| printer(OutputMode::Csv).note(o, "step")).0,
            ""
        );
        assert_eq!(
            printed(|o, _| printer(OutputMode::Blocks).note(o, "step")).0,
            "step\n"
        );
    }

    /// A second of `ok` replies, 98% at 0.1 ms and the rest at 0.2 ms, and `failed` failures.
    fn second(ok: u64, failed: u64) -> Second {
        let mut s = Second::new();
        s.ok = ok;
        s.failed = failed;
        s.hist.record_n(100, 98).unwrap();
        s.hist.record_n(200, 2).unwrap();
        s
    }

    #[test]
    fn live_lines_name_each_command_of_a_second() {
        let mut buf = Vec::new();
        let names = vec!["SET".to_string(), "GET".to_string()];
        let mut p = ConsoleProgress::new("mix SET+GET".into(), names, None, None, Some(&mut buf));
        p.second(1, &[Some(second(900, 0)), None]);
        p.second(12, &[Some(second(800, 3)), Some(second(50, 0))]);
        p.finish();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "[   1s] mix SET+GET  SET: 900 ok/s p50 0.100 p99 0.200 ms  GET: 0 ok/s p50 0.000 p99 0.000 ms\n\
             [  12s] mix SET+GET  SET: 800 ok/s p50 0.100 p99 0.200 ms 3 err/s  GET: 50 ok/s p50 0.100 p99 0.200 ms\n"
        );
        // One command: no label.
        let mut buf = Vec::new();
        let mut p =
            ConsoleProgress::new("SET".into(), vec!["SET".into()], None, None, Some(&mut buf));
        p.second(2, &[Some(second(10, 0))]);
        p.finish();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "[   2s]  SET: 10 ok/s p50 0.100 p99 0.200 ms\n"
        );
    }

    #[test]
    fn the_bar_fills_against_the_bound_that_ends_the_run() {
        let s = Duration::from_secs;
        // -n: requests done against the total.
        let (pos, msg) = bar_state(250, Some(1000), None, s(2));
        assert_eq!(pos, 250);
        assert_eq!(msg, "250/1000 requests, 125.00 rps");
        // --duration: elapsed time against the duration, however many requests went.
        let (pos, msg) = bar_state(419_711, None, Some(s(10)), Duration::from_millis(3_042));
        assert_eq!(pos, 304);
        assert_eq!(msg, "3s/10s, 419711 requests, 137972.06 rps");
        // Both: whichever ends the run first.
        assert_eq!(bar_state(900, Some(1000), Some(s(10)), s(1)).0, 900);
        assert_eq!(bar_state(100, Some(1000), Some(s(10)), s(8)).0, 800);
        // Never past the end.
        assert_eq!(bar_state(5000, Some(1000), None, s(1)).0, BAR_LEN);
    }
}
