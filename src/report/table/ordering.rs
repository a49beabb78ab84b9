//! What the configuration table says of a test's targets: their order by median TPS, fastest
//! first, each adjacent pair judged "clearly faster" (`≫`) or "within noise" (`≈`), in a compact
//! form (`SET: no-aof ≈ aof-everysec ≫ aof-always`) and in words. The rule (README, "Reading the
//! table"): the pair's runs do not overlap (from 5 runs up, once ⌊n/5⌋ are dropped at each end:
//! `Spread::lo`/`hi`) *and* the medians are `MIN_RATIO` apart, with at least `MIN_RUNS` runs on
//! each side; fewer runs are ordered by median but not judged. Equal targets' 9 runs each are that
//! far apart by chance 0.2 % of the time.

use super::Spread;

/// Runs each side needs before a pair is judged. Equal targets' runs are exchangeable, so all of
/// one side's m runs land above all of the other's n by chance 2/C(m+n, m) of the time: 1 in 3
/// with 2 against 2, 1 in 10 with 3 against 3, 1 in 126 with 5 against 5.
pub const MIN_RUNS: usize = 3;

/// The smallest ratio of medians called clear. A shared machine shifts a whole invocation by a few
/// per cent; this keeps a 1 % gap whose runs happen not to overlap "within noise" (and makes the
/// 1-in-10 chance above rarer still: equal targets must also land 5 % apart).
pub const MIN_RATIO: f64 = 1.05;

/// How a target compares with the next one down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Every run of the faster beats every run of the slower (the middle runs, from 5 up), and the
    /// medians are `MIN_RATIO` apart.
    Clear,
    /// Judged, and not clear.
    Noise,
    /// Too few runs on one side to judge: only the medians' order is shown.
    Unjudged,
}

/// A target that has a result for the test: its column in the table and its TPS runs.
#[derive(Clone, Debug)]
pub struct Place<'a> {
    pub column: usize,
    pub target: &'a str,
    pub tps: Spread,
}

/// One test's targets, fastest first, and what lies between each and the next.
#[derive(Clone, Debug)]
pub struct Ordering<'a> {
    pub test: &'a str,
    pub places: Vec<Place<'a>>,
    /// `links[i]` is between `places[i]` and `places[i + 1]`.
    pub links: Vec<Link>,
    /// Ends of a run of `≈` links that are themselves clearly apart (`≈` is not transitive):
    /// indexes into `places`.
    pub apart: Vec<(usize, usize)>,
    /// Targets without a result for the test, in column order.
    pub missing: Vec<&'a str>,
}

/// Judges `a` against `b`, where `a`'s median is not below `b`'s.
pub fn judge(a: &Spread, b: &Spread) -> Link {
    if a.runs < MIN_RUNS || b.runs < MIN_RUNS {
        Link::Unjudged
    } else if a.lo > b.hi && ratio(a, b) >= MIN_RATIO {
        Link::Clear
    } else {
        Link::Noise
    }
}

