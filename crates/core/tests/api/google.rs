//! The Google services as production needs them (issue 12, items 5–9): regional Secret Manager
//! references, a disabled newest secret version, a half-dead BigQuery connection, start-up races
//! and IAM propagation, and users' BigQuery clients reused between executes. Against the Secret
//! Manager stand-in (on a second loopback address for the regional endpoint), a BigQuery REST
//! stand-in, and the BigQuery emulator behind the HTTP/2 gate.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hub_core::routes::Function;
use hub_core::sinks::WriteCredential;

use crate::support::rows::{mark, AppendMark};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::execute::cell;
use crate::helpers::TestHub;
use crate::secrets::{sm_vars, start_error, SecretManager};
use crate::stand_ins::{spawn_gate, spawn_gate_counted, Emulator, GOOD_TOKEN};

async fn list_status(hub: &TestHub, token: &str) -> u16 {
    hub.post_with_auth("/", &json!({}), Some(&format!("Token token=\"{token}\"")))
        .await
        .status()
        .as_u16()
}

// ---- item 5: regional Secret Manager references ------------------------------------------------

#[tokio::test]
async fn regional_secret_references_are_read_from_their_regional_endpoint() {
    const GLOBAL: &str = "projects/acme/secrets/hub-token/versions/2";
    const REGIONAL: &str = "projects/acme/locations/europe-west1/secrets/hub-token/versions/latest";
    // The global endpoint answers 400 for a regional name, as the real one does; the regional
    // endpoint listens on a second loopback address.
    let global = SecretManager::spawn().await;
    let regional = SecretManager::spawn_at("127.0.0.2:0", Some("europe-west1")).await;
    global.set(GLOBAL, "global-token");
    regional.set(REGIONAL, "regional-token");
    let tokens = format!("{GLOBAL},{REGIONAL}");
    let mut vars = sm_vars(&global, &tokens);
    vars.push((
        "HUB_SECRET_MANAGER_REGIONAL_ENDPOINT",
        regional.url.as_str(),
    ));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;

    assert_eq!(list_status(&hub, "global-token").await, 200);
    assert_eq!(list_status(&hub, "regional-token").await, 200);
    assert_eq!(global.store.lock().unwrap().asked, vec![GLOBAL.to_string()]);
    assert_eq!(
        regional.store.lock().unwrap().asked,
        vec![REGIONAL.to_string()]
    );
}

// ---- item 6: a disabled or destroyed newest version --------------------------------------------

#[tokio::test]
async fn a_disabled_or_destroyed_newest_version_is_named_with_the_way_out() {
    const LATEST: &str = "projects/acme/secrets/hub-token/versions/latest";
    for state in ["DISABLED", "DESTROYED"] {
        let sm = SecretManager::spawn().await;
        sm.store.lock().unwrap().states.insert(
            LATEST.into(),
            ("projects/acme/secrets/hub-token/versions/4".into(), state),
        );
        let mut vars = sm_vars(&sm, LATEST);
        // Not something time heals: never retried, even with a start budget.
        vars.push(("HUB_STARTUP_RETRY_SECS", "30"));
        let msg = start_error(&vars).await;
        let lower = state.to_ascii_lowercase();
        assert_eq!(
            msg,
            format!(
                "HUB_TOKENS: Secret Manager version projects/acme/secrets/hub-token/versions/4 of {LATEST} is {lower}; \
                 `latest` always means the newest version, even a {lower} one. Roll back by adding a new version \
                 with the previous value (gcloud secrets versions add), never by disabling the newest"
            )
        );
        assert_eq!(sm.requests(), 1, "{state}: not retried");
    }
}

// ---- item 8: secret reads right after a deploy --------------------------------------------------

#[tokio::test]
async fn secret_reads_refused_while_iam_propagates_are_retried_within_the_start_budget() {
    const REF: &str = "projects/acme/secrets/hub-token/versions/1";
    let sm = SecretManager::spawn().await;
    sm.set(REF, "token-after-iam");
    sm.store.lock().unwrap().deny_first = 3;
    let mut vars = sm_vars(&sm, REF);
    vars.push(("HUB_STARTUP_RETRY_SECS", "60"));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    assert_eq!(list_status(&hub, "token-after-iam").await, 200);
    assert_eq!(sm.requests(), 4, "three refusals, then the read");

    // A grant that never arrives: retried until the budget is spent, then the clear message.
    let sm = SecretManager::spawn().await;
    sm.set(REF, "never-readable");
    sm.store.lock().unwrap().denied.push(REF.into());
    let mut vars = sm_vars(&sm, REF);
    vars.push(("HUB_STARTUP_RETRY_SECS", "2"));
    let msg = start_error(&vars).await;
    assert!(
        msg.starts_with(&format!(
            "HUB_TOKENS: the hub's service account may not read {REF}"
        )),
        "{msg}"
    );
    assert!(sm.requests() >= 2, "retried: {}", sm.requests());
    assert!(!msg.contains("never-readable"));
}

