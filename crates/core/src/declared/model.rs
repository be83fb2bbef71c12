//! The typed model of an actions file: what [`super::check`] builds from the file and the
//! runtime ([`super::form`], [`super::action`]) and the generators read. Types only.

use regex::Regex;

pub use super::syntax::Pos;

use crate::api::{ActionParam, FieldType, RequiredField, SelectOption};

/// Where an action appears and what one execute writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One row per click; the clicked value is the key.
    Cell,
    /// One row per result row, streamed.
    Query,
}

/// Whose identity writes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// As `HUB_IDENTITY_MODE` says (the built-in actions).
    Hub,
    /// Always the hub's own identity.
    Service,
    /// Always the acting user's OAuth identity (needs the hub's OAuth settings).
    User,
}

/// Column types and modes are the sink's own: a declared table is a [`crate::sinks::table::TableDef`].
pub use crate::sinks::table::{ColumnDef, ColumnType, Mode, TableDef};

/// The columns every row of a declared table has, whatever the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Unique id of the execute request.
    RequestId,
    /// Position of the row in the result (query actions).
    RowIndex,
    /// Name of the identifying result field (query actions).
    KeyField,
    /// Its value as text (query actions).
    KeyValue,
    /// Who acted.
    ActedBy,
    /// Looker scheduled plan id (query actions).
    ScheduledPlanId,
    /// Looker query id (query actions).
    QueryId,
    /// The whole result row as JSON (query actions).
    RowJson,
    /// `ran_at` of the result (query actions).
    RanAt,
    /// `X-Looker-Instance`.
    LookerInstance,
    /// `X-Looker-Webhook-Id`.
    WebhookId,
    /// Name of the action.
    Action,
    /// When the hub received the execute.
    ReceivedAt,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// Filled by the hub.
    Audit(Audit),
    /// The validated value of this form field.
    Field(String),
    /// This result field of each row (query actions), converted to the column type.
    Result {
        /// `view.field` in the result.
        field: String,
        /// A missing / null value is a row rejection.
        required: bool,
    },
}

/// What a field's value is, and how it is checked and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Free text.
    Text,
    /// Whole number.
    Integer,
    /// Decimal number.
    Number,
    /// Calendar date `YYYY-MM-DD`.
    Date,
    /// Yes / no.
    Boolean,
    /// An email address.
    Email,
}

impl ValueType {
    /// The word the file writes for it.
    pub fn word(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Date => "date",
            ValueType::Boolean => "boolean",
            ValueType::Email => "email",
        }
    }

    /// The column type a field of this value type gets unless the file says otherwise.
    pub fn default_column(self) -> ColumnType {
        match self {
            ValueType::Text | ValueType::Email => ColumnType::String,
            ValueType::Integer => ColumnType::Int64,
            ValueType::Number => ColumnType::Numeric,
            ValueType::Date => ColumnType::Date,
            ValueType::Boolean => ColumnType::Bool,
        }
    }

    /// The column types a value of this type converts to without loss.
    pub fn allowed_columns(self) -> &'static [ColumnType] {
        use ColumnType::*;
        match self {
            ValueType::Text | ValueType::Email => &[String],
            ValueType::Integer => &[Int64, Numeric, Float64, String],
            ValueType::Number => &[Numeric, Float64, String],
            ValueType::Date => &[Date, String],
            ValueType::Boolean => &[Bool, String],
        }
    }
}

/// Where a field's default comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// This text.
    Literal(String),
    /// The clicked value (`data.value`).
    ClickedValue,
    /// Today's date (UTC), `YYYY-MM-DD`.
    Today,
    /// An action param (a Looker user attribute), e.g. `user_email`.
    Param(String),
}

/// A form field and how its answer is checked and stored.
#[derive(Debug, Clone)]
pub struct Field {
    /// Key in `form_params`.
    pub name: String,
    /// Label.
    pub label: String,
    /// Help text.
    pub description: Option<String>,
    /// Looker field type.
    pub field_type: FieldType,
    /// Value type.
    pub value: ValueType,
    /// Must be answered.
    pub required: bool,
    /// Looker `interactive`, as written.
    pub interactive: Option<bool>,
    /// No longer asked (`retired: true`): not on the form, never validated, its column kept and
    /// empty in new rows — how an insert-only table lets a question go.
    pub retired: bool,
    /// Default.
    pub default: Option<DefaultValue>,
    /// Shortest text (characters).
    pub min_length: Option<usize>,
    /// Longest text (characters); `None`: the hub's `HUB_MAX_COMMENT_CHARS`.
    pub max_length: Option<usize>,
    /// Smallest number.
    pub min: Option<f64>,
    /// Largest number.
    pub max: Option<f64>,
    /// The whole value must match (text fields).
    pub pattern: Option<Regex>,
    /// Select options (boolean fields: yes / no).
    pub options: Vec<SelectOption>,
    /// Custom messages, parsed once at load.
    pub messages: FieldMessages,
    /// Column the value goes to.
    pub column: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Optional text field with a REQUIRED column: no answer is stored as "".
    pub column_required_empty: bool,
    /// The column is NULLABLE even though the field is required.
    pub column_nullable: bool,
    /// The file writes `column: {mode: REQUIRED}` (else a required field's BigQuery column is
    /// NULLABLE: see [`super::emit::bigquery_schema`]).
    pub column_required: bool,
    /// Column description, if the file gives one (else the label).
    pub column_description: Option<String>,
    /// Line of the field in its file.
    pub line: Pos,
}

