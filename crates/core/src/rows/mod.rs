//! Looker query results (`json_detail` / `json_detail_lite_stream`) as a stream of rows.
//!
//! The result is read on a blocking thread straight from its source (pushed bytes, base64 or a
//! streamed `download_url`) by a structural scanner that splits the `data` array into the raw JSON
//! text of each row; rows are handed over in small chunks through a bounded channel, so memory
//! stays constant whatever the size of the result, and a slow consumer slows the download down.
//! Rows are parsed by the consumer: into a [`Row`] map ([`RowStream::next_row`]), or borrowed
//! straight from the raw text ([`RowStream::next_raw_chunk`]) where speed matters.
//!
//! Files: `source` (where a result comes from: pushed body, base64, `download_url`), `download`
//! (a `download_url` fetched and parsed by one thread), `stop` (a source told to stop), `header`
//! (what precedes the rows: `ran_at`, fields), `scanner` (the block scanner), `parser` (the
//! document read on its thread, rows handed over in chunks), `chunk` (a chunk of rows as handed
//! over, with where the plain rows' values are), `pool` (chunk buffers reused), `raw` (rows and
//! cells, parsed or borrowed), `cells` (a row's cells by the header's fields, plain rows read in
//! one pass); this file holds the reader ([`RowStream`]) and its errors.

mod cells;
mod chunk;
mod download;
mod fields;
mod header;
mod parser;
mod pool;
mod raw;
mod scanner;
mod source;
mod stop;

pub use cells::{FlatRow, RowCells};
pub use chunk::{ChunkRow, RawRows};
pub use fields::{kept_bytes, MAX_FIELDS, MAX_FIELDS_KEPT, MAX_FIELD_KEPT, MAX_FIELD_TEXT};
pub use header::{FieldCategory, FieldMeta, ResultHeader};
pub use raw::{Key, RawCell, RawRow, Row};
pub use source::{source_of, RowSource};

use parser::Msg;
use tokio::sync::mpsc;

/// Most raw row text kept while a result's rows come before its `fields` (plain json_detail may
/// order them so): the default body limit, so a pushed result within it always fits; a streamed
/// one larger than this is refused rather than held whole (a request stays within 64 MiB).
pub const MAX_BYTES_BEFORE_FIELDS: usize = 32 << 20;
/// Largest row of a result, as JSON text. A longer row is skipped as it is read (never held) and
/// counted ([`RowStream::rows_too_large`]; an empty row text for raw readers): a Looker row is a
/// few kilobytes, a RudderStack event at most 32 KB.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// Why reading a result failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RowsError {
    /// The download URL answered with an error status or could not be reached.
    #[error("could not download the query result: {0}")]
    Download(String),
    /// The connection broke while the result was being read.
    #[error("the query result download was cut off after {rows} row(s): {detail}")]
    Cut {
        /// Rows read before the break.
        rows: u64,
        /// What broke.
        detail: String,
    },
    /// The result lists more rows before its `fields` than the hub holds while waiting for them.
    #[error(
        "the query result lists more than {} MB of rows ({rows} rows) before its fields, more than \
         the hub holds while waiting for them: send it as json_detail_lite_stream, which lists the \
         fields first, so rows are handled as they arrive",
        MAX_BYTES_BEFORE_FIELDS >> 20
    )]
    RowsBeforeFields {
        /// Rows read (none of them handed over).
        rows: u64,
    },
    /// The reader was told to stop ([`RowStream::stop_reading`]); every row read before is
    /// handed out first.
    #[error("reading the query result was stopped after {rows} row(s)")]
    Stopped {
        /// Rows read (all of them handed out).
        rows: u64,
    },
    /// The result's header is over a bound of the hub (fields, their size, `ran_at`): the
    /// message says which and what to change.
    #[error("{0}")]
    OverLimit(String),
    /// The document is not a valid json_detail result.
    #[error("the query result is not valid json_detail after {rows} row(s): {detail}")]
    Malformed {
        /// Rows read before the problem.
        rows: u64,
        /// The parser's message (position, expectation).
        detail: String,
    },
}

impl RowsError {
    /// Row `index` (0-based; the rows before it were fine) is not a valid row object.
    pub fn bad_row(index: u64, e: &serde_json::Error, text: &[u8]) -> RowsError {
        RowsError::Malformed {
            rows: index,
            detail: format!("row {}: {}", index + 1, json_error(e, text)),
        }
    }
}

