use serde_json::json;

use crate::helpers::TestHub;
use crate::support::rows::assert_mark_row;

/// A `mark_suspicious` execute body for a clicked `id` (a string or a number in `data`; the form
/// sends its text, as Looker sends every answer).
pub fn cell(id: serde_json::Value, classification: &str, comment: &str) -> serde_json::Value {
    let id_text = id.as_str().map_or_else(|| id.to_string(), str::to_string);
    json!({
        "type": "cell",
        "data": {"value": id, "user_email": "analyst@example.com"},
        "form_params": {"id": id_text, "classification": classification, "comment": comment}
    })
}

#[tokio::test]
async fn a_form_value_of_the_wrong_shape_is_refused_by_name_and_nothing_is_written() {
    let hub = TestHub::spawn().await;
    for (form, field, message) in [
        (
            json!({"id": "ORD-1", "classification": ["Approved"]}),
            "classification",
            "must be text, not a list",
        ),
        (
            json!({"id": ["ORD-2"], "classification": "Approved"}),
            "id",
            "must be text, not a list",
        ),
        (
            json!({"id": "ORD-1", "classification": "Approved", "comment": {"why": "x"}}),
            "comment",
            "must be text, not an object",
        ),
        (
            json!({"id": 7, "classification": "Approved"}),
            "id",
            "must be text, not a JSON number",
        ),
    ] {
        let body = json!({"type": "cell", "data": {"value": "ORD-1"}, "form_params": form});
        let (status, resp) = hub.execute("mark_suspicious", &body).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(resp["looker"]["validation_errors"], json!({field: message}));
    }
    assert!(hub.marks().is_empty());
}

#[tokio::test]
async fn execute_appends_exactly_one_row_and_asks_for_a_refresh() {
    let hub = TestHub::spawn().await;
    let (status, resp) = hub
        .execute(
            "mark_suspicious",
            &cell(json!("ORD-7"), "Further Investigation", " card mismatch "),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(resp["looker"]["refresh_query"], true);
    assert!(resp["looker"]["message"]
        .as_str()
        .unwrap()
        .contains("ORD-7"));
    let rows = hub.marks();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_mark_row(
        r,
        "ORD-7",
        "Further Investigation",
        "card mismatch",
        "analyst@example.com",
    );
    assert!(r["received_at"].as_str().unwrap().ends_with('Z'));

    let (_, resp) = hub
        .execute("mark_suspicious", &cell(json!(8), "approved", ""))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let rows = hub.marks();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["order_id"], "8");
    assert_eq!(rows[1]["classification"], "Approved");
    assert_ne!(rows[0]["request_id"], rows[1]["request_id"]);
}

#[tokio::test]
async fn invalid_values_are_validation_errors_and_nothing_is_written() {
    let hub = TestHub::spawn().await;
    let long = "x".repeat(2001);
    for (body, field) in [
        (cell(json!("ORD-1"), "Fraud", ""), "classification"),
        (cell(json!(""), "Approved", ""), "id"),
        (
            json!({"type": "cell", "data": {}, "form_params": {"classification": "Approved"}}),
            "id",
        ),
        (cell(json!("ORD-1"), "Approved", &long), "comment"),
    ] {
        let (status, resp) = hub.execute("mark_suspicious", &body).await;
        assert_eq!(status, 200);
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert!(
            resp["looker"]["validation_errors"][field].is_string(),
            "{field}: {resp}"
        );
    }
    assert!(hub.marks().is_empty());
}

#[tokio::test]
async fn unsupported_action_type_is_a_400() {
    let hub = TestHub::spawn().await;
    let mut body = cell(json!("ORD-1"), "Approved", "");
    body["type"] = json!("query");
    let (status, resp) = hub.execute("mark_suspicious", &body).await;
    assert_eq!(status, 400);
    assert_eq!(resp["looker"]["success"], false);
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("does not support query"),
        "{resp}"
    );
    let mut body = cell(json!("ORD-1"), "Approved", "");
    body["type"] = json!("pigeon");
    let (status, _) = hub.execute("mark_suspicious", &body).await;
    assert_eq!(status, 400);
    assert!(hub.marks().is_empty());
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let hub = TestHub::spawn_with(
        &[("HUB_MAX_BODY_BYTES", "1024")],
        hub_core::routes::Function::ALL,
    )
    .await;
    let r = hub
        .post_raw("/actions/mark_suspicious/execute", b"{not json".to_vec())
        .await;
    assert_eq!(r.status(), 400);
    let v = crate::helpers::execute_answer(&r.text().await.unwrap());
    assert_eq!(v["looker"]["success"], false);
    assert!(
        v["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{v}"
    );

    let big = serde_json::to_vec(&cell(json!("ORD-1"), "Approved", &"y".repeat(4000))).unwrap();
    let r = hub.post_raw("/actions/mark_suspicious/execute", big).await;
    assert_eq!(r.status(), 413);
    let v = crate::helpers::execute_answer(&r.text().await.unwrap());
    assert_eq!(v["looker"]["success"], false);
    // What to change, in the message Looker shows (and keeps in the schedule history).
    assert_eq!(
        v["looker"]["message"],
        "The request Looker sent is larger than this action hub accepts (1 024 bytes, \
         HUB_MAX_BODY_BYTES); nothing was done. Query results this large must be streamed: the \
         hub's query actions ask for a download URL (\"url\" download setting), so a Looker admin \
         should refresh the action hub in Admin → Actions to pick up the current definition; \
         HUB_MAX_BODY_BYTES can only be raised where no API gateway (32 MB limit) sits in front \
         of the hub."
    );
    assert!(hub.marks().is_empty());
}

#[tokio::test]
async fn nulls_where_a_value_can_be_empty_are_read_as_empty() {
    // Looker and proxies that re-serialize its bodies may write `null` for an empty object or list.
    let hub = TestHub::spawn().await;
    let body = json!({
        "type": "cell",
        "data": {"value": "ORD-9"},
        "form_params": {"id": "ORD-9", "classification": "Approved", "comment": null},
        "attachment": null,
        "scheduled_plan": {"scheduled_plan_id": null, "title": null, "query": {
            "fields": null, "filters": null, "vis_config": {"hidden_fields": null}}}
    });
    let (status, resp) = hub.execute("mark_suspicious", &body).await;
    assert_eq!(
        (status, &resp["looker"]["success"]),
        (200, &json!(true)),
        "{resp}"
    );
    assert_eq!(hub.marks().len(), 1);

    // No form values at all: the id is missing, reported on the form, nothing written.
    let body = json!({"type": "cell", "data": null, "form_params": null});
    let (status, resp) = hub.execute("mark_suspicious", &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        resp["looker"]["validation_errors"]["id"].is_string(),
        "{resp}"
    );
    assert_eq!(hub.marks().len(), 1);
}
