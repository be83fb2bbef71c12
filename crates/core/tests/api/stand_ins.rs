//! Real local stand-ins the write-back tests talk to: the BigQuery emulator (started by
//! `scripts/services/bigquery.sh`), an HTTP/2 gate in front of its gRPC port that plays BigQuery's
//! IAM, and an HTTP server that streams a Looker query result from a `download_url`. The emulator
//! and the results live in `support/` (the benchmarks use them too).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

pub use crate::support::emulator::{Emulator, GOOD_TOKEN};
pub use crate::support::results::{read_head, result_doc, serve_result};

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

/// A free port nothing listens on (an emulator that is down).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
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
