//! A declared action served by the hub: [`DeclaredAction`] implements [`Action`] over an
//! [`ActionContext`] from an [`ActionDef`]. Its table is a [`TableDef`] built once from the
//! model; cell actions write one row per click, query actions stream the result through the one
//! streaming engine ([`stream_rows`], constant memory), and a result value that does not convert
//! into its column is a counted, reported row rejection (never a NULL).

use std::sync::Arc;

use async_trait::async_trait;

use super::model::{ActionDef, Audit, ColumnSource, Identity, Kind, Piece, Template};
use super::{audit, form};
use crate::actions::run::ErrorKind;
use crate::actions::stream::{
    rows_word, stream_rows, Made, Rejected, RowIdentity, RowMaker, Started, StreamSpec,
};
use crate::actions::{Action, ActionContext, ActionError, ExecuteGate, FormGate};
use crate::api::{ActionRequest, ExecuteResponse, Form, Integration};
use crate::changes::mode::{self, SendMode};
use crate::rows::{FieldCategory, RawCell, RawRow, ResultHeader};
use crate::sinks::{CellValue, ColumnType, Row as TableRow, SinkError, TableDef, WriteCredential};

/// A write-back action declared in the actions file, with what its answers need prepared once:
/// its table and its form's static parts (the definition is prepared by the hub, once).
pub struct DeclaredAction {
    def: Arc<ActionDef>,
    table: Arc<TableDef>,
    form: form::FormTemplate,
}

/// Who a write-back acts as.
struct Writer {
    /// The identity of the write.
    credential: WriteCredential,
    /// The acting user's email: from the login, else from the user attribute.
    acted_by: Option<String>,
    /// A refreshed login to hand back to Looker, whether or not the write succeeds.
    state: Option<crate::api::ActionState>,
}

/// What every row of one execute shares.
struct Shared<'a> {
    action: &'a str,
    request_id: String,
    acted_by: Option<String>,
    looker_instance: Option<String>,
    webhook_id: Option<String>,
    received_at: chrono::DateTime<chrono::Utc>,
    answers: form::Answers,
}

/// The per-row values of a query execute.
struct QueryRow<'r> {
    index: u64,
    /// The row's cells as their JSON text (numbers as written).
    row: &'r RawRow<'r>,
    started: &'r Started,
    /// The whole row as a JSON column holds it (the table's `row_json`), when it has one.
    row_json: Option<String>,
}

impl<'r> QueryRow<'r> {
    /// A field's cell: `Ok(None)` when the row lacks it, `Err` when it is pivoted (a value per
    /// pivot column, which no one column holds).
    fn value_text(&self, field: &str) -> Result<Option<&'r str>, ()> {
        match self.row.get(field, 0).map(RawCell::parse) {
            None => Ok(None),
            Some(RawCell::Pivot(_)) => Err(()),
            Some(RawCell::Value(v) | RawCell::Other(v)) => Ok(Some(v)),
        }
    }

    /// The identifying field's value as text (a string unquoted, a number or boolean as
    /// written); none for null, a list, an object or a pivoted cell.
    fn key_value(&self) -> Option<String> {
        let v = self.value_text(&self.started.key_field).ok()??;
        match v.as_bytes().first()? {
            b'"' => serde_json::from_str(v).ok(),
            b'-' | b'0'..=b'9' | b't' | b'f' => Some(v.to_string()),
            _ => None,
        }
    }
}

/// Why pivoted fields cannot fill their columns.
fn pivoted(fields: &[&str]) -> String {
    match fields {
        [field] => format!(
            "{field} is pivoted (a value per pivot column); map a field that is not pivoted, or remove the pivot"
        ),
        _ => format!(
            "{} are pivoted (a value per pivot column); map fields that are not pivoted, or remove the pivot",
            fields.join(", ")
        ),
    }
}

/// A column that could not be filled (when one is to blame) and why.
type Unfilled = (Option<String>, String);

