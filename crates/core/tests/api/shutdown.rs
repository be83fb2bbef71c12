//! Graceful shutdown (see `hub_core::lifecycle`): an execute in flight at the stop signal finishes
//! and its answer reaches Looker before the hub stops, even when the caller has hung up; one that
//! would outlast the grace period is answered as interrupted; a new cell execute is still run
//! (no click lost), a query execute too late to read its result is answered "run it again".
//! The first tests stop the in-process app with a trigger (a slowed-down write-back store makes the
//! execute long); the last ones send SIGTERM to the real `hub` binary during a `rudder_track`
//! execute streaming a slow `download_url` to a local data plane.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hub_core::lifecycle::{INTERRUPTED, TOO_LATE};
use hub_core::routes::Function;
use hub_core::settings::Settings;
use hub_core::sinks::{Row, Sink, SinkError, TableDef, WriteCredential};
use hub_core::startup::{Application, Hub};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::helpers::{client, looker_headers, read_table, test_vars, TOKEN};

/// The embedded store, slowed down: each write waits first.
struct SlowSink {
    inner: Arc<dyn Sink>,
    delay: Duration,
}

#[async_trait]
impl Sink for SlowSink {
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn append(
        &self,
        table: &TableDef,
        rows: &[Row],
        cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        tokio::time::sleep(self.delay).await;
        self.inner.append(table, rows, cred).await
    }
}

struct Stoppable {
    base: String,
    store: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn spawn(grace_secs: u64, write_delay: Duration) -> Stoppable {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let grace = grace_secs.to_string();
    let vars = test_vars(
        port,
        &store,
        &[
            ("HUB_SHUTDOWN_GRACE_SECS", &grace),
            ("HUB_KEEPALIVE_AFTER_MS", "200"),
            ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ],
    );
    let mut hub = Hub::new(Settings::load(&vars, false).unwrap())
        .await
        .unwrap();
    hub.sink = Arc::new(SlowSink {
        inner: hub.sink.clone(),
        delay: write_delay,
    });
    let app = Application::with_hub(hub, listener, Function::ALL).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Stoppable {
        base: format!("http://127.0.0.1:{port}"),
        store,
        stop: Some(tx),
        server,
        _dir: dir,
    }
}

impl Stoppable {
    fn stop(&mut self) -> Instant {
        self.stop.take().unwrap().send(()).unwrap();
        Instant::now()
    }

    async fn stopped_within(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        tokio::time::timeout(limit, &mut self.server)
            .await
            .expect("the hub stops within the grace period")
            .unwrap()
            .unwrap();
        start.elapsed()
    }
}

/// A client holding a connection Looker keeps alive after a list call.
async fn kept_alive(base: &str) -> reqwest::Client {
    let pooled = client();
    let r = looker_headers(pooled.post(format!("{base}/")))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    pooled
}

fn execute(c: &reqwest::Client, base: &str, id: &str) -> reqwest::RequestBuilder {
    looker_headers(c.post(format!("{base}/actions/mark_suspicious/execute")))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(&json!({
            "type": "cell",
            "data": {"value": id},
            "form_params": {"id": id, "classification": "Suspicious", "comment": "shutdown test"}
        }))
}

/// An execute answer, checked as Looker reads it (see `helpers::execute_answer`).
fn answer(text: &str) -> Value {
    crate::helpers::execute_answer(text)
}

#[tokio::test]
async fn an_execute_in_flight_finishes_and_answers_before_the_hub_stops() {
    let mut hub = spawn(10, Duration::from_millis(1500)).await;
    // A connection Looker already holds (kept alive after a list call).
    let pooled = kept_alive(&hub.base).await;

    let c = client();
    let running = tokio::spawn(execute(&c, &hub.base, "ORD-S1").send());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped_at = hub.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A new execute during the shutdown (on a connection Looker kept alive) is run, not refused:
    // no source says Looker retries an execute, so a refusal would lose the user's click.
    let late = execute(&pooled, &hub.base, "ORD-S2").send().await.unwrap();
    assert_eq!(late.status(), 200);
    let late = answer(&late.text().await.unwrap());
    assert_eq!(late["looker"]["success"], true, "{late}");
    assert_eq!(
        late["looker"]["message"], "Order ORD-S2 marked as Suspicious.",
        "{late}"
    );

    // The execute in flight finishes; its answer (after keep-alive newlines) is complete.
    let resp = running.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with('\n'),
        "keep-alive newlines first: {text:?}"
    );
    let a = answer(&text);
    assert_eq!(a["looker"]["success"], true, "{a}");
    hub.stopped_within(Duration::from_secs(10)).await;
    assert!(stopped_at.elapsed() < Duration::from_secs(10));
    let rows = read_table(&hub.store, "suspicious_marks");
    let mut ids: Vec<_> = rows.iter().map(|r| r["order_id"].clone()).collect();
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(ids, [json!("ORD-S1"), json!("ORD-S2")], "{rows:?}");
}

