//! A real RudderStack data plane stand-in on 127.0.0.1: `POST /v1/batch` with Basic auth and gzip,
//! recording every request, with injectable faults (500, 429 + Retry-After, slow answers, dropped
//! connections) for a share of requests, chosen by a seeded generator so runs are reproducible.
//! Shared with the RudderStack benchmark (`benches/rudder.rs`), which uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// Faults to inject; each share is a fraction (0.0–1.0) of requests, checked in this order.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Close the connection without answering and without accepting the batch.
    pub drop_before: f64,
    /// Accept the batch, then close the connection without answering (the client must retry; the
    /// events arrive twice and are deduplicated by messageId).
    pub drop_after: f64,
    /// Answer 500.
    pub status_500: f64,
    /// Answer 503.
    pub status_503: f64,
    /// Answer 429 with this `Retry-After` value (if any).
    pub status_429: f64,
    /// `Retry-After` header sent with 429.
    pub retry_after: Option<String>,
    /// Answer 400 (not retryable).
    pub status_400: f64,
    /// Accept, but answer only after `slow_delay` (longer than the client's timeout: the client
    /// gives up and retries; the events may arrive twice).
    pub slow: f64,
    /// How long a slow answer takes.
    pub slow_delay: Duration,
    /// Wait this long before answering every request.
    pub delay: Duration,
    /// Answer every request with this status (after recording it), e.g. 401.
    pub always: Option<u16>,
    /// Answer 503 to every batch holding an event with this `userId` (a batch that never gets
    /// through, to exercise "failed after all attempts").
    pub poison_user: Option<String>,
}

/// What the receiver did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200, events accepted.
    Accepted,
    /// Answered with an error status.
    Status(u16),
    /// Connection dropped before accepting.
    DroppedBefore,
    /// Accepted, then connection dropped.
    DroppedAfter,
    /// Wrong or missing Basic auth: 401.
    Unauthorized,
    /// Body not gzip/JSON as expected: 400.
    BadBody,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request path.
    pub path: String,
    /// `Content-Encoding` header.
    pub content_encoding: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Size of the body as received (compressed).
    pub wire_bytes: usize,
    /// Size of the decoded JSON body.
    pub json_bytes: usize,
    /// Events in the batch (0 when unreadable).
    pub events: usize,
    /// The decoded body (only when `keep_bodies`).
    pub body: Option<Value>,
    /// What the receiver answered.
    pub outcome: Outcome,
}

#[derive(Default)]
struct Inner {
    faults: Faults,
    requests: Vec<Recorded>,
    /// messageId -> times accepted.
    accepted: HashMap<String, u32>,
    /// Accepted events, by messageId (first copy), when `keep_bodies`.
    events: Vec<Value>,
    /// messageId -> userId of the first accepted copy (`Keep::Ids`).
    users: HashMap<String, String>,
    rng: u64,
}

/// How much the receiver keeps of what it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every decoded body and every accepted event (payload tests).
    Bodies,
    /// messageIds with their counts (large runs).
    Ids,
    /// Only counts: events are counted by their `"messageId":` keys without parsing (benchmarks).
    Counts,
}

