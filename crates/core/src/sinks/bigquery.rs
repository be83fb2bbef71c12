//! The production write-back target: BigQuery, through Google's official client.
//!
//! Rows are appended to the tables' default streams with the Storage Write API as Arrow record
//! batches (`google_cloud_bigquery::client::Write`). The hub's own identity (Application Default
//! Credentials) shares one client and one writer per table; a user's OAuth token gets a client of
//! its own for that one execute, since a Write client's credentials are fixed. Table checks and
//! creation use the BigQuery REST API (`google_cloud_bigquery_v2`).
//!
//! The default stream is at-least-once: a retried append can store a row twice. Both tables carry
//! `request_id` (and `row_index`) so readers can de-duplicate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_ipc::writer::{write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use async_trait::async_trait;
use google_cloud_auth::credentials::Credentials;
use google_cloud_bigquery::client::Write;
use google_cloud_bigquery::error::{AppendError, WriterBuilderError};
use google_cloud_bigquery::model::{ArrowRecordBatch, ArrowSchema};
use google_cloud_bigquery::write::format::Arrow;
use google_cloud_bigquery::write::retry_policy::RetryableErrors;
use google_cloud_bigquery::write::{AppendFuture, DefaultWriter};
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::retry_policy::RetryPolicyExt;
use secrecy::SecretString;
use tokio::sync::OnceCell;

use super::table::{CellValue, ColumnType, Mode, Row, TableDef};
use super::{BatchWriter, Sink, SinkError, WriteCredential};
use crate::settings::{SettingsError, Vars};

/// Default REST endpoint (tables, datasets).
pub const DEFAULT_ENDPOINT: &str = "https://bigquery.googleapis.com";
/// Default Storage Write API endpoint (gRPC).
pub const DEFAULT_STORAGE_ENDPOINT: &str = "https://bigquerystorage.googleapis.com";
/// BigQuery refuses AppendRows requests over 10 MB; batches are split below this.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Appends of one whole-query write in flight at once (bounds memory, keeps the pipe full).
const MAX_IN_FLIGHT: usize = 4;

/// BigQuery write-back settings (present when `HUB_GCP_PROJECT` and `HUB_BIGQUERY_DATASET` are).
#[derive(Debug, Clone)]
pub struct BigQuerySettings {
    /// Project holding the dataset (`HUB_GCP_PROJECT`).
    pub project: String,
    /// Dataset of the write-back tables (`HUB_BIGQUERY_DATASET`).
    pub dataset: String,
    /// Cell write-back table (`HUB_BIGQUERY_MARKS_TABLE`).
    pub marks_table: String,
    /// Whole-query write-back table (`HUB_BIGQUERY_BATCH_TABLE`).
    pub batch_table: String,
    /// REST endpoint (`HUB_BIGQUERY_ENDPOINT`).
    pub endpoint: String,
    /// Storage Write API endpoint (`HUB_BIGQUERY_STORAGE_ENDPOINT`).
    pub storage_endpoint: String,
    /// Longest time one write may take, retries included (`HUB_BIGQUERY_TIMEOUT_SECS`).
    pub timeout: Duration,
    /// Create the dataset and tables on start when missing (`HUB_BIGQUERY_CREATE_TABLES`).
    pub create_tables: bool,
    /// Location for a dataset created on start (`HUB_BIGQUERY_LOCATION`).
    pub location: Option<String>,
}

fn name_ok(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
}

impl BigQuerySettings {
    /// Load from the environment; `None` when BigQuery is not configured.
    pub fn load(v: &Vars) -> Result<Option<BigQuerySettings>, SettingsError> {
        let project = v.get("HUB_GCP_PROJECT");
        let dataset = v.get("HUB_BIGQUERY_DATASET");
        let (project, dataset) = match (project, dataset) {
            (None, None) => return Ok(None),
            (Some(p), Some(d)) => (p, d),
            (Some(_), None) => {
                return Err(SettingsError::Missing(
                    "HUB_BIGQUERY_DATASET",
                    "HUB_GCP_PROJECT is set: name the dataset of the write-back tables too (or unset both for the embedded store)",
                ))
            }
            (None, Some(_)) => {
                return Err(SettingsError::Missing(
                    "HUB_GCP_PROJECT",
                    "HUB_BIGQUERY_DATASET is set: name the project that holds it too",
                ))
            }
        };
        let invalid = |name: &'static str, reason: &str| SettingsError::Invalid {
            name,
            reason: reason.into(),
        };
        if !name_ok(&project, &['-', '.', ':']) {
            return Err(invalid("HUB_GCP_PROJECT", "not a valid project id"));
        }
        if !name_ok(&dataset, &[]) {
            return Err(invalid(
                "HUB_BIGQUERY_DATASET",
                "letters, digits and underscores only",
            ));
        }
        let table = |name: &'static str, default: &str| -> Result<String, SettingsError> {
            let t = v.get(name).unwrap_or_else(|| default.into());
            if name_ok(&t, &[]) {
                Ok(t)
            } else {
                Err(invalid(name, "letters, digits and underscores only"))
            }
        };
        let endpoint = |name: &'static str, default: &str| {
            v.get(name)
                .unwrap_or_else(|| default.into())
                .trim_end_matches('/')
                .to_string()
        };
        Ok(Some(BigQuerySettings {
            project,
            dataset,
            marks_table: table("HUB_BIGQUERY_MARKS_TABLE", &super::table::MARKS.name)?,
            batch_table: table("HUB_BIGQUERY_BATCH_TABLE", &super::table::BATCH.name)?,
            endpoint: endpoint("HUB_BIGQUERY_ENDPOINT", DEFAULT_ENDPOINT),
            storage_endpoint: endpoint("HUB_BIGQUERY_STORAGE_ENDPOINT", DEFAULT_STORAGE_ENDPOINT),
            timeout: Duration::from_secs(v.num("HUB_BIGQUERY_TIMEOUT_SECS", 30)?.max(1)),
            create_tables: v.bool("HUB_BIGQUERY_CREATE_TABLES", false)?,
            location: v.get("HUB_BIGQUERY_LOCATION"),
        }))
    }

    fn table_path(&self, table: &str) -> String {
        format!(
            "projects/{}/datasets/{}/tables/{}",
            self.project, self.dataset, table
        )
    }
}

