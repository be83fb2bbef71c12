//! The typed model of an actions file, built from [`super::raw`] with every problem collected.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use regex::Regex;
use serde_saphyr::Spanned;

use super::names;
use super::raw::*;
use super::Problem;
use crate::actions::rudder::{GROUP, IDENTIFY, TRACK};
use crate::api::{ActionParam, FieldType, RequiredField, SelectOption, USER_EMAIL_PARAM};

/// Names of the hub's coded actions: a declared action may not take them.
pub const CODED_ACTION_NAMES: &[&str] = &["rudder_event", "rudder_group", "rudder_track"];

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
pub use crate::sinks::table::{ColumnType, Mode};

impl From<RawColumnType> for ColumnType {
    fn from(t: RawColumnType) -> Self {
        match t {
            RawColumnType::String => ColumnType::String,
            RawColumnType::Int64 => ColumnType::Int64,
            RawColumnType::Numeric => ColumnType::Numeric,
            RawColumnType::Float64 => ColumnType::Float64,
            RawColumnType::Bool => ColumnType::Bool,
            RawColumnType::Date => ColumnType::Date,
            RawColumnType::Timestamp => ColumnType::Timestamp,
            RawColumnType::Json => ColumnType::Json,
        }
    }
}

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

/// One column of a declared table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type.
    pub column_type: ColumnType,
    /// NULLABLE / REQUIRED.
    pub mode: Mode,
    /// Description (BigQuery column description, LookML dimension description).
    pub description: String,
    /// Where the value comes from.
    pub source: ColumnSource,
}

/// The insert-only table an action appends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Table description.
    pub description: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// Day-partitioned on this column.
    pub partition: String,
    /// Clustering columns.
    pub clustering: Vec<String>,
    /// The column identifying what a decision is about (the current-state view's key).
    pub key_column: String,
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
    fn word(self) -> &'static str {
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

/// Messages shown to the business user; `{max}`, `{min}`, `{length}`, `{options}` are filled in.
/// Read from the file as written (a field's `messages:`), its placeholders checked at load.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// A required field is empty.
    pub required: Option<String>,
    /// Too short.
    pub min_length: Option<String>,
    /// Too long.
    pub max_length: Option<String>,
    /// `pattern` does not match.
    pub pattern: Option<String>,
    /// Not one of the options.
    pub options: Option<String>,
    /// Not a value of the type (integer, number, date, email).
    pub invalid: Option<String>,
    /// Below `min`.
    pub min: Option<String>,
    /// Above `max`.
    pub max: Option<String>,
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
    /// Custom messages.
    pub messages: Messages,
    /// Column the value goes to.
    pub column: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Optional text field with a REQUIRED column: no answer is stored as "".
    pub column_required_empty: bool,
    /// The column is NULLABLE even though the field is required.
    pub column_nullable: bool,
    /// The file writes `column: {mode: REQUIRED}` (else a required field's BigQuery column is
    /// NULLABLE: see [`super::generate::bigquery_schema`]).
    pub column_required: bool,
    /// Column description, if the file gives one (else the label).
    pub column_description: Option<String>,
    /// Line of the field in its file.
    pub line: u64,
}

/// A piece of a message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `{name}`.
    Placeholder(String),
}

/// A message with `{placeholders}`, checked at load.
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
    /// Target table.
    pub table: Table,
    /// Success message.
    pub success_message: Template,
    /// Line of the action in its file.
    pub line: u64,
}

impl ActionDef {
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

/// The column types BigQuery clusters on (besides GEOGRAPHY, RANGE, BIGNUMERIC and DATETIME,
/// which a declared table has none of): FLOAT64 and JSON are refused.
const CLUSTERABLE: &str = "STRING, INT64, NUMERIC, BOOL, DATE or TIMESTAMP";

fn clusterable(t: ColumnType) -> bool {
    matches!(
        t,
        ColumnType::String
            | ColumnType::Int64
            | ColumnType::Numeric
            | ColumnType::Bool
            | ColumnType::Date
            | ColumnType::Timestamp
    )
}

/// Collects problems with their lines.
pub(crate) struct Checker<'a> {
    pub file: &'a str,
    pub problems: Vec<Problem>,
}

impl Checker<'_> {
    pub fn at(&mut self, line: u64, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_string(),
            line: Some(line),
            message: message.into(),
        });
    }
}

fn line<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line()
}

fn opt_line<T>(s: &Option<Spanned<T>>, fallback: u64) -> u64 {
    s.as_ref().map(line).unwrap_or(fallback)
}

