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

mod admin;
mod arrow;
mod errors;
mod settings;
mod writer;

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

pub use arrow::{arrow_schema, record_batch};
use arrow::{encode_split, ipc_batch, ipc_schema};
use errors::{already_exists, append_error, builder_error, classify, retry_on_new_connection};
pub use settings::{BigQuerySettings, DEFAULT_ENDPOINT, DEFAULT_STORAGE_ENDPOINT};
use writer::BigQueryBatchWriter;

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
        let bq_name = settings.bigquery_table(&def.name);
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

/// The `event` of every failed append's log line (retried or not): Cloud Monitoring's
/// log-based metric counts them (terraform/monitoring.tf).
const APPEND_FAILED: &str = "bigquery_append_failed";

/// The log line of an append that failed for good (no more attempts).
fn append_failed(err: &SinkError, attempt: u32) {
    tracing::error!(event = APPEND_FAILED, retrying = false, attempt, error = %err, "BigQuery append failed");
}

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
    /// Set up the sink: check (and, when allowed, create) the dataset and `tables` with the hub's
    /// own identity. A missing table is only a warning unless creation is allowed: executes then
    /// answer that the table is missing.
    pub async fn start_with(
        settings: BigQuerySettings,
        tables: &[Arc<TableDef>],
        access_token: Option<&SecretString>,
        budget: crate::retry::StartBudget,
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
            let conn = match self.connection(cred).await {
                Ok(c) => c,
                Err(e) => {
                    append_failed(&e, attempt);
                    return Err(e);
                }
            };
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
                append_failed(&err, attempt);
                return Err(err);
            }
            tracing::warn!(event = APPEND_FAILED, retrying = true, attempt, error = %err, "BigQuery append failed; retrying on a new connection");
        }
    }
}

#[async_trait]
impl Sink for BigQuerySink {
    fn name(&self) -> &'static str {
        "bigquery"
    }

    fn destination(&self, table: &TableDef) -> String {
        let s = &self.settings;
        format!(
            "bigquery:{}.{}.{}",
            s.project,
            s.dataset,
            s.bigquery_table(&table.name)
        )
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
            chunks: Default::default(),
        }))
    }
}