// ---- item 8: BigQuery tables at start ------------------------------------------------------------

/// A BigQuery REST stand-in: `answer(method, path, n)` (n = how many requests came before).
async fn spawn_rest(
    answer: impl Fn(&str, &str, usize) -> (u16, serde_json::Value) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Some(head) = crate::stand_ins::read_head(&mut socket).await else {
                    return;
                };
                let line = head.lines().next().unwrap_or("").to_string();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts
                    .next()
                    .unwrap_or("")
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(format!("{method} {path}"));
                    log.len() - 1
                };
                let (status, body) = answer(&method, &path, n);
                let body = body.to_string();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(resp.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn rest_error(code: u16, status: &str, message: &str) -> (u16, serde_json::Value) {
    (
        code,
        json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// Settings of a hub whose BigQuery is the scripted REST stand-in `rest`, checking (and creating)
/// the built-in actions' tables only: the scripts answer for those (the run ledger's tables, off
/// here, are checked like any other table: `ledger::runs_and_rejected_rows_reach_bigquery`).
fn bq_vars<'a>(rest: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("HUB_RUN_LEDGER", "false"),
        ("HUB_GCP_PROJECT", "p"),
        ("HUB_BIGQUERY_DATASET", "d"),
        ("HUB_BIGQUERY_ENDPOINT", rest),
        ("HUB_BIGQUERY_STORAGE_ENDPOINT", "http://127.0.0.1:9"),
        ("HUB_GCP_ACCESS_TOKEN", GOOD_TOKEN),
        ("HUB_BIGQUERY_TIMEOUT_SECS", "5"),
        ("HUB_BIGQUERY_CREATE_TABLES", "true"),
    ];
    vars.extend_from_slice(extra);
    vars
}

#[tokio::test]
async fn tables_another_instance_created_meanwhile_are_a_successful_start() {
    // Both tables look missing, and the insert answers 409: another instance won the race.
    let (rest, seen) = spawn_rest(|method, path, _| match method {
        "GET" if path.contains("/tables/") => {
            rest_error(404, "NOT_FOUND", "Not found: Table p:d.t")
        }
        "GET" => (
            200,
            json!({"datasetReference": {"projectId": "p", "datasetId": "d"}}),
        ),
        _ if path.ends_with("/tables") => {
            rest_error(409, "ALREADY_EXISTS", "Already Exists: Table p:d.t")
        }
        _ => rest_error(400, "INVALID_ARGUMENT", "unexpected"),
    })
    .await;
    let _hub = TestHub::spawn_with(&bq_vars(&rest, &[]), Function::ALL).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|r| r.starts_with("POST ")).count(),
        2,
        "both tables inserted (and found existing): {seen:?}"
    );
}

#[tokio::test]
async fn table_checks_refused_while_iam_propagates_are_retried_within_the_start_budget() {
    let table = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or("").to_string();
        json!({
            "tableReference": {"projectId": "p", "datasetId": "d", "tableId": name},
            "schema": {"fields": []}
        })
    };
    let denied = "Access Denied: Table p:d.suspicious_marks: Permission bigquery.tables.get denied on table p:d.suspicious_marks (or it may not exist).";
    // The first two checks are refused (the grant is still propagating), then it is there.
    let (rest, seen) = spawn_rest(move |_, path, n| {
        if n < 2 {
            rest_error(403, "PERMISSION_DENIED", denied)
        } else {
            (200, table(path))
        }
    })
    .await;
    let _hub = TestHub::spawn_with(
        &bq_vars(&rest, &[("HUB_STARTUP_RETRY_SECS", "60")]),
        Function::ALL,
    )
    .await;
    assert_eq!(seen.lock().unwrap().len(), 4, "{:?}", seen.lock().unwrap());

    // Never granted: the start fails after the budget, saying the table may be missing too.
    let (rest, seen) =
        spawn_rest(move |_, _, _| rest_error(403, "PERMISSION_DENIED", denied)).await;
    let msg = start_error(&bq_vars(&rest, &[("HUB_STARTUP_RETRY_SECS", "2")])).await;
    assert!(msg.contains("(or it may not exist)"), "{msg}");
    assert!(seen.lock().unwrap().len() >= 2, "retried");
}

