//! What a run at a rate shape (`--rps ramp:...`) reports beside the usual summary: the whole
//! seconds whose achieved rate fell short of the shape, and the latency in each band of the
//! shape's peak rate — "how does p99 grow as the rate climbs" in one table.

use std::fmt::Write;

use crate::stats::{RateBands, Summary, Tick, summarize};
use crate::workload::shape::Rate;

/// A second is short when it achieved less than this share of its target.
pub const SHORT: f64 = 0.97;

#[derive(Clone, Debug, PartialEq)]
pub struct ShapeReport {
    /// The shape as written.
    pub spec: String,
    pub peak_rps: f64,
    /// Whole seconds judged.
    pub seconds: usize,
    /// The whole seconds (1-based) that achieved less than `SHORT` of their target.
    pub short: Vec<ShortSecond>,
    /// This command's latency per band of the peak rate (bands without a second left out).
    pub bands: Vec<Band>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShortSecond {
    pub second: usize,
    pub target_rps: f64,
    pub achieved_rps: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// The band's share of the peak rate, in percent: (from, to].
    pub from_pct: u32,
    pub to_pct: u32,
    pub seconds: u64,
    pub requests: u64,
    pub latency: Summary,
}

/// Each second's target (requests per second over it, the phase's whole schedule): the rate's
/// mean over the second, the last one cut at `elapsed`.
pub fn targets(rate: &Rate, seconds: usize, elapsed: f64) -> Vec<f64> {
    (0..seconds)
        .map(|k| {
            let (a, b) = (k as f64, ((k + 1) as f64).min(elapsed.max(k as f64)));
            match b > a {
                true => rate.mean(a, b),
                false => rate.mean(a, a + 1.0),
            }
        })
        .collect()
}

/// The report of lane `lane` of a phase run at `rate`: short seconds are judged on the phase's
/// whole traffic (every lane's replies), since one schedule drives them all.
pub fn of_phase(
    rate: &Rate,
    timelines: &[Vec<Tick>],
    bands: Option<&RateBands>,
    lane: usize,
    elapsed: f64,
) -> Option<ShapeReport> {
    let shape = rate.shape()?;
    let whole = elapsed.floor() as usize;
    let due = targets(rate, whole, elapsed);
    let short = (0..whole)
        .filter_map(|k| {
            let done: u64 = timelines
                .iter()
                .filter_map(|t| t.get(k))
                .map(|t| t.ok + t.failed)
                .sum();
            let achieved = done as f64;
            (achieved < due[k] * SHORT).then_some(ShortSecond {
                second: k + 1,
                target_rps: due[k],
                achieved_rps: achieved,
            })
        })
        .collect();
    Some(ShapeReport {
        spec: shape.spec().to_string(),
        peak_rps: shape.peak(),
        seconds: whole,
        short,
        bands: bands.map(|b| bands_of(b, lane)).unwrap_or_default(),
    })
}

fn bands_of(b: &RateBands, lane: usize) -> Vec<Band> {
    let Some(hists) = b.lanes.get(lane) else {
        return Vec::new();
    };
    let step = 100 / RateBands::COUNT as u32;
    (0..RateBands::COUNT)
        .filter(|&i| b.seconds[i] > 0)
        .map(|i| Band {
            from_pct: i as u32 * step,
            to_pct: (i as u32 + 1) * step,
            seconds: b.seconds[i],
            requests: hists[i].len(),
            latency: summarize(&hists[i]),
        })
        .collect()
}

/// The console's lines for a shaped row, under its summary.
pub fn lines(s: &ShapeReport) -> String {
    let mut out = format!("  rate shape: {} (peak {:.0} rps)\n", s.spec, s.peak_rps);
    match s.short.len() {
        0 => {
            let _ = writeln!(
                out,
                "  every whole second achieved at least {:.0}% of its target ({} s)",
                SHORT * 100.0,
                s.seconds
            );
        }
        n => {
            let _ = writeln!(
                out,
                "  WARNING: {n} of {} whole seconds achieved less than {:.0}% of their target:",
                s.seconds,
                SHORT * 100.0
            );
            for x in s.short.iter().take(10) {
                let _ = writeln!(
                    out,
                    "    second {}: {:.0} of {:.0} rps ({:.1}%)",
                    x.second,
                    x.achieved_rps,
                    x.target_rps,
                    100.0 * x.achieved_rps / x.target_rps.max(1e-9)
                );
            }
            if n > 10 {
                let _ = writeln!(out, "    ... and {} more", n - 10);
            }
        }
    }
    if !s.bands.is_empty() {
        out.push_str("  latency by target rate (share of the peak):\n");
        out.push_str("    band        seconds   requests     p50 ms     p99 ms     max ms\n");
        for b in &s.bands {
            let _ = writeln!(
                out,
                "    {:<11}{:>7} {:>10} {:>10.3} {:>10.3} {:>10.3}",
                format!("{}-{}%", b.from_pct, b.to_pct),
                b.seconds,
                b.requests,
                b.latency.p50,
                b.latency.p99,
                b.latency.max
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Second;

    fn tick(n: u64) -> Tick {
        Tick {
            ok: n,
            ..Tick::default()
        }
    }

    #[test]
    fn short_seconds_are_judged_on_the_whole_phase() {
        let rate = crate::workload::shape::parse("ramp:1000..2000/4s", None).unwrap();
        // Two lanes (a mix) sharing the schedule: seconds 1 and 3 carry their targets.
        let due = targets(&rate, 4, 4.0);
        assert_eq!(due, [1125.0, 1375.0, 1625.0, 1875.0]);
        let a = vec![tick(600), tick(600), tick(800), tick(1000)];
        let b = vec![tick(525), tick(700), tick(825), tick(875)];
        let r = of_phase(&rate, &[a.clone(), b], None, 0, 4.2).unwrap();
        assert_eq!(r.seconds, 4);
        let short: Vec<usize> = r.short.iter().map(|s| s.second).collect();
        assert_eq!(short, [2], "1300 of 1375 is 94.5%; 1625 and 1875 are met");
        assert_eq!(r.short[0].achieved_rps, 1300.0);
        assert!(of_phase(&Rate::Fixed(5.0), &[a], None, 0, 4.0).is_none());
    }

    #[test]
    fn bands_hold_the_seconds_of_their_share_of_the_peak() {
        let mut b = RateBands::new(1);
        assert_eq!(RateBands::band_of(0.05), 0);
        assert_eq!(RateBands::band_of(0.1), 0);
        assert_eq!(RateBands::band_of(0.11), 1);
        assert_eq!(RateBands::band_of(1.0), 9);
        assert_eq!(RateBands::band_of(0.0), 0);
        let mut s = Second::new();
        for us in [100, 200, 300] {
            s.hist.record(us).unwrap();
        }
        b.add(9, &[Some(s.clone())]);
        b.add(9, &[Some(s)]);
        let rate = crate::workload::shape::parse("steps:10,100/1s", None).unwrap();
        let r = of_phase(&rate, &[vec![tick(10), tick(100)]], Some(&b), 0, 2.0).unwrap();
        assert_eq!(r.bands.len(), 1);
        assert_eq!((r.bands[0].from_pct, r.bands[0].to_pct), (90, 100));
        assert_eq!((r.bands[0].seconds, r.bands[0].requests), (2, 6));
        assert!(lines(&r).contains("90-100%"), "{}", lines(&r));
    }
}
