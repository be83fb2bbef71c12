//! Business users write back with their own identity: OAuth2 against Google (or any provider set
//! by its authorization and token URLs), the per-user token bundle kept sealed in Looker's state,
//! and the refresh of expired access tokens.
//!
//! The login, step by step (Looker's OAuth "v1"):
//! 1. A form request arrives without a usable token in `data.state_json`: the form is a single
//!    `oauth_link` to `{hub}/actions/{name}/oauth?state=<sealed {state_url}>` ([`OAuth::login_link`]).
//! 2. `oauth` checks the state and redirects the browser to the provider ([`OAuth::authorize_url`]).
//! 3. The provider redirects to `oauth_redirect?code&state`; the hub exchanges the code and POSTs the
//!    sealed token bundle to the `state_url` — only if that URL is on a configured Looker host.
//! 4. Later requests carry the bundle in `data.state_json`; an expired access token is refreshed and
//!    the new bundle handed back (execute `state`, or a POST to the form request's `state_url`).
//!
//! Current Looker ("v2") sends `data.state_redir_url` as well: after the provider's redirect the
//! browser goes back to Looker through it with the code sealed in `state`, and Looker exchanges it
//! through `POST /actions/{name}/oauth_token`, whose answer becomes the user's state.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::{ActionRequest, ActionState, FieldType, Form, FormField};
use crate::routes::Handler;
use crate::secrets::{LiveSecret, SecretError, Secrets};

use seal::{Purpose, StateError, StateKeys, DEFAULT_TTL};

mod gate;
mod hosts;
pub mod id_token;
mod provider;
mod refresh;
pub mod seal;
mod settings;
mod token;

pub use hosts::{HostRefused, LookerHosts};
pub(crate) use provider::sanitize_code;
pub use provider::ProviderError;
pub use settings::{
    IdentityMode, OAuthSettings, DEFAULT_LOGIN_TTL, DEFAULT_SCOPES, GOOGLE_AUTH_URL,
    GOOGLE_ISSUERS, GOOGLE_TOKEN_URL,
};
use token::StoredState;
pub use token::TokenBundle;

/// Sealed in the login link: where the tokens go once the user has logged in, and who asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// v1: Looker's one-time URL to POST the user's state to.
    #[serde(rename = "su", default, skip_serializing_if = "Option::is_none")]
    pub state_url: Option<String>,
    /// v2: Looker's URL to send the browser back through with the code.
    #[serde(rename = "sr", default, skip_serializing_if = "Option::is_none")]
    pub state_redir_url: Option<String>,
    /// The Looker user's email (the `user_email` param Looker fills from the user attribute): the
    /// provider's ID token must name the same account, or the login is refused. Required for v1.
    #[serde(rename = "em", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Random id making the state single-use (see [`UsedLogins`]).
    #[serde(rename = "id")]
    pub id: String,
    /// Expiry (Unix seconds), also the sealed envelope's: how long the id must be remembered.
    #[serde(rename = "x")]
    pub expires_at: i64,
}

/// What the v2 code hand-off carries through Looker: the code, who the login is for, and a random
/// id making it single use at `oauth_token` (as a login state is at the callback).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Handoff {
    #[serde(rename = "c")]
    code: String,
    #[serde(rename = "em", default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(rename = "id")]
    id: String,
    /// Expiry (Unix seconds), also the sealed envelope's: how long the id must be remembered.
    #[serde(rename = "x")]
    expires_at: i64,
}

/// A v2 code hand-off opened at `oauth_token` and used up on this instance.
#[derive(Debug)]
pub struct HandoffCode {
    /// The provider's authorization code.
    pub code: String,
    /// The Looker user the login was made for, when Looker sent one.
    pub email: Option<String>,
}

/// Why a v2 hand-off was refused at `oauth_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffRefused {
    /// It does not open (altered, expired, another action's).
    #[error("state refused: {0}")]
    State(#[from] StateError),
    /// It was exchanged before on this instance (or too many logins are under way).
    #[error("{}", match .0 {
        UseRefused::AlreadyUsed => "this login has already been exchanged: a login state works once. Open the action again to log in",
        UseRefused::Busy => "too many logins are being finished right now: try again in a moment",
    })]
    Used(UseRefused),
}

/// Most login states remembered as used at once per instance (a bounded set; see
/// [`UsedLogins`]). At the default lifetime of 10 minutes that is 160 logins a second.
pub const MAX_USED_LOGINS: usize = 100_000;

