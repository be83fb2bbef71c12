//! What the hub learns about a call from its headers (who called, which webhook, which trace): a
//! plain struct, read from the headers by `crate::http`.

/// Looker's identifying headers and the Cloud Trace context of one request.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// `X-Looker-Instance`.
    pub looker_instance: Option<String>,
    /// `X-Looker-Webhook-Id` (what an admin quotes when something fails).
    pub webhook_id: Option<String>,
    /// Looker version from `User-Agent: LookerOutgoingWebhook/<version>`.
    pub looker_version: Option<String>,
    /// Trace id from `X-Cloud-Trace-Context: TRACE/SPAN;o=1`.
    pub trace_id: Option<String>,
    /// Span id from the same header, as Cloud Logging writes it (16 hex digits; the header's is
    /// decimal).
    pub span_id: Option<String>,
    /// A unique id for this request (also the write-back row id).
    pub request_id: String,
}
