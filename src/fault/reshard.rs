//! `reshard N`: moves N slots from the master with the most slots to the one with the fewest,
//! through the protocol as `redis-cli --cluster reshard` does (IMPORTING on the destination,
//! MIGRATING on the source, MIGRATE of the slot's keys, SETSLOT NODE everywhere), so it works on
//! clusters rbench did not spawn. A probe writes to the first moved slot throughout.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::probe::Probe;
use super::view::{ADMIN_TIMEOUT, ClusterNode, Net, expect_ok, request};
use super::{Done, Failed, Window};
use crate::conn::{Auth, Conn};
use crate::resp::Value;

/// Keys asked for (and migrated) at a time, as redis-cli's default pipeline.
const KEYS_PER_BATCH: &[u8] = b"100";
/// MIGRATE's own timeout, in milliseconds as it takes it.
const MIGRATE_TIMEOUT_MS: &[u8] = b"5000";
/// Bound of one MIGRATE request: its timeout plus slack.
const MIGRATE_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(net: &Net, n: u32, w: &Window<'_>) -> Result<Done, Failed> {
    if !net.is_cluster() {
        return Err(Failed::new("reshard needs a cluster"));
    }
    let view = net
        .cluster_nodes(&[], ADMIN_TIMEOUT)
        .await
        .map_err(Failed::new)?;
    let (src, dst) = pick(&view)?;
    let node = format!("{} to {}", src.label(), dst.label());
    let slots = first_slots(src, n).map_err(|e| Failed::on(&node, e))?;
    let others: Vec<&ClusterNode> = view
        .iter()
        .filter(|m| m.master && !m.failed && m.id != src.id && m.id != dst.id)
        .collect();
    let mut probe = Probe::slot(net, slots[0], src.addr).map_err(|e| Failed::on(&node, e))?;
    let done = Cell::new(None);
    let moving = async {
        let r = move_slots(net, src, dst, &others, &slots).await;
        done.set(Some(Instant::now()));
        r
    };
    let (moved, gap) = tokio::join!(moving, probe.longest_gap(&done, w));
    moved.map_err(|e| Failed::on(&node, e))?;
    Ok(Done {
        node,
        recovered: done.get(),
        outage: Some(gap),
    })
}

/// The masters with the most and the fewest slots.
fn pick(view: &[ClusterNode]) -> Result<(&ClusterNode, &ClusterNode), Failed> {
    let mut masters: Vec<&ClusterNode> = view.iter().filter(|m| m.serving_master()).collect();
    masters.sort_by_key(|m| (std::cmp::Reverse(m.slot_count()), m.addr));
    match (masters.first(), masters.last()) {
        (Some(src), Some(dst)) if masters.len() >= 2 => Ok((src, dst)),
        _ => Err(Failed::new(
            "reshard needs two masters that are up, one of them with slots",
        )),
    }
}

/// The source's first `n` slots, in slot order.
fn first_slots(src: &ClusterNode, n: u32) -> Result<Vec<u16>, String> {
    let slots: Vec<u16> = src
        .slots
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .take(n as usize)
        .collect();
    if slots.len() < n as usize {
        return Err(format!(
            "reshard {n}: the master with the most slots has only {}",
            slots.len()
        ));
    }
    Ok(slots)
}

/// Connections to the two ends of a move and to the other masters.
struct Ends<'v> {
    src: Conn,
    dst: Conn,
    src_id: &'v [u8],
    dst_id: &'v [u8],
    /// MIGRATE's destination host and port, and its AUTH arguments.
    host: String,
    port: String,
    auth: Vec<Vec<u8>>,
    others: Vec<Conn>,
}

async fn move_slots(
    net: &Net,
    src: &ClusterNode,
    dst: &ClusterNode,
    others: &[&ClusterNode],
    slots: &[u16],
) -> Result<(), String> {
    let mut ends = Ends {
        src: net.connect(src.addr, ADMIN_TIMEOUT).await?,
        dst: net.connect(dst.addr, ADMIN_TIMEOUT).await?,
        src_id: src.id.as_bytes(),
        dst_id: dst.id.as_bytes(),
        host: dst.addr.ip().to_string(),
        port: dst.addr.port().to_string(),
        auth: migrate_auth(&net.auth),
        others: Vec::new(),
    };
    for m in others {
        // Telling the others is a courtesy (they learn it by gossip too): one that does not
        // answer does not stop the reshard.
        if let Ok(c) = net.connect(m.addr, ADMIN_TIMEOUT).await {
            ends.others.push(c);
        }
    }
    for &slot in slots {
        move_slot(&mut ends, slot)
            .await
            .map_err(|e| format!("slot {slot}: {e}"))?;
    }
    Ok(())
}

