//! The HTML report (`report-<run_id>.html`): one self-contained page (inline CSS and SVG, no
//! scripts, nothing fetched) with the run's parameters, the configuration table with the spread of
//! repeats, latency against rate per test when the run searched for its saturation (`--slo`, in
//! `rate`), a latency percentile spectrum per test and a throughput timeline per target and test.
//! Well-formed XML as well as HTML, so a strict parser can check it.

mod rate;

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::TestResult;
use super::hlog;
use super::saved::SavedRun;
use super::svg::{self, Frame, Svg, esc};
use super::table::{self, Cell, ordered_unique};
use crate::observe::bound::Bound;
use crate::resp::ErrorClass;
use crate::stats::ms;

pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111;background:#fff;margin:0}\
main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}\
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:1px solid #999}\
h3{font-size:1em;margin:.8em 0 .3em}\
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #999;padding:3px 8px}\
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td.best{font-weight:bold;background:#e8e8e8}small{color:#444}\
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px}\
.cols{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:24px}\
figure{margin:0}figcaption{font-size:.9em;margin:.2em 0}\
pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:.85em}\
.note{font-size:.9em;color:#333}";

/// The page for one run.
pub fn run_page(run: &SavedRun) -> String {
    let title = format!("rbench report: run {}", run.meta.run_id);
    let mut s = head(&title);
    let _ = write!(s, "<h1>{}</h1>", esc(&title));
    s.push_str(&body(run, "r"));
    s.push_str(FOOT);
    s
}

/// Two runs side by side, with `rbench compare`'s verdict of B against A on top.
pub fn compare_page(a: &SavedRun, b: &SavedRun, verdict: &str) -> String {
    let title = format!(
        "rbench report: run {} against run {}",
        b.meta.run_id, a.meta.run_id
    );
    let mut s = head(&title);
    let _ = write!(s, "<h1>{}</h1>", esc(&title));
    let _ = write!(
        s,
        "<h2>Verdict (rbench compare, baseline {} and candidate {})</h2><pre>{}</pre><div class=\"cols\">",
        esc(&a.meta.run_id),
        esc(&b.meta.run_id),
        esc(verdict)
    );
    for (run, tag) in [(a, "a"), (b, "b")] {
        let _ = write!(
            s,
            "<div><h2>Run {}</h2>{}</div>",
            esc(&run.meta.run_id),
            body(run, tag)
        );
    }
    s.push_str("</div>");
    s.push_str(FOOT);
    s
}

pub(super) const FOOT: &str = "</main></body></html>\n";

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>{}</title><style>{STYLE}</style></head><body>{}<main>",
        esc(title),
        svg::pattern_defs()
    )
}

/// The sections of one run; `tag` keeps element ids apart when two runs share a page.
fn body(run: &SavedRun, tag: &str) -> String {
    let r = &run.results;
    let mut s = String::new();
    let _ = write!(
        s,
        "<section id=\"{tag}-parameters\"><h2>Run parameters</h2>"
    );
    s.push_str(&parameters(run));
    let _ = write!(
        s,
        "</section><section id=\"{tag}-table\"><h2>Configurations</h2>"
    );
    s.push_str(&config_table(r));
    s.push_str("</section>");
    if let Some(section) = rate::section(r) {
        let _ = write!(
            s,
            "<section id=\"{tag}-slo\"><h2>Latency against rate</h2>{section}</section>"
        );
    }
    let _ = write!(
        s,
        "<section id=\"{tag}-spectrum\"><h2>Latency by percentile</h2>"
    );
    s.push_str(&spectra(r));
    let _ = write!(
        s,
        "</section><section id=\"{tag}-timeline\"><h2>Throughput per second</h2>"
    );
    s.push_str(&timelines(r));
    s.push_str("</section>");
    s
}

/// Distinct values of one field over the results, in order of appearance.
fn values(results: &[TestResult], f: impl Fn(&TestResult) -> String) -> String {
    let all: Vec<String> = results.iter().map(f).collect();
    let unique = ordered_unique(all.iter().map(String::as_str));
    if unique.is_empty() {
        "-".into()
    } else {
        unique.join(", ")
    }
}

