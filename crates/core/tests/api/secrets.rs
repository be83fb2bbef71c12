//! Secret settings given as Secret Manager references, resolved by the official client against a
//! local stand-in that answers the documented REST shape
//! (`GET /v1/projects/P/secrets/S/versions/V:access` → `{name, payload:{data, dataCrc32c}}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hub_core::routes::Function;
use hub_core::secrets::{crc32c, SecretSettings, Secrets};
use hub_core::settings::Settings;
use hub_core::startup::Hub;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::{test_vars, TestHub};

/// The token the stand-in expects from the hub.
pub const SM_TOKEN: &str = "sm-access-token";

/// Secret versions the stand-in knows, by full version name; `denied` ones answer 403.
#[derive(Default)]
pub struct Store {
    pub secrets: HashMap<String, String>,
    pub denied: Vec<String>,
    pub bad_checksum: Vec<String>,
    /// Versions in a state other than ENABLED (`DISABLED`, `DESTROYED`): FAILED_PRECONDITION.
    pub states: HashMap<String, (String, &'static str)>,
    /// Answer this many requests with 403, then as usual (IAM still propagating).
    pub deny_first: usize,
    pub requests: usize,
    /// Every version name asked for, in order.
    pub asked: Vec<String>,
    /// The bearer token accepted (default [`SM_TOKEN`]).
    pub token: Option<String>,
    /// `Some(L)`: the regional endpoint of location L (other names → 400); `None`: the global
    /// endpoint, which answers 400 for regional names as the real one does.
    pub location: Option<String>,
}

#[derive(Clone)]
pub struct SecretManager {
    pub url: String,
    pub store: Arc<Mutex<Store>>,
}

impl SecretManager {
    pub async fn spawn() -> SecretManager {
        SecretManager::spawn_at("127.0.0.1:0", None).await
    }

    /// A stand-in on `addr` (e.g. `127.0.0.2:0`), global or regional (`location`).
    pub async fn spawn_at(addr: &str, location: Option<&str>) -> SecretManager {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let store = Arc::new(Mutex::new(Store {
            location: location.map(String::from),
            ..Store::default()
        }));
        let shared = store.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let store = shared.clone();
                tokio::spawn(async move {
                    let Some(head) = crate::stand_ins::read_head(&mut socket).await else {
                        return;
                    };
                    let (status, body) = answer(&head, &store);
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(resp.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        SecretManager { url, store }
    }

    pub fn set(&self, name: &str, value: &str) {
        self.store
            .lock()
            .unwrap()
            .secrets
            .insert(name.into(), value.into());
    }

    pub fn requests(&self) -> usize {
        self.store.lock().unwrap().requests
    }
}

pub fn error(code: u16, status: &str, message: &str) -> (String, String) {
    let reason = match code {
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Bad Request",
    };
    (
        format!("{code} {reason}"),
        json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
    )
}

/// One request: `GET /v1/{name}:access?...` with `Authorization: Bearer SM_TOKEN`.
fn answer(head: &str, store: &Mutex<Store>) -> (String, String) {
    let mut store = store.lock().unwrap();
    store.requests += 1;
    let line = head.lines().next().unwrap_or("");
    let expected = format!("Bearer {}", store.token.as_deref().unwrap_or(SM_TOKEN));
    let authorized = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:") && l.trim_end().ends_with(&expected)
    });
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let Some(name) = path
        .split('?')
        .next()
        .and_then(|p| p.strip_prefix("/v1/"))
        .and_then(|p| p.strip_suffix(":access"))
    else {
        return error(400, "INVALID_ARGUMENT", "unexpected request");
    };
    if !line.starts_with("GET ") {
        return error(400, "INVALID_ARGUMENT", "expected GET");
    }
    store.asked.push(name.to_string());
    let regional = name.split('/').nth(2) == Some("locations");
    match &store.location {
        None if regional => {
            return error(
                400,
                "INVALID_ARGUMENT",
                "Regional secrets are served by the regional endpoint secretmanager.LOCATION.rep.googleapis.com.",
            )
        }
        Some(l) if name.split('/').nth(3) != Some(l.as_str()) => {
            return error(400, "INVALID_ARGUMENT", "Wrong endpoint for this resource.")
        }
        _ => {}
    }
    if store.deny_first > 0 {
        store.deny_first -= 1;
        return error(
            403,
            "PERMISSION_DENIED",
            &format!("Permission 'secretmanager.versions.access' denied for resource '{name}'"),
        );
    }
    if !authorized || store.denied.iter().any(|d| d == name) {
        return error(
            403,
            "PERMISSION_DENIED",
            &format!("Permission 'secretmanager.versions.access' denied for resource '{name}'"),
        );
    }
    if let Some((version, state)) = store.states.get(name) {
        return error(
            400,
            "FAILED_PRECONDITION",
            &format!("Secret Version [{version}] is in {state} state."),
        );
    }
    let Some(value) = store.secrets.get(name) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("Secret Version [{name}] not found."),
        );
    };
    let mut crc = i64::from(crc32c(value.as_bytes()));
    if store.bad_checksum.iter().any(|d| d == name) {
        crc += 1;
    }
    let body = json!({
        "name": name.replace("/versions/latest", "/versions/3"),
        "payload": {
            "data": base64::engine::general_purpose::STANDARD.encode(value),
            "dataCrc32c": crc.to_string()
        }
    });
    ("200 OK".into(), body.to_string())
}

