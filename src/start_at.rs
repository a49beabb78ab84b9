//! `--start-at TIME`: the wall-clock instant every shard of a run starts its load, given as RFC 3339
//! (`2026-12-04T09:00:00Z`, `2026-12-04T10:00:00.5+01:00`) or Unix seconds (`1796374800`). The
//! shards' clocks must agree (NTP); the instant only lines their windows up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The instant `s` names, which must be after `now`.
pub fn parse(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let t = instant(s.trim()).ok_or_else(|| {
        format!(
            "--start-at takes an RFC 3339 time (e.g. 2026-12-04T09:00:00Z) or Unix seconds, got `{s}`"
        )
    })?;
    match now.duration_since(t) {
        Ok(late) if !late.is_zero() => Err(format!(
            "--start-at {s} is {:.1} s in the past: give a later time",
            late.as_secs_f64()
        )),
        _ => Ok(t),
    }
}

fn instant(s: &str) -> Option<SystemTime> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s.parse().ok()?;
        return UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    let nanos = u64::try_from(nanos).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_rfc3339_and_unix_seconds() {
        let now = at(1_000_000_000);
        let nine = 1_796_374_800; // 2026-12-04T09:00:00Z
        assert_eq!(parse("2026-12-04T09:00:00Z", now), Ok(at(nine)));
        assert_eq!(parse("2026-12-04T10:00:00+01:00", now), Ok(at(nine)));
        assert_eq!(parse(&nine.to_string(), now), Ok(at(nine)));
        assert_eq!(
            parse("2026-12-04T09:00:00.25Z", now),
            Ok(at(nine) + Duration::from_millis(250))
        );
        assert_eq!(
            parse("1796374800.5", now),
            Ok(at(nine) + Duration::from_millis(500))
        );
    }

    #[test]
    fn refuses_garbage_and_the_past() {
        let now = at(1_796_374_800);
        for bad in [
            "",
            "soon",
            "2026-12-04",
            "2026-13-04T09:00:00Z",
            "-5",
            "1e9",
        ] {
            assert!(parse(bad, now).unwrap_err().contains("RFC 3339"), "{bad}");
        }
        assert!(
            parse("1796374799", now)
                .unwrap_err()
                .contains("in the past")
        );
        assert!(parse("1796374800", now).is_ok());
    }
}
