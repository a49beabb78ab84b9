//! The consistency experiment, after redis-rb-cluster's consistency-test (reference 003): writers
//! INCR counters and count what the server acknowledged; readers check that a counter never reads
//! below what was acknowledged before the read; at the end every counter is read back, and a
//! counter below its acknowledged increments lost writes, one above it applied writes whose reply
//! never came. Counters start from zero (DEL at set-up), so the count is exact.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::client::{Client, Tally};
use super::pace::{Bounds, Pace};
use super::{ConsistencyReport, ConsistencySpec, Env, Outcome, Report, Role, ScenarioError};
use crate::resp::Value;
use crate::stats::{self, Recorder};
use crate::workload::generator::Rng;

const WRITE: usize = 0;
const READ: usize = 1;

/// What was acknowledged of one counter.
#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    acked: u64,
    failed: u64,
}

#[derive(Default)]
struct Tallies {
    writes: u64,
    reads: u64,
    stale_reads: u64,
}

struct Shared<'a> {
    spec: &'a ConsistencySpec,
    env: &'a Env,
    counters: Mutex<Vec<Counter>>,
    tallies: Mutex<Tallies>,
    origin: Instant,
    writers_done: AtomicBool,
}

impl Shared<'_> {
    fn counters(&self) -> std::sync::MutexGuard<'_, Vec<Counter>> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn tallies(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(k: u64) -> Vec<u8> {
    format!("rbench:counter:{k}").into_bytes()
}

pub async fn run(spec: &ConsistencySpec, env: &Env) -> Result<Outcome, ScenarioError> {
    let keys = spec.keys.max(1);
    let workers = spec.writers.max(1);
    let cleared = over_keys(env, keys, workers, b"DEL").await;
    if let Some(k) = cleared.iter().position(Option::is_none) {
        return Err(ScenarioError::Setup {
            scenario: "consistency",
            msg: format!("DEL rbench:counter:{k} failed: the server did not answer"),
        });
    }
    let origin = Instant::now();
    let _ = env.started.set(origin);
    let sh = Shared {
        spec,
        env,
        counters: Mutex::new(vec![Counter::default(); keys as usize]),
        tallies: Mutex::new(Tallies::default()),
        origin,
        writers_done: AtomicBool::new(false),
    };
    let open = spec.rps.is_some();
    let wb = Bounds::new(spec.ops, spec.duration, origin, env.stop.clone());
    let rb = Bounds::new(None, spec.duration, origin, env.stop.clone());
    let writing = async {
        let recs = join_all((0..spec.writers).map(|i| write(&sh, &wb, i, open))).await;
        sh.writers_done.store(true, Ordering::SeqCst);
        (recs, origin.elapsed())
    };
    let reading = join_all((0..spec.readers).map(|i| read(&sh, &rb, i, open)));
    let ((mut recs, elapsed), readers) = tokio::join!(writing, reading);
    recs.extend(readers);
    let finals = over_keys(env, keys, workers, b"GET").await;
    let ops = stats::merge_all(&recs, 2);
    let mut seconds = stats::merge_timelines(&mut recs, 2);
    Ok(Outcome {
        rows: vec![
            Role {
                command: "INCR",
                clients: spec.writers,
                stats: ops[WRITE].clone(),
                seconds: std::mem::take(&mut seconds[WRITE]),
            },
            Role {
                command: "GET",
                clients: spec.readers,
                stats: ops[READ].clone(),
                seconds: std::mem::take(&mut seconds[READ]),
            },
        ],
        report: Report::Consistency(ledger(&sh, &finals)),
        lag: Vec::new(),
        e2e: None,
        elapsed,
        interrupted: env.stop.is_stopped(),
    })
}

