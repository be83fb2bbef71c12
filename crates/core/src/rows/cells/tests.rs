use super::*;
use proptest::prelude::*;

fn header() -> ResultHeader {
    ResultHeader {
        ran_at: None,
        fields: serde_json::from_value(serde_json::json!([
            {"name": "a.x"}, {"name": "a.y"}, {"name": "a.z"}
        ]))
        .unwrap(),
        pivots: vec![],
    }
}

const NAMES: [&str; 3] = ["a.x", "a.y", "a.z"];

/// Each field's value text as the general parse reads it (`Err` for a pivoted cell).
fn parsed_values(text: &[u8]) -> Option<Vec<Option<Result<String, ()>>>> {
    let row = RawRow::parse(text).ok()?;
    Some(values(&RowCells::Parsed(row)))
}

fn values(row: &RowCells<'_>) -> Vec<Option<Result<String, ()>>> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            row.cell(i, name)
                .map(|c| c.value().map(str::to_string).ok_or(()))
        })
        .collect()
}

fn is_flat(text: &str) -> bool {
    matches!(
        CellReader::new(&header()).read(text.as_bytes()),
        Ok(RowCells::Flat(_))
    )
}

#[test]
fn a_plain_row_is_read_flat_with_the_values_a_parse_finds() {
    let text = r#"{"a.x":{"value":1,"rendered":"1","links":[{"url":"/x?f[a]=1","type":"drill"}]},"b.w":{"value":[1,{"k":null}]}, "a.z" : "bare é" }"#;
    let reader = CellReader::new(&header());
    let row = reader.read(text.as_bytes()).unwrap();
    assert!(matches!(row, RowCells::Flat(_)));
    assert_eq!(
        values(&row),
        vec![
            Some(Ok("1".to_string())),
            None,
            Some(Ok("\"bare é\"".to_string()))
        ]
    );
    assert_eq!(Some(values(&row)), parsed_values(text.as_bytes()));
}

#[test]
fn rows_that_are_not_plain_are_parsed() {
    for text in [
        // An escape in a string or a key.
        r#"{"a.x":{"value":"say \"hi\""}}"#,
        r#"{"a.\u0078":{"value":1}}"#,
        // A pivoted cell, an empty one.
        r#"{"a.x":{"p1":{"value":1},"p2":{"value":2}}}"#,
        r#"{"a.x":{}}"#,
        // A repeated field, a repeated value.
        r#"{"a.x":{"value":1},"a.x":{"value":2}}"#,
        r#"{"a.x":{"value":1,"value":2}}"#,
    ] {
        assert!(!is_flat(text), "{text}");
        assert!(parsed_values(text.as_bytes()).is_some(), "{text}");
    }
    // A header that repeats a name.
    let mut h = header();
    h.fields[1].name = "a.x".into();
    let reader = CellReader::new(&h);
    assert!(matches!(
        reader.read(br#"{"a.x":{"value":1}}"#),
        Ok(RowCells::Parsed(_))
    ));
}

#[test]
fn text_that_is_not_json_is_refused_as_the_parse_refuses_it() {
    let reader = CellReader::new(&header());
    for text in [
        "",
        "[]",
        r#"{"a.x":{"value":01}}"#,
        r#"{"a.x":{"value":1.}}"#,
        r#"{"a.x":{"value":-}}"#,
        r#"{"a.x":{"value":tru}}"#,
        r#"{"a.x":{"value":1}"#,
        r#"{"a.x":{"value":1}},"#,
        r#"{"a.x":{"value":1},}"#,
        "{\"a.x\":{\"value\":\"tab\there\"}}",
        r#"{"a.x" {"value":1}}"#,
        r#"{"a.x":{"value":[1,]}}"#,
    ] {
        assert!(reader.read(text.as_bytes()).is_err(), "{text}");
    }
    assert!(reader.read(b"{\"a.x\":{\"value\":\"\xff\"}}").is_err());
}

fn value_text() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "1",
        "-0.5e3",
        "0",
        "1E+2",
        "\"a b\"",
        "\"é\"",
        "\"q\\\"x\"",
        "\"\"",
        "true",
        "false",
        "null",
        "[1,{\"a\":2}]",
        "[]",
        "{}",
        "{\"x\":{\"value\":1},\"y\":{\"value\":2}}",
        // Longer than the strings ended byte by byte: plain, with an escape, with a tab.
        "\"a long text of sixty bytes, longer than the short strings..\"",
        "\"a long text of sixty bytes, longer than the short \\\"strings\\\"\"",
        "\"a long text of sixty bytes, longer than the short\tstrings\"",
    ])
}

