//! `trend.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched),
//! well-formed XML as well as HTML like the run report. The latest night's status, a summary row
//! per configuration, the legend, two charts per configuration (throughput and p99, `chart`) and
//! the nights drawn, with the rbench that ran each.

use std::fmt::Write;

use super::chart::{self, Metric};
use super::data::{Config, Mark, Trend, change, fmt_ms, fmt_rps, or_dash};
use super::markdown::basis;
use crate::report::html::{FOOT, STYLE};
use crate::report::svg::esc;

/// The nights the charts and the table draw: the most recent ones (the ledger keeps them all).
const SHOWN: usize = 60;

const EXTRA_STYLE: &str = ".headline{font-size:1.1em}.status{font-weight:bold;padding:1px 6px;border:1px solid #999}\
.bad{color:#fff;background:#d00000}.warn{background:#ffe7b3}.okay{background:#e3f1e8}\
td.bad{font-weight:bold}tr.night-bad td{background:#fde4e4}";

pub(super) fn page(t: &Trend) -> String {
    let title = "rbench nightly trend";
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>{title}</title><style>{STYLE}{EXTRA_STYLE}</style></head><body><main><h1>{title}</h1>"
    );
    let (word, sentence) = t.headline();
    let last = &t.nights[t.last()].rec;
    let _ = write!(
        s,
        "<p class=\"headline\"><span class=\"status {}\">{}</span> {}</p>",
        status_class(last.kind()),
        esc(&word),
        esc(&sentence)
    );
    let shown: Vec<usize> = (t.nights.len().saturating_sub(SHOWN)..t.nights.len()).collect();
    s.push_str(&summary(t));
    s.push_str(&charts(t, &shown));
    s.push_str(&nights(t, &shown));
    s.push_str(FOOT);
    s
}

/// The CSS class of a night's status: red for a regression, amber for a night not judged.
fn status_class(kind: crate::report::ledger::Status) -> &'static str {
    use crate::report::ledger::Status as S;
    match kind {
        S::Regression => "bad",
        S::First | S::Pass | S::Accepted => "okay",
        _ => "warn",
    }
}

/// A row per configuration: the last night that measured it, against that night's baseline.
fn summary(t: &Trend) -> String {
    let mut s = String::from("<section id=\"summary\"><h2>Configurations</h2>");
    if t.configs.is_empty() {
        s.push_str("<p class=\"note\">No configuration measured yet.</p></section>");
        return s;
    }
    s.push_str(
        "<table class=\"summary\"><tr><th>configuration</th><th>night</th><th>rps</th><th>baseline rps</th>\
         <th>Δ rps</th><th>p99 ms</th><th>baseline p99</th><th>Δ p99</th><th>status</th></tr>",
    );
    for c in &t.configs {
        let Some(i) = c.latest() else { continue };
        s.push_str(&summary_row(t, c, i));
    }
    let _ = write!(
        s,
        "</table><p class=\"note\">{}</p></section>",
        esc(&basis(t.opts.nights, &t.opts.thresholds))
    );
    s
}

fn summary_row(t: &Trend, c: &Config, i: usize) -> String {
    let (tps, p99) = (c.tps.points[i], c.p99.points[i]);
    let num = |v: Option<f64>, f: fn(f64) -> String| v.map_or("-".to_string(), f);
    let delta = |b: Option<f64>, m: Option<f64>| match (b, m) {
        (Some(b), Some(m)) => change(b, m),
        _ => "-".into(),
    };
    let (tm, tb) = (tps.spread.map(|x| x.median), tps.baseline.map(|b| b.median));
    let (pm, pb) = (p99.spread.map(|x| x.median), p99.baseline.map(|b| b.median));
    let mut name = format!("{} ({})", c.key.label(), c.key.config());
    if c.slo.is_some() {
        let _ = write!(name, ", {}", c.tps_title());
    }
    let bad = matches!(t.mark(c, i), Mark::Regression | Mark::AcceptedRegression);
    let cells = [
        num(tm, fmt_rps),
        num(tb, fmt_rps),
        delta(tb, tm),
        num(pm, fmt_ms),
        num(pb, fmt_ms),
        delta(pb, pm),
    ];
    let mut s = format!(
        "<tr><td>{}</td><td>{}</td>",
        esc(&name),
        esc(&format!(
            "{} {}",
            t.nights[i].date(),
            t.nights[i].rec.run_id
        ))
    );
    for v in cells {
        let _ = write!(s, "<td class=\"n\">{}</td>", esc(&v));
    }
    let _ = write!(
        s,
        "<td{}>{}</td></tr>",
        if bad { " class=\"bad\"" } else { "" },
        esc(&t.config_status(c, i))
    );
    s
}

/// The id of configuration `n`'s charts, for a link to them (`trend.html#cfg0-SET-on-...`).
fn anchor(n: usize, c: &Config) -> String {
    let raw = format!("cfg{n}-{}-{}", c.key.label(), c.key.config());
    raw.chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect()
}

fn charts(t: &Trend, shown: &[usize]) -> String {
    let mut s = String::from("<section id=\"charts\"><h2>Night by night</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">Each night's median and the range of its repeats, against the baseline that \
         night was judged by. A red mark is a night whose verdict named this configuration as a \
         regression. A range of repeats past twice the medians is cut at the chart's top. Hover a mark for \
         its night.{}</p>",
        if t.nights.len() > shown.len() {
            format!(
                " The last {} of {} nights are drawn.",
                shown.len(),
                t.nights.len()
            )
        } else {
            String::new()
        }
    );
    s.push_str(&chart::legend());
    for (n, c) in t.configs.iter().enumerate() {
        let _ = write!(
            s,
            "<h3 id=\"{}\">{} <small>{}</small></h3><div class=\"grid\">",
            anchor(n, c),
            esc(&c.key.label()),
            esc(&c.key.config())
        );
        for (metric, caption) in [
            (Metric::Tps, c.tps_title()),
            (Metric::P99, "p99 latency".into()),
        ] {
            let _ = write!(
                s,
                "<figure><figcaption>{}</figcaption>{}</figure>",
                esc(&caption),
                chart::chart(t, c, metric, shown)
            );
        }
        s.push_str("</div>");
    }
    s.push_str("</section>");
    s
}

/// The nights drawn, oldest first as in the charts, with the rbench that ran each.
fn nights(t: &Trend, shown: &[usize]) -> String {
    let mut s = String::from(
        "<section id=\"nights\"><h2>Nights</h2><table class=\"nights\"><tr><th>#</th><th>date</th>\
         <th>run</th><th>rbench</th><th>git</th><th>status</th><th>in baseline</th><th>regressions</th></tr>",
    );
    for &i in shown {
        let n = &t.nights[i];
        let bad = n.rec.kind() == crate::report::ledger::Status::Regression;
        let _ = write!(
            s,
            "<tr{}><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if bad { " class=\"night-bad\"" } else { "" },
            i + 1,
            esc(&n.rec.timestamp),
            esc(&n.rec.run_id),
            esc(or_dash(&n.version)),
            esc(or_dash(&n.git_rev)),
            esc(or_dash(&n.rec.status)),
            if n.rec.accepted { "yes" } else { "no" },
            esc(&n.rec.regressions.join(", "))
        );
    }
    s.push_str("</table></section>");
    s
}