/// Build the model; every problem goes to `ck`. `None` when any problem was found.
pub(crate) fn build(raw: RawFile, base_dir: Option<&Path>, ck: &mut Checker) -> Vec<ActionDef> {
    if let Some(v) = &raw.version {
        if v.value != 1 {
            ck.at(
                line(v),
                format!(
                    "version {} is not known to this hub: write `version: 1`",
                    v.value
                ),
            );
        }
    }
    let mut names: HashMap<String, u64> = HashMap::new();
    let mut tables: HashMap<String, u64> = HashMap::new();
    let mut labels: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    if raw.actions.is_empty() {
        ck.problems.push(Problem {
            file: ck.file.to_string(),
            line: None,
            message: "the file declares no action: add at least one under `actions:`".into(),
        });
    }
    for a in raw.actions {
        let name = a.value.name.value.clone();
        let name_line = line(&a.value.name);
        if let Some(first) = names.insert(name.clone(), name_line) {
            ck.at(name_line, format!("duplicate action name {name:?} (first at line {first}): give each action its own name"));
        }
        // Looker's action menu shows labels only: two equal ones are two identical entries.
        let label = a.value.label.value.trim().to_lowercase();
        let label_line = line(&a.value.label);
        let coded = [IDENTIFY, GROUP, TRACK].map(|c| c.label());
        if let Some(c) = coded.iter().find(|c| c.to_lowercase() == label) {
            ck.at(label_line, format!("label {:?} is the label of the hub's own action {c:?}: Looker would show two identical entries in the action menu; choose another label", a.value.label.value));
        } else if let Some(first) = labels
            .insert(label.clone(), label_line)
            .filter(|_| !label.is_empty())
        {
            ck.at(label_line, format!("label {:?} is already the label of the action at line {first} (case aside): Looker would show two identical entries in the action menu; give each action its own label", a.value.label.value));
        }
        let table = a.value.table.value.name.value.clone();
        let table_line = line(&a.value.table.value.name);
        if let Some(first) = tables.insert(table.clone(), table_line) {
            ck.at(table_line, format!("table {table:?} is already written by the action at line {first}: give each action its own table"));
        }
        if let Some(def) = build_action(a, base_dir, ck) {
            out.push(def);
        }
    }
    // Every table gets a LookML view of its name and one of its name + `_current`: a table named
    // like another's current-state view would give two views of one name.
    use super::generate::CURRENT_VIEW_SUFFIX;
    let mut by_line: Vec<(&String, &u64)> = tables.iter().collect();
    by_line.sort_by_key(|(_, l)| **l);
    for (table, l) in by_line {
        if let Some(base) = table.strip_suffix(CURRENT_VIEW_SUFFIX) {
            if let Some(base_line) = tables.get(base) {
                ck.at(*l, format!(
                    "table {table:?} has the name of the LookML view `{table}` generated over table {base:?} (line {base_line}) for its latest row per key (Looker refuses two views of one name): write `name: {base}_latest` or another name"
                ));
            }
        }
    }
    out
}

