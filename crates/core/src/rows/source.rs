//! Where a query result comes from: the pushed attachment (JSON or base64) or a streamed
//! `download_url`; each is read by the parser on its own thread.

use std::fmt;
use std::io::Read;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parser::{spawn_parser, Msg};
use super::stop::Stoppable;
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
        } => return super::download::start(&client, &url, deadline, tx, stop).await,
    }
    Ok(())
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
