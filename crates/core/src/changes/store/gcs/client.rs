//! The four Cloud Storage JSON API calls the store makes (upload, download, list, delete), each
//! retried with backoff while the failure may heal (429, 5xx, a broken connection), for at most
//! the store's retry budget; what cannot heal (401, 403, a missing bucket) is answered at once in
//! a sentence naming the bucket, never with a token or Cloud Storage's reply body.
//!
//! Every write is a single-request multipart upload (`uploadType=multipart`): the object's
//! metadata and bytes in one request, with its `ifGenerationMatch` precondition. That is what
//! makes a head's compare-and-swap and a part's write-once hold; it is also the only upload
//! whose preconditions the local emulator enforces, so the tests exercise the production path.

use std::time::{Duration, Instant};

use bytes::Bytes;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use http::Extensions;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use url::Url;

use crate::net;
use crate::retry;

use super::location::Location;

/// Largest object the store reads: snapshot parts are about 6 MiB
/// (`changes::format::PART_RECORDS` records of 11 bytes), heads a few KiB. A larger object was
/// not written by the hub and is not read into memory.
pub const MAX_OBJECT_BYTES: usize = 32 << 20;

/// Largest page of a listing read (1 000 names with their metadata).
const MAX_LIST_PAGE_BYTES: usize = 4 << 20;

/// A stalled transfer fails after this long without a byte (then it is retried).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer of an upload made with a precondition.
pub enum Upload {
    /// Written; the object's new generation.
    Written(i64),
    /// Cloud Storage answered 412: the object's generation is not the one named. `doubtful`: an
    /// earlier attempt of this upload may have been written before its answer was lost, so the
    /// object may hold exactly these bytes.
    PreconditionFailed { doubtful: bool },
}

/// A Cloud Storage bucket reached through the JSON API.
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    location: Location,
    credentials: Option<Credentials>,
    retry_for: Duration,
}

/// One reply the caller reads (2xx, 404 or 412), and whether an earlier attempt may have reached
/// Cloud Storage.
struct Reply {
    response: Response,
    doubtful: bool,
}