pub fn sm_vars<'a>(sm: &'a SecretManager, tokens: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("HUB_TOKENS", tokens),
        ("HUB_SECRET_MANAGER_ENDPOINT", sm.url.as_str()),
        ("HUB_GCP_ACCESS_TOKEN", SM_TOKEN),
        ("HUB_SECRET_MANAGER_TIMEOUT_SECS", "3"),
    ]
}

async fn list_status(hub: &TestHub, token: &str) -> u16 {
    hub.post_with_auth("/", &json!({}), Some(&format!("Token token=\"{token}\"")))
        .await
        .status()
        .as_u16()
}

const REF: &str = "projects/acme/secrets/hub-token/versions/latest";

#[tokio::test]
async fn hub_tokens_from_secret_manager_are_resolved_at_start_and_follow_rotation() {
    let sm = SecretManager::spawn().await;
    sm.set(REF, "token-v1\n");
    let tokens = format!("{REF},literal-token");
    let mut vars = sm_vars(&sm, &tokens);
    vars.push(("HUB_SECRETS_REFRESH_SECS", "1"));
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;

    assert_eq!(list_status(&hub, "token-v1").await, 200);
    assert_eq!(list_status(&hub, "literal-token").await, 200);
    assert_eq!(
        list_status(&hub, REF).await,
        403,
        "the reference is not a token"
    );

    // Rotation: a new version behind `latest` is picked up without a restart.
    sm.set(REF, "token-v2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_status(&hub, "token-v2").await != 200 {
        assert!(Instant::now() < deadline, "rotation not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(list_status(&hub, "token-v1").await, 403);

    // Secret Manager failing later keeps the last good values.
    sm.store.lock().unwrap().denied.push(REF.into());
    let before = sm.requests();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sm.requests() < before + 2 {
        assert!(Instant::now() < deadline, "no refresh attempted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(list_status(&hub, "token-v2").await, 200);
    assert_eq!(list_status(&hub, "literal-token").await, 200);
}

pub async fn start_error(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let env = test_vars(0, &dir.path().join("s.sqlite"), vars);
    let settings = Settings::load(&env, false).unwrap();
    match Hub::new(settings).await {
        Ok(_) => panic!("the hub started with {vars:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_start_with_a_clear_message() {
    let sm = SecretManager::spawn().await;
    sm.set("projects/acme/secrets/ok/versions/1", "fine");
    sm.set("projects/acme/secrets/denied/versions/1", "hidden-value");
    sm.set("projects/acme/secrets/corrupt/versions/1", "corrupt-value");
    sm.set("projects/acme/secrets/empty/versions/1", "  \n");
    {
        let mut store = sm.store.lock().unwrap();
        store
            .denied
            .push("projects/acme/secrets/denied/versions/1".into());
        store
            .bad_checksum
            .push("projects/acme/secrets/corrupt/versions/1".into());
    }
    let cases = [
        (
            "projects/acme/secrets/missing/versions/1",
            "HUB_TOKENS: Secret Manager secret projects/acme/secrets/missing/versions/1 was not found",
        ),
        (
            "projects/acme/secrets/denied/versions/1",
            "HUB_TOKENS: the hub's service account may not read projects/acme/secrets/denied/versions/1",
        ),
        ("projects/acme/secrets/corrupt/versions/1", "CRC32C"),
        ("projects/acme/secrets/empty/versions/1", "empty"),
        (
            "projects/acme/secrets/no-version",
            "HUB_TOKENS: not a valid Secret Manager reference",
        ),
    ];
    for (reference, expected) in cases {
        // A good secret beside the bad one: the hub still refuses to start half-configured.
        let tokens = format!("projects/acme/secrets/ok/versions/1,{reference}");
        let msg = start_error(&sm_vars(&sm, &tokens)).await;
        assert!(msg.contains(expected), "{reference}: {msg}");
        for value in ["fine", "hidden-value", "corrupt-value", SM_TOKEN] {
            assert!(!msg.contains(value), "{msg} leaks {value}");
        }
    }

    // The hub's identity is refused by Secret Manager: same clear refusal.
    let tokens = "projects/acme/secrets/ok/versions/1";
    let mut vars = sm_vars(&sm, tokens);
    vars.retain(|(k, _)| *k != "HUB_GCP_ACCESS_TOKEN");
    vars.push(("HUB_GCP_ACCESS_TOKEN", "someone-else"));
    let msg = start_error(&vars).await;
    assert!(msg.contains("may not read"), "{msg}");

    // Secret Manager unreachable: bounded, and says so.
    let down = format!("http://127.0.0.1:{}", crate::stand_ins::closed_port());
    let mut vars = sm_vars(&sm, tokens);
    vars.retain(|(k, _)| *k != "HUB_SECRET_MANAGER_ENDPOINT");
    vars.push(("HUB_SECRET_MANAGER_ENDPOINT", down.as_str()));
    let started = Instant::now();
    let msg = start_error(&vars).await;
    assert!(
        msg.contains("could not read projects/acme/secrets/ok/versions/1"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn any_secret_setting_can_be_watched_and_literals_need_no_secret_manager() {
    let sm = SecretManager::spawn().await;
    sm.set("projects/acme/secrets/state-key/versions/latest", "key-1");
    let settings = SecretSettings {
        refresh: Duration::ZERO,
        endpoint: sm.url.clone(),
        regional_endpoint: sm.url.clone(),
        timeout: Duration::from_secs(3),
    };
    let secrets = Secrets::new(
        settings,
        Some(SM_TOKEN.to_string().into()),
        hub_core::startup::StartBudget::new(Duration::ZERO),
    );
    let literal = secrets
        .watch("HUB_STATE_KEY", &"plain-value".to_string().into())
        .await
        .unwrap();
    assert_eq!(sm.requests(), 0, "a literal never calls Secret Manager");
    use secrecy::ExposeSecret;
    assert_eq!(literal.current().expose_secret(), "plain-value");

    let live = secrets
        .watch(
            "HUB_STATE_KEY",
            &"projects/acme/secrets/state-key/versions/latest"
                .to_string()
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(live.current().expose_secret(), "key-1");
    sm.set("projects/acme/secrets/state-key/versions/latest", "key-2");
    secrets.refresh().await;
    assert_eq!(live.current().expose_secret(), "key-2");
    assert!(!format!("{live:?}").contains("key-2"));
}

#[tokio::test]
async fn oauth_client_secret_and_state_keys_can_be_secret_manager_references() {
    const SECRET_REF: &str = "projects/acme/secrets/oauth-client-secret/versions/3";
    const KEYS_REF: &str = "projects/acme/secrets/state-key/versions/latest";
    let sm = SecretManager::spawn().await;
    sm.set(SECRET_REF, "client-secret-from-sm");
    sm.set(
        KEYS_REF,
        &base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    );
    let mut vars = sm_vars(&sm, "hub-token");
    vars.extend([
        ("HUB_IDENTITY_MODE", "user"),
        ("OAUTH_CLIENT_ID", "client-id"),
        ("OAUTH_CLIENT_SECRET", SECRET_REF),
        ("OAUTH_STATE_KEYS", KEYS_REF),
        ("OAUTH_AUTH_URL", "http://127.0.0.1:9/authorize"),
        ("HUB_LOOKER_HOSTS", "127.0.0.1"),
    ]);
    let hub = TestHub::spawn_with(&vars, Function::ALL).await;
    assert_eq!(sm.requests(), 2, "both references were read at start");

    // The login link is sealed with the key from Secret Manager and opens again in oauth_initiate.
    let form: serde_json::Value = hub
        .post_with_auth(
            "/actions/mark_suspicious/form",
            &json!({"data": {"value": "1", "user_email": "ann@example.com", "state_url": "http://127.0.0.1:9/state/abc"}}),
            Some("Token token=\"hub-token\""),
        )
        .await
        .json()
        .await
        .unwrap();
    let link = form["fields"][0]["oauth_url"].as_str().expect("login link");
    let no_redirects = crate::helpers::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(link).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:9/authorize?"),
        "{location}"
    );

    // A reference whose payload is not a key stops the start, naming the setting only.
    sm.set(KEYS_REF, "not-a-key");
    let msg = start_error(&vars).await;
    assert!(msg.contains("OAUTH_STATE_KEYS"), "{msg}");
    assert!(!msg.contains("not-a-key"), "{msg}");
}
