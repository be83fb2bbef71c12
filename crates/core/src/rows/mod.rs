//! Looker query results (`json_detail` / `json_detail_lite_stream`) as a stream of rows.
//!
//! The result is read on a blocking thread straight from its source (pushed bytes, base64 or a
//! streamed `download_url`) by a structural scanner that splits the `data` array into the raw JSON
//! text of each row; rows are handed over in small chunks through a bounded channel, so memory
//! stays constant whatever the size of the result, and a slow consumer slows the download down.
//! Rows are parsed by the consumer: into a [`Row`] map ([`RowStream::next_row`]), or borrowed
//! straight from the raw text ([`RowStream::next_raw_chunk`]) where speed matters.

use std::fmt;
use std::io::Read;

use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::null_as_default;
use tokio::sync::mpsc;

/// One result row: `"view.field" -> {value, rendered?, links?}` or, for pivoted measures,
/// `"view.field" -> {pivot_key: {value, ...}}`.
pub type Row = Map<String, Value>;

/// Rows handed over per channel message.
const CHUNK_ROWS: usize = 256;
/// Most raw row text kept while a result's rows come before its `fields` (plain json_detail may
/// order them so): with the default body limit a pushed result always fits; a streamed one larger
/// than this is refused rather than held whole (Cloud Run would stop the instance).
pub const MAX_BYTES_BEFORE_FIELDS: usize = 128 << 20;

/// Chunks buffered between the parser and the consumer.
const CHANNEL_CHUNKS: usize = 4;
/// A chunk is handed over once it holds this many bytes of rows (or [`CHUNK_ROWS`] rows).
const CHUNK_BYTES: usize = 1 << 20;
/// Largest row of a result, as JSON text. A longer row is skipped as it is read (never held) and
/// counted ([`RowStream::rows_too_large`]; an empty row text for raw readers): a Looker row is a
/// few kilobytes, a RudderStack event at most 32 KB.
pub const MAX_ROW_BYTES: usize = 1 << 20;
/// Largest `fields` / `ran_at` value or key of a result document.
const MAX_HEADER_BYTES: usize = 16 << 20;

/// Where a query result comes from.
pub enum RowSource {
    /// The JSON document itself (a pushed attachment that was not base64).
    Bytes(Bytes),
    /// A base64-encoded JSON document (`;base64` mimetype).
    Base64(Bytes),
    /// A one-time URL to stream the document from.
    Url {
        /// HTTP client to use.
        client: crate::net::Http,
        /// The `download_url`.
        url: String,
        /// Longest the whole download may take.
        deadline: std::time::Duration,
    },
}

impl fmt::Debug for RowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            RowSource::Base64(b) => write!(f, "Base64({} bytes)", b.len()),
            // The download URL is a one-time credential: do not print it.
            RowSource::Url { .. } => write!(f, "Url(..)"),
        }
    }
}

/// Kind of a result field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCategory {
    /// A dimension.
    Dimension,
    /// A measure.
    Measure,
    /// A table calculation.
    TableCalculation,
}

/// Metadata of one field of the result.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldMeta {
    /// `view.field`.
    pub name: String,
    /// Label (as shown in Looker).
    #[serde(default)]
    pub label: Option<String>,
    /// LookML tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Whether the field is hidden in LookML.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hidden: bool,
    /// Dimension / measure / table calculation.
    #[serde(skip, default = "default_category")]
    pub category: FieldCategory,
}

fn default_category() -> FieldCategory {
    FieldCategory::Dimension
}