fn build_action(
    a: Spanned<RawAction>,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> Option<ActionDef> {
    let before = ck.problems.len();
    let at = line(&a);
    let a = a.value;
    let name = a.name.value.clone();
    if let Some(p) = names::action_name_problem(&name) {
        ck.at(line(&a.name), p);
    } else if CODED_ACTION_NAMES.contains(&name.as_str()) {
        ck.at(
            line(&a.name),
            format!("{name:?} is the name of one of the hub's own actions: choose another name"),
        );
    }
    if a.label.value.trim().is_empty() {
        ck.at(
            line(&a.label),
            "label is empty: write the text Looker shows in the action menu",
        );
    }
    let kind = match a.kind.value {
        RawKind::Cell => Kind::Cell,
        RawKind::Query => Kind::Query,
    };
    let icon_data_uri =
        a.icon
            .as_ref()
            .and_then(|i| match super::icon::resolve(&i.value, base_dir) {
                Ok(uri) => Some(uri),
                Err(e) => {
                    ck.at(line(i), e);
                    None
                }
            });
    let mut required_fields = Vec::new();
    for rf in a.required_fields.unwrap_or_default() {
        let tags: Vec<&String> = match &rf.value {
            RequiredField::Tag { tag } => vec![tag],
            RequiredField::AnyTag { any_tag } | RequiredField::AllTags { all_tags: any_tag } => {
                any_tag.iter().collect()
            }
        };
        if tags.is_empty() {
            ck.at(
                line(&rf),
                "an empty tag list matches no field: list at least one tag",
            );
        }
        for t in tags {
            if let Some(p) = names::tag_problem(t) {
                ck.at(line(&rf), p);
            }
        }
        required_fields.push(rf.value);
    }
    if kind == Kind::Cell && required_fields.is_empty() {
        ck.at(at, "a cell action needs `required_fields` (e.g. `- tag: my-tag`): without a tag it appears on no field");
    }
    let identity = match a.identity.unwrap_or(RawIdentity::Hub) {
        RawIdentity::Hub => Identity::Hub,
        RawIdentity::Service => Identity::Service,
        RawIdentity::User => Identity::User,
    };

    // Params: user_email always, then the declared ones.
    let mut params = vec![user_email_param()];
    for p in a.params.unwrap_or_default() {
        let p = p.value;
        if let Some(msg) = names::field_name_problem(&p.name.value) {
            ck.at(line(&p.name), msg.replace("field name", "param name"));
        }
        if params.iter().any(|q| q.name == p.name.value) {
            ck.at(
                line(&p.name),
                format!(
                    "duplicate param {:?}: give each param its own name",
                    p.name.value
                ),
            );
        }
        params.push(ActionParam {
            name: p.name.value,
            label: p.label,
            required: p.required.unwrap_or(false),
            sensitive: false,
            description: p.description,
            per_user: None,
            user_attribute_name: p.user_attribute,
        });
    }

    // Fields.
    let mut fields: Vec<Field> = Vec::new();
    for f in a.fields.unwrap_or_default() {
        let fl = line(&f);
        if fields.iter().any(|g| g.name == f.value.name.value) {
            ck.at(
                line(&f.value.name),
                format!(
                    "duplicate field {:?}: give each field its own name",
                    f.value.name.value
                ),
            );
            continue;
        }
        // A field with a problem of its own is still a field: later checks (the key, the
        // success message, columns) see it, so its problem is not followed by false ones.
        fields.push(build_field(f.value, fl, kind, &params, ck));
    }

    // The key.
    let mut key_field = None;
    let mut key_tag = None;
    match kind {
        Kind::Cell => {
            if let Some(k) = &a.key_tag {
                ck.at(
                    line(k),
                    "`key_tag` is for query actions; a cell action names its key field with `key:`",
                );
            }
            if let Some(rc) = &a.result_columns {
                if !rc.is_empty() {
                    ck.at(
                        line(&rc[0]),
                        "`result_columns` is for query actions; a cell action has no query result",
                    );
                }
            }
            let clicked: Vec<&Field> = fields
                .iter()
                .filter(|f| f.default == Some(DefaultValue::ClickedValue))
                .collect();
            match &a.key {
                Some(k) => match fields.iter().find(|f| f.name == k.value) {
                    Some(f) if !f.required => ck.at(line(k), format!("key field {:?} must be `required: true`: every row needs its key", k.value)),
                    Some(_) => key_field = Some(k.value.clone()),
                    None => ck.at(line(k), format!("key {:?} is not a field of this action: name the field that holds the clicked value", k.value)),
                },
                None if clicked.len() == 1 && clicked[0].required => key_field = Some(clicked[0].name.clone()),
                None => ck.at(at, "a cell action needs `key: <field>`: the required field that holds the clicked value (`default: {from: value}`)"),
            }
        }
        Kind::Query => {
            if let Some(k) = &a.key {
                ck.at(line(k), "`key` is for cell actions; a query action's key is the result field tagged `key_tag`");
            }
            key_tag = match &a.key_tag {
                Some(t) => {
                    if let Some(p) = names::tag_problem(&t.value) {
                        ck.at(line(t), p);
                    }
                    Some(t.value.clone())
                }
                None => required_fields.iter().find_map(|r| match r {
                    RequiredField::Tag { tag } => Some(tag.clone()),
                    RequiredField::AnyTag { any_tag: t }
                    | RequiredField::AllTags { all_tags: t } => t.first().cloned(),
                }),
            };
        }
    }

    // Result columns.
    let mut result_columns = Vec::new();
    for rc in a.result_columns.unwrap_or_default() {
        let rl = line(&rc);
        let rc = rc.value;
        if rc.field.value.trim().is_empty() {
            ck.at(
                line(&rc.field),
                "`field` is empty: write the result field as `view.field`, e.g. `orders.id`",
            );
        }
        if matches!(
            rc.column_type.value,
            RawColumnType::Json | RawColumnType::Timestamp
        ) {
            ck.at(line(&rc.column_type), format!("a result field cannot be stored as {}: write STRING, INT64, NUMERIC, FLOAT64, BOOL or DATE", ColumnType::from(rc.column_type.value).bigquery_name()));
        }
        let _ = rl;
        result_columns.push((
            ResultColumn {
                field: rc.field.value,
                column: rc.column.value.clone(),
                column_type: rc.column_type.value.into(),
                required: rc.required.unwrap_or(false),
            },
            rc.description,
            line(&rc.column),
        ));
    }

    // The table.
    let rt = a.table.value;
    let table_name = rt.name.value.clone();
    if let Some(p) = names::table_name_problem(&table_name) {
        ck.at(line(&rt.name), p);
    }
    let audit = |name: &str, t: ColumnType, m: Mode, d: &str, s: Audit| Column {
        name: name.into(),
        column_type: t,
        mode: m,
        description: d.into(),
        source: ColumnSource::Audit(s),
    };
    use ColumnType as T;
    use Mode::{Nullable as N, Required as R};
    // The columns both kinds end with: where the request came from and when.
    let request_tail = || {
        [
            audit(
                "looker_instance",
                T::String,
                N,
                "X-Looker-Instance of the request.",
                Audit::LookerInstance,
            ),
            audit(
                "webhook_id",
                T::String,
                N,
                "X-Looker-Webhook-Id of the request.",
                Audit::WebhookId,
            ),
            audit(
                "action",
                T::String,
                R,
                "Name of the action that wrote the row.",
                Audit::Action,
            ),
            audit(
                "received_at",
                T::Timestamp,
                R,
                "When the hub received the execute (UTC).",
                Audit::ReceivedAt,
            ),
        ]
    };
    let mut columns = Vec::new();
    let (head, tail): (Vec<Column>, Vec<Column>) = match kind {
        Kind::Cell => (
            vec![audit(
                "request_id",
                T::String,
                R,
                "Unique id of the execute request (one row per request).",
                Audit::RequestId,
            )],
            vec![audit(
                "acted_by",
                T::String,
                N,
                "Email of the Looker user who acted (user attribute or OAuth identity).",
                Audit::ActedBy,
            )]
            .into_iter()
            .chain(request_tail())
            .collect(),
        ),
        Kind::Query => {
            let key_desc = match &key_tag {
                Some(t) => {
                    format!("The identifying field: the one tagged {t}, else the first dimension.")
                }
                None => "The identifying field: the first dimension of the result.".into(),
            };
            (
                vec![
                    audit(
                        "request_id",
                        T::String,
                        R,
                        "Unique id of the execute request.",
                        Audit::RequestId,
                    ),
                    audit(
                        "row_index",
                        T::Int64,
                        R,
                        "Position of the row in the query result (0-based).",
                        Audit::RowIndex,
                    ),
                    audit("key_field", T::String, R, &key_desc, Audit::KeyField),
                    audit(
                        "key_value",
                        T::String,
                        N,
                        "Its value in this row.",
                        Audit::KeyValue,
                    ),
                ],
                vec![
                    audit(
                        "acted_by",
                        T::String,
                        N,
                        "Email of the Looker user who acted.",
                        Audit::ActedBy,
                    ),
                    audit(
                        "scheduled_plan_id",
                        T::String,
                        N,
                        "Looker scheduled plan id, when sent by a schedule.",
                        Audit::ScheduledPlanId,
                    ),
                    audit("query_id", T::String, N, "Looker query id.", Audit::QueryId),
                    audit(
                        "row_json",
                        T::Json,
                        R,
                        "The whole result row as JSON.",
                        Audit::RowJson,
                    ),
                    audit(
                        "ran_at",
                        T::String,
                        N,
                        "When Looker ran the query, as Looker sent it (ran_at of the result).",
                        Audit::RanAt,
                    ),
                ]
                .into_iter()
                .chain(request_tail())
                .collect(),
            )
        }
    };
    let reserved: BTreeSet<String> = head
        .iter()
        .chain(tail.iter())
        .map(|c| c.name.clone())
        .collect();
    columns.extend(head);
    let mut seen: HashMap<String, String> = HashMap::new();
    // The columns whose name is refused here: the LookML check below leaves them out.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut own_column = |name: &str, what: String, l: u64, ck: &mut Checker| {
        let before = ck.problems.len();
        if let Some(p) = names::column_name_problem(name) {
            ck.at(l, p);
        } else if reserved.contains(name) {
            ck.at(l, format!("column {name:?} ({what}) is one of the audit columns every row has: write `{name}_value` or another name"));
        } else if let Some(prev) = seen.insert(name.to_string(), what.clone()) {
            ck.at(l, format!("column {name:?} ({what}) is already the column of {prev}: give it its own name"));
        }
        if ck.problems.len() > before {
            refused.insert(name.to_string());
        }
    };
    // The columns the file names, with what gives them and their line.
    let mut own: Vec<(String, ColumnType, String, u64)> = vec![];
    for f in &fields {
        // A column named after a refused field name: the field's problem already says it.
        if f.column == f.name && names::field_name_problem(&f.name).is_some() {
            continue;
        }
        own.push((
            f.column.clone(),
            f.column_type,
            format!("field {}", f.name),
            f.line,
        ));
        own_column(&f.column, format!("field {}", f.name), f.line, ck);
    }
    for (rc, _, l) in &result_columns {
        own.push((
            rc.column.clone(),
            rc.column_type,
            format!("result field {}", rc.field),
            *l,
        ));
        own_column(&rc.column, format!("result field {}", rc.field), *l, ck);
    }
    lookml_clashes(kind, columns.iter().chain(tail.iter()), &own, &refused, ck);
    for f in &fields {
        let mode = if f.column_nullable {
            N
        } else if f.required || f.column_required_empty {
            R
        } else {
            N
        };
        columns.push(Column {
            name: f.column.clone(),
            column_type: f.column_type,
            mode,
            description: f.description_for_column(),
            source: ColumnSource::Field(f.name.clone()),
        });
    }
    for (rc, desc, _) in &result_columns {
        columns.push(Column {
            name: rc.column.clone(),
            column_type: rc.column_type,
            mode: N,
            description: desc
                .clone()
                .unwrap_or_else(|| format!("{} of the result row.", rc.field)),
            source: ColumnSource::Result {
                field: rc.field.clone(),
                required: rc.required,
            },
        });
    }
    columns.extend(tail);
    // BigQuery's limits on descriptions, and the embedded store's on columns (BigQuery's is 10 000).
    for f in &fields {
        let n = f.description_for_column().chars().count();
        if n > MAX_COLUMN_DESCRIPTION {
            ck.at(f.line, format!(
                "field {:?}: its column's description (its label, when `column: {{description: ...}}` is not given) is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}: write a shorter `column: {{description: ...}}`",
                f.name
            ));
        }
    }
    for (rc, desc, l) in &result_columns {
        let n = desc.as_deref().map_or(0, |d| d.chars().count());
        if n > MAX_COLUMN_DESCRIPTION {
            ck.at(*l, format!(
                "result column {:?}: its description is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}: write a shorter one",
                rc.column
            ));
        }
    }
    if let Some(d) = &rt.description {
        let n = d.chars().count();
        if n > MAX_TABLE_DESCRIPTION {
            ck.at(line(&rt.name), format!(
                "table {:?}: its description is {n} characters; BigQuery takes at most {MAX_TABLE_DESCRIPTION}: write a shorter one",
                table_name
            ));
        }
    }
    if columns.len() > MAX_COLUMNS {
        ck.at(line(&rt.name), format!(
            "table {:?} would have {} columns; the embedded store (SQLite) takes at most {MAX_COLUMNS}: split the action, or map fewer result fields",
            table_name,
            columns.len()
        ));
    }
    let key_column = match kind {
        Kind::Cell => key_field
            .as_ref()
            .and_then(|k| fields.iter().find(|f| &f.name == k))
            .map(|f| f.column.clone())
            .unwrap_or_default(),
        Kind::Query => "key_value".into(),
    };
    let clustering = match rt.clustering {
        Some(c) => {
            if c.len() > 4 {
                ck.at(
                    line(&c[4]),
                    "BigQuery clusters on at most 4 columns: remove the rest",
                );
            }
            for (i, col) in c.iter().enumerate() {
                match columns.iter().find(|k| k.name == col.value) {
                    None => ck.at(
                        line(col),
                        format!(
                            "clustering column {:?} is not a column of the table",
                            col.value
                        ),
                    ),
                    Some(k) if !clusterable(k.column_type) => ck.at(
                        line(col),
                        format!(
                            "clustering column {:?} is {}, which BigQuery cannot cluster on: cluster on a column of type {CLUSTERABLE}, or remove it",
                            col.value,
                            k.column_type.bigquery_name()
                        ),
                    ),
                    Some(_) if c[..i].iter().any(|p| p.value == col.value) => ck.at(
                        line(col),
                        format!("clustering column {:?} is listed twice: keep one", col.value),
                    ),
                    Some(_) => {}
                }
            }
            c.into_iter().map(|c| c.value).collect()
        }
        None => {
            // The table clusters on its key column unless the file says otherwise.
            if let Some(f) = fields.iter().find(|f| f.column == key_column) {
                if !clusterable(f.column_type) {
                    ck.at(f.line, format!(
                        "key field {:?} is stored as {t}, and the table clusters on its key column, which BigQuery cannot do with {t}: write `column: {{type: {}}}` on the field, or name other columns under `table: {{clustering: [...]}}`",
                        f.name,
                        f.value.default_column().bigquery_name(),
                        t = f.column_type.bigquery_name(),
                    ));
                }
            }
            vec![key_column.clone()]
        }
    };
    let table = Table {
        name: table_name,
        description: rt
            .description
            .unwrap_or_else(|| format!("One row per {:?} execute (insert-only).", a.label.value)),
        columns,
        partition: "received_at".into(),
        clustering,
        key_column,
    };

    let mut def = ActionDef {
        name,
        label: a.label.value,
        description: a.description.unwrap_or_default(),
        icon_data_uri,
        kind,
        required_fields,
        identity,
        refresh_query: a.refresh_query.unwrap_or(false),
        key_field,
        key_tag,
        params,
        fields,
        result_columns: result_columns.into_iter().map(|(r, _, _)| r).collect(),
        table,
        success_message: Template(vec![]),
        line: at,
    };
    if a.success_message.value.trim().is_empty() {
        ck.at(
            line(&a.success_message),
            "success_message is empty: write what the user reads after a success, e.g. `success_message: \"Saved.\"`",
        );
    }
    match Template::parse(&a.success_message.value) {
        Ok(t) => {
            let allowed = def.placeholders();
            for p in t.placeholders() {
                if !allowed.iter().any(|a| a == p) {
                    ck.at(line(&a.success_message), format!("success_message uses {{{p}}}, which this action does not have: use one of {}", allowed.iter().map(|a| format!("{{{a}}}")).collect::<Vec<_>>().join(", ")));
                }
            }
            def.success_message = t;
        }
        Err(e) => ck.at(line(&a.success_message), format!("success_message: {e}")),
    }
    (ck.problems.len() == before).then_some(def)
}

