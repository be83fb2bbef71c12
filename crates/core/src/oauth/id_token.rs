//! The ID token of a login: who signed in, once its claims show it was issued by the provider,
//! for this hub's client, is still valid and names a verified address.
//!
//! The token comes straight from the token endpoint over TLS (https is required for it, except on
//! loopback), so OpenID Connect Core 3.1.3.7 lets the signature go unchecked — not the claims:
//! `iss` must be the provider's issuer, `aud` must contain the client id (and `azp`, when sent or
//! when there are several audiences, be it), `exp` must not have passed, and `email_verified`, when sent, must be true.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Clock skew allowed between the provider and the hub on `exp` (OpenID Connect allows "some
/// small leeway"; 60 s is the usual choice of JWT libraries).
pub const EXP_LEEWAY_SECS: i64 = 60;

/// Why an ID token was refused: the claim that failed. Safe to show (no claim value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Not a JWT with a JSON object as payload.
    #[error("the ID token cannot be read (not a JWT with a JSON payload)")]
    Unreadable,
    /// `iss` missing or not the configured issuer.
    #[error("its `iss` claim is not the provider's issuer (OAUTH_ISSUER)")]
    Issuer,
    /// `aud` missing or without this client's id.
    #[error("its `aud` claim does not name this hub's OAuth client (OAUTH_CLIENT_ID)")]
    Audience,
    /// `azp` names another client, or is missing from a token with several audiences.
    #[error("its `azp` claim does not name this hub's OAuth client (OAUTH_CLIENT_ID)")]
    AuthorizedParty,
    /// `exp` missing or passed.
    #[error("its `exp` claim is missing or in the past: the ID token has expired")]
    Expired,
    /// `email_verified` is present and not true.
    #[error("its `email_verified` claim is false: the provider has not verified the account's email address")]
    EmailUnverified,
}

/// What an ID token is checked against.
pub struct Expected<'a> {
    /// `OAUTH_CLIENT_ID`.
    pub client_id: &'a str,
    /// `OAUTH_ISSUER` (or Google's).
    pub issuers: &'a [String],
    /// Unix seconds.
    pub now: i64,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Value,
    #[serde(default)]
    aud: Value,
    #[serde(default)]
    azp: Value,
    #[serde(default)]
    exp: Value,
    #[serde(default)]
    email: Value,
    #[serde(default)]
    email_verified: Value,
}

/// The account's email from an ID token whose claims hold (`None`: the token names no email).
pub fn verified_email(jwt: &str, expected: &Expected<'_>) -> Result<Option<String>, ClaimError> {
    let claims = read(jwt).ok_or(ClaimError::Unreadable)?;
    let issuer_ok = claims
        .iss
        .as_str()
        .is_some_and(|iss| expected.issuers.iter().any(|i| i == iss));
    if !issuer_ok {
        return Err(ClaimError::Issuer);
    }
    let audience_ok = match &claims.aud {
        Value::String(one) => one == expected.client_id,
        Value::Array(many) => many.iter().any(|a| a.as_str() == Some(expected.client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(ClaimError::Audience);
    }
    // With several audiences the token must say which one it was issued to (3.1.3.7 items 4–5).
    let several = claims.aud.as_array().is_some_and(|a| a.len() > 1);
    if (several || !claims.azp.is_null()) && claims.azp.as_str() != Some(expected.client_id) {
        return Err(ClaimError::AuthorizedParty);
    }
    let exp = claims
        .exp
        .as_i64()
        .or_else(|| claims.exp.as_f64().map(|f| f as i64));
    let still_valid = exp.is_some_and(|exp| expected.now < exp.saturating_add(EXP_LEEWAY_SECS));
    if !still_valid {
        return Err(ClaimError::Expired);
    }
    // Some providers send the flag as a string.
    let verified = match &claims.email_verified {
        Value::Null => true,
        Value::Bool(b) => *b,
        Value::String(s) => s == "true",
        _ => false,
    };
    if !verified {
        return Err(ClaimError::EmailUnverified);
    }
    Ok(claims
        .email
        .as_str()
        .filter(|e| crate::email::is_email(e))
        .map(String::from))
}

fn read(jwt: &str) -> Option<Claims> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn jwt(claims: Value) -> String {
        format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    fn good() -> Value {
        json!({"iss": "https://accounts.google.com", "aud": "client", "azp": "client",
               "exp": NOW + 3600, "email": "ann@example.com", "email_verified": true})
    }

    fn check(claims: Value) -> Result<Option<String>, ClaimError> {
        let issuers = [
            "https://accounts.google.com".to_string(),
            "accounts.google.com".into(),
        ];
        verified_email(
            &jwt(claims),
            &Expected {
                client_id: "client",
                issuers: &issuers,
                now: NOW,
            },
        )
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = good();
        c[key] = value;
        c
    }

    fn without(key: &str) -> Value {
        let mut c = good();
        c.as_object_mut().unwrap().remove(key);
        c
    }

    #[test]
    fn a_valid_token_gives_its_email() {
        assert_eq!(check(good()), Ok(Some("ann@example.com".into())));
        assert_eq!(
            check(with("iss", json!("accounts.google.com"))),
            Ok(Some("ann@example.com".into()))
        );
        assert_eq!(
            check(with("aud", json!(["other", "client"]))),
            Ok(Some("ann@example.com".into()))
        );
        // Not sent: nothing to check (providers that do not verify addresses say nothing).
        assert_eq!(
            check(without("email_verified")),
            Ok(Some("ann@example.com".into()))
        );
        assert_eq!(check(without("azp")), Ok(Some("ann@example.com".into())));
        assert_eq!(
            check(with("email_verified", json!("true"))),
            Ok(Some("ann@example.com".into()))
        );
        assert_eq!(check(without("email")), Ok(None));
        // Within the clock-skew leeway.
        assert_eq!(
            check(with("exp", json!(NOW - 30))),
            Ok(Some("ann@example.com".into()))
        );
    }

    #[test]
    fn each_bad_claim_is_named() {
        assert_eq!(
            check(with("iss", json!("https://evil.example"))),
            Err(ClaimError::Issuer)
        );
        assert_eq!(check(without("iss")), Err(ClaimError::Issuer));
        assert_eq!(
            check(with("aud", json!("other"))),
            Err(ClaimError::Audience)
        );
        assert_eq!(
            check(with("aud", json!(["a", "b"]))),
            Err(ClaimError::Audience)
        );
        assert_eq!(check(without("aud")), Err(ClaimError::Audience));
        assert_eq!(
            check(with("azp", json!("other"))),
            Err(ClaimError::AuthorizedParty)
        );
        assert_eq!(
            check(with("exp", json!(NOW - 3600))),
            Err(ClaimError::Expired)
        );
        assert_eq!(
            check(with("exp", json!(NOW - EXP_LEEWAY_SECS))),
            Err(ClaimError::Expired)
        );
        assert_eq!(check(without("exp")), Err(ClaimError::Expired));
        assert_eq!(check(with("exp", json!("soon"))), Err(ClaimError::Expired));
        assert_eq!(
            check(with("email_verified", json!(false))),
            Err(ClaimError::EmailUnverified)
        );
        assert_eq!(
            check(with("email_verified", json!("false"))),
            Err(ClaimError::EmailUnverified)
        );
        for garbage in ["garbage", "a.!!!.c", "a.bm90IGpzb24.c"] {
            assert_eq!(
                verified_email(
                    garbage,
                    &Expected {
                        client_id: "client",
                        issuers: &[],
                        now: NOW
                    }
                ),
                Err(ClaimError::Unreadable)
            );
        }
    }
}
