//! "Send only new or changed rows" for a declared query action (`writeback_batch`), into the
//! embedded store and into BigQuery: a schedule's first run writes every row, the next ones only
//! the rows whose key is new or whose content changed; a row whose chunk failed is written again
//! by the next run; a resend writes all; an Explore send remembers nothing; the memory survives a
//! restart of the hub; a second run of a schedule while one runs waits, then is refused.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hub_core::routes::Function;
use serde_json::{json, Value};

use crate::download::{DownloadServer, Serve};
use crate::helpers::{read_table, HubProcess, TestHub};
use crate::stand_ins::{result_doc, Emulator};

const TABLE: &str = "suspicious_marks_batch";

/// A result of `n` rows (keys `orders.id` 1000 + i) whose rows `changed` carry another total.
fn doc(n: usize, changed: &[usize]) -> Value {
    let mut doc = result_doc(n);
    for &i in changed {
        doc["data"][i]["orders.total"] = json!({"value": 9999.5});
    }
    doc
}

/// An execute of `writeback_batch` with `doc` pushed, from schedule `plan` (none: an Explore).
fn body(doc: &Value, plan: Option<u64>, mode: &str, classification: &str) -> Value {
    json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": plan, "query_id": 42},
        "attachment": {"mimetype": "application/json", "extension": "json", "data": doc.to_string()},
        "data": {"user_email": "analyst@example.com"},
        "form_params": {"classification": classification, "comment": "", "send_mode": mode}
    })
}

/// The settings of a hub whose memory of sends is the file `state` (chunks of 10 rows).
fn vars(state: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HUB_CHANGE_STATE_PATH", state.display().to_string()),
        ("HUB_WRITEBACK_BATCH_ROWS", "10".into()),
    ]
}

async fn hub_with(state: &Path, extra: &[(&str, &str)]) -> TestHub {
    let mut all: Vec<(&str, &str)> = vec![];
    let owned = vars(state);
    all.extend(owned.iter().map(|(k, v)| (*k, v.as_str())));
    all.extend_from_slice(extra);
    TestHub::spawn_with(&all, Function::ALL).await
}

