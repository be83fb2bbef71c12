//! The Cloud Storage store against fake-gcs-server (`scripts/services/gcs.sh`, which exports
//! `HUB_TEST_GCS_ENDPOINT`), directly and through a gate that injects Cloud Storage's failures.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::*;
use crate::changes::store::conformance::conformance;

/// The emulator's URL; panics (never skips) when it is not there.
fn emulator() -> String {
    // The tests' own clients, like the store's, need the process's TLS provider.
    crate::net::install_crypto();
    if let Some(test) = std::thread::current().name().filter(|n| *n != "main") {
        assert!(
            test.contains("gcs"),
            "{test} uses the Cloud Storage emulator: put \"gcs\" in its name"
        );
    }
    std::env::var("HUB_TEST_GCS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "HUB_TEST_GCS_ENDPOINT is not set: the Cloud Storage tests need the emulator. Run \
                 them through scripts/test.sh, or `source scripts/services/gcs.sh` first."
            )
        })
}

/// A new, empty bucket on the emulator (each test its own).
async fn new_bucket(endpoint: &str) -> String {
    let name = format!("hub-test-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .post(format!("{endpoint}/storage/v1/b?project=hub-test"))
        .json(&serde_json::json!({ "name": name }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(
        created.as_ref().is_ok_and(|r| r.status().is_success()),
        "the Cloud Storage emulator at {endpoint} does not create a bucket: {created:?}"
    );
    name
}

fn store_at(endpoint: &str, location: &str, retry_for: Duration) -> GcsStore {
    GcsStore::new(
        Location::parse(location).unwrap(),
        endpoint,
        None,
        retry_for,
    )
    .unwrap()
}

fn unavailable(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Unavailable(m)) => m,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn gcs_store_keeps_the_change_store_contract_on_the_emulator() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let store = store_at(&endpoint, &format!("{bucket}/changes/v1"), RETRY_FOR);
    assert_eq!(store.place(), format!("gs://{bucket}/changes/v1"));
    conformance(&store).await;
    // The layout: the head and the parts under the prefix, nothing else.
    let listed = store.client.list("", false).await.unwrap();
    assert!(
        listed.contains(&"changes/v1/h1/head".to_string()),
        "{listed:?}"
    );
    assert!(
        listed.contains(&"changes/v1/l1/snap/run-b/part-0".to_string()),
        "{listed:?}"
    );
    assert!(
        listed.iter().all(|n| n.starts_with("changes/v1/")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn gcs_store_at_the_root_of_a_bucket_keeps_the_contract() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let store = store_at(&endpoint, &bucket, RETRY_FOR);
    assert_eq!(store.place(), format!("gs://{bucket}"));
    conformance(&store).await;
}

/// The overlap tests rely on the emulator refusing a stale write: if a build of it stopped
/// enforcing preconditions on multipart uploads, they could pass without testing anything.
#[tokio::test]
async fn gcs_canary_the_emulator_answers_412_to_a_stale_multipart_write() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let http = reqwest::Client::new();
    let upload = |generation: &str, text: &'static str| {
        let body = format!(
            "--b\r\nContent-Type: application/json\r\n\r\n{{\"name\":\"canary\"}}\r\n\
             --b\r\nContent-Type: application/octet-stream\r\n\r\n{text}\r\n--b--\r\n"
        );
        http.post(format!(
            "{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=multipart&ifGenerationMatch={generation}"
        ))
        .header("content-type", "multipart/related; boundary=b")
        .body(body)
        .send()
    };
    let first = upload("0", "one").await.unwrap();
    assert_eq!(first.status(), 200);
    let generation = first.json::<serde_json::Value>().await.unwrap()["generation"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(upload("0", "again").await.unwrap().status(), 412);
    let stale = (generation.parse::<i64>().unwrap() - 1).to_string();
    assert_eq!(upload(&stale, "stale").await.unwrap().status(), 412);
    assert_eq!(upload(&generation, "two").await.unwrap().status(), 200);
    assert_eq!(
        upload(&generation, "lost race").await.unwrap().status(),
        412
    );
    let now = http
        .get(format!(
            "{endpoint}/storage/v1/b/{bucket}/o/canary?alt=media"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(now, "two");
}

#[tokio::test]
async fn gcs_a_missing_bucket_is_unavailable_and_named() {
    let endpoint = emulator();
    let store = store_at(&endpoint, "no-such-bucket-here/p", Duration::from_secs(2));
    let expected = "the memory of sends (gs://no-such-bucket-here/p): the Cloud Storage bucket \
                    no-such-bucket-here does not exist";
    assert_eq!(unavailable(store.read_head("s").await), expected);
    assert_eq!(
        unavailable(store.write_head("s", b"h", Generation::ABSENT).await),
        expected
    );
    assert_eq!(
        unavailable(store.put_part("s", "r", 0, b"p".to_vec()).await),
        expected
    );
    assert_eq!(unavailable(store.get_part("s", "r", 0).await), expected);
    assert_eq!(unavailable(store.snapshots("s").await), expected);
    assert_eq!(unavailable(store.delete_snapshot("s", "r").await), expected);
}

#[tokio::test]
async fn gcs_permission_denied_is_unavailable_at_once_naming_the_bucket_never_the_token_or_body() {
    let gate = Gate::start(None).await;
    gate.plan(&[Fault::Answer(403); 4]);
    let token = secrecy::SecretString::from("ya29.SECRET-TOKEN");
    let store = GcsStore::new(
        Location::parse("hub-state/p").unwrap(),
        &gate.url,
        Some(crate::gcp::bearer(token)),
        Duration::from_secs(5),
    )
    .unwrap();
    let message = unavailable(store.write_head("s", b"h", Generation::ABSENT).await);
    assert_eq!(
        message,
        "the memory of sends (gs://hub-state/p): permission denied on the Cloud Storage bucket \
         hub-state (HTTP 403): the hub's service account needs storage.objects.get, create, \
         delete and list on it"
    );
    assert_eq!(gate.requests(), 1, "a refusal is not retried");
    assert_eq!(
        gate.authorizations(),
        ["Bearer ya29.SECRET-TOKEN"],
        "the hub's token is sent to Cloud Storage"
    );
    gate.plan(&[Fault::Answer(401)]);
    let message = unavailable(store.read_head("s").await);
    assert_eq!(
        message,
        "the memory of sends (gs://hub-state/p): Cloud Storage refused the hub's Google \
         credentials (HTTP 401) for bucket hub-state"
    );
}

#[tokio::test]
async fn gcs_busy_and_failing_answers_are_retried_then_the_call_goes_through() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let gate = Gate::start(Some(endpoint)).await;
    let store = store_at(&gate.url, &bucket, Duration::from_secs(20));
    gate.plan(&[Fault::Answer(429), Fault::Answer(503), Fault::Answer(500)]);
    let generation = store
        .write_head("s", b"head", Generation::ABSENT)
        .await
        .unwrap();
    assert_eq!(gate.requests(), 4);
    gate.plan(&[Fault::Answer(502)]);
    assert_eq!(
        store.read_head("s").await,
        Ok(Some((generation, b"head".to_vec())))
    );
    gate.plan(&[Fault::Answer(503)]);
    assert_eq!(store.snapshots("s").await, Ok(vec![]));
}

#[tokio::test]
async fn gcs_a_store_that_keeps_failing_is_unavailable_once_the_retry_budget_is_spent() {
    let gate = Gate::start(None).await;
    gate.plan(&[Fault::Answer(503); 100]);
    let store = store_at(&gate.url, "hub-state", Duration::from_secs(2));
    let message = unavailable(store.read_head("s").await);
    assert!(
        message
            .starts_with("the memory of sends (gs://hub-state): Cloud Storage answered HTTP 503 ("),
        "{message}"
    );
    assert!(message.contains(" attempts in "), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
    let attempts = gate.requests();
    assert!(
        (2..=10).contains(&attempts),
        "retried with backoff: {attempts}"
    );
    // Nothing listens: the connection is refused, retried, then named.
    let closed = free_port_url().await;
    let store = store_at(&closed, "hub-state", Duration::from_secs(1));
    let message = unavailable(store.snapshots("s").await);
    assert!(
        message.starts_with(
            "the memory of sends (gs://hub-state): cannot connect to Cloud Storage: connection refused ("
        ),
        "{message}"
    );
}

#[tokio::test]
async fn gcs_a_write_whose_answer_was_lost_is_recognised_as_its_own() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let gate = Gate::start(Some(endpoint)).await;
    let store = store_at(&gate.url, &bucket, Duration::from_secs(20));
    // The create reaches Cloud Storage, its answer is lost, the retry gets 412: it was ours.
    gate.plan(&[Fault::PassThenAnswer(503)]);
    let g1 = store
        .write_head("s", b"mine", Generation::ABSENT)
        .await
        .unwrap();
    assert_eq!(store.read_head("s").await, Ok(Some((g1, b"mine".to_vec()))));
    gate.plan(&[Fault::PassThenAnswer(500)]);
    let g2 = store.write_head("s", b"mine too", g1).await.unwrap();
    assert_ne!(g2, g1);
    assert_eq!(
        store.read_head("s").await,
        Ok(Some((g2, b"mine too".to_vec())))
    );
    gate.plan(&[Fault::PassThenAnswer(503)]);
    store.put_part("s", "r", 0, b"part".to_vec()).await.unwrap();
    assert_eq!(
        store.get_part("s", "r", 0).await,
        Ok(Some(b"part".to_vec()))
    );
    // A 412 after a lost answer, where another run's head is there, is still a conflict.
    let other = store_at(&gate.url, &bucket, RETRY_FOR);
    gate.plan(&[Fault::Answer(503)]);
    let g3 = other.write_head("s", b"theirs", g2).await.unwrap();
    gate.plan(&[Fault::Answer(503)]);
    assert_eq!(
        store.write_head("s", b"mine", g2).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.read_head("s").await,
        Ok(Some((g3, b"theirs".to_vec())))
    );
}

#[tokio::test]
async fn gcs_a_download_that_breaks_off_is_made_again() {
    let endpoint = emulator();
    let bucket = new_bucket(&endpoint).await;
    let gate = Gate::start(Some(endpoint)).await;
    let store = store_at(&gate.url, &bucket, Duration::from_secs(20));
    let part: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    store.put_part("s", "r", 0, part.clone()).await.unwrap();
    gate.plan(&[Fault::CutBody]);
    assert_eq!(store.get_part("s", "r", 0).await, Ok(Some(part)));
    assert_eq!(gate.requests(), 2, "the cut download, then the whole one");
    // Cut every time: the store gives up once its budget is spent, saying so.
    let store = store_at(&gate.url, &bucket, Duration::from_secs(1));
    gate.plan(&[Fault::CutBody; 50]);
    let message = unavailable(store.get_part("s", "r", 0).await);
    assert!(
        message.contains("the download of s/snap/r/part-0 broke off"),
        "{message}"
    );
}

#[test]
fn scope_and_snapshot_names_that_would_break_the_layout_are_refused() {
    let store = store_at("http://127.0.0.1:9", "hub-state", Duration::ZERO);
    for (scope, snapshot) in [
        ("a/b", "r"),
        ("", "r"),
        ("..", "r"),
        ("s", "r/1"),
        ("s", "x\n"),
    ] {
        let err = store.part_object(scope, snapshot, 0).unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("cannot be a")),
            "{scope:?}/{snapshot:?}: {err:?}"
        );
    }
    assert_eq!(
        store.part_object("s", "run-1", 3).unwrap(),
        "s/snap/run-1/part-3"
    );
}

/// The URL of a port of 127.0.0.1 that nothing listens on.
async fn free_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// What the gate does with one request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answer this status (with a body that must never reach a message) without passing it on.
    Answer(u16),
    /// Pass the request to the emulator, then answer this status instead of its answer (the
    /// write happened, its answer was lost).
    PassThenAnswer(u16),
    /// Pass the request on, then send only the first half of the answer's body and break off.
    CutBody,
}

/// A stand-in in front of the emulator: passes requests through, except the planned faults.
struct Gate {
    url: String,
    shared: Arc<GateState>,
    task: tokio::task::JoinHandle<()>,
}

struct GateState {
    upstream: Option<String>,
    plan: Mutex<VecDeque<Fault>>,
    requests: AtomicUsize,
    authorizations: Mutex<Vec<String>>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    async fn start(upstream: Option<String>) -> Gate {
        crate::net::install_crypto();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let shared = Arc::new(GateState {
            upstream,
            plan: Mutex::new(VecDeque::new()),
            requests: AtomicUsize::new(0),
            authorizations: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| pass(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Gate {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// The faults of the next requests (then every request passes); counts from zero again.
    fn plan(&self, faults: &[Fault]) {
        *self.shared.plan.lock().unwrap() = faults.iter().copied().collect();
        self.shared.requests.store(0, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    fn authorizations(&self) -> Vec<String> {
        self.shared.authorizations.lock().unwrap().clone()
    }
}

type GateBody = BoxBody<Bytes, std::io::Error>;

fn full(bytes: Bytes) -> GateBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

async fn pass(
    state: Arc<GateState>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<GateBody>, std::convert::Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(auth) = req.headers().get("authorization") {
        let auth = auth.to_str().unwrap_or("?").to_string();
        state.authorizations.lock().unwrap().push(auth);
    }
    let fault = state.plan.lock().unwrap().pop_front();
    let answer = |status: u16| {
        let body = r#"{"error":{"code":0,"message":"SECRET-BODY: details of the peer"}}"#;
        Ok(hyper::Response::builder()
            .status(status)
            .body(full(Bytes::from_static(body.as_bytes())))
            .unwrap())
    };
    if let Some(Fault::Answer(status)) = fault {
        return answer(status);
    }
    let Some(upstream) = &state.upstream else {
        return answer(502);
    };
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = reqwest::Client::new().request(parts.method, format!("{upstream}{path}"));
    if let Some(ct) = parts.headers.get("content-type") {
        forward = forward.header("content-type", ct);
    }
    let reply = forward.body(body).send().await.unwrap();
    if let Some(Fault::PassThenAnswer(status)) = fault {
        return answer(status);
    }
    let mut out = hyper::Response::builder().status(reply.status().as_u16());
    for name in ["content-type", "x-goog-generation"] {
        if let Some(v) = reply.headers().get(name) {
            out = out.header(name, v.as_bytes());
        }
    }
    let body = reply.bytes().await.unwrap();
    if let Some(Fault::CutBody) = fault {
        // The length announced is the whole body's; half of it comes, then the connection breaks.
        let half = body.slice(..body.len() / 2);
        // The break comes a moment later, once the status, headers and first half are sent.
        let frames = futures_util::StreamExt::chain(
            futures_util::stream::iter([Ok(hyper::body::Frame::data(half))]),
            futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other("cut"))
            }),
        );
        let out = out.header("content-length", body.len());
        return Ok(out.body(BodyExt::boxed(StreamBody::new(frames))).unwrap());
    }
    Ok(out.body(full(body)).unwrap())
}
