//! Everything HTTP: actix handlers for the hub's routes (serving the [`Hub`] state), the one
//! extractor of Looker calls ([`LookerCall`]), the request metadata read from headers, the mapping
//! of errors to statuses and Looker answers, and the OAuth browser pages. Actions and the OAuth
//! client know nothing of this module.

mod execute;
pub mod local;
mod meta;
pub mod oauth;
pub mod outcome;
mod pages;
pub mod playground;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BodyStream, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;
use tracing::Instrument;

use crate::actions::{Action, ActionError};
use crate::api::{ActionRequest, ActionType, ErrorBody, ExecuteResponse};
use crate::capacity::memory::{body_reservation, GROWTH_STEP_BYTES};
use crate::capacity::{Reservation, MEMORY_WAIT, NO_MEMORY};
use crate::error::HubError;
use crate::hub::Hub;
use crate::lifecycle::TOO_LATE;
use crate::meta::RequestMeta;
use crate::routes::{routes_of, Function, Handler, Method, HEALTH_PATH, UPTIME_PATH};
use execute::Execute;

/// Register the routes of the given functions (from the one route table) plus the health
/// checks (`/healthz`, `/health`).
pub fn configure(cfg: &mut web::ServiceConfig, functions: &[Function]) {
    cfg.route(HEALTH_PATH, web::get().to(healthz));
    cfg.route(UPTIME_PATH, web::get().to(healthz));
    for f in functions {
        for r in routes_of(*f) {
            let route = match r.method {
                Method::Get => web::get(),
                Method::Post => web::post(),
            };
            let route = match r.handler {
                Handler::List => route.to(list),
                Handler::Definition => route.to(definition),
                Handler::Form => route.to(form),
                Handler::Execute => route.to(execute),
                Handler::OauthInitiate => route.to(oauth::initiate),
                Handler::OauthRedirect | Handler::OauthRedirectPerAction => {
                    route.to(oauth::redirect_back)
                }
                Handler::OauthToken => route.to(oauth::token),
            };
            cfg.route(r.path, route);
        }
    }
    cfg.default_service(web::to(not_found));
}

/// How an error is shaped for the caller.
#[derive(Clone, Copy)]
enum Shape {
    /// `{error}`.
    Error,
    /// `{looker:{success:false, message, ...}}`.
    Execute,
}

/// A JSON answer with the given status.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => HttpResponse::build(status)
            .content_type("application/json")
            .body(bytes),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn error_response(err: &HubError, shape: Shape) -> HttpResponse {
    let status = status_of(err);
    if let (HubError::Busy(message), Shape::Execute) = (err, shape) {
        // Looker reads an execute's message only from a 200 (and does not retry an execute).
        tracing::warn!(error = %err, "execute turned away: the instance is busy");
        return json_response(StatusCode::OK, &ExecuteResponse::failure(message.clone()));
    }
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
    } else {
        tracing::info!(error = %err, status = status.as_u16(), "request refused");
    }
    let message = err.to_string();
    match shape {
        Shape::Error if matches!(err, HubError::Busy(_)) => {
            let mut resp = json_response(status, &ErrorBody { error: message });
            resp.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("30"),
            );
            resp
        }
        Shape::Error => json_response(status, &ErrorBody { error: message }),
        Shape::Execute => json_response(status, &ExecuteResponse::failure(err.looker_message())),
    }
}

