//! A row's cells by the header's fields, for readers that know the header. Almost every row
//! Looker writes is plain: each cell is `{"value": v, …}` or a bare value, and no key or string
//! holds an escape. Such a row is read in one pass over its bytes that checks its JSON and only
//! notes where each field's value is ([`FlatRow`]; its UTF-8 is checked where its text becomes a
//! `&str`); any other row (a pivoted cell, an escape, a
//! repeated field, text that is not JSON) is parsed in general ([`RawRow`]), which gives the
//! plain rows the same cells, so which way a row was read never shows.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{RawCell, RawRow, ResultHeader};

/// Reads the rows of one result by its header's fields.
#[derive(Debug)]
pub(super) struct CellReader {
    /// Each field's name as a plain row writes its key, quotes included, by header position
    /// (empty for a name a plain key cannot spell: one with a quote, a backslash or a control
    /// character).
    keys: Vec<Box<[u8]>>,
    /// Header position of each name; `None` when the header repeats a name (its rows are always
    /// parsed, where the position decides which cell a repeated name gets).
    positions: Option<HashMap<Box<[u8]>, usize>>,
}

impl CellReader {
    /// A reader of `header`'s rows.
    pub(super) fn new(header: &ResultHeader) -> CellReader {
        let names: Vec<Box<[u8]>> = header
            .fields
            .iter()
            .map(|f| f.name.as_bytes().into())
            .collect();
        let positions: HashMap<Box<[u8]>, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let unique = positions.len() == names.len();
        let keys = names
            .iter()
            .map(|n| match n.iter().any(|&b| ends_plain_string(b)) {
                true => Box::default(),
                false => [b"\"", &n[..], b"\""].concat().into(),
            })
            .collect();
        CellReader {
            keys,
            positions: unique.then_some(positions),
        }
    }

    /// The cells of a row's text, read as the parser and [`ChunkRow::cells`](super::ChunkRow)
    /// read them; fails when the text is not a JSON object.
    #[cfg(test)]
    pub(super) fn read<'a>(&self, text: &'a [u8]) -> Result<RowCells<'a>, serde_json::Error> {
        let mut spans = Vec::new();
        let plain = self.read_whole(text, &mut spans).then(|| spans.into());
        RowCells::of(text, plain)
    }

    /// Read `text` as one whole plain row (only whitespace may follow it): its value spans
    /// appended to `spans` and `true`; `false`, with `spans` as it was, for any other text.
    pub(super) fn read_whole(&self, text: &[u8], spans: &mut Vec<(u32, u32)>) -> bool {
        let before = spans.len();
        match self.read_plain(text, spans) {
            Some(end) if text[end..].iter().all(|b| b.is_ascii_whitespace()) => true,
            Some(_) => {
                spans.truncate(before);
                false
            }
            None => false,
        }
    }

    /// Read the plain row at the start of `bytes` (after optional whitespace): its value spans
    /// appended to `spans` (one per header field, `(0, 0)` for a field it lacks, offsets into
    /// `bytes`) and the end of the row returned. `None`, with `spans` as it was, when `bytes` do
    /// not start with a whole plain row: a row that is not plain, not JSON, or that goes on past
    /// them. What follows the row is not looked at.
    pub(super) fn read_plain(&self, bytes: &[u8], spans: &mut Vec<(u32, u32)>) -> Option<usize> {
        let before = spans.len();
        spans.resize(before + self.keys.len(), (0, 0));
        let end = self.walk(bytes, &mut spans[before..]);
        if end.is_none() {
            spans.truncate(before);
        }
        end
    }

    fn walk(&self, bytes: &[u8], spans: &mut [(u32, u32)]) -> Option<usize> {
        let positions = self.positions.as_ref()?;
        let mut at = Cursor { bytes, i: 0 };
        at.open(b'{')?;
        let mut next = 0;
        if !at.empty(b'}') {
            loop {
                // Rows list their fields in the header's order: the next key is nearly always the
                // next field's, compared as it is written.
                let expected = self.keys.get(next).map_or(&[][..], |k| &k[..]);
                let position = if at.key_is(expected)? {
                    Some(next)
                } else {
                    positions.get(at.key()?).copied()
                };
                let span = at.cell()?;
                if let Some(p) = position {
                    if spans[p] != (0, 0) {
                        // A repeated field: which one counts is the general parse's to say.
                        return None;
                    }
                    spans[p] = span;
                    next = p + 1;
                }
                if at.close(b'}')? {
                    break;
                }
            }
        }
        // Strings were checked for quotes, escapes and control characters only: the row's
        // UTF-8 is checked once, where its text becomes a `&str` (`RowCells::of`).
        Some(at.i)
    }
}

/// A plain row: where each field's value is in its text.
#[derive(Debug)]
pub struct FlatRow<'a> {
    text: &'a str,
    /// The value's byte range by header position; `(0, 0)` when the row lacks the field (a value
    /// is never empty and never starts a row).
    spans: Cow<'a, [(u32, u32)]>,
}

impl<'a> FlatRow<'a> {
    fn value(&self, position: usize) -> Option<&'a str> {
        let &(start, end) = self.spans.get(position)?;
        (end > start).then(|| &self.text[start as usize..end as usize])
    }
}

