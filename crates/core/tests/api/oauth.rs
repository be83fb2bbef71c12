//! User identity mode (OAuth) against the real OAuth2 server started by
//! `scripts/services/oauth.sh` (`OAUTH_SERVER_URL`). The tests play Looker (a `state_url`
//! receiver on 127.0.0.1), the user's browser (following redirects by hand) and the admin.

use std::time::{Duration, Instant};

use hub_core::oauth::seal::{Purpose, StateKeys};
use hub_core::routes::Function;
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use crate::helpers::TestHub;
use crate::support::oauth::{
    blackhole, browse_login, browser, execute_req, field_names, form_req, get, log_in, login_link,
    login_v1, login_v1_to, looker, oauth_actions, provider, query_param, random_key, setup,
    user_hub, user_hub_on, v2_form_req, with_query, OAuthClient, ACTION, USER,
};

#[tokio::test]
async fn v1_login_end_to_end_then_the_write_carries_the_users_token() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({}), &[]).await;

    let def: Value = uh
        .hub
        .post(&format!("/actions/{ACTION}"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(def["uses_oauth"], true, "{def}");
    assert_eq!(
        def["token_url"],
        format!("{}/actions/{ACTION}/oauth_token", uh.hub.address)
    );

    // No state yet: the form is the login link.
    let su = looker.state_url();
    let (status, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    assert_eq!(status, 200);
    let link = login_link(&form);
    assert_eq!(form["fields"][0]["label"], "Log in");
    assert_eq!(
        form["fields"][0]["description"],
        "This action writes with your own identity. Log in once, then open the action again."
    );
    let prefix = format!("{}/actions/{ACTION}/oauth?state=", uh.hub.address);
    assert!(link.starts_with(&prefix), "{link}");

    let (authorize, back) = log_in(&link, USER).await;
    assert_eq!(
        authorize.as_str().split('?').next().unwrap(),
        format!("{}/authorize", p.url)
    );
    let param = |k: &str| query_param(authorize.as_str(), k).unwrap_or_default();
    assert_eq!(param("client_id"), c.id);
    assert_eq!(param("redirect_uri"), uh.redirect_uri());
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("access_type"), "offline");
    assert_eq!(param("prompt"), "consent");
    assert_eq!(
        param("scope"),
        "https://www.googleapis.com/auth/bigquery openid email"
    );
    assert_eq!(param("state"), link[prefix.len()..].to_string());
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.contains("You are logged in"), "{}", back.body);

    // Looker received the sealed bundle once; no token readable in it.
    let posts = looker.posts_to(&su);
    assert_eq!(posts.len(), 1);
    let state_json = posts[0].clone();
    assert!(serde_json::from_str::<Value>(&state_json).unwrap()["hub_tokens"].is_string());
    for secret in p.issued(&c).await {
        assert!(
            !state_json.contains(&secret),
            "a token is readable in Looker's state"
        );
    }

    // With the state, the form is the action's own.
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(
        field_names(&form),
        ["id", "classification", "comment"],
        "{form}"
    );
    assert!(form.get("state").is_none());

    // Execute writes with the user's own access token.
    let (status, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert!(
        resp["looker"].get("state").is_none(),
        "no refresh, no new state: {resp}"
    );
    let tokens = uh.sink.tokens();
    assert_eq!(tokens.len(), 1);
    let token = tokens[0]
        .clone()
        .expect("a user credential, not the service identity");
    let info = p.token_info(&token).await;
    assert_eq!(
        info["client_id"], c.id,
        "the provider issued this token to the hub's client: {info}"
    );
    assert_eq!(info["user"], USER);
    assert_eq!(info["expired"], false);
    let marks = uh.hub.marks();
    assert_eq!(marks.len(), 1);
    assert_eq!(
        marks[0]["acted_by"], USER,
        "the OAuth identity, not the user attribute"
    );

    let stats = p.stats(&c).await;
    assert_eq!(stats["codes_redeemed"], 1, "{stats}");
    assert_eq!(stats["refreshes"], 0, "{stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_new_state_handed_back() {
    let p = provider();
    let looker = looker().await;
    // Access tokens that expire at once: every use needs a refresh.
    let (c, uh) = setup(&p, json!({"access_token_ttl": 0}), &[]).await;
    let state_json = login_v1(&uh, &looker, USER).await;

    let (_, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let renewed = resp["looker"]["state"]["data"]
        .as_str()
        .expect("the refreshed bundle as new state")
        .to_string();
    assert_ne!(renewed, state_json);
    let token = uh.sink.tokens()[0].clone().unwrap();
    assert_eq!(p.token_info(&token).await["user"], USER);
    assert_eq!(p.stats(&c).await["refreshes"], 1);
    for secret in p.issued(&c).await {
        assert!(!renewed.contains(&secret));
    }

    // The renewed state still holds the refresh token (the provider sent no new one).
    let (_, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&renewed)))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(p.stats(&c).await["refreshes"], 2);
    let tokens = uh.sink.tokens();
    assert_ne!(
        tokens[0], tokens[1],
        "each write used the token just refreshed"
    );

    // A form with an expired token: the action's form, and the renewed bundle goes back to
    // Looker through the request's state_url (and as the form's state).
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, Some(&renewed))).await;
    assert_eq!(
        field_names(&form),
        ["id", "classification", "comment"],
        "{form}"
    );
    let posted = looker.posts_to(&su);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(form["state"]["data"], posted[0]);
    assert_eq!(p.stats(&c).await["refreshes"], 3);
}

