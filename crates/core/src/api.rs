//! Looker Action API wire types (serde). Field names follow what Looker sends and accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /` answer: the hub's list of integrations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionList {
    /// Hub label shown in Looker's admin page.
    pub label: String,
    /// Every action this hub hosts.
    pub integrations: Vec<Integration>,
}

/// Kind of action: where in Looker it appears.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ActionType {
    /// A single cell (data action on a tagged field).
    Cell,
    /// A whole query result (schedules, "send").
    Query,
    /// A dashboard.
    Dashboard,
}

impl ActionType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Cell => "cell",
            ActionType::Query => "query",
            ActionType::Dashboard => "dashboard",
        }
    }
}

/// Result formats Looker can deliver.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ActionFormat {
    Txt,
    Csv,
    InlineJson,
    Json,
    JsonLabel,
    JsonDetail,
    JsonDetailLiteStream,
    Xlsx,
    Html,
    WysiwygPdf,
    AssembledPdf,
    WysiwygPng,
    CsvZip,
}

/// Whether values are delivered formatted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Formatting {
    Formatted,
    Unformatted,
}

/// Whether visualization options are applied.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum VisualizationFormatting {
    Apply,
    Noapply,
}

/// How Looker hands over a query result: pushed in the request, or a `download_url` to stream.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DownloadSetting {
    Push,
    Url,
}

/// One integration (action) definition, as listed by the hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Integration {
    /// Unique action name (path segment).
    pub name: String,
    /// Label shown to users.
    pub label: String,
    /// Longer description.
    pub description: String,
    /// Execute URL.
    pub url: String,
    /// Form URL, or null when the action has no form.
    pub form_url: Option<String>,
    /// Icon as a `data:` URI.
    pub icon_data_uri: Option<String>,
    /// Admin-set parameters.
    pub params: Vec<ActionParam>,
    /// Field tags that make the action appear.
    pub required_fields: Vec<RequiredField>,
    /// Where the action appears.
    pub supported_action_types: Vec<ActionType>,
    /// Accepted result formats (omitted = all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_formats: Option<Vec<ActionFormat>>,
    /// Accepted formattings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_formattings: Option<Vec<Formatting>>,
    /// Accepted visualization formattings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_visualization_formattings: Option<Vec<VisualizationFormatting>>,
    /// Push and/or url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_download_settings: Option<Vec<DownloadSetting>>,
    /// Whether the action uses per-user OAuth state.
    pub uses_oauth: bool,
    /// OAuth v2: Looker delegates the OAuth dance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegate_oauth: Option<bool>,
    /// OAuth v2: token URL Looker calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

/// An admin-set parameter of an action.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ActionParam {
    /// Key in `data`.
    pub name: String,
    /// Label in the admin page.
    pub label: String,
    /// Must be set for the action to be enabled.
    pub required: bool,
    /// Hidden once saved (keys, passwords).
    pub sensitive: bool,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value comes from a per-user attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_user: Option<bool>,
    /// Name of the Looker user attribute suggested for this param.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_attribute_name: Option<String>,
}

/// Which LookML field tags make the action appear.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RequiredField {
    /// A field with this tag.
    Tag {
        /// The tag.
        tag: String,
    },
    /// A field with any of these tags.
    AnyTag {
        /// The tags.
        any_tag: Vec<String>,
    },
    /// A field with all of these tags.
    AllTags {
        /// The tags.
        all_tags: Vec<String>,
    },
}

/// Form field types Looker renders.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One-line text.
    String,
    /// Multi-line text.
    Textarea,
    /// Drop-down.
    Select,
    /// Generic OAuth login link.
    OauthLink,
    /// "Log in with Google" button.
    OauthLinkGoogle,
    /// Read-only text.
    Message,
}

/// One option of a select field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SelectOption {
    /// Submitted value.
    pub name: String,
    /// Shown label.
    pub label: String,
}

/// One field of an action form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormField {
    /// Key in `form_params`.
    pub name: String,
    /// Label shown to the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Field type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether a value is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Changing the value re-fetches the form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    /// Options of a select.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<SelectOption>>,
    /// Login URL of an OAuth link field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_url: Option<String>,
    /// Message text (message fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl FormField {
    /// A field of the given type with only a name and label set.
    pub fn new(name: &str, label: &str, field_type: FieldType) -> Self {
        FormField {
            name: name.to_string(),
            label: Some(label.to_string()),
            description: None,
            field_type,
            required: None,
            default: None,
            interactive: None,
            options: None,
            oauth_url: None,
            value: None,
        }
    }
}

