//! Saved logins (the sealed token bundle Looker keeps) survive what happens around them: a state
//! key rotation with instances on both key lists, a rolling deploy that changes the bundle's shape,
//! concurrent refreshes with a provider that rotates refresh tokens. A bundle is cleared only when
//! it opened here and is of no use (expired, another action's or account's); it expires.

use std::time::Duration;

use hub_core::oauth::seal::{Purpose, StateError, StateKeys};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::HubProcess;
use crate::support::oauth::{
    execute_req, field_names, form_req, log_in, login_link, login_v1, looker, provider, random_key,
    user_hub, OAuthClient, ACTION, USER,
};

fn keys(list: &[&str]) -> StateKeys {
    StateKeys::parse(
        &list
            .iter()
            .map(|k| SecretString::from(k.to_string()))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sealed(state_json: &str) -> String {
    serde_json::from_str::<Value>(state_json).unwrap()["hub_tokens"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Looker's state holding `body` sealed as a token bundle with `key` (the envelope expiring
/// `ttl_secs` after `sealed_at`).
fn state_of(key: &str, body: &Value, sealed_at: i64, ttl_secs: u64) -> String {
    let s = keys(&[key])
        .seal(
            Purpose::TokenBundle,
            ACTION,
            Some(Duration::from_secs(ttl_secs)),
            sealed_at,
            body,
        )
        .unwrap();
    json!({ "hub_tokens": s }).to_string()
}

/// The same login with its access token expired (the next use refreshes it).
fn with_expired_access_token(key: &str, state_json: &str) -> String {
    let mut bundle: Value = keys(&[key])
        .open(Purpose::TokenBundle, ACTION, &sealed(state_json), now())
        .unwrap();
    bundle["exp"] = json!(0);
    state_of(key, &bundle, now(), 3600)
}

#[tokio::test]
async fn a_saved_login_expires_after_oauth_login_ttl_days_and_only_then_is_cleared() {
    let p = provider();
    let looker = looker().await;
    let key = random_key();
    let c = OAuthClient::generate();
    let uh = user_hub(&p, &c, &key, &[("OAUTH_LOGIN_TTL_DAYS", "2")]).await;
    p.register(&c, &[uh.redirect_uri()], json!({})).await;
    let state_json = login_v1(&uh, &looker, USER).await;

    // The bundle Looker keeps carries its expiry: two days from the login.
    let k = keys(&[&key]);
    let day = 86_400;
    assert!(k
        .open::<Value>(
            Purpose::TokenBundle,
            ACTION,
            &sealed(&state_json),
            now() + day
        )
        .is_ok());
    assert_eq!(
        k.open::<Value>(
            Purpose::TokenBundle,
            ACTION,
            &sealed(&state_json),
            now() + 2 * day + 5
        ),
        Err(StateError::Expired)
    );

    // A bundle whose lifetime has passed: log in again, and Looker's copy is cleared.
    let bundle: Value = k
        .open(Purpose::TokenBundle, ACTION, &sealed(&state_json), now())
        .unwrap();
    let expired = state_of(&key, &bundle, now() - 3 * day, 2 * day as u64);
    let (_, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&expired)))
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(resp["looker"]["state"]["data"], "reset", "{resp}");
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), Some(&expired)))
        .await;
    login_link(&form);
    assert_eq!(form["state"], json!({"data": ""}), "{form}");
    assert!(uh.hub.marks().is_empty());
}

