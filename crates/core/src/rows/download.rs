//! A `download_url` read by the thread that parses it. The thread sends the request on a runtime
//! of its own and, once the download answered with success, parses the body, reading the
//! connection itself whenever the parser needs more bytes. Driven from another thread, the
//! connection was read only when the parser asked for more: the two woke each other for every
//! piece (5 400 times a second at 200 MB/s), and on two cores the parser lost its core about as
//! often.

use std::io::Read;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::parser::{parse, Msg};
use super::stop::Stoppable;
use super::RowsError;

/// Start downloading `url` on a thread of its own; returns once the download answered with
/// success (its rows, header first, then come to `tx`) or failed.
pub(super) async fn start(
    client: &crate::net::Http,
    url: &str,
    deadline: std::time::Duration,
    tx: mpsc::Sender<Msg>,
    stop: CancellationToken,
) -> Result<(), RowsError> {
    let url = url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| RowsError::Download("the download_url is not an http(s) URL".into()))?;
    // Its connection lives on the thread's runtime, gone with it: never kept for another request.
    let request = client
        .fresh_connections()
        .map_err(RowsError::Download)?
        .get(url)
        .map_err(|r| RowsError::Download(r.to_string()))?
        // The whole download, body included; the read timeout bounds each wait.
        .timeout(deadline);
    let (answer, answered) = oneshot::channel();
    std::thread::Builder::new()
        .name("hub-download".into())
        .spawn(move || download(request, deadline, answer, tx, stop))
        .map_err(|e| RowsError::Download(format!("cannot start the download's thread: {e}")))?;
    answered
        .await
        .map_err(|_| RowsError::Download("the download stopped".into()))?
}

/// The download's thread: the request, its answer to `answer`, then the body parsed to `tx`.
/// When the execute stops waiting for the answer (it was dropped), the request is dropped too.
fn download(
    request: reqwest::RequestBuilder,
    deadline: std::time::Duration,
    mut answer: oneshot::Sender<Result<(), RowsError>>,
    tx: mpsc::Sender<Msg>,
    stop: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let why = format!("cannot start the download's runtime: {e}");
            let _ = answer.send(Err(RowsError::Download(why)));
            return;
        }
    };
    let response = runtime.block_on(async {
        tokio::select! {
            r = request.send() => Some(r),
            _ = answer.closed() => None,
        }
    });
    let Some(response) = response else { return };
    let checked = response
        .map_err(|e| RowsError::Download(describe_download(&e, deadline)))
        .and_then(|r| runtime.block_on(successful(r)));
    let response = match checked {
        Ok(r) => r,
        Err(e) => {
            let _ = answer.send(Err(e));
            return;
        }
    };
    if answer.send(Ok(())).is_err() {
        return;
    }
    // Keep the URL (a one-time credential) out of the error: reqwest prints it.
    let body = response
        .bytes_stream()
        .map_err(move |e| std::io::Error::other(describe_download(&e, deadline)))
        .take_until(Box::pin(stop.clone().cancelled_owned()));
    let reader = OnThisThread {
        body,
        piece: Bytes::new(),
        runtime,
    };
    parse(Stoppable::new(reader, stop), tx);
}

/// The response of a download that answered with success; the reason of any other.
async fn successful(response: reqwest::Response) -> Result<reqwest::Response, RowsError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(RowsError::Download(crate::net::redirect_message(
            status.as_u16(),
        )));
    }
    if !status.is_success() {
        crate::net::log_reply_body("download_url", response).await;
        return Err(RowsError::Download(format!("HTTP {}", status.as_u16())));
    }
    Ok(response)
}

/// A body read by blocking on this thread's runtime, which drives the connection meanwhile.
struct OnThisThread<B> {
    /// Dropped before the runtime that drives it.
    body: B,
    /// What is left of the body's last piece.
    piece: Bytes,
    runtime: tokio::runtime::Runtime,
}

impl<B: Stream<Item = std::io::Result<Bytes>> + Unpin> Read for OnThisThread<B> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.piece.is_empty() {
            // A spent piece still holds the connection's read buffer: let go of it before the
            // connection reads again, so that it refills the same buffer. Kept, it made the
            // connection take a fresh one for every read (hundreds of KB, mapped and unmapped by
            // the allocator each time: a fifth of this thread's time went to page faults).
            self.piece = Bytes::new();
            match self.runtime.block_on(self.body.next()) {
                Some(piece) => self.piece = piece?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece[..n]);
        self.piece.advance(n);
        Ok(n)
    }
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