/// BigQuery's NUMERIC in Arrow: 128-bit decimal, precision 38, scale 9.
const NUMERIC_SCALE: u32 = 9;

/// The Arrow schema of a table, as the Write API expects it for each BigQuery type.
pub fn arrow_schema(table: &TableDef) -> Arc<Schema> {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| {
                let dt = match c.ty {
                    ColumnType::Int64 => DataType::Int64,
                    ColumnType::Float64 => DataType::Float64,
                    ColumnType::Bool => DataType::Boolean,
                    ColumnType::Date => DataType::Date32,
                    ColumnType::Numeric => DataType::Decimal128(38, NUMERIC_SCALE as i8),
                    ColumnType::Timestamp => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                    }
                    // STRING, and JSON (the Write API takes JSON columns as JSON text).
                    ColumnType::String | ColumnType::Json => DataType::Utf8,
                };
                Field::new(&c.name, dt, c.mode == Mode::Nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The schema message the Write API wants: one encapsulated Arrow IPC schema message.
fn ipc_schema(schema: &Schema) -> Vec<u8> {
    let opts = IpcWriteOptions::default();
    let mut tracker = DictionaryTracker::new(false);
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut tracker,
        &opts,
    );
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_message(&mut out, encoded, &opts);
    out
}

/// One record batch as one encapsulated Arrow IPC message (no schema, no end marker).
fn ipc_batch(batch: &RecordBatch) -> Result<Vec<u8>, SinkError> {
    let opts = IpcWriteOptions::default();
    let mut tracker = DictionaryTracker::new(false);
    let (_dictionaries, encoded) = IpcDataGenerator::default()
        .encode(batch, &mut tracker, &opts, &mut Default::default())
        .map_err(|e| SinkError::Other(format!("arrow encoding: {e}")))?;
    let mut out = Vec::with_capacity(encoded.arrow_data.len() + 256);
    write_message(&mut out, encoded, &opts)
        .map_err(|e| SinkError::Other(format!("arrow encoding: {e}")))?;
    Ok(out)
}

/// A NUMERIC's decimal text as its Decimal128 value at scale 9 (the text was checked when the
/// value was converted; a value that still does not fit is refused here).
fn decimal(text: &str) -> Result<i128, SinkError> {
    let bad = || SinkError::Other(format!("not a NUMERIC value: {text:?}"));
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > NUMERIC_SCALE as usize {
        return Err(bad());
    }
    let int: i128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let v = int
        .checked_mul(10i128.pow(NUMERIC_SCALE))
        .and_then(|v| v.checked_add(frac_v * 10i128.pow(NUMERIC_SCALE - frac.len() as u32)))
        .ok_or_else(bad)?;
    Ok(if neg { -v } else { v })
}

/// One column of `rows` as an Arrow array of the column's type (rows were checked against the
/// table when built, so a value of another type is an error, not a guess).
fn column_array(rows: &[Row], i: usize, ty: ColumnType) -> Result<ArrayRef, SinkError> {
    let wrong =
        |v: &CellValue| SinkError::Other(format!("a {} column got {v:?}", ty.bigquery_name()));
    let cells = rows.iter().map(|r| &r.cells()[i]);
    macro_rules! typed {
        ($arr:ty, $pat:pat => $val:expr) => {{
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    $pat => Ok(Some($val)),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            <$arr>::from(vals)
        }};
    }
    Ok(match ty {
        ColumnType::String | ColumnType::Json => {
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    CellValue::String(s) | CellValue::Json(s) => Ok(Some(s.as_str())),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StringArray::from(vals)) as ArrayRef
        }
        ColumnType::Int64 => Arc::new(typed!(Int64Array, CellValue::Int64(v) => *v)),
        ColumnType::Float64 => Arc::new(typed!(Float64Array, CellValue::Float64(v) => *v)),
        ColumnType::Bool => Arc::new(typed!(BooleanArray, CellValue::Bool(v) => *v)),
        ColumnType::Date => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Arc::new(typed!(Date32Array, CellValue::Date(d) => (*d - epoch).num_days() as i32))
        }
        ColumnType::Timestamp => Arc::new(
            typed!(TimestampMicrosecondArray, CellValue::Timestamp(t) => t.timestamp_micros())
                .with_timezone("UTC"),
        ),
        ColumnType::Numeric => {
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    CellValue::Numeric(s) => decimal(s).map(Some),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(
                Decimal128Array::from(vals)
                    .with_precision_and_scale(38, NUMERIC_SCALE as i8)
                    .map_err(|e| SinkError::Other(format!("arrow decimal: {e}")))?,
            ) as ArrayRef
        }
    })
}

