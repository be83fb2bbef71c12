//! The checks that turn the file as written ([`super::syntax`]) into the typed model
//! ([`super::model`]), every problem collected with its place: one file per concern.

mod action;
mod default;
mod field;
mod lookml;
mod messages;
mod table;

use std::collections::HashMap;
use std::path::Path;

use super::diagnostics::Problem;
use super::model::*;
use super::syntax::*;
use crate::actions::rudder::{GROUP, IDENTIFY, TRACK};

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

/// Collects problems with their lines.
pub(crate) struct Checker<'a> {
    pub file: &'a str,
    pub problems: Vec<Problem>,
}

impl Checker<'_> {
    pub fn at(&mut self, at: impl Into<Pos>, message: impl Into<String>) {
        self.problems
            .push(Problem::at(self.file, at.into(), message.into()));
    }
}

pub(crate) fn line<T>(s: &Spanned<T>) -> Pos {
    s.referenced
}

pub(crate) fn opt_line<T>(s: &Option<Spanned<T>>, fallback: Pos) -> Pos {
    s.as_ref().map(line).unwrap_or(fallback)
}

/// The checked actions of the file, or every problem of it (its shape's and the checks'), in
/// line order.
pub(crate) fn build(
    raw: Read,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<Vec<ActionDef>, Vec<Problem>> {
    // The file's shape problems first: the checks below add theirs.
    let mut ck = Checker {
        file,
        problems: raw
            .problems
            .iter()
            .map(|(at, message)| Problem::at(file, *at, message.clone()))
            .collect(),
    };
    let actions = check_actions(raw, base_dir, &mut ck);
    if ck.problems.is_empty() {
        Ok(actions)
    } else {
        ck.problems.sort_by_key(|p| p.line);
        Err(ck.problems)
    }
}

/// Every action whose checks found no problem; every problem goes to `ck`.
fn check_actions(raw: Read, base_dir: Option<&Path>, ck: &mut Checker) -> Vec<ActionDef> {
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
    let mut names: HashMap<String, Pos> = HashMap::new();
    let mut tables: HashMap<String, Pos> = HashMap::new();
    let mut labels: HashMap<String, Pos> = HashMap::new();
    let mut out = Vec::new();
    if raw.actions.is_empty() && raw.skipped == 0 {
        ck.problems.push(Problem::of_file(
            ck.file,
            "the file declares no action: add at least one under `actions:`".into(),
        ));
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
        if let Some(def) = action::build_action(a, base_dir, ck) {
            out.push(def);
        }
    }
    // Every table gets a LookML view of its name and one of its name + `_current`: a table named
    // like another's current-state view would give two views of one name.
    use super::emit::lookml_words::CURRENT_VIEW_SUFFIX;
    let mut by_line: Vec<(&String, &Pos)> = tables.iter().collect();
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