#[tokio::test]
async fn a_bundle_in_a_shape_or_version_this_hub_does_not_read_is_never_cleared() {
    // A rolling deploy: a newer version sealed the bundle differently. This one cannot use it,
    // asks the user to try again (or log in) and leaves Looker's copy alone.
    let p = provider();
    let looker = looker().await;
    let key = random_key();
    let c = OAuthClient::generate();
    let uh = user_hub(&p, &c, &key, &[]).await;
    p.register(&c, &[uh.redirect_uri()], json!({})).await;
    let newer_shape = state_of(
        &key,
        &json!({"v": 2, "tokens": {"access": "x"}}),
        now(),
        3600,
    );
    let newer_version = {
        // Version byte 2 instead of 1, the rest unchanged.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let mut raw = URL_SAFE_NO_PAD.decode(sealed(&newer_shape)).unwrap();
        raw[0] = 2;
        json!({"hub_tokens": URL_SAFE_NO_PAD.encode(raw)}).to_string()
    };
    let newer_wrapper = json!({"hub_tokens_v2": {"sealed": "x"}}).to_string();
    for state in [&newer_shape, &newer_version, &newer_wrapper] {
        let (_, resp) = uh
            .hub
            .execute(ACTION, &execute_req(&looker.state_url(), Some(state)))
            .await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert!(resp["looker"].get("state").is_none(), "{state}: {resp}");
        assert!(
            resp["looker"]["message"]
                .as_str()
                .unwrap()
                .contains("could not be read by this hub instance"),
            "{resp}"
        );
        let su = looker.state_url();
        let (_, form) = uh.hub.form(ACTION, &form_req(&su, Some(state))).await;
        login_link(&form);
        assert!(form.get("state").is_none(), "{state}: {form}");
        assert!(
            form["fields"][0]["description"]
                .as_str()
                .unwrap()
                .contains("could not be read by this hub instance"),
            "{form}"
        );
        assert!(looker.posts_to(&su).is_empty());
    }
    assert!(uh.hub.marks().is_empty());
}

/// Four executes at once with the same expired login, the provider rotating refresh tokens:
/// one refresh, four writes. Another instance that still presents the old refresh token gets
/// `invalid_grant` — and does not reset the newer login Looker now holds.
#[tokio::test]
async fn concurrent_refreshes_with_a_rotating_provider_refresh_once_and_never_reset_the_newer_login(
) {
    let p = provider();
    let looker = looker().await;
    let key = random_key();
    let c = OAuthClient::generate();
    let a = user_hub(&p, &c, &key, &[]).await;
    let b = user_hub(&p, &c, &key, &[]).await;
    p.register(
        &c,
        &[a.redirect_uri(), b.redirect_uri()],
        json!({"rotate_refresh_tokens": true}),
    )
    .await;
    let login = login_v1(&a, &looker, USER).await;
    let old = with_expired_access_token(&key, &login);

    let req = execute_req(&looker.state_url(), Some(&old));
    let (r1, r2, r3, r4) = tokio::join!(
        a.hub.execute(ACTION, &req),
        a.hub.execute(ACTION, &req),
        a.hub.execute(ACTION, &req),
        a.hub.execute(ACTION, &req)
    );
    for (_, resp) in [&r1, &r2, &r3, &r4] {
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert!(resp["looker"]["state"]["data"].is_string(), "{resp}");
    }
    let stats = p.stats(&c).await;
    assert_eq!(stats["refreshes"], 1, "{stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
    let tokens = a.sink.tokens();
    assert_eq!(tokens.len(), 4);
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one fresh token");
    let newer = r1.1["looker"]["state"]["data"]
        .as_str()
        .unwrap()
        .to_string();

    // Another instance with the old state: the provider refuses the rotated-out refresh token.
    let (_, resp) = b
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&old)))
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        resp["looker"].get("state").is_none(),
        "the newer login is not reset: {resp}"
    );
    let (_, form) = b
        .hub
        .form(ACTION, &form_req(&looker.state_url(), Some(&old)))
        .await;
    login_link(&form);
    assert!(form.get("state").is_none(), "{form}");
    assert_eq!(p.stats(&c).await["rejected"], 2);

    // The newer login works everywhere.
    for hub in [&a, &b] {
        let (_, resp) = hub
            .hub
            .execute(ACTION, &execute_req(&looker.state_url(), Some(&newer)))
            .await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
    }
}

