//! What a login must prove before it is stored: the ID token's claims (issuer, audience,
//! expiry, verified email), a v2 code hand-off used once, and provider endpoints over https —
//! against the real OAuth2 test server issuing each bad token.

use serde_json::{json, Value};

use crate::binaries::{bin_dir, free_port};
use crate::helpers::TOKEN;
use crate::support::oauth::{
    form_req, log_in, login_link, looker, provider, query_param, setup, v2_form_req, ACTION, USER,
};

#[tokio::test]
async fn a_v2_hand_off_is_exchanged_once() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({}), &[]).await;
    let redir = format!("{}/action_hub_oauth_redirect/x", looker.base);
    let (_, form) = uh
        .hub
        .form(ACTION, &v2_form_req(&looker.state_url(), &redir))
        .await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
    let path = format!("/actions/{ACTION}/oauth_token");
    let first = uh.hub.post(&path, &json!({"state": handoff})).await;
    assert_eq!(first.status(), 200);
    for _ in 0..3 {
        let again = uh.hub.post(&path, &json!({"state": handoff})).await;
        assert_eq!(again.status(), 400);
        let err: Value = again.json().await.unwrap();
        assert_eq!(
            err["error"],
            "This login has already been exchanged: a login state works once. Open the action again to log in"
        );
    }
    let stats = p.stats(&c).await;
    assert_eq!(
        stats["token_requests"], 1,
        "the provider was asked once: {stats}"
    );
    assert_eq!(stats["codes_redeemed"], 1, "{stats}");
}

/// Each bad ID token the provider can issue: (claims replaced, status, the claim named).
fn bad_tokens() -> Vec<(Value, u16, &'static str)> {
    let past = chrono::Utc::now().timestamp() - 3600;
    vec![
        (json!({"iss": "https://evil.example"}), 502, "`iss` claim"),
        (json!({"iss": null}), 502, "`iss` claim"),
        (json!({"aud": "another-client"}), 502, "`aud` claim"),
        (json!({"aud": ["a", "b"]}), 502, "`aud` claim"),
        (json!({"azp": "another-client"}), 502, "`azp` claim"),
        (json!({"exp": past}), 502, "`exp` claim"),
        (json!({"exp": null}), 502, "`exp` claim"),
        (
            json!({"email_verified": false}),
            403,
            "`email_verified` claim",
        ),
    ]
}

#[tokio::test]
async fn a_v1_login_whose_id_token_fails_a_claim_says_which_and_stores_nothing() {
    let p = provider();
    let looker = looker().await;
    for (claims, status, named) in bad_tokens() {
        let (c, uh) = setup(&p, json!({"id_token_claims": claims}), &[]).await;
        let su = looker.state_url();
        let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
        let (_, back) = log_in(&login_link(&form), USER).await;
        assert_eq!(back.status, status, "{claims}: {}", back.body);
        assert!(
            back.body.contains("The login could not be checked")
                && back.body.contains(named)
                && back.body.contains("Nothing was saved"),
            "{claims}: {}",
            back.body
        );
        assert!(looker.posts_to(&su).is_empty(), "{claims}: stored");
        assert_eq!(p.stats(&c).await["codes_redeemed"], 1);
    }
    // The same provider, but the hub expects another issuer.
    let (_, uh) = setup(
        &p,
        json!({}),
        &[("OAUTH_ISSUER", "https://accounts.google.com")],
    )
    .await;
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 502, "{}", back.body);
    assert!(back.body.contains("`iss` claim"), "{}", back.body);
    assert!(looker.posts_to(&su).is_empty());
    // And the good token, for contrast: stored.
    let (_, uh) = setup(&p, json!({}), &[]).await;
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(looker.posts_to(&su).len(), 1);
}

#[tokio::test]
async fn a_v2_login_whose_id_token_fails_a_claim_gets_no_state() {
    let p = provider();
    let looker = looker().await;
    for (claims, status, named) in bad_tokens() {
        let (_, uh) = setup(&p, json!({"id_token_claims": claims}), &[]).await;
        let redir = format!("{}/action_hub_oauth_redirect/x", looker.base);
        let (_, form) = uh
            .hub
            .form(ACTION, &v2_form_req(&looker.state_url(), &redir))
            .await;
        let (_, back) = log_in(&login_link(&form), USER).await;
        let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
        let r = uh
            .hub
            .post(
                &format!("/actions/{ACTION}/oauth_token"),
                &json!({"state": handoff}),
            )
            .await;
        assert_eq!(r.status(), status, "{claims}");
        let body: Value = r.json().await.unwrap();
        assert!(body.get("hub_tokens").is_none(), "{claims}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{claims}: {body}"
        );
    }
}

#[tokio::test]
async fn provider_endpoints_over_plain_http_are_refused_at_start_except_on_loopback() {
    for (name, url) in [
        ("OAUTH_TOKEN_URL", "http://oauth.example.com/token"),
        ("OAUTH_AUTH_URL", "http://10.0.0.7/authorize"),
    ] {
        let start = tokio::process::Command::new(bin_dir().join("hub"))
            .env_clear()
            .env("PORT", free_port().to_string())
            .env("HUB_TOKENS", TOKEN)
            .env("HUB_IDENTITY_MODE", "user")
            .env("OAUTH_CLIENT_ID", "client")
            .env("OAUTH_CLIENT_SECRET", "secret")
            .env("OAUTH_STATE_KEYS", crate::support::oauth::random_key())
            .env("OAUTH_ISSUER", "https://login.example.com")
            .env("HUB_LOOKER_HOSTS", "looker.example.com")
            .env(name, url)
            .kill_on_drop(true)
            .output();
        // A hub that accepted the setting would keep running: it is stopped after 20 s.
        let out = tokio::time::timeout(std::time::Duration::from_secs(20), start)
            .await
            .unwrap_or_else(|_| panic!("{name}={url}: the hub started"))
            .unwrap();
        assert!(!out.status.success(), "{name}={url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{name} is invalid: must use https")),
            "{name}: {err}"
        );
    }
}
