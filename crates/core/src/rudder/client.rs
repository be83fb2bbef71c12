//! Delivery of batches to a data plane: gzip, Basic auth, a bounded number of batches in flight,
//! retries with exponential backoff and jitter (honouring `Retry-After`) on 429 / 5xx / connection
//! errors / timeouts, no retry on other 4xx, and a tally of what was accepted.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use super::batcher::{Batch, Decided};

/// How batches are delivered (from the `RUDDER_*` settings).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Batches on the wire at once.
    pub max_in_flight: usize,
    /// Attempts per batch (first try included).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Longest wait a `Retry-After` can ask for.
    pub retry_after_max: Duration,
    /// Time limit of one request (connect + send + answer).
    pub request_timeout: Duration,
    /// Compress bodies with gzip.
    pub gzip: bool,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_in_flight: 4,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            gzip: true,
        }
    }
}

/// Where batches go and the credential they carry.
#[derive(Clone)]
pub struct DataPlane {
    endpoint: reqwest::Url,
    /// `Basic base64("<write key>:")`, marked sensitive: the key of the params, or the named
    /// source's key as it was when the delivery started.
    auth: HeaderValue,
    /// A named source's key, re-read before every request: a key rotated while a long delivery
    /// runs is used from the next request on.
    live: Option<crate::secrets::LiveSecret>,
    /// `scheme://host[:port]` for messages (never credentials or the write key).
    display: String,
}

/// `Basic base64("<write key>:")`, marked sensitive.
fn basic_auth(write_key: &str) -> Result<HeaderValue, DataPlaneError> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"));
    let mut auth =
        HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| DataPlaneError::BadKey)?;
    auth.set_sensitive(true);
    Ok(auth)
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataPlane({})", self.display)
    }
}

/// Why a data plane URL or write key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataPlaneError {
    /// The URL does not parse.
    #[error("the RudderStack data plane URL is not a valid URL")]
    BadUrl,
    /// Not http(s).
    #[error("the RudderStack data plane URL must start with http:// or https://")]
    NotHttp,
    /// The write key cannot go in a header (cannot happen: it is sent base64-encoded; the
    /// variant spares a panic).
    #[error("the RudderStack write key contains characters that cannot be sent")]
    BadKey,
    /// A named source's write key was not read: this service does not send (see
    /// `SourcesSettings::names_only`; cannot happen in the execute service).
    #[error("this service does not send to RudderStack, so it holds no write key")]
    NoKey,
}

impl DataPlane {
    /// Parse a data plane URL (`https://host[/prefix]`; `/v1/batch` is appended) and a write key.
    pub fn new(url: &str, write_key: &str) -> Result<DataPlane, DataPlaneError> {
        let mut u = reqwest::Url::parse(url.trim()).map_err(|_| DataPlaneError::BadUrl)?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(DataPlaneError::NotHttp);
        }
        let host = u.host_str().ok_or(DataPlaneError::BadUrl)?.to_string();
        let display = match u.port() {
            Some(p) => format!("{}://{host}:{p}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        };
        // The write key is the only credential: drop any user:password and query from the URL.
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        let path = format!("{}/v1/batch", u.path().trim_end_matches('/'));
        u.set_path(&path);
        Ok(DataPlane {
            endpoint: u,
            auth: basic_auth(write_key)?,
            live: None,
            display,
        })
    }

    /// Read the write key from `key` before every request (a named source's key, rotated without
    /// a restart).
    pub fn with_live_key(mut self, key: crate::secrets::LiveSecret) -> DataPlane {
        self.live = Some(key);
        self
    }

    /// The `Authorization` header of the next request.
    fn authorization(&self) -> Result<HeaderValue, DataPlaneError> {
        match &self.live {
            Some(key) => basic_auth(secrecy::ExposeSecret::expose_secret(&key.current()).trim()),
            None => Ok(self.auth.clone()),
        }
    }

    /// The URL batches are posted to.
    pub fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    /// `scheme://host[:port]`, safe to show; for a named source, `of the source "name"`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The data plane of a named source (`RUDDER_SOURCES`): answers name the source, not its URL
    /// (the data plane stays out of Looker's hands like the write key).
    pub fn of_source(mut self, name: &str) -> DataPlane {
        self.display = format!("of the source {name:?}");
        self
    }
}

/// How one batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Accepted (2xx).
    Sent {
        /// Attempts it took.
        attempts: u32,
    },
    /// Given up on.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Last error, e.g. `HTTP 503`.
        error: String,
        /// The data plane refuses every request of this delivery (401 / 403 / 404): stop.
        fatal: bool,
    },
}

/// What a delivery did, batch by batch, added up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events accepted by the data plane.
    pub sent: u64,
    /// Events in batches given up on.
    pub failed: u64,
    /// Batches accepted.
    pub batches_sent: u64,
    /// Batches given up on.
    pub batches_failed: u64,
    /// Requests made, retries included.
    pub requests: u64,
    /// Attempts of the last failed batch and its error.
    pub last_failure: Option<(u32, String)>,
    /// Why delivery stopped early, if it did.
    pub stopped: Option<String>,
}

