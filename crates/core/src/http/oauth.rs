//! The OAuth routes: `GET /actions/{name}/oauth` (start a login), `GET /oauth_redirect` (the
//! provider's redirect back, one URL for every action; the older per-action
//! `GET /actions/{name}/oauth_redirect` is served the same way) and `POST
//! /actions/{name}/oauth_token` (OAuth v2: Looker exchanges the code through the hub).
//!
//! The browser routes answer small HTML pages; nothing a user or a log sees carries a code, a
//! token, the sealed state or the client secret.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::pages::{page, redirect};
use crate::actions::Action;
use crate::api::{value_as_text, ErrorBody};
use crate::error::HubError;
use crate::http::{json_response, status_of, LookerCall};
use crate::hub::Hub;
use crate::oauth::id_token::ClaimError;
use crate::oauth::seal::StateError;
use crate::oauth::{
    check_binding, BindingError, HandoffCode, HandoffRefused, LoginLinkError, LoginState,
    LoginTarget, OAuth, ProviderError, UseRefused,
};

const START_AGAIN: &str =
    "Close this tab, go back to Looker and open the action again to get a new login link.";

/// The first value of each query parameter.
fn query(req: &HttpRequest) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Why a login route cannot serve an action.
enum NotReady {
    UnknownAction,
    NotConfigured,
}

impl NotReady {
    fn status(&self) -> StatusCode {
        match self {
            NotReady::UnknownAction => StatusCode::NOT_FOUND,
            NotReady::NotConfigured => StatusCode::NOT_IMPLEMENTED,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            NotReady::UnknownAction => "This hub has no such action.",
            NotReady::NotConfigured => {
                "OAuth is not configured on this hub: its actions write with the hub's own identity."
            }
        }
    }

    fn page(self) -> HttpResponse {
        let title = match self {
            NotReady::UnknownAction => "Unknown action",
            NotReady::NotConfigured => "Login is not used here",
        };
        page(self.status(), title, self.message())
    }

    fn json(self) -> HttpResponse {
        json_error(self.status(), self.message())
    }
}

/// The OAuth client and the action's registered name.
fn ready<'h>(hub: &'h Hub, name: &str) -> Result<(&'h OAuth, Arc<dyn Action>), NotReady> {
    let action = hub.registry.get(name).ok_or(NotReady::UnknownAction)?;
    let oauth = hub.oauth.as_ref().ok_or(NotReady::NotConfigured)?;
    Ok((oauth, action))
}

fn state_refused(err: &StateError) -> HttpResponse {
    let title = match err {
        StateError::Expired => "This login link has expired",
        StateError::OtherAction => "This login link belongs to another action",
        StateError::Tampered | StateError::Malformed | StateError::TooLarge => {
            "This login link is not valid"
        }
    };
    tracing::info!(error = %err, "login state refused");
    page(
        StatusCode::BAD_REQUEST,
        title,
        &format!("The link's state was refused: {err}. {START_AGAIN}"),
    )
}

/// The provider's code or tokens are too large to be kept in Looker's state.
fn too_large(err: &StateError) -> HttpResponse {
    tracing::warn!(error = %err, "login not kept: the provider's answer is too large");
    page(
        StatusCode::BAD_GATEWAY,
        "The login could not be saved",
        &format!("The login provider's answer is too large to be kept by Looker ({err}). Ask your Looker admin."),
    )
}

fn target_refused(err: &LoginLinkError) -> HttpResponse {
    tracing::warn!(error = %err, "login target refused");
    page(
        StatusCode::BAD_REQUEST,
        "Login refused",
        &format!("{err}. Ask your Looker admin to check the hub's settings."),
    )
}

/// A refused code is the caller's problem; a provider that is down or slow is a gateway problem.
fn provider_status(err: &ProviderError) -> StatusCode {
    match err {
        ProviderError::Rejected(_) => StatusCode::BAD_REQUEST,
        ProviderError::IdToken(ClaimError::EmailUnverified) => StatusCode::FORBIDDEN,
        ProviderError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn provider_failed(err: &ProviderError) -> HttpResponse {
    tracing::warn!(error = %err, "code exchange failed");
    let title = match err {
        ProviderError::IdToken(_) => "The login could not be checked",
        _ => "The login could not be completed",
    };
    page(
        provider_status(err),
        title,
        &format!("{}. {START_AGAIN}", capitalize(&err.to_string())),
    )
}

/// What both browser routes start from: the action, its OAuth client, the query and the login
/// state, opened and checked.
struct Opened<'h> {
    oauth: &'h OAuth,
    action: Arc<dyn Action>,
    state: String,
    login: LoginState,
}

/// Open the login state of a browser request, or the page saying why not.
fn open_request<'h>(
    hub: &'h Hub,
    name: &str,
    req: &HttpRequest,
) -> Result<Opened<'h>, Box<HttpResponse>> {
    let (oauth, action) = ready(hub, name).map_err(|n| Box::new(n.page()))?;
    let Some(state) = query(req).remove("state") else {
        return Err(Box::new(page(
            StatusCode::BAD_REQUEST,
            "This login link is incomplete",
            START_AGAIN,
        )));
    };
    let login = oauth
        .open_login(action.name(), &state)
        .map_err(|e| Box::new(state_refused(&e)))?;
    Ok(Opened {
        oauth,
        action,
        state,
        login,
    })
}

