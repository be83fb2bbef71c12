//! A query result streamed to a data plane: rows are mapped one at a time into a reused buffer,
//! appended to the open batch, and closed batches go to the delivery, which holds at most
//! `max_in_flight` of them. Reading waits while the delivery is full, so memory stays bounded
//! whatever the size of the result.
//!
//! A change-only send writes each row's content as it reads the row, hashing it on the way, and
//! decides the row before its event is built around that content: an unchanged row costs only
//! its content's writing and hashing. A sent row is remembered once the data plane accepted its
//! batch, and forgotten (sent again by the next run) when its batch was refused or never sent.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

use super::batcher::{Batcher, Decided};
use super::client::{DataPlane, Delivery, Settled};
use super::identity::{Identified, Identity};
use super::mapping::{
    Call, Mapper, MapperInput, MappingError, MessageId, RejectReason, Rejection, Written,
    MAX_EVENT_BYTES,
};
use super::report::{ChangeReport, DeliveryReport};
use super::RudderSettings;
use crate::changes::hash::KeyHash;
use crate::changes::memory::Decision;
use crate::changes::mode::SendMode;
use crate::changes::run::ChangeRun;
use crate::rows::{ChunkRow, RawRows, RowCells, RowStream, RowsError};

/// Bytes of row contents kept between chunks (a chunk of larger rows takes more while it is read).
const MAX_KEPT_CONTENTS: usize = 4 << 20;

/// Everything one delivery needs besides the rows.
pub struct Job<'a> {
    /// Which call.
    pub call: Call,
    /// `event` of a track call.
    pub event: Option<&'a str>,
    /// Fields hidden in the visualization.
    pub hidden_fields: &'a [String],
    /// What identifies this Looker delivery (for deterministic message ids).
    pub delivery_key: &'a str,
    /// How traits / properties are named.
    pub naming: super::naming::Naming,
    /// Where to send.
    pub plane: DataPlane,
    /// HTTP client.
    pub client: crate::net::Http,
    /// Batching and delivery settings.
    pub settings: &'a RudderSettings,
    /// Cancelled when the execute must wind up (the hub is shutting down, or the execute's time
    /// limit is near): stop reading, deliver every row already read (including those the reader
    /// holds) and report how far the result was read (see `crate::lifecycle`).
    pub stop: &'a tokio_util::sync::CancellationToken,
    /// Why `stop` was cancelled, as the subject of a sentence ("the action hub was shut down").
    pub stopped_because: &'a (dyn Fn() -> String + Send + Sync),
    /// How many rejected rows the report keeps with their reason (the rest are counted).
    pub keep_rejections: usize,
}

/// Now as RudderStack timestamps are written: RFC 3339, UTC, milliseconds (24 bytes).
pub fn now_stamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The events' `timestamp`: the result's `ran_at` in RFC 3339 UTC, or now when it is absent or
/// unreadable.
pub fn event_timestamp(ran_at: Option<&str>) -> String {
    let parsed = ran_at.map(str::trim).and_then(|s| {
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S %z"))
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .ok()
                    .map(|n| n.and_utc())
            })
    });
    parsed
        .unwrap_or_else(Utc::now)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Send every row of `rows`; fails only when the result cannot be mapped at all (no identity
/// field). Everything else — refused batches, oversized rows, a result that breaks off — is in
/// the report.
pub async fn run(job: Job<'_>, rows: RowStream) -> Result<DeliveryReport, MappingError> {
    Ok(prepare(job, rows)?.run(None).await)
}

/// A change-only send: its run and mode.
pub struct ChangeOnly<'c> {
    /// The decisions against the schedule's memory.
    pub run: &'c mut ChangeRun,
    /// `Changed` or `Resend`.
    pub mode: SendMode,
}

/// A delivery whose result's fields are mapped, ready to read its rows.
pub struct Prepared<'a> {
    job: Job<'a>,
    rows: RowStream,
    mapper: Mapper,
}

