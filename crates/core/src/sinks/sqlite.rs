//! The embedded write-back store: an SQLite file, insert-only (triggers refuse updates and deletes).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::{BatchRow, MarkRow, Sink, SinkError, WriteCredential};

/// Cell write-back table.
pub const MARKS_TABLE: &str = "suspicious_marks";
/// Whole-query write-back table.
pub const BATCH_TABLE: &str = "suspicious_marks_batch";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS suspicious_marks (
    request_id      TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    classification  TEXT NOT NULL,
    comment         TEXT NOT NULL,
    acted_by        TEXT,
    looker_instance TEXT,
    webhook_id      TEXT,
    action          TEXT NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS suspicious_marks_no_update BEFORE UPDATE ON suspicious_marks
BEGIN SELECT RAISE(ABORT, 'suspicious_marks is insert-only'); END;
CREATE TRIGGER IF NOT EXISTS suspicious_marks_no_delete BEFORE DELETE ON suspicious_marks
BEGIN SELECT RAISE(ABORT, 'suspicious_marks is insert-only'); END;
CREATE TABLE IF NOT EXISTS suspicious_marks_batch (
    request_id        TEXT NOT NULL,
    row_index         INTEGER NOT NULL,
    key_field         TEXT NOT NULL,
    key_value         TEXT,
    classification    TEXT NOT NULL,
    comment           TEXT NOT NULL,
    acted_by          TEXT,
    scheduled_plan_id TEXT,
    query_id          TEXT,
    row_json          TEXT NOT NULL,
    ran_at            TEXT,
    looker_instance   TEXT,
    webhook_id        TEXT,
    action            TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
CREATE TRIGGER IF NOT EXISTS suspicious_marks_batch_no_update BEFORE UPDATE ON suspicious_marks_batch
BEGIN SELECT RAISE(ABORT, 'suspicious_marks_batch is insert-only'); END;
CREATE TRIGGER IF NOT EXISTS suspicious_marks_batch_no_delete BEFORE DELETE ON suspicious_marks_batch
BEGIN SELECT RAISE(ABORT, 'suspicious_marks_batch is insert-only'); END;
"#;

/// The embedded SQLite store.
pub struct SqliteSink {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteSink {
    /// Open (creating the file, its folder and the tables if needed).
    pub fn open(path: &Path) -> Result<SqliteSink, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SinkError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| SinkError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(other)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(other)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(other)?;
        conn.execute_batch(SCHEMA).map_err(other)?;
        Ok(SqliteSink {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, SinkError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard).map_err(other)
        })
        .await
        .map_err(|e| SinkError::Other(format!("write task failed: {e}")))?
    }
}

fn other(e: rusqlite::Error) -> SinkError {
    SinkError::Other(format!("sqlite: {e}"))
}

#[async_trait]
impl Sink for SqliteSink {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn append_mark(&self, row: &MarkRow, _cred: &WriteCredential) -> Result<(), SinkError> {
        let r = row.clone();
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO suspicious_marks (request_id, order_id, classification, comment, acted_by, \
                 looker_instance, webhook_id, action, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.request_id,
                    r.order_id,
                    r.classification,
                    r.comment,
                    r.acted_by,
                    r.looker_instance,
                    r.webhook_id,
                    r.action,
                    r.received_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn append_batch(
        &self,
        rows: &[BatchRow],
        _cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        let rows = rows.to_vec();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO suspicious_marks_batch (request_id, row_index, key_field, key_value, \
                     classification, comment, acted_by, scheduled_plan_id, query_id, row_json, ran_at, \
                     looker_instance, webhook_id, action, received_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?;
                for r in &rows {
                    stmt.execute(params![
                        r.request_id,
                        r.row_index as i64,
                        r.key_field,
                        r.key_value,
                        r.classification,
                        r.comment,
                        r.acted_by,
                        r.scheduled_plan_id,
                        r.query_id,
                        r.row_json,
                        r.ran_at,
                        r.looker_instance,
                        r.webhook_id,
                        r.action,
                        r.received_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
