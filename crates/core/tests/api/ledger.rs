//! The outcome event and the run ledger through the real binary: one JSON outcome line per
//! execute when it ends (a success, a partial write with rejected rows, a RudderStack send a data
//! plane refuses, an execute the shutdown interrupts), the same runs and rejected rows in the
//! embedded store (read back by `hub runs`), a ledger the store refuses that changes no answer,
//! the setting that turns it off.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{client, looker_headers, read_table, unnamed, HubProcess, TOKEN};
use crate::receiver::{Faults, Keep, Receiver};
use crate::support::rudder::{request, Source, WRITE_KEY};

/// Execute as Looker does (its headers, a trace context); the answer's JSON.
async fn execute(base: &str, action: &str, body: &Value) -> Value {
    let text = looker_headers(client().post(format!("{base}/actions/{action}/execute")))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::helpers::execute_answer(&text)
}

/// The outcome events in a log, in order.
fn outcome_events(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "execute_outcome")
        .collect()
}

/// An event without what differs between runs (time, ids, duration), checked present first.
fn stable(mut e: Value) -> Value {
    let o = e.as_object_mut().unwrap();
    for field in ["time", "run_id", "request_id", "duration_ms"] {
        assert!(o.remove(field).is_some(), "{field} missing: {o:?}");
    }
    assert!(o.get("duration_ms").is_none());
    e
}

