//! `writeback_batch` against the embedded store: the form, pushed / base64 / streamed results,
//! bounded transactions, and every way the input can be wrong.

use serde_json::{json, Value};

use crate::helpers::{read_table, TestHub};
use crate::stand_ins::{batch_from_url, batch_pushed, result_doc, serve_result};
use crate::support::rows::assert_batch_row;

fn batch_rows(hub: &TestHub) -> Vec<Value> {
    read_table(&hub.store_path, "suspicious_marks_batch")
}

#[tokio::test]
async fn it_is_listed_as_a_streaming_query_action_with_the_classification_form() {
    let hub = TestHub::spawn().await;
    let list = hub.list().await;
    let def = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "writeback_batch")
        .expect("listed")
        .clone();
    assert_eq!(def["supported_action_types"], json!(["query"]));
    assert_eq!(def["supported_formats"], json!(["json_detail_lite_stream"]));
    assert_eq!(def["supported_download_settings"], json!(["url"]));
    assert!(def["icon_data_uri"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    let (status, form) = hub
        .form("writeback_batch", &json!({"type": "query", "data": {}}))
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["classification", "comment"]);
}

#[tokio::test]
async fn pushed_plain_and_base64_results_are_written_row_by_row() {
    let hub = TestHub::spawn_with(
        &[("HUB_WRITEBACK_BATCH_ROWS", "7")],
        hub_core::routes::Function::ALL,
    )
    .await;
    for base64 in [false, true] {
        let (status, resp) = hub
            .execute(
                "writeback_batch",
                &batch_pushed(&result_doc(20), base64, "suspicious"),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Wrote 20 rows as Suspicious to the write-back table."
        );
    }
    let rows = batch_rows(&hub);
    assert_eq!(rows.len(), 40);
    let r = &rows[3];
    assert_eq!(r["row_index"], 3);
    assert_batch_row(
        r,
        "1003",
        "Suspicious",
        "batch review",
        "analyst@example.com",
    );
    assert_eq!(r["query_id"], "42");
    assert!(r["scheduled_plan_id"].is_null());
    assert_eq!(r["looker_instance"], "looker-test-instance");
    assert_eq!(r["webhook_id"], "webhook-123");
    let json: Value = serde_json::from_str(r["row_json"].as_str().unwrap()).unwrap();
    assert_eq!(json["users.email"]["value"], "u3@example.com");
    assert_ne!(rows[0]["request_id"], rows[20]["request_id"]);
}

#[tokio::test]
async fn a_number_no_double_holds_rejects_only_its_row_counted_and_named() {
    let hub = TestHub::spawn().await;
    let mut doc = result_doc(4);
    doc["data"][1]["orders.extra"] = json!({"value": "BIG"});
    doc["data"][2]["orders.extra"] = json!({"value": "DIGITS"});
    let mut body = batch_pushed(&doc, false, "suspicious");
    // Valid JSON numbers that no double holds, in a field no column maps (only row_json holds it).
    let text = body["attachment"]["data"]
        .as_str()
        .unwrap()
        .replace("\"BIG\"", "1e999999")
        .replace("\"DIGITS\"", &"9".repeat(10_000));
    body["attachment"]["data"] = json!(text);
    let (status, resp) = hub.execute("writeback_batch", &body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "Wrote 2 rows as Suspicious to the write-back table. 2 rows rejected and not written (first: row 1: row_json: expected JSON, got JSON with the number 1e999999, beyond a 64-bit float)."
    );
    let rows = batch_rows(&hub);
    let indexes: Vec<&Value> = rows.iter().map(|r| &r["row_index"]).collect();
    assert_eq!(indexes, [&json!(0), &json!(3)]);
}

#[tokio::test]
async fn a_streamed_result_is_written_and_counted() {
    let hub = TestHub::spawn().await;
    let url = serve_result(5_000, None).await;
    let (_, resp) = hub
        .execute("writeback_batch", &batch_from_url(&url, "Approved", "ok"))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(resp["looker"]["refresh_query"], true);
    assert_eq!(
        resp["looker"]["message"],
        "Wrote 5000 rows as Approved to the write-back table."
    );
    let rows = batch_rows(&hub);
    assert_eq!(rows.len(), 5_000);
    assert_eq!(rows[4_999]["key_value"], "5999");
    assert_eq!(rows[0]["scheduled_plan_id"], "77");
}

#[tokio::test]
async fn a_cut_download_keeps_the_written_chunks_and_says_so() {
    let hub = TestHub::spawn_with(
        &[("HUB_WRITEBACK_BATCH_ROWS", "100")],
        hub_core::routes::Function::ALL,
    )
    .await;
    let url = serve_result(1_000, Some(350)).await;
    let (_, resp) = hub
        .execute("writeback_batch", &batch_from_url(&url, "Approved", ""))
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    let written = batch_rows(&hub).len();
    assert!((300..=350).contains(&written), "{written}");
    let msg = resp["looker"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "Wrote {written} rows as Approved, but the query result download was cut off"
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn without_a_tagged_field_the_first_dimension_identifies_rows() {
    let hub = TestHub::spawn().await;
    let mut doc = result_doc(2);
    doc["fields"]["dimensions"][1]["tags"] = json!([]);
    let (_, resp) = hub
        .execute("writeback_batch", &batch_pushed(&doc, false, "Approved"))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let rows = batch_rows(&hub);
    assert_eq!(rows[1]["key_field"], "orders.created");
    assert_eq!(rows[1]["key_value"], "2026-01-02");
}

#[tokio::test]
async fn bad_inputs_are_answered_and_nothing_is_written() {
    let hub = TestHub::spawn().await;
    let mut invalid = batch_pushed(&result_doc(3), false, "Fraud");
    let (_, resp) = hub.execute("writeback_batch", &invalid).await;
    assert_eq!(resp["looker"]["success"], false);
    assert!(
        resp["looker"]["validation_errors"]["classification"].is_string(),
        "{resp}"
    );

    invalid["form_params"]["classification"] = json!("Approved");
    invalid["attachment"]["data"] = json!("{\"fields\": {\"dimensions\": []}, \"data\": [1, 2");
    let (_, resp) = hub.execute("writeback_batch", &invalid).await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Nothing was written"),
        "{resp}"
    );

    let no_result =
        json!({"type": "query", "data": {}, "form_params": {"classification": "Approved"}});
    let (_, resp) = hub.execute("writeback_batch", &no_result).await;
    assert_eq!(resp["looker"]["success"], false);
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("No query result"),
        "{resp}"
    );

    let (_, resp) = hub
        .execute(
            "writeback_batch",
            &batch_pushed(&result_doc(0), false, "Approved"),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        "The query returned no rows; nothing was written."
    );

    let mut cell = batch_pushed(&result_doc(1), false, "Approved");
    cell["type"] = json!("cell");
    let (status, _) = hub.execute("writeback_batch", &cell).await;
    assert_eq!(status, 400);
    assert!(batch_rows(&hub).is_empty());
}