/// Per-user state Looker stores for the action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActionState {
    /// Opaque data (≤ 32 KB).
    pub data: String,
    /// Seconds until Looker should ask for a refresh (the reference hub misspelled this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<i64>,
}

/// A form answer.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Form {
    /// Fields to render.
    pub fields: Vec<FormField>,
    /// New per-user state for Looker to store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ActionState>,
    /// A form-level error (the form is replaced by this message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body Looker posts to form and execute.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ActionRequest {
    /// cell / query / dashboard (absent on form requests of older Looker versions).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionType>,
    /// Schedule / query details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_plan: Option<ScheduledPlan>,
    /// Pushed result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    /// Params, clicked value, state_url / state_json.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: RequestData,
    /// Values the user entered in the form, each with its JSON kind.
    #[serde(default, deserialize_with = "null_as_default")]
    pub form_params: BTreeMap<String, FormValue>,
}

impl ActionRequest {
    /// A form answer as text, `None` when the form sent none: `Err` (the message for
    /// `validation_errors`) when it is not a string (`null` is the empty answer). A field that
    /// takes other JSON kinds reads [`ActionRequest::form_params`] itself.
    pub fn form_text(&self, name: &str) -> Option<Result<String, String>> {
        Some(match self.form_params.get(name)? {
            FormValue::Text(t) => Ok(t.clone()),
            FormValue::Null => Ok(String::new()),
            v => Err(format!("must be text, not {}", v.kind())),
        })
    }

    /// A `data` entry as text.
    pub fn data_param(&self, name: &str) -> Option<String> {
        self.data.0.get(name)?.0.clone()
    }

    /// Check the sizes of what the hub stores or sends on from the request: the acting user's
    /// email and the plan and query ids (the result itself is bounded row by row).
    pub fn check_limits(&self) -> Result<(), String> {
        let too_long = |what: &str, text: Option<&str>, max: usize| match text {
            Some(t) if t.chars().count() > max => Err(format!(
                "{what} is {} characters long; the limit is {max}",
                t.chars().count()
            )),
            _ => Ok(()),
        };
        let email = self
            .data
            .0
            .get(USER_EMAIL_PARAM)
            .and_then(|v| v.0.as_deref());
        too_long("data.user_email", email, MAX_EMAIL_CHARS)?;
        if let Some(plan) = &self.scheduled_plan {
            let id = |v: &Option<LookerId>| v.as_ref().map(|i| i.as_str().to_string());
            too_long(
                "scheduled_plan.scheduled_plan_id",
                id(&plan.scheduled_plan_id).as_deref(),
                MAX_ID_CHARS,
            )?;
            too_long(
                "scheduled_plan.query_id",
                id(&plan.query_id).as_deref(),
                MAX_ID_CHARS,
            )?;
        }
        Ok(())
    }
}

/// The `data` param carrying the acting user's email.
pub const USER_EMAIL_PARAM: &str = "user_email";

/// The optional param that records who acted (Looker fills it from the `email` user attribute):
/// every declared action has it.
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

impl ActionRequest {
    /// The acting user's email from the [`USER_EMAIL_PARAM`] user attribute, if Looker sent one.
    pub fn acting_user(&self) -> Option<String> {
        self.data_param(USER_EMAIL_PARAM)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }
}
/// Longest accepted `user_email` (an address has at most 254 characters).
pub const MAX_EMAIL_CHARS: usize = 320;
/// Longest accepted scheduled plan or query id (Looker's are short numbers).
pub const MAX_ID_CHARS: usize = 128;

/// A JSON scalar as text (strings as they are, numbers and booleans rendered; `None` for null).
/// Arrays and objects are skipped as they are read, never built: no body of nested values can
/// take memory (a value tree is many times its text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scalar(pub Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(
                    serde_json::Number::from_f64(v).map(|n| n.to_string()),
                ))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl From<&str> for Scalar {
    fn from(v: &str) -> Scalar {
        Scalar(Some(v.to_string()))
    }
}