/// The keys (`key_value`) of the table's rows from row `from` on.
fn keys_from(store: &Path, from: usize) -> BTreeSet<u64> {
    read_table(store, TABLE)[from..]
        .iter()
        .map(|r| r["key_value"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn keys(range: std::ops::Range<u64>) -> BTreeSet<u64> {
    range.map(|i| 1000 + i).collect()
}

fn message(resp: &Value) -> &str {
    resp["looker"]["message"].as_str().unwrap_or("")
}

/// Run `n` (from 1) of the run ledger, waiting a little for it to be written.
async fn ledger_row(store: &Path, n: usize) -> Value {
    for _ in 0..100 {
        if let Some(r) = read_table(store, "hub_runs").get(n - 1) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {n} is not in the ledger");
}

async fn run(hub: &TestHub, body: &Value) -> Value {
    let (status, resp) = hub.execute("writeback_batch", body).await;
    assert_eq!(status, 200, "{resp}");
    resp
}

#[tokio::test]
async fn a_schedule_writes_every_row_first_then_only_the_new_or_changed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(&dir.path().join("changes.sqlite"), &[]).await;
    let (_, form) = hub
        .form("writeback_batch", &json!({"type": "query", "data": {}}))
        .await;
    let fields: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["classification", "comment", "send_mode"]);

    let first = run(&hub, &body(&doc(200, &[]), Some(7), "changed", "Approved")).await;
    assert_eq!(first["looker"]["success"], true, "{first}");
    assert!(
        message(&first).starts_with(
            "Wrote 200 rows as Approved to the write-back table. Only new or changed rows: 200 new written; 0 unchanged rows skipped."
        ),
        "{first}"
    );
    assert_eq!(keys_from(&hub.store_path, 0), keys(0..200));

    // 1 % changed, and one row more.
    let second = run(
        &hub,
        &body(&doc(201, &[3, 150]), Some(7), "changed", "Approved"),
    )
    .await;
    assert_eq!(second["looker"]["success"], true, "{second}");
    assert!(
        message(&second).starts_with(
            "Wrote 3 rows as Approved to the write-back table. Only new or changed rows: 1 new, 2 changed written; 198 unchanged rows skipped."
        ),
        "{second}"
    );
    let rows = read_table(&hub.store_path, TABLE);
    assert_eq!(rows.len(), 203);
    assert_eq!(keys_from(&hub.store_path, 200), [1003, 1150, 1200].into());
    let json: Value = serde_json::from_str(rows[201]["row_json"].as_str().unwrap()).unwrap();
    assert_eq!(json["orders.total"]["value"], 9999.5);
    // The run's record says what it chose and decided (the ledger is written after the answer).
    let recorded = ledger_row(&hub.store_path, 2).await;
    assert_eq!(recorded["send_mode"], "changed", "{recorded}");
    assert_eq!(
        [
            &recorded["rows_new"],
            &recorded["rows_changed"],
            &recorded["rows_unchanged"]
        ],
        [&json!(1), &json!(2), &json!(198)],
        "{recorded}"
    );

    // Nothing changed: nothing written, and that is a success.
    let third = run(
        &hub,
        &body(&doc(201, &[3, 150]), Some(7), "changed", "Approved"),
    )
    .await;
    assert_eq!(third["looker"]["success"], true, "{third}");
    assert!(
        message(&third).contains("nothing new or changed; 201 unchanged rows skipped."),
        "{third}"
    );
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 203);

    // A changed answer on the form changes every row's content.
    let fourth = run(
        &hub,
        &body(&doc(201, &[3, 150]), Some(7), "changed", "Suspicious"),
    )
    .await;
    assert!(message(&fourth).contains("201 changed written"), "{fourth}");

    // Another schedule has a memory of its own.
    let other = run(&hub, &body(&doc(201, &[]), Some(8), "changed", "Approved")).await;
    assert!(message(&other).contains("201 new written"), "{other}");
}

#[tokio::test]
async fn rows_of_a_chunk_the_store_refused_are_written_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(&dir.path().join("changes.sqlite"), &[]).await;
    // The store refuses the chunk holding order 1025 (rows 20..30 in chunks of 10).
    let store = rusqlite::Connection::open(&hub.store_path).unwrap();
    store
        .execute_batch(&format!(
            "CREATE TRIGGER refuse_1025 BEFORE INSERT ON {TABLE} WHEN NEW.key_value = '1025' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ))
        .unwrap();
    let data = doc(50, &[]);
    let first = run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    assert_eq!(first["looker"]["success"], false, "{first}");
    assert!(
        message(&first).starts_with(
            "Only 20 of the 30 rows read so far were confirmed written (10 not confirmed)."
        ),
        "{first}"
    );
    assert!(
        message(&first)
            .contains("The 10 rows not confirmed written will be written again next run."),
        "{first}"
    );
    assert_eq!(keys_from(&hub.store_path, 0), keys(0..20));

    store.execute_batch("DROP TRIGGER refuse_1025;").unwrap();
    let second = run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    assert_eq!(second["looker"]["success"], true, "{second}");
    assert!(
        message(&second).contains("30 new written; 20 unchanged rows skipped."),
        "{second}"
    );
    assert_eq!(keys_from(&hub.store_path, 20), keys(20..50));
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 50);
}

#[tokio::test]
async fn resend_writes_every_row_then_the_memory_starts_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(&dir.path().join("changes.sqlite"), &[]).await;
    let data = doc(30, &[]);
    run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    let resend = run(&hub, &body(&data, Some(7), "resend", "Approved")).await;
    assert_eq!(resend["looker"]["success"], true, "{resend}");
    assert!(message(&resend).starts_with("Wrote 30 rows"), "{resend}");
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 60);
    let after = run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    assert!(
        message(&after).contains("nothing new or changed; 30 unchanged rows skipped."),
        "{after}"
    );
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 60);
}