fn parameters(run: &SavedRun) -> String {
    let m = &run.meta;
    let r = &run.results;
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<(&str, String)> = vec![
        ("run", m.run_id.clone()),
        ("date", m.timestamp.clone()),
        ("profile", or_dash(&m.profile)),
        ("rbench", format!("{} (git {})", m.version, m.git_rev)),
        ("targets", values(r, describe_target)),
        ("tests", values(r, |r| r.test.clone())),
        ("clients", values(r, |r| r.clients.to_string())),
        ("pipeline", values(r, |r| r.pipeline.to_string())),
        ("threads", values(r, |r| r.threads.to_string())),
        ("value size (bytes)", values(r, |r| r.data_size.clone())),
        (
            "keyspace",
            values(r, |r| format!("{} ({})", r.keyspace, r.key_dist)),
        ),
        ("requests per test", values(r, |r| r.requests.to_string())),
        (
            "target rate",
            values(r, |r| match r.target_rps {
                Some(v) => format!("{v} rps"),
                None => "closed loop".into(),
            }),
        ),
        (
            "repeats",
            r.iter().map(|r| r.repeat).max().unwrap_or(1).to_string(),
        ),
        (
            "environment",
            if m.environment.is_empty() {
                "no setting known to distort the figures was found".into()
            } else {
                m.environment.join("; ")
            },
        ),
    ];
    let mut s = String::from("<table class=\"params\">");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    s.push_str("</table>");
    s
}

fn describe_target(r: &TestResult) -> String {
    let shape = if r.masters > 1 {
        format!("{} ({} masters)", r.deployment, r.masters)
    } else {
        r.deployment.clone()
    };
    let server = if r.server_version.is_empty() {
        "server version not recorded".to_string()
    } else {
        r.server_version.clone()
    };
    format!(
        "{}: {shape}, persistence {}, {server}",
        r.target, r.persistence
    )
}

