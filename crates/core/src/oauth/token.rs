//! A user's token bundle and the state Looker keeps for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An access token this close to its expiry is refreshed before use.
const EXPIRY_MARGIN_SECS: i64 = 60;

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
    pub(super) fn needs_refresh(&self, now: i64) -> bool {
        now + EXPIRY_MARGIN_SECS >= self.expires_at
    }
}

/// What Looker stores as the user's state: `{"hub_tokens": "<sealed TokenBundle>"}`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredState {
    pub(super) hub_tokens: String,
}
