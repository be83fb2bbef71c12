//! BigQuery write-back through the hub, against the BigQuery emulator (REST + Storage Write gRPC):
//! rows are written by executes and read back with queries.

use std::time::{Duration, Instant};

use hub_core::routes::Function;
use hub_core::settings::Settings;
use hub_core::sinks::bigquery::{BigQuerySettings, BigQuerySink};
use hub_core::sinks::{SinkError, WriteCredential};

use crate::support::rows::{assert_batch_row, assert_mark_row, mark, AppendMark};
use serde_json::{json, Value};

use crate::execute::cell;
use crate::helpers::{read_table, test_vars, TestHub};
use crate::stand_ins::{
    batch_from_url, batch_pushed, closed_port, result_doc, serve_result, spawn_gate, Emulator,
    GOOD_TOKEN,
};

/// The hub's BigQuery sink on `dataset` (its tables exist), writing through `storage_endpoint`
/// (the emulator's gRPC or a gate in front of it), started with the service token.
pub(crate) async fn sink_through(
    emu: &Emulator,
    dataset: &str,
    storage_endpoint: &str,
) -> BigQuerySink {
    let dir = tempfile::tempdir().unwrap();
    let env = test_vars(
        0,
        &dir.path().join("s.sqlite"),
        &emu.hub_vars(dataset, storage_endpoint),
    );
    let settings: BigQuerySettings = Settings::load(&env, false).unwrap().gcp.bigquery.unwrap();
    BigQuerySink::start_with(
        settings,
        &hub_core::declared::builtin::tables(),
        Some(&GOOD_TOKEN.to_string().into()),
        hub_core::startup::StartBudget::new(Duration::ZERO),
    )
    .await
    .unwrap()
}

