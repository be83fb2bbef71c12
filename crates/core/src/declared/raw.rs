//! The actions file as written: serde structs that refuse unknown keys and keep the line of every
//! value a later check may complain about. [`super::model`] turns them into the typed model.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::api::{RequiredField, Scalar};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub version: Option<Spanned<u32>>,
    pub actions: Vec<Spanned<RawAction>>,
}

/// `cell` or `query`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawKind {
    Cell,
    Query,
}

/// `hub`, `service` or `user`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawIdentity {
    Hub,
    Service,
    User,
}

/// One action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub name: Spanned<String>,
    pub label: Spanned<String>,
    pub description: Option<String>,
    pub icon: Option<Spanned<String>>,
    pub kind: Spanned<RawKind>,
    pub required_fields: Option<Vec<Spanned<RequiredField>>>,
    pub identity: Option<RawIdentity>,
    pub refresh_query: Option<bool>,
    pub key: Option<Spanned<String>>,
    pub key_tag: Option<Spanned<String>>,
    pub params: Option<Vec<Spanned<RawParam>>>,
    pub table: Spanned<RawTable>,
    pub fields: Option<Vec<Spanned<RawField>>>,
    pub result_columns: Option<Vec<Spanned<RawResultColumn>>>,
    pub success_message: Spanned<String>,
}

/// An admin-set param filled from a Looker user attribute.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParam {
    pub name: Spanned<String>,
    pub label: String,
    pub description: Option<String>,
    pub user_attribute: Option<String>,
    pub required: Option<bool>,
}

/// The target table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTable {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub clustering: Option<Vec<Spanned<String>>>,
}

/// Looker's form field types this hub renders for declared fields.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawFieldType {
    String,
    Textarea,
    Select,
}

/// What a field's value is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawValueType {
    Text,
    Integer,
    Number,
    Date,
    Boolean,
    Email,
}

/// A column type (BigQuery standard SQL names).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum RawColumnType {
    String,
    Int64,
    Numeric,
    Float64,
    Bool,
    Date,
    Timestamp,
    Json,
}

/// Column mode.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum RawMode {
    Nullable,
    Required,
}

/// A form field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawField {
    pub name: Spanned<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub field_type: Option<Spanned<RawFieldType>>,
    pub value: Option<Spanned<RawValueType>>,
    pub required: Option<bool>,
    pub interactive: Option<bool>,
    pub default: Option<Spanned<RawDefault>>,
    pub min_length: Option<Spanned<u32>>,
    pub max_length: Option<Spanned<u32>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub pattern: Option<Spanned<String>>,
    pub options: Option<Vec<Spanned<RawOption>>>,
    pub messages: Option<Spanned<RawMessages>>,
    pub column: Option<Spanned<RawColumn>>,
}

/// A field default: a literal, or `{from: value | today}`, or `{param: <param name>}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDefault {
    Source(RawDefaultSource),
    Literal(Scalar),
}

/// The non-literal defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaultSource {
    pub from: Option<String>,
    pub param: Option<String>,
}

/// A select option: `Approved` or `{name: approved, label: Approved}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawOption {
    Full { name: Scalar, label: String },
    Short(Scalar),
}

/// Messages a business user sees instead of the hub's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMessages {
    pub required: Option<String>,
    pub min_length: Option<String>,
    pub max_length: Option<String>,
    pub pattern: Option<String>,
    pub options: Option<String>,
    pub invalid: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
}

/// Where a field is stored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumn {
    pub name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub column_type: Option<Spanned<RawColumnType>>,
    pub mode: Option<Spanned<RawMode>>,
    pub description: Option<String>,
}

/// A result field of a query action stored in its own typed column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResultColumn {
    pub field: Spanned<String>,
    pub column: Spanned<String>,
    #[serde(rename = "type")]
    pub column_type: Spanned<RawColumnType>,
    pub required: Option<bool>,
    pub description: Option<String>,
}
