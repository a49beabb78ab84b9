//! The results files' columns, in one place: the long CSV (`runs.csv`, one row per run × test) and
//! the per-second timeline CSV. Every writer and every reader goes through the row types here, so a
//! new column is one new field (see ARCHITECTURE.md, "results schema").
//!
//! Rules the types keep:
//! - **Columns are only ever appended.** A field's place is its column's place; a new field goes
//!   last (the timeline's optional columns keep their places relative to each other).
//! - **Old files still read.** Every field defaults (`#[serde(default)]`), and [`read_row`] hands
//!   the deserializer only the header names a row has fields for, so a file written before a column
//!   existed (or a short row appended under a newer header) reads with that column empty.
//! - **Cells are the text as written.** Formatting (`{:.3}` for milliseconds, ...) and the checks
//!   of a reader (strict for what a verdict needs, lenient for the rest, each with its own error
//!   lines) stay with the code that owns the meaning; this module owns names, order and presence.
//!
//! This module sits below `config` and `report` (it imports neither), so both can name the files.

use serde::{Deserialize, Serialize};

/// The long CSV's file name in a results folder.
pub const LONG_CSV: &str = "runs.csv";

/// The timeline CSV of run `run_id`.
pub fn timeline_name(run_id: &str) -> String {
    format!("timeline-{run_id}.csv")
}

/// The server timeline CSV of run `run_id`: one row per node and second of every phase.
pub fn server_timeline_name(run_id: &str) -> String {
    format!("server-timeline-{run_id}.csv")
}

/// One row of the server timeline: what one server node did in one second of one phase. Empty
/// cells are unknown (the node did not answer, refuses INFO, or has no such field), never zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerTimelineRow {
    pub elapsed_s: String,
    pub span_s: String,
    pub target: String,
    /// The phase: its test, or `mix SET+GET` (the client timeline's rows of that phase).
    pub phase: String,
    pub repeat: String,
    pub node: String,
    pub role: String,
    /// `true` when the node did not answer in that second.
    pub missing: String,
    pub cpu_cores: String,
    pub main_cpu: String,
    pub commands: String,
    pub ops_per_sec: String,
    pub used_memory: String,
    pub rss: String,
    pub fragmentation: String,
    pub clients: String,
    pub blocked: String,
    pub evicted: String,
    pub expired: String,
    pub hits: String,
    pub misses: String,
    pub bgsave: String,
    pub aof_rewrite: String,
    pub delayed_fsync: String,
    pub forks: String,
    pub latest_fork_usec: String,
    pub repl_offset: String,
    pub lag_bytes: String,
    pub lag_s: String,
    /// `bgsave-start`, `aof-rewrite-end`, `fork`, `node-missing`, ... separated by spaces.
    pub events: String,
}

/// One row of the long CSV: one test (or one command of a mix) of one run, one repeat.
/// The first 26 columns are the original format; the rest were appended in this order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LongRow {
    pub timestamp: String,
    pub run_id: String,
    pub rbench_version: String,
    pub git_rev: String,
    pub profile: String,
    pub target: String,
    pub deployment: String,
    pub persistence: String,
    pub test: String,
    pub clients: String,
    pub pipeline: String,
    pub data_size: String,
    pub keyspace: String,
    pub target_rps: String,
    pub requests: String,
    pub duration_s: String,
    pub rps: String,
    pub ok: String,
    pub errors: String,
    pub avg_ms: String,
    pub min_ms: String,
    pub p50_ms: String,
    pub p95_ms: String,
    pub p99_ms: String,
    pub p999_ms: String,
    pub max_ms: String,
    // Appended columns.
    pub masters: String,
    pub threads: String,
    pub key_dist: String,
    pub mix: String,
    pub repeat: String,
    pub achieved_rps: String,
    pub p99_uncorrected_ms: String,
    /// `class=count` pairs, space-separated.
    pub error_classes: String,
    pub interrupted: String,
    pub server_version: String,
    pub slo: String,
    pub slo_max_rps: String,
    pub shard: String,
    pub shards: String,
    pub start_unix_s: String,
    // What the servers and rbench did while the row was measured (empty: unknown).
    pub server_us_per_call: String,
    pub server_p50_ms: String,
    pub server_p99_ms: String,
    pub server_cpu: String,
    pub server_main_cpu: String,
    pub server_peak_memory: String,
    pub server_forks: String,
    pub server_aof_rewrites: String,
    pub server_evictions: String,
    pub server_delayed_fsync: String,
    pub client_cpu: String,
    /// `client`, `server`, `neither` or `unknown`: whose limit the row's figures are.
    pub bound: String,
    pub bound_why: String,
    /// `--rps` with a shape: the shape as written, and its whole seconds short of their target.
    pub rate_shape: String,
    pub short_seconds: String,
}

