//! The actions file as written: the serde structs below are its one schema. The file is read
//! once into a tree ([`tree`]); the walker ([`walk`]) checks the shape of the whole tree against
//! the structs' types; each action whose shape is sound is then read into its struct from the
//! tree, positions kept for every value a later check may complain about.

mod tree;
mod walk;

use serde::Deserialize;

use super::report::Says;
use crate::api::{RequiredField, Scalar};
use walk::{walk_map, walk_word, Expect, KeyShape, Schema, Shape};

pub(crate) use tree::ScalarKind;

/// Where a value is in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line (0: unknown).
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// Byte offset and length of the value in the file's text, when known.
    pub bytes: Option<(usize, usize)>,
}

impl Pos {
    /// 1-based line.
    pub fn line(&self) -> u64 {
        self.line
    }
}

/// A position known by its line alone.
impl From<u64> for Pos {
    fn from(line: u64) -> Pos {
        Pos {
            line,
            ..Pos::default()
        }
    }
}

/// A position shows as its line (`first at line 4`).
impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.line)
    }
}

/// A value of the file with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    pub value: T,
    pub referenced: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value of the actions file's tree")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Self::Value, A::Error> {
                let missing = || serde::de::Error::custom("a position and a value");
                let (line, column, offset, len): (u64, u64, u64, u64) =
                    s.next_element()?.ok_or_else(missing)?;
                let value = s.next_element()?.ok_or_else(missing)?;
                let bytes = (offset != u64::MAX).then_some((offset as usize, len as usize));
                let referenced = Pos {
                    line,
                    column,
                    bytes,
                };
                Ok(Spanned { value, referenced })
            }
        }
        d.deserialize_newtype_struct(tree::SPANNED, V(std::marker::PhantomData))
    }
}