/// Rows of `table` as one Arrow record batch of `schema` (see [`arrow_schema`]).
pub fn record_batch(
    schema: &Arc<Schema>,
    table: &TableDef,
    rows: &[Row],
) -> Result<RecordBatch, SinkError> {
    let cols = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| column_array(rows, i, c.ty))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| SinkError::Other(format!("arrow batch: {e}")))
}

/// Encode rows as Arrow messages under the request size limit, splitting when needed.
fn encode_split<R>(
    rows: &[R],
    build: &dyn Fn(&[R]) -> Result<RecordBatch, SinkError>,
    out: &mut Vec<(Vec<u8>, u64)>,
) -> Result<(), SinkError> {
    let bytes = ipc_batch(&build(rows)?)?;
    if bytes.len() <= MAX_REQUEST_BYTES {
        out.push((bytes, rows.len() as u64));
        return Ok(());
    }
    if rows.len() == 1 {
        return Err(SinkError::Other(format!(
            "one row is {} bytes; BigQuery accepts at most 10 MB per request",
            bytes.len()
        )));
    }
    drop(bytes);
    let (a, b) = rows.split_at(rows.len() / 2);
    encode_split(a, build, out)?;
    encode_split(b, build, out)
}

/// What one Google API error says, if it says something specific.
fn kind_of(e: &google_cloud_gax::error::Error) -> Option<fn(String) -> SinkError> {
    if let Some(status) = e.status() {
        return Some(match status.code {
            Code::PermissionDenied => SinkError::PermissionDenied,
            Code::Unauthenticated => SinkError::Unauthenticated,
            Code::NotFound => SinkError::TableMissing,
            Code::ResourceExhausted => SinkError::Quota,
            Code::DeadlineExceeded => SinkError::Timeout,
            Code::Unavailable => SinkError::Unavailable,
            _ => SinkError::Other,
        });
    }
    match e.http_status_code() {
        Some(401) => Some(SinkError::Unauthenticated),
        Some(403) => Some(SinkError::PermissionDenied),
        Some(404) => Some(SinkError::TableMissing),
        Some(429) => Some(SinkError::Quota),
        _ if e.is_timeout() => Some(SinkError::Timeout),
        _ if e.is_connect() || e.is_io() || e.is_transport() => Some(SinkError::Unavailable),
        _ if e.is_authentication() => Some(SinkError::Unauthenticated),
        _ => None,
    }
}

/// Whether an append that failed this way may succeed on a new connection.
fn retry_on_new_connection(err: &SinkError) -> bool {
    matches!(err, SinkError::Timeout(_) | SinkError::Unavailable(_))
}

/// 409 / ALREADY_EXISTS: a dataset or table created by someone else in the meantime.
fn already_exists(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == Code::AlreadyExists) || e.http_status_code() == Some(409)
}

/// Map a Google API error to what the user is told (the detail goes to the log). When retries ran
/// out, the last attempt's error (further down the source chain) says what went wrong.
fn classify(e: &google_cloud_gax::error::Error) -> SinkError {
    let detail = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(kind) = err
            .downcast_ref::<google_cloud_gax::error::Error>()
            .and_then(kind_of)
        {
            return kind(detail);
        }
        cur = err.source();
    }
    if e.is_exhausted() {
        SinkError::Timeout(detail)
    } else {
        SinkError::Other(detail)
    }
}

fn append_error(e: AppendError) -> SinkError {
    match e {
        AppendError::Rpc { source, .. } => classify(&source),
        AppendError::RowErrors {
            status, row_errors, ..
        } => SinkError::Other(format!(
            "BigQuery refused {} row(s) ({}): {:?}",
            row_errors.len(),
            status.message,
            row_errors.first().map(|r| &r.message)
        )),
        other => SinkError::Unavailable(other.to_string()),
    }
}

fn builder_error(e: WriterBuilderError) -> SinkError {
    match e {
        WriterBuilderError::Rpc { source, .. } => classify(&source),
        other => SinkError::Other(other.to_string()),
    }
}

/// A table as the sink writes it: its description, its BigQuery name and its Arrow schema.
struct Prepared {
    def: TableDef,
    /// The BigQuery table name (settings may rename the built-in tables).
    bq_name: String,
    schema: Arc<Schema>,
    ipc_schema: Vec<u8>,
}

impl Prepared {
    fn new(def: &TableDef, settings: &BigQuerySettings) -> Prepared {
        let bq_name = if def.name == super::table::MARKS.name {
            settings.marks_table.clone()
        } else if def.name == super::table::BATCH.name {
            settings.batch_table.clone()
        } else {
            def.name.clone()
        };
        let schema = arrow_schema(def);
        Prepared {
            def: def.clone(),
            bq_name,
            ipc_schema: ipc_schema(&schema),
            schema,
        }
    }
}

/// A writer opened once per connection and table.
type WriterCell = Arc<OnceCell<Arc<DefaultWriter<Arrow>>>>;

