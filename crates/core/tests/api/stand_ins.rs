//! Real local stand-ins the write-back tests talk to: the BigQuery emulator (started by
//! `scripts/services/bigquery.sh`), an HTTP/2 gate in front of its gRPC port that plays BigQuery's
//! IAM, and an HTTP server that streams a Looker query result from a `download_url`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The BigQuery emulator's addresses, from the variables `scripts/services/bigquery.sh` exports.
#[derive(Clone)]
pub struct Emulator {
    /// REST base URL.
    pub rest: String,
    /// Storage API (gRPC) URL.
    pub grpc: String,
    /// Default project.
    pub project: String,
    client: reqwest::Client,
}

fn required_env(name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{name} is not set: the BigQuery tests need the emulator. Run them through scripts/test.sh, \
             or `source scripts/services/bigquery.sh` first."
        )
    })
}

impl Emulator {
    /// The running emulator; panics (never skips) when it is not there.
    pub async fn get() -> Emulator {
        let emu = Emulator {
            rest: required_env("BQ_EMULATOR_REST"),
            grpc: required_env("BQ_EMULATOR_GRPC"),
            project: required_env("BQ_EMULATOR_PROJECT"),
            client: crate::helpers::client(),
        };
        let probe = emu
            .client
            .get(format!(
                "{}/bigquery/v2/projects/{}/datasets",
                emu.rest, emu.project
            ))
            .send()
            .await;
        assert!(
            probe.as_ref().is_ok_and(|r| r.status().is_success()),
            "the BigQuery emulator at {} does not answer: {probe:?}",
            emu.rest
        );
        emu
    }

    /// A fresh dataset name (the emulator is shared by all tests).
    pub fn dataset_name() -> String {
        format!("t_{}", uuid::Uuid::new_v4().simple())
    }

