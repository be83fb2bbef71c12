//! Several RudderStack sources (`RUDDER_SOURCES`): the form's `source` choice, each source's own
//! write key and data plane (two local receivers with their own Basic auth), a removed source,
//! refused configurations, one key rotated through the Secret Manager stand-in, and the
//! `naming` modes.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use hub_core::routes::Function;
use hub_core::settings::Settings;
use hub_core::startup::Hub;
use serde_json::{json, Value};

use crate::download;
use crate::helpers::{test_vars, TestHub};
use crate::receiver::{Keep, Receiver};
use crate::secrets::{sm_vars, SecretManager};
use crate::support::rudder::{execute_raw, outcome, parse, request, Source, FAST_RETRIES};

const KEY_A: &str = "alpha-write-key-1";
const KEY_B: &str = "beta-write-key-2";

fn doc(n: usize) -> Vec<u8> {
    download::json_detail(
        "2024-05-01T10:00:00+00:00",
        r#"[{"name":"users.id","label":"Users Id","tags":["user_id"]},{"name":"users.plan","label":"Users Plan Name"}]"#,
        "[]",
        (0..n).map(|i| {
            format!(r#"{{"users.id":{{"value":"u{i}"}},"users.plan":{{"value":"pro"}}}}"#)
        }),
    )
}

/// An execute body as Looker sends it once sources are declared: no write key, no data plane,
/// the chosen source in the form params.
fn body(doc: &[u8], source: Option<&str>, event: Option<&str>) -> Value {
    let mut b = request("unused", Source::Inline(doc), &[], event);
    b["data"] = json!({});
    if let Some(s) = source {
        b["form_params"]["source"] = json!(s);
    }
    b
}

async fn run(hub: &TestHub, action: &str, body: &Value, webhook: &str) -> Value {
    let (status, text) = execute_raw(hub, action, body, webhook).await;
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

fn ids(r: &Receiver) -> HashSet<String> {
    r.accepted_ids().into_keys().collect()
}

#[tokio::test]
async fn each_source_gets_its_own_looks_with_its_own_write_key() {
    let (ra, rb) = (
        Receiver::start(KEY_A, Keep::Bodies).await,
        Receiver::start(KEY_B, Keep::Bodies).await,
    );
    let sources = format!(
        r#"[{{"name":"marketing_eu","label":"Marketing (EU)","write_key":"{KEY_A}","data_plane_url":"{}"}},{{"name":"product-team","write_key":"{KEY_B}","data_plane_url":"{}"}}]"#,
        ra.url, rb.url
    );
    let mut vars = FAST_RETRIES.to_vec();
    vars.push(("RUDDER_SOURCES", &sources));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;

    // The definitions ask Looker for no write key and no data plane.
    let list = hub.list().await;
    for name in ["rudder_event", "rudder_group", "rudder_track"] {
        let def = list["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap();
        assert_eq!(def["params"], json!([]), "{name}");
    }
    assert!(!list.to_string().contains(KEY_A));

    // The form: a required source select with readable labels, then event, then naming.
    let (status, form) = hub
        .form("rudder_track", &json!({"type": "query", "data": {}}))
        .await;
    assert_eq!(status, 200, "{form}");
    let names: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["source", "event", "naming"]);
    let source = &form["fields"][0];
    assert_eq!(source["type"], "select");
    assert_eq!(source["required"], true);
    assert_eq!(source["label"], "RudderStack source");
    assert_eq!(
        source["options"],
        json!([{"name": "marketing_eu", "label": "Marketing (EU)"}, {"name": "product-team", "label": "Product team"}])
    );
    assert!(source.get("default").is_none(), "two sources: no default");
    assert!(!form.to_string().contains(KEY_A) && !form.to_string().contains(KEY_B));

    // Two Looks, two sources: each receiver gets exactly its rows, with its own Basic auth
    // (a receiver answers 401 to any other key). Write key params still sent by an old Looker
    // configuration are ignored.
    let d3 = doc(3);
    let mut to_a = body(&d3, Some("marketing_eu"), Some("Synced"));
    to_a["data"] = json!({"rudder_write_key": "stale-key", "rudder_server_url": rb.url});
    let v = run(&hub, "rudder_track", &to_a, "wh-1").await;
    assert_eq!(
        outcome(&v),
        (true, "sent 3 of 3 events to RudderStack".into())
    );
    let d2 = doc(2);
    let v = run(
        &hub,
        "rudder_event",
        &body(&d2, Some("product-team"), None),
        "wh-2",
    )
    .await;
    assert_eq!(
        outcome(&v),
        (true, "sent 2 of 2 events to RudderStack".into())
    );
    let users = |r: &Receiver| -> BTreeSet<(String, String)> {
        r.events()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_string(),
                    e["userId"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let t = |u: &str| ("track".to_string(), u.to_string());
    let i = |u: &str| ("identify".to_string(), u.to_string());
    assert_eq!(users(&ra), BTreeSet::from([t("u0"), t("u1"), t("u2")]));
    assert_eq!(users(&rb), BTreeSet::from([i("u0"), i("u1")]));
    assert!(ra
        .requests()
        .iter()
        .all(|r| r.outcome == crate::receiver::Outcome::Accepted));
    assert!(rb
        .requests()
        .iter()
        .all(|r| r.outcome == crate::receiver::Outcome::Accepted));

    // The source is part of the delivery identity: the same Looker delivery to the other source
    // gets other messageIds; sent again to the same source, the same ones.
    let before_b = ids(&rb);
    let to_b = body(&d3, Some("product-team"), Some("Synced"));
    let v = run(&hub, "rudder_track", &to_b, "wh-1").await;
    assert!(outcome(&v).0);
    let a_ids = ids(&ra);
    let b_new: HashSet<String> = ids(&rb).difference(&before_b).cloned().collect();
    assert_eq!(b_new.len(), 3);
    assert!(a_ids.is_disjoint(&b_new));
    let v = run(
        &hub,
        "rudder_track",
        &body(&d3, Some("marketing_eu"), Some("Synced")),
        "wh-1",
    )
    .await;
    assert!(outcome(&v).0);
    assert_eq!(
        ids(&ra),
        a_ids,
        "a re-delivery to the same source repeats its ids"
    );
    assert!(ra.accepted_ids().values().all(|n| *n == 2));

    // No source chosen: a validation error on the field; nothing sent.
    let sent = (ra.requests().len(), rb.requests().len());
    let v = run(
        &hub,
        "rudder_track",
        &body(&d3, None, Some("Synced")),
        "wh-3",
    )
    .await;
    assert_eq!(v["looker"]["success"], false);
    assert_eq!(
        v["looker"]["validation_errors"]["source"],
        "is required: choose the RudderStack source to send to"
    );
    // A schedule keeping a source the hub no longer declares: a clear failure, nothing sent.
    let v = run(
        &hub,
        "rudder_event",
        &body(&d3, Some("sales"), None),
        "wh-4",
    )
    .await;
    let (ok, message) = outcome(&v);
    assert_eq!(
        (ok, crate::helpers::unnamed(&message).to_string()),
        (
            false,
            "the RudderStack source \"sales\" is not configured on this action hub any more (it has: marketing_eu, product-team); nothing was sent. Edit this schedule and choose another source, or ask the hub admin to add \"sales\" back to RUDDER_SOURCES".into()
        )
    );
    assert_eq!((ra.requests().len(), rb.requests().len()), sent);

    // Names are unique ignoring case: a schedule that stored the name in another case still
    // finds its source (and its messageIds: the declared name is the delivery identity).
    let v = run(
        &hub,
        "rudder_track",
        &body(&d3, Some("MARKETING_EU"), Some("Synced")),
        "wh-1",
    )
    .await;
    assert!(outcome(&v).0, "{v}");
    assert_eq!(ids(&ra), a_ids);
    assert!(ra.accepted_ids().values().all(|n| *n == 3));
}

#[tokio::test]
async fn a_single_source_is_preselected_used_by_old_schedules_and_a_default_data_plane_applies() {
    let ra = Receiver::start(KEY_A, Keep::Bodies).await;
    let sources = format!("main={KEY_A}");
    let mut vars = FAST_RETRIES.to_vec();
    vars.push(("RUDDER_SOURCES", &sources));
    vars.push(("RUDDER_DATA_PLANE_URL", &ra.url));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let (_, form) = hub
        .form("rudder_group", &json!({"type": "query", "data": {}}))
        .await;
    assert_eq!(form["fields"][0]["default"], "main");
    assert_eq!(
        form["fields"][0]["options"],
        json!([{"name": "main", "label": "Main"}])
    );
    let v = run(
        &hub,
        "rudder_event",
        &body(&doc(1), Some("main"), None),
        "w",
    )
    .await;
    assert_eq!(
        outcome(&v),
        (true, "sent 1 of 1 event to RudderStack".into())
    );
    assert_eq!(ra.events().len(), 1);
    // A schedule made before the source was declared (no source in its form params) goes to the
    // only source.
    let v = run(&hub, "rudder_event", &body(&doc(2), None, None), "w2").await;
    assert_eq!(
        outcome(&v),
        (true, "sent 2 of 2 events to RudderStack".into())
    );
    assert_eq!(ra.events().len(), 3);
}

/// Why the hub refuses to start with these settings.
async fn refusal(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let env = test_vars(0, &dir.path().join("s.sqlite"), vars);
    let settings = match Settings::load(&env, false) {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    match Hub::new(settings).await {
        Ok(_) => panic!("the hub started with {vars:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn configuration_errors_stop_the_start_with_a_clear_message() {
    let sm = SecretManager::spawn().await;
    let missing = "projects/acme/secrets/rs-missing/versions/latest";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "a=k1@http://127.0.0.1:9,A=k2@http://127.0.0.1:9".into(),
            "",
            "RUDDER_SOURCES is invalid: the source name \"A\" is declared twice (names are compared ignoring case)",
        ),
        (
            "a=projects/acme/secrets/rs@http://127.0.0.1:9".into(),
            "",
            "RUDDER_SOURCES is invalid: source \"a\": RUDDER_SOURCES: not a valid Secret Manager reference",
        ),
        (
            "a=SECRETKEY".into(),
            "",
            "RUDDER_SOURCES is invalid: source \"a\" has no data plane URL: write name=KEY@https://your-dataplane, or set RUDDER_DATA_PLANE_URL",
        ),
        (
            format!("a={missing}@http://127.0.0.1:9"),
            "",
            "RUDDER_SOURCES[a]: Secret Manager secret projects/acme/secrets/rs-missing/versions/latest was not found",
        ),
        (
            "a=SECRETKEY@http://127.0.0.1:9".into(),
            "none",
            "RUDDER_SOURCES is invalid: source \"a\": its data plane may not be called: ",
        ),
    ];
    for (sources, allow, expected) in cases {
        let mut vars = sm_vars(&sm, "t");
        vars.push(("RUDDER_SOURCES", &sources));
        if allow == "none" {
            vars.push(("HUB_OUTBOUND_ALLOW", ""));
        }
        let msg = refusal(&vars).await;
        assert!(msg.starts_with(expected), "{sources}: {msg}");
        assert!(!msg.contains("SECRETKEY"), "{msg}");
        if allow == "none" {
            assert!(msg.contains("HUB_OUTBOUND_ALLOW"), "{msg}");
        }
    }
}

/// A hub with these `RUDDER_SOURCES`, reading Secret Manager (the stand-in) again every second.
async fn refreshing_hub(sm: &SecretManager, sources: &str) -> TestHub {
    let mut vars = sm_vars(sm, "t");
    vars.extend_from_slice(FAST_RETRIES);
    vars.push(("RUDDER_SOURCES", sources));
    vars.push(("HUB_SECRETS_REFRESH_SECS", "1"));
    vars.push(("HUB_TOKENS", crate::helpers::TOKEN));
    TestHub::spawn_with(&vars, Function::ALL).await
}

#[tokio::test]
async fn one_sources_key_rotates_through_secret_manager() {
    const REF: &str = "projects/acme/secrets/rs-alpha/versions/latest";
    let sm = SecretManager::spawn().await;
    sm.set(REF, "alpha-v1\n");
    // The alpha data plane already expects the new key; beta keeps its literal one.
    let ra = Receiver::start("alpha-v2", Keep::Bodies).await;
    let rb = Receiver::start(KEY_B, Keep::Bodies).await;
    let sources = format!("alpha={REF}@{},beta={KEY_B}@{}", ra.url, rb.url);
    let hub = refreshing_hub(&sm, &sources).await;
    let d = doc(2);

    let v = run(&hub, "rudder_event", &body(&d, Some("alpha"), None), "r1").await;
    let (ok, message) = outcome(&v);
    assert!(!ok);
    assert!(
        message.starts_with("sent 0 of 2 events to RudderStack"),
        "{message}"
    );
    assert!(message.contains("HTTP 401"), "{message}");
    // The data plane stays out of Looker's hands (a stopped delivery names the source:
    // `rudder::client` unit test `data_plane_urls`).
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains("alpha-v1"));

    sm.set(REF, "alpha-v2");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = run(&hub, "rudder_event", &body(&d, Some("alpha"), None), "r2").await;
        if outcome(&v).0 {
            break;
        }
        assert!(Instant::now() < deadline, "rotation not picked up: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(ra.events().len(), 2);
    let v = run(&hub, "rudder_event", &body(&d, Some("beta"), None), "r3").await;
    assert!(outcome(&v).0, "{v}");
    assert_eq!(rb.events().len(), 2);
}

#[tokio::test]
async fn naming_modes_with_collisions_and_labels() {
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let hub = TestHub::spawn_with(FAST_RETRIES, Function::ALL).await;
    let doc = download::json_detail(
        "2024-05-01T10:00:00+00:00",
        r#"[{"name":"users.id","label":"Users Id","tags":["user_id"]},
            {"name":"users.email","label":"Users Email","tags":["email"]},
            {"name":"users.plan","label":"Users Plan Name"},
            {"name":"users.created","label":"Users Created Date"},
            {"name":"orders.created","label":"Orders Created Date"},
            {"name":"orders.email","label":"Orders Contact E-mail"}]"#,
        r#"[{"name":"orders.total","label":"Orders Total (€)"}]"#,
        [r#"{"users.id":{"value":"u1"},"users.email":{"value":"a@b.c"},"users.plan":{"value":"pro"},
             "users.created":{"value":"2024-01-01"},"orders.created":{"value":"2024-02-01"},
             "orders.email":{"value":"o@b.c"},"orders.total":{"value":12.5}}"#
            .to_string()]
        .into_iter(),
    );
    // The form offers the modes, view.field by default.
    let (_, form) = hub
        .form(
            "rudder_event",
            &json!({"type": "query", "data": {"rudder_write_key": "k", "rudder_server_url": plane.url}}),
        )
        .await;
    let naming = &form["fields"][0];
    assert_eq!(naming["name"], "naming");
    assert_eq!(naming["default"], "view.field");
    let values: Vec<&str> = naming["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["view.field", "field", "label"]);

    let cases = [
        (
            None,
            json!({"email": "a@b.c", "users.plan": "pro", "users.created": "2024-01-01",
                   "orders.created": "2024-02-01", "orders.email": "o@b.c", "orders.total": 12.5}),
            "",
        ),
        (
            Some("field"),
            json!({"email": "a@b.c", "plan": "pro", "users.created": "2024-01-01",
                   "orders.created": "2024-02-01", "orders.email": "o@b.c", "total": 12.5}),
            "; 3 fields kept their view.field name because their field name would collide: users.created, orders.created, orders.email",
        ),
        (
            Some("label"),
            json!({"email": "a@b.c", "users_plan_name": "pro", "users_created_date": "2024-01-01",
                   "orders_created_date": "2024-02-01", "orders_contact_e_mail": "o@b.c", "orders_total": 12.5}),
            "",
        ),
    ];
    for (i, (mode, traits, note)) in cases.into_iter().enumerate() {
        let mut b = request(&plane.url, Source::Inline(&doc), &[], None);
        if let Some(m) = mode {
            b["form_params"]["naming"] = json!(m);
        }
        let v = run(&hub, "rudder_event", &b, &format!("n{i}")).await;
        assert_eq!(
            outcome(&v),
            (true, format!("sent 1 of 1 event to RudderStack{note}")),
            "{mode:?}"
        );
        let events = plane.events();
        let e = events.last().unwrap();
        // Identity fields keep their RudderStack meaning whatever the mode.
        assert_eq!(e["userId"], "u1");
        assert_eq!(e["traits"], traits, "{mode:?}");
        assert_eq!(e["context"]["traits"], traits, "{mode:?}");
    }
    let mut b = request(&plane.url, Source::Inline(&doc), &[], None);
    b["form_params"]["naming"] = json!("camelCase");
    let v = run(&hub, "rudder_event", &b, "n9").await;
    assert_eq!(
        v["looker"]["validation_errors"]["naming"],
        "must be view.field, field or label"
    );
}

/// Only the execute service reads the write keys. `actions_list` and `action_form` (the real
/// binaries) start with named sources whose secrets their service accounts may not read — the
/// deployment grants the keys to execute alone — list the actions without key params and offer
/// the source select; `action_execute` with the same settings refuses to start, naming the source.
#[tokio::test]
async fn only_the_execute_service_reads_the_write_keys() {
    use crate::helpers::{HubProcess, TOKEN};
    let sm = SecretManager::spawn().await;
    let reference = "projects/acme/secrets/rs-marketing/versions/latest";
    sm.set(reference, KEY_A);
    sm.store.lock().unwrap().denied.push(reference.into());
    let sources = json!([{"name": "marketing", "label": "Marketing (EU)",
        "write_key": reference, "data_plane_url": "http://127.0.0.1:9"}])
    .to_string();
    let mut vars = sm_vars(&sm, TOKEN);
    vars.push(("RUDDER_SOURCES", &sources));

    let list = HubProcess::start_bin("actions_list", &vars).await;
    let listed = list.post_json("/", &json!({})).await;
    for name in ["rudder_event", "rudder_group", "rudder_track"] {
        let d = listed["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(
            d["params"],
            json!([]),
            "{name}: no key params with named sources"
        );
        // Looker shows the source select only to an action whose definition names its form.
        assert_eq!(
            d["form_url"],
            format!("{}/actions/{name}/form", list.base).as_str(),
            "{name}"
        );
    }

    let form = HubProcess::start_bin("action_form", &vars).await;
    let fields = form
        .post_json("/actions/rudder_track/form", &json!({"data": {}}))
        .await;
    let source = fields["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{fields}"))
        .iter()
        .find(|f| f["name"] == "source")
        .expect("the source select");
    assert_eq!(
        source["options"],
        json!([{"name": "marketing", "label": "Marketing (EU)"}])
    );
    assert!(
        sm.store
            .lock()
            .unwrap()
            .asked
            .iter()
            .all(|n| n != reference),
        "list or form read a write key"
    );

    let out = tokio::process::Command::new(crate::binaries::bin_dir().join("action_execute"))
        .env_clear()
        .env("PORT", crate::binaries::free_port().to_string())
        .env("HUB_BIND", "127.0.0.1")
        .env("HUB_STARTUP_RETRY_SECS", "0")
        .env("HUB_OUTBOUND_ALLOW", crate::helpers::LOOPBACK)
        .envs(vars.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "RUDDER_SOURCES[marketing]: the hub's service account may not read {reference}; grant it roles/secretmanager.secretAccessor"
        )),
        "{err}"
    );
    assert!(!err.contains(KEY_A), "{err}");
    assert!(sm
        .store
        .lock()
        .unwrap()
        .asked
        .iter()
        .any(|n| n == reference));
}

/// A key rotated while a delivery runs is used from the next request on: the first request goes
/// out with the old key and is refused (the old key was revoked) after the hub has read the new
/// one, and is sent again with it — nothing lost, nothing sent twice.
#[tokio::test]
async fn a_key_rotated_during_a_delivery_is_used_by_its_next_request() {
    const REF: &str = "projects/acme/secrets/rs-alpha/versions/latest";
    let sm = SecretManager::spawn().await;
    sm.set(REF, "alpha-v1");
    // The data plane knows only the new key, and answers after 2.5 s: time for the hub to read
    // the new version (every second) while the first request is on the wire.
    let ra = Receiver::start("alpha-v2", Keep::Bodies).await;
    ra.set_faults(crate::receiver::Faults {
        delay: Duration::from_millis(2500),
        ..Default::default()
    });
    let sources = format!("alpha={REF}@{}", ra.url);
    let hub = refreshing_hub(&sm, &sources).await;
    let d = doc(2);
    let rotate = {
        let sm = sm.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            sm.set(REF, "alpha-v2");
        })
    };
    let v = run(&hub, "rudder_event", &body(&d, Some("alpha"), None), "rot").await;
    rotate.await.unwrap();
    assert_eq!(
        outcome(&v),
        (true, "sent 2 of 2 events to RudderStack".into())
    );
    let outcomes: Vec<_> = ra.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            crate::receiver::Outcome::Unauthorized,
            crate::receiver::Outcome::Accepted
        ]
    );
    assert_eq!(ra.accepted_ids().len(), 2);
}
