//! Who a write-back acts as: the login of the Looker user (user mode), else the hub's own
//! identity, with the acting user's email recorded from the login or a Looker user attribute.

use super::{ActionContext, ExecuteGate};
use crate::api::{ActionParam, ActionRequest, ActionState, ExecuteResponse};
use crate::sinks::WriteCredential;

/// Name of the action param that receives the acting user's email from a Looker user attribute.
pub use crate::api::USER_EMAIL_PARAM;

/// The optional param that records who acted (Looker fills it from the `email` user attribute).
pub fn user_email_param() -> ActionParam {
    ActionParam {
        name: USER_EMAIL_PARAM.into(),
        label: "Acting user's email".into(),
        required: false,
        sensitive: false,
        description: Some(
            "Looker user attribute holding the user's email, recorded with every write-back row."
                .into(),
        ),
        per_user: None,
        user_attribute_name: Some("email".into()),
    }
}

/// The acting user's email from the user-attribute param, if Looker sent one.
pub fn acting_user(req: &ActionRequest) -> Option<String> {
    req.data_param(USER_EMAIL_PARAM)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Who a write-back acts as.
pub struct Writer {
    /// The identity of the write.
    pub credential: WriteCredential,
    /// The acting user's email: from the login, else from the user attribute.
    pub acted_by: Option<String>,
    /// A refreshed login to hand back to Looker, whether or not the write succeeds.
    pub state: Option<ActionState>,
}

/// The identity a write-back executes with, or the answer telling the user to log in.
pub async fn writer(
    ctx: &ActionContext<'_>,
    action: &str,
    req: &ActionRequest,
) -> Result<Writer, ExecuteResponse> {
    match ctx.gate.execute_gate(action, req).await {
        ExecuteGate::Proceed {
            credential,
            email,
            state,
        } => {
            if matches!(credential, WriteCredential::User { .. }) {
                ctx.run.acts_as_user();
            }
            Ok(Writer {
                credential,
                acted_by: email.or_else(|| acting_user(req)),
                state,
            })
        }
        ExecuteGate::Answer(resp) => {
            // A login is needed (or the provider is unavailable): nothing was attempted.
            ctx.run.refuse(super::run::ErrorKind::Auth);
            Err(resp)
        }
    }
}