#[tokio::test]
async fn a_refused_refresh_or_an_unusable_state_asks_for_a_login_again() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({"access_token_ttl": 0}), &[]).await;
    let state_json = login_v1(&uh, &looker, USER).await;
    // The user revokes the hub's access at the provider.
    p.revoke_all(&c).await;

    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, Some(&state_json))).await;
    login_link(&form);
    // Not cleared: with a provider that rotates refresh tokens, a refused refresh may only mean
    // that another request renewed the login, and Looker holds the newer bundle.
    assert!(form.get("state").is_none(), "{form}");
    assert!(looker.posts_to(&su).is_empty());

    let (status, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        resp["looker"]["message"].as_str().unwrap().contains("log"),
        "{resp}"
    );
    assert!(resp["looker"].get("state").is_none(), "{resp}");
    assert!(uh.hub.marks().is_empty());
    assert!(uh.sink.tokens().is_empty());
    assert_eq!(
        p.stats(&c).await["rejected"],
        2,
        "both refreshes were refused by the provider"
    );

    // Every kind of unusable state gets the login link; execute refuses without writing.
    let login_state = query_param(&login_link(&form), "state").unwrap();
    let other_purpose = json!({"hub_tokens": login_state}).to_string();
    let reference_hub = json!({"tokens": {"access_token": "x"}, "redirect": "y"}).to_string();
    for bad in [
        "reset",
        "",
        "null",
        "{not json",
        &reference_hub,
        &other_purpose,
    ] {
        let (_, form) = uh
            .hub
            .form(ACTION, &form_req(&looker.state_url(), Some(bad)))
            .await;
        login_link(&form);
        // What does not open here is never cleared: another instance (or version) may read it;
        // the user's next login replaces it.
        assert!(form.get("state").is_none(), "{bad}: {form}");
        let (_, resp) = uh
            .hub
            .execute(ACTION, &execute_req(&looker.state_url(), Some(bad)))
            .await;
        assert_eq!(resp["looker"]["success"], false, "{bad}: {resp}");
        assert!(resp["looker"].get("state").is_none(), "{bad}: {resp}");
    }
    assert!(uh.hub.marks().is_empty());
}

#[tokio::test]
async fn tampered_expired_and_other_action_states_are_refused() {
    let p = provider();
    let looker = looker().await;
    let key = random_key();
    let c = OAuthClient::generate();
    let uh = user_hub(&p, &c, &key, &[("OAUTH_STATE_TTL_SECS", "1")]).await;
    p.register(&c, &[uh.redirect_uri()], json!({})).await;
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let link = login_link(&form);
    let state = query_param(&link, "state").unwrap();
    let b = browser();
    let initiate = |s: &str| {
        with_query(
            &format!("{}/actions/{ACTION}/oauth", uh.hub.address),
            &[("state", s)],
        )
    };

    // One character changed.
    let mut chars: Vec<char> = state.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let a = get(&b, &initiate(&tampered)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("not valid") && a.location.is_none(),
        "{}",
        a.body
    );

    // Sealed with the hub's own key, but for another action.
    let keys = StateKeys::parse(&[SecretString::from(key.clone())]).unwrap();
    let now = chrono::Utc::now().timestamp();
    let other = keys
        .seal(
            Purpose::Login,
            "some_other_action",
            Some(Duration::from_secs(600)),
            now,
            &json!({"su": su, "em": USER, "id": "other-action-login", "x": now + 600}),
        )
        .unwrap();
    let a = get(&b, &initiate(&other)).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("another action"), "{}", a.body);

    // Not a login state at all: garbage, missing.
    assert_eq!(get(&b, &initiate("garbage")).await.status, 400);
    assert_eq!(
        get(&b, &format!("{}/actions/{ACTION}/oauth", uh.hub.address))
            .await
            .status,
        400
    );
    assert_eq!(
        get(
            &b,
            &format!("{}/actions/nope/oauth?state={state}", uh.hub.address)
        )
        .await
        .status,
        404
    );

    // The provider's redirect with a real code but a forged state: the code is never exchanged.
    for forged in [&tampered, &other] {
        let code = p.code_for(&c, &uh.redirect_uri(), forged).await;
        let cb = with_query(&uh.redirect_uri(), &[("code", &code), ("state", forged)]);
        assert_eq!(get(&b, &cb).await.status, 400);
    }

    // Expired (the TTL is one second here).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = get(&b, &link).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("expired"), "{}", a.body);

    assert_eq!(
        p.stats(&c).await["token_requests"],
        0,
        "no code was exchanged"
    );
    assert_eq!(looker.post_count(), 0, "nothing was sent to Looker");
}

