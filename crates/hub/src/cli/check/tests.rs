//! `hub check-actions`: its report and exit codes.

use super::check_actions;

/// The declared tests' small valid file: one cell action writing table `approvals`.
const GOOD: &str = include_str!("../../../../core/src/declared/fixtures/approve.yaml");

#[test]
fn check_actions_command_lists_problems_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, GOOD.replace("Approved {key}", "{nope} {nada}")).unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, GOOD).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = vec![good.display().to_string(), bad.display().to_string()];
    assert_eq!(check_actions(&args, &mut out, &mut err), 1);
    let out = String::from_utf8(out).unwrap();
    let err = String::from_utf8(err).unwrap();
    assert!(out.contains("good.yaml: ok, 1 action(s)"), "{out}");
    assert!(
        out.contains("approve (cell) -> table approvals (7 columns)"),
        "{out}"
    );
    let at = format!("--> {}:11:22\n", bad.display());
    let help = "   = help: use one of {key}, {id}\n";
    for placeholder in ["nope", "nada"] {
        let title = format!(
            "error: success_message uses {{{placeholder}}}, which this action does not have\n  {at}"
        );
        let start = err.find(&title).unwrap_or_else(|| panic!("{err}"));
        let shown = &err[start..];
        let end = shown.find("\n\n").unwrap_or(shown.len());
        assert!(shown[..end + 1].ends_with(help), "{err}");
    }
    assert!(err.contains("bad.yaml: 2 problem(s)"), "{err}");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        check_actions(&[good.display().to_string()], &mut out, &mut err),
        0
    );
    assert_eq!(check_actions(&[], &mut out, &mut err), 2);
}

/// `hub check-actions` shows every problem of a file at once, shape and semantic together, each
/// as rustc shows its errors: the message, `--> file:line:column`, the source line and a caret
/// under what it is about. The action with a shape problem is read no further (no false
/// follow-on); the other one is checked in full.
#[test]
fn check_actions_shows_every_problem_with_its_line_column_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("five.yaml");
    std::fs::write(
        &path,
        r#"version: 1
actions:
  - name: approve
    label: Approve
    kind: cel
    table: {name: approvals}
    fields:
      - {name: id, requird: true}
    success_message: "Approved {key}"
  - name: Reorder
    label: Reorder
    kind: query
    table: {name: reorders}
    fields:
      - {name: qty, value: integer, min: 10, max: 5}
    success_message: "Placed {nope}"
"#,
    )
    .unwrap();
    let file = path.display().to_string();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        check_actions(std::slice::from_ref(&file), &mut out, &mut err),
        1
    );
    let err = String::from_utf8(err).unwrap().replace(&file, "five.yaml");
    assert_eq!(err, FIVE_PROBLEMS);
}

const FIVE_PROBLEMS: &str = r#"error: kind: `cel` is not a valid value
 --> five.yaml:5:11
  |
5 |     kind: cel
  |           ^^^
  |
  = help: did you mean `cell`?

error: unknown key `requird` in a field
 --> five.yaml:8:20
  |
8 |       - {name: id, requird: true}
  |                    ^^^^^^^
  |
  = help: did you mean `required`?

error: action name "Reorder" must be lowercase letters, digits and underscores, start with a letter, at most 64 characters (it is part of the URL Looker calls)
  --> five.yaml:10:11
   |
10 |   - name: Reorder
   |           ^^^^^^^
   |
   = help: write `name: reorder`

error: field "qty": `max` (5) is below `min` (10)
  --> five.yaml:15:51
   |
15 |       - {name: qty, value: integer, min: 10, max: 5}
   |                                                   ^

error: success_message uses {nope}, which this action does not have
  --> five.yaml:16:22
   |
16 |     success_message: "Placed {nope}"
   |                      ^^^^^^^^^^^^^^^
   |
   = help: use one of {count}, {rows}, {qty}

five.yaml: 5 problem(s)
"#;

/// A problem with advice shows it as rustc shows its help: below the snippet, `= help: ...`;
/// the message above says only what is wrong. (The hub's start-up refusal keeps the one-line
/// form, `message: help`.)
#[test]
fn check_actions_shows_advice_as_a_help_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.yaml");
    std::fs::write(
        &path,
        r#"actions:
  - name: approve
    label: Approve
    kind: cell
    required_fields: [{tag: approve}]
    table: {name: approvals}
    params:
      - {name: region, label: Region}
      - {name: region, label: Region}
    fields:
      - {name: id, required: true, default: {from: value}}
    success_message: "Approved {key}"
"#,
    )
    .unwrap();
    let file = path.display().to_string();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        check_actions(std::slice::from_ref(&file), &mut out, &mut err),
        1
    );
    let err = String::from_utf8(err).unwrap().replace(&file, "dup.yaml");
    assert_eq!(
        err,
        r#"error: duplicate param "region"
 --> dup.yaml:9:16
  |
9 |       - {name: region, label: Region}
  |                ^^^^^^
  |
  = help: give each param its own name

dup.yaml: 1 problem(s)
"#
    );
}
