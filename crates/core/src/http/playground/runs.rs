//! The playground's "Runs" panel: the last runs of the embedded store's run ledger and the rows
//! one run rejected (`crate::sinks::ledger::read`), as JSON for the page, which shows every text
//! as text (a run's message may quote what a user typed). Bounded: the last [`LAST_RUNS`] runs,
//! at most [`REJECTED_ROWS_SHOWN`] rejected rows of a run, texts cut at [`MAX_TEXT_CHARS`].

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::super::{authorize, json_response};
use crate::error::HubError;
use crate::hub::Hub;
use crate::sinks::ledger::read::{LedgerReader, ReadError, Which};
use crate::sinks::ledger::{RejectedRow, RunRecord, MAX_REJECTED_ROWS_PER_RUN};

/// Runs listed.
pub const LAST_RUNS: usize = 50;
/// Rejected rows shown for one run (the ledger keeps no more than this per run).
pub const REJECTED_ROWS_SHOWN: usize = MAX_REJECTED_ROWS_PER_RUN;
/// Longest text shown (a message, a reason, a key).
const MAX_TEXT_CHARS: usize = 2000;

/// Register the panel's two routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/playground/runs", web::get().to(last_runs))
        .route("/playground/runs/{run_id}", web::get().to(one_run));
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

fn cut_opt(s: &Option<String>) -> Value {
    s.as_deref().map_or(Value::Null, |s| Value::String(cut(s)))
}

/// A run as the page shows it.
fn run_json(r: &RunRecord) -> Value {
    json!({
        "run_id": r.run_id,
        "action": r.action,
        "kind": r.kind,
        "identity": r.identity,
        "outcome": r.outcome,
        "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "finished_at": r.finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "duration_ms": r.duration_ms,
        "rows_read": r.rows_read,
        "rows_delivered": r.rows_delivered,
        "rows_rejected": r.rows_rejected,
        "rows_unconfirmed": r.rows_unconfirmed,
        "rejected_rows_recorded": r.rejected_rows_recorded,
        "error_kind": r.error_kind,
        "error_message": cut_opt(&r.error_message),
        "webhook_id": cut_opt(&r.webhook_id),
        "send_mode": r.changes.send_mode,
        "rows_unchanged": r.changes.rows_unchanged,
        "rows_new": r.changes.rows_new,
        "rows_changed": r.changes.rows_changed,
    })
}

fn rejected_json(r: &RejectedRow) -> Value {
    json!({
        "row_index": r.row_index,
        "key_value": cut_opt(&r.key_value),
        "column_name": cut_opt(&r.column_name),
        "reason": cut(&r.reason),
    })
}

/// Why there is nothing to list, when the embedded store has no ledger to read.
fn no_ledger(hub: &Hub) -> Option<&'static str> {
    if hub.settings.gcp.bigquery.is_some() {
        Some("the run ledger is in BigQuery: query hub_runs and hub_rejected_rows there")
    } else if !hub.settings.run_ledger {
        Some("the run ledger is off (HUB_RUN_LEDGER=false)")
    } else {
        None
    }
}

/// Read the ledger off the request's thread; no store or no ledger table yet is no runs.
async fn read<T: Send + 'static>(
    hub: &Hub,
    f: impl FnOnce(&LedgerReader) -> Result<T, ReadError> + Send + 'static,
) -> Result<Option<T>, HubError> {
    let path: PathBuf = hub.settings.store_path.clone();
    let read = tokio::task::spawn_blocking(move || match LedgerReader::open(&path) {
        Ok(reader) => f(&reader).map(Some),
        Err(ReadError::NoStore(_) | ReadError::NoLedger(_)) => Ok(None),
        Err(e) => Err(e),
    })
    .await;
    match read {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(HubError::Internal(format!(
            "cannot read the run ledger: {e}"
        ))),
        Err(_) => Err(HubError::Internal("the run ledger read failed".into())),
    }
}

fn error(err: HubError) -> HttpResponse {
    json_response(
        super::super::status_of(&err),
        &json!({"error": err.to_string()}),
    )
}

/// The last runs, newest first (the page's hub token required).
async fn last_runs(hub: web::Data<Hub>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = authorize(&hub, &req) {
        return error(e);
    }
    if let Some(note) = no_ledger(&hub) {
        return json_response(StatusCode::OK, &json!({"runs": [], "note": note}));
    }
    match read(&hub, |r| r.last_runs(Which::All, LAST_RUNS)).await {
        Ok(runs) => {
            let runs: Vec<Value> = runs.unwrap_or_default().iter().map(run_json).collect();
            json_response(StatusCode::OK, &json!({"runs": runs, "limit": LAST_RUNS}))
        }
        Err(e) => error(e),
    }
}

/// One run and the rows it rejected (the page's hub token required).
async fn one_run(hub: web::Data<Hub>, run_id: web::Path<String>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = authorize(&hub, &req) {
        return error(e);
    }
    if let Some(note) = no_ledger(&hub) {
        return json_response(StatusCode::NOT_FOUND, &json!({"error": note}));
    }
    let id = run_id.into_inner();
    let wanted = id.clone();
    let found = read(&hub, move |r| match r.run(&wanted)? {
        Some(run) => Ok(Some((run, r.rejected_rows(&wanted)?))),
        None => Ok(None),
    })
    .await;
    match found {
        Ok(Some(Some((run, mut rejected)))) => {
            rejected.truncate(REJECTED_ROWS_SHOWN);
            let rows: Vec<Value> = rejected.iter().map(rejected_json).collect();
            json_response(
                StatusCode::OK,
                &json!({"run": run_json(&run), "rejected_rows": rows}),
            )
        }
        Ok(_) => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no run {} in the run ledger", cut(&id))}),
        ),
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character() {
        let long = "é".repeat(MAX_TEXT_CHARS + 5);
        let shown = cut(&long);
        assert_eq!(shown.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(shown.ends_with("é…"));
        assert_eq!(cut("short"), "short");
    }
}
