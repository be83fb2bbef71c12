//! RudderStack Identify / Group / Track against a real local data plane (`receiver`) and a real
//! local `download_url` server (`download`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_core::routes::Function;
use serde_json::{json, Value};

use crate::download::{self, DownloadServer, Serve};
use crate::helpers::{looker_headers, TestHub, TOKEN};
use crate::receiver::{Faults, Keep, Outcome, Receiver};
use crate::support::rudder::{
    context, execute_raw, hub, is_uuid, keys, outcome, parse, request, stable, Source,
    FAST_RETRIES, RAN_AT, TIMESTAMP, WRITE_KEY,
};

#[tokio::test]
async fn definitions_match_rudderstacks_integration() {
    let hub = hub().await;
    let list = hub.list().await;
    let by_name: HashMap<String, Value> = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), i.clone()))
        .collect();
    for (name, label) in [
        ("rudder_event", "Rudder Identify"),
        ("rudder_group", "Rudder Group"),
        ("rudder_track", "Rudder Track"),
    ] {
        let d = &by_name[name];
        assert_eq!(d["label"], label);
        assert_eq!(d["supported_action_types"], json!(["query"]));
        assert_eq!(d["supported_formats"], json!(["json_detail_lite_stream"]));
        assert_eq!(d["supported_formattings"], json!(["unformatted"]));
        assert_eq!(d["supported_visualization_formattings"], json!(["noapply"]));
        assert_eq!(d["supported_download_settings"], json!(["url"]));
        assert_eq!(
            d["url"],
            format!("{}/actions/{name}/execute", hub.address).as_str()
        );
        assert!(d["icon_data_uri"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,"));
        let params = d["params"].as_array().unwrap();
        assert_eq!(params.len(), 2);
        assert_eq!(params[0]["name"], "rudder_write_key");
        assert_eq!(params[0]["required"], true);
        assert_eq!(params[0]["sensitive"], true);
        assert_eq!(params[1]["name"], "rudder_server_url");
        assert_eq!(params[1]["required"], true);
        assert_eq!(params[1]["sensitive"], false);
        if name == "rudder_group" {
            assert_eq!(d["required_fields"], json!([{"tag": "rudder_group_id"}]));
        } else {
            assert_eq!(
                d["required_fields"],
                json!([{"any_tag": ["email", "user_id", "rudder_anonymous_id"]}])
            );
        }
        // Each has a form (Looker requests the form only when form_url is set): naming, and with
        // named sources the source.
        assert_eq!(
            d["form_url"],
            format!("{}/actions/{name}/form", hub.address).as_str()
        );
    }
}

#[tokio::test]
async fn track_form_asks_for_the_event_and_reports_bad_settings() {
    let hub = hub().await;
    let ok = json!({"type": "query", "data": {"rudder_write_key": WRITE_KEY, "rudder_server_url": "https://dp.example.com"}});
    let (status, form) = hub.form("rudder_track", &ok).await;
    assert_eq!(status, 200);
    assert_eq!(form["fields"][0]["name"], "event");
    assert_eq!(form["fields"][0]["type"], "string");
    assert_eq!(form["fields"][0]["required"], true);
    assert_eq!(form["fields"][1]["name"], "naming");
    assert_eq!(form["fields"].as_array().unwrap().len(), 2);
    assert!(form.get("error").is_none());

    for (data, expected) in [
        (
            json!({"rudder_server_url": "https://dp.example.com"}),
            "write key is not set",
        ),
        (
            json!({"rudder_write_key": WRITE_KEY}),
            "data plane URL is not set",
        ),
        (
            json!({"rudder_write_key": WRITE_KEY, "rudder_server_url": "ftp://dp.example.com"}),
            "must start with http:// or https://",
        ),
        (
            json!({"rudder_write_key": WRITE_KEY, "rudder_server_url": "dp.example.com"}),
            "not a valid URL",
        ),
    ] {
        let (status, form) = hub
            .form("rudder_track", &json!({"type": "query", "data": data}))
            .await;
        assert_eq!(status, 200);
        let err = form["error"].as_str().unwrap();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains(WRITE_KEY));
    }
}