/// Most users whose Write client (one HTTP/2 connection each) is kept between executes.
pub const MAX_USER_CLIENTS: usize = 64;
/// A user's client is dropped this long before the user's access token expires.
const USER_CLIENT_MARGIN: Duration = Duration::from_secs(60);
/// How long a user's client is kept when the token's expiry is unknown.
const USER_CLIENT_DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Attempts of one append (each on a fresh connection after a timeout), within the timeout.
const MAX_ATTEMPTS: u32 = 3;

/// One Write client (one HTTP/2 connection) and its default-stream writers, opened on first use.
struct Connection {
    client: Write,
    /// Default-stream writers by table name.
    writers: std::sync::Mutex<std::collections::HashMap<String, WriterCell>>,
}

/// A user's connection, kept until shortly before the user's token expires.
struct UserConnection {
    conn: Arc<Connection>,
    until: std::time::Instant,
    last_used: std::time::Instant,
}

/// Users' connections by the SHA-256 of their access token (the token itself is never a key, so
/// it cannot end up in a debug print), at most [`MAX_USER_CLIENTS`].
#[derive(Default)]
struct UserConnections(std::collections::HashMap<[u8; 32], UserConnection>);

impl UserConnections {
    fn get(&mut self, key: &[u8; 32], now: std::time::Instant) -> Option<Arc<Connection>> {
        match self.0.get_mut(key) {
            Some(u) if u.until > now => {
                u.last_used = now;
                Some(u.conn.clone())
            }
            Some(_) => {
                self.0.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: [u8; 32], conn: Arc<Connection>, until: std::time::Instant) {
        let now = std::time::Instant::now();
        self.0.retain(|_, u| u.until > now);
        while self.0.len() >= MAX_USER_CLIENTS {
            let Some(oldest) = self
                .0
                .iter()
                .min_by_key(|(_, u)| u.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.0.remove(&oldest);
        }
        self.0.insert(
            key,
            UserConnection {
                conn,
                until,
                last_used: now,
            },
        );
    }
}

/// The BigQuery sink.
pub struct BigQuerySink {
    settings: BigQuerySettings,
    service_creds: Credentials,
    /// The hub's own connection; replaced after an attempt that got no answer in time.
    service: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Users' connections (user identity mode), reused until their tokens expire.
    users: std::sync::Mutex<UserConnections>,
    /// Tables written so far (and the declared ones), by table name.
    tables: std::sync::Mutex<std::collections::HashMap<String, Arc<Prepared>>>,
    /// Tables checked (and, when allowed, created) on start.
    declared: Vec<Arc<Prepared>>,
}

impl BigQuerySink {
    /// Set up the sink for the built-in tables, see [`BigQuerySink::start_with`].
    pub async fn start(
        settings: BigQuerySettings,
        access_token: Option<&SecretString>,
        budget: crate::startup::StartBudget,
    ) -> Result<BigQuerySink, SinkError> {
        Self::start_with(
            settings,
            &super::table::builtin_tables(),
            access_token,
            budget,
        )
        .await
    }

    /// Set up the sink: check (and, when allowed, create) the dataset and `tables` with the hub's
    /// own identity. A missing table is only a warning unless creation is allowed: executes then
    /// answer that the table is missing.
    pub async fn start_with(
        settings: BigQuerySettings,
        tables: &[Arc<TableDef>],
        access_token: Option<&SecretString>,
        budget: crate::startup::StartBudget,
    ) -> Result<BigQuerySink, SinkError> {
        let service_creds =
            crate::gcp::service_credentials(access_token).map_err(SinkError::Unauthenticated)?;
        let mut declared = Vec::new();
        for t in tables {
            t.validate().map_err(|e| SinkError::Other(e.to_string()))?;
            declared.push(Arc::new(Prepared::new(t, &settings)));
        }
        let sink = BigQuerySink {
            tables: std::sync::Mutex::new(
                declared
                    .iter()
                    .map(|p| (p.def.name.clone(), p.clone()))
                    .collect(),
            ),
            declared,
            settings,
            service_creds,
            service: tokio::sync::Mutex::new(None),
            users: std::sync::Mutex::new(UserConnections::default()),
        };
        if let Err(e) = crate::gcp::check_credentials(&sink.service_creds).await {
            if sink.settings.create_tables {
                return Err(SinkError::Unauthenticated(e));
            }
            tracing::warn!(error = %e, "BigQuery: the hub's own Google identity is not usable; writes with it will fail");
            return Ok(sink);
        }
        if sink.settings.create_tables {
            // Creation must succeed for the start to: what may heal right after a deploy (IAM
            // propagation, the dataset another instance is creating, BigQuery unavailable) is
            // retried within the start budget.
            budget
                .retry(
                    "BigQuery tables",
                    || sink.check_tables(),
                    SinkError::may_heal,
                )
                .await?;
        } else {
            sink.check_tables().await?;
        }
        Ok(sink)
    }

    /// Retries of the REST calls made on start: bounded by the write timeout.
    fn rest_retry(&self) -> impl google_cloud_gax::retry_policy::RetryPolicy {
        google_cloud_gax::retry_policy::Aip194Strict
            .with_attempt_limit(3)
            .with_time_limit(self.settings.timeout)
    }

    async fn check_tables(&self) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::client::TableService;
        let s = &self.settings;
        let tables = TableService::builder()
            .with_endpoint(&s.endpoint)
            .with_credentials(self.service_creds.clone())
            .with_retry_policy(self.rest_retry())
            .build()
            .await
            .map_err(|e| SinkError::Other(format!("BigQuery client: {e}")))?;
        let mut dataset_checked = false;
        for prepared in &self.declared {
            let table = &prepared.bq_name;
            let got = tables
                .get_table()
                .set_project_id(&s.project)
                .set_dataset_id(&s.dataset)
                .set_table_id(table)
                .send()
                .await;
            match got {
                Ok(t) => {
                    let have: Vec<&str> = t
                        .schema
                        .as_ref()
                        .map(|sc| sc.fields.iter().map(|f| f.name.as_str()).collect())
                        .unwrap_or_default();
                    let missing: Vec<&str> = prepared
                        .def
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|c| !have.contains(c))
                        .collect();
                    if missing.is_empty() {
                        tracing::info!(table = %s.table_path(table), "BigQuery write-back table ready");
                    } else {
                        tracing::warn!(table = %s.table_path(table), missing = ?missing, "BigQuery write-back table lacks columns; writes will fail");
                    }
                }
                Err(e) if matches!(classify(&e), SinkError::TableMissing(_)) => {
                    if !s.create_tables {
                        tracing::warn!(table = %s.table_path(table), "BigQuery write-back table does not exist; executes will fail until it is created (or set HUB_BIGQUERY_CREATE_TABLES=true)");
                        continue;
                    }
                    if !dataset_checked {
                        self.ensure_dataset().await?;
                        dataset_checked = true;
                    }
                    self.create_table(&tables, prepared).await?;
                }
                Err(e) => {
                    let err = classify(&e);
                    if s.create_tables {
                        return Err(err);
                    }
                    if err.may_be_missing() {
                        tracing::warn!(table = %s.table_path(table), error = %err, "the hub's identity may not read the BigQuery write-back table, or the table does not exist; executes will fail until both are fixed");
                    } else {
                        tracing::warn!(table = %s.table_path(table), error = %err, "cannot check the BigQuery write-back table");
                    }
                }
            }
        }
        Ok(())
    }

    async fn ensure_dataset(&self) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::client::DatasetService;
        use google_cloud_bigquery_v2::model::{Dataset, DatasetReference};
        let s = &self.settings;
        let datasets = DatasetService::builder()
            .with_endpoint(&s.endpoint)
            .with_credentials(self.service_creds.clone())
            .with_retry_policy(self.rest_retry())
            .build()
            .await
            .map_err(|e| SinkError::Other(format!("BigQuery client: {e}")))?;
        let got = datasets
            .get_dataset()
            .set_project_id(&s.project)
            .set_dataset_id(&s.dataset)
            .send()
            .await;
        match got {
            Ok(_) => Ok(()),
            Err(e) if matches!(classify(&e), SinkError::TableMissing(_)) => {
                let mut ds = Dataset::new().set_dataset_reference(
                    DatasetReference::new()
                        .set_project_id(&s.project)
                        .set_dataset_id(&s.dataset),
                );
                if let Some(loc) = &s.location {
                    ds = ds.set_location(loc);
                }
                match datasets
                    .insert_dataset()
                    .set_project_id(&s.project)
                    .set_dataset(ds)
                    .send()
                    .await
                {
                    Ok(_) => {
                        tracing::info!(project = %s.project, dataset = %s.dataset, "BigQuery dataset created")
                    }
                    // Another instance created it between our check and our insert: that is the goal.
                    Err(e) if already_exists(&e) => {
                        tracing::info!(project = %s.project, dataset = %s.dataset, "BigQuery dataset created meanwhile by another instance")
                    }
                    Err(e) => return Err(classify(&e)),
                }
                Ok(())
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn create_table(
        &self,
        tables: &google_cloud_bigquery_v2::client::TableService,
        prepared: &Prepared,
    ) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::model::{
            Table as BqTable, TableFieldSchema, TableReference, TableSchema, TimePartitioning,
        };
        let s = &self.settings;
        let table = prepared.bq_name.as_str();
        let def = &prepared.def;
        let fields = def.columns.iter().map(|c| {
            TableFieldSchema::new()
                .set_name(&c.name)
                .set_type(c.ty.bigquery_name())
                .set_mode(c.mode.bigquery_name())
                .set_description(&c.description)
        });
        let mut t = BqTable::new()
            .set_table_reference(
                TableReference::new()
                    .set_project_id(&s.project)
                    .set_dataset_id(&s.dataset)
                    .set_table_id(table),
            )
            .set_description(&def.description)
            .set_schema(TableSchema::new().set_fields(fields));
        if let Some(field) = &def.partition_by_day {
            t = t.set_time_partitioning(TimePartitioning::new().set_type("DAY").set_field(field));
        }
        match tables
            .insert_table()
            .set_project_id(&s.project)
            .set_dataset_id(&s.dataset)
            .set_table(t)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(table = %s.table_path(table), "BigQuery write-back table created")
            }
            // Two instances starting at once both saw it missing; the other one won the race.
            Err(e) if already_exists(&e) => {
                tracing::info!(table = %s.table_path(table), "BigQuery write-back table created meanwhile by another instance")
            }
            Err(e) => return Err(classify(&e)),
        }
        Ok(())
    }

