//! Result rows: parsed into a [`Row`] map, or borrowed from their raw JSON text ([`RawRow`],
//! [`RawCell`]).

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One result row: `"view.field" -> {value, rendered?, links?}` or, for pivoted measures,
/// `"view.field" -> {pivot_key: {value, ...}}`.
pub type Row = Map<String, Value>;

/// A row borrowed from its raw JSON text: each `"view.field"` with the raw text of its cell.
/// Building it costs one allocation; nothing is copied.
#[derive(Debug)]
pub struct RawRow<'a> {
    cells: Vec<(Key<'a>, &'a RawValue)>,
}

/// A key borrowed from the text when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a>(pub std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(v.to_string().into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// Entries of a JSON object, borrowed.
struct Entries<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries<'de>, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(16));
                while let Some(k) = m.next_key::<Key<'de>>()? {
                    v.push((k, m.next_value::<&'de RawValue>()?));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A cell of a json_detail row, borrowed.
#[derive(Debug)]
pub enum RawCell<'a> {
    /// `{"value": v, "rendered"?, "links"?}`: the raw text of `v`.
    Value(&'a str),
    /// A pivoted measure: `{pivot_key: {"value": v, ...}, ...}`, each entry's raw cell.
    Pivot(Vec<(Key<'a>, &'a RawValue)>),
    /// Not the json_detail shape (a bare value): its raw text.
    Other(&'a str),
}

impl<'a> RawCell<'a> {
    /// Read a cell's raw text (objects are parsed; their `value` taken when present).
    pub fn parse(raw: &'a RawValue) -> RawCell<'a> {
        let text = raw.get();
        if !text.starts_with('{') {
            return RawCell::Other(text);
        }
        match serde_json::from_str::<Entries<'a>>(text) {
            Ok(Entries(entries)) => match entries.iter().find(|(k, _)| k.0 == "value") {
                Some((_, v)) => RawCell::Value(v.get()),
                None => RawCell::Pivot(entries),
            },
            // Cannot happen for text that parsed as a value; pass it through.
            Err(_) => RawCell::Other(text),
        }
    }

    /// The plain value's text (`Value` or `Other`); `None` for a pivoted cell.
    pub fn value(&self) -> Option<&'a str> {
        match self {
            RawCell::Value(v) | RawCell::Other(v) => Some(v),
            RawCell::Pivot(_) => None,
        }
    }
}

impl<'a> RawRow<'a> {
    /// Parse a row's text (from [`RawRows`](super::RawRows)); fails when it is not a JSON object.
    pub fn parse(text: &'a [u8]) -> Result<RawRow<'a>, serde_json::Error> {
        let Entries(cells) = serde_json::from_slice(text)?;
        Ok(RawRow { cells })
    }

    /// The raw cell of a field, looked up from position `hint` first (rows list their fields in
    /// the header's order, so the hint is almost always right).
    pub fn get(&self, name: &str, hint: usize) -> Option<&'a RawValue> {
        if let Some((k, v)) = self.cells.get(hint) {
            if k.0 == name {
                return Some(v);
            }
        }
        self.cells
            .iter()
            .find(|(k, _)| k.0 == name)
            .map(|(_, v)| *v)
    }
}
