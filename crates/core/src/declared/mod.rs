//! Write-back actions declared in one YAML file (issue 15): the file's schema, its typed model,
//! the forms and the validation of answers, and the generators of terraform table schemas and
//! LookML. Everything here is pure: the hub, `hub check-actions` and the tests share it.
//!
//! Without `HUB_ACTIONS_FILE` the hub serves [`builtin`]: `mark_suspicious` and `writeback_batch`,
//! once coded, now this file's actions (their answers are pinned by the tests below and the API
//! tests).

pub mod action;
pub mod audit;
mod check;
pub mod diagnostics;
mod emit_ledger;
pub mod form;
pub mod generate;
pub mod icon;
pub mod lookml;
pub mod model;
pub mod names;
mod syntax;

use std::path::Path;

pub use model::{ActionDef, ColumnDef, ColumnSource, ColumnType, Field, Kind, Mode, TableDef};

use crate::actions::base_definition_at;
use crate::api::Integration;

/// The built-in actions file.
pub const BUILTIN_YAML: &str = include_str!("default_actions.yaml");
/// Name under which problems of the built-in file are reported.
pub const BUILTIN_NAME: &str = "<built-in actions>";
/// Largest actions file read (a file of hundreds of actions is a few hundred KB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub use syntax::Pos;

/// One problem in an actions file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column (characters) of what the problem is about, when known.
    pub column: Option<u64>,
    /// Byte range of what the problem is about in the file's text, when known.
    pub span: Option<std::ops::Range<usize>>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl Problem {
    /// A problem of the whole file (no place in it).
    pub fn of_file(file: &str, message: String) -> Problem {
        Problem {
            file: file.to_string(),
            line: None,
            column: None,
            span: None,
            message,
        }
    }

    /// A problem at `at` (a line of 0 is no known place).
    pub fn at(file: &str, at: Pos, message: String) -> Problem {
        let known = at.line > 0;
        Problem {
            file: file.to_string(),
            line: known.then_some(at.line),
            column: (known && at.column > 0).then_some(at.column),
            span: at.bytes.filter(|_| known).map(|(o, l)| o..o + l),
            message,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in an actions file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<Problem>);

/// A loaded, checked actions file.
#[derive(Debug, Clone)]
pub struct ActionsFile {
    /// Where it came from (a path, or [`BUILTIN_NAME`]).
    pub source: String,
    /// The actions, in file order.
    pub actions: Vec<ActionDef>,
}

impl ActionsFile {
    /// An action by name.
    pub fn get(&self, name: &str) -> Option<&ActionDef> {
        self.actions.iter().find(|a| a.name == name)
    }
}

/// Parse and check an actions file's text. `source` names it in problems; icon paths are read
/// relative to `base_dir` (none: only inline SVG and data URIs).
pub fn parse(text: &str, source: &str, base_dir: Option<&Path>) -> Result<ActionsFile, Problems> {
    let problem = |at: Pos, message: String| Problems(vec![Problem::at(source, at, message)]);
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(problem(
            Pos::default(),
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    // One read of the text: every shape problem of the file, and the actions whose shape is
    // sound, checked for every other problem (an action with a shape problem is not, so that
    // none of its problems is a false follow-on).
    let read = syntax::read(text).map_err(|e| {
        let (line, message) = yaml_problem(&e);
        problem(line, message)
    })?;
    let actions = check::build(read, source, base_dir).map_err(Problems)?;
    Ok(ActionsFile {
        source: source.to_string(),
        actions,
    })
}

/// The error under its snippet and alias-location wrappers.
fn original(mut e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    loop {
        match e {
            serde_saphyr::Error::WithSnippet { error, .. }
            | serde_saphyr::Error::AliasError { error, .. } => e = error,
            other => return other,
        }
    }
}

/// The problem a YAML read stopped at, in words.
fn yaml_problem(e: &serde_saphyr::Error) -> (Pos, String) {
    let at = e.location().map_or(Pos::default(), |l| Pos {
        line: l.line(),
        column: l.column(),
        bytes: None,
    });
    // The first line of the message is the reason; the rest is a source snippet.
    let msg = e.to_string();
    let reason = match original(e) {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => {
            format!("the key `{k}` is written twice in this mapping: keep one")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            "a key is written twice in this mapping: keep one".to_string()
        }
        serde_saphyr::Error::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Nodes { nodes },
            ..
        } => format!(
            "the file expands to more than {} YAML nodes (aliases repeating anchors?): write it out without nested aliases",
            nodes.saturating_sub(1)
        ),
        serde_saphyr::Error::Budget { breach, .. } => format!(
            "the file is beyond what the YAML reader accepts ({breach:?}): write it out plainly, without nested aliases or deep nesting"
        ),
        _ => msg
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .trim()
            // The report says `error:` itself.
            .trim_start_matches("error: ")
            .to_string(),
    };
    (
        at,
        format!("{reason} (the YAML is read up to this first problem; fix it and check again)"),
    )
}

/// Read and check the actions file at `path` (icons relative to its folder).
pub fn load(path: &Path) -> Result<ActionsFile, Problems> {
    let text = read_text(path)?;
    parse(&text, &path.display().to_string(), path.parent())
}

/// The text of the actions file at `path` (refused over [`MAX_FILE_BYTES`]).
pub fn read_text(path: &Path) -> Result<String, Problems> {
    let source = path.display().to_string();
    let fail = |message: String| Problems(vec![Problem::of_file(&source, message)]);
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))
}

/// The built-in actions (`mark_suspicious`, `writeback_batch`).
pub fn builtin() -> ActionsFile {
    // The unit tests parse this very text: it cannot fail in a build that passed them.
    parse(BUILTIN_YAML, BUILTIN_NAME, None).expect("the built-in actions file is valid")
}

/// The built-in actions' tables (`suspicious_marks`, `suspicious_marks_batch`), described once:
/// by the built-in actions file.
pub fn builtin_tables() -> Vec<std::sync::Arc<crate::sinks::TableDef>> {
    static TABLES: std::sync::LazyLock<Vec<std::sync::Arc<crate::sinks::TableDef>>> =
        std::sync::LazyLock::new(|| {
            builtin()
                .actions
                .iter()
                .map(|a| std::sync::Arc::new(a.table.clone()))
                .collect()
        });
    TABLES.clone()
}

/// One built-in table by name (`sinks::table::MARKS_TABLE`, `BATCH_TABLE`).
pub fn builtin_table(name: &str) -> std::sync::Arc<crate::sinks::TableDef> {
    builtin_tables()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no built-in table {name}"))
}

impl ActionDef {
    /// The definition Looker lists, for a hub at `public_url`. OAuth fields are the caller's
    /// (`oauth::apply_to_definition` for [`model::Identity::Hub`] / `User`).
    pub fn definition(&self, public_url: &str) -> Integration {
        let mut def =
            base_definition_at(public_url, &self.name, &self.label, &self.description, true);
        def.icon_data_uri = self.icon_data_uri.clone();
        def.required_fields = self.required_fields.clone();
        def.params = self.params.clone();
        if self.kind == Kind::Query {
            // Streamed: a one-time download URL, fields before rows.
            crate::actions::streaming_query(&mut def);
        }
        def
    }
}

#[cfg(test)]
mod tests;