/// The HTTP status of an error.
pub(crate) fn status_of(err: &HubError) -> StatusCode {
    match err {
        HubError::Unauthorized(_) => StatusCode::FORBIDDEN,
        HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
        HubError::UnknownAction(_) => StatusCode::NOT_FOUND,
        HubError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        HubError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<ActionError> for HubError {
    fn from(e: ActionError) -> HubError {
        match e {
            ActionError::Invalid(m) => HubError::BadRequest(m),
            ActionError::Internal(m) => HubError::Internal(m),
        }
    }
}

/// A Looker call to one action, checked in the one order every such route uses: hub token →
/// action lookup → body (bounded) → metadata. Parsing the body is the caller's ([`LookerCall::request`]
/// for form / execute; the OAuth token route reads its own shape).
pub(crate) struct LookerCall {
    /// The action named in the path.
    pub action: Arc<dyn Action>,
    /// The request body, within `HUB_MAX_BODY_BYTES`.
    pub body: Bytes,
    /// What the headers said.
    pub meta: RequestMeta,
    /// The memory the body holds in the instance's budget, until the call is done.
    pub memory: Reservation,
}

impl LookerCall {
    /// Check and read a call to the action `name`.
    pub async fn extract(
        hub: &Hub,
        req: &HttpRequest,
        name: &str,
        payload: web::Payload,
    ) -> Result<LookerCall, HubError> {
        let until = tokio::time::Instant::now() + MEMORY_WAIT;
        LookerCall::extract_until(hub, req, name, payload, until).await
    }

    /// [`LookerCall::extract`], waiting for memory until `until` at the latest.
    pub async fn extract_until(
        hub: &Hub,
        req: &HttpRequest,
        name: &str,
        payload: web::Payload,
        until: tokio::time::Instant,
    ) -> Result<LookerCall, HubError> {
        authorize(hub, req)?;
        let action = lookup(hub, name)?;
        let (body, memory) = read_body_within(hub, req, payload, until).await?;
        Ok(LookerCall {
            action,
            body,
            meta: meta::of(req),
            memory,
        })
    }

    /// The body as a form / execute request.
    pub fn request(&self) -> Result<ActionRequest, HubError> {
        parse_request(&self.body)
    }
}

/// Check Looker's hub token (from `X-Forwarded-Authorization` behind the gateway).
pub(crate) fn authorize(hub: &Hub, req: &HttpRequest) -> Result<(), HubError> {
    let name = if hub.settings.behind_gateway {
        "x-forwarded-authorization"
    } else {
        "authorization"
    };
    let header = req.headers().get(name).map(|v| v.as_bytes());
    hub.tokens.check_header(header).map_err(HubError::from)
}

/// The request body, refused above the configured limit; the memory it held while being read
/// is given back when it is returned.
pub(crate) async fn read_body(
    hub: &Hub,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Bytes, HubError> {
    let until = tokio::time::Instant::now() + MEMORY_WAIT;
    Ok(read_body_within(hub, req, payload, until).await?.0)
}

/// The request body, refused above the configured limit, and the memory it holds in the
/// instance's budget (twice its size: the bytes and the request parsed from them). The memory is
/// reserved before the bytes are read (by `Content-Length`, else step by step as they arrive),
/// waiting until `until` for a request in flight to give some back.
pub(crate) async fn read_body_within(
    hub: &Hub,
    req: &HttpRequest,
    mut payload: web::Payload,
    until: tokio::time::Instant,
) -> Result<(Bytes, Reservation), HubError> {
    let limit = hub.settings.max_body_bytes;
    let declared = declared_length(req, limit)?;
    let pool = &hub.capacity.memory;
    let no_memory = |_| HubError::Busy(NO_MEMORY.into());
    let mut reserved_for = declared.unwrap_or(0);
    let mut memory = pool
        .reserve(body_reservation(reserved_for), until)
        .await
        .map_err(no_memory)?;
    let mut body = BytesMut::with_capacity(reserved_for.min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk_within(body.len(), chunk, limit)?;
        if body.len() + chunk.len() > reserved_for {
            let more = (body.len() + chunk.len() - reserved_for).max(GROWTH_STEP_BYTES);
            pool.grow(&mut memory, 2 * more, until)
                .await
                .map_err(no_memory)?;
            reserved_for += more;
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), memory))
}

/// A small body outside the instance's memory budget (the playground's state slots), refused
/// above `limit` bytes: by its `Content-Length` before anything is read, else as soon as the
/// bytes read pass it.
pub(crate) async fn read_small_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, HubError> {
    declared_length(req, limit)?;
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk_within(body.len(), chunk, limit)?;
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The body's `Content-Length`, refused above `limit` before anything is read.
fn declared_length(req: &HttpRequest, limit: usize) -> Result<Option<usize>, HubError> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(HubError::PayloadTooLarge(limit));
    }
    Ok(declared)
}

/// The next chunk of a body of which `read` bytes came already, refused when it passes `limit`.
fn chunk_within(
    read: usize,
    chunk: Result<Bytes, actix_web::error::PayloadError>,
    limit: usize,
) -> Result<Bytes, HubError> {
    let chunk =
        chunk.map_err(|e| HubError::BadRequest(format!("could not read the request body: {e}")))?;
    if read + chunk.len() > limit {
        return Err(HubError::PayloadTooLarge(limit));
    }
    Ok(chunk)
}

/// Parse a form / execute request body (an empty body is an empty request).
pub fn parse_request(body: &[u8]) -> Result<ActionRequest, HubError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(ActionRequest::default());
    }
    let req: ActionRequest = serde_json::from_slice(body)
        .map_err(|e| HubError::BadRequest(format!("malformed JSON request body: {e}")))?;
    req.check_limits().map_err(HubError::BadRequest)?;
    Ok(req)
}

