//! Hand-written SVG for the HTML report: a plot frame with axes (linear, or decades of a log
//! axis), polylines, data points, stacked bars, levels and vertical markers. Written by hand rather
//! than with `plotters` because the report needs a few chart kinds, one of them on HdrHistogram's
//! "nines" axis, which plotters has no coordinate for; ~450 lines here weigh less than plotters'
//! dependency tree, and the output stays plain SVG text that a test can parse.

use std::fmt::Write;

/// A legend's line sample: across the middle of its `Frame::legend_sample`.
pub const LEGEND_SAMPLE: [(f64, f64); 2] = [(0.0, 0.5), (1.0, 0.5)];

/// Series styles that stay apart in a greyscale print: each differs in dash pattern and in
/// lightness as well as in hue (Okabe–Ito colours, readable with colour-blindness too).
pub const LINE_STYLES: [(&str, &str); 6] = [
    ("#000000", ""),
    ("#0072b2", "9 4"),
    ("#d55e00", "2 3"),
    ("#009e73", "10 3 2 3"),
    ("#cc79a7", "5 5"),
    ("#7a5c00", "14 3 2 3 2 3"),
];

/// Fills for the error classes stacked in a timeline: a colour and a pattern (`pattern_defs`),
/// so classes differ without colour.
pub const FILL_STYLES: usize = 6;

/// Escapes text for an XML/HTML text node or attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The hatch patterns the timelines reference, defined once per page.
pub fn pattern_defs() -> String {
    let colours = [
        "#b00020", "#e69f00", "#56b4e9", "#444444", "#cc79a7", "#009e73",
    ];
    let marks = [
        "",
        r#"<path d="M0,6 L6,0" stroke-width="2"/>"#,
        r#"<circle cx="3" cy="3" r="1.4"/>"#,
        r#"<path d="M0,3 H6" stroke-width="2"/>"#,
        r#"<path d="M0,0 L6,6 M0,6 L6,0" stroke-width="1.2"/>"#,
        r#"<path d="M3,0 V6" stroke-width="2"/>"#,
    ];
    let mut s = String::from(
        r#"<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>"#,
    );
    for (i, (c, m)) in colours.iter().zip(marks).enumerate() {
        let _ = write!(
            s,
            r##"<pattern id="fill{i}" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="{bg}"/><g stroke="#fff" fill="#fff">{m}</g></pattern>"##,
            bg = c
        );
    }
    s.push_str("</defs></svg>");
    s
}

/// Round tick values covering 0..=max: 1, 2 or 5 times a power of ten apart.
pub fn nice_ticks(max: f64, want: usize) -> Vec<f64> {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return vec![0.0, 1.0];
    }
    let raw = max / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A short number for an axis label: 120k, 1.5M, 0.25.
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.0}", v / 1e3)))
    } else if a >= 1e3 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        trim(format!("{v:.3}"))
    }
}

/// A base-10 axis over whole decades, `10^lo` to `10^hi`: `pos` maps a value to decades above the
/// bottom, so a `Frame` with `y_max = span()` draws it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogAxis {
    pub lo: i32,
    pub hi: i32,
}

impl LogAxis {
    /// The fewest whole decades holding every positive finite value (one at least).
    pub fn covering(values: impl IntoIterator<Item = f64>) -> LogAxis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            (min, max) = (min.min(v), max.max(v));
        }
        if !min.is_finite() {
            return LogAxis { lo: 0, hi: 1 };
        }
        let lo = min.log10().floor() as i32;
        let hi = (max.log10().ceil() as i32).max(lo + 1);
        LogAxis { lo, hi }
    }

    pub fn span(&self) -> f64 {
        f64::from(self.hi - self.lo)
    }

    /// Decades above the bottom; 0 (the bottom) for a value at or below 0.
    pub fn pos(&self, v: f64) -> f64 {
        if v > 0.0 {
            v.log10() - f64::from(self.lo)
        } else {
            0.0
        }
    }

    /// Each decade, labelled (0.01, 0.1, 1, 10), with unlabelled grid lines at 2 and 5 times.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        for k in self.lo..=self.hi {
            let at = f64::from(k - self.lo);
            out.push((at, decade_label(k)));
            if k < self.hi {
                out.push((at + 2f64.log10(), String::new()));
                out.push((at + 5f64.log10(), String::new()));
            }
        }
        out
    }
}

