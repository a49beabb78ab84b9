//! One metric of one configuration over the nights, as SVG: per night the baseline band the verdict
//! used (shaded), the threshold (dashed), the repeats' range (whisker) and the median (on a line
//! through the nights whose figures count), marked by what the night concluded, each mark with a
//! tooltip (`<title>`) naming the night. The marks are also the legend's.

use std::fmt::Write;

use super::data::{Config, Mark, Point, Series, Trend, fmt_ms, fmt_rps, or_dash};
use crate::report::svg::{self, Frame, Svg, esc};

/// Colours (Okabe–Ito where they carry meaning, so they stay apart with colour-blindness).
pub(super) const BAND: &str = "#c6dbef";
pub(super) const MEDIAN: &str = "#0072b2";
pub(super) const THRESHOLD: &str = "#d55e00";
pub(super) const RED: &str = "#d00000";

/// Which metric a chart draws.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Metric {
    Tps,
    P99,
}

impl Metric {
    fn format(self, v: f64) -> String {
        match self {
            Metric::Tps => format!("{} rps", fmt_rps(v)),
            Metric::P99 => format!("{} ms", fmt_ms(v)),
        }
    }
}

/// The SVG of `metric` for `config` over nights `shown` (indexes into `t.nights`, oldest first).
pub(super) fn chart(t: &Trend, config: &Config, metric: Metric, shown: &[usize]) -> String {
    let (series, unit, title) = match metric {
        Metric::Tps => (&config.tps, "rps", config.tps_title()),
        Metric::P99 => (&config.p99, "p99 (ms)", "p99 latency".to_string()),
    };
    let ticks = svg::nice_ticks(top(series, shown) * 1.05, 4);
    let f = Frame {
        left: 64.0,
        top: 14.0,
        width: 480.0,
        height: 170.0,
        x_max: shown.len().max(1) as f64,
        y_max: *ticks.last().unwrap_or(&1.0),
    };
    let label = format!("{} ({}): {title}", config.key.label(), config.key.config());
    let mut g = Svg::new(560, 236, &label);
    g.axes(&f, &ticks, &date_ticks(t, shown), ("night", unit));
    for (j, &i) in shown.iter().enumerate() {
        if let Some(b) = series.points[i].baseline {
            band(&mut g, &f, j, b.lo, b.hi, &baseline_text(metric, &b));
            threshold(&mut g, &f, j, b.threshold);
        }
    }
    for (j, &i) in shown.iter().enumerate() {
        whisker(&mut g, &f, j, &series.points[i]);
    }
    let line: Vec<(f64, f64)> = shown
        .iter()
        .enumerate()
        .filter(|(_, i)| t.mark(config, **i).joined())
        .filter_map(|(j, &i)| series.points[i].spread.map(|s| (j as f64 + 0.5, s.median)))
        .collect();
    median_line(&mut g, &f, &line);
    for (j, &i) in shown.iter().enumerate() {
        night_mark(&mut g, &f, t, config, metric, (j, i));
    }
    g.finish()
}

/// The top of the chart: every median, band and threshold, and the repeats' ranges up to twice
/// those (one stalled repeat's p99 would otherwise flatten every night; a range cut at the top
/// edge keeps its figures in the tooltip).
fn top(series: &Series, shown: &[usize]) -> f64 {
    let (mut core, mut all): (f64, f64) = (0.0, 0.0);
    for &i in shown {
        let p = &series.points[i];
        if let Some(s) = p.spread {
            core = core.max(s.median);
            all = all.max(s.max);
        }
        if let Some(b) = p.baseline {
            core = core.max(b.hi).max(b.threshold).max(b.median);
        }
    }
    all.max(core).min(2.0 * core)
}

/// About seven dates along the bottom.
fn date_ticks(t: &Trend, shown: &[usize]) -> Vec<(f64, String)> {
    let step = shown.len().div_ceil(7).max(1);
    shown
        .iter()
        .enumerate()
        .filter(|(j, _)| j % step == 0)
        .map(|(j, &i)| {
            let d = t.nights[i].date();
            // The month and day are enough along an axis; the table and tooltips have the rest.
            let short = if d.len() == 10 { &d[5..] } else { d };
            (j as f64 + 0.5, short.to_string())
        })
        .collect()
}

