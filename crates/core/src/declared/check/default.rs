//! A field's default: a literal (a valid answer), the clicked value, today, or a param.

use super::super::model::*;
use super::super::syntax::*;
use super::line;
use super::Checker;
use crate::api::{ActionParam, FieldType, USER_EMAIL_PARAM};

/// The default of `field`, when it is one the field and its action can have.
pub(super) fn default(
    d: Spanned<RawDefault>,
    field: &Field,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Option<DefaultValue> {
    let dl = line(&d);
    let name = &field.name;
    let dv = match d.value {
        RawDefault::Literal(s) => Some(DefaultValue::Literal(s.0.unwrap_or_default())),
        RawDefault::Source(RawDefaultSource {
            from: Some(from),
            param: None,
        }) => from_source(&from, name, kind, dl, ck),
        RawDefault::Source(RawDefaultSource {
            from: None,
            param: Some(p),
        }) => {
            if !params.iter().any(|q| q.name == p) {
                ck.at(dl, format!("field {name:?}: default param {p:?} is not a param of this action; declare it under `params:` or use `{USER_EMAIL_PARAM}`"));
            }
            Some(DefaultValue::Param(p))
        }
        RawDefault::Source(_) => {
            ck.at(dl, format!("field {name:?}: write `default: <literal>`, `default: {{from: value}}`, `default: {{from: today}}` or `default: {{param: <param>}}`"));
            None
        }
    };
    match &dv {
        Some(DefaultValue::Literal(lit)) => check_literal(lit, field, dl, ck),
        Some(DefaultValue::Today) if !matches!(field.value, ValueType::Date | ValueType::Text) => {
            ck.at(
                dl,
                format!("field {name:?}: `from: today` is for date fields; write `value: date`"),
            );
        }
        _ => {}
    }
    dv
}

/// `{from: value}` (cell actions: the clicked value) or `{from: today}`.
fn from_source(
    from: &str,
    name: &str,
    kind: Kind,
    dl: Pos,
    ck: &mut Checker,
) -> Option<DefaultValue> {
    match from {
        "value" if kind == Kind::Query => {
            ck.at(dl, format!("field {name:?}: `default: {{from: value}}` is the clicked value, which a query action does not have (it acts on a whole result); write a literal (`default: some text`), `default: {{from: today}}` or `default: {{param: {USER_EMAIL_PARAM}}}`, or remove `default`"));
            None
        }
        "value" => Some(DefaultValue::ClickedValue),
        "today" => Some(DefaultValue::Today),
        other if kind == Kind::Query => {
            ck.at(dl, format!("field {name:?}: `default: {{from: {other}}}` is not known; write `from: today`"));
            None
        }
        other => {
            ck.at(dl, format!("field {name:?}: `default: {{from: {other}}}` is not known; write `from: value` (the clicked value) or `from: today`"));
            None
        }
    }
}

/// A literal default is an answer the field accepts.
fn check_literal(lit: &str, field: &Field, dl: Pos, ck: &mut Checker) {
    let name = &field.name;
    let mut errs = std::collections::BTreeMap::new();
    let _ = super::super::form::check_value(field, lit, usize::MAX, &mut errs);
    let Some(e) = errs.remove(name) else {
        return;
    };
    if field.field_type == FieldType::Select {
        let options: Vec<&str> = field.options.iter().map(|o| o.name.as_str()).collect();
        ck.at(
            dl,
            format!(
                "field {name:?}: default {lit:?} is not among its options; write one of {}",
                options.join(", ")
            ),
        );
    } else {
        ck.at(
            dl,
            format!("field {name:?}: default {lit:?} is not a valid answer: it {e}"),
        );
    }
}