    /// The prepared form of a table: declared on start, or prepared on its first write (a table
    /// not declared is not created; a missing one is reported as such by the append).
    fn prepared(&self, table: &TableDef) -> Result<Arc<Prepared>, SinkError> {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = tables.get(&table.name) {
            return Ok(p.clone());
        }
        table
            .validate()
            .map_err(|e| SinkError::Other(e.to_string()))?;
        let p = Arc::new(Prepared::new(table, &self.settings));
        tables.insert(table.name.clone(), p.clone());
        Ok(p)
    }

    /// One attempt's time: a third of the budget (at least 1 s), so that after an attempt on a
    /// half-dead connection (TCP up, no answer; the Google client has no HTTP/2 keepalive to notice
    /// it) a retry on a fresh connection still fits in `HUB_BIGQUERY_TIMEOUT_SECS`.
    fn attempt_timeout(&self) -> Duration {
        (self.settings.timeout / MAX_ATTEMPTS)
            .max(Duration::from_secs(1))
            .min(self.settings.timeout)
    }

    async fn connect(&self, creds: Credentials) -> Result<Arc<Connection>, SinkError> {
        let client = Write::builder()
            .with_endpoint(&self.settings.storage_endpoint)
            .with_credentials(creds)
            .build()
            .await
            .map_err(|e| SinkError::Unavailable(format!("BigQuery Write client: {e}")))?;
        Ok(Arc::new(Connection {
            client,
            writers: Default::default(),
        }))
    }

