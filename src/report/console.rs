//! Console output: redis-benchmark's `-q` line and CSV (byte-compatible), the default per-test block,
//! the per-second live view, and the progress bar (stderr, only on a terminal).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::TestResult;
use crate::runner::Progress;
use crate::stats::{Second, ms};
use crate::workload::Op;

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
        s.push_str(&format!(
            "  target rate: {t:.2} rps, achieved {a:.2} rps ({:.1}%)\n",
            100.0 * a / t
        ));
        if r.fell_behind() {
            s.push_str(&format!(
                "  WARNING: the client fell behind the schedule (max lag {:.1} ms): add --clients or -P\n",
                r.max_lag_ms.unwrap_or(0.0)
            ));
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

/// One step of the ladder: rate, achieved, p50, p99, and pass or why it missed.
pub fn slo_step(s: &crate::slo::Step) -> String {
    let verdict = if s.pass {
        "pass".to_string()
    } else {
        format!("miss: {}", s.why)
    };
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
    requests: Option<u64>,
    duration: Option<Duration>,
}

/// Bar positions are thousandths of the run, whichever bound (requests or time) ends it first.
const BAR_LEN: u64 = 1000;

impl<'a> ConsoleProgress<'a> {
    pub fn new(
        label: String,
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
            requests,
            duration,
        }
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

    fn second(&mut self, sec: usize, ops: &[Op], rows: &[Option<Second>]) {
        let Some(out) = self.live.as_deref_mut() else {
            return;
        };
        let mut line = format!("[{sec:>4}s]");
        if ops.len() > 1 {
            line.push(' ');
            line.push_str(&self.label);
        }
        for (op, row) in ops.iter().zip(rows) {
            let (ok, failed, p50, p99) = match row {
                Some(s) => (
                    s.ok,
                    s.failed,
                    ms(s.hist.value_at_quantile(0.5)),
                    ms(s.hist.value_at_quantile(0.99)),
                ),
                None => (0, 0, 0.0, 0.0),
            };
            line.push_str(&format!(
                "  {}: {ok} ok/s p50 {p50:.3} p99 {p99:.3} ms",
                op.name()
            ));
            if failed > 0 {
                line.push_str(&format!(" {failed} err/s"));
            }
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