fn identify_doc() -> Vec<u8> {
    download::json_detail(
        RAN_AT,
        r#"[{"name":"users.id","tags":["user_id"]},{"name":"users.email","tags":["email"]},
            {"name":"users.name","tags":[]},{"name":"users.age"},{"name":"users.vip"},
            {"name":"users.note"},{"name":"users.city"},{"name":"users.secret"}]"#,
        r#"[{"name":"orders.count","tags":[]}]"#,
        [
            r#"{"users.id":{"value":42},"users.email":{"value":"ana@example.com"},"users.name":{"value":"Ana","rendered":"ANA","links":[]},
                "users.age":{"value":0},"users.vip":{"value":false},"users.note":{"value":""},"users.city":{"value":null},
                "users.secret":{"value":"hide-me"},"orders.count":{"2024-01":{"value":3,"links":[]},"2024-02":{"value":0}}}"#,
            r#"{"users.id":{"value":null},"users.email":{"value":"bo@example.com"},"users.name":{"value":"Bo"},
                "users.age":{"value":31.5},"users.vip":{"value":true},"users.note":{"value":"ok"},"users.city":{"value":"Köln \"Süd\""},
                "users.secret":{"value":"x"},"orders.count":{"2024-01":{"value":null},"2024-02":{"value":1}}}"#,
            r#"{"users.id":{"value":"u-3"},"users.email":{"value":null},"users.name":{"value":"Cy"},
                "users.age":{"value":-1},"users.vip":{"value":false},"users.note":{"value":""},"users.city":{"value":null},
                "users.secret":{"value":"y"},"orders.count":{"2024-01":{"value":0},"2024-02":{"value":0}}}"#,
        ]
        .into_iter()
        .map(String::from),
    )
}

