//! "Send only new or changed rows" for the RudderStack actions, against a real local data plane
//! (`receiver`), the hub (in process, or its binary when it restarts) and its memory of sends in
//! an SQLite file: what each run sends is compared event by event.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hub_core::routes::Function;
use serde_json::{json, Value};

use crate::download;
use crate::helpers::{unnamed, TestHub};
use crate::receiver::{Faults, Keep, Receiver};
use crate::support::rudder::{execute_raw, outcome, parse, request, Source, FAST_RETRIES, RAN_AT};

/// Rows of the users result in most tests: 1 % of them is 3.
const ROWS: usize = 300;

/// A hub keeping its memory of sends in `dir`, with `extra` settings.
async fn hub_in(dir: &std::path::Path, extra: &[(&str, &str)]) -> TestHub {
    let state = dir.join("changes.sqlite").display().to_string();
    let mut settings = FAST_RETRIES.to_vec();
    settings.push(("HUB_CHANGE_STATE_PATH", state.as_str()));
    settings.extend_from_slice(extra);
    TestHub::spawn_with(&settings, Function::ALL).await
}

/// What differs between the versions of the users result.
#[derive(Clone, Default)]
struct Users {
    /// Rows whose plan is "pro" instead of "free".
    pro: BTreeSet<usize>,
    /// The result has the field `users.tier` too.
    tier: bool,
}

impl Users {
    fn doc(&self) -> Vec<u8> {
        let mut dims = vec![
            r#"{"name":"users.id","tags":["user_id"]}"#,
            r#"{"name":"users.email","tags":["email"]}"#,
            r#"{"name":"users.plan"}"#,
            r#"{"name":"users.score"}"#,
        ];
        if self.tier {
            dims.push(r#"{"name":"users.tier"}"#);
        }
        let rows = (0..ROWS).map(|i| {
            let tier = if self.tier {
                r#","users.tier":{"value":"gold"}"#
            } else {
                ""
            };
            format!(
                r#"{{"users.id":{{"value":{i}}},"users.email":{{"value":"user{i}@x.io"}},"users.plan":{{"value":"{}"}},"users.score":{{"value":{}}}{tier}}}"#,
                self.plan(i),
                i * 10
            )
        });
        download::json_detail(RAN_AT, &format!("[{}]", dims.join(",")), "[]", rows)
    }

    fn plan(&self, i: usize) -> &'static str {
        if self.pro.contains(&i) {
            "pro"
        } else {
            "free"
        }
    }

    /// The traits row `i` delivers.
    fn traits(&self, i: usize) -> Value {
        let mut t = json!({"email": format!("user{i}@x.io"), "users.plan": self.plan(i), "users.score": i * 10});
        if self.tier {
            t["users.tier"] = json!("gold");
        }
        t
    }

    /// userId → traits of rows `of`.
    fn expected(&self, of: impl IntoIterator<Item = usize>) -> BTreeMap<String, Value> {
        of.into_iter()
            .map(|i| (i.to_string(), self.traits(i)))
            .collect()
    }
}

/// Looker's request for one run of schedule `plan` (`None`: sent from an Explore).
fn run_request(
    plane: &str,
    doc: &[u8],
    plan: Option<u64>,
    mode: &str,
    event: Option<&str>,
) -> Value {
    let mut body = request(plane, Source::Base64(doc), &[], event);
    match plan {
        Some(p) => body["scheduled_plan"]["scheduled_plan_id"] = json!(p),
        None => {
            body["scheduled_plan"]
                .as_object_mut()
                .unwrap()
                .remove("scheduled_plan_id");
        }
    }
    body["form_params"]["send_mode"] = json!(mode);
    body
}

/// One run: its answer's success and message, and the events the data plane accepted during it
/// (userId → traits).
struct Run {
    ok: bool,
    message: String,
    sent: BTreeMap<String, Value>,
}

/// Runs of one action against one data plane; each run is a new Looker delivery.
struct Runs<'a> {
    hub: &'a TestHub,
    plane: &'a Receiver,
    action: &'a str,
    count: usize,
}

