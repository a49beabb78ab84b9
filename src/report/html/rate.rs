//! The report's "Latency against rate" section, for runs with `--slo`: per test, every step of each
//! target's saturation search as latency (log scale) against the rate it achieved, the objectives
//! as levels, each target's answer as a vertical line, and a table of what each search found.

use std::fmt::Write;

use super::group;
use crate::report::TestResult;
use crate::report::svg::{self, Frame, LogAxis, Mark, Svg, esc};
use crate::report::table::ordered_unique;
use crate::slo::{Objective, SloResult, Step};

const NOTE: &str = "Each mark is one open-loop step of a search, its latency against the rate it \
achieved: p99 as circles on the bold line, p50 as squares on the light one. Filled marks met \
every objective, hollow ones missed. The dashed levels are the objectives; a vertical line marks \
each target's highest rate that met them. Later repeats re-run that rate: their marks sit off \
the lines.";

/// One target's search in one test: its ladder (repeat 1's) and the steps later repeats re-ran.
struct Search<'a> {
    target: &'a str,
    slo: &'a SloResult,
    reruns: Vec<&'a Step>,
}

impl Search<'_> {
    fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.slo.steps.iter().chain(self.reruns.iter().copied())
    }
}

/// The section's contents, or None when no result ran a search.
pub(super) fn section(results: &[TestResult]) -> Option<String> {
    let searched = results.iter().filter(|r| r.slo.is_some());
    let tests = ordered_unique(searched.map(|r| r.test.as_str()));
    if tests.is_empty() {
        return None;
    }
    let mut s = format!("<p class=\"note\">{}</p>", esc(NOTE));
    for test in tests {
        let searches = searches(results, test);
        let _ = write!(s, "<figure><figcaption>{}</figcaption>", esc(test));
        if searches.iter().all(|x| x.all_steps().next().is_none()) {
            s.push_str("<p class=\"note\">No search steps saved for this test.</p>");
        } else {
            s.push_str(&chart(test, &searches, &objectives(&searches)));
        }
        s.push_str("</figure>");
        s.push_str(&answers(&searches));
    }
    Some(s)
}

/// Each target's search in `test`, in order of appearance.
fn searches<'a>(results: &'a [TestResult], test: &str) -> Vec<Search<'a>> {
    let with: Vec<&'a TestResult> = results
        .iter()
        .filter(|r| r.test == test && r.slo.is_some())
        .collect();
    let targets = ordered_unique(with.iter().map(|r| r.target.as_str()));
    targets
        .into_iter()
        .filter_map(|t| {
            let mut runs: Vec<&'a TestResult> =
                with.iter().copied().filter(|r| r.target == t).collect();
            runs.sort_by_key(|r| r.repeat);
            let (first, rest) = runs.split_first()?;
            Some(Search {
                target: first.target.as_str(),
                slo: first.slo.as_ref()?,
                reruns: rest
                    .iter()
                    .flat_map(|r| r.slo.iter().flat_map(|s| s.steps.iter()))
                    .collect(),
            })
        })
        .collect()
}