/// How many times `b`'s median `a`'s is (infinite when `b` did nothing at all).
pub fn ratio(a: &Spread, b: &Spread) -> f64 {
    if b.median > 0.0 {
        a.median / b.median
    } else if a.median > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

impl<'a> Ordering<'a> {
    /// Orders `cells` (one per target, None where the target has no result) by median TPS, fastest
    /// first; equal medians keep the table's column order.
    pub fn of(test: &'a str, targets: &[&'a str], cells: &[Option<Spread>]) -> Ordering<'a> {
        let mut places: Vec<Place<'a>> = Vec::new();
        let mut missing = Vec::new();
        for (column, (target, cell)) in targets.iter().zip(cells).enumerate() {
            match cell {
                Some(tps) => places.push(Place {
                    column,
                    target,
                    tps: *tps,
                }),
                None => missing.push(*target),
            }
        }
        places.sort_by(|a, b| b.tps.median.total_cmp(&a.tps.median));
        let links: Vec<Link> = places
            .windows(2)
            .map(|w| judge(&w[0].tps, &w[1].tps))
            .collect();
        let apart = noise_runs(&links)
            .into_iter()
            .filter(|&(i, j)| judge(&places[i].tps, &places[j].tps) == Link::Clear)
            .collect();
        Ordering {
            test,
            places,
            links,
            apart,
            missing,
        }
    }

    /// The column of the target clearly faster than every other one, if there is one.
    pub fn winner(&self) -> Option<usize> {
        let (top, rest) = self.places.split_first()?;
        let clear = !rest.is_empty() && rest.iter().all(|p| judge(&top.tps, &p.tps) == Link::Clear);
        clear.then_some(top.column)
    }

    /// `SET: no-aof ≈ aof-everysec ≫ aof-always`, with what it leaves unjudged or out.
    pub fn compact(&self) -> String {
        let mut s = format!("{}: ", self.test);
        for (i, p) in self.places.iter().enumerate() {
            if i > 0 {
                s.push_str(match self.links[i - 1] {
                    Link::Clear => " ≫ ",
                    Link::Noise => " ≈ ",
                    Link::Unjudged if p.tps.median == self.places[i - 1].tps.median => " = ",
                    Link::Unjudged => " > ",
                });
            }
            s.push_str(p.target);
        }
        for &(i, j) in &self.apart {
            s.push_str(&format!(
                " ({} ≫ {})",
                self.places[i].target, self.places[j].target
            ));
        }
        if self.places.iter().all(|p| p.tps.runs == 1) && self.places.len() > 1 {
            s.push_str(" (one run each: not judged)");
        } else if self.links.contains(&Link::Unjudged) {
            s.push_str(&format!(" (fewer than {MIN_RUNS} runs: > not judged)"));
        }
        if !self.missing.is_empty() {
            s.push_str(&format!("; no result: {}", self.missing.join(", ")));
        }
        s
    }

    /// The same in words, each pair with its ratio of medians: "no-aof and aof-everysec are
    /// within noise; aof-everysec is clearly faster than aof-always (2.1×)". None when nothing
    /// was judged (the compact form says all there is).
    pub fn words(&self) -> Option<String> {
        if !self.links.iter().any(|l| *l != Link::Unjudged) {
            return None;
        }
        let mut parts: Vec<String> = Vec::new();
        for (i, link) in self.links.iter().enumerate() {
            let (a, b) = (&self.places[i], &self.places[i + 1]);
            parts.push(match link {
                Link::Clear => format!(
                    "{} is clearly faster than {} ({})",
                    a.target,
                    b.target,
                    times(ratio(&a.tps, &b.tps))
                ),
                Link::Noise => format!("{} and {} are within noise", a.target, b.target),
                Link::Unjudged => format!(
                    "{} ran {} {} (too few runs to judge)",
                    a.target,
                    times(ratio(&a.tps, &b.tps)),
                    b.target
                ),
            });
        }
        for &(i, j) in &self.apart {
            let (a, b) = (&self.places[i], &self.places[j]);
            parts.push(format!(
                "but {} is clearly faster than {} ({})",
                a.target,
                b.target,
                times(ratio(&a.tps, &b.tps))
            ));
        }
        for m in &self.missing {
            parts.push(format!("{m} has no result"));
        }
        Some(parts.join("; "))
    }
}

/// The first and last place of every run of two or more `≈` links in a row.
fn noise_runs(links: &[Link]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in links
        .iter()
        .chain(std::iter::once(&Link::Clear))
        .enumerate()
    {
        match (l, start) {
            (Link::Noise, None) => start = Some(i),
            (Link::Noise, Some(_)) => {}
            (_, Some(s)) => {
                if i - s >= 2 {
                    out.push((s, i));
                }
                start = None;
            }
            (_, None) => {}
        }
    }
    out
}

/// A ratio of medians: `2.1×`, `1.06×` (two decimals below 2, where a few per cent matter).
fn times(r: f64) -> String {
    if !r.is_finite() {
        "∞×".into()
    } else if r < 2.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.1}×")
    }
}
