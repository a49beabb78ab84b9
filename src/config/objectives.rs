//! Latency objectives (`--slo p99=1ms,p50=200us`): what a saturation search must keep, as the plan
//! holds it. The search itself (`crate::slo`) judges measured steps against these.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::stats::ms;

/// `--slo-step` default: long enough for a stable p99 at any rate worth searching.
pub const DEFAULT_STEP: Duration = Duration::from_secs(5);
/// `--slo-resolution` default: the search stops when its bracket is this narrow.
pub const DEFAULT_RESOLUTION: f64 = 0.02;
/// `--slo-confirm`: the runs the answer must hold by default, and at most.
pub const DEFAULT_CONFIRM: u32 = 5;
pub const MAX_CONFIRM: u32 = 20;
/// Shorter steps measure start-up more than the rate.
pub const MIN_STEP: Duration = Duration::from_millis(200);
/// One latency objective: `p99=1ms` holds when the step's p99 is at most 1 ms.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// As the user names it: p50, p90, p95, p99, p999, p9999 or max.
    pub name: &'static str,
    /// The percentile it reads (100 for max).
    pub quantile: f64,
    pub limit_ms: f64,
}

const QUANTILES: [(&str, f64); 7] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
    ("p9999", 99.99),
    ("max", 100.0),
];

impl Objective {
    /// The step's value of this objective's percentile, in ms.
    pub fn measure(&self, h: &Histogram<u64>) -> f64 {
        if h.is_empty() {
            return 0.0;
        }
        if self.quantile >= 100.0 {
            ms(h.max())
        } else {
            ms(h.value_at_quantile(self.quantile / 100.0))
        }
    }

    /// `p99<=1ms`: ASCII, for CSV and JSON.
    pub fn label(&self) -> String {
        format!("{}<={}", self.name, latency_text(self.limit_ms))
    }

    /// `p99 ≤ 1 ms`: for tables and the console.
    pub fn display(&self) -> String {
        format!("{} ≤ {}", self.name, self.limit_display())
    }

    /// `1 ms`, `250 us`.
    pub fn limit_display(&self) -> String {
        let t = latency_text(self.limit_ms);
        let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
        format!("{num} {unit}")
    }
}

/// A latency in the unit that shows it without a fraction where it can: 1ms, 250us, 1.5ms, 2s.
fn latency_text(ms: f64) -> String {
    let us = ms * 1000.0;
    if ms >= 1000.0 && (ms / 1000.0).fract() == 0.0 {
        format!("{}s", ms / 1000.0)
    } else if ms < 1.0 && us.fract().abs() < 1e-9 {
        format!("{us}us")
    } else {
        format!("{ms}ms")
    }
}

/// The search's settings: objectives (all must hold), step length, resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub objectives: Vec<Objective>,
    pub step: Duration,
    pub resolution: f64,
    /// The runs the rate reported must hold, in a row.
    pub confirm: u32,
}

impl Slo {
    /// `p99<=1ms,p50<=200us`.
    pub fn label(&self) -> String {
        let l: Vec<String> = self.objectives.iter().map(Objective::label).collect();
        l.join(",")
    }

    /// `p99 ≤ 1 ms, p50 ≤ 200 us`.
    pub fn display(&self) -> String {
        let l: Vec<String> = self.objectives.iter().map(Objective::display).collect();
        l.join(", ")
    }

    /// The closed-loop probe that finds the ceiling: short, but not shorter than a step.
    pub fn probe(&self) -> Duration {
        self.step.min(Duration::from_secs(2))
    }
}

/// The objectives of a saved label (`p99<=1ms,p50<=200us`); none when it does not parse.
pub fn parse_label(label: &str) -> Vec<Objective> {
    parse_objectives(&label.replace("<=", "=")).unwrap_or_default()
}