#[tokio::test]
async fn identify_sends_exact_events_keeping_json_types() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Bodies).await;
    let doc = identify_doc();
    let body = request(&plane.url, Source::Base64(&doc), &["users.secret"], None);
    let (status, text) = execute_raw(&hub, "rudder_event", &body, "webhook-1").await;
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    assert!(ok, "{message}");
    assert_eq!(message, "sent 3 of 3 events to RudderStack");

    let reqs = plane.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.outcome, Outcome::Accepted);
    assert_eq!(r.path, "/v1/batch");
    assert_eq!(r.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let batch = r.body.clone().unwrap();
    assert_eq!(keys(&batch), ["batch", "sentAt"]);
    let sent_at = batch["sentAt"].as_str().unwrap();
    assert_eq!(sent_at.len(), 24);
    let events = batch["batch"].as_array().unwrap();

    let traits = [
        json!({"email": "ana@example.com", "users.name": "Ana", "users.age": 0, "users.vip": false,
               "users.note": "", "users.city": null, "orders.count": [{"2024-01": 3}, {"2024-02": 0}]}),
        json!({"email": "bo@example.com", "users.name": "Bo", "users.age": 31.5, "users.vip": true,
               "users.note": "ok", "users.city": "Köln \"Süd\"", "orders.count": [{"2024-01": null}, {"2024-02": 1}]}),
        json!({"email": null, "users.name": "Cy", "users.age": -1, "users.vip": false,
               "users.note": "", "users.city": null, "orders.count": [{"2024-01": 0}, {"2024-02": 0}]}),
    ];
    // Trait order follows the result's fields; hidden users.secret is absent.
    assert_eq!(
        keys(&events[0]["traits"]),
        [
            "email",
            "users.name",
            "users.age",
            "users.vip",
            "users.note",
            "users.city",
            "orders.count"
        ]
    );
    assert_eq!(
        keys(&events[0]),
        [
            "type",
            "messageId",
            "userId",
            "traits",
            "context",
            "channel",
            "timestamp",
            "originalTimestamp",
            "sentAt"
        ]
    );
    let anon = events[1]["anonymousId"].as_str().unwrap().to_string();
    assert!(is_uuid(&anon));
    let expected = [
        json!({"type": "identify", "userId": "42", "traits": traits[0], "context": context(Some(traits[0].clone())),
               "channel": "server", "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP}),
        json!({"type": "identify", "anonymousId": anon, "traits": traits[1], "context": context(Some(traits[1].clone())),
               "channel": "server", "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP}),
        json!({"type": "identify", "userId": "u-3", "traits": traits[2], "context": context(Some(traits[2].clone())),
               "channel": "server", "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP}),
    ];
    for (got, want) in events.iter().zip(&expected) {
        assert_eq!(&stable(got.clone(), sent_at), want);
    }

    // The same delivery again (a Looker retry): the same message ids and anonymous ids, so
    // RudderStack deduplicates; another webhook id makes other ids.
    let first_ids: Vec<String> = events
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-1").await;
    assert!(outcome(&parse(&text)).0);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-2").await;
    assert!(outcome(&parse(&text)).0);
    let reqs = plane.requests();
    let again = reqs[1].body.as_ref().unwrap()["batch"].as_array().unwrap();
    let other = reqs[2].body.as_ref().unwrap()["batch"].as_array().unwrap();
    for (i, id) in first_ids.iter().enumerate() {
        assert_eq!(again[i]["messageId"].as_str().unwrap(), id);
        assert_ne!(other[i]["messageId"].as_str().unwrap(), id);
    }
    assert_eq!(again[1]["anonymousId"].as_str().unwrap(), anon);
    assert_eq!(plane.accepted_ids().len(), 6);
    assert!(first_ids
        .iter()
        .all(|id| plane.accepted_ids().get(id) == Some(&2)));
}

#[tokio::test]
async fn group_sends_group_ids_and_rejects_rows_without_one() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Bodies).await;
    let doc = download::json_detail(
        RAN_AT,
        r#"[{"name":"accounts.id","tags":["rudder_group_id"]},{"name":"users.id","tags":["user_id"]},
            {"name":"accounts.plan"},{"name":"accounts.seats"}]"#,
        "[]",
        [
            r#"{"accounts.id":{"value":"acme"},"users.id":{"value":7},"accounts.plan":{"value":"pro"},"accounts.seats":{"value":12}}"#,
            r#"{"accounts.id":{"value":null},"users.id":{"value":8},"accounts.plan":{"value":"free"},"accounts.seats":{"value":1}}"#,
            r#"{"accounts.id":{"value":1001},"users.id":{"value":null},"accounts.plan":{"value":"team"},"accounts.seats":{"value":0}}"#,
        ]
        .into_iter()
        .map(String::from),
    );
    let body = request(&plane.url, Source::Inline(&doc), &[], None);
    let (status, text) = execute_raw(&hub, "rudder_group", &body, "webhook-g").await;
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "sent 2 of 3 events to RudderStack; 1 rejected before sending (e.g. row 2 has no group id)"
    );
    let events = plane.events();
    assert_eq!(events.len(), 2);
    let batch = plane.requests()[0].body.clone().unwrap();
    let sent_at = batch["sentAt"].as_str().unwrap();
    let anon = events[1]["anonymousId"].as_str().unwrap().to_string();
    assert_eq!(
        stable(events[0].clone(), sent_at),
        json!({"type": "group", "userId": "7", "groupId": "acme",
               "traits": {"accounts.plan": "pro", "accounts.seats": 12}, "context": context(None),
               "channel": "server", "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP})
    );
    assert_eq!(
        stable(events[1].clone(), sent_at),
        json!({"type": "group", "anonymousId": anon, "groupId": "1001",
               "traits": {"accounts.plan": "team", "accounts.seats": 0}, "context": context(None),
               "channel": "server", "timestamp": TIMESTAMP, "originalTimestamp": TIMESTAMP})
    );
}

#[tokio::test]
async fn track_streams_a_download_url_in_bounded_batches() {
    let hub = TestHub::spawn_with(
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "100"),
            ("RUDDER_RETRY_BASE_MS", "1"),
        ],
        Function::ALL,
    )
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Bodies).await;
    let rows = 2_345;
    let doc = download::users_result(rows, 6);
    let server = DownloadServer::start(Arc::new(doc), Serve::default()).await;
    let body = request(
        &plane.url,
        Source::Url(&server.url),
        &[],
        Some("Looker Sync"),
    );
    let (status, text) = execute_raw(&hub, "rudder_track", &body, "webhook-t").await;
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    assert!(ok, "{message}");
    assert_eq!(message, "sent 2 345 of 2 345 events to RudderStack");
    assert_eq!(server.downloads(), 1);
    let reqs = plane.requests();
    assert_eq!(reqs.len(), 24);
    assert!(reqs
        .iter()
        .all(|r| r.events <= 100 && r.json_bytes < 500_000));
    // Every event carries the sentAt of its own batch.
    let mut row0 = None;
    for r in &reqs {
        let body = r.body.as_ref().unwrap();
        for e in body["batch"].as_array().unwrap() {
            assert_eq!(e["sentAt"], body["sentAt"]);
            if e["userId"] == "0" {
                row0 = Some((e.clone(), body["sentAt"].as_str().unwrap().to_string()));
            }
        }
    }
    let (row0, sent_at) = row0.unwrap();
    let events = plane.events();
    assert_eq!(events.len(), rows);
    let first = stable(row0, &sent_at);
    assert_eq!(
        first,
        json!({"type": "track", "userId": "0", "event": "Looker Sync",
               "properties": {"email": "user0@example.com", "users.f2": true, "users.f3": "2024-01-01",
                              "users.f4": "text 0 4", "users.f5": 5},
               "context": context(None), "channel": "server",
               "timestamp": "2024-05-01T10:00:00.000Z", "originalTimestamp": "2024-05-01T10:00:00.000Z"})
    );
    let users: HashSet<String> = events
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users.len(), rows);
}

