//! What one execute did, as its engines count it: the run tally an [`super::ActionContext`]
//! carries. The engines (the streaming write-back, a declared cell write, the RudderStack
//! delivery, the identity gate) add to it as they go; when the execute ends the hub reads it once
//! to write the execute's outcome event and run record (`crate::http`). An action that reports
//! nothing still gets a record: its outcome then comes from its answer alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::changes::memory::DecisionCounts;
use crate::changes::mode::SendMode;

/// Most rejected rows of one run kept with their reason (as many as the run ledger stores); the
/// rest are only counted.
pub const MAX_REJECTIONS_KEPT: usize = crate::sinks::ledger::MAX_REJECTED_ROWS_PER_RUN;

/// The first error's kind, a short snake_case word (the outcome event's `error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Values or rows that do not fit (form validation, rejected rows).
    Validation,
    /// The request cannot be acted on as sent (no query result, malformed body, too large).
    Request,
    /// The action's configuration in Looker or the hub is incomplete (no write key, unknown
    /// source).
    Configuration,
    /// The write-back store refused or failed a write.
    Sink,
    /// The RudderStack data plane refused or did not confirm events.
    DataPlane,
    /// The query result could not be read (download, malformed document).
    Download,
    /// The execute's time limit cut it short.
    Deadline,
    /// The instance's shutdown cut it short (or it arrived too late to start).
    Shutdown,
    /// The user must log in (again) before the action can write as them.
    Auth,
    /// The instance had no room for it (query-execute slots, memory budget).
    Capacity,
    /// A bug or an unexpected failure.
    Internal,
    /// The action answered `success:false` without naming a kind.
    Action,
    /// The memory of a change-only schedule cannot be used (missing, damaged, unreachable).
    State,
    /// Another run of the same change-only schedule is still sending.
    Busy,
}

impl ErrorKind {
    /// The word logged and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Request => "request",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Sink => "sink",
            ErrorKind::DataPlane => "data_plane",
            ErrorKind::Download => "download",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Shutdown => "shutdown",
            ErrorKind::Auth => "auth",
            ErrorKind::Capacity => "capacity",
            ErrorKind::Internal => "internal",
            ErrorKind::Action => "action",
            ErrorKind::State => "state",
            ErrorKind::Busy => "busy",
        }
    }
}

/// Whose identity the run's writes used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunIdentity {
    /// The hub's own identity (service account, the embedded store, a RudderStack write key).
    Service,
    /// The Looker user's OAuth login.
    User,
}

impl RunIdentity {
    /// The word logged and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunIdentity::Service => "service",
            RunIdentity::User => "user",
        }
    }
}

/// What a run that sent only new or changed rows decided, for its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeTally {
    /// Rows per decision.
    pub decisions: DecisionCounts,
    /// Keys of the last run no longer in the result (`None`: the result was not read to its end).
    pub keys_gone: Option<u64>,
    /// What the run compared with: the base snapshot's run id, or `first_run`, `resend`,
    /// `key_changed`, `lease_broken`.
    pub base: String,
}

/// One result row that was not written or sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The row's index in the result (0-based).
    pub row_index: u64,
    /// The row's identifying value, when known.
    pub key: Option<String>,
    /// The column (or field) that could not be filled, when one is to blame.
    pub column: Option<String>,
    /// Why, in the words of the answer.
    pub reason: String,
}

/// The counts and first error of one execute, filled while it runs (shared by reference; every
/// method takes `&self`).
#[derive(Debug)]
pub struct RunTally {
    rows_read: AtomicU64,
    rows_delivered: AtomicU64,
    rows_rejected: AtomicU64,
    rows_unconfirmed: AtomicU64,
    bytes_read: AtomicU64,
    notes: Mutex<Notes>,
}

impl Default for RunTally {
    fn default() -> RunTally {
        RunTally::new()
    }
}

/// The tally of calls that are not executes (definitions, forms): nothing reads it, and nothing
/// there counts rows.
pub static NOT_A_RUN: RunTally = RunTally::new();

/// The parts of a tally that are not counters.
#[derive(Debug)]
struct Notes {
    error: Option<ErrorKind>,
    refused: bool,
    user: bool,
    rudder_source: Option<String>,
    rejections: Vec<Rejection>,
    send_mode: Option<SendMode>,
    changes: Option<ChangeTally>,
}

/// A tally read once the execute has ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Result rows read (0 for a cell execute, which reads no result).
    pub rows_read: u64,
    /// Rows written to the table, or sent to the data plane and confirmed.
    pub rows_delivered: u64,
    /// Rows not written or sent because they do not fit (counted, never silently dropped).
    pub rows_rejected: u64,
    /// Rows handed to the store or data plane whose delivery was not confirmed.
    pub rows_unconfirmed: u64,
    /// Bytes of the result rows read.
    pub bytes_read: u64,
    /// The first error's kind an engine reported.
    pub error: Option<ErrorKind>,
    /// Whether the action turned the execute away before doing anything (a login is needed).
    pub refused: bool,
    /// Whose identity the writes used.
    pub identity: Option<RunIdentity>,
    /// The named RudderStack source sent to, if any.
    pub rudder_source: Option<String>,
    /// The first [`MAX_REJECTIONS_KEPT`] rejected rows.
    pub rejections: Vec<Rejection>,
    /// Which rows a query run chose to send.
    pub send_mode: Option<SendMode>,
    /// What a change-only run decided.
    pub changes: Option<ChangeTally>,
}

