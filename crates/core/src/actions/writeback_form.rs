//! The classification / comment form shared by the write-back actions, and its validation.

use std::collections::BTreeMap;

use crate::api::{ActionParam, ActionRequest, FieldType, FormField, SelectOption};

/// The classifications a user can choose, in form order.
pub const CLASSIFICATIONS: &[&str] = &["Approved", "Suspicious", "Further Investigation"];
/// Default classification.
pub const DEFAULT_CLASSIFICATION: &str = "Suspicious";
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
    /// One of [`CLASSIFICATIONS`], canonical spelling.
    pub classification: String,
    /// The comment, trimmed.
    pub comment: String,
}

/// Check the form values; per-field problems go into `errors`.
pub fn validate(
    req: &ActionRequest,
    max_comment_chars: usize,
    errors: &mut BTreeMap<String, String>,
) -> Option<Classified> {
    let raw = req
        .form_param("classification")
        .unwrap_or_else(|| DEFAULT_CLASSIFICATION.into());
    let classification = CLASSIFICATIONS
        .iter()
        .find(|c| c.eq_ignore_ascii_case(raw.trim()))
        .map(|c| c.to_string());
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
        Some(classification) if chars <= max_comment_chars => Some(Classified {
            classification,
            comment,
        }),
        _ => None,
    }
}

/// The acting user's email from the user-attribute param, if Looker sent one.
pub fn acting_user(req: &ActionRequest) -> Option<String> {
    req.data_param(USER_EMAIL_PARAM)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