/// `10^k` written out: 0.001, 1, 1000.
fn decade_label(k: i32) -> String {
    if k >= 0 {
        format!("1{}", "0".repeat(k as usize))
    } else {
        format!("0.{}1", "0".repeat((-k - 1) as usize))
    }
}

/// A data point's shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Circle,
    Square,
}

/// A plot area inside an SVG: data ranges mapped to pixels.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    pub x_max: f64,
    pub y_max: f64,
}

impl Frame {
    /// The small frame a legend's line sample is drawn in, left of its label at (x, y); the sample
    /// runs across it at `LEGEND_SAMPLE`.
    pub fn legend_sample(x: f64, y: f64) -> Frame {
        Frame {
            left: x,
            top: y - 4.0,
            width: 24.0,
            height: 8.0,
            x_max: 1.0,
            y_max: 1.0,
        }
    }

    pub fn x(&self, v: f64) -> f64 {
        self.left + self.width * (v / self.x_max).clamp(0.0, 1.0)
    }

    pub fn y(&self, v: f64) -> f64 {
        self.top + self.height * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }

    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// An SVG document being written; `finish` closes it.
pub struct Svg {
    buf: String,
}

impl Svg {
    pub fn new(width: u32, height: u32, label: &str) -> Svg {
        let mut buf = String::new();
        let _ = write!(
            buf,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{}" font-family="sans-serif" font-size="12">"#,
            esc(label)
        );
        let _ = write!(
            buf,
            r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        Svg { buf }
    }

    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    pub fn text(&mut self, x: f64, y: f64, anchor: &str, s: &str) {
        let _ = write!(
            self.buf,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{}</text>"#,
            esc(s)
        );
    }

    /// Grid lines and labels: `y_ticks` on the left (values), `x_ticks` along the bottom (value,
    /// label), and the axis titles.
    pub fn axes(
        &mut self,
        f: &Frame,
        y_ticks: &[f64],
        x_ticks: &[(f64, String)],
        titles: (&str, &str),
    ) {
        let y: Vec<(f64, String)> = y_ticks.iter().map(|&t| (t, short_num(t))).collect();
        self.axes_labelled(f, &y, x_ticks, titles);
    }

    /// `axes` with the left labels given (a log axis' decades); a tick with an empty label is a
    /// grid line only.
    pub fn axes_labelled(
        &mut self,
        f: &Frame,
        y_ticks: &[(f64, String)],
        x_ticks: &[(f64, String)],
        titles: (&str, &str),
    ) {
        for (t, label) in y_ticks {
            let y = f.y(*t);
            let _ = write!(
                self.buf,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}"/>"##,
                f.left,
                f.left + f.width,
                if label.is_empty() {
                    "#ececec"
                } else {
                    "#d0d0d0"
                }
            );
            if !label.is_empty() {
                self.text(f.left - 6.0, y + 4.0, "end", label);
            }
        }
        for (v, label) in x_ticks {
            let x = f.x(*v);
            let _ = write!(
                self.buf,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/>"##,
                f.top,
                f.bottom()
            );
            self.text(x, f.bottom() + 15.0, "middle", label);
        }
        let _ = write!(
            self.buf,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#555"/>"##,
            f.left, f.top, f.width, f.height
        );
        self.text(
            f.left + f.width / 2.0,
            f.bottom() + 31.0,
            "middle",
            titles.0,
        );
        let (cx, cy) = (f.left - 44.0, f.top + f.height / 2.0);
        let _ = write!(
            self.buf,
            r#"<text x="{cx:.1}" y="{cy:.1}" text-anchor="middle" transform="rotate(-90 {cx:.1} {cy:.1})">{}</text>"#,
            esc(titles.1)
        );
    }

