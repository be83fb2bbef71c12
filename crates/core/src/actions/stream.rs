//! The streaming write-back engine every query action shares: a query result (`json_detail` or
//! `json_detail_lite_stream`, pushed or from `download_url`) is read as a stream and written to a
//! table in bounded chunks, so memory stays flat whatever the result size. The answer says how
//! many rows were written, rejected and skipped; when anything fails part-way it is
//! `success:false` with the counts, never a silent partial write.
//!
//! On a schedule whose form asks for only new or changed rows, each made row is decided against
//! the schedule's memory (`changes::run`) before it joins a chunk: an unchanged row is skipped,
//! and a written row is remembered only once the sink confirmed its chunk ([`choice`],
//! [`remembering`]).

mod choice;
mod identity;
mod remembering;
mod unsettled;

pub use choice::EXPLORE;
pub use identity::{RowHasher, RowIdentity};
pub use unsettled::Unsettled;

use choice::Choice;
use remembering::Remembering;

use super::run::{ChangeTally, ErrorKind, Rejection};
use super::ActionContext;
use crate::api::{ActionRequest, ExecuteResponse};
use crate::changes::mode::SendMode;
use crate::rows::{source_of, FieldCategory, RawRow, ResultHeader, RowStream, RowsError};
use crate::sinks::{BatchWriter, Row as TableRow, SinkError, TableDef, WriteCredential};

/// A chunk is also cut when its rows' JSON passes this many bytes (bounds memory per chunk).
const MAX_CHUNK_JSON_BYTES: usize = 4 * 1024 * 1024;

fn id_text(v: &Option<crate::api::LookerId>) -> Option<String> {
    v.as_ref().map(|id| id.to_string())
}

/// "row" or "rows", for `n`.
pub fn rows_word(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

/// What a streamed query execute knows once the result's fields are read.
pub struct Started {
    /// The identifying field (tagged `key_tag`, else the first dimension, else the first field).
    pub key_field: String,
    /// `ran_at` of the result.
    pub ran_at: Option<String>,
    /// The scheduled plan's id.
    pub scheduled_plan_id: Option<String>,
    /// The query's id.
    pub query_id: Option<String>,
}

/// One result row made into a table row, or rejected (counted and reported, never written).
pub enum Made {
    /// The row and the size of its JSON (bounds a chunk's memory).
    Row(TableRow, usize),
    /// Why the row was not written.
    Rejected(Rejected),
}

/// Why one result row was not written.
pub struct Rejected {
    /// The row's identifying value, when it has one.
    pub key: Option<String>,
    /// The column that could not be filled, when one is to blame.
    pub column: Option<String>,
    /// Why, as the answer says it after "row N: ".
    pub why: String,
}

/// Makes the table rows of one streamed execute.
pub trait RowMaker: Send {
    /// What the result's header says before anything is written: `Err` is why nothing can be
    /// written (the execute fails before writing), `Ok` a sentence for the answer (empty: none).
    fn check(&self, _header: &ResultHeader) -> Result<String, String> {
        Ok(String::new())
    }

    /// The table row of result row `index`, given as its cells' JSON text (numbers as written:
    /// one that does not fit a column rejects its row, never the stream) and its whole text; an
    /// error stops the write.
    fn row(&mut self, index: u64, row: &RawRow<'_>, text: &[u8]) -> Result<Made, SinkError>;

    /// Which cells of the rows it makes identify them and make their content (what a
    /// change-only send compares from run to run).
    fn identity(&self) -> RowIdentity;
}

/// What a streamed query execute writes and how its answer reads.
pub struct StreamSpec<'a> {
    /// The action's name (logs).
    pub action: &'a str,
    /// The table written.
    pub table: &'a TableDef,
    /// The tag marking the identifying field.
    pub key_tag: &'a str,
    /// What was done with `n` rows, for an answer that goes on with ", but …" when the result
    /// could not be read completely (`"Wrote 3 rows as Approved"`).
    pub partial: &'a (dyn Fn(u64) -> String + Sync),
    /// The success sentence for `n` written rows.
    pub done: &'a (dyn Fn(u64) -> String + Sync),
    /// Which rows to write: every row, or (on a schedule) only new or changed ones.
    pub mode: SendMode,
}

/// Hand `rows` to the sink as its next chunk; a change-only run learns which chunks settled.
async fn hand_over(
    writer: &mut Box<dyn BatchWriter + '_>,
    remembering: &mut Option<Remembering>,
    rows: Vec<TableRow>,
) -> Result<(), SinkError> {
    if let Some(r) = remembering.as_mut() {
        r.handed_over();
    }
    let written = writer.write(rows).await;
    if let Some(r) = remembering.as_mut() {
        r.settle(writer.settled());
    }
    written
}

/// The field that identifies a row: the one tagged `tag`, else the first dimension, else the
/// first field.
fn key_field<'h>(header: &'h ResultHeader, tag: &str) -> Option<&'h str> {
    header
        .field_with_tag(tag)
        .or_else(|| {
            header
                .fields
                .iter()
                .find(|f| f.category == FieldCategory::Dimension)
        })
        .or_else(|| header.fields.first())
        .map(|f| f.name.as_str())
}

