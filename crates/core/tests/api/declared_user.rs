//! A declared action with `identity: user` end to end (issue 15): the example file's
//! `flag_for_review` on a hub in user identity mode, against the real OAuth2 test server and the
//! BigQuery emulator. The user logs in (v2: the code handed back to Looker, exchanged through
//! `oauth_token`), and the row is written with that user's access token; acted_by is the user.

use std::path::Path;

use serde_json::{json, Value};

use crate::stand_ins::Emulator;
use crate::support::oauth::{
    log_in, login_link, looker, provider, query_param, random_key, user_hub, OAuthClient, UserHub,
    USER, USER_ATTRIBUTE,
};

const ACTION: &str = "flag_for_review";

fn body(state_url: &str, redir: &str, state_json: Option<&str>) -> Value {
    let mut data = json!({"value": "42", "user_email": USER_ATTRIBUTE, "state_url": state_url,
                          "state_redir_url": redir});
    if let Some(s) = state_json {
        data["state_json"] = json!(s);
    }
    json!({"type": "cell", "data": data})
}

#[tokio::test]
async fn a_declared_user_identity_action_logs_in_and_writes_with_the_users_token_to_bigquery() {
    let p = provider();
    let emu = Emulator::get().await;
    let looker = looker().await;
    let c = OAuthClient::generate();
    let key = random_key();
    let dataset = Emulator::dataset_name();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/actions/retail.yaml");
    let file = file.to_str().unwrap();
    let mut extra: Vec<(&str, &str)> = vec![
        ("HUB_ACTIONS_FILE", file),
        ("HUB_BIGQUERY_CREATE_TABLES", "true"),
    ];
    // Straight to the emulator (it accepts any bearer token; the recorder shows which one).
    extra.extend(emu.hub_vars(&dataset, &emu.grpc));
    let UserHub { hub, sink: tokens } = user_hub(&p, &c, &key, &extra).await;
    p.register(&c, &[format!("{}/oauth_redirect", hub.address)], json!({}))
        .await;

    // The definition asks Looker for the login (v2: the hub's oauth_token exchange).
    let list = hub.list().await;
    let def = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == ACTION)
        .unwrap()
        .clone();
    assert_eq!(def["uses_oauth"], true, "{def}");
    let approve = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "approve_discount")
        .unwrap();
    assert_eq!(
        approve["uses_oauth"], false,
        "identity: service needs no login"
    );

    // Not logged in: the form is the login link; an execute writes nothing.
    let redir = format!(
        "{}/action_hub_oauth_redirect/{}",
        looker.base,
        uuid::Uuid::new_v4()
    );
    let (_, form) = hub
        .form(ACTION, &body(&looker.state_url(), &redir, None))
        .await;
    let link = login_link(&form);
    let mut refused = body(&looker.state_url(), &redir, None);
    refused["form_params"] = json!({"ticket": "OPS-7"});
    let (_, resp) = hub.execute(ACTION, &refused).await;
    assert_eq!(resp["looker"]["success"], false, "{resp}");
    assert!(tokens.writes().is_empty());

    // The login, handed back to Looker sealed, exchanged through oauth_token.
    let (_, back) = log_in(&link, USER).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
    let r = hub
        .post(
            &format!("/actions/{ACTION}/oauth_token"),
            &json!({"state": handoff}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let state_json = r.text().await.unwrap();

    // Logged in: the action's own form, defaults from the click and the user attribute.
    let (_, form) = hub
        .form(
            ACTION,
            &body(&looker.state_url(), &redir, Some(&state_json)),
        )
        .await;
    let fields: Vec<(&str, &Value)> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), &f["default"]))
        .collect();
    assert_eq!(
        fields,
        [
            ("order_id", &json!("42")),
            ("reviewer", &json!(USER_ATTRIBUTE)),
            ("ticket", &Value::Null),
            ("note", &Value::Null)
        ]
    );

    let mut exec = body(&looker.state_url(), &redir, Some(&state_json));
    exec["form_params"] = json!({"ticket": "OPS-7", "note": "price looks wrong"});
    let (_, resp) = hub.execute(ACTION, &exec).await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(
        resp["looker"]["message"],
        format!("Order 42 flagged for {USER_ATTRIBUTE}.")
    );

    // Written with the user's own token, which the provider issued to that user.
    let seen = tokens.writes();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "review_flags");
    let token = seen[0].1.clone().expect("the user's token, not the hub's");
    assert_eq!(p.token_info(&token).await["user"], USER);

    let rows = emu
        .query(&format!(
            "SELECT order_id, reviewer, ticket, note, acted_by, action FROM `{}.{dataset}.review_flags`",
            emu.project
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["order_id"].to_string().trim_matches('"'), "42", "{r:?}");
    assert_eq!(r["reviewer"], USER_ATTRIBUTE);
    assert_eq!(r["ticket"], "OPS-7");
    assert_eq!(r["note"], "price looks wrong");
    assert_eq!(r["acted_by"], USER, "acted_by is the logged-in user");
    assert_eq!(r["action"], ACTION);
}
