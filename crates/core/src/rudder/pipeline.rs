//! A query result streamed to a data plane: rows are mapped one at a time into a reused buffer,
//! appended to the open batch, and closed batches go to the delivery, which holds at most
//! `max_in_flight` of them. Reading waits while the delivery is full, so memory stays bounded
//! whatever the size of the result.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

use super::batcher::Batcher;
use super::client::{DataPlane, Delivery};
use super::mapping::{Call, Mapper, MapperInput, MappingError, MAX_EVENT_BYTES};
use super::report::DeliveryReport;
use super::RudderSettings;
use crate::rows::{RawRow, RowStream, RowsError};

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

/// Count a rejected row; keep it while fewer than `keep` are kept.
fn rejected(report: &mut DeliveryReport, rejection: super::mapping::Rejection, keep: usize) {
    report.rejected += 1;
    if report.rejections.len() < keep {
        report.rejections.push(rejection.clone());
    }
    report.first_rejection.get_or_insert(rejection);
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
pub async fn run(job: Job<'_>, mut rows: RowStream) -> Result<DeliveryReport, MappingError> {
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
    let mut delivery = Delivery::new(job.client, job.plane, job.settings.delivery.clone());
    let mut batcher = Batcher::new(limits);
    let mut report = DeliveryReport {
        naming_note: mapper.naming_note.clone(),
        ..DeliveryReport::default()
    };
    let mut event = Vec::with_capacity(4096);
    let mut sent_at = now_stamp();
    // Set once delivery stops: the rest is only counted.
    let mut stopped = false;
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
                    tracing::warn!(rows = report.rows, "winding up: delivering the rows read so far");
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
                report.input_error = Some(format!(
                    "{} after reading {} of the result",
                    (job.stopped_because)(),
                    super::counts::plural(report.rows, "row", "rows")
                ));
                break 'read;
            }
            Err(e) => {
                report.input_error = Some(e.to_string());
                break 'read;
            }
        };
        for text in chunk.iter() {
            let index = report.rows;
            report.bytes += text.len() as u64;
            if stopped {
                report.rows += 1;
                report.not_sent += 1;
                continue;
            }
            if text.is_empty() {
                // Over the reader's row limit: skipped unread, counted as rejected.
                report.rows += 1;
                let rejection = super::mapping::Rejection {
                    row: index + 1,
                    reason: super::mapping::RejectReason::RowTooLarge {
                        limit: crate::rows::MAX_ROW_BYTES,
                    },
                };
                rejected(&mut report, rejection, job.keep_rejections);
                continue;
            }
            let row = match RawRow::parse(text) {
                Ok(r) => r,
                Err(e) => {
                    report.input_error = Some(RowsError::bad_row(index, &e, text).to_string());
                    break 'read;
                }
            };
            report.rows += 1;
            match mapper.map(index, &row, &sent_at, &mut event) {
                Ok(()) => {
                    if !batcher.fits(event.len()) {
                        if let Some(batch) = batcher.finish(&sent_at) {
                            let events = batch.events as u64;
                            if !delivery.send(batch).await {
                                // This batch and this event stay unsent.
                                report.not_sent += events + 1;
                                stopped = true;
                                continue;
                            }
                        }
                        // The event opens the next batch: it carries that batch's sentAt.
                        sent_at = now_stamp();
                        mapper.restamp(&mut event, &sent_at);
                    }
                    batcher.push(index, &event);
                }
                Err(rejection) => rejected(&mut report, rejection, job.keep_rejections),
            }
        }
    }
    if let Some(batch) = batcher.finish(&sent_at) {
        let events = batch.events as u64;
        if !delivery.send(batch).await {
            report.not_sent += events;
        }
    }
    report.tally = delivery.finish().await;
    Ok(report)
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