#[tokio::test]
async fn a_state_url_on_a_foreign_host_is_refused_and_nothing_is_sent() {
    let p = provider();
    let looker = looker().await;
    let key = random_key();
    let c = OAuthClient::generate();
    // `localhost` reaches the same receiver, but only hub B lists it as a Looker host.
    let strict = user_hub(&p, &c, &key, &[("HUB_LOOKER_HOSTS", "127.0.0.1")]).await;
    let lax = user_hub(&p, &c, &key, &[("HUB_LOOKER_HOSTS", "127.0.0.1,localhost")]).await;
    p.register(&c, &[strict.redirect_uri(), lax.redirect_uri()], json!({}))
        .await;
    let foreign_url = looker.state_url().replace("127.0.0.1", "localhost");

    // The form refuses to make a login link for it.
    let (status, form) = strict.hub.form(ACTION, &form_req(&foreign_url, None)).await;
    assert_eq!(status, 200);
    assert!(
        form["error"]
            .as_str()
            .unwrap()
            .contains("not a configured Looker host"),
        "{form}"
    );
    assert!(
        form["fields"].as_array().is_none_or(|f| f.is_empty()),
        "{form}"
    );

    // A login state naming it (sealed by the other hub with the same key) is refused by
    // initiate, and by the callback before the code is exchanged.
    let (_, form) = lax.hub.form(ACTION, &form_req(&foreign_url, None)).await;
    let state = query_param(&login_link(&form), "state").unwrap();
    let b = browser();
    let initiate = with_query(
        &format!("{}/actions/{ACTION}/oauth", strict.hub.address),
        &[("state", &state)],
    );
    let a = get(&b, &initiate).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("localhost is not a configured Looker host"),
        "{}",
        a.body
    );
    let code = p.code_for(&c, &strict.redirect_uri(), &state).await;
    let cb = with_query(
        &strict.redirect_uri(),
        &[("code", &code), ("state", &state)],
    );
    let a = get(&b, &cb).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("nothing was sent"), "{}", a.body);

    assert_eq!(
        p.stats(&c).await["token_requests"],
        0,
        "the code was not exchanged"
    );
    assert_eq!(looker.post_count(), 0, "nothing reached the receiver");
}

