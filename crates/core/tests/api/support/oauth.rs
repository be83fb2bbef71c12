//! The OAuth side of the user identity mode tests: the real OAuth2 test server started by
//! `scripts/services/oauth.sh` (`OAUTH_SERVER_URL`), Looker's `state_url` receiver on 127.0.0.1,
//! a hub in user mode whose sink records each write's credential, the user's browser (redirects
//! followed by hand, or headless Chromium), and whole login flows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use async_trait::async_trait;
use base64::Engine as _;
use hub_core::routes::Function;
use hub_core::sinks::{Row, Sink, SinkError, TableDef, WriteCredential};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use url::Url;

use crate::helpers::{client, looker_headers, TestHub};
use crate::support::browser::{artefacts, run_browser_script};

pub(crate) const ACTION: &str = "mark_suspicious";
/// The account the tests log in with at the provider.
pub(crate) const USER: &str = "ann@example.com";
/// The Looker user's `user_email` attribute: the same account (addresses are case-insensitive).
pub(crate) const USER_ATTRIBUTE: &str = "Ann@Example.com";

// ---------------------------------------------------------------- the OAuth server

/// The OAuth2 test server (oauth2-mock-server made strict by scripts/services/oauth/server.mjs).
pub(crate) struct Provider {
    pub(crate) url: String,
    http: reqwest::Client,
}

pub(crate) fn provider() -> Provider {
    let url = std::env::var("OAUTH_SERVER_URL").unwrap_or_else(|_| {
        panic!(
            "OAUTH_SERVER_URL is not set: these tests need the real OAuth2 test server. Run \
             scripts/test.sh, or start it first: eval \"$(bash scripts/services/oauth.sh)\""
        )
    });
    Provider {
        url,
        http: client(),
    }
}

/// An OAuth client of the test server (each test has its own, so tests run in parallel).
pub(crate) struct OAuthClient {
    pub(crate) id: String,
    pub(crate) secret: String,
}

impl OAuthClient {
    pub(crate) fn generate() -> OAuthClient {
        OAuthClient {
            id: format!("hub-test-{}", uuid::Uuid::new_v4()),
            secret: format!("client-secret-{}", uuid::Uuid::new_v4()),
        }
    }
}

impl Provider {
    /// Register (or re-register) a client allowed to redirect to `redirect_uris`; `opts` adds
    /// server behaviour (`access_token_ttl`, `deny`, `token_error`, `id_token_claims`,
    /// `rotate_refresh_tokens`).
    pub(crate) async fn register(&self, c: &OAuthClient, redirect_uris: &[String], opts: Value) {
        let mut body =
            json!({"client_id": c.id, "client_secret": c.secret, "redirect_uris": redirect_uris});
        if let Value::Object(o) = opts {
            body.as_object_mut().unwrap().extend(o);
        }
        let r = self
            .http
            .post(format!("{}/__test/clients", self.url))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("OAuth test server at {} does not answer: {e}", self.url));
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Counters: authorizations, codes_redeemed, refreshes, token_requests, rejected.
    pub(crate) async fn stats(&self, c: &OAuthClient) -> Value {
        self.get(&format!("/__test/clients/{}", c.id)).await.1
    }

    /// Every code / access token / refresh token issued to the client.
    pub(crate) async fn issued(&self, c: &OAuthClient) -> Vec<String> {
        let v = self
            .get(&format!("/__test/clients/{}/issued", c.id))
            .await
            .1;
        ["codes", "access_tokens", "refresh_tokens"]
            .iter()
            .flat_map(|k| v[k].as_array().cloned().unwrap_or_default())
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    }

    /// What the server knows about an access token it issued (`Null` if it never issued it).
    pub(crate) async fn token_info(&self, token: &str) -> Value {
        let (status, v) = self.get(&format!("/__test/tokens/{token}")).await;
        if status == 200 {
            v
        } else {
            Value::Null
        }
    }

