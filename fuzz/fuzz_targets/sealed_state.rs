//! Opening sealed state: the login link's state, the OAuth v2 code hand-off and the user's token
//! bundle in Looker's `state_json`. Arbitrary text never panics and never opens; a genuine sealed
//! value with any change made to it never opens either, and unchanged it opens to what was sealed.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use hub_core::oauth::TokenBundle;
use hub_core::startup::Hub;
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};

static HUB: LazyLock<Hub> = LazyLock::new(|| hub_fuzz::hub(true));

const ACTION: &str = "mark_suspicious";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Arbitrary text where a sealed value is expected.
    Open(&'a str),
    /// A genuine token bundle, then byte changes (position, xor mask) to its sealed text.
    Bundle {
        access_token: String,
        refresh_token: Option<String>,
        expires_at: i64,
        email: Option<String>,
        changes: Vec<(u16, u8)>,
    },
    /// A genuine code hand-off (with the Looker user's email it is bound to, if any), then
    /// changes.
    Handoff {
        code: String,
        email: Option<String>,
        changes: Vec<(u16, u8)>,
    },
}

fn changed(sealed: &str, changes: &[(u16, u8)]) -> Option<String> {
    let mut bytes = sealed.as_bytes().to_vec();
    for &(pos, mask) in changes.iter().take(8) {
        if bytes.is_empty() {
            break;
        }
        let i = pos as usize % bytes.len();
        bytes[i] ^= mask;
    }
    String::from_utf8(bytes).ok()
}

fn state_json(sealed: &str) -> String {
    serde_json::json!({ "hub_tokens": sealed }).to_string()
}

fuzz_target!(|input: Input<'_>| {
    let oauth = HUB.oauth.as_ref().expect("user mode");
    match input {
        Input::Open(text) => {
            assert!(oauth.open_login(ACTION, text).is_err());
            assert!(oauth.open_handoff(ACTION, text).is_err());
            assert!(oauth.open_bundle(ACTION, Some(text)).is_err());
            assert!(oauth.open_bundle(ACTION, Some(&state_json(text))).is_err());
        }
        Input::Bundle {
            access_token,
            refresh_token,
            expires_at,
            email,
            changes,
        } => {
            let bundle = TokenBundle {
                access_token: SecretString::from(access_token.clone()),
                refresh_token: refresh_token.clone().map(SecretString::from),
                expires_at,
                email,
            };
            // Too large to keep is refused at sealing (the hub then says so), never sealed into
            // something that does not open.
            let Ok(stored) = oauth.seal_bundle(ACTION, &bundle) else {
                let size = access_token.len()
                    + refresh_token.as_ref().map_or(0, String::len)
                    + bundle.email.as_ref().map_or(0, String::len);
                assert!(size > 3_000, "a small bundle was refused");
                return;
            };
            let sealed = serde_json::from_str::<serde_json::Value>(&stored).unwrap()["hub_tokens"]
                .as_str()
                .unwrap()
                .to_string();
            let opened = oauth
                .open_bundle(ACTION, Some(&stored))
                .expect("genuine bundle opens");
            assert_eq!(opened.access_token.expose_secret(), access_token);
            assert_eq!(
                opened.refresh_token.as_ref().map(|t| t.expose_secret()),
                refresh_token.as_deref()
            );
            assert_eq!(opened.expires_at, bundle.expires_at);
            assert_eq!(opened.email, bundle.email);
            assert!(oauth.open_bundle("another_action", Some(&stored)).is_err());
            assert!(
                oauth.open_login(ACTION, &sealed).is_err(),
                "a bundle is no login state"
            );
            if let Some(t) = changed(&sealed, &changes) {
                if t != sealed {
                    assert!(
                        oauth.open_bundle(ACTION, Some(&state_json(&t))).is_err(),
                        "an altered bundle opened"
                    );
                }
            }
        }
        Input::Handoff {
            code,
            email,
            changes,
        } => {
            let redir = url::Url::parse("http://127.0.0.1:9/redir").unwrap();
            let Ok(url) = oauth.handoff_url(ACTION, redir, &code, email.as_deref()) else {
                assert!(
                    code.len() + email.as_ref().map_or(0, String::len) > 3_000,
                    "a small code was refused"
                );
                return;
            };
            let sealed = url
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .expect("state in the hand-off URL");
            assert_eq!(oauth.open_handoff(ACTION, &sealed), Ok((code, email)));
            assert!(oauth
                .open_bundle(ACTION, Some(&state_json(&sealed)))
                .is_err());
            if let Some(t) = changed(&sealed, &changes) {
                if t != sealed {
                    assert!(
                        oauth.open_handoff(ACTION, &t).is_err(),
                        "an altered hand-off opened"
                    );
                }
            }
        }
    }
});