/// The ids of login states (and v2 hand-offs) already used on this instance, until they expire.
/// Per process: with several instances (Cloud Run scales out) a state may be used once per
/// instance — the email binding, not this set, is what stops a link from serving someone else.
#[derive(Default)]
pub struct UsedLogins(Mutex<HashMap<String, i64>>);

/// Why a login state cannot be used (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseRefused {
    /// It was used before.
    AlreadyUsed,
    /// The set is full of unexpired ids: too many logins at once.
    Busy,
}

impl UsedLogins {
    /// Mark the state `id` (valid until `expires_at`) as used; refused when it was used before
    /// (or the set is full).
    pub fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<(), UseRefused> {
        let mut used = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if used.contains_key(id) {
            return Err(UseRefused::AlreadyUsed);
        }
        if used.len() >= MAX_USED_LOGINS {
            used.retain(|_, exp| *exp >= now);
            if used.len() >= MAX_USED_LOGINS {
                return Err(UseRefused::Busy);
            }
        }
        used.insert(id.to_string(), expires_at);
        Ok(())
    }
}

/// Whether a failed request provably sent nothing: the connection itself could not be made (and
/// not because the address policy refused it, which a second attempt would not change).
pub fn nothing_sent(e: &reqwest::Error) -> bool {
    e.is_connect() && !e.is_timeout() && crate::net::refusal(e).is_none()
}

/// The same account, whatever the case of the address (Google's addresses are case-insensitive).
pub fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// A login finished with another account than the one of the Looker user who asked for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The ID token names another account (`signed_in_as`, shown only to the person who just
    /// signed in with it).
    #[error("this login link was made for another Looker user, and you signed in as {signed_in_as}. Nothing was saved. Open the action in Looker yourself to get your own login link")]
    OtherUser {
        /// The account the provider says signed in.
        signed_in_as: String,
    },
    /// The provider's answer did not say who signed in.
    #[error("the login provider did not say which account signed in (no ID token with an email; the hub asks for the `openid email` scopes). Nothing was saved")]
    Unknown,
}

/// Check a finished login against the Looker user it was made for (`None`: nothing to check).
pub fn check_binding(expected: Option<&str>, bundle: &TokenBundle) -> Result<(), BindingError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match bundle.email.as_deref() {
        Some(got) if same_email(got, expected) => Ok(()),
        Some(got) => Err(BindingError::OtherUser {
            signed_in_as: got.to_string(),
        }),
        None => Err(BindingError::Unknown),
    }
}

/// Where a finished login goes.
#[derive(Debug, Clone)]
pub enum LoginTarget {
    /// v1: exchange the code here and POST the state to this URL.
    StateUrl(Url),
    /// v2: send the browser back to Looker through this URL with the code sealed.
    Redirect(Url),
}

impl LoginState {
    /// The checked target of this login (v2 when Looker sent `state_redir_url`).
    pub fn target(&self, hosts: &LookerHosts) -> Result<LoginTarget, LoginLinkError> {
        match (&self.state_redir_url, &self.state_url) {
            (Some(r), _) => Ok(LoginTarget::Redirect(hosts.check(r)?)),
            (None, Some(s)) => Ok(LoginTarget::StateUrl(hosts.check(s)?)),
            (None, None) => Err(LoginLinkError::NoStateUrl),
        }
    }
}

/// Why no login link can be made for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginLinkError {
    /// Looker sent neither `state_url` nor `state_redir_url`.
    #[error("Looker did not send a state_url for this user, so the login cannot be stored. Check that the action is enabled with per-user state (uses_oauth) in Looker's admin page.")]
    NoStateUrl,
    /// The URL is not on a configured Looker host.
    #[error(transparent)]
    Refused(#[from] HostRefused),
    /// Looker's URLs are too long to be sealed into a login link.
    #[error("Looker's state URL is too long for a login link")]
    TooLong,
    /// v1 without the Looker user's email: the login could not be bound to its user.
    #[error("Looker did not send the user's email (the action's `user_email` param, filled from the `email` user attribute), so a login cannot be bound to its user. Ask your Looker admin to set that param to the user attribute.")]
    NoUserEmail,
}

/// Sending the user's state to Looker's `state_url` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The URL is not allowed; nothing was sent.
    #[error(transparent)]
    Refused(#[from] HostRefused),
    /// Looker did not accept it (status) or could not be reached (`None`).
    #[error("Looker did not accept the login ({})", .0.map_or("unreachable or no answer in time".to_string(), |s| format!("HTTP {s}")))]
    Failed(Option<u16>),
}