impl Client {
    /// A client of `location` at `endpoint` (`https://storage.googleapis.com`, or an emulator);
    /// `credentials` None sends no `Authorization` (an emulator).
    pub fn new(
        endpoint: &str,
        location: Location,
        credentials: Option<Credentials>,
        retry_for: Duration,
    ) -> Result<Client, String> {
        let endpoint = Url::parse(endpoint.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| format!("{endpoint:?} is not an http(s) URL of Cloud Storage"))?;
        net::install_crypto();
        let http = reqwest::Client::builder()
            .user_agent(format!("{}/{}", crate::HUB_NAME, crate::HUB_VERSION))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Client {
            http,
            endpoint,
            location,
            credentials,
            retry_for,
        })
    }

    /// Where the objects are, `gs://bucket/prefix`.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Write `bytes` as object `name` if its generation is `if_generation` (0: only if there is
    /// no such object).
    pub async fn upload(
        &self,
        name: &str,
        bytes: &Bytes,
        if_generation: i64,
    ) -> Result<Upload, String> {
        let boundary = format!("hub-{}", uuid::Uuid::new_v4().simple());
        let pieces = multipart_body(&boundary, name, bytes);
        let length: usize = pieces.iter().map(Bytes::len).sum();
        let mut url = self.url(&["upload", "storage", "v1", "b", &self.location.bucket, "o"]);
        url.query_pairs_mut()
            .append_pair("uploadType", "multipart")
            .append_pair("ifGenerationMatch", &if_generation.to_string())
            .append_pair("fields", "generation");
        let content_type = format!("multipart/related; boundary={boundary}");
        let reply = self
            .call(|http| {
                // The pieces are shared, not copied: a part is in memory once.
                let stream = futures_util::stream::iter(
                    pieces
                        .clone()
                        .into_iter()
                        .map(Ok::<Bytes, std::convert::Infallible>),
                );
                http.request(Method::POST, url.clone())
                    .header(http::header::CONTENT_TYPE, &content_type)
                    .header(http::header::CONTENT_LENGTH, length)
                    .body(reqwest::Body::wrap_stream(stream))
            })
            .await?;
        match reply.response.status() {
            StatusCode::PRECONDITION_FAILED => Ok(Upload::PreconditionFailed {
                doubtful: reply.doubtful,
            }),
            StatusCode::NOT_FOUND => Err(self.no_bucket()),
            _ => {
                let meta = net::read_limited(reply.response, net::PEER_BODY_MAX)
                    .await
                    .ok_or("the answer to an upload could not be read")?;
                generation_of(&meta).map(Upload::Written)
            }
        }
    }

    /// Object `name`'s generation and bytes; `None` when there is no such object. A download
    /// that breaks off is made again, within the retry budget.
    pub async fn download(&self, name: &str) -> Result<Option<(i64, Vec<u8>)>, String> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let why = match self.download_once(name).await {
                Err(Download::BrokeOff(why)) => why,
                Err(Download::Failed(why)) => return Err(why),
                Ok(found) => return Ok(found),
            };
            let wait = retry::backoff(
                attempt,
                Duration::from_millis(200),
                Duration::from_secs(8),
                retry::jitter(),
            );
            if started.elapsed() + wait > self.retry_for {
                return Err(format!("{why} ({attempt} attempts)"));
            }
            tracing::warn!(bucket = %self.location.bucket, attempt, error = %why, "Cloud Storage download broke off; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn download_once(&self, name: &str) -> Result<Option<(i64, Vec<u8>)>, Download> {
        let mut url = self.object_url(name);
        url.query_pairs_mut().append_pair("alt", "media");
        let reply = self
            .call(|http| http.get(url.clone()))
            .await
            .map_err(Download::Failed)?;
        let mut response = reply.response;
        if response.status() == StatusCode::NOT_FOUND {
            // A missing object and a missing bucket both answer 404: tell them apart.
            return match self.bucket_exists().await {
                Ok(()) => Ok(None),
                Err(why) => Err(Download::Failed(why)),
            };
        }
        let generation = response
            .headers()
            .get("x-goog-generation")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                Download::Failed("Cloud Storage sent an object without its generation".into())
            })?;
        let announced = response.content_length().unwrap_or(0);
        if announced > MAX_OBJECT_BYTES as u64 {
            return Err(Download::Failed(too_large(name)));
        }
        // Sized once from the announced length: a part is not copied while it grows.
        let mut bytes = Vec::with_capacity(announced as usize);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_OBJECT_BYTES => {
                    return Err(Download::Failed(too_large(name)))
                }
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => return Ok(Some((generation, bytes))),
                Err(e) => {
                    return Err(Download::BrokeOff(format!(
                        "the download of {name} broke off: {}",
                        net::describe_reqwest(&e)
                    )))
                }
            }
        }
    }

    /// The names of the objects under `prefix` and, with `folders`, the next folder level only
    /// (the names of the folders just below `prefix`, without it or a trailing slash).
    pub async fn list(&self, prefix: &str, folders: bool) -> Result<Vec<String>, String> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.url(&["storage", "v1", "b", &self.location.bucket, "o"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("prefix", prefix)
                    .append_pair("maxResults", "1000");
                if folders {
                    q.append_pair("delimiter", "/")
                        .append_pair("fields", "prefixes,nextPageToken");
                } else {
                    q.append_pair("fields", "items(name),nextPageToken");
                }
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            let reply = self.call(|http| http.get(url.clone())).await?;
            if reply.response.status() == StatusCode::NOT_FOUND {
                return Err(self.no_bucket());
            }
            let page: Page = net::read_limited(reply.response, MAX_LIST_PAGE_BYTES)
                .await
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or("Cloud Storage sent a listing the hub cannot read")?;
            if folders {
                found.extend(page.prefixes.iter().filter_map(|p| {
                    let folder = p.strip_prefix(prefix)?.trim_end_matches('/');
                    (!folder.is_empty()).then(|| folder.to_string())
                }));
            } else {
                found.extend(page.items.into_iter().map(|i| i.name));
            }
            match page.next_page_token {
                // The same token again would list the same page forever.
                Some(t) if !t.is_empty() && token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => return Ok(found),
            }
        }
    }

    /// Delete object `name` (gone already is no error).
    pub async fn delete(&self, name: &str) -> Result<(), String> {
        let url = self.object_url(name);
        self.call(|http| http.request(Method::DELETE, url.clone()))
            .await
            .map(drop)
    }

    /// Ok when the bucket exists (a listing of one name answers), else why not.
    async fn bucket_exists(&self) -> Result<(), String> {
        let mut url = self.url(&["storage", "v1", "b", &self.location.bucket, "o"]);
        url.query_pairs_mut()
            .append_pair("maxResults", "1")
            .append_pair("prefix", &self.location.object(""))
            .append_pair("fields", "nextPageToken");
        let reply = self.call(|http| http.get(url.clone())).await?;
        match reply.response.status() {
            StatusCode::NOT_FOUND => Err(self.no_bucket()),
            _ => Ok(()),
        }
    }

    fn no_bucket(&self) -> String {
        format!(
            "the Cloud Storage bucket {} does not exist",
            self.location.bucket
        )
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Each segment is percent-encoded: an object name's slashes become %2F.
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn object_url(&self, name: &str) -> Url {
        self.url(&["storage", "v1", "b", &self.location.bucket, "o", name])
    }

    /// Send the request `build` makes until Cloud Storage answers something the caller reads
    /// (2xx, 404, 412), it fails in a way that cannot heal, or the retry budget is spent.
    async fn call(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, String> {
        let started = Instant::now();
        let mut doubtful = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let why = match self.attempt(&build).await {
                Attempt::Answer(response) => return Ok(Reply { response, doubtful }),
                Attempt::Final(why) => return Err(why),
                Attempt::Transient { why, reached } => {
                    doubtful |= reached;
                    why
                }
            };
            let wait = retry::backoff(
                attempt,
                Duration::from_millis(200),
                Duration::from_secs(8),
                retry::jitter(),
            );
            let spent = started.elapsed();
            if spent + wait > self.retry_for {
                return Err(format!(
                    "{why} ({attempt} attempts in {:.1} s)",
                    spent.as_secs_f64()
                ));
            }
            tracing::warn!(
                bucket = %self.location.bucket,
                attempt,
                error = %why,
                retry_in_ms = wait.as_millis() as u64,
                "Cloud Storage call failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, build: &impl Fn(&reqwest::Client) -> RequestBuilder) -> Attempt {
        let mut request = build(&self.http);
        if let Some(credentials) = &self.credentials {
            match credentials.headers(Extensions::new()).await {
                Ok(CacheableResource::New { data, .. }) => request = request.headers(data),
                Ok(CacheableResource::NotModified) => {
                    return Attempt::Final("the hub's Google credentials gave no token".into())
                }
                Err(e) => {
                    let why = format!("cannot obtain a Google access token: {e}");
                    return match e.is_transient() {
                        true => Attempt::Transient {
                            why,
                            reached: false,
                        },
                        false => Attempt::Final(why),
                    };
                }
            }
        }
        match request.send().await {
            Ok(response) => self.judge(response).await,
            Err(e) => {
                let (cause, certificate) = net::connect_cause(&e);
                if e.is_connect() && certificate {
                    Attempt::Final(format!("cannot connect to Cloud Storage: {cause}"))
                } else if e.is_connect() {
                    // No connection: the request never left, so it cannot have been applied.
                    Attempt::Transient {
                        why: format!("cannot connect to Cloud Storage: {cause}"),
                        reached: false,
                    }
                } else {
                    Attempt::Transient {
                        why: format!("Cloud Storage call failed: {}", net::describe_reqwest(&e)),
                        reached: true,
                    }
                }
            }
        }
    }

    /// Sort a reply: the caller's to read, worth another attempt, or a final refusal.
    async fn judge(&self, response: Response) -> Attempt {
        let status = response.status();
        if status.is_success()
            || status == StatusCode::NOT_FOUND
            || status == StatusCode::PRECONDITION_FAILED
        {
            return Attempt::Answer(response);
        }
        // The body is Cloud Storage's: logged (capped), never put into a message.
        net::log_reply_body("cloud storage", response).await;
        let bucket = &self.location.bucket;
        let code = status.as_u16();
        match status {
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Attempt::Transient {
                why: format!("Cloud Storage answered HTTP {code} (busy)"),
                reached: true,
            },
            s if s.is_server_error() => Attempt::Transient {
                why: format!("Cloud Storage answered HTTP {code}"),
                reached: true,
            },
            StatusCode::UNAUTHORIZED => Attempt::Final(format!(
                "Cloud Storage refused the hub's Google credentials (HTTP 401) for bucket {bucket}"
            )),
            StatusCode::FORBIDDEN => Attempt::Final(format!(
                "permission denied on the Cloud Storage bucket {bucket} (HTTP 403): the hub's \
                 service account needs storage.objects.get, create, delete and list on it"
            )),
            _ => Attempt::Final(format!(
                "Cloud Storage refused a request on bucket {bucket} (HTTP {code})"
            )),
        }
    }
}

/// Why a download did not bring the object.
enum Download {
    /// The body stopped before its end: worth downloading again.
    BrokeOff(String),
    Failed(String),
}

/// What one attempt came to.
enum Attempt {
    Answer(Response),
    /// Worth another attempt; `reached`: the request may have been applied.
    Transient {
        why: String,
        reached: bool,
    },
    Final(String),
}

/// A page of a listing (`fields=prefixes,items(name),nextPageToken`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    items: Vec<Item>,
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct Item {
    name: String,
}

/// The generation in an upload's answer (`{"generation": "1712…"}`; a string, as int64 are in
/// Google's JSON).
fn generation_of(meta: &[u8]) -> Result<i64, String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        generation: String,
    }
    serde_json::from_slice::<Meta>(meta)
        .ok()
        .and_then(|m| m.generation.parse().ok())
        .ok_or_else(|| "Cloud Storage answered an upload without the object's generation".into())
}

