//! How an execute ended, told once: when its work is done (not when the headers go out) the hub
//! reads the run's tally (`crate::actions::run`) and the answer, decides the outcome, names the
//! run in Looker's message of a failed, partial or interrupted execute, writes the one outcome
//! event (`event = "execute_outcome"`, a Cloud Logging JSON line in the request's trace) and
//! hands the run to the ledger (`crate::sinks::ledger`), which never changes the answer.
//!
//! Outcomes, first match wins:
//! - `success`: the answer is `success:true`;
//! - `refused`: turned away before any work — the instance was busy (query-execute slots, memory
//!   budget), a query execute arrived too late in a shutdown, or the user must log in;
//! - `interrupted`: the shutdown or the execute's time limit cut it short;
//! - `invalid`: the request cannot be acted on as sent (form validation errors, a malformed or
//!   too large body, no query result, a result without the fields the action needs);
//! - `partial`: some rows were delivered, not all;
//! - `failed`: nothing was delivered.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::actions::run::{ChangeTally, ErrorKind, RunCounts, RunTally};
use crate::api::{ActionRequest, ExecuteResponse};
use crate::error::HubError;
use crate::lifecycle::Cut;
use crate::meta::RequestMeta;
use crate::sinks::ledger::{ChangeColumns, RejectedRow, RunRecord};

/// How one execute ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was done.
    Success,
    /// Some rows were delivered, not all.
    Partial,
    /// Nothing was delivered.
    Failed,
    /// The request cannot be acted on as sent.
    Invalid,
    /// The shutdown or the time limit cut it short.
    Interrupted,
    /// Turned away before any work.
    Refused,
}

impl Outcome {
    /// The word logged and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Invalid => "invalid",
            Outcome::Interrupted => "interrupted",
            Outcome::Refused => "refused",
        }
    }

    /// Whether Looker's message names the run (a person will want to find what happened).
    fn names_the_run(self) -> bool {
        matches!(
            self,
            Outcome::Partial | Outcome::Failed | Outcome::Interrupted
        )
    }
}

/// The outcome of an answer and a tally, and the first error's kind.
pub fn classify(
    answer: &Result<ExecuteResponse, HubError>,
    counts: &RunCounts,
    cut: Option<Cut>,
) -> (Outcome, Option<ErrorKind>) {
    let reported = counts.error;
    let cut_kind = cut.map(|c| match c {
        Cut::Shutdown => ErrorKind::Shutdown,
        Cut::Deadline => ErrorKind::Deadline,
    });
    match answer {
        Ok(resp) if resp.looker.success => (Outcome::Success, None),
        Err(HubError::Busy(_)) => (Outcome::Refused, Some(ErrorKind::Capacity)),
        _ if counts.refused => (Outcome::Refused, reported),
        _ if cut_kind.is_some() => (Outcome::Interrupted, cut_kind),
        Err(HubError::BadRequest(_) | HubError::PayloadTooLarge(_)) => {
            (Outcome::Invalid, Some(ErrorKind::Request))
        }
        Err(HubError::Unauthorized(_)) => (Outcome::Refused, Some(ErrorKind::Auth)),
        Err(_) if counts.rows_delivered > 0 => (Outcome::Partial, Some(ErrorKind::Internal)),
        Err(_) => (Outcome::Failed, Some(ErrorKind::Internal)),
        Ok(resp) if !resp.looker.validation_errors.is_empty() => {
            (Outcome::Invalid, Some(ErrorKind::Validation))
        }
        Ok(_) if reported == Some(ErrorKind::Request) => (Outcome::Invalid, reported),
        Ok(_) if counts.rows_delivered > 0 => {
            (Outcome::Partial, reported.or(Some(ErrorKind::Action)))
        }
        Ok(_) => (Outcome::Failed, reported.or(Some(ErrorKind::Action))),
    }
}

/// What is known of an execute when it starts.
pub(super) struct RunStart {
    /// The action's name.
    pub action: String,
    /// Whether it reads a query result.
    pub query: bool,
    /// Looker's headers.
    pub meta: RequestMeta,
    /// The scheduled plan's and query's ids.
    pub scheduled_plan_id: Option<String>,
    pub query_id: Option<String>,
    /// When it arrived.
    pub started_at: DateTime<Utc>,
    pub arrived: std::time::Instant,
    /// What its engines count.
    pub tally: Arc<RunTally>,
    /// The request's log span (the outcome event carries its trace).
    pub span: tracing::Span,
}

impl RunStart {
    /// A run of `action` arriving now, for `meta` (in the current span: the request's).
    pub fn new(action: &str, meta: &RequestMeta) -> Self {
        RunStart {
            action: action.to_string(),
            query: false,
            meta: meta.clone(),
            scheduled_plan_id: None,
            query_id: None,
            started_at: Utc::now(),
            arrived: std::time::Instant::now(),
            tally: Arc::new(RunTally::new()),
            span: tracing::Span::current(),
        }
    }