/// A saved label as `p99 ≤ 1 ms, p50 ≤ 200 us`, or as it is when it does not parse.
pub fn display_label(label: &str) -> String {
    let o = parse_label(label);
    if o.is_empty() {
        return label.to_string();
    }
    o.iter()
        .map(Objective::display)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `p99=1ms` or several, comma-separated (`p99=1ms,p50=200us`); a percentile given twice is
/// refused, since only one of its limits could be meant.
pub fn parse_objectives(s: &str) -> Result<Vec<Objective>, String> {
    let mut out: Vec<Objective> = Vec::new();
    for part in s.split(',').map(str::trim) {
        let Some((name, limit)) = part.split_once('=') else {
            return Err(format!(
                "`{part}` is not an objective: use PERCENTILE=LATENCY, e.g. p99=1ms"
            ));
        };
        let name = name.trim().to_ascii_lowercase();
        let Some(&(name, quantile)) = QUANTILES.iter().find(|(n, _)| *n == name) else {
            return Err(format!(
                "unknown percentile `{name}`: use p50, p90, p95, p99, p999, p9999 or max"
            ));
        };
        if out.iter().any(|o| o.name == name) {
            return Err(format!("{name} is given twice"));
        }
        out.push(Objective {
            name,
            quantile,
            limit_ms: parse_latency(limit.trim())?,
        });
    }
    Ok(out)
}

/// `1ms`, `250us` (or `µs`), `1.5ms`, `2s` → milliseconds. A unit is required: a bare `1` could mean
/// any of them.
pub fn parse_latency(s: &str) -> Result<f64, String> {
    let bad = || format!("`{s}` is not a latency: use a number and a unit, e.g. 1ms, 250us, 0.5s");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "us" | "µs" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        _ => return Err(bad()),
    };
    let ms = v * scale;
    if !(ms.is_finite() && ms > 0.0) {
        return Err(format!("`{s}`: a latency objective must be above 0"));
    }
    if ms < 0.001 {
        return Err(format!(
            "`{s}`: latencies are measured in whole microseconds; use at least 1us"
        ));
    }
    Ok(ms)
}

/// `2%` or `0.02` → 0.02, within (0, 0.5].
pub fn parse_resolution(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| {
        format!("`{s}` is not a resolution: use a percentage like 2% or a fraction like 0.02")
    })?;
    if !(v > 0.0 && v <= 0.5) {
        return Err(format!(
            "`{s}`: the resolution must be above 0 and at most 50%"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse() {
        let o = parse_objectives("p99=1ms, P50=250us,max=2s,p999=1.5ms").unwrap();
        let names: Vec<&str> = o.iter().map(|o| o.name).collect();
        assert_eq!(names, ["p99", "p50", "max", "p999"]);
        let limits: Vec<f64> = o.iter().map(|o| o.limit_ms).collect();
        assert_eq!(limits, [1.0, 0.25, 2000.0, 1.5]);
        let labels: Vec<String> = o.iter().map(Objective::label).collect();
        assert_eq!(labels, ["p99<=1ms", "p50<=250us", "max<=2s", "p999<=1.5ms"]);
        assert_eq!(o[0].display(), "p99 ≤ 1 ms");
        assert_eq!(o[1].display(), "p50 ≤ 250 us");
    }

    #[test]
    fn bad_objectives_say_why() {
        let err = |s: &str| parse_objectives(s).unwrap_err();
        assert!(
            err("p99=abc").contains("`abc` is not a latency"),
            "{}",
            err("p99=abc")
        );
        assert!(err("p42=1ms").contains("unknown percentile `p42`"));
        assert!(err("p99").contains("PERCENTILE=LATENCY"));
        assert!(err("p99=1").contains("not a latency"));
        assert!(err("p99=0ms").contains("above 0"));
        assert!(err("p99=1ms,p99=2ms").contains("twice"));
        assert!(err("p99=0.1us").contains("microseconds"));
    }

    #[test]
    fn resolution_parses() {
        assert_eq!(parse_resolution("2%").unwrap(), 0.02);
        assert_eq!(parse_resolution("0.05").unwrap(), 0.05);
        assert!(parse_resolution("0").is_err());
        assert!(parse_resolution("60%").is_err());
        assert!(parse_resolution("x").is_err());
    }

    #[test]
    fn objectives_read_the_histogram() {
        let mut h = crate::stats::new_histogram();
        for us in 1..=1000u64 {
            h.record(us).unwrap();
        }
        let o = parse_objectives("p99=1ms,max=1ms").unwrap();
        assert!((o[0].measure(&h) - 0.990).abs() < 0.002);
        assert!((o[1].measure(&h) - 1.0).abs() < 0.002);
    }
}
