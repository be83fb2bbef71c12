//! Logins bound to their user (issue 12, item 3), against the real OAuth2 test server: a login
//! link sent to a colleague cannot put the colleague's identity into the first user's state, a
//! login state works once, and a stored login of another account is not used.

use serde_json::{json, Value};

use crate::support::oauth::{
    browser, execute_req, form_req, get, log_in, login_link, login_v1, looker, provider,
    query_param, setup, v2_form_req, with_query, ACTION, USER,
};

const COLLEAGUE: &str = "colleague@example.com";

#[tokio::test]
async fn a_login_link_finished_by_another_account_is_refused_and_nothing_is_stored() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({}), &[]).await;

    // Ann's form gives her login link; the provider is asked to preselect her account.
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let link = login_link(&form);
    // She forwards it; the colleague opens it and signs in with their own account.
    let (authorize, back) = log_in(&link, COLLEAGUE).await;
    assert_eq!(
        query_param(authorize.as_str(), "login_hint").as_deref(),
        Some("Ann@Example.com")
    );
    assert_eq!(back.status, 403, "{}", back.body);
    assert!(
        back.body
            .contains("This login link belongs to another user"),
        "{}",
        back.body
    );
    assert!(
        back.body.contains(
            "This login link was made for another Looker user, and you signed in as colleague@example.com. \
             Nothing was saved. Open the action in Looker yourself to get your own login link."
        ),
        "{}",
        back.body
    );
    assert!(
        !back.body.to_ascii_lowercase().contains("ann@example.com"),
        "the page does not tell the colleague whose link it was: {}",
        back.body
    );
    assert!(
        looker.posts_to(&su).is_empty(),
        "nothing stored in Ann's state"
    );
    for secret in p.issued(&c).await {
        assert!(!back.body.contains(&secret));
    }

    // Ann herself, with a new link, logs in fine.
    let state_json = login_v1(&uh, &looker, USER).await;
    let (_, resp) = uh
        .hub
        .execute(ACTION, &execute_req(&looker.state_url(), Some(&state_json)))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(uh.hub.marks()[0]["acted_by"], USER);
}

#[tokio::test]
async fn a_login_state_works_once() {
    let p = provider();
    let looker = looker().await;
    let (c, uh) = setup(&p, json!({}), &[]).await;
    let su = looker.state_url();
    let (_, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    let link = login_link(&form);
    let state = query_param(&link, "state").unwrap();
    let (_, back) = log_in(&link, USER).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(looker.posts_to(&su).len(), 1);

    // The same state again, with a fresh code from the provider (a replayed callback URL).
    let code = p.code_for(&c, &uh.redirect_uri(), &state).await;
    let again = get(
        &browser(),
        &with_query(&uh.redirect_uri(), &[("code", &code), ("state", &state)]),
    )
    .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.body.contains("This login link has already been used"),
        "{}",
        again.body
    );
    assert_eq!(
        looker.posts_to(&su).len(),
        1,
        "nothing stored a second time"
    );
    assert_eq!(
        p.stats(&c).await["codes_redeemed"],
        1,
        "the second code was never exchanged"
    );
}

#[tokio::test]
async fn a_v1_login_link_needs_the_looker_users_email() {
    let p = provider();
    let looker = looker().await;
    let (_c, uh) = setup(&p, json!({}), &[]).await;
    let mut req = form_req(&looker.state_url(), None);
    req["data"].as_object_mut().unwrap().remove("user_email");
    let (status, form) = uh.hub.form(ACTION, &req).await;
    assert_eq!(status, 200);
    assert!(
        form.get("fields")
            .is_none_or(|f| f.as_array().unwrap().is_empty()),
        "{form}"
    );
    assert_eq!(
        form["error"],
        "Looker did not send the user's email (the action's `user_email` param, filled from the `email` user attribute), \
         so a login cannot be bound to its user. Ask your Looker admin to set that param to the user attribute."
    );
}

#[tokio::test]
async fn a_v2_login_finished_by_another_account_is_refused_at_the_token_exchange() {
    let p = provider();
    let looker = looker().await;
    let (_c, uh) = setup(&p, json!({}), &[]).await;
    let redir = format!("{}/action_hub_oauth_redirect/x", looker.base);
    let body = v2_form_req(&looker.state_url(), &redir);
    let (_, form) = uh.hub.form(ACTION, &body).await;
    let (_, back) = log_in(&login_link(&form), COLLEAGUE).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
    let r = uh
        .hub
        .post(
            &format!("/actions/{ACTION}/oauth_token"),
            &json!({"state": handoff}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("This login link was made for another Looker user"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stored_login_of_another_account_is_not_used() {
    let p = provider();
    let looker = looker().await;
    let (_c, uh) = setup(&p, json!({}), &[]).await;
    let state_json = login_v1(&uh, &looker, USER).await;
    // The same state arriving with another Looker user's email (a state kept from before logins
    // were bound, or moved between users): log in again, nothing written, state cleared.
    let mut req = execute_req(&looker.state_url(), Some(&state_json));
    req["data"]["user_email"] = json!(COLLEAGUE);
    let (_, resp) = uh.hub.execute(ACTION, &req).await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert_eq!(resp["looker"]["state"]["data"], "reset", "{resp}");
    assert!(uh.hub.marks().is_empty());
    let mut req = form_req(&looker.state_url(), Some(&state_json));
    req["data"]["user_email"] = json!(COLLEAGUE);
    let (_, form) = uh.hub.form(ACTION, &req).await;
    login_link(&form);
}
