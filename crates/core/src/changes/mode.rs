//! The choice a query action's form offers: send every row (the default, and what a send without
//! a schedule always does), only the rows that are new or changed since the schedule's last
//! successful run, or every row once while the schedule's memory starts anew.

use crate::api::{FieldType, FormField, SelectOption};

/// The form field's name.
pub const FIELD: &str = "send_mode";

/// How a query action chooses the rows it delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Every row, as every run did before change-only sends existed.
    Every,
    /// Only rows whose key is new or whose content changed since the last successful run.
    Changed,
    /// Every row, and the schedule's memory is replaced by what this run delivers.
    Resend,
}

impl SendMode {
    const ALL: [SendMode; 3] = [SendMode::Every, SendMode::Changed, SendMode::Resend];

    /// The form value (and the run ledger's `send_mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::Every => "every",
            SendMode::Changed => "changed",
            SendMode::Resend => "resend",
        }
    }

    fn label(self) -> &'static str {
        match self {
            SendMode::Every => "Send every row",
            SendMode::Changed => "Send only new or changed rows",
            SendMode::Resend => "Resend everything (forget what was sent, then remember anew)",
        }
    }

    /// The form's answer; no answer (a schedule made before the choice existed) is `Every`.
    /// `Err` is the problem, for the field's error.
    pub fn parse(answer: Option<&str>) -> Result<SendMode, String> {
        let Some(answer) = answer.map(str::trim).filter(|a| !a.is_empty()) else {
            return Ok(SendMode::Every);
        };
        SendMode::ALL
            .into_iter()
            .find(|m| m.as_str() == answer)
            .ok_or_else(|| "must be every, changed or resend".to_string())
    }

    /// Whether this run reads or writes the schedule's memory.
    pub fn remembers(self) -> bool {
        self != SendMode::Every
    }
}

/// The select field every query action that delivers rows offers.
pub fn form_field() -> FormField {
    let mut field = FormField::new(FIELD, "Rows to send", FieldType::Select);
    field.description = Some(
        "On a schedule, \"only new or changed rows\" skips the rows this schedule already \
         delivered unchanged. Looker keeps the choice on the schedule: after one run of \
         \"Resend everything\", set it back."
            .into(),
    );
    field.required = Some(true);
    field.default = Some(SendMode::Every.as_str().into());
    field.options = Some(
        SendMode::ALL
            .into_iter()
            .map(|m| SelectOption {
                name: m.as_str().into(),
                label: m.label().into(),
            })
            .collect(),
    );
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_no_answer_sends_every_row() {
        assert_eq!(SendMode::parse(None), Ok(SendMode::Every));
        assert_eq!(SendMode::parse(Some(" ")), Ok(SendMode::Every));
        assert_eq!(SendMode::parse(Some("changed")), Ok(SendMode::Changed));
        assert_eq!(SendMode::parse(Some("resend")), Ok(SendMode::Resend));
        assert_eq!(
            SendMode::parse(Some("Changed")),
            Err("must be every, changed or resend".into())
        );
    }

    #[test]
    fn the_field_offers_the_three_modes_and_defaults_to_every() {
        let f = form_field();
        assert_eq!(f.default.as_deref(), Some("every"));
        let names: Vec<_> = f.options.unwrap().into_iter().map(|o| o.name).collect();
        assert_eq!(names, ["every", "changed", "resend"]);
    }
}
