//! The local playground (`GET /playground`): a page, embedded in the binary, that lists the hub's
//! actions, renders their forms and runs them the way Looker does (it calls the hub's own list,
//! form and execute endpoints with Looker's body, headers and hub token), then shows the rows the
//! embedded store received.
//!
//! Served only by the all-in-one `hub` binary, and only in local mode (`--local`, `HUB_LOCAL`) or
//! when `HUB_PLAYGROUND=true`; the five function binaries never register these routes. Besides
//! the page it plays the two parts of Looker a page cannot: a one-time `download_url` for a sample
//! result (in memory, bounded, never a file from disk) and a `state_url` that keeps the user state
//! an OAuth action sends back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

mod runs;

use super::{authorize, json_response, read_body, read_small_body};
use crate::error::HubError;
use crate::hub::Hub;
use crate::routes::Function;
use crate::settings::{Settings, LOCAL_DEV_TOKEN};
use crate::sinks::sqlite::quote_ident;

/// Path of the page.
pub const PAGE_PATH: &str = "/playground";
/// Samples kept at once (the oldest is dropped first).
const MAX_SAMPLES: usize = 16;
/// Bytes of samples kept at once (one sample may use all of it).
const MAX_SAMPLE_BYTES_TOTAL: usize = 64 * 1024 * 1024;
/// How long a sample's `download_url` works (Looker's are valid about an hour).
const SAMPLE_TTL: Duration = Duration::from_secs(3600);
/// States kept at once and the size of one (Looker keeps at most 32 KB of state).
const MAX_STATES: usize = 64;
const MAX_STATE_BYTES: usize = 64 * 1024;
/// Rows shown per table.
const ROWS_PER_TABLE: usize = 20;
/// Longest cell text shown (a `row_json` can be long).
const MAX_CELL_CHARS: usize = 2000;

const PAGE_HTML: &str = include_str!("page.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");

/// Whether the playground is served: the all-in-one binary, in local mode or with
/// `HUB_PLAYGROUND=true`.
pub fn enabled(settings: &Settings, functions: &[Function]) -> bool {
    let all = Function::ALL.iter().all(|f| functions.contains(f));
    all && (settings.local || settings.playground)
}

/// The playground's own state: samples waiting to be downloaded, states Looker would keep.
#[derive(Default)]
pub struct Playground {
    samples: Mutex<Samples>,
    states: Mutex<HashMap<String, (Instant, Value)>>,
}

#[derive(Default)]
struct Samples {
    entries: HashMap<String, (Instant, bytes::Bytes)>,
    bytes: usize,
}

impl Samples {
    fn sweep(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, (at, _))| now.duration_since(*at) > SAMPLE_TTL)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.take(&k);
        }
    }

    fn take(&mut self, id: &str) -> Option<bytes::Bytes> {
        let (_, body) = self.entries.remove(id)?;
        self.bytes -= body.len();
        Some(body)
    }

    fn oldest(&self) -> Option<String> {
        self.entries
            .iter()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(k, _)| k.clone())
    }

    /// Keep `body`, dropping the oldest samples to stay within the bounds.
    fn put(&mut self, body: bytes::Bytes) -> Result<String, HubError> {
        if body.len() > MAX_SAMPLE_BYTES_TOTAL {
            return Err(HubError::PayloadTooLarge(MAX_SAMPLE_BYTES_TOTAL));
        }
        self.sweep();
        while self.entries.len() >= MAX_SAMPLES || self.bytes + body.len() > MAX_SAMPLE_BYTES_TOTAL
        {
            match self.oldest() {
                Some(k) => {
                    self.take(&k);
                }
                None => break,
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.bytes += body.len();
        self.entries.insert(id.clone(), (Instant::now(), body));
        Ok(id)
    }
}

/// Register the playground's routes when [`enabled`] (else nothing: the paths answer 404).
pub fn configure(cfg: &mut web::ServiceConfig, playground: Option<web::Data<Playground>>) {
    let Some(playground) = playground else {
        return;
    };
    cfg.app_data(playground)
        .route(PAGE_PATH, web::get().to(page))
        .route("/playground/page.css", web::get().to(css))
        .route("/playground/page.js", web::get().to(js))
        .route("/playground/samples", web::post().to(put_sample))
        .route("/playground/samples/{id}", web::get().to(get_sample))
        .route("/playground/state", web::post().to(issue_slot))
        .route("/playground/state/{slot}", web::post().to(put_state))
        .route("/playground/state/{slot}", web::get().to(get_state))
        .route("/playground/rows", web::get().to(rows))
        .configure(runs::configure);
}

/// The playground state for a hub serving `functions` (`None` when it is not served).
pub fn for_hub(settings: &Settings, functions: &[Function]) -> Option<web::Data<Playground>> {
    let on = enabled(settings, functions);
    if on {
        tracing::warn!(
            "PLAYGROUND: open {}{PAGE_PATH} (for local use; never turn it on in production)",
            settings.public_url
        );
    }
    on.then(|| web::Data::new(Playground::default()))
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page. The dev token is written into it only in local mode with the dev token in use;
/// otherwise the page asks for a hub token.
async fn page(hub: web::Data<Hub>) -> HttpResponse {
    let token = if hub.settings.uses_dev_token() {
        LOCAL_DEV_TOKEN
    } else {
        ""
    };
    let body = PAGE_HTML
        .replace("{{TOKEN}}", &escape_attr(token))
        .replace(
            "{{PUBLIC_URL}}",
            &escape_attr(hub.settings.public_url.as_str()),
        )
        .replace("{{VERSION}}", crate::HUB_VERSION);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ))
        .body(body)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(PAGE_CSS)
}

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(PAGE_JS)
}