    /// A polyline through `points` (data coordinates) in series style `style`.
    pub fn line(&mut self, f: &Frame, points: &[(f64, f64)], style: usize) {
        self.polyline(f, points, style, "2", "");
    }

    /// The same line thinner and lighter: a second measure of the same series.
    pub fn faint_line(&mut self, f: &Frame, points: &[(f64, f64)], style: usize) {
        self.polyline(f, points, style, "1.2", r#" stroke-opacity="0.5""#);
    }

    fn polyline(
        &mut self,
        f: &Frame,
        points: &[(f64, f64)],
        style: usize,
        width: &str,
        extra: &str,
    ) {
        if points.is_empty() {
            return;
        }
        let (colour, dash) = LINE_STYLES[style % LINE_STYLES.len()];
        let mut pts = String::new();
        for &(x, y) in points {
            let _ = write!(pts, "{:.1},{:.1} ", f.x(x), f.y(y));
        }
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let _ = write!(
            self.buf,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}"{dash} stroke-linejoin="round"{extra}/>"#,
            pts.trim_end()
        );
    }

    /// A data point in series style `style`'s colour: filled, or hollow (white inside), so the two
    /// differ in greyscale.
    pub fn point(&mut self, f: &Frame, (x, y): (f64, f64), style: usize, mark: Mark, filled: bool) {
        let (px, py) = (f.x(x), f.y(y));
        self.mark_at((px, py), style, mark, filled);
    }

    fn mark_at(&mut self, (px, py): (f64, f64), style: usize, mark: Mark, filled: bool) {
        let colour = LINE_STYLES[style % LINE_STYLES.len()].0;
        let fill = if filled { colour } else { "#ffffff" };
        let _ = match mark {
            Mark::Circle => write!(
                self.buf,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>"#
            ),
            Mark::Square => write!(
                self.buf,
                r#"<rect x="{:.1}" y="{:.1}" width="6" height="6" fill="{fill}" stroke="{colour}" stroke-width="1" stroke-opacity="0.6" fill-opacity="0.6"/>"#,
                px - 3.0,
                py - 3.0
            ),
        };
    }

    /// A horizontal dashed level across the frame at `y` (data units), labelled at its right end.
    pub fn level(&mut self, f: &Frame, y: f64, label: &str) {
        let py = f.y(y);
        let _ = write!(
            self.buf,
            r##"<line x1="{:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#444" stroke-width="1.5" stroke-dasharray="8 4"/>"##,
            f.left,
            f.left + f.width
        );
        self.text(f.left + f.width - 6.0, py - 5.0, "end", label);
    }

    /// A vertical line at `x` (data units) in series style `style`'s colour, its label in row `row`
    /// from the top (so several stay apart), left of the line near the right edge.
    pub fn vmark(&mut self, f: &Frame, x: f64, style: usize, label: &str, row: usize) {
        let px = f.x(x);
        let colour = LINE_STYLES[style % LINE_STYLES.len()].0;
        let _ = write!(
            self.buf,
            r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.2" stroke-dasharray="3 3"/>"#,
            f.top,
            f.bottom()
        );
        let y = f.top + 14.0 + 15.0 * row as f64;
        if px > f.left + f.width * 0.75 {
            self.text(px - 4.0, y, "end", label);
        } else {
            self.text(px + 4.0, y, "start", label);
        }
    }

