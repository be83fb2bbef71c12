//! The form of a declared action and the check of what a user submitted: typed values, or one
//! message per field that a business user understands. Looker only hints (`required`); the hub
//! enforces.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::model::{ActionDef, DefaultValue, Field, Template, ValueType};
use crate::api::{ActionRequest, FieldType, FormField};

/// Digits BigQuery's NUMERIC keeps after the decimal point.
pub const NUMERIC_SCALE: usize = 9;
/// Digits BigQuery's NUMERIC keeps before the decimal point.
pub const NUMERIC_INTEGER_DIGITS: usize = 29;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A checked answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    /// No answer (optional field left empty).
    Null,
    /// Text, trimmed (text, email and text selects).
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A decimal number: its canonical text (exact, for NUMERIC) and its value.
    Number {
        /// Canonical decimal text (no exponent, no `+`).
        text: String,
        /// The value as a double.
        value: f64,
    },
    /// A date.
    Date(NaiveDate),
    /// Yes / no.
    Bool(bool),
}

impl TypedValue {
    /// The value as it appears in a message (`{field}` placeholders).
    pub fn display(&self) -> String {
        match self {
            TypedValue::Null => String::new(),
            TypedValue::Text(t) => t.clone(),
            TypedValue::Integer(i) => i.to_string(),
            TypedValue::Number { text, .. } => text.clone(),
            TypedValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            TypedValue::Bool(b) => if *b { "yes" } else { "no" }.into(),
        }
    }
}

/// Parse a non-empty, trimmed text as a value of `value` (no limits checked). The error says
/// what is expected.
pub fn parse_typed(value: ValueType, text: &str) -> Result<TypedValue, String> {
    match value {
        ValueType::Text => Ok(TypedValue::Text(text.to_string())),
        ValueType::Email => {
            if is_email(text) {
                Ok(TypedValue::Text(text.to_string()))
            } else {
                Err("is not an email address (like name@example.com)".into())
            }
        }
        ValueType::Integer => text
            .parse::<i64>()
            .map(TypedValue::Integer)
            .map_err(|_| "must be a whole number (like 42)".into()),
        ValueType::Number => parse_number(text, true),
        ValueType::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .map(TypedValue::Date)
            .ok_or_else(|| "must be a date written as YYYY-MM-DD (like 2024-03-31)".into()),
        ValueType::Boolean => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(TypedValue::Bool(true)),
            "no" | "false" => Ok(TypedValue::Bool(false)),
            _ => Err("must be yes or no".into()),
        },
    }
}

/// A decimal number (`-12.5`, `+3`, `.5`); `numeric`: within NUMERIC's digits (a FLOAT64 column
/// takes any number of them).
fn parse_number(text: &str, numeric: bool) -> Result<TypedValue, String> {
    let bad = || "must be a number (like 12.5)".to_string();
    let body = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    if numeric && frac.len() > NUMERIC_SCALE {
        return Err(format!(
            "has more than {NUMERIC_SCALE} digits after the decimal point"
        ));
    }
    let int_trim = int.trim_start_matches('0');
    if int_trim.len() > NUMERIC_INTEGER_DIGITS && (numeric || int_trim.len() > 308) {
        return Err("is too large".into());
    }
    let value: f64 = text.parse().map_err(|_| bad())?;
    let frac = frac.trim_end_matches('0');
    let neg = text.starts_with('-') && !(int_trim.is_empty() && frac.is_empty());
    let int = if int_trim.is_empty() { "0" } else { int_trim };
    let canon = match (neg, frac.is_empty()) {
        (false, true) => int.to_string(),
        (false, false) => format!("{int}.{frac}"),
        (true, true) => format!("-{int}"),
        (true, false) => format!("-{int}.{frac}"),
    };
    Ok(TypedValue::Number { text: canon, value })
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn is_email(s: &str) -> bool {
    if s.chars().count() > MAX_EMAIL_CHARS || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        }
        None => false,
    }
}

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

