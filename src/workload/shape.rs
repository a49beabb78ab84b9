//! The open loop's rate: a fixed number, or a shape over time (`ramp:`, `steps:`, `spike:`,
//! `sine:`, `file:`). Every shape is drawn as straight pieces (a step is a piece of no length), so
//! its area — the requests due by time t — has a closed form, and request i is due exactly when the
//! area reaches i: computed from i itself, so no rounding drifts over a long run.

use std::path::Path;
use std::sync::Arc;

/// Straight pieces a sine period is drawn with: within 0.01 % of its amplitude.
const SINE_PIECES: usize = 256;
/// The highest rate any point of a shape may have (as `--rps`).
const MAX_RATE: f64 = 100_000_000.0;

/// The open loop's target rate.
#[derive(Clone, Debug, PartialEq)]
pub enum Rate {
    Fixed(f64),
    Shaped(Arc<Shape>),
}

/// One straight piece: the rate goes from `r0` at `t0` to `r1` at `t1` (seconds); `a0` is the
/// area (requests) before `t0`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    t0: f64,
    t1: f64,
    r0: f64,
    r1: f64,
    a0: f64,
}

impl Piece {
    fn area_to(&self, t: f64) -> f64 {
        let x = (t - self.t0).clamp(0.0, self.t1 - self.t0);
        self.a0 + x * (self.r0 + self.slope() * x / 2.0)
    }

    fn slope(&self) -> f64 {
        match self.t1 > self.t0 {
            true => (self.r1 - self.r0) / (self.t1 - self.t0),
            false => 0.0,
        }
    }

    /// The time within the piece at which the area reaches `a` (`a0 <= a <= its end`).
    fn time_of(&self, a: f64) -> f64 {
        let d = (a - self.a0).max(0.0);
        let (r0, s) = (self.r0, self.slope());
        // s/2·x² + r0·x = d, in the form that stays exact as s goes to 0.
        let root = (r0 * r0 + 2.0 * s * d).max(0.0).sqrt();
        let x = if r0 + root > 0.0 {
            2.0 * d / (r0 + root)
        } else {
            0.0
        };
        (self.t0 + x).min(self.t1)
    }

    fn end_area(&self) -> f64 {
        self.area_to(self.t1)
    }
}

/// A rate over time, as the user wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    spec: String,
    pieces: Vec<Piece>,
    /// Its natural length (s): a run given neither -n nor --duration lasts this long.
    length: f64,
    /// The pieces repeat (sine); otherwise the last rate holds after them.
    periodic: bool,
}

impl Shape {
    fn new(spec: &str, points: &[(f64, f64)], length: f64, periodic: bool) -> Shape {
        let mut pieces = Vec::with_capacity(points.len());
        let mut a = 0.0;
        for w in points.windows(2) {
            let p = Piece {
                t0: w[0].0,
                t1: w[1].0,
                r0: w[0].1,
                r1: w[1].1,
                a0: a,
            };
            a = p.end_area();
            pieces.push(p);
        }
        Shape {
            spec: spec.to_string(),
            pieces,
            length,
            periodic,
        }
    }

    /// As written (`ramp:1000..50000/30s`).
    pub fn spec(&self) -> &str {
        &self.spec
    }

    pub fn length(&self) -> f64 {
        self.length
    }

    /// The highest rate of the shape.
    pub fn peak(&self) -> f64 {
        self.pieces
            .iter()
            .map(|p| p.r0.max(p.r1))
            .fold(0.0, f64::max)
    }

    fn span(&self) -> (f64, f64) {
        let last = self.pieces.last().map_or(0.0, |p| p.t1);
        (last, self.pieces.last().map_or(0.0, Piece::end_area))
    }

    /// The rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        let (end, _) = self.span();
        let t = match self.periodic && end > 0.0 {
            true => t.rem_euclid(end),
            false => t,
        };
        let i = self.pieces.partition_point(|p| p.t1 <= t);
        match self.pieces.get(i) {
            Some(p) if t >= p.t0 => p.r0 + p.slope() * (t - p.t0),
            Some(p) => p.r0,
            None => self.pieces.last().map_or(0.0, |p| p.r1),
        }
    }

    /// Requests due in `[0, t)`.
    pub fn area(&self, t: f64) -> f64 {
        let (end, total) = self.span();
        if t >= end {
            if self.periodic && end > 0.0 {
                let k = (t / end).floor();
                return k * total + self.area(t - k * end);
            }
            let last = self.pieces.last().map_or(0.0, |p| p.r1);
            return total + (t - end) * last;
        }
        let i = self.pieces.partition_point(|p| p.t1 <= t);
        self.pieces.get(i).map_or(0.0, |p| p.area_to(t))
    }

    /// The time (s) at which the area reaches `a`; `cursor` is the caller's piece (areas asked in
    /// rising order move it forward only, so each request costs O(1)).
    pub fn time_of(&self, a: f64, cursor: &mut usize) -> f64 {
        let (end, total) = self.span();
        if a >= total {
            if self.periodic && total > 0.0 {
                let k = (a / total).floor();
                return k * end + self.time_of(a - k * total, cursor);
            }
            let last = self.pieces.last().map_or(1.0, |p| p.r1);
            return end + (a - total) / last;
        }
        if *cursor >= self.pieces.len() || self.pieces[*cursor].a0 > a {
            *cursor = 0;
        }
        while *cursor + 1 < self.pieces.len() && self.pieces[*cursor].end_area() <= a {
            *cursor += 1;
        }
        self.pieces[*cursor].time_of(a)
    }

    /// The same shape at `f` times the rate (a shard's share).
    pub fn scaled(&self, f: f64) -> Shape {
        let mut s = self.clone();
        for p in &mut s.pieces {
            (p.r0, p.r1, p.a0) = (p.r0 * f, p.r1 * f, p.a0 * f);
        }
        s
    }
}