fn error(err: HubError) -> HttpResponse {
    json_response(super::status_of(&err), &json!({"error": err.to_string()}))
}

/// Keep a sample result (the page's hub token required); answers its one-time `download_url`.
async fn put_sample(
    hub: web::Data<Hub>,
    pg: web::Data<Playground>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let stored = async {
        authorize(&hub, &req)?;
        let body = read_body(&hub, &req, payload).await?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(HubError::BadRequest("the sample is not JSON".into()));
        }
        let len = body.len();
        let id = pg
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(body)?;
        Ok((id, len))
    }
    .await;
    match stored {
        Ok((id, len)) => json_response(
            StatusCode::OK,
            &json!({
                "download_url": hub.settings.public_url.at(&format!("/playground/samples/{id}")),
                "bytes": len,
            }),
        ),
        Err(e) => error(e),
    }
}

/// The one-time download of a sample (no token: the URL is the secret, as Looker's are).
async fn get_sample(pg: web::Data<Playground>, id: web::Path<String>) -> HttpResponse {
    let body = {
        let mut samples = pg.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.sweep();
        samples.take(&id)
    };
    match body {
        Some(b) => HttpResponse::Ok().content_type("application/json").body(b),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no such sample (a download_url works once, for an hour)"}),
        ),
    }
}

/// A `state_url` slot for the page (the page's hub token required): an unguessable name, the
/// only kind [`put_state`] keeps a state for.
async fn issue_slot(
    hub: web::Data<Hub>,
    pg: web::Data<Playground>,
    req: HttpRequest,
) -> HttpResponse {
    if let Err(e) = authorize(&hub, &req) {
        return error(e);
    }
    let slot = uuid::Uuid::new_v4().simple().to_string();
    let mut states = pg.states.lock().unwrap_or_else(|p| p.into_inner());
    if states.len() >= MAX_STATES {
        if let Some(old) = states
            .iter()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(k, _)| k.clone())
        {
            states.remove(&old);
        }
    }
    states.insert(slot.clone(), (Instant::now(), Value::Null));
    json_response(StatusCode::OK, &json!({ "slot": slot }))
}

/// Looker's `state_url`: the hub posts the user state here (without the hub token, as to Looker);
/// the page reads it back. Only a slot issued by [`issue_slot`] is kept, and the body is read
/// only after that is checked, up to [`MAX_STATE_BYTES`] (its `Content-Length` first).
async fn put_state(
    pg: web::Data<Playground>,
    slot: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let no_slot = || {
        json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no such state slot (the playground page asks the hub for one)"}),
        )
    };
    let issued = pg
        .states
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(slot.as_str());
    if !issued {
        return no_slot();
    }
    let body = match read_small_body(&req, payload, MAX_STATE_BYTES).await {
        Ok(body) => body,
        Err(e) => return error(e),
    };
    // Looker stores what it is sent as the state text.
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut states = pg.states.lock().unwrap_or_else(|p| p.into_inner());
    // Still issued: newer slots may have pushed it out while the body was read.
    match states.get_mut(slot.as_str()) {
        Some(entry) => {
            *entry = (Instant::now(), Value::String(text));
            HttpResponse::Ok().finish()
        }
        None => no_slot(),
    }
}

/// The state last posted to a slot (the page's hub token required).
async fn get_state(
    hub: web::Data<Hub>,
    pg: web::Data<Playground>,
    slot: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    if let Err(e) = authorize(&hub, &req) {
        return error(e);
    }
    let states = pg.states.lock().unwrap_or_else(|p| p.into_inner());
    let state = states.get(slot.as_str()).map(|(_, v)| v.clone());
    json_response(StatusCode::OK, &json!({ "state": state }))
}