/// Work out how the result's rows become events; fails when no field identifies them.
pub fn prepare(job: Job<'_>, rows: RowStream) -> Result<Prepared<'_>, MappingError> {
    let limits = job.settings.limits();
    let timestamp = event_timestamp(rows.header().ran_at.as_deref());
    let mapper = Mapper::new(MapperInput {
        call: job.call,
        header: rows.header(),
        hidden_fields: job.hidden_fields,
        event: job.event,
        delivery_key: job.delivery_key,
        timestamp: &timestamp,
        app: (crate::HUB_NAME, crate::HUB_VERSION),
        max_event_bytes: MAX_EVENT_BYTES.min(limits.max_event_bytes()),
        naming: job.naming,
    })?;
    Ok(Prepared { job, rows, mapper })
}

impl Prepared<'_> {
    /// How rows become events (what identifies them, the names they deliver).
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// Read the rows and deliver them: every row, or with `changes` only those it decides to
    /// send.
    pub async fn run(self, changes: Option<ChangeOnly<'_>>) -> DeliveryReport {
        let Prepared {
            job,
            mut rows,
            mapper,
        } = self;
        let mut sender = Sender {
            mapper: &mapper,
            changes: changes.map(|c| Changes {
                identity: Identity::new(&mapper, c.run.seed()),
                ids_of_content: c.mode == SendMode::Changed && mapper.call() == Call::Track,
                run: c.run,
            }),
            delivery: Delivery::new(job.client, job.plane, job.settings.delivery.clone()),
            batcher: Batcher::new(job.settings.limits()),
            report: DeliveryReport {
                naming_note: mapper.naming_note.clone(),
                ..DeliveryReport::default()
            },
            event: Vec::with_capacity(4096),
            contents: Vec::new(),
            sent_at: now_stamp(),
            stopped: false,
            keep_rejections: job.keep_rejections,
        };
        if sender.changes.is_some() {
            sender.report.changes = Some(ChangeReport::default());
        }
        // Set once the execute must wind up (the shutdown, its time limit): the rows already read
        // still come.
        let mut winding_up = false;
        'read: loop {
            let next = if winding_up {
                rows.next_raw_chunk().await
            } else {
                tokio::select! {
                    biased;
                    _ = job.stop.cancelled() => {
                        tracing::warn!(rows = sender.report.rows, "winding up: delivering the rows read so far");
                        rows.stop_reading();
                        winding_up = true;
                        continue;
                    }
                    next = rows.next_raw_chunk() => next,
                }
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(c) => c,
                Err(RowsError::Stopped { .. }) => {
                    sender.report.input_error = Some(format!(
                        "{} after reading {} of the result",
                        (job.stopped_because)(),
                        super::counts::plural(sender.report.rows, "row", "rows")
                    ));
                    break 'read;
                }
                Err(e) => {
                    sender.report.input_error = Some(e.to_string());
                    break 'read;
                }
            };
            if let Err(bad_row) = sender.chunk(&chunk).await {
                sender.report.input_error = Some(bad_row);
                break 'read;
            }
        }
        sender.finish().await
    }
}

/// A change-only send under way.
struct Changes<'c, 'm> {
    run: &'c mut ChangeRun,
    identity: Identity<'m>,
    /// Track events sent because they are new get the messageId of their content.
    ids_of_content: bool,
}

/// A row of a chunk, read before the chunk's rows are taken.
enum Read<'t> {
    /// Not read: delivery stopped and nothing is decided (the rest is only counted).
    Unread,
    /// Over the reader's row limit (its text left empty).
    TooLarge,
    /// Not a row: what is wrong with it.
    Bad(String),
    /// Its cells, mapped when the row is taken (every row is sent).
    Row(RowCells<'t>),
    /// Change-only: its content, written into the chunk's contents, and its hashes; or why it
    /// cannot become an event.
    Hashed(Result<(Written, Identified), Rejection>),
}

impl Read<'_> {
    fn key(&self) -> Option<KeyHash> {
        match self {
            Read::Hashed(Ok((_, (key, _)))) => *key,
            _ => None,
        }
    }
}

/// What becomes of a row read (decided against the memory, change-only).
enum Take<'t> {
    /// Only counted: delivery stopped and nothing is decided.
    Unread,
    /// Refused before it was sent (over the row limit, or it cannot become an event).
    Rejected(Rejection),
    /// Not a row: the result ends here.
    Bad(String),
    /// Delivered before with this content: skipped.
    Unchanged,
    /// To be sent, with its change-only decision and its messageId.
    Send(Mapping<'t>, Option<Decision>, MessageId),
}

/// A row to be sent: mapped now, or its content written when it was read.
enum Mapping<'t> {
    Cells(RowCells<'t>),
    Written(Written),
}

impl Changes<'_, '_> {
    /// Whether to send a row hashed as `(key, fingerprint)`, and its messageId: `None` for an
    /// unchanged row.
    fn decide(&mut self, (key, fingerprint): Identified) -> Option<(Decision, MessageId)> {
        let decision = self.run.decide(key, fingerprint);
        let id = match (decision, key) {
            (Decision::Unchanged, _) => return None,
            (Decision::New(_) | Decision::Changed(_), Some(key)) if self.ids_of_content => {
                MessageId::of_content(key, fingerprint)
            }
            _ => MessageId::OfDelivery,
        };
        Some((decision, id))
    }
}