#[tokio::test]
async fn an_explore_send_writes_every_row_and_remembers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(&dir.path().join("changes.sqlite"), &[]).await;
    let data = doc(12, &[]);
    for _ in 0..2 {
        let resp = run(&hub, &body(&data, None, "changed", "Approved")).await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(
            message(&resp),
            "Wrote 12 rows as Approved to the write-back table. Sent from an Explore: there is no schedule to remember, so every row was sent."
        );
    }
    // A schedule's first run still writes every row.
    let scheduled = run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    assert!(
        message(&scheduled).contains("12 new written"),
        "{scheduled}"
    );
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 36);
}

#[tokio::test]
async fn a_bad_choice_is_refused_and_every_row_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(&dir.path().join("changes.sqlite"), &[]).await;
    let data = doc(5, &[]);
    let bad = run(&hub, &body(&data, Some(7), "only-changes", "Approved")).await;
    assert_eq!(bad["looker"]["success"], false, "{bad}");
    assert_eq!(
        bad["looker"]["validation_errors"]["send_mode"],
        "must be every, changed or resend"
    );
    assert!(read_table(&hub.store_path, TABLE).is_empty());
    // No choice (a schedule made before it existed) and "every" write every row, every run.
    let mut no_choice = body(&data, Some(7), "every", "Approved");
    no_choice["form_params"]
        .as_object_mut()
        .unwrap()
        .remove("send_mode");
    for b in [&no_choice, &body(&data, Some(7), "every", "Approved")] {
        let resp = run(&hub, b).await;
        assert_eq!(
            message(&resp),
            "Wrote 5 rows as Approved to the write-back table."
        );
    }
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 10);
}

#[tokio::test]
async fn on_a_hub_without_a_memory_the_choice_is_not_offered_and_asking_for_it_writes_nothing() {
    let hub = TestHub::spawn().await;
    let (_, form) = hub
        .form("writeback_batch", &json!({"type": "query", "data": {}}))
        .await;
    let fields: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["classification", "comment"]);
    let data = doc(5, &[]);
    let resp = run(&hub, &body(&data, Some(7), "changed", "Approved")).await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        message(&resp).starts_with(
            "Nothing was written: this action hub keeps no memory of what schedules wrote"
        ),
        "{resp}"
    );
    assert!(read_table(&hub.store_path, TABLE).is_empty());
    // From an Explore there is nothing to remember: every row is written.
    let explore = run(&hub, &body(&data, None, "changed", "Approved")).await;
    assert_eq!(explore["looker"]["success"], true, "{explore}");
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 5);
}

