//! What a streamed write-back does with the form's rows-to-send choice: every row (the default,
//! and what a send from an Explore always does: it has no schedule to remember), or only new or
//! changed rows against the schedule's memory; and the sentences its answer adds.

use super::identity::RowIdentity;
use super::remembering::Remembering;
use super::rows_word;
use crate::actions::run::ErrorKind;
use crate::actions::ActionContext;
use crate::api::ExecuteResponse;
use crate::changes::memory::DecisionCounts;
use crate::changes::mode::SendMode;
use crate::changes::run::{ChangeSummary, Scope, Shape, Start};
use crate::sinks::TableDef;

/// The answer's sentence for a change-only choice made outside a schedule.
pub const EXPLORE: &str =
    "Sent from an Explore: there is no schedule to remember, so every row was sent.";

/// How one execute chooses its rows.
pub enum Choice {
    /// Every row, remembering nothing (with a sentence for the answer, when the user asked for
    /// more).
    Every(Option<&'static str>),
    /// Against the memory of this schedule.
    Remember {
        /// `Changed` or `Resend`.
        mode: SendMode,
        /// The scheduled plan.
        plan: String,
    },
}

/// The choice for `mode` on a request of scheduled plan `plan`; `Err` is the answer when the
/// hub has no memory to use (nothing is written).
pub fn choose(
    ctx: &ActionContext<'_>,
    mode: SendMode,
    plan: Option<String>,
) -> Result<Choice, ExecuteResponse> {
    if !mode.remembers() {
        return Ok(Choice::Every(None));
    }
    let Some(plan) = plan else {
        return Ok(Choice::Every(Some(EXPLORE)));
    };
    if ctx.changes.is_none() {
        ctx.run.fail(ErrorKind::Configuration);
        return Err(ExecuteResponse::failure(
            "Nothing was written: this action hub keeps no memory of what schedules wrote, so it \
             cannot write only new or changed rows. Choose \"Send every row\", or ask the hub's \
             admin to give it a memory of sends.",
        ));
    }
    Ok(Choice::Remember { mode, plan })
}

/// What a run of `action` writing `table` (its rows identified by the field `key_field`)
/// remembers, begun for the schedule `plan`: waits while another run of the schedule holds its
/// memory; `Err` is the answer when nothing may be written (busy, damaged or unreachable memory).
pub async fn begin(
    ctx: &ActionContext<'_>,
    (mode, plan): (SendMode, String),
    action: &str,
    table: &TableDef,
    key_field: &str,
    identity: &RowIdentity,
) -> Result<Remembering, ExecuteResponse> {
    let Some(changes) = ctx.changes else {
        // `choose` answered already: no memory, no run.
        ctx.run.fail(ErrorKind::Internal);
        return Err(ExecuteResponse::failure(
            "Nothing was written: the memory of sends went away.",
        ));
    };
    let start = Start {
        scope: Scope {
            looker_instance: ctx.meta.looker_instance.clone().unwrap_or_default(),
            scheduled_plan_id: plan,
            action: action.to_string(),
            destination: format!("table:{}", ctx.sink.destination(table)),
        },
        mode,
        run_id: &ctx.meta.request_id,
        shape: Shape {
            key: key_field.to_string(),
            fields: identity.fields.clone(),
        },
        wait_until: changes.wait_until(ctx.limits.download_deadline),
        // A table keeps every row written; its readers take the latest row of each key.
        append_only: false,
    };
    match changes.begin(start).await {
        Ok(run) => Ok(Remembering::new(run, table, identity)),
        Err(refused) => {
            ctx.run.fail(refused.error_kind.into());
            Err(ExecuteResponse::failure(refused.message))
        }
    }
}

/// The answer's sentences on a change-only run: what was written and skipped, what failed (to
/// be written again next run), the memory's notes (first run, fields changed, keys gone, rows
/// without a key or sharing one); `false` when the memory was not saved.
pub fn sentences(summary: &ChangeSummary, failed: u64) -> (String, bool) {
    let mut out = counts(summary.mode, &summary.counts);
    if failed > 0 {
        out.push_str(&format!(
            " The {failed} {} not confirmed written will be written again next run.",
            rows_word(failed)
        ));
    }
    for note in &summary.notes {
        out.push(' ');
        out.push_str(note);
    }
    match &summary.saved {
        Ok(()) => (out, true),
        Err(why) => (format!("{out} But {why}."), false),
    }
}

/// " Only new or changed rows: 15 new, 5 changed written; 980 unchanged rows skipped."
fn counts(mode: SendMode, c: &DecisionCounts) -> String {
    let label = match mode {
        SendMode::Resend => "Every row resent",
        _ => "Only new or changed rows",
    };
    let mut written: Vec<String> = vec![];
    for (n, what) in [
        (c.new, "new"),
        (c.changed, "changed"),
        (c.unkeyed, "without a key value"),
        (c.repeated, "with a key value an earlier row had"),
    ] {
        if n > 0 {
            written.push(format!("{n} {what}"));
        }
    }
    let written = match written.is_empty() {
        true => "nothing new or changed".to_string(),
        false => format!("{} written", written.join(", ")),
    };
    format!(
        " {label}: {written}; {} unchanged {} skipped.",
        c.unchanged,
        rows_word(c.unchanged)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(counts: DecisionCounts, notes: &[&str], saved: Result<(), String>) -> ChangeSummary {
        ChangeSummary {
            mode: SendMode::Changed,
            counts,
            keys_gone: Some(0),
            base: "run-1".into(),
            saved,
            notes: notes.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn the_answer_counts_written_skipped_and_failed_rows() {
        let c = DecisionCounts {
            new: 15,
            changed: 5,
            unchanged: 980,
            unkeyed: 0,
            repeated: 0,
        };
        assert_eq!(
            sentences(&summary(c, &["2 keys are gone."], Ok(())), 0),
            (
                " Only new or changed rows: 15 new, 5 changed written; 980 unchanged rows skipped. 2 keys are gone.".into(),
                true
            )
        );
        let (text, saved) = sentences(&summary(c, &[], Err("it broke".into())), 3);
        assert!(!saved);
        assert_eq!(
            text,
            " Only new or changed rows: 15 new, 5 changed written; 980 unchanged rows skipped. The 3 rows not confirmed written will be written again next run. But it broke."
        );
    }

    #[test]
    fn unkeyed_and_repeated_rows_are_named() {
        let c = DecisionCounts {
            unchanged: 1,
            unkeyed: 2,
            repeated: 3,
            ..DecisionCounts::default()
        };
        assert_eq!(
            sentences(&summary(c, &[], Ok(())), 0).0,
            " Only new or changed rows: 2 without a key value, 3 with a key value an earlier row had written; 1 unchanged row skipped."
        );
        let nothing = DecisionCounts {
            unchanged: 4,
            ..DecisionCounts::default()
        };
        assert_eq!(
            sentences(&summary(nothing, &[], Ok(())), 0).0,
            " Only new or changed rows: nothing new or changed; 4 unchanged rows skipped."
        );
    }
}
