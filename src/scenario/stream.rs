//! The stream experiment (reference 000): producers XADD entries that carry their producer, a
//! sequence number and the send time; consumers of one group read them with XREADGROUP, XACK what
//! they processed, drop some unacked (`crash_rate`), and XAUTOCLAIM what stayed pending too long.
//! A ledger of every entry says at the end what was delivered, acked, duplicated, still pending or
//! lost.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use hdrhistogram::Histogram;

use super::client::{Client, Tally};
use super::pace::{Bounds, Pace};
use super::{Env, Outcome, Report, Role, ScenarioError, StreamReport, StreamSpec};
use crate::cluster::Route;
use crate::cluster::slot::slot_of;
use crate::resp::{ErrorClass, Value};
use crate::stats::{self, Recorder};
use crate::stop::Stop;
use crate::workload::generator::Rng;

const GROUP: &[u8] = b"rbench";
const PRODUCE: usize = 0;
const CONSUME: usize = 1;

/// A stream entry ID, `ms-seq`, ordered as the server orders them.
type Id = (u64, u64);

/// An entry handed to a consumer: its ID as the server wrote it, and its producer and sequence
/// number (None: not one of ours).
type Delivery = (Vec<u8>, Option<(usize, u64)>);

/// What happened to one entry a producer tried to add.
#[derive(Clone, Debug, Default)]
struct Slot {
    stream: usize,
    sent: Option<Instant>,
    id: Option<Id>,
    /// The server acknowledged the XADD.
    produced: bool,
    processed: bool,
    acked: bool,
}

/// Every entry by producer and sequence number, and the counts so far.
struct Ledger {
    slots: Vec<Vec<Slot>>,
    produced: u64,
    delivered: u64,
    /// Produced entries acked (a consumer can ack an entry before its producer has the reply:
    /// whichever comes second counts it).
    acked: u64,
    reclaimed: u64,
    duplicates: u64,
    e2e: Histogram<u64>,
    first_oom: Option<(f64, u64)>,
}

impl Ledger {
    fn new(producers: usize) -> Ledger {
        Ledger {
            slots: vec![Vec::new(); producers],
            produced: 0,
            delivered: 0,
            acked: 0,
            reclaimed: 0,
            duplicates: 0,
            e2e: stats::new_histogram(),
            first_oom: None,
        }
    }

    fn slot(&mut self, p: usize, seq: u64) -> Option<&mut Slot> {
        self.slots.get_mut(p)?.get_mut(usize::try_from(seq).ok()?)
    }
}

/// What the run's tasks share.
struct Shared<'a> {
    spec: &'a StreamSpec,
    env: &'a Env,
    keys: Vec<Vec<u8>>,
    ledger: Mutex<Ledger>,
    origin: Instant,
    /// Producing is over (bound reached or stopped); consumers drain from now on.
    produced_all: AtomicBool,
    /// Everything is over: consumers and the lag sampler stop.
    done: Stop,
}

impl Shared<'_> {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub async fn run(spec: &StreamSpec, env: &Env) -> Result<Outcome, ScenarioError> {
    let keys = stream_keys(&env.route, spec.streams.max(1));
    set_up(&keys, env).await?;
    let origin = Instant::now();
    let _ = env.started.set(origin);
    let sh = Shared {
        spec,
        env,
        keys,
        ledger: Mutex::new(Ledger::new(spec.producers)),
        origin,
        produced_all: AtomicBool::new(false),
        done: Stop::new(),
    };
    let open = spec.rps.is_some();
    let bounds = Bounds::new(spec.entries, spec.duration, origin, env.stop.clone());
    let producing = async {
        let recs = join_all((0..spec.producers).map(|p| produce(&sh, &bounds, p, open))).await;
        sh.produced_all.store(true, Ordering::SeqCst);
        (recs, origin.elapsed())
    };
    let consuming = join_all(
        (0..spec.consumers)
            .flat_map(|c| (0..sh.keys.len()).map(move |s| (c, s)))
            .map(|(c, s)| consume(&sh, c, s, open)),
    );
    let work = async {
        let both = tokio::join!(producing, consuming);
        sh.done.request();
        both
    };
    let (((mut recs, elapsed), consumers), lag) = tokio::join!(work, sample_lag(&sh));
    recs.extend(consumers);
    let report = settle(&sh).await;
    let ops = stats::merge_all(&recs, 2);
    let mut seconds = stats::merge_timelines(&mut recs, 2);
    let ledger = sh.ledger();
    Ok(Outcome {
        rows: vec![
            Role {
                command: "XADD",
                clients: spec.producers,
                stats: ops[PRODUCE].clone(),
                seconds: std::mem::take(&mut seconds[PRODUCE]),
            },
            Role {
                command: "XREADGROUP",
                clients: spec.consumers,
                stats: ops[CONSUME].clone(),
                seconds: std::mem::take(&mut seconds[CONSUME]),
            },
        ],
        report: Report::Stream(report),
        lag,
        e2e: Some(ledger.e2e.clone()),
        elapsed,
        interrupted: env.stop.is_stopped(),
    })
}