impl<'a> Runs<'a> {
    fn new(hub: &'a TestHub, plane: &'a Receiver, action: &'a str) -> Runs<'a> {
        Runs {
            hub,
            plane,
            action,
            count: 0,
        }
    }

    /// One run of schedule `plan` (`None`: sent from an Explore) over the result `doc`.
    async fn schedule(
        &mut self,
        doc: &[u8],
        plan: Option<u64>,
        mode: &str,
        event: Option<&str>,
    ) -> Run {
        let body = run_request(&self.plane.url, doc, plan, mode, event);
        self.run(&body).await
    }

    async fn run(&mut self, body: &Value) -> Run {
        let before = self.plane.events().len();
        self.count += 1;
        let (status, text) = execute_raw(
            self.hub,
            self.action,
            body,
            &format!("webhook-{}", self.count),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (ok, message) = outcome(&parse(&text));
        let sent = self.plane.events()[before..]
            .iter()
            .map(|e| {
                let who = e["userId"].as_str().unwrap_or("").to_string();
                let bag = if e["type"] == "track" {
                    "properties"
                } else {
                    "traits"
                };
                (who, e[bag].clone())
            })
            .collect();
        Run { ok, message, sent }
    }
}

#[tokio::test]
async fn the_first_run_sends_every_row_and_the_next_only_the_changed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");

    let v1 = Users::default();
    let first = runs.schedule(&v1.doc(), Some(101), "changed", None).await;
    assert!(first.ok, "{}", first.message);
    assert_eq!(
        first.message,
        "sent 300 of 300 rows to RudderStack (300 new, 0 changed); 0 unchanged, skipped; 0 failed. \
         First change-only run of this schedule: every row was sent and remembered."
    );
    assert_eq!(first.sent, v1.expected(0..ROWS));

    // 1 % of the rows change.
    let v2 = Users {
        pro: [7, 150, 299].into(),
        ..Users::default()
    };
    let second = runs.schedule(&v2.doc(), Some(101), "changed", None).await;
    assert!(second.ok, "{}", second.message);
    assert_eq!(
        second.message,
        "sent 3 of 300 rows to RudderStack (0 new, 3 changed); 297 unchanged, skipped; 0 failed"
    );
    assert_eq!(second.sent, v2.expected([7, 150, 299]));

    // Nothing changed: nothing sent, and that is a success.
    let third = runs.schedule(&v2.doc(), Some(101), "changed", None).await;
    assert!(third.ok, "{}", third.message);
    assert_eq!(
        third.message,
        "sent 0 of 300 rows to RudderStack (0 new, 0 changed); 300 unchanged, skipped; 0 failed"
    );
    assert!(third.sent.is_empty());
}

#[tokio::test]
async fn rows_the_data_plane_refused_are_sent_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(
        dir.path(),
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "10"),
            ("RUDDER_MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");
    let users = Users::default();
    let body = run_request(&plane.url, &users.doc(), Some(102), "changed", None);

    plane.set_faults(Faults {
        status_400: 0.3,
        ..Faults::default()
    });
    let refused = runs.run(&body).await;
    assert!(!refused.ok);
    let accepted: BTreeSet<usize> = refused.sent.keys().map(|u| u.parse().unwrap()).collect();
    let missing: BTreeSet<usize> = (0..ROWS).filter(|i| !accepted.contains(i)).collect();
    assert!(
        !accepted.is_empty() && !missing.is_empty(),
        "the faults refuse some batches, not all: {} accepted",
        accepted.len()
    );
    assert!(
        refused.message.starts_with(&format!(
            "sent {} of 300 rows to RudderStack ({} new, 0 changed); 0 unchanged, skipped; ",
            accepted.len(),
            accepted.len()
        )),
        "{}",
        refused.message
    );
    assert!(
        unnamed(&refused.message)
            .contains("failed after 1 attempt: HTTP 400 (to be sent again next run)"),
        "{}",
        refused.message
    );

    plane.set_faults(Faults::default());
    let again = runs.run(&body).await;
    assert!(again.ok, "{}", again.message);
    assert_eq!(again.sent, users.expected(missing.iter().copied()));
    let n = missing.len();
    assert_eq!(
        again.message,
        format!(
            "sent {n} of 300 rows to RudderStack ({n} new, 0 changed); {} unchanged, skipped; 0 failed",
            ROWS - n
        )
    );
}