/// Tests × targets: median TPS with its range, p50 and p99; a row's winner in bold with a mark
/// only when it is clearly faster than every other target (`table::winner`); under the table,
/// each test's ordering (`table::orderings`).
fn config_table(results: &[TestResult]) -> String {
    let targets = ordered_unique(results.iter().map(|r| r.target.as_str()));
    let tests = ordered_unique(results.iter().map(|r| r.test.as_str()));
    let runs = results.iter().map(|r| r.repeat).max().unwrap_or(1);
    // A search adds its "max rps @ objective" column to each target.
    let slo = table::slo_objective(results);
    let mut s = String::from("<table class=\"config\"><thead><tr><th rowspan=\"2\">test</th>");
    for t in &targets {
        let span = if slo.is_some() { 4 } else { 3 };
        let _ = write!(s, "<th colspan=\"{span}\">{}</th>", esc(t));
    }
    s.push_str("</tr><tr>");
    for _ in &targets {
        s.push_str("<th>TPS</th><th>p50 ms</th><th>p99 ms</th>");
        if let Some(o) = &slo {
            let _ = write!(s, "<th>max rps @ {}</th>", esc(o));
        }
    }
    s.push_str("</tr></thead><tbody>");
    for test in &tests {
        let cells: Vec<Option<Cell>> = targets
            .iter()
            .map(|t| table::cell(results, t, test))
            .collect();
        // A search chose each rate itself: TPS ranges say nothing of which target is faster.
        let best = if slo.is_some() {
            None
        } else {
            table::winner(&cells)
        };
        let _ = write!(s, "<tr><th>{}</th>", esc(test));
        for (i, c) in cells.iter().enumerate() {
            let seen = Seen::of(results, targets[i], test);
            s.push_str(&cell_html(c.as_ref(), best == Some(i), &seen));
            if slo.is_some() {
                let found = table::slo_cell(results, targets[i], test);
                let _ = write!(
                    s,
                    "<td class=\"n\">{}</td>",
                    esc(found.as_deref().unwrap_or("-"))
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    let note = if slo.is_some() {
        format!(
            "Each TPS is the rate its search found (median of {runs} runs of it): the searches are compared by their max rps columns, where \"held k/n\" counts the runs of that rate that met the objective."
        )
    } else if runs > 1 {
        format!(
            "Each cell is the median of {runs} runs with the range of the runs beneath it. A row's fastest target is marked (bold, ▲) only when it is clearly faster than every other one, as the ordering below judges."
        )
    } else {
        "One run per cell: no spread to judge by, so the ordering below is by median only (run with --repeat 3 or more).".into()
    };
    let _ = write!(s, "<p class=\"note\">{}</p>", esc(&note));
    s.push_str(&orderings_html(results));
    s
}

/// Each test's ordering: the compact sentence in bold, then the same in words (as the Markdown
/// table's notes have it).
fn orderings_html(results: &[TestResult]) -> String {
    let orderings = table::orderings(results);
    if orderings.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "<p class=\"note\">{}</p><ul class=\"ordering\">",
        esc(&table::ordering_legend())
    );
    for o in &orderings {
        let _ = write!(s, "<li><b>{}</b>", esc(&o.compact()));
        if let Some(w) = o.words() {
            let _ = write!(s, " — {}", esc(&w));
        }
        s.push_str("</li>");
    }
    s.push_str("</ul>");
    s
}

/// What a cell's rows observed: whether one measured rbench rather than the server, and the
/// server's own time per call (the median over the rows that have it).
struct Seen {
    client_bound: bool,
    server_ms: Option<f64>,
}

impl Seen {
    fn of(results: &[TestResult], target: &str, test: &str) -> Seen {
        let rows: Vec<&TestResult> = results
            .iter()
            .filter(|r| r.target == target && r.test == test)
            .collect();
        let mut server: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.observed.server_us_per_call)
            .collect();
        server.sort_by(f64::total_cmp);
        Seen {
            client_bound: rows.iter().any(|r| r.observed.bound == Bound::Client),
            server_ms: server.get(server.len() / 2).map(|us| us / 1000.0),
        }
    }
}

fn cell_html(c: Option<&Cell>, best: bool, seen: &Seen) -> String {
    let Some(c) = c else {
        return "<td class=\"n\">-</td><td class=\"n\">-</td><td class=\"n\">-</td>".into();
    };
    let range = |sp: &table::Spread, f: fn(f64) -> String| {
        if sp.runs > 1 {
            format!("<br/><small>{}–{}</small>", f(sp.min), f(sp.max))
        } else {
            String::new()
        }
    };
    let (class, mark) = if best { (" best", " ▲") } else { ("", "") };
    // A client-bound figure is rbench's limit: marked, so nobody reads it as the server's.
    let bound = if seen.client_bound {
        "<br/><small class=\"bound\" title=\"rbench was the bottleneck: this figure measures the load generator\">client-bound</small>"
    } else {
        ""
    };
    let server = seen
        .server_ms
        .map(|ms| format!("<br/><small class=\"server\" title=\"the server's own time per call (INFO commandstats)\">server {}</small>", ms3(ms)))
        .unwrap_or_default();
    format!(
        "<td class=\"n{class}\">{}{mark}{}{bound}</td><td class=\"n\">{}{}{server}</td><td class=\"n\">{}{}</td>",
        group(c.tps.median),
        range(&c.tps, group),
        ms3(c.p50.median),
        range(&c.p50, ms3),
        ms3(c.p99.median),
        range(&c.p99, ms3),
    )
}

fn ms3(v: f64) -> String {
    format!("{v:.3}")
}

/// A rate with thin spaces between thousands: 119 012.
fn group(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(ch);
    }
    out
}

/// One spectrum per test: latency against percentile on a "nines" axis, one line per target
/// (the union of its repeats' histograms).
fn spectra(results: &[TestResult]) -> String {
    let tests = ordered_unique(results.iter().map(|r| r.test.as_str()));
    let mut s = String::new();
    for test in tests {
        let targets = ordered_unique(
            results
                .iter()
                .filter(|r| r.test == test)
                .map(|r| r.target.as_str()),
        );
        let series: Vec<(String, Histogram<u64>)> = targets
            .iter()
            .filter_map(|t| {
                let runs = results.iter().filter(|r| r.test == test && r.target == *t);
                let h = hlog::sum(runs.map(|r| &r.hist)).ok()?;
                (!h.is_empty()).then(|| (t.to_string(), h))
            })
            .collect();
        let _ = write!(s, "<figure><figcaption>{}</figcaption>", esc(test));
        if series.is_empty() {
            s.push_str("<p class=\"note\">No latency histogram saved for this test.</p>");
        } else {
            s.push_str(&spectrum_svg(test, &series));
        }
        s.push_str("</figure>");
    }
    s
}

/// The percentile a "nines" position stands for: 0 → 0 %, 1 → 90 %, 2 → 99 %, 3 → 99.9 %.
fn nines_quantile(x: f64) -> f64 {
    1.0 - 10f64.powf(-x)
}

fn nines_label(k: u32) -> String {
    match k {
        0 => "0%".into(),
        1 => "90%".into(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)).replace("99.%", "99%"),
    }
}

