//! What one instance takes on (`hub_core::capacity`), on the real `hub` binary: an execute
//! answers with its counts before the platform's request timeout; a burst of query executes
//! waits for slots while clicks are still answered; a request over the memory budget waits for
//! memory instead of failing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::helpers::{client, execute_answer, looker_headers, read_table, HubProcess, TOKEN};
use crate::stand_ins::{batch_from_url, read_head};
use crate::support::results::{fields, result_row, RAN_AT};

/// A `download_url` stand-in: each download sends the fields and `first` rows at once, then
/// either trickles 50 rows every 50 ms forever (`release` = None: the reader hands rows over in
/// chunks of 256) or waits until `release` turns true and sends 5 more. Counts the downloads
/// started.
struct Downloads {
    url: String,
    started: Arc<AtomicUsize>,
}

async fn serve_downloads(first: usize, release: Option<watch::Receiver<bool>>) -> Downloads {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/download/one-time",
        listener.local_addr().unwrap()
    );
    let started = Arc::new(AtomicUsize::new(0));
    let counted = started.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            let mut release = release.clone();
            tokio::spawn(async move {
                if read_head(&mut socket).await.is_none() {
                    return;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let rows = |range: std::ops::Range<usize>| -> String {
                    range.map(|i| format!(",{}", result_row(i))).collect()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n\
                     {{\"ran_at\":\"{RAN_AT}\",\"fields\":{},\"data\":[{}{}",
                    fields(),
                    result_row(0),
                    rows(1..first)
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                match release.as_mut() {
                    Some(release) => {
                        let _ = release.wait_for(|go| *go).await;
                        let tail = format!("{}]}}", rows(first..first + 5));
                        let _ = socket.write_all(tail.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    None => {
                        for i in (first..).step_by(50) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            if socket.write_all(rows(i..i + 50).as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Downloads { url, started }
}

/// POST an execute as Looker does, with a client that gives up after `platform_timeout` (the
/// request timeout of Cloud Run / the gateway in front of the hub); the answer as Looker reads it.
async fn execute_within(
    hub: &HubProcess,
    action: &str,
    body: &Value,
    platform_timeout: Duration,
) -> Value {
    let resp = looker_headers(client().post(format!("{}/actions/{action}/execute", hub.base)))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .timeout(platform_timeout)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer from the hub before the platform's timeout: {e}"));
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap_or_else(|e| {
        panic!("the answer did not complete before the platform's timeout: {e}")
    });
    execute_answer(&text)
}

fn click(id: &str) -> Value {
    json!({
        "type": "cell",
        "data": {"value": id},
        "form_params": {"id": id, "classification": "Suspicious", "comment": "clicked during a burst"}
    })
}

fn message(answer: &Value) -> &str {
    answer["looker"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn an_execute_past_its_time_limit_answers_what_it_wrote_before_the_platform_cuts_it() {
    // A result that never ends: 1 000 rows a second.
    let downloads = serve_downloads(3, None).await;
    let hub = HubProcess::start(&[
        ("HUB_EXECUTE_TIMEOUT_SECS", "6"),
        ("HUB_WRITEBACK_BATCH_ROWS", "100"),
        ("HUB_KEEPALIVE_AFTER_MS", "200"),
        ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
    ])
    .await;
    let body = batch_from_url(&downloads.url, "Suspicious", "long schedule");
    let answer = execute_within(&hub, "writeback_batch", &body, Duration::from_secs(6)).await;
    assert_eq!(answer["looker"]["success"], false, "{answer}");
    let text = message(&answer);
    let read: u64 = text
        .strip_prefix("Wrote ")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(read > 3, "{text}");
    assert_eq!(
        crate::helpers::unnamed(text),
        format!(
            "Wrote {read} rows as Suspicious, but the action reached its time limit (5 s: \
             HUB_EXECUTE_TIMEOUT_SECS = 6 s, the request timeout of the platform in front of the \
             hub, less 1 s to answer) after reading {read} rows of the result; the remaining rows \
             were not written. Run the action again to write every row (the rows written now \
             would be written again)."
        )
    );
    let written = read_table(&hub.store_path(), "suspicious_marks_batch");
    assert_eq!(written.len() as u64, read);
}

#[tokio::test]
async fn a_burst_of_query_executes_waits_for_slots_while_clicks_are_answered() {
    let (release, released) = watch::channel(false);
    let downloads = serve_downloads(5, Some(released)).await;
    let hub = Arc::new(
        HubProcess::start(&[
            ("HUB_QUERY_EXECUTES", "2"),
            ("HUB_KEEPALIVE_AFTER_MS", "200"),
            ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ])
        .await,
    );
    let platform = Duration::from_secs(120);
    // Twice the capacity: two run, two wait in line.
    let mut queries = Vec::new();
    for i in 0..4 {
        let hub = hub.clone();
        let body = batch_from_url(&downloads.url, "Suspicious", &format!("schedule {i}"));
        queries.push(tokio::spawn(async move {
            execute_within(&hub, "writeback_batch", &body, platform).await
        }));
    }
    hub.wait_for_log("query execute waiting for a slot", 2)
        .await;
    // Beyond the line: answered at once, nothing done.
    let body = batch_from_url(&downloads.url, "Suspicious", "one too many");
    let refused = execute_within(&hub, "writeback_batch", &body, platform).await;
    assert_eq!(refused["looker"]["success"], false);
    assert_eq!(
        message(&refused),
        "The action hub is busy: 2 query executes are already running on this instance \
         (HUB_QUERY_EXECUTES) and 2 more are already waiting; nothing was done. Run the action \
         again in a few minutes (or spread the schedules that run at the same time)."
    );
    // Clicks are answered while every query execute is held.
    for i in 0..5 {
        let id = format!("ORD-{i}");
        let answer = execute_within(&hub, "mark_suspicious", &click(&id), platform).await;
        assert_eq!(answer["looker"]["success"], true, "{answer}");
        assert_eq!(
            message(&answer),
            format!("Order {id} marked as Suspicious.")
        );
    }
    assert!(queries.iter().all(|q| !q.is_finished()));
    assert_eq!(downloads.started.load(Ordering::SeqCst), 2);
    assert_eq!(read_table(&hub.store_path(), "suspicious_marks").len(), 5);

    release.send(true).unwrap();
    for q in queries {
        let answer = q.await.unwrap();
        assert_eq!(answer["looker"]["success"], true, "{answer}");
        assert_eq!(
            message(&answer),
            "Wrote 10 rows as Suspicious to the write-back table."
        );
    }
    assert_eq!(downloads.started.load(Ordering::SeqCst), 4);
}

/// Send the head and the first `sent` bytes of an execute whose body is `body` padded with
/// spaces to `len` bytes; the rest is sent by [`finish_raw`].
async fn start_raw(
    hub: &HubProcess,
    body: &Value,
    len: usize,
    sent: usize,
) -> (tokio::net::TcpStream, Vec<u8>) {
    let mut bytes = serde_json::to_vec(body).unwrap();
    bytes.resize(len, b' ');
    let addr = hub.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /actions/mark_suspicious/execute HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Token token=\"{TOKEN}\"\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&bytes[..sent]).await.unwrap();
    let rest = bytes[sent..].to_vec();
    (socket, rest)
}

async fn finish_raw(mut socket: tokio::net::TcpStream, rest: Vec<u8>) -> String {
    socket.write_all(&rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_over_the_memory_budget_waits_for_memory_and_is_answered() {
    const MIB: usize = 1024 * 1024;
    // One query slot's working set (64 MiB) and room for one 1 MiB body (twice, with 64 KiB of
    // overhead), and 64 KiB more: what bodies share is 2 MiB + 128 KiB.
    let budget = (64 * MIB + 2 * MIB + 128 * 1024).to_string();
    let hub = Arc::new(
        HubProcess::start(&[
            ("HUB_QUERY_EXECUTES", "1"),
            ("HUB_MAX_BODY_BYTES", &MIB.to_string()),
            ("HUB_MEMORY_BUDGET_BYTES", &budget),
            ("RUST_LOG", "info,hub_core::capacity=debug"),
        ])
        .await,
    );
    // A click whose 1 MiB body is still arriving holds 2 MiB + 64 KiB of it.
    let (held, rest) = start_raw(&hub, &click("ORD-BIG"), MIB - 1000, 1000).await;
    hub.wait_for_log("memory reserved", 1).await;
    // A second click of 100 kB does not fit in what is left: it waits.
    let mut second = serde_json::to_vec(&click("ORD-NEXT")).unwrap();
    second.resize(100_000, b' ');
    let waiting_hub = hub.clone();
    let waiting = tokio::spawn(async move {
        let r = looker_headers(client().post(format!(
            "{}/actions/mark_suspicious/execute",
            waiting_hub.base
        )))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .header("Content-Type", "application/json")
        .body(second)
        .send()
        .await
        .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    hub.wait_for_log("request waiting for memory", 1).await;
    assert!(!waiting.is_finished());
    assert!(read_table(&hub.store_path(), "suspicious_marks").is_empty());

    // The first body completes: its click is answered, and the memory it held lets the second in.
    let first = finish_raw(held, rest).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        first.contains("Order ORD-BIG marked as Suspicious."),
        "{first}"
    );
    let (status, text) = waiting.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        message(&execute_answer(&text)),
        "Order ORD-NEXT marked as Suspicious."
    );
    let ids: Vec<Value> = read_table(&hub.store_path(), "suspicious_marks")
        .iter()
        .map(|r| r["order_id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
}

/// The memory budgets terraform gives the functions (their memory less 128 MiB): the 256 MiB
/// services start with theirs; execute refuses one too small for its query slots, naming the
/// formula.
#[tokio::test]
async fn each_function_starts_with_the_memory_budget_terraform_gives_it() {
    const MIB: usize = 1024 * 1024;
    let small = (128 * MIB).to_string();
    for bin in ["actions_list", "action_form", "oauth_callback"] {
        let hub = HubProcess::start_bin(bin, &[("HUB_MEMORY_BUDGET_BYTES", &small)]).await;
        let r = client()
            .get(format!("{}/healthz", hub.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{bin}");
    }
    let out = tokio::process::Command::new(crate::binaries::bin_dir().join("action_execute"))
        .env_clear()
        .env("PORT", crate::binaries::free_port().to_string())
        .env("HUB_TOKENS", TOKEN)
        .env("HUB_MEMORY_BUDGET_BYTES", &small)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "HUB_MEMORY_BUDGET_BYTES is invalid: 134217728 bytes is less than 335609856: \
             HUB_QUERY_EXECUTES (4, for a process that runs executes)"
        ),
        "{err}"
    );
    let execute = HubProcess::start_bin(
        "action_execute",
        &[("HUB_MEMORY_BUDGET_BYTES", &(384 * MIB).to_string())],
    )
    .await;
    let r = client()
        .get(format!("{}/healthz", execute.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A query execute waits for a slot at most half its time limit, then is told to run again,
/// its result never fetched.
#[tokio::test]
async fn a_query_execute_that_waits_too_long_for_a_slot_is_told_to_run_again() {
    let (release, released) = watch::channel(false);
    let downloads = serve_downloads(5, Some(released)).await;
    let hub = Arc::new(
        HubProcess::start(&[
            ("HUB_QUERY_EXECUTES", "1"),
            // Half the time limit (19 s) is 9.5 s of waiting.
            ("HUB_EXECUTE_TIMEOUT_SECS", "20"),
            ("HUB_KEEPALIVE_AFTER_MS", "200"),
            ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ])
        .await,
    );
    let platform = Duration::from_secs(20);
    let running_hub = hub.clone();
    let body = batch_from_url(&downloads.url, "Suspicious", "first");
    let running = tokio::spawn(async move {
        execute_within(&running_hub, "writeback_batch", &body, platform).await
    });
    for _ in 0..500 {
        if downloads.started.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        downloads.started.load(Ordering::SeqCst),
        1,
        "the first download never started"
    );
    let body = batch_from_url(&downloads.url, "Suspicious", "second");
    let waited = execute_within(&hub, "writeback_batch", &body, platform).await;
    assert_eq!(waited["looker"]["success"], false);
    assert_eq!(
        message(&waited),
        "The action hub is busy: 1 query execute is already running on this instance \
         (HUB_QUERY_EXECUTES) and none freed up within 9 s; nothing was done. Run the action \
         again in a few minutes (or spread the schedules that run at the same time)."
    );
    assert!(!running.is_finished());
    assert_eq!(downloads.started.load(Ordering::SeqCst), 1);
    release.send(true).unwrap();
    let answer = running.await.unwrap();
    assert_eq!(
        message(&answer),
        "Wrote 10 rows as Suspicious to the write-back table."
    );
}

/// `rudder_track` past its time limit: it stops reading, delivers what it read and says so, the
/// same way as a write-back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rudderstack_delivery_past_its_time_limit_sends_what_it_read_and_says_so() {
    use crate::download::{self, DownloadServer, Serve};
    use crate::receiver::{Keep, Receiver};
    use crate::support::rudder::{request, Source, WRITE_KEY};

    let hub = HubProcess::start(&[
        ("HUB_EXECUTE_TIMEOUT_SECS", "6"),
        ("HUB_KEEPALIVE_AFTER_MS", "200"),
        ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ("RUDDER_MAX_BATCH_EVENTS", "100"),
    ])
    .await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    // 3 000 rows in 8 KB chunks every 100 ms: about 6 s, longer than the 4 s before the wind-up.
    let rows = 3_000;
    let download = DownloadServer::start(
        Arc::new(download::users_result(rows, 6)),
        Serve {
            pace: Some((8 * 1024, Duration::from_millis(100))),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&download.url), &[], Some("Sync"));
    let answer = execute_within(&hub, "rudder_track", &body, Duration::from_secs(6)).await;
    assert_eq!(answer["looker"]["success"], false, "{answer}");
    let delivered = plane.accepted_ids().len();
    assert!(delivered > 0 && delivered < rows, "{delivered}: {answer}");
    let k = hub_core::rudder::report::group_digits(delivered as u64);
    assert_eq!(
        crate::helpers::unnamed(message(&answer)),
        format!(
            "sent {k} of {k} events to RudderStack; the action reached its time limit (5 s: \
             HUB_EXECUTE_TIMEOUT_SECS = 6 s, the request timeout of the platform in front of the \
             hub, less 1 s to answer) after reading {k} rows of the result; only the rows read \
             before that were sent{}",
            hub_core::actions::rudder::RUN_AGAIN
        )
    );
}

/// A query execute still waiting for a slot when the shutdown asks executes to wind up is not
/// started: it is told to run again, its download never started.
#[tokio::test]
async fn a_query_execute_waiting_for_a_slot_at_the_shutdown_is_told_to_run_again() {
    let (_release, released) = watch::channel(false);
    let downloads = serve_downloads(5, Some(released)).await;
    let hub = Arc::new(
        HubProcess::start(&[
            ("HUB_QUERY_EXECUTES", "1"),
            ("HUB_SHUTDOWN_GRACE_SECS", "4"),
            ("HUB_KEEPALIVE_AFTER_MS", "200"),
            ("HUB_KEEPALIVE_INTERVAL_SECS", "1"),
        ])
        .await,
    );
    let platform = Duration::from_secs(60);
    let mut executes = Vec::new();
    for which in ["running", "waiting"] {
        let hub = hub.clone();
        let body = batch_from_url(&downloads.url, "Suspicious", which);
        executes.push(tokio::spawn(async move {
            execute_within(&hub, "writeback_batch", &body, platform).await
        }));
    }
    hub.wait_for_log("query execute waiting for a slot", 1)
        .await;
    hub.sigterm();
    let answers: Vec<Value> = futures_util::future::join_all(executes)
        .await
        .into_iter()
        .map(|a| a.unwrap())
        .collect();
    let told = answers
        .iter()
        .filter(|a| message(a) == hub_core::lifecycle::TOO_LATE)
        .count();
    assert_eq!(told, 1, "{answers:?}");
    assert!(answers.iter().all(|a| a["looker"]["success"] == false));
    assert_eq!(downloads.started.load(Ordering::SeqCst), 1);
}