/// A row's cells, read one way or the other.
#[derive(Debug)]
pub enum RowCells<'a> {
    /// Read in one pass.
    Flat(FlatRow<'a>),
    /// Parsed in general.
    Parsed(RawRow<'a>),
}

impl<'a> RowCells<'a> {
    /// The cells of a row's `text`: at `plain`, the value spans [`CellReader`] found when it read
    /// the row plain, or parsed. The reader checked the row's JSON, not its UTF-8: a plain row
    /// that is not UTF-8 is parsed, which says so.
    pub(super) fn of(
        text: &'a [u8],
        plain: Option<Cow<'a, [(u32, u32)]>>,
    ) -> Result<RowCells<'a>, serde_json::Error> {
        if let Some(spans) = plain {
            if let Ok(text) = std::str::from_utf8(text) {
                return Ok(RowCells::Flat(FlatRow { text, spans }));
            }
        }
        RawRow::parse(text).map(RowCells::Parsed)
    }

    /// The cell of the header's field at `position`, whose name is `name`.
    pub fn cell(&self, position: usize, name: &str) -> Option<RawCell<'a>> {
        match self {
            RowCells::Flat(row) => row.value(position).map(RawCell::Value),
            RowCells::Parsed(row) => row.get(name, position).map(RawCell::parse),
        }
    }
}

impl<'a> From<RawRow<'a>> for RowCells<'a> {
    fn from(row: RawRow<'a>) -> RowCells<'a> {
        RowCells::Parsed(row)
    }
}

/// Whether `b` ends a plain string's text: its closing quote, or what makes it not plain (an
/// escape, a control character JSON does not allow).
fn ends_plain_string(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// Strings up to this long are ended byte by byte (see `Cursor::string`).
const SHORT_STRING: usize = 48;

/// Deepest nesting read flat (a deeper row is parsed, under serde_json's own limit).
const MAX_DEPTH: usize = 32;

/// A position in a row's text. Every step returns `None` where the row is not plain or not
/// JSON: the general parse then reads it and says what is wrong.
struct Cursor<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.i) {
            self.i += 1;
        }
    }

    /// Consume `open` after optional whitespace.
    fn open(&mut self, open: u8) -> Option<()> {
        self.skip_ws();
        (self.bytes.get(self.i) == Some(&open)).then(|| self.i += 1)
    }

    /// Right after an opening bracket: whether `close` follows (consumed).
    fn empty(&mut self, close: u8) -> bool {
        self.skip_ws();
        let empty = self.bytes.get(self.i) == Some(&close);
        if empty {
            self.i += 1;
        }
        empty
    }

    /// After an item: `close` ends the list (`true`), `,` goes on.
    fn close(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        match *self.bytes.get(self.i)? {
            b if b == close => {
                self.i += 1;
                Some(true)
            }
            b',' => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Whether the next key is `quoted` (a plain key, quotes included; never when empty): then
    /// it and its colon are consumed.
    fn key_is(&mut self, quoted: &[u8]) -> Option<bool> {
        self.skip_ws();
        if quoted.is_empty() || !self.bytes[self.i..].starts_with(quoted) {
            return Some(false);
        }
        self.i += quoted.len();
        self.open(b':')?;
        Some(true)
    }

    /// An object's key and its colon: the key's bytes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.skip_ws();
        let (start, end) = self.string()?;
        self.open(b':')?;
        Some(&self.bytes[start + 1..end - 1])
    }

    /// A cell: the byte range of its `value` (a bare value's own).
    fn cell(&mut self) -> Option<(u32, u32)> {
        self.skip_ws();
        if self.bytes.get(self.i) != Some(&b'{') {
            return self.value(0);
        }
        self.i += 1;
        let mut value = None;
        if self.empty(b'}') {
            // `{}`: a pivoted cell with no pivot.
            return None;
        }
        loop {
            let is_value = self.key_is(b"\"value\"")? || self.key()? == b"value";
            let span = self.value(1)?;
            if is_value {
                if value.is_some() {
                    return None;
                }
                value = Some(span);
            }
            if self.close(b'}')? {
                // No `value`: a pivoted cell.
                return value;
            }
        }
    }

    /// Any JSON value, validated: its byte range.
    fn value(&mut self, depth: usize) -> Option<(u32, u32)> {
        self.skip_ws();
        let start = self.i;
        match *self.bytes.get(self.i)? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' if depth >= MAX_DEPTH => return None,
            b'{' => {
                self.i += 1;
                if !self.empty(b'}') {
                    loop {
                        self.key()?;
                        self.value(depth + 1)?;
                        if self.close(b'}')? {
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if !self.empty(b']') {
                    loop {
                        self.value(depth + 1)?;
                        if self.close(b']')? {
                            break;
                        }
                    }
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => self.number()?,
        }
        Some((u32::try_from(start).ok()?, u32::try_from(self.i).ok()?))
    }

    /// A string without escapes or control characters: its byte range, quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        if self.bytes.get(start) != Some(&b'"') {
            return None;
        }
        let rest = &self.bytes[start + 1..];
        // Most strings of a row are short: a byte loop ends them sooner than a vector search
        // gets going; a long one is searched.
        let short = rest.len().min(SHORT_STRING);
        let len = match rest[..short].iter().position(|&b| ends_plain_string(b)) {
            Some(len) => len,
            None => short + memchr::memchr2(b'"', b'\\', &rest[short..])?,
        };
        if rest[len] != b'"' || rest[short.min(len)..len].iter().any(|&b| b < 0x20) {
            return None;
        }
        self.i = start + len + 2;
        Some((start, self.i))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.i..].starts_with(word).then(|| {
            self.i += word.len();
        })
    }

    /// A number as JSON writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.bytes.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match *self.bytes.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.bytes.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.i) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.bytes.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

#[cfg(test)]
mod tests;