#[tokio::test]
async fn the_memory_survives_a_restart_of_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("writeback.sqlite");
    let state = dir.path().join("changes.sqlite");
    let env = [
        ("HUB_STORE_PATH", store.display().to_string()),
        ("HUB_CHANGE_STATE_PATH", state.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let data = doc(40, &[]);
    let hub = HubProcess::start(&env).await;
    let first = hub
        .post_json(
            "/actions/writeback_batch/execute",
            &body(&data, Some(7), "changed", "Approved"),
        )
        .await;
    assert!(message(&first).contains("40 new written"), "{first}");
    drop(hub);

    let hub = HubProcess::start(&env).await;
    let second = hub
        .post_json(
            "/actions/writeback_batch/execute",
            &body(&doc(40, &[39]), Some(7), "changed", "Approved"),
        )
        .await;
    assert_eq!(second["looker"]["success"], true, "{second}");
    assert!(
        message(&second).contains("1 changed written; 39 unchanged rows skipped."),
        "{second}"
    );
    assert_eq!(keys_from(&store, 40), [1039].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_a_schedule_while_another_runs_waits_then_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Arc::new(
        hub_with(
            &dir.path().join("changes.sqlite"),
            &[("HUB_CHANGE_WAIT_SECS", "1")],
        )
        .await,
    );
    run(&hub, &body(&doc(20, &[]), Some(7), "changed", "Approved")).await;
    assert_eq!(read_table(&hub.store_path, TABLE).len(), 20);

    // Run A reads its result slowly (about 3 s, holding the schedule's memory); run B starts
    // meanwhile with other changes, waits 1 s and gives up.
    let slow = DownloadServer::start(
        Arc::new(doc(20, &[1]).to_string().into_bytes()),
        Serve {
            pace: Some((128, Duration::from_millis(120))),
            ..Serve::default()
        },
    )
    .await;
    let mut a_body = body(&Value::Null, Some(7), "changed", "Approved");
    a_body.as_object_mut().unwrap().remove("attachment");
    a_body["scheduled_plan"]["download_url"] = json!(slow.url);
    let a = {
        let hub = hub.clone();
        tokio::spawn(async move { run(&hub, &a_body).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = run(&hub, &body(&doc(20, &[2]), Some(7), "changed", "Approved")).await;
    assert_eq!(b["looker"]["success"], false, "{b}");
    assert!(message(&b).starts_with("Nothing was sent: run "), "{b}");
    assert!(message(&b).contains("waited 1 s"), "{b}");
    let a = a.await.unwrap();
    assert!(
        message(&a).contains("1 changed written; 19 unchanged"),
        "{a}"
    );
    assert_eq!(keys_from(&hub.store_path, 20), [1001].into());

    // The next run writes what B would have: nothing was lost.
    let c = run(&hub, &body(&doc(20, &[2]), Some(7), "changed", "Approved")).await;
    assert!(
        message(&c).contains("2 changed written; 18 unchanged"),
        "{c}"
    );
    assert_eq!(keys_from(&hub.store_path, 21), [1001, 1002].into());
}

/// A hub writing to a fresh BigQuery dataset it creates, remembering in `state`.
async fn bigquery_hub(emu: &Emulator, state: &Path) -> (TestHub, String) {
    let dataset = Emulator::dataset_name();
    let mut vars = emu.hub_vars(&dataset, &emu.grpc);
    vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true"));
    let state = state.display().to_string();
    vars.push(("HUB_CHANGE_STATE_PATH", &state));
    vars.push(("HUB_WRITEBACK_BATCH_ROWS", "10"));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    (hub, dataset)
}

#[tokio::test]
async fn bigquery_a_schedule_writes_only_new_or_changed_rows_after_its_first_run() {
    let emu = Emulator::get().await;
    let dir = tempfile::tempdir().unwrap();
    let (hub, ds) = bigquery_hub(&emu, &dir.path().join("changes.sqlite")).await;
    let first = run(&hub, &body(&doc(30, &[]), Some(7), "changed", "Approved")).await;
    assert_eq!(first["looker"]["success"], true, "{first}");
    assert!(message(&first).contains("30 new written"), "{first}");
    let second = run(&hub, &body(&doc(31, &[4]), Some(7), "changed", "Approved")).await;
    assert_eq!(second["looker"]["success"], true, "{second}");
    assert!(
        message(&second).contains("1 new, 1 changed written; 29 unchanged rows skipped."),
        "{second}"
    );
    let rows = emu
        .query(&format!(
            "SELECT key_value, request_id FROM `{}.{ds}.{TABLE}`",
            emu.project
        ))
        .await;
    assert_eq!(rows.len(), 32, "{rows:?}");
    let first_request = rows
        .iter()
        .filter(|r| r["key_value"] == "1000")
        .map(|r| r["request_id"].clone())
        .next()
        .unwrap();
    let later: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["request_id"] != first_request)
        .map(|r| r["key_value"].as_str().unwrap())
        .collect();
    assert_eq!(later, ["1004", "1030"].into());
}
