use serde_json::json;

use crate::helpers::TestHub;

#[tokio::test]
async fn list_names_every_action_with_urls_from_the_public_base() {
    let hub = TestHub::spawn().await;
    let list = hub.list().await;
    assert_eq!(list["label"], "Rust Action Hub");
    let ints = list["integrations"].as_array().unwrap();
    let ms = ints
        .iter()
        .find(|i| i["name"] == "mark_suspicious")
        .expect("mark_suspicious listed");
    assert_eq!(ms["label"], "Mark as Suspicious");
    assert_eq!(ms["supported_action_types"], json!(["cell"]));
    assert_eq!(
        ms["required_fields"],
        json!([{"any_tag": ["mark-suspicious"]}])
    );
    assert_eq!(
        ms["url"],
        format!("{}/actions/mark_suspicious/execute", hub.address)
    );
    assert_eq!(
        ms["form_url"],
        format!("{}/actions/mark_suspicious/form", hub.address)
    );
    assert_eq!(ms["uses_oauth"], false);
    assert!(ms["icon_data_uri"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    let p = ms["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "user_email")
        .unwrap();
    assert_eq!(p["user_attribute_name"], "email");
    assert_eq!(p["required"], false);
}

#[tokio::test]
async fn one_definition_and_unknown_actions() {
    let hub = TestHub::spawn().await;
    let r = hub.post("/actions/mark_suspicious", &json!({})).await;
    assert_eq!(r.status(), 200);
    let def: serde_json::Value = r.json().await.unwrap();
    assert_eq!(def["name"], "mark_suspicious");

    for path in [
        "/actions/nope",
        "/actions/nope/form",
        "/actions/nope/execute",
    ] {
        let r = hub.post(path, &json!({})).await;
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = if path.ends_with("/execute") {
            crate::helpers::execute_answer(&r.text().await.unwrap())
        } else {
            r.json().await.unwrap()
        };
        let text = body.to_string();
        assert!(text.contains("unknown action"), "{path}: {text}");
    }
}

#[tokio::test]
async fn healthz_and_health_answer_without_a_token() {
    let hub = TestHub::spawn().await;
    // /healthz for Cloud Run's probes, /health for uptime checks from outside.
    for path in ["/healthz", "/health"] {
        let r = hub
            .client
            .get(format!("{}{path}", hub.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "ok", "{path}");
    }
}

#[tokio::test]
async fn urls_follow_the_public_url_with_or_without_a_path_prefix_and_trailing_slash() {
    for (public_url, base) in [
        ("https://hub.example.com", "https://hub.example.com"),
        ("https://hub.example.com/", "https://hub.example.com"),
        (
            "https://gw.example.com/looker/hub",
            "https://gw.example.com/looker/hub",
        ),
        (
            "https://gw.example.com/looker/hub/",
            "https://gw.example.com/looker/hub",
        ),
    ] {
        let hub = TestHub::spawn_with(
            &[("HUB_PUBLIC_URL", public_url)],
            hub_core::routes::Function::ALL,
        )
        .await;
        let list = hub.list().await;
        let ints = list["integrations"].as_array().unwrap();
        assert!(ints.len() >= 2, "{list}");
        for listed in ints {
            let name = listed["name"].as_str().unwrap();
            let r = hub.post(&format!("/actions/{name}"), &json!({})).await;
            assert_eq!(r.status(), 200, "{public_url} {name}");
            let def: serde_json::Value = r.json().await.unwrap();
            for answer in [listed, &def] {
                assert_eq!(
                    answer["url"],
                    format!("{base}/actions/{name}/execute"),
                    "{public_url}"
                );
                if !answer["form_url"].is_null() {
                    assert_eq!(
                        answer["form_url"],
                        format!("{base}/actions/{name}/form"),
                        "{public_url}"
                    );
                }
            }
        }
        assert_eq!(
            ints.iter()
                .find(|i| i["name"] == "mark_suspicious")
                .unwrap()["form_url"],
            format!("{base}/actions/mark_suspicious/form")
        );
    }
}
