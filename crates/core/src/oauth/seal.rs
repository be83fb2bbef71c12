//! Sealed state: small values the hub hands to a browser or to Looker and must get back unaltered
//! and unread — the login state in the OAuth link, the OAuth v2 code hand-off and the user's token
//! bundle that Looker keeps for the hub.
//!
//! AES-256-GCM with a random 96-bit nonce per seal; the wire form is
//! `base64url(version ‖ nonce ‖ ciphertext+tag)` without padding. The purpose is authenticated as
//! associated data, so a value sealed for one purpose never opens as another. Inside sit the action
//! name and an optional expiry, checked after the tag: another action's state or an expired one is
//! refused with its own error. Several keys may be valid at once (rotation): seal with the first,
//! open with any.

use std::fmt;
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a login state stays valid unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);

/// Largest sealed value: longer ones are refused before decoding when opening, and never produced
/// when sealing (so whatever the hub seals opens again). It fits, with its JSON wrapper, in the
/// 32 KB Looker keeps as a user's action state.
pub const MAX_SEALED_LEN: usize = 32 * 1024 - 32;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// What a sealed value is for; authenticated, so one purpose's value never opens as another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The `state` of the login link: where to store the user's tokens afterwards.
    Login,
    /// OAuth v2: the provider's code on its way through Looker back to `oauth_token`.
    CodeHandoff,
    /// The user's token bundle, kept by Looker as the action's per-user state.
    TokenBundle,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::Login => b"looker-action-hub/state/login",
            Purpose::CodeHandoff => b"looker-action-hub/state/code-handoff",
            Purpose::TokenBundle => b"looker-action-hub/state/token-bundle",
        }
    }
}

/// Why a sealed value was refused. The messages are safe to show to a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not something this hub produces (bad encoding, wrong length, unknown version).
    #[error("the state is malformed")]
    Malformed,
    /// No valid key opens it: altered, sealed for another purpose, or by a key no longer configured.
    #[error("the state was altered or was not issued by this hub")]
    Tampered,
    /// Its expiry has passed.
    #[error("the state has expired")]
    Expired,
    /// It was sealed for another action.
    #[error("the state belongs to another action")]
    OtherAction,
    /// Sealing refused: the sealed value would be longer than [`MAX_SEALED_LEN`].
    #[error("the value is too large to be kept as state")]
    TooLarge,
}

/// A state key setting that cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key was given.
    #[error("no state key is configured")]
    Empty,
    /// Key number `index` (1-based) is not 32 bytes of base64.
    #[error(
        "state key #{index} is not 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)"
    )]
    Invalid {
        /// 1-based position in the list.
        index: usize,
    },
}

/// The configured state keys: the first seals, every one opens.
#[derive(Clone)]
pub struct StateKeys {
    ciphers: Vec<Aes256Gcm>,
}

impl fmt::Debug for StateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateKeys({} key(s))", self.ciphers.len())
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    /// Action name.
    a: &'a str,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<i64>,
    /// The value.
    b: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    a: String,
    #[serde(default)]
    e: Option<i64>,
    b: T,
}