/// Writer `i`: INCRs random counters until its pace ends.
async fn write(sh: &Shared<'_>, bounds: &Bounds, i: usize, open: bool) -> Recorder {
    let mut rec = Recorder::new(2, open);
    let mut client = Client::new(sh.env);
    let mut pace = Pace::new(bounds, sh.spec.rps.as_ref(), i, sh.spec.writers, sh.origin);
    let mut rng = Rng::new(sh.spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    while let Some(intended) = pace.next().await {
        let k = rng.below(sh.spec.keys.max(1));
        let key = key(k);
        let mut tally = Tally {
            rec: &mut rec,
            op: WRITE,
            origin: sh.origin,
        };
        let sent = Instant::now();
        sh.tallies().writes += 1;
        let res = client
            .call(&key, &[b"INCR", &key], Duration::ZERO, &mut tally)
            .await;
        let mut c = sh.counters();
        match res {
            Ok(Value::Int(_)) => {
                c[k as usize].acked += 1;
                tally.ok(intended, sent);
            }
            // A reply that is not a number: the key holds something else (WRONGTYPE comes back
            // as an error reply and fails above).
            Ok(other) => {
                c[k as usize].failed += 1;
                tally.failed(
                    crate::resp::ErrorClass::Other,
                    &format!("INCR replied {other:?}"),
                );
            }
            Err(_) => c[k as usize].failed += 1,
        }
    }
    rec
}

/// Reader `i`: GETs random counters while the writers write; a value below what was
/// acknowledged before the GET was sent is a stale read.
async fn read(sh: &Shared<'_>, bounds: &Bounds, i: usize, open: bool) -> Recorder {
    let mut rec = Recorder::new(2, open);
    let mut client = Client::new(sh.env);
    let mut pace = Pace::new(bounds, sh.spec.rps.as_ref(), i, sh.spec.readers, sh.origin);
    let mut rng = Rng::new(!sh.spec.seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    while !sh.writers_done.load(Ordering::SeqCst) {
        let Some(intended) = pace.next().await else {
            break;
        };
        let k = rng.below(sh.spec.keys.max(1));
        let key = key(k);
        let before = sh.counters()[k as usize].acked;
        let mut tally = Tally {
            rec: &mut rec,
            op: READ,
            origin: sh.origin,
        };
        let sent = Instant::now();
        let Ok(v) = client
            .call(&key, &[b"GET", &key], Duration::ZERO, &mut tally)
            .await
        else {
            continue;
        };
        tally.ok(intended, sent);
        let mut t = sh.tallies();
        t.reads += 1;
        if counter_value(&v).is_none_or(|n| n < before) {
            t.stale_reads += 1;
        }
    }
    rec
}

/// A counter's value: nil is zero (never written, or flushed).
fn counter_value(v: &Value) -> Option<u64> {
    match v {
        Value::Nil => Some(0),
        Value::Int(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

/// `cmd` (DEL before the run, GET after it) on every counter, `workers` at a time: the counters'
/// values (0 after a DEL), None where the server did not answer.
async fn over_keys(env: &Env, keys: u64, workers: usize, cmd: &'static [u8]) -> Vec<Option<u64>> {
    let parts = join_all((0..workers as u64).map(|w| async move {
        let mut client = Client::new(env);
        let mut rec = Recorder::new(1, false);
        let mut tally = Tally {
            rec: &mut rec,
            op: 0,
            origin: Instant::now(),
        };
        let mut out = Vec::new();
        for k in (w..keys).step_by(workers) {
            let key = key(k);
            let got = client
                .call(&key, &[cmd, &key], Duration::ZERO, &mut tally)
                .await;
            let v = match got {
                Ok(_) if cmd == b"DEL" => Some(0),
                Ok(v) => counter_value(&v),
                Err(_) => None,
            };
            out.push((k, v));
        }
        out
    }))
    .await;
    let mut all = vec![None; keys as usize];
    for (k, v) in parts.into_iter().flatten() {
        all[k as usize] = v;
    }
    all
}

/// The ledger: acknowledged increments missing from a counter are lost; increments beyond them
/// were applied without an acknowledgement. A counter that cannot be read back loses all of them.
fn ledger(sh: &Shared<'_>, finals: &[Option<u64>]) -> ConsistencyReport {
    let counters = sh.counters();
    let t = sh.tallies();
    let (mut lost, mut extra) = (0u64, 0u64);
    for (c, v) in counters.iter().zip(finals) {
        let v = v.unwrap_or(0);
        lost += c.acked.saturating_sub(v);
        extra += v.saturating_sub(c.acked);
    }
    let acked: u64 = counters.iter().map(|c| c.acked).sum();
    let failed: u64 = counters.iter().map(|c| c.failed).sum();
    ConsistencyReport {
        writes: t.writes,
        acked,
        failed,
        lost,
        unacked_applied: extra,
        reads: t.reads,
        stale_reads: t.stale_reads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_values_read_from_any_reply_shape() {
        assert_eq!(counter_value(&Value::Nil), Some(0));
        assert_eq!(counter_value(&Value::Bulk(b"42".to_vec())), Some(42));
        assert_eq!(counter_value(&Value::Int(7)), Some(7));
        assert_eq!(counter_value(&Value::Bulk(b"x".to_vec())), None);
    }
}