fn spectrum_svg(test: &str, series: &[(String, Histogram<u64>)]) -> String {
    // As far right as the data reach: past 1/count, every percentile is the maximum.
    let most = series.iter().map(|(_, h)| h.len()).max().unwrap_or(1) as f64;
    let x_max = most.log10().floor().clamp(2.0, 6.0);
    let curves: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, h)| {
            (0..=(x_max * 40.0) as usize)
                .map(|i| {
                    let x = i as f64 / 40.0;
                    (x, ms(h.value_at_quantile(nines_quantile(x))))
                })
                .collect()
        })
        .collect();
    let y_top = curves
        .iter()
        .flat_map(|c| c.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_ticks = svg::nice_ticks(y_top, 5);
    let f = Frame {
        left: 70.0,
        top: 20.0,
        width: 1100.0,
        height: 300.0,
        x_max,
        y_max: *y_ticks.last().unwrap_or(&1.0),
    };
    let mut g = Svg::new(1200, 380, &format!("{test}: latency by percentile"));
    let x_ticks: Vec<(f64, String)> = (0..=x_max as u32)
        .map(|k| (k as f64, nines_label(k)))
        .collect();
    g.axes(&f, &y_ticks, &x_ticks, ("percentile", "latency (ms)"));
    for (i, c) in curves.iter().enumerate() {
        g.line(&f, c, i);
    }
    for (i, (name, _)) in series.iter().enumerate() {
        g.legend_line(f.left + 12.0, f.top + 16.0 + 18.0 * i as f64, i, name);
    }
    g.finish()
}

/// One timeline per target and test; its repeats follow one another along the time axis.
fn timelines(results: &[TestResult]) -> String {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in results {
        if !keys.contains(&(r.target.as_str(), r.test.as_str())) {
            keys.push((&r.target, &r.test));
        }
    }
    let mut s = String::from("<div class=\"grid\">");
    for (target, test) in keys {
        let mut runs: Vec<&TestResult> = results
            .iter()
            .filter(|r| r.target == target && r.test == test && !r.timeline.is_empty())
            .collect();
        runs.sort_by_key(|r| r.repeat);
        let title = match runs.len() {
            0 | 1 => format!("{test} on {target}"),
            n => format!("{test} on {target}, repeats 1–{n} in turn"),
        };
        let _ = write!(s, "<figure><figcaption>{}</figcaption>", esc(&title));
        if runs.is_empty() {
            s.push_str("<p class=\"note\">No timeline saved for this test.</p>");
        } else {
            s.push_str(&timeline_svg(&runs, &title));
        }
        s.push_str("</figure>");
    }
    s.push_str("</div>");
    s
}

/// One second of a timeline as drawn: where it starts on the axis, how much of it the run
/// covered, and its counts.
struct Slot<'a> {
    x: f64,
    span: f64,
    sec: &'a crate::stats::Tick,
}