    /// Create a dataset over REST.
    pub async fn create_dataset(&self, dataset: &str) {
        let r = self
            .client
            .post(format!(
                "{}/bigquery/v2/projects/{}/datasets",
                self.rest, self.project
            ))
            .json(&json!({"datasetReference": {"projectId": self.project, "datasetId": dataset}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }

    /// Run a query (jobs.query) and return its rows as objects keyed by column name.
    pub async fn query(&self, sql: &str) -> Vec<Map<String, Value>> {
        let r = self
            .client
            .post(format!(
                "{}/bigquery/v2/projects/{}/queries",
                self.rest, self.project
            ))
            .json(&json!({"query": sql, "useLegacySql": false, "timeoutMs": 30000, "maxResults": 100000}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["jobComplete"], true, "{body}");
        let names: Vec<String> = body["schema"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no schema: {body}"))
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        body["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        names
                            .iter()
                            .cloned()
                            .zip(row["f"].as_array().unwrap().iter().map(|c| c["v"].clone()))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Settings of a hub writing to `dataset` through this emulator (extra ones appended).
    pub fn hub_vars<'a>(
        &'a self,
        dataset: &'a str,
        storage_endpoint: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("HUB_GCP_PROJECT", self.project.as_str()),
            ("HUB_BIGQUERY_DATASET", dataset),
            ("HUB_BIGQUERY_ENDPOINT", self.rest.as_str()),
            ("HUB_BIGQUERY_STORAGE_ENDPOINT", storage_endpoint),
            ("HUB_GCP_ACCESS_TOKEN", GOOD_TOKEN),
            ("HUB_BIGQUERY_TIMEOUT_SECS", "30"),
        ]
    }
}

/// A token the gate lets through.
pub const GOOD_TOKEN: &str = "good-service-token";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type GateBody = BoxBody<Bytes, BoxError>;

fn grpc_status(code: u32, message: &str) -> Response<GateBody> {
    // A trailers-only gRPC answer: the status travels in the headers.
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("static response")
}

/// A response body that breaks the connection after passing on `left` data frames (answers).
struct CutAfter {
    inner: Incoming,
    left: usize,
    tripped: Arc<AtomicBool>,
}

impl hyper::body::Body for CutAfter {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            self.tripped.store(true, Ordering::SeqCst);
            return std::task::Poll::Ready(Some(Err("gate: connection lost".into())));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled {
            if frame.is_data() {
                self.left -= 1;
            }
        }
        polled.map(|o| o.map(|r| r.map_err(BoxError::from)))
    }
}

/// An HTTP/2 gate in front of the emulator's gRPC port that answers like BigQuery's front end by
/// bearer token (the emulator itself accepts any token): `good-*` passes through, `denied` →
/// PERMISSION_DENIED, `quota` → RESOURCE_EXHAUSTED, `slow` → no answer for 60 s, anything else →
/// UNAUTHENTICATED. `good-cut` passes two answers through, then the connection breaks and BigQuery
/// stays UNAVAILABLE for that token. `good-halfdead…` never answers on the first connection that
/// carries it (TCP stays up: a half-dead connection) and passes through on later ones.
/// `denied-or-missing` → PERMISSION_DENIED "… (or it may not exist)". Returns the gate's URL.
pub async fn spawn_gate(upstream: &str) -> String {
    spawn_gate_counted(upstream).await.0
}

/// [`spawn_gate`], and the number of connections it has accepted.
pub async fn spawn_gate_counted(upstream: &str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let upstream: hyper::Uri = upstream.parse().expect("upstream URL");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Incoming>();
    let tripped = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    // Tokens whose half-dead connection has been played already.
    let half_dead: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let client = client.clone();
            let upstream = upstream.clone();
            let tripped = tripped.clone();
            let half_dead = half_dead.clone();
            // Set when this connection plays dead: every later request on it hangs too.
            let this_dead = Arc::new(AtomicBool::new(false));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let client = client.clone();
                    let upstream = upstream.clone();
                    let tripped = tripped.clone();
                    let half_dead = half_dead.clone();
                    let this_dead = this_dead.clone();
                    async move {
                        let token = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "))
                            .unwrap_or("")
                            .to_string();
                        let cut = token == "good-cut";
                        if token.starts_with("good-halfdead")
                            && (this_dead.load(Ordering::SeqCst)
                                || half_dead.lock().unwrap().insert(token.clone()))
                        {
                            this_dead.store(true, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(300)).await;
                        }
                        let resp = match token.as_str() {
                            _ if cut && tripped.load(Ordering::SeqCst) => {
                                grpc_status(14, "The service is currently unavailable.")
                            }
                            t if t.starts_with("good") => {
                                let mut parts = upstream.into_parts();
                                parts.path_and_query = req.uri().path_and_query().cloned();
                                *req.uri_mut() = hyper::Uri::from_parts(parts).expect("uri");
                                match client.request(req).await {
                                    Ok(r) if cut => r.map(|inner| {
                                        CutAfter {
                                            inner,
                                            left: 2,
                                            tripped: tripped.clone(),
                                        }
                                        .boxed()
                                    }),
                                    Ok(r) => r.map(|b| b.map_err(BoxError::from).boxed()),
                                    Err(e) => grpc_status(14, &format!("gate upstream: {e}")),
                                }
                            }
                            "denied" => grpc_status(
                                7,
                                "Permission bigquery.tables.updateData denied on table",
                            ),
                            "quota" => grpc_status(8, "Exceeded rate limits: too many requests"),
                            "denied-or-missing" => grpc_status(
                                7,
                                "Permission 'TABLES_UPDATE_DATA' denied on resource 'projects/p/datasets/d/tables/suspicious_marks' (or it may not exist).",
                            ),
                            "slow" => {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                grpc_status(4, "late")
                            }
                            _ => grpc_status(16, "Request had invalid authentication credentials."),
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), connections)
}

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

/// A free port nothing listens on (an emulator that is down).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
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
        "ran_at": "2026-11-23T10:00:00+00:00",
        "fields": fields(),
        "data": (0..n).map(result_row).collect::<Vec<_>>()
    })
}

/// Serve one json_detail_lite_stream result of `n` rows, generated while it is sent (the server holds
/// no copy). `cut_after` closes the connection mid-document. Returns the `download_url`.
pub async fn serve_result(n: usize, cut_after: Option<usize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        if read_head(&mut socket).await.is_none() {
            return;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"ran_at\":\"2026-11-23T10:00:00+00:00\",\"fields\":{},\"data\":[",
            fields()
        );
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
            serde_json::to_writer(&mut out, &result_row(i)).expect("row");
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

/// A `writeback_batch` execute body whose result comes from `download_url`.
pub fn batch_from_url(url: &str, classification: &str, comment: &str) -> Value {
    json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 77, "query_id": "q-123", "download_url": url},
        "data": {"user_email": "analyst@example.com"},
        "form_params": {"classification": classification, "comment": comment}
    })
}

/// A `writeback_batch` execute body with the result pushed as an attachment.
pub fn batch_pushed(doc: &Value, base64: bool, classification: &str) -> Value {
    use base64::Engine;
    let text = doc.to_string();
    let (mimetype, data) = if base64 {
        (
            "application/json;base64",
            base64::engine::general_purpose::STANDARD.encode(text),
        )
    } else {
        ("application/json", text)
    };
    json!({
        "type": "query",
        "scheduled_plan": {"query_id": 42},
        "attachment": {"mimetype": mimetype, "extension": "json", "data": data},
        "data": {"user_email": "analyst@example.com"},
        "form_params": {"classification": classification, "comment": "batch review"}
    })
}