impl FieldMeta {
    /// Whether the field carries a tag.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

#[derive(Deserialize, Default)]
struct RawFields {
    #[serde(default, deserialize_with = "null_as_default")]
    dimensions: Vec<FieldMeta>,
    #[serde(default, deserialize_with = "null_as_default")]
    measures: Vec<FieldMeta>,
    #[serde(default, deserialize_with = "null_as_default")]
    table_calculations: Vec<FieldMeta>,
    #[serde(default, deserialize_with = "null_as_default")]
    pivots: Vec<FieldMeta>,
}

/// What precedes the rows: when the query ran and its fields.
#[derive(Debug, Clone, Default)]
pub struct ResultHeader {
    /// `ran_at` of the result, as Looker wrote it.
    pub ran_at: Option<String>,
    /// Dimensions, measures and table calculations in result order.
    pub fields: Vec<FieldMeta>,
    /// Pivot fields (their values are the keys of pivoted measures).
    pub pivots: Vec<FieldMeta>,
}

impl ResultHeader {
    /// The first field with a tag.
    pub fn field_with_tag(&self, tag: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.has_tag(tag))
    }
}

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
    /// The document is not a valid json_detail result.
    #[error("the query result is not valid json_detail after {rows} row(s): {detail}")]
    Malformed {
        /// Rows read before the problem.
        rows: u64,
        /// The parser's message (position, expectation).
        detail: String,
    },
}