/// The repeats' seconds laid end to end, and where each repeat starts.
fn slots<'a>(runs: &[&'a TestResult]) -> (Vec<Slot<'a>>, Vec<f64>) {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut offset = 0.0;
    for r in runs {
        starts.push(offset);
        for (i, sec) in r.timeline.iter().enumerate() {
            out.push(Slot {
                x: offset + i as f64,
                span: r.span_of_second(i).max(1e-3),
                sec,
            });
        }
        offset += r.timeline.len() as f64;
    }
    (out, starts)
}

/// Successes per second above, errors per second stacked by class below, faults marked across,
/// repeats separated. A partial last second is drawn as wide as the time it covered.
fn timeline_svg(runs: &[&TestResult], title: &str) -> String {
    let (slots, starts) = slots(runs);
    let n: f64 = runs.iter().map(|r| r.timeline.len() as f64).sum();
    let classes: Vec<ErrorClass> = ErrorClass::ALL
        .iter()
        .copied()
        .filter(|c| slots.iter().any(|s| s.sec.event(c.index()) > 0))
        .collect();
    let rate = |s: &Slot, count: u64| count as f64 / s.span;
    // Open loop: the target each second (a rate shape's line), over the phase's whole traffic.
    let target_top = slots
        .iter()
        .filter_map(|s| s.sec.target)
        .fold(0.0, f64::max);
    let ok_top = slots
        .iter()
        .map(|s| rate(s, s.sec.ok))
        .fold(target_top, f64::max);
    let err_top = slots
        .iter()
        .map(|s| {
            classes
                .iter()
                .map(|c| rate(s, s.sec.event(c.index())))
                .sum()
        })
        .fold(0.0, f64::max);
    let (ok_ticks, err_ticks) = (svg::nice_ticks(ok_top, 4), svg::nice_ticks(err_top, 2));
    let top = Frame {
        left: 64.0,
        top: 14.0,
        width: 520.0,
        height: 150.0,
        x_max: n,
        y_max: *ok_ticks.last().unwrap_or(&1.0),
    };
    let low = Frame {
        top: 200.0,
        height: 64.0,
        y_max: *err_ticks.last().unwrap_or(&1.0),
        ..top
    };
    let mut g = Svg::new(600, 330, &format!("{title}: requests per second"));
    let x_ticks = second_ticks(n as usize);
    g.axes(&top, &ok_ticks, &x_ticks, ("", "ok/s"));
    g.axes(&low, &err_ticks, &x_ticks, ("elapsed (s)", "errors/s"));
    if classes.is_empty() {
        g.text(
            low.left + low.width / 2.0,
            low.top + 36.0,
            "middle",
            "no errors",
        );
    }
    for s in &slots {
        g.column(&top, (s.x, s.x + s.span), rate(s, s.sec.ok));
        let mut base = 0.0;
        for (k, c) in classes.iter().enumerate() {
            let v = rate(s, s.sec.event(c.index()));
            if v > 0.0 {
                g.bar(&low, (s.x, s.x + s.span), (base, base + v), k);
                base += v;
            }
        }
    }
    target_line(&mut g, &top, &slots, &starts);
    marks(&mut g, runs, &starts, (&top, &low));
    let mut x = low.left;
    for (k, c) in classes.iter().enumerate() {
        g.legend_fill(x, 320.0, k, c.name());
        x += 30.0 + 7.0 * c.name().len() as f64;
    }
    g.finish()
}

/// The open loop's target per second as a line over the columns (one piece per repeat), with
/// its legend; nothing for a closed-loop run.
fn target_line(g: &mut Svg, top: &Frame, slots: &[Slot], starts: &[f64]) {
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    for s in slots {
        let Some(t) = s.sec.target else { continue };
        let new_repeat = starts.contains(&s.x);
        if new_repeat || pieces.is_empty() {
            pieces.push(Vec::new());
        }
        if let Some(p) = pieces.last_mut() {
            p.push((s.x + s.span / 2.0, t));
        }
    }
    if pieces.is_empty() {
        return;
    }
    for p in &pieces {
        g.line(top, p, 1);
    }
    g.legend_line(top.left + top.width - 150.0, top.top + 4.0, 1, "target rps");
}