#[tokio::test]
async fn anonymous_ids_are_used_or_generated_for_track() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Bodies).await;
    let doc = download::json_detail(
        RAN_AT,
        r#"[{"name":"users.anon","tags":["rudder_anonymous_id"]},{"name":"users.email","tags":["email"]},{"name":"events.n"}]"#,
        "[]",
        [
            r#"{"users.anon":{"value":"anon-1"},"users.email":{"value":"a@x.io"},"events.n":{"value":1}}"#,
            r#"{"users.anon":{"value":""},"users.email":{"value":"b@x.io"},"events.n":{"value":2}}"#,
        ]
        .into_iter()
        .map(String::from),
    );
    let body = request(&plane.url, Source::Base64(&doc), &[], Some("Signed Up"));
    let (_, text) = execute_raw(&hub, "rudder_track", &body, "webhook-a").await;
    assert!(outcome(&parse(&text)).0, "{text}");
    let events = plane.events();
    assert_eq!(events[0]["anonymousId"], "anon-1");
    assert!(events[0].get("userId").is_none());
    assert_eq!(
        events[0]["properties"],
        json!({"email": "a@x.io", "events.n": 1})
    );
    assert!(is_uuid(events[1]["anonymousId"].as_str().unwrap()));
    assert_eq!(events[1]["event"], "Signed Up");
}

