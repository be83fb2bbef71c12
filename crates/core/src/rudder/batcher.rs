//! Size-bounded batches: serialized events appended into one `{"batch":[…],"sentAt":…}` body.
//!
//! The body is built once, in place: an event is copied once into the open batch and the batch is
//! closed before it would pass the byte or event limit, so no request is ever re-serialized.

use crate::changes::memory::{Decision, Pending};

/// `{"batch":[`
const HEAD: &[u8] = b"{\"batch\":[";
/// `],"sentAt":"` + 24-byte RFC 3339 UTC timestamp with millis + `"}`.
const TAIL_LEN: usize = b"],\"sentAt\":\"".len() + SENT_AT_LEN + b"\"}".len();
/// Length of `2024-01-01T00:00:00.000Z`.
pub const SENT_AT_LEN: usize = 24;

/// Limits a batch keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Largest request body in bytes (uncompressed), envelope included.
    pub max_bytes: usize,
    /// Most events in one batch.
    pub max_events: usize,
}

/// Bytes an event may take so that it always fits in an empty batch.
impl BatchLimits {
    /// The largest event that fits alone in a batch under these limits.
    pub fn max_event_bytes(&self) -> usize {
        self.max_bytes.saturating_sub(HEAD.len() + TAIL_LEN)
    }
}

/// A closed batch, ready to send.
#[derive(Debug)]
pub struct Batch {
    /// The complete JSON request body.
    pub body: Vec<u8>,
    /// Events in the batch.
    pub events: usize,
    /// Position (0-based) of the first row in the batch, for messages.
    pub first_row: u64,
    /// The change-only decisions of its rows (empty when every row is sent).
    pub decided: Decided,
}

/// The change-only decisions of the rows of one batch, settled when the data plane answers for
/// it: remembered when it accepts the batch, forgotten otherwise (sent again next run).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The rows to remember (a new key, or changed content).
    pub pending: Vec<Pending>,
    /// Rows whose key the last run did not deliver.
    pub new: u64,
    /// Rows whose content changed.
    pub changed: u64,
    /// Rows without a key.
    pub unkeyed: u64,
    /// Rows whose key an earlier row of the result had.
    pub repeated: u64,
}

impl Decided {
    /// Count a sent row's decision.
    pub fn add(&mut self, decision: Decision) {
        match decision {
            Decision::New(p) => {
                self.new += 1;
                self.pending.push(p);
            }
            Decision::Changed(p) => {
                self.changed += 1;
                self.pending.push(p);
            }
            Decision::Unkeyed => self.unkeyed += 1,
            Decision::Repeated => self.repeated += 1,
            // Never sent, so never in a batch.
            Decision::Unchanged => {}
        }
    }
}

/// Accumulates serialized events into batches.
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    body: Vec<u8>,
    events: usize,
    first_row: u64,
    decided: Decided,
}

impl Batcher {
    /// An empty batcher; `limits.max_bytes` must leave room for at least one event.
    pub fn new(limits: BatchLimits) -> Batcher {
        Batcher {
            limits,
            body: Self::fresh(limits),
            events: 0,
            first_row: 0,
            decided: Decided::default(),
        }
    }

    fn fresh(limits: BatchLimits) -> Vec<u8> {
        let mut body = Vec::with_capacity(limits.max_bytes.min(1 << 20));
        body.extend_from_slice(HEAD);
        body
    }

    /// Whether an event of `len` bytes fits in the open batch; always true for an empty batch
    /// when `len <= limits.max_event_bytes()`.
    pub fn fits(&self, len: usize) -> bool {
        if self.events == 0 {
            return true;
        }
        self.events < self.limits.max_events
            && self.body.len() + 1 + len + TAIL_LEN <= self.limits.max_bytes
    }

    /// Append one event (row position `row`, its change-only decision if any). The caller
    /// checked [`Batcher::fits`] (closing the batch with [`Batcher::finish`] when it did not) and
    /// keeps events within `limits.max_event_bytes()`.
    pub fn push(&mut self, row: u64, event: &[u8], decision: Option<Decision>) {
        debug_assert!(self.fits(event.len()));
        if self.events == 0 {
            self.first_row = row;
        } else {
            self.body.push(b',');
        }
        self.body.extend_from_slice(event);
        self.events += 1;
        if let Some(d) = decision {
            self.decided.add(d);
        }
    }

    /// Close the open batch, if it holds any event.
    pub fn finish(&mut self, sent_at: &str) -> Option<Batch> {
        (self.events > 0).then(|| self.close(sent_at))
    }

    fn close(&mut self, sent_at: &str) -> Batch {
        debug_assert_eq!(sent_at.len(), SENT_AT_LEN);
        let mut body = std::mem::replace(&mut self.body, Self::fresh(self.limits));
        body.extend_from_slice(b"],\"sentAt\":\"");
        body.extend_from_slice(sent_at.as_bytes());
        body.extend_from_slice(b"\"}");
        let events = std::mem::take(&mut self.events);
        Batch {
            body,
            events,
            first_row: self.first_row,
            decided: std::mem::take(&mut self.decided),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2024-01-01T00:00:00.000Z";

    fn event(n: usize) -> Vec<u8> {
        // {"x":"aaaa"} of exactly n bytes
        let mut e = b"{\"x\":\"".to_vec();
        e.resize(n - 2, b'a');
        e.extend_from_slice(b"\"}");
        e
    }

    #[test]
    fn batches_are_valid_json_under_both_limits() {
        let limits = BatchLimits {
            max_bytes: 1000,
            max_events: 7,
        };
        let mut b = Batcher::new(limits);
        let mut batches = vec![];
        for i in 0..100u64 {
            let e = event(60 + (i as usize % 50));
            if !b.fits(e.len()) {
                batches.extend(b.finish(AT));
            }
            b.push(i, &e, None);
        }
        batches.extend(b.finish(AT));
        let mut total = 0;
        let mut next_row = 0;
        for batch in &batches {
            assert!(batch.body.len() <= 1000, "{}", batch.body.len());
            assert!(batch.events <= 7);
            assert_eq!(batch.first_row, next_row);
            let v: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
            assert_eq!(v["batch"].as_array().unwrap().len(), batch.events);
            assert_eq!(v["sentAt"], AT);
            total += batch.events;
            next_row += batch.events as u64;
        }
        assert_eq!(total, 100);
        assert!(b.finish(AT).is_none());
    }

    #[test]
    fn an_event_of_the_largest_size_fits_alone_exactly() {
        let limits = BatchLimits {
            max_bytes: 500,
            max_events: 100,
        };
        let max = limits.max_event_bytes();
        let mut b = Batcher::new(limits);
        assert!(b.fits(max));
        b.push(0, &event(max), None);
        assert!(!b.fits(1));
        let closed = b.finish(AT).unwrap();
        assert_eq!(closed.body.len(), 500);
        b.push(1, &event(max), None);
        assert_eq!(closed.events, 1);
        let last = b.finish(AT).unwrap();
        assert_eq!(last.first_row, 1);
    }
}
