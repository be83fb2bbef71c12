//! Reading the run ledger back from the embedded store: the last runs, the last failed ones, the
//! rejected rows of one run (for `hub runs` and the local tools). The file is opened read-only:
//! reading never changes the store.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{ChangeColumns, RejectedRow, RunRecord, REJECTED_ROWS_TABLE, RUNS_TABLE};
use crate::sinks::sqlite::quote_ident;

/// Which runs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every run.
    All,
    /// Runs that did not succeed (any outcome but `success`).
    NotSucceeded,
}

/// Why the ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store file does not exist.
    #[error("no embedded store at {0} (HUB_STORE_PATH): the hub has not run with it yet")]
    NoStore(String),
    /// The store has no ledger table (it was never started with the ledger on).
    #[error("the embedded store at {0} has no run ledger (the hub has not started with {setting} on)", setting = super::SETTING)]
    NoLedger(String),
    /// SQLite failed.
    #[error("reading the embedded store: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The embedded store at `path`, read-only, with its ledger tables.
pub struct LedgerReader {
    conn: Connection,
}

fn timestamp(text: String) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl LedgerReader {
    /// Open the store at `path` read-only.
    pub fn open(path: &Path) -> Result<LedgerReader, ReadError> {
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(ReadError::NoStore(shown));
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let has: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [RUNS_TABLE],
                |r| r.get(0),
            )
            .optional()?;
        if has.is_none() {
            return Err(ReadError::NoLedger(shown));
        }
        Ok(LedgerReader { conn })
    }

    /// The last `limit` runs (newest first), all or only those that did not succeed.
    pub fn last_runs(&self, which: Which, limit: usize) -> Result<Vec<RunRecord>, ReadError> {
        let filter = match which {
            Which::All => "",
            Which::NotSucceeded => "WHERE outcome <> 'success'",
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.runs(
            &format!("{filter} ORDER BY finished_at DESC, rowid DESC LIMIT ?1"),
            limit,
        )
    }

    /// The run `run_id`, if the ledger has it.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>, ReadError> {
        Ok(self.runs("WHERE run_id = ?1", run_id)?.into_iter().next())
    }

    /// The runs `tail` (a filter and order with one parameter) selects.
    fn runs(&self, tail: &str, param: impl rusqlite::ToSql) -> Result<Vec<RunRecord>, ReadError> {
        let sql = format!(
            "SELECT run_id, action, kind, identity, outcome, started_at, finished_at, duration_ms, \
             rows_read, rows_delivered, rows_rejected, rows_unconfirmed, bytes_read, \
             rejected_rows_recorded, error_kind, error_message, looker_instance, webhook_id, \
             scheduled_plan_id, query_id, rudder_source, trace_id, send_mode, rows_unchanged, \
             rows_new, rows_changed, rows_unkeyed, rows_repeated_key, keys_gone, change_base \
             FROM {} {tail}",
            quote_ident(RUNS_TABLE)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([param], |r| {
            Ok(RunRecord {
                run_id: r.get(0)?,
                action: r.get(1)?,
                kind: r.get(2)?,
                identity: r.get(3)?,
                outcome: r.get(4)?,
                started_at: timestamp(r.get(5)?),
                finished_at: timestamp(r.get(6)?),
                duration_ms: count(r.get(7)?),
                rows_read: count(r.get(8)?),
                rows_delivered: count(r.get(9)?),
                rows_rejected: count(r.get(10)?),
                rows_unconfirmed: count(r.get(11)?),
                bytes_read: count(r.get(12)?),
                rejected_rows_recorded: count(r.get(13)?),
                error_kind: r.get(14)?,
                error_message: r.get(15)?,
                looker_instance: r.get(16)?,
                webhook_id: r.get(17)?,
                scheduled_plan_id: r.get(18)?,
                query_id: r.get(19)?,
                rudder_source: r.get(20)?,
                trace_id: r.get(21)?,
                changes: ChangeColumns {
                    send_mode: r.get(22)?,
                    rows_unchanged: r.get::<_, Option<i64>>(23)?.map(count),
                    rows_new: r.get::<_, Option<i64>>(24)?.map(count),
                    rows_changed: r.get::<_, Option<i64>>(25)?.map(count),
                    rows_unkeyed: r.get::<_, Option<i64>>(26)?.map(count),
                    rows_repeated_key: r.get::<_, Option<i64>>(27)?.map(count),
                    keys_gone: r.get::<_, Option<i64>>(28)?.map(count),
                    change_base: r.get(29)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The rejected rows recorded for `run_id`, in row order.
    pub fn rejected_rows(&self, run_id: &str) -> Result<Vec<RejectedRow>, ReadError> {
        let sql = format!(
            "SELECT row_index, key_value, column_name, reason FROM {} WHERE run_id = ?1 \
             ORDER BY row_index",
            quote_ident(REJECTED_ROWS_TABLE)
        );
        let mut stmt = match self.conn.prepare(&sql) {
            Ok(s) => s,
            // The table is created with the runs table; a store without it has no rejections.
            Err(_) => return Ok(Vec::new()),
        };
        let rows = stmt.query_map([run_id], |r| {
            Ok(RejectedRow {
                row_index: count(r.get(0)?),
                key_value: r.get(1)?,
                column_name: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