impl Shared<'_> {
    /// One row of `table`; `Err` says which column could not be filled and why.
    fn row(
        &self,
        def: &ActionDef,
        table: &TableDef,
        q: Option<&QueryRow<'_>>,
    ) -> Result<TableRow, Unfilled> {
        let mut values = Vec::with_capacity(table.columns.len());
        for (source, tc) in def.sources.iter().zip(&table.columns) {
            let v = match source {
                ColumnSource::Audit(a) => match a {
                    Audit::RequestId => CellValue::String(self.request_id.clone()),
                    Audit::ActedBy => self.acted_by.clone().into(),
                    Audit::LookerInstance => self.looker_instance.clone().into(),
                    Audit::WebhookId => self.webhook_id.clone().into(),
                    Audit::Action => CellValue::String(self.action.to_string()),
                    Audit::ReceivedAt => CellValue::Timestamp(self.received_at),
                    Audit::RowIndex => {
                        q.map_or(CellValue::Null, |q| CellValue::Int64(q.index as i64))
                    }
                    Audit::KeyField => q.map_or(CellValue::Null, |q| {
                        CellValue::String(q.started.key_field.clone())
                    }),
                    Audit::KeyValue => q.and_then(QueryRow::key_value).into(),
                    Audit::ScheduledPlanId => {
                        q.and_then(|q| q.started.scheduled_plan_id.clone()).into()
                    }
                    Audit::QueryId => q.and_then(|q| q.started.query_id.clone()).into(),
                    Audit::RanAt => q.and_then(|q| q.started.ran_at.clone()).into(),
                    Audit::RowJson => q
                        .and_then(|q| q.row_json.clone())
                        .map_or(CellValue::Null, CellValue::Json),
                },
                ColumnSource::Field(f) => self
                    .answers
                    .get(f)
                    .map_or(CellValue::Null, |a| a.cell.clone()),
                ColumnSource::Result { field, required } => {
                    // `{"value": v}`, or a bare value; an object without `value` is a pivoted
                    // measure (a value per pivot column), which no column holds.
                    let value = match q.map(|q| q.value_text(field)) {
                        Some(Err(())) => return Err((Some(tc.name.clone()), pivoted(&[field]))),
                        Some(Ok(v)) => v,
                        None => None,
                    }
                    .filter(|v| *v != "null");
                    // Numbers are converted from their text as written, exactly.
                    let converted = match value {
                        None if *required => {
                            return Err((
                                Some(tc.name.clone()),
                                format!("{field} has no value (column {} is required)", tc.name),
                            ))
                        }
                        None => Ok(CellValue::Null),
                        Some(v) => tc.ty.convert_json_text(v),
                    };
                    converted.map_err(|e| {
                        (Some(tc.name.clone()), format!("{field} → {}: {e}", tc.name))
                    })?
                }
            };
            values.push(v);
        }
        crate::sinks::table::row_of(table, values)
            .map_err(|e| (Some(e.column.clone()), e.to_string()))
    }
}

impl ActionDef {
    /// The definition Looker lists, for a hub at `public_url`. OAuth fields are the caller's
    /// (`oauth::apply_to_definition` for [`Identity::Hub`] / `User`).
    pub fn definition(&self, public_url: &str) -> Integration {
        let mut def = crate::actions::base_definition_at(
            public_url,
            &self.name,
            &self.label,
            &self.description,
            true,
        );
        def.icon_data_uri = self.icon_data_uri.clone();
        def.required_fields = self.required_fields.clone();
        def.params = self.params.clone();
        if self.kind == Kind::Query {
            // Streamed: a one-time download URL, fields before rows.
            crate::actions::streaming_query(&mut def);
        }
        def
    }
}

impl DeclaredAction {
    /// The action of a checked definition (its table and form template built once).
    pub fn new(def: ActionDef) -> DeclaredAction {
        let table = Arc::new(def.table.clone());
        let form = form::FormTemplate::new(&def);
        DeclaredAction {
            def: Arc::new(def),
            table,
            form,
        }
    }

    /// The table it writes.
    pub fn table(&self) -> &Arc<TableDef> {
        &self.table
    }

    /// Whether every write uses the hub's own identity without asking the gate: identity
    /// `service`, or identity `hub` on a hub that logs no users in.
    fn writes_as_service(&self, ctx: &ActionContext<'_>) -> bool {
        match self.def.identity {
            Identity::Service => true,
            Identity::Hub => !ctx.users_log_in,
            Identity::User => false,
        }
    }