/// Stream a query result into `spec.table` in bounded chunks (constant memory); the answer says
/// how many rows were written, rejected and skipped, and is `success:false` unless all were
/// written.
pub async fn stream_rows<M: RowMaker>(
    ctx: &ActionContext<'_>,
    req: &mut ActionRequest,
    cred: WriteCredential,
    spec: StreamSpec<'_>,
    make: impl FnOnce(Started) -> M,
) -> ExecuteResponse {
    let action = spec.action;
    let Some(source) = source_of(req, ctx.http, ctx.limits.download_deadline) else {
        ctx.run.fail(ErrorKind::Request);
        return ExecuteResponse::failure(
            "No query result was sent with this action. Send it as JSON (detailed) from an Explore, Look or schedule.",
        );
    };
    let plan = req.scheduled_plan.as_ref();
    let plan_id = plan.and_then(|p| id_text(&p.scheduled_plan_id));
    ctx.run.send_mode(spec.mode);
    let choice = match choice::choose(ctx, spec.mode, plan_id.clone()) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let opened = tokio::select! {
        biased;
        _ = ctx.windup.hurry().cancelled() => {
            return ExecuteResponse::failure(format!(
                "Nothing was written: {} before the result's fields arrived. Run the action again.",
                ctx.windup.why()
            ));
        }
        opened = RowStream::open(source) => opened,
    };
    let mut stream = match opened {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(action, request_id = %ctx.meta.request_id, error = %e, "cannot read the query result");
            ctx.run.fail(ErrorKind::Download);
            return ExecuteResponse::failure(format!("Nothing was written: {e}."));
        }
    };
    let Some(key) = key_field(stream.header(), spec.key_tag).map(str::to_string) else {
        ctx.run.fail(ErrorKind::Request);
        return ExecuteResponse::failure("Nothing was written: the query result has no fields.");
    };
    let plan = req.scheduled_plan.as_ref();
    let mut maker = make(Started {
        key_field: key.clone(),
        ran_at: stream.header().ran_at.clone(),
        scheduled_plan_id: plan_id,
        query_id: plan.and_then(|p| id_text(&p.query_id)),
    });
    let note = match maker.check(stream.header()) {
        Ok(note) => note,
        Err(why) => {
            ctx.run.fail(ErrorKind::Request);
            return ExecuteResponse::failure(format!("Nothing was written: {why}."));
        }
    };

    let chunk_rows = ctx.limits.writeback_batch_rows;
    let mut writer = match ctx.sink.writer(spec.table, &cred).await {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(action, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), error = %e, "write-back failed");
            ctx.run.fail(ErrorKind::Sink);
            return ExecuteResponse::failure(format!(
                "Nothing was written. {}",
                e.user_message(&cred)
            ));
        }
    };
    let (mut remembering, explore) = match choice {
        Choice::Every(note) => (None, note),
        Choice::Remember { mode, plan } => {
            let identity = maker.identity();
            match choice::begin(ctx, (mode, plan), action, spec.table, &key, &identity).await {
                Ok(r) => (Some(r), None),
                Err(answer) => return answer,
            }
        }
    };
    let mut read: u64 = 0;
    let mut rejected: u64 = 0;
    let mut first_rejection: Option<String> = None;
    let mut chunk: Vec<TableRow> = Vec::with_capacity(chunk_rows.min(4096));
    let mut chunk_bytes = 0usize;
    let mut read_error = None;
    let mut write_error = None;
    let mut too_large: u64 = 0;
    let mut bytes: u64 = 0;
    // Set when the execute was asked to wind up (its time limit, the shutdown): why. The rows
    // already read are still written.
    let mut wound_up: Option<String> = None;
    // Every row of the result was read (and decided, in a change-only run).
    let mut read_to_end = false;
    'read: loop {
        let next = if wound_up.is_some() {
            stream.next_raw_chunk().await
        } else {
            tokio::select! {
                biased;
                _ = ctx.windup.hurry().cancelled() => {
                    tracing::warn!(action, request_id = %ctx.meta.request_id, rows_read = read, "winding up: writing the rows read so far");
                    stream.stop_reading();
                    wound_up = Some(ctx.windup.why());
                    continue;
                }
                next = stream.next_raw_chunk() => next,
            }
        };
        let texts = match next {
            None => {
                read_to_end = true;
                break;
            }
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                read_error = Some(e);
                break;
            }
        };
        for text in texts.iter() {
            bytes += text.len() as u64;
            if text.is_empty() {
                // A row over the reader's row limit, skipped unread.
                ctx.run.reject(Rejection {
                    row_index: read + too_large,
                    key: None,
                    column: None,
                    reason: format!(
                        "over the {}-byte row limit, skipped unread",
                        crate::rows::MAX_ROW_BYTES
                    ),
                });
                too_large += 1;
                continue;
            }
            // Text that is not a JSON object breaks the document: the rows after it are not read.
            let row = match RawRow::parse(text) {
                Ok(row) => row,
                Err(e) => {
                    read_error = Some(RowsError::bad_row(read + too_large, &e, text));
                    break 'read;
                }
            };
            let (r, json_len) = match maker.row(read, &row, text) {
                Ok(Made::Row(r, len)) => (r, len),
                Ok(Made::Rejected(r)) => {
                    let why = format!("row {read}: {}", r.why);
                    ctx.run.reject(Rejection {
                        row_index: read + too_large,
                        key: r.key,
                        column: r.column,
                        reason: r.why,
                    });
                    read += 1;
                    rejected += 1;
                    first_rejection.get_or_insert(why);
                    continue;
                }
                Err(e) => {
                    write_error = Some(e);
                    break;
                }
            };
            read += 1;
            if remembering.as_mut().is_some_and(|m| !m.writes(&r)) {
                // Unchanged since the schedule's last run: skipped.
                continue;
            }
            chunk_bytes += json_len;
            chunk.push(r);
            if chunk.len() >= chunk_rows || chunk_bytes >= MAX_CHUNK_JSON_BYTES {
                chunk_bytes = 0;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_rows.min(4096)));
                if let Err(e) = hand_over(&mut writer, &mut remembering, full).await {
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
        if let Err(e) = hand_over(&mut writer, &mut remembering, std::mem::take(&mut chunk)).await {
            write_error = Some(e);
        }
    }
    // Stop the download early when writing failed: dropping the stream cancels the parser.
    drop(stream);
    let mut skipped = if too_large > 0 {
        format!(
            " {too_large} {} over the {}-byte row limit {} skipped unread and not written.",
            rows_word(too_large),
            crate::rows::MAX_ROW_BYTES,
            if too_large == 1 { "was" } else { "were" }
        )
    } else {
        String::new()
    };
    let rejections = if rejected > 0 {
        format!(
            " {rejected} {} rejected and not written (first: {}).",
            rows_word(rejected),
            first_rejection.unwrap_or_default()
        )
    } else {
        String::new()
    };
    skipped.push_str(&rejections);
    let (written, finish_error) = writer.finish().await;
    let write_error = write_error.or(finish_error);
    let read_ok = read - rejected;
    ctx.run.read(read + too_large, bytes);
    ctx.run.delivered(written);
    // Rows to write: those read, less the rejected and the unchanged ones skipped.
    let skipped_unchanged = remembering.as_ref().map_or(0, Remembering::skipped);
    let to_write = read_ok - skipped_unchanged;
    let failed = to_write - written.min(to_write);
    let remembered = remembering.is_some();
    let (changes, saved) = match remembering {
        None => (explore.map(|e| format!(" {e}")).unwrap_or_default(), true),
        Some(mut r) => {
            r.settle(writer.settled());
            let summary = r.commit(read_to_end).await;
            ctx.run.changes(ChangeTally::of(&summary));
            choice::sentences(&summary, failed)
        }
    };

    let partial = (spec.partial)(written);
    let mut resp = match (write_error, read_error) {
        (None, None) => {
            tracing::info!(action, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), rows = written, rejected, "batch write-back done");
            let message = if read == 0 && too_large == 0 {
                format!("The query returned no rows; nothing was written.{changes}")
            } else {
                format!("{}{note}{skipped}{changes}", (spec.done)(written))
            };
            // Rows not written are not a success, even if every other row was; nor is a run
            // whose memory was not saved (its rows will be written again).
            let mut resp = if too_large == 0 && rejected == 0 && saved {
                ExecuteResponse::success(message)
            } else {
                ExecuteResponse::failure(message)
            };
            resp.looker.refresh_query = written > 0;
            resp
        }
        (Some(e), _) => {
            tracing::error!(action, request_id = %ctx.meta.request_id, sink = ctx.sink.name(), rows_read = read, rows_written = written, error = %e, "batch write-back failed part-way");
            ctx.run.fail(ErrorKind::Sink);
            ctx.run.unconfirmed(failed);
            ExecuteResponse::failure(format!(
                "Only {written} of the {to_write} {} read so far were confirmed written ({failed} not confirmed).{rejections} {}{changes}",
                rows_word(to_write),
                e.user_message(&cred)
            ))
        }
        (None, Some(RowsError::Stopped { .. })) => {
            let read = read + too_large;
            let why = wound_up.unwrap_or_else(|| ctx.windup.why());
            tracing::warn!(action, request_id = %ctx.meta.request_id, rows_read = read, rows_written = written, "wound up before the end of the result");
            let again = if remembered {
                " The schedule's next run writes the rows not written now."
            } else {
                " Run the action again to write every row (the rows written now would be written again)."
            };
            ExecuteResponse::failure(format!(
                "{partial}, but {why} after reading {read} {} of the result; the remaining rows \
                 were not written.{skipped}{changes}{again}",
                rows_word(read)
            ))
        }
        (None, Some(e)) => {
            tracing::error!(action, request_id = %ctx.meta.request_id, rows_written = written, error = %e, "query result could not be read completely");
            ctx.run.fail(ErrorKind::Download);
            ExecuteResponse::failure(format!(
                "{partial}, but {e}; the remaining rows were not written.{skipped}{changes}"
            ))
        }
    };
    if !saved {
        ctx.run.fail(ErrorKind::State);
        resp.looker.success = false;
    }
    resp
}
