//! How a profile writes the values a flag takes as text: serde adapters for the flag groups'
//! fields, so `data_size = 3`, `max_error_rate = 0.01` and `slo = "p99=1ms"` fill the same field
//! as `-d 3`, `--max-error-rate 0.01` and `--slo p99=1ms`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// `data_size`: an integer or a range string; normalised to a string for the integrator (which
/// parses it into a `workload::generator::DataSize`).
pub(crate) struct DataSizeText(pub String);

impl<'de> Deserialize<'de> for DataSizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DataSizeText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count like 3 or a range string like \"16-512\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DataSizeText, E> {
                Ok(DataSizeText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DataSizeText, E> {
                u64::try_from(v)
                    .map(|v| DataSizeText(v.to_string()))
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DataSizeText, E> {
                Ok(DataSizeText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `max_error_rate`: a fraction (`0.01`, `0`) or a percentage string (`"1%"`), kept as text.
pub(crate) struct RateText(pub String);

impl<'de> Deserialize<'de> for RateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RateText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fraction like 0.01 or a percentage like \"1%\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RateText, E> {
                Ok(RateText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RateText, E> {
                Ok(RateText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RateText, E> {
                Ok(RateText(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RateText, E> {
                Ok(RateText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `duration`: a string only; its own type so `duration = 30` gets a message showing the form.
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `data_size`: an integer or a range string, as the flag's text.
pub fn data_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    DataSizeText::deserialize(d).map(|t| Some(t.0))
}

/// A share (`max_error_rate`, `slo_resolution`): a number or a percentage string, as text.
pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    RateText::deserialize(d).map(|t| Some(t.0))
}

/// `rps`: a number (`rps = 5000`) or a shape string (`rps = "ramp:1000..50000/30s"`), as text.
pub fn rps<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a rate like 5000 or a shape string like \"ramp:1000..50000/30s\"")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V).map(Some)
}

/// A duration: a string only.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    DurationText::deserialize(d).map(|t| Some(t.0))
}

/// `slo = "p99=1ms,p50=200us"`: one string, where the flag may be repeated.
pub fn one_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    String::deserialize(d).map(|s| vec![s])
}

/// `tests = ["set", "get"]`: an array, where the flag is comma-separated.
pub fn tests<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TestList>, D::Error> {
    Vec::<String>::deserialize(d).map(|v| Some(TestList(v)))
}

/// `-t set,get` or `tests = ["set", "get"]`: the test names as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestList(pub Vec<String>);

impl TestList {
    /// The flag's value: comma-separated names (blank ones kept, for the planner to refuse).
    pub fn parse(s: &str) -> Result<TestList, String> {
        Ok(TestList(s.split(',').map(str::to_string).collect()))
    }
}
