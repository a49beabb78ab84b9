//! The server's LATENCY monitor: switched on (or read) before the window, its history read after
//! it. Events it records (`aof-fsync-always`, `fork`, `expire-cycle`, `command`...) explain a
//! latency spike the client saw. A server that refuses these commands (ACL, a proxy) gives a note,
//! never a failure.

use crate::conn::Conn;
use crate::resp::Value;

/// Whether a node's monitor records events, and from which latency on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorState {
    On { threshold_ms: u64 },
    Off,
}

impl MonitorState {
    fn of(threshold_ms: u64) -> MonitorState {
        match threshold_ms {
            0 => MonitorState::Off,
            t => MonitorState::On { threshold_ms: t },
        }
    }
}

/// With `Some(ms)`, sets `latency-monitor-threshold` to `ms` (0 switches it off); with None, reads
/// it. Err is the note to give: the server refused, or did not answer.
pub async fn prepare(conn: &mut Conn, set_ms: Option<u32>) -> Result<MonitorState, String> {
    let peer = conn.peer();
    let Some(ms) = set_ms else {
        let reply = conn
            .setup_request(&[b"CONFIG", b"GET", b"latency-monitor-threshold"])
            .await
            .map_err(|e| e.to_string())?;
        return match reply {
            Value::Error(e) => Err(format!("{peer}: CONFIG GET refused ({e})")),
            v => threshold(&v)
                .map(MonitorState::of)
                .ok_or_else(|| format!("{peer}: CONFIG GET latency-monitor-threshold: {v:?}")),
        };
    };
    let value = ms.to_string();
    let args: [&[u8]; 4] = [
        b"CONFIG",
        b"SET",
        b"latency-monitor-threshold",
        value.as_bytes(),
    ];
    match conn.setup_request(&args).await.map_err(|e| e.to_string())? {
        Value::Error(e) => Err(format!(
            "{peer}: CONFIG SET latency-monitor-threshold refused ({e})"
        )),
        _ => Ok(MonitorState::of(u64::from(ms))),
    }
}

/// The value of a `CONFIG GET` reply (`[name, value]`; RESP3 servers may answer a map, read as the
/// same pairs).
fn threshold(v: &Value) -> Option<u64> {
    v.as_array()?.get(1)?.text()?.trim().parse().ok()
}

/// Every event's history: `LATENCY LATEST` names them, `LATENCY HISTORY <event>` gives each one's
/// `(unix seconds, latency ms)` (the server keeps the last 160 per event).
pub async fn histories(conn: &mut Conn) -> Result<Vec<(String, Vec<(u64, u64)>)>, String> {
    let peer = conn.peer();
    let refused = |cmd: &str, e: String| format!("{peer}: {cmd} refused ({e})");
    let latest = match conn.setup_request(&[b"LATENCY", b"LATEST"]).await {
        Ok(Value::Error(e)) => return Err(refused("LATENCY LATEST", e)),
        Ok(v) => v,
        Err(e) => return Err(e.to_string()),
    };
    let mut out = Vec::new();
    for event in latest_events(&latest) {
        let args: [&[u8]; 3] = [b"LATENCY", b"HISTORY", event.as_bytes()];
        match conn.setup_request(&args).await {
            Ok(Value::Error(e)) => return Err(refused("LATENCY HISTORY", e)),
            Ok(v) => out.push((event, history(&v))),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}

/// The event names of a `LATENCY LATEST` reply: `[[name, ts, latest_ms, max_ms], ...]`.
pub fn latest_events(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| Some(e.as_array()?.first()?.text()?.into_owned()))
        .collect()
}

/// The samples of a `LATENCY HISTORY` reply: `[[unix_ts, latency_ms], ...]`.
pub fn history(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let e = e.as_array()?;
            let ts = u64::try_from(e.first()?.as_int()?).ok()?;
            let ms = u64::try_from(e.get(1)?.as_int()?).ok()?;
            Some((ts, ms))
        })
        .collect()
}

/// The samples of `history` inside a window from `start` to `end` (unix seconds), as (seconds from
/// `start`, ms). The monitor stamps whole seconds, so the second the window started in counts
/// (its time clamped to 0).
pub fn in_window(history: &[(u64, u64)], start: f64, end: f64) -> Vec<(f64, u64)> {
    history
        .iter()
        .filter(|&&(ts, _)| ts as f64 >= start.floor() && ts as f64 <= end)
        .map(|&(ts, ms)| ((ts as f64 - start).max(0.0), ms))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: Vec<Value>) -> Value {
        Value::Array(v)
    }

    #[test]
    fn reads_latest_and_history_replies() {
        let latest = arr(vec![
            arr(vec![
                Value::Bulk(b"aof-fsync-always".to_vec()),
                Value::Int(1_700_000_005),
                Value::Int(3),
                Value::Int(9),
            ]),
            arr(vec![
                Value::Bulk(b"fork".to_vec()),
                Value::Int(1),
                Value::Int(1),
                Value::Int(1),
            ]),
        ]);
        assert_eq!(latest_events(&latest), ["aof-fsync-always", "fork"]);
        assert!(latest_events(&Value::Nil).is_empty());
        let h = arr(vec![
            arr(vec![Value::Int(1_700_000_001), Value::Int(2)]),
            arr(vec![Value::Int(1_700_000_005), Value::Int(9)]),
            arr(vec![Value::Int(-1)]),
        ]);
        assert_eq!(history(&h), [(1_700_000_001, 2), (1_700_000_005, 9)]);
        let cfg = arr(vec![
            Value::Bulk(b"latency-monitor-threshold".to_vec()),
            Value::Bulk(b"5".to_vec()),
        ]);
        assert_eq!(threshold(&cfg), Some(5));
        assert_eq!(MonitorState::of(0), MonitorState::Off);
        assert_eq!(MonitorState::of(5), MonitorState::On { threshold_ms: 5 });
    }

    #[test]
    fn keeps_the_windows_events() {
        let h = [(99, 1), (100, 2), (103, 4), (106, 8)];
        let w = in_window(&h, 100.4, 105.2);
        assert_eq!(w, [(0.0, 2), ((103.0 - 100.4), 4)]);
        assert!(in_window(&h, 107.0, 110.0).is_empty());
    }
}