/// A form answer as sent. Looker sends strings; a hand-made or re-serialized request may send
/// other JSON, whose kind is kept so that a field refuses a shape it does not take: an array is
/// never read as "no answer" nor a number as text. Arrays and objects are skipped as they are
/// read, never built.
#[derive(Debug, Clone, PartialEq)]
pub enum FormValue {
    /// A string.
    Text(String),
    /// A JSON number without fraction or exponent within 64 bits (signed or not), exact.
    Integer(i128),
    /// Any other JSON number, as read (a double: the digits sent may not all be kept).
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`: an empty answer (as `""`; not the field's default, which only an absent answer
    /// takes).
    Null,
    /// An array.
    List,
    /// An object.
    Object,
}

impl FormValue {
    /// What the value is, in a message (`a list`).
    pub fn kind(&self) -> &'static str {
        match self {
            FormValue::Text(_) => "text",
            FormValue::Integer(_) => "a JSON number",
            FormValue::Float(_) => "a JSON number with a fraction or an exponent",
            FormValue::Bool(_) => "true / false",
            FormValue::Null => "null",
            FormValue::List => "a list",
            FormValue::Object => "an object",
        }
    }
}

impl From<&str> for FormValue {
    fn from(v: &str) -> FormValue {
        FormValue::Text(v.to_string())
    }
}

impl<'de> Deserialize<'de> for FormValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FormValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<FormValue, E> {
                Ok(FormValue::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<FormValue, E> {
                Ok(FormValue::Text(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<FormValue, E> {
                Ok(FormValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<FormValue, E> {
                Ok(FormValue::Integer(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<FormValue, E> {
                Ok(FormValue::Integer(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<FormValue, E> {
                Ok(FormValue::Float(v))
            }
            fn visit_unit<E>(self) -> Result<FormValue, E> {
                Ok(FormValue::Null)
            }
            fn visit_none<E>(self) -> Result<FormValue, E> {
                Ok(FormValue::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<FormValue, D::Error> {
                FormValue::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<FormValue, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FormValue::List)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<FormValue, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(FormValue::Object)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for FormValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            FormValue::Text(t) => s.serialize_str(t),
            FormValue::Integer(i) => match i64::try_from(*i) {
                Ok(n) => s.serialize_i64(n),
                Err(_) => s.serialize_u64(u64::try_from(*i).unwrap_or(u64::MAX)),
            },
            FormValue::Float(f) => s.serialize_f64(*f),
            FormValue::Bool(b) => s.serialize_bool(*b),
            FormValue::Null => s.serialize_unit(),
            FormValue::List => s.serialize_seq(Some(0))?.end(),
            FormValue::Object => s.serialize_map(Some(0))?.end(),
        }
    }
}

/// `null` read as the empty value: Looker (and proxies re-serializing its bodies) may send
/// `"form_params": null`, `"data": null` or `"hidden_fields": null` where the field is empty.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Text of a scalar JSON value; `None` for null, arrays and objects.
pub fn value_as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `data` object: admin params plus `value`, `state_url`, `state_json`, user attributes.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RequestData(pub BTreeMap<String, Scalar>);

/// A Looker id (`scheduled_plan_id`, `query_id`): Looker sends numbers, proxies and older
/// versions strings; both are read as the same id (one deserializer: [`looker_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct LookerId(String);

impl LookerId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for LookerId {
    fn from(v: &str) -> LookerId {
        LookerId(v.to_string())
    }
}

impl std::fmt::Display for LookerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read a Looker id given as a number or a string (null, arrays and objects: no id).
pub fn looker_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<LookerId>, D::Error> {
    Ok(Scalar::deserialize(d)?.0.map(LookerId))
}

/// Pushed result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Attachment {
    /// e.g. `application/json;base64`.
    #[serde(default)]
    pub mimetype: Option<String>,
    /// e.g. `json`.
    #[serde(default)]
    pub extension: Option<String>,
    /// The payload (base64 when the mimetype ends in `;base64`), or an inline JSON value: kept
    /// as its text (the row reader streams it; a value tree would be many times its size).
    #[serde(default)]
    pub data: Option<Box<serde_json::value::RawValue>>,
}

/// Schedule details sent with query actions.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ScheduledPlan {
    /// Scheduled plan id (absent for one-off sends).
    #[serde(default)]
    #[serde(deserialize_with = "looker_id")]
    pub scheduled_plan_id: Option<LookerId>,
    /// Title of the Look / schedule.
    #[serde(default)]
    pub title: Option<String>,
    /// Look, Dashboard, ...
    #[serde(rename = "type", default)]
    pub plan_type: Option<String>,
    /// Link back to the content in Looker.
    #[serde(default)]
    pub url: Option<String>,
    /// Query id.
    #[serde(default)]
    #[serde(deserialize_with = "looker_id")]
    pub query_id: Option<LookerId>,
    /// The query.
    #[serde(default)]
    pub query: Option<Query>,
    /// One-time URL to stream the result from.
    #[serde(default)]
    pub download_url: Option<String>,
    /// Whether the schedule's filters differ from the Look's.
    #[serde(default)]
    pub filters_differ_from_look: Option<bool>,
}

