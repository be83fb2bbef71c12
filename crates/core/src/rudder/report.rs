//! The truth about a delivery, counted and worded for the Looker admin.

use super::client::Tally;
pub use super::counts::{group_digits, plural};
use super::mapping::Rejection;

/// Everything that happened to the rows of one execute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Rows read from the result (each is one event).
    pub rows: u64,
    /// What the data plane accepted / refused.
    pub tally: Tally,
    /// Rows not sent because they cannot be events (too large, no group id).
    pub rejected: u64,
    /// The first rejection, as an example.
    pub first_rejection: Option<Rejection>,
    /// The first rejections (as many as the job keeps), for the run's record.
    pub rejections: Vec<Rejection>,
    /// Bytes of the result rows read.
    pub bytes: u64,
    /// Rows never handed to the data plane because delivery stopped.
    pub not_sent: u64,
    /// The result could not be read to its end (cut / malformed), with the reader's words.
    pub input_error: Option<String>,
    /// Fields that kept their `view.field` name (naming collisions).
    pub naming_note: Option<String>,
    /// What a change-only send skipped, sent and remembered (`None`: every row was sent).
    pub changes: Option<ChangeReport>,
}

/// A change-only send, counted: the rows skipped, the sent rows the data plane accepted by their
/// decision, and what the memory of the schedule kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReport {
    /// Rows skipped: delivered before with this content.
    pub unchanged: u64,
    /// Accepted rows whose key the last run did not deliver.
    pub new: u64,
    /// Accepted rows whose content changed.
    pub changed: u64,
    /// Accepted rows without a key (always sent).
    pub unkeyed: u64,
    /// Accepted rows sharing their key with an earlier row (always sent).
    pub repeated: u64,
    /// Whether the memory was saved; `Err`: why not (a clause).
    pub saved: Result<(), String>,
    /// Sentences about the memory for the end of the answer (a first run, fields changed, keys
    /// gone, …).
    pub notes: Vec<String>,
}

impl Default for ChangeReport {
    fn default() -> Self {
        ChangeReport {
            unchanged: 0,
            new: 0,
            changed: 0,
            unkeyed: 0,
            repeated: 0,
            saved: Ok(()),
            notes: Vec::new(),
        }
    }
}

impl ChangeReport {
    /// `sent X of N rows to RudderStack (a new, b changed…); U unchanged, skipped`.
    fn counts(&self, sent: u64, rows: u64) -> String {
        let mut kinds = vec![
            format!("{} new", group_digits(self.new)),
            format!("{} changed", group_digits(self.changed)),
        ];
        if self.unkeyed > 0 {
            kinds.push(format!("{} without a key", group_digits(self.unkeyed)));
        }
        if self.repeated > 0 {
            kinds.push(format!(
                "{} with a repeated key",
                group_digits(self.repeated)
            ));
        }
        format!(
            "sent {} of {} to RudderStack ({}); {} unchanged, skipped",
            group_digits(sent),
            plural(rows, "row", "rows"),
            kinds.join(", "),
            group_digits(self.unchanged)
        )
    }
}

impl DeliveryReport {
    /// Every row to send became an event the data plane accepted, the result was read to its
    /// end, and a change-only send's memory was saved.
    pub fn success(&self) -> bool {
        let skipped = self.changes.as_ref().map_or(0, |c| c.unchanged);
        let saved = self.changes.as_ref().is_none_or(|c| c.saved.is_ok());
        self.input_error.is_none()
            && self.rejected == 0
            && self.not_sent == 0
            && self.tally.failed == 0
            && self.tally.sent + skipped == self.rows
            && saved
    }

    /// The message for Looker: counts first, then each kind of trouble with its reason.
    pub fn message(&self) -> String {
        let t = &self.tally;
        let mut parts = Vec::new();
        if self.rows == 0 && self.input_error.is_none() {
            return self.with_notes("the query returned no rows: nothing to send".into());
        }
        // A change-only send's rows that failed are sent again by the next run.
        let again = if self.changes.is_some() {
            " (to be sent again next run)"
        } else {
            ""
        };
        match &self.changes {
            Some(c) => {
                parts.push(c.counts(t.sent, self.rows));
                if t.failed == 0 && self.not_sent == 0 {
                    parts.push("0 failed".into());
                }
            }
            None => parts.push(format!(
                "sent {} of {} to RudderStack",
                group_digits(t.sent),
                plural(self.rows, "event", "events")
            )),
        }
        if t.failed > 0 {
            let (attempts, error) = t
                .last_failure
                .clone()
                .unwrap_or((0, "unknown error".into()));
            parts.push(format!(
                "{} failed after {}: {error}{again}",
                group_digits(t.failed),
                plural(u64::from(attempts), "attempt", "attempts")
            ));
        }
        if self.rejected > 0 {
            let example = self
                .first_rejection
                .as_ref()
                .map(|r| format!(" (e.g. {r})"))
                .unwrap_or_default();
            parts.push(format!(
                "{} rejected before sending{example}",
                group_digits(self.rejected)
            ));
        }
        if self.not_sent > 0 {
            let why = t
                .stopped
                .clone()
                .unwrap_or_else(|| "delivery stopped".into());
            parts.push(format!(
                "{} not sent: delivery stopped because {why}{again}",
                group_digits(self.not_sent)
            ));
        }
        if let Some(e) = &self.input_error {
            parts.push(format!("{e}; only the rows read before that were sent"));
        }
        if let Some(note) = &self.naming_note {
            parts.push(note.clone());
        }
        if let Some(Err(why)) = self.changes.as_ref().map(|c| &c.saved) {
            parts.push(why.clone());
        }
        self.with_notes(parts.join("; "))
    }