/// The raw JSON text of a chunk of rows, back to back (one allocation per chunk).
#[derive(Debug, Default, Clone)]
pub struct RawRows {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl RawRows {
    fn with_capacity(rows: usize) -> RawRows {
        RawRows {
            buf: Vec::with_capacity(rows * 256),
            ends: Vec::with_capacity(rows),
        }
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
    fn row_buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn finish_row(&mut self) {
        self.ends.push(self.buf.len());
    }

    /// Rows `from..` as a chunk of their own.
    fn split_from(&self, from: usize) -> RawRows {
        let mut rest = RawRows::with_capacity(self.len().saturating_sub(from));
        for row in (from..self.len()).filter_map(|i| self.get(i)) {
            rest.buf.extend_from_slice(row);
            rest.finish_row();
        }
        rest
    }
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

enum Msg {
    Header(ResultHeader),
    Rows(RawRows),
    Error(RowsError),
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
}

impl RowStream {
    /// Start reading a result; returns once the header (fields) is known.
    pub async fn open(source: RowSource) -> Result<RowStream, RowsError> {
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        match source {
            RowSource::Bytes(b) => spawn_parser(std::io::Cursor::new(b), tx),
            RowSource::Base64(b) => {
                let reader = base64::read::DecoderReader::new(
                    Base64Body(std::io::Cursor::new(b)),
                    &base64::engine::general_purpose::STANDARD,
                );
                spawn_parser(reader, tx)
            }
            RowSource::Url {
                client,
                url,
                deadline,
            } => {
                let url = url::Url::parse(url.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        RowsError::Download("the download_url is not an http(s) URL".into())
                    })?;
                let resp = client
                    .get(url)
                    .map_err(|r| RowsError::Download(r.to_string()))?
                    // The whole download, body included; the read timeout bounds each wait.
                    .timeout(deadline)
                    .send()
                    .await
                    .map_err(|e| RowsError::Download(describe_download(&e, deadline)))?;
                let status = resp.status();
                if status.is_redirection() {
                    return Err(RowsError::Download(crate::net::redirect_message(
                        status.as_u16(),
                    )));
                }
                if !status.is_success() {
                    crate::net::log_reply_body("download_url", resp).await;
                    return Err(RowsError::Download(format!("HTTP {}", status.as_u16())));
                }
                // Keep the URL (a one-time credential) out of the error: reqwest prints it.
                let stream = resp
                    .bytes_stream()
                    .map_err(move |e| std::io::Error::other(describe_download(&e, deadline)));
                let reader = tokio_util::io::StreamReader::new(stream);
                let bridge = tokio_util::io::SyncIoBridge::new(reader);
                spawn_parser(bridge, tx)
            }
        }
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

    /// Rows handed out so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Rows skipped by [`RowStream::next_row`] / [`RowStream::next_chunk`] for being over
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

    /// The next chunk of rows (up to a few hundred); `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<Row>, RowsError>> {
        match self.next_raw_chunk().await? {
            Err(e) => Some(Err(e)),
            Ok(raw) => {
                let mut rows = Vec::with_capacity(raw.len());
                // rows_read already counts the chunk: count back to the failing row.
                let base = self.rows_read - raw.len() as u64;
                for (i, r) in raw.iter().enumerate() {
                    if r.is_empty() {
                        self.too_large += 1;
                        continue;
                    }
                    match serde_json::from_slice::<Row>(r) {
                        Ok(row) => rows.push(row),
                        Err(e) => {
                            self.rows_read = base + i as u64;
                            let err = RowsError::bad_row(self.rows_read, &e, r);
                            if rows.is_empty() {
                                return Some(Err(self.fail(err)));
                            }
                            self.done = true;
                            self.pending_error = Some(err);
                            return Some(Ok(rows));
                        }
                    }
                }
                Some(Ok(rows))
            }
        }
    }

    /// The next chunk of rows as raw JSON text, for consumers that parse rows themselves
    /// (borrowing from the text is much cheaper than building [`Row`] maps). A row the consumer
    /// finds invalid should be reported as [`RowsError::Malformed`] after the rows before it.
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

/// A download error without its URL; a timeout names both settings that can cause it.
fn describe_download(e: &reqwest::Error, deadline: std::time::Duration) -> String {
    if e.is_timeout() {
        format!(
            "timed out (no data for HUB_HTTP_READ_TIMEOUT_SECS, or the whole download took longer \
             than HUB_DOWNLOAD_DEADLINE_SECS = {} s)",
            deadline.as_secs()
        )
    } else {
        crate::net::describe_reqwest(e)
    }
}

/// Skips ASCII whitespace in base64 text (some producers wrap lines).
struct Base64Body<R>(R);

impl<R: Read> Read for Base64Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut w = 0;
            for r in 0..n {
                if !buf[r].is_ascii_whitespace() {
                    buf[w] = buf[r];
                    w += 1;
                }
            }
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

fn spawn_parser<R: Read + Send + 'static>(reader: R, tx: mpsc::Sender<Msg>) {
    tokio::task::spawn_blocking(move || {
        let mut state = ParseState {
            tx,
            header_sent: false,
            ran_at: None,
            fields: None,
            rows: 0,
            pending: RawRows::with_capacity(CHUNK_ROWS),
            buffered: Vec::new(),
            buffered_bytes: 0,
            cancelled: false,
        };
        let mut scan = Scanner::new(reader);
        let result = parse_document(&mut scan, &mut state);
        match result {
            Ok(()) => {
                state.ensure_header();
                state.flush_buffered();
                state.flush();
            }
            Err(_) if state.cancelled => {}
            Err(e) => {
                state.flush();
                let rows = state.rows;
                let err = match e {
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
                };
                let _ = state.tx.blocking_send(Msg::Error(err));
            }
        }
    });
}

/// What stops the scanner.
#[derive(Debug)]
enum ScanError {
    /// The source failed.
    Io(std::io::Error),
    /// The document ended in the middle.
    Eof,
    /// Not JSON of the expected shape (message names the byte offset).
    Syntax(String),
    /// Over [`MAX_BYTES_BEFORE_FIELDS`] of rows before the fields.
    BeforeFields,
}

/// Reads a JSON document in large blocks and splits it structurally: strings, nesting and scalar
/// boundaries are tracked byte by byte in the buffer, without building values. Whatever it
/// captures is parsed properly later (the header here, rows by the consumer), so it only has to
/// find where values start and end.
struct Scanner<R> {
    r: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Document offset of `buf[0]`, for messages.
    offset: u64,
}

const SCAN_BUF: usize = 64 * 1024;

impl<R: Read> Scanner<R> {
    fn new(r: R) -> Self {
        Scanner {
            r,
            buf: vec![0; SCAN_BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            offset: 0,
        }
    }

    /// Make sure at least one unread byte is buffered; `false` at the end of the source.
    fn fill(&mut self) -> Result<bool, ScanError> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.offset += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
    }

