//! A declared table changed after its table exists (issue 15): at start the hub compares the live
//! table with the declaration. A new NULLABLE column is added in place by the embedded store and
//! reported for BigQuery (terraform adds it); a changed type or mode, a new REQUIRED column or a
//! removed / renamed column refuses the start, naming table, column, live and declared and what to
//! write instead (in BigQuery a NULLABLE column no longer declared is left NULL: a rolled-back
//! revision starts).

use std::path::Path;

use hub_core::settings::Settings;
use hub_core::startup::Hub;
use serde_json::json;

use crate::helpers::{read_table, test_vars};

/// One cell action writing `approvals` (order_id INT64, reason STRING).
const V1: &str = r#"version: 1
actions:
  - name: approve
    label: Approve
    kind: cell
    identity: service
    required_fields: [{tag: approve}]
    table: {name: approvals}
    fields:
      - name: order_id
        value: integer
        required: true
        default: {from: value}
      - name: reason
    success_message: "Approved {key}"
"#;

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("actions.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn start(vars: std::collections::HashMap<String, String>) -> Result<Hub, String> {
    Hub::new(Settings::load(&vars, false).unwrap())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_embedded_store_adds_a_new_nullable_column_and_refuses_other_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("wb.sqlite");
    let file = write(dir.path(), V1);
    let vars = |file: &str| test_vars(1, &store, &[("HUB_ACTIONS_FILE", file)]);
    drop(start(vars(&file)).await.unwrap());

    // A new optional field: its NULLABLE column is added; earlier rows read NULL.
    let v2 = V1.replace(
        "      - name: reason\n",
        "      - name: reason\n      - name: note\n        value: integer\n",
    );
    let file = write(dir.path(), &v2);
    let hub = start(vars(&file)).await.unwrap();
    let meta = hub_core::meta::RequestMeta {
        request_id: "req-1".into(),
        ..Default::default()
    };
    let req = serde_json::from_value(
        json!({"type": "cell", "data": {"value": "42"}, "form_params": {"note": "7"}}),
    )
    .unwrap();
    let action = hub.registry.get("approve").unwrap();
    let resp = action
        .execute(&hub.action_context(&meta), req)
        .await
        .unwrap();
    assert!(resp.looker.success, "{:?}", resp.message());
    let rows = read_table(&store, "approvals");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["note"], 7);
    assert_eq!(rows[0]["order_id"], 42);
    drop(hub);

    // A changed type, a new REQUIRED column, a removed (renamed) one: refused, all named.
    let v3 = v2
        .replace(
            "      - name: note\n        value: integer\n",
            "      - name: note\n",
        )
        .replace(
            "      - name: reason\n",
            "      - name: because\n        required: true\n",
        );
    let file = write(dir.path(), &v3);
    let err = start(vars(&file))
        .await
        .err()
        .expect("the start is refused");
    assert_eq!(
        err,
        "write-back store: the embedded store differs from the declaration (nothing was changed):\n\
         table approvals, column note: the table has type INTEGER, the declaration says STRING (stored as TEXT). An insert-only table keeps its columns' types: declare note with its type again, and put values of the new type in a new NULLABLE column (e.g. note_v2)\n\
         table approvals: the declared column because (STRING REQUIRED) is not in the table (reason renamed to because?). An insert-only table evolves by adding NULLABLE columns only (its old rows have no value): declare because with mode: NULLABLE\n\
         table approvals, column reason (TEXT, NULLABLE): the table has it, the declaration no longer does (reason renamed to because?). An insert-only table keeps its columns: declare reason again; to rename it, keep it and add the new name as a NULLABLE column"
    );
    // Nothing was changed by the refused start.
    let v2_again = write(dir.path(), &v2);
    drop(start(vars(&v2_again)).await.unwrap());

    // A file that adds an optional field (fine alone) and a second action whose table is new,
    // refused for something else (identity: user without OAuth): the store is left as it was —
    // no column added, no table created — so the previous file still starts.
    let v4 = v2.replace(
        "      - name: reason\n",
        "      - name: reason\n      - name: zone\n",
    ) + r#"  - name: user_note
    label: Note as me
    kind: cell
    identity: user
    required_fields: [{tag: approve}]
    table: {name: user_notes}
    fields:
      - name: order_id
        required: true
        default: {from: value}
    success_message: "Noted {key}"
"#;
    let file = write(dir.path(), &v4);
    let err = start(vars(&file)).await.err().expect("refused");
    assert!(err.contains("identity: user"), "{err}");
    let c = rusqlite::Connection::open(&store).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'user_notes'"),
        0,
        "the refused start created a table"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM pragma_table_info('approvals') WHERE name = 'zone'"),
        0,
        "the refused start added a column"
    );
    let v2_again = write(dir.path(), &v2);
    drop(start(vars(&v2_again)).await.unwrap());
}

