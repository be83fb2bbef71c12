//! Write-back targets behind one trait: the embedded store (default) and BigQuery (production).

pub mod bigquery;
pub mod drift;
pub mod ledger;
pub mod sqlite;
pub mod table;
pub mod values;

use async_trait::async_trait;
use secrecy::SecretString;

pub use table::{CellValue, ColumnDef, ColumnType, Mode, Row, TableDef};

/// Whose identity a write uses.
#[derive(Clone)]
pub enum WriteCredential {
    /// The hub's own identity (service account / the embedded store).
    Service,
    /// The acting user's OAuth access token, for this one write.
    User {
        /// Bearer token.
        access_token: SecretString,
        /// When the token expires (Unix seconds), if known: how long a sink may keep a client
        /// built on it.
        expires_at: Option<i64>,
    },
}

impl std::fmt::Debug for WriteCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteCredential::Service => f.write_str("Service"),
            WriteCredential::User { .. } => f.write_str("User(..)"),
        }
    }
}

/// Why a write failed; [`SinkError::user_message`] is what a business user sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The identity used may not write the table.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The credential was refused (expired or invalid token, unusable service identity).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The table or dataset does not exist.
    #[error("table not found: {0}")]
    TableMissing(String),
    /// Quota or rate limit exceeded.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// The store did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The store could not be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl SinkError {
    /// Whether a start-up failure may heal within minutes (IAM propagation, a dataset another
    /// instance is creating, the service unavailable): retried within `HUB_STARTUP_RETRY_SECS`.
    pub fn may_heal(&self) -> bool {
        matches!(
            self,
            SinkError::PermissionDenied(_)
                | SinkError::TableMissing(_)
                | SinkError::Unavailable(_)
                | SinkError::Timeout(_)
        )
    }

    /// BigQuery answers 403 "… denied on table … (or it may not exist)" for a table the caller
    /// may not see: the table may just as well be missing.
    pub fn may_be_missing(&self) -> bool {
        matches!(self, SinkError::PermissionDenied(d) if d.contains("or it may not exist"))
    }

    /// A message for the business user (details go to the log, not here).
    pub fn user_message(&self, cred: &WriteCredential) -> String {
        match (self, cred) {
            (SinkError::PermissionDenied(_), WriteCredential::User { .. }) if self.may_be_missing() => {
                "You do not have write access to the write-back table, or the table does not exist. Ask your data team to check both.".into()
            }
            (SinkError::PermissionDenied(_), WriteCredential::Service) if self.may_be_missing() => {
                "The action hub is not allowed to write to the write-back table, or the table does not exist. Ask your Looker admin to check both.".into()
            }
            (SinkError::PermissionDenied(_), WriteCredential::User { .. }) => {
                "You do not have write access to the write-back table. Ask your data team to grant it.".into()
            }
            (SinkError::PermissionDenied(_), WriteCredential::Service) => {
                "The action hub is not allowed to write to the write-back table. Ask your Looker admin to check its permissions.".into()
            }
            (SinkError::Unauthenticated(_), WriteCredential::User { .. }) => {
                "Your Google sign-in is no longer valid. Open the action again and sign in with Google.".into()
            }
            (SinkError::Unauthenticated(_), WriteCredential::Service) => {
                "The action hub could not sign in to the warehouse. Ask your Looker admin to check its credentials.".into()
            }
            (SinkError::TableMissing(_), _) => {
                "The write-back table does not exist. Ask your Looker admin to create it.".into()
            }
            (SinkError::Quota(_), _) => "The warehouse is busy (quota exceeded). Please try again in a minute.".into(),
            (SinkError::Timeout(_), _) => "The warehouse did not answer in time. Please try again.".into(),
            (SinkError::Unavailable(_), _) => "The warehouse could not be reached. Please try again later.".into(),
            (SinkError::Other(_), _) => "The write-back failed. Your Looker admin can find details in the hub's log.".into(),
        }
    }
}

/// An insert-only write-back target for any described table (see [`table`]).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Short name for logs (`sqlite`, `bigquery`).
    fn name(&self) -> &'static str;

    /// Where rows of `table` land, naming the store: a change-only send remembers what it wrote
    /// per destination (rows written to another dataset were not written to this one).
    fn destination(&self, table: &TableDef) -> String {
        format!("{}:{}", self.name(), table.name)
    }

    /// Append rows of `table` atomically; returns how many were written.
    async fn append(
        &self,
        table: &TableDef,
        rows: &[Row],
        cred: &WriteCredential,
    ) -> Result<u64, SinkError>;

    /// Start a write of many rows of `table` that receives them in bounded chunks. The default
    /// writes each chunk with [`Sink::append`] (one bounded transaction per chunk); a sink can
    /// pipeline.
    async fn writer<'a>(
        &'a self,
        table: &'a TableDef,
        cred: &'a WriteCredential,
    ) -> Result<Box<dyn BatchWriter + 'a>, SinkError> {
        Ok(Box::new(ChunkWriter {
            sink: self,
            table,
            cred,
            written: 0,
            next_chunk: 0,
            settled: Vec::new(),
        }))
    }
}

/// What became of one chunk handed to a [`BatchWriter`]: `chunk` counts the `write` calls from 0;
/// `ok` when every row of it is durably written (a chunk a sink splits is written only when all
/// its parts are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Which chunk (the `write` calls counted from 0).
    pub chunk: u64,
    /// Whether all of its rows are written.
    pub ok: bool,
}

/// A write of many rows in progress: chunks go in one after the other; `finish` says how many rows
/// are durably written. An error from `write` means this or an earlier chunk failed: stop sending.
/// Which chunks are written is told per chunk ([`BatchWriter::settled`]): a pipelining sink
/// settles them later than they are handed over, and a later chunk may be written after an
/// earlier one failed.
#[async_trait]
pub trait BatchWriter: Send {
    /// Hand over the next chunk of rows.
    async fn write(&mut self, rows: Vec<Row>) -> Result<(), SinkError>;

    /// The chunks settled since the last call, in the order they settled. A chunk handed over
    /// is settled exactly once, at the latest by [`BatchWriter::finish`]; one refused before it
    /// was sent (an earlier failure) is settled as not written.
    fn settled(&mut self) -> Vec<Settled>;

    /// Wait for every chunk handed over; rows written and the first error, if any. Nothing is
    /// written after it; [`BatchWriter::settled`] still tells the chunks it settled.
    async fn finish(&mut self) -> (u64, Option<SinkError>);
}

/// The default [`BatchWriter`]: each chunk is one `append` call, awaited in turn.
struct ChunkWriter<'a, S: ?Sized> {
    sink: &'a S,
    table: &'a TableDef,
    cred: &'a WriteCredential,
    written: u64,
    next_chunk: u64,
    settled: Vec<Settled>,
}

#[async_trait]
impl<S: Sink + ?Sized> BatchWriter for ChunkWriter<'_, S> {
    async fn write(&mut self, rows: Vec<Row>) -> Result<(), SinkError> {
        let chunk = self.next_chunk;
        self.next_chunk += 1;
        let appended = self.sink.append(self.table, &rows, self.cred).await;
        self.settled.push(Settled {
            chunk,
            ok: appended.is_ok(),
        });
        self.written += appended?;
        Ok(())
    }

    fn settled(&mut self) -> Vec<Settled> {
        std::mem::take(&mut self.settled)
    }

    async fn finish(&mut self) -> (u64, Option<SinkError>) {
        (self.written, None)
    }
}