impl RunTally {
    /// A tally with nothing counted.
    pub const fn new() -> RunTally {
        RunTally {
            rows_read: AtomicU64::new(0),
            rows_delivered: AtomicU64::new(0),
            rows_rejected: AtomicU64::new(0),
            rows_unconfirmed: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            notes: Mutex::new(Notes {
                error: None,
                refused: false,
                user: false,
                rudder_source: None,
                rejections: Vec::new(),
                send_mode: None,
                changes: None,
            }),
        }
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` more result rows read, `bytes` long.
    pub fn read(&self, n: u64, bytes: u64) {
        self.rows_read.fetch_add(n, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `n` more rows delivered (written, or sent and confirmed).
    pub fn delivered(&self, n: u64) {
        self.rows_delivered.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more rows handed over whose delivery was not confirmed.
    pub fn unconfirmed(&self, n: u64) {
        self.rows_unconfirmed.fetch_add(n, Ordering::Relaxed);
    }

    /// One more rejected row (kept with its reason while fewer than [`MAX_REJECTIONS_KEPT`] are).
    /// The first rejection makes the run's error kind [`ErrorKind::Validation`] unless an error
    /// came first.
    pub fn reject(&self, rejection: Rejection) {
        self.rejected_without_reason(1);
        let mut notes = self.notes();
        notes.error.get_or_insert(ErrorKind::Validation);
        if notes.rejections.len() < MAX_REJECTIONS_KEPT {
            notes.rejections.push(rejection);
        }
    }

    /// `n` more rejected rows whose reasons are not kept (counted only).
    pub fn rejected_without_reason(&self, n: u64) {
        self.rows_rejected.fetch_add(n, Ordering::Relaxed);
    }

    /// The run failed (or partly failed) for this reason; only the first one is kept.
    pub fn fail(&self, kind: ErrorKind) {
        self.notes().error.get_or_insert(kind);
    }

    /// The action turned the execute away before doing anything, for this reason.
    pub fn refuse(&self, kind: ErrorKind) {
        let mut notes = self.notes();
        notes.refused = true;
        notes.error.get_or_insert(kind);
    }

    /// The run writes with the Looker user's login.
    pub fn acts_as_user(&self) {
        self.notes().user = true;
    }

    /// The run sends to this named RudderStack source.
    pub fn rudder_source(&self, name: &str) {
        self.notes().rudder_source = Some(name.to_string());
    }

    /// The run chose which rows to send.
    pub fn send_mode(&self, mode: SendMode) {
        self.notes().send_mode = Some(mode);
    }

    /// What the run, sending only new or changed rows, decided.
    pub fn changes(&self, tally: ChangeTally) {
        self.notes().changes = Some(tally);
    }

    /// Everything counted so far (read once the execute has ended).
    pub fn counts(&self) -> RunCounts {
        let notes = self.notes();
        RunCounts {
            rows_read: self.rows_read.load(Ordering::Relaxed),
            rows_delivered: self.rows_delivered.load(Ordering::Relaxed),
            rows_rejected: self.rows_rejected.load(Ordering::Relaxed),
            rows_unconfirmed: self.rows_unconfirmed.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            error: notes.error,
            refused: notes.refused,
            identity: Some(if notes.user {
                RunIdentity::User
            } else {
                RunIdentity::Service
            }),
            rudder_source: notes.rudder_source.clone(),
            rejections: notes.rejections.clone(),
            send_mode: notes.send_mode,
            changes: notes.changes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_kept_up_to_the_bound_and_all_counted() {
        let t = RunTally::new();
        t.read(250, 9_000);
        for i in 0..150 {
            t.reject(Rejection {
                row_index: i,
                key: Some(format!("k{i}")),
                column: Some("amount".into()),
                reason: "expected INT64".into(),
            });
        }
        t.fail(ErrorKind::Sink);
        let c = t.counts();
        assert_eq!(
            (c.rows_read, c.bytes_read, c.rows_rejected),
            (250, 9_000, 150)
        );
        assert_eq!(c.rejections.len(), MAX_REJECTIONS_KEPT);
        assert_eq!(c.rejections[99].row_index, 99);
        // The first error is the one kept.
        assert_eq!(c.error, Some(ErrorKind::Validation));
        assert_eq!(c.identity, Some(RunIdentity::Service));
        assert!(!c.refused);
    }
}
