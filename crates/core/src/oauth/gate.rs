//! The OAuth gate of a hub in user identity mode (implements `OAuthGate`).

use crate::actions::{ExecuteGate, FormGate, OAuthGate};
use crate::api::{ActionRequest, ActionState, ExecuteResponse, Form, Integration};
use crate::sinks::WriteCredential;

use super::*;

/// The gate of a hub in user identity mode: the Looker user's own OAuth login.
#[async_trait::async_trait]
impl OAuthGate for OAuth {
    /// `uses_oauth` and the v2 `token_url`.
    fn apply_to_definition(&self, def: &mut Integration) {
        def.uses_oauth = true;
        def.token_url = Some(self.token_url(&def.name));
    }

    /// Show the login link unless the request carries a usable token, and hand a refreshed bundle
    /// back to Looker (POSTed to the request's `state_url` and returned as the form's `state`).
    async fn form_gate(&self, action: &str, req: &ActionRequest) -> FormGate {
        let oauth = self;
        match oauth
            .user_auth(
                action,
                req.data_param("state_json").as_deref(),
                req.data_param(crate::api::USER_EMAIL_PARAM).as_deref(),
            )
            .await
        {
            UserAuth::Ready { renewed, .. } => {
                if let (Some(data), Some(url)) = (&renewed, req.data_param("state_url")) {
                    if let Err(e) = oauth.store_state(&url, data).await {
                        tracing::warn!(action, error = %e, "refreshed login not stored through state_url; returned as form state only");
                    }
                }
                FormGate::Proceed {
                    state: renewed.map(|data| ActionState {
                        data,
                        refresh_time: None,
                    }),
                }
            }
            UserAuth::LoginNeeded(why) => FormGate::Answer(oauth.login_form(action, req, why)),
            UserAuth::Unavailable(e) => FormGate::Answer(Form {
                error: Some(format!(
                    "Your login could not be renewed right now: {e}. Please try again in a moment."
                )),
                ..Default::default()
            }),
        }
    }

    /// The user's (refreshed) access token, or a failure telling the user to log in again.
    async fn execute_gate(&self, action: &str, req: &ActionRequest) -> ExecuteGate {
        let oauth = self;
        let user_email = req.data_param(crate::api::USER_EMAIL_PARAM);
        match oauth
            .user_auth(action, req.data_param("state_json").as_deref(), user_email.as_deref())
            .await
        {
            UserAuth::Ready { bundle, renewed } => ExecuteGate::Proceed {
                credential: WriteCredential::User {
                    access_token: bundle.access_token,
                    expires_at: Some(bundle.expires_at),
                },
                email: bundle.email,
                state: renewed.map(|data| ActionState { data, refresh_time: None }),
            },
            UserAuth::LoginNeeded(why) => {
                let mut resp = ExecuteResponse::failure(match why {
                    LoginReason::NotOpenedHere => NOT_OPENED_HERE_EXECUTE,
                    LoginReason::RefreshRejected => "Your login was refused by the provider (revoked or expired, or just renewed by another request). Retry; if this keeps happening, open the action again and use the login link. Nothing was written.",
                    _ => "You are not logged in (or your login has expired). Open the action again and use the login link, then retry. Nothing was written.",
                });
                if why.clears_state() {
                    resp.looker.state = Some(ActionState { data: "reset".into(), refresh_time: None });
                }
                ExecuteGate::Answer(resp)
            }
            UserAuth::Unavailable(e) => ExecuteGate::Answer(ExecuteResponse::failure(format!(
                "Your login could not be renewed right now ({e}). Please try again in a moment. Nothing was written."
            ))),
        }
    }
}