#[tokio::test]
async fn bigquery_reports_a_new_nullable_column_and_refuses_a_changed_one() {
    let emu = crate::stand_ins::Emulator::get().await;
    let dir = tempfile::tempdir().unwrap();
    let dataset = crate::stand_ins::Emulator::dataset_name();
    let store = dir.path().join("wb.sqlite");
    let vars = |file: &str| {
        let mut extra = emu.hub_vars(&dataset, &emu.grpc);
        extra.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
        extra.push(("HUB_ACTIONS_FILE", file));
        test_vars(1, &store, &extra)
    };
    let file = write(dir.path(), V1);
    drop(start(vars(&file)).await.unwrap());

    // A new NULLABLE column: the hub starts (terraform adds it; the log says so).
    let v2 = V1.replace(
        "      - name: reason\n",
        "      - name: reason\n      - name: note\n",
    );
    let file = write(dir.path(), &v2);
    drop(start(vars(&file)).await.unwrap());

    // A revision rolled back to a file without `reason` (a NULLABLE column a later file added):
    // it starts, leaving the column NULL — the deploy, not the start, refuses removing a field.
    let rolled_back = V1.replace("      - name: reason\n", "");
    let file = write(dir.path(), &rolled_back);
    drop(start(vars(&file)).await.unwrap());

    // A changed type: refused, naming the table by its BigQuery path.
    let v3 = V1.replace("        value: integer\n", "        value: text\n");
    let file = write(dir.path(), &v3);
    let err = start(vars(&file))
        .await
        .err()
        .expect("the start is refused");
    assert_eq!(
        err,
        format!(
            "write-back store: BigQuery write-back tables differ from their declaration:\n\
             table projects/{}/datasets/{dataset}/tables/approvals, column order_id: the table has \
             type INT64, the declaration says STRING. An insert-only table keeps its columns' types: \
             declare order_id with its type again, and put values of the new type in a new NULLABLE \
             column (e.g. order_id_v2)",
            emu.project
        )
    );
}

/// The tables the embedded store of the first release created (its `CREATE TABLE` text as it was):
/// `request_id TEXT PRIMARY KEY` carries no `NOT NULL`, so SQLite reports it NULLABLE.
const FIRST_RELEASE_STORE: &str = "
CREATE TABLE suspicious_marks (
    request_id      TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    classification  TEXT NOT NULL,
    comment         TEXT NOT NULL,
    acted_by        TEXT,
    looker_instance TEXT,
    webhook_id      TEXT,
    action          TEXT NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE TABLE suspicious_marks_batch (
    request_id        TEXT NOT NULL,
    row_index         INTEGER NOT NULL,
    key_field         TEXT NOT NULL,
    key_value         TEXT,
    classification    TEXT NOT NULL,
    comment           TEXT NOT NULL,
    acted_by          TEXT,
    scheduled_plan_id TEXT,
    query_id          TEXT,
    row_json          TEXT NOT NULL,
    ran_at            TEXT,
    looker_instance   TEXT,
    webhook_id        TEXT,
    action            TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
INSERT INTO suspicious_marks VALUES
    ('old-1', 'ORD-1', 'fraud', '', NULL, NULL, NULL, 'mark_suspicious', '2026-11-01T10:00:00Z');
";

#[tokio::test]
async fn an_embedded_store_of_the_first_release_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("wb.sqlite");
    rusqlite::Connection::open(&store)
        .unwrap()
        .execute_batch(FIRST_RELEASE_STORE)
        .unwrap();
    let hub = start(test_vars(1, &store, &[]))
        .await
        .expect("a store of the first release starts the hub");
    let meta = hub_core::meta::RequestMeta {
        request_id: "req-new".into(),
        ..Default::default()
    };
    let req = serde_json::from_value(json!({
        "type": "cell",
        "data": {"value": "ORD-2"},
        "form_params": {"classification": "approved"},
    }))
    .unwrap();
    let resp = hub
        .registry
        .get("mark_suspicious")
        .unwrap()
        .execute(&hub.action_context(&meta), req)
        .await
        .unwrap();
    assert!(resp.looker.success, "{:?}", resp.message());
    let rows = read_table(&store, "suspicious_marks");
    assert_eq!(
        rows.iter()
            .map(|r| (
                r["request_id"].as_str().unwrap(),
                r["order_id"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("old-1", "ORD-1"), ("req-new", "ORD-2")]
    );
}