/// A JSON error as its kind and byte offset in `text`: serde_json's own message can quote the
/// document (a fetched document's values never go into an answer).
pub fn json_error(e: &serde_json::Error, text: &[u8]) -> String {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Syntax => "invalid JSON",
        Category::Data => "a value of the wrong type",
        Category::Eof => "JSON that ends early",
        Category::Io => "a read error",
    };
    // serde_json counts lines and columns from 1.
    let line_start = text
        .split_inclusive(|b| *b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    let offset = (line_start + e.column().saturating_sub(1)).min(text.len());
    format!("{kind} at byte {offset}")
}

/// A query result being read: its header, then its rows one at a time.
pub struct RowStream {
    header: ResultHeader,
    rx: mpsc::Receiver<Msg>,
    /// The chunk being handed out and the position in it.
    chunk: RawRows,
    pos: usize,
    /// An error to report once the rows before it are handed out.
    pending_error: Option<RowsError>,
    done: bool,
    rows_read: u64,
    too_large: u64,
    /// Cancelled by [`RowStream::stop_reading`].
    stop: tokio_util::sync::CancellationToken,
}

impl RowStream {
    /// Start reading a result; returns once the header (fields) is known.
    pub async fn open(source: RowSource) -> Result<RowStream, RowsError> {
        let (tx, mut rx) = mpsc::channel(parser::CHANNEL_CHUNKS);
        let stop = tokio_util::sync::CancellationToken::new();
        source::start(source, tx, stop.clone()).await?;
        match rx.recv().await {
            Some(Msg::Header(header)) => Ok(RowStream {
                header,
                rx,
                chunk: RawRows::default(),
                pos: 0,
                pending_error: None,
                done: false,
                rows_read: 0,
                too_large: 0,
                stop,
            }),
            Some(Msg::Error(e)) => Err(e),
            Some(Msg::Rows(_)) | None => Err(RowsError::Malformed {
                rows: 0,
                detail: "the result ended before its fields".into(),
            }),
        }
    }

    /// The result's header.
    pub fn header(&self) -> &ResultHeader {
        &self.header
    }

    /// Read no further (a shutdown): the rows already read — those waiting in the reader and the
    /// complete ones the parser holds — are still handed out, then the stream ends with
    /// [`RowsError::Stopped`] naming how many rows were read, unless it ended first.
    pub fn stop_reading(&self) {
        self.stop.cancel();
    }

    /// Rows handed out so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Rows skipped by [`RowStream::next_row`] for being over
    /// [`MAX_ROW_BYTES`].
    pub fn rows_too_large(&self) -> u64 {
        self.too_large
    }

    /// Wait for the next chunk from the parser; `false` at the end (or after an error, which is
    /// then pending).
    async fn refill(&mut self) -> bool {
        if self.done {
            return false;
        }
        match self.rx.recv().await {
            Some(Msg::Rows(rows)) => {
                self.chunk = rows;
                self.pos = 0;
                true
            }
            Some(Msg::Error(e)) => {
                self.done = true;
                self.pending_error = Some(e);
                false
            }
            Some(Msg::Header(_)) | None => {
                self.done = true;
                false
            }
        }
    }

    /// End the stream with an error.
    fn fail(&mut self, e: RowsError) -> RowsError {
        self.done = true;
        self.chunk = RawRows::default();
        self.pos = 0;
        e
    }

    /// The next row; `None` at the end. An error ends the stream.
    pub async fn next_row(&mut self) -> Option<Result<Row, RowsError>> {
        loop {
            if let Some(raw) = self.chunk.get(self.pos) {
                if raw.is_empty() {
                    // A row over MAX_ROW_BYTES (skipped by the parser).
                    self.pos += 1;
                    self.rows_read += 1;
                    self.too_large += 1;
                    continue;
                }
                let parsed = serde_json::from_slice::<Row>(raw);
                self.pos += 1;
                return match parsed {
                    Ok(row) => {
                        self.rows_read += 1;
                        Some(Ok(row))
                    }
                    Err(e) => Some(Err(self.fail(RowsError::bad_row(self.rows_read, &e, raw)))),
                };
            }
            if let Some(e) = self.pending_error.take() {
                return Some(Err(e));
            }
            if !self.refill().await && self.pending_error.is_none() {
                return None;
            }
        }
    }