    async fn open_writer(
        &self,
        client: &Write,
        table: &Prepared,
    ) -> Result<DefaultWriter<Arrow>, SinkError> {
        let s = &self.settings;
        let (name, schema) = (&table.bq_name, &table.ipc_schema);
        let attempt = self.attempt_timeout();
        client
            .open_default_stream(s.table_path(name))
            // The client's own retries (a new stream on the same connection) stay within one
            // attempt; a retry on a new connection is the sink's (see `append`).
            .with_retry_policy(
                RetryableErrors
                    .with_attempt_limit(5)
                    .with_time_limit(attempt),
            )
            .with_attempt_timeout(attempt)
            .build_arrow(ArrowSchema::new().set_serialized_schema(schema.clone()))
            .await
            .map_err(builder_error)
    }

    /// The connection for a credential: the shared one of the hub's identity, or the user's
    /// (reused until shortly before the token expires, see [`MAX_USER_CLIENTS`]).
    async fn connection(&self, cred: &WriteCredential) -> Result<Arc<Connection>, SinkError> {
        match cred {
            WriteCredential::Service => {
                let mut slot = self.service.lock().await;
                if let Some(conn) = slot.as_ref() {
                    return Ok(conn.clone());
                }
                let conn = self.connect(self.service_creds.clone()).await?;
                *slot = Some(conn.clone());
                Ok(conn)
            }
            WriteCredential::User {
                access_token,
                expires_at,
            } => {
                use sha2::Digest;
                let key: [u8; 32] =
                    sha2::Sha256::digest(secrecy::ExposeSecret::expose_secret(access_token)).into();
                let now = std::time::Instant::now();
                if let Some(conn) = self
                    .users
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key, now)
                {
                    return Ok(conn);
                }
                let conn = self
                    .connect(crate::gcp::bearer(access_token.clone()))
                    .await?;
                let left = expires_at
                    .map(|exp| {
                        let secs = exp.saturating_sub(chrono::Utc::now().timestamp()).max(0);
                        Duration::from_secs(secs as u64).saturating_sub(USER_CLIENT_MARGIN)
                    })
                    .unwrap_or(USER_CLIENT_DEFAULT_TTL);
                if !left.is_zero() {
                    self.users.lock().unwrap_or_else(|p| p.into_inner()).insert(
                        key,
                        conn.clone(),
                        now + left,
                    );
                }
                Ok(conn)
            }
        }
    }

    /// Forget a connection that failed in a way a new one may not (no answer in time, connection
    /// lost, credentials refused): the next write opens a fresh one.
    async fn discard(&self, cred: &WriteCredential, conn: &Arc<Connection>) {
        match cred {
            WriteCredential::Service => {
                let mut slot = self.service.lock().await;
                if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
                    *slot = None;
                }
            }
            WriteCredential::User { .. } => {
                self.users
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .retain(|_, u| !Arc::ptr_eq(&u.conn, conn));
            }
        }
    }

    /// The writer of `table` on `conn` (opened once per connection).
    async fn stream_writer(
        &self,
        conn: &Connection,
        table: &Prepared,
    ) -> Result<Arc<DefaultWriter<Arrow>>, SinkError> {
        let cell = conn
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(table.def.name.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            Ok(Arc::new(self.open_writer(&conn.client, table).await?))
        })
        .await
        .cloned()
    }

    /// Wait for one append, at most `limit`.
    async fn await_append(&self, fut: AppendFuture, limit: Duration) -> Result<(), SinkError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(append_error(e)),
            Err(_) => Err(SinkError::Timeout(format!(
                "no answer from BigQuery within {limit:?}"
            ))),
        }
    }

    /// Append one serialized record batch to `table`: each attempt is bounded by
    /// [`Self::attempt_timeout`]; after a timeout or a lost connection the connection is replaced
    /// and the append tried again while the budget lasts (the default stream is at-least-once:
    /// a row whose first answer was lost may be stored twice, see `request_id`).
    async fn append(
        &self,
        cred: &WriteCredential,
        table: &Prepared,
        bytes: bytes::Bytes,
    ) -> Result<(), SinkError> {
        let deadline = std::time::Instant::now() + self.settings.timeout;
        self.append_until(cred, table, bytes, deadline, 0).await
    }

    /// [`Self::append`] with a given deadline, `attempt` attempts having been made already.
    async fn append_until(
        &self,
        cred: &WriteCredential,
        table: &Prepared,
        bytes: bytes::Bytes,
        deadline: std::time::Instant,
        mut attempt: u32,
    ) -> Result<(), SinkError> {
        loop {
            attempt += 1;
            let conn = self.connection(cred).await?;
            let opened = tokio::time::timeout(
                self.attempt_timeout() + Duration::from_secs(1),
                self.stream_writer(&conn, table),
            )
            .await
            .unwrap_or_else(|_| {
                Err(SinkError::Timeout(
                    "no answer from BigQuery when opening the write stream".into(),
                ))
            });
            let result = match opened {
                Ok(writer) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let fut = writer
                        .append(ArrowRecordBatch::new().set_serialized_record_batch(bytes.clone()))
                        .send();
                    self.await_append(
                        fut,
                        self.attempt_timeout()
                            .min(left)
                            .max(Duration::from_millis(1)),
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let fresh_may_help = retry_on_new_connection(&err);
            if fresh_may_help || matches!(err, SinkError::Unauthenticated(_)) {
                self.discard(cred, &conn).await;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if !fresh_may_help || attempt >= MAX_ATTEMPTS || left < Duration::from_millis(100) {
                return Err(err);
            }
            tracing::warn!(attempt, error = %err, "BigQuery append failed; retrying on a new connection");
        }
    }
}

#[async_trait]
impl Sink for BigQuerySink {
    fn name(&self) -> &'static str {
        "bigquery"
    }

    async fn append(
        &self,
        table: &TableDef,
        rows: &[Row],
        cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        let prepared = self.prepared(table)?;
        if rows.len() == 1 {
            // One row (a cell execute): one append, retried on a new connection.
            let batch = record_batch(&prepared.schema, &prepared.def, rows)?;
            let bytes = ipc_batch(&batch)?;
            self.append(cred, &prepared, bytes.into()).await?;
            return Ok(1);
        }
        let mut w = self.writer(table, cred).await?;
        let sent = w.write(rows.to_vec()).await;
        let (written, err) = w.finish().await;
        match sent.err().or(err) {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    async fn writer<'a>(
        &'a self,
        table: &'a TableDef,
        cred: &'a WriteCredential,
    ) -> Result<Box<dyn BatchWriter + 'a>, SinkError> {
        let prepared = self.prepared(table)?;
        let conn = self.connection(cred).await?;
        let writer = match self.stream_writer(&conn, &prepared).await {
            Ok(w) => w,
            Err(e) => {
                if retry_on_new_connection(&e) || matches!(e, SinkError::Unauthenticated(_)) {
                    self.discard(cred, &conn).await;
                }
                return Err(e);
            }
        };
        Ok(Box::new(BigQueryBatchWriter {
            sink: self,
            table: prepared,
            cred,
            conn,
            writer,
            in_flight: VecDeque::new(),
            written: 0,
            error: None,
        }))
    }
}

/// One append of a whole-query write on its way: its rows are kept (shared bytes, no copy) so it
/// can be sent again on a new connection.
struct InFlight {
    fut: AppendFuture,
    rows: u64,
    bytes: bytes::Bytes,
    sent: std::time::Instant,
}

/// A whole-query write: Arrow batches pipelined on one default-stream writer, a few in flight.
struct BigQueryBatchWriter<'a> {
    sink: &'a BigQuerySink,
    table: Arc<Prepared>,
    cred: &'a WriteCredential,
    conn: Arc<Connection>,
    writer: Arc<DefaultWriter<Arrow>>,
    in_flight: VecDeque<InFlight>,
    written: u64,
    error: Option<SinkError>,
}