    /// Who writes: the hub's own identity (identity `service`, or `hub` on a hub that logs no
    /// users in), or the gate's answer (the login of the Looker user, or the hub's identity) —
    /// else the answer telling the user to log in. The acting user is the login's email, else
    /// Looker's user attribute.
    async fn writer(
        &self,
        ctx: &ActionContext<'_>,
        req: &ActionRequest,
    ) -> Result<Writer, ExecuteResponse> {
        if self.writes_as_service(ctx) {
            return Ok(Writer {
                credential: WriteCredential::Service,
                acted_by: req.acting_user(),
                state: None,
            });
        }
        match ctx.gate.execute_gate(&self.def.name, req).await {
            ExecuteGate::Proceed {
                credential,
                email,
                state,
            } => {
                if matches!(credential, WriteCredential::User { .. }) {
                    ctx.run.acts_as_user();
                }
                Ok(Writer {
                    credential,
                    acted_by: email.or_else(|| req.acting_user()),
                    state,
                })
            }
            ExecuteGate::Answer(resp) => {
                // A login is needed (or the provider is unavailable): nothing was attempted.
                ctx.run.refuse(ErrorKind::Auth);
                Err(resp)
            }
        }
    }

    fn message(&self, answers: &form::Answers, key: Option<&str>, count: u64) -> String {
        render(&self.def.success_message, answers, key, count)
    }

    /// What was done with `count` rows when the result could not be read completely: the success
    /// message up to its last placeholder ("Wrote {count} {rows} as {classification}" of
    /// "Wrote {count} {rows} as {classification} to the write-back table."), so the partial answer
    /// reads like the success one; "Wrote 3 rows" when that part would not say the count.
    pub(crate) fn partial(&self, answers: &form::Answers, count: u64) -> String {
        let pieces = &self.def.success_message.0;
        let end = pieces
            .iter()
            .rposition(|p| matches!(p, Piece::Placeholder(_)))
            .map_or(0, |i| i + 1);
        let head = Template(pieces[..end].to_vec());
        if head.placeholders().any(|p| p == "count") {
            render(&head, answers, None, count)
        } else {
            format!("Wrote {count} {}", rows_word(count))
        }
    }
}

/// Which rows a query execute writes, as its form answered (a cell execute writes its one row);
/// `Err` is the problem with the answer.
fn send_mode(kind: Kind, req: &ActionRequest) -> Result<SendMode, String> {
    match (kind, req.form_text(mode::FIELD)) {
        (Kind::Cell, _) => Ok(SendMode::Every),
        (Kind::Query, None) => SendMode::parse(None),
        (Kind::Query, Some(Ok(answer))) => SendMode::parse(Some(&answer)),
        (Kind::Query, Some(Err(problem))) => Err(problem),
    }
}

/// A message template filled for one execute.
fn render(t: &Template, answers: &form::Answers, key: Option<&str>, count: u64) -> String {
    t.render(|p| match p {
        "count" => Some(count.to_string()),
        "rows" => Some(rows_word(count).to_string()),
        "key" => key.map(str::to_string),
        _ => answers.get(p).map(|a| a.value.display()),
    })
}

struct DeclaredRows<'a> {
    action: &'a DeclaredAction,
    shared: Shared<'a>,
    started: Started,
    /// Whether the table has a `row_json` column (the whole row is then made into JSON).
    row_json: bool,
}

