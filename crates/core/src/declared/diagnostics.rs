//! The problems of an actions file ([`Problem`], all of one file: [`Diagnostics`]), shown two
//! ways: one line each (`file:line:column: message: help`, the hub's start-up refusal), or as
//! rustc and cargo show theirs (`error: message`, `--> file:line:column`, the source line, a
//! caret under what the problem is about, `= help: ...`). The second is rendered by
//! `annotate-snippets`, the crate rustc and cargo render with (the layout their users already
//! read, kept up by them).

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

pub use super::report::Joint;
use super::report::Says;
use super::syntax::Pos;

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
    /// What is wrong.
    pub message: String,
    /// What to write instead, when there is advice.
    pub help: Option<String>,
    /// How the help follows the message on one line.
    pub joint: Joint,
}

impl Problem {
    /// A problem of the whole file (no place in it).
    pub fn of_file(file: &str, message: String) -> Problem {
        Problem::at(file, Pos::default(), message)
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
            help: None,
            joint: Joint::Colon,
        }
    }

    /// The problem a check says at `at`.
    pub(crate) fn says(file: &str, at: Pos, says: Says) -> Problem {
        Problem {
            help: says.help,
            joint: says.joint,
            ..Problem::at(file, at, says.message)
        }
    }

    /// The message and its help as one text, as the one-line form shows them.
    pub fn text(&self) -> String {
        match &self.help {
            Some(h) => format!("{}{}{h}", self.message, self.joint.text()),
            None => self.message.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.text()),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.text()),
            _ => write!(f, "{}: {}", self.file, self.text()),
        }
    }
}

/// Every problem of one actions file, with the file's text (when it could be read) to show
/// their lines. `Display` is one line per problem; [`Diagnostics::render`] is rustc's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct Diagnostics {
    /// The problems, in line order.
    pub problems: Vec<Problem>,
    /// The file's text (`None`: it could not be read).
    pub text: Option<String>,
}

impl Diagnostics {
    /// One problem of a file whose text could not be read.
    pub fn unread(problem: Problem) -> Diagnostics {
        Diagnostics {
            problems: vec![problem],
            text: None,
        }
    }

    /// Every problem, rendered as rustc renders its errors.
    pub fn render(&self) -> String {
        render(&self.problems, self.text.as_deref())
    }
}

/// Every problem of one file, rendered; `text` is the file's text (`None`: it could not be read,
/// so no source line is shown).
fn render(problems: &[Problem], text: Option<&str>) -> String {
    let renderer = Renderer::plain();
    let mut out = String::new();
    for p in problems {
        let group = with_help(located(p, text), p);
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
}

/// The problem's title and where it is: its source line with a caret, or its file and line.
fn located<'a>(p: &'a Problem, text: Option<&'a str>) -> Group<'a> {
    let title = Level::ERROR.primary_title(p.message.as_str());
    match (text.and_then(|t| span_of(p, t)), text, p.line) {
        (Some(span), Some(text), _) => title.element(
            Snippet::source(text)
                .path(p.file.as_str())
                .annotation(AnnotationKind::Primary.span(span)),
        ),
        (_, _, Some(line)) => title.element(
            Origin::path(p.file.as_str())
                .line(line as usize)
                .char_column(p.column.unwrap_or(1).saturating_sub(1) as usize),
        ),
        _ => title.element(Origin::path(p.file.as_str())),
    }
}

/// The group with the problem's help below it (`= help: ...`), when it has one.
fn with_help<'a>(group: Group<'a>, p: &'a Problem) -> Group<'a> {
    match &p.help {
        Some(h) => group.element(Level::HELP.message(h.as_str())),
        None => group,
    }
}

/// The bytes of `text` the problem is about: its span, or the word at its line and column; at
/// least one character, so that a caret shows.
fn span_of(p: &Problem, text: &str) -> Option<std::ops::Range<usize>> {
    let start = match &p.span {
        Some(s) if text.get(s.clone()).is_some() && !s.is_empty() => return Some(s.clone()),
        Some(s) => s.start,
        None => {
            let line = text.split_inclusive('\n').nth(p.line? as usize - 1)?;
            let line_start = line.as_ptr() as usize - text.as_ptr() as usize;
            let column = p.column.unwrap_or(1).saturating_sub(1) as usize;
            line_start
                + line
                    .char_indices()
                    .nth(column)
                    .map_or(line.len(), |(i, _)| i)
        }
    };
    let rest = text.get(start..)?;
    let word = rest
        .find(|c: char| c.is_whitespace() || ",]}".contains(c))
        .unwrap_or(rest.len());
    let len = if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    };
    Some(start..start + len)
}
