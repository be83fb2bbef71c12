//! The answers of an execute, checked: how an answer is read (text parsed once, or a JSON value
//! of the field's own kind taken as it is: [`Given`]), held to the field's rules with one message
//! per field a business user understands, and kept as a [`TypedValue`] with the value its column
//! holds ([`Answer`]). Looker only hints (`required`); the hub enforces. The messages an execute
//! shows are filled here too (`Template::render`), from the answers they quote.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::api::{ActionRequest, FieldType, FormValue};
use crate::declared::model::{ActionDef, DefaultValue, Field, Piece, Template, ValueType};
use crate::sinks::values::{self, Decimal, Unfit};
use crate::sinks::{CellValue, ColumnType};

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
            TypedValue::Date(d) => d.format(values::DATE_FORMAT).to_string(),
            TypedValue::Bool(b) => values::yes_no(*b).into(),
        }
    }

    /// The value as a column of type `column` holds it, from the value itself: nothing is
    /// written out and read again. A STRING column holds the value's text (a yes / no value as
    /// `true` / `false`, as BigQuery writes a BOOL as text). The column types a field may use
    /// are checked when the actions file loads; any other pairing is refused here.
    pub fn cell(&self, column: ColumnType) -> Result<CellValue, String> {
        use ColumnType as C;
        Ok(match (self, column) {
            (TypedValue::Null, _) => CellValue::Null,
            (TypedValue::Text(t), C::String) => CellValue::String(t.clone()),
            (TypedValue::Integer(i), C::Int64) => CellValue::Int64(*i),
            (TypedValue::Integer(i), C::Numeric) => CellValue::Numeric(i.to_string()),
            (TypedValue::Integer(i), C::Float64) => CellValue::Float64(*i as f64),
            (TypedValue::Integer(i), C::String) => CellValue::String(i.to_string()),
            (TypedValue::Number { text, .. }, C::Numeric) => CellValue::Numeric(text.clone()),
            (TypedValue::Number { text, .. }, C::String) => CellValue::String(text.clone()),
            (TypedValue::Number { value, .. }, C::Float64) => CellValue::Float64(*value),
            (TypedValue::Date(d), C::Date) => CellValue::Date(*d),
            (TypedValue::Date(d), C::String) => {
                CellValue::String(d.format(values::DATE_FORMAT).to_string())
            }
            (TypedValue::Bool(b), C::Bool) => CellValue::Bool(*b),
            (TypedValue::Bool(b), C::String) => CellValue::String(b.to_string()),
            (v, column) => {
                return Err(format!(
                    "expected {}, got {}",
                    column.bigquery_name(),
                    v.kind()
                ))
            }
        })
    }

    /// What the value is, in a message.
    fn kind(&self) -> &'static str {
        match self {
            TypedValue::Null => "no value",
            TypedValue::Text(_) => "text",
            TypedValue::Integer(_) => "a whole number",
            TypedValue::Number { .. } => "a number",
            TypedValue::Date(_) => "a date",
            TypedValue::Bool(_) => "yes / no",
        }
    }
}

/// A checked answer: the value the user gave, and the value its column holds (made once per
/// execute, whatever the number of rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The value, as messages show it.
    pub value: TypedValue,
    /// The value of the field's column.
    pub cell: CellValue,
}

/// Parse a non-empty, trimmed text as a value of `value` (a `number` as NUMERIC) within its
/// column type's range (`sinks::values`; a field's own `min` / `max` are checked by
/// [`check_value`]). The error says what is expected.
pub fn parse_typed(value: ValueType, text: &str) -> Result<TypedValue, String> {
    parse_for_column(value, ColumnType::Numeric, text)
}

/// [`parse_typed`] for a field stored in `column` (a `number` in a FLOAT64 column takes any
/// number of digits).
fn parse_for_column(
    value: ValueType,
    column: ColumnType,
    text: &str,
) -> Result<TypedValue, String> {
    match value {
        ValueType::Text => Ok(TypedValue::Text(text.to_string())),
        ValueType::Email => {
            if crate::email::is_email(text) {
                Ok(TypedValue::Text(text.to_string()))
            } else {
                Err("is not an email address (like name@example.com)".into())
            }
        }
        ValueType::Integer => {
            values::int64_text(text)
                .map(TypedValue::Integer)
                .map_err(|e| match e {
                    Unfit::Int64Range => int64_range(),
                    _ => "must be a whole number (like 42)".into(),
                })
        }
        ValueType::Number => parse_number(text, column == ColumnType::Float64),
        ValueType::Date => values::date(text)
            .map(TypedValue::Date)
            .map_err(|e| match e {
                Unfit::DateRange => "must be a date from 0001-01-01 to 9999-12-31".into(),
                _ => "must be a date written as YYYY-MM-DD (like 2024-03-31)".into(),
            }),
        ValueType::Boolean => values::boolean(text)
            .map(TypedValue::Bool)
            .map_err(|_| "must be yes or no".into()),
    }
}

/// Why a whole number does not fit INT64.
fn int64_range() -> String {
    format!(
        "is out of range: a whole number from {} to {}",
        i64::MIN,
        i64::MAX
    )
}

/// A decimal number (`-12.5`, `+3`, `.5`): within NUMERIC's digits, or (`float`) a finite
/// FLOAT64 of any number of digits.
fn parse_number(text: &str, float: bool) -> Result<TypedValue, String> {
    let why = |e: Unfit| match e {
        Unfit::NotNumber => "must be a number (like 12.5)".to_string(),
        Unfit::Float64Range => "is too large".to_string(),
        e => format!("has {}", e.phrase()),
    };
    let d = Decimal::parse_text(text).map_err(why)?;
    let (text, value) = if float {
        (d.to_string(), values::float64_text(text).map_err(why)?)
    } else {
        let canon = d.numeric().map_err(why)?;
        let value = canon.parse().map_err(|_| why(Unfit::NotNumber))?;
        (canon, value)
    };
    Ok(TypedValue::Number { text, value })
}