/// Generates the timeline row with one optional column per error class, and the class accessors.
macro_rules! timeline_row {
    ($($class:ident),* $(,)?) => {
        /// One row of the timeline CSV: one second of one result. The optional columns (`None`) are
        /// left out of a file whose results never have them: an error class no result saw, `lag`
        /// (a stream scenario), `fault` (scheduled faults); every row of a file has the same ones.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct TimelineRow {
            pub elapsed_s: String,
            pub target: String,
            pub test: String,
            pub ok: String,
            pub errors: String,
            pub p50_ms: String,
            pub p99_ms: String,
            pub max_ms: String,
            /// The seconds of the run the row covers: 1 but for a run's last, partial second.
            pub span_s: String,
            $(
                #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
                pub $class: Option<String>,
            )*
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub lag: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub fault: Option<String>,
            /// Last, so the columns before keep their places (absent in older files).
            pub repeat: String,
            /// The servers' events in this second (latency monitor, forks, rewrites, nodes lost).
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub server_events: Option<String>,
            /// rbench's busiest engine thread this second: share of a core it ran or waited for.
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub client_cpu: Option<String>,
            /// Open loop: the most rbench itself was late taking a due request this second (ms).
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub client_lag_ms: Option<String>,
            /// Open loop: the requests per second due over this second (a rate shape's mean over it).
            #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            pub target_rps: Option<String>,
        }

        impl TimelineRow {
            /// The error-class columns' names, in the order of `ErrorClass::ALL`.
            pub const CLASSES: [&'static str; [$(stringify!($class)),*].len()] =
                [$(stringify!($class)),*];

            /// The error-class cells, in the order of [`Self::CLASSES`].
            pub fn classes(&self) -> [&Option<String>; Self::CLASSES.len()] {
                [$(&self.$class),*]
            }

            /// The error-class cells to fill, in the order of [`Self::CLASSES`].
            pub fn classes_mut(&mut self) -> [&mut Option<String>; Self::CLASSES.len()] {
                [$(&mut self.$class),*]
            }
        }
    };
}

// The names are `ErrorClass::name()`s (a unit test holds them equal).
timeline_row!(
    err,
    wrongtype,
    oom,
    noauth,
    noperm,
    moved,
    ask,
    tryagain,
    clusterdown,
    crossslot,
    loading,
    busy,
    readonly,
    masterdown,
    execabort,
    maxclients,
    misconf,
    other,
    conn_lost,
    conn_refused,
    timeout,
    protocol,
    too_many_redirects,
    noscript,
    exec_nil,
);

/// An optional column the file has: its cell, empty or not (`None` only when the column is absent,
/// so a row read and written back keeps its columns).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// The header names of `row` as the writer emits them (a `TimelineRow` leaves its absent optional
/// columns out), so a file with no rows still gets its header.
pub fn header_of<T: Serialize>(row: &T) -> Result<csv::StringRecord, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    Ok(r.records().next().transpose()?.unwrap_or_default())
}

/// The long CSV's header: its column names, in order.
pub fn long_header() -> Vec<String> {
    header_of(&LongRow::default())
        .map(|h| h.iter().map(String::from).collect())
        .unwrap_or_default()
}

/// A header as read, with a byte-order mark dropped from the first name.
pub fn clean_header(h: &csv::StringRecord) -> csv::StringRecord {
    h.iter().map(|c| c.trim_start_matches('\u{feff}')).collect()
}

/// Record `rec` as a row under `header`. Fields past the header are ignored (a newer rbench's
/// extra columns); header names past the record's last field are left out, so the row's missing
/// trailing columns take their defaults instead of failing the row.
pub fn read_row<T: for<'de> Deserialize<'de>>(
    rec: &csv::StringRecord,
    header: &csv::StringRecord,
) -> Result<T, csv::Error> {
    if rec.len() >= header.len() {
        return rec.deserialize(Some(header));
    }
    let short: csv::StringRecord = header.iter().take(rec.len()).collect();
    rec.deserialize(Some(&short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_header_is_the_fields_in_order() {
        let h = header_of(&LongRow::default()).unwrap();
        assert_eq!(h.len(), 56);
        assert_eq!(
            long_header().join(","),
            h.iter().collect::<Vec<_>>().join(",")
        );
        assert_eq!(h.get(0), Some("timestamp"));
        assert_eq!(h.get(25), Some("max_ms"));
        assert_eq!(h.get(26), Some("masters"));
        assert_eq!(h.get(40), Some("start_unix_s"));
        assert_eq!(h.get(41), Some("server_us_per_call"));
        assert_eq!(h.get(53), Some("bound_why"));
        assert_eq!(h.get(55), Some("short_seconds"));
    }

    #[test]
    fn the_class_columns_are_the_error_classes() {
        let names: Vec<&str> = crate::resp::ErrorClass::ALL
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(TimelineRow::CLASSES.to_vec(), names);
    }

    #[test]
    fn absent_optional_columns_are_left_out_of_the_header() {
        let mut row = TimelineRow::default();
        *row.classes_mut()[1] = Some("0".into());
        row.fault = Some(String::new());
        let h = header_of(&row).unwrap();
        let names: Vec<&str> = h.iter().collect();
        assert_eq!(
            names.join(","),
            "elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s,wrongtype,fault,repeat"
        );
    }

    #[test]
    fn a_short_row_reads_with_its_missing_columns_empty() {
        let header = clean_header(&csv::StringRecord::from(vec![
            "\u{feff}run_id",
            "test",
            "rps",
        ]));
        let rec = csv::StringRecord::from(vec!["R1", "SET"]);
        let row: LongRow = read_row(&rec, &header).unwrap();
        assert_eq!(
            (row.run_id.as_str(), row.test.as_str(), row.rps.as_str()),
            ("R1", "SET", "")
        );
        // A longer row under a shorter header: the extra field is ignored.
        let rec = csv::StringRecord::from(vec!["R1", "SET", "5", "extra"]);
        let row: LongRow = read_row(&rec, &header).unwrap();
        assert_eq!(row.rps, "5");
    }
}