/// A batch the data plane answered for (or that was lost), with its rows' change-only
/// decisions.
#[derive(Debug)]
pub struct Settled {
    /// The batch's decisions.
    pub decided: Decided,
    /// Whether the data plane accepted it.
    pub accepted: bool,
}

/// Batches failing in a row (after all their retries) before the delivery stops.
const MAX_CONSECUTIVE_FAILED_BATCHES: u32 = 3;

/// An ongoing delivery: hand it batches, then `finish` it.
pub struct Delivery {
    client: crate::net::Http,
    plane: DataPlane,
    settings: DeliverySettings,
    tasks: JoinSet<(u64, Decided, BatchOutcome)>,
    tally: Tally,
    consecutive_failures: u32,
    /// Batches settled since the caller last took them.
    settled: Vec<Settled>,
}

impl Delivery {
    /// Start a delivery through a shared client.
    pub fn new(client: crate::net::Http, plane: DataPlane, settings: DeliverySettings) -> Delivery {
        Delivery {
            client,
            plane,
            settings,
            tasks: JoinSet::new(),
            tally: Tally::default(),
            consecutive_failures: 0,
            settled: Vec::new(),
        }
    }

    /// Whether the delivery has stopped (the data plane refuses us or keeps failing).
    pub fn stopped(&self) -> bool {
        self.tally.stopped.is_some()
    }

    /// Queue a batch; waits while `max_in_flight` batches are on the wire. Gives the batch back
    /// unsent when the delivery has stopped (the caller counts it).
    pub async fn send(&mut self, batch: Batch) -> Result<(), Batch> {
        while let Some(done) = self.tasks.try_join_next() {
            self.record(done);
        }
        while self.tasks.len() >= self.settings.max_in_flight.max(1) && !self.stopped() {
            if let Some(done) = self.tasks.join_next().await {
                self.record(done);
            }
        }
        if self.stopped() {
            return Err(batch);
        }
        let (client, plane, settings) = (
            self.client.clone(),
            self.plane.clone(),
            self.settings.clone(),
        );
        let (events, decided) = (batch.events as u64, batch.decided);
        self.tasks.spawn(async move {
            let outcome = deliver(client, plane, settings, batch.body).await;
            (events, decided, outcome)
        });
        Ok(())
    }

    /// The batches settled since the last call.
    pub fn settled(&mut self) -> Vec<Settled> {
        std::mem::take(&mut self.settled)
    }

    /// Wait for every batch on the wire and return the tally (their rows' decisions wait in
    /// [`Delivery::settled`]).
    pub async fn finish(&mut self) -> Tally {
        while let Some(done) = self.tasks.join_next().await {
            self.record(done);
        }
        std::mem::take(&mut self.tally)
    }

