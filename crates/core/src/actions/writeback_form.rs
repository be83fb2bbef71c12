//! The classification / comment form shared by the write-back actions, and its validation.

use std::collections::BTreeMap;

use super::{ActionContext, ExecuteGate, FormGate};
use crate::api::{
    ActionParam, ActionRequest, ActionState, ExecuteResponse, FieldType, Form, FormField,
    Integration, SelectOption,
};
use crate::sinks::WriteCredential;

/// The classifications a user can choose, in form order.
pub const CLASSIFICATIONS: &[&str] = &["Approved", "Suspicious", "Further Investigation"];
/// Default classification.
pub const DEFAULT_CLASSIFICATION: &str = "Suspicious";

/// A classification of an order or row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// "Approved".
    Approved,
    /// "Suspicious" (the default).
    Suspicious,
    /// "Further Investigation".
    FurtherInvestigation,
}

impl Classification {
    /// Every classification, in form order.
    pub const ALL: [Classification; 3] = [
        Classification::Approved,
        Classification::Suspicious,
        Classification::FurtherInvestigation,
    ];

    /// The canonical spelling (what is stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Approved => CLASSIFICATIONS[0],
            Classification::Suspicious => CLASSIFICATIONS[1],
            Classification::FurtherInvestigation => CLASSIFICATIONS[2],
        }
    }

    /// Read a submitted value (trimmed, any letter case).
    pub fn parse(text: &str) -> Option<Classification> {
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-field problems of a submitted form (field name → what is wrong), as Looker shows them.
pub type FieldErrors = BTreeMap<String, String>;
/// Name of the action param that receives the acting user's email from a Looker user attribute.
pub use crate::api::USER_EMAIL_PARAM;

/// The optional param that records who acted (Looker fills it from the `email` user attribute).
pub fn user_email_param() -> ActionParam {
    ActionParam {
        name: USER_EMAIL_PARAM.into(),
        label: "Acting user's email".into(),
        required: false,
        sensitive: false,
        description: Some(
            "Looker user attribute holding the user's email, recorded with every write-back row."
                .into(),
        ),
        per_user: None,
        user_attribute_name: Some("email".into()),
    }
}

/// The classification select and the comment textarea.
pub fn classification_fields() -> Vec<FormField> {
    let mut classification = FormField::new("classification", "Classification", FieldType::Select);
    classification.required = Some(true);
    classification.default = Some(DEFAULT_CLASSIFICATION.into());
    classification.options = Some(
        CLASSIFICATIONS
            .iter()
            .map(|c| SelectOption {
                name: (*c).into(),
                label: (*c).into(),
            })
            .collect(),
    );
    let mut comment = FormField::new("comment", "Comment", FieldType::Textarea);
    comment.description = Some("Why? (optional)".into());
    vec![classification, comment]
}

/// A validated classification and comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The chosen classification.
    pub classification: Classification,
    /// The comment, trimmed.
    pub comment: String,
}

/// Check the form values: the typed values, or every per-field problem.
pub fn validate(req: &ActionRequest, max_comment_chars: usize) -> Result<Classified, FieldErrors> {
    let mut errors = FieldErrors::new();
    let classification = match req.form_param("classification") {
        None => Some(Classification::Suspicious),
        Some(raw) => Classification::parse(&raw),
    };
    if classification.is_none() {
        errors.insert(
            "classification".into(),
            format!("must be one of {}", CLASSIFICATIONS.join(", ")),
        );
    }
    let comment = req
        .form_param("comment")
        .unwrap_or_default()
        .trim()
        .to_string();
    let chars = comment.chars().count();
    if chars > max_comment_chars {
        errors.insert(
            "comment".into(),
            format!("is {chars} characters long; the limit is {max_comment_chars}"),
        );
    }
    match classification {
        Some(classification) if errors.is_empty() => Ok(Classified {
            classification,
            comment,
        }),
        _ => Err(errors),
    }
}

/// The acting user's email from the user-attribute param, if Looker sent one.
pub fn acting_user(req: &ActionRequest) -> Option<String> {
    req.data_param(USER_EMAIL_PARAM)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Finish a write-back action's definition: the acting-user param and the login, if any.
pub fn finish_definition(ctx: &ActionContext<'_>, def: &mut Integration) {
    def.params = vec![user_email_param()];
    ctx.gate.apply_to_definition(def);
}

/// A write-back action's form: `fields` then the classification and comment, behind the login
/// (the login link instead when the user must log in; a refreshed login handed back as state).
pub async fn gated_form(
    ctx: &ActionContext<'_>,
    action: &str,
    req: &ActionRequest,
    mut fields: Vec<FormField>,
) -> Form {
    let state = match ctx.gate.form_gate(action, req).await {
        FormGate::Proceed { state } => state,
        FormGate::Answer(form) => return form,
    };
    fields.extend(classification_fields());
    Form {
        fields,
        state,
        ..Default::default()
    }
}

/// Who a write-back acts as.
pub struct Writer {
    /// The identity of the write.
    pub credential: WriteCredential,
    /// The acting user's email: from the login, else from the user attribute.
    pub acted_by: Option<String>,
    /// A refreshed login to hand back to Looker, whether or not the write succeeds.
    pub state: Option<ActionState>,
}

/// The identity a write-back executes with, or the answer telling the user to log in.
pub async fn writer(
    ctx: &ActionContext<'_>,
    action: &str,
    req: &ActionRequest,
) -> Result<Writer, ExecuteResponse> {
    match ctx.gate.execute_gate(action, req).await {
        ExecuteGate::Proceed {
            credential,
            email,
            state,
        } => Ok(Writer {
            credential,
            acted_by: email.or_else(|| acting_user(req)),
            state,
        }),
        ExecuteGate::Answer(resp) => Err(resp),
    }
}
