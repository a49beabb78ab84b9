//! The nightly folder's files and its ledger's one schema: `history.csv` (every night's rows, the
//! long CSV) and `nights.csv`, one line per night with its verdict and whether it joined the
//! baseline. `nightly` appends to the ledger and reads it for the baseline; the trend page
//! (`report::trend`) reads it for every night's status. Here so both go through one definition.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Every night's rows (the long CSV's columns).
pub const HISTORY: &str = "history.csv";
/// One line per night.
pub const LEDGER: &str = "nights.csv";
/// The ledger's columns, in order.
pub const HEADER: [&str; 7] = [
    "timestamp",
    "run_id",
    "profile",
    "status",
    "accepted",
    "rows",
    "regressions",
];

/// What became of a night. The ledger keeps the word; a word this build does not know (a newer
/// rbench's) reads as `Unknown` rather than failing the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing to compare with: the night is the baseline.
    First,
    Pass,
    Regression,
    /// A regression accepted with `--accept`.
    Accepted,
    /// Some configuration moved past its threshold but could not be judged.
    Inconclusive,
    /// The run failed or was stopped.
    Incomplete,
    /// Tests failed the error check.
    Errors,
    /// The history could not be judged.
    Unjudged,
    Unknown,
}

impl Status {
    pub fn of(word: &str) -> Status {
        match word {
            "first" => Status::First,
            "pass" => Status::Pass,
            "regression" => Status::Regression,
            "accepted" => Status::Accepted,
            "inconclusive" => Status::Inconclusive,
            "incomplete" => Status::Incomplete,
            "errors" => Status::Errors,
            "unjudged" => Status::Unjudged,
            _ => Status::Unknown,
        }
    }
}

/// One line of the ledger.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NightRecord {
    /// RFC 3339, when the night's run started.
    pub timestamp: String,
    pub run_id: String,
    pub profile: String,
    /// `first`, `pass`, `regression`, ... as written (see [`Status`]).
    pub status: String,
    /// Whether the night joined the baseline.
    pub accepted: bool,
    /// Rows the night judged.
    pub rows: usize,
    /// The configurations that regressed, as `TEST on TARGET`.
    pub regressions: Vec<String>,
}

impl NightRecord {
    pub fn kind(&self) -> Status {
        Status::of(&self.status)
    }

    fn fields(&self) -> [String; 7] {
        [
            self.timestamp.clone(),
            self.run_id.clone(),
            self.profile.clone(),
            self.status.clone(),
            if self.accepted { "yes" } else { "no" }.to_string(),
            self.rows.to_string(),
            self.regressions.join("; "),
        ]
    }
}

/// Why the ledger cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct LedgerError {
    pub path: String,
    pub msg: String,
}

fn err(path: &Path, msg: impl Into<String>) -> LedgerError {
    LedgerError {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Every night of the ledger at `path`, oldest first; none when the file does not exist.
/// `run_id` and `accepted` are required (the baseline is made of them); a column an older ledger
/// lacks reads empty.
pub fn read(path: &Path) -> Result<Vec<NightRecord>, LedgerError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(path, e.to_string())),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| err(path, e.to_string()))?;
    let headers = crate::schema::clean_header(headers);
    let find = |name: &str| headers.iter().position(|h| h == name);
    let cols: Vec<Option<usize>> = HEADER.iter().map(|n| find(n)).collect();
    for required in ["run_id", "accepted"] {
        if find(required).is_none() {
            return Err(err(path, format!("missing column `{required}`")));
        }
    }
    let mut nights = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(path, e.to_string()))?;
        nights.push(night(&rec, &cols).map_err(|m| err(path, m))?);
    }
    Ok(nights)
}

/// One record, its cells found by `cols` (the positions of `HEADER`'s columns).
fn night(rec: &csv::StringRecord, cols: &[Option<usize>]) -> Result<NightRecord, String> {
    let line = rec.position().map_or(0, |p| p.line());
    let cell = |i: usize| cols[i].and_then(|c| rec.get(c));
    let text = |i: usize| cell(i).unwrap_or("").to_string();
    let (Some(_), Some(acc)) = (cell(1), cell(4)) else {
        return Err(format!("line {line}: too few fields"));
    };
    let accepted = match acc {
        "yes" => true,
        "no" => false,
        other => {
            return Err(format!(
                "line {line}: accepted must be yes or no, not `{other}`"
            ));
        }
    };
    let rows = match cell(5).unwrap_or("") {
        "" => 0,
        n => n
            .parse()
            .map_err(|_| format!("line {line}: rows must be a whole number, not `{n}`"))?,
    };
    Ok(NightRecord {
        timestamp: text(0),
        run_id: text(1),
        profile: text(2),
        status: text(3),
        accepted,
        rows,
        regressions: text(6)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// Appends one night (with the header when the file is new) in one write.
pub fn append(path: &Path, night: &NightRecord) -> Result<(), LedgerError> {
    let fresh = fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
    let go = || -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        if fresh {
            w.write_record(HEADER).map_err(|e| e.to_string())?;
        }
        w.write_record(night.fields()).map_err(|e| e.to_string())?;
        w.into_inner().map_err(|e| e.to_string())
    };
    let bytes = go().map_err(|e| err(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| err(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rbench-ledger-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn appended_nights_read_back() {
        let dir = temp("roundtrip");
        let path = dir.join(LEDGER);
        let a = NightRecord {
            timestamp: "2026-12-01T02:00:00Z".into(),
            run_id: "r1".into(),
            profile: "p.toml".into(),
            status: "first".into(),
            accepted: true,
            rows: 10,
            regressions: vec![],
        };
        let b = NightRecord {
            run_id: "r2".into(),
            status: "regression".into(),
            accepted: false,
            regressions: vec!["SET on no-aof".into(), "GET on aof".into()],
            ..a.clone()
        };
        append(&path, &a).unwrap();
        append(&path, &b).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(HEADER.join(",").as_str()));
        assert!(text.contains(",SET on no-aof; GET on aof"), "{text}");
        assert_eq!(read(&path).unwrap(), [a, b]);
        assert_eq!(read(&dir.join("none.csv")).unwrap(), []);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn old_and_unknown_words_read_and_bad_cells_are_named() {
        let dir = temp("old");
        let path = dir.join(LEDGER);
        // An older ledger without `rows` and `regressions`, and a status this build does not know.
        fs::write(
            &path,
            "timestamp,run_id,profile,status,accepted\nt,r1,p,first,yes\nt,r2,p,someday,no\n",
        )
        .unwrap();
        let n = read(&path).unwrap();
        assert_eq!((n[0].kind(), n[0].rows), (Status::First, 0));
        assert_eq!(n[1].kind(), Status::Unknown);
        assert!(n[1].regressions.is_empty());
        fs::write(&path, "run_id,accepted\nr1,maybe\n").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: accepted must be yes or no, not `maybe`"),
            "{e}"
        );
        fs::write(&path, "run_id,status\nr1,pass\n").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.ends_with("missing column `accepted`"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