/// The OAuth settings of a real hub binary against the test provider with these state keys.
fn binary_env(p_url: &str, c: &OAuthClient, keys: &str) -> Vec<(String, String)> {
    [
        ("HUB_IDENTITY_MODE", "user"),
        ("OAUTH_CLIENT_ID", c.id.as_str()),
        ("OAUTH_CLIENT_SECRET", c.secret.as_str()),
        ("OAUTH_AUTH_URL", &format!("{p_url}/authorize")),
        ("OAUTH_TOKEN_URL", &format!("{p_url}/token")),
        ("OAUTH_ISSUER", p_url),
        ("OAUTH_STATE_KEYS", keys),
        ("HUB_LOOKER_HOSTS", "127.0.0.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn start(env: &[(String, String)]) -> HubProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    HubProcess::start(&env).await
}

/// A state key rotation with instances on both key lists for the refresh period, on real hub
/// binaries. Access tokens expire at once here, so every use refreshes and reseals the login.
#[tokio::test]
async fn a_key_rotation_with_instances_on_both_key_lists_logs_nobody_out() {
    let p = provider();
    let looker = looker().await;
    let c = OAuthClient::generate();
    let (k1, k2) = (random_key(), random_key());
    // `old`: before the rotation; `opening`: the new key added second (opens, does not seal);
    // `sealing`: the new key first.
    let old = start(&binary_env(&p.url, &c, &k1)).await;
    let opening = start(&binary_env(&p.url, &c, &format!("{k1},{k2}"))).await;
    let sealing = start(&binary_env(&p.url, &c, &format!("{k2},{k1}"))).await;
    let redirects: Vec<String> = [&old, &opening, &sealing]
        .iter()
        .map(|h| format!("{}/oauth_redirect", h.base))
        .collect();
    p.register(&c, &redirects, json!({"access_token_ttl": 0}))
        .await;
    let form_path = format!("/actions/{ACTION}/form");
    let execute_path = format!("/actions/{ACTION}/execute");

    // Logged in on an instance still on the old list.
    let su = looker.state_url();
    let form = old.post_json(&form_path, &form_req(&su, None)).await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 200, "{}", back.body);
    let by_k1 = looker.posts_to(&su)[0].clone();

    // An instance with the new key first refreshes and reseals it with the new key.
    let resp = sealing
        .post_json(
            &execute_path,
            &execute_req(&looker.state_url(), Some(&by_k1)),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let by_k2 = resp["looker"]["state"]["data"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(keys(&[&k2])
        .open::<Value>(Purpose::TokenBundle, ACTION, &sealed(&by_k2), now())
        .is_ok());

    // The procedure of docs/oauth.md: every instance has the new key before any seals with it. An
    // instance in that first step opens the new bundles, and its own open everywhere.
    let resp = opening
        .post_json(
            &execute_path,
            &execute_req(&looker.state_url(), Some(&by_k2)),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let by_opening = resp["looker"]["state"]["data"]
        .as_str()
        .unwrap()
        .to_string();
    for hub in [&old, &sealing] {
        let resp = hub
            .post_json(
                &execute_path,
                &execute_req(&looker.state_url(), Some(&by_opening)),
            )
            .await;
        assert_eq!(resp["looker"]["success"], true, "{}: {resp}", hub.base);
    }

    // Out of order (an instance still on the old list meets a new-key bundle): that request
    // fails, but Looker's copy is kept — nobody is logged out.
    let resp = old
        .post_json(
            &execute_path,
            &execute_req(&looker.state_url(), Some(&by_k2)),
        )
        .await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(resp["looker"].get("state").is_none(), "{resp}");
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("Your login was kept"),
        "{resp}"
    );
    let su = looker.state_url();
    let form = old
        .post_json(&form_path, &form_req(&su, Some(&by_k2)))
        .await;
    assert!(form.get("state").is_none(), "{form}");
    assert!(looker.posts_to(&su).is_empty());
    // The same bundle on an instance that has the new key: still good.
    let form = sealing
        .post_json(&form_path, &form_req(&looker.state_url(), Some(&by_k2)))
        .await;
    assert!(
        field_names(&form).contains(&"classification".to_string()),
        "{form}"
    );
}