/// 100 000 rows with connections dropped before and after the data plane took the batch, 500s,
/// 429s with `Retry-After: 0`, and one batch that never gets through: every row arrives exactly
/// once (by messageId) or is reported failed, and the counts say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_rows_through_injected_failures() {
    let hub = TestHub::spawn_with(
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "500"),
            ("RUDDER_MAX_ATTEMPTS", "6"),
            ("RUDDER_RETRY_BASE_MS", "1"),
            ("RUDDER_RETRY_MAX_MS", "10"),
        ],
        Function::ALL,
    )
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        drop_before: 0.02,
        drop_after: 0.02,
        status_500: 0.02,
        status_429: 0.02,
        retry_after: Some("0".into()),
        poison_user: Some("54321".into()),
        ..Faults::default()
    });
    let rows = 100_000;
    let server =
        DownloadServer::start(Arc::new(download::users_result(rows, 10)), Serve::default()).await;
    let body = request(&plane.url, Source::Url(&server.url), &[], Some("Bulk"));
    let started = Instant::now();
    let (status, text) = execute_raw(&hub, "rudder_track", &body, "webhook-100k").await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.starts_with(
            "sent 99 500 of 100 000 events to RudderStack; 500 failed after 6 attempts: HTTP 503"
        ),
        "{message}"
    );

    // Distinct message ids accepted = sent; they are exactly the rows outside the poisoned batch.
    let accepted = plane.accepted_ids();
    assert_eq!(accepted.len(), 99_500);
    let users = plane.accepted_users();
    let expected: HashSet<String> = (0..rows)
        .filter(|i| !(54_000..54_500).contains(i))
        .map(|i| i.to_string())
        .collect();
    assert_eq!(users, expected);
    // Copies beyond the first came only from batches accepted and then cut off (deduplicated
    // by messageId, as RudderStack does).
    let reqs = plane.requests();
    let copies: u64 = accepted.values().map(|&n| u64::from(n)).sum();
    let resent: u64 = reqs
        .iter()
        .filter(|r| r.outcome == Outcome::DroppedAfter)
        .map(|r| r.events as u64)
        .sum();
    assert_eq!(copies, 99_500 + resent);
    let poisoned = reqs
        .iter()
        .filter(|r| r.outcome == Outcome::Status(503))
        .count();
    assert_eq!(poisoned, 6);
    eprintln!(
        "100 000 rows with injected failures: {elapsed:?}, {} requests",
        reqs.len()
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        status_429: 1.0,
        retry_after: Some("1".into()),
        ..Faults::default()
    });
    let doc = download::users_result(10, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let started = Instant::now();
    let call = tokio::spawn({
        let hub_addr = hub.address.clone();
        let client = hub.client.clone();
        async move {
            looker_headers(client.post(format!("{hub_addr}/actions/rudder_event/execute")))
                .header("Authorization", format!("Token token=\"{TOKEN}\""))
                .json(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    // Let the first attempt be refused, then open the data plane.
    while plane.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    plane.set_faults(Faults::default());
    let text = call.await.unwrap();
    let waited = started.elapsed();
    assert!(outcome(&parse(&text)).0, "{text}");
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    let reqs = plane.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].outcome, Outcome::Status(429));
    assert_eq!(reqs[1].outcome, Outcome::Accepted);
}

#[tokio::test]
async fn other_4xx_are_not_retried() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        status_400: 1.0,
        ..Faults::default()
    });
    let doc = download::users_result(5, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-400").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "sent 0 of 5 events to RudderStack; 5 failed after 1 attempt: HTTP 400"
    );
    assert_eq!(plane.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_write_key_stops_the_delivery() {
    let hub = TestHub::spawn_with(
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "10"),
            ("RUDDER_RETRY_BASE_MS", "1"),
        ],
        Function::ALL,
    )
    .await;
    let plane = Receiver::start("another-key", Keep::Ids).await;
    let doc = download::users_result(1_000, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-401").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.starts_with("sent 0 of 1 000 events to RudderStack; "),
        "{message}"
    );
    assert!(
        message.contains(" failed after 1 attempt: HTTP 401"),
        "{message}"
    );
    assert!(
        message.contains(" not sent: delivery stopped because the data plane http://127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains(WRITE_KEY));
    // Stopped early: far fewer requests than the 100 batches.
    assert!(plane.requests().len() <= 8, "{}", plane.requests().len());
}

#[tokio::test]
async fn an_unreachable_data_plane_is_retried_then_reported() {
    let hub = TestHub::spawn_with(
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "10"),
            ("RUDDER_MAX_ATTEMPTS", "3"),
            ("RUDDER_RETRY_BASE_MS", "1"),
            ("RUDDER_MAX_IN_FLIGHT", "1"),
        ],
        Function::ALL,
    )
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let doc = download::users_result(100, 3);
    let body = request(
        &format!("http://127.0.0.1:{closed}"),
        Source::Base64(&doc),
        &[],
        None,
    );
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-closed").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "sent 0 of 100 events to RudderStack; 30 failed after 3 attempts: could not connect: connection refused; \
         70 not sent: delivery stopped because 3 batches in a row failed after all their attempts"
    );
}