/// `GET /actions/{name}/oauth?state=…`: check the login state, then send the browser to the provider.
pub async fn initiate(
    hub: web::Data<Hub>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let Opened {
        oauth,
        action,
        state,
        login,
        ..
    } = match open_request(&hub, &name, &req) {
        Ok(o) => o,
        Err(page) => return *page,
    };
    let action = action.name();
    if let Err(e) = oauth.login_target(&login) {
        return target_refused(&e);
    }
    tracing::info!(action, "login started: redirecting to the provider");
    redirect(oauth.authorize_url(&state, &login).as_str())
}

/// The login state was used before (single use), or too many logins are under way.
fn use_refused(refused: UseRefused) -> HttpResponse {
    tracing::info!(?refused, "login state refused at the callback");
    match refused {
        UseRefused::AlreadyUsed => page(
            StatusCode::BAD_REQUEST,
            "This login link has already been used",
            &format!("A login link works once. {START_AGAIN}"),
        ),
        UseRefused::Busy => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many logins at once",
            &format!("The hub is finishing too many logins right now. {START_AGAIN}"),
        ),
    }
}

/// The provider says another account signed in than the Looker user's: nothing is stored.
fn binding_refused(err: &BindingError) -> HttpResponse {
    match err {
        BindingError::OtherUser { .. } => {
            tracing::warn!("login refused: the account that signed in is not the Looker user's (the link was used by someone else)");
            page(
                StatusCode::FORBIDDEN,
                "This login link belongs to another user",
                &format!("{}.", capitalize(&err.to_string())),
            )
        }
        BindingError::Unknown => {
            tracing::warn!(
                "login refused: the provider's answer does not say which account signed in"
            );
            page(
                StatusCode::BAD_GATEWAY,
                "The login could not be checked",
                &format!("{}. Ask your Looker admin.", capitalize(&err.to_string())),
            )
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `GET /oauth_redirect?code=…&state=…` (or `?error=…`), also on the older per-action path
/// `/actions/{name}/oauth_redirect`: finish the login. The action is the one sealed in the state,
/// whichever of the two paths the provider was told to use.
pub async fn redirect_back(hub: web::Data<Hub>, req: HttpRequest) -> HttpResponse {
    if let Some(name) = req.match_info().get("name") {
        if hub.registry.get(name).is_none() {
            return NotReady::UnknownAction.page();
        }
    }
    let Some(oauth) = hub.oauth.as_ref() else {
        return NotReady::NotConfigured.page();
    };
    let q = query(&req);
    let Some(state) = q.get("state") else {
        return page(
            StatusCode::BAD_REQUEST,
            "This login link is incomplete",
            START_AGAIN,
        );
    };
    let (sealed_for, login) = match oauth.open_login_any(state) {
        Ok(opened) => opened,
        Err(e) => return state_refused(&e),
    };
    // Authentic but for an action this hub does not host (another hub sharing the key).
    let Some(found) = hub.registry.get(&sealed_for) else {
        return state_refused(&StateError::OtherAction);
    };
    let action = found.name();
    if let Some(error) = q.get("error") {
        let code = crate::oauth::sanitize_code(error);
        tracing::info!(action, error = %code, "the provider reported a login error");
        return if code == "access_denied" {
            page(
                StatusCode::FORBIDDEN,
                "Access was not granted",
                &format!("You declined the request, so the action cannot write with your identity. {START_AGAIN}"),
            )
        } else {
            page(
                StatusCode::BAD_REQUEST,
                "The login could not be completed",
                &format!("The provider reported an error ({code}). {START_AGAIN}"),
            )
        };
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The login could not be completed",
            &format!("The provider sent no code. {START_AGAIN}"),
        );
    };
    // The target is checked before the code is used: nothing is exchanged for a foreign host.
    let target = match oauth.login_target(&login) {
        Ok(t) => t,
        Err(e) => return target_refused(&e),
    };
    // Single use: a second callback with this state (a replayed or leaked URL) goes no further.
    if let Err(refused) = oauth.use_login(&login) {
        return use_refused(refused);
    }
    match target {
        LoginTarget::Redirect(redir) => {
            tracing::info!(
                action,
                looker_host = redir.host_str().unwrap_or(""),
                "login finished (v2): back to Looker"
            );
            match oauth.handoff_url(action, redir, code, login.email.as_deref()) {
                Ok(url) => redirect(url.as_str()),
                Err(e) => too_large(&e),
            }
        }
        LoginTarget::StateUrl(state_url) => {
            let bundle = match oauth.exchange_code(code).await {
                Ok(b) => b,
                Err(e) => return provider_failed(&e),
            };
            // Only the Looker user who asked for this link may finish it: a colleague who
            // consents through a forwarded link would otherwise put their identity (and their
            // warehouse permissions) into the first user's state.
            if let Err(e) = check_binding(login.email.as_deref(), &bundle) {
                return binding_refused(&e);
            }
            let data = match oauth.seal_bundle(action, &bundle) {
                Ok(d) => d,
                Err(e) => return too_large(&e),
            };
            match oauth.store_state(state_url.as_str(), &data).await {
                Ok(()) => {
                    tracing::info!(
                        action,
                        looker_host = state_url.host_str().unwrap_or(""),
                        "login finished: user state stored in Looker"
                    );
                    page(
                        StatusCode::OK,
                        "You are logged in",
                        "Close this tab and return to Looker: open the action again to use it.",
                    )
                }
                Err(e) => page(
                    StatusCode::BAD_GATEWAY,
                    "The login could not be saved",
                    &format!("{e}. {START_AGAIN}"),
                ),
            }
        }
    }
}

fn json_error(status: StatusCode, error: impl Into<String>) -> HttpResponse {
    json_response(
        status,
        &ErrorBody {
            error: error.into(),
        },
    )
}

/// The sealed code Looker passes on: `state` at the top level, in `data`, or in the query.
fn handoff_state(body: &Value, req: &HttpRequest) -> Option<String> {
    body.get("state")
        .and_then(value_as_text)
        .or_else(|| {
            body.get("data")
                .and_then(|d| d.get("state"))
                .and_then(value_as_text)
        })
        .or_else(|| query(req).remove("state"))
        .filter(|s| !s.is_empty())
}

/// `POST /actions/{name}/oauth_token` (hub token): exchange the code sealed in `state` and answer
/// the user's new state, which Looker stores.
pub async fn token(
    hub: web::Data<Hub>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let call = match LookerCall::extract(&hub, &req, &name, payload).await {
        Ok(call) => call,
        Err(HubError::UnknownAction(_)) => return NotReady::UnknownAction.json(),
        Err(e) => return json_error(status_of(&e), e.to_string()),
    };
    let Some(oauth) = hub.oauth.as_ref() else {
        return NotReady::NotConfigured.json();
    };
    let action = call.action.name();
    let body = call.body;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("malformed JSON request body: {e}"),
                )
            }
        }
    };
    let Some(state) = handoff_state(&body, &req) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "missing state: expected the state Looker received from the login redirect",
        );
    };
    // Single use: the provider is asked once per hand-off on this instance.
    let HandoffCode { code, email } = match oauth.use_handoff(action, &state) {
        Ok(h) => h,
        Err(e) => {
            tracing::info!(action, error = %e, "code hand-off refused");
            let status = match e {
                HandoffRefused::Used(UseRefused::Busy) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            return json_error(status, capitalize(&e.to_string()));
        }
    };
    match oauth.exchange_code(&code).await {
        Ok(bundle) => {
            if let Err(e) = check_binding(email.as_deref(), &bundle) {
                tracing::warn!(
                    action,
                    "login refused (v2): the account that signed in is not the Looker user's"
                );
                let status = match e {
                    BindingError::OtherUser { .. } => StatusCode::FORBIDDEN,
                    BindingError::Unknown => StatusCode::BAD_GATEWAY,
                };
                // Looker shows this to the user whose session finished the login.
                return json_error(status, capitalize(&e.to_string()));
            }
            tracing::info!(action, "login finished (v2): user state returned to Looker");
            HttpResponse::Ok()
                .content_type("application/json")
                .insert_header(("Cache-Control", "no-store"))
                .body(match oauth.seal_bundle(action, &bundle) {
                    Ok(data) => data,
                    Err(e) => return json_error(StatusCode::BAD_GATEWAY, e.to_string()),
                })
        }
        Err(e) => {
            tracing::warn!(action, error = %e, "code exchange failed (v2)");
            json_error(provider_status(&e), e.to_string())
        }
    }
}
