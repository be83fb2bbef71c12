//! The local playground (`GET /playground`): served only by the all-in-one `hub` binary in local
//! mode or with `HUB_PLAYGROUND=true`; its sample downloads and state URL; and the page itself,
//! driven in headless Chromium as a user would (scripts/browser/playground.mjs).

use serde_json::{json, Value};

use crate::helpers::{client, HubProcess, TOKEN};
use crate::support::browser::{artefacts, run_browser_script};

const DEV_TOKEN: &str = "local-dev-token";

fn auth(token: &str) -> String {
    format!("Token token=\"{token}\"")
}

async fn get_status(c: &reqwest::Client, url: String) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_five_function_binaries_never_serve_the_playground() {
    let c = client();
    let on = [("HUB_LOCAL", "true"), ("HUB_PLAYGROUND", "true")];
    for bin in [
        "actions_list",
        "action_form",
        "action_execute",
        "oauth_initiate",
        "oauth_callback",
    ] {
        let running = HubProcess::start_bin(bin, &on).await;
        for path in [
            "/playground",
            "/playground/page.js",
            "/playground/rows",
            "/playground/runs",
        ] {
            let s = get_status(&c, format!("{}{path}", running.base)).await;
            assert_eq!(s, 404, "{bin} must not serve {path}");
        }
        let s = c
            .post(format!("{}/playground/samples", running.base))
            .header("Authorization", auth(TOKEN))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 404, "{bin} must not keep samples");
    }
    // The hub itself: not outside local mode unless asked for.
    let off = HubProcess::start_bin("hub", &[]).await;
    assert_eq!(
        get_status(&c, format!("{}/playground", off.base)).await,
        404
    );
}