async fn move_slot(e: &mut Ends<'_>, slot: u16) -> Result<(), String> {
    let s = slot.to_string();
    let s = s.as_bytes();
    let setslot =
        |state: &'static [u8], id| -> [&[u8]; 5] { [b"CLUSTER", b"SETSLOT", s, state, id] };
    expect_ok(&mut e.dst, &setslot(b"IMPORTING", e.src_id), ADMIN_TIMEOUT).await?;
    expect_ok(&mut e.src, &setslot(b"MIGRATING", e.dst_id), ADMIN_TIMEOUT).await?;
    migrate_keys(e, s).await?;
    // The destination first, so the slot never belongs to nobody (as redis-cli orders it).
    let node = setslot(b"NODE", e.dst_id);
    expect_ok(&mut e.dst, &node, ADMIN_TIMEOUT).await?;
    expect_ok(&mut e.src, &node, ADMIN_TIMEOUT).await?;
    for c in &mut e.others {
        let _ = request(c, &node, ADMIN_TIMEOUT).await;
    }
    Ok(())
}

/// Moves every key of slot `s` from the source to the destination, 100 at a time.
async fn migrate_keys(e: &mut Ends<'_>, s: &[u8]) -> Result<(), String> {
    loop {
        let reply = request(
            &mut e.src,
            &[b"CLUSTER", b"GETKEYSINSLOT", s, KEYS_PER_BATCH],
            ADMIN_TIMEOUT,
        )
        .await?;
        let keys: Vec<Vec<u8>> = match reply {
            Value::Array(v) => v
                .into_iter()
                .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
                .collect(),
            Value::Error(m) => return Err(format!("CLUSTER GETKEYSINSLOT: {m}")),
            other => return Err(format!("CLUSTER GETKEYSINSLOT: unexpected reply {other:?}")),
        };
        if keys.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&[u8]> = vec![
            b"MIGRATE",
            e.host.as_bytes(),
            e.port.as_bytes(),
            b"",
            b"0",
            MIGRATE_TIMEOUT_MS,
        ];
        args.extend(e.auth.iter().map(Vec::as_slice));
        args.push(b"KEYS");
        args.extend(keys.iter().map(Vec::as_slice));
        match request(&mut e.src, &args, MIGRATE_REPLY_TIMEOUT).await? {
            Value::Simple(_) => {}
            // Never quote the arguments: they hold the password.
            Value::Error(m) => return Err(format!("MIGRATE: {m}")),
            other => return Err(format!("MIGRATE: unexpected reply {other:?}")),
        }
    }
}

/// MIGRATE's AUTH arguments: the source logs in to the destination as the run does.
fn migrate_auth(auth: &Auth) -> Vec<Vec<u8>> {
    match (&auth.user, &auth.password) {
        (Some(u), Some(p)) => vec![
            b"AUTH2".to_vec(),
            u.clone().into_bytes(),
            p.clone().into_bytes(),
        ],
        (None, Some(p)) => vec![b"AUTH".to_vec(), p.clone().into_bytes()],
        (_, None) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(id: &str, port: u16, slots: Vec<(u16, u16)>) -> ClusterNode {
        ClusterNode {
            id: id.into(),
            addr: ([127, 0, 0, 1], port).into(),
            master: true,
            master_id: None,
            failed: false,
            slots,
        }
    }

    #[test]
    fn slots_go_from_the_fullest_master_to_the_emptiest() {
        let view = vec![
            master("a", 1, vec![(0, 99)]),
            master("b", 2, vec![(100, 149), (200, 16383)]),
            master("c", 3, vec![(150, 199)]),
        ];
        let (src, dst) = pick(&view).ok().expect("two masters");
        assert_eq!((src.id.as_str(), dst.id.as_str()), ("b", "c"));
        assert_eq!(first_slots(src, 3).unwrap(), vec![100, 101, 102]);
        assert_eq!(first_slots(src, 52).unwrap()[50..], [200, 201]);
        let err = first_slots(&view[2], 51).unwrap_err();
        assert!(err.contains("has only 50"), "{err}");
        assert!(pick(&view[..1]).is_err());
    }

    #[test]
    fn migrate_logs_in_as_the_run_does() {
        let mut auth = Auth::default();
        assert!(migrate_auth(&auth).is_empty());
        auth.password = Some("pw".into());
        assert_eq!(migrate_auth(&auth), vec![b"AUTH".to_vec(), b"pw".to_vec()]);
        auth.user = Some("u".into());
        assert_eq!(
            migrate_auth(&auth),
            vec![b"AUTH2".to_vec(), b"u".to_vec(), b"pw".to_vec()]
        );
    }
}
