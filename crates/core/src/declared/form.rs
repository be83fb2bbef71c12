//! The form of a declared action and the check of what a user submitted: typed values, or one
//! message per field that a business user understands. Looker only hints (`required`); the hub
//! enforces.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::model::{ActionDef, DefaultValue, Field, Template, ValueType};
use crate::api::{ActionRequest, FieldType, FormField};
use crate::sinks::values;
use crate::sinks::CellValue;

mod value;

use value::{parse_for_column, Given};
pub use value::{parse_typed, Answer, TypedValue};

fn message(custom: &Option<String>, default: String, vars: &[(&str, String)]) -> String {
    match custom.as_deref().map(Template::parse) {
        Some(Ok(t)) => t.render(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())),
        _ => default,
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Whether a field takes free text (a text or email field that is not a select): its messages can
/// say its length.
fn free_text(field: &Field) -> bool {
    matches!(field.value, ValueType::Text | ValueType::Email)
        && field.field_type != FieldType::Select
}

/// The placeholders a field's messages can fill: `{value}` always, `{min}` / `{max}` with a bound
/// (a free-text field always has a longest length), `{length}` for free text, `{options}` for a
/// select. One rule for the messages of an execute and the check of the file, which refuses any
/// other placeholder.
pub fn fillable(field: &Field) -> Vec<&'static str> {
    let text = free_text(field);
    [
        ("value", true),
        ("min", field.min.is_some() || field.min_length.is_some()),
        (
            "max",
            field.max.is_some() || field.max_length.is_some() || text,
        ),
        ("length", text),
        ("options", field.field_type == FieldType::Select),
    ]
    .into_iter()
    .filter(|(_, has)| *has)
    .map(|(p, _)| p)
    .collect()
}