#[tokio::test]
async fn the_dev_token_is_written_into_the_page_only_in_local_mode() {
    let c = client();
    // Asked for outside local mode: served, but the page asks for the token.
    let asked = HubProcess::start_bin("hub", &[("HUB_PLAYGROUND", "true")]).await;
    let page = c
        .get(format!("{}/playground", asked.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta name="hub-token" content="">"#));
    assert!(!html.contains(TOKEN) && !html.contains(DEV_TOKEN));
    // Nothing is loaded from elsewhere: the page works offline.
    let mut texts = vec![html.clone()];
    for asset in ["page.js", "page.css"] {
        let r = c
            .get(format!("{}/playground/{asset}", asked.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        texts.push(r.text().await.unwrap());
    }
    for text in &texts {
        for needle in ["http://", "https://", "//cdn", "@import"] {
            let outside: Vec<&str> = text
                .match_indices(needle)
                .map(|(i, _)| &text[i..(i + 40).min(text.len())])
                .filter(|s| !s.starts_with(asked.base.as_str()))
                .collect();
            assert!(outside.is_empty(), "{outside:?}");
        }
    }
    // Local mode with the dev token: injected.
    let local =
        HubProcess::start_bin("hub", &[("HUB_LOCAL", "true"), ("HUB_TOKENS", DEV_TOKEN)]).await;
    let html = c
        .get(format!("{}/playground", local.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!(r#"<meta name="hub-token" content="{DEV_TOKEN}">"#)));
    // Local mode with a real token: not injected.
    let own = HubProcess::start_bin("hub", &[("HUB_LOCAL", "true")]).await;
    let html = c
        .get(format!("{}/playground", own.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<meta name="hub-token" content="">"#) && !html.contains(TOKEN));
}

#[tokio::test]
async fn a_sample_download_url_needs_the_token_to_create_and_works_once() {
    let c = client();
    let hub = HubProcess::start_bin("hub", &[("HUB_LOCAL", "true")]).await;
    let samples = format!("{}/playground/samples", hub.base);
    let no_token = c.post(&samples).body("{}").send().await.unwrap();
    assert_eq!(no_token.status(), 403);
    let not_json = c
        .post(&samples)
        .header("Authorization", auth(TOKEN))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let doc = json!({"fields": {"dimensions": [{"name": "a.b"}]}, "data": [{"a.b": {"value": 1}}]})
        .to_string();
    let made: Value = c
        .post(&samples)
        .header("Authorization", auth(TOKEN))
        .body(doc.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = made["download_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/playground/samples/", hub.base)),
        "{url}"
    );
    let first = c.get(url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), doc);
    assert_eq!(get_status(&c, url.to_string()).await, 404, "used once");
    assert_eq!(
        get_status(&c, format!("{samples}/..%2F..%2Fetc%2Fpasswd")).await,
        404
    );
    // Rows and stored states need the token too.
    assert_eq!(
        get_status(&c, format!("{}/playground/rows", hub.base)).await,
        403
    );
    assert_eq!(
        get_status(&c, format!("{}/playground/state/abc", hub.base)).await,
        403
    );
}

/// The hub's answer to a POST whose head says `content_length` and whose body never comes: the
/// status line, or `None` when the hub waits for the body (it gives up after 10 s).
async fn answer_to_a_head_only(base: &str, path: &str, content_length: usize) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {content_length}\r\n\r\nxx"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut buf));
    match read.await {
        Ok(Ok(n)) if n > 0 => Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn the_state_url_keeps_what_the_hub_posts_for_the_page() {
    let c = client();
    let hub = HubProcess::start_bin("hub", &[("HUB_LOCAL", "true")]).await;
    // The page asks for its slot with the hub token; nobody else gets one.
    let issue = || c.post(format!("{}/playground/state", hub.base));
    assert_eq!(issue().send().await.unwrap().status(), 403);
    let issued: Value = issue()
        .header("Authorization", auth(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = issued["slot"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{issued}");
    let slot = format!("{}/playground/state/{id}", hub.base);
    let read = || async {
        c.get(&slot)
            .header("Authorization", auth(TOKEN))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(read().await, json!({"state": null}));
    // The hub posts the state without its token, as it does to Looker's state_url.
    let posted = c.post(&slot).body("sealed-state").send().await.unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(read().await, json!({"state": "sealed-state"}));
    // A slot the hub did not issue keeps nothing.
    for other in ["s1", "a-b", "0123456789abcdef0123456789abcdef"] {
        let r = c
            .post(format!("{}/playground/state/{other}", hub.base))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{other}");
    }
    let big = c
        .post(&slot)
        .body(vec![b'x'; 65 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // Without a Content-Length the read stops at the limit.
    let chunks = futures_util::stream::iter(
        (0..100).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 4096]))),
    );
    let streamed = c
        .post(&slot)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    assert_eq!(read().await, json!({"state": "sealed-state"}));
    // The slot and the size are checked before any of the body is read: a head announcing a body
    // that never comes is answered at once (under HUB_MAX_BODY_BYTES, over the state's 64 KiB).
    let path = format!("/playground/state/{id}");
    assert_eq!(
        answer_to_a_head_only(&hub.base, &path, 1 << 20)
            .await
            .as_deref(),
        Some("HTTP/1.1 413 Payload Too Large")
    );
    assert_eq!(
        answer_to_a_head_only(&hub.base, "/playground/state/abc", 1 << 20)
            .await
            .as_deref(),
        Some("HTTP/1.1 404 Not Found")
    );
}

#[tokio::test]
async fn in_a_real_browser_the_playground_lists_renders_runs_and_shows_the_rows() {
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().join("playground.sqlite");
    let hub = HubProcess::start_bin(
        "hub",
        &[
            ("HUB_LOCAL", "true"),
            ("HUB_TOKENS", DEV_TOKEN),
            ("HUB_STORE_PATH", store_path.to_str().unwrap()),
        ],
    )
    .await;
    let dir = format!("{}/browser", artefacts());
    let v = run_browser_script("playground.mjs", &[&hub.base, &dir], 150).await;

    // The list as Looker sees it: every action, icon, kind, tags, params (sensitive marked).
    let names: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mark_suspicious",
            "rudder_event",
            "rudder_group",
            "rudder_track",
            "writeback_batch"
        ]
    );
    assert!(v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["icon"] == true));
    assert_eq!(
        v["actions"][0]["badges"],
        json!(["cell", "tag: mark-suspicious", "param: user_email"])
    );
    assert_eq!(
        v["actions"][1]["badges"],
        json!([
            "query",
            "tag: email | user_id | rudder_anonymous_id",
            "param: rudder_write_key (sensitive)",
            "param: rudder_server_url"
        ])
    );
    assert_eq!(v["token_injected"], DEV_TOKEN);

    // Keyboard: token, reload, then the actions; Enter chooses one.
    assert_eq!(
        v["tab_order"],
        json!(["hub-token", "reload", "mark_suspicious", "rudder_event"])
    );
    assert_eq!(v["title_after_enter"], "Mark as Suspicious");

    // The form, asked as Looker asks it, with the clicked value as the default.
    assert_eq!(v["form_fields"], json!(["id", "classification", "comment"]));
    assert_eq!(v["id_default"], "A-1001");

    // Invalid submit: the hub's validation error beside its field, focused.
    assert_eq!(
        v["invalid"],
        json!({"field_error": "is required: the order id of the clicked cell",
               "focused": "field-id", "success": "success: false"})
    );
    // Valid submit: looker.message, refresh_query, and the row that landed.
    assert_eq!(
        v["valid"]["message"],
        "message: Order A-1001 marked as Suspicious."
    );
    assert!(v["valid"]["refresh"]
        .as_str()
        .unwrap()
        .contains("refresh_query: true"));
    assert_eq!(
        v["marks_columns"],
        json!([
            "request_id",
            "order_id",
            "classification",
            "comment",
            "acted_by",
            "looker_instance",
            "webhook_id",
            "action",
            "received_at"
        ])
    );
    let row = v["marks_row"].as_array().unwrap();
    assert_eq!(
        row[1..8],
        [
            json!("A-1001"),
            json!("Suspicious"),
            json!("seen in the playground"),
            json!("null"),
            json!("playground"),
            v["looker_calls"][3]["webhook"].clone(),
            json!("mark_suspicious")
        ]
    );

    // An interactive field re-asks the form with the current values.
    // Every field type renders with its label, description and default (`message` as text).
    assert_eq!(
        v["interactive"],
        json!({"requests": 2, "form_params": {"mode": "b", "why": "kept"}, "mode_kept": "b",
               "why_default": "because", "why_kept": "kept", "tag_why": "TEXTAREA",
               "extra_label": "Shown for B *",
               "rendered": ["Read this before you choose.",
                            "Mode B asks one more thing A B C Changing this field asks the form again.",
                            "Why"]})
    );
    // A form `error` is shown.
    assert_eq!(v["form_error"], "C is not available today.");

    // A query action on a generated 1 000-row sample via download_url, then 5 rows pushed.
    assert_eq!(v["default_delivery"], "url");
    assert_eq!(
        v["query_url"]["message"],
        "message: Wrote 1000 rows as Approved to the write-back table."
    );
    assert_eq!(
        v["query_push"]["message"],
        "message: Wrote 5 rows as Approved to the write-back table."
    );
    assert_eq!(
        v["query_pasted"]["message"],
        "message: Wrote 2 rows as Approved to the write-back table."
    );
    // Newest first: the pasted rows lead, key_value from the tagged field.
    assert_eq!(v["pasted_newest"], json!(["P-2", "P-1"]));
    assert_eq!(v["batch_count"], 1007);
    assert_eq!(
        v["param_types"],
        json!({"rudder_write_key": "password", "rudder_server_url": "text"})
    );

    // Every call went out as Looker sends it.
    let calls = v["looker_calls"].as_array().unwrap();
    for c in calls {
        assert_eq!(c["authorization"], auth(DEV_TOKEN));
        assert_eq!(c["instance"], "playground");
        assert!(c["webhook"].as_str().unwrap().starts_with("playground-"));
    }
    let executes: Vec<(&str, bool, bool)> = calls
        .iter()
        .filter(|c| c["path"] == "/actions/writeback_batch/execute")
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                c["has_download_url"] == true,
                c["has_attachment"] == true,
            )
        })
        .collect();
    assert_eq!(
        executes,
        [
            ("query", true, false),
            ("query", false, true),
            ("query", false, true)
        ]
    );

    // Labelled controls; no sideways scrolling at 1280×800 nor 420 px wide.
    assert_eq!(v["unlabelled"], json!([]));
    assert_eq!(v["wide_overflow"], 0);
    assert_eq!(v["narrow_overflow"], 0);
    assert_eq!(v["console_errors"], json!([]));
    assert_eq!(v["steps"].as_array().unwrap().len(), 7);

    // The store agrees with the page.
    let conn = rusqlite::Connection::open(&store_path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM suspicious_marks_batch", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1007);
}

/// The Runs panel in Chromium: a success, then a query execute with a rejected row whose key is
/// markup; both runs newest first with their counts and first error, then the rejected row with
/// its reason, every text shown as text. The ledger's tables stay out of "Rows written".
#[tokio::test]
async fn in_a_real_browser_the_runs_panel_shows_the_last_runs_and_a_runs_rejected_rows() {
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().join("runs.sqlite");
    let hub = HubProcess::start_bin(
        "hub",
        &[
            ("HUB_LOCAL", "true"),
            ("HUB_TOKENS", DEV_TOKEN),
            ("HUB_STORE_PATH", store_path.to_str().unwrap()),
        ],
    )
    .await;
    let dir = format!("{}/browser", artefacts());
    let v = run_browser_script("playground_runs.mjs", &[&hub.base, &dir], 150).await;

    assert_eq!(v["empty"], "No runs yet: execute an action.");
    let message = v["partial_message"]
        .as_str()
        .unwrap()
        .strip_prefix("message: ")
        .unwrap()
        .to_string();
    let (said, run_id) = message.rsplit_once(" (run ").unwrap();
    let run_id = run_id.strip_suffix(')').unwrap();
    let reason = "row_json: expected JSON, got JSON with the number 1e999, beyond a 64-bit float";
    assert_eq!(
        said,
        format!("Wrote 1 row as Approved to the write-back table. 1 row rejected and not written (first: row 1: {reason}).")
    );
    assert_eq!(
        v["runs_header"],
        json!([
            "Started (UTC)",
            "Action",
            "Kind",
            "Outcome",
            "Read",
            "Delivered",
            "Unchanged (skipped)",
            "Rejected",
            "Duration",
            "First error",
            "Rejected rows"
        ])
    );

    // What the ledger holds, as the panel must show it.
    let conn = rusqlite::Connection::open(&store_path).unwrap();
    let stored: Vec<(String, String, i64)> = conn
        .prepare("SELECT run_id, started_at, duration_ms FROM hub_runs ORDER BY rowid DESC")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].0, run_id);
    let shown_time = |stored: &str| {
        chrono::DateTime::parse_from_rfc3339(stored)
            .unwrap()
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run"], run_id);
    assert_eq!(
        runs[0]["cells"],
        json!([
            shown_time(&stored[0].1),
            "writeback_batch",
            "query",
            "partial",
            "2",
            "1",
            "not a change-only run",
            "1",
            format!("{} ms", stored[0].2),
            format!("validation: {message}"),
            "Show 1"
        ])
    );
    assert_eq!(runs[1]["run"], stored[1].0.as_str());
    assert_eq!(
        runs[1]["cells"],
        json!([
            shown_time(&stored[1].1),
            "mark_suspicious",
            "cell",
            "success",
            "0",
            "1",
            "not a change-only run",
            "0",
            format!("{} ms", stored[1].2),
            "none",
            "none"
        ])
    );
    assert_eq!(v["after_success"][0], runs[1]);

    // The rejected row, its key shown as the text it is.
    assert_eq!(
        v["rejected_summary"],
        format!("Run {run_id} (writeback_batch, partial): 1 row rejected, the first 1 recorded.")
    );
    assert_eq!(
        v["rejected_header"],
        json!(["Row", "Key", "Column", "Reason"])
    );
    assert_eq!(
        v["rejected"],
        json!([[
            "1",
            "<img src=x onerror=\"window.pwned=1\">",
            "row_json",
            reason
        ]])
    );
    assert_eq!(
        v["rejected_label"],
        format!("Rejected rows of run {run_id}")
    );
    assert_eq!(
        (v["markup_elements"].clone(), v["pwned"].clone()),
        (json!(0), json!(false))
    );
    assert_eq!(v["button_label"], format!("Rejected rows of run {run_id}"));
    assert_eq!(
        v["row_tables"],
        json!(["suspicious_marks", "suspicious_marks_batch"])
    );
    assert_eq!(
        (v["wide_overflow"].clone(), v["narrow_overflow"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(v["console_errors"], json!([]));
}

/// The Runs panel's endpoints: the hub token required; an unknown run is a 404 naming it; the
/// panel says why it has nothing to show when the ledger is off.
#[tokio::test]
async fn the_runs_endpoints_need_the_token_and_say_when_there_is_no_ledger() {
    let c = client();
    let hub = HubProcess::start_bin("hub", &[("HUB_LOCAL", "true")]).await;
    let runs = format!("{}/playground/runs", hub.base);
    assert_eq!(get_status(&c, runs.clone()).await, 403);
    assert_eq!(get_status(&c, format!("{runs}/abc")).await, 403);
    let get = |url: String| c.get(url).header("Authorization", auth(TOKEN)).send();
    let none = get(runs.clone()).await.unwrap();
    assert_eq!(none.status(), 200);
    assert_eq!(
        none.json::<Value>().await.unwrap(),
        json!({"runs": [], "limit": 50})
    );
    let unknown = get(format!("{runs}/no-such-run")).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"error": "no run no-such-run in the run ledger"})
    );

    let off =
        HubProcess::start_bin("hub", &[("HUB_LOCAL", "true"), ("HUB_RUN_LEDGER", "false")]).await;
    let r = c
        .get(format!("{}/playground/runs", off.base))
        .header("Authorization", auth(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"runs": [], "note": "the run ledger is off (HUB_RUN_LEDGER=false)"})
    );
}

#[tokio::test]
async fn in_a_real_browser_a_user_identity_action_logs_in_and_writes_from_the_playground() {
    use crate::support::oauth::{provider, random_key, OAuthClient, USER_ATTRIBUTE};
    let p = provider();
    let c = OAuthClient::generate();
    let auth_url = format!("{}/authorize", p.url);
    let token_url = format!("{}/token", p.url);
    let key = random_key();
    let hub = HubProcess::start_bin(
        "hub",
        &[
            ("HUB_LOCAL", "true"),
            ("HUB_TOKENS", DEV_TOKEN),
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", &c.id),
            ("OAUTH_CLIENT_SECRET", &c.secret),
            ("OAUTH_AUTH_URL", &auth_url),
            ("OAUTH_TOKEN_URL", &token_url),
            ("OAUTH_ISSUER", &p.url),
            ("OAUTH_STATE_KEYS", &key),
            ("HUB_LOOKER_HOSTS", "127.0.0.1"),
        ],
    )
    .await;
    p.register(&c, &[format!("{}/oauth_redirect", hub.base)], json!({}))
        .await;
    let dir = format!("{}/browser", artefacts());
    let v = run_browser_script(
        "playground_oauth.mjs",
        &[&hub.base, &dir, USER_ATTRIBUTE],
        150,
    )
    .await;
    assert_eq!(v["oauth_badge"], 1);
    assert_eq!(v["login_target"], "_blank");
    assert_eq!(v["landing_title"], "You are logged in");
    assert_eq!(v["first_form_state"], Value::Null);
    assert!(v["state_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/playground/state/", hub.base)));
    assert_eq!(v["last_form_has_state"], true);
    assert_eq!(
        v["fields_after_login"],
        json!(["id", "classification", "comment"])
    );
    assert_eq!(v["success"], "success: true");
    assert_eq!(v["message"], "message: Order O-77 marked as Suspicious.");
    assert_eq!(v["row"]["order_id"], "O-77");
    // The identity the provider returned: the test server signs in the `login_hint` account, which
    // the hub sets from the Looker user's email attribute.
    assert_eq!(v["row"]["acted_by"], USER_ATTRIBUTE);
}

/// Local mode's token is public: the hub listens on 127.0.0.1 only, and a request addressed to
/// another host (a web page whose name was pointed at 127.0.0.1: DNS rebinding) is refused before
/// any route runs — no page, no token, no write.
#[tokio::test]
async fn local_mode_listens_on_loopback_and_answers_only_requests_for_this_machine() {
    let c = client();
    // No HUB_BIND, no HUB_TOKENS: the defaults of `hub --local`.
    let hub = HubProcess::start_bin(
        "hub",
        &[
            ("HUB_LOCAL", "true"),
            ("HUB_BIND", ""),
            ("HUB_TOKENS", ""),
            ("HUB_PUBLIC_URL", "http://hub.test:8080/"),
        ],
    )
    .await;
    let port: u16 = hub.base.rsplit(':').next().unwrap().parse().unwrap();
    // 127.0.0.2 on the same port is free: the hub did not bind every address (0.0.0.0).
    std::net::TcpListener::bind(("127.0.0.2", port))
        .expect("the hub in local mode listens on 127.0.0.1 only");
    assert!(hub
        .logs()
        .contains(&format!("listening on 127.0.0.1:{port}")));

    let page = |host: String| {
        c.get(format!("{}/playground", hub.base))
            .header("Host", host)
            // A page can set these; they are not read.
            .header("X-Forwarded-Host", "localhost")
            .header("Forwarded", "host=localhost")
            .send()
    };
    for forged in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let r = page(forged.clone()).await.unwrap();
        assert_eq!(r.status(), 421, "{forged}");
        let text = r.text().await.unwrap();
        assert!(!text.contains(DEV_TOKEN), "{forged}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"], hub_core::http::local::MISDIRECTED);
        // Nor does an execute with the (public) dev token run.
        let r = c
            .post(format!("{}/actions/mark_suspicious/execute", hub.base))
            .header("Host", forged.clone())
            .header("Authorization", auth(DEV_TOKEN))
            .json(&json!({"type": "cell", "data": {"value": "ORD-1"},
                          "form_params": {"id": "ORD-1", "classification": "Suspicious"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 421, "{forged}");
    }
    let rows = c
        .get(format!("{}/playground/rows", hub.base))
        .header("Authorization", auth(DEV_TOKEN))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let written: u64 = rows["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["count"].as_u64().unwrap())
        .sum();
    assert_eq!(written, 0, "{rows}");
    // This machine's names, with any port, and HUB_PUBLIC_URL's host are answered.
    for host in [
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "hub.test:8080".to_string(),
    ] {
        let r = page(host.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{host}");
        assert!(r.text().await.unwrap().contains(DEV_TOKEN), "{host}");
    }
}

/// Change-only sends in Chromium: the batch action's form offers "Rows to send" (every row by
/// default); with "only new or changed rows" the same generated sample (scheduled plan 1) sent
/// twice writes every row and then skips every row, and the Runs panel shows the skipped rows.
#[tokio::test]
async fn in_a_real_browser_a_sample_sent_twice_with_only_new_or_changed_rows_is_skipped_the_second_time(
) {
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().join("changes.sqlite");
    let hub = HubProcess::start_bin(
        "hub",
        &[
            ("HUB_LOCAL", "true"),
            ("HUB_TOKENS", DEV_TOKEN),
            ("HUB_STORE_PATH", store_path.to_str().unwrap()),
        ],
    )
    .await;
    let dir = format!("{}/browser", artefacts());
    let v = run_browser_script("playground_changes.mjs", &[&hub.base, &dir], 150).await;
    eprintln!("{v}");
    assert_eq!(v["plan_id"], "1");
    assert_eq!(v["mode_default"], "every");
    assert_eq!(
        v["mode_options"],
        json!([
            ["every", "Send every row"],
            ["changed", "Send only new or changed rows"],
            [
                "resend",
                "Resend everything (forget what was sent, then remember anew)"
            ]
        ])
    );
    assert_eq!(
        v["answers"],
        json!([
            {"ok": true, "message": "message: Wrote 10 rows as Approved to the write-back table. Only new or changed rows: 10 new written; 0 unchanged rows skipped. First change-only run of this schedule: every row was sent and remembered."},
            {"ok": true, "message": "message: Wrote 0 rows as Approved to the write-back table. Only new or changed rows: nothing new or changed; 10 unchanged rows skipped."}
        ])
    );
    // Newest first: action, kind, outcome, read, delivered, unchanged (skipped).
    assert_eq!(
        v["runs"],
        json!([
            ["writeback_batch", "query", "success", "10", "0", "10", "0"],
            ["writeback_batch", "query", "success", "10", "10", "0", "0"]
        ])
    );
    assert_eq!(v["console_errors"], json!([]));
}
