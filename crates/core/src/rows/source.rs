//! Where a query result comes from: the pushed attachment (JSON or base64) or a streamed
//! `download_url`; each is read by the parser on its own thread.

use std::fmt;
use std::io::Read;
use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::parser::{spawn_parser, Msg, Stopped};
use super::RowsError;

/// Where a query result comes from.
pub enum RowSource {
    /// The JSON document itself (a pushed attachment that was not base64).
    Bytes(Bytes),
    /// A base64-encoded JSON document (`;base64` mimetype).
    Base64(Bytes),
    /// A one-time URL to stream the document from.
    Url {
        /// HTTP client to use.
        client: crate::net::Http,
        /// The `download_url`.
        url: String,
        /// Longest the whole download may take.
        deadline: std::time::Duration,
    },
}

impl fmt::Debug for RowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            RowSource::Base64(b) => write!(f, "Base64({} bytes)", b.len()),
            // The download URL is a one-time credential: do not print it.
            RowSource::Url { .. } => write!(f, "Url(..)"),
        }
    }
}

/// Start reading `source` (for a URL: once the download answered with success), its header,
/// rows and error sent to `tx`. Once `stop` is cancelled the source reads no further (a pending
/// download read ends at once) and the parser ends with [`RowsError::Stopped`].
pub(super) async fn start(
    source: RowSource,
    tx: mpsc::Sender<Msg>,
    stop: CancellationToken,
) -> Result<(), RowsError> {
    match source {
        RowSource::Bytes(b) => spawn_parser(Stoppable::new(std::io::Cursor::new(b), stop), tx),
        RowSource::Base64(b) => {
            let reader = base64::read::DecoderReader::new(
                Base64Body(std::io::Cursor::new(b)),
                &base64::engine::general_purpose::STANDARD,
            );
            spawn_parser(Stoppable::new(reader, stop), tx)
        }
        RowSource::Url {
            client,
            url,
            deadline,
        } => {
            let url = url::Url::parse(url.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    RowsError::Download("the download_url is not an http(s) URL".into())
                })?;
            let request = client
                .get(url)
                .map_err(|r| RowsError::Download(r.to_string()))?
                // The whole download, body included; the read timeout bounds each wait.
                .timeout(deadline);
            // Aborted with the execute: a request it no longer waits for is not left running.
            let resp = AbortOnDropHandle::new(downloads()?.spawn(request.send()))
                .await
                .map_err(|e| RowsError::Download(format!("the download stopped: {e}")))?
                .map_err(|e| RowsError::Download(describe_download(&e, deadline)))?;
            let status = resp.status();
            if status.is_redirection() {
                return Err(RowsError::Download(crate::net::redirect_message(
                    status.as_u16(),
                )));
            }
            if !status.is_success() {
                crate::net::log_reply_body("download_url", resp).await;
                return Err(RowsError::Download(format!("HTTP {}", status.as_u16())));
            }
            // Keep the URL (a one-time credential) out of the error: reqwest prints it.
            let stream = resp
                .bytes_stream()
                .map_err(move |e| std::io::Error::other(describe_download(&e, deadline)))
                .take_until(Box::pin(stop.clone().cancelled_owned()));
            let reader = tokio_util::io::StreamReader::new(stream);
            let bridge = tokio_util::io::SyncIoBridge::new(reader);
            spawn_parser(Stoppable::new(bridge, stop), tx)
        }
    }
    Ok(())
}

/// The runtime that drives downloads. A download's connection is driven by the runtime that
/// opened it; on the execute's own (an actix worker runs its tasks one at a time) the download
/// would move only when the rows give way, and the parser would wait in turn.
fn downloads() -> Result<&'static tokio::runtime::Handle, RowsError> {
    static DOWNLOADS: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    DOWNLOADS
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hub-downloads")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| RowsError::Download(format!("cannot start the downloads' thread: {e}")))
}

/// A download error without its URL; a timeout names both settings that can cause it.
fn describe_download(e: &reqwest::Error, deadline: std::time::Duration) -> String {
    if e.is_timeout() {
        format!(
            "timed out (no data for HUB_HTTP_READ_TIMEOUT_SECS, or the whole download took longer \
             than the execute's time limit of {} s, from HUB_EXECUTE_TIMEOUT_SECS)",
            deadline.as_secs()
        )
    } else {
        crate::net::describe_reqwest(e)
    }
}

/// A source that fails with [`Stopped`] once its token is cancelled: before each read, and in
/// place of the end a cut-short download reports.
struct Stoppable<R> {
    inner: R,
    stop: CancellationToken,
}

impl<R> Stoppable<R> {
    fn new(inner: R, stop: CancellationToken) -> Stoppable<R> {
        Stoppable { inner, stop }
    }
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let stopped = || std::io::Error::other(Stopped);
        if self.stop.is_cancelled() {
            return Err(stopped());
        }
        match self.inner.read(buf)? {
            0 if self.stop.is_cancelled() => Err(stopped()),
            n => Ok(n),
        }
    }
}

/// Skips ASCII whitespace in base64 text (some producers wrap lines).
struct Base64Body<R>(R);

impl<R: Read> Read for Base64Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut w = 0;
            for r in 0..n {
                if !buf[r].is_ascii_whitespace() {
                    buf[w] = buf[r];
                    w += 1;
                }
            }
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

/// Where a request's result is: the pushed attachment or the scheduled plan's `download_url`.
pub fn source_of(
    req: &mut crate::api::ActionRequest,
    client: &crate::net::Http,
    deadline: std::time::Duration,
) -> Option<RowSource> {
    // The pushed payload is taken out of the request, not copied: it may be tens of megabytes.
    if let Some(att) = req.attachment.as_mut() {
        if let Some(data) = att.data.take() {
            let base64 = att
                .mimetype
                .as_deref()
                .is_some_and(|m| m.trim().ends_with(";base64"));
            let text = String::from(Box::<str>::from(data));
            if !text.starts_with('"') {
                // An inline JSON document: its text as it came.
                return Some(RowSource::Bytes(Bytes::from(text.into_bytes())));
            }
            // A JSON string (valid: the request parsed) holding the document or its base64.
            let inner: String = serde_json::from_str(&text).unwrap_or_default();
            drop(text);
            let bytes = Bytes::from(inner.into_bytes());
            return Some(if base64 {
                RowSource::Base64(bytes)
            } else {
                RowSource::Bytes(bytes)
            });
        }
    }
    let url = req.scheduled_plan.as_ref()?.download_url.as_ref()?;
    Some(RowSource::Url {
        client: client.clone(),
        url: url.clone(),
        deadline,
    })
}
