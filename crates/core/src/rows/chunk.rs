//! A chunk of rows as the parser hands them over: their JSON text back to back, and for each row
//! it could read plain, where its values are ([`CellReader`]), so the consumer does not walk the
//! text again.

use std::borrow::Cow;

use super::cells::{CellReader, RowCells};
use super::pool::{Pool, Reusable};

/// The raw JSON text of a chunk of rows (one allocation per chunk, reused when the chunk came
/// from a pool).
#[derive(Debug, Default, Clone)]
pub struct RawRows {
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Per row: the range of its value spans in `spans` when it was read plain.
    plain: Vec<Option<(u32, u32)>>,
    /// The value spans of the rows read plain, back to back (offsets into each row's text).
    spans: Vec<(u32, u32)>,
    /// Where the buffers go back once the chunk is dropped.
    pool: Option<Pool<RawRows>>,
}

impl RawRows {
    /// An empty chunk on buffers from `pool` (fresh ones when it has none), handed back to it
    /// when the chunk is dropped.
    pub(super) fn from_pool(pool: &Pool<RawRows>, rows: usize) -> RawRows {
        let mut chunk = pool.take();
        chunk.pool = Some(pool.clone());
        chunk.buf.reserve(rows * 256);
        chunk.ends.reserve(rows);
        chunk.plain.reserve(rows);
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

    /// Each row, in order, with its cells at hand.
    pub fn rows(&self) -> impl Iterator<Item = ChunkRow<'_>> + '_ {
        self.iter().enumerate().map(|(i, text)| ChunkRow {
            text,
            plain: self.plain[i].map(|(from, to)| &self.spans[from as usize..to as usize]),
        })
    }

    /// Read the plain row at the start of `bytes` into the chunk, with its value spans; its
    /// length, or `None` (the chunk as it was) when `bytes` do not start with a whole plain row.
    pub(super) fn push_plain(&mut self, reader: &CellReader, bytes: &[u8]) -> Option<usize> {
        let from = self.spans.len();
        let end = reader.read_plain(bytes, &mut self.spans)?;
        self.buf.extend_from_slice(&bytes[..end]);
        self.finish(Some(from));
        Some(end)
    }

    /// The buffer a row is being captured into; `finish_row` marks its end.
    pub(super) fn row_buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The row captured into `row_buf` is complete; with a `reader`, its cells are read when it
    /// is plain.
    pub(super) fn finish_row(&mut self, reader: Option<&CellReader>) {
        let start = self.ends.last().copied().unwrap_or(0);
        let from = self.spans.len();
        let plain = reader.is_some_and(|r| r.read_whole(&self.buf[start..], &mut self.spans));
        self.finish(plain.then_some(from));
    }

    fn finish(&mut self, spans_from: Option<usize>) {
        self.ends.push(self.buf.len());
        let to = self.spans.len();
        self.plain
            .push(spans_from.map(|from| (from as u32, to as u32)));
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
        let mut part = RawRows::default();
        for i in from..self.len() {
            let Some(row) = self.get(i) else { break };
            part.buf.extend_from_slice(row);
            let spans_from = self.plain[i].map(|(a, b)| {
                let at = part.spans.len();
                part.spans
                    .extend_from_slice(&self.spans[a as usize..b as usize]);
                at
            });
            part.finish(spans_from);
        }
        part
    }
}

/// A row of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRow<'c> {
    /// Its JSON text (an object, not yet validated; empty for a row over the row limit).
    pub text: &'c [u8],
    /// Where its values are, when the parser read it plain.
    plain: Option<&'c [(u32, u32)]>,
}

impl<'c> ChunkRow<'c> {
    /// Its cells by the header's fields: where the parser found them (a plain row), or parsed
    /// now; fails when its text is not a JSON object.
    pub fn cells(&self) -> Result<RowCells<'c>, serde_json::Error> {
        RowCells::of(self.text, self.plain.map(Cow::Borrowed))
    }
}

impl Reusable for RawRows {
    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.plain.clear();
        self.spans.clear();
    }

    fn room(&self) -> usize {
        self.buf.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.plain.capacity() * std::mem::size_of::<Option<(u32, u32)>>()
            + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

impl Drop for RawRows {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back(std::mem::take(self));
        }
    }
}
