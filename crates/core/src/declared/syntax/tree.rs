//! The file read once by the YAML reader into a tree of nodes with their positions; the shape
//! walker ([`super::walk`]) and the typed read ([`read`]) both work on that tree.

use serde::de::{self, IntoDeserializer, Visitor};
use serde::Deserialize;

use super::Pos;

/// A YAML node, keys and values with their positions; scalars as text, with what YAML read them as.
#[derive(Debug)]
pub(crate) enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    /// The value as the YAML reader read it, and what it read it as.
    Scalar(String, ScalarKind),
    /// A plain scalar read as a boolean, number or null, and its text as written (`n`, `0x10`,
    /// `~`): what a text field takes.
    Written(Box<Node>, String),
}

/// A node of the tree as the YAML reader gives it (with its source location).
pub(crate) type Spanned<T> = serde_saphyr::Spanned<T>;

/// What YAML read a scalar as (`true` is a boolean, `"true"` text, `12` an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Bool,
    Int,
    Float,
    Text,
    Null,
}

/// Where a node is in the file.
pub(crate) fn pos<T>(node: &Spanned<T>) -> Pos {
    let at = node.referenced;
    let span = at.span();
    Pos {
        line: at.line(),
        column: at.column(),
        bytes: span
            .byte_offset()
            .zip(span.byte_len())
            .map(|(o, l)| (o as usize, l as usize)),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
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
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = vec![];
        while let Some(v) = seq.next_element::<Spanned<Node>>()? {
            out.push(v);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = vec![];
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            out.push((k, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(out))
    }
}

/// How the file is read: a repeated key is passed to the tree (the walker lists it with the other
/// problems), where a typed read would stop at it.
pub(crate) fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    // `.inf` is text to the tree (a field `min: .inf` is then refused as not a number).
    o.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    o
}

/// The tree of `text`: every plain scalar read as something other than text keeps its text as
/// written (the reader gives `n` as a boolean; a text field takes `n`).
pub(crate) fn parse(text: &str) -> Result<Spanned<Node>, serde_saphyr::Error> {
    let mut root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options())?;
    keep_written(&mut root, text);
    Ok(root)
}

fn keep_written(node: &mut Spanned<Node>, text: &str) {
    let written = pos(node)
        .bytes
        .and_then(|(o, l)| text.get(o..o + l))
        .filter(|w| !w.is_empty());
    match &mut node.value {
        Node::Map(entries) => entries.iter_mut().for_each(|(_, v)| keep_written(v, text)),
        Node::Seq(items) => items.iter_mut().for_each(|v| keep_written(v, text)),
        Node::Scalar(_, ScalarKind::Text) | Node::Written(..) => {}
        Node::Scalar(v, _) => {
            if let Some(w) = written.filter(|w| *w != v.as_str()) {
                let read = std::mem::replace(&mut node.value, Node::Seq(vec![]));
                node.value = Node::Written(Box::new(read), w.to_string());
            }
        }
    }
}

/// The node as the YAML reader read it (a scalar's text as written set aside).
pub(crate) fn read_as(node: &Node) -> &Node {
    match node {
        Node::Written(read, _) => read,
        n => n,
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars read as the types the structs ask for: one rule for the walker and the typed read.

/// A quoted scalar's text is not YAML: only a plain word is read again as a number or boolean.
fn plain_word(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c))
}

