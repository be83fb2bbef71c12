//! Reading [`RequestMeta`] from a request's headers.

use actix_web::{HttpMessage, HttpRequest};

use crate::meta::RequestMeta;

/// Longest header value the hub keeps (values are logged and stored; Looker's are short).
const MAX_HEADER_LEN: usize = 256;

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    let v = req.headers().get(name)?.to_str().ok()?.trim();
    if v.is_empty() {
        return None;
    }
    let mut end = v.len().min(MAX_HEADER_LEN);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    Some(v[..end].to_string())
}

/// The metadata the logging middleware already read for this request (or read it now).
pub(crate) fn of(req: &HttpRequest) -> RequestMeta {
    if let Some(meta) = req.extensions().get::<RequestMeta>() {
        return meta.clone();
    }
    from_request(req)
}

/// The span id of `TRACE/SPAN;o=1` (a decimal number) in Cloud Logging's form: 16 hex digits.
fn span_of(context: &str) -> Option<String> {
    let span = context.split_once('/')?.1.split(';').next()?.trim();
    let n: u64 = span.parse().ok().filter(|n| *n != 0)?;
    Some(format!("{n:016x}"))
}

/// Read the metadata headers of a request (never fails: odd values are dropped).
pub(crate) fn from_request(req: &HttpRequest) -> RequestMeta {
    let looker_version = header(req, "user-agent").and_then(|ua| {
        ua.strip_prefix("LookerOutgoingWebhook/")
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .filter(|v| !v.is_empty())
    });
    let trace_context = header(req, "x-cloud-trace-context");
    let trace_id = trace_context.as_deref().and_then(|t| {
        let id = t.split('/').next().unwrap_or("");
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
    });
    let span_id = trace_context.as_deref().and_then(span_of);
    RequestMeta {
        looker_instance: header(req, "x-looker-instance"),
        webhook_id: header(req, "x-looker-webhook-id"),
        looker_version,
        trace_id,
        span_id,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}
