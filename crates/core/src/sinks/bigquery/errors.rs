//! Google API errors as sink errors (what the user is told; details go to the log).

use super::*;

/// What one Google API error says, if it says something specific.
pub(super) fn kind_of(e: &google_cloud_gax::error::Error) -> Option<fn(String) -> SinkError> {
    if let Some(status) = e.status() {
        return Some(match status.code {
            Code::PermissionDenied => SinkError::PermissionDenied,
            Code::Unauthenticated => SinkError::Unauthenticated,
            Code::NotFound => SinkError::TableMissing,
            Code::ResourceExhausted => SinkError::Quota,
            Code::DeadlineExceeded => SinkError::Timeout,
            Code::Unavailable => SinkError::Unavailable,
            _ => SinkError::Other,
        });
    }
    match e.http_status_code() {
        Some(401) => Some(SinkError::Unauthenticated),
        Some(403) => Some(SinkError::PermissionDenied),
        Some(404) => Some(SinkError::TableMissing),
        Some(429) => Some(SinkError::Quota),
        _ if e.is_timeout() => Some(SinkError::Timeout),
        _ if e.is_connect() || e.is_io() || e.is_transport() => Some(SinkError::Unavailable),
        _ if e.is_authentication() => Some(SinkError::Unauthenticated),
        _ => None,
    }
}

/// Whether an append that failed this way may succeed on a new connection.
pub(super) fn retry_on_new_connection(err: &SinkError) -> bool {
    matches!(err, SinkError::Timeout(_) | SinkError::Unavailable(_))
}

/// 409 / ALREADY_EXISTS: a dataset or table created by someone else in the meantime.
pub(super) fn already_exists(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == Code::AlreadyExists) || e.http_status_code() == Some(409)
}

/// Map a Google API error to what the user is told (the detail goes to the log). When retries ran
/// out, the last attempt's error (further down the source chain) says what went wrong.
pub(super) fn classify(e: &google_cloud_gax::error::Error) -> SinkError {
    let detail = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(kind) = err
            .downcast_ref::<google_cloud_gax::error::Error>()
            .and_then(kind_of)
        {
            return kind(detail);
        }
        cur = err.source();
    }
    if e.is_exhausted() {
        SinkError::Timeout(detail)
    } else {
        SinkError::Other(detail)
    }
}

pub(super) fn append_error(e: AppendError) -> SinkError {
    match e {
        AppendError::Rpc { source, .. } => classify(&source),
        AppendError::RowErrors {
            status, row_errors, ..
        } => SinkError::Other(format!(
            "BigQuery refused {} row(s) ({}): {:?}",
            row_errors.len(),
            status.message,
            row_errors.first().map(|r| &r.message)
        )),
        other => SinkError::Unavailable(other.to_string()),
    }
}

pub(super) fn builder_error(e: WriterBuilderError) -> SinkError {
    match e {
        WriterBuilderError::Rpc { source, .. } => classify(&source),
        other => SinkError::Other(other.to_string()),
    }
}
