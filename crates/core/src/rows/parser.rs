//! The document read on a blocking thread: the header parsed, each row's text captured into a
//! chunk, chunks handed over through a bounded channel (rows before the fields held up to a bound).

use std::io::Read;

use tokio::sync::mpsc;

use super::cells::CellReader;
use super::chunk::RawRows;
use super::fields::{read_fields, read_key, read_null};
use super::header::{RawFields, ResultHeader};
use super::pool::Pool;
use super::scanner::{ScanError, Scanner};
use super::stop::Stopped;
use super::{json_error, RowsError, MAX_BYTES_BEFORE_FIELDS, MAX_ROW_BYTES};

/// Rows handed over per channel message.
pub(super) const CHUNK_ROWS: usize = 256;
/// Chunks buffered between the parser and the consumer.
pub(super) const CHANNEL_CHUNKS: usize = 4;
/// A chunk is handed over once it holds this many bytes of rows (or [`CHUNK_ROWS`] rows).
const CHUNK_BYTES: usize = 1 << 20;
/// Chunk buffers kept for reuse: as many as can be in use at once (those in the channel, the one
/// being filled, the one being read).
const POOLED_CHUNKS: usize = CHANNEL_CHUNKS + 2;
/// A chunk's buffers grown past this (a row near the row limit) are freed rather than kept.
const LARGEST_POOLED_CHUNK: usize = 4 * CHUNK_BYTES;
/// Largest `ran_at` of a result document, as JSON text (Looker's is a timestamp of 25 bytes).
const MAX_RAN_AT_BYTES: usize = 1 << 10;

/// What the parser hands the reader: the header once, then chunks of rows, or an error.
pub(super) enum Msg {
    Header(ResultHeader),
    Rows(RawRows),
    Error(RowsError),
}

/// Read a document from `reader` on a blocking thread, sending what it finds to `tx`.
pub(super) fn spawn_parser<R: Read + Send + 'static>(reader: R, tx: mpsc::Sender<Msg>) {
    tokio::task::spawn_blocking(move || parse(reader, tx));
}

/// Read a document from `reader` on this thread, sending what it finds to `tx`.
pub(super) fn parse<R: Read>(reader: R, tx: mpsc::Sender<Msg>) {
    let pool = Pool::new(POOLED_CHUNKS, LARGEST_POOLED_CHUNK);
    let mut state = ParseState {
        tx,
        header_sent: false,
        ran_at: None,
        fields: None,
        rows: 0,
        pending: RawRows::from_pool(&pool, CHUNK_ROWS),
        pool,
        reader: None,
        buffered: Vec::new(),
        buffered_bytes: 0,
        cancelled: false,
    };
    let mut scan = Scanner::new(reader);
    match parse_document(&mut scan, &mut state) {
        Ok(()) => {
            state.ensure_header();
            state.flush_buffered();
            state.flush();
        }
        Err(_) if state.cancelled => {}
        Err(e) => {
            state.flush();
            let err = rows_error(e, state.rows);
            let _ = state.tx.blocking_send(Msg::Error(err));
        }
    }
}

/// What stopped the scanner after `rows` rows, as the reader reports it.
fn rows_error(e: ScanError, rows: u64) -> RowsError {
    match e {
        ScanError::Io(e) if Stopped::is(&e) => RowsError::Stopped { rows },
        ScanError::Io(e) => RowsError::Cut {
            rows,
            detail: e.to_string(),
        },
        ScanError::Eof => RowsError::Cut {
            rows,
            detail: "the document ended early".into(),
        },
        ScanError::Syntax(detail) => RowsError::Malformed { rows, detail },
        ScanError::BeforeFields => RowsError::RowsBeforeFields { rows },
        ScanError::Limit(why) => RowsError::OverLimit(why),
    }
}

/// The top level of a json_detail document: `ran_at` and `fields` are parsed, `data` rows are
/// captured one by one, anything else is skipped.
fn parse_document<R: Read>(scan: &mut Scanner<R>, state: &mut ParseState) -> Result<(), ScanError> {
    scan.expect(b'{', "a json_detail result object")?;
    if scan.peek_token()? == Some(b'}') {
        scan.skip();
        return end_of_document(scan);
    }
    loop {
        // A key too long to be one the hub reads is skipped with its value.
        let key = read_key(scan, "the result")?;
        scan.expect(b':', "`:`")?;
        match key.as_deref() {
            Some("data") => parse_rows(scan, state)?,
            Some("fields") => state.fields = Some(read_fields(scan)?),
            Some("ran_at") => state.ran_at = read_ran_at(scan)?,
            _ => scan.capture(None)?,
        }
        if state.cancelled {
            return Err(ScanError::Syntax("reader gone".into()));
        }
        if scan.end_of_item(b'}')? {
            return end_of_document(scan);
        }
    }
}