/// The last rows of every table of the embedded store, newest first (the page's hub token
/// required). Tables are found in the store itself, so any table an action adds is shown.
async fn rows(hub: web::Data<Hub>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = authorize(&hub, &req) {
        return error(e);
    }
    if hub.settings.gcp.bigquery.is_some() {
        return json_response(
            StatusCode::OK,
            &json!({"store": "bigquery", "tables": [],
                    "note": "write-back goes to BigQuery: look at the rows there"}),
        );
    }
    let path = hub.settings.store_path.clone();
    let read = tokio::task::spawn_blocking(move || read_tables(&path, ROWS_PER_TABLE)).await;
    match read {
        Ok(Ok(tables)) => json_response(
            StatusCode::OK,
            &json!({"store": "sqlite", "path": hub.settings.store_path.display().to_string(), "tables": tables}),
        ),
        Ok(Err(e)) => error(HubError::Internal(format!(
            "cannot read the embedded store: {e}"
        ))),
        Err(_) => error(HubError::Internal("the store read failed".into())),
    }
}

fn cell(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    let text = |s: &str| {
        if s.chars().count() > MAX_CELL_CHARS {
            let cut: String = s.chars().take(MAX_CELL_CHARS).collect();
            Value::String(format!("{cut}…"))
        } else {
            Value::String(s.to_string())
        }
    };
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => text(&String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
    }
}

/// Every write-back table of the store with its columns, row count and last `limit` rows (newest
/// first by rowid; tables without rowid in their own order). The run ledger's tables are the
/// Runs panel's ([`runs`]), not written rows.
pub fn read_tables(path: &PathBuf, limit: usize) -> Result<Vec<Value>, rusqlite::Error> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::new();
    for name in names {
        if crate::sinks::ledger::is_ledger_table(&name) {
            continue;
        }
        let q = quote_ident(&name);
        let columns: Vec<String> = conn
            .prepare(&format!("PRAGMA table_info({q})"))?
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<Result<_, _>>()?;
        let count: i64 = conn.query_row(&format!("SELECT count(*) FROM {q}"), [], |r| r.get(0))?;
        let select = |order: &str| format!("SELECT * FROM {q}{order} LIMIT {limit}");
        let mut stmt = match conn.prepare(&select(" ORDER BY rowid DESC")) {
            Ok(s) => s,
            Err(_) => conn.prepare(&select(""))?,
        };
        let n = columns.len();
        let rows: Vec<Value> = stmt
            .query_map([], |r| {
                let mut row = Map::new();
                for (i, c) in columns.iter().enumerate().take(n) {
                    row.insert(c.clone(), cell(r.get_ref(i)?));
                }
                Ok(Value::Object(row))
            })?
            .collect::<Result<_, _>>()?;
        tables.push(json!({"name": name, "columns": columns, "count": count, "rows": rows}));
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_within_their_bounds_and_are_read_once() {
        let mut s = Samples::default();
        let first = s.put(bytes::Bytes::from_static(b"{}")).unwrap();
        for _ in 0..MAX_SAMPLES {
            s.put(bytes::Bytes::from_static(b"[]")).unwrap();
        }
        assert_eq!(s.entries.len(), MAX_SAMPLES);
        assert!(s.take(&first).is_none(), "the oldest sample was dropped");
        let id = s.put(bytes::Bytes::from_static(b"[1]")).unwrap();
        assert_eq!(s.take(&id).unwrap().as_ref(), b"[1]");
        assert!(s.take(&id).is_none(), "a download_url works once");
        let big = bytes::Bytes::from(vec![b' '; MAX_SAMPLE_BYTES_TOTAL + 1]);
        assert!(s.put(big).is_err());
        let half = bytes::Bytes::from(vec![b' '; MAX_SAMPLE_BYTES_TOTAL / 2 + 1]);
        s.put(half.clone()).unwrap();
        s.put(half).unwrap();
        assert!(s.bytes <= MAX_SAMPLE_BYTES_TOTAL);
        assert_eq!(
            s.bytes,
            s.entries.values().map(|(_, b)| b.len()).sum::<usize>()
        );
    }

    #[test]
    fn every_write_back_table_is_read_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE \"odd \"\"name\" (a TEXT, b INTEGER); \
             INSERT INTO \"odd \"\"name\" VALUES ('x', 1), ('y', 2), ('z', 3); \
             CREATE TABLE k (id TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID; INSERT INTO k VALUES ('1', x'0102'); \
             CREATE TABLE hub_runs (run_id TEXT); INSERT INTO hub_runs VALUES ('r');",
        )
        .unwrap();
        drop(c);
        let t = read_tables(&path, 2).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["name"], "k");
        assert_eq!(t[0]["rows"], json!([{"id": "1", "v": "<2 bytes>"}]));
        assert_eq!(t[1]["name"], "odd \"name");
        assert_eq!(t[1]["columns"], json!(["a", "b"]));
        assert_eq!(t[1]["count"], 3);
        assert_eq!(
            t[1]["rows"],
            json!([{"a": "z", "b": 3}, {"a": "y", "b": 2}])
        );
    }
}