/// A `multipart/related` body in three pieces: the object's metadata (its name), its bytes, the
/// closing boundary. The boundary is random (128 bits), so it does not occur in the bytes.
fn multipart_body(boundary: &str, name: &str, bytes: &Bytes) -> [Bytes; 3] {
    let metadata = serde_json::json!({ "name": name, "contentType": "application/octet-stream" });
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
         --{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    [Bytes::from(head), bytes.clone(), Bytes::from(tail)]
}

fn too_large(name: &str) -> String {
    format!(
        "the object {name} is larger than {} MiB, which the hub never writes",
        MAX_OBJECT_BYTES >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_carries_the_name_then_the_bytes_between_boundaries() {
        let body = multipart_body("B", "p/s \"x\"/head", &Bytes::from_static(b"\x00\xffbytes"));
        let text = String::from_utf8_lossy(&body.concat()).into_owned();
        assert_eq!(
            text,
            "--B\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n\
             {\"name\":\"p/s \\\"x\\\"/head\",\"contentType\":\"application/octet-stream\"}\r\n\
             --B\r\nContent-Type: application/octet-stream\r\n\r\n\0\u{fffd}bytes\r\n--B--\r\n"
        );
    }

    #[test]
    fn object_names_are_one_path_segment() {
        let client = Client::new(
            "http://127.0.0.1:9/base/",
            Location::parse("bkt/pre").unwrap(),
            None,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            client.object_url("pre/s/snap/r 1/part-0").as_str(),
            "http://127.0.0.1:9/base/storage/v1/b/bkt/o/pre%2Fs%2Fsnap%2Fr%201%2Fpart-0"
        );
        assert!(Client::new(
            "storage",
            Location::parse("bkt").unwrap(),
            None,
            Duration::ZERO
        )
        .is_err());
    }

    #[test]
    fn an_upload_answer_gives_its_generation() {
        assert_eq!(generation_of(br#"{"generation":"1712"}"#), Ok(1712));
        assert!(generation_of(br#"{"generation":1712}"#).is_err());
        assert!(generation_of(b"<html>").is_err());
    }
}
