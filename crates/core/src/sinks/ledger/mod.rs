//! The run ledger: one row per execute in [`RUNS_TABLE`] and the rows it rejected in
//! [`REJECTED_ROWS_TABLE`], in the write-back store next to the actions' tables (the embedded
//! store or BigQuery). Both are described like every other table ([`runs_table`],
//! [`rejected_rows_table`]): created or checked at start, generated into terraform by
//! `hub generate-actions`. Rows are appended off the request path by [`writer::Ledger`]; the
//! embedded store's rows are read back by [`read`] (`hub runs`).

pub mod command;
pub mod read;
pub mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::table::{CellValue, ColumnDef, ColumnType, Mode, Row, RowError, TableDef};

/// The table of runs: one row per execute.
pub const RUNS_TABLE: &str = "hub_runs";
/// The table of rejected rows: at most [`MAX_REJECTED_ROWS_PER_RUN`] per run.
pub const REJECTED_ROWS_TABLE: &str = "hub_rejected_rows";
/// The setting that turns the ledger off (`HUB_RUN_LEDGER=false`).
pub const SETTING: &str = "HUB_RUN_LEDGER";
/// Most rejected rows of one run stored with their reason (the run's `rows_rejected` counts all).
pub const MAX_REJECTED_ROWS_PER_RUN: usize = 100;

/// Whether a table name is one the ledger keeps (a declared action may not use it).
pub fn is_ledger_table(name: &str) -> bool {
    // The stores compare table names ignoring case.
    [RUNS_TABLE, REJECTED_ROWS_TABLE]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(name))
}

fn col(name: &str, ty: ColumnType, mode: Mode, description: &str) -> ColumnDef {
    ColumnDef::new(name, ty, mode, description)
}

/// The runs table, described once.
pub fn runs_table() -> TableDef {
    use ColumnType::{Int64, String as Str, Timestamp};
    use Mode::{Nullable as N, Required as R};
    TableDef {
        name: RUNS_TABLE.into(),
        description: "One row per execute of any action: what it read, delivered and rejected, how it ended and the first error (the action hub's run ledger, insert-only).".into(),
        columns: vec![
            col("run_id", Str, R, "The execute's request id (the run id Looker's message names)."),
            col("action", Str, R, "The action's name."),
            col("kind", Str, R, "cell or query."),
            col("identity", Str, R, "Whose identity the writes used: user or service."),
            col("outcome", Str, R, "success, partial, failed, invalid, interrupted or refused."),
            col("started_at", Timestamp, R, "When the execute arrived."),
            col("finished_at", Timestamp, R, "When it ended."),
            col("duration_ms", Int64, R, "Milliseconds from arrival to the end."),
            col("rows_read", Int64, R, "Result rows read (0 for a cell execute)."),
            col("rows_delivered", Int64, R, "Rows written to the table, or sent to the data plane and confirmed."),
            col("rows_rejected", Int64, R, "Rows not written or sent because they do not fit."),
            col("rows_unconfirmed", Int64, R, "Rows handed to the store or data plane whose delivery was not confirmed."),
            col("bytes_read", Int64, R, "Bytes of the result rows read."),
            col("rejected_rows_recorded", Int64, R, "How many of the rejected rows are in hub_rejected_rows (the first ones)."),
            col("error_kind", Str, N, "The first error's kind (validation, sink, data_plane, download, deadline, shutdown, auth, capacity, ...); empty on success."),
            col("error_message", Str, N, "The message Looker got, when the execute did not succeed."),
            col("looker_instance", Str, N, "X-Looker-Instance."),
            col("webhook_id", Str, N, "X-Looker-Webhook-Id."),
            col("scheduled_plan_id", Str, N, "The scheduled plan's id."),
            col("query_id", Str, N, "The query's id."),
            col("rudder_source", Str, N, "The named RudderStack source sent to."),
            col("trace_id", Str, N, "The Cloud Trace id of the request."),
            col("send_mode", Str, N, "Which rows a query run chose to send: every, changed (only new or changed rows) or resend; empty for a cell execute."),
            col("rows_unchanged", Int64, N, "Rows skipped because the schedule delivered them before with this content (change-only runs)."),
            col("rows_new", Int64, N, "Rows sent because their key was not delivered by the schedule's last run (change-only runs)."),
            col("rows_changed", Int64, N, "Rows sent because their content changed since the schedule's last run (change-only runs)."),
            col("rows_unkeyed", Int64, N, "Rows sent without a key to remember them by (change-only runs)."),
            col("rows_repeated_key", Int64, N, "Rows sharing a key with an earlier row of the result: sent, and sent again next run (change-only runs)."),
            col("keys_gone", Int64, N, "Keys of the schedule's last run no longer in the result (nothing is deleted downstream); empty when the result was not read to its end."),
            col("change_base", Str, N, "What a change-only run compared with: the run id of the memory it used, or first_run, resend, key_changed, lease_broken."),
        ],
        partition_by_day: Some("started_at".into()),
        clustering: vec!["action".into(), "outcome".into()],
        key: vec!["run_id".into()],
    }
}

/// The rejected-rows table, described once.
pub fn rejected_rows_table() -> TableDef {
    use ColumnType::{Int64, String as Str, Timestamp};
    use Mode::{Nullable as N, Required as R};
    TableDef {
        name: REJECTED_ROWS_TABLE.into(),
        description: "Result rows an execute did not write or send, with the reason (the first 100 of each run; hub_runs counts them all).".into(),
        columns: vec![
            col("run_id", Str, R, "The run (hub_runs.run_id)."),
            col("action", Str, R, "The action's name."),
            col("row_index", Int64, R, "The row's position in the result (0-based)."),
            col("key_value", Str, N, "The row's identifying value, when known."),
            col("column_name", Str, N, "The column (or field) that could not be filled, when one is to blame."),
            col("reason", Str, R, "Why the row was rejected."),
            col("recorded_at", Timestamp, R, "When the run ended."),
        ],
        partition_by_day: Some("recorded_at".into()),
        clustering: vec!["run_id".into()],
        key: vec!["run_id".into(), "row_index".into()],
    }
}