fn cell_text() -> impl Strategy<Value = String> {
    (0..6usize, value_text()).prop_map(|(form, v)| match form {
        0 => format!(r#"{{"value":{v}}}"#),
        1 => format!(r#"{{"value":{v},"rendered":"r"}}"#),
        2 => format!(r#"{{"rendered":"r", "value" : {v},"links":[{{"url":"/x?a=1"}}]}}"#),
        3 => v.to_string(),
        4 => format!(r#"{{"value":{v},"value":2}}"#),
        _ => format!(r#"{{"rendered":{v}}}"#),
    })
}

fn row_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["a.x", "a.y", "a.z", "b.w", "a.\\u0079"]);
    prop::collection::vec((key, cell_text(), any::<bool>()), 0..5).prop_map(|cells| {
        let parts: Vec<String> = cells
            .iter()
            .map(|(k, c, ws)| {
                if *ws {
                    format!(" \"{k}\" :\n{c} ")
                } else {
                    format!("\"{k}\":{c}")
                }
            })
            .collect();
        format!("{{{}}}", parts.join(","))
    })
}

/// A row, perhaps with one byte removed or one structural byte inserted.
fn damaged_row() -> impl Strategy<Value = Vec<u8>> {
    (
        row_text(),
        0..3usize,
        any::<prop::sample::Index>(),
        prop::sample::select(b"{}[],:\"\\ 0a-.e".to_vec()),
    )
        .prop_map(|(text, damage, at, byte)| {
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len() + 1);
            match damage {
                0 => {}
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whichever way a row is read, it has the cells the general parse gives it, and it is
    /// refused exactly when the parse refuses it.
    #[test]
    fn a_row_read_flat_has_the_cells_of_its_parse(text in damaged_row()) {
        let reader = CellReader::new(&header());
        let parsed = parsed_values(&text);
        match reader.read(&text) {
            Ok(row) => prop_assert_eq!(Some(values(&row)), parsed, "{}", String::from_utf8_lossy(&text)),
            Err(_) => prop_assert!(parsed.is_none(), "{}", String::from_utf8_lossy(&text)),
        }
    }
}

/// A row whose cells are all plain (no escape, no pivot, no repeated field), its fields in any
/// order.
fn plain_row() -> impl Strategy<Value = String> {
    let cell = (0..4usize, value_text())
        .prop_filter("plain", |(form, v)| {
            let escaped = v.contains('\\') || v.contains('\t');
            let pivot = *form == 3 && v.starts_with('{');
            !escaped && !pivot
        })
        .prop_map(|(form, v)| match form {
            0 => format!(r#"{{"value":{v}}}"#),
            1 => format!(r#"{{"value":{v},"rendered":"r"}}"#),
            2 => format!(r#"{{"rendered":"r", "value" : {v},"links":[{{"url":"/x?a=1"}}]}}"#),
            _ => v.to_string(),
        });
    let keys = Just(vec!["a.x", "a.y", "a.z", "b.w"]).prop_shuffle();
    (keys, prop::collection::vec(cell, 4), 0..=4usize).prop_map(|(keys, cells, n)| {
        let parts: Vec<String> = (0..n)
            .map(|i| format!("\"{}\":{}", keys[i], cells[i]))
            .collect();
        format!("{{{}}}", parts.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_plain_row_is_read_in_one_pass(text in plain_row()) {
        prop_assert!(is_flat(&text), "{}", text);
    }
}
