//! Declared actions (`HUB_ACTIONS_FILE`) through the real hub against the embedded store: the
//! example file's actions listed, executed and read back with typed columns; a bad file or a
//! `user` identity without OAuth refuses the start with every problem listed.

use std::path::{Path, PathBuf};

use hub_core::settings::Settings;
use hub_core::startup::Hub;
use serde_json::json;

use crate::helpers::{read_table, test_vars, TestHub};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/actions")
}

/// The example file with `flag_for_review` writing as the hub (a hub without OAuth serves it),
/// next to its icon.
pub(crate) fn service_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("retail.yaml")).unwrap();
    assert!(text.contains("identity: user"));
    std::fs::create_dir_all(dir.join("icons")).unwrap();
    std::fs::copy(
        examples().join("icons/reorder.svg"),
        dir.join("icons/reorder.svg"),
    )
    .unwrap();
    let path = dir.join("retail.yaml");
    std::fs::write(&path, text.replace("identity: user", "identity: service")).unwrap();
    path
}

#[tokio::test]
async fn values_beyond_a_columns_range_are_refused_or_reject_only_their_row() {
    let dir = tempfile::tempdir().unwrap();
    let file = service_copy(dir.path());
    let hub = TestHub::spawn_with(
        &[("HUB_ACTIONS_FILE", file.to_str().unwrap())],
        hub_core::routes::Function::ALL,
    )
    .await;
    // DATE starts at 0001-01-01: a form date before it is the field's error, nothing written.
    let (status, resp) = hub
        .execute(
            "approve_discount",
            &json!({"type": "cell", "data": {"value": "42"},
                    "form_params": {"discount_pct": "7", "reason": "loyalty", "valid_until": "0000-01-01"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        resp["looker"]["validation_errors"],
        json!({"valid_until": "must be a date from 0001-01-01 to 9999-12-31"}),
        "{resp}"
    );
    assert!(read_table(&hub.store_path, "discount_approvals").is_empty());

    // A number that does not fit its INT64 column, or that no double holds (row_json), rejects
    // its row alone.
    let row = |id: &str, extra: &str| {
        format!(
            r#"{{"products.id":{{"value":{id}}},"products.name":{{"value":"P"}},"inventory.stock":{{"value":1}},"products.extra":{{"value":{extra}}}}}"#
        )
    };
    let doc = format!(
        r#"{{"fields":{{"dimensions":[{{"name":"products.id","tags":["product-id"]}},{{"name":"products.name"}},{{"name":"products.extra"}}],"measures":[{{"name":"inventory.stock"}}]}},"data":[{}]}}"#,
        [
            row("1", "0"),
            row("1e999999", "0"),
            row("3", "1e999999"),
            row(&"9".repeat(10_000), "0"),
            row("5", "0"),
        ]
        .join(",")
    );
    let (status, resp) = hub
        .execute(
            "reorder_stock",
            &json!({
                "type": "query",
                "attachment": {"mimetype": "application/json", "extension": "json", "data": doc},
                "form_params": {"quantity": "5", "deliver_by": "2026-12-24"}
            }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "Reorder of 5 each placed for 2 rows, delivery by 2026-12-24. 3 rows rejected and not written (first: row 1: products.id → product_id: expected INT64, got the number 1e999999: out of INT64's range)."
    );
    let rows = read_table(&hub.store_path, "stock_reorders");
    let ids: Vec<&serde_json::Value> = rows.iter().map(|r| &r["product_id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(5)]);
}

async fn start_error(file: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let vars = test_vars(
        1,
        &dir.path().join("wb.sqlite"),
        &[("HUB_ACTIONS_FILE", file.to_str().unwrap())],
    );
    let err = match Hub::new(Settings::load(&vars, false).unwrap()).await {
        Ok(_) => panic!("the hub started with {}", file.display()),
        Err(e) => e.to_string(),
    };
    // A refused configuration never half-starts: the store was not even created.
    assert!(
        !dir.path().join("wb.sqlite").exists(),
        "the refused start created the store: {err}"
    );
    err
}

#[tokio::test]
async fn the_example_file_is_served_and_written_with_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let file = service_copy(dir.path());
    let hub = TestHub::spawn_with(
        &[("HUB_ACTIONS_FILE", file.to_str().unwrap())],
        hub_core::routes::Function::ALL,
    )
    .await;
    let list = hub.list().await;
    let names: Vec<&str> = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "approve_discount",
            "reorder_stock",
            "flag_for_review",
            "rudder_event",
            "rudder_group",
            "rudder_track"
        ]
    );

    let (_, form) = hub
        .form(
            "approve_discount",
            &json!({"type": "cell", "data": {"value": "42"}}),
        )
        .await;
    assert_eq!(form["fields"][0]["name"], "order_id");
    assert_eq!(form["fields"][0]["default"], "42");

    let (status, resp) = hub
        .execute(
            "approve_discount",
            &json!({"type": "cell", "data": {"value": "42", "user_email": "m@example.com"},
                    "form_params": {"discount_pct": "7.25", "reason": "price_match"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        resp["looker"]["message"], "Discount of 7.25 % approved for order 42.",
        "{resp}"
    );
    let rows = read_table(&hub.store_path, "discount_approvals");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], 42);
    assert_eq!(rows[0]["discount_pct"], "7.25");
    assert_eq!(rows[0]["reason"], "price_match");
    assert!(rows[0]["valid_until"].is_null());
    assert_eq!(rows[0]["acted_by"], "m@example.com");
    assert_eq!(rows[0]["looker_instance"], "looker-test-instance");

    let (status, resp) = hub
        .execute(
            "flag_for_review",
            &json!({"type": "cell", "data": {"value": "42", "user_email": "r@example.com"},
                    "form_params": {"ticket": "ops-1"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        resp["looker"]["validation_errors"],
        json!({"ticket": "must look like OPS-1234"})
    );
    assert!(read_table(&hub.store_path, "review_flags").is_empty());

    let doc = json!({
        "ran_at": "2026-11-23T10:00:00+00:00",
        "fields": {
            "dimensions": [
                {"name": "products.id", "label": "ID", "tags": ["product-id"]},
                {"name": "products.name", "label": "Name", "tags": []}
            ],
            "measures": [{"name": "inventory.stock", "label": "Stock", "tags": []}],
            "table_calculations": [], "pivots": []
        },
        "data": (0..50).map(|i| json!({
            "products.id": {"value": 100 + i},
            "products.name": {"value": format!("P{i}")},
            "inventory.stock": {"value": i % 3}
        })).collect::<Vec<_>>()
    });
    let (status, resp) = hub
        .execute(
            "reorder_stock",
            &json!({
                "type": "query",
                "scheduled_plan": {"query_id": 9},
                "attachment": {"mimetype": "application/json", "extension": "json", "data": doc.to_string()},
                "data": {"user_email": "buyer@example.com"},
                "form_params": {"quantity": "5", "deliver_by": "2026-12-24"}
            }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        "Reorder of 5 each placed for 50 rows, delivery by 2026-12-24."
    );
    let rows = read_table(&hub.store_path, "stock_reorders");
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[49]["row_index"], 49);
    assert_eq!(rows[49]["product_id"], 149);
    assert_eq!(rows[49]["stock_level"], 1);
    assert_eq!(rows[49]["product_name"], "P49");
    assert_eq!(rows[49]["key_value"], "149");
    assert_eq!(rows[49]["quantity"], 5);
    assert_eq!(rows[49]["urgent"], 0);
    assert_eq!(rows[49]["deliver_by"], "2026-12-24");
    assert_eq!(rows[49]["query_id"], "9");
}

#[tokio::test]
async fn a_bad_file_or_a_user_identity_without_oauth_refuses_the_start() {
    let err = start_error(&examples().join("retail.yaml")).await;
    assert!(
        err.contains(
            "HUB_ACTIONS_FILE: action flag_for_review declares identity: user, which needs"
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    // Two such actions: the plural; and the refused start created no table.
    let two = dir.path().join("two.yaml");
    // (The deployable copy: its icons are inlined, so it needs no folder next to it.)
    let text = std::fs::read_to_string(examples().join("retail/actions.yaml"))
        .unwrap()
        .replacen("identity: service", "identity: user", 1);
    std::fs::write(&two, text).unwrap();
    let err = start_error(&two).await;
    assert!(
        err.contains("HUB_ACTIONS_FILE: actions approve_discount, flag_for_review declare identity: user, which needs"),
        "{err}"
    );

    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(examples().join("retail.yaml"))
        .unwrap()
        .replace("name: reorder_stock", "name: approve_discount")
        .replace("pattern: \"[A-Z]+-[0-9]+\"", "pattern: \"[A-Z\"");
    std::fs::write(&bad, text).unwrap();
    let err = start_error(&bad).await;
    assert!(
        err.starts_with(&format!("HUB_ACTIONS_FILE {}: ", bad.display())),
        "{err}"
    );
    assert!(err.contains("problems:"), "{err}");
    assert!(err.contains("approve_discount"), "{err}");
    assert!(err.contains("pattern"), "{err}");

    let err = start_error(&dir.path().join("missing.yaml")).await;
    assert!(err.contains("missing.yaml"), "{err}");
}

#[tokio::test]
async fn the_example_file_writes_typed_columns_to_bigquery() {
    let emu = crate::stand_ins::Emulator::get().await;
    let dir = tempfile::tempdir().unwrap();
    let file = service_copy(dir.path());
    let dataset = crate::stand_ins::Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    vars.push(("HUB_ACTIONS_FILE", file.to_str().unwrap()));
    let hub = TestHub::spawn_with(&vars, hub_core::routes::Function::ALL).await;

    let (_, resp) = hub
        .execute(
            "approve_discount",
            &json!({"type": "cell", "data": {"value": "42", "user_email": "m@example.com"},
                    "form_params": {"discount_pct": "7.25", "reason": "loyalty", "valid_until": "2026-12-31"}}),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let doc = json!({
        "fields": {
            "dimensions": [{"name": "products.id", "label": "ID", "tags": ["product-id"]}],
            "measures": [{"name": "inventory.stock", "label": "Stock", "tags": []}],
            "table_calculations": [], "pivots": []
        },
        "data": [
            {"products.id": {"value": 7}, "inventory.stock": {"value": 3}},
            {"products.id": {"value": 8}, "inventory.stock": {"value": "lots"}}
        ]
    });
    let (_, resp) = hub
        .execute(
            "reorder_stock",
            &json!({
                "type": "query",
                "attachment": {"mimetype": "application/json", "extension": "json", "data": doc.to_string()},
                "form_params": {"quantity": "5", "deliver_by": "2026-12-24", "urgent": "yes"}
            }),
        )
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        "Reorder of 5 each placed for 1 row, delivery by 2026-12-24. The result has no field products.name, so column product_name is empty. 1 row rejected and not written (first: row 1: inventory.stock → stock_level: expected INT64, got text \"lots\")."
    );

    let p = &emu.project;
    let rows = emu
        .query(&format!(
            "SELECT order_id, discount_pct, reason, valid_until, acted_by FROM `{p}.{dataset}.discount_approvals` \
             WHERE order_id = 42 AND discount_pct = 7.25 AND valid_until = DATE '2026-12-31'"
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["reason"], "loyalty");
    assert_eq!(rows[0]["acted_by"], "m@example.com");
    let rows = emu
        .query(&format!(
            "SELECT product_id, stock_level, quantity, urgent, deliver_by FROM `{p}.{dataset}.stock_reorders` \
             WHERE product_id = 7 AND stock_level = 3 AND quantity = 5 AND urgent AND deliver_by = DATE '2026-12-24'"
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let all = emu
        .query(&format!(
            "SELECT COUNT(*) AS n FROM `{p}.{dataset}.stock_reorders`"
        ))
        .await;
    assert_eq!(all[0]["n"].to_string().trim_matches('"'), "1", "{all:?}");
}

#[tokio::test]
async fn declared_result_columns_take_exact_numbers_and_name_what_the_result_cannot_fill() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mapped.yaml");
    std::fs::write(
        &file,
        r#"version: 1
actions:
  - name: mapped
    label: Mapped
    kind: query
    identity: service
    table: {name: mapped_rows}
    result_columns:
      - {field: orders.id, column: order_id, type: INT64, required: true}
      - {field: orders.amount, column: amount, type: NUMERIC}
      - {field: inventory.count, column: cnt, type: INT64}
      - {field: orders.discount, column: discount, type: NUMERIC}
    success_message: "Wrote {count} {rows}."
"#,
    )
    .unwrap();
    let hub = TestHub::spawn_with(
        &[("HUB_ACTIONS_FILE", file.to_str().unwrap())],
        hub_core::routes::Function::ALL,
    )
    .await;
    // The result document as Looker writes it, numbers as written (not through a float).
    let execute = |dimension: &str, measures: &str, pivots: &str, rows: &str| {
        let doc = format!(
            r#"{{"fields": {{"dimensions": [{{"name": "{dimension}"}}], "measures": {measures}, "table_calculations": [], "pivots": {pivots}}}, "data": {rows}}}"#
        );
        let body = json!({
            "type": "query",
            "attachment": {"mimetype": "application/json", "extension": "json", "data": doc},
        });
        let hub = &hub;
        async move { hub.execute("mapped", &body).await.1 }
    };

    // Exponent notation converts exactly; orders.discount is not in the result: named.
    let resp = execute(
        "orders.id",
        r#"[{"name": "orders.amount"}, {"name": "inventory.count"}]"#,
        "[]",
        r#"[{"orders.id": {"value": 1E2}, "orders.amount": {"value": -1e-09}, "inventory.count": {"value": 3}},
            {"orders.id": {"value": 2}, "orders.amount": {"value": 0.30000000000000004}, "inventory.count": {"value": 4}}]"#,
    )
    .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "Wrote 1 row. The result has no field orders.discount, so column discount is empty. 1 row rejected and not written (first: row 1: orders.amount → amount: expected NUMERIC, got the number 0.30000000000000004: more than 9 digits after the decimal point)."
    );
    let rows = read_table(&hub.store_path, "mapped_rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], 100);
    assert_eq!(rows[0]["amount"], "-0.000000001");
    assert_eq!(rows[0]["cnt"], 3);
    assert!(rows[0]["discount"].is_null());

    // A pivoted measure: nothing written.
    let resp = execute(
        "orders.id",
        r#"[{"name": "orders.amount"}, {"name": "inventory.count"}, {"name": "orders.discount"}]"#,
        r#"[{"name": "inventory.year"}]"#,
        r#"[{"orders.id": {"value": 3}, "orders.amount": {"value": 1}, "orders.discount": {"value": 0},
             "inventory.count": {"2024": {"value": 3}, "2025": {"value": 4}}}]"#,
    )
    .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        "Nothing was written: orders.amount, inventory.count, orders.discount are pivoted (a value per pivot column); map fields that are not pivoted, or remove the pivot."
    );

    // The required column's field is missing: nothing written.
    let resp = execute(
        "orders.code",
        r#"[{"name": "orders.amount"}]"#,
        "[]",
        r#"[{"orders.code": {"value": 3}, "orders.amount": {"value": 1}}]"#,
    )
    .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        "Nothing was written: the result has no field orders.id (column order_id is required)."
    );
    assert_eq!(read_table(&hub.store_path, "mapped_rows").len(), 1);
}