/// A form answer in a shape its field takes: text (every field takes text, as Looker sends every
/// answer), or a JSON value of the field's own kind, taken as it is.
#[derive(Clone, Copy)]
enum Given<'a> {
    /// A string (`null` is the empty one).
    Text(&'a str),
    /// A JSON number without fraction or exponent (an integer or number field).
    Whole(i128),
    /// A JSON number with a fraction or exponent (a number field of a FLOAT64 column only: an
    /// exact decimal cannot come through a double).
    Float(f64),
    /// true / false (a yes / no field).
    Bool(bool),
}

impl<'a> Given<'a> {
    /// The answer sent for `f`, or the message saying what the field takes and what was sent.
    fn of(f: &Field, v: &'a FormValue) -> Result<Given<'a>, String> {
        let float_column = f.column_type == ColumnType::Float64;
        Ok(match (v, f.value) {
            (FormValue::Text(t), _) => Given::Text(t),
            (FormValue::Null, _) => Given::Text(""),
            (FormValue::Integer(i), ValueType::Integer | ValueType::Number) => Given::Whole(*i),
            (FormValue::Float(x), ValueType::Number) if float_column => Given::Float(*x),
            (FormValue::Bool(b), ValueType::Boolean) => Given::Bool(*b),
            (FormValue::Float(_), ValueType::Number) => return Err(
                "must be written as text (like \"12.5\"): a JSON number with a fraction or an exponent is read as a binary float, which may not be the decimal sent"
                    .into(),
            ),
            (v, value) => {
                let expected = match value {
                    ValueType::Text | ValueType::Email | ValueType::Date => "text",
                    ValueType::Integer => "a whole number (as text or a JSON number)",
                    ValueType::Number => "a number (as text or a JSON number)",
                    ValueType::Boolean => "yes or no (as text or true / false)",
                };
                return Err(format!("must be {expected}, not {}", v.kind()));
            }
        })
    }

    /// Whether the answer is text (to be read as the field's type).
    fn is_text(self) -> bool {
        matches!(self, Given::Text(_))
    }

    /// A typed answer as a message's `{value}` shows it.
    fn shown(self) -> String {
        match self {
            Given::Text(t) => t.to_string(),
            Given::Whole(i) => i.to_string(),
            Given::Float(x) => float_text(x),
            Given::Bool(b) => values::yes_no(b).to_string(),
        }
    }

    /// A typed answer as the field's value (only the kinds [`Given::of`] lets through).
    fn value(self, f: &Field) -> Result<TypedValue, String> {
        Ok(match (self, f.value) {
            (Given::Whole(i), ValueType::Integer) => {
                TypedValue::Integer(i64::try_from(i).map_err(|_| int64_range())?)
            }
            (Given::Whole(i), _) => TypedValue::Number {
                text: i.to_string(),
                value: i as f64,
            },
            (Given::Float(x), _) => TypedValue::Number {
                text: float_text(x),
                value: x,
            },
            (Given::Bool(b), _) => TypedValue::Bool(b),
            (Given::Text(t), value) => parse_for_column(value, f.column_type, t)?,
        })
    }
}

/// A double's exact shortest digits as decimal text, without an exponent (`0` for zero).
fn float_text(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        x.to_string()
    }
}

impl Template {
    /// Fill the placeholders (an unknown one renders empty; load-time checks prevent that).
    pub fn render(&self, value: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Placeholder(n) => out.push_str(&value(n).unwrap_or_default()),
            }
        }
        out
    }
}

fn message(custom: &Option<Template>, default: String, vars: &[(&str, String)]) -> String {
    match custom {
        Some(t) => t.render(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())),
        None => default,
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
pub(super) fn default_text(
    d: &DefaultValue,
    req: &ActionRequest,
    today: NaiveDate,
) -> Option<String> {
    match d {
        DefaultValue::Literal(s) => Some(s.clone()),
        DefaultValue::ClickedValue => req.data_param("value"),
        DefaultValue::Today => Some(today.format(values::DATE_FORMAT).to_string()),
        DefaultValue::Param(p) => req.data_param(p),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_answer_shows_as_it_was_sent() {
        assert_eq!(float_text(1e21), "1000000000000000000000");
        assert_eq!(float_text(-0.0), "0");
        assert_eq!(float_text(12.5), "12.5");
        assert_eq!(
            Given::Whole(u64::MAX.into()).shown(),
            "18446744073709551615"
        );
        assert_eq!(Given::Bool(false).shown(), "no");
    }

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
        assert_eq!(
            parse_typed(ValueType::Number, &"9".repeat(30)).unwrap_err(),
            "has more than 29 digits before the decimal point"
        );
        assert_eq!(
            parse_typed(ValueType::Date, "0000-01-01").unwrap_err(),
            "must be a date from 0001-01-01 to 9999-12-31"
        );
        assert!(parse_typed(ValueType::Integer, "9223372036854775808")
            .unwrap_err()
            .contains("out of range"));
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
            parse_number("2.50000000001", true).unwrap(),
            TypedValue::Number {
                text: "2.50000000001".into(),
                value: 2.50000000001
            }
        );
        let big = format!("1{}", "0".repeat(30));
        assert!(parse_number(&big, false).is_err());
        assert!(parse_number(&big, true).is_ok());
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
