//! Structure-aware: valid json_detail documents of any shape (fields before or after data, unknown
//! keys, pivoted cells, nested values, odd keys and strings, pretty or compact, pushed or base64)
//! are read by the streaming reader into exactly their header and rows.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use bytes::Bytes;
use hub_core::rows::RowSource;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<V>),
    Obj(Vec<(String, V)>),
}

impl V {
    fn to_json(&self, depth: u32) -> Value {
        if depth > 24 {
            return Value::Null;
        }
        match self {
            V::Null => Value::Null,
            V::Bool(b) => json!(b),
            V::Int(i) => json!(i),
            V::UInt(u) => json!(u),
            V::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            V::Str(s) => json!(s),
            V::Arr(a) => a.iter().map(|v| v.to_json(depth + 1)).collect(),
            V::Obj(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.to_json(depth + 1)))
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Field {
    name: String,
    label: Option<String>,
    tags: Vec<String>,
    hidden: bool,
}

#[derive(Arbitrary, Debug)]
enum Cell {
    Plain(V),
    Rendered(V, String),
    Pivoted(Vec<(String, V)>),
    Raw(V),
}

#[derive(Arbitrary, Debug)]
struct Doc {
    ran_at: Option<String>,
    dimensions: Vec<Field>,
    measures: Vec<Field>,
    table_calculations: Vec<Field>,
    pivots: Vec<Field>,
    rows: Vec<Vec<(String, Cell)>>,
    extra: Vec<(String, V)>,
    data_first: bool,
    pretty: bool,
    base64: bool,
}

fn fields(list: &[Field]) -> Value {
    list.iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("name".into(), json!(f.name));
            if let Some(l) = &f.label {
                o.insert("label".into(), json!(l));
            }
            o.insert("tags".into(), json!(f.tags));
            o.insert("hidden".into(), json!(f.hidden));
            Value::Object(o)
        })
        .collect()
}

fn cell(c: &Cell) -> Value {
    match c {
        Cell::Plain(v) => json!({"value": v.to_json(0)}),
        Cell::Rendered(v, r) => json!({"value": v.to_json(0), "rendered": r, "links": []}),
        Cell::Pivoted(p) => Value::Object(
            p.iter()
                .map(|(k, v)| (k.clone(), json!({"value": v.to_json(0)})))
                .collect(),
        ),
        Cell::Raw(v) => v.to_json(0),
    }
}

fuzz_target!(|doc: Doc| {
    let mut top: Vec<(String, Value)> = vec![];
    // Unknown keys go first; a known name among them would be a duplicate key, not this test.
    for (k, v) in doc.extra.iter().take(4) {
        if !["ran_at", "fields", "data"].contains(&k.as_str()) {
            top.push((k.clone(), v.to_json(0)));
        }
    }
    top.push(("ran_at".into(), json!(doc.ran_at)));
    let f = json!({
        "dimensions": fields(&doc.dimensions),
        "measures": fields(&doc.measures),
        "table_calculations": fields(&doc.table_calculations),
        "pivots": fields(&doc.pivots),
    });
    let data: Value = doc
        .rows
        .iter()
        .map(|r| Value::Object(r.iter().map(|(k, c)| (k.clone(), cell(c))).collect()))
        .collect();
    if doc.data_first {
        top.push(("data".into(), data));
        top.push(("fields".into(), f));
    } else {
        top.push(("fields".into(), f));
        top.push(("data".into(), data));
    }
    let top = Value::Object(top.into_iter().collect());
    let text = if doc.pretty {
        serde_json::to_vec_pretty(&top).unwrap()
    } else {
        serde_json::to_vec(&top).unwrap()
    };
    let source = if doc.base64 {
        RowSource::Base64(Bytes::from(
            base64::engine::general_purpose::STANDARD.encode(&text),
        ))
    } else {
        RowSource::Bytes(Bytes::from(text.clone()))
    };
    let raw = hub_fuzz::drain_raw(match &source {
        RowSource::Bytes(b) => RowSource::Bytes(b.clone()),
        RowSource::Base64(b) => RowSource::Base64(b.clone()),
        RowSource::Url { .. } => unreachable!(),
    });
    hub_fuzz::check_against_reference(&text, &raw);
    let got = hub_fuzz::drain(source);
    let want = match hub_fuzz::reference(&text) {
        Ok(r) => r,
        Err(_) => panic!("the generated document is valid"),
    };
    if want.over_bounds || want.ran_at_near_bound {
        // Valid but over (or near) the header's bounds: refused as such, checked by the oracle.
        hub_fuzz::check_against_reference(&text, &got);
        return;
    }
    assert!(
        got.error.is_none(),
        "valid document refused: {:?}",
        got.error
    );
    assert_eq!(got.rows.len(), doc.rows.len());
    hub_fuzz::check_against_reference(&text, &got);
    assert_eq!(want.rows.len(), doc.rows.len());
});