    /// What the parsed request says: whether it reads a query result, the plan's ids.
    pub fn of_request(&mut self, query: bool, req: &ActionRequest) {
        let plan = req.scheduled_plan.as_ref();
        self.query = query;
        self.scheduled_plan_id = plan
            .and_then(|p| p.scheduled_plan_id.as_ref())
            .map(|id| id.to_string());
        self.query_id = plan
            .and_then(|p| p.query_id.as_ref())
            .map(|id| id.to_string());
    }

    /// The end of the run: the final answer (the run named in a failure's message), the outcome
    /// event logged, the run handed to the ledger (when on).
    pub fn finish(
        self,
        ledger: Option<&crate::sinks::ledger::writer::Ledger>,
        answer: Result<ExecuteResponse, HubError>,
        cut: Option<Cut>,
    ) -> Result<ExecuteResponse, HubError> {
        let counts = self.tally.counts();
        let (outcome, kind) = classify(&answer, &counts, cut);
        let answer = if outcome.names_the_run() {
            name_the_run(answer, &self.meta.request_id)
        } else {
            answer
        };
        let message = match &answer {
            Ok(resp) if resp.looker.success => None,
            Ok(resp) => Some(resp.message().unwrap_or_default().to_string()),
            Err(e) => Some(e.looker_message()),
        };
        let record = self.record(outcome, kind, message, &counts);
        self.span.in_scope(|| log_outcome(&record));
        if let Some(ledger) = ledger {
            let rejected = counts
                .rejections
                .into_iter()
                .map(|r| RejectedRow {
                    row_index: r.row_index,
                    key_value: r.key,
                    column_name: r.column,
                    reason: r.reason,
                })
                .collect();
            ledger.record(record, rejected);
        }
        answer
    }

    fn record(
        &self,
        outcome: Outcome,
        kind: Option<ErrorKind>,
        message: Option<String>,
        counts: &RunCounts,
    ) -> RunRecord {
        let m = &self.meta;
        RunRecord {
            run_id: m.request_id.clone(),
            action: self.action.clone(),
            kind: if self.query { "query" } else { "cell" }.into(),
            identity: counts
                .identity
                .unwrap_or(crate::actions::run::RunIdentity::Service)
                .as_str()
                .into(),
            outcome: outcome.as_str().into(),
            started_at: self.started_at,
            finished_at: Utc::now(),
            duration_ms: u64::try_from(self.arrived.elapsed().as_millis()).unwrap_or(u64::MAX),
            rows_read: counts.rows_read,
            rows_delivered: counts.rows_delivered,
            rows_rejected: counts.rows_rejected,
            rows_unconfirmed: counts.rows_unconfirmed,
            bytes_read: counts.bytes_read,
            rejected_rows_recorded: counts.rejections.len() as u64,
            error_kind: kind.map(|k| k.as_str().to_string()),
            error_message: message,
            looker_instance: m.looker_instance.clone(),
            webhook_id: m.webhook_id.clone(),
            scheduled_plan_id: self.scheduled_plan_id.clone(),
            query_id: self.query_id.clone(),
            rudder_source: counts.rudder_source.clone(),
            trace_id: m.trace_id.clone(),
            changes: change_columns(counts),
        }
    }
}

/// The change-only columns of a run's record.
fn change_columns(counts: &RunCounts) -> ChangeColumns {
    let decided = counts.changes.as_ref();
    let count = |pick: fn(&ChangeTally) -> u64| decided.map(pick);
    ChangeColumns {
        send_mode: counts.send_mode.map(|m| m.as_str().to_string()),
        rows_unchanged: count(|c| c.decisions.unchanged),
        rows_new: count(|c| c.decisions.new),
        rows_changed: count(|c| c.decisions.changed),
        rows_unkeyed: count(|c| c.decisions.unkeyed),
        rows_repeated_key: count(|c| c.decisions.repeated),
        keys_gone: decided.and_then(|c| c.keys_gone),
        change_base: decided.map(|c| c.base.clone()),
    }
}

/// The answer with its message naming the run: "… (run 3f2a…)".
fn name_the_run(
    answer: Result<ExecuteResponse, HubError>,
    run_id: &str,
) -> Result<ExecuteResponse, HubError> {
    let named = |m: &str| format!("{m} (run {run_id})");
    match answer {
        Ok(mut resp) => {
            let m = resp.looker.message.take().unwrap_or_default();
            resp.looker.message = Some(named(m.trim_end()));
            Ok(resp)
        }
        Err(HubError::Internal(m)) => Err(HubError::Internal(named(&m))),
        other => other,
    }
}

