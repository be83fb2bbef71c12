//! OAuth settings: the provider's URLs, the client, the scopes, the identity mode.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::config::{SettingsError, Vars};

use super::*;

/// Google's authorization endpoint (the default provider).
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The `iss` of Google's ID tokens (both spellings Google documents), the default issuer when the
/// token endpoint is Google's.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// How long a saved login lasts unless configured otherwise: Google lets a refresh token unused
/// for six months expire, so a sealed bundle not renewed for as long is of no use either.
pub const DEFAULT_LOGIN_TTL: Duration = Duration::from_secs(180 * 24 * 3600);
/// Default scopes: write to BigQuery, and the user's email to record who acted.
pub const DEFAULT_SCOPES: &str = "https://www.googleapis.com/auth/bigquery openid email";
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
    /// `OAUTH_ISSUER`: the `iss` values an ID token may carry (Google's for Google's token
    /// endpoint; required for any other provider).
    pub issuers: Vec<String>,
    /// `OAUTH_LOGIN_TTL_DAYS`: a sealed token bundle expires this long after it was sealed (at
    /// the login, and again at each refresh): the user logs in again after that long unused.
    pub login_ttl: Duration,
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
            issuers: GOOGLE_ISSUERS.map(String::from).to_vec(),
            login_ttl: DEFAULT_LOGIN_TTL,
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
        let auth_url = provider_url("OAUTH_AUTH_URL", url("OAUTH_AUTH_URL", GOOGLE_AUTH_URL)?)?;
        let token_url = provider_url("OAUTH_TOKEN_URL", url("OAUTH_TOKEN_URL", GOOGLE_TOKEN_URL)?)?;
        let issuers = issuers(v, &token_url)?;
        let login_days: u64 =
            v.num("OAUTH_LOGIN_TTL_DAYS", DEFAULT_LOGIN_TTL.as_secs() / 86_400)?;
        if login_days == 0 {
            return Err(SettingsError::Invalid {
                name: "OAUTH_LOGIN_TTL_DAYS",
                reason: "must be at least 1 (days a saved login lasts unused)".into(),
            });
        }
        Ok(OAuthSettings {
            mode,
            client_id,
            client_secret,
            auth_url,
            token_url,
            issuers,
            login_ttl: Duration::from_secs(login_days.saturating_mul(86_400)),
            scopes,
            state_keys,
            looker_hosts,
            state_ttl: Duration::from_secs(ttl.max(1)),
            timeout: Duration::from_millis(timeout_ms.max(1)),
            redirect_uri,
        })
    }
}

/// The provider's endpoints carry the client secret, codes and refresh tokens: https only, except
/// on a loopback host (a provider stand-in on the same machine).
fn provider_url(name: &'static str, url: Url) -> Result<Url, SettingsError> {
    if url.scheme() == "http" && !url.host_str().is_some_and(hosts::is_loopback) {
        return Err(SettingsError::Invalid {
            name,
            reason: format!(
                "must use https: plain http to {} would carry the client secret, codes and refresh \
                 tokens in clear (http is allowed only to a loopback host such as 127.0.0.1)",
                url.host_str().unwrap_or("")
            ),
        });
    }
    Ok(url)
}

/// Whether the token endpoint is Google's (its ID tokens then name Google's issuer).
fn is_google_token_url(url: &Url) -> bool {
    url.scheme() == "https"
        && matches!(
            url.host_str(),
            Some("oauth2.googleapis.com" | "www.googleapis.com" | "accounts.google.com")
        )
}

/// `OAUTH_ISSUER` (comma-separated), Google's issuers by default for Google's token endpoint, and
/// required for any other: without it the ID token's `iss` could not be checked.
fn issuers(v: &Vars<'_>, token_url: &Url) -> Result<Vec<String>, SettingsError> {
    let listed: Vec<String> = v
        .get("OAUTH_ISSUER")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    if is_google_token_url(token_url) {
        return Ok(GOOGLE_ISSUERS.map(String::from).to_vec());
    }
    Err(SettingsError::Missing(
        "OAUTH_ISSUER",
        "the `iss` your provider writes in its ID tokens (OAUTH_TOKEN_URL is not Google's), e.g. \
         https://login.example.com/realms/acme: a login's ID token is checked against it",
    ))
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
