//! `mark_suspicious`: a cell action that records a classification of one order in the insert-only
//! write-back table and asks Looker to refresh the query so the mark shows at once.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;

use super::writeback_form::{self, acting_user, classification_fields, user_email_param};
use super::{base_definition, svg_icon, Action};
use crate::api::{
    ActionRequest, ExecuteResponse, FieldType, Form, FormField, Integration, RequiredField,
};
use crate::error::HubError;
use crate::meta::RequestMeta;
use crate::oauth::{self, ExecuteGate, FormGate};
use crate::sinks::{table, SinkError};
use crate::startup::Hub;

/// Action name.
pub const NAME: &str = "mark_suspicious";
/// Tag that makes the action appear on a field.
pub const TAG: &str = "mark-suspicious";
/// Longest accepted order id.
const MAX_ID_CHARS: usize = 1024;

const ICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><path d="M32 4 8 14v16c0 15 10 26 24 30 14-4 24-15 24-30V14z" fill="#d93025"/><path d="M29 18h6v20h-6zm0 24h6v6h-6z" fill="#fff"/></svg>"##;
static ICON: LazyLock<String> = LazyLock::new(|| svg_icon(ICON_SVG));

/// The `mark_suspicious` cell action.
pub struct MarkSuspicious;

#[async_trait]
impl Action for MarkSuspicious {
    fn name(&self) -> &'static str {
        NAME
    }

    fn definition(&self, hub: &Hub) -> Integration {
        let mut def = base_definition(
            hub,
            NAME,
            "Mark as Suspicious",
            "Classify an order (Approved / Suspicious / Further Investigation) and record it in the write-back table.",
            true,
        );
        def.icon_data_uri = Some(ICON.clone());
        def.required_fields = vec![RequiredField::AnyTag {
            any_tag: vec![TAG.into()],
        }];
        def.params = vec![user_email_param()];
        oauth::apply_to_definition(hub, &mut def);
        def
    }

    async fn form(
        &self,
        hub: &Hub,
        _meta: &RequestMeta,
        req: &ActionRequest,
    ) -> Result<Form, HubError> {
        let state = match oauth::form_gate(hub, NAME, req).await {
            FormGate::Proceed { state } => state,
            FormGate::Answer(form) => return Ok(form),
        };
        let mut id = FormField::new("id", "Order ID", FieldType::String);
        id.required = Some(true);
        id.interactive = Some(false);
        id.default = req.data_param("value");
        let mut fields = vec![id];
        fields.extend(classification_fields());
        Ok(Form {
            fields,
            state,
            ..Default::default()
        })
    }

    async fn execute(
        &self,
        hub: &Hub,
        meta: &RequestMeta,
        req: ActionRequest,
    ) -> Result<ExecuteResponse, HubError> {
        let mut errors = BTreeMap::new();
        let id = req
            .form_param("id")
            .or_else(|| req.data_param("value"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if id.is_empty() {
            errors.insert(
                "id".into(),
                "is required: the order id of the clicked cell".into(),
            );
        } else if id.chars().count() > MAX_ID_CHARS {
            errors.insert(
                "id".into(),
                format!("is longer than {MAX_ID_CHARS} characters"),
            );
        }
        let classified =
            writeback_form::validate(&req, hub.settings.max_comment_chars, &mut errors);
        let Some(classified) = classified.filter(|_| errors.is_empty()) else {
            return Ok(ExecuteResponse::invalid(errors));
        };
        let (cred, email, state) = match oauth::execute_gate(hub, NAME, &req).await {
            ExecuteGate::Proceed {
                credential,
                email,
                state,
            } => (credential, email, state),
            ExecuteGate::Answer(resp) => return Ok(resp),
        };
        let done = format!("Order {id} marked as {}.", classified.classification);
        let marks = &*table::MARKS;
        let row = marks
            .row()
            .set("request_id", meta.request_id.as_str())
            .and_then(|r| r.set("order_id", id))
            .and_then(|r| r.set("classification", classified.classification))
            .and_then(|r| r.set("comment", classified.comment))
            .and_then(|r| r.set("acted_by", email.or_else(|| acting_user(&req))))
            .and_then(|r| r.set("looker_instance", meta.looker_instance.clone()))
            .and_then(|r| r.set("webhook_id", meta.webhook_id.clone()))
            .and_then(|r| r.set("action", NAME))
            .and_then(|r| r.set("received_at", chrono::Utc::now()))
            .and_then(|r| r.build())
            .map_err(|e| SinkError::Other(e.to_string()));
        let written = match row {
            Ok(row) => hub
                .sink
                .append(marks, std::slice::from_ref(&row), &cred)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let mut resp = match written {
            Ok(()) => {
                tracing::info!(action = NAME, request_id = %meta.request_id, sink = hub.sink.name(), "write-back row appended");
                let mut resp = ExecuteResponse::success(done);
                resp.looker.refresh_query = true;
                resp
            }
            Err(e) => {
                tracing::error!(action = NAME, request_id = %meta.request_id, sink = hub.sink.name(), error = %e, "write-back failed");
                ExecuteResponse::failure(e.user_message(&cred))
            }
        };
        // A refreshed login goes back to Looker whether or not the write succeeded.
        resp.looker.state = state;
        Ok(resp)
    }
}