/// The outcome event: one JSON line, at INFO for a success, WARNING for partial / invalid /
/// refused, ERROR for failed / interrupted.
fn log_outcome(r: &RunRecord) {
    macro_rules! outcome_event {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = "execute_outcome",
                run_id = %r.run_id,
                action = %r.action,
                kind = %r.kind,
                identity = %r.identity,
                looker_instance = r.looker_instance.as_deref(),
                webhook_id = r.webhook_id.as_deref(),
                scheduled_plan_id = r.scheduled_plan_id.as_deref(),
                query_id = r.query_id.as_deref(),
                rudder_source = r.rudder_source.as_deref(),
                outcome = %r.outcome,
                rows_read = r.rows_read,
                rows_delivered = r.rows_delivered,
                rows_rejected = r.rows_rejected,
                rows_unconfirmed = r.rows_unconfirmed,
                bytes_read = r.bytes_read,
                duration_ms = r.duration_ms,
                error_kind = r.error_kind.as_deref(),
                error_message = r.error_message.as_deref(),
                send_mode = r.changes.send_mode.as_deref(),
                rows_unchanged = r.changes.rows_unchanged,
                rows_new = r.changes.rows_new,
                rows_changed = r.changes.rows_changed,
                keys_gone = r.changes.keys_gone,
                change_base = r.changes.change_base.as_deref(),
                "execute finished"
            )
        };
    }
    match r.outcome.as_str() {
        "success" => outcome_event!(tracing::Level::INFO),
        "failed" | "interrupted" => outcome_event!(tracing::Level::ERROR),
        _ => outcome_event!(tracing::Level::WARN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(delivered: u64, error: Option<ErrorKind>) -> RunCounts {
        RunCounts {
            rows_delivered: delivered,
            error,
            ..RunCounts::default()
        }
    }

    #[test]
    fn outcomes_follow_the_answer_the_tally_and_the_cut() {
        let ok = Ok(ExecuteResponse::success("done"));
        let no = Ok(ExecuteResponse::failure("no"));
        let c = |a: &Result<ExecuteResponse, HubError>, n: RunCounts, cut| classify(a, &n, cut);
        assert_eq!(c(&ok, counts(0, None), None), (Outcome::Success, None));
        // A success stays one even when the shutdown asked to wind up.
        assert_eq!(
            c(&ok, counts(3, None), Some(Cut::Shutdown)),
            (Outcome::Success, None)
        );
        assert_eq!(
            c(&no, counts(2, Some(ErrorKind::Sink)), None),
            (Outcome::Partial, Some(ErrorKind::Sink))
        );
        assert_eq!(
            c(&no, counts(0, None), None),
            (Outcome::Failed, Some(ErrorKind::Action))
        );
        assert_eq!(
            c(
                &no,
                counts(5, Some(ErrorKind::Download)),
                Some(Cut::Deadline)
            ),
            (Outcome::Interrupted, Some(ErrorKind::Deadline))
        );
        assert_eq!(
            c(&no, counts(0, Some(ErrorKind::Request)), None),
            (Outcome::Invalid, Some(ErrorKind::Request))
        );
        let invalid = Ok(ExecuteResponse::invalid(
            [("reason".to_string(), "is required".to_string())].into(),
        ));
        assert_eq!(
            c(&invalid, counts(0, None), None),
            (Outcome::Invalid, Some(ErrorKind::Validation))
        );
        let busy = Err(HubError::Busy("later".into()));
        assert_eq!(
            c(&busy, counts(0, None), Some(Cut::Shutdown)),
            (Outcome::Refused, Some(ErrorKind::Capacity))
        );
        let login = RunCounts {
            refused: true,
            error: Some(ErrorKind::Auth),
            ..RunCounts::default()
        };
        assert_eq!(
            c(&no, login, None),
            (Outcome::Refused, Some(ErrorKind::Auth))
        );
        let bad = Err(HubError::BadRequest("malformed".into()));
        assert_eq!(
            c(&bad, counts(0, None), None),
            (Outcome::Invalid, Some(ErrorKind::Request))
        );
    }

    #[test]
    fn a_failure_names_its_run_and_a_success_does_not_change() {
        let named = name_the_run(Ok(ExecuteResponse::failure("Nothing was written.")), "r-1");
        assert_eq!(
            named.unwrap().message(),
            Some("Nothing was written. (run r-1)")
        );
        let crash = name_the_run(Err(HubError::Internal("the action crashed".into())), "r-2");
        assert_eq!(
            crash.unwrap_err().looker_message(),
            "internal error: the action crashed (run r-2)."
        );
    }
}
