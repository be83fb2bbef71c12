//! The streamed result header over arbitrary bytes: the bytes are the `fields` value of a
//! json_detail document (and, split off, its `ran_at`), followed by rows. The reader never panics;
//! what it keeps is within its bounds (`MAX_FIELDS`, `MAX_FIELD_KEPT`, `MAX_FIELDS_KEPT`); it
//! agrees with serde reading the same `fields` whole — the same fields when valid and within the
//! bounds, `OverLimit` when over them, an error when invalid — and the rows after a header it
//! accepted are all handed out.
#![no_main]

use bytes::Bytes;
use hub_core::rows::{
    kept_bytes, FieldMeta, RowSource, RowsError, MAX_FIELDS, MAX_FIELDS_KEPT, MAX_FIELD_KEPT,
};
use libfuzzer_sys::fuzz_target;

/// The `fields` object as serde reads it whole (as the reader did before it read field by field).
#[derive(serde::Deserialize)]
struct Whole {
    #[serde(default)]
    dimensions: Option<Vec<FieldMeta>>,
    #[serde(default)]
    measures: Option<Vec<FieldMeta>>,
    #[serde(default)]
    table_calculations: Option<Vec<FieldMeta>>,
    #[serde(default)]
    pivots: Option<Vec<FieldMeta>>,
}

const ROWS: &str = r#"{"a.b":{"value":1}},{"a.b":{"value":"x"}}"#;

fuzz_target!(|data: &[u8]| {
    // Bytes up to the first NUL are `ran_at` (most inputs have none: `null`).
    let (ran_at, fields) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"null"[..], data),
    };
    let mut doc = b"{\"ran_at\":".to_vec();
    doc.extend_from_slice(ran_at);
    doc.extend_from_slice(b",\"fields\":");
    doc.extend_from_slice(fields);
    doc.extend_from_slice(format!(",\"data\":[{ROWS}]}}").as_bytes());
    let got = hub_fuzz::drain(RowSource::Bytes(Bytes::from(doc)));

    if let Some(h) = &got.header {
        let all: Vec<&FieldMeta> = h.fields.iter().chain(&h.pivots).collect();
        assert!(all.len() <= MAX_FIELDS);
        assert!(all.iter().all(|f| kept_bytes(f) <= MAX_FIELD_KEPT));
        assert!(all.iter().map(|f| kept_bytes(f)).sum::<usize>() <= MAX_FIELDS_KEPT);
        assert!(h.ran_at.as_ref().map_or(0, String::len) <= 1 << 10);
    }
    // Bytes that hold a value and more shape the rest of the document themselves: no verdict.
    let (Some(ran_at_one), Some(fields_one)) = (single_value(ran_at), single_value(fields)) else {
        return;
    };
    let ran_at_ok = ran_at_one && serde_json::from_slice::<Option<String>>(ran_at).is_ok();
    // `null` fields: no fields. serde's whole reading is the oracle; a duplicate list has no
    // verdict (serde refuses it as a duplicate field, the reader as given twice: both refuse).
    let whole = match serde_json::from_slice::<Option<Whole>>(fields) {
        // serde also reads a struct from an array; `fields` is an object or null.
        Ok(w) if fields_one && fields.trim_ascii_start().first() != Some(&b'[') => {
            Some(w.map(|w| {
                [w.dimensions, w.measures, w.table_calculations, w.pivots]
                    .map(Option::unwrap_or_default)
            }))
        }
        _ => None,
    };
    match (whole, ran_at_ok) {
        (Some(lists), true) => {
            let lists = lists.unwrap_or_default();
            let want: Vec<&FieldMeta> = lists.iter().flatten().collect();
            if hub_fuzz::fields_over_bounds(want.iter().copied()) {
                assert!(
                    matches!(got.error, Some(RowsError::OverLimit(_))),
                    "a header over the bounds: {:?}",
                    got.error
                );
                return;
            }
            if let Some(RowsError::OverLimit(why)) = &got.error {
                // Only `ran_at` can be near its bound here (its escapes count as text).
                assert!(ran_at.len() > 1 << 10, "refused as over a bound: {why}");
                return;
            }
            assert!(got.error.is_none(), "valid header refused: {:?}", got.error);
            let h = got.header.as_ref().expect("header");
            let summary =
                |f: &FieldMeta| format!("{} {:?} {:?} {}", f.name, f.label, f.tags, f.hidden);
            let have: Vec<String> = h.fields.iter().chain(&h.pivots).map(summary).collect();
            let want: Vec<String> = want.into_iter().map(summary).collect();
            assert_eq!(have, want);
            assert_eq!(got.rows.len(), 2);
        }
        // Invalid `fields` or `ran_at`: refused (the header is parsed strictly).
        _ => assert!(got.error.is_some(), "an invalid header was accepted"),
    }
});

/// Whether `bytes` are one JSON value (and whitespace); `None` when they are a value followed by
/// more.
fn single_value(bytes: &[u8]) -> Option<bool> {
    let mut values =
        serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => bytes[values.byte_offset()..]
            .trim_ascii()
            .is_empty()
            .then_some(true),
        _ => Some(false),
    }
}