/// The reorder example: 5 result rows, 3 of which do not fit their columns.
fn reorder_with_rejections() -> Value {
    let row = |id: &str| {
        format!(
            r#"{{"products.id":{{"value":{id}}},"products.name":{{"value":"P"}},"inventory.stock":{{"value":1}},"products.extra":{{"value":0}}}}"#
        )
    };
    let doc = format!(
        r#"{{"fields":{{"dimensions":[{{"name":"products.id","tags":["product-id"]}},{{"name":"products.name"}},{{"name":"products.extra"}}],"measures":[{{"name":"inventory.stock"}}]}},"data":[{}]}}"#,
        [
            row("1"),
            row("1e999999"),
            row("1.5"),
            row("\"x\""),
            row("5")
        ]
        .join(",")
    );
    json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 12, "query_id": 34},
        "attachment": {"mimetype": "application/json", "extension": "json", "data": doc},
        "form_params": {"quantity": "5", "deliver_by": "2026-12-24"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_execute_logs_one_outcome_event_and_is_in_the_ledger_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::declared::service_copy(dir.path());
    let store = dir.path().join("s.sqlite");
    let mut hub = HubProcess::start(&[
        ("HUB_ACTIONS_FILE", file.to_str().unwrap()),
        ("HUB_STORE_PATH", store.to_str().unwrap()),
        ("RUDDER_RETRY_BASE_MS", "1"),
        ("RUDDER_RETRY_MAX_MS", "20"),
    ])
    .await;
    let trace = "105445aa7843bc8bf206b12000100000";

    // A success: one row written.
    let a = execute(
        &hub.base,
        "approve_discount",
        &json!({"type": "cell", "data": {"value": "42"},
                "form_params": {"discount_pct": "7", "reason": "loyalty", "valid_until": "2026-12-31"}}),
    )
    .await;
    assert_eq!(a["looker"]["success"], true, "{a}");
    let success_message = a["looker"]["message"].as_str().unwrap().to_string();
    assert!(!success_message.contains("(run "), "{success_message}");

    // A partial write: 2 rows written, 3 rejected.
    let a = execute(&hub.base, "reorder_stock", &reorder_with_rejections()).await;
    assert_eq!(a["looker"]["success"], false, "{a}");
    let partial_message = a["looker"]["message"].as_str().unwrap().to_string();
    let partial_run = partial_message
        .rsplit_once(" (run ")
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_string();
    unnamed(&partial_message);

    // A RudderStack send the data plane refuses: nothing delivered.
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(Faults {
        status_400: 1.0,
        ..Faults::default()
    });
    let doc = crate::download::users_result(4, 2);
    let a = execute(
        &hub.base,
        "rudder_event",
        &request(&plane.url, Source::Base64(&doc), &[], None),
    )
    .await;
    let refused_message = a["looker"]["message"].as_str().unwrap().to_string();
    assert_eq!(
        unnamed(&refused_message),
        "sent 0 of 4 events to RudderStack; 4 failed after 1 attempt: HTTP 400"
    );

    hub.sigterm();
    let status = hub.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", hub.logs());

    let events = outcome_events(&hub.logs());
    assert_eq!(events.len(), 3, "{}", hub.logs());
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids[1], partial_run);
    let common = json!({
        "message": "execute finished",
        "event": "execute_outcome",
        "target": "hub_core::http::outcome",
        "identity": "service",
        "looker_instance": "looker-test-instance",
        "webhook_id": "webhook-123",
        "logging.googleapis.com/trace": trace,
        "logging.googleapis.com/spanId": "0000000000000001",
        "rows_unconfirmed": 0,
    });
    let with = |extra: Value| {
        let mut v = common.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(
        stable(events[0].clone()),
        with(
            json!({"severity": "INFO", "action": "approve_discount", "kind": "cell",
            "outcome": "success", "rows_read": 0, "rows_delivered": 1, "rows_rejected": 0,
            "bytes_read": 0})
        )
    );
    let partial = stable(events[1].clone());
    let bytes = partial["bytes_read"].as_u64().unwrap();
    assert!(bytes > 300, "{partial}");
    assert_eq!(
        partial,
        with(
            json!({"severity": "WARNING", "action": "reorder_stock", "kind": "query",
            "scheduled_plan_id": "12", "query_id": "34", "send_mode": "every",
            "outcome": "partial", "rows_read": 5, "rows_delivered": 2, "rows_rejected": 3,
            "bytes_read": bytes, "error_kind": "validation", "error_message": partial_message})
        )
    );
    let rudder = stable(events[2].clone());
    assert_eq!(
        rudder,
        with(
            json!({"severity": "ERROR", "action": "rudder_event", "kind": "query",
            "scheduled_plan_id": "77", "query_id": "991", "send_mode": "every",
            "outcome": "failed", "rows_read": 4, "rows_delivered": 0, "rows_rejected": 0,
            "rows_unconfirmed": 4, "bytes_read": rudder["bytes_read"],
            "error_kind": "data_plane", "error_message": refused_message})
        )
    );

    // The same three runs in the ledger, and the partial one's rejected rows.
    let runs = read_table(&store, "hub_runs");
    let got: Vec<(&str, &str, i64, i64)> = runs
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["rows_delivered"].as_i64().unwrap(),
                r["rows_rejected"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (ids[0].as_str(), "success", 1, 0),
            (ids[1].as_str(), "partial", 2, 3),
            (ids[2].as_str(), "failed", 0, 0)
        ]
    );
    assert_eq!(runs[1]["error_message"], partial_message.as_str());
    assert_eq!(runs[1]["trace_id"], trace);
    assert_eq!(runs[1]["rejected_rows_recorded"], 3);
    let rejected: Vec<Value> = read_table(&store, "hub_rejected_rows")
        .into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            assert!(o.remove("recorded_at").is_some());
            r
        })
        .collect();
    let reject = |i: u64, key: &str, why: &str| {
        json!({"run_id": partial_run, "action": "reorder_stock", "row_index": i,
               "key_value": key, "column_name": "product_id", "reason": why})
    };
    assert_eq!(
        rejected,
        [
            reject(1, "1e999999", "products.id → product_id: expected INT64, got the number 1e999999: out of INT64's range"),
            reject(2, "1.5", "products.id → product_id: expected INT64, got the number 1.5: not a whole number"),
            reject(3, "x", "products.id → product_id: expected INT64, got text \"x\""),
        ]
    );

    // `hub runs`: newest first; --failed leaves the success out; a run id shows its rejections.
    let runs_of = |args: &[&str]| {
        let out = std::process::Command::new(crate::binaries::bin_dir().join("hub"))
            .arg("runs")
            .args(args)
            .env_clear()
            .env("HUB_STORE_PATH", &store)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let all = runs_of(&[]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(lines[0].contains(&format!("run {}", ids[2])), "{all}");
    assert!(
        lines[2].contains("success      approve_discount  cell  read 0  delivered 1"),
        "{all}"
    );
    let failed = runs_of(&["--failed"]);
    assert_eq!(failed.lines().count(), 2, "{failed}");
    assert!(!failed.contains("approve_discount"), "{failed}");
    let one = runs_of(&[&partial_run]);
    assert!(
        one.contains("rejected rows: 3 (the first 3 recorded)"),
        "{one}"
    );
    assert!(one.contains("  row 3  key x  column product_id  products.id → product_id: expected INT64, got text \"x\""), "{one}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_shutdown_interrupts_is_logged_and_kept_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let (hub, a) = crate::shutdown::sigterm_during_a_slow_write_back(&store).await;
    let message = a["looker"]["message"].as_str().unwrap();
    unnamed(message);
    let written = read_table(&store, "suspicious_marks_batch").len() as i64;
    assert!(written > 0, "{a}");

    let events = outcome_events(&hub.logs());
    assert_eq!(events.len(), 1, "{}", hub.logs());
    let e = &events[0];
    assert_eq!(
        (
            &e["severity"],
            &e["outcome"],
            &e["error_kind"],
            &e["rows_delivered"]
        ),
        (
            &json!("ERROR"),
            &json!("interrupted"),
            &json!("shutdown"),
            &json!(written)
        )
    );
    // Written after the execute answered, before the exit.
    let runs = read_table(&store, "hub_runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        (
            &runs[0]["run_id"],
            &runs[0]["outcome"],
            &runs[0]["rows_delivered"],
            &runs[0]["error_message"]
        ),
        (
            &e["run_id"],
            &json!("interrupted"),
            &json!(written),
            &json!(message)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_the_store_refuses_changes_no_answer_and_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let env = [("HUB_STORE_PATH", store.to_str().unwrap())];
    // A first start creates the tables; then the store refuses every run.
    let mut hub = HubProcess::start(&env).await;
    hub.sigterm();
    hub.exit_within(Duration::from_secs(5)).await;
    rusqlite::Connection::open(&store)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_runs BEFORE INSERT ON hub_runs \
             BEGIN SELECT RAISE(ABORT, 'runs refused'); END;",
        )
        .unwrap();
    let mut hub = HubProcess::start(&env).await;
    let a = execute(
        &hub.base,
        "mark_suspicious",
        &crate::execute::cell(json!("ORD-7"), "Approved", "checked"),
    )
    .await;
    // The answer a working ledger gives: a success, as the action said it.
    assert_eq!(
        (&a["looker"]["success"], &a["looker"]["message"]),
        (&json!(true), &json!("Order ORD-7 marked as Approved.")),
        "{a}"
    );
    hub.wait_for_log("ledger_write_failed", 1).await;
    hub.sigterm();
    hub.exit_within(Duration::from_secs(5)).await;
    assert_eq!(read_table(&store, "suspicious_marks").len(), 1);
    assert!(read_table(&store, "hub_runs").is_empty());
    let failed: Vec<Value> = hub
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "ledger_write_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", hub.logs());
    assert_eq!(
        (
            &failed[0]["severity"],
            &failed[0]["runs"],
            &failed[0]["ledger_failures_total"]
        ),
        (&json!("ERROR"), &json!(1), &json!(1))
    );
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("runs refused"),
        "{}",
        failed[0]
    );
    // The outcome event is still written.
    assert_eq!(outcome_events(&hub.logs()).len(), 1);
}

