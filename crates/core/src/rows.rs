//! Looker query results (`json_detail` / `json_detail_lite_stream`) as a stream of rows.
//!
//! The result is parsed on a blocking thread straight from its source (pushed bytes, base64 or a
//! streamed `download_url`) and handed over in small chunks through a bounded channel, so memory
//! stays constant whatever the size of the result, and a slow consumer slows the download down.

use std::fmt;
use std::io::Read;

use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// One result row: `"view.field" -> {value, rendered?, links?}` or, for pivoted measures,
/// `"view.field" -> {pivot_key: {value, ...}}`.
pub type Row = Map<String, Value>;

/// Rows handed over per channel message.
const CHUNK_ROWS: usize = 256;
/// Chunks buffered between the parser and the consumer.
const CHANNEL_CHUNKS: usize = 4;

/// Where a query result comes from.
pub enum RowSource {
    /// The JSON document itself (a pushed attachment that was not base64).
    Bytes(Bytes),
    /// A base64-encoded JSON document (`;base64` mimetype).
    Base64(Bytes),
    /// A one-time URL to stream the document from.
    Url {
        /// HTTP client to use.
        client: reqwest::Client,
        /// The `download_url`.
        url: String,
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
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the field is hidden in LookML.
    #[serde(default)]
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
    #[serde(default)]
    dimensions: Vec<FieldMeta>,
    #[serde(default)]
    measures: Vec<FieldMeta>,
    #[serde(default)]
    table_calculations: Vec<FieldMeta>,
    #[serde(default)]
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
    /// The document is not a valid json_detail result.
    #[error("the query result is not valid json_detail after {rows} row(s): {detail}")]
    Malformed {
        /// Rows read before the problem.
        rows: u64,
        /// The parser's message (position, expectation).
        detail: String,
    },
}

enum Msg {
    Header(ResultHeader),
    Rows(Vec<Row>),
    Error(RowsError),
}

/// A query result being read: its header, then its rows one at a time.
pub struct RowStream {
    header: ResultHeader,
    rx: mpsc::Receiver<Msg>,
    chunk: std::vec::IntoIter<Row>,
    done: bool,
    rows_read: u64,
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
            RowSource::Url { client, url } => {
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| RowsError::Download(describe_reqwest(&e)))?;
                if !resp.status().is_success() {
                    return Err(RowsError::Download(format!(
                        "HTTP {}",
                        resp.status().as_u16()
                    )));
                }
                // Keep the URL (a one-time credential) out of the error: reqwest prints it.
                let stream = resp
                    .bytes_stream()
                    .map_err(|e| std::io::Error::other(describe_reqwest(&e)));
                let reader = tokio_util::io::StreamReader::new(stream);
                let bridge = tokio_util::io::SyncIoBridge::new(reader);
                spawn_parser(bridge, tx)
            }
        }
        match rx.recv().await {
            Some(Msg::Header(header)) => Ok(RowStream {
                header,
                rx,
                chunk: Vec::new().into_iter(),
                done: false,
                rows_read: 0,
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

    /// The next row; `None` at the end. An error ends the stream.
    pub async fn next_row(&mut self) -> Option<Result<Row, RowsError>> {
        loop {
            if let Some(row) = self.chunk.next() {
                self.rows_read += 1;
                return Some(Ok(row));
            }
            if self.done {
                return None;
            }
            match self.rx.recv().await {
                Some(Msg::Rows(rows)) => self.chunk = rows.into_iter(),
                Some(Msg::Error(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Msg::Header(_)) | None => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// The next chunk of rows (up to a few hundred); `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<Row>, RowsError>> {
        let rest: Vec<Row> = self.chunk.by_ref().collect();
        if !rest.is_empty() {
            self.rows_read += rest.len() as u64;
            return Some(Ok(rest));
        }
        if self.done {
            return None;
        }
        match self.rx.recv().await {
            Some(Msg::Rows(rows)) => {
                self.rows_read += rows.len() as u64;
                Some(Ok(rows))
            }
            Some(Msg::Error(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Some(Msg::Header(_)) | None => {
                self.done = true;
                None
            }
        }
    }
}

/// A reqwest error without its URL: a `download_url` is a one-time credential.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if let Some(status) = e.status() {
        format!("HTTP {}", status.as_u16())
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read".into()
    } else {
        "request failed".into()
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
        let reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        let mut de = serde_json::Deserializer::from_reader(reader);
        let mut state = ParseState {
            tx: tx.clone(),
            header_sent: false,
            ran_at: None,
            fields: None,
            rows: 0,
            pending: Vec::new(),
            buffered: Vec::new(),
            cancelled: false,
        };
        let result = (&mut de)
            .deserialize_map(DocVisitor { state: &mut state })
            .and_then(|_| de.end());
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
                let err = if e.is_io() {
                    RowsError::Cut {
                        rows,
                        detail: e.to_string(),
                    }
                } else if e.is_eof() {
                    RowsError::Cut {
                        rows,
                        detail: "the document ended early".into(),
                    }
                } else {
                    RowsError::Malformed {
                        rows,
                        detail: e.to_string(),
                    }
                };
                let _ = tx.blocking_send(Msg::Error(err));
            }
        }
    });
}

struct ParseState {
    tx: mpsc::Sender<Msg>,
    header_sent: bool,
    ran_at: Option<String>,
    fields: Option<RawFields>,
    rows: u64,
    pending: Vec<Row>,
    /// Rows seen before `fields` (plain json_detail may put data first): kept until the header.
    buffered: Vec<Row>,
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

    fn push_row(&mut self, row: Row) -> bool {
        self.rows += 1;
        if !self.header_sent {
            self.buffered.push(row);
            return true;
        }
        self.pending.push(row);
        if self.pending.len() >= CHUNK_ROWS {
            self.flush();
        }
        !self.cancelled
    }

    fn flush_buffered(&mut self) {
        for row in std::mem::take(&mut self.buffered) {
            self.pending.push(row);
            if self.pending.len() >= CHUNK_ROWS {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() || self.cancelled {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK_ROWS));
        if self.tx.blocking_send(Msg::Rows(chunk)).is_err() {
            self.cancelled = true;
        }
    }
}

struct DocVisitor<'s> {
    state: &'s mut ParseState,
}

impl<'de> Visitor<'de> for DocVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a json_detail result object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "ran_at" => self.state.ran_at = map.next_value::<Option<String>>()?,
                "fields" => self.state.fields = Some(map.next_value::<RawFields>()?),
                "data" => {
                    if self.state.fields.is_some() {
                        self.state.ensure_header();
                    }
                    map.next_value_seed(DataSeed { state: self.state })?;
                    if self.state.cancelled {
                        return Err(serde::de::Error::custom("reader gone"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct DataSeed<'s> {
    state: &'s mut ParseState,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<Row>()? {
            if !self.state.push_row(row) {
                return Err(serde::de::Error::custom("reader gone"));
            }
        }
        Ok(())
    }
}

/// Where a request's result is: the pushed attachment or the scheduled plan's `download_url`.
pub fn source_of(req: &crate::api::ActionRequest, client: &reqwest::Client) -> Option<RowSource> {
    if let Some(att) = &req.attachment {
        if let Some(data) = &att.data {
            let base64 = att
                .mimetype
                .as_deref()
                .is_some_and(|m| m.trim().ends_with(";base64"));
            return Some(match data {
                Value::String(s) if base64 => {
                    RowSource::Base64(Bytes::from(s.clone().into_bytes()))
                }
                Value::String(s) => RowSource::Bytes(Bytes::from(s.clone().into_bytes())),
                other => {
                    RowSource::Bytes(Bytes::from(serde_json::to_vec(other).unwrap_or_default()))
                }
            });
        }
    }
    let url = req.scheduled_plan.as_ref()?.download_url.as_ref()?;
    Some(RowSource::Url {
        client: client.clone(),
        url: url.clone(),
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
}
