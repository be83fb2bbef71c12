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
    /// A question no longer asked: off the form, its column kept (empty in new rows).
    pub retired: Option<Spanned<bool>>,
    pub default: Option<Spanned<RawDefault>>,
    pub min_length: Option<Spanned<u32>>,
    pub max_length: Option<Spanned<u32>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub pattern: Option<Spanned<String>>,
    pub options: Option<Vec<Spanned<RawOption>>>,
    pub messages: Option<Spanned<super::model::Messages>>,
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

// ---------------------------------------------------------------------------------------------
// The file's shape, read before its types: every unknown key and every unknown enum value of the
// whole file, each with its line and the closest valid word. The typed structs above stop at the
// first problem (serde stops there); this pass lets the hub list all of them at once.

/// A YAML node, keys and values with their lines; scalars as text, with what YAML read them as.
#[derive(Debug)]
pub(crate) enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String, ScalarKind),
}

/// What YAML read a scalar as (`true` is a boolean, `"true"` text, `12` an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Bool,
    Int,
    Float,
    Text,
    Null,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string(), ScalarKind::Bool))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string(), ScalarKind::Int))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string(), ScalarKind::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string(), ScalarKind::Float))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string(), ScalarKind::Text))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new(), ScalarKind::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new(), ScalarKind::Null))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = vec![];
        while let Some(v) = seq.next_element::<Spanned<Node>>()? {
            out.push(v);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = vec![];
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            out.push((k, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(out))
    }
}

/// The names serde accepts for a struct's fields or an enum's variants, asked of the derived
/// `Deserialize` itself (so this pass cannot drift from the structs above).
fn names_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(ProbeAnswer(Some(names))) => names,
        _ => &[],
    }
}

struct Probe;

#[derive(Debug)]
struct ProbeAnswer(Option<&'static [&'static str]>);

impl std::fmt::Display for ProbeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for ProbeAnswer {}

impl serde::de::Error for ProbeAnswer {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        ProbeAnswer(None)
    }
}

impl<'de> serde::Deserializer<'de> for Probe {
    type Error = ProbeAnswer;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeAnswer> {
        Err(ProbeAnswer(None))
    }
    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeAnswer> {
        Err(ProbeAnswer(Some(fields)))
    }
    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeAnswer> {
        Err(ProbeAnswer(Some(variants)))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// The keys of a `required_fields` entry (`api::RequiredField`, an untagged enum serde cannot
/// be asked about).
const REQUIRED_FIELD_KEYS: &[&str] = &["tag", "any_tag", "all_tags"];
/// The keys without a default (not an `Option` in the structs above; a test removes each from a
/// valid file). Checked here so that all of them are listed at once, not the first alone.
pub(crate) const REQUIRED_KEYS: &[(&str, &[&str])] = &[
    ("the file", &["actions"]),
    (
        "an action",
        &["name", "label", "kind", "table", "success_message"],
    ),
    ("a param", &["name", "label"]),
    ("table", &["name"]),
    ("a field", &["name"]),
    ("a result column", &["field", "column", "type"]),
];

/// What the value of a key must be, where the typed read would stop at a wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any scalar (a map or a list is wrong).
    Text,
    /// `true` / `false`.
    Bool,
    /// A whole number from 0 to 4 294 967 295.
    Count,
    /// A number.
    Number,
    /// A list.
    List,
    /// A map.
    Map,
    /// Checked by the typed read (a default is a literal or a map; an option a scalar or a map).
    Any,
}

/// What the value of `key` in `what` (a map named as in REQUIRED_KEYS) must be.
fn expect(what: &str, key: &str) -> Expect {
    match (what, key) {
        ("the file", "version") => Expect::Count,
        ("the file", "actions") => Expect::List,
        ("an action", "required_fields" | "params" | "fields" | "result_columns") => Expect::List,
        ("an action", "refresh_query") => Expect::Bool,
        ("an action", "table") => Expect::Map,
        ("a param" | "a field" | "a result column", "required") => Expect::Bool,
        ("a field", "interactive" | "retired") => Expect::Bool,
        ("a field", "min_length" | "max_length") => Expect::Count,
        ("a field", "min" | "max") => Expect::Number,
        ("a field", "options") | ("table", "clustering") => Expect::List,
        ("a required_fields entry", "any_tag" | "all_tags") => Expect::List,
        ("a field", "messages" | "column") => Expect::Map,
        ("a field", "default") | ("an option", "name") => Expect::Any,
        _ => Expect::Text,
    }
}

/// Whether the text of a quoted scalar reads as a `T` (what the typed read does with it).
fn reads_as<T: serde::de::DeserializeOwned>(v: &str) -> bool {
    // A quoted scalar's text is not YAML: only a plain word can be read again as one.
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c))
        && serde_saphyr::from_str::<T>(v).is_ok()
}