fn lookup(hub: &Hub, name: &str) -> Result<Arc<dyn Action>, HubError> {
    hub.registry
        .get(name)
        .ok_or_else(|| HubError::UnknownAction(name.to_string()))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "version": crate::HUB_VERSION}))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    json_response(
        StatusCode::NOT_FOUND,
        &ErrorBody {
            error: format!("no route for {} {}", req.method(), req.path()),
        },
    )
}

async fn list(hub: web::Data<Hub>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    // The body (Looker sends `{}`) is read so the connection can be reused.
    let checked = async {
        authorize(&hub, &req)?;
        read_body(&hub, &req, payload).await
    };
    if let Err(e) = checked.await {
        return error_response(&e, Shape::Error);
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(hub.list_body())
}

async fn definition(
    hub: web::Data<Hub>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    match LookerCall::extract(&hub, &req, &name, payload).await {
        Ok(call) => match hub.definition_of(call.action.name()) {
            Some((_, body)) => HttpResponse::Ok()
                .content_type("application/json")
                .body(body.clone()),
            None => error_response(
                &HubError::UnknownAction(call.action.name().to_string()),
                Shape::Error,
            ),
        },
        Err(e) => error_response(&e, Shape::Error),
    }
}

async fn form(
    hub: web::Data<Hub>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let call = LookerCall::extract(&hub, &req, &name, payload).await?;
        let request = call.request()?;
        let ctx = hub.action_context(&call.meta);
        Ok::<_, HubError>(call.action.form(&ctx, &request).await?)
    }
    .await;
    match result {
        Ok(form) => json_response(StatusCode::OK, &form),
        Err(e) => error_response(&e, Shape::Error),
    }
}