    fn at(&self) -> u64 {
        self.offset + self.pos as u64
    }

    fn syntax(&self, what: &str) -> ScanError {
        ScanError::Syntax(format!("expected {what} at byte {}", self.at()))
    }

    /// Capture one value into `out` unless it is longer than `limit` bytes: then it is skipped
    /// (nothing of it stays in `out`) and `Ok(false)` says so.
    fn capture_at_most(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<bool, ScanError> {
        let start = out.len();
        self.capture_inner(Some(out), start, limit)
    }

    /// Capture one value (after optional whitespace) into `out` (or skip it).
    fn capture(&mut self, out: Option<&mut Vec<u8>>) -> Result<(), ScanError> {
        let start = out.as_ref().map_or(0, |o| o.len());
        self.capture_inner(out, start, usize::MAX).map(|_| ())
    }

    /// The next byte that is not whitespace (not consumed); `None` at the end.
    fn peek_token(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            let b = self.buf[self.pos];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(Some(b));
            }
        }
    }

    /// Consume the next token byte, which must be `want`.
    fn expect(&mut self, want: u8, what: &str) -> Result<(), ScanError> {
        match self.peek_token()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.syntax(what)),
            None => Err(ScanError::Eof),
        }
    }

    fn capture_inner(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        start: usize,
        limit: usize,
    ) -> Result<bool, ScanError> {
        let mut kept = true;
        // Past the limit: drop what was captured and skip the rest.
        let over = |out: &mut Option<&mut Vec<u8>>, kept: &mut bool| {
            if let Some(o) = out.as_deref_mut() {
                if o.len() - start > limit {
                    o.truncate(start);
                    *out = None;
                    *kept = false;
                }
            }
        };
        let first = self.peek_token()?.ok_or(ScanError::Eof)?;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        match first {
            b'{' | b'[' | b'"' => {}
            b',' | b':' | b'}' | b']' => return Err(self.syntax("a value")),
            _ => {
                // A scalar: up to the next delimiter.
                loop {
                    if !self.fill()? {
                        return Ok(kept);
                    }
                    let chunk = &self.buf[self.pos..self.len];
                    let n = chunk
                        .iter()
                        .position(|b| {
                            matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                        })
                        .unwrap_or(chunk.len());
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(&chunk[..n]);
                    }
                    over(&mut out, &mut kept);
                    self.pos += n;
                    if self.pos < self.len {
                        return Ok(kept);
                    }
                }
            }
        }
        loop {
            if !self.fill()? {
                return Err(ScanError::Eof);
            }
            let chunk = &self.buf[self.pos..self.len];
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            let n = end.unwrap_or(chunk.len());
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[..n]);
            }
            over(&mut out, &mut kept);
            self.pos += n;
            if end.is_some() {
                return Ok(kept);
            }
        }
    }
}