/// The query of a scheduled plan.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Query {
    /// LookML model.
    #[serde(default)]
    pub model: Option<String>,
    /// Explore.
    #[serde(default)]
    pub view: Option<String>,
    /// Selected fields.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fields: Vec<String>,
    // `filters` and the rest of the query are not read: unknown fields are skipped as they are
    // read, never built.
    /// Visualization config.
    #[serde(default)]
    pub vis_config: Option<VisConfig>,
}

/// Visualization config (only what the hub reads: the rest is skipped as it is read).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct VisConfig {
    /// Fields the user hid in the visualization.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hidden_fields: Vec<String>,
}

impl ScheduledPlan {
    /// Hidden fields of the query's visualization (empty when absent).
    pub fn hidden_fields(&self) -> &[String] {
        self.query
            .as_ref()
            .and_then(|q| q.vis_config.as_ref())
            .map(|v| v.hidden_fields.as_slice())
            .unwrap_or(&[])
    }
}

/// The `looker` part of an execute answer: everything Looker reads from it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LookerResult {
    /// Whether the action succeeded.
    pub success: bool,
    /// What Looker shows the user and writes into the schedule history. It belongs here, inside
    /// `looker`: Looker ignores a top-level `message` (the reference hub moved it in its
    /// "ActionResponse properly sets the `looker` key" change, #173).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per-field problems shown on the form.
    #[serde(default)]
    pub validation_errors: BTreeMap<String, String>,
    /// Ask Looker to re-run the query.
    #[serde(default)]
    pub refresh_query: bool,
    /// New per-user state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ActionState>,
}

/// An execute answer: `{"looker": {...}}` and nothing else (no client reads a top-level
/// `message`, so none is written).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ExecuteResponse {
    /// Result for Looker.
    pub looker: LookerResult,
}

impl ExecuteResponse {
    /// A success with a message.
    pub fn success(message: impl Into<String>) -> Self {
        ExecuteResponse {
            looker: LookerResult {
                success: true,
                message: Some(message.into()),
                ..Default::default()
            },
        }
    }

    /// A failure with a message.
    pub fn failure(message: impl Into<String>) -> Self {
        ExecuteResponse {
            looker: LookerResult {
                message: Some(message.into()),
                ..Default::default()
            },
        }
    }

    /// The message Looker shows.
    pub fn message(&self) -> Option<&str> {
        self.looker.message.as_deref()
    }

    /// A failure with per-field problems.
    pub fn invalid(errors: BTreeMap<String, String>) -> Self {
        let message = errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        ExecuteResponse {
            looker: LookerResult {
                success: false,
                message: Some(message),
                validation_errors: errors,
                ..Default::default()
            },
        }
    }
}

/// `{error}` answer used for errors outside execute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_text_and_skip_nested_values() {
        let req: ActionRequest = serde_json::from_str(
            r#"{"data":{"value":"ORD-1","n":12,"f":1.5,"b":true,"z":null,"deep":[[],[[{"a":[]}]]],
                "obj":{"x":{"y":[1,2]}}},
                "form_params":{"comment":"hi","list":["a","b"]},
                "scheduled_plan":{"scheduled_plan_id":77,"query_id":"991",
                    "query":{"filters":{"a":[1,{"b":2}]},"vis_config":{"hidden_fields":["x"],"type":"t"}}}}"#,
        )
        .unwrap();
        assert_eq!(req.data_param("value").as_deref(), Some("ORD-1"));
        assert_eq!(req.data_param("n").as_deref(), Some("12"));
        assert_eq!(req.data_param("f").as_deref(), Some("1.5"));
        assert_eq!(req.data_param("b").as_deref(), Some("true"));
        for none in ["z", "deep", "obj", "missing"] {
            assert_eq!(req.data_param(none), None, "{none}");
        }
        assert_eq!(req.form_text("comment"), Some(Ok("hi".into())));
        assert_eq!(
            req.form_text("list"),
            Some(Err("must be text, not a list".into()))
        );
        assert_eq!(req.form_text("missing"), None);
        let plan = req.scheduled_plan.as_ref().unwrap();
        assert_eq!(plan.scheduled_plan_id, Some(LookerId::from("77")));
        assert_eq!(plan.query_id, Some(LookerId::from("991")));
        assert_eq!(plan.hidden_fields(), ["x".to_string()]);
        assert!(req.check_limits().is_ok());
    }
}