/// Why `node` is not what `want` asks for (`None`: it is, or the typed read decides).
fn wrong_value(node: &Node, want: Expect) -> Option<String> {
    let shown = |v: &str| {
        let v: String = v.chars().take(40).collect();
        format!("`{v}`")
    };
    let found = match node {
        Node::Map(_) => "a map".to_string(),
        Node::Seq(_) => "a list".to_string(),
        Node::Scalar(v, ScalarKind::Text) if v.is_empty() => "empty text".to_string(),
        Node::Scalar(v, ScalarKind::Text) => format!("the text {}", shown(v)),
        Node::Scalar(v, _) => shown(v),
    };
    let ok = match (want, node) {
        (Expect::Any, _) => true,
        // An empty value is absent: the missing-key checks and the typed read speak of it.
        (_, Node::Scalar(_, ScalarKind::Null)) => true,
        (Expect::Text, n) => matches!(n, Node::Scalar(..)),
        // Quoted text is read by its content, as the typed read does (`"true"` is true).
        (Expect::Bool, Node::Scalar(_, ScalarKind::Bool)) => true,
        (Expect::Bool, Node::Scalar(v, ScalarKind::Text)) => reads_as::<bool>(v),
        (Expect::Count, Node::Scalar(v, ScalarKind::Int)) => v.parse::<u32>().is_ok(),
        (Expect::Count, Node::Scalar(v, ScalarKind::Text)) => reads_as::<u32>(v),
        (Expect::Number, Node::Scalar(_, ScalarKind::Int | ScalarKind::Float)) => true,
        (Expect::Number, Node::Scalar(v, ScalarKind::Text)) => reads_as::<f64>(v),
        (Expect::Bool | Expect::Count | Expect::Number, _) => false,
        (Expect::List, n) => matches!(n, Node::Seq(_)),
        (Expect::Map, n) => matches!(n, Node::Map(_)),
    };
    if ok {
        return None;
    }
    let wanted = match want {
        Expect::Text => "text (a single value)",
        Expect::Bool => "true or false",
        Expect::Count => "a whole number from 0 to 4294967295",
        Expect::Number => "a number",
        Expect::List => "a list (items starting with `- `, or `[a, b]`)",
        Expect::Map => "a map (`key: value` lines indented under it)",
        Expect::Any => "",
    };
    Some(format!("{wanted} is expected here, not {found}"))
}

fn required(what: &str) -> &'static [&'static str] {
    REQUIRED_KEYS
        .iter()
        .find(|(w, _)| *w == what)
        .map(|(_, r)| *r)
        .unwrap_or(&[])
}

/// The keys of a select option written in full (`RawOption::Full`, untagged).
const OPTION_KEYS: &[&str] = &["name", "label"];