    /// The next chunk of rows as raw JSON text, for consumers that parse rows themselves
    /// (borrowing from the text is much cheaper than building [`Row`] maps; a number no double
    /// holds stays text, so only what needs it is refused). A row over [`MAX_ROW_BYTES`] is an
    /// empty text. A row the consumer finds invalid should be reported as
    /// [`RowsError::Malformed`] after the rows before it.
    pub async fn next_raw_chunk(&mut self) -> Option<Result<RawRows, RowsError>> {
        loop {
            if self.pos < self.chunk.len() {
                let chunk = if self.pos == 0 {
                    std::mem::take(&mut self.chunk)
                } else {
                    let rest = self.chunk.split_from(self.pos);
                    self.chunk = RawRows::default();
                    rest
                };
                self.pos = 0;
                self.rows_read += chunk.len() as u64;
                return Some(Ok(chunk));
            }
            if let Some(e) = self.pending_error.take() {
                return Some(Err(e));
            }
            if !self.refill().await && self.pending_error.is_none() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(src: RowSource) -> (ResultHeader, Vec<Row>, Option<RowsError>) {
        let mut s = RowStream::open(src).await.unwrap();
        let mut rows = vec![];
        let mut err = None;
        while let Some(r) = s.next_row().await {
            match r {
                Ok(r) => rows.push(r),
                Err(e) => err = Some(e),
            }
        }
        (s.header().clone(), rows, err)
    }

    fn doc(n: usize, data_first: bool) -> String {
        let fields = r#""fields":{"dimensions":[{"name":"o.id","label":"Id","tags":["mark-suspicious"]}],"measures":[{"name":"o.n","tags":[]}]}"#;
        let rows: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"o.id":{{"value":{i}}},"o.n":{{"value":1}}}}"#))
            .collect();
        let data = format!(r#""data":[{}]"#, rows.join(","));
        if data_first {
            format!(r#"{{"ran_at":"2026-01-01T00:00:00Z",{data},{fields}}}"#)
        } else {
            format!(r#"{{"ran_at":"2026-01-01T00:00:00Z",{fields},{data}}}"#)
        }
    }

    #[tokio::test]
    async fn null_field_lists_tags_and_fields_are_read_as_empty() {
        let doc = r#"{"fields":{"dimensions":[{"name":"a.b","label":null,"tags":null,"hidden":null}],
            "measures":null,"table_calculations":null,"pivots":null},
            "data":[{"a.b":{"value":1}}]}"#;
        let (header, rows, err) = collect(RowSource::Bytes(doc.into())).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(header.fields.len(), 1);
        assert!(header.fields[0].tags.is_empty() && !header.fields[0].hidden);
        assert!(header.pivots.is_empty());
        assert_eq!(rows.len(), 1);

        let doc = r#"{"fields":null,"data":[{"a.b":{"value":1}}]}"#;
        let (header, rows, err) = collect(RowSource::Bytes(doc.into())).await;
        assert!(err.is_none(), "{err:?}");
        assert!(header.fields.is_empty());
        assert_eq!(rows.len(), 1);
    }

    #[tokio::test]
    async fn data_is_an_array_of_rows_or_null_and_nothing_else() {
        // Found by fuzzing (fuzz/ rows_bytes): any word starting with `n` was read as `null`.
        let (_, rows, err) = collect(RowSource::Bytes(r#"{"data":null}"#.into())).await;
        assert!(rows.is_empty() && err.is_none(), "{err:?}");
        for bad in [
            r#"{"data":nul}"#,
            r#"{"data":nonsense}"#,
            "{\"data\":nul\u{1}\u{ca}\u{9a};;}",
        ] {
            let failed = match RowStream::open(RowSource::Bytes(bad.to_string().into())).await {
                Err(_) => true,
                Ok(mut s) => matches!(s.next_row().await, Some(Err(_))),
            };
            assert!(failed, "{bad} was accepted");
        }
    }

    #[tokio::test]
    async fn rows_arrive_in_order_with_header_either_layout() {
        for data_first in [false, true] {
            let (h, rows, err) = collect(RowSource::Bytes(doc(1000, data_first).into())).await;
            assert!(err.is_none());
            assert_eq!(h.ran_at.as_deref(), Some("2026-01-01T00:00:00Z"));
            assert_eq!(h.fields.len(), 2);
            assert_eq!(h.field_with_tag("mark-suspicious").unwrap().name, "o.id");
            assert_eq!(h.fields[1].category, FieldCategory::Measure);
            assert_eq!(rows.len(), 1000);
            assert_eq!(rows[999]["o.id"]["value"], 999);
        }
    }

    #[tokio::test]
    async fn base64_and_truncated_documents() {
        use base64::Engine;
        let text = doc(10, false);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
        let (_, rows, err) = collect(RowSource::Base64(b64.into())).await;
        assert!(err.is_none());
        assert_eq!(rows.len(), 10);

        let cut = &text[..text.len() - 40];
        let (_, rows, err) = collect(RowSource::Bytes(cut.to_string().into())).await;
        assert!(matches!(err, Some(RowsError::Cut { .. })), "{err:?}");
        assert_eq!(rows.len(), 9);

        assert!(RowStream::open(RowSource::Bytes("[1,2]".into()))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn the_scanner_respects_strings_nesting_whitespace_and_buffer_boundaries() {
        // Braces, brackets, quotes and backslashes inside strings; pivots; pretty printing;
        // a row larger than the scanner's buffer; keys the parser must skip.
        let big = "x".repeat(3 * scanner::SCAN_BUF);
        let tricky = r#""{[\"}]\\""#;
        let doc = format!(
            "{{ \"extra\" : [ {{\"a\":\"}}]\"}} ] ,\n  \"ran_at\": \"2026-01-01T00:00:00Z\",\n  \
             \"fields\": {{\"dimensions\": [{{\"name\": \"a.b\", \"tags\": []}}]}},\n  \"data\": [\n    \
             {{\"a.b\": {{\"value\": {tricky}}}}},\n    \
             {{\"a.b\": {{\"p1\": {{\"value\": 1}}, \"p2\": {{\"value\": null}}}}}} ,\n    \
             {{\"a.b\": {{\"value\": \"{big}\"}}}},\n    \
             {{\"a.b\": {{\"value\": -1.5e3}}}}\n  ]\n}}\n"
        );
        let (h, rows, err) = collect(RowSource::Bytes(doc.into())).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(h.fields[0].name, "a.b");
        assert_eq!(h.ran_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["a.b"]["value"], "{[\"}]\\");
        assert_eq!(rows[1]["a.b"]["p1"]["value"], 1);
        assert_eq!(
            rows[2]["a.b"]["value"].as_str().unwrap().len(),
            3 * scanner::SCAN_BUF
        );
        assert_eq!(rows[3]["a.b"]["value"], -1500.0);
    }

    #[tokio::test]
    async fn raw_chunks_hand_out_each_rows_text() {
        let mut s = RowStream::open(RowSource::Bytes(doc(600, false).into()))
            .await
            .unwrap();
        let mut n = 0;
        while let Some(chunk) = s.next_raw_chunk().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= parser::CHUNK_ROWS);
            for raw in chunk.iter() {
                let row: Row = serde_json::from_slice(raw).unwrap();
                assert_eq!(row["o.id"]["value"], n);
                n += 1;
            }
        }
        assert_eq!(n, 600);
        assert_eq!(s.rows_read(), 600);
    }

    #[tokio::test]
    async fn empty_null_and_broken_documents() {
        for text in [
            r#"{"fields":{"dimensions":[]},"data":[]}"#,
            r#"{"fields":{"dimensions":[]},"data":null}"#,
            r#" { } "#,
        ] {
            let (_, r, err) = collect(RowSource::Bytes(text.into())).await;
            assert!(err.is_none(), "{text}: {err:?}");
            assert!(r.is_empty());
        }
        for (text, cut, rows) in [
            (
                r#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}},{"a":{"value":"x"#,
                true,
                1,
            ),
            (
                r#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}};{"a":1}]}"#,
                false,
                1,
            ),
            (
                r#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}},2]}"#,
                false,
                1,
            ),
            (
                r#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}},{"a" 1}]}"#,
                false,
                1,
            ),
            (
                r#"{"fields":{"dimensions":[]},"data":[]} trailing"#,
                false,
                0,
            ),
        ] {
            let (_, r, err) = collect(RowSource::Bytes(text.into())).await;
            assert_eq!(r.len(), rows, "{text}");
            match err {
                Some(RowsError::Cut { rows: n, .. }) if cut => assert_eq!(n, rows as u64),
                Some(RowsError::Malformed { rows: n, .. }) if !cut => {
                    assert_eq!(n, rows as u64)
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            RowStream::open(RowSource::Bytes(r#"{"fields": 3, "data": []}"#.into())).await,
            Err(RowsError::Malformed { .. })
        ));
    }
}
