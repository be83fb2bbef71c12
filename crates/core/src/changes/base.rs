//! What a run compares its rows with (its *base*), chosen from the head it found, and the
//! sentences the answer says about it: a first run, a resend, a changed key or a run that
//! stopped without saving send every row, announced; fields added or removed are named.

use super::head::{kept_fields, Head, FIELDS_KEPT};
use super::memory::DecisionCounts;

/// Field names an answer lists before "and N more".
const NAMED: usize = 5;

/// What the run compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Base {
    /// No memory yet: every row is sent and remembered.
    FirstRun,
    /// The user chose to resend everything.
    Resend,
    /// What identifies a row changed: keys are not comparable.
    KeyChanged { before: String, now: String },
    /// A run stopped without saving what it sent, and rows are upserts: every row is sent.
    Broken { run: String },
    /// The last committed run's snapshot.
    Snapshot {
        name: String,
        fields: Option<FieldsChanged>,
    },
}

/// How the delivered fields differ from the last run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldsChanged {
    added: Vec<String>,
    removed: Vec<String>,
    /// Whether the lists are known (the last run's list was kept whole).
    named: bool,
}

/// The base and, for appends after a run that stopped, that run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub base: Base,
    /// A run that stopped without saving, when this run still compares with the memory
    /// (appends): events it sent may be sent again.
    pub after_stopped: Option<String>,
}

/// What the run wants to send.
pub(super) struct Wanted<'a> {
    pub resend: bool,
    pub append_only: bool,
    pub key: &'a str,
    pub fields: &'a [String],
}

/// Choose the base from the head found (before this run's lease).
pub(super) fn plan(found: &Head, wanted: &Wanted<'_>) -> Plan {
    let stopped = found
        .dirty
        .as_ref()
        .map(|d| d.run_id.clone())
        .or_else(|| found.lease.as_ref().map(|l| l.run_id.clone()));
    let base = match (&found.snapshot, &stopped) {
        _ if wanted.resend => Base::Resend,
        (_, Some(run)) if !wanted.append_only => Base::Broken { run: run.clone() },
        (None, _) => Base::FirstRun,
        (Some(s), _) if s.shape_key != wanted.key => Base::KeyChanged {
            before: s.shape_key.clone(),
            now: wanted.key.to_string(),
        },
        (Some(s), _) => {
            let (_, _, hash) = kept_fields(wanted.fields);
            let fields = (hash != s.fields_hash).then(|| {
                let named = s.field_count as usize <= FIELDS_KEPT;
                let now: std::collections::BTreeSet<&String> = wanted.fields.iter().collect();
                let before: std::collections::BTreeSet<&String> = s.fields.iter().collect();
                FieldsChanged {
                    added: now.difference(&before).map(|f| f.to_string()).collect(),
                    removed: before.difference(&now).map(|f| f.to_string()).collect(),
                    named,
                }
            });
            Base::Snapshot {
                name: s.name.clone(),
                fields,
            }
        }
    };
    let after_stopped = match base {
        Base::Resend | Base::Broken { .. } => None,
        _ => stopped,
    };
    Plan {
        base,
        after_stopped,
    }
}