#[tokio::test]
async fn resend_sends_every_row_and_the_run_after_it_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");
    let users = Users::default();
    let doc = users.doc();

    assert!(runs.schedule(&doc, Some(103), "changed", None).await.ok);
    let resend = runs.schedule(&doc, Some(103), "resend", None).await;
    assert!(resend.ok, "{}", resend.message);
    assert_eq!(resend.sent, users.expected(0..ROWS));
    assert!(
        resend.message.starts_with(
            "sent 300 of 300 rows to RudderStack (300 new, 0 changed); 0 unchanged, skipped; 0 failed. \
             Resend everything: every row was sent and remembered"
        ),
        "{}",
        resend.message
    );
    let after = runs.schedule(&doc, Some(103), "changed", None).await;
    assert!(after.ok, "{}", after.message);
    assert!(after.sent.is_empty());
    assert!(
        after.message.contains("; 300 unchanged, skipped;"),
        "{}",
        after.message
    );
}

#[tokio::test]
async fn two_schedules_remember_apart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");
    let doc = Users::default().doc();
    let a = runs.schedule(&doc, Some(201), "changed", None).await;
    assert_eq!(a.sent.len(), ROWS);
    let b = runs.schedule(&doc, Some(202), "changed", None).await;
    assert_eq!(
        b.sent.len(),
        ROWS,
        "another schedule's first run: {}",
        b.message
    );
    assert!(b.message.contains("First change-only run"), "{}", b.message);
    let a2 = runs.schedule(&doc, Some(201), "changed", None).await;
    assert!(a2.sent.is_empty(), "{}", a2.message);
}

#[tokio::test]
async fn a_send_from_an_explore_sends_every_row_and_remembers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");
    let users = Users::default();
    let body = run_request(&plane.url, &users.doc(), None, "changed", None);
    for _ in 0..2 {
        let run = runs.run(&body).await;
        assert!(run.ok, "{}", run.message);
        assert_eq!(run.sent, users.expected(0..ROWS));
        assert_eq!(
            run.message,
            "sent 300 of 300 events to RudderStack. Sent from an Explore: there is no schedule \
             to remember, so every row was sent."
        );
    }
}

#[tokio::test]
async fn a_field_added_to_the_result_sends_the_rows_again_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_event");
    let before = Users::default();
    assert!(
        runs.schedule(&before.doc(), Some(104), "changed", None)
            .await
            .ok
    );
    let with_tier = Users {
        tier: true,
        ..Users::default()
    };
    let run = runs
        .schedule(&with_tier.doc(), Some(104), "changed", None)
        .await;
    assert!(run.ok, "{}", run.message);
    assert_eq!(run.sent, with_tier.expected(0..ROWS));
    assert_eq!(
        run.message,
        "sent 300 of 300 rows to RudderStack (0 new, 300 changed); 0 unchanged, skipped; 0 failed. \
         The result's fields changed since the last run (added: users.tier): every row whose \
         delivered content changed was sent."
    );
}

#[tokio::test]
async fn track_skips_identical_rows_and_sends_an_edited_row_as_a_new_event() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let mut runs = Runs::new(&hub, &plane, "rudder_track");
    let v1 = Users::default();
    let first = runs
        .schedule(&v1.doc(), Some(105), "changed", Some("Synced"))
        .await;
    assert!(first.ok, "{}", first.message);
    assert_eq!(first.sent, v1.expected(0..ROWS));
    let first_ids: BTreeSet<String> = plane
        .events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();

    let v2 = Users {
        pro: [42].into(),
        ..Users::default()
    };
    let second = runs
        .schedule(&v2.doc(), Some(105), "changed", Some("Synced"))
        .await;
    assert!(second.ok, "{}", second.message);
    assert_eq!(second.sent, v2.expected([42]));
    // Another event (RudderStack appends events; the first version stays what it was).
    assert_eq!(
        second.message,
        "sent 1 of 300 rows to RudderStack (1 new, 0 changed); 299 unchanged, skipped; 0 failed. \
         1 key of the last run is no longer in the result (nothing was deleted downstream)."
    );
    let last = plane.events().last().unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!first_ids.contains(&last));
}