/// What placeholder `p` of [`fillable`] says for the answer `text` (`max_text` bounds a free-text
/// field without `max_length`).
fn fill(field: &Field, p: &str, text: &str, max_text: usize) -> String {
    let length = |n: Option<usize>| n.map(|n| n.to_string());
    match p {
        "min" => field.min.map(num).or(length(field.min_length)),
        "max" => field
            .max
            .map(num)
            .or(length(field.max_length))
            .or(length(free_text(field).then_some(max_text))),
        "length" => Some(text.chars().count().to_string()),
        "options" => Some(
            field
                .options
                .iter()
                .map(|o| o.label.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => Some(text.to_string()),
    }
    .unwrap_or_default()
}

/// Check one answer (the submitted text, or the default when nothing was submitted). A problem
/// goes into `errors` under the field's name; `max_text` bounds text fields without `max_length`.
pub fn check_value(
    field: &Field,
    raw: &str,
    max_text: usize,
    errors: &mut BTreeMap<String, String>,
) -> Option<TypedValue> {
    check(field, Given::Text(raw), max_text, errors)
}

/// [`check_value`] of an answer as given: text is read, a JSON value of the field's own kind is
/// taken as it is; both are then held to the field's `min` / `max`.
fn check(
    field: &Field,
    given: Given<'_>,
    max_text: usize,
    errors: &mut BTreeMap<String, String>,
) -> Option<TypedValue> {
    let shown;
    let text = match given {
        Given::Text(raw) => raw.trim(),
        typed => {
            shown = typed.shown();
            shown.as_str()
        }
    };
    let m = &field.messages;
    let mut fail = |msg: String| {
        errors.insert(field.name.clone(), msg);
        None
    };
    let vars: Vec<(&str, String)> = fillable(field)
        .into_iter()
        .map(|p| (p, fill(field, p, text, max_text)))
        .collect();
    let vars = &vars[..];
    let select = field.field_type == FieldType::Select;
    let v = match given {
        // A select takes one of its options, named as text (a yes / no field's are yes and no).
        Given::Text(_) | Given::Whole(_) | Given::Float(_) if select || given.is_text() => {
            read_text(field, text, max_text, vars)
        }
        typed => typed.value(field).map_err(|e| message(&m.invalid, e, vars)),
    };
    let v = match v {
        Ok(v) => v,
        Err(problem) => return fail(problem),
    };
    if select {
        return Some(v);
    }
    let n = match &v {
        TypedValue::Integer(i) => Some(*i as f64),
        TypedValue::Number { value, .. } => Some(*value),
        _ => None,
    };
    if let Some(n) = n {
        if let Some(min) = field.min.filter(|min| n < *min) {
            return fail(message(
                &m.min,
                format!("must be at least {}", num(min)),
                vars,
            ));
        }
        if let Some(max) = field.max.filter(|max| n > *max) {
            return fail(message(
                &m.max,
                format!("must be at most {}", num(max)),
                vars,
            ));
        }
    }
    Some(v)
}

/// A text answer read as the field's value: a select's option, the empty answer, a text within
/// its length and pattern, or text parsed as the field's type; `Err` is the message to show.
fn read_text(
    field: &Field,
    text: &str,
    max_text: usize,
    vars: &[(&str, String)],
) -> Result<TypedValue, String> {
    let m = &field.messages;
    if field.field_type == FieldType::Select {
        let options = field
            .options
            .iter()
            .map(|o| o.label.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if text.is_empty() && !field.required {
            return Ok(TypedValue::Null);
        }
        let Some(opt) = field
            .options
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(text) || o.label.eq_ignore_ascii_case(text))
        else {
            return Err(message(
                &m.options,
                format!("must be one of {options}"),
                vars,
            ));
        };
        return parse_typed(field.value, &opt.name);
    }
    if text.is_empty() {
        if field.required {
            return Err(message(&m.required, "is required".into(), vars));
        }
        return Ok(if field.column_required_empty {
            TypedValue::Text(String::new())
        } else {
            TypedValue::Null
        });
    }
    if matches!(field.value, ValueType::Text | ValueType::Email) {
        let length = text.chars().count();
        let max = field.max_length.unwrap_or(max_text);
        if length > max {
            return Err(message(
                &m.max_length,
                format!("is {length} characters long; the limit is {max}"),
                vars,
            ));
        }
        if let Some(min) = field.min_length {
            if length < min {
                return Err(message(
                    &m.min_length,
                    format!("is {length} characters long; write at least {min}"),
                    vars,
                ));
            }
        }
        if let Some(p) = &field.pattern {
            if !p.is_match(text) {
                return Err(message(
                    &m.pattern,
                    "does not have the expected format".into(),
                    vars,
                ));
            }
        }
    }
    parse_for_column(field.value, field.column_type, text).map_err(|e| message(&m.invalid, e, vars))
}

/// A default's text for this request, if it has one.
fn default_text(d: &DefaultValue, req: &ActionRequest, today: NaiveDate) -> Option<String> {
    match d {
        DefaultValue::Literal(s) => Some(s.clone()),
        DefaultValue::ClickedValue => req.data_param("value"),
        DefaultValue::Today => Some(today.format(values::DATE_FORMAT).to_string()),
        DefaultValue::Param(p) => req.data_param(p),
    }
}

/// What a field without a description tells the user about the value it takes: Looker shows a
/// string field as a plain text box, so the type and range the hub checks would be unknown
/// until an execute is refused.
fn hint(f: &super::model::Field) -> Option<String> {
    use super::model::ValueType;
    let range = match (f.min, f.max) {
        (Some(lo), Some(hi)) => format!(" from {lo} to {hi}"),
        (Some(lo), None) => format!(" of at least {lo}"),
        (None, Some(hi)) => format!(" of at most {hi}"),
        (None, None) => String::new(),
    };
    match f.value {
        ValueType::Integer => Some(format!("A whole number{range}.")),
        ValueType::Number => Some(format!("A number{range}.")),
        ValueType::Date => Some("A date: YYYY-MM-DD.".into()),
        ValueType::Email => Some("An email address.".into()),
        ValueType::Text | ValueType::Boolean => None,
    }
}

/// An action's form prepared once: every field with what never changes (names, labels, options,
/// literal defaults), and the defaults that depend on the request (the clicked value, a user
/// attribute, today) resolved per request.
#[derive(Debug, Clone)]
pub struct FormTemplate {
    fields: Vec<FormField>,
    per_request: Vec<(usize, DefaultValue)>,
}

impl FormTemplate {
    /// The template of an action's form.
    pub fn new(def: &ActionDef) -> FormTemplate {
        let mut per_request = Vec::new();
        let fields = def
            .fields
            .iter()
            .filter(|f| !f.retired)
            .enumerate()
            .map(|(i, f)| {
                let mut ff = FormField::new(&f.name, &f.label, f.field_type);
                ff.description = f.description.clone().or_else(|| hint(f));
                ff.required = f.required.then_some(true);
                ff.interactive = f.interactive;
                match &f.default {
                    Some(DefaultValue::Literal(s)) => ff.default = Some(s.clone()),
                    Some(d) => per_request.push((i, d.clone())),
                    None => {}
                }
                if f.field_type == FieldType::Select {
                    ff.options = Some(f.options.clone());
                }
                ff
            })
            .collect();
        FormTemplate {
            fields,
            per_request,
        }
    }

    /// The form fields for one request (defaults resolved).
    pub fn fields(&self, req: &ActionRequest, today: NaiveDate) -> Vec<FormField> {
        let mut fields = self.fields.clone();
        for (i, d) in &self.per_request {
            fields[*i].default = default_text(d, req, today);
        }
        fields
    }
}

/// The form fields of an action for one request (defaults resolved).
pub fn form_fields(def: &ActionDef, req: &ActionRequest, today: NaiveDate) -> Vec<FormField> {
    FormTemplate::new(def).fields(req, today)
}

/// Checked answers of one execute, by field name.
pub type Answers = BTreeMap<String, Answer>;

/// Check every field of an execute: all answers, or every field's problem (nothing is written
/// then). An absent answer takes the field's default (the clicked value, a param, a literal or
/// today), as the form showed it; a `null` one is empty; one of a shape the field does not take
/// (a list, an object, a number for text, ...) is that field's problem.
pub fn validate(
    def: &ActionDef,
    req: &ActionRequest,
    max_text: usize,
    today: NaiveDate,
) -> Result<Answers, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut answers = Answers::new();
    for f in &def.fields {
        if f.retired {
            // Not asked: whatever a stale schedule still sends is not read; the column is empty.
            let (value, cell) = if f.column_required_empty {
                (
                    TypedValue::Text(String::new()),
                    CellValue::String(String::new()),
                )
            } else {
                (TypedValue::Null, CellValue::Null)
            };
            answers.insert(f.name.clone(), Answer { value, cell });
            continue;
        }
        let default;
        let given = match req.form_params.get(&f.name).map(|v| Given::of(f, v)) {
            Some(Ok(given)) => given,
            Some(Err(shape)) => {
                errors.insert(f.name.clone(), shape);
                continue;
            }
            None => {
                default = f
                    .default
                    .as_ref()
                    .and_then(|d| default_text(d, req, today))
                    .unwrap_or_default();
                Given::Text(&default)
            }
        };
        let Some(value) = check(f, given, max_text, &mut errors) else {
            continue;
        };
        match value.cell(f.column_type) {
            Ok(cell) => {
                answers.insert(f.name.clone(), Answer { value, cell });
            }
            Err(e) => {
                errors.insert(f.name.clone(), format!("column {}: {e}", f.column));
            }
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}
