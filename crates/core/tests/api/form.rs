use serde_json::json;

use crate::helpers::TestHub;

#[tokio::test]
async fn form_has_the_clicked_id_classification_and_comment() {
    let hub = TestHub::spawn().await;
    let (status, form) = hub
        .form(
            "mark_suspicious",
            &json!({"type": "cell", "data": {"value": "ORD-1001"}, "form_params": {}}),
        )
        .await;
    assert_eq!(status, 200);
    let fields = form["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "classification", "comment"]);
    assert_eq!(fields[0]["type"], "string");
    assert_eq!(fields[0]["default"], "ORD-1001");
    assert_eq!(fields[0]["interactive"], false);
    assert_eq!(fields[1]["type"], "select");
    assert_eq!(fields[1]["default"], "Suspicious");
    let options: Vec<&str> = fields[1]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["Approved", "Suspicious", "Further Investigation"]);
    assert_eq!(fields[2]["type"], "textarea");
}

#[tokio::test]
async fn numeric_clicked_values_become_the_default_id() {
    let hub = TestHub::spawn().await;
    let (_, form) = hub
        .form("mark_suspicious", &json!({"data": {"value": 42}}))
        .await;
    assert_eq!(form["fields"][0]["default"], "42");
}

#[tokio::test]
async fn malformed_form_body_is_a_400_json_error() {
    let hub = TestHub::spawn().await;
    let r = hub
        .post_raw("/actions/mark_suspicious/form", b"{\"data\": ".to_vec())
        .await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("malformed JSON"),
        "{v}"
    );
}

#[tokio::test]
async fn a_form_request_with_null_data_and_form_params_gets_the_empty_form() {
    let hub = TestHub::spawn().await;
    let (status, form) = hub
        .form(
            "mark_suspicious",
            &json!({"type": "cell", "data": null, "form_params": null}),
        )
        .await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(form["fields"][0]["name"], "id");
    assert!(form["fields"][0].get("default").is_none(), "{form}");
}
