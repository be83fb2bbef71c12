use hub_core::auth::reference_hub_token;
use hub_core::routes::Function;
use serde_json::json;

use crate::helpers::{TestHub, TOKEN};

#[tokio::test]
async fn missing_wrong_and_malformed_tokens_are_403_json() {
    let hub = TestHub::spawn().await;
    let long = format!("Token token=\"{}\"", "a".repeat(100_000));
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Token token=\"wrong\"".into()),
        Some("Bearer abc".into()),
        Some("Token token=".into()),
        Some("Token token=\"abc/zz\"".into()),
        Some("Token token=\"abc/00ff\"".into()),
        Some(format!(
            "Token token=\"{}\"",
            reference_hub_token("not-the-secret", "n1")
        )),
        Some(long),
    ];
    for path in [
        "/",
        "/actions/mark_suspicious",
        "/actions/mark_suspicious/form",
        "/actions/mark_suspicious/execute",
    ] {
        for auth in &cases {
            let r = hub
                .post_with_auth(path, &json!({"data": {"value": "1"}}), auth.as_deref())
                .await;
            let status = r.status().as_u16();
            // A 100 KB header may be cut off by the HTTP layer itself (431); both refuse the call.
            assert!(
                status == 403 || status == 431,
                "{path} {:?}: {status}",
                auth.as_ref().map(|a| &a[..a.len().min(40)])
            );
            if status == 403 {
                let v: serde_json::Value = if path.ends_with("/execute") {
                    crate::helpers::execute_answer(&r.text().await.unwrap())
                } else {
                    r.json().await.unwrap()
                };
                let text = v.to_string();
                assert!(text.contains("token"), "{text}");
                assert!(!text.contains(TOKEN));
            }
        }
    }
    assert!(hub.marks().is_empty());
    // The hub still serves after all that.
    let r = hub.post("/", &json!({})).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn reference_hub_tokens_and_rotation_are_accepted() {
    let hub = TestHub::spawn_with(&[("HUB_TOKENS", "old-secret, new-secret")], Function::ALL).await;
    for auth in [
        "Token token=\"old-secret\"".to_string(),
        "Token token=\"new-secret\"".to_string(),
        format!(
            "Token token=\"{}\"",
            reference_hub_token("new-secret", "5f2b8a")
        ),
    ] {
        let r = hub.post_with_auth("/", &json!({}), Some(&auth)).await;
        assert_eq!(r.status(), 200, "{auth}");
    }
}

#[tokio::test]
async fn behind_a_gateway_the_token_is_read_from_x_forwarded_authorization() {
    let hub = TestHub::spawn_with(&[("HUB_BEHIND_GATEWAY", "true")], Function::ALL).await;
    let url = format!("{}/", hub.address);
    // The gateway's own ID token sits in Authorization; Looker's header was moved.
    let ok = hub
        .client
        .post(&url)
        .header("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.gateway")
        .header(
            "X-Forwarded-Authorization",
            format!("Token token=\"{TOKEN}\""),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let direct = hub.post("/", &json!({})).await;
    assert_eq!(
        direct.status(),
        403,
        "Authorization is not trusted behind a gateway"
    );
}