/// The LookML `hub generate-actions` writes over a table names a field after each column (a DATE
/// or TIMESTAMP column gives a dimension group and one field per timeframe), plus `measure:
/// count` and, for a query action, `dimension: pk`: Looker refuses a view where two of them share
/// a name. Every clash of a column the file names is listed at its line, with a name to write.
fn lookml_clashes<'a>(
    kind: Kind,
    audit: impl Iterator<Item = &'a Column>,
    own: &[(String, ColumnType, String, u64)],
    refused: &BTreeSet<String>,
    ck: &mut Checker,
) {
    use super::generate::{lookml_fields, COUNT_MEASURE, QUERY_PK_DIMENSION};
    // LookML field name -> what generates it.
    let mut taken: HashMap<String, String> = HashMap::new();
    taken.insert(COUNT_MEASURE.into(), format!("`measure: {COUNT_MEASURE}`"));
    if kind == Kind::Query {
        taken.insert(
            QUERY_PK_DIMENSION.into(),
            format!("the primary key `dimension: {QUERY_PK_DIMENSION}`"),
        );
    }
    // How the field `f` that column `column` gives is named in a message.
    let describe = |lookml_kind: &str, group: &str, column: &str, f: &str| {
        if lookml_kind == "dimension" {
            format!("`dimension: {f}` (column {column:?})")
        } else if f == group {
            format!("`dimension_group: {group}` (column {column:?})")
        } else {
            format!("the field `{f}` of `dimension_group: {group}` (column {column:?})")
        }
    };
    for c in audit {
        let (k, group, fields) = lookml_fields(&c.name, c.column_type);
        for f in fields {
            let d = describe(k, &group, &c.name, &f);
            taken.entry(f).or_insert(d);
        }
    }
    for (name, t, what, l) in own {
        if refused.contains(name) {
            continue;
        }
        let (k, group, fields) = lookml_fields(name, *t);
        // One problem per column, at its first clash.
        if let Some((f, other)) = fields
            .iter()
            .find_map(|f| taken.get(f).map(|other| (f, other)))
        {
            let gives = match k {
                "dimension" => format!("is the LookML `dimension: {name}`"),
                _ if *f == group => format!("gives the LookML `dimension_group: {group}`"),
                _ => format!(
                    "gives the LookML `dimension_group: {group}` and with it the field `{f}`"
                ),
            };
            let instead = if what.starts_with("result field") {
                format!("`column: {name}_value`")
            } else {
                format!("`column: {{name: {name}_value}}`")
            };
            ck.at(*l, format!(
                "column {name:?} ({what}) {gives}, which clashes with {other} in the generated view (Looker refuses two fields of one name): write {instead} or another name"
            ));
        }
        for f in fields {
            let d = describe(k, &group, name, &f);
            taken.entry(f).or_insert(d);
        }
    }
}

