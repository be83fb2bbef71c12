//! Result rows: parsed into a [`Row`] map, or borrowed from their raw JSON text ([`RawRows`],
//! [`RawRow`], [`RawCell`]).

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::pool::ChunkPool;

/// One result row: `"view.field" -> {value, rendered?, links?}` or, for pivoted measures,
/// `"view.field" -> {pivot_key: {value, ...}}`.
pub type Row = Map<String, Value>;

/// The raw JSON text of a chunk of rows, back to back (one allocation per chunk, reused when
/// the chunk came from a pool).
#[derive(Debug, Default, Clone)]
pub struct RawRows {
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Where the buffers go back once the chunk is dropped.
    pool: Option<ChunkPool>,
}

impl RawRows {
    pub(super) fn with_capacity(rows: usize) -> RawRows {
        RawRows {
            buf: Vec::with_capacity(rows * 256),
            ends: Vec::with_capacity(rows),
            pool: None,
        }
    }

    /// An empty chunk on buffers from `pool` (fresh ones when it has none), handed back to it
    /// when the chunk is dropped.
    pub(super) fn from_pool(pool: &ChunkPool, rows: usize) -> RawRows {
        let (buf, ends) = pool.take().unwrap_or_default();
        let mut chunk = RawRows {
            buf,
            ends,
            pool: Some(pool.clone()),
        };
        chunk.buf.reserve(rows * 256);
        chunk.ends.reserve(rows);
        chunk
    }

    /// Rows in the chunk.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the chunk holds no row.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The JSON text of row `i` of the chunk (an object, not yet validated).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.buf[start..end])
    }

    /// Each row's JSON text, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The buffer a row is being captured into; `finish_row` marks its end.
    pub(super) fn row_buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(super) fn finish_row(&mut self) {
        self.ends.push(self.buf.len());
    }

    /// Bytes of row text held (a row being captured included).
    pub(super) fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Drop the bytes of a row cut off half-way (captured, never finished).
    pub(super) fn drop_unfinished_row(&mut self) {
        self.buf.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// Rows `from..` as a chunk of their own.
    pub(super) fn split_from(&self, from: usize) -> RawRows {
        self.copy_range(from, self.len())
    }

    /// Rows `from..to` as a chunk of their own.
    pub(super) fn copy_range(&self, from: usize, to: usize) -> RawRows {
        let mut part = RawRows::with_capacity(to.saturating_sub(from));
        for row in (from..to).filter_map(|i| self.get(i)) {
            part.buf.extend_from_slice(row);
            part.finish_row();
        }
        part
    }
}

impl Drop for RawRows {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back((
                std::mem::take(&mut self.buf),
                std::mem::take(&mut self.ends),
            ));
        }
    }
}

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
    /// Parse a row's text (from [`RawRows`]); fails when it is not a JSON object.
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
