//! Outgoing calls (issue 12, items 1 and 2): the hub follows no redirect, never echoes a peer's
//! reply body, and calls non-public addresses only when `HUB_OUTBOUND_ALLOW` names them — whatever
//! URL the holder of the hub token puts in a request.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hub_core::routes::Function;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::download;
use crate::helpers::TestHub;
use crate::receiver::{Keep, Receiver};
use crate::support::rudder::{
    execute_raw, outcome, parse, request, Source, FAST_RETRIES, WRITE_KEY,
};

/// What an internal service would answer, and must never reach Looker.
const INTERNAL_SECRET: &str = "db_password=hunter2-internal";

/// A scripted HTTP/1.1 server on 127.0.0.1: answers every request with the same raw response
/// (after reading the request), counts requests and keeps their heads.
pub struct Scripted {
    pub url: String,
    hits: Arc<AtomicU32>,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    pub async fn start(response: String) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicU32::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (h, hd) = (hits.clone(), heads.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (h, hd, response) = (h.clone(), hd.clone(), response.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        if buf.len() > 64 * 1024 {
                            return;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut have = buf.len() - head_end;
                    while have < length {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => have += n,
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    hd.lock().unwrap().push(head);
                    let _ = sock.write_all(response.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Scripted {
            url,
            hits,
            heads,
            task,
        }
    }

    /// An internal service that would hand out a secret to whoever asks.
    pub async fn internal() -> Scripted {
        Scripted::start(answer(200, "text/plain", INTERNAL_SECRET, "")).await
    }

    /// A server that redirects every request to `location`.
    pub async fn redirect(status: u16, location: &str) -> Scripted {
        Scripted::start(answer(
            status,
            "text/plain",
            "moved",
            &format!("Location: {location}\r\n"),
        ))
        .await
    }

    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// A raw HTTP/1.1 response.
pub fn answer(status: u16, content_type: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

async fn hub_with(extra: &[(&str, &str)]) -> TestHub {
    let mut settings = FAST_RETRIES.to_vec();
    settings.extend_from_slice(extra);
    TestHub::spawn_with(&settings, Function::ALL).await
}

/// `(success, message)` of a rudder_track execute.
async fn track(hub: &TestHub, plane: &str, source: Source<'_>) -> (bool, String) {
    let body = request(plane, source, &[], Some("Redirected"));
    let (status, text) = execute_raw(hub, "rudder_track", &body, "webhook-outbound").await;
    assert_eq!(status, 200, "{text}");
    outcome(&parse(&text))
}

#[tokio::test]
async fn a_data_plane_redirect_is_reported_not_followed() {
    let hub = hub_with(&[]).await;
    let internal = Scripted::internal().await;
    for status in [301, 302, 307, 308] {
        let plane = Scripted::redirect(status, &format!("{}/v1/batch", internal.url)).await;
        let doc = download::users_result(3, 2);
        let (ok, message) = track(&hub, &plane.url, Source::Base64(&doc)).await;
        assert!(!ok, "{message}");
        assert_eq!(
            crate::helpers::unnamed(&message),
            format!(
                "sent 0 of 3 events to RudderStack; 3 failed after 1 attempt: the server answered \
                 a redirect ({status}), which the hub does not follow"
            )
        );
        assert_eq!(plane.hits(), 1, "a redirect is final: no retry");
    }
    assert_eq!(internal.hits(), 0, "the redirect target was never called");
}

#[tokio::test]
async fn a_data_plane_error_body_never_reaches_looker() {
    let hub = hub_with(&[]).await;
    // 400 (final) and 503 (retried): the body is logged, never answered.
    for (status, attempts) in [(400, 1), (503, 5)] {
        let plane = Scripted::start(answer(status, "text/plain", INTERNAL_SECRET, "")).await;
        let doc = download::users_result(2, 2);
        let (ok, message) = track(&hub, &plane.url, Source::Base64(&doc)).await;
        assert!(!ok);
        assert!(
            message.contains(&format!(
                "2 failed after {attempts} attempt{}: HTTP {status}",
                if attempts == 1 { "" } else { "s" }
            )),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(plane.hits(), attempts);
    }
}

#[tokio::test]
async fn a_download_redirect_is_reported_not_followed_and_leaks_nothing() {
    let hub = hub_with(&[]).await;
    let internal = Scripted::internal().await;
    let target = Scripted::redirect(302, &format!("{}/secret", internal.url)).await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let download_url = format!("{}/one-time-token-8d1e", target.url);
    let (ok, message) = track(&hub, &plane.url, Source::Url(&download_url)).await;
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "could not download the query result: the server answered a redirect (302), which the \
         hub does not follow; nothing was sent"
    );
    assert_eq!(internal.hits(), 0);
    assert_eq!(plane.requests().len(), 0);
    // The one request made carried no Referer (the one-time URL never leaves the hub).
    let heads = target.heads();
    assert_eq!(heads.len(), 1);
    assert!(
        !heads[0].to_ascii_lowercase().contains("referer"),
        "{}",
        heads[0]
    );

    // The whole-query write-back: same answer, nothing written.
    let body = json!({
        "type": "query",
        "scheduled_plan": {"download_url": download_url},
        "form_params": {"classification": "Suspicious", "comment": "x"},
    });
    let (_, text) = execute_raw(&hub, "writeback_batch", &body, "webhook-wb").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok);
    assert!(
        message.contains("the server answered a redirect (302), which the hub does not follow"),
        "{message}"
    );
    assert_eq!(internal.hits(), 0);
}

#[tokio::test]
async fn a_download_error_body_never_reaches_looker() {
    let hub = hub_with(&[]).await;
    let server = Scripted::start(answer(403, "text/plain", INTERNAL_SECRET, "")).await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let (ok, message) = track(&hub, &plane.url, Source::Url(&server.url)).await;
    assert!(!ok);
    assert_eq!(
        crate::helpers::unnamed(&message),
        "could not download the query result: HTTP 403; nothing was sent"
    );
}

#[tokio::test]
async fn non_public_addresses_are_refused_unless_allowed() {
    // No allowlist: what a production hub has by default.
    let hub = hub_with(&[("HUB_OUTBOUND_ALLOW", "")]).await;
    let plane = Receiver::start(WRITE_KEY, Keep::Ids).await;
    let port = plane.url.rsplit(':').next().unwrap().trim_end_matches('/');
    let doc = download::users_result(2, 2);
    for (url, shown) in [
        (
            plane.url.clone(),
            "127.0.0.1 is a loopback address".to_string(),
        ),
        (
            format!("http://localhost:{port}"),
            "localhost (127.0.0.1) is a loopback address".to_string(),
        ),
        (
            "http://169.254.169.254/computeMetadata/v1".into(),
            "169.254.169.254 is a link-local (metadata server) address".into(),
        ),
        (
            "http://[::ffff:10.0.0.7]:80".into(),
            "::ffff:10.0.0.7 (10.0.0.7) is a private address".into(),
        ),
        (
            "http://0.0.0.0:80".into(),
            "0.0.0.0 is an unspecified address".into(),
        ),
        // IPv4-translated, 6to4 and Teredo forms of the data plane's own address.
        (
            format!("http://[::ffff:0:127.0.0.1]:{port}/"),
            "::ffff:0:7f00:1 (127.0.0.1) is a loopback address".into(),
        ),
        (
            format!("http://[2002:7f00:1::1]:{port}/"),
            "2002:7f00:1::1 is a loopback address".into(),
        ),
        (
            format!("http://[2001:0:808:808::80ff:fffe]:{port}/"),
            "2001:0:808:808::80ff:fffe is a loopback address".into(),
        ),
    ] {
        let (ok, message) = track(&hub, &url, Source::Base64(&doc)).await;
        assert!(!ok);
        // localhost may resolve to ::1 first.
        let shown = if url.contains("localhost") && message.contains("(::1)") {
            "localhost (::1) is a loopback address".to_string()
        } else {
            shown
        };
        assert_eq!(
            crate::helpers::unnamed(&message),
            format!(
                "the RudderStack data plane is not called: {shown}, which the hub does not call \
                 unless HUB_OUTBOUND_ALLOW names it; nothing was sent"
            ),
            "{url}"
        );
    }
    assert_eq!(plane.requests().len(), 0);
    // The form says so before anyone runs the action.
    let (status, form) = hub
        .form(
            "rudder_track",
            &request(&plane.url, Source::Base64(&doc), &[], None),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        form["error"],
        "the RudderStack data plane is not called: 127.0.0.1 is a loopback address, which the \
         hub does not call unless HUB_OUTBOUND_ALLOW names it"
    );

    // A download URL by name is checked where the connection is made (the resolver: every new
    // connection, so a name re-pointed inside is refused then too).
    let server = Scripted::internal().await;
    let port = server.url.rsplit(':').next().unwrap();
    let public_plane = "http://plane.invalid"; // never resolved: the download fails first
    for url in [
        format!("http://localhost:{port}/x"),
        format!("{}/x", server.url),
    ] {
        let (ok, message) = track(&hub, public_plane, Source::Url(&url)).await;
        assert!(!ok);
        assert!(
            message.starts_with("could not download the query result: ")
                && message.contains("loopback address, which the hub does not call unless HUB_OUTBOUND_ALLOW names it")
                && crate::helpers::unnamed(&message).ends_with("; nothing was sent"),
            "{message}"
        );
    }
    assert_eq!(server.hits(), 0);

    // Allowed by name or by network: the same calls go through.
    for allow in ["localhost", "127.0.0.0/8,::1"] {
        let hub = hub_with(&[("HUB_OUTBOUND_ALLOW", allow)]).await;
        let url = format!("http://localhost:{port}/x");
        let (_, message) = track(&hub, public_plane, Source::Url(&url)).await;
        assert!(
            message.contains("not valid json_detail"),
            "{allow}: {message}"
        );
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_bad_allowlist_stops_the_hub_naming_the_setting() {
    let vars = crate::helpers::test_vars(
        8080,
        std::path::Path::new("/tmp/x.sqlite"),
        &[("HUB_OUTBOUND_ALLOW", "10.0.0.0/8, http://x")],
    );
    let err = hub_core::settings::Settings::load(&vars, false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "HUB_OUTBOUND_ALLOW is invalid: \"http://x\" is neither a network (10.0.0.0/8), an IP \
         address nor a host name"
    );
    // Local mode allows loopback without the setting.
    let vars = crate::helpers::test_vars(
        8080,
        std::path::Path::new("/tmp/x.sqlite"),
        &[("HUB_OUTBOUND_ALLOW", "")],
    );
    let s = hub_core::settings::Settings::load(&vars, true).unwrap();
    assert!(s
        .outbound_allow
        .check_ip("127.0.0.1".parse().unwrap())
        .is_ok());
    let s = hub_core::settings::Settings::load(&vars, false).unwrap();
    assert!(s
        .outbound_allow
        .check_ip("127.0.0.1".parse().unwrap())
        .is_err());
}

/// A user-mode hub (Looker on 127.0.0.1) and its OAuth client, to call it directly; `extra`
/// settings come after the defaults.
async fn user_mode_oauth(extra: &[(&str, &str)]) -> (TestHub, hub_core::oauth::OAuth) {
    let mut vars = vec![
        ("HUB_IDENTITY_MODE", "user"),
        ("OAUTH_CLIENT_ID", "client"),
        (
            "OAUTH_STATE_KEYS",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        ("HUB_LOOKER_HOSTS", "127.0.0.1"),
    ];
    vars.extend_from_slice(extra);
    let mut oauth = None;
    let hub = TestHub::spawn_custom(&vars, Function::ALL, |hub| oauth = hub.oauth.take()).await;
    (hub, oauth.expect("user mode"))
}

#[tokio::test]
async fn looker_state_url_and_token_endpoint_redirects_are_not_followed() {
    use hub_core::oauth::{ProviderError, StoreError};
    // Where a followed redirect would carry the user's sealed tokens or the client secret.
    let elsewhere = Scripted::start(answer(200, "application/json", "{}", "")).await;
    let looker = Scripted::redirect(307, &format!("{}/collect", elsewhere.url)).await;
    let provider = Scripted::redirect(307, &format!("{}/token", elsewhere.url)).await;
    let token_url = format!("{}/token", provider.url);
    let (_hub, oauth) = user_mode_oauth(&[
        ("OAUTH_CLIENT_SECRET", "client-secret-never-sent-on"),
        ("OAUTH_TOKEN_URL", &token_url),
        ("OAUTH_ISSUER", &provider.url),
    ])
    .await;
    let err = oauth
        .store_state(&format!("{}/state/abc", looker.url), r#"{"sealed":"x"}"#)
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Failed(Some(307)));
    let err = oauth.exchange_code("code-1").await.unwrap_err();
    assert!(matches!(err, ProviderError::Failed(307)), "{err:?}");
    assert_eq!((looker.hits(), provider.hits()), (1, 1));
    assert_eq!(elsewhere.hits(), 0, "no redirect was followed");
}

/// A Looker `state_url` on 127.0.0.1 that answers each connection's requests with `answer(n)`
/// (`n`: the connection's number, from 0; `None`: read the whole request, then close without
/// answering). Returns its URL and the number of requests each connection carried.
async fn state_receiver(answer: fn(u32) -> Option<&'static str>) -> (String, Arc<Mutex<Vec<u32>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let per_connection: Arc<Mutex<Vec<u32>>> = Arc::default();
    let counted = per_connection.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let slot = {
                let mut c = counted.lock().unwrap();
                c.push(0);
                c.len() - 1
            };
            let counted = counted.clone();
            let reply = answer(n);
            n += 1;
            tokio::spawn(async move {
                // Each request here is small: its head and body arrive in one read.
                let mut buf = vec![0u8; 16 * 1024];
                while matches!(socket.read(&mut buf).await, Ok(len) if len > 0) {
                    counted.lock().unwrap()[slot] += 1;
                    match reply {
                        Some(r) => {
                            if socket.write_all(r.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (url, per_connection)
}

const OK_KEEP_ALIVE: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

/// Looker's `state_url` is one-time: once the request was written, a connection closed before
/// any answer may already have stored the state, and a second POST would be refused ("Looker did
/// not accept the login" for a login that was stored). So it is not sent again. (This test used
/// to expect a second attempt here.)
#[tokio::test]
async fn a_state_url_connection_closed_after_the_request_was_written_is_not_sent_again() {
    let (url, per_connection) = state_receiver(|n| (n > 0).then_some(OK_KEEP_ALIVE)).await;
    let (_hub, oauth) = user_mode_oauth(&[("OAUTH_CLIENT_SECRET", "secret")]).await;
    let err = oauth
        .store_state(&format!("{url}/action_hub_state/x"), r#"{"sealed":"x"}"#)
        .await
        .unwrap_err();
    assert_eq!(err, hub_core::oauth::StoreError::Failed(None));
    assert_eq!(*per_connection.lock().unwrap(), [1], "sent once");
}

/// What the re-send was for — Looker closing a kept-alive connection just as the hub reuses it —
/// cannot happen: every state POST opens its own connection, even to a Looker that keeps
/// connections alive.
#[tokio::test]
async fn every_state_url_post_goes_on_its_own_connection() {
    let (url, per_connection) = state_receiver(|_| Some(OK_KEEP_ALIVE)).await;
    let (_hub, oauth) = user_mode_oauth(&[("OAUTH_CLIENT_SECRET", "secret")]).await;
    for i in 0..3 {
        oauth
            .store_state(&format!("{url}/action_hub_state/{i}"), r#"{"sealed":"x"}"#)
            .await
            .unwrap();
    }
    assert_eq!(*per_connection.lock().unwrap(), [1, 1, 1]);
}

/// A connection that could not be made sent nothing: that, and only that, is tried once more.
#[tokio::test]
async fn only_a_request_that_provably_sent_nothing_is_sent_again() {
    use hub_core::oauth::nothing_sent;
    let http = crate::helpers::client();
    let closed = format!("http://127.0.0.1:{}/x", crate::binaries::free_port());
    let refused = http.post(&closed).body("{}").send().await.unwrap_err();
    assert!(nothing_sent(&refused), "{refused:?}");
    let (url, _) = state_receiver(|_| None).await;
    let cut = http.post(&url).body("{}").send().await.unwrap_err();
    assert!(!nothing_sent(&cut), "{cut:?}");
}