/// BigQuery's longest column description (TableFieldSchema.description).
const MAX_COLUMN_DESCRIPTION: usize = 1024;
/// BigQuery's longest table description.
const MAX_TABLE_DESCRIPTION: usize = 16384;
/// SQLite's most columns in a table (its default `SQLITE_MAX_COLUMN`).
const MAX_COLUMNS: usize = 2000;

impl Field {
    fn description_for_column(&self) -> String {
        self.column_description
            .clone()
            .unwrap_or_else(|| self.label.clone())
    }
}

fn build_field(
    f: RawField,
    fl: u64,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Field {
    let name = f.name.value.clone();
    if let Some(p) = names::field_name_problem(&name) {
        ck.at(line(&f.name), p);
    }
    let value = match f.value.as_ref().map(|v| v.value) {
        None | Some(RawValueType::Text) => ValueType::Text,
        Some(RawValueType::Integer) => ValueType::Integer,
        Some(RawValueType::Number) => ValueType::Number,
        Some(RawValueType::Date) => ValueType::Date,
        Some(RawValueType::Boolean) => ValueType::Boolean,
        Some(RawValueType::Email) => ValueType::Email,
    };
    let field_type = match (f.field_type.as_ref().map(|t| t.value), value) {
        (None | Some(RawFieldType::Select), ValueType::Boolean) => FieldType::Select,
        (Some(_), ValueType::Boolean) => {
            ck.at(opt_line(&f.field_type, fl), format!("field {name:?}: a boolean field is a yes/no select; write `type: select` or leave `type` out"));
            FieldType::Select
        }
        (None, _) if f.options.is_some() => FieldType::Select,
        (None | Some(RawFieldType::String), _) => FieldType::String,
        (Some(RawFieldType::Textarea), v) => {
            if v != ValueType::Text {
                ck.at(opt_line(&f.field_type, fl), format!("field {name:?}: a textarea holds text; write `value: text` or `type: string`"));
            }
            FieldType::Textarea
        }
        (Some(RawFieldType::Select), _) => FieldType::Select,
    };
    let required = f.required.unwrap_or(false);
    let retired = f.retired.as_ref().is_some_and(|r| r.value);
    if retired && required {
        ck.at(
            f.retired.as_ref().map(line).unwrap_or(fl),
            format!("field {name:?}: a retired field is not asked, so it cannot be required: remove `required: true`"),
        );
    }

    // Options.
    let mut options = Vec::new();
    if value == ValueType::Boolean {
        if let Some(o) = &f.options {
            ck.at(
                o.first().map(line).unwrap_or(fl),
                format!(
                    "field {name:?}: a boolean field has the options yes / no; remove `options`"
                ),
            );
        }
        options = vec![
            SelectOption {
                name: "yes".into(),
                label: "Yes".into(),
            },
            SelectOption {
                name: "no".into(),
                label: "No".into(),
            },
        ];
    } else if let Some(raw) = f.options {
        if field_type != FieldType::Select {
            ck.at(
                raw.first().map(line).unwrap_or(fl),
                format!("field {name:?}: `options` need `type: select`"),
            );
        }
        if raw.is_empty() {
            ck.at(
                fl,
                format!("field {name:?}: a select needs at least one option"),
            );
        }
        for o in raw {
            let ol = line(&o);
            let (oname, label) = match o.value {
                RawOption::Full { name, label } => (name.0.unwrap_or_default(), label),
                RawOption::Short(s) => {
                    let s = s.0.unwrap_or_default();
                    (s.clone(), s)
                }
            };
            if oname.trim().is_empty() {
                ck.at(ol, format!("field {name:?}: an option has no name"));
            }
            if options
                .iter()
                .any(|p: &SelectOption| p.name.eq_ignore_ascii_case(&oname))
            {
                ck.at(
                    ol,
                    format!("field {name:?}: option {oname:?} is listed twice"),
                );
            }
            if let Some(p) = options
                .iter()
                .find(|p: &&SelectOption| {
                    p.label.trim().to_lowercase() == label.trim().to_lowercase()
                })
                .filter(|p| p.name.to_lowercase() != oname.to_lowercase())
            {
                ck.at(
                    ol,
                    format!("field {name:?}: options {:?} and {oname:?} have the same label {label:?} (case aside): the user could not tell them apart; give each option its own label", p.name),
                );
            }
            if let Err(e) = super::form::parse_typed(value, &oname) {
                ck.at(
                    ol,
                    format!(
                        "field {name:?}: option {oname:?} is not a valid {} ({e})",
                        value.word()
                    ),
                );
            }
            options.push(SelectOption { name: oname, label });
        }
    } else if field_type == FieldType::Select {
        ck.at(fl, format!("field {name:?}: a select needs `options`"));
    }

    // Limits by value type.
    let text_like = matches!(value, ValueType::Text | ValueType::Email);
    let numeric = matches!(value, ValueType::Integer | ValueType::Number);
    for (what, v) in [("min_length", &f.min_length), ("max_length", &f.max_length)] {
        if let Some(v) = v {
            if !text_like {
                ck.at(line(v), format!("field {name:?}: `{what}` is for text and email fields; a {} field takes `min` / `max`", value.word()));
            }
        }
    }
    for (what, v) in [("min", &f.min), ("max", &f.max)] {
        if let Some(v) = v {
            if !numeric {
                ck.at(line(v), format!("field {name:?}: `{what}` is for integer and number fields; a {} field takes `min_length` / `max_length`", value.word()));
            } else if !v.value.is_finite() {
                ck.at(
                    line(v),
                    format!("field {name:?}: `{what}` must be a finite number"),
                );
            } else if value == ValueType::Integer && v.value.fract() != 0.0 {
                ck.at(
                    line(v),
                    format!("field {name:?}: `{what}` of an integer field must be a whole number"),
                );
            }
        }
    }
    if let (Some(lo), Some(hi)) = (&f.min, &f.max) {
        if lo.value > hi.value {
            ck.at(
                line(hi),
                format!(
                    "field {name:?}: `max` ({}) is below `min` ({})",
                    hi.value, lo.value
                ),
            );
        }
    }
    if let (Some(lo), Some(hi)) = (&f.min_length, &f.max_length) {
        if lo.value > hi.value {
            ck.at(
                line(hi),
                format!(
                    "field {name:?}: `max_length` ({}) is below `min_length` ({})",
                    hi.value, lo.value
                ),
            );
        }
    }
    if let Some(m) = &f.max_length {
        if m.value == 0 {
            ck.at(line(m), format!("field {name:?}: `max_length: 0` allows nothing; remove it or write a positive number"));
        }
    }
    let pattern = match &f.pattern {
        None => None,
        Some(p) if value != ValueType::Text => {
            ck.at(
                line(p),
                format!("field {name:?}: `pattern` is for text fields"),
            );
            None
        }
        Some(p) => match regex::RegexBuilder::new(&format!("^(?:{})$", p.value))
            .size_limit(1 << 20)
            .build()
        {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_string();
                ck.at(line(p), format!("field {name:?}: `pattern` is not a valid regular expression ({}); the syntax is Rust's `regex` (no look-around, no back-references)", first.trim()));
                None
            }
        },
    };

    // Column.
    let (col_name, col_type, col_mode, col_desc) = match f.column {
        Some(c) => {
            let c = c.value;
            (c.name, c.column_type, c.mode, c.description)
        }
        None => (None, None, None, None),
    };
    let column = col_name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| name.clone());
    let column_type = match &col_type {
        Some(t) => {
            let t: ColumnType = t.value.into();
            if !value.allowed_columns().contains(&t) {
                ck.at(opt_line(&col_type, fl), format!(
                    "field {name:?}: {} {} value cannot be stored in {} {} column; write `type: {}`",
                    article(value.word()),
                    value.word(),
                    article(t.bigquery_name()),
                    t.bigquery_name(),
                    value.allowed_columns().iter().map(|c| c.bigquery_name()).collect::<Vec<_>>().join("` or `type: ")
                ));
            }
            t
        }
        None => value.default_column(),
    };
    let column_required_empty = match &col_mode {
        Some(m) if m.value == RawMode::Required && !required => {
            if !text_like {
                ck.at(line(m), format!("field {name:?}: an optional {} field stores NULL when empty, so its column must be NULLABLE; write `mode: NULLABLE` or `required: true`", value.word()));
            }
            true
        }
        Some(m) if m.value == RawMode::Nullable && required => {
            // Allowed: a required field may go to a NULLABLE column (insert-only tables grow by
            // adding NULLABLE columns).
            false
        }
        _ => false,
    };
    let nullable_required = matches!(&col_mode, Some(m) if m.value == RawMode::Nullable);
    let column_required = matches!(&col_mode, Some(m) if m.value == RawMode::Required);

    let mut field = Field {
        name: name.clone(),
        label: f.label.unwrap_or_else(|| name.replace('_', " ")),
        description: f.description,
        field_type,
        value,
        required,
        interactive: f.interactive,
        retired,
        default: None,
        min_length: f.min_length.map(|v| v.value as usize),
        max_length: f.max_length.map(|v| v.value as usize),
        min: f.min.map(|v| v.value),
        max: f.max.map(|v| v.value),
        pattern,
        options,
        messages: Messages::default(),
        column,
        column_type,
        column_required_empty,
        column_nullable: nullable_required,
        column_required,
        column_description: col_desc,
        line: fl,
    };
    if let Some(m) = f.messages {
        let ml = line(&m);
        let m = m.value;
        for (what, t) in [
            ("required", &m.required),
            ("min_length", &m.min_length),
            ("max_length", &m.max_length),
            ("pattern", &m.pattern),
            ("options", &m.options),
            ("invalid", &m.invalid),
            ("min", &m.min),
            ("max", &m.max),
        ] {
            if let Some(t) = t {
                match Template::parse(t) {
                    Ok(t) => {
                        // What this field can fill in, in every message (form::check_value).
                        let text = matches!(field.value, ValueType::Text | ValueType::Email)
                            && field.field_type != FieldType::Select;
                        let has = |p: &str| match p {
                            "value" => true,
                            "min" => field.min.is_some() || field.min_length.is_some(),
                            "max" => field.max.is_some() || field.max_length.is_some() || text,
                            "length" => text,
                            "options" => field.field_type == FieldType::Select,
                            _ => false,
                        };
                        for p in t.placeholders() {
                            if !has(p) {
                                let usable: Vec<String> =
                                    ["value", "min", "max", "length", "options"]
                                        .into_iter()
                                        .filter(|q| has(q))
                                        .map(|q| format!("{{{q}}}"))
                                        .collect();
                                ck.at(ml, format!("field {name:?}: message `{what}` uses {{{p}}}, which this field has no value for: use {}", usable.join(", ")));
                            }
                        }
                    }
                    Err(e) => ck.at(ml, format!("field {name:?}: message `{what}`: {e}")),
                }
            }
        }
        field.messages = m;
    }

    // Default.
    if let Some(d) = f.default {
        let dl = line(&d);
        let dv = match d.value {
            RawDefault::Literal(s) => Some(DefaultValue::Literal(s.0.unwrap_or_default())),
            RawDefault::Source(RawDefaultSource {
                from: Some(from),
                param: None,
            }) => match from.as_str() {
                "value" if kind == Kind::Query => {
                    ck.at(dl, format!("field {name:?}: `default: {{from: value}}` is the clicked value, which a query action does not have (it acts on a whole result); write a literal (`default: some text`), `default: {{from: today}}` or `default: {{param: {USER_EMAIL_PARAM}}}`, or remove `default`"));
                    None
                }
                "value" => Some(DefaultValue::ClickedValue),
                "today" => Some(DefaultValue::Today),
                other if kind == Kind::Query => {
                    ck.at(dl, format!("field {name:?}: `default: {{from: {other}}}` is not known; write `from: today`"));
                    None
                }
                other => {
                    ck.at(dl, format!("field {name:?}: `default: {{from: {other}}}` is not known; write `from: value` (the clicked value) or `from: today`"));
                    None
                }
            },
            RawDefault::Source(RawDefaultSource {
                from: None,
                param: Some(p),
            }) => {
                if !params.iter().any(|q| q.name == p) {
                    ck.at(dl, format!("field {name:?}: default param {p:?} is not a param of this action; declare it under `params:` or use `{USER_EMAIL_PARAM}`"));
                }
                Some(DefaultValue::Param(p))
            }
            RawDefault::Source(_) => {
                ck.at(dl, format!("field {name:?}: write `default: <literal>`, `default: {{from: value}}`, `default: {{from: today}}` or `default: {{param: <param>}}`"));
                None
            }
        };
        match &dv {
            Some(DefaultValue::Literal(lit)) => {
                let mut errs = std::collections::BTreeMap::new();
                let _ = super::form::check_value(&field, lit, usize::MAX, &mut errs);
                if let Some(e) = errs.remove(&name) {
                    if field.field_type == FieldType::Select {
                        ck.at(dl, format!("field {name:?}: default {lit:?} is not among its options; write one of {}", field.options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")));
                    } else {
                        ck.at(
                            dl,
                            format!(
                                "field {name:?}: default {lit:?} is not a valid answer: it {e}"
                            ),
                        );
                    }
                }
            }
            Some(DefaultValue::Today) if !matches!(value, ValueType::Date | ValueType::Text) => {
                ck.at(
                    dl,
                    format!(
                        "field {name:?}: `from: today` is for date fields; write `value: date`"
                    ),
                );
            }
            _ => {}
        }
        field.default = dv;
    }
    field
}

/// "a" or "an" before a word ("an INT64 column", "an integer value", "a DATE column").
fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}