fn baseline_text(metric: Metric, b: &super::data::Baseline) -> String {
    format!(
        "baseline: median {} of {} accepted night{} (their medians {} to {}); threshold {}",
        metric.format(b.median),
        b.nights,
        if b.nights == 1 { "" } else { "s" },
        metric.format(b.lo),
        metric.format(b.hi),
        metric.format(b.threshold)
    )
}

/// Night `j`'s baseline band: the range of its baseline nights' medians (at least 2 px tall, so a
/// one-night baseline shows).
fn band(g: &mut Svg, f: &Frame, j: usize, lo: f64, hi: f64, title: &str) {
    let (x0, x1) = (f.x(j as f64), f.x(j as f64 + 1.0));
    let (y0, y1) = (f.y(hi), f.y(lo));
    let h = (y1 - y0).max(2.0);
    g.raw(&format!(
        r#"<rect class="band" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{BAND}"><title>{}</title></rect>"#,
        y0.min(y1 - 2.0),
        x1 - x0,
        esc(title)
    ));
}

fn threshold(g: &mut Svg, f: &Frame, j: usize, v: f64) {
    let (x0, x1, y) = (f.x(j as f64), f.x(j as f64 + 1.0), f.y(v));
    g.raw(&format!(
        r#"<line class="threshold" x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="{THRESHOLD}" stroke-width="1.5" stroke-dasharray="5 3"/>"#
    ));
}

/// The range of the night's repeats, with caps.
fn whisker(g: &mut Svg, f: &Frame, j: usize, p: &Point) {
    let Some(s) = p.spread.filter(|s| s.n > 1) else {
        return;
    };
    let x = f.x(j as f64 + 0.5);
    let (y0, y1) = (f.y(s.max), f.y(s.min));
    g.raw(&format!(
        r##"<path class="range" d="M{x:.1},{y0:.1}V{y1:.1}M{:.1},{y0:.1}H{:.1}M{:.1},{y1:.1}H{:.1}" stroke="#333" stroke-width="1.2" fill="none"/>"##,
        x - 4.0,
        x + 4.0,
        x - 4.0,
        x + 4.0
    ));
}

fn median_line(g: &mut Svg, f: &Frame, points: &[(f64, f64)]) {
    if points.len() < 2 {
        return;
    }
    let pts: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", f.x(x), f.y(y)))
        .collect();
    g.raw(&format!(
        r#"<polyline class="median" points="{}" fill="none" stroke="{MEDIAN}" stroke-width="2" stroke-linejoin="round"/>"#,
        pts.join(" ")
    ));
}

/// Night `i` (drawn `j`-th): its mark at its median, or on the axis when it measured nothing
/// here but its status still says something.
fn night_mark(
    g: &mut Svg,
    f: &Frame,
    t: &Trend,
    config: &Config,
    metric: Metric,
    (j, i): (usize, usize),
) {
    let mark = t.mark(config, i);
    let p = match metric {
        Metric::Tps => &config.tps.points[i],
        Metric::P99 => &config.p99.points[i],
    };
    let y = match p.spread {
        Some(s) => f.y(s.median),
        None if mark == Mark::Normal || mark == Mark::Accepted => return,
        None => f.bottom(),
    };
    let n = &t.nights[i];
    let mut tip = format!(
        "{} run {}, rbench {} (git {}): {}",
        n.date(),
        n.rec.run_id,
        or_dash(&n.version),
        or_dash(&n.git_rev),
        t.config_status(config, i)
    );
    match p.spread {
        Some(s) => {
            let _ = write!(
                tip,
                "\nmedian {} of {} repeat{} (range {} to {})",
                metric.format(s.median),
                s.n,
                if s.n == 1 { "" } else { "s" },
                metric.format(s.min),
                metric.format(s.max)
            );
        }
        None => tip.push_str("\nno rows of this configuration"),
    }
    if let Some(b) = p.baseline {
        let _ = write!(tip, "\n{}", baseline_text(metric, &b));
    }
    g.raw(&format!(
        r#"<g class="night {}"><title>{}</title>{}</g>"#,
        class(mark),
        esc(&tip),
        shape(mark, f.x(j as f64 + 0.5), y)
    ));
}