/// A struct of the schema: the struct (unknown keys refused) and its [`Schema`] for the walker,
/// from one declaration. A field renamed in the file says so with `#[key = "..."]`.
macro_rules! schema {
    (
        $(#[$attr:meta])*
        struct $name:ident as $what:literal {
            $( $(#[doc = $fdoc:literal])* $(#[key = $key:literal])? $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[doc = $fdoc])* $(#[serde(rename = $key)])? pub $field: $ty, )*
        }
        impl Schema for $name {
            const WHAT: &'static str = $what;
            fn keys() -> &'static [&'static str] {
                walk::names_of::<$name>()
            }
            fn key(key: &str) -> Option<KeyShape> {
                $( if key == schema!(@key $field $($key)?) { return Some(KeyShape::of::<$ty>()); } )*
                None
            }
        }
        impl Shape for $name {
            fn expect() -> Expect {
                Expect::Map
            }
            fn walk(node: &tree::Spanned<tree::Node>, key: &str, ck: &mut walk::ShapeCheck) -> walk::Walked {
                walk_map::<$name>(node, key, ck)
            }
            fn item() -> Option<(&'static str, Vec<&'static str>, &'static str)> {
                Some(($what, walk::required::<$name>(), ", "))
            }
        }
    };
    (@key $field:ident $key:literal) => { $key };
    (@key $field:ident) => { stringify!($field) };
}

/// A word of the schema: the enum and its [`Shape`] (the walker names the closest valid word).
macro_rules! words {
    (
        $(#[doc = $doc:literal])*
        enum $name:ident ($case:literal) { $( $variant:ident, )* }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
        #[serde(rename_all = $case)]
        pub(crate) enum $name { $( $variant, )* }
        impl Shape for $name {
            fn expect() -> Expect {
                Expect::Text
            }
            fn walk(node: &tree::Spanned<tree::Node>, key: &str, ck: &mut walk::ShapeCheck) -> walk::Walked {
                walk_word::<$name>(node, key, ck)
            }
        }
    };
}

schema! {
    /// The whole file (its shape: its actions are read one by one, see [`read`]).
    #[allow(dead_code)]
    struct RawFile as "the file" {
        version: Option<Spanned<u32>>,
        actions: Vec<Spanned<RawAction>>,
    }
}

words! {
    /// `cell` or `query`.
    enum RawKind ("lowercase") { Cell, Query, }
}

words! {
    /// `hub`, `service` or `user`.
    enum RawIdentity ("lowercase") { Hub, Service, User, }
}

schema! {
    /// One action.
    struct RawAction as "an action" {
        name: Spanned<String>,
        label: Spanned<String>,
        description: Option<String>,
        icon: Option<Spanned<String>>,
        kind: Spanned<RawKind>,
        required_fields: Option<Vec<Spanned<RequiredField>>>,
        identity: Option<RawIdentity>,
        refresh_query: Option<bool>,
        key: Option<Spanned<String>>,
        key_tag: Option<Spanned<String>>,
        params: Option<Vec<Spanned<RawParam>>>,
        table: Spanned<RawTable>,
        fields: Option<Vec<Spanned<RawField>>>,
        result_columns: Option<Vec<Spanned<RawResultColumn>>>,
        success_message: Spanned<String>,
    }
}

schema! {
    /// An admin-set param filled from a Looker user attribute.
    struct RawParam as "a param" {
        name: Spanned<String>,
        label: String,
        description: Option<String>,
        user_attribute: Option<String>,
        required: Option<bool>,
    }
}

schema! {
    /// The target table.
    struct RawTable as "table" {
        name: Spanned<String>,
        description: Option<String>,
        clustering: Option<Vec<Spanned<String>>>,
    }
}

words! {
    /// Looker's form field types this hub renders for declared fields.
    enum RawFieldType ("lowercase") { String, Textarea, Select, }
}

words! {
    /// What a field's value is.
    enum RawValueType ("lowercase") { Text, Integer, Number, Date, Boolean, Email, }
}

words! {
    /// A column type (BigQuery standard SQL names).
    enum RawColumnType ("UPPERCASE") { String, Int64, Numeric, Float64, Bool, Date, Timestamp, Json, }
}

words! {
    /// Column mode.
    enum RawMode ("UPPERCASE") { Nullable, Required, }
}

schema! {
    /// A form field.
    struct RawField as "a field" {
        name: Spanned<String>,
        label: Option<String>,
        description: Option<String>,
        #[key = "type"]
        field_type: Option<Spanned<RawFieldType>>,
        value: Option<Spanned<RawValueType>>,
        required: Option<bool>,
        interactive: Option<bool>,
        /// A question no longer asked: off the form, its column kept (empty in new rows).
        retired: Option<Spanned<bool>>,
        default: Option<Spanned<RawDefault>>,
        min_length: Option<Spanned<u32>>,
        max_length: Option<Spanned<u32>>,
        min: Option<Spanned<f64>>,
        max: Option<Spanned<f64>>,
        pattern: Option<Spanned<String>>,
        options: Option<Vec<Spanned<RawOption>>>,
        messages: Option<Spanned<Messages>>,
        column: Option<Spanned<RawColumn>>,
    }
}

schema! {
    /// Messages shown to the business user; `{max}`, `{min}`, `{length}`, `{options}` are filled
    /// in. Read as written (a field's `messages:`), their placeholders checked at load.
    #[derive(Default)]
    struct Messages as "messages" {
        /// A required field is empty.
        required: Option<Spanned<String>>,
        /// Too short.
        min_length: Option<Spanned<String>>,
        /// Too long.
        max_length: Option<Spanned<String>>,
        /// `pattern` does not match.
        pattern: Option<Spanned<String>>,
        /// Not one of the options.
        options: Option<Spanned<String>>,
        /// Not a value of the type (integer, number, date, email).
        invalid: Option<Spanned<String>>,
        /// Below `min`.
        min: Option<Spanned<String>>,
        /// Above `max`.
        max: Option<Spanned<String>>,
    }
}

/// A field default: a literal, or `{from: value | today}`, or `{param: <param name>}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDefault {
    Source(RawDefaultSource),
    Literal(Scalar),
}

impl Shape for RawDefault {
    fn expect() -> Expect {
        Expect::Any
    }
    fn walk(
        node: &tree::Spanned<tree::Node>,
        key: &str,
        ck: &mut walk::ShapeCheck,
    ) -> walk::Walked {
        walk::walk_if_map::<RawDefaultSource>(node, key, ck)
    }
}

schema! {
    /// The non-literal defaults.
    struct RawDefaultSource as "default" {
        from: Option<String>,
        param: Option<String>,
    }
}

/// A select option: `Approved` or `{name: approved, label: Approved}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawOption {
    Full(RawOptionFull),
    Short(Scalar),
}

impl Shape for RawOption {
    fn expect() -> Expect {
        Expect::Any
    }
    fn walk(
        node: &tree::Spanned<tree::Node>,
        key: &str,
        ck: &mut walk::ShapeCheck,
    ) -> walk::Walked {
        walk::walk_if_map::<RawOptionFull>(node, key, ck)
    }
}

schema! {
    /// A select option written in full.
    struct RawOptionFull as "an option" {
        name: Scalar,
        label: String,
    }
}

schema! {
    /// Where a field is stored.
    struct RawColumn as "column" {
        name: Option<Spanned<String>>,
        #[key = "type"]
        column_type: Option<Spanned<RawColumnType>>,
        mode: Option<Spanned<RawMode>>,
        description: Option<String>,
    }
}

schema! {
    /// A result field of a query action stored in its own typed column.
    struct RawResultColumn as "a result column" {
        field: Spanned<String>,
        column: Spanned<String>,
        #[key = "type"]
        column_type: Spanned<RawColumnType>,
        required: Option<bool>,
        description: Option<String>,
    }
}

/// A `required_fields` entry is Looker's own type (`tag`, `any_tag` or `all_tags`).
impl Schema for RequiredField {
    const WHAT: &'static str = "a required_fields entry";
    fn keys() -> &'static [&'static str] {
        &["tag", "any_tag", "all_tags"]
    }
    fn key(key: &str) -> Option<KeyShape> {
        match key {
            "tag" => Some(KeyShape::of::<Option<String>>()),
            "any_tag" | "all_tags" => Some(KeyShape::of::<Option<Vec<String>>>()),
            _ => None,
        }
    }
}

