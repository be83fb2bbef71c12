//! One form field: its value type, form type, options, limits, pattern and column; its
//! messages and default are checked in [`super::messages`] and [`super::default`].

use super::super::model::*;
use super::super::names;
use super::super::syntax::*;
use super::{advice, advice_on, Checked, Checker, Reported, Verdict};
use super::{line, opt_line};
use crate::api::{ActionParam, FieldType, SelectOption};

/// The field, and whether it is sound (its problems in `ck`: a field with a problem is still a
/// field, so later checks see it and report nothing false about it).
pub(super) fn build_field(
    f: RawField,
    fl: Pos,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Checked<Field> {
    let mut verdict = Verdict::default();
    let name = f.name.value.clone();
    if let Some(p) = names::field_name_problem(&name) {
        verdict.add(ck.at(line(&f.name), p));
    }
    if kind == Kind::Query && name == crate::changes::mode::FIELD {
        let message = format!(
            "field {name:?}: the hub gives every query action's form a field of this name (which rows to send: every row, or only new or changed ones)"
        );
        verdict.add(ck.at(line(&f.name), advice(message, "name this field otherwise")));
    }
    let value = value_type(f.value.as_ref().map(|v| v.value));
    let field_type = verdict.keep(field_type(&f, value, fl, ck));
    let required = f.required.unwrap_or(false);
    let retired = f.retired.as_ref().is_some_and(|r| r.value);
    if retired && required {
        let message =
            format!("field {name:?}: a retired field is not asked, so it cannot be required");
        let at = f.retired.as_ref().map(line).unwrap_or(fl);
        verdict.add(ck.at(at, advice(message, "remove `required: true`")));
    }
    let options = options(f.options.clone(), &name, value, field_type, fl, ck);
    let options = verdict.keep(options);
    verdict.note(check_limits(&f, &name, value, ck));
    let pattern = verdict.keep(pattern(f.pattern.as_ref(), &name, value, ck));
    let column = f.column.clone().map(|c| c.value);
    let column = verdict.keep(column_of(column, &name, value, required, fl, ck));
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
        messages: FieldMessages::default(),
        column: column.name,
        column_type: column.column_type,
        column_required_empty: column.required_empty,
        column_nullable: column.nullable,
        column_required: column.required,
        column_description: column.description,
        line: fl,
    };
    if let Some(m) = f.messages {
        field.messages = verdict.keep(super::messages::messages(m, &field, ck));
    }
    if let Some(d) = f.default {
        field.default = verdict.keep(super::default::default(d, &field, kind, params, ck));
    }
    verdict.with(field)
}

fn value_type(raw: Option<RawValueType>) -> ValueType {
    match raw {
        None | Some(RawValueType::Text) => ValueType::Text,
        Some(RawValueType::Integer) => ValueType::Integer,
        Some(RawValueType::Number) => ValueType::Number,
        Some(RawValueType::Date) => ValueType::Date,
        Some(RawValueType::Boolean) => ValueType::Boolean,
        Some(RawValueType::Email) => ValueType::Email,
    }
}

/// Looker's field type: a boolean is a yes/no select, `options` make a select, a textarea holds
/// text.
fn field_type(f: &RawField, value: ValueType, fl: Pos, ck: &mut Checker) -> Checked<FieldType> {
    let name = &f.name.value;
    let at = opt_line(&f.field_type, fl);
    let mut verdict = Verdict::default();
    let t = match (f.field_type.as_ref().map(|t| t.value), value) {
        (None | Some(RawFieldType::Select), ValueType::Boolean) => FieldType::Select,
        (Some(_), ValueType::Boolean) => {
            let message = format!("field {name:?}: a boolean field is a yes/no select");
            let help = "write `type: select` or leave `type` out";
            verdict.add(ck.at(at, advice_on(message, help)));
            FieldType::Select
        }
        (None, _) if f.options.is_some() => FieldType::Select,
        (None | Some(RawFieldType::String), _) => FieldType::String,
        (Some(RawFieldType::Textarea), v) => {
            if v != ValueType::Text {
                let message = format!("field {name:?}: a textarea holds text");
                let help = "write `value: text` or `type: string`";
                verdict.add(ck.at(at, advice_on(message, help)));
            }
            FieldType::Textarea
        }
        (Some(RawFieldType::Select), _) => FieldType::Select,
    };
    verdict.with(t)
}

