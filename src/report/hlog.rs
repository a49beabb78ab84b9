//! PLACEHOLDER until branch hlog merges.
use hdrhistogram::Histogram;
use std::path::Path;
#[derive(Debug, thiserror::Error)]
pub enum HdrFileError {
    #[error("{0}: not an HDR histogram")]
    NotHdr(String),
}
pub struct Interval {
    pub start_s: f64,
    pub length_s: f64,
    pub hist: Histogram<u64>,
}
pub fn read_histogram(path: &Path) -> Result<Histogram<u64>, HdrFileError> {
    let bytes =
        std::fs::read(path).map_err(|_| HdrFileError::NotHdr(path.display().to_string()))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|_| HdrFileError::NotHdr(path.display().to_string()))
}
pub fn read_intervals(_bytes: &[u8]) -> Result<Vec<Interval>, HdrFileError> {
    Err(HdrFileError::NotHdr(String::new()))
}
