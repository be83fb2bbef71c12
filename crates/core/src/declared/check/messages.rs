//! A field's messages: each a template whose placeholders the field can fill.

use super::super::model::*;
use super::super::syntax::*;
use super::line;
use super::{advice, Checked, Checker, Reported, Verdict};

/// The field's messages, each parsed once into a template that uses only what this field can
/// fill in (`form::fillable`, the rule the execute fills them by); a message with a problem is
/// reported and left to the hub's wording.
pub(super) fn messages(
    m: Spanned<Messages>,
    field: &Field,
    ck: &mut Checker,
) -> Checked<FieldMessages> {
    let m = m.value;
    let mut verdict = Verdict::default();
    // Each message's problems are reported at the message itself.
    let mut one = |what: &str, t: Option<Spanned<String>>| {
        t.and_then(|t| verdict.take(template(what, &t.value, field, line(&t), ck)))
    };
    let messages = FieldMessages {
        required: one("required", m.required),
        min_length: one("min_length", m.min_length),
        max_length: one("max_length", m.max_length),
        pattern: one("pattern", m.pattern),
        options: one("options", m.options),
        invalid: one("invalid", m.invalid),
        min: one("min", m.min),
        max: one("max", m.max),
    };
    verdict.with(messages)
}

/// One message: a valid template using only what this field can fill in.
fn template(
    what: &str,
    text: &str,
    field: &Field,
    ml: Pos,
    ck: &mut Checker,
) -> Result<Template, Reported> {
    let name = &field.name;
    let t = Template::parse(text)
        .map_err(|e| ck.at(ml, format!("field {name:?}: message `{what}`: {e}")))?;
    let fillable = super::super::form::fillable(field);
    let mut verdict = Verdict::default();
    for p in t.placeholders() {
        if !fillable.contains(&p) {
            let usable: Vec<String> = fillable.iter().map(|q| format!("{{{q}}}")).collect();
            let message = format!(
                "field {name:?}: message `{what}` uses {{{p}}}, which this field has no value for"
            );
            let help = format!("use {}", usable.join(", "));
            verdict.add(ck.at(ml, advice(message, help)));
        }
    }
    verdict.then(t)
}