    fn record(&mut self, done: Result<(u64, Decided, BatchOutcome), tokio::task::JoinError>) {
        let (events, decided, outcome) = match done {
            Ok(r) => r,
            // A batch task cannot panic by design; if one is lost anyway, count it as failed (its
            // rows are not remembered: never settled).
            Err(_) => (
                0,
                Decided::default(),
                BatchOutcome::Failed {
                    attempts: 0,
                    error: "a delivery task was lost".into(),
                    fatal: false,
                },
            ),
        };
        self.settled.push(Settled {
            decided,
            accepted: matches!(outcome, BatchOutcome::Sent { .. }),
        });
        match outcome {
            BatchOutcome::Sent { attempts } => {
                self.tally.sent += events;
                self.tally.batches_sent += 1;
                self.tally.requests += u64::from(attempts);
                self.consecutive_failures = 0;
            }
            BatchOutcome::Failed {
                attempts,
                error,
                fatal,
            } => {
                self.tally.failed += events;
                self.tally.batches_failed += 1;
                self.tally.requests += u64::from(attempts);
                self.consecutive_failures += 1;
                if self.tally.stopped.is_none() {
                    if fatal && error.contains(crate::net::ALLOW_SETTING) {
                        self.tally.stopped = Some(format!(
                            "the data plane {} was not called: {error}",
                            self.plane.display
                        ));
                    } else if fatal {
                        self.tally.stopped = Some(format!(
                            "the data plane {} refused the delivery ({error})",
                            self.plane.display
                        ));
                    } else if self.consecutive_failures >= MAX_CONSECUTIVE_FAILED_BATCHES {
                        self.tally.stopped = Some(format!(
                            "{MAX_CONSECUTIVE_FAILED_BATCHES} batches in a row failed after all their attempts"
                        ));
                    }
                }
                self.tally.last_failure = Some((attempts, error));
            }
        }
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// One attempt's failure, and whether it is worth another.
enum AttemptError {
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    Final {
        error: String,
        fatal: bool,
    },
}

async fn deliver(
    client: crate::net::Http,
    plane: DataPlane,
    settings: DeliverySettings,
    body: Vec<u8>,
) -> BatchOutcome {
    let gzip_on = settings.gzip;
    let body = if gzip_on {
        match tokio::task::spawn_blocking(move || gzip(&body)).await {
            Ok(b) => Bytes::from(b),
            Err(_) => {
                return BatchOutcome::Failed {
                    attempts: 0,
                    error: "compression failed".into(),
                    fatal: false,
                }
            }
        }
    } else {
        Bytes::from(body)
    };
    let max = settings.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let req = match client.post(plane.endpoint.clone()) {
            Ok(req) => req,
            Err(refused) => {
                return BatchOutcome::Failed {
                    attempts: attempt,
                    error: refused.to_string(),
                    fatal: true,
                }
            }
        };
        let auth = match plane.authorization() {
            Ok(auth) => auth,
            Err(e) => {
                return BatchOutcome::Failed {
                    attempts: attempt,
                    error: e.to_string(),
                    fatal: true,
                }
            }
        };
        let mut req = req
            .timeout(settings.request_timeout)
            .header(AUTHORIZATION, auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        if gzip_on {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let err = match req.send().await {
            Ok(resp) => match classify(resp).await {
                Ok(()) => return BatchOutcome::Sent { attempts: attempt },
                Err(e) => e,
            },
            Err(e) => classify_transport(&e),
        };
        // Refused with a key that has been rotated since: the next attempt carries the new one.
        let rotated = matches!(&err, AttemptError::Final { error, .. } if error == "HTTP 401" || error == "HTTP 403")
            && plane.authorization().is_ok_and(|now| now != auth)
            && attempt < max;
        match err {
            AttemptError::Final { .. } if rotated => {}
            AttemptError::Final { error, fatal } => {
                return BatchOutcome::Failed {
                    attempts: attempt,
                    error,
                    fatal,
                }
            }
            AttemptError::Retry { error, retry_after } => {
                if attempt >= max {
                    return BatchOutcome::Failed {
                        attempts: attempt,
                        error,
                        fatal: false,
                    };
                }
                let wait = match retry_after {
                    Some(ra) => ra.min(settings.retry_after_max),
                    None => backoff(
                        attempt,
                        settings.backoff_base,
                        settings.backoff_max,
                        jitter(),
                    ),
                };
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The status of the answer. Its body (a peer's text, possibly anything it could reach) is read
/// up to a cap and only logged: it never reaches Looker.
async fn classify(resp: reqwest::Response) -> Result<(), AttemptError> {
    let status = resp.status();
    if status.is_success() {
        // Read the (small) answer so the connection can be reused.
        let _ = resp.bytes().await;
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    if status.is_redirection() {
        // Following it could reach any address (the policy is not the redirect target's).
        return Err(AttemptError::Final {
            error: crate::net::redirect_message(status.as_u16()),
            fatal: true,
        });
    }
    crate::net::log_reply_body("data plane", resp).await;
    let error = format!("HTTP {}", status.as_u16());
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            AttemptError::Retry { error, retry_after }
        }
        s if s.is_server_error() => AttemptError::Retry { error, retry_after },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            AttemptError::Final { error, fatal: true }
        }
        _ => AttemptError::Final {
            error,
            fatal: false,
        },
    })
}

fn classify_transport(e: &reqwest::Error) -> AttemptError {
    let error = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        let (cause, certificate) = crate::net::connect_cause(e);
        let error = format!("could not connect: {cause}");
        if certificate {
            // Every request would be refused the same way: stop and say why.
            return AttemptError::Final { error, fatal: true };
        }
        error
    } else {
        "connection lost".to_string()
    };
    if e.is_builder() {
        AttemptError::Final {
            error: "request could not be built".into(),
            fatal: true,
        }
    } else {
        AttemptError::Retry {
            error,
            retry_after: None,
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`) is RFC 2822 with the GMT zone.
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

pub use crate::retry::{backoff, jitter};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(1, b, m, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(1, b, m, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(3, b, m, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(10, b, m, 1.0), m);
        assert_eq!(backoff(u32::MAX, b, m, 0.0), m / 2);
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(31),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn data_plane_urls() {
        let p = DataPlane::new("https://hosted.rudderlabs.com", "k").unwrap();
        assert_eq!(
            p.endpoint.as_str(),
            "https://hosted.rudderlabs.com/v1/batch"
        );
        let p = DataPlane::new("http://user:pw@127.0.0.1:8080/prefix/?x=1#f", "k").unwrap();
        assert_eq!(p.endpoint.as_str(), "http://127.0.0.1:8080/prefix/v1/batch");
        assert_eq!(p.display(), "http://127.0.0.1:8080");
        assert!(format!("{p:?}").contains("127.0.0.1") && !format!("{p:?}").contains("pw"));
        assert_eq!(p.of_source("alpha").display(), "of the source \"alpha\"");
        assert_eq!(
            DataPlane::new("ftp://x", "k").unwrap_err(),
            DataPlaneError::NotHttp
        );
        assert_eq!(
            DataPlane::new("not a url", "k").unwrap_err(),
            DataPlaneError::BadUrl
        );
        assert_eq!(
            DataPlane::new("file:///etc/passwd", "k").unwrap_err(),
            DataPlaneError::NotHttp
        );
    }
}