#[tokio::test]
async fn v2_login_end_to_end_through_oauth_token() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({}), &[]).await;
    let redir = format!(
        "{}/action_hub_oauth_redirect/{}",
        looker.base,
        uuid::Uuid::new_v4()
    );
    let body = v2_form_req(&looker.state_url(), &redir);
    let (_, form) = uh.hub.form(ACTION, &body).await;
    let (_, back) = log_in(&login_link(&form), USER).await;

    // The browser goes back to Looker with the code sealed in `state`; nothing was exchanged yet.
    assert_eq!(back.status, 302, "{}", back.body);
    let location = back.location.unwrap();
    assert!(
        location.starts_with(&format!("{redir}?state=")),
        "{location}"
    );
    let handoff = query_param(&location, "state").unwrap();
    assert_eq!(p.stats(&c).await["token_requests"], 0);
    for secret in p.issued(&c).await {
        assert!(!location.contains(&secret), "the code is sealed");
    }

    // Looker exchanges it through the hub (hub token required).
    let path = format!("/actions/{ACTION}/oauth_token");
    let r = uh
        .hub
        .post_with_auth(&path, &json!({"state": handoff}), None)
        .await;
    assert_eq!(r.status(), 403);
    let r = uh.hub.post(&path, &json!({"state": handoff})).await;
    assert_eq!(r.status(), 200);
    let state_json = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&state_json).unwrap()["hub_tokens"].is_string(),
        "{state_json}"
    );

    let (_, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let token = uh.sink.tokens()[0].clone().unwrap();
    assert_eq!(p.token_info(&token).await["user"], USER);
    assert_eq!(looker.post_count(), 0, "v2 posts nothing to a state_url");

    // The hand-off is single use (the provider is not asked again); forged hand-offs never
    // reach it.
    let r = uh
        .hub
        .post(&path, &json!({"data": {"state": handoff}}))
        .await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("This login has already been exchanged"),
        "{err}"
    );
    let r = uh.hub.post(&path, &json!({"state": "forged"})).await;
    assert_eq!(r.status(), 400);
    let r = uh.hub.post(&path, &json!({})).await;
    assert_eq!(r.status(), 400);
    let stats = p.stats(&c).await;
    assert_eq!(stats["codes_redeemed"], 1, "{stats}");
    assert_eq!(stats["token_requests"], 1, "{stats}");
}