/// A hub writing to a fresh dataset that it creates on start.
async fn bq_hub(emu: &Emulator, extra: &[(&str, &str)]) -> (TestHub, String) {
    let dataset = Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    vars.extend_from_slice(extra);
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    (hub, dataset)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[tokio::test]
async fn cell_writeback_appends_one_row_per_execute_to_bigquery() {
    let emu = Emulator::get().await;
    let (hub, ds) = bq_hub(&emu, &[]).await;
    let (status, resp) = hub
        .execute(
            "mark_suspicious",
            &cell(json!("ORD-7"), "Further Investigation", " card mismatch "),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(resp["looker"]["refresh_query"], true);
    let (_, resp) = hub
        .execute("mark_suspicious", &cell(json!("ORD-8"), "approved", ""))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");

    let rows = emu
        .query(&format!(
            "SELECT * FROM `{}.{ds}.suspicious_marks` ORDER BY order_id",
            emu.project
        ))
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &Value::Object(rows[0].clone());
    assert_mark_row(
        r,
        "ORD-7",
        "Further Investigation",
        "card mismatch",
        "analyst@example.com",
    );
    assert!(!r["received_at"].is_null());
    assert_eq!(rows[1]["classification"], "Approved");
    assert_eq!(rows[1]["comment"], "");
    assert_ne!(rows[0]["request_id"], rows[1]["request_id"]);
    // Nothing went to the embedded store.
    assert!(!hub.store_path.exists() || hub.marks().is_empty());
}

#[tokio::test]
async fn whole_query_writeback_streams_every_row_into_bigquery() {
    let emu = Emulator::get().await;
    let (hub, ds) = bq_hub(&emu, &[("HUB_WRITEBACK_BATCH_ROWS", "1000")]).await;
    let n = 2_500;
    let url = serve_result(n, None).await;
    let (status, resp) = hub
        .execute(
            "writeback_batch",
            &batch_from_url(&url, "Suspicious", "bulk review"),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert!(
        text(&resp["looker"]["message"]).contains("Wrote 2500 rows"),
        "{resp}"
    );

    let t = format!("`{}.{ds}.suspicious_marks_batch`", emu.project);
    let stats = emu
        .query(&format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS idx, COUNT(DISTINCT request_id) AS req, \
             MIN(key_value) AS lo, MAX(row_index) AS hi FROM {t}"
        ))
        .await;
    assert_eq!(stats[0]["n"], "2500", "{stats:?}");
    assert_eq!(stats[0]["idx"], "2500");
    assert_eq!(stats[0]["req"], "1");
    assert_eq!(stats[0]["hi"], "2499");
    let rows = emu
        .query(&format!("SELECT * FROM {t} WHERE row_index = 7"))
        .await;
    let r = &rows[0];
    assert_batch_row(
        &Value::Object(r.clone()),
        "1007",
        "Suspicious",
        "bulk review",
        "analyst@example.com",
    );
    assert_eq!(r["scheduled_plan_id"], "77");
    assert_eq!(r["query_id"], "q-123");
    assert_eq!(r["action"], "writeback_batch");
    let row: Value = serde_json::from_str(text(&r["row_json"])).unwrap();
    assert_eq!(row["users.email"]["value"], "u7@example.com");
    assert_eq!(row["orders.total"]["value"], 10.5);
}

#[tokio::test]
async fn bigquery_and_the_embedded_store_get_the_same_rows() {
    let emu = Emulator::get().await;
    let (bq, ds) = bq_hub(&emu, &[]).await;
    let local = TestHub::spawn().await;
    let doc = result_doc(30);
    for hub in [&bq, &local] {
        let (_, r) = hub
            .execute(
                "mark_suspicious",
                &cell(json!("ORD-1"), "Suspicious", "same"),
            )
            .await;
        assert_eq!(r["looker"]["success"], true, "{r}");
        let (_, r) = hub
            .execute("writeback_batch", &batch_pushed(&doc, true, "Approved"))
            .await;
        assert_eq!(r["looker"]["success"], true, "{r}");
        assert!(
            text(&r["looker"]["message"]).contains("Wrote 30 rows"),
            "{r}"
        );
    }
    let skip = ["request_id", "received_at"];
    let strip = |row: &serde_json::Map<String, Value>| -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = row
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = match v {
                    // BigQuery returns INT64 as text over REST; compare as text.
                    Value::Number(n) => Value::String(n.to_string()),
                    // JSON columns: compare the parsed documents.
                    Value::String(s) if k == "row_json" => serde_json::from_str(s).unwrap(),
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    for (table, order) in [
        ("suspicious_marks", "order_id"),
        ("suspicious_marks_batch", "row_index"),
    ] {
        let from_bq = emu
            .query(&format!(
                "SELECT * FROM `{}.{ds}.{table}` ORDER BY {order}",
                emu.project
            ))
            .await;
        let from_local: Vec<_> = read_table(&local.store_path, table)
            .into_iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect();
        assert_eq!(from_bq.len(), from_local.len(), "{table}");
        for (a, b) in from_bq.iter().zip(&from_local) {
            assert_eq!(strip(a), strip(b), "{table}");
        }
    }
}

#[tokio::test]
async fn a_missing_table_is_a_clear_failure_and_does_not_stop_the_hub() {
    let emu = Emulator::get().await;
    let ds = Emulator::dataset_name();
    emu.create_dataset(&ds).await;
    // No HUB_BIGQUERY_CREATE_TABLES: the hub starts, warns, and executes explain the problem.
    let hub = TestHub::spawn_with(&emu.hub_vars(&ds, &emu.grpc), Function::ALL).await;
    let (status, resp) = hub
        .execute("mark_suspicious", &cell(json!("ORD-1"), "Suspicious", ""))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "The write-back table does not exist. Ask your Looker admin to create it."
    );
    let (_, resp) = hub
        .execute(
            "writeback_batch",
            &batch_pushed(&result_doc(5), false, "Approved"),
        )
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    let msg = text(&resp["looker"]["message"]);
    assert!(msg.contains("Only 0 of the 5 rows"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[tokio::test]
async fn emulator_down_is_a_bounded_clear_failure() {
    let down = format!("http://127.0.0.1:{}", closed_port());
    let dataset = Emulator::dataset_name();
    let vars = [
        ("HUB_GCP_PROJECT", "hub-test"),
        ("HUB_BIGQUERY_DATASET", dataset.as_str()),
        ("HUB_BIGQUERY_ENDPOINT", down.as_str()),
        ("HUB_BIGQUERY_STORAGE_ENDPOINT", down.as_str()),
        ("HUB_GCP_ACCESS_TOKEN", GOOD_TOKEN),
        ("HUB_BIGQUERY_TIMEOUT_SECS", "3"),
    ];
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let started = Instant::now();
    let (status, resp) = hub
        .execute("mark_suspicious", &cell(json!("ORD-1"), "Suspicious", ""))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(
        crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
        "The warehouse could not be reached. Please try again later."
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn service_identity_refused_tokens_quota_and_timeouts_become_business_messages() {
    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let dataset = Emulator::dataset_name();
    // Tables are created through the real emulator; writes go through the gate.
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    let _creator = TestHub::spawn_with(&vars, Function::ALL).await;

    for (token, expected) in [
        (
            "expired",
            "The action hub could not sign in to the warehouse. Ask your Looker admin to check its credentials.",
        ),
        (
            "denied",
            "The action hub is not allowed to write to the write-back table. Ask your Looker admin to check its permissions.",
        ),
        (
            "quota",
            "The warehouse is busy (quota exceeded). Please try again in a minute.",
        ),
        ("slow", "The warehouse did not answer in time. Please try again."),
    ] {
        let mut vars = emu.hub_vars(&dataset, &gate);
        vars.retain(|(k, _)| *k != "HUB_GCP_ACCESS_TOKEN" && *k != "HUB_BIGQUERY_TIMEOUT_SECS");
        vars.push(("HUB_GCP_ACCESS_TOKEN", token));
        vars.push(("HUB_BIGQUERY_TIMEOUT_SECS", "2"));
        let hub = TestHub::spawn_with(&vars, Function::ALL).await;
        let started = Instant::now();
        let (status, resp) = hub
            .execute("mark_suspicious", &cell(json!("ORD-1"), "Suspicious", ""))
            .await;
        assert_eq!(status, 200, "{token}");
        assert_eq!(resp["looker"]["success"], false, "{token}: {resp}");
        assert_eq!(
            crate::helpers::unnamed(resp["looker"]["message"].as_str().unwrap()),
            expected,
            "{token}"
        );
        assert!(started.elapsed() < Duration::from_secs(12), "{token}: {:?}", started.elapsed());
    }
    // The good token passes the gate: the row lands.
    let vars = emu.hub_vars(&dataset, &gate);
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let (_, resp) = hub
        .execute(
            "mark_suspicious",
            &cell(json!("ORD-GATE"), "Suspicious", ""),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let rows = emu
        .query(&format!(
            "SELECT order_id FROM `{}.{dataset}.suspicious_marks`",
            emu.project
        ))
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], "ORD-GATE");
}

#[tokio::test]
async fn user_tokens_write_as_the_user_and_their_refusals_say_so() {
    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let dataset = Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    let _creator = TestHub::spawn_with(&vars, Function::ALL).await;

    let sink = sink_through(&emu, &dataset, &gate).await;
    let user = |t: &str| WriteCredential::User {
        access_token: t.to_string().into(),
        expires_at: None,
    };

    sink.append_mark(&mark("ORD-USER"), &user("good-user-token"))
        .await
        .unwrap();
    let err = sink
        .append_mark(&mark("ORD-X"), &user("expired-user-token"))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unauthenticated(_)), "{err:?}");
    // The error detail (for the log) never carries the token.
    assert!(!format!("{err} {err:?}").contains("expired-user-token"));
    assert_eq!(
        err.user_message(&user("x")),
        "Your Google sign-in is no longer valid. Open the action again and sign in with Google."
    );
    let err = sink
        .append_mark(&mark("ORD-X"), &user("denied"))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::PermissionDenied(_)), "{err:?}");
    assert!(err
        .user_message(&user("x"))
        .starts_with("You do not have write access"));

    let rows = emu
        .query(&format!(
            "SELECT order_id, acted_by FROM `{}.{dataset}.suspicious_marks`",
            emu.project
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["order_id"], "ORD-USER");
}

#[tokio::test]
async fn a_connection_lost_mid_write_is_a_partial_failure_with_counts() {
    let emu = Emulator::get().await;
    let gate = spawn_gate(&emu.grpc).await;
    let dataset = Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    let _creator = TestHub::spawn_with(&vars, Function::ALL).await;

    // BigQuery answers two appends, then the connection breaks and stays down.
    let mut vars = emu.hub_vars(&dataset, &gate);
    vars.retain(|(k, _)| *k != "HUB_GCP_ACCESS_TOKEN" && *k != "HUB_BIGQUERY_TIMEOUT_SECS");
    vars.extend([
        ("HUB_GCP_ACCESS_TOKEN", "good-cut"),
        // Long enough for a busy emulator to answer the first appends.
        ("HUB_BIGQUERY_TIMEOUT_SECS", "15"),
        ("HUB_WRITEBACK_BATCH_ROWS", "500"),
    ]);
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    let url = serve_result(3_000, None).await;
    let (status, resp) = hub
        .execute("writeback_batch", &batch_from_url(&url, "Approved", ""))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    let msg = text(&resp["looker"]["message"]);
    let written: u64 = msg
        .strip_prefix("Only ")
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!((500..3_000).contains(&written), "{msg}");
    assert!(msg.contains("could not be reached"), "{msg}");
    // Every row reported written is in the table (more may be: at-least-once).
    let rows = emu
        .query(&format!(
            "SELECT COUNT(*) AS n FROM `{}.{dataset}.suspicious_marks_batch`",
            emu.project
        ))
        .await;
    let stored: u64 = text(&rows[0]["n"]).parse().unwrap();
    assert!(stored >= written, "{stored} < {written}");
}

#[tokio::test]
async fn a_cut_download_reports_what_was_written() {
    let emu = Emulator::get().await;
    let (hub, ds) = bq_hub(&emu, &[("HUB_WRITEBACK_BATCH_ROWS", "100")]).await;
    let url = serve_result(1_000, Some(450)).await;
    let (_, resp) = hub
        .execute("writeback_batch", &batch_from_url(&url, "Approved", ""))
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    let msg = text(&resp["looker"]["message"]);
    assert!(msg.starts_with("Wrote "), "{msg}");
    assert!(msg.contains("cut off"), "{msg}");
    let written: u64 = msg
        .strip_prefix("Wrote ")
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let rows = emu
        .query(&format!(
            "SELECT COUNT(*) AS n FROM `{}.{ds}.suspicious_marks_batch`",
            emu.project
        ))
        .await;
    assert_eq!(rows[0]["n"], written.to_string(), "{msg}");
    assert!(written <= 450, "{msg}");
}