/// Where each repeat begins (past the first) and each fault, as vertical markers.
fn marks(g: &mut Svg, runs: &[&TestResult], starts: &[f64], (top, low): (&Frame, &Frame)) {
    for (r, start) in runs.iter().zip(starts) {
        if *start > 0.0 {
            g.marker(
                top.x(*start),
                top.top,
                low.bottom(),
                &format!("repeat {}", r.repeat),
            );
        }
        for f in &r.experiment.faults {
            g.marker(top.x(start + f.at_s), top.top, low.bottom(), &f.action);
        }
        // The server's own events (latency monitor, forks, rewrites): what explains a spike.
        for e in &r.observed.events {
            g.marker(top.x(start + e.at_s), top.top, low.bottom(), &e.kind);
        }
    }
}

/// About six labelled seconds along a timeline of `n` seconds.
fn second_ticks(n: usize) -> Vec<(f64, String)> {
    let step = svg::nice_ticks(n as f64, 6)
        .get(1)
        .copied()
        .unwrap_or(1.0)
        .max(1.0);
    let mut out = Vec::new();
    let mut v = 0.0;
    while v <= n as f64 + 1e-9 {
        out.push((v, format!("{v:.0}")));
        v += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert_eq!(nines_label(0), "0%");
        assert_eq!(nines_label(1), "90%");
        assert_eq!(nines_label(2), "99%");
        assert_eq!(nines_label(3), "99.9%");
        assert_eq!(nines_label(5), "99.999%");
        assert!((nines_quantile(2.0) - 0.99).abs() < 1e-12);
        assert_eq!(nines_quantile(0.0), 0.0);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(119_012.4), "119\u{2009}012");
        assert_eq!(group(999.0), "999");
        assert_eq!(group(1_000_000.0), "1\u{2009}000\u{2009}000");
    }

    /// A results folder written by hand: one run whose timeline has an outage.
    fn outage_folder() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rbench-html-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let header = crate::schema::long_header();
        let row = "2026-12-04T00:00:00Z,RUN1,0.1.0,abc,failover,cluster,cluster,none,SET,50,1,3,1000,,30000,3.0,9000.00,27000,12,0.2,0.1,0.2,0.3,0.5,1.0,4000.0,3,1,uniform,false,1,,,clusterdown=40 conn_lost=12,false,redis 7.0.15";
        std::fs::write(
            dir.join("runs.csv"),
            format!("{}\n{row}\n", header.join(",")),
        )
        .unwrap();
        let timeline = "elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s,clusterdown,conn_lost,fault,repeat\n\
            1,cluster,SET,10000,0,0.2,0.3,0.5,1.000,0,0,,1\n\
            2,cluster,SET,2000,12,0.2,0.3,4000,1.000,40,12,kill-master 127.0.0.1:7001,1\n\
            3,cluster,SET,15000,0,0.2,0.3,0.5,1.000,0,0,,1\n";
        std::fs::write(dir.join("timeline-RUN1.csv"), timeline).unwrap();
        dir
    }

    #[test]
    fn an_outage_shows_as_stacked_error_classes_and_a_fault_marker() {
        let dir = outage_folder();
        let run = crate::report::saved::load(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let page = run_page(&run);
        roxmltree::Document::parse(page.trim_start_matches("<!DOCTYPE html>").trim_start())
            .expect("well-formed");
        let r = &run.results[0];
        assert_eq!(r.timeline.len(), 3);
        assert_eq!(r.experiment.faults[0].action, "kill-master");
        assert_eq!(r.experiment.faults[0].at_s, 1.0);
        // Both classes are stacked in the outage second and named in the legend.
        assert_eq!(
            page.matches("fill=\"url(#fill0)\"").count(),
            2,
            "bar + legend"
        );
        assert_eq!(
            page.matches("fill=\"url(#fill1)\"").count(),
            2,
            "bar + legend"
        );
        assert!(page.contains(">clusterdown<") && page.contains(">conn_lost<"));
        assert!(page.contains("stroke-dasharray=\"4 3\"") && page.contains(">kill-master<"));
        assert!(page.contains("redis 7.0.15") && page.contains("failover"));
        // One run: no winner claimed, and the page says why.
        assert!(page.contains("no spread to judge by"));
    }

    /// A results folder written by hand: two targets searched for `p99<=1ms,p50<=200us` on SET,
    /// `a` with a repeat that re-ran its answer, `b` that never met the objectives.
    fn slo_folder() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rbench-html-slo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let header = crate::schema::long_header();
        let mut csv = format!("{}\n", header.join(","));
        for (target, repeat, max) in [("a", 1, "40000"), ("b", 1, ""), ("a", 2, "40000")] {
            csv.push_str(&format!(
                "2026-12-04T00:00:00Z,RUN1,0.1.0,abc,,{target},standalone,none,SET,50,1,3,1000,40000,200000,5.0,40000.00,200000,0,0.2,0.1,0.2,0.3,0.9,1.0,4.0,1,1,uniform,false,{repeat},40000.00,,,false,redis 7.0.15,\"p99<=1ms,p50<=200us\",{max}\n"
            ));
        }
        std::fs::write(dir.join("runs.csv"), csv).unwrap();
        let o = "\"p99<=1ms,p50<=200us\"";
        let ladder = format!(
            "{}\n\
            a,SET,1,{o},found,40000,100000,true,1,50000,49000,0.4,3.5,3.5 0.4,245000,0,false,\"p99 3.5 ms > 1 ms, p50 0.4 ms > 200 us\"\n\
            a,SET,1,{o},found,40000,100000,true,2,25000,25000,0.1,0.5,0.5 0.1,125000,0,true,\n\
            a,SET,1,{o},found,40000,100000,true,3,40000,39990,0.15,0.9,0.9 0.15,199950,0,true,\n\
            b,SET,1,{o},not_met,,80000,false,1,40000,30000,2,40,40 2,150000,0,false,achieved 75% of the target\n\
            b,SET,1,{o},not_met,,80000,false,2,20000,19990,1.5,12,12 1.5,99950,0,false,p99 12 ms > 1 ms\n\
            a,SET,2,{o},found,40000,100000,false,1,40000,39980,0.18,1.1,1.1 0.18,199900,0,false,p99 1.1 ms > 1 ms\n",
            crate::report::slo::HEADER.join(",")
        );
        std::fs::write(dir.join("slo-RUN1.csv"), ladder).unwrap();
        dir
    }

    #[test]
    fn a_search_draws_latency_against_rate() {
        let dir = slo_folder();
        let run = crate::report::saved::load(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(run.results[0].slo.as_ref().unwrap().steps.len(), 3);
        let page = run_page(&run);
        let xml = page.trim_start_matches("<!DOCTYPE html>").trim_start();
        let doc = roxmltree::Document::parse(xml).expect("well-formed");
        let section = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("r-slo"))
            .expect("the section");
        assert!(page.contains("<h2>Latency against rate</h2>"));
        let chart = section
            .descendants()
            .find(|n| n.attribute("aria-label") == Some("SET: latency against rate"))
            .expect("the chart");
        // Per target, one bold p99 line and one light p50 line through its ladder.
        let searches: Vec<_> = chart
            .descendants()
            .filter(|n| n.attribute("class") == Some("search"))
            .collect();
        assert_eq!(searches.len(), 2, "one search per target");
        for (g, steps) in searches.iter().zip([3, 2]) {
            let lines: Vec<_> = g
                .children()
                .filter(|n| n.has_tag_name("polyline"))
                .collect();
            assert_eq!(lines.len(), 2);
            assert_eq!(lines[1].attribute("stroke-width"), Some("2"));
            let points = lines[1].attribute("points").unwrap();
            assert_eq!(points.split(' ').count(), steps, "{points}");
        }
        // Objectives as levels, a's answer as a vertical line.
        let texts: Vec<&str> = chart.descendants().filter_map(|n| n.text()).collect();
        for want in [
            "p99 ≤ 1 ms",
            "p50 ≤ 200 us",
            "a max 40k rps",
            "0.1",
            "1",
            "10",
            "100",
        ] {
            assert!(texts.contains(&want), "{want} in {texts:?}");
        }
        assert_eq!(
            page.matches("stroke-dasharray=\"8 4\"").count(),
            2,
            "two objectives"
        );
        assert_eq!(
            page.matches("stroke-dasharray=\"3 3\"").count(),
            1,
            "b found none"
        );
        // Six steps (one a re-run) with p99 circles: 2 filled (passes) and 4 hollow; the legend
        // adds a hollow one (missed) and two filled (met, the p99 sample).
        let circles = |fill: &str| {
            chart
                .descendants()
                .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some(fill))
                .count()
        };
        assert_eq!(circles("#ffffff"), 4 + 1);
        assert_eq!(circles("#000000") + circles("#0072b2"), 2 + 2);
        what_each_search_found(section);
    }

    /// The table under the chart: each target's answer, or why it has none.
    fn what_each_search_found(section: roxmltree::Node<'_, '_>) {
        let table = section
            .descendants()
            .find(|n| n.attribute("class") == Some("slo"))
            .expect("the table");
        let cells: Vec<&str> = table.descendants().filter_map(|n| n.text()).collect();
        assert!(
            cells.contains(
                &"max 40000 rps with p99 ≤ 1 ms, p50 ≤ 200 us (held 1/1; missed at 50000 rps, held 0/1)"
            ),
            "{cells:?}"
        );
        assert!(
            cells
                .contains(&"p99 ≤ 1 ms, p50 ≤ 200 us not met, even at the lowest step (20000 rps)"),
            "{cells:?}"
        );
        assert!(cells.contains(&"100\u{2009}000") && cells.contains(&"40\u{2009}000"));
    }

    #[test]
    fn no_search_no_section() {
        let dir = outage_folder();
        let run = crate::report::saved::load(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let page = run_page(&run);
        assert!(!page.contains("Latency against rate") && !page.contains("-slo\""));
    }

    #[test]
    fn the_table_section_orders_the_targets_and_marks_the_same_winner() {
        let mut results = Vec::new();
        for repeat in 1..=3 {
            let k = repeat as f64;
            for (target, set, get) in [
                ("no-aof", 100_000.0, 90_000.0),
                ("aof-always", 40_000.0, 91_000.0),
            ] {
                for (test, rps) in [("SET", set + k), ("GET", get + k)] {
                    results.push(TestResult {
                        rps,
                        repeat,
                        ..TestResult::blank(target, test)
                    });
                }
            }
        }
        let html = config_table(&results);
        let wrapped = format!("<div>{html}</div>");
        let doc = roxmltree::Document::parse(&wrapped).expect("well-formed");
        let items: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("li"))
            .map(|n| {
                n.descendants()
                    .filter(|t| t.is_text())
                    .filter_map(|t| t.text())
                    .collect()
            })
            .collect();
        assert_eq!(
            items,
            [
                "SET: no-aof ≫ aof-always — no-aof is clearly faster than aof-always (2.5×)",
                "GET: aof-always ≈ no-aof — aof-always and no-aof are within noise",
            ]
        );
        // The bold mark goes to the sentence's clear head, and only there.
        let best: Vec<String> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("n best"))
            .map(|n| {
                n.parent()
                    .unwrap()
                    .first_child()
                    .unwrap()
                    .text()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(best, ["SET"]);
        assert!(html.contains("only when it is clearly faster than every other one"));
        // One run each: ordered by median, and said to be not judged.
        let once: Vec<TestResult> = results.into_iter().filter(|r| r.repeat == 1).collect();
        let html = config_table(&once);
        assert!(
            html.contains("<li><b>SET: no-aof &gt; aof-always (one run each: not judged)</b></li>"),
            "{html}"
        );
        assert!(!html.contains(" best"));
    }

    #[test]
    fn second_ticks_stay_few() {
        assert_eq!(second_ticks(1).len(), 2);
        assert!(second_ticks(300).len() <= 8);
        assert_eq!(second_ticks(10).last().unwrap().0, 10.0);
    }
}