/// The closest of `valid` to `word` (case aside), when close enough to be a typo.
fn closest<'a>(word: &str, valid: &[&'a str]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&w, &v.to_ascii_lowercase()), *v))
        .filter(|(d, v)| *d <= (v.len().max(w.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`: the optimal string
/// alignment distance, so `lable` is one edit from `label`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn valid_list(valid: &[&str]) -> String {
    valid
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Collects `(line, message)` of every shape problem.
struct ShapeCheck(Vec<(u64, String)>);

impl ShapeCheck {
    /// The entries of a map whose keys must be among `valid` (`what` names the map), with every
    /// key REQUIRED_KEYS gives for `what`.
    fn keys<'n>(
        &mut self,
        node: &'n Spanned<Node>,
        what: &str,
        valid: &[&str],
    ) -> Vec<(&'n str, &'n Spanned<Node>)> {
        let Node::Map(entries) = &node.value else {
            return vec![];
        };
        // Read with duplicates passed through (`tree_options`): each repeated key is listed here.
        for (i, (k, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i].iter().find(|(p, _)| p.value == k.value) {
                self.0.push((
                    k.referenced.line(),
                    format!(
                        "the key `{}` is written twice in {what} (first at line {}): keep one",
                        k.value,
                        first.referenced.line()
                    ),
                ));
            }
        }
        for r in required(what) {
            // A misspelt key already says "did you mean" this one.
            let misspelt = entries.iter().any(|(k, _)| {
                !valid.contains(&k.value.as_str()) && closest(&k.value, valid) == Some(r)
            });
            if !misspelt && !entries.iter().any(|(k, _)| k.value == *r) {
                self.0.push((
                    node.referenced.line(),
                    format!("{what} has no `{r}`: it is required"),
                ));
            }
        }
        let mut known = vec![];
        for (k, v) in entries {
            if valid.contains(&k.value.as_str()) {
                if let Some(why) = wrong_value(&v.value, expect(what, &k.value)) {
                    self.0.push((
                        v.referenced.line(),
                        format!("`{}` in {what}: {why}", k.value),
                    ));
                }
                known.push((k.value.as_str(), v));
                continue;
            }
            let hint = match closest(&k.value, valid) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("the keys of {what} are {}", valid_list(valid)),
            };
            self.0.push((
                k.referenced.line(),
                format!("unknown key `{}` in {what}: {hint}", k.value),
            ));
        }
        known
    }

    /// A scalar that must be one of `valid` (`key` names it).
    fn word(&mut self, node: &Spanned<Node>, key: &str, valid: &[&str]) {
        let Node::Scalar(v, _) = &node.value else {
            return;
        };
        if valid.contains(&v.as_str()) {
            return;
        }
        let hint = match closest(v, valid) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("write one of {}", valid_list(valid)),
        };
        self.0.push((
            node.referenced.line(),
            format!("{key}: `{v}` is not a valid value: {hint}"),
        ));
    }

    fn items<'n>(&mut self, node: &'n Spanned<Node>) -> &'n [Spanned<Node>] {
        match &node.value {
            Node::Seq(items) => items,
            _ => &[],
        }
    }

    /// The items of a list whose every item is a map (`what` names one, as in REQUIRED_KEYS);
    /// an item of another kind is listed (`- 17` where an action is expected) and skipped.
    fn map_items<'n>(&mut self, node: &'n Spanned<Node>, what: &str) -> Vec<&'n Spanned<Node>> {
        let mut out = vec![];
        for item in self.items(node) {
            let found = match &item.value {
                Node::Map(_) => {
                    out.push(item);
                    continue;
                }
                Node::Seq(_) => "a list".to_string(),
                Node::Scalar(_, ScalarKind::Null) => "an empty item".to_string(),
                Node::Scalar(v, _) => format!("`{}`", v.chars().take(40).collect::<String>()),
            };
            let (keys, sep) = match what {
                "a required_fields entry" => (REQUIRED_FIELD_KEYS, " or "),
                _ => (required(what), ", "),
            };
            let example = if keys.is_empty() {
                String::new()
            } else {
                let keys: Vec<String> = keys.iter().map(|k| format!("`{k}:`")).collect();
                format!(" with {}", keys.join(sep))
            };
            self.0.push((
                item.referenced.line(),
                format!("{what} is expected here, not {found}: write a map (`key: value` lines indented under the `- `){example}"),
            ));
        }
        out
    }
}

/// How the shape pass reads the file: a repeated key is passed to it (and listed with the other
/// problems), where the typed read stops at it.
pub(crate) fn tree_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    o
}

/// Every unknown key and unknown enum value of a file: `(line, message)`, in file order.
pub(crate) fn shape_problems(file: &Spanned<Node>) -> Vec<(u64, String)> {
    let mut ck = ShapeCheck(vec![]);
    for (k, actions) in ck.keys(file, "the file", names_of::<RawFile>()) {
        if k != "actions" {
            continue;
        }
        if matches!(actions.value, Node::Scalar(_, ScalarKind::Null)) {
            ck.0.push((
                actions.referenced.line(),
                "`actions` has no value: it needs a list of actions (at least one), each item starting with `- name: ...`".into(),
            ));
        }
        for action in ck.map_items(actions, "an action") {
            action_shape(&mut ck, action);
        }
    }
    ck.0.sort_by_key(|(l, _)| *l);
    ck.0
}

fn action_shape(ck: &mut ShapeCheck, action: &Spanned<Node>) {
    for (k, v) in ck.keys(action, "an action", names_of::<RawAction>()) {
        match k {
            "kind" => ck.word(v, k, names_of::<RawKind>()),
            "identity" => ck.word(v, k, names_of::<RawIdentity>()),
            "required_fields" => {
                for r in ck.map_items(v, "a required_fields entry") {
                    ck.keys(r, "a required_fields entry", REQUIRED_FIELD_KEYS);
                }
            }
            "params" => {
                for p in ck.map_items(v, "a param") {
                    ck.keys(p, "a param", names_of::<RawParam>());
                }
            }
            "table" => {
                ck.keys(v, "table", names_of::<RawTable>());
            }
            "fields" => {
                for f in ck.map_items(v, "a field") {
                    field_shape(ck, f);
                }
            }
            "result_columns" => {
                for r in ck.map_items(v, "a result column") {
                    for (k, v) in ck.keys(r, "a result column", names_of::<RawResultColumn>()) {
                        if k == "type" {
                            ck.word(v, k, names_of::<RawColumnType>());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn field_shape(ck: &mut ShapeCheck, field: &Spanned<Node>) {
    for (k, v) in ck.keys(field, "a field", names_of::<RawField>()) {
        match k {
            "type" => ck.word(v, k, names_of::<RawFieldType>()),
            "value" => ck.word(v, k, names_of::<RawValueType>()),
            "default" => {
                ck.keys(v, "default", names_of::<RawDefaultSource>());
            }
            "options" => {
                for o in ck.items(v) {
                    ck.keys(o, "an option", OPTION_KEYS);
                }
            }
            "messages" => {
                ck.keys(v, "messages", names_of::<super::model::Messages>());
            }
            "column" => {
                for (k, v) in ck.keys(v, "column", names_of::<RawColumn>()) {
                    match k {
                        "type" => ck.word(v, k, names_of::<RawColumnType>()),
                        "mode" => ck.word(v, k, names_of::<RawMode>()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape pass's problems of a YAML text, as `line: message`.
    fn shape_lines(text: &str) -> Vec<String> {
        let tree: Spanned<Node> = serde_saphyr::from_str(text).unwrap();
        shape_problems(&tree)
            .into_iter()
            .map(|(l, m)| format!("{l}: {m}"))
            .collect()
    }

    /// Every map of the file with exactly its required keys (REQUIRED_KEYS), line per key.
    const MINIMAL: &str = "actions:
  - name: a
    label: A
    kind: query
    table:
      name: t
    params:
      - name: p
        label: P
    fields:
      - name: f
    result_columns:
      - field: x.y
        column: y
        type: STRING
    success_message: m
";

    /// REQUIRED_KEYS is exactly what the typed read requires: a file with only those keys reads,
    /// and one without any single one of them does not ("missing field").
    #[test]
    fn required_keys_are_those_the_typed_read_requires() {
        serde_saphyr::from_str::<RawFile>(MINIMAL).expect("only the required keys: it reads");
        let keys: Vec<&str> = REQUIRED_KEYS
            .iter()
            .flat_map(|(_, ks)| ks.iter().copied())
            .collect();
        let lines: Vec<&str> = MINIMAL.lines().collect();
        let mut removed = 0;
        for (i, line) in lines.iter().enumerate() {
            let key = line
                .trim_start_matches([' ', '-'])
                .split(':')
                .next()
                .unwrap();
            if !keys.contains(&key) || key == "actions" {
                continue;
            }
            // The line, and the block under it when its value is one.
            let key_col = line.len() - line.trim_start_matches([' ', '-']).len();
            let mut rest: Vec<String> = lines[..i].iter().map(|l| l.to_string()).collect();
            let mut j = i + 1;
            while j < lines.len() && lines[j].len() - lines[j].trim_start().len() > key_col {
                j += 1;
            }
            if line.trim_start().starts_with("- ") {
                // Keep the list item: its next key takes the dash, or it is an empty map.
                let next = lines
                    .get(j)
                    .filter(|n| n.len() - n.trim_start().len() == key_col);
                match next {
                    Some(n) => {
                        rest.push(format!("{}{}", &line[..key_col], n.trim_start()));
                        j += 1;
                    }
                    None => rest.push(format!("{}{{}}", &line[..key_col])),
                }
            }
            // A map left with no key (`table:` without its name) is an empty map, not null.
            let ind = |l: &str| l.len() - l.trim_start().len();
            if rest.last().is_some_and(|p| p.ends_with(':'))
                && lines
                    .get(j)
                    .is_none_or(|n| ind(n) <= ind(rest.last().unwrap()))
            {
                rest.last_mut().unwrap().push_str(" {}");
            }
            rest.extend(lines[j..].iter().map(|l| l.to_string()));
            let text = rest.join("\n");
            let err = serde_saphyr::from_str::<RawFile>(&text)
                .expect_err(&format!("without {key}:\n{text}"));
            assert!(
                err.to_string().contains("missing field"),
                "without {key}: {err}"
            );
            let tree: Spanned<Node> = serde_saphyr::from_str(&text).unwrap();
            let shape = shape_problems(&tree);
            assert!(
                shape.len() == 1 && shape[0].1.contains(&format!("has no `{key}`")),
                "without {key}: {shape:?}"
            );
            removed += 1;
        }
        assert_eq!(
            removed,
            keys.len() - 1,
            "every required key was removed once"
        );
    }

    #[test]
    fn every_missing_key_is_listed() {
        let text = "actions:
  - name: a
    kind: cell
    table: {description: no name}
    fields:
      - label: no name
  - label: B
    kind: query
    table: {name: b}
    result_columns:
      - {field: x.y, column: y}
    success_message: m
";
        let got = shape_lines(text);
        assert_eq!(
            got,
            [
                "2: an action has no `label`: it is required",
                "2: an action has no `success_message`: it is required",
                "4: table has no `name`: it is required",
                "6: a field has no `name`: it is required",
                "7: an action has no `name`: it is required",
                "11: a result column has no `type`: it is required",
            ]
        );
    }

    /// The shape pass and the typed read agree on scalars: what the pass refuses as a boolean, a
    /// count, a number or a list, serde refuses too (so listing it early never refuses a file the
    /// hub would have read), and what it lets through, serde reads (hex / octal aside).
    #[test]
    fn value_checks_agree_with_the_typed_read() {
        #[derive(Deserialize)]
        struct B {
            #[allow(dead_code)]
            v: Option<bool>,
        }
        #[derive(Deserialize)]
        struct C {
            #[allow(dead_code)]
            v: Option<u32>,
        }
        #[derive(Deserialize)]
        struct N {
            #[allow(dead_code)]
            v: Option<f64>,
        }
        #[derive(Deserialize)]
        struct L {
            #[allow(dead_code)]
            v: Option<Vec<String>>,
        }
        let samples = [
            "true",
            "false",
            "yes",
            "no",
            "True",
            "TRUE",
            "on",
            "off",
            "y",
            "\"true\"",
            "'false'",
            "1",
            "0",
            "-1",
            "1.5",
            "1e3",
            "\"3\"",
            "'7'",
            "0x10",
            "0o7",
            "4294967295",
            "4294967296",
            ".inf",
            "-.inf",
            ".nan",
            "abc",
            "~",
            "null",
            "[a]",
            "{a: 1}",
            "[]",
            "''",
        ];
        for sample in samples {
            let text = format!("v: {sample}\n");
            // `.inf` / `.nan`: the untyped read refuses them, so the shape pass is skipped and
            // the typed read alone decides (nothing refused early).
            let Ok(tree) = serde_saphyr::from_str::<Spanned<Node>>(&text) else {
                continue;
            };
            let Node::Map(entries) = &tree.value else {
                panic!("{text}")
            };
            let node = &entries[0].1.value;
            for (want, reads) in [
                (Expect::Bool, serde_saphyr::from_str::<B>(&text).is_ok()),
                (Expect::Count, serde_saphyr::from_str::<C>(&text).is_ok()),
                (Expect::Number, serde_saphyr::from_str::<N>(&text).is_ok()),
                (Expect::List, serde_saphyr::from_str::<L>(&text).is_ok()),
            ] {
                let passes = wrong_value(node, want).is_none();
                // Never refuse what the hub reads; and agree exactly, but for hex / octal
                // numbers (YAML reads `0x10` as 16; serde refuses it for a float, so the typed
                // read names that one later).
                assert!(passes || !reads, "{want:?} of `{sample}` ({node:?})");
                if !sample.starts_with("0x") && !sample.starts_with("0o") {
                    assert_eq!(passes, reads, "{want:?} of `{sample}` ({node:?})");
                }
            }
        }
    }

    #[test]
    fn every_value_of_the_wrong_kind_is_listed_at_once() {
        let text = "version: one
actions:
  - name: a
    label: [A]
    kind: cell
    refresh_query: maybe
    required_fields: {tag: t}
    table: orders
    fields:
      - name: f
        required: \"sure\"
        min_length: -1
        max_length: 1.5
        min: ten
        options: Approved
        column: {description: [x]}
    success_message: m
";
        let got = shape_lines(text);
        assert_eq!(
            got,
            [
                "1: `version` in the file: a whole number from 0 to 4294967295 is expected here, not the text `one`",
                "4: `label` in an action: text (a single value) is expected here, not a list",
                "6: `refresh_query` in an action: true or false is expected here, not the text `maybe`",
                "7: `required_fields` in an action: a list (items starting with `- `, or `[a, b]`) is expected here, not a map",
                "8: `table` in an action: a map (`key: value` lines indented under it) is expected here, not the text `orders`",
                "11: `required` in a field: true or false is expected here, not the text `sure`",
                "12: `min_length` in a field: a whole number from 0 to 4294967295 is expected here, not `-1`",
                "13: `max_length` in a field: a whole number from 0 to 4294967295 is expected here, not `1.5`",
                "14: `min` in a field: a number is expected here, not the text `ten`",
                "15: `options` in a field: a list (items starting with `- `, or `[a, b]`) is expected here, not the text `Approved`",
                "16: `description` in column: text (a single value) is expected here, not a list",
            ]
        );
    }

    #[test]
    fn closest_words() {
        assert_eq!(closest("lable", &["name", "label", "table"]), Some("label"));
        assert_eq!(closest("INT46", &["INT64", "STRING"]), Some("INT64"));
        assert_eq!(
            closest("nullable", &["NULLABLE", "REQUIRED"]),
            Some("NULLABLE")
        );
        assert_eq!(closest("zzz", &["name", "label"]), None);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
