//! Tables and columns named after SQLite and GoogleSQL keywords: what `hub check-actions` accepts,
//! the embedded store and BigQuery accept too — written through the real hub and read back.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{read_table, TestHub};

/// A cell action writing table `table` and a query action writing table `values`, with columns
/// named after keywords of SQLite (`index`, `primary`, `check`, `values`, `table`) and of
/// GoogleSQL (`order`, `select`, `group`, `from`, `where`, `limit`).
const KEYWORDS: &str = r#"
version: 1
actions:
  - name: keyword_cell
    label: Keyword cell
    kind: cell
    required_fields: [{tag: keyword-key}]
    table: {name: table}
    fields:
      - {name: order, required: true, default: {from: value}}
      - {name: index, value: integer}
      - {name: primary}
      - {name: check, value: boolean}
      - {name: select}
    success_message: "Saved {key}."
  - name: keyword_query
    label: Keyword query
    kind: query
    key_tag: keyword-key
    table: {name: values}
    fields:
      - {name: group}
    result_columns:
      - {field: t.from, column: from, type: INT64}
      - {field: t.where, column: where, type: STRING}
      - {field: t.values, column: values, type: STRING}
      - {field: t.limit, column: limit, type: NUMERIC}
    success_message: "Saved {count} {rows}."
"#;

fn keyword_file(dir: &Path) -> String {
    let path = dir.join("keywords.yaml");
    std::fs::write(&path, KEYWORDS).unwrap();
    path.display().to_string()
}

/// The file passes the checks of `hub check-actions` (the library's load).
fn assert_checked(file: &str) {
    let loaded = hub_core::declared::load(Path::new(file)).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(loaded.actions.len(), 2);
}

fn cell_body() -> Value {
    json!({"type": "cell", "data": {"value": "A-1"},
           "form_params": {"index": "7", "primary": "p", "check": "yes", "select": "s"}})
}

fn query_body() -> Value {
    let doc = json!({
        "fields": {
            "dimensions": [
                {"name": "t.from", "tags": ["keyword-key"]},
                {"name": "t.where"}, {"name": "t.values"}, {"name": "t.limit"}
            ],
            "measures": [], "table_calculations": [], "pivots": []
        },
        "data": [
            {"t.from": {"value": 1}, "t.where": {"value": "w1"}, "t.values": {"value": "v1"}, "t.limit": {"value": 1.5}},
            {"t.from": {"value": 2}, "t.where": {"value": "w2"}, "t.values": {"value": "v2"}, "t.limit": {"value": 2}}
        ]
    });
    json!({
        "type": "query",
        "attachment": {"mimetype": "application/json", "extension": "json", "data": doc.to_string()},
        "form_params": {"group": "g"}
    })
}

/// Runs both actions on `hub`: both answer success.
async fn run_both(hub: &TestHub) {
    let (status, resp) = hub.execute("keyword_cell", &cell_body()).await;
    assert_eq!(
        (status, &resp["looker"]["success"]),
        (200, &json!(true)),
        "{resp}"
    );
    assert_eq!(resp["looker"]["message"], "Saved A-1.");
    let (status, resp) = hub.execute("keyword_query", &query_body()).await;
    assert_eq!(
        (status, &resp["looker"]["success"]),
        (200, &json!(true)),
        "{resp}"
    );
    assert_eq!(resp["looker"]["message"], "Saved 2 rows.");
}

#[tokio::test]
async fn keyword_names_are_written_to_and_read_back_from_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = keyword_file(dir.path());
    assert_checked(&file);
    let hub = TestHub::spawn_with(
        &[("HUB_ACTIONS_FILE", file.as_str())],
        hub_core::routes::Function::ALL,
    )
    .await;
    run_both(&hub).await;

    let cells = read_table(&hub.store_path, "table");
    assert_eq!(cells.len(), 1, "{cells:?}");
    let c = &cells[0];
    assert_eq!(
        [
            &c["order"],
            &c["index"],
            &c["primary"],
            &c["check"],
            &c["select"]
        ],
        [
            &json!("A-1"),
            &json!(7),
            &json!("p"),
            &json!(1),
            &json!("s")
        ],
        "{c}"
    );
    let rows = read_table(&hub.store_path, "values");
    let got: Vec<Value> = rows
        .iter()
        .map(|r| json!([r["from"], r["where"], r["values"], r["limit"], r["group"]]))
        .collect();
    assert_eq!(
        got,
        [
            json!([1, "w1", "v1", "1.5", "g"]),
            json!([2, "w2", "v2", "2", "g"])
        ]
    );
}

#[tokio::test]
async fn keyword_names_are_written_to_and_read_back_from_bigquery() {
    let emu = crate::stand_ins::Emulator::get().await;
    let dir = tempfile::tempdir().unwrap();
    let file = keyword_file(dir.path());
    assert_checked(&file);
    let dataset = crate::stand_ins::Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    vars.push(("HUB_ACTIONS_FILE", file.as_str()));
    let hub = TestHub::spawn_with(&vars, hub_core::routes::Function::ALL).await;
    run_both(&hub).await;

    let p = &emu.project;
    let cells = emu
        .query(&format!(
            "SELECT `order`, `index`, `primary`, `check`, `select` FROM `{p}.{dataset}.table`"
        ))
        .await;
    assert_eq!(cells.len(), 1, "{cells:?}");
    let c = Value::Object(cells[0].clone());
    assert_eq!(c["order"], "A-1", "{c}");
    assert_eq!(c["primary"], "p", "{c}");
    assert_eq!(c["select"], "s", "{c}");
    let rows = emu
        .query(&format!(
            "SELECT `from`, `where`, `values`, `group` FROM `{p}.{dataset}.values` ORDER BY `from`"
        ))
        .await;
    let got: Vec<Value> = rows
        .iter()
        .map(|r| json!([r["where"], r["values"], r["group"]]))
        .collect();
    assert_eq!(got, [json!(["w1", "v1", "g"]), json!(["w2", "v2", "g"])]);

    // The generated LookML's SQL runs over these tables as Looker would run it: every dimension
    // of the log view (`${TABLE}` is the view's alias) and the current-state derived table, whose
    // window partitions by the key column `order`.
    let file = hub_core::declared::source::parse(KEYWORDS, "keywords.yaml", None).unwrap();
    let cell = &file.actions[0];
    let lookml = hub_core::declared::emit::lookml_view(cell, "keywords.yaml");
    let dims: Vec<String> = lookml
        .split("\nview:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("sql: "))
        .filter_map(|l| l.strip_suffix(" ;;"))
        .map(|sql| sql.replace("${TABLE}", "log"))
        .collect();
    assert!(dims.contains(&"log.`order`".to_string()), "{dims:?}");
    let cols = emu
        .query(&format!(
            "SELECT {} FROM `{p}.{dataset}.table` AS log",
            dims.join(", ")
        ))
        .await;
    assert_eq!(cols.len(), 1, "{cols:?}");
    let derived = lookml
        .split("sql:\n")
        .nth(1)
        .and_then(|rest| rest.split(" ;;").next())
        .unwrap()
        .replace("@{writeback_dataset}", &format!("{p}.{dataset}"));
    let latest = emu.query(&derived).await;
    assert_eq!(latest.len(), 1, "{derived}: {latest:?}");
    assert_eq!(latest[0]["order"], "A-1", "{latest:?}");
}