async fn execute(
    hub: web::Data<Hub>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    // The execute's time limit counts from here: the platform's timeout started earlier still.
    let arrived = tokio::time::Instant::now();
    let mut run = outcome::RunStart::new(&name, &meta::of(&req));
    let budget = hub.capacity.execute;
    let prepared = async {
        let until = arrived + budget.admission_wait().min(MEMORY_WAIT);
        let call = LookerCall::extract_until(&hub, &req, &name, payload, until).await?;
        let request = call.request()?;
        // Every registered action has a prepared definition.
        let (def, _) = hub
            .definition_of(call.action.name())
            .ok_or_else(|| HubError::UnknownAction(call.action.name().to_string()))?;
        if let Some(t) = request.action_type {
            if !def.supported_action_types.contains(&t) {
                return Err(HubError::BadRequest(format!(
                    "action {} does not support {} actions (supported: {})",
                    def.name,
                    t.as_str(),
                    def.supported_action_types
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        // A click is never a query execute, whatever its action: it never waits for a slot.
        let query = def.supported_action_types.contains(&ActionType::Query)
            && request.action_type != Some(ActionType::Cell);
        Ok((call, request, query))
    }
    .await;
    let (call, request, query) = match prepared {
        Ok(p) => p,
        // A call that names no action of this hub, or lacks the hub token, is no run.
        Err(e @ (HubError::Unauthorized(_) | HubError::UnknownAction(_))) => {
            return error_response(&e, Shape::Execute)
        }
        Err(e) => {
            run.query = hub
                .definition_of(&name)
                .is_some_and(|(d, _)| !d.supported_action_types.contains(&ActionType::Cell));
            let e = run.finish(hub.ledger.as_ref(), Err(e), None).unwrap_err();
            return error_response(&e, Shape::Execute);
        }
    };
    run.of_request(query, &request);
    // During a shutdown an execute is still run (see `crate::lifecycle`); only a query execute
    // that could no longer read its result in time is turned away, with a message, not a 503.
    if hub.lifecycle.too_late_for_long_work() && query {
        tracing::warn!("shutting down: query execute not started");
        run.tally.refuse(crate::actions::run::ErrorKind::Shutdown);
        let answer = run.finish(
            hub.ledger.as_ref(),
            Ok(ExecuteResponse::failure(TOO_LATE)),
            None,
        );
        return match answer {
            Ok(resp) => json_response(StatusCode::OK, &resp),
            Err(e) => error_response(&e, Shape::Execute),
        };
    }
    let LookerCall {
        action,
        body,
        meta,
        memory,
    } = call;
    drop(body);
    let execute = Execute {
        action,
        meta,
        request,
        query,
        arrived,
        memory,
        tally: run.tally.clone(),
    };
    run_execute(hub.into_inner(), execute, run).await
}

/// Run an execute on its own task (it finishes even if Looker hangs up, and a shutdown waits for
/// it: see [`crate::lifecycle`]), within its time limit (`crate::capacity::budget`). When it
/// takes longer than `keepalive_after` (a query execute waiting for a slot too), answer 200 at
/// once and write a newline every `keepalive_interval` before the final JSON, so proxies keep
/// the connection open and errors can still be reported.
async fn run_execute(hub: Arc<Hub>, execute: Execute, run: outcome::RunStart) -> HttpResponse {
    let after = hub.settings.keepalive_after;
    let interval = hub.settings.keepalive_interval;
    let task_hub = hub.clone();
    let end_hub = hub.clone();
    let span = tracing::Span::current();
    let arrived = execute.arrived;
    let mut handle = hub.lifecycle.spawn_execute(
        hub.capacity.execute,
        arrived,
        move |windup| execute.run(task_hub, windup).instrument(span),
        move |answer, cut| run.finish(end_hub.ledger.as_ref(), answer, cut),
    );
    tokio::select! {
        res = &mut handle => match flatten(res) {
            Ok(resp) => json_response(StatusCode::OK, &resp),
            Err(e) => error_response(&e, Shape::Execute),
        },
        _ = tokio::time::sleep(after) => {
            tracing::info!("execute still running: streaming keep-alive newlines");
            let ticker = tokio::time::interval(interval);
            let stream = futures_util::stream::unfold(Some((handle, ticker)), |state| async move {
                let (mut handle, mut ticker) = state?;
                tokio::select! {
                    res = &mut handle => {
                        let resp = match flatten(res) {
                            Ok(resp) => resp,
                            Err(HubError::Busy(message)) => {
                                tracing::warn!(%message, "execute turned away: the instance is busy");
                                ExecuteResponse::failure(message)
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "execute failed after keep-alive");
                                ExecuteResponse::failure(e.looker_message())
                            }
                        };
                        let body = serde_json::to_vec(&resp).unwrap_or_else(|_| b"{\"looker\":{\"success\":false}}".to_vec());
                        Some((Ok::<Bytes, std::io::Error>(Bytes::from(body)), None))
                    }
                    _ = ticker.tick() => Some((Ok(Bytes::from_static(b"\n")), Some((handle, ticker)))),
                }
            });
            HttpResponse::Ok().content_type("application/json").body(BodyStream::new(stream))
        }
    }
}

fn flatten(
    res: Result<Result<ExecuteResponse, HubError>, tokio::task::JoinError>,
) -> Result<ExecuteResponse, HubError> {
    match res {
        Ok(r) => r,
        Err(e) => Err(HubError::Internal(if e.is_panic() {
            "the action crashed".into()
        } else {
            "the action was cancelled".into()
        })),
    }
}

/// One log line per request: action, Looker version / instance / webhook id, status, latency.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    // In flight until its handler returns (a streaming execute is tracked on its own).
    let _in_flight = req
        .app_data::<web::Data<Hub>>()
        .map(|hub| hub.lifecycle.track_request());
    let meta = meta::from_request(req.request());
    req.extensions_mut().insert(meta.clone());
    let method = req.method().to_string();
    let path = req.path().to_string();
    let action = path
        .strip_prefix("/actions/")
        .map(|p| p.split('/').next().unwrap_or("").to_string());
    let span = tracing::info_span!(
        "request",
        trace_id = meta.trace_id.as_deref().unwrap_or(""),
        span_id = meta.span_id.as_deref().unwrap_or(""),
        request_id = %meta.request_id,
        webhook_id = meta.webhook_id.as_deref().unwrap_or(""),
    );
    let res = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if path != HEALTH_PATH {
        tracing::info!(
            http.method = %method,
            http.path = %path,
            http.status = status,
            latency_ms = start.elapsed().as_secs_f64() * 1000.0,
            action = action.as_deref().unwrap_or(""),
            looker_version = meta.looker_version.as_deref().unwrap_or(""),
            looker_instance = meta.looker_instance.as_deref().unwrap_or(""),
            "request"
        );
    }
    res
}
