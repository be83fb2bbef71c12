//! Looker hub-token check.
//!
//! Looker sends `Authorization: Token token="<value>"`. The value is either the configured secret
//! itself, or (reference-hub style) `<nonce>/<hex HMAC-SHA512(secret, nonce)>`. Several secrets may
//! be valid at once so a token can be rotated without downtime. Every comparison is constant-time
//! and no header value of any shape can panic.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No authorization header at all.
    #[error("missing hub token: expected an Authorization header of the form Token token=\"...\"")]
    Missing,
    /// A header that is not `Token token="..."`.
    #[error("malformed hub token header: expected Token token=\"...\"")]
    Malformed,
    /// A well-formed token that matches no configured secret.
    #[error("invalid hub token")]
    Invalid,
}

/// The set of currently valid hub secrets (clones share it, so a rotation reaches every user).
#[derive(Clone)]
pub struct HubTokens {
    secrets: std::sync::Arc<std::sync::RwLock<Vec<SecretString>>>,
}

impl std::fmt::Debug for HubTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HubTokens({} secret(s))", self.len())
    }
}

/// Longest token value accepted (a secret plus nonce and hex digest fit easily).
const MAX_TOKEN_LEN: usize = 4096;

impl HubTokens {
    /// Valid secrets; empty strings are ignored.
    pub fn new(secrets: Vec<SecretString>) -> Self {
        let tokens = HubTokens {
            secrets: Default::default(),
        };
        tokens.replace(secrets);
        tokens
    }

    /// Swap in a new set of valid secrets (a rotation read from Secret Manager).
    pub fn replace(&self, secrets: Vec<SecretString>) {
        let secrets = secrets
            .into_iter()
            .filter(|s| !s.expose_secret().is_empty())
            .collect();
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = secrets;
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Vec<SecretString>> {
        self.secrets.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of valid secrets.
    pub fn len(&self) -> usize {
        self.current().len()
    }

    /// Whether no secret is configured.
    pub fn is_empty(&self) -> bool {
        self.current().is_empty()
    }

    /// Check a raw `Authorization` header value.
    pub fn check_header(&self, header: Option<&[u8]>) -> Result<(), AuthError> {
        let raw = header.ok_or(AuthError::Missing)?;
        let token = parse_token_header(raw)?;
        if self.token_matches(token) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }

    /// Whether a token value (already taken out of the header) is valid.
    pub fn token_matches(&self, token: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0u8);
        for secret in self.current().iter() {
            let secret = secret.expose_secret().as_bytes();
            // Compare digests so the comparison does not depend on the length of either side.
            ok |= Sha256::digest(token).ct_eq(&Sha256::digest(secret));
            ok |= subtle::Choice::from(hmac_form_matches(secret, token) as u8);
        }
        ok.into()
    }
}

/// `<nonce>/<hex HMAC-SHA512(secret, nonce)>`, verified in constant time.
fn hmac_form_matches(secret: &[u8], token: &[u8]) -> bool {
    let Some(slash) = token.iter().rposition(|&b| b == b'/') else {
        return false;
    };
    let (nonce, digest_hex) = (&token[..slash], &token[slash + 1..]);
    if nonce.is_empty() {
        return false;
    }
    let Ok(digest) = hex::decode(digest_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret) else {
        return false;
    };
    mac.update(nonce);
    // verify_slice rejects a digest of the wrong length without panicking.
    mac.verify_slice(&digest).is_ok()
}

/// Take the token out of `Token token="value"` (quotes optional, scheme case-insensitive).
pub fn parse_token_header(raw: &[u8]) -> Result<&[u8], AuthError> {
    if raw.len() > MAX_TOKEN_LEN + 32 {
        return Err(AuthError::Malformed);
    }
    let raw = trim(raw);
    let rest = strip_prefix_ci(raw, b"token").ok_or(AuthError::Malformed)?;
    if rest.first().is_none_or(|b| !b.is_ascii_whitespace()) {
        return Err(AuthError::Malformed);
    }
    let rest = trim(rest);
    let rest = strip_prefix_ci(rest, b"token").ok_or(AuthError::Malformed)?;
    let rest = trim(rest);
    let rest = rest.strip_prefix(b"=").ok_or(AuthError::Malformed)?;
    let rest = trim(rest);
    let value = match rest.strip_prefix(b"\"") {
        Some(inner) => inner.strip_suffix(b"\"").ok_or(AuthError::Malformed)?,
        None => rest,
    };
    if value.is_empty() || value.len() > MAX_TOKEN_LEN || value.contains(&b'"') {
        return Err(AuthError::Malformed);
    }
    Ok(value)
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn strip_prefix_ci<'a>(b: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &b[prefix.len()..])
}

/// Build a reference-hub style token (`nonce/hex(HMAC-SHA512(secret, nonce))`), as Looker admins
/// moving from the official hub have configured.
pub fn reference_hub_token(secret: &str, nonce: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(nonce.as_bytes());
    format!("{nonce}/{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &[&str]) -> HubTokens {
        HubTokens::new(
            s.iter()
                .map(|s| SecretString::from(s.to_string()))
                .collect(),
        )
    }

    #[test]
    fn plain_and_hmac_tokens_match_any_configured_secret() {
        let t = tokens(&["old-secret", "new-secret"]);
        assert_eq!(t.check_header(Some(b"Token token=\"new-secret\"")), Ok(()));
        assert_eq!(t.check_header(Some(b"Token token=\"old-secret\"")), Ok(()));
        let h = format!(
            "Token token=\"{}\"",
            reference_hub_token("old-secret", "abc123")
        );
        assert_eq!(t.check_header(Some(h.as_bytes())), Ok(()));
        let h = format!("Token token=\"{}\"", reference_hub_token("other", "abc123"));
        assert_eq!(t.check_header(Some(h.as_bytes())), Err(AuthError::Invalid));
    }

    #[test]
    fn odd_headers_are_refused_not_panicking() {
        let t = tokens(&["s"]);
        for h in [
            &b""[..],
            b"Token",
            b"Token token=",
            b"Token token=\"\"",
            b"Token token=\"s",
            b"Bearer s",
            b"Tokentoken=\"s\"",
            b"Token token=\"/\"",
            b"Token token=\"n/zz\"",
            b"Token token=\"n/00\"",
            b"\xff\xfe",
        ] {
            assert!(t.check_header(Some(h)).is_err(), "{h:?}");
        }
        assert_eq!(t.check_header(None), Err(AuthError::Missing));
        assert_eq!(t.check_header(Some(b"token TOKEN = s ")), Ok(()));
    }
}
