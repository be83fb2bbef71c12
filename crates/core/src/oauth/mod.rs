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
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::actions::{ExecuteGate, FormGate, OAuthGate};
use crate::api::{
    ActionRequest, ActionState, ExecuteResponse, FieldType, Form, FormField, Integration,
};
use crate::config::{SettingsError, Vars};
use crate::routes::{path_for, Handler};
use crate::secrets::{LiveSecret, SecretError, Secrets};
use crate::sinks::WriteCredential;
pub mod seal;

use seal::{Purpose, StateError, StateKeys, DEFAULT_TTL};

/// Google's authorization endpoint (the default provider).
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Default scopes: write to BigQuery, and the user's email to record who acted.
pub const DEFAULT_SCOPES: &str = "https://www.googleapis.com/auth/bigquery openid email";
/// An access token this close to its expiry is refreshed before use.
const EXPIRY_MARGIN_SECS: i64 = 60;
/// Used when the provider does not say how long an access token lives.
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Whose identity write-back actions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// The hub's own identity; the acting user is recorded from a Looker user attribute.
    Service,
    /// Each user's own OAuth identity (the actions say `uses_oauth: true`).
    User,
}

/// OAuth settings (only read in [`IdentityMode::User`]).
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `HUB_IDENTITY_MODE`: `service` (default) or `user`.
    pub mode: IdentityMode,
    /// `OAUTH_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_CLIENT_SECRET`, or the content of the file named by `OAUTH_CLIENT_SECRET_FILE`.
    pub client_secret: Option<SecretString>,
    /// `OAUTH_AUTH_URL` (Google's by default).
    pub auth_url: Url,
    /// `OAUTH_TOKEN_URL` (Google's by default).
    pub token_url: Url,
    /// `OAUTH_SCOPES`, space- or comma-separated.
    pub scopes: Vec<String>,
    /// `OAUTH_STATE_KEYS` as configured (values or Secret Manager references): the first seals,
    /// any opens. Empty only where no served function needs them, or in local mode (random key).
    pub state_keys: Vec<SecretString>,
    /// `HUB_LOOKER_HOSTS`: the only hosts a `state_url` / `state_redir_url` may point at.
    pub looker_hosts: LookerHosts,
    /// `OAUTH_STATE_TTL_SECS`: how long a login link stays valid.
    pub state_ttl: Duration,
    /// `OAUTH_TIMEOUT_MS`: bound of every call to the provider and to Looker's `state_url`.
    pub timeout: Duration,
    /// `OAUTH_REDIRECT_URI`: the redirect URI sent to the provider for every action, when it is
    /// not the default `{HUB_PUBLIC_URL}/oauth_redirect` (e.g. an OAuth client that lists only
    /// an older per-action `…/actions/{name}/oauth_redirect`).
    pub redirect_uri: Option<Url>,
}

impl OAuthSettings {
    /// Service mode: nothing else is read.
    pub fn service() -> OAuthSettings {
        OAuthSettings {
            mode: IdentityMode::Service,
            client_id: String::new(),
            client_secret: None,
            auth_url: Url::parse(GOOGLE_AUTH_URL).expect("constant URL"),
            token_url: Url::parse(GOOGLE_TOKEN_URL).expect("constant URL"),
            scopes: split_scopes(DEFAULT_SCOPES),
            state_keys: Vec::new(),
            looker_hosts: LookerHosts::default(),
            state_ttl: DEFAULT_TTL,
            timeout: Duration::from_secs(10),
            redirect_uri: None,
        }
    }

