//! The text of an actions file: read from disk within [`MAX_FILE_BYTES`], and compiled once
//! (its syntax read, every action checked) into a [`Catalog`] or its [`Diagnostics`]. A text the
//! YAML reader stops at is named here in words.

use std::path::Path;

use super::diagnostics::{Diagnostics, Problem};
use super::syntax::{self, Pos};
use super::{check, Catalog};

/// Largest actions file read (a file of hundreds of actions is a few hundred KB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The text of the actions file at `path` (refused over [`MAX_FILE_BYTES`]).
pub fn read(path: &Path) -> Result<String, Diagnostics> {
    let source = path.display().to_string();
    let fail = |message: String| Diagnostics::unread(Problem::of_file(&source, message));
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))
}

/// Compile an actions file's text. `source` names it in problems; icon paths are read relative
/// to `base_dir` (none: only inline SVG and data URIs).
pub fn parse(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Catalog, Diagnostics> {
    let diagnostics = |problems: Vec<Problem>| Diagnostics {
        problems,
        text: Some(text.to_string()),
    };
    if text.len() as u64 > MAX_FILE_BYTES {
        let message = format!(
            "the file is {} bytes; the limit is {MAX_FILE_BYTES}",
            text.len()
        );
        return Err(diagnostics(vec![Problem::of_file(source, message)]));
    }
    // One read of the text: every shape problem of the file, and the actions whose shape is
    // sound, checked for every other problem (an action with a shape problem is not, so that
    // none of its problems is a false follow-on).
    let read = syntax::read(text).map_err(|e| {
        let (at, message) = yaml_problem(&e);
        diagnostics(vec![Problem::at(source, at, message)])
    })?;
    let actions = check::build(read, source, base_dir).map_err(diagnostics)?;
    Ok(Catalog {
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