impl Plan {
    /// Whether the last snapshot is read.
    pub fn reads_snapshot(&self) -> Option<&str> {
        match &self.base {
            Base::Snapshot { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The base in one word (the ledger's `change_base`).
    pub fn word(&self) -> String {
        match &self.base {
            Base::FirstRun => "first_run".into(),
            Base::Resend => "resend".into(),
            Base::KeyChanged { .. } => "key_changed".into(),
            Base::Broken { .. } => "lease_broken".into(),
            Base::Snapshot { name, .. } => name.clone(),
        }
    }

    /// The answer's sentences about the base and what the run decided.
    pub fn notes(
        &self,
        counts: &DecisionCounts,
        keys_gone: Option<u64>,
        saved: bool,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let remembered = if saved { " and remembered" } else { "" };
        match &self.base {
            Base::FirstRun => notes.push(format!(
                "First change-only run of this schedule: every row was sent{remembered}."
            )),
            Base::Resend => notes.push(format!(
                "Resend everything: every row was sent{remembered}, and this schedule's memory \
                 starts anew. Set the schedule back to \"Send only new or changed rows\" for the \
                 next runs."
            )),
            Base::KeyChanged { before, now } => notes.push(format!(
                "What identifies a row changed (from {before} to {now}), so every row was sent \
                 and the memory starts anew."
            )),
            Base::Broken { run } => notes.push(format!(
                "The previous run {run} stopped without saving what it sent, so every row was \
                 sent."
            )),
            Base::Snapshot { fields, .. } => notes.extend(fields.as_ref().map(fields_note)),
        }
        if let Some(run) = &self.after_stopped {
            notes.push(format!(
                "The previous run {run} stopped without saving what it sent: events it sent may \
                 be sent again by this run."
            ));
        }
        notes.extend(count_notes(counts, keys_gone));
        notes
    }
}

fn fields_note(f: &FieldsChanged) -> String {
    let list = |what: &str, names: &[String]| -> Option<String> {
        if names.is_empty() {
            return None;
        }
        let shown = names
            .iter()
            .take(NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = match names.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        Some(format!("{what}: {shown}{more}"))
    };
    let lists: Vec<String> = [list("added", &f.added), list("removed", &f.removed)]
        .into_iter()
        .flatten()
        .collect();
    let which = if f.named && !lists.is_empty() {
        format!(" ({})", lists.join("; "))
    } else {
        String::new()
    };
    format!(
        "The result's fields changed since the last run{which}: every row whose delivered \
         content changed was sent."
    )
}

fn count_notes(counts: &DecisionCounts, keys_gone: Option<u64>) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(gone) = keys_gone.filter(|&n| n > 0) {
        notes.push(format!(
            "{gone} {} of the last run {} no longer in the result (nothing was deleted \
             downstream).",
            if gone == 1 { "key" } else { "keys" },
            if gone == 1 { "is" } else { "are" }
        ));
    }
    if counts.repeated > 0 {
        notes.push(format!(
            "{} {} shared a key with an earlier row of the result: sent, and sent again next run \
             (give each row a key of its own).",
            counts.repeated,
            if counts.repeated == 1 { "row" } else { "rows" }
        ));
    }
    if counts.unkeyed > 0 {
        notes.push(format!(
            "{} {} no key: {} sent on every run.",
            counts.unkeyed,
            if counts.unkeyed == 1 {
                "row has"
            } else {
                "rows have"
            },
            if counts.unkeyed == 1 {
                "it is"
            } else {
                "they are"
            }
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::format::SnapshotInfo;
    use crate::changes::hash::Seed;
    use crate::changes::head::{Dirty, SnapshotRef};

    fn head_with(key: &str, fields: &[&str]) -> Head {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let (kept, count, hash) = kept_fields(&fields);
        let mut h = Head::new(Seed(1));
        h.snapshot = Some(SnapshotRef {
            name: "run-1".into(),
            info: SnapshotInfo {
                records: 0,
                parts: 1,
                crc32: 0,
            },
            shape_key: key.into(),
            fields: kept,
            field_count: count,
            fields_hash: hash,
        });
        h
    }

    fn wanted<'a>(key: &'a str, fields: &'a [String], append_only: bool) -> Wanted<'a> {
        Wanted {
            resend: false,
            append_only,
            key,
            fields,
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_added_and_removed_are_named_up_to_five() {
        let h = head_with("users.id", &["a", "b", "c"]);
        let now = names(&["b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let p = plan(&h, &wanted("users.id", &now, false));
        assert_eq!(p.word(), "run-1");
        assert_eq!(
            p.notes(&DecisionCounts::default(), Some(0), true),
            [
                "The result's fields changed since the last run (added: d, e, f, g, h and 2 more; \
              removed: a): every row whose delivered content changed was sent."
            ]
        );
        let same = names(&["c", "b", "a"]);
        assert!(plan(&h, &wanted("users.id", &same, false))
            .notes(&DecisionCounts::default(), None, true)
            .is_empty());
    }

    #[test]
    fn a_stopped_run_sends_every_upsert_and_warns_of_repeated_events() {
        let mut h = head_with("k", &["a"]);
        h.dirty = Some(Dirty {
            run_id: "r0".into(),
            why: "x".into(),
        });
        let fields = names(&["a"]);
        let upsert = plan(&h, &wanted("k", &fields, false));
        assert_eq!(upsert.base, Base::Broken { run: "r0".into() });
        assert_eq!(upsert.word(), "lease_broken");
        let append = plan(&h, &wanted("k", &fields, true));
        assert_eq!(append.reads_snapshot(), Some("run-1"));
        assert_eq!(
            append.notes(&DecisionCounts::default(), None, true),
            [
                "The previous run r0 stopped without saving what it sent: events it sent may be \
              sent again by this run."
            ]
        );
    }

    #[test]
    fn counts_worth_saying_are_said() {
        let counts = DecisionCounts {
            repeated: 2,
            unkeyed: 1,
            ..Default::default()
        };
        let p = Plan {
            base: Base::FirstRun,
            after_stopped: None,
        };
        assert_eq!(
            p.notes(&counts, Some(1), false),
            [
                "First change-only run of this schedule: every row was sent.",
                "1 key of the last run is no longer in the result (nothing was deleted downstream).",
                "2 rows shared a key with an earlier row of the result: sent, and sent again next \
                 run (give each row a key of its own).",
                "1 row has no key: it is sent on every run."
            ]
        );
    }
}