    /// Read the OAuth variables; in user mode the client, keys and Looker hosts are required
    /// (local mode may go without keys and hosts).
    pub fn load(v: &Vars<'_>, local: bool) -> Result<OAuthSettings, SettingsError> {
        let mode = match v
            .get("HUB_IDENTITY_MODE")
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("service") => IdentityMode::Service,
            Some("user") => IdentityMode::User,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "HUB_IDENTITY_MODE",
                    reason: format!("expected service or user, got {other:?}"),
                })
            }
        };
        if mode == IdentityMode::Service {
            return Ok(OAuthSettings::service());
        }
        let client_id = v.get("OAUTH_CLIENT_ID").ok_or(SettingsError::Missing(
            "OAUTH_CLIENT_ID",
            "the OAuth client id (user identity mode)",
        ))?;
        let client_secret = client_secret(v)?;
        let url = |name: &'static str, default: &str| -> Result<Url, SettingsError> {
            let raw = v.get(name).unwrap_or_else(|| default.to_string());
            let url = Url::parse(&raw).map_err(|e| SettingsError::Invalid {
                name,
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SettingsError::Invalid {
                    name,
                    reason: "must be an http(s) URL".into(),
                });
            }
            Ok(url)
        };
        // Required only by the functions that seal or open state: see `Settings::check_for`.
        // Literal keys are checked now; Secret Manager references when the hub starts.
        let state_keys = v.secret_list("OAUTH_STATE_KEYS");
        let all_literal = state_keys.iter().all(|k| {
            matches!(
                crate::secrets::SecretSpec::parse("OAUTH_STATE_KEYS", k),
                Ok(crate::secrets::SecretSpec::Literal(_))
            )
        });
        if !state_keys.is_empty() && all_literal {
            StateKeys::parse(&state_keys).map_err(|e| SettingsError::Invalid {
                name: "OAUTH_STATE_KEYS",
                reason: e.to_string(),
            })?;
        }
        let looker_hosts = match v.get("HUB_LOOKER_HOSTS") {
            Some(list) => LookerHosts::parse(&list)
                .map_err(|reason| SettingsError::Invalid { name: "HUB_LOOKER_HOSTS", reason })?,
            None if local => LookerHosts::parse("localhost,127.0.0.1").expect("constant list"),
            None => {
                return Err(SettingsError::Missing(
                    "HUB_LOOKER_HOSTS",
                    "the Looker host name(s) the hub may send user tokens to, e.g. mycompany.looker.com",
                ))
            }
        };
        let scopes = split_scopes(
            &v.get("OAUTH_SCOPES")
                .unwrap_or_else(|| DEFAULT_SCOPES.into()),
        );
        if scopes.is_empty() {
            return Err(SettingsError::Invalid {
                name: "OAUTH_SCOPES",
                reason: "no scope given".into(),
            });
        }
        // A login is bound to the Looker user who asked for it: the provider's ID token must say
        // who logged in (OpenID Connect, `email` claim).
        for needed in ["openid", "email"] {
            if !scopes.iter().any(|s| s == needed) {
                return Err(SettingsError::Invalid {
                    name: "OAUTH_SCOPES",
                    reason: format!("must include `openid email` (missing `{needed}`): a login is checked against the Looker user's email from the provider's ID token"),
                });
            }
        }
        let ttl: u64 = v.num("OAUTH_STATE_TTL_SECS", DEFAULT_TTL.as_secs())?;
        let redirect_uri = match v.get("OAUTH_REDIRECT_URI") {
            None => None,
            Some(raw) => {
                let u = url("OAUTH_REDIRECT_URI", &raw)?;
                if !u.path().ends_with("/oauth_redirect") || u.query().is_some() {
                    return Err(SettingsError::Invalid {
                        name: "OAUTH_REDIRECT_URI",
                        reason: "must be the hub's {HUB_PUBLIC_URL}/oauth_redirect or an \
                                 {HUB_PUBLIC_URL}/actions/{name}/oauth_redirect, without a query"
                            .into(),
                    });
                }
                Some(u)
            }
        };
        let timeout_ms: u64 = v.num("OAUTH_TIMEOUT_MS", 10_000)?;
        Ok(OAuthSettings {
            mode,
            client_id,
            client_secret,
            auth_url: url("OAUTH_AUTH_URL", GOOGLE_AUTH_URL)?,
            token_url: url("OAUTH_TOKEN_URL", GOOGLE_TOKEN_URL)?,
            scopes,
            state_keys,
            looker_hosts,
            state_ttl: Duration::from_secs(ttl.max(1)),
            timeout: Duration::from_millis(timeout_ms.max(1)),
            redirect_uri,
        })
    }
}

/// The client secret, if configured (only the functions that exchange or refresh codes need it:
/// see `Settings::check_for`).
fn client_secret(v: &Vars<'_>) -> Result<Option<SecretString>, SettingsError> {
    if let Some(secret) = v.get("OAUTH_CLIENT_SECRET") {
        return Ok(Some(SecretString::from(secret)));
    }
    if let Some(path) = v.get("OAUTH_CLIENT_SECRET_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::Invalid {
            name: "OAUTH_CLIENT_SECRET_FILE",
            reason: format!("cannot read {path}: {}", e.kind()),
        })?;
        let secret = text.trim();
        if !secret.is_empty() {
            return Ok(Some(SecretString::from(secret.to_string())));
        }
        return Err(SettingsError::Invalid {
            name: "OAUTH_CLIENT_SECRET_FILE",
            reason: format!("{path} is empty"),
        });
    }
    Ok(None)
}

