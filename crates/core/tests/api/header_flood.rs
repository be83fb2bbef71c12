//! Result headers at and over the hub's bounds (`rows::MAX_FIELDS`, what is kept per field and
//! per header), four executes of each query action at once against the real binary: a flood is
//! refused with what to change before it costs memory, a header at the bounds is delivered, and
//! the hub's peak RSS (`VmHWM`) stays under the 64 MiB a request may use. A single request is
//! also held to half of that over the hub's idle peak (the debug binary idles at ~35 MiB, the
//! release one at ~17 MiB): the request's own memory, with room to spare.

use std::sync::Arc;

use crate::download::{self, DownloadServer, Serve};
use crate::helpers::HubProcess;
use crate::memory::{peak_rss_mib, post};
use crate::receiver::{Keep, Receiver};
use crate::support::rudder::{outcome, parse, request, Source, WRITE_KEY};

/// A streamed result: the identity fields, then `extra` more dimensions each described by
/// `describe(i)` (the JSON members after its name), then `rows` rows of the identity cells.
fn result(extra: usize, describe: impl Fn(usize) -> String, rows: usize) -> Arc<Vec<u8>> {
    let mut fields = vec![
        r#"{"name":"users.id","label":"Id","tags":["user_id"]}"#.to_string(),
        r#"{"name":"users.email","label":"Email","tags":["email"]}"#.to_string(),
    ];
    fields.extend((0..extra).map(|i| format!(r#"{{"name":"users.x{i}"{}}}"#, describe(i))));
    Arc::new(download::json_detail(
        "2024-05-01T10:00:00+00:00",
        &format!("[{}]", fields.join(",")),
        "[]",
        (0..rows).map(|i| download::users_row(i, 2)),
    ))
}

/// `rudder_track` and `writeback_batch` executes of `doc` at once, `each` of both; their answers.
async fn executes(
    hub: &HubProcess,
    doc: Arc<Vec<u8>>,
    plane: &str,
    each: usize,
) -> Vec<(bool, String)> {
    let server = DownloadServer::start(doc, Serve::default()).await;
    let track = request(plane, Source::Url(&server.url), &[], Some("Flood"));
    let batch = serde_json::json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 5, "download_url": server.url},
        "form_params": {"classification": "Suspicious", "comment": "flood"},
    });
    let calls = (0..2 * each).map(|i| {
        let (path, body) = if i % 2 == 0 {
            ("/actions/rudder_track/execute", &track)
        } else {
            ("/actions/writeback_batch/execute", &batch)
        };
        async move {
            let (status, text) = post(hub, path, serde_json::to_vec(body).unwrap()).await;
            assert_eq!(status, 200, "{text}");
            let (ok, message) = outcome(&parse(&text));
            (ok, message.to_string())
        }
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn a_header_flood_is_refused_with_what_to_change_before_it_costs_memory() {
    // 380 000 fields, 13 MB: before, one such execute of 15.5 MB peaked at 221 MiB, four at
    // 738 MiB.
    let doc = result(380_000, |_| r#","tags":[]"#.into(), 100);
    assert!(doc.len() > 12 << 20, "{}", doc.len());
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let hub = HubProcess::start(&[]).await;
    let answers = executes(&hub, doc, &plane.url, 4).await;
    let why = "the query result has more than 5000 fields (dimensions, measures, table \
               calculations and pivots together), more than the hub reads: remove fields from the \
               Look or query";
    for (i, (ok, message)) in answers.iter().enumerate() {
        assert!(!ok, "{message}");
        let want = if i % 2 == 0 {
            format!("{why}; nothing was sent")
        } else {
            format!("Nothing was written: {why}.")
        };
        assert_eq!(crate::helpers::unnamed(message), want);
    }
    assert!(plane.accepted_ids().is_empty());
    let peak = peak_rss_mib(hub.child.id().unwrap());
    eprintln!("peak RSS of the hub, 8 header floods at once: {peak} MiB");
    assert!(peak <= 64, "peak RSS {peak} MiB");
}

#[tokio::test]
async fn a_header_at_the_bounds_is_delivered_within_a_requests_memory() {
    // 5 000 fields, each with a long label and tags and 2 KB of SQL Looker sends along (dropped
    // as read): 14 MB of header, just under the 4 MiB the hub keeps per header.
    let label = "L".repeat(600);
    let doc = result(
        hub_core::rows::MAX_FIELDS - 2,
        |i| {
            format!(
                r#","label":"{label}{i}","tags":["a","b"],"hidden":false,"sql":"{}","description":"d""#,
                "CASE WHEN x THEN 1 END ".repeat(90)
            )
        },
        100,
    );
    assert!(doc.len() > 13 << 20, "{}", doc.len());
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let check = |answers: Vec<(bool, String)>| {
        for (i, (ok, message)) in answers.iter().enumerate() {
            assert!(ok, "{message}");
            let want = if i % 2 == 0 {
                "sent 100 of 100 events to RudderStack"
            } else {
                "Wrote 100 rows as Suspicious to the write-back table."
            };
            assert_eq!(message, want);
        }
    };
    // One execute of each on its own: what a request costs.
    let hub = HubProcess::start(&[]).await;
    let idle = peak_rss_mib(hub.child.id().unwrap());
    check(executes(&hub, doc.clone(), &plane.url, 1).await);
    let one = peak_rss_mib(hub.child.id().unwrap());
    eprintln!(
        "peak RSS of the hub, idle {idle} MiB, after a 5000-field header to each action: {one} MiB"
    );
    assert!(
        one <= 64 && one - idle <= 32,
        "peak RSS {one} MiB (idle {idle})"
    );
    // Four of each at once, on a fresh hub.
    let hub = HubProcess::start(&[]).await;
    check(executes(&hub, doc, &plane.url, 4).await);
    // The same rows and plan each time: one set of messageIds, each sent five times.
    let ids = plane.accepted_ids();
    assert_eq!(ids.len(), 100);
    assert!(ids.values().all(|n| *n == 5), "{ids:?}");
    let peak = peak_rss_mib(hub.child.id().unwrap());
    eprintln!("peak RSS of the hub, 4 + 4 executes of a 5000-field header at once: {peak} MiB");
    // Before, four header floods reached 738 MiB.
    assert!(peak <= 2 * 64, "peak RSS {peak} MiB");
}

#[tokio::test]
async fn rows_of_thousands_of_cells_stay_within_a_requests_memory() {
    // 5 000 fields and 300 rows carrying every one of them (130 KB of JSON per row, 39 MB in
    // all): what a row costs does not grow with the cells no column maps.
    let n = hub_core::rows::MAX_FIELDS - 2;
    let row = |i: usize| {
        let mut r = download::users_row(i, 2);
        r.pop();
        for f in 0..n {
            r.push_str(&format!(r#","users.x{f}":{{"value":{}}}"#, (i + f) % 1000));
        }
        r.push('}');
        r
    };
    let mut fields = vec![
        r#"{"name":"users.id","label":"Id","tags":["user_id"]}"#.to_string(),
        r#"{"name":"users.email","label":"Email","tags":["email"]}"#.to_string(),
    ];
    fields.extend((0..n).map(|i| format!(r#"{{"name":"users.x{i}"}}"#)));
    let doc = Arc::new(download::json_detail(
        "2024-05-01T10:00:00+00:00",
        &format!("[{}]", fields.join(",")),
        "[]",
        (0..300).map(row),
    ));
    assert!(doc.len() > 36 << 20, "{}", doc.len());
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let server = DownloadServer::start(doc, Serve::default()).await;
    // Each action on a hub of its own: what one request costs.
    let batch = serde_json::json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 5, "download_url": server.url},
        "form_params": {"classification": "Suspicious", "comment": "wide"},
    });
    let hub = HubProcess::start(&[]).await;
    let idle = peak_rss_mib(hub.child.id().unwrap());
    let (status, text) = post(
        &hub,
        "/actions/writeback_batch/execute",
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (ok, message) = outcome(&parse(&text));
    assert!(ok, "{message}");
    assert_eq!(
        message,
        "Wrote 300 rows as Suspicious to the write-back table."
    );
    let peak = peak_rss_mib(hub.child.id().unwrap());
    eprintln!("peak RSS of the hub, 300 rows of 5000 cells written back: {peak} MiB");

    let hub = HubProcess::start(&[]).await;
    let idle_rudder = peak_rss_mib(hub.child.id().unwrap());
    let track = request(&plane.url, Source::Url(&server.url), &[], Some("Wide"));
    let (status, text) = post(
        &hub,
        "/actions/rudder_track/execute",
        serde_json::to_vec(&track).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    // Every event is over RudderStack's 32 KB: rejected and counted, none sent.
    assert!(
        message.starts_with(
            "sent 0 of 300 events to RudderStack; 300 rejected before sending (e.g. row 1 \
             makes an event of "
        ),
        "{message}"
    );
    let peak_rudder = peak_rss_mib(hub.child.id().unwrap());
    eprintln!("peak RSS of the hub, 300 rows of 5000 cells to rudder_track: {peak_rudder} MiB");
    // The debug binary's idle peak is half the budget already: the requests' own memory.
    assert!(
        peak - idle <= 32 && peak_rudder - idle_rudder <= 32,
        "peak RSS {peak} (idle {idle}) / {peak_rudder} (idle {idle_rudder}) MiB"
    );
}