    /// The clauses, then a change-only send's sentences about its memory.
    fn with_notes(&self, clauses: String) -> String {
        match self.changes.as_ref().filter(|c| !c.notes.is_empty()) {
            Some(c) => format!("{clauses}. {}", c.notes.join(" ")),
            None => clauses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudder::mapping::RejectReason;

    #[test]
    fn messages_tell_the_counts_and_reasons() {
        let ok = DeliveryReport {
            rows: 3,
            tally: Tally {
                sent: 3,
                ..Tally::default()
            },
            ..Default::default()
        };
        assert!(ok.success());
        assert_eq!(ok.message(), "sent 3 of 3 events to RudderStack");

        let failed = DeliveryReport {
            rows: 100_000,
            tally: Tally {
                sent: 99_700,
                failed: 300,
                last_failure: Some((5, "HTTP 503".into())),
                ..Tally::default()
            },
            ..Default::default()
        };
        assert!(!failed.success());
        assert_eq!(
            failed.message(),
            "sent 99 700 of 100 000 events to RudderStack; 300 failed after 5 attempts: HTTP 503"
        );

        let mixed = DeliveryReport {
            rows: 10,
            tally: Tally {
                sent: 4,
                stopped: Some("the data plane refused".into()),
                ..Tally::default()
            },
            rejected: 1,
            first_rejection: Some(Rejection {
                row: 2,
                reason: RejectReason::TooLarge {
                    bytes: 40_000,
                    limit: 32_768,
                },
            }),
            not_sent: 5,
            input_error: Some("the query result download was cut off after 10 row(s): eof".into()),
            naming_note: None,
            rejections: vec![],
            bytes: 0,
            changes: None,
        };
        assert!(!mixed.success());
        let m = mixed.message();
        assert!(m.starts_with("sent 4 of 10 events to RudderStack; 1 rejected before sending (e.g. row 2 makes an event of 40 000 bytes, over the 32 768-byte limit); 5 not sent"), "{m}");
        assert!(
            m.ends_with("cut off after 10 row(s): eof; only the rows read before that were sent"),
            "{m}"
        );

        let empty = DeliveryReport::default();
        assert!(empty.success());
    }

    #[test]
    fn a_change_only_send_tells_what_it_skipped_and_remembered() {
        let changes = ChangeReport {
            unchanged: 989_766,
            new: 8_011,
            changed: 2_223,
            notes: vec!["First note.".into(), "Second note.".into()],
            ..ChangeReport::default()
        };
        let ok = DeliveryReport {
            rows: 1_000_000,
            tally: Tally {
                sent: 10_234,
                ..Tally::default()
            },
            changes: Some(changes.clone()),
            ..Default::default()
        };
        assert!(ok.success());
        assert_eq!(
            ok.message(),
            "sent 10 234 of 1 000 000 rows to RudderStack (8 011 new, 2 223 changed); \
             989 766 unchanged, skipped; 0 failed. First note. Second note."
        );

        let failed = DeliveryReport {
            rows: 10,
            tally: Tally {
                sent: 4,
                failed: 3,
                last_failure: Some((1, "HTTP 400".into())),
                ..Tally::default()
            },
            changes: Some(ChangeReport {
                unchanged: 3,
                new: 3,
                changed: 0,
                repeated: 1,
                saved: Err("the memory could not be saved".into()),
                ..ChangeReport::default()
            }),
            ..Default::default()
        };
        assert!(!failed.success());
        assert_eq!(
            failed.message(),
            "sent 4 of 10 rows to RudderStack (3 new, 0 changed, 1 with a repeated key); \
             3 unchanged, skipped; 3 failed after 1 attempt: HTTP 400 (to be sent again next run); \
             the memory could not be saved"
        );

        // Every row skipped is a success; a memory not saved is not.
        let skipped = DeliveryReport {
            rows: 5,
            changes: Some(ChangeReport {
                unchanged: 5,
                ..ChangeReport::default()
            }),
            ..Default::default()
        };
        assert!(skipped.success());
        let unsaved = DeliveryReport {
            changes: Some(ChangeReport {
                saved: Err("x".into()),
                ..ChangeReport::default()
            }),
            ..skipped
        };
        assert!(!unsaved.success());
    }
}