/// A select's options: yes / no for a boolean, else as written (named, distinct, each a value
/// of the field's type).
fn options(
    raw: Option<Vec<Spanned<RawOption>>>,
    name: &str,
    value: ValueType,
    field_type: FieldType,
    fl: Pos,
    ck: &mut Checker,
) -> Checked<Vec<SelectOption>> {
    let mut verdict = Verdict::default();
    if value == ValueType::Boolean {
        if let Some(o) = &raw {
            let message = format!("field {name:?}: a boolean field has the options yes / no");
            let at = o.first().map(line).unwrap_or(fl);
            verdict.add(ck.at(at, advice_on(message, "remove `options`")));
        }
        let yes_no = ["yes", "no"].map(|o| SelectOption {
            name: o.into(),
            label: format!("{}{}", o[..1].to_uppercase(), &o[1..]),
        });
        return verdict.with(yes_no.to_vec());
    }
    let Some(raw) = raw else {
        if field_type == FieldType::Select {
            verdict.add(ck.at(fl, format!("field {name:?}: a select needs `options`")));
        }
        return verdict.with(vec![]);
    };
    if field_type != FieldType::Select {
        verdict.add(ck.at(
            raw.first().map(line).unwrap_or(fl),
            format!("field {name:?}: `options` need `type: select`"),
        ));
    }
    if raw.is_empty() {
        verdict.add(ck.at(
            fl,
            format!("field {name:?}: a select needs at least one option"),
        ));
    }
    let mut options = Vec::new();
    for o in raw {
        let ol = line(&o);
        let option = match o.value {
            RawOption::Full(RawOptionFull { name, label }) => SelectOption {
                name: name.0.unwrap_or_default(),
                label,
            },
            RawOption::Short(s) => {
                let s = s.0.unwrap_or_default();
                SelectOption {
                    name: s.clone(),
                    label: s,
                }
            }
        };
        verdict.note(check_option(&option, &options, name, value, ol, ck));
        options.push(option);
    }
    verdict.with(options)
}

/// One option against those before it and the field's value type.
fn check_option(
    o: &SelectOption,
    before: &[SelectOption],
    name: &str,
    value: ValueType,
    ol: Pos,
    ck: &mut Checker,
) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    let (oname, label) = (&o.name, &o.label);
    if oname.trim().is_empty() {
        verdict.add(ck.at(ol, format!("field {name:?}: an option has no name")));
    }
    if before.iter().any(|p| p.name.eq_ignore_ascii_case(oname)) {
        let message = format!("field {name:?}: option {oname:?} is listed twice");
        verdict.add(ck.at(ol, message));
    }
    if let Some(p) = before
        .iter()
        .find(|p| p.label.trim().to_lowercase() == label.trim().to_lowercase())
        .filter(|p| p.name.to_lowercase() != oname.to_lowercase())
    {
        let message = format!("field {name:?}: options {:?} and {oname:?} have the same label {label:?} (case aside): the user could not tell them apart", p.name);
        let help = "give each option its own label";
        verdict.add(ck.at(ol, advice_on(message, help)));
    }
    if let Err(e) = super::super::form::parse_typed(value, oname) {
        verdict.add(ck.at(
            ol,
            format!(
                "field {name:?}: option {oname:?} is not a valid {} ({e})",
                value.word()
            ),
        ));
    }
    verdict.then(())
}

/// Lengths for text, bounds for numbers: each where it applies, and in order.
fn check_limits(
    f: &RawField,
    name: &str,
    value: ValueType,
    ck: &mut Checker,
) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    let text_like = matches!(value, ValueType::Text | ValueType::Email);
    let numeric = matches!(value, ValueType::Integer | ValueType::Number);
    let word = value.word();
    for (what, v) in [("min_length", &f.min_length), ("max_length", &f.max_length)] {
        if let Some(v) = v.as_ref().filter(|_| !text_like) {
            let message = format!("field {name:?}: `{what}` is for text and email fields");
            let help = format!("a {word} field takes `min` / `max`");
            verdict.add(ck.at(line(v), advice_on(message, help)));
        }
    }
    for (what, v) in [("min", &f.min), ("max", &f.max)] {
        let Some(v) = v else { continue };
        let message = if !numeric {
            let message = format!("field {name:?}: `{what}` is for integer and number fields");
            let help = format!("a {word} field takes `min_length` / `max_length`");
            advice_on(message, help)
        } else if !v.value.is_finite() {
            format!("field {name:?}: `{what}` must be a finite number").into()
        } else if value == ValueType::Integer && v.value.fract() != 0.0 {
            format!("field {name:?}: `{what}` of an integer field must be a whole number").into()
        } else {
            continue;
        };
        verdict.add(ck.at(line(v), message));
    }
    if let (Some(lo), Some(hi)) = (&f.min, &f.max) {
        if lo.value > hi.value {
            let message = format!(
                "field {name:?}: `max` ({}) is below `min` ({})",
                hi.value, lo.value
            );
            verdict.add(ck.at(line(hi), message));
        }
    }
    if let (Some(lo), Some(hi)) = (&f.min_length, &f.max_length) {
        if lo.value > hi.value {
            let message = format!(
                "field {name:?}: `max_length` ({}) is below `min_length` ({})",
                hi.value, lo.value
            );
            verdict.add(ck.at(line(hi), message));
        }
    }
    if let Some(m) = f.max_length.as_ref().filter(|m| m.value == 0) {
        let message = format!("field {name:?}: `max_length: 0` allows nothing");
        let help = "remove it or write a positive number";
        verdict.add(ck.at(line(m), advice_on(message, help)));
    }
    verdict.then(())
}