impl RowMaker for DeclaredRows<'_> {
    /// Mapped result fields the result cannot fill: a pivoted one, or an absent one for a
    /// required column, stops the execute before anything is written; an absent one for an
    /// optional column is named in the answer (its column is empty).
    fn check(&self, header: &ResultHeader) -> Result<String, String> {
        let mut pivoted_fields: Vec<&str> = vec![];
        let mut problems: Vec<String> = vec![];
        let mut empty: Vec<String> = vec![];
        for (c, source) in self.action.def.columns() {
            let ColumnSource::Result { field, required } = source else {
                continue;
            };
            let meta = header.fields.iter().find(|f| &f.name == field);
            let is_pivoted = header.pivots.iter().any(|p| &p.name == field)
                || (!header.pivots.is_empty()
                    && meta.is_some_and(|f| f.category == FieldCategory::Measure));
            let problem = if is_pivoted {
                if !pivoted_fields.contains(&field.as_str()) {
                    pivoted_fields.push(field);
                }
                continue;
            } else if meta.is_some() || header.fields.is_empty() {
                // Present, or a result that lists no fields at all (nothing to tell from: each
                // row says for itself).
                continue;
            } else if *required {
                format!(
                    "the result has no field {field} (column {} is required)",
                    c.name
                )
            } else {
                empty.push(format!(
                    "the result has no field {field}, so column {} is empty",
                    c.name
                ));
                continue;
            };
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        if !pivoted_fields.is_empty() {
            problems.insert(0, pivoted(&pivoted_fields));
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(match empty.join("; ") {
            e if e.is_empty() => e,
            // A sentence of its own after the success message: "… The result has no field …".
            e => format!(" {}{}.", e[..1].to_uppercase(), &e[1..]),
        })
    }

    fn identity(&self) -> RowIdentity {
        row_identity(&self.action.def)
    }

    fn row(&mut self, index: u64, row: &RawRow<'_>, text: &[u8]) -> Result<Made, SinkError> {
        let key = || {
            QueryRow {
                index,
                row,
                started: &self.started,
                row_json: None,
            }
            .key_value()
        };
        let reject = |column: Option<String>, why: String| {
            Ok(Made::Rejected(Rejected {
                key: key(),
                column,
                why,
            }))
        };
        let (row_json, json_problem) = match self.row_json.then(|| row_json(text)) {
            Some(Ok(json)) => (Some(json), None),
            // The row is rejected below whatever its other columns hold: the empty text is only
            // a stand-in so they are checked, and is never written.
            Some(Err(why)) => (Some(String::new()), Some(why)),
            None => (None, None),
        };
        let len = row_json.as_ref().map_or(text.len(), String::len);
        let q = QueryRow {
            index,
            row,
            started: &self.started,
            row_json,
        };
        // A column's own problem is named first: it says which value to fix.
        match (
            self.shared
                .row(&self.action.def, &self.action.table, Some(&q)),
            json_problem,
        ) {
            (Err((column, why)), _) => reject(column, why),
            (Ok(_), Some(why)) => reject(Some("row_json".into()), why),
            (Ok(r), None) => Ok(Made::Row(r, len)),
        }
    }
}

/// What identifies a row of a query action's table and makes its content: the key is the key
/// field's value as the `key_value` column holds it; the content is every cell the result or the
/// form fills (a schedule whose answer changed writes its rows again) and the audit cells holding
/// the row itself, never the execute's own values (its id, time, user, schedule).
fn row_identity(def: &ActionDef) -> RowIdentity {
    let mut identity = RowIdentity {
        key: None,
        content: vec![],
        fields: vec![],
    };
    for (i, (column, source)) in def.columns().enumerate() {
        let content = match source {
            ColumnSource::Audit(a) => {
                if *a == Audit::KeyValue {
                    identity.key = Some(i);
                }
                audit::is_row_content(*a)
            }
            ColumnSource::Field(_) => true,
            ColumnSource::Result { .. } => {
                identity.fields.push(column.name.clone());
                true
            }
        };
        if content {
            identity.content.push(i);
        }
    }
    identity
}

/// A result row's text as its `row_json` column holds it: compact JSON, numbers as JSON columns
/// keep them (64-bit integers or doubles); a number beyond a double does not fit.
fn row_json(text: &[u8]) -> Result<String, String> {
    let text =
        std::str::from_utf8(text).map_err(|_| "row_json: the row is not UTF-8".to_string())?;
    match ColumnType::Json.convert_json_text(text) {
        Ok(CellValue::Json(json)) => Ok(json),
        Ok(_) => Err("row_json: the row is not a JSON object".into()),
        Err(e) => Err(format!("row_json: {e}")),
    }
}

impl DeclaredAction {
    /// A cell execute: one row appended, the success message, or the sink's failure.
    async fn write_cell(
        &self,
        ctx: &ActionContext<'_>,
        shared: Shared<'_>,
        cred: &WriteCredential,
    ) -> ExecuteResponse {
        let def = &*self.def;
        let key = def
            .key_field
            .as_deref()
            .and_then(|k| shared.answers.get(k))
            .map(|a| a.value.display());
        let done = self.message(&shared.answers, key.as_deref(), 1);
        let written = match shared.row(def, &self.table, None) {
            Ok(row) => ctx
                .sink
                .append(&self.table, std::slice::from_ref(&row), cred)
                .await
                .map(|_| ()),
            Err((_, e)) => Err(SinkError::Other(e)),
        };
        match written {
            Ok(()) => {
                ctx.run.delivered(1);
                tracing::info!(action = %def.name, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), "write-back row appended");
                let mut resp = ExecuteResponse::success(done);
                resp.looker.refresh_query = def.refresh_query;
                resp
            }
            Err(e) => {
                tracing::error!(action = %def.name, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), error = %e, "write-back failed");
                ctx.run.fail(ErrorKind::Sink);
                ExecuteResponse::failure(e.user_message(cred))
            }
        }
    }

    /// A query execute: the result streamed into the table in bounded chunks.
    async fn write_result(
        &self,
        ctx: &ActionContext<'_>,
        req: &mut ActionRequest,
        shared: Shared<'_>,
        cred: WriteCredential,
        mode: SendMode,
    ) -> ExecuteResponse {
        let def = &*self.def;
        let answers = shared.answers.clone();
        let partial = |n: u64| self.partial(&answers, n);
        let done = |n: u64| self.message(&answers, None, n);
        let spec = StreamSpec {
            action: &def.name,
            table: &self.table,
            key_tag: def.key_tag.as_deref().unwrap_or(""),
            partial: &partial,
            done: &done,
            mode,
        };
        let row_json = def
            .sources
            .iter()
            .any(|s| matches!(s, ColumnSource::Audit(Audit::RowJson)));
        let mut resp = stream_rows(ctx, req, cred, spec, |started| DeclaredRows {
            action: self,
            shared,
            started,
            row_json,
        })
        .await;
        if !def.refresh_query {
            resp.looker.refresh_query = false;
        }
        resp
    }
}