/// The CSS class a mark's group carries (tests and styles find marks by it).
pub(super) fn class(mark: Mark) -> &'static str {
    match mark {
        Mark::Normal => "mark-normal",
        Mark::Regression => "mark-regression",
        Mark::Accepted => "mark-accepted",
        Mark::AcceptedRegression => "mark-accepted-regression",
        Mark::Inconclusive => "mark-inconclusive",
        Mark::Errors => "mark-errors",
        Mark::Incomplete => "mark-incomplete",
        Mark::Unjudged => "mark-unjudged",
    }
}

/// A mark centred on (x, y): each differs in shape as well as colour, so a greyscale print keeps
/// them apart.
pub(super) fn shape(mark: Mark, x: f64, y: f64) -> String {
    let square = |half: f64, fill: &str, stroke: &str, width: f64| {
        format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>"#,
            x - half,
            y - half,
            2.0 * half,
            2.0 * half
        )
    };
    match mark {
        Mark::Normal => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{MEDIAN}" stroke="#ffffff" stroke-width="1"/>"##
        ),
        Mark::Regression => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{RED}" stroke="#000000" stroke-width="1"/>"##
        ),
        Mark::Accepted => square(4.5, "#009e73", "#000000", 1.0),
        Mark::AcceptedRegression => square(5.5, RED, "#009e73", 2.5),
        Mark::Inconclusive => format!(
            r##"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="#cc79a7" stroke="#000000" stroke-width="1"/>"##,
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x - 6.0
        ),
        Mark::Errors => format!(
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="#e69f00" stroke-width="3" fill="none"/>"##,
            x - 5.0,
            y - 5.0,
            x + 5.0,
            y + 5.0,
            x - 5.0,
            y + 5.0,
            x + 5.0,
            y - 5.0
        ),
        Mark::Incomplete => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#ffffff" stroke="#555555" stroke-width="1.5" stroke-dasharray="2 2"/>"##
        ),
        Mark::Unjudged => square(4.5, "#ffffff", "#555555", 1.5),
    }
}

/// The legend of every chart on the page: the series, the baseline, then each mark.
pub(super) fn legend() -> String {
    let mut g = Svg::new(1100, 62, "legend");
    let y = 18.0;
    g.raw(&format!(
        r#"<line x1="10" y1="{y}" x2="34" y2="{y}" stroke="{MEDIAN}" stroke-width="2"/>"#
    ));
    g.text(40.0, y + 4.0, "start", "median of the night's repeats");
    g.raw(&format!(
        r##"<path d="M236,{}V{}M232,{}H240M232,{}H240" stroke="#333" stroke-width="1.2" fill="none"/>"##,
        y - 8.0,
        y + 8.0,
        y - 8.0,
        y + 8.0
    ));
    g.text(246.0, y + 4.0, "start", "range of its repeats");
    g.raw(&format!(
        r#"<rect x="392" y="{}" width="24" height="12" fill="{BAND}"/>"#,
        y - 6.0
    ));
    g.text(
        422.0,
        y + 4.0,
        "start",
        "baseline: range of its nights' medians",
    );
    g.raw(&format!(
        r#"<line x1="668" y1="{y}" x2="692" y2="{y}" stroke="{THRESHOLD}" stroke-width="1.5" stroke-dasharray="5 3"/>"#
    ));
    g.text(698.0, y + 4.0, "start", "threshold");
    let mut x = 10.0;
    for m in Mark::ALL {
        g.raw(&shape(m, x + 6.0, 46.0));
        g.text(x + 16.0, 50.0, "start", m.name());
        x += 26.0 + 7.0 * m.name().len() as f64;
    }
    g.finish()
}