#[tokio::test]
async fn a_slow_data_plane_times_out_and_is_retried() {
    let hub = TestHub::spawn_with(
        &[
            ("RUDDER_REQUEST_TIMEOUT_SECS", "1"),
            ("RUDDER_MAX_ATTEMPTS", "2"),
            ("RUDDER_RETRY_BASE_MS", "1"),
        ],
        Function::ALL,
    )
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        delay: Duration::from_millis(1500),
        ..Faults::default()
    });
    let doc = download::users_result(3, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-slow").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "sent 0 of 3 events to RudderStack; 3 failed after 2 attempts: timed out"
    );
}

#[tokio::test]
async fn oversized_events_are_rejected_with_the_reason() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Bodies).await;
    let big = "x".repeat(40_000);
    let doc = download::json_detail(
        RAN_AT,
        r#"[{"name":"users.id","tags":["user_id"]},{"name":"users.bio"}]"#,
        "[]",
        [
            r#"{"users.id":{"value":1},"users.bio":{"value":"short"}}"#.to_string(),
            format!(r#"{{"users.id":{{"value":2}},"users.bio":{{"value":"{big}"}}}}"#),
            r#"{"users.id":{"value":3},"users.bio":{"value":"short"}}"#.to_string(),
        ]
        .into_iter(),
    );
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-big").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.starts_with(
            "sent 2 of 3 events to RudderStack; 1 rejected before sending (e.g. row 2 makes an event of 80 "
        ),
        "{message}"
    );
    assert!(
        crate::helpers::unnamed(&message).ends_with("bytes, over the 32 768-byte limit)"),
        "{message}"
    );
    let ids: Vec<String> = plane
        .events()
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["1", "3"]);
}

#[tokio::test]
async fn long_executes_keep_the_connection_alive_and_still_answer() {
    let hub = TestHub::spawn_with(
        &[
            ("HUB_KEEPALIVE_AFTER_MS", "100"),
            ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
            ("RUDDER_RETRY_BASE_MS", "1"),
        ],
        Function::ALL,
    )
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        delay: Duration::from_millis(2_300),
        ..Faults::default()
    });
    let doc = download::users_result(20, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (status, text) = execute_raw(&hub, "rudder_event", &body, "webhook-long").await;
    assert_eq!(status, 200);
    assert!(text.starts_with("\n\n"), "{text:?}");
    assert!(outcome(&parse(&text)).0, "{text}");

    // A failure after the keep-alive newlines is still reported.
    plane.set_faults(Faults {
        delay: Duration::from_millis(1_300),
        always: Some(400),
        ..Faults::default()
    });
    let (status, text) = execute_raw(&hub, "rudder_event", &body, "webhook-long-2").await;
    assert_eq!(status, 200);
    assert!(text.starts_with('\n'), "{text:?}");
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "sent 0 of 20 events to RudderStack; 20 failed after 1 attempt: HTTP 400"
    );
}