/// `n` stream keys; on a cluster, spread over the masters (key `i` on master `i % masters`).
fn stream_keys(route: &Route, n: usize) -> Vec<Vec<u8>> {
    let key = |j: usize| format!("rbench:stream:{{{j}}}").into_bytes();
    let Route::Cluster(t) = route else {
        return (0..n).map(key).collect();
    };
    let map = t.snapshot();
    let masters = map.masters();
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut j = 0;
    for i in 0..n {
        let want = masters.get(i % masters.len().max(1)).copied();
        // 16384 slots over a handful of masters: a matching tag turns up within a few tries.
        while j < 1_000_000 {
            let k = key(j);
            j += 1;
            if want.is_none_or(|m| map.owner(slot_of(&k)) == m) {
                keys.push(k);
                break;
            }
        }
    }
    keys
}

/// Starts from empty streams, each with the group reading from its end.
async fn set_up(keys: &[Vec<u8>], env: &Env) -> Result<(), ScenarioError> {
    let mut rec = Recorder::new(1, false);
    let mut tally = Tally {
        rec: &mut rec,
        op: 0,
        origin: Instant::now(),
    };
    let mut client = Client::new(env);
    let fail = |msg: String| ScenarioError::Setup {
        scenario: "stream",
        msg,
    };
    for k in keys {
        let key = String::from_utf8_lossy(k).into_owned();
        client
            .call(k, &[b"DEL", k], Duration::ZERO, &mut tally)
            .await
            .map_err(|f| fail(format!("DEL {key}: {}", f.msg)))?;
        client
            .call(
                k,
                &[b"XGROUP", b"CREATE", k, GROUP, b"$", b"MKSTREAM"],
                Duration::ZERO,
                &mut tally,
            )
            .await
            .map_err(|f| fail(format!("XGROUP CREATE {key}: {}", f.msg)))?;
    }
    Ok(())
}

/// Producer `p`: XADDs until its pace ends. Its sequence numbers index its ledger row.
async fn produce(sh: &Shared<'_>, bounds: &Bounds, p: usize, open: bool) -> Recorder {
    let mut rec = Recorder::new(2, open);
    let mut client = Client::new(sh.env);
    let mut pace = Pace::new(
        bounds,
        sh.spec.rps.as_ref(),
        p,
        sh.spec.producers,
        sh.origin,
    );
    let payload = vec![b'x'; sh.spec.data_size];
    let p_text = p.to_string();
    let mut seq: u64 = 0;
    while let Some(intended) = pace.next().await {
        let stream = (p + seq as usize) % sh.keys.len();
        let key = &sh.keys[stream];
        let sent = Instant::now();
        // Sent time first: a consumer may read the entry before this producer sees the reply.
        sh.ledger().slots[p].push(Slot {
            stream,
            sent: Some(sent),
            ..Slot::default()
        });
        let (seq_text, t_text) = (seq.to_string(), epoch_us().to_string());
        let args: [&[u8]; 11] = [
            b"XADD",
            key,
            b"*",
            b"p",
            p_text.as_bytes(),
            b"s",
            seq_text.as_bytes(),
            b"t",
            t_text.as_bytes(),
            b"d",
            &payload,
        ];
        let mut tally = Tally {
            rec: &mut rec,
            op: PRODUCE,
            origin: sh.origin,
        };
        match client.call(key, &args, Duration::ZERO, &mut tally).await {
            Ok(v) => {
                tally.ok(intended, sent);
                let mut l = sh.ledger();
                l.produced += 1;
                let acked = l.slot(p, seq).is_some_and(|s| {
                    s.produced = true;
                    s.id = v.as_bytes().and_then(parse_id);
                    s.acked
                });
                l.acked += u64::from(acked);
            }
            Err(f) if f.class == ErrorClass::Oom => {
                let mut l = sh.ledger();
                if l.first_oom.is_none() {
                    l.first_oom = Some((sh.origin.elapsed().as_secs_f64(), l.produced));
                }
            }
            Err(_) => {}
        }
        seq += 1;
    }
    rec
}

