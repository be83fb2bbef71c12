//! The walker and the tree reader against serde-saphyr's typed read and the file's words.

use super::*;

use super::tree::{parse, read_as, Node};
use super::walk::{closest, edit_distance, wrong_value};

/// The shape problems of a YAML text, as `line: message`.
fn shape_lines(text: &str) -> Vec<String> {
    read(text)
        .unwrap()
        .problems
        .into_iter()
        .map(|(at, m)| format!("{}: {m}", at.line))
        .collect()
}

#[test]
fn every_missing_key_is_listed() {
    let text = "actions:
  - name: a
    kind: cell
    table: {description: no name}
    fields:
      - label: no name
  - label: B
    kind: query
    table: {name: b}
    result_columns:
      - {field: x.y, column: y}
    success_message: m
";
    let got = shape_lines(text);
    assert_eq!(
        got,
        [
            "2: an action has no `label`: it is required",
            "2: an action has no `success_message`: it is required",
            "4: table has no `name`: it is required",
            "6: a field has no `name`: it is required",
            "7: an action has no `name`: it is required",
            "11: a result column has no `type`: it is required",
        ]
    );
}

/// The walker and the typed read of the tree read scalars as a YAML reader's typed read
/// does: what the walker refuses as a boolean, a count, a number or a list, serde-saphyr's
/// typed read refuses too (so no file it reads is refused), and what the walker lets through,
/// it reads (hex / octal aside).
#[test]
fn value_checks_agree_with_the_typed_read() {
    #[derive(Deserialize)]
    struct B {
        #[allow(dead_code)]
        v: Option<bool>,
    }
    #[derive(Deserialize)]
    struct C {
        #[allow(dead_code)]
        v: Option<u32>,
    }
    #[derive(Deserialize)]
    struct N {
        #[allow(dead_code)]
        v: Option<f64>,
    }
    #[derive(Deserialize)]
    struct L {
        #[allow(dead_code)]
        v: Option<Vec<String>>,
    }
    let samples = [
        "true",
        "false",
        "yes",
        "no",
        "True",
        "TRUE",
        "on",
        "off",
        "y",
        "\"true\"",
        "'false'",
        "1",
        "0",
        "-1",
        "1.5",
        "1e3",
        "\"3\"",
        "'7'",
        "0x10",
        "0o7",
        "4294967295",
        "4294967296",
        ".inf",
        "-.inf",
        ".nan",
        "abc",
        "~",
        "null",
        "[a]",
        "{a: 1}",
        "[]",
        "''",
    ];
    for sample in samples {
        let text = format!("v: {sample}\n");
        let tree = parse(&text).unwrap();
        let Node::Map(entries) = &tree.value else {
            panic!("{text}")
        };
        let node = read_as(&entries[0].1.value);
        // `.inf` / `.nan` are text to the tree: refused as numbers (the hub has no use for
        // an infinite bound).
        if sample.contains(".inf") || sample.contains(".nan") {
            assert!(wrong_value(node, Expect::Number).is_some(), "{sample}");
            continue;
        }
        for (want, reads) in [
            (Expect::Bool, serde_saphyr::from_str::<B>(&text).is_ok()),
            (Expect::Count, serde_saphyr::from_str::<C>(&text).is_ok()),
            (Expect::Number, serde_saphyr::from_str::<N>(&text).is_ok()),
            (Expect::List, serde_saphyr::from_str::<L>(&text).is_ok()),
        ] {
            let passes = wrong_value(node, want).is_none();
            // Never refuse what the hub reads; and agree exactly, but for hex / octal
            // numbers (YAML reads `0x10` as 16; serde refuses it for a float, so the typed
            // read names that one later).
            assert!(passes || !reads, "{want:?} of `{sample}` ({node:?})");
            // The typed read of the tree takes what the walker lets through.
            let read_back = match want {
                Expect::Bool => tree::read::<B>(&tree).is_ok(),
                Expect::Count => tree::read::<C>(&tree).is_ok(),
                Expect::Number => tree::read::<N>(&tree).is_ok(),
                _ => tree::read::<L>(&tree).is_ok(),
            };
            assert_eq!(
                passes, read_back,
                "{want:?} of `{sample}` read from the tree"
            );
            if !sample.starts_with("0x") && !sample.starts_with("0o") {
                assert_eq!(passes, reads, "{want:?} of `{sample}` ({node:?})");
            }
        }
    }
}

#[test]
fn every_value_of_the_wrong_kind_is_listed_at_once() {
    let text = "version: one
actions:
  - name: a
    label: [A]
    kind: cell
    refresh_query: maybe
    required_fields: {tag: t}
    table: orders
    fields:
      - name: f
        required: \"sure\"
        min_length: -1
        max_length: 1.5
        min: ten
        options: Approved
        column: {description: [x]}
    success_message: m
";
    let got = shape_lines(text);
    assert_eq!(
            got,
            [
                "1: `version` in the file: a whole number from 0 to 4294967295 is expected here, not the text `one`",
                "4: `label` in an action: text (a single value) is expected here, not a list",
                "6: `refresh_query` in an action: true or false is expected here, not the text `maybe`",
                "7: `required_fields` in an action: a list (items starting with `- `, or `[a, b]`) is expected here, not a map",
                "8: `table` in an action: a map (`key: value` lines indented under it) is expected here, not the text `orders`",
                "11: `required` in a field: true or false is expected here, not the text `sure`",
                "12: `min_length` in a field: a whole number from 0 to 4294967295 is expected here, not `-1`",
                "13: `max_length` in a field: a whole number from 0 to 4294967295 is expected here, not `1.5`",
                "14: `min` in a field: a number is expected here, not the text `ten`",
                "15: `options` in a field: a list (items starting with `- `, or `[a, b]`) is expected here, not the text `Approved`",
                "16: `description` in column: text (a single value) is expected here, not a list",
            ]
        );
}

#[test]
fn closest_words() {
    assert_eq!(closest("lable", &["name", "label", "table"]), Some("label"));
    assert_eq!(closest("INT46", &["INT64", "STRING"]), Some("INT64"));
    assert_eq!(
        closest("nullable", &["NULLABLE", "REQUIRED"]),
        Some("NULLABLE")
    );
    assert_eq!(closest("zzz", &["name", "label"]), None);
    assert_eq!(edit_distance("abc", "abc"), 0);
    assert_eq!(edit_distance("ab", "ba"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
}