/// The top level of a json_detail document: `ran_at` and `fields` are parsed, `data` rows are
/// captured one by one, anything else is skipped.
fn parse_document<R: Read>(scan: &mut Scanner<R>, state: &mut ParseState) -> Result<(), ScanError> {
    scan.expect(b'{', "a json_detail result object")?;
    let mut value = Vec::new();
    if scan.peek_token()? == Some(b'}') {
        scan.pos += 1;
        return end_of_document(scan);
    }
    loop {
        value.clear();
        match scan.peek_token()? {
            Some(b'"') => {}
            Some(_) => return Err(scan.syntax("a key")),
            None => return Err(ScanError::Eof),
        }
        if !scan.capture_at_most(&mut value, MAX_HEADER_BYTES)? {
            return Err(ScanError::Syntax(format!(
                "a key longer than {} MB",
                MAX_HEADER_BYTES >> 20
            )));
        }
        let key: String = serde_json::from_slice(&value)
            .map_err(|e| ScanError::Syntax(format!("a key: {}", json_error(&e, &value))))?;
        scan.expect(b':', "`:`")?;
        match key.as_str() {
            "data" => parse_rows(scan, state)?,
            "fields" | "ran_at" => {
                value.clear();
                if !scan.capture_at_most(&mut value, MAX_HEADER_BYTES)? {
                    return Err(ScanError::Syntax(format!(
                        "{key} longer than {} MB",
                        MAX_HEADER_BYTES >> 20
                    )));
                }
                let bad = |e: serde_json::Error| {
                    ScanError::Syntax(format!("{key}: {}", json_error(&e, &value)))
                };
                if key == "fields" {
                    // `"fields": null` is a result without fields (the rows then carry no tags).
                    let fields: Option<RawFields> = serde_json::from_slice(&value).map_err(bad)?;
                    state.fields = Some(fields.unwrap_or_default());
                } else {
                    state.ran_at = serde_json::from_slice(&value).map_err(bad)?;
                }
            }
            _ => scan.capture(None)?,
        }
        if state.cancelled {
            return Err(ScanError::Syntax("reader gone".into()));
        }
        match scan.peek_token()? {
            Some(b',') => scan.pos += 1,
            Some(b'}') => {
                scan.pos += 1;
                return end_of_document(scan);
            }
            Some(_) => return Err(scan.syntax("`,` or `}`")),
            None => return Err(ScanError::Eof),
        }
    }
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
        Some(b'[') => scan.pos += 1,
        // `"data": null`: no rows. (Only `null`: fuzzing found any word starting with `n` taken
        // for it.)
        Some(b'n') => {
            let mut word = Vec::with_capacity(4);
            let short = scan.capture_at_most(&mut word, 4)?;
            return if short && word == b"null" {
                Ok(())
            } else {
                Err(scan.syntax("an array of rows or null"))
            };
        }
        Some(_) => return Err(scan.syntax("an array of rows")),
        None => return Err(ScanError::Eof),
    }
    if scan.peek_token()? == Some(b']') {
        scan.pos += 1;
        return Ok(());
    }
    loop {
        match scan.peek_token()? {
            Some(b'{') => {}
            Some(_) => return Err(scan.syntax("a row object")),
            None => return Err(ScanError::Eof),
        }
        // An oversized row stays in the chunk as an empty text: counted, never held.
        scan.capture_at_most(state.pending.row_buf(), MAX_ROW_BYTES)?;
        state.push_row()?;
        match scan.peek_token()? {
            Some(b',') => scan.pos += 1,
            Some(b']') => {
                scan.pos += 1;
                return Ok(());
            }
            Some(_) => return Err(scan.syntax("`,` or `]`")),
            None => return Err(ScanError::Eof),
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
    /// Chunks seen before `fields` (plain json_detail may put data first): kept until the header.
    buffered: Vec<RawRows>,
    /// Raw bytes in `buffered`.
    buffered_bytes: usize,
    cancelled: bool,
}

impl ParseState {
    fn ensure_header(&mut self) {
        if self.header_sent {
            return;
        }
        let raw = self.fields.take().unwrap_or_default();
        let mut fields = Vec::with_capacity(
            raw.dimensions.len() + raw.measures.len() + raw.table_calculations.len(),
        );
        for (list, cat) in [
            (raw.dimensions, FieldCategory::Dimension),
            (raw.measures, FieldCategory::Measure),
            (raw.table_calculations, FieldCategory::TableCalculation),
        ] {
            fields.extend(list.into_iter().map(|mut f| {
                f.category = cat;
                f
            }));
        }
        let header = ResultHeader {
            ran_at: self.ran_at.clone(),
            fields,
            pivots: raw.pivots,
        };
        self.header_sent = true;
        if self.tx.blocking_send(Msg::Header(header)).is_err() {
            self.cancelled = true;
        }
    }

    /// The row just captured into `pending` is complete.
    fn push_row(&mut self) -> Result<(), ScanError> {
        self.rows += 1;
        self.pending.finish_row();
        if self.pending.len() >= CHUNK_ROWS || self.pending.buf.len() >= CHUNK_BYTES {
            if self.header_sent {
                self.flush();
            } else {
                let chunk =
                    std::mem::replace(&mut self.pending, RawRows::with_capacity(CHUNK_ROWS));
                self.buffered_bytes += chunk.buf.len();
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
        let mut chunk = std::mem::replace(&mut self.pending, RawRows::with_capacity(CHUNK_ROWS));
        // Drop the bytes of a row cut off half-way.
        chunk.buf.truncate(chunk.ends.last().copied().unwrap_or(0));
        if !self.header_sent {
            self.buffered.push(chunk);
            return;
        }
        self.flush_buffered();
        self.send(chunk);
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
    Value(&'a RawValue),
    /// A pivoted measure: `{pivot_key: {"value": v, ...}, ...}`, each entry's raw cell.
    Pivot(Vec<(Key<'a>, &'a RawValue)>),
    /// Not the json_detail shape (a bare value): its raw text.
    Other(&'a RawValue),
}

impl<'a> RawCell<'a> {
    /// Read a cell's raw text (objects are parsed; their `value` taken when present).
    pub fn parse(raw: &'a RawValue) -> RawCell<'a> {
        if !raw.get().starts_with('{') {
            return RawCell::Other(raw);
        }
        match serde_json::from_str::<Entries<'a>>(raw.get()) {
            Ok(Entries(entries)) => match entries.iter().find(|(k, _)| k.0 == "value") {
                Some((_, v)) => RawCell::Value(v),
                None => RawCell::Pivot(entries),
            },
            // Cannot happen for text that parsed as a value; pass it through.
            Err(_) => RawCell::Other(raw),
        }
    }

    /// The plain value (`Value` or `Other`); `None` for a pivoted cell.
    pub fn value(&self) -> Option<&'a RawValue> {
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

/// Where a request's result is: the pushed attachment or the scheduled plan's `download_url`.
pub fn source_of(
    req: &mut crate::api::ActionRequest,
    client: &crate::net::Http,
    deadline: std::time::Duration,
) -> Option<RowSource> {
    // The pushed payload is taken out of the request, not copied: it may be tens of megabytes.
    if let Some(att) = req.attachment.as_mut() {
        if let Some(data) = att.data.take() {
            let base64 = att
                .mimetype
                .as_deref()
                .is_some_and(|m| m.trim().ends_with(";base64"));
            let text = String::from(Box::<str>::from(data));
            if !text.starts_with('"') {
                // An inline JSON document: its text as it came.
                return Some(RowSource::Bytes(Bytes::from(text.into_bytes())));
            }
            // A JSON string (valid: the request parsed) holding the document or its base64.
            let inner: String = serde_json::from_str(&text).unwrap_or_default();
            drop(text);
            let bytes = Bytes::from(inner.into_bytes());
            return Some(if base64 {
                RowSource::Base64(bytes)
            } else {
                RowSource::Bytes(bytes)
            });
        }
    }
    let url = req.scheduled_plan.as_ref()?.download_url.as_ref()?;
    Some(RowSource::Url {
        client: client.clone(),
        url: url.clone(),
        deadline,
    })
}

/// The plain value of a cell (`{value: x}` → `x`); `None` for pivoted cells.
pub fn cell_value(cell: &Value) -> Option<&Value> {
    cell.as_object()?.get("value")
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
        let big = "x".repeat(3 * SCAN_BUF);
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
            3 * SCAN_BUF
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
            assert!(chunk.len() <= CHUNK_ROWS);
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
