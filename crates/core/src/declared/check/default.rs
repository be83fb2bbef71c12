//! A field's default: a literal (a valid answer), the clicked value, today, or a param.

use super::super::model::*;
use super::super::syntax::*;
use super::line;
use super::{advice_on, Checked, Checker, Reported, Verdict};
use crate::api::{ActionParam, FieldType, USER_EMAIL_PARAM};

/// The default of `field` (none when it names no source), and whether it is one the field and
/// its action can have.
pub(super) fn default(
    d: Spanned<RawDefault>,
    field: &Field,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Checked<Option<DefaultValue>> {
    let dl = line(&d);
    let name = &field.name;
    let mut verdict = Verdict::default();
    let dv = match d.value {
        RawDefault::Literal(s) => Some(DefaultValue::Literal(s.0.unwrap_or_default())),
        RawDefault::Source(RawDefaultSource {
            from: Some(from),
            param: None,
        }) => verdict.take(from_source(&from, name, kind, dl, ck)),
        RawDefault::Source(RawDefaultSource {
            from: None,
            param: Some(p),
        }) => {
            if !params.iter().any(|q| q.name == p) {
                let message =
                    format!("field {name:?}: default param {p:?} is not a param of this action");
                let help = format!("declare it under `params:` or use `{USER_EMAIL_PARAM}`");
                verdict.add(ck.at(dl, advice_on(message, help)));
            }
            Some(DefaultValue::Param(p))
        }
        RawDefault::Source(_) => {
            verdict.add(ck.at(dl, format!("field {name:?}: write `default: <literal>`, `default: {{from: value}}`, `default: {{from: today}}` or `default: {{param: <param>}}`")));
            None
        }
    };
    match &dv {
        Some(DefaultValue::Literal(lit)) => verdict.note(check_literal(lit, field, dl, ck)),
        Some(DefaultValue::Today) if !matches!(field.value, ValueType::Date | ValueType::Text) => {
            let message = format!("field {name:?}: `from: today` is for date fields");
            verdict.add(ck.at(dl, advice_on(message, "write `value: date`")));
        }
        _ => {}
    }
    verdict.with(dv)
}

/// `{from: value}` (cell actions: the clicked value) or `{from: today}`.
fn from_source(
    from: &str,
    name: &str,
    kind: Kind,
    dl: Pos,
    ck: &mut Checker,
) -> Result<DefaultValue, Reported> {
    let (message, help) = match from {
        "value" if kind == Kind::Query => (
            format!("field {name:?}: `default: {{from: value}}` is the clicked value, which a query action does not have (it acts on a whole result)"),
            format!("write a literal (`default: some text`), `default: {{from: today}}` or `default: {{param: {USER_EMAIL_PARAM}}}`, or remove `default`"),
        ),
        "value" => return Ok(DefaultValue::ClickedValue),
        "today" => return Ok(DefaultValue::Today),
        other if kind == Kind::Query => (
            format!("field {name:?}: `default: {{from: {other}}}` is not known"),
            "write `from: today`".to_string(),
        ),
        other => (
            format!("field {name:?}: `default: {{from: {other}}}` is not known"),
            "write `from: value` (the clicked value) or `from: today`".to_string(),
        ),
    };
    Err(ck.at(dl, advice_on(message, help)))
}

/// A literal default is an answer the field accepts.
fn check_literal(lit: &str, field: &Field, dl: Pos, ck: &mut Checker) -> Result<(), Reported> {
    let name = &field.name;
    let mut errs = std::collections::BTreeMap::new();
    let _ = super::super::form::check_value(field, lit, usize::MAX, &mut errs);
    let Some(e) = errs.remove(name) else {
        return Ok(());
    };
    if field.field_type == FieldType::Select {
        let options: Vec<&str> = field.options.iter().map(|o| o.name.as_str()).collect();
        let message = format!("field {name:?}: default {lit:?} is not among its options");
        let help = format!("write one of {}", options.join(", "));
        Err(ck.at(dl, advice_on(message, help)))
    } else {
        let message = format!("field {name:?}: default {lit:?} is not a valid answer: it {e}");
        Err(ck.at(dl, message))
    }
}
