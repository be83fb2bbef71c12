//! Looker query results the write-back tests and benchmarks send: the test result's fields and
//! rows, whole documents, and a `download_url` server that generates a result while it sends it.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Read an HTTP/1.1 request head (request line and headers); `None` if the peer went away.
pub async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => seen.extend_from_slice(&buf[..k]),
        }
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}

/// The fields of the test results: `orders.id` carries the `mark-suspicious` tag.
pub fn fields() -> Value {
    json!({
        "dimensions": [
            {"name": "orders.created", "label": "Created", "tags": []},
            {"name": "orders.id", "label": "Order ID", "tags": ["mark-suspicious"]},
            {"name": "users.email", "label": "Email", "tags": ["email"]}
        ],
        "measures": [{"name": "orders.total", "label": "Total", "tags": []}],
        "table_calculations": [],
        "pivots": []
    })
}

/// Result row `i`.
pub fn result_row(i: usize) -> Value {
    json!({
        "orders.created": {"value": "2026-01-02"},
        "orders.id": {"value": 1000 + i},
        "users.email": {"value": format!("u{i}@example.com")},
        "orders.total": {"value": (i as f64) * 1.5}
    })
}

/// A whole json_detail document of `n` rows (`fields` before `data`, as the lite stream has it).
pub fn result_doc(n: usize) -> Value {
    json!({
        "ran_at": RAN_AT,
        "fields": fields(),
        "data": (0..n).map(result_row).collect::<Vec<_>>()
    })
}

/// Serve one json_detail_lite_stream result of `n` rows, generated while it is sent (the server holds
/// no copy). `cut_after` closes the connection mid-document. Returns the `download_url`.
pub async fn serve_result(n: usize, cut_after: Option<usize>) -> String {
    serve_generated(RAN_AT, fields(), n, cut_after, result_row).await
}

/// The `ran_at` of the test results.
pub const RAN_AT: &str = "2026-11-23T10:00:00+00:00";

/// Serve one json_detail_lite_stream result with these `fields` and `n` rows made by `row` while
/// they are sent (the server holds one buffer of rows, never the result), to one download.
/// `cut_after` closes the connection before row `cut_after`. Returns the `download_url`.
pub async fn serve_generated(
    ran_at: &str,
    fields: Value,
    n: usize,
    cut_after: Option<usize>,
    row: impl Fn(usize) -> Value + Send + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"ran_at\":\"{ran_at}\",\"fields\":{fields},\"data\":["
    );
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        if read_head(&mut socket).await.is_none() {
            return;
        }
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut out = Vec::with_capacity(64 * 1024);
        for i in 0..n {
            if cut_after == Some(i) {
                let _ = socket.write_all(&out).await;
                return;
            }
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &row(i)).expect("row");
            if out.len() > 32 * 1024 {
                if socket.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        out.extend_from_slice(b"]}");
        let _ = socket.write_all(&out).await;
        let _ = socket.shutdown().await;
    });
    format!("http://{addr}/download/one-time-token")
}