impl Shape for RequiredField {
    fn expect() -> Expect {
        Expect::Map
    }
    fn walk(
        node: &tree::Spanned<tree::Node>,
        key: &str,
        ck: &mut walk::ShapeCheck,
    ) -> walk::Walked {
        walk_map::<RequiredField>(node, key, ck)
    }
    fn item() -> Option<(&'static str, Vec<&'static str>, &'static str)> {
        Some((Self::WHAT, Self::keys().to_vec(), " or "))
    }
}

/// A problem of the file's syntax: where, and what to write instead.
pub(crate) type SyntaxProblem = (Pos, Says);

/// The file read: its version, the actions whose shape is sound (each read into its struct),
/// how many items of `actions:` were skipped for a problem of their own, and every problem.
pub(crate) struct Read {
    pub version: Option<Spanned<u32>>,
    pub actions: Vec<Spanned<RawAction>>,
    pub skipped: usize,
    pub problems: Vec<SyntaxProblem>,
}

/// Read the file's text once, and check its shape: every problem of the file at once.
/// `Err`: the text is not YAML (or beyond the reader's budget) — nothing after that problem can
/// be read reliably.
pub(crate) fn read(text: &str) -> Result<Read, serde_saphyr::Error> {
    let root = tree::parse(text)?;
    let mut ck = walk::ShapeCheck::default();
    if !matches!(root.value, tree::Node::Map(_)) {
        if let Some(why) = walk::wrong_value(&root.value, Expect::Map) {
            ck.problems
                .push((tree::pos(&root), format!("the file: {why}").into()));
        }
    }
    // Every problem of the walk is in `ck`: the actions with one are skipped below.
    let _sound = RawFile::walk(&root, "", &mut ck);
    let entry = |key: &str| match &root.value {
        tree::Node::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
        _ => None,
    };
    let mut out = Read {
        version: None,
        actions: vec![],
        skipped: 0,
        problems: vec![],
    };
    // A version of the wrong kind is named by the walker.
    if let Some(Ok(v)) = entry("version").map(tree::read::<Option<Spanned<u32>>>) {
        out.version = v;
    }
    match entry("actions").map(|a| tree::read_as(&a.value)) {
        Some(tree::Node::Seq(items)) => {
            for item in items {
                if ck.broken.contains(&tree::pos(item)) {
                    out.skipped += 1;
                    continue;
                }
                match tree::read::<Spanned<RawAction>>(item) {
                    Ok(a) => out.actions.push(a),
                    Err(e) => {
                        out.skipped += 1;
                        ck.problems
                            .push((e.at.unwrap_or_default(), e.message.into()));
                    }
                }
            }
        }
        Some(tree::Node::Scalar(_, ScalarKind::Null)) => {
            let at = entry("actions").map(tree::pos).unwrap_or_default();
            ck.problems.push((at, "`actions` has no value: it needs a list of actions (at least one), each item starting with `- name: ...`".into()));
            out.skipped += 1;
        }
        Some(_) => out.skipped += 1,
        // Named by the walker (a missing or misspelt key).
        None => out.skipped += 1,
    }
    ck.problems.sort_by_key(|(p, _)| p.line);
    out.problems = ck.problems;
    Ok(out)
}

#[cfg(test)]
mod tests;
