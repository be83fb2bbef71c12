//! One form field: its type, value type, rules, options, default, messages and column.

use super::super::model::*;
use super::super::names;
use super::super::syntax::*;
use super::Checker;
use super::{line, opt_line};
use crate::api::{ActionParam, FieldType, SelectOption, USER_EMAIL_PARAM};

pub(super) fn build_field(
    f: RawField,
    fl: Pos,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Field {
    let name = f.name.value.clone();
    if let Some(p) = names::field_name_problem(&name) {
        ck.at(line(&f.name), p);
    }
    let value = match f.value.as_ref().map(|v| v.value) {
        None | Some(RawValueType::Text) => ValueType::Text,
        Some(RawValueType::Integer) => ValueType::Integer,
        Some(RawValueType::Number) => ValueType::Number,
        Some(RawValueType::Date) => ValueType::Date,
        Some(RawValueType::Boolean) => ValueType::Boolean,
        Some(RawValueType::Email) => ValueType::Email,
    };
    let field_type = match (f.field_type.as_ref().map(|t| t.value), value) {
        (None | Some(RawFieldType::Select), ValueType::Boolean) => FieldType::Select,
        (Some(_), ValueType::Boolean) => {
            ck.at(opt_line(&f.field_type, fl), format!("field {name:?}: a boolean field is a yes/no select; write `type: select` or leave `type` out"));
            FieldType::Select
        }
        (None, _) if f.options.is_some() => FieldType::Select,
        (None | Some(RawFieldType::String), _) => FieldType::String,
        (Some(RawFieldType::Textarea), v) => {
            if v != ValueType::Text {
                ck.at(opt_line(&f.field_type, fl), format!("field {name:?}: a textarea holds text; write `value: text` or `type: string`"));
            }
            FieldType::Textarea
        }
        (Some(RawFieldType::Select), _) => FieldType::Select,
    };
    let required = f.required.unwrap_or(false);
    let retired = f.retired.as_ref().is_some_and(|r| r.value);
    if retired && required {
        ck.at(
            f.retired.as_ref().map(line).unwrap_or(fl),
            format!("field {name:?}: a retired field is not asked, so it cannot be required: remove `required: true`"),
        );
    }

    // Options.
    let mut options = Vec::new();
    if value == ValueType::Boolean {
        if let Some(o) = &f.options {
            ck.at(
                o.first().map(line).unwrap_or(fl),
                format!(
                    "field {name:?}: a boolean field has the options yes / no; remove `options`"
                ),
            );
        }
        options = vec![
            SelectOption {
                name: "yes".into(),
                label: "Yes".into(),
            },
            SelectOption {
                name: "no".into(),
                label: "No".into(),
            },
        ];
    } else if let Some(raw) = f.options {
        if field_type != FieldType::Select {
            ck.at(
                raw.first().map(line).unwrap_or(fl),
                format!("field {name:?}: `options` need `type: select`"),
            );
        }
        if raw.is_empty() {
            ck.at(
                fl,
                format!("field {name:?}: a select needs at least one option"),
            );
        }
        for o in raw {
            let ol = line(&o);
            let (oname, label) = match o.value {
                RawOption::Full(RawOptionFull { name, label }) => {
                    (name.0.unwrap_or_default(), label)
                }
                RawOption::Short(s) => {
                    let s = s.0.unwrap_or_default();
                    (s.clone(), s)
                }
            };
            if oname.trim().is_empty() {
                ck.at(ol, format!("field {name:?}: an option has no name"));
            }
            if options
                .iter()
                .any(|p: &SelectOption| p.name.eq_ignore_ascii_case(&oname))
            {
                ck.at(
                    ol,
                    format!("field {name:?}: option {oname:?} is listed twice"),
                );
            }
            if let Some(p) = options
                .iter()
                .find(|p: &&SelectOption| {
                    p.label.trim().to_lowercase() == label.trim().to_lowercase()
                })
                .filter(|p| p.name.to_lowercase() != oname.to_lowercase())
            {
                ck.at(
                    ol,
                    format!("field {name:?}: options {:?} and {oname:?} have the same label {label:?} (case aside): the user could not tell them apart; give each option its own label", p.name),
                );
            }
            if let Err(e) = super::super::form::parse_typed(value, &oname) {
                ck.at(
                    ol,
                    format!(
                        "field {name:?}: option {oname:?} is not a valid {} ({e})",
                        value.word()
                    ),
                );
            }
            options.push(SelectOption { name: oname, label });
        }
    } else if field_type == FieldType::Select {
        ck.at(fl, format!("field {name:?}: a select needs `options`"));
    }

    // Limits by value type.
    let text_like = matches!(value, ValueType::Text | ValueType::Email);
    let numeric = matches!(value, ValueType::Integer | ValueType::Number);
    for (what, v) in [("min_length", &f.min_length), ("max_length", &f.max_length)] {
        if let Some(v) = v {
            if !text_like {
                ck.at(line(v), format!("field {name:?}: `{what}` is for text and email fields; a {} field takes `min` / `max`", value.word()));
            }
        }
    }
    for (what, v) in [("min", &f.min), ("max", &f.max)] {
        if let Some(v) = v {
            if !numeric {
                ck.at(line(v), format!("field {name:?}: `{what}` is for integer and number fields; a {} field takes `min_length` / `max_length`", value.word()));
            } else if !v.value.is_finite() {
                ck.at(
                    line(v),
                    format!("field {name:?}: `{what}` must be a finite number"),
                );
            } else if value == ValueType::Integer && v.value.fract() != 0.0 {
                ck.at(
                    line(v),
                    format!("field {name:?}: `{what}` of an integer field must be a whole number"),
                );
            }
        }
    }
    if let (Some(lo), Some(hi)) = (&f.min, &f.max) {
        if lo.value > hi.value {
            ck.at(
                line(hi),
                format!(
                    "field {name:?}: `max` ({}) is below `min` ({})",
                    hi.value, lo.value
                ),
            );
        }
    }
    if let (Some(lo), Some(hi)) = (&f.min_length, &f.max_length) {
        if lo.value > hi.value {
            ck.at(
                line(hi),
                format!(
                    "field {name:?}: `max_length` ({}) is below `min_length` ({})",
                    hi.value, lo.value
                ),
            );
        }
    }
    if let Some(m) = &f.max_length {
        if m.value == 0 {
            ck.at(line(m), format!("field {name:?}: `max_length: 0` allows nothing; remove it or write a positive number"));
        }
    }
    let pattern = match &f.pattern {
        None => None,
        Some(p) if value != ValueType::Text => {
            ck.at(
                line(p),
                format!("field {name:?}: `pattern` is for text fields"),
            );
            None
        }
        Some(p) => match regex::RegexBuilder::new(&format!("^(?:{})$", p.value))
            .size_limit(1 << 20)
            .build()
        {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_string();
                ck.at(line(p), format!("field {name:?}: `pattern` is not a valid regular expression ({}); the syntax is Rust's `regex` (no look-around, no back-references)", first.trim()));
                None
            }
        },
    };

    // Column.
    let (col_name, col_type, col_mode, col_desc) = match f.column {
        Some(c) => {
            let c = c.value;
            (c.name, c.column_type, c.mode, c.description)
        }
        None => (None, None, None, None),
    };
    let column = col_name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| name.clone());
    let column_type = match &col_type {
        Some(t) => {
            let t: ColumnType = t.value.into();
            if !value.allowed_columns().contains(&t) {
                ck.at(opt_line(&col_type, fl), format!(
                    "field {name:?}: {} {} value cannot be stored in {} {} column; write `type: {}`",
                    article(value.word()),
                    value.word(),
                    article(t.bigquery_name()),
                    t.bigquery_name(),
                    value.allowed_columns().iter().map(|c| c.bigquery_name()).collect::<Vec<_>>().join("` or `type: ")
                ));
            }
            t
        }
        None => value.default_column(),
    };
    let column_required_empty = match &col_mode {
        Some(m) if m.value == RawMode::Required && !required => {
            if !text_like {
                ck.at(line(m), format!("field {name:?}: an optional {} field stores NULL when empty, so its column must be NULLABLE; write `mode: NULLABLE` or `required: true`", value.word()));
            }
            true
        }
        Some(m) if m.value == RawMode::Nullable && required => {
            // Allowed: a required field may go to a NULLABLE column (insert-only tables grow by
            // adding NULLABLE columns).
            false
        }
        _ => false,
    };
    let nullable_required = matches!(&col_mode, Some(m) if m.value == RawMode::Nullable);
    let column_required = matches!(&col_mode, Some(m) if m.value == RawMode::Required);

    let mut field = Field {
        name: name.clone(),
        label: f.label.unwrap_or_else(|| name.replace('_', " ")),
        description: f.description,
        field_type,
        value,
        required,
        interactive: f.interactive,
        retired,
        default: None,
        min_length: f.min_length.map(|v| v.value as usize),
        max_length: f.max_length.map(|v| v.value as usize),
        min: f.min.map(|v| v.value),
        max: f.max.map(|v| v.value),
        pattern,
        options,
        messages: Messages::default(),
        column,
        column_type,
        column_required_empty,
        column_nullable: nullable_required,
        column_required,
        column_description: col_desc,
        line: fl,
    };
    if let Some(m) = f.messages {
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
                match Template::parse(t) {
                    Ok(t) => {
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
                                let usable: Vec<String> =
                                    ["value", "min", "max", "length", "options"]
                                        .into_iter()
                                        .filter(|q| has(q))
                                        .map(|q| format!("{{{q}}}"))
                                        .collect();
                                ck.at(ml, format!("field {name:?}: message `{what}` uses {{{p}}}, which this field has no value for: use {}", usable.join(", ")));
                            }
                        }
                    }
                    Err(e) => ck.at(ml, format!("field {name:?}: message `{what}`: {e}")),
                }
            }
        }
        field.messages = m;
    }

    // Default.
    if let Some(d) = f.default {
        let dl = line(&d);
        let dv = match d.value {
            RawDefault::Literal(s) => Some(DefaultValue::Literal(s.0.unwrap_or_default())),
            RawDefault::Source(RawDefaultSource {
                from: Some(from),
                param: None,
            }) => match from.as_str() {
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
            },
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
            Some(DefaultValue::Literal(lit)) => {
                let mut errs = std::collections::BTreeMap::new();
                let _ = super::super::form::check_value(&field, lit, usize::MAX, &mut errs);
                if let Some(e) = errs.remove(&name) {
                    if field.field_type == FieldType::Select {
                        ck.at(dl, format!("field {name:?}: default {lit:?} is not among its options; write one of {}", field.options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")));
                    } else {
                        ck.at(
                            dl,
                            format!(
                                "field {name:?}: default {lit:?} is not a valid answer: it {e}"
                            ),
                        );
                    }
                }
            }
            Some(DefaultValue::Today) if !matches!(value, ValueType::Date | ValueType::Text) => {
                ck.at(
                    dl,
                    format!(
                        "field {name:?}: `from: today` is for date fields; write `value: date`"
                    ),
                );
            }
            _ => {}
        }
        field.default = dv;
    }
    field
}

/// "a" or "an" before a word ("an INT64 column", "an integer value", "a DATE column").
fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}
