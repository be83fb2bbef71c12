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
pub(crate) use super::report::{advice, advice_on, Checked, Reported, Says, Verdict};
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
    problems: Vec<Problem>,
}

impl Checker<'_> {
    /// Report a problem at `at`.
    pub fn at(&mut self, at: impl Into<Pos>, says: impl Into<Says>) -> Reported {
        self.problems
            .push(Problem::says(self.file, at.into(), says.into()));
        Reported::new()
    }

    /// Report a problem of the whole file.
    fn of_file(&mut self, says: impl Into<Says>) -> Reported {
        self.at(Pos::default(), says)
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
    mut raw: Read,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<Vec<ActionDef>, Vec<Problem>> {
    let mut ck = Checker {
        file,
        problems: vec![],
    };
    // The file's shape problems first: the checks below add theirs.
    let mut shape = Verdict::default();
    for (at, says) in std::mem::take(&mut raw.problems) {
        shape.add(ck.at(at, says));
    }
    match (shape.then(()), check_actions(raw, base_dir, &mut ck)) {
        (Ok(()), Ok(actions)) => Ok(actions),
        _ => {
            ck.problems.sort_by_key(|p| p.line);
            Err(ck.problems)
        }
    }
}

/// Every action of the file, or the proof that a problem was reported (every problem goes to
/// `ck`).
fn check_actions(
    raw: Read,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> Result<Vec<ActionDef>, Reported> {
    let mut verdict = Verdict::default();
    if let Some(v) = raw.version.as_ref().filter(|v| v.value != 1) {
        let message = format!("version {} is not known to this hub", v.value);
        verdict.add(ck.at(line(v), advice(message, "write `version: 1`")));
    }
    if raw.actions.is_empty() && raw.skipped == 0 {
        let message = "the file declares no action";
        verdict.add(ck.of_file(advice(message, "add at least one under `actions:`")));
    }
    let mut seen = Seen::default();
    let mut out = Vec::new();
    for a in raw.actions {
        verdict.note(seen.check(&a.value, ck));
        if let Some(def) = verdict.take(action::build_action(a, base_dir, ck)) {
            out.push(def);
        }
    }
    verdict.note(seen.current_view_clashes(ck));
    verdict.then(out)
}

/// The names, labels and tables of the actions so far, with their places: each is one action's.
#[derive(Default)]
struct Seen {
    names: HashMap<String, Pos>,
    labels: HashMap<String, Pos>,
    tables: HashMap<String, Pos>,
}

impl Seen {
    /// The action's name, label and table are not another's.
    fn check(&mut self, a: &RawAction, ck: &mut Checker) -> Result<(), Reported> {
        let mut verdict = Verdict::default();
        let name = &a.name.value;
        let name_line = line(&a.name);
        if let Some(first) = self.names.insert(name.clone(), name_line) {
            let message = format!("duplicate action name {name:?} (first at line {first})");
            verdict.add(ck.at(name_line, advice(message, "give each action its own name")));
        }
        // Looker's action menu shows labels only: two equal ones are two identical entries.
        const TWICE: &str = "Looker would show two identical entries in the action menu";
        let label = a.label.value.trim().to_lowercase();
        let label_line = line(&a.label);
        let coded = [IDENTIFY, GROUP, TRACK].map(|c| c.label());
        if let Some(c) = coded.iter().find(|c| c.to_lowercase() == label) {
            let message = format!(
                "label {:?} is the label of the hub's own action {c:?}: {TWICE}",
                a.label.value
            );
            verdict.add(ck.at(label_line, advice_on(message, "choose another label")));
        } else if let Some(first) = self
            .labels
            .insert(label.clone(), label_line)
            .filter(|_| !label.is_empty())
        {
            let message = format!(
                "label {:?} is already the label of the action at line {first} (case aside): {TWICE}",
                a.label.value
            );
            let help = "give each action its own label";
            verdict.add(ck.at(label_line, advice_on(message, help)));
        }
        let table = &a.table.value.name.value;
        let table_line = line(&a.table.value.name);
        if let Some(first) = self.tables.insert(table.clone(), table_line) {
            let message =
                format!("table {table:?} is already written by the action at line {first}");
            verdict.add(ck.at(
                table_line,
                advice(message, "give each action its own table"),
            ));
        }
        verdict.then(())
    }

    /// Every table gets a LookML view of its name and one of its name + `_current`: a table
    /// named like another's current-state view would give two views of one name.
    fn current_view_clashes(&self, ck: &mut Checker) -> Result<(), Reported> {
        use super::emit::lookml_words::CURRENT_VIEW_SUFFIX;
        let mut verdict = Verdict::default();
        let mut by_line: Vec<(&String, &Pos)> = self.tables.iter().collect();
        by_line.sort_by_key(|(_, l)| **l);
        for (table, l) in by_line {
            let Some(base) = table.strip_suffix(CURRENT_VIEW_SUFFIX) else {
                continue;
            };
            if let Some(base_line) = self.tables.get(base) {
                let message = format!(
                    "table {table:?} has the name of the LookML view `{table}` generated over table {base:?} (line {base_line}) for its latest row per key (Looker refuses two views of one name)"
                );
                let help = format!("write `name: {base}_latest` or another name");
                verdict.add(ck.at(*l, advice(message, help)));
            }
        }
        verdict.then(())
    }
}