fn epoch_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn parse_id(b: &[u8]) -> Option<Id> {
    let s = std::str::from_utf8(b).ok()?;
    let (ms, seq) = s.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Whether consumers should stop: stopped, or producing is over and everything produced is
/// acked, or the drain ran out.
fn consumers_done(sh: &Shared<'_>, drain_until: &mut Option<Instant>) -> bool {
    if sh.env.stop.is_stopped() {
        return true;
    }
    if !sh.produced_all.load(Ordering::SeqCst) {
        return false;
    }
    let until = *drain_until.get_or_insert_with(|| Instant::now() + sh.spec.drain);
    let l = sh.ledger();
    l.acked >= l.produced || Instant::now() >= until
}

/// Consumer `c` on stream `s`: reads new entries, reclaims idle ones, acks what it keeps.
async fn consume(sh: &Shared<'_>, c: usize, s: usize, open: bool) -> Recorder {
    let mut rec = Recorder::new(2, open);
    let mut cons = Consumer {
        sh,
        client: Client::new(sh.env),
        key: &sh.keys[s],
        name: format!("c{c}").into_bytes(),
        rng: Rng::new(sh.spec.seed ^ ((c as u64) << 32 | s as u64).wrapping_mul(0x9E37_79B9)),
        cursor: b"0-0".to_vec(),
        last_claim: Instant::now(),
    };
    let mut drain_until = None;
    while !consumers_done(sh, &mut drain_until) {
        let mut tally = Tally {
            rec: &mut rec,
            op: CONSUME,
            origin: sh.origin,
        };
        let got = if cons.last_claim.elapsed() >= sh.spec.claim_idle / 2 {
            cons.last_claim = Instant::now();
            cons.reclaim(&mut tally).await
        } else {
            cons.read(&mut tally).await
        };
        if got.is_err() {
            // A failed read after retries: the node is gone or refusing; do not spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    rec
}

struct Consumer<'a, 's> {
    sh: &'a Shared<'s>,
    client: Client<'a>,
    key: &'a [u8],
    name: Vec<u8>,
    rng: Rng,
    /// XAUTOCLAIM's cursor: where the next scan of the pending list starts.
    cursor: Vec<u8>,
    last_claim: Instant,
}

impl Consumer<'_, '_> {
    async fn read(&mut self, tally: &mut Tally<'_>) -> Result<(), ()> {
        let count = self.sh.spec.count.to_string();
        let block = self.sh.spec.block;
        let ms = block.as_millis().to_string();
        let name = self.name.clone();
        let args: [&[u8]; 11] = [
            b"XREADGROUP",
            b"GROUP",
            GROUP,
            &name,
            b"COUNT",
            count.as_bytes(),
            b"BLOCK",
            ms.as_bytes(),
            b"STREAMS",
            self.key,
            b">",
        ];
        let v = self.call(&args, block, tally).await?;
        let entries = read_entries(v);
        self.process(entries, tally).await
    }

    /// XAUTOCLAIM entries idle longer than `claim_idle`, one page per call.
    async fn reclaim(&mut self, tally: &mut Tally<'_>) -> Result<(), ()> {
        let idle = self.sh.spec.claim_idle.as_millis().max(1).to_string();
        let count = self.sh.spec.count.to_string();
        let (cursor, name) = (self.cursor.clone(), self.name.clone());
        let args: [&[u8]; 8] = [
            b"XAUTOCLAIM",
            self.key,
            GROUP,
            &name,
            idle.as_bytes(),
            &cursor,
            b"COUNT",
            count.as_bytes(),
        ];
        let v = self.call(&args, Duration::ZERO, tally).await?;
        let mut parts = v.into_array().unwrap_or_default().into_iter();
        if let Some(next) = parts.next().and_then(|c| c.as_bytes().map(<[u8]>::to_vec)) {
            self.cursor = next;
        }
        let entries = parts.next().map(entry_list).unwrap_or_default();
        self.sh.ledger().reclaimed += entries.len() as u64;
        self.process(entries, tally).await
    }

    /// A call that recreates the group when it is gone (the stream was lost with its node) so
    /// consumers go on with what is produced from then on.
    async fn call(
        &mut self,
        args: &[&[u8]],
        block: Duration,
        tally: &mut Tally<'_>,
    ) -> Result<Value, ()> {
        match self.client.call(self.key, args, block, tally).await {
            Ok(v) => Ok(v),
            Err(f) if f.msg.starts_with("NOGROUP") => {
                let create: [&[u8]; 6] = [b"XGROUP", b"CREATE", self.key, GROUP, b"0", b"MKSTREAM"];
                let _ = self
                    .client
                    .call(self.key, &create, Duration::ZERO, tally)
                    .await;
                Err(())
            }
            Err(_) => Err(()),
        }
    }

    /// Counts the deliveries, drops `crash_rate` of them, acks the rest.
    async fn process(&mut self, entries: Vec<Delivery>, tally: &mut Tally<'_>) -> Result<(), ()> {
        let mut keep: Vec<Delivery> = Vec::with_capacity(entries.len());
        {
            let mut l = self.sh.ledger();
            for (id, who) in entries {
                l.delivered += 1;
                let crash = self.rng.unit() < self.sh.spec.crash_rate;
                let seen = who.and_then(|(p, seq)| l.slot(p, seq)).is_some_and(|s| {
                    let seen = s.processed;
                    s.processed |= !crash;
                    seen
                });
                l.duplicates += u64::from(seen);
                if !crash {
                    keep.push((id, who));
                }
            }
        }
        if keep.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&[u8]> = vec![b"XACK", self.key, GROUP];
        args.extend(keep.iter().map(|(id, _)| id.as_slice()));
        self.call(&args, Duration::ZERO, tally).await?;
        let now = Instant::now();
        let mut l = self.sh.ledger();
        for (_, who) in keep {
            let Some((p, seq)) = who else { continue };
            let Some(slot) = l.slot(p, seq) else { continue };
            let (first, produced, sent) = (!slot.acked, slot.produced, slot.sent);
            slot.acked = true;
            if !first {
                continue;
            }
            l.acked += u64::from(produced);
            if let Some(sent) = sent {
                stats::record(
                    &mut l.e2e,
                    now.saturating_duration_since(sent).as_micros() as u64,
                );
                tally.ok(sent, sent);
            }
        }
        Ok(())
    }
}

/// The entries of an XREADGROUP reply: RESP2 `[[key, entries]]`, RESP3 (a map) `[key, entries]`,
/// or nil when BLOCK ran out.
fn read_entries(v: Value) -> Vec<Delivery> {
    let Some(mut top) = v.into_array() else {
        return Vec::new();
    };
    let list = match top.first() {
        Some(Value::Array(_)) => top.swap_remove(0).into_array().and_then(|mut kv| kv.pop()),
        _ => top.pop(),
    };
    list.map(entry_list).unwrap_or_default()
}

/// `[[id, [field, value, ...]], ...]` → (id, producer and sequence). Entries deleted while pending
/// (nil fields; nil entries in Redis 6.2's XAUTOCLAIM) are skipped.
fn entry_list(v: Value) -> Vec<Delivery> {
    let Some(list) = v.into_array() else {
        return Vec::new();
    };
    list.into_iter()
        .filter_map(|e| {
            let mut e = e.into_array()?.into_iter();
            let id = e.next()?.as_bytes()?.to_vec();
            let fields = e.next()?.into_array()?;
            Some((id, producer_seq(&fields)))
        })
        .collect()
}

fn producer_seq(fields: &[Value]) -> Option<(usize, u64)> {
    let field = |name: &[u8]| {
        fields
            .chunks(2)
            .find(|kv| kv[0].as_bytes() == Some(name))
            .and_then(|kv| kv.get(1)?.as_bytes())
            .and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok())
    };
    Some((usize::try_from(field(b"p")?).ok()?, field(b"s")?))
}

/// Entries produced and not yet acked, once a second until everything is over.
async fn sample_lag(sh: &Shared<'_>) -> Vec<u64> {
    let mut lag = Vec::new();
    let mut next = sh.origin + Duration::from_secs(1);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = sh.done.stopped() => break,
        }
        let l = sh.ledger();
        lag.push(l.produced.saturating_sub(l.acked));
        next += Duration::from_secs(1);
    }
    let l = sh.ledger();
    lag.push(l.produced.saturating_sub(l.acked));
    lag
}

