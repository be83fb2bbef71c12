//! The provider client: code exchange and refresh at the token endpoint, and its answers.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::secrets::LiveSecret;

use super::id_token::{verified_email, ClaimError, Expected};
use super::*;

/// Used when the provider does not say how long an access token lives.
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3600;

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
    /// The login's ID token fails a check: the login is not used.
    #[error("the login provider's ID token was refused: {0}. Nothing was saved")]
    IdToken(ClaimError),
}

impl ProviderError {
    /// Whether the grant itself was refused (log in again), as opposed to the provider being down.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ProviderError::Rejected(_))
    }
}

/// Longest token endpoint answer read (a real one is a few kilobytes).
const TOKEN_ANSWER_MAX: usize = 64 * 1024;

impl OAuth {
    /// Exchange an authorization code for tokens; the ID token, if any, must pass its checks
    /// (`id_token`) and gives the login's email.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenBundle, ProviderError> {
        let redirect_uri = self.redirect_uri();
        let answer = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri),
            ])
            .await?;
        let email = match answer.id_token.as_deref() {
            Some(jwt) => verified_email(
                jwt,
                &Expected {
                    client_id: &self.settings.client_id,
                    issuers: &self.settings.issuers,
                    now: now(),
                },
            )
            .map_err(|e| {
                tracing::warn!(error = %e, "login refused: the ID token fails a check");
                ProviderError::IdToken(e)
            })?,
            None => None,
        };
        answer.into_bundle(None, email)
    }

    /// Renew the access token with the refresh token (which is kept when none comes back).
    pub async fn refresh(&self, bundle: &TokenBundle) -> Result<TokenBundle, ProviderError> {
        let Some(refresh_token) = bundle.refresh_token.as_ref() else {
            return Err(ProviderError::Rejected("no_refresh_token".into()));
        };
        let answer = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                // The one place a refresh token leaves the hub: to the provider that issued it.
                ("refresh_token", refresh_token.expose_secret()),
            ])
            .await?;
        // The login's identity was checked and bound when the user logged in; a refresh keeps it
        // (an ID token in a refresh answer is not used).
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
                let (cause, _) = crate::net::connect_cause(e);
                tracing::warn!(cause, "OAuth token endpoint unreachable");
            }
            ProviderError::Unreachable
        }
    }
}

/// The parts of a token endpoint answer the hub uses (never logged).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(deserialize_with = "super::token::secret")]
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "super::token::secret_some")]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    id_token: Option<String>,
}

impl TokenAnswer {
    fn into_bundle(
        self,
        old_refresh: Option<SecretString>,
        email: Option<String>,
    ) -> Result<TokenBundle, ProviderError> {
        if self.access_token.expose_secret().is_empty() {
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
        Ok(TokenBundle {
            access_token: self.access_token,
            refresh_token: self
                .refresh_token
                .filter(|t| !t.expose_secret().is_empty())
                .or(old_refresh),
            expires_at: now().saturating_add(lifetime),
            email,
        })
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// An OAuth error code reduced to what can be shown and logged safely.
pub(crate) fn sanitize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(64)
        .collect()
}