#[tokio::test]
async fn with_the_ledger_off_nothing_is_created_or_written() {
    let hub = crate::helpers::TestHub::spawn_with(
        &[("HUB_RUN_LEDGER", "false")],
        hub_core::routes::Function::ALL,
    )
    .await;
    let (status, a) = hub
        .execute(
            "mark_suspicious",
            &crate::execute::cell(json!("ORD-8"), "Approved", ""),
        )
        .await;
    assert_eq!(
        (status, &a["looker"]["success"]),
        (200, &json!(true)),
        "{a}"
    );
    assert_eq!(hub.marks().len(), 1);
    let conn = rusqlite::Connection::open(&hub.store_path).unwrap();
    let ledger_tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('hub_runs', 'hub_rejected_rows')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ledger_tables, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_rejected_rows_reach_bigquery() {
    let emu = crate::stand_ins::Emulator::get().await;
    let dir = tempfile::tempdir().unwrap();
    let file = crate::declared::service_copy(dir.path());
    let dataset = crate::stand_ins::Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    vars.push(("HUB_ACTIONS_FILE", file.to_str().unwrap()));
    vars.push(("HUB_RUN_LEDGER", "true"));
    let mut hub = HubProcess::start(&vars).await;
    let a = execute(&hub.base, "reorder_stock", &reorder_with_rejections()).await;
    assert_eq!(a["looker"]["success"], false, "{a}");
    let message = a["looker"]["message"].as_str().unwrap();
    let run = message
        .rsplit_once(" (run ")
        .unwrap()
        .1
        .trim_end_matches(')');
    // The graceful stop stores the queued run before the exit.
    hub.sigterm();
    let status = hub.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", hub.logs());

    let runs_sql = format!(
        "SELECT run_id, action, kind, identity, outcome, rows_read, rows_delivered, rows_rejected, \
         rows_unconfirmed, rejected_rows_recorded, error_kind, error_message, scheduled_plan_id, \
         query_id, trace_id FROM `{}.{dataset}.hub_runs`",
        emu.project
    );
    let runs = emu.query(&runs_sql).await;
    assert_eq!(
        runs.into_iter().map(Value::Object).collect::<Vec<_>>(),
        [
            json!({"run_id": run, "action": "reorder_stock", "kind": "query", "identity": "service",
            "outcome": "partial", "rows_read": "5", "rows_delivered": "2", "rows_rejected": "3",
            "rows_unconfirmed": "0", "rejected_rows_recorded": "3", "error_kind": "validation",
            "error_message": message, "scheduled_plan_id": "12", "query_id": "34",
            "trace_id": "105445aa7843bc8bf206b12000100000"})
        ]
    );
    let rejected = emu
        .query(&format!(
            "SELECT run_id, row_index, key_value, column_name FROM `{}.{dataset}.hub_rejected_rows` \
             ORDER BY row_index",
            emu.project
        ))
        .await;
    assert_eq!(
        rejected.into_iter().map(Value::Object).collect::<Vec<_>>(),
        [
            json!({"run_id": run, "row_index": "1", "key_value": "1e999999", "column_name": "product_id"}),
            json!({"run_id": run, "row_index": "2", "key_value": "1.5", "column_name": "product_id"}),
            json!({"run_id": run, "row_index": "3", "key_value": "x", "column_name": "product_id"}),
        ]
    );
}