/// Both ledger tables, runs first.
pub fn tables() -> Vec<Arc<TableDef>> {
    vec![Arc::new(runs_table()), Arc::new(rejected_rows_table())]
}

/// One run as the ledger records it (and the outcome event logs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The request id.
    pub run_id: String,
    /// The action's name.
    pub action: String,
    /// `cell` or `query`.
    pub kind: String,
    /// `user` or `service`.
    pub identity: String,
    /// `success`, `partial`, `failed`, `invalid`, `interrupted` or `refused`.
    pub outcome: String,
    /// When the execute arrived.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Milliseconds from arrival to the end.
    pub duration_ms: u64,
    /// Result rows read.
    pub rows_read: u64,
    /// Rows written or sent and confirmed.
    pub rows_delivered: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Rows handed over but not confirmed.
    pub rows_unconfirmed: u64,
    /// Bytes of the result rows read.
    pub bytes_read: u64,
    /// How many rejected rows are recorded.
    pub rejected_rows_recorded: u64,
    /// The first error's kind.
    pub error_kind: Option<String>,
    /// The message Looker got (not on success).
    pub error_message: Option<String>,
    /// `X-Looker-Instance`.
    pub looker_instance: Option<String>,
    /// `X-Looker-Webhook-Id`.
    pub webhook_id: Option<String>,
    /// The scheduled plan's id.
    pub scheduled_plan_id: Option<String>,
    /// The query's id.
    pub query_id: Option<String>,
    /// The named RudderStack source.
    pub rudder_source: Option<String>,
    /// The Cloud Trace id.
    pub trace_id: Option<String>,
    /// What a run that could send only changed rows chose and decided.
    pub changes: ChangeColumns,
}

/// What a query run that delivers rows chose and, sending only changed rows, decided: every
/// field empty for a cell execute; only `send_mode` for a run sending every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeColumns {
    /// `every`, `changed` or `resend`.
    pub send_mode: Option<String>,
    /// Rows skipped as delivered before with this content.
    pub rows_unchanged: Option<u64>,
    /// Rows sent with a key the last run did not deliver.
    pub rows_new: Option<u64>,
    /// Rows sent because their content changed.
    pub rows_changed: Option<u64>,
    /// Rows sent without a key.
    pub rows_unkeyed: Option<u64>,
    /// Rows sharing a key with an earlier row.
    pub rows_repeated_key: Option<u64>,
    /// Keys of the last run no longer in the result (`None`: unknown).
    pub keys_gone: Option<u64>,
    /// What the run compared with.
    pub change_base: Option<String>,
}

/// One rejected row of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The row's position in the result (0-based).
    pub row_index: u64,
    /// Its identifying value.
    pub key_value: Option<String>,
    /// The column to blame.
    pub column_name: Option<String>,
    /// Why.
    pub reason: String,
}

/// A count as an INT64 cell (counts never pass `i64::MAX`; one that would is capped).
fn count(n: u64) -> CellValue {
    CellValue::Int64(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A count that may not apply, as a NULLABLE INT64 cell.
fn maybe_count(n: Option<u64>) -> CellValue {
    n.map_or(CellValue::Null, count)
}

impl RunRecord {
    /// The run's row of [`runs_table`].
    pub fn row(&self, table: &TableDef) -> Result<Row, RowError> {
        super::table::row_of(
            table,
            vec![
                self.run_id.clone().into(),
                self.action.clone().into(),
                self.kind.clone().into(),
                self.identity.clone().into(),
                self.outcome.clone().into(),
                self.started_at.into(),
                self.finished_at.into(),
                count(self.duration_ms),
                count(self.rows_read),
                count(self.rows_delivered),
                count(self.rows_rejected),
                count(self.rows_unconfirmed),
                count(self.bytes_read),
                count(self.rejected_rows_recorded),
                self.error_kind.clone().into(),
                self.error_message.clone().into(),
                self.looker_instance.clone().into(),
                self.webhook_id.clone().into(),
                self.scheduled_plan_id.clone().into(),
                self.query_id.clone().into(),
                self.rudder_source.clone().into(),
                self.trace_id.clone().into(),
                self.changes.send_mode.clone().into(),
                maybe_count(self.changes.rows_unchanged),
                maybe_count(self.changes.rows_new),
                maybe_count(self.changes.rows_changed),
                maybe_count(self.changes.rows_unkeyed),
                maybe_count(self.changes.rows_repeated_key),
                maybe_count(self.changes.keys_gone),
                self.changes.change_base.clone().into(),
            ],
        )
    }
}

impl RejectedRow {
    /// The row of [`rejected_rows_table`] for this rejection of `run`.
    pub fn row(&self, table: &TableDef, run: &RunRecord) -> Result<Row, RowError> {
        super::table::row_of(
            table,
            vec![
                run.run_id.clone().into(),
                run.action.clone().into(),
                count(self.row_index),
                self.key_value.clone().into(),
                self.column_name.clone().into(),
                self.reason.clone().into(),
                run.finished_at.into(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_tables_are_valid_and_their_names_reserved() {
        for t in tables() {
            t.validate().unwrap();
        }
        assert!(is_ledger_table("hub_runs"));
        assert!(is_ledger_table("HUB_Rejected_Rows"));
        assert!(!is_ledger_table("suspicious_marks"));
    }
}
