//! `writeback_batch`: a query action that appends a whole Explore / Look result to the batch
//! write-back table, one row per result row, with the same classification / comment form as
//! `mark_suspicious`.
//!
//! The result (`json_detail` or `json_detail_lite_stream`, pushed or from `download_url`) is read as
//! a stream and written in bounded chunks, so memory stays flat whatever the result size. The answer
//! says how many rows were written; when anything fails part-way it is `success:false` with the
//! counts, never a silent partial write.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::mark_suspicious::TAG;
use super::writeback_form;
use super::{base_definition, svg_icon, Action, ActionContext, ActionError};
use crate::api::{value_as_text, ActionRequest, ExecuteResponse, Form, Integration};
use crate::rows::{cell_value, source_of, FieldCategory, ResultHeader, Row, RowStream};
use crate::sinks::{table, CellValue, Row as TableRow, SinkError, WriteCredential};

/// Action name.
pub const NAME: &str = "writeback_batch";
/// A chunk is also cut when its rows' JSON passes this many bytes (bounds memory per chunk).
const MAX_CHUNK_JSON_BYTES: usize = 4 * 1024 * 1024;

const ICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="6" y="8" width="40" height="8" rx="2" fill="#5f6368"/><rect x="6" y="22" width="40" height="8" rx="2" fill="#5f6368"/><rect x="6" y="36" width="40" height="8" rx="2" fill="#5f6368"/><path d="M46 30 60 44 46 58z" fill="#d93025"/></svg>"##;
static ICON: LazyLock<String> = LazyLock::new(|| svg_icon(ICON_SVG));

/// The `writeback_batch` query action.
pub struct WritebackBatch;

/// The field that identifies a row: the one tagged `mark-suspicious`, else the first dimension,
/// else the first field.
fn key_field(header: &ResultHeader) -> Option<&str> {
    header
        .field_with_tag(TAG)
        .or_else(|| {
            header
                .fields
                .iter()
                .find(|f| f.category == FieldCategory::Dimension)
        })
        .or_else(|| header.fields.first())
        .map(|f| f.name.as_str())
}

/// What every row of one execute shares.
struct Common {
    request_id: String,
    key_field: String,
    classification: String,
    comment: String,
    acted_by: Option<String>,
    scheduled_plan_id: Option<String>,
    query_id: Option<String>,
    ran_at: Option<String>,
    looker_instance: Option<String>,
    webhook_id: Option<String>,
    received_at: chrono::DateTime<chrono::Utc>,
}

impl Common {
    /// The table row of result row `index`, and the size of its JSON.
    fn row(&self, index: u64, row: &Row) -> Result<(TableRow, usize), SinkError> {
        // A map of JSON values always serializes.
        let row_json = serde_json::to_string(row).unwrap_or_else(|_| "{}".into());
        let json_len = row_json.len();
        let key_value = row
            .get(&self.key_field)
            .and_then(cell_value)
            .and_then(value_as_text);
        table::BATCH
            .row()
            .set("request_id", self.request_id.as_str())
            .and_then(|r| r.set("row_index", index as i64))
            .and_then(|r| r.set("key_field", self.key_field.as_str()))
            .and_then(|r| r.set("key_value", key_value))
            .and_then(|r| r.set("classification", self.classification.as_str()))
            .and_then(|r| r.set("comment", self.comment.as_str()))
            .and_then(|r| r.set("acted_by", self.acted_by.clone()))
            .and_then(|r| r.set("scheduled_plan_id", self.scheduled_plan_id.clone()))
            .and_then(|r| r.set("query_id", self.query_id.clone()))
            .and_then(|r| r.set("row_json", CellValue::Json(row_json)))
            .and_then(|r| r.set("ran_at", self.ran_at.clone()))
            .and_then(|r| r.set("looker_instance", self.looker_instance.clone()))
            .and_then(|r| r.set("webhook_id", self.webhook_id.clone()))
            .and_then(|r| r.set("action", NAME))
            .and_then(|r| r.set("received_at", self.received_at))
            .and_then(|r| r.build())
            .map(|r| (r, json_len))
            .map_err(|e| SinkError::Other(e.to_string()))
    }
}

fn id_text(v: &Option<crate::api::LookerId>) -> Option<String> {
    v.as_ref().map(|id| id.to_string())
}