impl Rate {
    /// A fixed rate, if that is what it is.
    pub fn fixed(&self) -> Option<f64> {
        match self {
            Rate::Fixed(r) => Some(*r),
            Rate::Shaped(_) => None,
        }
    }

    pub fn shape(&self) -> Option<&Shape> {
        match self {
            Rate::Fixed(_) => None,
            Rate::Shaped(s) => Some(s),
        }
    }

    /// Requests due in `[0, t)` seconds.
    pub fn area(&self, t: f64) -> f64 {
        match self {
            Rate::Fixed(r) => r * t,
            Rate::Shaped(s) => s.area(t),
        }
    }

    /// The mean rate over `[t0, t1)`.
    pub fn mean(&self, t0: f64, t1: f64) -> f64 {
        match t1 > t0 {
            true => (self.area(t1) - self.area(t0)) / (t1 - t0),
            false => 0.0,
        }
    }

    /// The highest rate it reaches.
    pub fn peak(&self) -> f64 {
        match self {
            Rate::Fixed(r) => *r,
            Rate::Shaped(s) => s.peak(),
        }
    }

    /// `f` times the rate.
    pub fn scaled(&self, f: f64) -> Rate {
        match self {
            Rate::Fixed(r) => Rate::Fixed(r * f),
            Rate::Shaped(s) => Rate::Shaped(Arc::new(s.scaled(f))),
        }
    }

    /// The fixed rate the shape starts at (itself if fixed).
    pub fn at_start(&self) -> Rate {
        match self {
            Rate::Fixed(r) => Rate::Fixed(*r),
            Rate::Shaped(s) => Rate::Fixed(s.rate_at(0.0)),
        }
    }

    /// As the user wrote it.
    pub fn label(&self) -> String {
        match self {
            Rate::Fixed(r) => format!("{r}"),
            Rate::Shaped(s) => s.spec.clone(),
        }
    }
}

/// Parses `--rps`: a number, or a shape. `dir` is where a relative `file:` path is found (the
/// profile's folder for a profile's `rps`).
pub fn parse(text: &str, dir: Option<&Path>) -> Result<Rate, String> {
    let t = text.trim();
    let Some((kind, body)) = t.split_once(':') else {
        return fixed(t).map(Rate::Fixed);
    };
    let shape = match kind.trim() {
        "ramp" => ramp(t, body),
        "steps" => steps(t, body),
        "spike" => spike(t, body),
        "sine" => sine(t, body),
        "file" => file(t, body.trim(), dir),
        k => Err(format!(
            "unknown rate shape `{k}` in `{t}`: expected a number, ramp:FROM..TO/DURATION, \
             steps:R1,R2,.../EACH, spike:BASE,PEAK@AT/LENGTH, sine:MEAN±AMP/PERIOD or file:PATH"
        )),
    }?;
    Ok(Rate::Shaped(Arc::new(shape)))
}

/// A rate: above 0, at most 1e8.
fn fixed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        Ok(r) => Err(format!("a rate must be above 0 (at most 1e8), got {r}")),
        Err(_) => Err(format!(
            "`{s}` is not a rate: expected requests per second, e.g. 5000, or a shape such as ramp:1000..50000/30s"
        )),
    }
}

fn secs(s: &str) -> Result<f64, String> {
    crate::workload::parse_duration(s)
        .map(|d| d.as_secs_f64())
        .map_err(|e| e.to_string())
}

/// `BODY/DURATION` split at its last slash.
fn over<'a>(spec: &str, body: &'a str, what: &str) -> Result<(&'a str, f64), String> {
    let (head, d) = body
        .rsplit_once('/')
        .ok_or_else(|| format!("`{spec}`: expected {what}"))?;
    Ok((head, secs(d).map_err(|e| format!("`{spec}`: {e}"))?))
}

fn ramp(spec: &str, body: &str) -> Result<Shape, String> {
    let form = "ramp:FROM..TO/DURATION, e.g. ramp:1000..50000/30s";
    let (rates, d) = over(spec, body, form)?;
    let (a, b) = rates
        .split_once("..")
        .ok_or_else(|| format!("`{spec}`: expected {form}"))?;
    let (a, b) = (fixed(a), fixed(b));
    let (a, b) = (a.map_err(|e| at(spec, e))?, b.map_err(|e| at(spec, e))?);
    Ok(Shape::new(spec, &[(0.0, a), (d, b)], d, false))
}