struct Shared {
    write_key: String,
    keep: Keep,
    counted: std::sync::atomic::AtomicU64,
    inner: Mutex<Inner>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Base URL (`http://127.0.0.1:PORT`), the data plane URL to configure.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

enum Plan {
    Accept,
    Slow,
    Status(u16),
    DropBefore,
    DropAfter,
}

impl Receiver {
    /// Start on a random port of 127.0.0.1, expecting `write_key`; keep decoded bodies when asked
    /// (payload tests), count only when not (large runs).
    pub async fn start(write_key: &str, keep: Keep) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr: SocketAddr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            write_key: write_key.to_string(),
            keep,
            counted: std::sync::atomic::AtomicU64::new(0),
            inner: Mutex::new(Inner {
                rng: 42,
                ..Inner::default()
            }),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(s.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Replace the injected faults (and restart the seeded generator).
    pub fn set_faults(&self, faults: Faults) {
        let mut g = self.shared.inner.lock().unwrap();
        g.faults = faults;
        g.rng = 42;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// messageId -> how many times it was accepted.
    pub fn accepted_ids(&self) -> HashMap<String, u32> {
        self.shared.inner.lock().unwrap().accepted.clone()
    }

    /// userIds of the accepted events (one per distinct messageId); needs `Keep::Ids`.
    pub fn accepted_users(&self) -> std::collections::HashSet<String> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .users
            .values()
            .cloned()
            .collect()
    }

    /// Events accepted in `Keep::Counts` mode.
    pub fn counted(&self) -> u64 {
        self.shared
            .counted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Accepted events (first copy of each messageId), in arrival order; needs `keep_bodies`.
    pub fn events(&self) -> Vec<Value> {
        self.shared.inner.lock().unwrap().events.clone()
    }
}

fn plan(inner: &mut Inner) -> Plan {
    if let Some(s) = inner.faults.always {
        return Plan::Status(s);
    }
    let f = inner.faults.clone();
    let x = splitmix(&mut inner.rng);
    let mut edge = 0.0;
    for (share, plan) in [
        (f.drop_before, Plan::DropBefore),
        (f.drop_after, Plan::DropAfter),
        (f.status_500, Plan::Status(500)),
        (f.status_503, Plan::Status(503)),
        (f.status_429, Plan::Status(429)),
        (f.status_400, Plan::Status(400)),
        (f.slow, Plan::Slow),
    ] {
        edge += share;
        if x < edge {
            return plan;
        }
    }
    Plan::Accept
}

fn answer(status: u16, retry_after: Option<&str>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(if status == 200 {
        "OK"
    } else {
        "error"
    })));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ra) = retry_after {
        r.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    r
}

async fn handle(
    s: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_string();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_encoding = header("content-encoding");
    let content_type = header("content-type");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", s.write_key))
    );
    let auth_ok = header("authorization").as_deref() == Some(expected.as_str());
    let (delay, retry_after, plan) = {
        let mut g = s.inner.lock().unwrap();
        let p = plan(&mut g);
        let delay = if matches!(p, Plan::Slow) {
            g.faults.slow_delay
        } else {
            g.faults.delay
        };
        (delay, g.faults.retry_after.clone(), p)
    };
    let mut rec = Recorded {
        path: path.clone(),
        content_encoding: content_encoding.clone(),
        content_type,
        wire_bytes: 0,
        json_bytes: 0,
        events: 0,
        body: None,
        outcome: Outcome::Accepted,
    };
    let wire = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    rec.wire_bytes = wire.len();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let json = if content_encoding.as_deref() == Some("gzip") {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut out) {
            Ok(_) => Some(out),
            Err(_) => None,
        }
    } else {
        Some(wire.to_vec())
    };
    if s.keep == Keep::Counts {
        let n = json.as_deref().map_or(0, |j| {
            j.windows(12).filter(|w| w == b"\"messageId\":").count()
        });
        let ok = auth_ok && path == "/v1/batch" && n > 0;
        if ok {
            s.counted
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        return Ok(answer(
            if ok {
                200
            } else if auth_ok {
                400
            } else {
                401
            },
            None,
        ));
    }
    let Some(json) = json else {
        rec.outcome = Outcome::BadBody;
        s.inner.lock().unwrap().requests.push(rec);
        return Ok(answer(400, None));
    };
    rec.json_bytes = json.len();
    let (batch, body) = parse_batch(&json, s.keep);
    rec.events = batch.as_ref().map_or(0, Vec::len);
    rec.body = body;
    let mut g = s.inner.lock().unwrap();
    let poisoned = g.faults.poison_user.as_ref().is_some_and(|p| {
        batch
            .iter()
            .flatten()
            .any(|e| e.user_id.as_deref() == Some(p.as_str()))
    });
    let plan = if poisoned { Plan::Status(503) } else { plan };
    let response = match (path == "/v1/batch", auth_ok, batch, plan) {
        (false, ..) => {
            rec.outcome = Outcome::Status(404);
            Ok(answer(404, None))
        }
        (_, false, ..) => {
            rec.outcome = Outcome::Unauthorized;
            Ok(answer(401, None))
        }
        (_, _, None, _) => {
            rec.outcome = Outcome::BadBody;
            Ok(answer(400, None))
        }
        (_, _, _, Plan::DropBefore) => {
            rec.outcome = Outcome::DroppedBefore;
            Err(std::io::Error::other("injected: dropped without accepting"))
        }
        (_, _, _, Plan::Status(code)) => {
            rec.outcome = Outcome::Status(code);
            let ra = if code == 429 {
                retry_after.as_deref()
            } else {
                None
            };
            Ok(answer(code, ra))
        }
        (_, _, Some(events), plan) => {
            for ev in events {
                let copies = g.accepted.entry(ev.message_id.clone()).or_insert(0);
                *copies += 1;
                if *copies > 1 {
                    continue;
                }
                match ev.event {
                    Some(full) => g.events.push(full),
                    None => {
                        g.users
                            .insert(ev.message_id, ev.user_id.unwrap_or_default());
                    }
                }
            }
            if matches!(plan, Plan::DropAfter) {
                rec.outcome = Outcome::DroppedAfter;
                Err(std::io::Error::other("injected: dropped after accepting"))
            } else {
                Ok(answer(200, None))
            }
        }
    };
    g.requests.push(rec);
    response
}

/// One event of a batch, as much of it as the receiver keeps.
struct Received {
    message_id: String,
    user_id: Option<String>,
    /// The whole event (`Keep::Bodies`).
    event: Option<Value>,
}

#[derive(serde::Deserialize)]
struct IdsBatch {
    batch: Vec<IdsEvent>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdsEvent {
    message_id: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// The events of a `{"batch": [...]}` body (none when it is not one), and the whole body for
/// `Keep::Bodies`; large runs (`Keep::Ids`) parse only the ids.
fn parse_batch(json: &[u8], keep: Keep) -> (Option<Vec<Received>>, Option<Value>) {
    if keep == Keep::Ids {
        let events = serde_json::from_slice::<IdsBatch>(json).ok().map(|b| {
            b.batch
                .into_iter()
                .map(|e| Received {
                    message_id: e.message_id,
                    user_id: e.user_id,
                    event: None,
                })
                .collect()
        });
        return (events, None);
    }
    let body: Option<Value> = serde_json::from_slice(json).ok();
    let events = body
        .as_ref()
        .and_then(|v| v.get("batch")?.as_array())
        .map(|evs| {
            evs.iter()
                .map(|e| Received {
                    message_id: e["messageId"].as_str().unwrap_or("").to_string(),
                    user_id: e["userId"].as_str().map(str::to_string),
                    event: Some(e.clone()),
                })
                .collect()
        });
    (events, body)
}
