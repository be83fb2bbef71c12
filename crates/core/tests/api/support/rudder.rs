//! The RudderStack side of the tests: the write key the local data plane (`receiver`) accepts,
//! Looker's execute request for a RudderStack action (pushed or streamed result), the execute
//! call and the reading of its answer, and the checks of the events the data plane received.

use base64::Engine;
use hub_core::routes::Function;
use serde_json::{json, Value};

use crate::helpers::{TestHub, TOKEN};

pub(crate) const WRITE_KEY: &str = "2PDbcSL0wJyKLmyHqG7D2kmDqsf";
pub(crate) const RAN_AT: &str = "2017-07-28T02:25:19+00:00";
pub(crate) const TIMESTAMP: &str = "2017-07-28T02:25:19.000Z";

/// Settings that keep retries fast in tests.
pub(crate) const FAST_RETRIES: &[(&str, &str)] =
    &[("RUDDER_RETRY_BASE_MS", "1"), ("RUDDER_RETRY_MAX_MS", "20")];

pub(crate) async fn hub() -> TestHub {
    TestHub::spawn_with(FAST_RETRIES, Function::ALL).await
}

/// Where the result comes from.
pub(crate) enum Source<'a> {
    /// Pushed, base64 (`application/json;base64`).
    Base64(&'a [u8]),
    /// Pushed, inline JSON text.
    Inline(&'a [u8]),
    /// Streamed from a `download_url`.
    Url(&'a str),
}

pub(crate) fn request(
    plane: &str,
    source: Source<'_>,
    hidden: &[&str],
    event: Option<&str>,
) -> Value {
    let mut body = json!({
        "type": "query",
        "scheduled_plan": {
            "scheduled_plan_id": 77,
            "title": "Users to RudderStack",
            "type": "Look",
            "url": "https://looker.example.com/looks/12",
            "query_id": 991,
            "query": {"model": "thelook", "view": "users", "fields": [],
                      "vis_config": {"hidden_fields": hidden, "type": "looker_grid"}},
        },
        "data": {"rudder_write_key": WRITE_KEY, "rudder_server_url": plane},
        "form_params": {},
    });
    match source {
        Source::Base64(doc) => {
            body["attachment"] = json!({
                "mimetype": "application/json;base64",
                "extension": "json",
                "data": base64::engine::general_purpose::STANDARD.encode(doc),
            })
        }
        Source::Inline(doc) => {
            body["attachment"] = json!({
                "mimetype": "application/json",
                "extension": "json",
                "data": String::from_utf8(doc.to_vec()).unwrap(),
            })
        }
        Source::Url(url) => body["scheduled_plan"]["download_url"] = json!(url),
    }
    if let Some(e) = event {
        body["form_params"]["event"] = json!(e);
    }
    body
}

/// Execute as Looker does, with a given webhook id; status and the raw body text.
pub(crate) async fn execute_raw(
    hub: &TestHub,
    name: &str,
    body: &Value,
    webhook: &str,
) -> (u16, String) {
    execute_on(&hub.client, &hub.address, name, body, webhook).await
}

/// [`execute_raw`] on the hub at `address` (from a task that does not hold the hub).
pub(crate) async fn execute_on(
    client: &reqwest::Client,
    address: &str,
    name: &str,
    body: &Value,
    webhook: &str,
) -> (u16, String) {
    let r = client
        .post(format!("{address}/actions/{name}/execute"))
        .header("User-Agent", "LookerOutgoingWebhook/25.4.12")
        .header("X-Looker-Instance", "looker-test-instance")
        .header("X-Looker-Webhook-Id", webhook)
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(body)
        .send()
        .await
        .expect("execute");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An execute answer, checked as Looker reads it (see `helpers::execute_answer`).
pub(crate) fn parse(text: &str) -> Value {
    crate::helpers::execute_answer(text)
}

/// `(success, message)` of an execute answer.
pub(crate) fn outcome(v: &Value) -> (bool, String) {
    (
        v["looker"]["success"].as_bool().unwrap(),
        v["looker"]["message"].as_str().unwrap_or("").to_string(),
    )
}

pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
            }
        })
}

/// An accepted event without the parts that vary per delivery, after checking them.
pub(crate) fn stable(mut e: Value, sent_at: &str) -> Value {
    let o = e.as_object_mut().unwrap();
    assert!(is_uuid(o["messageId"].as_str().unwrap()), "{o:?}");
    assert_eq!(o.remove("sentAt").unwrap(), sent_at);
    o.remove("messageId");
    e
}

pub(crate) fn context(with_traits: Option<Value>) -> Value {
    let app = json!({"name": hub_core::HUB_NAME, "version": hub_core::HUB_VERSION});
    let mut c = json!({"app": app, "library": app});
    if let Some(t) = with_traits {
        c["traits"] = t;
    }
    c
}

pub(crate) fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}