/// Every objective of the searches, once.
fn objectives(searches: &[Search]) -> Vec<Objective> {
    let mut out: Vec<Objective> = Vec::new();
    for o in searches
        .iter()
        .flat_map(|s| crate::slo::parse_label(&s.slo.objective))
    {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

fn chart(test: &str, searches: &[Search], objectives: &[Objective]) -> String {
    let steps = || searches.iter().flat_map(Search::all_steps);
    let ax = LogAxis::covering(
        steps()
            .flat_map(|st| [st.p50_ms, st.p99_ms])
            .chain(objectives.iter().map(|o| o.limit_ms)),
    );
    let x_top = steps()
        .map(|st| st.achieved)
        .chain(searches.iter().filter_map(|s| s.slo.max_rps))
        .fold(0.0, f64::max);
    let x_ticks = svg::nice_ticks(x_top, 6);
    let f = Frame {
        left: 70.0,
        top: 20.0,
        width: 1100.0,
        height: 320.0,
        x_max: *x_ticks.last().unwrap_or(&1.0),
        y_max: ax.span(),
    };
    let mut g = Svg::new(1200, 410, &format!("{test}: latency against rate"));
    let x_labels: Vec<(f64, String)> = x_ticks.iter().map(|&v| (v, svg::short_num(v))).collect();
    g.axes_labelled(
        &f,
        &ax.ticks(),
        &x_labels,
        ("achieved rate (requests/s)", "latency (ms, log scale)"),
    );
    for o in objectives {
        g.level(&f, ax.pos(o.limit_ms), &o.display());
    }
    for (i, s) in searches.iter().enumerate() {
        draw(&mut g, &f, &ax, i, s);
        if let Some(m) = s.slo.max_rps {
            let label = format!("{} max {} rps", s.target, svg::short_num(m));
            g.vmark(&f, m, i, &label, i);
        }
    }
    legend(&mut g, &f, searches);
    g.finish()
}

/// A target's ladder in rising rate: p99 bold, p50 light, a mark per step (repeats' re-runs too).
fn draw(g: &mut Svg, f: &Frame, ax: &LogAxis, style: usize, s: &Search) {
    g.raw(&format!(
        "<g class=\"search\" aria-label=\"{}\">",
        esc(&format!("{}: steps of the search", s.target))
    ));
    let mut ladder: Vec<&Step> = s.slo.steps.iter().collect();
    ladder.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let line = |v: fn(&Step) -> f64| -> Vec<(f64, f64)> {
        ladder
            .iter()
            .filter(|st| v(st) > 0.0)
            .map(|st| (st.achieved, ax.pos(v(st))))
            .collect()
    };
    g.faint_line(f, &line(|st| st.p50_ms), style);
    g.line(f, &line(|st| st.p99_ms), style);
    for st in s.all_steps() {
        for (v, mark) in [(st.p50_ms, Mark::Square), (st.p99_ms, Mark::Circle)] {
            if v > 0.0 {
                g.point(f, (st.achieved, ax.pos(v)), style, mark, st.pass);
            }
        }
    }
    g.raw("</g>");
}

/// Targets top left inside the frame; what the marks and lines mean along the bottom.
fn legend(g: &mut Svg, f: &Frame, searches: &[Search]) {
    for (i, s) in searches.iter().enumerate() {
        g.legend_line(f.left + 12.0, f.top + 16.0 + 18.0 * i as f64, i, s.target);
    }
    let y = f.bottom() + 58.0;
    let mut x = f.left;
    for (filled, label) in [(true, "met every objective"), (false, "missed")] {
        g.legend_mark(x, y, Mark::Circle, filled, label);
        x += 40.0 + 7.0 * label.len() as f64;
    }
    for (faint, mark, label) in [(false, Mark::Circle, "p99"), (true, Mark::Square, "p50")] {
        let sample = Frame::legend_sample(x, y);
        let across = svg::LEGEND_SAMPLE;
        if faint {
            g.faint_line(&sample, &across, 0);
        } else {
            g.line(&sample, &across, 0);
        }
        g.point(&sample, (0.5, 0.5), 0, mark, true);
        g.text(x + 30.0, y + 4.0, "start", label);
        x += 70.0;
    }
}

/// What each target's search found.
fn answers(searches: &[Search]) -> String {
    let mut s = String::from(
        "<table class=\"slo\"><thead><tr><th>target</th><th>outcome</th>\
         <th>ceiling (rps)</th><th>max (rps)</th></tr></thead><tbody>",
    );
    for x in searches {
        let ceiling = if x.slo.ceiling_rps > 0.0 {
            group(x.slo.ceiling_rps)
        } else {
            "-".into()
        };
        let max = x.slo.max_rps.map_or_else(|| "-".into(), group);
        let _ = write!(
            s,
            "<tr><th>{}</th><td>{}</td><td class=\"n\">{ceiling}</td><td class=\"n\">{max}</td></tr>",
            esc(x.target),
            esc(&x.slo.verdict(&crate::slo::display_label(&x.slo.objective))),
        );
    }
    s.push_str("</tbody></table>");
    s
}
