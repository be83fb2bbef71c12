//! A field's messages: each a template whose placeholders the field can fill.

use super::super::model::*;
use super::super::syntax::*;
use super::line;
use super::Checker;
use crate::api::FieldType;

/// The field's messages as written, every template checked.
pub(super) fn messages(m: Spanned<Messages>, field: &Field, ck: &mut Checker) -> Messages {
    let ml = line(&m);
    let m = m.value;
    for (what, t) in [
        ("required", &m.required),
        ("min_length", &m.min_length),
        ("max_length", &m.max_length),
        ("pattern", &m.pattern),
        ("options", &m.options),
        ("invalid", &m.invalid),
        ("min", &m.min),
        ("max", &m.max),
    ] {
        if let Some(t) = t {
            check_template(what, t, field, ml, ck);
        }
    }
    m
}

/// One message: a valid template using only what this field can fill in.
fn check_template(what: &str, text: &str, field: &Field, ml: Pos, ck: &mut Checker) {
    let name = &field.name;
    let t = match Template::parse(text) {
        Ok(t) => t,
        Err(e) => return ck.at(ml, format!("field {name:?}: message `{what}`: {e}")),
    };
    // What this field can fill in, in every message (form::check_value).
    let text = matches!(field.value, ValueType::Text | ValueType::Email)
        && field.field_type != FieldType::Select;
    let has = |p: &str| match p {
        "value" => true,
        "min" => field.min.is_some() || field.min_length.is_some(),
        "max" => field.max.is_some() || field.max_length.is_some() || text,
        "length" => text,
        "options" => field.field_type == FieldType::Select,
        _ => false,
    };
    for p in t.placeholders() {
        if !has(p) {
            let usable: Vec<String> = ["value", "min", "max", "length", "options"]
                .into_iter()
                .filter(|q| has(q))
                .map(|q| format!("{{{q}}}"))
                .collect();
            ck.at(ml, format!("field {name:?}: message `{what}` uses {{{p}}}, which this field has no value for: use {}", usable.join(", ")));
        }
    }
}
