//! The file's shape, checked over the tree before its types: every unknown key, repeated key,
//! missing key, value of the wrong kind and unknown word of the whole file, each at its place,
//! with the closest valid word. What a key takes is the type of its field in the structs of
//! [`super`] (the [`Shape`] of that type): the structs are the one schema of the file.

use serde::Deserialize;

use super::super::report::{advice, Reported, Says, Verdict};
use super::tree::{as_bool, as_count, as_number, pos, read_as, Node, ScalarKind, Spanned};
use super::Pos;

/// A walk that found the value sound, or the proof of its first problem (every problem is in
/// the [`ShapeCheck`]).
pub(crate) type Walked = Result<(), Reported>;

/// What a value must be, where the typed read would stop at a wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
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

/// How a value of a type of the schema is checked.
pub(crate) trait Shape {
    /// A key of this type may be left out (an `Option`).
    const OPTIONAL: bool = false;
    /// What the value must be.
    fn expect() -> Expect;
    /// The problems inside the value (its keys, its items, its word); `key` names it.
    fn walk(_node: &Spanned<Node>, _key: &str, _ck: &mut ShapeCheck) -> Walked {
        Ok(())
    }
    /// A list item of this type that must be a map: what to call it and the keys to suggest.
    fn item() -> Option<(&'static str, Vec<&'static str>, &'static str)> {
        None
    }
}

/// A map of the schema: a struct whose fields are its keys.
pub(crate) trait Schema {
    /// How problems name it ("an action", "a field", "table").
    const WHAT: &'static str;
    /// Its keys, in the order the file reference lists them.
    fn keys() -> &'static [&'static str];
    /// How the value of `key` is checked: whether it may be left out, what it must be, and the
    /// walk inside it.
    fn key(key: &str) -> Option<KeyShape>;
}

/// How the value of one key is checked.
pub(crate) struct KeyShape {
    pub optional: bool,
    pub expect: Expect,
    pub walk: fn(&Spanned<Node>, &str, &mut ShapeCheck) -> Walked,
}

impl KeyShape {
    /// The shape of a key whose field has type `T`.
    pub fn of<T: Shape>() -> KeyShape {
        KeyShape {
            optional: T::OPTIONAL,
            expect: T::expect(),
            walk: T::walk,
        }
    }
}

/// The keys of a map type that must be there, in schema order.
pub(crate) fn required<S: Schema>() -> Vec<&'static str> {
    S::keys()
        .iter()
        .copied()
        .filter(|k| S::key(k).is_some_and(|s| !s.optional))
        .collect()
}

/// A value written short (a scalar, which needs no walk) or in full (a map of `S`'s keys): the
/// map is walked as `S`.
pub(crate) fn walk_if_map<S: Schema>(
    node: &Spanned<Node>,
    key: &str,
    ck: &mut ShapeCheck,
) -> Walked {
    if matches!(node.value, Node::Map(_)) {
        walk_map::<S>(node, key, ck)
    } else {
        Ok(())
    }
}

/// Walks a map of the schema.
pub(crate) fn walk_map<S: Schema>(node: &Spanned<Node>, _key: &str, ck: &mut ShapeCheck) -> Walked {
    let mut verdict = Verdict::default();
    let known = ck.keys::<S>(node, &mut verdict);
    for (k, v) in known {
        if let Some(shape) = S::key(k) {
            verdict.note((shape.walk)(v, k, ck));
        }
    }
    verdict.then(())
}

impl Shape for String {
    fn expect() -> Expect {
        Expect::Text
    }
}
impl Shape for bool {
    fn expect() -> Expect {
        Expect::Bool
    }
}
impl Shape for u32 {
    fn expect() -> Expect {
        Expect::Count
    }
}
impl Shape for f64 {
    fn expect() -> Expect {
        Expect::Number
    }
}
impl Shape for crate::api::Scalar {
    fn expect() -> Expect {
        Expect::Any
    }
}
impl<T: Shape> Shape for Option<T> {
    const OPTIONAL: bool = true;
    fn expect() -> Expect {
        T::expect()
    }
    fn walk(node: &Spanned<Node>, key: &str, ck: &mut ShapeCheck) -> Walked {
        T::walk(node, key, ck)
    }
    fn item() -> Option<(&'static str, Vec<&'static str>, &'static str)> {
        T::item()
    }
}
impl<T: Shape> Shape for super::Spanned<T> {
    const OPTIONAL: bool = T::OPTIONAL;
    fn expect() -> Expect {
        T::expect()
    }
    fn walk(node: &Spanned<Node>, key: &str, ck: &mut ShapeCheck) -> Walked {
        T::walk(node, key, ck)
    }
    fn item() -> Option<(&'static str, Vec<&'static str>, &'static str)> {
        T::item()
    }
}
impl<T: Shape> Shape for Vec<T> {
    fn expect() -> Expect {
        Expect::List
    }
    fn walk(node: &Spanned<Node>, key: &str, ck: &mut ShapeCheck) -> Walked {
        let Node::Seq(items) = &node.value else {
            return Ok(());
        };
        let mut verdict = Verdict::default();
        for item in items {
            let walked = match T::item() {
                Some((what, keys, sep)) if !matches!(item.value, Node::Map(_)) => {
                    ck.not_a_map(item, what, &keys, sep)
                }
                _ => T::walk(item, key, ck),
            };
            // An item with a problem of its own is read no further.
            if let Err(r) = walked {
                ck.broken.push(pos(item));
                verdict.add(r);
            }
        }
        verdict.then(())
    }
}