/// `ran_at`: a string or null, at most [`MAX_RAN_AT_BYTES`].
fn read_ran_at<R: Read>(scan: &mut Scanner<R>) -> Result<Option<String>, ScanError> {
    let mut value = Vec::new();
    if !scan.capture_at_most(&mut value, MAX_RAN_AT_BYTES)? {
        return Err(ScanError::Limit(format!(
            "the query result's ran_at is longer than {MAX_RAN_AT_BYTES} bytes (Looker writes a \
             timestamp)"
        )));
    }
    serde_json::from_slice(&value)
        .map_err(|e| ScanError::Syntax(format!("ran_at: {}", json_error(&e, &value))))
}

fn end_of_document<R: Read>(scan: &mut Scanner<R>) -> Result<(), ScanError> {
    match scan.peek_token()? {
        None => Ok(()),
        Some(_) => Err(scan.syntax("the end of the document")),
    }
}

/// The `data` array: each element's text is captured straight into the pending chunk.
fn parse_rows<R: Read>(scan: &mut Scanner<R>, state: &mut ParseState) -> Result<(), ScanError> {
    if state.fields.is_some() {
        state.ensure_header();
    }
    match scan.peek_token()? {
        Some(b'[') => scan.skip(),
        // `"data": null`: no rows. (Only `null`: fuzzing found any word starting with `n` taken
        // for it.)
        Some(b'n') => return read_null(scan, "data"),
        Some(_) => return Err(scan.syntax("an array of rows")),
        None => return Err(ScanError::Eof),
    }
    if scan.peek_token()? == Some(b']') {
        scan.skip();
        return Ok(());
    }
    loop {
        match scan.peek_token()? {
            Some(b'{') => {}
            Some(_) => return Err(scan.syntax("a row object")),
            None => return Err(ScanError::Eof),
        }
        state.capture_row(scan)?;
        state.push_row()?;
        if scan.end_of_item(b']')? {
            return Ok(());
        }
    }
}

struct ParseState {
    tx: mpsc::Sender<Msg>,
    header_sent: bool,
    ran_at: Option<String>,
    fields: Option<RawFields>,
    rows: u64,
    /// Rows captured since the last hand-over (the last one may be half-captured on error).
    pending: RawRows,
    /// The buffers of the chunks handed over, when their consumer is done with them.
    pool: Pool<RawRows>,
    /// Reads the rows' values by the header's fields, once the header is known (rows before it
    /// are left to the consumer).
    reader: Option<CellReader>,
    /// Chunks seen before `fields` (plain json_detail may put data first): kept until the header.
    buffered: Vec<RawRows>,
    /// Raw bytes in `buffered`.
    buffered_bytes: usize,
    cancelled: bool,
}

impl ParseState {
    /// The rows captured so far; capturing goes on into an empty chunk.
    fn take_pending(&mut self) -> RawRows {
        let next = RawRows::from_pool(&self.pool, CHUNK_ROWS);
        std::mem::replace(&mut self.pending, next)
    }

    /// Send the header (once), from the `ran_at` and `fields` read so far.
    fn ensure_header(&mut self) {
        if self.header_sent {
            return;
        }
        let header = ResultHeader::new(self.ran_at.clone(), self.fields.take().unwrap_or_default());
        self.reader = Some(CellReader::new(&header));
        self.header_sent = true;
        if self.tx.blocking_send(Msg::Header(header)).is_err() {
            self.cancelled = true;
        }
    }

    /// Capture the row that starts at the scanner into `pending`. Once the header is known, a
    /// plain row whole in the scanner's buffer (nearly every row) is read there in one pass that
    /// finds both its end and its values; any other row is captured by the scanner, then read
    /// (a plain row that straddled the buffer) or left to be parsed by the consumer.
    fn capture_row<R: Read>(&mut self, scan: &mut Scanner<R>) -> Result<(), ScanError> {
        if let Some(reader) = &self.reader {
            if let Some(n) = self.pending.push_plain(reader, scan.buffered()) {
                scan.consume(n);
                return Ok(());
            }
        }
        // An oversized row stays in the chunk as an empty text: counted, never held.
        scan.capture_at_most(self.pending.row_buf(), MAX_ROW_BYTES)?;
        self.pending.finish_row(self.reader.as_ref());
        Ok(())
    }

    /// The row just captured into `pending` is complete.
    fn push_row(&mut self) -> Result<(), ScanError> {
        self.rows += 1;
        if self.pending.len() >= CHUNK_ROWS || self.pending.byte_len() >= CHUNK_BYTES {
            if self.header_sent {
                self.flush();
            } else {
                let chunk = self.take_pending();
                self.buffered_bytes += chunk.byte_len();
                self.buffered.push(chunk);
                if self.buffered_bytes > MAX_BYTES_BEFORE_FIELDS {
                    self.buffered.clear();
                    return Err(ScanError::BeforeFields);
                }
            }
        }
        if self.cancelled {
            return Err(ScanError::Syntax("reader gone".into()));
        }
        Ok(())
    }

    fn flush_buffered(&mut self) {
        for chunk in std::mem::take(&mut self.buffered) {
            self.send(chunk);
        }
    }