#[tokio::test]
async fn a_track_event_keeps_its_message_id_from_run_to_run() {
    // A run whose batches were refused sends them again next run under the same ids: a copy the
    // data plane took without answering is deduplicated by RudderStack.
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[("RUDDER_MAX_ATTEMPTS", "1")]).await;
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let body = run_request(
        &plane.url,
        &Users::default().doc(),
        Some(106),
        "changed",
        Some("Synced"),
    );
    plane.set_faults(Faults {
        always: Some(400),
        ..Faults::default()
    });
    let (_, text) = execute_raw(&hub, "rudder_track", &body, "webhook-a").await;
    assert!(!outcome(&parse(&text)).0);
    let refused: BTreeSet<String> = plane
        .requests()
        .iter()
        .flat_map(|r| {
            r.body.as_ref().unwrap()["batch"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refused.len(), ROWS);
    plane.set_faults(Faults::default());
    let (_, text) = execute_raw(&hub, "rudder_track", &body, "webhook-b").await;
    assert!(outcome(&parse(&text)).0, "{text}");
    let accepted: BTreeSet<String> = plane.accepted_ids().into_keys().collect();
    assert_eq!(accepted, refused);
}

#[tokio::test]
async fn a_change_only_send_needs_a_memory_and_a_known_mode() {
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let doc = Users::default().doc();

    // A hub without a memory of sends: not offered, and refused when asked.
    let bare = TestHub::spawn_with(FAST_RETRIES, Function::ALL).await;
    let (_, form) = bare
        .form(
            "rudder_event",
            &run_request(&plane.url, &doc, Some(1), "every", None),
        )
        .await;
    let names: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["naming"]);
    let (_, v) = bare
        .execute(
            "rudder_event",
            &run_request(&plane.url, &doc, Some(1), "changed", None),
        )
        .await;
    let (ok, message) = outcome(&v);
    assert!(!ok);
    assert!(
        unnamed(&message).starts_with(
            "This action hub keeps no memory of what schedules sent (HUB_CHANGE_BUCKET is not set)"
        ),
        "{message}"
    );
    assert!(plane.requests().is_empty());

    // A hub with one: offered, every row by default; an unknown mode is the field's error.
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_in(dir.path(), &[]).await;
    let (_, form) = hub
        .form(
            "rudder_event",
            &run_request(&plane.url, &doc, Some(1), "every", None),
        )
        .await;
    let field = form["fields"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(field["name"], "send_mode");
    assert_eq!(field["default"], "every");
    let (_, v) = hub
        .execute(
            "rudder_event",
            &run_request(&plane.url, &doc, Some(1), "sometimes", None),
        )
        .await;
    assert_eq!(v["looker"]["success"], false);
    assert_eq!(
        v["looker"]["validation_errors"],
        json!({"send_mode": "must be every, changed or resend"})
    );
    assert!(plane.requests().is_empty());
}

#[tokio::test]
async fn a_second_run_of_a_schedule_waits_for_the_first_or_refuses_when_it_cannot() {
    for (wait_secs, refused) in [("1", true), ("30", false)] {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub_in(
            dir.path(),
            &[
                ("HUB_CHANGE_WAIT_SECS", wait_secs),
                ("RUDDER_MAX_BATCH_EVENTS", "100"),
                ("RUDDER_MAX_IN_FLIGHT", "1"),
            ],
        )
        .await;
        let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
        // Three batches of 1.5 s each, one at a time: the first run holds the schedule's memory
        // for 4.5 s.
        plane.set_faults(Faults {
            delay: Duration::from_millis(1_500),
            ..Faults::default()
        });
        let v1 = Users::default();
        let first_body = run_request(&plane.url, &v1.doc(), Some(107), "changed", None);
        let first = {
            let (addr, client) = (hub.address.clone(), hub.client.clone());
            tokio::spawn(async move {
                crate::support::rudder::execute_on(
                    &client,
                    &addr,
                    "rudder_event",
                    &first_body,
                    "webhook-1",
                )
                .await
            })
        };
        // The first run sends (so it holds the memory) before the second starts.
        for _ in 0..200 {
            if !plane.requests().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let v2 = Users {
            pro: [3, 4].into(),
            ..Users::default()
        };
        let second_body = run_request(&plane.url, &v2.doc(), Some(107), "changed", None);
        let (_, text) = execute_raw(&hub, "rudder_event", &second_body, "webhook-2").await;
        let (ok, message) = outcome(&parse(&text));
        let (_, first_text) = first.await.unwrap();
        assert!(outcome(&parse(&first_text)).0, "{first_text}");
        let events = plane.events();
        if refused {
            assert!(!ok);
            assert!(
                unnamed(&message).starts_with("Nothing was sent: run "),
                "{message}"
            );
            assert_eq!(events.len(), ROWS, "only the first run's events");
        } else {
            assert!(ok, "{message}");
            assert_eq!(
                message,
                "sent 2 of 300 rows to RudderStack (0 new, 2 changed); 298 unchanged, skipped; 0 failed"
            );
            let second: BTreeMap<String, Value> = events[ROWS..]
                .iter()
                .map(|e| {
                    (
                        e["userId"].as_str().unwrap().to_string(),
                        e["traits"].clone(),
                    )
                })
                .collect();
            assert_eq!(second, v2.expected([3, 4]));
        }
    }
}

#[tokio::test]
async fn the_memory_survives_a_restart_of_the_hub_binary() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("changes.sqlite").display().to_string();
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;
    let users = Users::default();
    let body = run_request(&plane.url, &users.doc(), Some(108), "changed", None);
    let env = [
        ("HUB_CHANGE_STATE_PATH", state.as_str()),
        ("RUDDER_RETRY_BASE_MS", "1"),
    ];
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut hub = crate::helpers::HubProcess::start(&env).await;
        let v = hub.post_json("/actions/rudder_event/execute", &body).await;
        answers.push(outcome(&v));
        hub.sigterm();
        hub.exit_within(Duration::from_secs(20)).await;
    }
    assert!(answers[0].0, "{}", answers[0].1);
    assert_eq!(plane.events().len(), ROWS);
    assert!(answers[1].0, "{}", answers[1].1);
    assert_eq!(
        answers[1].1,
        "sent 0 of 300 rows to RudderStack (0 new, 0 changed); 300 unchanged, skipped; 0 failed"
    );
}