fn steps(spec: &str, body: &str) -> Result<Shape, String> {
    let form = "steps:R1,R2,.../EACH, e.g. steps:1000,2000,4000/10s";
    let (rates, each) = over(spec, body, form)?;
    let rates: Vec<f64> = rates
        .split(',')
        .map(|r| fixed(r).map_err(|e| at(spec, e)))
        .collect::<Result<_, _>>()?;
    let mut points = Vec::with_capacity(rates.len() * 2);
    for (i, r) in rates.iter().enumerate() {
        points.push((i as f64 * each, *r));
        points.push(((i + 1) as f64 * each, *r));
    }
    Ok(Shape::new(spec, &points, rates.len() as f64 * each, false))
}

fn spike(spec: &str, body: &str) -> Result<Shape, String> {
    let form = "spike:BASE,PEAK@AT/LENGTH, e.g. spike:2000,20000@10s/5s";
    let (head, len) = over(spec, body, form)?;
    let (rates, at_s) = head
        .split_once('@')
        .ok_or_else(|| format!("`{spec}`: expected {form}"))?;
    let (base, peak) = rates
        .split_once(',')
        .ok_or_else(|| format!("`{spec}`: expected {form}"))?;
    let (base, peak) = (fixed(base), fixed(peak));
    let (base, peak) = (
        base.map_err(|e| at(spec, e))?,
        peak.map_err(|e| at(spec, e))?,
    );
    let t = secs(at_s).map_err(|e| at(spec, e))?;
    let points = [
        (0.0, base),
        (t, base),
        (t, peak),
        (t + len, peak),
        (t + len, base),
        (2.0 * t + len, base),
    ];
    // As much base after the spike as before it, unless -n or --duration say otherwise.
    Ok(Shape::new(spec, &points, 2.0 * t + len, false))
}

fn sine(spec: &str, body: &str) -> Result<Shape, String> {
    let form = "sine:MEAN±AMP/PERIOD (or MEAN+-AMP), e.g. sine:20000±10000/60s";
    let (head, period) = over(spec, body, form)?;
    let (mean, amp) = head
        .split_once('±')
        .or_else(|| head.split_once("+-"))
        .ok_or_else(|| format!("`{spec}`: expected {form}"))?;
    let mean = fixed(mean).map_err(|e| at(spec, e))?;
    let amp: f64 = amp
        .trim()
        .parse()
        .map_err(|_| format!("`{spec}`: the amplitude `{amp}` is not a number"))?;
    if !(amp.is_finite() && amp >= 0.0 && amp < mean) {
        return Err(format!(
            "`{spec}`: the amplitude must be at least 0 and below the mean, so the rate stays above 0"
        ));
    }
    let points: Vec<(f64, f64)> = (0..=SINE_PIECES)
        .map(|k| {
            let x = k as f64 / SINE_PIECES as f64;
            (x * period, mean + amp * (std::f64::consts::TAU * x).sin())
        })
        .collect();
    Ok(Shape::new(spec, &points, period, true))
}

fn at(spec: &str, e: String) -> String {
    format!("`{spec}`: {e}")
}

/// `file:PATH`: `t_s,rps` points, linearly joined; a header line, blank lines and `#` comments are
/// skipped, and two points at one time make a step.
fn file(spec: &str, path: &str, dir: Option<&Path>) -> Result<Shape, String> {
    if path.is_empty() {
        return Err(format!(
            "`{spec}`: expected file:PATH, a CSV of t_s,rps points"
        ));
    }
    let p = match (Path::new(path).is_relative(), dir) {
        (true, Some(d)) => d.join(path),
        _ => Path::new(path).to_path_buf(),
    };
    let text =
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    let points = points_of(&text).map_err(|(line, e)| format!("{}:{line}: {e}", p.display()))?;
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut all = points;
    if first.0 > 0.0 {
        all.insert(0, (0.0, first.1)); // before its first point, a file holds that rate
    }
    Ok(Shape::new(spec, &all, last.0, false))
}

/// The points of a `file:` shape, or the line (1-based) and what is wrong with it.
fn points_of(text: &str) -> Result<Vec<(f64, f64)>, (usize, String)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.split(',').map(str::trim);
        let (t, r) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""));
        let Ok(t) = t.parse::<f64>() else {
            if points.is_empty() && i == 0 {
                continue; // a header
            }
            return Err((i + 1, format!("expected t_s,rps, got `{line}`")));
        };
        if !t.is_finite() || t < 0.0 {
            return Err((i + 1, format!("a time must be 0 or more seconds, got {t}")));
        }
        let r = fixed(r).map_err(|e| (i + 1, e))?;
        if let Some(&(prev, _)) = points.last()
            && t < prev
        {
            return Err((
                i + 1,
                format!("time goes back ({t} s after {prev} s): times must not decrease"),
            ));
        }
        points.push((t, r));
    }
    match points.last() {
        Some(&(t, _)) if points.len() >= 2 && t > 0.0 => Ok(points),
        _ => Err((
            text.lines().count().max(1),
            "a rate file needs at least two points spanning more than 0 s".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