#[async_trait]
impl Action for DeclaredAction {
    fn name(&self) -> &str {
        &self.def.name
    }

    fn tables(&self) -> Vec<Arc<TableDef>> {
        vec![self.table.clone()]
    }

    fn definition(&self, ctx: &ActionContext<'_>) -> Integration {
        let mut def = self.def.definition(ctx.public_url);
        if self.def.identity != Identity::Service {
            ctx.gate.apply_to_definition(&mut def);
        }
        def
    }

    async fn form(
        &self,
        ctx: &ActionContext<'_>,
        req: &ActionRequest,
    ) -> Result<Form, ActionError> {
        let state = if self.writes_as_service(ctx) {
            None
        } else {
            match ctx.gate.form_gate(&self.def.name, req).await {
                FormGate::Proceed { state } => state,
                FormGate::Answer(form) => return Ok(form),
            }
        };
        let mut fields = self.form.fields(req, chrono::Utc::now().date_naive());
        if self.def.kind == Kind::Query && ctx.changes.is_some() {
            // Which rows to send: offered when the hub keeps a memory of what schedules sent.
            fields.push(mode::form_field());
        }
        Ok(Form {
            fields,
            state,
            ..Default::default()
        })
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        mut req: ActionRequest,
    ) -> Result<ExecuteResponse, ActionError> {
        let def = &*self.def;
        let answers = form::validate(
            def,
            &req,
            ctx.limits.max_comment_chars,
            chrono::Utc::now().date_naive(),
        );
        let (answers, mode) = match (answers, send_mode(def.kind, &req)) {
            (Ok(a), Ok(mode)) => (a, mode),
            (answers, mode) => {
                let mut errors = answers.err().unwrap_or_default();
                if let Err(problem) = mode {
                    errors.insert(mode::FIELD.to_string(), problem);
                }
                return Ok(ExecuteResponse::invalid(errors));
            }
        };
        let writer = match self.writer(ctx, &req).await {
            Ok(w) => w,
            Err(answer) => return Ok(answer),
        };
        let (cred, state) = (writer.credential, writer.state);
        let shared = Shared {
            action: &def.name,
            request_id: ctx.meta.request_id.clone(),
            acted_by: writer.acted_by,
            looker_instance: ctx.meta.looker_instance.clone(),
            webhook_id: ctx.meta.webhook_id.clone(),
            received_at: chrono::Utc::now(),
            answers,
        };
        let mut resp = match def.kind {
            Kind::Cell => self.write_cell(ctx, shared, &cred).await,
            Kind::Query => self.write_result(ctx, &mut req, shared, cred, mode).await,
        };
        // A refreshed login goes back to Looker whether or not the write succeeded.
        resp.looker.state = state;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_row_is_its_key_value_and_its_content_is_the_answers_and_the_row() {
        let batch = crate::declared::builtin::catalog()
            .actions
            .into_iter()
            .find(|a| a.name == "writeback_batch")
            .unwrap();
        let identity = row_identity(&batch);
        let name = |i: usize| batch.table.columns[i].name.as_str();
        assert_eq!(identity.key.map(name), Some("key_value"));
        let content: Vec<&str> = identity.content.iter().map(|&i| name(i)).collect();
        assert_eq!(
            content,
            ["key_value", "classification", "comment", "row_json"]
        );
        assert!(identity.fields.is_empty());
    }
}
