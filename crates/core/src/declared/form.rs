//! The form of a declared action ([`FormTemplate`]), and the check of what a user submitted
//! ([`validate`], in `form/answer.rs`): typed values, or one message per field.

use chrono::NaiveDate;

use super::model::{ActionDef, DefaultValue};
use crate::api::{ActionRequest, FieldType, FormField};

mod answer;

use answer::default_text;
pub use answer::{check_value, fillable, parse_typed, validate, Answer, Answers, TypedValue};

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
