//! Fault injection end to end: a large `rudder_track` execute streamed from a `download_url` to a
//! data plane that fails 10 % of requests in every way at once (connections dropped before and
//! after it took the batch, 500, 429 with `Retry-After`, answers slower than the client's timeout).
//! Every row must arrive exactly once by messageId (a retried copy carries the same id, so the data
//! plane deduplicates it), or the answer must be `success:false` with the exact counts; the same
//! when the download breaks half-way. (Single faults, a batch that never gets through and the
//! payloads are covered in `rudder.rs`.)
//!
//! `HUB_FAULT_ROWS` sets the size (default 20 000 here; `scripts/faults.sh` runs 100 000).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_core::routes::Function;

use crate::download::{self, DownloadServer, Serve};
use crate::helpers::TestHub;
use crate::receiver::{Faults, Keep, Outcome, Receiver};
use crate::support::rudder::{execute_raw, outcome, parse, request, Source, WRITE_KEY};

fn rows() -> usize {
    std::env::var("HUB_FAULT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// 10 % of requests fail, 2 % of each kind.
fn ten_percent() -> Faults {
    Faults {
        drop_before: 0.02,
        drop_after: 0.02,
        status_500: 0.02,
        status_429: 0.02,
        retry_after: Some("1".into()),
        slow: 0.02,
        slow_delay: Duration::from_millis(2500),
        ..Faults::default()
    }
}

async fn hub() -> TestHub {
    TestHub::spawn_with(
        &[
            ("RUDDER_MAX_BATCH_EVENTS", "100"),
            ("RUDDER_MAX_ATTEMPTS", "8"),
            ("RUDDER_RETRY_BASE_MS", "5"),
            ("RUDDER_RETRY_MAX_MS", "50"),
            // Slow answers (2.5 s) outlast this: the hub gives up and retries.
            ("RUDDER_REQUEST_TIMEOUT_SECS", "1"),
        ],
        Function::ALL,
    )
    .await
}

/// What the data plane holds, deduplicated by messageId: each row's user exactly once, under one
/// messageId. Returns the users.
fn exactly_once(plane: &Receiver) -> HashSet<String> {
    let ids = plane.accepted_ids();
    let users = plane.accepted_users();
    assert_eq!(
        ids.len(),
        users.len(),
        "one messageId per row: no row arrived under two different ids"
    );
    users
}

fn users(range: std::ops::Range<usize>) -> HashSet<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_arrives_exactly_once_through_ten_percent_mixed_faults() {
    let n = rows();
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(ten_percent());
    let server =
        DownloadServer::start(Arc::new(download::users_result(n, 10)), Serve::default()).await;
    let body = request(&plane.url, Source::Url(&server.url), &[], Some("Bulk"));
    let started = Instant::now();
    let (status, text) = execute_raw(&hub, "rudder_track", &body, "webhook-faults").await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    let reqs = plane.requests();
    let count = |o: Outcome| reqs.iter().filter(|r| r.outcome == o).count();
    let faults = reqs.len() - count(Outcome::Accepted);
    eprintln!(
        "{n} rows through 10 % faults: {elapsed:?}, {} requests ({faults} failed: {} dropped before, \
         {} dropped after, {} × 500, {} × 429)",
        reqs.len(),
        count(Outcome::DroppedBefore),
        count(Outcome::DroppedAfter),
        count(Outcome::Status(500)),
        count(Outcome::Status(429)),
    );
    for kind in [
        Outcome::DroppedBefore,
        Outcome::DroppedAfter,
        Outcome::Status(500),
        Outcome::Status(429),
    ] {
        assert!(count(kind) > 0, "{kind:?} was injected");
    }
    let got = exactly_once(&plane);
    let n_text = hub_core::rudder::report::group_digits(n as u64);
    if ok {
        assert_eq!(
            message,
            format!("sent {n_text} of {n_text} events to RudderStack")
        );
        assert_eq!(got, users(0..n), "every row, once");
    } else {
        // Only a batch failing 8 times in a row may fail; then the counts must be exact.
        let sent = got.len();
        assert!(
            message.starts_with(&format!(
                "sent {} of {n_text} events to RudderStack; {} failed after 8 attempts",
                hub_core::rudder::report::group_digits(sent as u64),
                hub_core::rudder::report::group_digits((n - sent) as u64),
            )),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_breaking_half_way_through_faults_reports_exactly_what_was_sent() {
    let n = rows();
    let hub = hub().await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    plane.set_faults(ten_percent());
    let doc = download::users_result(n, 10);
    let cut_at = doc.len() / 2;
    let server = DownloadServer::start(
        Arc::new(doc),
        Serve {
            cut_after: Some(cut_at),
            ..Serve::default()
        },
    )
    .await;
    let body = request(&plane.url, Source::Url(&server.url), &[], Some("Bulk"));
    let (status, text) = execute_raw(&hub, "rudder_track", &body, "webhook-cut").await;
    assert_eq!(status, 200);
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok, "{message}");
    let got = exactly_once(&plane);
    let sent = got.len();
    // Rows are the same size, so about half of them were read before the cut.
    assert!(sent > n * 2 / 5 && sent < n * 3 / 5, "{sent} of {n}");
    // The rows read are a prefix of the result, each delivered once, and the answer says so.
    assert_eq!(got, users(0..sent));
    let k = hub_core::rudder::report::group_digits(sent as u64);
    assert!(
        message.starts_with(&format!(
            "sent {k} of {k} events to RudderStack; the query result download was cut off after {sent} row(s)"
        )),
        "{message}"
    );
    assert!(
        crate::helpers::unnamed(&message).ends_with("; only the rows read before that were sent")
    );
}