/// Why a request has no usable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginReason {
    /// No state yet (first use).
    NoState,
    /// Looker's state is `"reset"`.
    Reset,
    /// The state does not open on this instance: not a bundle this hub version reads, or sealed
    /// with a key this instance does not have (a newer key or shape mid-rollout, or a key since
    /// retired). Never cleared: another instance may read it.
    NotOpenedHere,
    /// The bundle opened but its lifetime (`OAUTH_LOGIN_TTL_DAYS`) has passed.
    Expired,
    /// The bundle opened but was sealed for another action.
    OtherAction,
    /// The access token expired and there is no refresh token.
    NoRefreshToken,
    /// The provider refused the refresh token (revoked, expired — or already renewed by a
    /// concurrent request when the provider rotates refresh tokens). Not cleared: Looker may hold
    /// a newer bundle than this one.
    RefreshRejected,
    /// The stored login is another account's than the Looker user's (`user_email`).
    OtherUser,
}

impl LoginReason {
    /// Whether Looker holds state that should be cleared: only a bundle that opened here and is
    /// of no use whatever happens elsewhere.
    pub fn clears_state(self) -> bool {
        matches!(
            self,
            LoginReason::Expired
                | LoginReason::OtherAction
                | LoginReason::NoRefreshToken
                | LoginReason::OtherUser
        )
    }
}

/// The login form's advice when the saved login does not open on this instance.
const NOT_OPENED_HERE_FORM: &str = "Your saved login could not be read by this hub instance (the hub may be being updated: open the action again in a minute). If this keeps happening, log in again.";

/// The execute's answer when the saved login does not open on this instance.
pub const NOT_OPENED_HERE_EXECUTE: &str = "Your saved login could not be read by this hub instance: it was saved by a newer version of the hub or with a state key this instance does not have (an update may be under way). Your login was kept. Try again in a few minutes; if this keeps happening, open the action and log in again. Nothing was written.";

/// The user's credentials for one request.
pub enum UserAuth {
    /// A usable access token; `renewed` is the new state to hand back when it was refreshed.
    Ready {
        /// The (possibly refreshed) tokens.
        bundle: TokenBundle,
        /// New state data for Looker, when refreshed.
        renewed: Option<String>,
    },
    /// The user has to log in (again).
    LoginNeeded(LoginReason),
    /// The provider could not renew the token right now (timeout / 5xx): try again later.
    Unavailable(ProviderError),
}