/// A text field's pattern, compiled (bounded: a pattern cannot hang a request).
fn pattern(
    raw: Option<&Spanned<String>>,
    name: &str,
    value: ValueType,
    ck: &mut Checker,
) -> Checked<Option<regex::Regex>> {
    let Some(p) = raw else {
        return Checked::sound(None);
    };
    if value != ValueType::Text {
        let message = format!("field {name:?}: `pattern` is for text fields");
        return Checked::sound(None).failed(ck.at(line(p), message));
    }
    match regex::RegexBuilder::new(&format!("^(?:{})$", p.value))
        .size_limit(1 << 20)
        .build()
    {
        Ok(r) => Checked::sound(Some(r)),
        Err(e) => {
            let first = e.to_string().lines().last().unwrap_or_default().to_string();
            let message = format!(
                "field {name:?}: `pattern` is not a valid regular expression ({})",
                first.trim()
            );
            let help = "the syntax is Rust's `regex` (no look-around, no back-references)";
            Checked::sound(None).failed(ck.at(line(p), advice_on(message, help)))
        }
    }
}

/// Where a field is stored.
struct FieldColumn {
    name: String,
    column_type: ColumnType,
    required_empty: bool,
    nullable: bool,
    required: bool,
    description: Option<String>,
}

/// The field's column: its name (the field's unless given), a type its values convert to
/// without loss, and its mode.
fn column_of(
    raw: Option<RawColumn>,
    name: &str,
    value: ValueType,
    required: bool,
    fl: Pos,
    ck: &mut Checker,
) -> Checked<FieldColumn> {
    let mut verdict = Verdict::default();
    let RawColumn {
        name: col_name,
        column_type: col_type,
        mode: col_mode,
        description,
    } = raw.unwrap_or(RawColumn {
        name: None,
        column_type: None,
        mode: None,
        description: None,
    });
    let column_type = match &col_type {
        Some(t) => {
            let t: ColumnType = t.value.into();
            if !value.allowed_columns().contains(&t) {
                let allowed: Vec<&str> = value
                    .allowed_columns()
                    .iter()
                    .map(|c| c.bigquery_name())
                    .collect();
                let message = format!(
                    "field {name:?}: {} {} value cannot be stored in {} {} column",
                    article(value.word()),
                    value.word(),
                    article(t.bigquery_name()),
                    t.bigquery_name(),
                );
                let help = format!("write `type: {}`", allowed.join("` or `type: "));
                verdict.add(ck.at(opt_line(&col_type, fl), advice_on(message, help)));
            }
            t
        }
        None => value.default_column(),
    };
    let mode = col_mode.as_ref().map(|m| m.value);
    // A required field may go to a NULLABLE column (insert-only tables grow by adding NULLABLE
    // columns); an optional one to a REQUIRED column only when an empty answer is text ("").
    let required_empty = mode == Some(RawMode::Required) && !required;
    if let Some(m) = col_mode.as_ref().filter(|_| required_empty) {
        if !matches!(value, ValueType::Text | ValueType::Email) {
            let message = format!("field {name:?}: an optional {} field stores NULL when empty, so its column must be NULLABLE", value.word());
            let help = "write `mode: NULLABLE` or `required: true`";
            verdict.add(ck.at(line(m), advice_on(message, help)));
        }
    }
    verdict.with(FieldColumn {
        name: col_name.map_or_else(|| name.to_string(), |n| n.value),
        column_type,
        required_empty,
        nullable: mode == Some(RawMode::Nullable),
        required: mode == Some(RawMode::Required),
        description,
    })
}

/// "a" or "an" before a word ("an INT64 column", "an integer value", "a DATE column").
fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}
