//! Secret hygiene: the real `hub` binary at `RUST_LOG=debug` runs every flow — list, definitions,
//! forms, executes, OAuth logins (v1, v2), refresh, RudderStack deliveries, and failures of each —
//! with the hub token, the OAuth client secret, the state key, the write key and the one-time
//! download URL set to recognisable marker values. Its whole output (stdout + stderr) and every
//! answer and page must contain none of them, nor any code, token or sealed value issued on the way.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::download::{self, DownloadServer, Serve};
use crate::helpers::{client, looker_headers, HubProcess};
use crate::receiver::{Faults, Keep, Receiver};
use crate::support::oauth::OAuthWorld;
use crate::support::rudder::{request, Source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_an_answer_or_a_page() {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let hub_token = format!("MARKERhubtoken{run}");
    let old_token = format!("MARKERoldtoken{run}");
    let client_secret = format!("MARKERclientsecret{run}");
    let write_key = format!("MARKERwritekey{run}");
    let download_token = format!("MARKERdownloadtoken{run}");
    let wrong_token = format!("MARKERwrongtoken{run}");
    // A state key is 32 bytes of base64: 32 recognisable bytes.
    let key_bytes = format!("MARKERstatekey{}", &run[..18]);
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes.as_bytes());

    let world = OAuthWorld::new(&client_secret, &key).await;
    let mut env: Vec<(String, String)> = world.env();
    env.extend(
        [
            ("RUST_LOG", "debug".to_string()),
            ("HUB_LOG_FORMAT", "json".to_string()),
            // Rotation: two valid tokens.
            ("HUB_TOKENS", format!("{hub_token},{old_token}")),
            ("RUDDER_RETRY_BASE_MS", "1".to_string()),
            ("RUDDER_RETRY_MAX_MS", "5".to_string()),
            ("RUDDER_MAX_ATTEMPTS", "2".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut hub = HubProcess::start(&env_refs).await;
    let base = hub.base.clone();
    let auth = format!("Token token=\"{hub_token}\"");
    let http = client();
    let mut seen: Vec<String> = vec![];
    let call = |path: String, auth: Option<String>, body: Value| {
        let mut req = looker_headers(http.post(format!("{base}{path}"))).json(&body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // The list, a definition and forms, with the token and with the old one (rotation), in the
    // reference hub's signed form too.
    let signed = hub_core::auth::reference_hub_token(&old_token, "MARKERnonce");
    for a in [
        auth.clone(),
        format!("Token token=\"{old_token}\""),
        format!("Token token=\"{signed}\""),
    ] {
        let (status, text) = call("/".into(), Some(a), json!({})).await;
        assert_eq!(status, 200, "{text}");
        seen.push(text);
    }
    for path in ["/actions/rudder_track", "/actions/rudder_track/form"] {
        let (status, text) = call(path.into(), Some(auth.clone()), json!({"data": {}})).await;
        assert_eq!(status, 200, "{text}");
        seen.push(text);
    }

    // Refused calls: a wrong token, a malformed header, none, an unknown action, a bad body.
    for a in [
        Some(format!("Token token=\"{wrong_token}\"")),
        Some(format!("Bearer {wrong_token}")),
        Some(format!("Token token=\"{wrong_token}/00ff\"")),
        None,
    ] {
        let (status, text) = call("/actions/mark_suspicious/form".into(), a, json!({})).await;
        assert_eq!(status, 403, "{text}");
        seen.push(text);
    }
    let (status, text) = call(
        "/actions/nope/execute".into(),
        Some(auth.clone()),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    seen.push(text);
    let r = looker_headers(http.post(format!("{base}/actions/rudder_track/execute")))
        .header("Authorization", &auth)
        .body(format!(
            "{{\"data\": {{\"rudder_write_key\": \"{write_key}\""
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    seen.push(r.text().await.unwrap());

    // OAuth: every login flow, refresh, reuse and forgery.
    let (pages, mut secrets, login_links) = world.run_flows(&base, &auth).await;
    seen.extend(pages);

    // RudderStack: a delivery from a download_url, a refused write key, an unreachable data plane,
    // a download URL that fails, one that is cut half-way.
    let plane = Receiver::start(&write_key, Keep::Ids).await;
    let doc = Arc::new(download::users_result(300, 4));
    let served = DownloadServer::start(doc.clone(), Serve::default()).await;
    let secret_url = |s: &DownloadServer| s.url.replace("one-time", &download_token);
    let execute = |plane_url: String, source_url: String| {
        let mut body = request(&plane_url, Source::Url(&source_url), &[], Some("Hygiene"));
        body["data"]["rudder_write_key"] = json!(write_key);
        let f = call(
            "/actions/rudder_track/execute".into(),
            Some(auth.clone()),
            body,
        );
        async move {
            let (status, text) = f.await;
            assert_eq!(status, 200, "{text}");
            text
        }
    };
    let text = execute(plane.url.clone(), secret_url(&served)).await;
    assert!(text.contains("\"success\":true"), "{text}");
    seen.push(text);
    plane.set_faults(Faults {
        always: Some(401),
        ..Faults::default()
    });
    let text = execute(plane.url.clone(), secret_url(&served)).await;
    assert!(text.contains("\"success\":false"), "{text}");
    seen.push(text);
    let closed = format!("http://127.0.0.1:{}", crate::binaries::free_port());
    seen.push(execute(closed, secret_url(&served)).await);
    plane.set_faults(Faults::default());
    for serve in [
        Serve {
            status: Some(403),
            ..Serve::default()
        },
        Serve {
            cut_after: Some(doc.len() / 2),
            ..Serve::default()
        },
    ] {
        let broken = DownloadServer::start(doc.clone(), serve).await;
        let text = execute(plane.url.clone(), secret_url(&broken)).await;
        assert!(text.contains("\"success\":false"), "{text}");
        seen.push(text);
    }
    // Outgoing calls (issue 12): a download URL that redirects (to a URL carrying the token), a
    // data plane that redirects, one whose error body repeats the write key (the body is logged:
    // the hub never sent the key in clear, only as Basic auth, so it must not appear), and
    // addresses the policy refuses.
    use crate::outbound::{answer, Scripted};
    let redirector = Scripted::redirect(302, &format!("http://127.0.0.1:9/{download_token}")).await;
    let text = execute(
        plane.url.clone(),
        format!("{}/{download_token}", redirector.url),
    )
    .await;
    assert!(text.contains("redirect (302)"), "{text}");
    seen.push(text);
    let plane_redirect = Scripted::redirect(307, "http://127.0.0.1:9/elsewhere").await;
    let text = execute(plane_redirect.url.clone(), secret_url(&served)).await;
    assert!(text.contains("redirect (307)"), "{text}");
    seen.push(text);
    let echo = Scripted::start(answer(400, "text/plain", "bad request", "")).await;
    seen.push(execute(echo.url.clone(), secret_url(&served)).await);
    for refused in ["http://169.254.169.254", "http://10.0.0.1:8080"] {
        let text = execute(refused.into(), secret_url(&served)).await;
        assert!(text.contains("HUB_OUTBOUND_ALLOW"), "{text}");
        seen.push(text);
    }

    hub.sigterm();
    hub.exit_within(std::time::Duration::from_secs(15)).await;
    let logs = hub.logs();
    assert!(
        logs.contains("peer answered with an error")
            && logs.contains("outgoing connection refused"),
        "the new paths were logged: {logs}"
    );
    assert!(
        logs.contains("login finished"),
        "the flows were logged: {logs}"
    );
    // The start says which redirect URI to register with the OAuth client (user mode).
    let told = logs.lines().any(|l| {
        l.contains("register this redirect URI with the OAuth client")
            && l.contains(&format!("{base}/oauth_redirect"))
    });
    assert!(
        told,
        "the redirect URI to register is logged at start: {logs}"
    );
    assert!(
        logs.contains("\"level\":\"DEBUG\"") || logs.contains("\"severity\":\"DEBUG\""),
        "debug logging was on"
    );

    secrets.extend([
        hub_token.clone(),
        old_token.clone(),
        signed,
        client_secret,
        key,
        key_bytes,
        write_key.clone(),
        base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:")),
        download_token,
        wrong_token,
    ]);
    for s in &login_links {
        // In the login form's link by design; never in the log.
        assert!(
            !logs.contains(s.get(..24).unwrap_or(s)),
            "a login state is in the log"
        );
    }
    for s in &secrets {
        // A prefix of each value is enough to find a copy, whole or cut.
        let needle = s.get(..24).unwrap_or(s);
        assert!(
            !logs.contains(needle),
            "a secret or token is in the log: {needle}"
        );
        for page in &seen {
            assert!(
                !page.contains(needle),
                "a secret or token is in an answer or page: {needle}: {page}"
            );
        }
    }
}

/// BigQuery write-back with the hub's own access token set to marker values: one that BigQuery
/// (the emulator behind a gate that plays its front end) accepts, and one it refuses. Cell and
/// whole-query executes, and the refusal's message: no marker in the log or any answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bigquery_credential_reaches_a_log_or_an_answer() {
    use crate::stand_ins::{batch_pushed, result_doc, spawn_gate, Emulator};

    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let dataset = Emulator::dataset_name();
    let run = uuid::Uuid::new_v4().simple().to_string();
    // The gate lets `good-*` tokens through and refuses any other as UNAUTHENTICATED.
    let accepted = format!("good-MARKERgcptoken{run}");
    let refused = format!("MARKERrefusedgcptoken{run}");
    let hub_token = format!("MARKERbqhubtoken{run}");
    let mut seen = vec![];
    let mut logs = String::new();
    for (token, create, succeeds) in [(&accepted, "true", true), (&refused, "false", false)] {
        let mut env = emu.hub_vars(&dataset, &gate);
        env.retain(|(k, _)| !matches!(*k, "HUB_GCP_ACCESS_TOKEN" | "HUB_BIGQUERY_TIMEOUT_SECS"));
        env.extend([
            ("HUB_GCP_ACCESS_TOKEN", token.as_str()),
            // The tables are created through the emulator itself (the gate passes only writes).
            ("HUB_BIGQUERY_CREATE_TABLES", create),
            ("HUB_BIGQUERY_TIMEOUT_SECS", "3"),
            ("HUB_TOKENS", hub_token.as_str()),
            ("RUST_LOG", "debug"),
        ]);
        let mut hub = HubProcess::start(&env).await;
        let http = client();
        let auth = format!("Token token=\"{hub_token}\"");
        for (action, body) in [
            (
                "mark_suspicious",
                crate::execute::cell(json!("ORD-H1"), "Suspicious", "hygiene"),
            ),
            (
                "writeback_batch",
                batch_pushed(&result_doc(50), true, "Suspicious"),
            ),
        ] {
            let r = looker_headers(http.post(format!("{}/actions/{action}/execute", hub.base)))
                .header("Authorization", &auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            let text = r.text().await.unwrap();
            assert_eq!(
                text.contains("\"success\":true"),
                succeeds,
                "{action} with {}: {text}",
                if succeeds {
                    "an accepted token"
                } else {
                    "a refused token"
                }
            );
            seen.push(text);
        }
        hub.sigterm();
        hub.exit_within(std::time::Duration::from_secs(15)).await;
        logs.push_str(&hub.logs());
    }
    for s in [&accepted, &refused, &hub_token] {
        let needle = s.get(..24).unwrap_or(s);
        assert!(
            !logs.contains(needle),
            "a credential is in the log: {needle}"
        );
        for page in &seen {
            assert!(
                !page.contains(needle),
                "a credential is in an answer: {page}"
            );
        }
    }
}

/// Secret Manager references (issue 12): the real binary resolves a global and a regional
/// reference whose values are markers, after its first reads were refused (start-up retries
/// logged), then keeps running while the newest regional version is disabled (refresh warnings
/// logged). Neither the values nor the hub's access token reach the log or an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_manager_value_reaches_a_log() {
    use crate::secrets::SecretManager;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let global_value = format!("MARKERsmglobal{run}");
    let regional_value = format!("MARKERsmregional{run}");
    let sm_token = format!("MARKERsmaccesstoken{run}");
    const GLOBAL: &str = "projects/acme/secrets/hub-token/versions/1";
    const REGIONAL: &str = "projects/acme/locations/europe-west1/secrets/hub-token/versions/latest";
    let global = SecretManager::spawn().await;
    let regional = SecretManager::spawn_at("127.0.0.2:0", Some("europe-west1")).await;
    global.set(GLOBAL, &global_value);
    regional.set(REGIONAL, &regional_value);
    global.store.lock().unwrap().deny_first = 2;
    // The stand-ins accept one token; the hub sends the marker.
    for sm in [&global, &regional] {
        sm.store.lock().unwrap().token = Some(sm_token.clone());
    }
    let tokens = format!("{GLOBAL},{REGIONAL}");
    let env = [
        ("HUB_TOKENS", tokens.as_str()),
        ("HUB_SECRET_MANAGER_ENDPOINT", global.url.as_str()),
        (
            "HUB_SECRET_MANAGER_REGIONAL_ENDPOINT",
            regional.url.as_str(),
        ),
        ("HUB_GCP_ACCESS_TOKEN", sm_token.as_str()),
        ("HUB_STARTUP_RETRY_SECS", "30"),
        ("HUB_SECRETS_REFRESH_SECS", "1"),
        ("RUST_LOG", "debug"),
    ];
    let mut hub = HubProcess::start(&env).await;
    let http = client();
    let mut seen = vec![];
    for value in [&global_value, &regional_value] {
        let r = looker_headers(http.post(format!("{}/", hub.base)))
            .header("Authorization", format!("Token token=\"{value}\""))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        seen.push(r.text().await.unwrap());
    }
    regional.store.lock().unwrap().states.insert(
        REGIONAL.into(),
        (
            "projects/acme/locations/europe-west1/secrets/hub-token/versions/2".into(),
            "DISABLED",
        ),
    );
    let asked = regional.requests();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while regional.requests() < asked + 2 {
        assert!(std::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    hub.sigterm();
    hub.exit_within(std::time::Duration::from_secs(15)).await;
    let logs = hub.logs();
    assert!(
        logs.contains("start-up call failed; retrying"),
        "the start-up retries are logged"
    );
    assert!(
        logs.contains("is disabled"),
        "the disabled version is logged"
    );
    for needle in [&global_value, &regional_value, &sm_token] {
        assert!(!logs.contains(needle.as_str()), "in the log: {needle}");
        for page in &seen {
            assert!(!page.contains(needle.as_str()), "in an answer: {needle}");
        }
    }
}

/// Named RudderStack sources (`RUDDER_SOURCES`): one write key from the Secret Manager stand-in
/// (then rotated), one literal that its data plane refuses. List, definitions, forms, a delivery,
/// a refused delivery, a removed source and a missing choice at `RUST_LOG=debug`: the log names
/// the sources, never a key; no answer carries one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_source_write_key_reaches_a_log_or_an_answer() {
    use crate::secrets::{SecretManager, SM_TOKEN};
    use crate::support::rudder::{outcome, parse};

    let run = uuid::Uuid::new_v4().simple().to_string();
    let sm_key = format!("MARKERsourcekeyone{run}");
    let sm_key_2 = format!("MARKERsourcekeytwo{run}");
    let literal_key = format!("MARKERsourceliteral{run}");
    const REF: &str = "projects/acme/secrets/rs-alpha/versions/latest";
    let sm = SecretManager::spawn().await;
    sm.set(REF, &sm_key);
    let alpha = Receiver::start(&sm_key, Keep::Bodies).await;
    // Beta's data plane expects another key: the delivery is refused (401).
    let beta = Receiver::start("the-key-beta-expects", Keep::Bodies).await;
    let sources = format!("alpha={REF}@{},beta={literal_key}@{}", alpha.url, beta.url);
    let env = [
        ("RUDDER_SOURCES", sources.as_str()),
        ("HUB_SECRET_MANAGER_ENDPOINT", sm.url.as_str()),
        ("HUB_GCP_ACCESS_TOKEN", SM_TOKEN),
        ("HUB_SECRETS_REFRESH_SECS", "1"),
        ("RUDDER_RETRY_BASE_MS", "1"),
        ("RUDDER_MAX_ATTEMPTS", "2"),
        ("RUST_LOG", "debug"),
        ("HUB_LOG_FORMAT", "json"),
    ];
    let mut hub = HubProcess::start(&env).await;
    let http = client();
    let auth = format!("Token token=\"{}\"", crate::helpers::TOKEN);
    let mut seen: Vec<String> = vec![];
    let call = |path: String, body: Value| {
        let req = looker_headers(http.post(format!("{}{path}", hub.base)))
            .header("Authorization", auth.clone())
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let doc = crate::download::json_detail(
        "2024-05-01T10:00:00+00:00",
        r#"[{"name":"users.id","tags":["user_id"]},{"name":"users.plan"}]"#,
        "[]",
        ["{\"users.id\":{\"value\":\"u1\"},\"users.plan\":{\"value\":\"pro\"}}".to_string()]
            .into_iter(),
    );
    let execute = |source: Option<&str>| {
        let mut b = request("unused", Source::Inline(&doc), &[], Some("Synced"));
        b["data"] = json!({});
        if let Some(s) = source {
            b["form_params"]["source"] = json!(s);
        }
        b
    };
    let mut answers = vec![call("/".into(), json!({})).await];
    for name in ["rudder_event", "rudder_group", "rudder_track"] {
        answers.push(call(format!("/actions/{name}"), json!({})).await);
        answers.push(
            call(
                format!("/actions/{name}/form"),
                json!({"type": "query", "data": {}}),
            )
            .await,
        );
    }
    let (_, ok) = call(
        "/actions/rudder_track/execute".into(),
        execute(Some("alpha")),
    )
    .await;
    assert!(outcome(&parse(&ok)).0, "{ok}");
    let (_, refused) = call(
        "/actions/rudder_track/execute".into(),
        execute(Some("beta")),
    )
    .await;
    assert!(
        outcome(&parse(&refused)).1.contains("HTTP 401"),
        "{refused}"
    );
    let (_, removed) = call(
        "/actions/rudder_track/execute".into(),
        execute(Some("gone")),
    )
    .await;
    assert!(
        outcome(&parse(&removed)).1.contains("\"gone\""),
        "{removed}"
    );
    let (_, missing) = call("/actions/rudder_track/execute".into(), execute(None)).await;
    assert!(missing.contains("validation_errors"), "{missing}");
    // Rotation: the next refresh reads the second key.
    sm.set(REF, &sm_key_2);
    let asked = sm.requests();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sm.requests() < asked + 1 {
        assert!(std::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, after) = call(
        "/actions/rudder_track/execute".into(),
        execute(Some("alpha")),
    )
    .await;
    seen.extend(answers.into_iter().map(|(_, a)| a));
    seen.extend([ok, refused, removed, missing, after]);
    hub.sigterm();
    hub.exit_within(std::time::Duration::from_secs(15)).await;
    let logs = hub.logs();
    assert!(
        logs.contains("\"source\":\"alpha\""),
        "the log names the source"
    );
    assert!(
        logs.contains("\"source\":\"beta\""),
        "the log names the source"
    );
    for needle in [&sm_key, &sm_key_2, &literal_key] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{needle}:"));
        for n in [needle.as_str(), &b64[..24]] {
            assert!(!logs.contains(n), "in the log: {n}");
            for page in &seen {
                assert!(!page.contains(n), "in an answer: {n}: {page}");
            }
        }
    }
}