/// The OAuth client of the hub (present in user identity mode).
pub struct OAuth {
    settings: OAuthSettings,
    /// Current state keys (follow Secret Manager rotations).
    keys: Arc<RwLock<StateKeys>>,
    /// Current client secret (follows Secret Manager rotations).
    client_secret: Option<LiveSecret>,
    http: crate::net::Http,
    public_url: crate::routes::PublicUrl,
    /// Login states used at the callback on this instance (single use).
    used_logins: UsedLogins,
    /// The refreshes under way (and just done) on this instance, one per refresh token.
    refreshes: refresh::Refreshes,
    /// The client for Looker's `state_url`: a new connection for every POST (see
    /// [`OAuth::store_state`]).
    state_http: crate::net::Http,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.settings.client_id)
            .field("auth_url", &self.settings.auth_url.as_str())
            .field("token_url", &self.settings.token_url.as_str())
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl OAuth {
    /// The client for user mode, `None` in service mode. The client secret and state keys may be
    /// Secret Manager references: they are resolved now and follow rotations. Without configured
    /// keys (allowed only where no function needs them, or in local mode) a random key is used.
    pub async fn new(
        s: &OAuthSettings,
        local: bool,
        public_url: &crate::routes::PublicUrl,
        http: crate::net::Http,
        secrets: &Secrets,
    ) -> Result<Option<OAuth>, SecretError> {
        if s.mode != IdentityMode::User {
            return Ok(None);
        }
        let client_secret = match &s.client_secret {
            Some(raw) => Some(secrets.watch("OAUTH_CLIENT_SECRET", raw).await?),
            None => None,
        };
        let keys = Arc::new(RwLock::new(StateKeys::random()));
        if s.state_keys.is_empty() {
            if local {
                tracing::warn!(
                    "LOCAL MODE: no OAUTH_STATE_KEYS set; using a random key for this process only. Set OAUTH_STATE_KEYS in production."
                );
            }
        } else {
            let target = keys.clone();
            let first_error: Arc<Mutex<Option<String>>> = Arc::default();
            let report = first_error.clone();
            let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen = started.clone();
            secrets
                .watch_list("OAUTH_STATE_KEYS", &s.state_keys, move |values| {
                    match StateKeys::parse(&values) {
                        Ok(k) => *target.write().unwrap_or_else(|p| p.into_inner()) = k,
                        // At start this stops the hub; after a rotation the last good keys stay.
                        Err(e) if !seen.load(std::sync::atomic::Ordering::Relaxed) => {
                            *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string())
                        }
                        Err(e) => tracing::error!(error = %e, "rotated OAUTH_STATE_KEYS are not valid keys; keeping the previous ones"),
                    }
                })
                .await?;
            started.store(true, std::sync::atomic::Ordering::Relaxed);
            let failed = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(reason) = failed {
                return Err(SecretError::Invalid {
                    setting: "OAUTH_STATE_KEYS",
                    reason,
                });
            }
        }
        let state_http = http.fresh_connections().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no separate client for Looker's state_url; kept-alive connections are reused");
            http.clone()
        });
        let oauth = OAuth {
            settings: s.clone(),
            keys,
            client_secret,
            http,
            public_url: public_url.clone(),
            used_logins: UsedLogins::default(),
            refreshes: refresh::Refreshes::default(),
            state_http,
        };
        tracing::info!(
            redirect_uri = %oauth.redirect_uri(),
            "user identity mode: register this redirect URI with the OAuth client (one for every action)"
        );
        Ok(Some(oauth))
    }

    fn keys(&self) -> StateKeys {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The settings in use.
    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The one redirect URI registered with the provider, used by every action's login:
    /// `{hub}/oauth_redirect` unless `OAUTH_REDIRECT_URI` says otherwise.
    pub fn redirect_uri(&self) -> String {
        match &self.settings.redirect_uri {
            Some(u) => u.to_string(),
            None => self.public_url.at(crate::routes::OAUTH_REDIRECT_PATH),
        }
    }

    /// `{hub}/actions/{name}/oauth_token` (OAuth v2, advertised as the definition's `token_url`).
    pub fn token_url(&self, action: &str) -> String {
        self.public_url.route(Handler::OauthToken, action)
    }

    /// Whether the provider is Google (for the button's wording).
    fn is_google(&self) -> bool {
        self.settings.auth_url.host_str() == Some("accounts.google.com")
    }

    /// The login link for a form request: the sealed `state_url` / `state_redir_url`, checked
    /// against the Looker hosts first.
    pub fn login_link(&self, action: &str, req: &ActionRequest) -> Result<String, LoginLinkError> {
        let now = now();
        let login = LoginState {
            state_url: req.data_param("state_url").filter(|s| !s.is_empty()),
            state_redir_url: req.data_param("state_redir_url").filter(|s| !s.is_empty()),
            email: req
                .data_param(crate::api::USER_EMAIL_PARAM)
                .map(|e| e.trim().to_string())
                .filter(|e| crate::email::is_email(e)),
            id: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: now.saturating_add(
                i64::try_from(self.settings.state_ttl.as_secs()).unwrap_or(i64::MAX),
            ),
        };
        let target = login.target(&self.settings.looker_hosts)?;
        // v1 stores whatever login comes back in the state_url's user's state: it must be bound to
        // that user. (v2 goes back through Looker, whose session binds it; its email is checked
        // too when Looker sent one.)
        if matches!(target, LoginTarget::StateUrl(_)) && login.email.is_none() {
            return Err(LoginLinkError::NoUserEmail);
        }
        let sealed = self
            .keys()
            .seal(
                Purpose::Login,
                action,
                Some(self.settings.state_ttl),
                now,
                &login,
            )
            .map_err(|_| LoginLinkError::TooLong)?;
        Ok(format!(
            "{}?state={sealed}",
            self.public_url.route(Handler::OauthInitiate, action)
        ))
    }

    /// Open the `state` of a login link or of the provider's redirect.
    pub fn open_login(&self, action: &str, sealed: &str) -> Result<LoginState, StateError> {
        self.keys().open(Purpose::Login, action, sealed, now())
    }

    /// Open the `state` of the provider's redirect to the hub-wide callback: the login and the
    /// action it was sealed for.
    pub fn open_login_any(&self, sealed: &str) -> Result<(String, LoginState), StateError> {
        self.keys().open_with_action(Purpose::Login, sealed, now())
    }

    /// Check where a login may go.
    pub fn login_target(&self, login: &LoginState) -> Result<LoginTarget, LoginLinkError> {
        login.target(&self.settings.looker_hosts)
    }

    /// Use a login state at the callback: refused when this instance has seen it before.
    pub fn use_login(&self, login: &LoginState) -> Result<(), UseRefused> {
        self.used_logins
            .use_once(&login.id, login.expires_at, now())
    }

    /// The provider's authorization URL for a login (offline access, consent prompt, the state;
    /// `login_hint` preselects the Looker user's account at Google).
    pub fn authorize_url(&self, sealed_state: &str, login: &LoginState) -> Url {
        let mut url = self.settings.auth_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &self.redirect_uri())
                .append_pair("response_type", "code")
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("access_type", "offline")
                .append_pair("prompt", "consent");
            if let Some(email) = &login.email {
                q.append_pair("login_hint", email);
            }
            q.append_pair("state", sealed_state);
        }
        url
    }

    /// v2: the URL that sends the browser back through Looker with the code (and the Looker
    /// user's email, when known) sealed in `state` (refused for a code too long to be sealed).
    pub fn handoff_url(
        &self,
        action: &str,
        mut redir: Url,
        code: &str,
        email: Option<&str>,
    ) -> Result<Url, StateError> {
        let now = now();
        let handoff = Handoff {
            code: code.to_string(),
            email: email.map(String::from),
            id: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: now.saturating_add(
                i64::try_from(self.settings.state_ttl.as_secs()).unwrap_or(i64::MAX),
            ),
        };
        let sealed = self.keys().seal(
            Purpose::CodeHandoff,
            action,
            Some(self.settings.state_ttl),
            now,
            &handoff,
        )?;
        redir.query_pairs_mut().append_pair("state", &sealed);
        Ok(redir)
    }

    /// v2: open the code Looker hands back to `oauth_token`, and the email it must belong to
    /// (without using it up: see [`OAuth::use_handoff`]).
    pub fn open_handoff(
        &self,
        action: &str,
        sealed: &str,
    ) -> Result<(String, Option<String>), StateError> {
        let h: Handoff = self
            .keys()
            .open(Purpose::CodeHandoff, action, sealed, now())?;
        Ok((h.code, h.email))
    }

    /// v2: open the code Looker hands back to `oauth_token` (and the email it must belong to)
    /// and use it up: the same hand-off is refused the next time on this instance, before the
    /// provider is asked.
    pub fn use_handoff(&self, action: &str, sealed: &str) -> Result<HandoffCode, HandoffRefused> {
        let now = now();
        let h: Handoff = self
            .keys()
            .open(Purpose::CodeHandoff, action, sealed, now)?;
        self.used_logins
            .use_once(&h.id, h.expires_at, now)
            .map_err(HandoffRefused::Used)?;
        Ok(HandoffCode {
            code: h.code,
            email: h.email,
        })
    }

    /// The state Looker keeps for the user: the sealed bundle as JSON text (refused for tokens
    /// too large for Looker to keep). It expires `OAUTH_LOGIN_TTL_DAYS` from now; each refresh
    /// seals it again, so only a login left unused that long expires.
    pub fn seal_bundle(&self, action: &str, bundle: &TokenBundle) -> Result<String, StateError> {
        let sealed = self.keys().seal(
            Purpose::TokenBundle,
            action,
            Some(self.settings.login_ttl),
            now(),
            bundle,
        )?;
        Ok(serde_json::to_string(&StoredState { hub_tokens: sealed }).unwrap_or_default())
    }

    /// The bundle in Looker's `state_json`, if there is a readable one.
    pub fn open_bundle(
        &self,
        action: &str,
        state_json: Option<&str>,
    ) -> Result<TokenBundle, LoginReason> {
        let text = state_json
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "null")
            .ok_or(LoginReason::NoState)?;
        if text == "reset" {
            return Err(LoginReason::Reset);
        }
        // Not a shape this version reads (another hub's state, or a newer version's).
        let stored: StoredState =
            serde_json::from_str(text).map_err(|_| LoginReason::NotOpenedHere)?;
        self.keys()
            .open(Purpose::TokenBundle, action, &stored.hub_tokens, now())
            .map_err(|e| {
                tracing::info!(action, error = %e, "user state refused");
                match e {
                    StateError::Expired => LoginReason::Expired,
                    StateError::OtherAction => LoginReason::OtherAction,
                    StateError::Malformed | StateError::Tampered | StateError::TooLarge => {
                        LoginReason::NotOpenedHere
                    }
                }
            })
    }

    /// The user's credentials from `state_json`, refreshed when the access token has expired. A
    /// login of another account than the Looker user's (`user_email`, when Looker sends it) is
    /// not used: the user logs in again.
    pub async fn user_auth(
        &self,
        action: &str,
        state_json: Option<&str>,
        user_email: Option<&str>,
    ) -> UserAuth {
        let bundle = match self.open_bundle(action, state_json) {
            Ok(b) => b,
            Err(why) => return UserAuth::LoginNeeded(why),
        };
        let user_email = user_email.map(str::trim).filter(|e| !e.is_empty());
        if check_binding(user_email, &bundle).is_err() {
            tracing::warn!(
                action,
                "stored login is not the Looker user's account; asking for a login again"
            );
            return UserAuth::LoginNeeded(LoginReason::OtherUser);
        }
        if !bundle.needs_refresh(now()) {
            return UserAuth::Ready {
                bundle,
                renewed: None,
            };
        }
        let Some(refresh_token) = bundle.refresh_token.as_ref() else {
            return UserAuth::LoginNeeded(LoginReason::NoRefreshToken);
        };
        let refreshed = self
            .refreshes
            .run(refresh_token, now(), || self.refresh(&bundle))
            .await;
        match refreshed {
            Ok(fresh) => {
                tracing::info!(action, "access token refreshed");
                // Tokens too large to keep are used for this request only (refreshed again next
                // time) rather than failing it.
                let renewed = self
                    .seal_bundle(action, &fresh)
                    .inspect_err(
                        |e| tracing::warn!(action, error = %e, "refreshed tokens not kept"),
                    )
                    .ok();
                UserAuth::Ready {
                    bundle: fresh,
                    renewed,
                }
            }
            Err(e) if e.is_rejection() => {
                tracing::info!(action, error = %e, "refresh refused: the user must log in again (their state is kept: it may be newer than this bundle)");
                UserAuth::LoginNeeded(LoginReason::RefreshRejected)
            }
            Err(e) => {
                tracing::warn!(action, error = %e, "refresh failed");
                UserAuth::Unavailable(e)
            }
        }
    }

    /// POST the user's state to Looker's one-time `state_url` (only on a configured Looker host).
    pub async fn store_state(&self, state_url: &str, data: &str) -> Result<(), StoreError> {
        let url = self.settings.looker_hosts.check(state_url)?;
        let host = url.host_str().unwrap_or("").to_string();
        let send = || async {
            let request = self.state_http.post(url.clone()).map_err(|r| {
                tracing::warn!(looker_host = %host, refused = %r, "the user state was not sent");
                StoreError::Failed(None)
            })?;
            Ok::<_, StoreError>(
                request
                    .timeout(self.settings.timeout)
                    .header("Content-Type", "application/json")
                    .body(data.to_string())
                    .send()
                    .await,
            )
        };
        let mut sent = send().await?;
        // Looker's state_url is one-time: sent again only when the first attempt provably never
        // reached Looker (no connection was made). Every POST goes on a new connection, so one
        // Looker closed as it was reused cannot swallow the state.
        if matches!(&sent, Err(e) if nothing_sent(e)) {
            if let Err(e) = sent {
                tracing::info!(looker_host = %host, error = %e.without_url(), "sending the user state again: the first connection could not be made");
            }
            sent = send().await?;
        }
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                tracing::warn!(looker_host = %host, status = r.status().as_u16(), "Looker refused the user state");
                Err(StoreError::Failed(Some(r.status().as_u16())))
            }
            Err(e) => {
                tracing::warn!(looker_host = %host, error = %e.without_url(), "could not send the user state to Looker");
                Err(StoreError::Failed(None))
            }
        }
    }

    /// The form asking the user to log in (or saying why no login is possible). With Google the
    /// field is `oauth_link_google` (Looker's "Sign in with Google" button, as the official
    /// Google actions use), else `oauth_link`. When Looker sent a bundle that opened here and is
    /// of no use ([`LoginReason::clears_state`]), the form's `state` clears it, so Looker stops
    /// sending a dead token; a state that does not open here is never cleared.
    pub fn login_form(&self, action: &str, req: &ActionRequest, why: LoginReason) -> Form {
        let clear = why.clears_state().then(|| ActionState {
            data: String::new(),
            refresh_time: None,
        });
        match self.login_link(action, req) {
            Ok(url) => {
                let (label, identity, kind) = if self.is_google() {
                    (
                        "Log in with Google",
                        "your own Google identity",
                        FieldType::OauthLinkGoogle,
                    )
                } else {
                    ("Log in", "your own identity", FieldType::OauthLink)
                };
                let mut link = FormField::new("login", label, kind);
                link.description = Some(match why {
                    LoginReason::NotOpenedHere => NOT_OPENED_HERE_FORM.to_string(),
                    _ => format!(
                        "This action writes with {identity}. Log in once, then open the action again."
                    ),
                });
                link.oauth_url = Some(url);
                Form {
                    fields: vec![link],
                    state: clear,
                    ..Default::default()
                }
            }
            Err(e) => {
                tracing::warn!(action, error = %e, "no login link");
                Form {
                    error: Some(e.to_string()),
                    state: clear,
                    ..Default::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{SettingsError, Vars};
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    fn hosts(list: &str) -> LookerHosts {
        LookerHosts::parse(list).unwrap()
    }

    #[test]
    fn looker_hosts_allow_only_configured_hosts() {
        let h = hosts(
            "mycompany.looker.com, *.cloud.looker.com ,127.0.0.1:9999, https://other.example/",
        );
        assert!(h
            .check("https://mycompany.looker.com/action_hub_state/abc")
            .is_ok());
        assert!(h.check("https://MyCompany.Looker.com:443/x").is_ok());
        assert!(h.check("https://eu.cloud.looker.com/x").is_ok());
        assert!(h.check("https://other.example/x").is_ok());
        assert!(h.check("http://127.0.0.1:9999/x").is_ok());
        assert_eq!(
            h.check("http://127.0.0.1:9998/x"),
            Err(HostRefused::Foreign("127.0.0.1".into()))
        );
        assert_eq!(
            h.check("https://cloud.looker.com/x"),
            Err(HostRefused::Foreign("cloud.looker.com".into()))
        );
        assert_eq!(
            h.check("https://mycompany.looker.com.evil.com/x"),
            Err(HostRefused::Foreign("mycompany.looker.com.evil.com".into()))
        );
        assert_eq!(
            h.check("https://evil.com/mycompany.looker.com"),
            Err(HostRefused::Foreign("evil.com".into()))
        );
        assert_eq!(
            h.check("http://mycompany.looker.com/x"),
            Err(HostRefused::Insecure)
        );
        assert_eq!(
            h.check("https://u:p@mycompany.looker.com/x"),
            Err(HostRefused::Insecure)
        );
        assert_eq!(
            h.check("ftp://mycompany.looker.com/x"),
            Err(HostRefused::NotAUrl)
        );
        assert_eq!(h.check("/relative"), Err(HostRefused::NotAUrl));
        assert!(LookerHosts::parse("").is_err());
        assert!(LookerHosts::parse("a/b").is_err());
        assert!(LookerHosts::parse("host:notaport").is_err());
        assert!(hosts("localhost").check("http://localhost:1234/x").is_ok());
        assert!(hosts("[::1]").check("http://[::1]:1234/x").is_ok());
    }

    fn load(extra: &[(&str, &str)]) -> Result<OAuthSettings, SettingsError> {
        let vars: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OAuthSettings::load(&Vars(&vars), false)
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn user_mode_requires_client_keys_and_hosts_and_never_echoes_secrets() {
        assert_eq!(load(&[]).unwrap().mode, IdentityMode::Service);
        let full = [
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", "id"),
            ("OAUTH_CLIENT_SECRET", "very-secret-value"),
            ("OAUTH_STATE_KEYS", KEY),
            ("HUB_LOOKER_HOSTS", "x.looker.com"),
        ];
        let s = load(&full).unwrap();
        assert_eq!(s.mode, IdentityMode::User);
        assert_eq!(s.token_url.as_str(), GOOGLE_TOKEN_URL);
        assert_eq!(s.scopes[0], "https://www.googleapis.com/auth/bigquery");
        assert!(!format!("{s:?}").contains("very-secret-value"));
        // The client secret and state keys are required per function (Settings::check_for).
        for optional in ["OAUTH_CLIENT_SECRET", "OAUTH_STATE_KEYS"] {
            let vars: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != optional)
                .collect();
            let s = load(&vars).unwrap();
            assert!(s.client_secret.is_none() || s.state_keys.is_empty());
        }
        for missing in ["OAUTH_CLIENT_ID", "HUB_LOOKER_HOSTS"] {
            let vars: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let e = load(&vars).unwrap_err().to_string();
            assert!(e.contains(missing), "{e}");
        }
        let mut bad = full.to_vec();
        bad[3] = ("OAUTH_STATE_KEYS", "not-a-key-but-a-secret");
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("OAUTH_STATE_KEYS") && !e.contains("not-a-key-but-a-secret"),
            "{e}"
        );
        assert!(load(&[("HUB_IDENTITY_MODE", "nobody")]).is_err());
        // Logins are bound to their user through the ID token's email: the scopes must ask for it.
        let mut no_email = full.to_vec();
        no_email.push((
            "OAUTH_SCOPES",
            "https://www.googleapis.com/auth/bigquery openid",
        ));
        let e = load(&no_email).unwrap_err().to_string();
        assert!(e.contains("OAUTH_SCOPES") && e.contains("`email`"), "{e}");
        assert_eq!(load(&full).unwrap().state_ttl, Duration::from_secs(600));
    }

    #[test]
    fn provider_endpoints_must_be_https_except_on_loopback_and_name_their_issuer() {
        let base = [
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", "id"),
            ("HUB_LOOKER_HOSTS", "x.looker.com"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            load(&vars)
        };
        // Google's endpoints (the default): Google's issuers.
        assert_eq!(with(&[]).unwrap().issuers, GOOGLE_ISSUERS);
        for (name, url) in [
            ("OAUTH_TOKEN_URL", "http://oauth.example.com/token"),
            ("OAUTH_AUTH_URL", "http://10.1.2.3/authorize"),
            ("OAUTH_TOKEN_URL", "http://[fd00::1]/token"),
        ] {
            let e = with(&[(name, url), ("OAUTH_ISSUER", "https://x")])
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("{name} is invalid: must use https")),
                "{e}"
            );
        }
        for loopback in [
            "http://127.0.0.1:9/token",
            "http://localhost:9/token",
            "http://[::1]:9/token",
        ] {
            let s = with(&[
                ("OAUTH_TOKEN_URL", loopback),
                ("OAUTH_AUTH_URL", loopback),
                ("OAUTH_ISSUER", "http://127.0.0.1:9, other"),
            ])
            .unwrap();
            assert_eq!(s.issuers, ["http://127.0.0.1:9", "other"]);
        }
        // Another provider must say which issuer its ID tokens name.
        let e = with(&[("OAUTH_TOKEN_URL", "https://login.example.com/token")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("OAUTH_ISSUER is required"), "{e}");
        assert_eq!(
            with(&[]).unwrap().login_ttl,
            Duration::from_secs(180 * 86_400)
        );
        assert_eq!(
            with(&[("OAUTH_LOGIN_TTL_DAYS", "7")]).unwrap().login_ttl,
            Duration::from_secs(7 * 86_400)
        );
        assert!(with(&[("OAUTH_LOGIN_TTL_DAYS", "0")]).is_err());
    }

    #[test]
    fn a_login_state_is_used_once() {
        let used = UsedLogins::default();
        assert_eq!(used.use_once("a", 100, 0), Ok(()));
        assert_eq!(used.use_once("a", 100, 0), Err(UseRefused::AlreadyUsed));
        assert_eq!(used.use_once("b", 100, 0), Ok(()));
    }

    #[test]
    fn the_used_set_is_bounded_and_forgets_only_expired_ids() {
        let used = UsedLogins::default();
        for i in 0..MAX_USED_LOGINS {
            used.use_once(&i.to_string(), 10, 0).unwrap();
        }
        // Full of unexpired ids: refused rather than forgetting one that could be replayed.
        assert_eq!(used.use_once("new", 100, 5), Err(UseRefused::Busy));
        // Once they expired they are dropped.
        assert_eq!(used.use_once("new", 100, 11), Ok(()));
        assert_eq!(used.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_binding_compares_emails_without_case() {
        let bundle = |email: Option<&str>| TokenBundle {
            access_token: "t".into(),
            refresh_token: None,
            expires_at: 0,
            email: email.map(String::from),
        };
        assert_eq!(check_binding(None, &bundle(None)), Ok(()));
        assert_eq!(
            check_binding(Some("Ann@Example.com"), &bundle(Some("ann@example.com"))),
            Ok(())
        );
        assert_eq!(
            check_binding(Some("ann@example.com"), &bundle(Some("bob@example.com"))),
            Err(BindingError::OtherUser {
                signed_in_as: "bob@example.com".into()
            })
        );
        assert_eq!(
            check_binding(Some("ann@example.com"), &bundle(None)),
            Err(BindingError::Unknown)
        );
    }

    #[test]
    fn error_codes_are_sanitized() {
        assert_eq!(sanitize_code("invalid_grant"), "invalid_grant");
        assert_eq!(
            sanitize_code("<script>alert(1)</script>"),
            "scriptalert1script"
        );
    }
}