#[tokio::test]
async fn late_in_the_shutdown_a_query_execute_is_answered_run_it_again_and_a_cell_one_still_runs() {
    // Grace 3 s: actions are asked to wind up 0.9 s after the stop, executes still running are
    // answered as interrupted at 1.9 s. Every write takes 60 s, so the cell executes never finish.
    let mut hub = spawn(3, Duration::from_secs(60)).await;
    let pooled = kept_alive(&hub.base).await;
    let c = client();
    let running = tokio::spawn(execute(&c, &hub.base, "ORD-T1").send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = hub.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // A query result cannot be read any more: nothing is started, the user is told to run it again.
    let query = looker_headers(pooled.post(format!("{}/actions/rudder_track/execute", hub.base)))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(&json!({
            "type": "query",
            "data": {"rudder_write_key": "k", "rudder_server_url": "http://127.0.0.1:9"},
            "form_params": {"event": "E"},
            "scheduled_plan": {"download_url": "http://127.0.0.1:9/never"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let a = answer(&query.text().await.unwrap());
    assert_eq!(a["looker"]["success"], false, "{a}");
    assert_eq!(a["looker"]["message"], TOO_LATE);
    // A cell click is still taken; this one cannot finish in time and is answered as interrupted.
    let cell = execute(&pooled, &hub.base, "ORD-T2").send().await.unwrap();
    assert_eq!(cell.status(), 200);
    let a = answer(&cell.text().await.unwrap());
    assert_eq!(a["looker"]["success"], false, "{a}");
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        INTERRUPTED
    );
    let a = answer(&running.await.unwrap().unwrap().text().await.unwrap());
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        INTERRUPTED
    );
    hub.stopped_within(Duration::from_secs(5)).await;
    assert!(stopped_at.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_execute_whose_caller_hung_up_still_finishes_before_the_hub_stops() {
    let mut hub = spawn(10, Duration::from_millis(2000)).await;
    let impatient = crate::helpers::client_builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gone = execute(&impatient, &hub.base, "ORD-D1").send().await;
    assert!(
        gone.is_err() || gone.unwrap().text().await.is_err(),
        "the caller gave up"
    );
    let stopped_at = hub.stop();
    hub.stopped_within(Duration::from_secs(10)).await;
    let took = stopped_at.elapsed();
    // It waited for the detached execute (about 1.7 s left of its write), not for the grace period.
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let rows = read_table(&hub.store, "suspicious_marks");
    assert_eq!(
        rows.len(),
        1,
        "the detached execute's row is written: {rows:?}"
    );
}

#[tokio::test]
async fn an_execute_longer_than_the_grace_period_is_answered_as_interrupted() {
    let mut hub = spawn(3, Duration::from_secs(60)).await;
    let c = client();
    let running = tokio::spawn(execute(&c, &hub.base, "ORD-L1").send());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped_at = hub.stop();
    let resp = running.await.unwrap().unwrap();
    let a = answer(&resp.text().await.unwrap());
    assert_eq!(a["looker"]["success"], false, "{a}");
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        INTERRUPTED
    );
    hub.stopped_within(Duration::from_secs(5)).await;
    let took = stopped_at.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "stopped within the grace period: {took:?}"
    );
    assert!(read_table(&hub.store, "suspicious_marks").is_empty());
}

#[tokio::test]
async fn an_idle_hub_stops_at_once() {
    let mut hub = spawn(10, Duration::ZERO).await;
    let stopped_at = hub.stop();
    hub.stopped_within(Duration::from_secs(2)).await;
    assert!(stopped_at.elapsed() < Duration::from_secs(1));
}

// ------------------------------------------------------------------ the real binary, SIGTERM

/// A `rudder_track` execute streamed from a slow `download_url`, started on the real binary.
struct Streaming {
    hub: crate::helpers::HubProcess,
    plane: crate::receiver::Receiver,
    _download: crate::download::DownloadServer,
    answer: tokio::task::JoinHandle<(u16, String)>,
    rows: usize,
}

/// `rows` rows served in 8 KB chunks every `pause`; the hub's grace period is `grace_secs`.
async fn stream_slowly(grace_secs: &str, rows: usize, pause: Duration) -> Streaming {
    stream_paced(grace_secs, rows, (8 * 1024, pause)).await
}

/// `rows` rows served `pace.0` bytes every `pace.1`; the hub's grace period is `grace_secs`.
async fn stream_paced(grace_secs: &str, rows: usize, pace: (usize, Duration)) -> Streaming {
    use crate::download::{self, DownloadServer, Serve};
    use crate::receiver::{Keep, Receiver};
    use crate::support::rudder::{request, Source, WRITE_KEY};

    let hub = crate::helpers::HubProcess::start(&[
        ("HUB_SHUTDOWN_GRACE_SECS", grace_secs),
        ("HUB_KEEPALIVE_AFTER_MS", "200"),
        ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ("RUDDER_MAX_BATCH_EVENTS", "100"),
    ])
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let download = DownloadServer::start(
        Arc::new(download::users_result(rows, 6)),
        Serve {
            pace: Some(pace),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&download.url), &[], Some("Sync"));
    let req = looker_headers(client().post(format!("{}/actions/rudder_track/execute", hub.base)))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(&body);
    let answer = tokio::spawn(async move {
        let r = req.send().await.expect("the execute is answered");
        let status = r.status().as_u16();
        (status, r.text().await.expect("the whole answer arrives"))
    });
    Streaming {
        hub,
        plane,
        _download: download,
        answer,
        rows,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_streaming_execute_delivers_every_event_before_the_exit() {
    // About 450 KB in 8 KB chunks every 70 ms: the download takes about 4 s.
    let mut s = stream_slowly("10", 3_000, Duration::from_millis(70)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        s.plane.accepted_ids().len() < s.rows,
        "still streaming at the signal"
    );
    s.hub.sigterm();
    let sent = Instant::now();
    let status = s.hub.exit_within(Duration::from_secs(12)).await;
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}\n{}", s.hub.logs());
    assert!(
        took < Duration::from_secs(10),
        "exited within the grace period: {took:?}"
    );
    let (code, text) = s.answer.await.unwrap();
    assert_eq!(code, 200);
    assert!(
        text.starts_with('\n'),
        "keep-alive newlines first: {text:?}"
    );
    let a = answer(&text);
    assert_eq!(a["looker"]["success"], true, "{a}");
    assert_eq!(
        a["looker"]["message"],
        "sent 3 000 of 3 000 events to RudderStack"
    );
    assert_eq!(
        s.plane.accepted_ids().len(),
        s.rows,
        "every event delivered"
    );
    assert!(s.hub.logs().contains("stop signal received"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_execute_longer_than_the_grace_period_reports_exact_progress() {
    // The download would take about 11 s; the grace period is 4 s. (The reader hands rows over in
    // chunks of 256, so some chunks must be complete before the wind-up, 1.7 s after the signal.)
    let mut s = stream_slowly("4", 3_000, Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.hub.sigterm();
    let sent = Instant::now();
    let status = s.hub.exit_within(Duration::from_secs(6)).await;
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}\n{}", s.hub.logs());
    assert!(
        took < Duration::from_secs(4),
        "exited within the grace period: {took:?}"
    );
    let (code, text) = s.answer.await.unwrap();
    assert_eq!(code, 200);
    let a = answer(&text);
    assert_eq!(a["looker"]["success"], false, "{a}");
    // Exactly what was read was delivered, and the answer says how much.
    let delivered = s.plane.accepted_ids().len();
    assert!(delivered > 0 && delivered < s.rows, "{delivered}: {a}");
    let k = hub_core::rudder::report::group_digits(delivered as u64);
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        format!(
            "sent {k} of {k} events to RudderStack; the action hub was shut down after reading \
             {k} rows of the result; only the rows read before that were sent{}",
            hub_core::actions::rudder::RUN_AGAIN
        )
    );
    assert_eq!(
        s.plane.accepted_users(),
        (0..delivered).map(|i| i.to_string()).collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_before_a_whole_chunk_of_rows_was_read_still_delivers_and_counts_every_row_read() {
    // About 12 rows every 250 ms: at the wind-up (0.9 s after the signal) far fewer rows than the
    // reader hands over at once (256) were read. They are delivered and counted, not dropped.
    let mut s = stream_paced("3", 3_000, (2 * 1024, Duration::from_millis(250))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.hub.sigterm();
    let status = s.hub.exit_within(Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}\n{}", s.hub.logs());
    let (code, text) = s.answer.await.unwrap();
    assert_eq!(code, 200);
    let a = answer(&text);
    assert_eq!(a["looker"]["success"], false, "{a}");
    let delivered = s.plane.accepted_ids().len();
    assert!(delivered > 0 && delivered < 256, "{delivered}: {a}");
    let k = hub_core::rudder::report::group_digits(delivered as u64);
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        format!(
            "sent {k} of {k} events to RudderStack; the action hub was shut down after reading \
             {k} rows of the result; only the rows read before that were sent{}",
            hub_core::actions::rudder::RUN_AGAIN
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_streamed_write_back_writes_and_counts_every_row_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let (_hub, a) = sigterm_during_a_slow_write_back(&store).await;
    assert_eq!(a["looker"]["success"], false, "{a}");
    let written = read_table(&store, "suspicious_marks_batch").len();
    assert!(written > 0 && written < 3_000, "{written}: {a}");
    assert_eq!(
        crate::helpers::unnamed(a["looker"]["message"].as_str().unwrap()),
        format!(
            "Wrote {written} rows as Approved, but the action hub was shut down after reading \
             {written} rows of the result; the remaining rows were not written. Run the action \
             again to write every row (the rows written now would be written again)."
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_new_connections_are_refused_and_kept_alive_ones_are_answered() {
    let mut s = stream_slowly("10", 3_000, Duration::from_millis(70)).await;
    let pooled = kept_alive(&s.hub.base).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.hub.sigterm();
    let mut closed = false;
    for _ in 0..100 {
        if s.hub.logs().contains("stopped listening") {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        closed,
        "the port stays open after SIGTERM:\n{}",
        s.hub.logs()
    );
    // A new connection is refused at once: the platform (or the client) goes elsewhere, instead
    // of waiting in the queue of a port nobody accepts on and being reset at the exit.
    let addr = s.hub.base.trim_start_matches("http://").to_string();
    let refused = tokio::net::TcpStream::connect(&addr).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );
    // A connection accepted before is still answered, and so is the execute in flight.
    let r = looker_headers(pooled.post(format!("{}/", s.hub.base)))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = s.hub.exit_within(Duration::from_secs(12)).await;
    assert!(status.success(), "{status:?}\n{}", s.hub.logs());
    let (code, text) = s.answer.await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(answer(&text)["looker"]["success"], true, "{text}");
    assert_eq!(s.plane.accepted_ids().len(), s.rows);
}

/// A hub storing into `store` streams a 3 000-row result read slowly (2 KiB every 250 ms) into
/// `writeback_batch`; 300 ms in, SIGTERM. The hub once exited (successfully: asserted; its logs
/// kept) and the execute's answer.
pub(crate) async fn sigterm_during_a_slow_write_back(
    store: &std::path::Path,
) -> (crate::helpers::HubProcess, Value) {
    use crate::download::{self, DownloadServer, Serve};
    let mut hub = crate::helpers::HubProcess::start(&[
        ("HUB_SHUTDOWN_GRACE_SECS", "3"),
        ("HUB_KEEPALIVE_AFTER_MS", "200"),
        ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ("HUB_STORE_PATH", store.to_str().unwrap()),
    ])
    .await;
    let download = DownloadServer::start(
        Arc::new(download::users_result(3_000, 6)),
        Serve {
            pace: Some((2 * 1024, Duration::from_millis(250))),
            ..Serve::default()
        },
    )
    .await;
    let body = crate::stand_ins::batch_from_url(&download.url, "Approved", "");
    let req =
        looker_headers(client().post(format!("{}/actions/writeback_batch/execute", hub.base)))
            .header("Authorization", format!("Token token=\"{TOKEN}\""))
            .json(&body);
    let running = tokio::spawn(async move { req.send().await.unwrap().text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub.sigterm();
    let status = hub.exit_within(Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}\n{}", hub.logs());
    let a = answer(&running.await.unwrap());
    (hub, a)
}
