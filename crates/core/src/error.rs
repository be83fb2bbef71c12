//! The hub's request errors and how each reads in a Looker answer (statuses: `crate::http`).

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
    /// The instance has no room for the request now (memory budget, query-execute slots); the
    /// message says when to try again.
    #[error("{0}")]
    Busy(String),
}

/// Default of `HUB_MAX_BODY_BYTES`: 32 MiB, the request size API Gateway (and Cloud Run) accept,
/// so the hub and the gateway in front of it refuse the same pushes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

impl HubError {
    /// The error as an execute answer's `looker.message`: what a Looker user or admin reads in
    /// the action's result and the schedule history, so it says what to change.
    pub fn looker_message(&self) -> String {
        match self {
            HubError::PayloadTooLarge(limit) => format!(
                "The request Looker sent is larger than this action hub accepts ({} bytes, \
                 HUB_MAX_BODY_BYTES); nothing was done. Query results this large must be streamed: \
                 the hub's query actions ask for a download URL (\"url\" download setting), so a \
                 Looker admin should refresh the action hub in Admin → Actions to pick up the \
                 current definition; HUB_MAX_BODY_BYTES can only be raised where no API gateway \
                 (32 MB limit) sits in front of the hub.",
                crate::rudder::counts::group_digits(*limit as u64)
            ),
            HubError::Unauthorized(e) => format!(
                "The action hub refused Looker's authorization token ({e}). A Looker admin should \
                 check the hub's token in Admin → Actions."
            ),
            HubError::Busy(message) => message.clone(),
            other => format!("{other}."),
        }
    }
}
