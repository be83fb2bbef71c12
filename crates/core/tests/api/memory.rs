//! Memory bounded on every input (issue 12, item 4): the hub binary's peak RSS (`VmHWM` from
//! `/proc`) stays under a stated bound while it answers with the right counts.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::download;
use crate::helpers::HubProcess;
use crate::rudder::{outcome, parse, request, Source};

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024
}

/// A data plane whose every answer is `status` with a body of `size` bytes, streamed (it stops
/// when the hub hangs up). Returns its URL and the number of requests answered.
async fn flooding_plane(
    status: u16,
    size: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            tokio::spawn(async move {
                // Read the request head and body (small: a gzipped batch).
                let mut buf = vec![0u8; 1 << 16];
                let mut got = Vec::new();
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\
                     Connection: close\r\n\r\n"
                );
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![b'x'; 1 << 20];
                let mut left = size;
                while left > 0 {
                    let n = left.min(block.len());
                    if sock.write_all(&block[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn a_huge_data_plane_error_reply_is_not_read_whole() {
    // 300 MB per answer, retried (503), 4 batches in flight: the hub reads 16 KiB of each.
    let (plane, hits) = flooding_plane(503, 300 << 20).await;
    let hub = HubProcess::start(&[
        ("RUDDER_RETRY_BASE_MS", "1"),
        ("RUDDER_RETRY_MAX_MS", "5"),
        ("RUDDER_MAX_BATCH_EVENTS", "10"),
    ])
    .await;
    let doc = download::users_result(40, 3);
    let body = request(&plane, Source::Base64(&doc), &[], Some("Flood"));
    let r = crate::helpers::looker_headers(
        crate::helpers::client().post(format!("{}/actions/rudder_track/execute", hub.base)),
    )
    .header(
        "Authorization",
        format!("Token token=\"{}\"", crate::helpers::TOKEN),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    let text = r.text().await.unwrap();
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.starts_with("sent 0 of 40 events to RudderStack;"),
        "{message}"
    );
    assert!(message.contains("HTTP 503"), "{message}");
    assert!(!message.contains("xxxx"), "{message}");
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) >= 5);
    let peak = peak_rss_mib(hub.child.id().unwrap());
    // Before the fix every 300 MB answer was read whole (peak > 300 MiB).
    assert!(peak < 100, "peak RSS {peak} MiB");
    eprintln!("peak RSS of the hub: {peak} MiB");
}

/// POST a body to the hub binary as Looker does; status and text.
async fn post(hub: &HubProcess, path: &str, body: Vec<u8>) -> (u16, String) {
    let r = crate::helpers::looker_headers(
        crate::helpers::client().post(format!("{}{path}", hub.base)),
    )
    .header(
        "Authorization",
        format!("Token token=\"{}\"", crate::helpers::TOKEN),
    )
    .header("Content-Type", "application/json")
    .body(body)
    .send()
    .await
    .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn nested_values_in_a_request_are_not_built_into_a_tree() {
    // 45 MB of empty arrays in data.value and in a form param: before, the body was parsed into
    // a value tree about 26 times its size (1.17 GB).
    let arrays = "[],".repeat(15 << 19);
    let nested = format!("[{arrays}[]]");
    let body = format!(
        r#"{{"type":"cell","data":{{"value":{nested},"user_email":"ana@example.com"}},
            "form_params":{{"id":"ORD-1","classification":"Suspicious","comment":"ok","x":{nested}}}}}"#
    );
    drop((arrays, nested));
    assert!(body.len() > 45 << 20 && body.len() < 64 << 20);
    let hub = HubProcess::start(&[]).await;
    let (status, text) = post(&hub, "/actions/mark_suspicious/execute", body.into_bytes()).await;
    assert_eq!(status, 200, "{text}");
    let (ok, message) = outcome(&parse(&text));
    assert!(ok, "{message}");
    assert_eq!(message, "Order ORD-1 marked as Suspicious.");
    let peak = peak_rss_mib(hub.child.id().unwrap());
    eprintln!("peak RSS of the hub: {peak} MiB");
    // The body itself is held (47 MB) while it is read and parsed.
    assert!(peak < 150, "peak RSS {peak} MiB");
}

#[tokio::test]
async fn oversized_emails_and_ids_are_refused_with_the_limit() {
    let hub = HubProcess::start(&[]).await;
    let long = "a".repeat(400);
    for (body, want) in [
        (
            serde_json::json!({"type":"cell","data":{"value":"ORD-1","user_email": format!("{long}@example.com")},
                "form_params":{"id":"ORD-1","classification":"Suspicious"}}),
            "data.user_email is 412 characters long; the limit is 320",
        ),
        (
            serde_json::json!({"type":"query","scheduled_plan":{"scheduled_plan_id": long},
                "form_params":{"classification":"Suspicious"}}),
            "scheduled_plan.scheduled_plan_id is 400 characters long; the limit is 128",
        ),
        (
            serde_json::json!({"type":"query","scheduled_plan":{"query_id": long},
                "form_params":{"classification":"Suspicious"}}),
            "scheduled_plan.query_id is 400 characters long; the limit is 128",
        ),
    ] {
        let (status, text) = post(
            &hub,
            "/actions/writeback_batch/execute",
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{text}");
        let (ok, message) = outcome(&parse(&text));
        assert!(!ok);
        assert!(message.contains(want), "{message}");
    }
}