#[tokio::test]
async fn provider_errors_and_timeouts_are_answered_in_bounded_time() {
    let p = provider();
    let looker = looker().await;

    // The user declines on the consent screen.
    let (_, uh) = setup(&p, json!({"deny": true}), &[]).await;
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), None))
        .await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 403);
    assert!(
        back.body.contains("Access was not granted"),
        "{}",
        back.body
    );

    // The token endpoint fails (503).
    let (c, uh) = setup(
        &p,
        json!({"token_error": {"status": 503, "body": {"error": "backend_error"}}}),
        &[],
    )
    .await;
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), None))
        .await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 502, "{}", back.body);
    assert!(
        back.body.contains("HTTP 503") && !back.body.contains(&c.secret),
        "{}",
        back.body
    );

    // The hub has the wrong client secret: refused as invalid_client; neither secret shown.
    let c = OAuthClient::generate();
    let uh = user_hub(
        &p,
        &c,
        &random_key(),
        &[("OAUTH_CLIENT_SECRET", "the-wrong-secret")],
    )
    .await;
    p.register(&c, &[uh.redirect_uri()], json!({})).await;
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), None))
        .await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 400);
    assert!(back.body.contains("invalid_client"), "{}", back.body);
    assert!(!back.body.contains("the-wrong-secret") && !back.body.contains(&c.secret));

    // Looker's state_url does not answer (nothing listens there).
    let (_, uh) = setup(&p, json!({}), &[]).await;
    let dead = format!(
        "http://127.0.0.1:{}/action_hub_state/x",
        crate::binaries::free_port()
    );
    let (_, form) = uh.hub.form(ACTION, &form_req(&dead, None)).await;
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 502);
    assert!(back.body.contains("could not be saved"), "{}", back.body);

    // The token endpoint never answers: the callback gives up after OAUTH_TIMEOUT_MS.
    let hole = blackhole().await;
    let (c, uh) = setup(
        &p,
        json!({}),
        &[("OAUTH_TOKEN_URL", &hole), ("OAUTH_TIMEOUT_MS", "700")],
    )
    .await;
    let (_, form) = uh
        .hub
        .form(ACTION, &form_req(&looker.state_url(), None))
        .await;
    let started = Instant::now();
    let (_, back) = log_in(&login_link(&form), USER).await;
    assert_eq!(back.status, 504, "{}", back.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A refresh that never answers: execute and form answer in time, keep the state, write nothing.
    let key = random_key();
    let c2 = OAuthClient::generate();
    let good = user_hub(&p, &c2, &key, &[]).await;
    let stuck = user_hub(
        &p,
        &c2,
        &key,
        &[("OAUTH_TOKEN_URL", &hole), ("OAUTH_TIMEOUT_MS", "700")],
    )
    .await;
    p.register(&c2, &[good.redirect_uri()], json!({"access_token_ttl": 0}))
        .await;
    let state_json = login_v1(&good, &looker, USER).await;
    let started = Instant::now();
    let (status, resp) = stuck
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("try again"),
        "{resp}"
    );
    assert!(
        resp["looker"].get("state").is_none(),
        "a provider outage does not drop the login: {resp}"
    );
    let (_, form) = stuck
        .hub
        .form(ACTION, &form_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert!(
        form["error"].as_str().unwrap().contains("did not answer"),
        "{form}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(stuck.hub.marks().is_empty());
    assert_eq!(
        p.stats(&c).await["token_requests"],
        0,
        "the timed-out exchange never reached the provider"
    );
    assert_eq!(
        p.stats(&c2).await["token_requests"],
        1,
        "only the good hub's code exchange did"
    );
}

#[tokio::test]
async fn service_mode_offers_no_login() {
    let hub = TestHub::spawn().await;
    let def: Value = hub
        .post(&format!("/actions/{ACTION}"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(def["uses_oauth"], false);
    assert!(def.get("token_url").is_none());
    let a = get(
        &browser(),
        &format!("{}/actions/{ACTION}/oauth?state=x", hub.address),
    )
    .await;
    assert_eq!(a.status, 501);
    assert!(a.body.contains("OAuth is not configured"), "{}", a.body);
    let r = hub
        .post(
            &format!("/actions/{ACTION}/oauth_token"),
            &json!({"state": "x"}),
        )
        .await;
    assert_eq!(r.status(), 501);
}

#[tokio::test]
async fn every_oauth_action_logs_in_through_the_one_registered_callback_url() {
    // The OAuth client lists exactly one redirect URI: {hub}/oauth_redirect.
    let p = provider();
    let looker = looker().await;
    let (_, uh) = setup(&p, json!({}), &[]).await;
    for action in oauth_actions(&uh).await {
        let (authorize, state_json) = login_v1_to(&uh, &looker, &action, USER).await;
        assert_eq!(
            query_param(authorize.as_str(), "redirect_uri").unwrap(),
            format!("{}/oauth_redirect", uh.hub.address)
        );
        // Logged in: the action's own form now, not the login link.
        let (_, form) = uh
            .hub
            .form(&action, &form_req(&looker.state_url(), Some(&state_json)))
            .await;
        assert!(
            field_names(&form).contains(&"classification".to_string()),
            "{action}: {form}"
        );
        // The bundle is the action's own: another action does not accept it.
        let other = if action == ACTION {
            "writeback_batch"
        } else {
            ACTION
        };
        let (_, form) = uh
            .hub
            .form(other, &form_req(&looker.state_url(), Some(&state_json)))
            .await;
        login_link(&form);
    }
    // v2 goes through the same callback.
    for action in oauth_actions(&uh).await {
        let redir = format!(
            "{}/action_hub_oauth_redirect/{}",
            looker.base,
            uuid::Uuid::new_v4()
        );
        let body = v2_form_req(&looker.state_url(), &redir);
        let (_, form) = uh.hub.form(&action, &body).await;
        let (authorize, back) = log_in(&login_link(&form), USER).await;
        assert!(authorize.as_str().contains("redirect_uri="));
        assert_eq!(back.status, 302, "{action}: {}", back.body);
        let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
        let r = uh
            .hub
            .post(
                &format!("/actions/{action}/oauth_token"),
                &json!({"state": handoff}),
            )
            .await;
        assert_eq!(r.status(), 200, "{action}");
    }
}

#[tokio::test]
async fn an_oauth_client_that_lists_the_older_per_action_callback_keeps_working() {
    // An admin who registered {hub}/actions/mark_suspicious/oauth_redirect earlier sets
    // OAUTH_REDIRECT_URI to it: every action's login then comes back through that path.
    let p = provider();
    let looker = looker().await;
    let c = OAuthClient::generate();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let legacy = format!("http://127.0.0.1:{port}/actions/{ACTION}/oauth_redirect");
    let uh = user_hub_on(
        listener,
        &p,
        &c,
        &random_key(),
        &[("OAUTH_REDIRECT_URI", &legacy)],
    )
    .await;
    p.register(&c, std::slice::from_ref(&legacy), json!({}))
        .await;
    for action in oauth_actions(&uh).await {
        let (authorize, _) = login_v1_to(&uh, &looker, &action, USER).await;
        assert_eq!(
            query_param(authorize.as_str(), "redirect_uri").unwrap(),
            legacy
        );
    }
}

#[tokio::test]
async fn with_google_the_login_field_is_the_sign_in_with_google_button() {
    // The default provider is Google; the form is built without calling it.
    let hub = TestHub::spawn_with(
        &[
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", "client.apps.googleusercontent.com"),
            ("OAUTH_CLIENT_SECRET", "unused"),
            ("OAUTH_STATE_KEYS", &random_key()),
            ("HUB_LOOKER_HOSTS", "127.0.0.1"),
        ],
        Function::ALL,
    )
    .await;
    let (status, form) = hub
        .form(
            ACTION,
            &form_req("http://127.0.0.1:9/action_hub_state/x", None),
        )
        .await;
    assert_eq!(status, 200);
    let field = &form["fields"][0];
    assert_eq!(field["type"], "oauth_link_google", "{form}");
    assert_eq!(field["label"], "Log in with Google", "{form}");
    assert!(form.get("state").is_none(), "nothing to clear: {form}");
}

#[tokio::test]
async fn in_a_real_browser_every_oauth_action_logs_in_v1_and_v2_through_the_one_callback() {
    let p = provider();
    let looker = looker().await;
    let (_, uh) = setup(&p, json!({}), &[]).await;
    for action in oauth_actions(&uh).await {
        // v1: the hub stores the user's state through Looker's state_url and shows its page.
        let su = looker.state_url();
        let (_, form) = uh.hub.form(&action, &form_req(&su, None)).await;
        let page = browse_login(&login_link(&form), &format!("{action}-v1")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.url
                .starts_with(&format!("{}/oauth_redirect?", uh.hub.address)),
            "{}",
            page.url
        );
        assert_eq!(page.title, "You are logged in");
        assert_eq!(
            page.text.trim(),
            "You are logged in\n\nClose this tab and return to Looker: open the action again to use it."
        );
        let posts = looker.posts_to(&su);
        assert_eq!(posts.len(), 1, "{action}: one state POST: {posts:?}");
        let state: Value = serde_json::from_str(&posts[0]).unwrap();
        assert!(state["hub_tokens"].is_string(), "{state}");
        let (_, form) = uh
            .hub
            .form(&action, &form_req(&looker.state_url(), Some(&posts[0])))
            .await;
        assert!(
            field_names(&form).contains(&"classification".to_string()),
            "{form}"
        );
        for shot in &page.screenshots {
            assert!(
                std::fs::metadata(shot)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{shot}"
            );
        }

        // v2: the browser lands on Looker's state_redir_url with the sealed code; Looker then
        // exchanges it through the hub.
        let redir = format!(
            "{}/action_hub_oauth_redirect/{}",
            looker.base,
            uuid::Uuid::new_v4()
        );
        let body = v2_form_req(&looker.state_url(), &redir);
        let (_, form) = uh.hub.form(&action, &body).await;
        let page = browse_login(&login_link(&form), &format!("{action}-v2")).await;
        assert!(
            page.url.starts_with(&format!("{redir}?state=")),
            "{}",
            page.url
        );
        let handoff = query_param(&page.url, "state").unwrap();
        let received = looker
            .posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(uri, _)| uri.starts_with(&Url::parse(&redir).unwrap().path().to_string()))
            .count();
        assert_eq!(
            received, 1,
            "{action}: Looker's state_redir_url was opened once"
        );
        let r = uh
            .hub
            .post(
                &format!("/actions/{action}/oauth_token"),
                &json!({"state": handoff}),
            )
            .await;
        assert_eq!(r.status(), 200, "{action}");
        let state_json = r.text().await.unwrap();
        let (_, form) = uh
            .hub
            .form(&action, &form_req(&looker.state_url(), Some(&state_json)))
            .await;
        assert!(
            field_names(&form).contains(&"classification".to_string()),
            "{form}"
        );
    }
}

#[tokio::test]
async fn in_a_real_browser_a_declined_consent_and_an_altered_link_show_what_to_do() {
    let p = provider();
    let looker = looker().await;
    let (_, uh) = setup(&p, json!({"deny": true}), &[]).await;
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let link = login_link(&form);

    let page = browse_login(&link, "declined").await;
    assert_eq!(page.status, 403, "{}", page.text);
    assert_eq!(page.title, "Access was not granted");
    assert_eq!(
        page.text.trim(),
        "Access was not granted\n\nYou declined the request, so the action cannot write with your \
         identity. Close this tab, go back to Looker and open the action again to get a new login link."
    );

    let mut altered = link.clone();
    altered.pop();
    altered.push(if link.ends_with('A') { 'B' } else { 'A' });
    let page = browse_login(&altered, "altered-link").await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert_eq!(page.title, "This login link is not valid");
    assert!(
        page.text
            .contains("open the action again to get a new login link"),
        "{}",
        page.text
    );
    assert_eq!(looker.post_count(), 0, "nothing reached Looker");
}
