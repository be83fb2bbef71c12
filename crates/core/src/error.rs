//! The hub's request errors and how each becomes a Looker answer.

use actix_web::http::StatusCode;

use crate::auth::AuthError;

/// Anything that stops a request from being served.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Missing / wrong / malformed hub token.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// The body or a parameter is not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown action.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// The body exceeds the configured limit.
    #[error("request body larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A bug or an unexpected failure (details are in the log).
    #[error("internal error: {0}")]
    Internal(String),
    /// The hub is shutting down and takes no new executes (Looker retries them).
    #[error("the action hub is shutting down; please try again")]
    ShuttingDown,
}

impl HubError {
    /// HTTP status for the error.
    pub fn status(&self) -> StatusCode {
        match self {
            HubError::Unauthorized(_) => StatusCode::FORBIDDEN,
            HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HubError::UnknownAction(_) => StatusCode::NOT_FOUND,
            HubError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            HubError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}
