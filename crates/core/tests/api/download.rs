//! A Looker `download_url` stand-in on 127.0.0.1: serves a query result with chunked transfer
//! encoding (as Looker streams `json_detail_lite_stream`), and can answer an error status or cut
//! the connection after some bytes. Also builds json_detail documents.
//! Shared with the RudderStack benchmark (`benches/rudder.rs`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the result is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serve {
    /// Answer this status with an empty body instead of the result.
    pub status: Option<u16>,
    /// Close the connection after this many body bytes (no final chunk).
    pub cut_after: Option<usize>,
    /// Stop sending (connection left open) after this many body bytes.
    pub stall_after: Option<usize>,
    /// Send the body slowly: chunks of this many bytes, with this pause after each.
    pub pace: Option<(usize, std::time::Duration)>,
}

/// A running download server; stops when dropped.
pub struct DownloadServer {
    /// The URL to put in `scheduled_plan.download_url`.
    pub url: String,
    downloads: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DownloadServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DownloadServer {
    /// Serve `body` at a one-time-looking URL.
    pub async fn start(body: Arc<Vec<u8>>, serve: Serve) -> DownloadServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind download server");
        let addr = listener.local_addr().unwrap();
        let downloads = Arc::new(AtomicU32::new(0));
        let count = downloads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let body = body.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    // Read the request head (a GET without a body).
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    if let Some(status) = serve.status {
                        let _ = sock
                            .write_all(format!("HTTP/1.1 {status} Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                            .await;
                        return;
                    }
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                        .await;
                    let end = serve
                        .cut_after
                        .or(serve.stall_after)
                        .unwrap_or(body.len())
                        .min(body.len());
                    let chunk_size = serve.pace.map_or(64 * 1024, |(n, _)| n.max(1));
                    for chunk in body[..end].chunks(chunk_size) {
                        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                        frame.extend_from_slice(chunk);
                        frame.extend_from_slice(b"\r\n");
                        if sock.write_all(&frame).await.is_err() {
                            return;
                        }
                        if let Some((_, pause)) = serve.pace {
                            tokio::time::sleep(pause).await;
                        }
                    }
                    if serve.stall_after.is_some() {
                        let _ = sock.flush().await;
                        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                        return;
                    }
                    if serve.cut_after.is_none() {
                        let _ = sock.write_all(b"0\r\n\r\n").await;
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        DownloadServer {
            url: format!("http://{addr}/api/internal/query_results/abc123/download?token=one-time"),
            downloads,
            task,
        }
    }

    /// How many times the result was requested.
    pub fn downloads(&self) -> u32 {
        self.downloads.load(Ordering::Relaxed)
    }
}

/// A json_detail_lite_stream document: `ran_at`, `fields` (dimensions, measures), then `data`
/// with one row per item of `rows` (each already a JSON object text).
pub fn json_detail(
    ran_at: &str,
    dimensions: &str,
    measures: &str,
    rows: impl Iterator<Item = String>,
) -> Vec<u8> {
    let mut doc = format!(
        r#"{{"ran_at":"{ran_at}","fields":{{"dimensions":{dimensions},"measures":{measures},"table_calculations":[],"pivots":[]}},"data":["#
    )
    .into_bytes();
    for (i, row) in rows.enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(row.as_bytes());
    }
    doc.extend_from_slice(b"]}");
    doc
}

/// Fields of the generated "users" result: `users.id` (user_id), `users.email` (email) and
/// `n - 2` more dimensions.
pub fn users_dimensions(n: usize) -> String {
    let mut f = vec![
        r#"{"name":"users.id","label":"Id","tags":["user_id"]}"#.to_string(),
        r#"{"name":"users.email","label":"Email","tags":["email"]}"#.to_string(),
    ];
    for i in 2..n {
        f.push(format!(
            r#"{{"name":"users.f{i}","label":"F{i}","tags":[]}}"#
        ));
    }
    format!("[{}]", f.join(","))
}

/// Row `i` of the generated "users" result with `n` fields of mixed types.
pub fn users_row(i: usize, n: usize) -> String {
    let mut row =
        format!(r#"{{"users.id":{{"value":{i}}},"users.email":{{"value":"user{i}@example.com"}}"#);
    for f in 2..n {
        let cell = match f % 4 {
            0 => format!(r#""users.f{f}":{{"value":"text {i} {f}"}}"#),
            1 => format!(r#""users.f{f}":{{"value":{}}}"#, (i * 7 + f) % 1000),
            2 => format!(r#""users.f{f}":{{"value":{}}}"#, i.is_multiple_of(2)),
            _ => format!(r#""users.f{f}":{{"value":"2024-01-{:02}"}}"#, i % 28 + 1),
        };
        row.push(',');
        row.push_str(&cell);
    }
    row.push('}');
    row
}

/// A whole generated "users" result of `rows` rows × `fields` fields.
pub fn users_result(rows: usize, fields: usize) -> Vec<u8> {
    json_detail(
        "2024-05-01T10:00:00+00:00",
        &users_dimensions(fields),
        "[]",
        (0..rows).map(|i| users_row(i, fields)),
    )
}
