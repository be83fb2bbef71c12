//! What the fuzz targets share: one runtime, hubs built from real settings, and drains of the
//! streaming row reader.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use hub_core::rows::{RawRow, ResultHeader, Row, RowSource, RowStream, RowsError};
use hub_core::settings::Settings;
use hub_core::sinks::{Row as SinkRow, Sink, SinkError, TableDef, WriteCredential};
use hub_core::startup::Hub;

/// One runtime for every iteration (the row reader parses on its blocking pool).
pub static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

/// The state key the fuzzed hubs use.
pub const STATE_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A sink that accepts every write and keeps nothing (fuzzing must not fill a disk).
pub struct NullSink;

#[async_trait]
impl Sink for NullSink {
    fn name(&self) -> &'static str {
        "null"
    }
    async fn append(
        &self,
        _table: &TableDef,
        rows: &[SinkRow],
        _cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        Ok(rows.len() as u64)
    }
}

/// A hub from real settings (`user`: OAuth user identity mode against an unreachable provider),
/// writing to a [`NullSink`]. Nothing it does reaches the network with fuzzed input: the provider
/// and Looker hosts are a closed loopback port.
pub fn hub(user: bool) -> Hub {
    let store = std::env::temp_dir().join(format!("hub-fuzz-{}.sqlite", std::process::id()));
    let mut vars: HashMap<String, String> = [
        ("PORT", "9"),
        ("HUB_BIND", "127.0.0.1"),
        ("HUB_PUBLIC_URL", "http://127.0.0.1:9"),
        ("HUB_TOKENS", "fuzz-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("HUB_STORE_PATH".into(), store.display().to_string());
    if user {
        for (k, v) in [
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", "fuzz-client"),
            ("OAUTH_CLIENT_SECRET", "fuzz-client-secret"),
            ("OAUTH_AUTH_URL", "http://127.0.0.1:9/authorize"),
            ("OAUTH_TOKEN_URL", "http://127.0.0.1:9/token"),
            ("OAUTH_ISSUER", "http://127.0.0.1:9"),
            ("OAUTH_STATE_KEYS", STATE_KEY),
            ("HUB_LOOKER_HOSTS", "127.0.0.1:9"),
            ("OAUTH_TIMEOUT_MS", "50"),
        ] {
            vars.insert(k.into(), v.into());
        }
    }
    let settings = Settings::load(&vars, false).expect("fuzz settings");
    let mut hub = RT.block_on(Hub::new(settings)).expect("hub");
    hub.sink = Arc::new(NullSink);
    hub
}

/// Everything a reader produced: the header (if it opened), the rows, and the error (if any).
#[derive(Debug)]
pub struct Drained {
    /// `None` when the reader failed before the header.
    pub header: Option<ResultHeader>,
    /// Rows in order.
    pub rows: Vec<Row>,
    /// How it ended badly, if it did.
    pub error: Option<RowsError>,
}

/// Open a result; a failure is the whole (empty) reading.
async fn open(source: RowSource) -> Result<RowStream, Drained> {
    RowStream::open(source).await.map_err(|e| Drained {
        header: None,
        rows: vec![],
        error: Some(e),
    })
}

/// Read a whole result through [`RowStream`].
pub fn drain(source: RowSource) -> Drained {
    RT.block_on(async {
        let mut stream = match open(source).await {
            Ok(s) => s,
            Err(failed) => return failed,
        };
        let mut rows = vec![];
        let mut error = None;
        while let Some(r) = stream.next_row().await {
            match r {
                Ok(row) => rows.push(row),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        assert_eq!(
            stream.rows_read(),
            rows.len() as u64,
            "rows_read counts the rows handed out"
        );
        Drained {
            header: Some(stream.header().clone()),
            rows,
            error,
        }
    })
}

/// Read a whole result as the RudderStack pipeline does: raw row texts chunk by chunk, each
/// parsed with [`RawRow::parse`]; a row it refuses ends the reading (as the pipeline reports it).
/// The rows are returned as [`Row`]s for comparison.
pub fn drain_raw(source: RowSource) -> Drained {
    RT.block_on(async {
        let mut stream = match open(source).await {
            Ok(s) => s,
            Err(failed) => return failed,
        };
        let mut rows = vec![];
        let mut error = None;
        'read: while let Some(chunk) = stream.next_raw_chunk().await {
            match chunk {
                Ok(chunk) => {
                    for text in chunk.iter() {
                        match RawRow::parse(text) {
                            Ok(_) => rows.push(
                                serde_json::from_slice::<Row>(text)
                                    .expect("a row RawRow accepts is a JSON object"),
                            ),
                            Err(e) => {
                                error = Some(RowsError::bad_row(rows.len() as u64, &e, text));
                                break 'read;
                            }
                        }
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        Drained {
            header: Some(stream.header().clone()),
            rows,
            error,
        }
    })
}

/// The header's fields as comparable text (name, category, tags, hidden).
pub fn header_summary(h: &ResultHeader) -> Vec<String> {
    h.fields
        .iter()
        .map(|f| format!("{:?} {} {:?} {}", f.category, f.name, f.tags, f.hidden))
        .chain(h.pivots.iter().map(|f| format!("pivot {}", f.name)))
        .collect()
}

/// A json_detail document read whole by serde (the oracle the streaming reader must agree with).
pub struct Reference {
    /// `ran_at`.
    pub ran_at: Option<String>,
    /// Same shape as [`header_summary`].
    pub header: Vec<String>,
    /// Every row.
    pub rows: Vec<Row>,
    /// The header is over a bound of the reader (field count, what is kept per field and per
    /// header, `ran_at`): the reader must refuse it with `RowsError::OverLimit`.
    pub over_bounds: bool,
    /// `ran_at` is long enough that its JSON text (escapes included) may pass the bound: no
    /// verdict on an `OverLimit` refusal.
    pub ran_at_near_bound: bool,
}

/// Whether fields read whole by serde are over the reader's bounds (the `MAX_FIELD_TEXT` of one
/// field's JSON is out of reach of fuzzed inputs).
pub fn fields_over_bounds<'a>(fields: impl Iterator<Item = &'a hub_core::rows::FieldMeta>) -> bool {
    use hub_core::rows::{kept_bytes, MAX_FIELDS, MAX_FIELDS_KEPT, MAX_FIELD_KEPT};
    let (mut count, mut kept) = (0, 0);
    for f in fields {
        count += 1;
        kept += kept_bytes(f);
        if count > MAX_FIELDS || kept_bytes(f) > MAX_FIELD_KEPT || kept > MAX_FIELDS_KEPT {
            return true;
        }
    }
    false
}

/// Why the whole-document reading failed.
pub enum RefError {
    /// A top-level key appears twice: the streaming reader handles each occurrence as it comes,
    /// serde refuses; no verdict.
    Duplicate,
    /// Not a json_detail document: the streaming reader must fail too.
    Invalid,
}

/// Present when given; `null` is refused (the streaming reader wants an object for `fields`).
struct Present<T>(Option<T>);

impl<T> Default for Present<T> {
    fn default() -> Self {
        Present(None)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Present<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|v| Present(Some(v)))
    }
}

/// A list written as `null` is empty (as the reader takes it).
fn null_empty<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(<Option<Vec<T>> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

#[derive(serde::Deserialize, Default)]
struct RefFields {
    #[serde(default, deserialize_with = "null_empty")]
    dimensions: Vec<hub_core::rows::FieldMeta>,
    #[serde(default, deserialize_with = "null_empty")]
    measures: Vec<hub_core::rows::FieldMeta>,
    #[serde(default, deserialize_with = "null_empty")]
    table_calculations: Vec<hub_core::rows::FieldMeta>,
    #[serde(default, deserialize_with = "null_empty")]
    pivots: Vec<hub_core::rows::FieldMeta>,
}

#[derive(serde::Deserialize)]
struct RefDoc {
    #[serde(default)]
    ran_at: Option<String>,
    #[serde(default)]
    fields: Present<Option<RefFields>>,
    #[serde(default)]
    data: Option<Vec<Row>>,
}

/// Read a document whole with serde.
pub fn reference(doc: &[u8]) -> Result<Reference, RefError> {
    // serde also reads a struct from an array (`[]` is a document with every field defaulted); a
    // json_detail result is an object.
    if doc.trim_ascii_start().first() != Some(&b'{') {
        return Err(RefError::Invalid);
    }
    let parsed: RefDoc = serde_json::from_slice(doc).map_err(|e| {
        if e.to_string().starts_with("duplicate field") {
            RefError::Duplicate
        } else {
            RefError::Invalid
        }
    })?;
    let f = parsed.fields.0.flatten().unwrap_or_default();
    use hub_core::rows::FieldCategory::*;
    let header = f
        .dimensions
        .iter()
        .map(|x| (Dimension, x))
        .chain(f.measures.iter().map(|x| (Measure, x)))
        .chain(f.table_calculations.iter().map(|x| (TableCalculation, x)))
        .map(|(c, x)| format!("{:?} {} {:?} {}", c, x.name, x.tags, x.hidden))
        .chain(f.pivots.iter().map(|x| format!("pivot {}", x.name)))
        .collect();
    let all = f
        .dimensions
        .iter()
        .chain(&f.measures)
        .chain(&f.table_calculations)
        .chain(&f.pivots);
    // `ran_at` is at most 1 KiB of JSON text: a longer value is over it; one whose escapes (up to
    // 6 bytes of text per byte) may pass it gets no verdict.
    let ran_at_len = parsed.ran_at.as_ref().map_or(0, String::len);
    let over_bounds = fields_over_bounds(all) || ran_at_len > 1 << 10;
    let ran_at_near_bound = ran_at_len * 6 > 1 << 10;
    Ok(Reference {
        over_bounds,
        ran_at_near_bound,
        ran_at: parsed.ran_at,
        header,
        rows: parsed.data.unwrap_or_default(),
    })
}

/// The raw text of the keys at the top level of a JSON-like document (strings at depth 1 that are
/// followed by `:`), tolerant of any invalid content.
pub fn top_level_keys(doc: &[u8]) -> Vec<String> {
    let mut keys = vec![];
    let (mut depth, mut i) = (0usize, 0usize);
    while i < doc.len() {
        match doc[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < doc.len() && doc[i] != b'"' {
                    i += if doc[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(doc.len());
                let mut j = end;
                while j < doc.len() && doc[j].is_ascii_whitespace() {
                    j += 1;
                }
                if depth == 1 && doc.get(j) == Some(&b':') {
                    keys.push(String::from_utf8_lossy(&doc[start..end]).into_owned());
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    keys
}

/// Check the streaming reader against the whole-document reading of the same bytes.
pub fn check_against_reference(doc: &[u8], got: &Drained) {
    match reference(doc) {
        Ok(r) => {
            if let Some(RowsError::OverLimit(why)) = &got.error {
                assert!(
                    r.over_bounds || r.ran_at_near_bound,
                    "refused as over a bound, which it is not: {why}"
                );
                return;
            }
            assert!(!r.over_bounds, "a header over the bounds was accepted");
            assert!(
                got.error.is_none(),
                "valid document refused: {:?}",
                got.error
            );
            let h = got.header.as_ref().expect("header of a valid document");
            assert_eq!(h.ran_at, r.ran_at);
            assert_eq!(header_summary(h), r.header);
            assert_eq!(got.rows.len(), r.rows.len(), "row count");
            assert!(got.rows == r.rows, "rows differ");
        }
        Err(RefError::Invalid) => {
            // The reader skips the values of top-level keys it does not read by matching brackets
            // and strings only, without validating them (a documented leniency: rows, fields and
            // ran_at are always parsed strictly). Anything else invalid must be refused.
            if got.error.is_none() {
                assert!(
                    top_level_keys(doc)
                        .iter()
                        .any(|k| !["\"ran_at\"", "\"fields\"", "\"data\""].contains(&k.as_str())),
                    "invalid document accepted"
                );
            }
        }
        Err(RefError::Duplicate) => {}
    }
}
