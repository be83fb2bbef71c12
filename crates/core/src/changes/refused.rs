//! Why a change-only run may send nothing, in the words Looker shows: the memory is held by
//! another run, damaged, missing or unreachable. Never a silent full send, never a silent skip.

use chrono::{DateTime, Utc};

use super::head::Lease;
use super::store::StoreError;

/// The kind of a refusal, for the run ledger (the actions map it onto their error kind: this
/// module sits below them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedKind {
    /// The memory is damaged, missing or unreachable.
    State,
    /// Another run of the schedule held the memory for the whole wait.
    Busy,
    /// The instance had no memory free for the schedule's memory.
    Capacity,
    /// A bug: the run asked for something the memory does not do.
    Internal,
}

/// Nothing may be sent: why, for Looker and the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The ledger's error kind.
    pub error_kind: RefusedKind,
    /// The answer's message.
    pub message: String,
}

const RESEND: &str = "Choose \"Resend everything\" for one run to send every row and start the \
                      memory anew.";

fn state(message: String) -> Refused {
    Refused {
        error_kind: RefusedKind::State,
        message,
    }
}

/// The store cannot be read or written.
pub fn unreachable(place: &str, e: StoreError) -> Refused {
    state(format!(
        "The action hub cannot reach its memory of what this schedule sent ({place}: {e}), so \
         nothing was sent. Ask the hub's admin, or choose \"Send every row\" for this run."
    ))
}

/// The head cannot be read as one.
pub fn damaged_head(place: &str, why: &str) -> Refused {
    state(format!(
        "The memory of what this schedule sent ({place}) is damaged ({why}), so nothing was \
         sent. {RESEND}"
    ))
}

/// A part of the snapshot is not in the store.
pub fn missing_part(place: &str, snapshot: &str, seq: u32, parts: u32) -> Refused {
    state(format!(
        "The memory of what this schedule sent ({place}, snapshot {snapshot}) is missing part {} \
         of {parts}, so nothing was sent. {RESEND}",
        seq + 1
    ))
}

/// The snapshot's parts do not add up.
pub fn damaged_snapshot(place: &str, snapshot: &str, why: &str) -> Refused {
    state(format!(
        "The memory of what this schedule sent ({place}, snapshot {snapshot}) is damaged \
         ({why}), so nothing was sent. {RESEND}"
    ))
}

/// Another run held the memory for the whole wait.
pub fn busy(lease: &Lease, waited_secs: u64) -> Refused {
    Refused {
        error_kind: RefusedKind::Busy,
        message: format!(
            "Nothing was sent: run {} of this schedule has been sending since {} and still holds \
             the schedule's memory, and this run waited {waited_secs} s for it. The next run \
             will send every change since the last completed run.",
            lease.run_id,
            utc(lease.acquired_at)
        ),
    }
}

/// Heads kept changing under this run for the whole wait.
pub fn contended(waited_secs: u64) -> Refused {
    Refused {
        error_kind: RefusedKind::Busy,
        message: format!(
            "Nothing was sent: other runs of this schedule kept changing its memory while this \
             run waited {waited_secs} s. The next run will send every change since the last \
             completed run."
        ),
    }
}

/// No memory was free for the schedule's memory.
pub fn no_room(bytes: usize) -> Refused {
    Refused {
        error_kind: RefusedKind::Capacity,
        message: format!(
            "The action hub is busy: the memory of this instance (HUB_MEMORY_BUDGET_BYTES) is \
             held by requests in flight and the {} MiB this schedule's memory of sends needs \
             did not free up in time; nothing was sent. Run the action again in a minute.",
            bytes.div_ceil(1 << 20)
        ),
    }
}

/// `begin` was asked for a mode that does not use the memory.
pub fn not_remembering() -> Refused {
    Refused {
        error_kind: RefusedKind::Internal,
        message: "Nothing was sent: \"Send every row\" does not use the memory of sends (a bug of \
                  the action hub)."
            .into(),
    }
}

/// A time as the answers write it.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