fn split_scopes(list: &str) -> Vec<String> {
    list.split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The Looker hosts user tokens may be sent to (`HUB_LOOKER_HOSTS`): `host`, `host:port` or
/// `*.domain` (any subdomain). URLs must be https, except on loopback hosts (local runs).
#[derive(Debug, Clone, Default)]
pub struct LookerHosts(Vec<HostPattern>);

#[derive(Debug, Clone)]
struct HostPattern {
    /// Lower-case host, or the `.domain` suffix of a wildcard.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

/// A Looker URL the hub refuses to call or redirect to. Safe to show (no URL parts but the host).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    /// Not an absolute http(s) URL.
    #[error("the Looker state URL is not a valid URL")]
    NotAUrl,
    /// http to a non-loopback host, or credentials in the URL.
    #[error("the Looker state URL must use https")]
    Insecure,
    /// Not on a configured Looker host.
    #[error("{0} is not a configured Looker host (HUB_LOOKER_HOSTS); nothing was sent there")]
    Foreign(String),
}

impl LookerHosts {
    /// Parse a comma-separated list; the error names the bad entry (host names are not secret).
    pub fn parse(list: &str) -> Result<LookerHosts, String> {
        let mut out = vec![];
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let entry = raw
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let (wildcard, rest) = match entry.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, entry.as_str()),
            };
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                    h,
                    Some(
                        p.parse::<u16>()
                            .map_err(|_| format!("bad port in {raw:?}"))?,
                    ),
                ),
                _ => (rest, None),
            };
            if host.is_empty() || host.contains(['/', '@', '*', '?', '#']) {
                return Err(format!("{raw:?} is not a host name"));
            }
            let host = if wildcard {
                format!(".{host}")
            } else {
                host.to_string()
            };
            out.push(HostPattern {
                host,
                wildcard,
                port,
            });
        }
        if out.is_empty() {
            return Err("no host given".into());
        }
        Ok(LookerHosts(out))
    }

    /// The URL, if the hub may send a user's tokens to it (or redirect a browser there).
    pub fn check(&self, raw: &str) -> Result<Url, HostRefused> {
        let url = Url::parse(raw).map_err(|_| HostRefused::NotAUrl)?;
        let host = url
            .host_str()
            .ok_or(HostRefused::NotAUrl)?
            .to_ascii_lowercase();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostRefused::Insecure);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(HostRefused::Insecure),
            _ => return Err(HostRefused::NotAUrl),
        }
        let port = url.port_or_known_default();
        let allowed = self.0.iter().any(|p| {
            let host_ok = if p.wildcard {
                host.ends_with(&p.host)
            } else {
                host == p.host
            };
            host_ok && p.port.is_none_or(|want| Some(want) == port)
        });
        if allowed {
            Ok(url)
        } else {
            Err(HostRefused::Foreign(host))
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A user's tokens, kept sealed in Looker's per-user state.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenBundle {
    /// Bearer access token.
    #[serde(rename = "at")]
    pub access_token: String,
    /// Refresh token (offline access), if the provider gave one.
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// The user's email from the provider's ID token, if the scopes asked for it.
    #[serde(rename = "em", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl fmt::Debug for TokenBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBundle")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl TokenBundle {
    fn needs_refresh(&self, now: i64) -> bool {
        now + EXPIRY_MARGIN_SECS >= self.expires_at
    }
}

/// What Looker stores as the user's state: `{"hub_tokens": "<sealed TokenBundle>"}`.
#[derive(Serialize, Deserialize)]
struct StoredState {
    hub_tokens: String,
}

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

/// What the v2 code hand-off carries through Looker: the code, and who the login is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Handoff {
    #[serde(rename = "c")]
    code: String,
    #[serde(rename = "em", default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

/// Most login states remembered as used at once per instance (a bounded set; see
/// [`UsedLogins`]). At the default lifetime of 10 minutes that is 160 logins a second.
pub const MAX_USED_LOGINS: usize = 100_000;

/// The ids of login states already used at the callback on this instance, until they expire.
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
    /// Mark `login` as used; refused when it was used before (or the set is full).
    pub fn use_once(&self, login: &LoginState, now: i64) -> Result<(), UseRefused> {
        let mut used = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if used.contains_key(&login.id) {
            return Err(UseRefused::AlreadyUsed);
        }
        if used.len() >= MAX_USED_LOGINS {
            used.retain(|_, exp| *exp >= now);
            if used.len() >= MAX_USED_LOGINS {
                return Err(UseRefused::Busy);
            }
        }
        used.insert(login.id.clone(), login.expires_at);
        Ok(())
    }
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

/// The provider failed a code exchange or a refresh. Messages carry no secret and no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A 4xx answer: the code, refresh token or client was refused (OAuth `error` code).
    #[error("the login provider refused the request ({0})")]
    Rejected(String),
    /// No answer in time.
    #[error("the login provider did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Connection failed.
    #[error("the login provider could not be reached")]
    Unreachable,
    /// A 5xx (or otherwise unexpected) status.
    #[error("the login provider failed (HTTP {0})")]
    Failed(u16),
    /// A 2xx answer without a usable token.
    #[error("the login provider's answer had no usable access token")]
    BadAnswer,
}

