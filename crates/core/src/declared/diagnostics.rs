//! Problems of an actions file shown as rustc and cargo show theirs: `error: message`, then
//! `--> file:line:column`, the source line and a caret under what the problem is about. Rendered
//! by `annotate-snippets`, the crate rustc and cargo render with (the layout their users already
//! read, kept up by them).

use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};

use super::Problem;

/// Every problem of one file, rendered; `text` is the file's text (`None`: it could not be read,
/// so no source line is shown).
pub fn render(problems: &[Problem], text: Option<&str>) -> String {
    let renderer = Renderer::plain();
    let mut out = String::new();
    for p in problems {
        let title = Level::ERROR.primary_title(p.message.as_str());
        let group = match (text.and_then(|t| span_of(p, t)), text, p.line) {
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
        };
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
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
