//! Layers of settings: the command line over the profile's `[defaults]`, one struct type for both.
//!
//! A setting is defined once, as a field of a flag group in `cli` that clap fills from the command
//! line and serde fills from the profile. [`layered!`] wraps such a group and derives how a layer
//! takes the lower layer's values where it has none, naming each field it took, so config can say
//! where a value came from (`file:line` for the profile) without a second list of the settings.

/// One field's "unset" and how an upper layer takes the lower one's value.
pub trait Layer {
    /// Takes `lower`'s value if `self` has none; true when it did.
    fn fill(&mut self, lower: &Self) -> bool;
}

impl<T: Clone> Layer for Option<T> {
    fn fill(&mut self, lower: &Self) -> bool {
        let take = self.is_none() && lower.is_some();
        if take {
            self.clone_from(lower);
        }
        take
    }
}

/// A switch can only be turned on: on in either layer is on.
impl Layer for bool {
    fn fill(&mut self, lower: &Self) -> bool {
        let take = !*self && *lower;
        *self |= take;
        take
    }
}

/// A repeatable flag: the lower layer's list when none was given.
impl<T: Clone> Layer for Vec<T> {
    fn fill(&mut self, lower: &Self) -> bool {
        let take = self.is_empty() && !lower.is_empty();
        if take {
            self.clone_from(lower);
        }
        take
    }
}

/// A group of settings that a lower layer can fill.
pub trait Layered {
    /// Takes `lower`'s value for every field `self` leaves unset, pushing each such field's name
    /// (the profile key: serde's name of the field) onto `taken`.
    fn fill_from(&mut self, lower: &Self, taken: &mut Vec<&'static str>);
}

/// The profile keys of a group: serde's names of its fields, flags-only fields (`serde(skip)`)
/// left out. Read from the derive itself, so the list cannot drift from the fields.
pub fn keys<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = KeysProbe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

/// A deserializer that only records the field names it is asked for.
struct KeysProbe(&'static [&'static str]);

impl<'de> serde::Deserializer<'de> for &mut KeysProbe {
    type Error = serde::de::value::Error;

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(serde::de::Error::custom("keys probe"))
    }

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("keys probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Defines a flag group (`pub struct … { pub field: T, … }`, attributes passed through) and its
/// [`Layered`] impl. A field that is a flag only carries `#[serde(skip)]`: its lower layer is then
/// always unset and takes nothing.
macro_rules! layered {
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $(
                $(#[$fm:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl $crate::cli::layer::Layered for $name {
            fn fill_from(&mut self, lower: &Self, taken: &mut Vec<&'static str>) {
                $(
                    if $crate::cli::layer::Layer::fill(&mut self.$field, &lower.$field) {
                        taken.push(stringify!($field));
                    }
                )*
            }
        }
    };
}
pub(crate) use layered;

#[cfg(test)]
mod tests {
    use super::*;

    layered! {
        #[derive(Default, Clone, Debug, PartialEq)]
        pub struct Group {
            pub count: Option<u32>,
            pub on: bool,
            pub list: Vec<String>,
        }
    }

    #[test]
    fn upper_layer_wins_and_the_lower_fills_only_the_unset() {
        let lower = Group {
            count: Some(9),
            on: true,
            list: vec!["p".into()],
        };
        let mut upper = Group {
            count: Some(7),
            ..Group::default()
        };
        let mut taken = Vec::new();
        upper.fill_from(&lower, &mut taken);
        assert_eq!(upper.count, Some(7));
        assert!(upper.on);
        assert_eq!(upper.list, ["p"]);
        assert_eq!(taken, ["on", "list"]);
    }

    #[derive(serde::Deserialize)]
    struct Keyed {
        #[allow(dead_code)]
        count: Option<u32>,
        #[serde(skip)]
        #[allow(dead_code)]
        flag_only: bool,
        #[allow(dead_code)]
        list: Vec<String>,
    }

    #[test]
    fn keys_are_serdes_fields_without_the_skipped() {
        assert_eq!(keys::<Keyed>(), ["count", "list"]);
    }

    #[test]
    fn an_unset_lower_layer_takes_nothing() {
        let mut upper = Group {
            list: vec!["f".into()],
            ..Group::default()
        };
        let mut taken = Vec::new();
        upper.fill_from(&Group::default(), &mut taken);
        assert_eq!(upper.list, ["f"]);
        assert!(taken.is_empty());
    }
}