    /// One bar from `y0` to `y1` (data units) over x in `[x0, x1)`, filled with pattern `fill`.
    pub fn bar(&mut self, f: &Frame, (x0, x1): (f64, f64), (y0, y1): (f64, f64), fill: usize) {
        let (px0, px1) = (f.x(x0), f.x(x1));
        let (py0, py1) = (f.y(y1), f.y(y0));
        let _ = write!(
            self.buf,
            r##"<rect x="{px0:.1}" y="{py0:.1}" width="{:.1}" height="{:.1}" fill="url(#fill{})" stroke="#333" stroke-width="0.5"/>"##,
            (px1 - px0 - 1.0).max(1.0),
            (py1 - py0).max(0.5),
            fill % FILL_STYLES
        );
    }

    /// A plain column from 0 to `v` over x in `[x0, x1)`: the successes of a timeline.
    pub fn column(&mut self, f: &Frame, (x0, x1): (f64, f64), v: f64) {
        let (px0, px1, py) = (f.x(x0), f.x(x1), f.y(v));
        let _ = write!(
            self.buf,
            r##"<rect x="{px0:.1}" y="{py:.1}" width="{:.1}" height="{:.1}" fill="#8a9bb0"/>"##,
            (px1 - px0 - 0.6).max(0.6),
            (f.bottom() - py).max(0.0)
        );
    }

    /// A vertical dashed marker at `x` over `[top, bottom]` with a label beside its top.
    pub fn marker(&mut self, x: f64, top: f64, bottom: f64, label: &str) {
        let _ = write!(
            self.buf,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"/>"##
        );
        self.text(x + 4.0, top + 12.0, "start", label);
    }

    /// A legend entry: a line sample in series style `style`, or a fill swatch, then its label.
    pub fn legend_line(&mut self, x: f64, y: f64, style: usize, label: &str) {
        self.line(&Frame::legend_sample(x, y), &LEGEND_SAMPLE, style);
        self.text(x + 30.0, y + 4.0, "start", label);
    }

    /// A legend entry for a mark: `mark` filled or hollow, then its label.
    pub fn legend_mark(&mut self, x: f64, y: f64, mark: Mark, filled: bool, label: &str) {
        self.mark_at((x + 6.0, y), 0, mark, filled);
        self.text(x + 16.0, y + 4.0, "start", label);
    }

    pub fn legend_fill(&mut self, x: f64, y: f64, fill: usize, label: &str) {
        let _ = write!(
            self.buf,
            r##"<rect x="{x:.1}" y="{:.1}" width="14" height="10" fill="url(#fill{})" stroke="#333" stroke-width="0.5"/>"##,
            y - 5.0,
            fill % FILL_STYLES
        );
        self.text(x + 20.0, y + 4.0, "start", label);
    }

    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(
            nice_ticks(97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.9, 4), vec![0.0, 0.5, 1.0]);
        assert_eq!(nice_ticks(0.0, 4), vec![0.0, 1.0]);
        assert!(nice_ticks(123_456.0, 5).last().copied().unwrap() >= 123_456.0);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_num(120_000.0), "120k");
        assert_eq!(short_num(1_500_000.0), "1.5M");
        assert_eq!(short_num(2_500.0), "2.5k");
        assert_eq!(short_num(0.25), "0.25");
        assert_eq!(short_num(40.0), "40");
    }

    #[test]
    fn log_axis_covers_whole_decades() {
        let a = LogAxis::covering([0.12, 3.0, 450.0, 0.0, f64::NAN]);
        assert_eq!(a, LogAxis { lo: -1, hi: 3 });
        assert_eq!(a.span(), 4.0);
        assert!((a.pos(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(a.pos(0.0), 0.0);
        let labels: Vec<String> = a
            .ticks()
            .into_iter()
            .map(|t| t.1)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels, ["0.1", "1", "10", "100", "1000"]);
        assert_eq!(LogAxis::covering([1.0]), LogAxis { lo: 0, hi: 1 });
        assert_eq!(LogAxis::covering([]), LogAxis { lo: 0, hi: 1 });
        assert_eq!(decade_label(-3), "0.001");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
