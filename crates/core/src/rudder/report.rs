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
}

impl DeliveryReport {
    /// Every row became an event the data plane accepted, and the result was read to its end.
    pub fn success(&self) -> bool {
        self.input_error.is_none()
            && self.rejected == 0
            && self.not_sent == 0
            && self.tally.failed == 0
            && self.tally.sent == self.rows
    }

    /// The message for Looker: counts first, then each kind of trouble with its reason.
    pub fn message(&self) -> String {
        let t = &self.tally;
        let mut parts = Vec::new();
        if self.rows == 0 && self.input_error.is_none() {
            return "the query returned no rows: nothing to send".into();
        }
        parts.push(format!(
            "sent {} of {} to RudderStack",
            group_digits(t.sent),
            plural(self.rows, "event", "events")
        ));
        if t.failed > 0 {
            let (attempts, error) = t
                .last_failure
                .clone()
                .unwrap_or((0, "unknown error".into()));
            parts.push(format!(
                "{} failed after {}: {error}",
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
                "{} not sent: delivery stopped because {why}",
                group_digits(self.not_sent)
            ));
        }
        if let Some(e) = &self.input_error {
            parts.push(format!("{e}; only the rows read before that were sent"));
        }
        if let Some(note) = &self.naming_note {
            parts.push(note.clone());
        }
        parts.join("; ")
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
}