/// A piece of a message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `{name}`.
    Placeholder(String),
}

/// A field's own messages (its `messages:`), each parsed at load into a template whose
/// placeholders the field can fill; `None`: the hub's wording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMessages {
    /// A required field is empty.
    pub required: Option<Template>,
    /// Too short.
    pub min_length: Option<Template>,
    /// Too long.
    pub max_length: Option<Template>,
    /// `pattern` does not match.
    pub pattern: Option<Template>,
    /// Not one of the options.
    pub options: Option<Template>,
    /// Not a value of the type (integer, number, date, email).
    pub invalid: Option<Template>,
    /// Below `min`.
    pub min: Option<Template>,
    /// Above `max`.
    pub max: Option<Template>,
}

/// A message with `{placeholders}`, checked at load; an execute fills it
/// (`Template::render`, beside the answers it is filled with in `form/answer.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

impl Template {
    /// Parse `{name}` placeholders; `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed `{{{name}`: close it with `}}`, or write `{{{{` for a literal brace")),
                        }
                    }
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Placeholder(name.trim().to_string()));
                }
                '}' => return Err("a lone `}`: write `}}` for a literal brace".into()),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Template(pieces))
    }

    /// The placeholders used.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Piece::Placeholder(n) => Some(n.as_str()),
            Piece::Text(_) => None,
        })
    }
}

/// A result field of a query action stored in its own column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    /// `view.field`.
    pub field: String,
    /// Column name.
    pub column: String,
    /// Column type.
    pub column_type: ColumnType,
    /// Missing / null is a row rejection.
    pub required: bool,
}

/// A compiled actions file: its checked actions.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Where it came from (a path, or [`super::builtin::NAME`]).
    pub source: String,
    /// The actions, in file order.
    pub actions: Vec<ActionDef>,
}

impl Catalog {
    /// An action by name.
    pub fn get(&self, name: &str) -> Option<&ActionDef> {
        self.actions.iter().find(|a| a.name == name)
    }
}

/// One declared write-back action.
#[derive(Debug, Clone)]
pub struct ActionDef {
    /// Name (path segment).
    pub name: String,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// Icon as a `data:` URI.
    pub icon_data_uri: Option<String>,
    /// Where the file writes the icon's file path (byte offset and length), when it names one.
    pub icon_file_span: Option<(usize, usize)>,
    /// cell / query.
    pub kind: Kind,
    /// Tags that make it appear.
    pub required_fields: Vec<RequiredField>,
    /// Identity of writes.
    pub identity: Identity,
    /// Ask Looker to refresh the query after a successful write.
    pub refresh_query: bool,
    /// Cell actions: the form field holding the key (the clicked value).
    pub key_field: Option<String>,
    /// Query actions: the tag of the identifying result field.
    pub key_tag: Option<String>,
    /// Admin params (always `user_email` first).
    pub params: Vec<ActionParam>,
    /// Form fields, in form order.
    pub fields: Vec<Field>,
    /// Query actions: result fields mapped to columns.
    pub result_columns: Vec<ResultColumn>,
    /// Target table, as every sink writes it.
    pub table: TableDef,
    /// Where each column's value comes from, in column order.
    pub sources: Vec<ColumnSource>,
    /// The column identifying what a decision is about (the current-state view's key).
    pub key_column: String,
    /// Success message.
    pub success_message: Template,
    /// Line of the action in its file.
    pub line: Pos,
}

impl ActionDef {
    /// Each column of its table with where its value comes from.
    pub fn columns(&self) -> impl Iterator<Item = (&ColumnDef, &ColumnSource)> {
        self.table.columns.iter().zip(&self.sources)
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Placeholders a success message of this action may use.
    pub fn placeholders(&self) -> Vec<String> {
        let mut out: Vec<String> = match self.kind {
            Kind::Cell => vec!["key".into()],
            Kind::Query => vec!["count".into(), "rows".into()],
        };
        // A retired field has no answer to show.
        out.extend(
            self.fields
                .iter()
                .filter(|f| !f.retired)
                .map(|f| f.name.clone()),
        );
        out
    }
}

/// The `user_email` param every declared action has (who acted).
pub fn user_email_param() -> ActionParam {
    crate::api::user_email_param()
}

impl Field {
    /// The description of its column: the file's, else the label.
    pub fn description_for_column(&self) -> String {
        self.column_description
            .clone()
            .unwrap_or_else(|| self.label.clone())
    }
}