/// Check one answer (the submitted text, or the default when nothing was submitted). A problem
/// goes into `errors` under the field's name; `max_text` bounds text fields without `max_length`.
pub fn check_value(
    field: &Field,
    raw: &str,
    max_text: usize,
    errors: &mut BTreeMap<String, String>,
) -> Option<TypedValue> {
    let text = raw.trim();
    let m = &field.messages;
    let mut fail = |msg: String| {
        errors.insert(field.name.clone(), msg);
        None
    };
    // Every value the field has, for any message's placeholders (check-actions refuses the others).
    let is_text = matches!(field.value, ValueType::Text | ValueType::Email)
        && field.field_type != FieldType::Select;
    let mut vars: Vec<(&str, String)> = vec![("value", text.to_string())];
    if let Some(min) = field
        .min
        .map(num)
        .or(field.min_length.map(|n| n.to_string()))
    {
        vars.push(("min", min));
    }
    let max_len = field.max_length.unwrap_or(max_text);
    if let Some(max) = field.max.map(num).or(is_text.then(|| max_len.to_string())) {
        vars.push(("max", max));
    }
    if is_text {
        vars.push(("length", text.chars().count().to_string()));
    }
    if field.field_type == FieldType::Select {
        let labels: Vec<&str> = field.options.iter().map(|o| o.label.as_str()).collect();
        vars.push(("options", labels.join(", ")));
    }
    let vars = &vars[..];
    if field.field_type == FieldType::Select {
        let options = field
            .options
            .iter()
            .map(|o| o.label.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if text.is_empty() && !field.required {
            return Some(TypedValue::Null);
        }
        let Some(opt) = field
            .options
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(text) || o.label.eq_ignore_ascii_case(text))
        else {
            return fail(message(
                &m.options,
                format!("must be one of {options}"),
                vars,
            ));
        };
        return match parse_typed(field.value, &opt.name) {
            Ok(v) => Some(v),
            Err(e) => fail(e),
        };
    }
    if text.is_empty() {
        if field.required {
            return fail(message(&m.required, "is required".into(), vars));
        }
        return Some(if field.column_required_empty {
            TypedValue::Text(String::new())
        } else {
            TypedValue::Null
        });
    }
    if matches!(field.value, ValueType::Text | ValueType::Email) {
        let length = text.chars().count();
        let max = field.max_length.unwrap_or(max_text);
        if length > max {
            return fail(message(
                &m.max_length,
                format!("is {length} characters long; the limit is {max}"),
                vars,
            ));
        }
        if let Some(min) = field.min_length {
            if length < min {
                return fail(message(
                    &m.min_length,
                    format!("is {length} characters long; write at least {min}"),
                    vars,
                ));
            }
        }
        if let Some(p) = &field.pattern {
            if !p.is_match(text) {
                return fail(message(
                    &m.pattern,
                    "does not have the expected format".into(),
                    vars,
                ));
            }
        }
    }
    let parsed = match (field.value, field.column_type) {
        (ValueType::Number, crate::sinks::ColumnType::Float64) => parse_number(text, false),
        (value, _) => parse_typed(value, text),
    };
    let v = match parsed {
        Ok(v) => v,
        Err(e) => return fail(message(&m.invalid, e, vars)),
    };
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

/// A default's text for this request, if it has one.
fn default_text(d: &DefaultValue, req: &ActionRequest, today: NaiveDate) -> Option<String> {
    match d {
        DefaultValue::Literal(s) => Some(s.clone()),
        DefaultValue::ClickedValue => req.data_param("value"),
        DefaultValue::Today => Some(today.format("%Y-%m-%d").to_string()),
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
pub type Answers = BTreeMap<String, TypedValue>;

/// Check every field of an execute: all answers, or every field's problem (nothing is written
/// then). An absent answer takes the field's default (the clicked value, a param, a literal or
/// today), as the form showed it.
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
            let empty = if f.column_required_empty {
                TypedValue::Text(String::new())
            } else {
                TypedValue::Null
            };
            answers.insert(f.name.clone(), empty);
            continue;
        }
        let raw = req
            .form_param(&f.name)
            .or_else(|| f.default.as_ref().and_then(|d| default_text(d, req, today)))
            .unwrap_or_default();
        if let Some(v) = check_value(f, &raw, max_text, &mut errors) {
            answers.insert(f.name.clone(), v);
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_parsed_exactly() {
        let n = |s| parse_typed(ValueType::Number, s);
        assert_eq!(
            n("012.50").unwrap(),
            TypedValue::Number {
                text: "12.5".into(),
                value: 12.5
            }
        );
        assert_eq!(
            n("-0.0").unwrap(),
            TypedValue::Number {
                text: "0".into(),
                value: -0.0
            }
        );
        assert!(n("1e5").is_err());
        assert!(n(".").is_err());
        assert!(n("NaN").is_err());
        assert!(n("1.0000000001").unwrap_err().contains("9 digits"));
        // A sign either way, as integers take it.
        assert_eq!(
            n("+3.50").unwrap(),
            TypedValue::Number {
                text: "3.5".into(),
                value: 3.5
            }
        );
        assert!(n("+-3").is_err() && n("-+3").is_err());
        // A FLOAT64 column takes any number of digits.
        assert_eq!(
            parse_number("2.50000000001", false).unwrap(),
            TypedValue::Number {
                text: "2.50000000001".into(),
                value: 2.50000000001
            }
        );
        let big = format!("1{}", "0".repeat(30));
        assert!(parse_number(&big, true).is_err());
        assert!(parse_number(&big, false).is_ok());
        assert_eq!(
            parse_typed(ValueType::Integer, "+7").unwrap(),
            TypedValue::Integer(7)
        );
        assert!(parse_typed(ValueType::Integer, "7.0").is_err());
        assert!(parse_typed(ValueType::Date, "2024-2-1").is_err());
        assert_eq!(
            parse_typed(ValueType::Date, "2024-02-29").unwrap(),
            TypedValue::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
        );
        assert!(parse_typed(ValueType::Date, "2023-02-29").is_err());
        assert!(parse_typed(ValueType::Email, "a@b.co").is_ok());
        for bad in ["a@b", "@b.co", "a b@c.de", "a@@b.co", "a@b..co"] {
            assert!(parse_typed(ValueType::Email, bad).is_err(), "{bad}");
        }
    }
}