/// A scalar that must be one of the variants of the enum `T` (`key` names it).
pub(crate) fn walk_word<'de, T: Deserialize<'de>>(
    node: &Spanned<Node>,
    key: &str,
    ck: &mut ShapeCheck,
) -> Walked {
    let Node::Scalar(v, kind) = read_as(&node.value) else {
        return Ok(());
    };
    let valid = names_of::<T>();
    if *kind == ScalarKind::Null || valid.contains(&v.as_str()) {
        return Ok(());
    }
    let hint = match closest(v, valid) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("write one of {}", valid_list(valid)),
    };
    let message = format!("{key}: `{v}` is not a valid value");
    Err(ck.at(node, advice(message, hint)))
}

/// Why `node` is not what `want` asks for (`None`: it is, or the typed read decides).
pub(crate) fn wrong_value(node: &Node, want: Expect) -> Option<String> {
    let node = read_as(node);
    let shown = |v: &str| {
        let v: String = v.chars().take(40).collect();
        format!("`{v}`")
    };
    let found = match node {
        Node::Map(_) => "a map".to_string(),
        Node::Seq(_) => "a list".to_string(),
        Node::Written(_, v) => shown(v),
        Node::Scalar(v, ScalarKind::Text) if v.is_empty() => "empty text".to_string(),
        Node::Scalar(v, ScalarKind::Text) => format!("the text {}", shown(v)),
        Node::Scalar(v, _) => shown(v),
    };
    let ok = match (want, node) {
        (Expect::Any, _) => true,
        // An empty value is absent: the missing-key checks and the typed read speak of it.
        (_, Node::Scalar(_, ScalarKind::Null)) => true,
        (Expect::Text, n) => matches!(n, Node::Scalar(..)),
        (Expect::Bool, Node::Scalar(v, k)) => as_bool(v, *k).is_some(),
        (Expect::Count, Node::Scalar(v, k)) => as_count(v, *k).is_some(),
        (Expect::Number, Node::Scalar(v, k)) => as_number(v, *k).is_some(),
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

/// Collects every shape problem, and the list items that have one (read no further).
#[derive(Default)]
pub(crate) struct ShapeCheck {
    pub problems: Vec<(Pos, Says)>,
    pub broken: Vec<Pos>,
}

impl ShapeCheck {
    fn at<T>(&mut self, node: &Spanned<T>, says: impl Into<Says>) -> Reported {
        self.problems.push((pos(node), says.into()));
        Reported::new()
    }

    /// The entries of a map of type `S` whose keys it knows; every repeated, missing, unknown
    /// key and every value of the wrong kind is listed (and noted in `verdict`).
    fn keys<'n, S: Schema>(
        &mut self,
        node: &'n Spanned<Node>,
        verdict: &mut Verdict,
    ) -> Vec<(&'n str, &'n Spanned<Node>)> {
        let Node::Map(entries) = &node.value else {
            return vec![];
        };
        let (what, valid) = (S::WHAT, S::keys());
        for (i, (k, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i].iter().find(|(p, _)| p.value == k.value) {
                let first = first.referenced.line();
                let message = format!(
                    "the key `{}` is written twice in {what} (first at line {first})",
                    k.value
                );
                verdict.add(self.at(k, advice(message, "keep one")));
            }
        }
        for r in required::<S>() {
            // A misspelt key already says "did you mean" this one.
            let misspelt = entries.iter().any(|(k, _)| {
                !valid.contains(&k.value.as_str()) && closest(&k.value, valid) == Some(r)
            });
            if !misspelt && !entries.iter().any(|(k, _)| k.value == r) {
                verdict.add(self.at(node, format!("{what} has no `{r}`: it is required")));
            }
        }
        let mut known = vec![];
        for (k, v) in entries {
            if let Some(shape) = S::key(&k.value) {
                if let Some(why) = wrong_value(&v.value, shape.expect) {
                    verdict.add(self.at(v, format!("`{}` in {what}: {why}", k.value)));
                }
                known.push((k.value.as_str(), v));
                continue;
            }
            let hint = match closest(&k.value, valid) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("the keys of {what} are {}", valid_list(valid)),
            };
            let message = format!("unknown key `{}` in {what}", k.value);
            verdict.add(self.at(k, advice(message, hint)));
        }
        known
    }

    /// A list item that is not the map it must be (`- 17` where an action is expected).
    fn not_a_map(&mut self, item: &Spanned<Node>, what: &str, keys: &[&str], sep: &str) -> Walked {
        let found = match read_as(&item.value) {
            Node::Map(_) | Node::Written(..) => return Ok(()),
            Node::Seq(_) => "a list".to_string(),
            Node::Scalar(_, ScalarKind::Null) => "an empty item".to_string(),
            Node::Scalar(v, _) => format!("`{}`", v.chars().take(40).collect::<String>()),
        };
        let example = if keys.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}:`")).collect();
            format!(" with {}", keys.join(sep))
        };
        let message = format!("{what} is expected here, not {found}");
        let help = format!("write a map (`key: value` lines indented under the `- `){example}");
        Err(self.at(item, advice(message, help)))
    }
}

/// The names serde accepts for a struct's fields or an enum's variants, asked of the derived
/// `Deserialize` itself (so the walker cannot drift from the structs).
pub(crate) fn names_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
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

/// The closest of `valid` to `word` (case aside), when close enough to be a typo.
pub(crate) fn closest<'a>(word: &str, valid: &[&'a str]) -> Option<&'a str> {
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
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