/// The rows of one delivery on their way: mapped into a reused buffer, batched, delivered.
struct Sender<'m, 'c> {
    mapper: &'m Mapper,
    changes: Option<Changes<'c, 'm>>,
    delivery: Delivery,
    batcher: Batcher,
    report: DeliveryReport,
    event: Vec<u8>,
    /// Change-only: the contents of the open chunk's rows, written and hashed as they are read
    /// (cleared for each chunk).
    contents: Vec<u8>,
    sent_at: String,
    /// Set once delivery stops: the rest is only counted (and, change-only, decided: the rows
    /// unchanged stay remembered).
    stopped: bool,
    keep_rejections: usize,
}

impl Sender<'_, '_> {
    /// Take a chunk of the result's rows; `Err` when a text is not a row (the result is
    /// malformed). Change-only, the chunk's rows are read and hashed first, and the memory warmed
    /// for their keys, so that deciding them does not wait on memory one row at a time.
    async fn chunk(&mut self, chunk: &RawRows) -> Result<(), String> {
        let first = self.report.rows;
        self.reuse_contents();
        let reads: Vec<Read<'_>> = (first..)
            .zip(chunk.rows())
            .map(|(index, row)| self.read(index, row))
            .collect();
        let takes = self.decide_all(first, reads);
        for (text, take) in chunk.iter().zip(takes) {
            self.take(text.len(), take).await?;
        }
        Ok(())
    }