/// The final ledger: entries produced and never acked are pending if the stream still holds them,
/// lost if it does not (or cannot be read: the node holding it is gone).
async fn settle(sh: &Shared<'_>) -> StreamReport {
    let unacked = unacked_by_stream(sh);
    let mut client = Client::new(sh.env);
    let (mut pending, mut lost) = (0u64, 0u64);
    for (s, ids) in unacked.iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        let present = present_ids(&mut client, &sh.keys[s], ids, sh.origin)
            .await
            .unwrap_or_default();
        let here = ids.iter().filter(|id| present.contains(id)).count() as u64;
        pending += here;
        lost += ids.len() as u64 - here;
    }
    let l = sh.ledger();
    let q = |p: f64| stats::ms(l.e2e.value_at_quantile(p));
    StreamReport {
        produced: l.produced,
        delivered: l.delivered,
        acked: l.acked,
        reclaimed: l.reclaimed,
        duplicates: l.duplicates,
        pending,
        lost,
        e2e_p50_ms: if l.e2e.is_empty() { 0.0 } else { q(0.5) },
        e2e_p99_ms: if l.e2e.is_empty() { 0.0 } else { q(0.99) },
        e2e_max_ms: stats::ms(l.e2e.max()),
        first_oom_s: l.first_oom.map(|(t, _)| t),
        produced_before_oom: l.first_oom.map(|(_, n)| n),
    }
}