/// The boolean a scalar is (quoted `"true"` is true, as YAML readers read it into a boolean).
pub(crate) fn as_bool(v: &str, kind: ScalarKind) -> Option<bool> {
    match kind {
        ScalarKind::Bool => v.parse().ok(),
        ScalarKind::Text if plain_word(v) => match v {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The whole number from 0 to 4 294 967 295 a scalar is.
pub(crate) fn as_count(v: &str, kind: ScalarKind) -> Option<u32> {
    match kind {
        ScalarKind::Int => v.parse().ok(),
        ScalarKind::Text if plain_word(v) => v.strip_prefix('+').unwrap_or(v).parse().ok(),
        _ => None,
    }
}

/// The number a scalar is.
pub(crate) fn as_number(v: &str, kind: ScalarKind) -> Option<f64> {
    match kind {
        ScalarKind::Int | ScalarKind::Float => v.parse().ok(),
        ScalarKind::Text if plain_word(v) => v.parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The typed read: the structs of [`super`] deserialized from the tree (no second YAML read).

/// Why a typed read of a node failed, and where.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub message: String,
    pub at: Option<Pos>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ReadError {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Read a `T` from `node`.
pub(crate) fn read<'de, T: Deserialize<'de>>(node: &Spanned<Node>) -> Result<T, ReadError> {
    T::deserialize(NodeDe(node)).map_err(|mut e| {
        e.at.get_or_insert(pos(node));
        e
    })
}

/// The name under which [`super::Spanned`] asks the tree for a value with its position.
pub(crate) const SPANNED: &str = "declared::syntax::Spanned";

struct NodeDe<'a>(&'a Spanned<Node>);

impl NodeDe<'_> {
    fn wrong<T>(&self, expected: &str) -> Result<T, ReadError> {
        Err(ReadError {
            message: format!("{expected} is expected here"),
            at: Some(pos(self.0)),
        })
    }
    fn scalar(&self) -> Option<(&str, ScalarKind)> {
        match read_as(&self.0.value) {
            Node::Scalar(v, k) => Some((v, *k)),
            _ => None,
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        match read_as(&self.0.value) {
            Node::Map(entries) => v.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
            }),
            Node::Seq(items) => v.visit_seq(SeqDe(items.iter())),
            Node::Scalar(s, ScalarKind::Bool) => v.visit_bool(s == "true"),
            Node::Scalar(s, ScalarKind::Int) => match s.parse::<i64>() {
                Ok(i) => v.visit_i64(i),
                Err(_) => v.visit_u64(s.parse().map_err(de::Error::custom)?),
            },
            Node::Scalar(s, ScalarKind::Float) => {
                v.visit_f64(s.parse().map_err(de::Error::custom)?)
            }
            Node::Scalar(s, ScalarKind::Text) => v.visit_str(s),
            Node::Scalar(_, ScalarKind::Null) => v.visit_unit(),
            Node::Written(..) => unreachable!("read_as gives the value read"),
        }
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        match self.scalar().and_then(|(s, k)| as_bool(s, k)) {
            Some(b) => v.visit_bool(b),
            None => self.wrong("true or false"),
        }
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        match self.scalar().and_then(|(s, k)| as_count(s, k)) {
            Some(n) => v.visit_u32(n),
            None => self.wrong("a whole number from 0 to 4294967295"),
        }
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        match self.scalar().and_then(|(s, k)| as_number(s, k)) {
            Some(n) => v.visit_f64(n),
            None => self.wrong("a number"),
        }
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        if let Node::Written(read, written) = &self.0.value {
            if !matches!(**read, Node::Scalar(_, ScalarKind::Null)) {
                return v.visit_str(written);
            }
        }
        match self.scalar() {
            Some((_, ScalarKind::Null)) | None => self.wrong("text (a single value)"),
            Some((s, _)) => v.visit_str(s),
        }
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        self.deserialize_string(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        match self.scalar() {
            Some((_, ScalarKind::Null)) => v.visit_none(),
            _ => v.visit_some(self),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, ReadError> {
        if name == SPANNED {
            v.visit_seq(SpannedSeq {
                at: pos(self.0),
                node: self.0,
                step: 0,
            })
        } else {
            v.visit_newtype_struct(self)
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ReadError> {
        match self.scalar() {
            Some((s, ScalarKind::Text)) => v.visit_enum(s.into_deserializer()),
            _ => self.wrong("a word"),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        v.visit_unit()
    }
    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u64 u128 f32 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The items of a list.
struct SeqDe<'a>(std::slice::Iter<'a, Spanned<Node>>);

impl<'de> de::SeqAccess<'de> for SeqDe<'_> {
    type Error = ReadError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        self.0
            .next()
            .map(|n| seed.deserialize(NodeDe(n)).map_err(|e| located(e, n)))
            .transpose()
    }
}

/// The entries of a map.
struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Spanned<String>, Spanned<Node>)>,
    value: Option<&'a Spanned<Node>>,
}

impl<'de> de::MapAccess<'de> for MapDe<'_> {
    type Error = ReadError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(v);
        let key: de::value::StrDeserializer<ReadError> = k.value.as_str().into_deserializer();
        seed.deserialize(key).map(Some).map_err(|e| located(e, k))
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ReadError> {
        let node = self.value.take().expect("a value follows its key");
        seed.deserialize(NodeDe(node)).map_err(|e| located(e, node))
    }
}

/// A value with its position: the position's parts, then the value.
struct SpannedSeq<'a> {
    at: Pos,
    node: &'a Spanned<Node>,
    step: u8,
}

impl<'de> de::SeqAccess<'de> for SpannedSeq<'_> {
    type Error = ReadError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(PosDe(self.at)).map(Some),
            2 => seed.deserialize(NodeDe(self.node)).map(Some),
            _ => Ok(None),
        }
    }
}

/// A position handed to [`super::Spanned`]'s reader (as an opaque newtype of its parts).
struct PosDe(Pos);

impl<'de> de::Deserializer<'de> for PosDe {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ReadError> {
        let (o, l) = self
            .0
            .bytes
            .map_or((u64::MAX, 0), |(o, l)| (o as u64, l as u64));
        let parts = [self.0.line, self.0.column, o, l];
        v.visit_seq(de::value::SeqDeserializer::new(parts.into_iter()))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// `e`, located at `node` unless it already names a place.
fn located<T>(mut e: ReadError, node: &Spanned<T>) -> ReadError {
    e.at.get_or_insert(pos(node));
    e
}
