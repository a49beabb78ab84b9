//! The LRANGE fill. redis-benchmark runs "LPUSH (needed to benchmark LRANGE)" before its LRANGE
//! tests, so they read full lists instead of an empty key (which runs at the speed of a GET). rbench
//! does the same, and makes sure every list an LRANGE test may read holds the 600 elements
//! LRANGE_600 asks for:
//!
//! - the fill pushes to its lists in turn (sequential keys), and the LRANGE tests read only those
//!   lists: the first `L` keys of the key space;
//! - counted runs (`-n N`) send exactly N LPUSHes, as redis-benchmark, on
//!   `L = N / (600 + threads)` lists (at least 1, at most the key space). Each thread walks the
//!   lists from its own starting point, so a list gets at least `Σ floor(n_t / L) ≥ N / L − threads`
//!   ≥ 600 elements. With fewer than 600 + threads requests there is one list holding N elements —
//!   redis-benchmark's single list, just as short;
//! - timed runs (`--duration`) fill `L = min(key space, 100)` lists with `L × (600 + threads)`
//!   LPUSHes, then time the LRANGE tests as usual.
//!
//! `--list-maxlen` below 600 caps the lists, as asked.

use super::{Cmd, Op};

/// Elements the longest LRANGE test reads.
pub const LIST_LEN: u64 = 600;
/// Lists a timed run fills (a counted run's request count decides instead).
pub const TIMED_LISTS: u64 = 100;

/// Puts the fill right before the first phase that reads lists, unless it is already there (the
/// default suite has it in redis-benchmark's place). An LPUSH test asked for stays: with
/// `-t lpush,lrange_100` LPUSH runs twice, as in redis-benchmark.
pub fn with_fill(mut phases: Vec<Vec<(Cmd, u32)>>) -> Vec<Vec<(Cmd, u32)>> {
    let reads = |p: &Vec<(Cmd, u32)>| p.iter().any(|(c, _)| reads_lists(*c));
    let Some(i) = phases.iter().position(reads) else {
        return phases;
    };
    let fill = (Cmd::Builtin(Op::LpushFill), 1);
    if i == 0 || phases[i - 1] != [fill] {
        phases.insert(i, vec![fill]);
    }
    phases
}

fn reads_lists(c: Cmd) -> bool {
    matches!(c, Cmd::Builtin(op) if op.reads_lists())
}

/// Whether a phase is the LRANGE fill alone.
pub fn is_fill(phase: &[(Cmd, u32)]) -> bool {
    phase == [(Cmd::Builtin(Op::LpushFill), 1)]
}

/// How a phase that fills or reads lists departs from the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListPhase {
    /// The lists: the first `keyspace` keys.
    pub keyspace: u64,
    /// The fill of a timed run is counted instead (Some); otherwise the workload's own count.
    pub requests: Option<u64>,
    /// The fill draws keys in turn, so every list gets its share.
    pub sequential: bool,
}

/// For a phase holding the fill or an LRANGE test, its lists (None for any other phase).
/// `requests` is the workload's `-n` (None: timed), `threads` the engine threads that run it.
pub fn list_phase(
    phase: &[(Cmd, u32)],
    requests: Option<u64>,
    keyspace: u64,
    threads: u64,
) -> Option<ListPhase> {
    let fill = is_fill(phase);
    if !fill && !phase.iter().any(|(c, _)| reads_lists(*c)) {
        return None;
    }
    let per_list = LIST_LEN + threads.max(1);
    let lists = match requests {
        Some(n) => (n / per_list).clamp(1, keyspace.max(1)),
        None => keyspace.clamp(1, TIMED_LISTS),
    };
    Some(ListPhase {
        keyspace: lists,
        requests: match requests {
            None if fill => Some(lists * per_list),
            n => n,
        },
        sequential: fill,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(ops: &[Op]) -> Vec<Vec<(Cmd, u32)>> {
        ops.iter().map(|&o| vec![(Cmd::Builtin(o), 1)]).collect()
    }

    fn p(ops: &[Op]) -> Vec<(Cmd, u32)> {
        ops.iter().map(|&o| (Cmd::Builtin(o), 1)).collect()
    }

    #[test]
    fn the_fill_goes_before_the_first_lrange_test() {
        let fill = Op::LpushFill;
        let got = with_fill(single(&[Op::Set, Op::Lrange300, Op::Lrange100]));
        assert_eq!(got, single(&[Op::Set, fill, Op::Lrange300, Op::Lrange100]));
        // An LPUSH asked for is no fill: it runs, and the fill too.
        let got = with_fill(single(&[Op::Lpush, Op::Lrange100]));
        assert_eq!(got, single(&[Op::Lpush, fill, Op::Lrange100]));
        // The default suite has its fill already.
        let suite = single(&Op::BUILTIN);
        assert_eq!(with_fill(suite.clone()), suite);
        // No list read, no fill.
        let no = single(&[Op::Lpush, Op::Lpop]);
        assert_eq!(with_fill(no.clone()), no);
        // A mix that reads lists is filled for too.
        let mix = vec![vec![
            (Cmd::Builtin(Op::Set), 3),
            (Cmd::Builtin(Op::Lrange600), 1),
        ]];
        assert_eq!(with_fill(mix.clone()), [p(&[fill]), mix[0].clone()]);
    }

    #[test]
    fn every_list_read_holds_600_elements() {
        for (n, keyspace, threads) in [
            (100_000, 1, 1),
            (100_000, 1_000_000, 2),
            (200, 50, 1),
            (2_000, 50, 2),
            (1_207, 3, 7),
            (60_100, 100_000, 1),
        ] {
            let fill = list_phase(&p(&[Op::LpushFill]), Some(n), keyspace, threads).unwrap();
            let read = list_phase(&p(&[Op::Lrange600]), Some(n), keyspace, threads).unwrap();
            assert_eq!(fill.requests, Some(n), "a counted fill sends exactly -n");
            assert!(fill.sequential && !read.sequential);
            assert_eq!(
                fill.keyspace, read.keyspace,
                "the tests read what was filled"
            );
            let lists = fill.keyspace;
            assert!(
                (1..=keyspace).contains(&lists),
                "{lists} lists, -r {keyspace}"
            );
            // The worst split of N over the threads, each walking the lists from its own start.
            let shortest = n / lists - threads;
            assert!(
                lists == 1 || shortest >= LIST_LEN,
                "{n} {keyspace} {threads}"
            );
        }
        let timed = list_phase(&p(&[Op::LpushFill]), None, 100_000, 2).unwrap();
        assert_eq!(timed.keyspace, TIMED_LISTS);
        assert_eq!(timed.requests, Some(TIMED_LISTS * 602));
        let timed_read = list_phase(&p(&[Op::Lrange100]), None, 100_000, 2).unwrap();
        assert_eq!((timed_read.keyspace, timed_read.requests), (100, None));
        assert_eq!(list_phase(&p(&[Op::Lpush]), Some(10), 5, 1), None);
        assert_eq!(list_phase(&p(&[Op::Set, Op::Get]), None, 5, 1), None);
    }
}