#[tokio::test]
async fn bad_settings_and_inputs_are_clear_failures() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let doc = download::users_result(3, 3);
    let good = request(&plane.url, Source::Base64(&doc), &[], Some("E"));

    let mut no_key = good.clone();
    no_key["data"]
        .as_object_mut()
        .unwrap()
        .remove("rudder_write_key");
    let mut no_url = good.clone();
    no_url["data"]["rudder_server_url"] = json!("  ");
    let mut not_http = good.clone();
    not_http["data"]["rudder_server_url"] = json!("file:///etc/passwd");
    let mut no_result = good.clone();
    no_result.as_object_mut().unwrap().remove("attachment");
    let no_identity = download::json_detail(
        RAN_AT,
        r#"[{"name":"users.name","tags":["name"]}]"#,
        "[]",
        std::iter::once(r#"{"users.name":{"value":"x"}}"#.to_string()),
    );
    let no_identity = request(&plane.url, Source::Base64(&no_identity), &[], Some("E"));
    let not_json = request(
        &plane.url,
        Source::Base64(b"name,email\nx,y\n"),
        &[],
        Some("E"),
    );

    for (name, body, expected) in [
        (
            "rudder_event",
            &no_key,
            "The RudderStack write key is not set",
        ),
        (
            "rudder_group",
            &no_url,
            "The RudderStack data plane URL is not set",
        ),
        (
            "rudder_track",
            &not_http,
            "must start with http:// or https://",
        ),
        ("rudder_event", &no_result, "Looker sent no query result"),
        (
            "rudder_track",
            &no_identity,
            "the query has no field tagged email or user_id or rudder_anonymous_id",
        ),
        (
            "rudder_group",
            &good,
            "the query has no field tagged rudder_group_id",
        ),
        ("rudder_event", &not_json, "not valid json_detail"),
    ] {
        let (status, v) = hub.execute(name, body).await;
        assert_eq!(status, 200, "{name}: {v}");
        let (ok, message) = outcome(&v);
        assert!(!ok, "{name}");
        assert!(message.contains(expected), "{name}: {message}");
        assert!(!message.contains(WRITE_KEY));
    }

    // Track without an event: a validation error on the form field.
    let mut no_event = good.clone();
    no_event["form_params"] = json!({"event": " "});
    let (status, v) = hub.execute("rudder_track", &no_event).await;
    assert_eq!(status, 200);
    assert_eq!(v["looker"]["success"], false);
    assert!(v["looker"]["validation_errors"]["event"]
        .as_str()
        .unwrap()
        .contains("required"));

    // A form value of the wrong shape: refused by name, never read as absent or as text.
    for (field, value, message) in [
        ("event", json!(["Signup"]), "must be text, not a list"),
        ("event", json!(7), "must be text, not a JSON number"),
        ("naming", json!({"x": 1}), "must be text, not an object"),
    ] {
        let mut wrong = good.clone();
        wrong["form_params"] = json!({"event": "E"});
        wrong["form_params"][field] = value;
        let (status, v) = hub.execute("rudder_track", &wrong).await;
        assert_eq!(status, 200);
        assert_eq!(v["looker"]["success"], false, "{v}");
        assert_eq!(v["looker"]["validation_errors"], json!({field: message}));
    }

    // Not a query action.
    let mut cell = good.clone();
    cell["type"] = json!("cell");
    let (status, v) = hub.execute("rudder_event", &cell).await;
    assert_eq!(status, 400);
    assert_eq!(v["looker"]["success"], false);

    assert!(plane.requests().is_empty());
}