// ---- items 7 and 8: writes through the HTTP/2 gate ----------------------------------------------

/// A dataset with both tables, created through the emulator itself.
async fn tables(emu: &Emulator) -> (String, TestHub) {
    let dataset = Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    let creator = TestHub::spawn_with(&vars, Function::ALL).await;
    (dataset, creator)
}

#[tokio::test]
async fn a_half_dead_bigquery_connection_is_replaced_within_the_write_budget() {
    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let (dataset, _creator) = tables(&emu).await;
    // The first connection stays up but never answers; a new one works.
    let mut vars = emu.hub_vars(&dataset, &gate);
    vars.retain(|(k, _)| *k != "HUB_GCP_ACCESS_TOKEN" && *k != "HUB_BIGQUERY_TIMEOUT_SECS");
    vars.extend([
        ("HUB_GCP_ACCESS_TOKEN", "good-halfdead-service"),
        ("HUB_BIGQUERY_TIMEOUT_SECS", "9"),
    ]);
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let (status, resp) = hub
        .execute(
            "mark_suspicious",
            &cell(json!("ORD-HALF"), "Suspicious", ""),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let rows = emu
        .query(&format!(
            "SELECT order_id FROM `{}.{dataset}.suspicious_marks`",
            emu.project
        ))
        .await;
    assert!(rows.iter().any(|r| r["order_id"] == "ORD-HALF"), "{rows:?}");
}

#[tokio::test]
async fn a_bigquery_permission_error_that_may_mean_a_missing_table_says_both() {
    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let (dataset, _creator) = tables(&emu).await;
    let mut vars = emu.hub_vars(&dataset, &gate);
    vars.retain(|(k, _)| *k != "HUB_GCP_ACCESS_TOKEN");
    vars.push(("HUB_GCP_ACCESS_TOKEN", "denied-or-missing"));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let (_, resp) = hub
        .execute("mark_suspicious", &cell(json!("ORD-1"), "Suspicious", ""))
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "The action hub is not allowed to write to the write-back table, or the table does not exist. Ask your Looker admin to check both."
    );
}

// ---- item 9: a user's write client is reused until the token expires -----------------------------

#[tokio::test]
async fn a_users_bigquery_write_client_is_reused_until_the_token_expires() {
    let emu = Emulator::get().await;
    let (gate, connections) = spawn_gate_counted(&emu.grpc).await;
    let (dataset, _creator) = tables(&emu).await;
    let sink = crate::bigquery::sink_through(&emu, &dataset, &gate).await;
    let now = chrono::Utc::now().timestamp();
    let user = |t: &str, expires_in: i64| WriteCredential::User {
        access_token: t.to_string().into(),
        expires_at: Some(now + expires_in),
    };

    for i in 0..3 {
        sink.append_mark(&mark(&format!("A-{i}")), &user("good-user-a", 3600))
            .await
            .unwrap();
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one connection for user A"
    );
    sink.append_mark(&mark("B-0"), &user("good-user-b", 3600))
        .await
        .unwrap();
    sink.append_mark(&mark("A-3"), &user("good-user-a", 3600))
        .await
        .unwrap();
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "user B has their own"
    );
    // A token about to expire is not kept: each write gets a client of its own.
    for i in 0..2 {
        sink.append_mark(&mark(&format!("C-{i}")), &user("good-user-c", 30))
            .await
            .unwrap();
    }
    assert_eq!(connections.load(Ordering::SeqCst), 4);
    // A refused token is not kept either.
    for _ in 0..2 {
        assert!(sink
            .append_mark(&mark("X"), &user("expired-user", 3600))
            .await
            .is_err());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 6);

    let rows = emu
        .query(&format!(
            "SELECT COUNT(*) AS n FROM `{}.{dataset}.suspicious_marks`",
            emu.project
        ))
        .await;
    assert_eq!(rows[0]["n"], "7");
}