fn rows_word(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

#[async_trait]
impl Action for WritebackBatch {
    fn name(&self) -> &str {
        NAME
    }

    fn definition(&self, ctx: &ActionContext<'_>) -> Integration {
        let mut def = base_definition(
            ctx,
            NAME,
            "Classify all rows (write-back)",
            "Classify every row of this result (Approved / Suspicious / Further Investigation) and record them in the batch write-back table.",
            true,
        );
        def.icon_data_uri = Some(ICON.clone());
        super::streaming_query(&mut def);
        writeback_form::finish_definition(ctx, &mut def);
        def
    }

    async fn form(
        &self,
        ctx: &ActionContext<'_>,
        req: &ActionRequest,
    ) -> Result<Form, ActionError> {
        Ok(writeback_form::gated_form(ctx, NAME, req, vec![]).await)
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        mut req: ActionRequest,
    ) -> Result<ExecuteResponse, ActionError> {
        let classified = match writeback_form::validate(&req, ctx.limits.max_comment_chars) {
            Ok(c) => c,
            Err(errors) => return Ok(ExecuteResponse::invalid(errors)),
        };
        let writer = match writeback_form::writer(ctx, NAME, &req).await {
            Ok(w) => w,
            Err(answer) => return Ok(answer),
        };
        let (cred, state, acted_by) = (writer.credential, writer.state, writer.acted_by);
        let mut resp = write_all(ctx, &mut req, classified, cred, acted_by).await;
        // A refreshed login goes back to Looker whether or not the write succeeded.
        resp.looker.state = state;
        Ok(resp)
    }
}

/// Stream the result into the batch table; the answer says how many rows were written.
async fn write_all(
    ctx: &ActionContext<'_>,
    req: &mut ActionRequest,
    classified: writeback_form::Classified,
    cred: WriteCredential,
    acted_by: Option<String>,
) -> ExecuteResponse {
    let Some(source) = source_of(req, ctx.http, ctx.limits.download_deadline) else {
        return ExecuteResponse::failure(
            "No query result was sent with this action. Send it as JSON (detailed) from an Explore, Look or schedule.",
        );
    };
    let mut stream = match RowStream::open(source).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(action = NAME, request_id = %ctx.meta.request_id, error = %e, "cannot read the query result");
            return ExecuteResponse::failure(format!("Nothing was written: {e}."));
        }
    };
    let Some(key) = key_field(stream.header()).map(str::to_string) else {
        return ExecuteResponse::failure("Nothing was written: the query result has no fields.");
    };
    let plan = req.scheduled_plan.as_ref();
    let common = Common {
        request_id: ctx.meta.request_id.clone(),
        key_field: key,
        classification: classified.classification.to_string(),
        comment: classified.comment,
        acted_by,
        scheduled_plan_id: plan.and_then(|p| id_text(&p.scheduled_plan_id)),
        query_id: plan.and_then(|p| id_text(&p.query_id)),
        ran_at: stream.header().ran_at.clone(),
        looker_instance: ctx.meta.looker_instance.clone(),
        webhook_id: ctx.meta.webhook_id.clone(),
        received_at: chrono::Utc::now(),
    };

    let chunk_rows = ctx.limits.writeback_batch_rows;
    let mut writer = match ctx.sink.writer(&table::BATCH, &cred).await {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(action = NAME, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), error = %e, "write-back failed");
            return ExecuteResponse::failure(format!(
                "Nothing was written. {}",
                e.user_message(&cred)
            ));
        }
    };
    let mut read: u64 = 0;
    let mut chunk: Vec<TableRow> = Vec::with_capacity(chunk_rows.min(4096));
    let mut chunk_bytes = 0usize;
    let mut read_error = None;
    let mut write_error = None;
    loop {
        let rows = match stream.next_chunk().await {
            None => break,
            Some(Ok(rows)) => rows,
            Some(Err(e)) => {
                read_error = Some(e);
                break;
            }
        };
        for row in rows {
            let (r, json_len) = match common.row(read, &row) {
                Ok(r) => r,
                Err(e) => {
                    write_error = Some(e);
                    break;
                }
            };
            read += 1;
            chunk_bytes += json_len;
            chunk.push(r);
            if chunk.len() >= chunk_rows || chunk_bytes >= MAX_CHUNK_JSON_BYTES {
                chunk_bytes = 0;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_rows.min(4096)));
                if let Err(e) = writer.write(full).await {
                    write_error = Some(e);
                    break;
                }
            }
        }
        if write_error.is_some() {
            break;
        }
    }
    if write_error.is_none() && !chunk.is_empty() {
        if let Err(e) = writer.write(std::mem::take(&mut chunk)).await {
            write_error = Some(e);
        }
    }
    let too_large = stream.rows_too_large();
    // Stop the download early when writing failed: dropping the stream cancels the parser.
    drop(stream);
    let skipped = if too_large > 0 {
        format!(
            " {too_large} {} over the {}-byte row limit {} skipped unread and not written.",
            rows_word(too_large),
            crate::rows::MAX_ROW_BYTES,
            if too_large == 1 { "was" } else { "were" }
        )
    } else {
        String::new()
    };
    let (written, finish_error) = writer.finish().await;
    let write_error = write_error.or(finish_error);

    let what = format!("{} as {}", rows_word(written), common.classification);
    match (write_error, read_error) {
        (None, None) => {
            tracing::info!(action = NAME, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), rows = written, "batch write-back done");
            let message = if written == 0 && too_large == 0 {
                "The query returned no rows; nothing was written.".to_string()
            } else {
                format!("Wrote {written} {what} to the write-back table.{skipped}")
            };
            // Rows not written are not a success, even if every other row was.
            let mut resp = if too_large == 0 {
                ExecuteResponse::success(message)
            } else {
                ExecuteResponse::failure(message)
            };
            resp.looker.refresh_query = written > 0;
            resp
        }
        (Some(e), _) => {
            tracing::error!(action = NAME, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), rows_read = read, rows_written = written, error = %e, "batch write-back failed part-way");
            ExecuteResponse::failure(format!(
                "Only {written} of the {read} {} read so far were confirmed written ({} not confirmed). {}",
                rows_word(read),
                read - written.min(read),
                e.user_message(&cred)
            ))
        }
        (None, Some(e)) => {
            tracing::error!(action = NAME, request_id = %ctx.meta.request_id, rows_written = written, error = %e, "query result could not be read completely");
            ExecuteResponse::failure(format!(
                "Wrote {written} {what}, but {e}; the remaining rows were not written.{skipped}"
            ))
        }
    }
}