/// The memory in a Cloud Storage bucket (the emulator, as production keeps it): a first run on one
/// hub instance, the next on another instance with nothing of its own, which sends only the rows
/// that changed — the memory is the bucket's, shared by every instance.
#[tokio::test]
async fn gcs_two_hub_instances_share_the_memory_kept_in_the_bucket() {
    let endpoint = std::env::var("HUB_TEST_GCS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "HUB_TEST_GCS_ENDPOINT is not set: this test needs the Cloud Storage emulator \
                 (scripts/test.sh starts it; or `source scripts/services/gcs.sh`)"
            )
        });
    let bucket = format!("hub-test-{}", uuid::Uuid::new_v4().simple());
    hub_core::gcp::install_crypto();
    let created = reqwest::Client::new()
        .post(format!("{endpoint}/storage/v1/b?project=hub-test"))
        .json(&json!({ "name": bucket }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(
        created.as_ref().is_ok_and(|r| r.status().is_success()),
        "the Cloud Storage emulator at {endpoint} does not create a bucket: {created:?}"
    );
    let in_bucket = [
        ("HUB_CHANGE_BUCKET", bucket.as_str()),
        ("HUB_CHANGE_STORAGE_ENDPOINT", endpoint.as_str()),
    ];
    let plane = Receiver::start(crate::support::rudder::WRITE_KEY, Keep::Bodies).await;

    let one = tempfile::tempdir().unwrap();
    let first_hub = hub_in(one.path(), &in_bucket).await;
    let v1 = Users::default();
    let first = Runs {
        hub: &first_hub,
        plane: &plane,
        action: "rudder_event",
        count: 0,
    }
    .run(&run_request(
        &plane.url,
        &v1.doc(),
        Some(404),
        "changed",
        None,
    ))
    .await;
    assert!(first.ok, "{}", first.message);
    assert_eq!(first.sent, v1.expected(0..ROWS));
    drop(first_hub);

    let other = tempfile::tempdir().unwrap();
    let second_hub = hub_in(other.path(), &in_bucket).await;
    let v2 = Users {
        pro: [3, 200].into(),
        ..Users::default()
    };
    let second = Runs {
        hub: &second_hub,
        plane: &plane,
        action: "rudder_event",
        count: 1,
    }
    .run(&run_request(
        &plane.url,
        &v2.doc(),
        Some(404),
        "changed",
        None,
    ))
    .await;
    assert!(second.ok, "{}", second.message);
    assert_eq!(
        second.message,
        "sent 2 of 300 rows to RudderStack (0 new, 2 changed); 298 unchanged, skipped; 0 failed"
    );
    assert_eq!(second.sent, v2.expected([3, 200]));
    // Neither instance wrote a file of its own.
    assert!(!one.path().join("changes.sqlite").exists());
    assert!(!other.path().join("changes.sqlite").exists());
}