    fn send(&mut self, chunk: RawRows) {
        if chunk.is_empty() || self.cancelled {
            return;
        }
        if self.tx.blocking_send(Msg::Rows(chunk)).is_err() {
            self.cancelled = true;
        }
    }

    /// Hand over the complete rows captured so far.
    fn flush(&mut self) {
        let mut chunk = self.take_pending();
        chunk.drop_unfinished_row();
        if !self.header_sent {
            self.buffered.push(chunk);
            return;
        }
        self.flush_buffered();
        self.send(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RawRow;

    /// `{"data":[` and then rows of ~4 KB without end.
    struct EndlessRows {
        head: &'static [u8],
        row: Vec<u8>,
        at: usize,
    }

    impl Read for EndlessRows {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if !self.head.is_empty() {
                let n = self.head.len().min(buf.len());
                buf[..n].copy_from_slice(&self.head[..n]);
                self.head = &self.head[n..];
                return Ok(n);
            }
            let n = (self.row.len() - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.row[self.at..self.at + n]);
            self.at = (self.at + n) % self.row.len();
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_before_fields_are_held_only_up_to_a_bound() {
        let row = format!(r#"{{"a.b":{{"value":"{}"}}}},"#, "x".repeat(4000)).into_bytes();
        let per_row = row.len() - 1;
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        spawn_parser(
            EndlessRows {
                head: br#"{"data":["#,
                row,
                at: 0,
            },
            tx,
        );
        match rx.recv().await {
            Some(Msg::Error(e @ RowsError::RowsBeforeFields { rows })) => {
                assert!(rows as usize * per_row > MAX_BYTES_BEFORE_FIELDS, "{rows}");
                assert!(
                    rows as usize * per_row < MAX_BYTES_BEFORE_FIELDS + (8 << 20),
                    "{rows}"
                );
                assert!(e.to_string().contains("json_detail_lite_stream"), "{e}");
            }
            Some(Msg::Error(e)) => panic!("{e}"),
            Some(_) => panic!("rows were handed over before the fields"),
            None => panic!("the parser ended without an answer"),
        }
    }

    /// Hands out `text` a few bytes at a time (1 to 97, in turn): rows straddle every read.
    struct Trickle {
        text: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.step = self.step % 97 + 1;
            let n = self.step.min(buf.len()).min(self.text.len() - self.at);
            buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Each field's value text, by header position (`None`: no such cell or a pivoted one).
    fn values(cells: &super::super::RowCells<'_>, names: &[&str]) -> Vec<Option<String>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| cells.cell(i, n).and_then(|c| c.value().map(str::to_string)))
            .collect()
    }

    async fn read_back(reader: impl Read + Send + 'static) -> Vec<(bool, Vec<Option<String>>)> {
        let names = ["a.x", "a.y"];
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        spawn_parser(reader, tx);
        let mut rows = Vec::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Header(h) => assert_eq!(h.fields.len(), 2),
                Msg::Rows(chunk) => {
                    for row in chunk.rows() {
                        let cells = row.cells().unwrap();
                        let parsed = RawRow::parse(row.text).unwrap();
                        let expected = values(&parsed.into(), &names);
                        let flat = matches!(cells, super::super::RowCells::Flat(_));
                        assert_eq!(values(&cells, &names), expected);
                        rows.push((flat, expected));
                    }
                }
                Msg::Error(e) => panic!("{e}"),
            }
        }
        rows
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_rows_are_read_plain_by_the_parser_wherever_reads_cut_them() {
        let plain =
            |i: usize| format!(r#"{{"a.x":{{"value":{i},"rendered":"{i}"}},"a.y":"v{i}"}}"#);
        let others = [
            r#"{"a.x":{"value":"say \"hi\""},"a.y":1}"#.to_string(),
            r#"{"a.x":{"p1":{"value":1}},"a.y":{"value":null}}"#.to_string(),
            r#"{"a.y":{"value":[1,2]},"a.y":{"value":3}}"#.to_string(),
        ];
        let rows: Vec<String> = (0..3000)
            .map(|i| match i % 10 {
                3 => others[i % 3].clone(),
                _ => plain(i),
            })
            .collect();
        let doc = format!(
            r#"{{"fields":{{"dimensions":[{{"name":"a.x"}},{{"name":"a.y"}}]}},"data":[{}]}}"#,
            rows.join(" ,\n ")
        );
        let whole = read_back(std::io::Cursor::new(doc.clone().into_bytes())).await;
        let trickled = read_back(Trickle {
            text: doc.into_bytes(),
            at: 0,
            step: 0,
        })
        .await;
        assert_eq!(whole.len(), 3000);
        assert_eq!(whole, trickled);
        for (i, (flat, values)) in whole.iter().enumerate() {
            assert_eq!(*flat, i % 10 != 3, "row {i}");
            if i % 10 != 3 {
                assert_eq!(values[1].as_deref(), Some(format!("\"v{i}\"").as_str()));
            }
        }
    }
}