    /// What becomes of each row read, the first being row `first`. Change-only, the rows are
    /// decided one after another right after their places in memory were warmed together, before
    /// any of their events is built. None is decided after a text that is not a row: the result
    /// ends there.
    fn decide_all<'t>(&mut self, first: u64, reads: Vec<Read<'t>>) -> Vec<Take<'t>> {
        if let Some(c) = self.changes.as_mut() {
            c.run.warm(reads.iter().filter_map(Read::key));
        }
        let mut takes = Vec::with_capacity(reads.len());
        for (index, read) in (first..).zip(reads) {
            let take = match read {
                Read::Unread => Take::Unread,
                Read::TooLarge => Take::Rejected(Rejection {
                    row: index + 1,
                    reason: RejectReason::RowTooLarge {
                        limit: crate::rows::MAX_ROW_BYTES,
                    },
                }),
                Read::Bad(bad_row) => {
                    takes.push(Take::Bad(bad_row));
                    break;
                }
                Read::Row(cells) => Take::Send(Mapping::Cells(cells), None, MessageId::OfDelivery),
                Read::Hashed(Err(rejection)) => Take::Rejected(rejection),
                Read::Hashed(Ok((written, identified))) => {
                    // Rows are hashed only change-only; without a memory, every row is sent.
                    let decided = match self.changes.as_mut() {
                        Some(c) => c.decide(identified).map(|(d, id)| (Some(d), id)),
                        None => Some((None, MessageId::OfDelivery)),
                    };
                    match decided {
                        Some((decision, id)) => Take::Send(Mapping::Written(written), decision, id),
                        None => Take::Unchanged,
                    }
                }
            };
            takes.push(take);
        }
        takes
    }

    /// Delivery stopped and nothing is decided: the rest of the result is only counted.
    fn only_counting(&self) -> bool {
        self.stopped && self.changes.is_none()
    }

    /// Read row `index`, and hash it, change-only.
    fn read<'t>(&mut self, index: u64, row: ChunkRow<'t>) -> Read<'t> {
        if self.only_counting() {
            return Read::Unread;
        }
        if row.text.is_empty() {
            return Read::TooLarge;
        }
        let cells = match row.cells() {
            Ok(cells) => cells,
            Err(e) => return Read::Bad(RowsError::bad_row(index, &e, row.text).to_string()),
        };
        match self.changes.as_mut() {
            Some(c) => Read::Hashed(c.identity.write(index, &cells, &mut self.contents)),
            None => Read::Row(cells),
        }
    }

    /// Empty the contents for the next chunk; memory a chunk of unusually large rows took is given
    /// back.
    fn reuse_contents(&mut self) {
        self.contents.clear();
        if self.contents.capacity() > MAX_KEPT_CONTENTS {
            self.contents.shrink_to(MAX_KEPT_CONTENTS);
        }
    }

    /// Take one row, read from `bytes` of text.
    async fn take(&mut self, bytes: usize, take: Take<'_>) -> Result<(), String> {
        let index = self.report.rows;
        self.report.bytes += bytes as u64;
        // Delivery may have stopped after the row was read: it is only counted then too.
        let take = if self.only_counting() {
            Take::Unread
        } else {
            take
        };
        let (mapping, decision, id) = match take {
            Take::Bad(bad_row) => return Err(bad_row),
            Take::Send(mapping, decision, id) => (mapping, decision, id),
            Take::Unread => {
                self.report.rows += 1;
                self.report.not_sent += 1;
                return Ok(());
            }
            Take::Rejected(rejection) => {
                self.report.rows += 1;
                self.rejected(rejection);
                return Ok(());
            }
            Take::Unchanged => {
                self.report.rows += 1;
                if let Some(r) = self.report.changes.as_mut() {
                    r.unchanged += 1;
                }
                return Ok(());
            }
        };
        self.report.rows += 1;
        if self.stopped {
            self.report.not_sent += 1;
            self.forget(decision);
            return Ok(());
        }
        match self.map(index, &mapping, id) {
            Ok(()) => self.push(index, decision).await,
            Err(rejection) => {
                self.forget(decision);
                self.rejected(rejection);
            }
        }
        Ok(())
    }

    /// Write the event of row `index` into `self.event`.
    fn map(&mut self, index: u64, mapping: &Mapping<'_>, id: MessageId) -> Result<(), Rejection> {
        match mapping {
            Mapping::Cells(cells) => {
                self.mapper
                    .map_with_id(index, cells, &self.sent_at, id, &mut self.event)
            }
            Mapping::Written(written) => self.mapper.event_of(
                index,
                &self.contents,
                written,
                &self.sent_at,
                id,
                &mut self.event,
            ),
        }
    }

    /// Append the event just mapped to the open batch, sending the batch first when it is full.
    async fn push(&mut self, index: u64, decision: Option<Decision>) {
        if !self.batcher.fits(self.event.len()) {
            if let Some(batch) = self.batcher.finish(&self.sent_at) {
                let sent = self.delivery.send(batch).await;
                self.settle();
                if let Err(unsent) = sent {
                    // This batch and this event stay unsent.
                    self.report.not_sent += unsent.events as u64 + 1;
                    self.forget_all(unsent.decided);
                    self.forget(decision);
                    self.stopped = true;
                    return;
                }
            }
            // The event opens the next batch: it carries that batch's sentAt.
            self.sent_at = now_stamp();
            self.mapper.restamp(&mut self.event, &self.sent_at);
        }
        self.batcher.push(index, &self.event, decision);
    }

    /// Send the last batch, wait for every batch to settle, and report.
    async fn finish(mut self) -> DeliveryReport {
        if let Some(batch) = self.batcher.finish(&self.sent_at) {
            if let Err(unsent) = self.delivery.send(batch).await {
                self.report.not_sent += unsent.events as u64;
                self.forget_all(unsent.decided);
            }
        }
        self.report.tally = self.delivery.finish().await;
        self.settle();
        self.report
    }

    /// Remember the rows of the batches the data plane accepted, forget those of the others.
    fn settle(&mut self) {
        for s in self.delivery.settled() {
            self.settle_one(s);
        }
    }

    fn settle_one(&mut self, settled: Settled) {
        if !settled.accepted {
            self.forget_all(settled.decided);
            return;
        }
        let (Some(c), Some(r)) = (self.changes.as_mut(), self.report.changes.as_mut()) else {
            return;
        };
        let d = settled.decided;
        r.new += d.new;
        r.changed += d.changed;
        r.unkeyed += d.unkeyed;
        r.repeated += d.repeated;
        c.run.confirm_all(&d.pending);
    }

    fn forget(&mut self, decision: Option<Decision>) {
        if let (Some(c), Some(p)) = (self.changes.as_mut(), decision.and_then(Decision::pending)) {
            c.run.forget(p);
        }
    }

    fn forget_all(&mut self, decided: Decided) {
        if let Some(c) = self.changes.as_mut() {
            for p in decided.pending {
                c.run.forget(p);
            }
        }
    }

    /// Count a rejected row; keep it while fewer than `keep_rejections` are kept.
    fn rejected(&mut self, rejection: Rejection) {
        let report = &mut self.report;
        report.rejected += 1;
        if report.rejections.len() < self.keep_rejections {
            report.rejections.push(rejection.clone());
        }
        report.first_rejection.get_or_insert(rejection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_ran_at() {
        assert_eq!(
            event_timestamp(Some("2017-07-28T02:25:19+00:00")),
            "2017-07-28T02:25:19.000Z"
        );
        assert_eq!(
            event_timestamp(Some("2017-07-28T04:25:19.5+02:00")),
            "2017-07-28T02:25:19.500Z"
        );
        assert_eq!(
            event_timestamp(Some("2017-07-28 02:25:19 +0000")),
            "2017-07-28T02:25:19.000Z"
        );
        assert_eq!(
            event_timestamp(Some("2017-07-28 02:25:19")),
            "2017-07-28T02:25:19.000Z"
        );
        for odd in [None, Some("yesterday"), Some("")] {
            let t = event_timestamp(odd);
            assert_eq!(t.len(), 24);
            assert!(t.ends_with('Z'));
        }
        assert_eq!(now_stamp().len(), super::super::batcher::SENT_AT_LEN);
    }
}