impl ProviderError {
    /// Whether the grant itself was refused (log in again), as opposed to the provider being down.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ProviderError::Rejected(_))
    }
}

/// Longest token endpoint answer read (a real one is a few kilobytes).
const TOKEN_ANSWER_MAX: usize = 64 * 1024;

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
    /// The state cannot be opened (tampered, another hub's, old format).
    Unreadable,
    /// The access token expired and there is no refresh token.
    NoRefreshToken,
    /// The provider refused the refresh token (revoked, expired).
    RefreshRejected,
    /// The stored login is another account's than the Looker user's (`user_email`).
    OtherUser,
}

impl LoginReason {
    /// Whether Looker holds state that should be cleared.
    pub fn clears_state(self) -> bool {
        !matches!(self, LoginReason::NoState | LoginReason::Reset)
    }
}

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
    public_url: String,
    /// Login states used at the callback on this instance (single use).
    used_logins: UsedLogins,
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
        public_url: &str,
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
        let oauth = OAuth {
            settings: s.clone(),
            keys,
            client_secret,
            http,
            public_url: public_url.to_string(),
            used_logins: UsedLogins::default(),
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
            None => format!("{}{}", self.public_url, crate::routes::OAUTH_REDIRECT_PATH),
        }
    }

    /// `{hub}/actions/{name}/oauth_token` (OAuth v2, advertised as the definition's `token_url`).
    pub fn token_url(&self, action: &str) -> String {
        format!(
            "{}{}",
            self.public_url,
            path_for(Handler::OauthToken, action)
        )
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
                .filter(|e| e.contains('@') && e.len() <= 320),
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
            "{}{}?state={sealed}",
            self.public_url,
            path_for(Handler::OauthInitiate, action)
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
        self.used_logins.use_once(login, now())
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
        let handoff = Handoff {
            code: code.to_string(),
            email: email.map(String::from),
        };
        let sealed = self.keys().seal(
            Purpose::CodeHandoff,
            action,
            Some(self.settings.state_ttl),
            now(),
            &handoff,
        )?;
        redir.query_pairs_mut().append_pair("state", &sealed);
        Ok(redir)
    }

    /// v2: open the code Looker hands back to `oauth_token`, and the email it must belong to.
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

    /// Exchange an authorization code for tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenBundle, ProviderError> {
        let redirect_uri = self.redirect_uri();
        let answer = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri),
            ])
            .await?;
        answer.into_bundle(None, None)
    }

    /// Renew the access token with the refresh token (which is kept when none comes back).
    pub async fn refresh(&self, bundle: &TokenBundle) -> Result<TokenBundle, ProviderError> {
        let Some(refresh_token) = bundle.refresh_token.as_deref() else {
            return Err(ProviderError::Rejected("no_refresh_token".into()));
        };
        let answer = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .await?;
        answer.into_bundle(bundle.refresh_token.clone(), bundle.email.clone())
    }

    async fn token_request(&self, params: &[(&str, &str)]) -> Result<TokenAnswer, ProviderError> {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("client_id", &self.settings.client_id));
        let secret = self.client_secret.as_ref().map(LiveSecret::current);
        if let Some(secret) = &secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        let resp = self
            .http
            .post(self.settings.token_url.clone())
            .map_err(|_| ProviderError::Unreachable)?
            .timeout(self.settings.timeout)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        // The request timeout also bounds reading the body, and so does its size: a token answer
        // is small, a longer one is not read whole.
        let body = crate::net::read_limited(resp, TOKEN_ANSWER_MAX).await;
        if status.is_success() {
            return body
                .and_then(|b| serde_json::from_slice::<TokenAnswer>(&b).ok())
                .ok_or(ProviderError::BadAnswer);
        }
        let body = body.unwrap_or_default();
        let code = serde_json::from_slice::<ErrorAnswer>(&body)
            .ok()
            .map(|e| e.error);
        tracing::info!(
            status = status.as_u16(),
            error = code.as_deref().map(sanitize_code).unwrap_or_default(),
            "token endpoint refused"
        );
        match (status.as_u16(), code) {
            (400..=499, Some(code)) => Err(ProviderError::Rejected(sanitize_code(&code))),
            (400..=499, None) => Err(ProviderError::Rejected(format!("HTTP {}", status.as_u16()))),
            (s, _) => Err(ProviderError::Failed(s)),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout(self.settings.timeout)
        } else {
            if e.is_connect() {
                let (cause, _) = crate::rows::connect_cause(e);
                tracing::warn!(cause, "OAuth token endpoint unreachable");
            }
            ProviderError::Unreachable
        }
    }

    /// The state Looker keeps for the user: the sealed bundle as JSON text (refused for tokens
    /// too large for Looker to keep).
    pub fn seal_bundle(&self, action: &str, bundle: &TokenBundle) -> Result<String, StateError> {
        let sealed = self
            .keys()
            .seal(Purpose::TokenBundle, action, None, now(), bundle)?;
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
        let stored: StoredState =
            serde_json::from_str(text).map_err(|_| LoginReason::Unreadable)?;
        self.keys()
            .open(Purpose::TokenBundle, action, &stored.hub_tokens, now())
            .map_err(|e| {
                tracing::info!(action, error = %e, "user state refused");
                LoginReason::Unreadable
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
        if bundle.refresh_token.is_none() {
            return UserAuth::LoginNeeded(LoginReason::NoRefreshToken);
        }
        match self.refresh(&bundle).await {
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
                tracing::info!(action, error = %e, "refresh refused: the user must log in again");
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
        let request = self.http.post(url).map_err(|r| {
            tracing::warn!(looker_host = %host, refused = %r, "the user state was not sent");
            StoreError::Failed(None)
        })?;
        let sent = request
            .timeout(self.settings.timeout)
            .header("Content-Type", "application/json")
            .body(data.to_string())
            .send()
            .await;
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
    /// Google actions use), else `oauth_link`. When Looker sent a state that is of no use
    /// (`why` is not [`LoginReason::NoState`]), the form's `state` clears it, so Looker stops
    /// sending a dead token.
    pub fn login_form(&self, action: &str, req: &ActionRequest, why: LoginReason) -> Form {
        let clear = (why != LoginReason::NoState).then(|| ActionState {
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
                link.description = Some(format!(
                    "This action writes with {identity}. Log in once, then open the action again."
                ));
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

/// The parts of a token endpoint answer the hub uses (never logged).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

impl TokenAnswer {
    fn into_bundle(
        self,
        old_refresh: Option<String>,
        old_email: Option<String>,
    ) -> Result<TokenBundle, ProviderError> {
        if self.access_token.is_empty() {
            return Err(ProviderError::BadAnswer);
        }
        // Some providers send expires_in as a string.
        let lifetime = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS)
        .max(0);
        let email = self
            .id_token
            .as_deref()
            .and_then(id_token_email)
            .or(old_email);
        Ok(TokenBundle {
            access_token: self.access_token,
            refresh_token: self.refresh_token.filter(|t| !t.is_empty()).or(old_refresh),
            expires_at: now().saturating_add(lifetime),
            email,
        })
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// The `email` claim of an ID token received directly from the token endpoint over TLS (OpenID
/// Connect Core 3.1.3.7 allows skipping the signature check in that case).
fn id_token_email(jwt: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Claims {
        email: Option<String>,
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Claims>(&bytes)
        .ok()?
        .email
        .filter(|e| e.contains('@') && e.len() <= 320)
}

/// An OAuth error code reduced to what can be shown and logged safely.
pub(crate) fn sanitize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(64)
        .collect()
}

/// The gate of a hub in user identity mode: the Looker user's own OAuth login.
#[async_trait::async_trait]
impl OAuthGate for OAuth {
    /// `uses_oauth` and the v2 `token_url`.
    fn apply_to_definition(&self, def: &mut Integration) {
        def.uses_oauth = true;
        def.token_url = Some(self.token_url(&def.name));
    }

    /// Show the login link unless the request carries a usable token, and hand a refreshed bundle
    /// back to Looker (POSTed to the request's `state_url` and returned as the form's `state`).
    async fn form_gate(&self, action: &str, req: &ActionRequest) -> FormGate {
        let oauth = self;
        match oauth
            .user_auth(
                action,
                req.data_param("state_json").as_deref(),
                req.data_param(crate::api::USER_EMAIL_PARAM).as_deref(),
            )
            .await
        {
            UserAuth::Ready { renewed, .. } => {
                if let (Some(data), Some(url)) = (&renewed, req.data_param("state_url")) {
                    if let Err(e) = oauth.store_state(&url, data).await {
                        tracing::warn!(action, error = %e, "refreshed login not stored through state_url; returned as form state only");
                    }
                }
                FormGate::Proceed {
                    state: renewed.map(|data| ActionState {
                        data,
                        refresh_time: None,
                    }),
                }
            }
            UserAuth::LoginNeeded(why) => FormGate::Answer(oauth.login_form(action, req, why)),
            UserAuth::Unavailable(e) => FormGate::Answer(Form {
                error: Some(format!(
                    "Your login could not be renewed right now: {e}. Please try again in a moment."
                )),
                ..Default::default()
            }),
        }
    }

    /// The user's (refreshed) access token, or a failure telling the user to log in again.
    async fn execute_gate(&self, action: &str, req: &ActionRequest) -> ExecuteGate {
        let oauth = self;
        let user_email = req.data_param(crate::api::USER_EMAIL_PARAM);
        match oauth
            .user_auth(action, req.data_param("state_json").as_deref(), user_email.as_deref())
            .await
        {
            UserAuth::Ready { bundle, renewed } => ExecuteGate::Proceed {
                credential: WriteCredential::User {
                    access_token: SecretString::from(bundle.access_token),
                    expires_at: Some(bundle.expires_at),
                },
                email: bundle.email,
                state: renewed.map(|data| ActionState { data, refresh_time: None }),
            },
            UserAuth::LoginNeeded(why) => {
                let mut resp = ExecuteResponse::failure(
                    "You are not logged in (or your login has expired). Open the action again and use the login link, then retry. Nothing was written.",
                );
                if why.clears_state() {
                    resp.looker.state = Some(ActionState { data: "reset".into(), refresh_time: None });
                }
                ExecuteGate::Answer(resp)
            }
            UserAuth::Unavailable(e) => ExecuteGate::Answer(ExecuteResponse::failure(format!(
                "Your login could not be renewed right now ({e}). Please try again in a moment. Nothing was written."
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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

    fn login(id: &str, expires_at: i64) -> LoginState {
        LoginState {
            state_url: None,
            state_redir_url: None,
            email: None,
            id: id.into(),
            expires_at,
        }
    }

    #[test]
    fn a_login_state_is_used_once() {
        let used = UsedLogins::default();
        assert_eq!(used.use_once(&login("a", 100), 0), Ok(()));
        assert_eq!(
            used.use_once(&login("a", 100), 0),
            Err(UseRefused::AlreadyUsed)
        );
        assert_eq!(used.use_once(&login("b", 100), 0), Ok(()));
    }

    #[test]
    fn the_used_set_is_bounded_and_forgets_only_expired_ids() {
        let used = UsedLogins::default();
        for i in 0..MAX_USED_LOGINS {
            used.use_once(&login(&i.to_string(), 10), 0).unwrap();
        }
        // Full of unexpired ids: refused rather than forgetting one that could be replayed.
        assert_eq!(used.use_once(&login("new", 100), 5), Err(UseRefused::Busy));
        // Once they expired they are dropped.
        assert_eq!(used.use_once(&login("new", 100), 11), Ok(()));
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
    fn id_token_email_is_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"1","email":"ann@example.com"}"#);
        assert_eq!(
            id_token_email(&format!("h.{payload}.s")),
            Some("ann@example.com".into())
        );
        assert_eq!(id_token_email("garbage"), None);
        assert_eq!(id_token_email("a.!!!.c"), None);
    }

    #[test]
    fn error_codes_are_sanitized() {
        assert_eq!(sanitize_code("invalid_grant"), "invalid_grant");
        assert_eq!(
            sanitize_code("<script>alert(1)</script>"),
            "scriptalert1script"
        );
    }

    #[test]
    fn bundles_debug_without_tokens() {
        let b = TokenBundle {
            access_token: "ya29.secret".into(),
            refresh_token: Some("1//refresh".into()),
            expires_at: 1,
            email: None,
        };
        let d = format!("{b:?}");
        assert!(!d.contains("ya29") && !d.contains("1//refresh"), "{d}");
    }
}
