//! `mark_suspicious`: a cell action that records a classification of one order in the insert-only
//! write-back table and asks Looker to refresh the query so the mark shows at once.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::writeback_form;
use super::{base_definition, svg_icon, Action, ActionContext, ActionError};
use crate::api::{
    ActionRequest, ExecuteResponse, FieldType, Form, FormField, Integration, RequiredField,
};
use crate::sinks::{table, SinkError};

/// Action name.
pub const NAME: &str = "mark_suspicious";
/// Tag that makes the action appear on a field.
pub const TAG: &str = "mark-suspicious";
/// Longest accepted order id.
const MAX_ID_CHARS: usize = 1024;

const ICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><path d="M32 4 8 14v16c0 15 10 26 24 30 14-4 24-15 24-30V14z" fill="#d93025"/><path d="M29 18h6v20h-6zm0 24h6v6h-6z" fill="#fff"/></svg>"##;
static ICON: LazyLock<String> = LazyLock::new(|| svg_icon(ICON_SVG));

/// The order id of a mark: the clicked cell's value (or the form's), trimmed, non-empty, at most
/// [`MAX_ID_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderId(String);

impl OrderId {
    /// Check a submitted id; the error says what is wrong with the field.
    pub fn parse(raw: Option<String>) -> Result<OrderId, String> {
        let id = raw.map(|s| s.trim().to_string()).unwrap_or_default();
        if id.is_empty() {
            Err("is required: the order id of the clicked cell".into())
        } else if id.chars().count() > MAX_ID_CHARS {
            Err(format!("is longer than {MAX_ID_CHARS} characters"))
        } else {
            Ok(OrderId(id))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The `mark_suspicious` cell action.
pub struct MarkSuspicious;

#[async_trait]
impl Action for MarkSuspicious {
    fn name(&self) -> &str {
        NAME
    }

    fn definition(&self, ctx: &ActionContext<'_>) -> Integration {
        let mut def = base_definition(
            ctx,
            NAME,
            "Mark as Suspicious",
            "Classify an order (Approved / Suspicious / Further Investigation) and record it in the write-back table.",
            true,
        );
        def.icon_data_uri = Some(ICON.clone());
        def.required_fields = vec![RequiredField::AnyTag {
            any_tag: vec![TAG.into()],
        }];
        writeback_form::finish_definition(ctx, &mut def);
        def
    }

    async fn form(
        &self,
        ctx: &ActionContext<'_>,
        req: &ActionRequest,
    ) -> Result<Form, ActionError> {
        let mut id = FormField::new("id", "Order ID", FieldType::String);
        id.required = Some(true);
        id.interactive = Some(false);
        id.default = req.data_param("value");
        Ok(writeback_form::gated_form(ctx, NAME, req, vec![id]).await)
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        req: ActionRequest,
    ) -> Result<ExecuteResponse, ActionError> {
        let id = OrderId::parse(req.form_param("id").or_else(|| req.data_param("value")));
        let classified = writeback_form::validate(&req, ctx.limits.max_comment_chars);
        let (id, classified) = match (id, classified) {
            (Ok(id), Ok(classified)) => (id, classified),
            (id, classified) => {
                let mut errors = classified.err().unwrap_or_default();
                if let Err(problem) = id {
                    errors.insert("id".into(), problem);
                }
                return Ok(ExecuteResponse::invalid(errors));
            }
        };
        let writer = match writeback_form::writer(ctx, NAME, &req).await {
            Ok(w) => w,
            Err(answer) => return Ok(answer),
        };
        let (cred, state) = (writer.credential, writer.state);
        let done = format!(
            "Order {} marked as {}.",
            id.as_str(),
            classified.classification
        );
        let meta = &ctx.meta;
        let marks = &*table::MARKS;
        let row = marks
            .row()
            .set("request_id", meta.request_id.as_str())
            .and_then(|r| r.set("order_id", id.into_string()))
            .and_then(|r| r.set("classification", classified.classification.to_string()))
            .and_then(|r| r.set("comment", classified.comment))
            .and_then(|r| r.set("acted_by", writer.acted_by))
            .and_then(|r| r.set("looker_instance", meta.looker_instance.clone()))
            .and_then(|r| r.set("webhook_id", meta.webhook_id.clone()))
            .and_then(|r| r.set("action", NAME))
            .and_then(|r| r.set("received_at", chrono::Utc::now()))
            .and_then(|r| r.build())
            .map_err(|e| SinkError::Other(e.to_string()));
        let written = match row {
            Ok(row) => ctx
                .sink
                .append(marks, std::slice::from_ref(&row), &cred)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let mut resp = match written {
            Ok(()) => {
                tracing::info!(action = NAME, request_id = %meta.request_id, sink = ctx.sink.name(), "write-back row appended");
                let mut resp = ExecuteResponse::success(done);
                resp.looker.refresh_query = true;
                resp
            }
            Err(e) => {
                tracing::error!(action = NAME, request_id = %meta.request_id, sink = ctx.sink.name(), error = %e, "write-back failed");
                ExecuteResponse::failure(e.user_message(&cred))
            }
        };
        // A refreshed login goes back to Looker whether or not the write succeeded.
        resp.looker.state = state;
        Ok(resp)
    }
}