/// IDs of produced, unacked entries, sorted, per stream.
fn unacked_by_stream(sh: &Shared<'_>) -> Vec<Vec<Id>> {
    let l = sh.ledger();
    let mut out = vec![Vec::new(); sh.keys.len()];
    for slot in l.slots.iter().flatten() {
        if let (Some(id), false) = (slot.id, slot.acked) {
            out[slot.stream].push(id);
        }
    }
    for ids in &mut out {
        ids.sort_unstable();
    }
    out
}

/// Which of `ids` (sorted) the stream at `key` still holds, read with XRANGE from the first to the
/// last of them. None: the stream could not be read.
async fn present_ids(
    client: &mut Client<'_>,
    key: &[u8],
    ids: &[Id],
    origin: Instant,
) -> Option<std::collections::HashSet<Id>> {
    let (first, last) = (ids.first()?, ids.last()?);
    let end = format!("{}-{}", last.0, last.1);
    let mut start = format!("{}-{}", first.0, first.1);
    let mut rec = Recorder::new(1, false);
    let mut tally = Tally {
        rec: &mut rec,
        op: 0,
        origin,
    };
    let mut present = std::collections::HashSet::new();
    loop {
        let args: [&[u8]; 6] = [
            b"XRANGE",
            key,
            start.as_bytes(),
            end.as_bytes(),
            b"COUNT",
            b"10000",
        ];
        let page = client
            .call(key, &args, Duration::ZERO, &mut tally)
            .await
            .ok()?;
        let entries = entry_list(page);
        let Some((last_id, _)) = entries.last() else {
            return Some(present);
        };
        let next = parse_id(last_id)?;
        present.extend(entries.iter().filter_map(|(id, _)| parse_id(id)));
        if next >= *last {
            return Some(present);
        }
        // Exclusive start: the entry after the page's last.
        start = format!("({}-{}", next.0, next.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    fn entry(id: &str, p: &str, s: &str) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(vec![
                bulk("p"),
                bulk(p),
                bulk("s"),
                bulk(s),
                bulk("t"),
                bulk("1"),
            ]),
        ])
    }

    #[test]
    fn xreadgroup_replies_parse_in_resp2_and_resp3_shapes() {
        let entries = Value::Array(vec![entry("1-0", "0", "7"), entry("1-1", "2", "9")]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), entries.clone()])]);
        let resp3 = Value::Array(vec![bulk("k"), entries]);
        let want = vec![
            (b"1-0".to_vec(), Some((0, 7))),
            (b"1-1".to_vec(), Some((2, 9))),
        ];
        assert_eq!(read_entries(resp2), want);
        assert_eq!(read_entries(resp3), want);
        assert!(read_entries(Value::Nil).is_empty());
    }

    #[test]
    fn deleted_entries_in_a_claim_are_skipped() {
        let list = Value::Array(vec![
            Value::Nil,
            Value::Array(vec![bulk("3-0"), Value::Nil]),
            entry("4-0", "1", "1"),
        ]);
        assert_eq!(entry_list(list), vec![(b"4-0".to_vec(), Some((1, 1)))]);
    }

    #[test]
    fn ids_order_as_the_server_orders_them() {
        assert!(parse_id(b"10-0") > parse_id(b"9-5"));
        assert_eq!(parse_id(b"5-1"), Some((5, 1)));
        assert_eq!(parse_id(b"x"), None);
    }
}