impl StateKeys {
    /// Keys from their base64 text (standard or URL alphabet, padding optional), 32 bytes each.
    pub fn parse(keys: &[SecretString]) -> Result<StateKeys, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let ciphers = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let bytes = decode_key(k.expose_secret().trim())
                    .ok_or(KeyError::Invalid { index: i + 1 })?;
                Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StateKeys { ciphers })
    }

    /// One fresh random key (for local runs without configured keys).
    pub fn random() -> StateKeys {
        StateKeys {
            ciphers: vec![Aes256Gcm::new(&Aes256Gcm::generate_key(OsRng))],
        }
    }

    /// Seal `body` for `purpose` and `action`, valid for `ttl` from `now` (Unix seconds), or
    /// without expiry when `ttl` is `None`. Refused when the result would be too long to open.
    pub fn seal<T: Serialize>(
        &self,
        purpose: Purpose,
        action: &str,
        ttl: Option<Duration>,
        now: i64,
        body: &T,
    ) -> Result<String, StateError> {
        let envelope = EnvelopeOut {
            a: action,
            e: ttl.map(|t| now.saturating_add(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))),
            b: body,
        };
        // Serializing plain data structs cannot fail; an empty body would still be refused on open.
        let plain = serde_json::to_vec(&envelope).unwrap_or_default();
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.ciphers[0]
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: purpose.aad(),
                },
            )
            // Encryption only fails for messages beyond GCM's 64 GiB limit.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        let text = URL_SAFE_NO_PAD.encode(out);
        if text.len() > MAX_SEALED_LEN {
            return Err(StateError::TooLarge);
        }
        Ok(text)
    }

    /// Open a value sealed for `purpose` and `action`; `now` is Unix seconds.
    pub fn open<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        action: &str,
        sealed: &str,
        now: i64,
    ) -> Result<T, StateError> {
        let (sealed_for, body) = self.open_with_action(purpose, sealed, now)?;
        if sealed_for != action {
            return Err(StateError::OtherAction);
        }
        Ok(body)
    }

    /// Open a value sealed for `purpose` and return it with the action it was sealed for (the
    /// hub-wide OAuth callback learns the action from the state itself).
    pub fn open_with_action<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        sealed: &str,
        now: i64,
    ) -> Result<(String, T), StateError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(StateError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .map_err(|_| StateError::Malformed)?;
        if raw.len() < 1 + NONCE_LEN + TAG_LEN || raw[0] != VERSION {
            return Err(StateError::Malformed);
        }
        let nonce = Nonce::from_slice(&raw[1..1 + NONCE_LEN]);
        let msg = &raw[1 + NONCE_LEN..];
        let plain = self
            .ciphers
            .iter()
            .find_map(|c| {
                c.decrypt(
                    nonce,
                    Payload {
                        msg,
                        aad: purpose.aad(),
                    },
                )
                .ok()
            })
            .ok_or(StateError::Tampered)?;
        // Authentic but unreadable means a newer hub sealed it with a shape this one does not know.
        let envelope: EnvelopeIn<T> =
            serde_json::from_slice(&plain).map_err(|_| StateError::Malformed)?;
        if envelope.e.is_some_and(|exp| now >= exp) {
            return Err(StateError::Expired);
        }
        Ok((envelope.a, envelope.b))
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> StateKeys {
        StateKeys::parse(
            &list
                .iter()
                .map(|k| SecretString::from(k.to_string()))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef" x2
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"; // unpadded

    #[test]
    fn round_trip() {
        let k = keys(&[K1]);
        let s = k
            .seal(
                Purpose::Login,
                "mark",
                Some(DEFAULT_TTL),
                1000,
                &"https://looker/x".to_string(),
            )
            .unwrap();
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        let v: String = k.open(Purpose::Login, "mark", &s, 1001).unwrap();
        assert_eq!(v, "https://looker/x");
    }

    #[test]
    fn nonces_differ() {
        let k = keys(&[K1]);
        assert_ne!(
            k.seal(Purpose::Login, "a", None, 0, &1).unwrap(),
            k.seal(Purpose::Login, "a", None, 0, &1).unwrap()
        );
    }

    #[test]
    fn rotation_seals_with_first_opens_with_any() {
        let old = keys(&[K1]);
        let rotated = keys(&[K2, K1]);
        let s = old.seal(Purpose::TokenBundle, "a", None, 0, &7u32).unwrap();
        assert_eq!(rotated.open::<u32>(Purpose::TokenBundle, "a", &s, 0), Ok(7));
        let s2 = rotated
            .seal(Purpose::TokenBundle, "a", None, 0, &8u32)
            .unwrap();
        assert_eq!(
            old.open::<u32>(Purpose::TokenBundle, "a", &s2, 0),
            Err(StateError::Tampered)
        );
        assert_eq!(
            keys(&[K2]).open::<u32>(Purpose::TokenBundle, "a", &s2, 0),
            Ok(8)
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let k = keys(&[K1]);
        let s = k.seal(Purpose::Login, "a", None, 0, &"x").unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        for i in 0..raw.len() * 8 {
            let mut t = raw.clone();
            t[i / 8] ^= 1 << (i % 8);
            let r = k.open::<String>(Purpose::Login, "a", &URL_SAFE_NO_PAD.encode(&t), 0);
            assert!(
                matches!(r, Err(StateError::Tampered | StateError::Malformed)),
                "bit {i}: {r:?}"
            );
        }
    }

    #[test]
    fn purpose_action_and_expiry_are_enforced() {
        let k = keys(&[K1]);
        let s = k
            .seal(
                Purpose::Login,
                "a",
                Some(Duration::from_secs(600)),
                1000,
                &"x",
            )
            .unwrap();
        assert_eq!(
            k.open::<String>(Purpose::TokenBundle, "a", &s, 1000),
            Err(StateError::Tampered)
        );
        assert_eq!(
            k.open::<String>(Purpose::Login, "b", &s, 1000),
            Err(StateError::OtherAction)
        );
        assert_eq!(
            k.open::<String>(Purpose::Login, "a", &s, 1599),
            Ok("x".into())
        );
        assert_eq!(
            k.open_with_action::<String>(Purpose::Login, &s, 1599),
            Ok(("a".into(), "x".into()))
        );
        assert_eq!(
            k.open_with_action::<String>(Purpose::Login, &s, 1600),
            Err(StateError::Expired)
        );
        assert_eq!(
            k.open::<String>(Purpose::Login, "a", &s, 1600),
            Err(StateError::Expired)
        );
    }

    #[test]
    fn whatever_is_sealed_opens_and_too_large_values_are_refused_at_sealing() {
        // Found by fuzzing (fuzz/ sealed_state): a large enough value (here NULs, 6 bytes each in
        // JSON) used to seal into a text longer than opening accepts, so it could never be used.
        let k = keys(&[K1]);
        let fits = "abcdefgh".repeat(2_500);
        let s = k.seal(Purpose::TokenBundle, "a", None, 0, &fits).unwrap();
        assert!(s.len() <= MAX_SEALED_LEN);
        assert_eq!(k.open(Purpose::TokenBundle, "a", &s, 0), Ok(fits));
        for too_large in ["\u{0}".repeat(6_000), "abcdefgh".repeat(4_000)] {
            assert_eq!(
                k.seal(Purpose::TokenBundle, "a", None, 0, &too_large),
                Err(StateError::TooLarge)
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let k = keys(&[K1]);
        for g in ["", "reset", "!!!", "AAAA", &"A".repeat(MAX_SEALED_LEN + 1)] {
            assert_eq!(
                k.open::<String>(Purpose::Login, "a", g, 0),
                Err(StateError::Malformed),
                "{g:.20}"
            );
        }
    }

    #[test]
    fn bad_keys_are_named_by_position_only() {
        let bad = ["not base64!", "c2hvcnQ="];
        for b in bad {
            let e = StateKeys::parse(&[
                SecretString::from(K1.to_string()),
                SecretString::from(b.to_string()),
            ])
            .unwrap_err();
            assert_eq!(e, KeyError::Invalid { index: 2 });
            assert!(!e.to_string().contains(b));
        }
        assert_eq!(StateKeys::parse(&[]).unwrap_err(), KeyError::Empty);
        assert_eq!(format!("{:?}", keys(&[K1, K2])), "StateKeys(2 key(s))");
    }
}