impl BigQueryBatchWriter<'_> {
    async fn settle_one(&mut self) {
        let Some(f) = self.in_flight.pop_front() else {
            return;
        };
        // The client bounds each attempt itself (attempt timeout); this is the last guard.
        let guard = self.sink.attempt_timeout() + Duration::from_secs(5);
        let mut result = self.sink.await_append(f.fut, guard).await;
        if let Err(e) = &result {
            if retry_on_new_connection(e) && self.error.is_none() {
                // The connection is half-dead or lost: this append (and the ones behind it,
                // when they fail the same way) goes again on a new connection within its budget.
                tracing::warn!(error = %e, "BigQuery append failed; retrying on a new connection");
                self.sink.discard(self.cred, &self.conn).await;
                let deadline = f.sent + self.sink.settings.timeout;
                result = self
                    .sink
                    .append_until(self.cred, &self.table, f.bytes, deadline, 1)
                    .await;
                if let Ok(conn) = self.sink.connection(self.cred).await {
                    if let Ok(writer) = self.sink.stream_writer(&conn, &self.table).await {
                        self.conn = conn;
                        self.writer = writer;
                    }
                }
            }
        }
        match result {
            Ok(()) => self.written += f.rows,
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(e);
                }
            }
        }
    }
}

#[async_trait]
impl BatchWriter for BigQueryBatchWriter<'_> {
    async fn write(&mut self, rows: Vec<Row>) -> Result<(), SinkError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let t = &self.table;
        let mut parts = Vec::new();
        encode_split(&rows, &|r| record_batch(&t.schema, &t.def, r), &mut parts)?;
        drop(rows);
        for (bytes, n) in parts {
            while self.in_flight.len() >= MAX_IN_FLIGHT {
                self.settle_one().await;
            }
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            let bytes = bytes::Bytes::from(bytes);
            let fut = self
                .writer
                .append(ArrowRecordBatch::new().set_serialized_record_batch(bytes.clone()))
                .send();
            self.in_flight.push_back(InFlight {
                fut,
                rows: n,
                bytes,
                sent: std::time::Instant::now(),
            });
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> (u64, Option<SinkError>) {
        while !self.in_flight.is_empty() {
            self.settle_one().await;
        }
        (self.written, self.error.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u64, json_len: usize) -> Row {
        let t = &*super::super::table::BATCH;
        super::super::table::row_of(
            t,
            vec![
                "r".into(),
                CellValue::Int64(i as i64),
                "o.id".into(),
                Some(i.to_string()).into(),
                "Suspicious".into(),
                "".into(),
                CellValue::Null,
                CellValue::Null,
                CellValue::Null,
                CellValue::Json("x".repeat(json_len)),
                CellValue::Null,
                CellValue::Null,
                CellValue::Null,
                "writeback_batch".into(),
                chrono::Utc::now().into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn large_batches_are_split_under_the_request_limit() {
        let t = &*super::super::table::BATCH;
        let schema = arrow_schema(t);
        let rows: Vec<Row> = (0..40).map(|i| row(i, 1024 * 1024)).collect();
        let mut parts = Vec::new();
        encode_split(&rows, &|r| record_batch(&schema, t, r), &mut parts).unwrap();
        assert!(parts.len() >= 5, "{}", parts.len());
        assert!(parts.iter().all(|(b, _)| b.len() <= MAX_REQUEST_BYTES));
        assert_eq!(parts.iter().map(|(_, n)| n).sum::<u64>(), 40);

        let huge = vec![row(0, 11 * 1024 * 1024)];
        assert!(encode_split(&huge, &|r| record_batch(&schema, t, r), &mut Vec::new()).is_err());
    }

    #[test]
    fn every_column_type_encodes_as_the_write_api_expects() {
        use super::super::table::{ColumnDef, TableDef};
        let c = |n: &str, ty| ColumnDef::new(n, ty, Mode::Nullable, "");
        let t = TableDef {
            name: "all_types".into(),
            description: String::new(),
            columns: vec![
                c("s", ColumnType::String),
                c("i", ColumnType::Int64),
                c("n", ColumnType::Numeric),
                c("f", ColumnType::Float64),
                c("b", ColumnType::Bool),
                c("d", ColumnType::Date),
                c("t", ColumnType::Timestamp),
                c("j", ColumnType::Json),
            ],
            partition_by_day: None,
            clustering: vec![],
            key: vec![],
        };
        let schema = arrow_schema(&t);
        let full = super::super::table::row_of(
            &t,
            [
                "x",
                "-7",
                "-12.5",
                "1.25",
                "true",
                "2026-01-02",
                "2026-01-02T03:04:05Z",
                "{\"a\":1}",
            ]
            .iter()
            .zip(&t.columns)
            .map(|(v, c)| c.ty.convert_text(v).unwrap())
            .collect(),
        )
        .unwrap();
        let empty = super::super::table::row_of(&t, vec![CellValue::Null; 8]).unwrap();
        let batch = record_batch(&schema, &t, &[full, empty]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let n = batch
            .column(2)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(n.value(0), -12_500_000_000);
        let d = batch
            .column(5)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(d.value(0), 20455);
        assert!(batch.columns().iter().all(|c| c.is_null(1)));
        assert!(ipc_batch(&batch).is_ok());
        assert_eq!(decimal("0.000000001").unwrap(), 1);
        assert!(decimal("1.0000000001").is_err());
    }

    #[test]
    fn settings_need_project_and_dataset_together() {
        let vars = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = vars(&[]);
        assert!(BigQuerySettings::load(&Vars(&none)).unwrap().is_none());
        let half = vars(&[("HUB_GCP_PROJECT", "p")]);
        assert!(BigQuerySettings::load(&Vars(&half)).is_err());
        let bad = vars(&[("HUB_GCP_PROJECT", "p"), ("HUB_BIGQUERY_DATASET", "a-b")]);
        assert!(BigQuerySettings::load(&Vars(&bad)).is_err());
        let ok = vars(&[("HUB_GCP_PROJECT", "p"), ("HUB_BIGQUERY_DATASET", "ds")]);
        let s = BigQuerySettings::load(&Vars(&ok)).unwrap().unwrap();
        assert_eq!(
            s.table_path(&s.marks_table),
            "projects/p/datasets/ds/tables/suspicious_marks"
        );
        assert_eq!(s.storage_endpoint, DEFAULT_STORAGE_ENDPOINT);
    }
}