#[tokio::test]
async fn a_stalled_download_fails_after_the_read_timeout_with_what_was_sent() {
    let mut settings = FAST_RETRIES.to_vec();
    settings.push(("HUB_HTTP_READ_TIMEOUT_SECS", "1"));
    let hub = TestHub::spawn_with(&settings, Function::ALL).await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let doc = download::users_result(2_000, 3);
    let stalled = DownloadServer::start(
        Arc::new(doc.clone()),
        Serve {
            stall_after: Some(doc.len() / 2),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&stalled.url), &[], None);
    let started = std::time::Instant::now();
    let (_, v) = hub.execute("rudder_event", &body).await;
    let (ok, message) = outcome(&v);
    assert!(!ok, "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let sent = plane.accepted_ids().len();
    assert!(sent > 500 && sent < 1_500, "{sent}");
    assert!(
        message.contains("the query result download was cut off after"),
        "{message}"
    );
    assert!(!message.contains("token=one-time"), "{message}");
}

#[tokio::test]
async fn failing_or_cut_downloads_are_reported_with_what_was_sent() {
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;

    let gone = DownloadServer::start(
        Arc::new(download::users_result(10, 3)),
        Serve {
            status: Some(404),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&gone.url), &[], None);
    let (_, v) = hub.execute("rudder_event", &body).await;
    let (ok, message) = outcome(&v);
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "could not download the query result: HTTP 404; nothing was sent"
    );
    assert!(!message.contains("token=one-time"));

    // Cut half-way through the rows: what was read is sent and said.
    let doc = download::users_result(2_000, 3);
    let cut_at = doc.len() / 2;
    let cut = DownloadServer::start(
        Arc::new(doc.clone()),
        Serve {
            cut_after: Some(cut_at),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&cut.url), &[], None);
    let (_, v) = hub.execute("rudder_event", &body).await;
    let (ok, message) = outcome(&v);
    assert!(!ok);
    let sent = plane.accepted_ids().len();
    assert!(sent > 500 && sent < 1_500, "{sent}");
    let n = hub_core::rudder::report::group_digits(sent as u64);
    assert!(
        message.starts_with(&format!(
            "sent {n} of {n} events to RudderStack; the query result download was cut off after {sent} row(s)"
        )),
        "{message}"
    );
    assert!(
        crate::helpers::unnamed(&message).ends_with("; only the rows read before that were sent"),
        "{message}"
    );
    assert!(!message.contains("token=one-time"), "{message}");

    // A row that is not valid JSON inside: the rows before it are sent, and it is named.
    let rows = (0..5).map(|i| {
        if i == 3 {
            r#"{"users.id" 3}"#.to_string()
        } else {
            download::users_row(i, 3)
        }
    });
    let doc = download::json_detail(RAN_AT, &download::users_dimensions(3), "[]", rows);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-bad-row").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.starts_with(
            "sent 3 of 3 events to RudderStack; the query result is not valid json_detail after 3 row(s): row 4: invalid JSON at byte 12;"
        ),
        "{message}"
    );

    // Malformed half-way: the same, with the parser's words.
    let mut bad = download::users_result(1_000, 3);
    let at = bad.len() / 2;
    let pos = at + bad[at..].windows(2).position(|w| w == b"},").unwrap() + 1;
    bad.splice(pos..pos + 1, b";".iter().copied());
    let before = plane.accepted_ids().len();
    let body = request(&plane.url, Source::Base64(&bad), &[], None);
    // Another delivery (webhook id): its rows must not dedupe against the cut one's.
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-malformed").await;
    let v = parse(&text);
    let (ok, message) = outcome(&v);
    assert!(!ok);
    let sent = plane.accepted_ids().len() - before;
    let n = hub_core::rudder::report::group_digits(sent as u64);
    assert!(
        message.starts_with(&format!(
            "sent {n} of {n} events to RudderStack; the query result is not valid json_detail after {sent} row(s)"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn without_a_webhook_id_each_schedule_run_gets_its_own_message_ids() {
    // Without X-Looker-Webhook-Id the delivery is the scheduled plan's run (plan id + ran_at): a
    // re-delivery of the same run keeps its ids (deduplicated), the next run of the same schedule
    // with unchanged rows gets new ones (not dropped as duplicates).
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let run = |ran_at: &str| {
        download::json_detail(
            ran_at,
            r#"[{"name":"users.id","tags":["user_id"]},{"name":"users.plan","tags":[]}]"#,
            "[]",
            [
                r#"{"users.id":{"value":1},"users.plan":{"value":"pro"}}"#,
                r#"{"users.id":{"value":2},"users.plan":{"value":"free"}}"#,
            ]
            .into_iter()
            .map(String::from),
        )
    };
    let send = |doc: Vec<u8>| {
        let body = request(&plane.url, Source::Base64(&doc), &[], Some("Synced"));
        let req = hub
            .client
            .post(format!("{}/actions/rudder_track/execute", hub.address))
            .header("User-Agent", "LookerOutgoingWebhook/25.4.12")
            .header("Authorization", format!("Token token=\"{TOKEN}\""))
            .json(&body);
        async move {
            let text = req.send().await.unwrap().text().await.unwrap();
            let (ok, message) = outcome(&parse(&text));
            assert!(ok, "{message}");
            assert_eq!(message, "sent 2 of 2 events to RudderStack");
        }
    };
    send(run("2026-11-30T06:00:00+00:00")).await;
    send(run("2026-11-30T06:00:00+00:00")).await; // the same run delivered again
    send(run("2026-12-01T06:00:00+00:00")).await; // the next run, same rows
    let ids = plane.accepted_ids();
    assert_eq!(ids.len(), 4, "two runs of two rows: {ids:?}");
    let mut counts: Vec<_> = ids.values().copied().collect();
    counts.sort();
    assert_eq!(
        counts,
        [1, 1, 2, 2],
        "the re-delivered run repeats its ids, the next run has its own"
    );
}
