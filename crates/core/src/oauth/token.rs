//! A user's token bundle and the state Looker keeps for it.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An access token this close to its expiry is refreshed before use.
const EXPIRY_MARGIN_SECS: i64 = 60;

/// A user's tokens, kept sealed in Looker's per-user state. The tokens are secret strings: `Debug`
/// shows neither; they are exposed only to seal the bundle and to send them to the provider or the
/// store they are for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenBundle {
    /// Bearer access token.
    #[serde(rename = "at", serialize_with = "expose", deserialize_with = "secret")]
    pub access_token: SecretString,
    /// Refresh token (offline access), if the provider gave one.
    #[serde(
        rename = "rt",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_some",
        deserialize_with = "secret_some"
    )]
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// The user's email from the provider's ID token, if the scopes asked for it.
    #[serde(rename = "em", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl TokenBundle {
    pub(super) fn needs_refresh(&self, now: i64) -> bool {
        now >= self.refresh_due()
    }

    /// From when (Unix seconds) the access token is refreshed before use.
    pub(super) fn refresh_due(&self) -> i64 {
        self.expires_at.saturating_sub(EXPIRY_MARGIN_SECS)
    }
}

/// A secret string as its text: where the bundle is sealed (the only place it is written out).
fn expose<S: Serializer>(token: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose_secret())
}

fn expose_some<S: Serializer>(token: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match token {
        Some(t) => expose(t, s),
        None => s.serialize_none(),
    }
}

/// A secret string read from a JSON string (an opened bundle, a token endpoint's answer).
pub(super) fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

/// [`secret`] for an optional (or null) string.
pub(super) fn secret_some<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// What Looker stores as the user's state: `{"hub_tokens": "<sealed TokenBundle>"}`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredState {
    pub(super) hub_tokens: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> TokenBundle {
        TokenBundle {
            access_token: "ya29.secret".into(),
            refresh_token: Some("1//refresh".into()),
            expires_at: 1,
            email: Some("ann@example.com".into()),
        }
    }

    #[test]
    fn debug_shows_neither_token() {
        assert_eq!(
            format!("{:?}", bundle()),
            "TokenBundle { access_token: SecretBox<str>([REDACTED]), refresh_token: \
             Some(SecretBox<str>([REDACTED])), expires_at: 1, email: Some(\"ann@example.com\") }"
        );
        let alternate = format!("{:#?}", bundle());
        assert!(
            !alternate.contains("ya29") && !alternate.contains("1//refresh"),
            "{alternate}"
        );
    }

    #[test]
    fn the_sealed_form_is_the_tokens_text_as_before() {
        // States sealed before the tokens were secret strings still open, and the other way round.
        let json = serde_json::to_string(&bundle()).unwrap();
        assert_eq!(
            json,
            r#"{"at":"ya29.secret","rt":"1//refresh","exp":1,"em":"ann@example.com"}"#
        );
        let back: TokenBundle = serde_json::from_str(&json).unwrap();
        assert_eq!(back.access_token.expose_secret(), "ya29.secret");
        assert_eq!(
            back.refresh_token.as_ref().map(|t| t.expose_secret()),
            Some("1//refresh")
        );
        let short: TokenBundle = serde_json::from_str(r#"{"at":"t","exp":2}"#).unwrap();
        assert!(short.refresh_token.is_none() && short.email.is_none());
        assert_eq!(
            serde_json::to_string(&short).unwrap(),
            r#"{"at":"t","exp":2}"#
        );
        let null_refresh: TokenBundle =
            serde_json::from_str(r#"{"at":"t","rt":null,"exp":2}"#).unwrap();
        assert!(null_refresh.refresh_token.is_none());
    }
}