    /// The user revokes the hub's access (every refresh token of the client).
    pub(crate) async fn revoke_all(&self, c: &OAuthClient) {
        let r = self
            .http
            .post(format!("{}/__test/clients/{}/revoke", self.url, c.id))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    /// A code for `redirect_uri` (the account [`USER`]), as the provider would send the browser
    /// back with it.
    pub(crate) async fn code_for(
        &self,
        c: &OAuthClient,
        redirect_uri: &str,
        state: &str,
    ) -> String {
        let url = with_query(
            &format!("{}/authorize", self.url),
            &[
                ("client_id", &c.id),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("login_hint", USER),
                ("state", state),
            ],
        );
        let back = get(&browser(), &url).await;
        assert_eq!(back.status, 302, "{}", back.body);
        query_param(back.location.as_deref().unwrap(), "code").expect("a code")
    }
}

// ---------------------------------------------------------------- Looker's side

/// Looker's per-user state endpoint: records every POST to a `state_url`.
pub(crate) struct Looker {
    pub(crate) base: String,
    pub(crate) posts: Arc<Mutex<Vec<(String, String)>>>,
}

pub(crate) async fn looker() -> Looker {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let recorded = posts.clone();
    let server = HttpServer::new(move || {
        let recorded = recorded.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push((
                    req.uri().to_string(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Looker {
        base: format!("http://127.0.0.1:{port}"),
        posts,
    }
}

impl Looker {
    /// A fresh one-time state URL, as Looker sends with every request of an OAuth action.
    pub(crate) fn state_url(&self) -> String {
        format!("{}/action_hub_state/{}", self.base, uuid::Uuid::new_v4())
    }

    /// The bodies POSTed to one state URL.
    pub(crate) fn posts_to(&self, state_url: &str) -> Vec<String> {
        let path = Url::parse(state_url).unwrap().path().to_string();
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub(crate) fn post_count(&self) -> usize {
        self.posts.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------- the hub in user mode

/// A sink that remembers the credential of every write, then writes to the hub's own sink.
pub(crate) struct Recorder {
    inner: Arc<dyn Sink>,
    writes: Mutex<Vec<(String, Option<String>)>>,
}

impl Recorder {
    /// The user token (or none: the service identity) of each cell write (`suspicious_marks`).
    pub(crate) fn tokens(&self) -> Vec<Option<String>> {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(table, _)| *table == hub_core::sinks::table::MARKS_TABLE)
            .map(|(_, token)| token.clone())
            .collect()
    }

    /// The table and user token of every write, whatever the table.
    pub(crate) fn writes(&self) -> Vec<(String, Option<String>)> {
        self.writes.lock().unwrap().clone()
    }
}

#[async_trait]
impl Sink for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    async fn append(
        &self,
        table: &TableDef,
        rows: &[Row],
        cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        let token = match cred {
            WriteCredential::Service => None,
            WriteCredential::User { access_token, .. } => {
                Some(access_token.expose_secret().to_string())
            }
        };
        self.writes
            .lock()
            .unwrap()
            .push((table.name.clone(), token));
        self.inner.append(table, rows, cred).await
    }
}

pub(crate) struct UserHub {
    pub(crate) hub: TestHub,
    pub(crate) sink: Arc<Recorder>,
}

impl UserHub {
    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/oauth_redirect", self.hub.address)
    }
}

/// 32 random bytes as base64, a valid `OAUTH_STATE_KEYS` entry.
pub(crate) fn random_key() -> String {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A hub in user identity mode for `client` at the test server; `extra` overrides settings.
pub(crate) async fn user_hub(
    p: &Provider,
    c: &OAuthClient,
    key: &str,
    extra: &[(&str, &str)],
) -> UserHub {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    user_hub_on(listener, p, c, key, extra).await
}

/// [`user_hub`] on a listener the test bound.
pub(crate) async fn user_hub_on(
    listener: std::net::TcpListener,
    p: &Provider,
    c: &OAuthClient,
    key: &str,
    extra: &[(&str, &str)],
) -> UserHub {
    let auth_url = format!("{}/authorize", p.url);
    let token_url = format!("{}/token", p.url);
    let mut vars: Vec<(&str, &str)> = vec![
        ("HUB_IDENTITY_MODE", "user"),
        ("OAUTH_CLIENT_ID", &c.id),
        ("OAUTH_CLIENT_SECRET", &c.secret),
        ("OAUTH_AUTH_URL", &auth_url),
        ("OAUTH_TOKEN_URL", &token_url),
        ("OAUTH_ISSUER", &p.url),
        ("OAUTH_STATE_KEYS", key),
        ("HUB_LOOKER_HOSTS", "127.0.0.1"),
        ("OAUTH_TIMEOUT_MS", "5000"),
    ];
    vars.extend_from_slice(extra);
    let mut recorder = None;
    let hub = TestHub::spawn_on(listener, &vars, Function::ALL, |hub| {
        let r = Arc::new(Recorder {
            inner: hub.sink.clone(),
            writes: Mutex::default(),
        });
        hub.sink = r.clone();
        recorder = Some(r);
    })
    .await;
    UserHub {
        hub,
        sink: recorder.unwrap(),
    }
}

/// A client and a hub for it, registered with the hub's redirect URI.
pub(crate) async fn setup(
    p: &Provider,
    opts: Value,
    extra: &[(&str, &str)],
) -> (OAuthClient, UserHub) {
    let c = OAuthClient::generate();
    let uh = user_hub(p, &c, &random_key(), extra).await;
    p.register(&c, &[uh.redirect_uri()], opts).await;
    (c, uh)
}

pub(crate) fn form_req(state_url: &str, state_json: Option<&str>) -> Value {
    let mut data = json!({"value": "ORD-1", "user_email": USER_ATTRIBUTE, "state_url": state_url});
    if let Some(s) = state_json {
        data["state_json"] = json!(s);
    }
    json!({"type": "cell", "data": data})
}

/// A v2 form request: Looker sends where the browser lands after the login (`state_redir_url`).
pub(crate) fn v2_form_req(state_url: &str, state_redir_url: &str) -> Value {
    let mut body = form_req(state_url, None);
    body["data"]["state_redir_url"] = json!(state_redir_url);
    body
}

pub(crate) fn execute_req(state_url: &str, state_json: Option<&str>) -> Value {
    let mut body = form_req(state_url, state_json);
    body["form_params"] =
        json!({"id": "ORD-1", "classification": "Suspicious", "comment": "card mismatch"});
    body
}

/// The login link of a login form.
pub(crate) fn login_link(form: &Value) -> String {
    let fields = form["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {form}"));
    assert_eq!(fields.len(), 1, "{form}");
    assert_eq!(fields[0]["type"], "oauth_link", "{form}");
    fields[0]["oauth_url"].as_str().unwrap().to_string()
}

pub(crate) fn field_names(form: &Value) -> Vec<String> {
    form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------- the user's browser

/// A browser that lets the test follow each redirect itself.
pub(crate) fn browser() -> reqwest::Client {
    crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

pub(crate) async fn get(b: &reqwest::Client, url: &str) -> Answer {
    let r = b
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    Answer {
        status,
        location,
        body: r.text().await.unwrap(),
    }
}

/// `base` with query parameters appended.
pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(base).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The user clicks the login link, picks the account `user` at the provider, and comes back:
/// returns the provider's authorization URL the hub chose and the hub's answer to the callback.
pub(crate) async fn log_in(link: &str, user: &str) -> (Url, Answer) {
    let b = browser();
    let start = get(&b, link).await;
    assert_eq!(start.status, 302, "initiate: {}", start.body);
    let authorize = Url::parse(start.location.as_deref().unwrap()).unwrap();
    // The user picks an account in the provider's chooser (whatever `login_hint` suggested).
    let mut choose = authorize.clone();
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .filter(|(k, _)| k != "login_hint")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    choose
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("login_hint", user);
    let consent = get(&b, choose.as_str()).await;
    assert_eq!(consent.status, 302, "provider: {}", consent.body);
    let back = get(&b, consent.location.as_deref().unwrap()).await;
    (authorize, back)
}

/// A whole v1 login: the form's link, the browser round trip, the state Looker received.
pub(crate) async fn login_v1(uh: &UserHub, looker: &Looker, user: &str) -> String {
    let su = looker.state_url();
    let (status, form) = uh.hub.form(ACTION, &form_req(&su, None)).await;
    assert_eq!(status, 200, "{form}");
    let (_, back) = log_in(&login_link(&form), user).await;
    assert_eq!(back.status, 200, "{}", back.body);
    let posts = looker.posts_to(&su);
    assert_eq!(posts.len(), 1, "exactly one state POST: {posts:?}");
    posts[0].clone()
}

/// A TCP server that accepts connections and never answers.
pub(crate) async fn blackhole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}/token")
}

/// A user-mode hub's OAuth world for a test of the real binary (`hygiene.rs`): the OAuth server
/// with a client whose secret is `client_secret`, a state key, and Looker's `state_url` receiver.
pub(crate) struct OAuthWorld {
    p: Provider,
    c: OAuthClient,
    looker: Looker,
    /// The `OAUTH_STATE_KEYS` value.
    pub key: String,
}

impl OAuthWorld {
    /// Register nothing yet: the client is registered once the hub's address is known.
    pub(crate) async fn new(client_secret: &str, key: &str) -> OAuthWorld {
        let mut c = OAuthClient::generate();
        c.secret = client_secret.to_string();
        OAuthWorld {
            p: provider(),
            c,
            looker: looker().await,
            key: key.to_string(),
        }
    }

    /// The hub's settings for user identity mode with this world.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        [
            ("HUB_IDENTITY_MODE", "user".to_string()),
            ("OAUTH_CLIENT_ID", self.c.id.clone()),
            ("OAUTH_CLIENT_SECRET", self.c.secret.clone()),
            ("OAUTH_AUTH_URL", format!("{}/authorize", self.p.url)),
            ("OAUTH_TOKEN_URL", format!("{}/token", self.p.url)),
            ("OAUTH_ISSUER", self.p.url.clone()),
            ("OAUTH_STATE_KEYS", self.key.clone()),
            ("HUB_LOOKER_HOSTS", "127.0.0.1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Every OAuth flow against the hub at `base` (Looker's calls signed with `auth`): a v1 login,
    /// an execute that refreshes the token, a reused code, a v2 exchange, forged states. Returns
    /// every page and answer seen, every secret value involved (codes, tokens, sealed states),
    /// and the sealed states of the login links (shown to the user by design, in no log).
    pub(crate) async fn run_flows(
        &self,
        base: &str,
        auth: &str,
    ) -> (Vec<String>, Vec<String>, Vec<String>) {
        let (p, c, looker) = (&self.p, &self.c, &self.looker);
        let http = client();
        let def: Value = looker_headers(http.post(format!("{base}/actions/{ACTION}")))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            def["uses_oauth"], true,
            "the hub binary is not a build of this tree: rebuild it with `cargo build --workspace --bins`"
        );
        let redirect_uri = format!("{base}/oauth_redirect");
        p.register(
            c,
            std::slice::from_ref(&redirect_uri),
            json!({"access_token_ttl": 0}),
        )
        .await;
        let post = |path: String, body: Value| {
            let req = looker_headers(http.post(format!("{base}{path}")))
                .header("Authorization", auth)
                .json(&body);
            async move { req.send().await.unwrap().text().await.unwrap() }
        };

        let mut seen = vec![]; // everything the user and Looker saw
        let su = looker.state_url();
        let form_text = post(format!("/actions/{ACTION}/form"), form_req(&su, None)).await;
        let form: Value = serde_json::from_str(&form_text).unwrap();
        seen.push(form_text);
        let link = login_link(&form);
        let (authorize, back) = log_in(&link, USER).await;
        assert_eq!(back.status, 200, "{}", back.body);
        seen.push(back.body);
        let state_json = looker.posts_to(&su)[0].clone();
        let resp = post(
            format!("/actions/{ACTION}/execute"),
            execute_req(&looker.state_url(), Some(&state_json)),
        )
        .await;
        assert!(resp.contains("\"success\":true"), "{resp}");
        seen.push(resp);
        // The used login state again (single use), then a fresh one whose callback is replayed.
        let used_state = query_param(authorize.as_str(), "state").unwrap();
        let code = p.code_for(c, &redirect_uri, &used_state).await;
        let cb = with_query(&redirect_uri, &[("code", &code), ("state", &used_state)]);
        let used = get(&browser(), &cb).await;
        assert_eq!(used.status, 400, "{}", used.body);
        seen.push(used.body);
        let form_text = post(
            format!("/actions/{ACTION}/form"),
            form_req(&looker.state_url(), None),
        )
        .await;
        let form: Value = serde_json::from_str(&form_text).unwrap();
        seen.push(form_text);
        let login_state = query_param(&login_link(&form), "state").unwrap();
        let code = p.code_for(c, &redirect_uri, &login_state).await;
        let cb = with_query(&redirect_uri, &[("code", &code), ("state", &login_state)]);
        let first = get(&browser(), &cb).await;
        let reused = get(&browser(), &cb).await;
        assert_eq!((first.status, reused.status), (200, 400), "{}", reused.body);
        seen.extend([first.body, reused.body]);
        // A forwarded link finished by another account: refused, nothing stored.
        let su_other = looker.state_url();
        let form_text = post(format!("/actions/{ACTION}/form"), form_req(&su_other, None)).await;
        let form: Value = serde_json::from_str(&form_text).unwrap();
        seen.push(form_text);
        let (_, other) = log_in(&login_link(&form), "colleague@example.com").await;
        assert_eq!(other.status, 403, "{}", other.body);
        assert!(looker.posts_to(&su_other).is_empty());
        seen.push(other.body);
        let body = v2_form_req(&looker.state_url(), &format!("{}/redir", looker.base));
        let form_text = post(format!("/actions/{ACTION}/form"), body).await;
        let form: Value = serde_json::from_str(&form_text).unwrap();
        seen.push(form_text);
        let (_, back) = log_in(&login_link(&form), USER).await;
        let handoff = query_param(back.location.as_deref().unwrap(), "state").unwrap();
        let v2_state = post(
            format!("/actions/{ACTION}/oauth_token"),
            json!({"state": handoff}),
        )
        .await;
        seen.push(
            post(
                format!("/actions/{ACTION}/oauth_token"),
                json!({"state": "forged"}),
            )
            .await,
        );
        seen.push(
            get(
                &browser(),
                &format!("{base}/actions/{ACTION}/oauth?state=forged"),
            )
            .await
            .body,
        );
        // A stored state that no longer opens, and "reset": the login form again.
        seen.push(
            post(
                format!("/actions/{ACTION}/form"),
                form_req(
                    &looker.state_url(),
                    Some("{\"hub_tokens\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
                ),
            )
            .await,
        );

        let sealed = |state: &str| {
            serde_json::from_str::<Value>(state).unwrap()["hub_tokens"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut secrets = vec![
            c.secret.clone(),
            self.key.clone(),
            sealed(&state_json),
            sealed(&v2_state),
            handoff,
            code,
        ];
        secrets.extend(p.issued(c).await);
        assert!(
            secrets.len() > 8,
            "codes and tokens were issued: {secrets:?}"
        );
        let links = seen
            .iter()
            .filter_map(|page| serde_json::from_str::<Value>(page).ok())
            .filter_map(|form| form["fields"][0]["oauth_url"].as_str().map(String::from))
            .filter_map(|url| query_param(&url, "state"))
            .collect::<Vec<_>>();
        assert_eq!(links.len(), 5, "five login forms");
        (seen, secrets, links)
    }
}

/// The OAuth-using actions of the hub, from its list (what Looker sees).
pub(crate) async fn oauth_actions(uh: &UserHub) -> Vec<String> {
    let names: Vec<String> = uh.hub.list().await["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["uses_oauth"] == true)
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["mark_suspicious", "writeback_batch"]);
    names
}

/// Log `user` in to `action` (v1) and return the state Looker received.
pub(crate) async fn login_v1_to(
    uh: &UserHub,
    looker: &Looker,
    action: &str,
    user: &str,
) -> (Url, String) {
    let su = looker.state_url();
    let (status, form) = uh.hub.form(action, &form_req(&su, None)).await;
    assert_eq!(status, 200, "{action}: {form}");
    let (authorize, back) = log_in(&login_link(&form), user).await;
    assert_eq!(back.status, 200, "{action}: {}", back.body);
    assert!(back.body.contains("You are logged in"), "{}", back.body);
    let posts = looker.posts_to(&su);
    assert_eq!(
        posts.len(),
        1,
        "{action}: exactly one state POST: {posts:?}"
    );
    (authorize, posts[0].clone())
}

// ---------------------------------------------------------------- a real browser

// ---------------------------------------------------------------- a real browser

/// What headless Chromium saw on the page a login ended on (scripts/browser/oauth_login.mjs).
pub(crate) struct Landing {
    pub(crate) url: String,
    pub(crate) status: u64,
    pub(crate) title: String,
    pub(crate) text: String,
    pub(crate) screenshots: Vec<String>,
}

/// Open `link` as Looker does (a login button opening a new tab) in headless Chromium and follow
/// it to the end; screenshots of each page go to `HUB_ARTEFACTS_DIR` as `<name>-*.png`.
pub(crate) async fn browse_login(link: &str, name: &str) -> Landing {
    let dir = format!("{}/browser", artefacts());
    let v = run_browser_script("oauth_login.mjs", &[link, &dir, name], 90).await;
    let f = &v["final"];
    Landing {
        url: f["url"].as_str().unwrap().to_string(),
        status: f["status"].as_u64().unwrap_or(0),
        title: f["title"].as_str().unwrap().to_string(),
        text: f["text"].as_str().unwrap().to_string(),
        screenshots: v["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["screenshot"].as_str().unwrap().to_string())
            .collect(),
    }
}
