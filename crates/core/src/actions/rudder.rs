//! RudderStack Identify / Group / Track (`rudder_event`, `rudder_group`, `rudder_track`): every
//! row of a query result becomes one event sent to a RudderStack data plane. The names, labels
//! and params are those of RudderStack's own Looker integration, so admins moving from the
//! hosted hub keep their configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::actions::run::{ChangeTally, ErrorKind, Rejection, RunTally, MAX_REJECTIONS_KEPT};
use crate::actions::{base_definition, svg_icon, Action, ActionContext, ActionError};
use crate::api::{
    ActionParam, ActionRequest, ExecuteResponse, FieldType, Form, FormField, Integration,
    RequiredField, SelectOption,
};
use crate::changes::mode::{self, SendMode};
use crate::changes::run::{Scope, Shape, Start};
use crate::meta::RequestMeta;
use crate::rows::{self, RowStream};
use crate::rudder::mapping::{IDENTITY_TAGS, TAG_GROUP_ID};
use crate::rudder::naming::{self, Naming};
use crate::rudder::pipeline::{self, ChangeOnly, Job};
use crate::rudder::sources::Sources;
use crate::rudder::{Call, DataPlane, RudderSettings};

/// Action param: the source write key.
pub const WRITE_KEY_PARAM: &str = "rudder_write_key";
/// Action param: the data plane URL.
pub const SERVER_URL_PARAM: &str = "rudder_server_url";
/// Appended to the answer of a delivery stopped part-way by the shutdown or its time limit.
pub const RUN_AGAIN: &str =
    "; run the action again to send every row (the rows already sent are sent again)";

/// [`RUN_AGAIN`] for a change-only send: what it delivered is remembered.
pub const RUN_AGAIN_CHANGED: &str =
    " Run the action again to send the rest: the rows delivered now are remembered.";

/// Track form field: the event name.
pub const EVENT_FIELD: &str = "event";
/// Form field naming the source (when `RUDDER_SOURCES` declares sources).
pub const SOURCE_FIELD: &str = "source";

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#1a1f36"/><path d="M20 48V16h14a9 9 0 0 1 2 17.8L45 48h-8l-8.2-14H27v14zm7-20h7a3 3 0 0 0 0-6h-7z" fill="#fff"/></svg>"##;

/// One of the three RudderStack calls as an action kind: its name, label and description. Made an
/// action by [`RudderCall::with`] and the delivery setup built at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RudderCall(Call);

/// `rudder_event`: identify calls.
pub const IDENTIFY: RudderCall = RudderCall(Call::Identify);
/// `rudder_group`: group calls.
pub const GROUP: RudderCall = RudderCall(Call::Group);
/// `rudder_track`: track calls.
pub const TRACK: RudderCall = RudderCall(Call::Track);

impl RudderCall {
    /// The action's name (the `{name}` path segment).
    pub fn name(&self) -> &'static str {
        match self.0 {
            Call::Identify => "rudder_event",
            Call::Group => "rudder_group",
            Call::Track => "rudder_track",
        }
    }

    /// The label Looker shows in the action menu.
    pub fn label(&self) -> &'static str {
        match self.0 {
            Call::Identify => "Rudder Identify",
            Call::Group => "Rudder Group",
            Call::Track => "Rudder Track",
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            Call::Identify => "Send each row to RudderStack as an identify call: the row's fields become the user's traits.",
            Call::Group => "Send each row to RudderStack as a group call: the row's fields become the group's traits.",
            Call::Track => "Send each row to RudderStack as a track event: the row's fields become its properties.",
        }
    }

    /// The action of this call, delivering with `setup`.
    pub fn with(self, setup: RudderSetup) -> RudderAction {
        RudderAction { call: self, setup }
    }
}

/// What only the RudderStack actions deliver with, built once at start: the delivery settings
/// (`RUDDER_*`) and the named sources (`RUDDER_SOURCES`, write keys kept fresh). Cheap to clone:
/// the three actions share one.
#[derive(Debug, Clone, Default)]
pub struct RudderSetup {
    /// How rows are batched and delivered.
    pub settings: Arc<RudderSettings>,
    /// The named sources; empty: the actions' params name the data plane.
    pub sources: Arc<Sources>,
}

/// One of the three RudderStack actions.
pub struct RudderAction {
    call: RudderCall,
    setup: RudderSetup,
}

fn params() -> Vec<ActionParam> {
    vec![
        ActionParam {
            name: WRITE_KEY_PARAM.into(),
            label: "Rudder Write Key".into(),
            required: true,
            sensitive: true,
            description: Some("Write key of the Looker source in RudderStack.".into()),
            ..ActionParam::default()
        },
        ActionParam {
            name: SERVER_URL_PARAM.into(),
            label: "Rudder Data Plane URL".into(),
            required: true,
            sensitive: false,
            description: Some(
                "Your RudderStack data plane URL, e.g. https://yourcompany.dataplane.rudderstack.com"
                    .into(),
            ),
            ..ActionParam::default()
        },
    ]
}

/// Where a delivery goes: a named source, or the action's params.
enum Target {
    /// The data plane is ready.
    Plane {
        plane: DataPlane,
        /// The named source, if any (logs and the delivery identity use it).
        source: Option<String>,
    },
    /// The form lacks a field: a validation error.
    Invalid(BTreeMap<String, String>),
    /// Nothing can be sent: the message says why.
    Failure(String),
}

/// The data plane of this request: with sources declared, the one the form's `source` names
/// (the params are ignored: the write key never passes through Looker); else the params'.
fn target(sources: &Sources, req: &ActionRequest) -> Target {
    if sources.is_empty() {
        return match data_plane(req) {
            Ok(plane) => Target::Plane {
                plane,
                source: None,
            },
            Err(message) => Target::Failure(message),
        };
    }
    let chosen = match req.form_text(SOURCE_FIELD) {
        Some(Ok(chosen)) => chosen,
        Some(Err(shape)) => {
            return Target::Invalid(BTreeMap::from([(SOURCE_FIELD.to_string(), shape)]))
        }
        None => String::new(),
    };
    let mut chosen = chosen.trim();
    if let ("", [only]) = (chosen, sources.all()) {
        // One source: schedules made before sources were declared keep working.
        chosen = only.name.as_str();
    }
    if chosen.is_empty() {
        return Target::Invalid(BTreeMap::from([(
            SOURCE_FIELD.to_string(),
            "is required: choose the RudderStack source to send to".to_string(),
        )]));
    }
    let Some(source) = sources.get(chosen) else {
        let shown: String = chosen.chars().take(64).collect();
        return Target::Failure(format!(
            "the RudderStack source {shown:?} is not configured on this action hub any more (it has: {}); nothing was sent. Edit this schedule and choose another source, or ask the hub admin to add {shown:?} back to RUDDER_SOURCES",
            sources.names()
        ));
    };
    match source.data_plane() {
        Ok(plane) => Target::Plane {
            plane,
            source: Some(source.name.clone()),
        },
        Err(e) => Target::Failure(format!(
            "the RudderStack source {:?} cannot be used: {e}; nothing was sent",
            source.name
        )),
    }
}

/// The `naming` select.
fn naming_field() -> FormField {
    let mut f = FormField::new(naming::FIELD, "Property names", FieldType::Select);
    f.description = Some(
        "How the columns are named in RudderStack: view.field (as RudderStack's hosted hub), the field name alone, or the field's label in snake_case. Names that would collide keep view.field.".into(),
    );
    f.options = Some(
        Naming::OPTIONS
            .iter()
            .map(|(_, name, label)| SelectOption {
                name: name.to_string(),
                label: label.to_string(),
            })
            .collect(),
    );
    f.default = Some(Naming::ViewField.as_str().into());
    f
}

/// The data plane from the action's params, or the message telling the admin what to fix.
fn data_plane(req: &ActionRequest) -> Result<DataPlane, String> {
    let key = req.data_param(WRITE_KEY_PARAM).unwrap_or_default();
    if key.trim().is_empty() {
        return Err(format!(
            "The RudderStack write key is not set: fill in \"Rudder Write Key\" ({WRITE_KEY_PARAM}) in this action's settings in Looker."
        ));
    }
    let url = req.data_param(SERVER_URL_PARAM).unwrap_or_default();
    if url.trim().is_empty() {
        return Err(format!(
            "The RudderStack data plane URL is not set: fill in \"Rudder Data Plane URL\" ({SERVER_URL_PARAM}) in this action's settings in Looker."
        ));
    }
    DataPlane::new(&url, key.trim()).map_err(|e| format!("{e}."))
}

/// What identifies this Looker delivery: the webhook id; without one, the scheduled plan id
/// together with the result's `ran_at` (one run of the schedule: a re-delivery of that run has the
/// same, the next run another, so its unchanged rows are not dropped as duplicates); else this
/// request alone (then a Looker retry cannot be deduplicated, but nothing is dropped).
fn delivery_key(meta: &RequestMeta, req: &ActionRequest, ran_at: Option<&str>) -> String {
    if let Some(w) = &meta.webhook_id {
        return format!("webhook:{w}");
    }
    let plan = req
        .scheduled_plan
        .as_ref()
        .and_then(|p| p.scheduled_plan_id.as_ref())
        .map(|id| id.to_string());
    match (plan, ran_at.map(str::trim).filter(|r| !r.is_empty())) {
        (Some(p), Some(ran_at)) => format!("plan:{p}:ran_at:{ran_at}"),
        _ => format!("request:{}", meta.request_id),
    }
}

#[async_trait]
impl Action for RudderAction {
    fn name(&self) -> &str {
        self.call.name()
    }

    fn definition(&self, ctx: &ActionContext<'_>) -> Integration {
        let mut d = base_definition(
            ctx,
            self.name(),
            self.call.label(),
            self.call.description(),
            // Every call has a form: the source (with named sources) and the property names;
            // Looker asks for a form only when the definition names one.
            true,
        );
        d.icon_data_uri = Some(svg_icon(ICON));
        // Named sources: the hub holds the write keys, Looker holds none.
        d.params = if self.setup.sources.is_empty() {
            params()
        } else {
            Vec::new()
        };
        d.required_fields = vec![match self.call.0 {
            Call::Group => RequiredField::Tag {
                tag: TAG_GROUP_ID.into(),
            },
            Call::Identify | Call::Track => RequiredField::AnyTag {
                any_tag: IDENTITY_TAGS.iter().map(|t| t.to_string()).collect(),
            },
        }];
        crate::actions::streaming_query(&mut d);
        d
    }

    async fn form(
        &self,
        ctx: &ActionContext<'_>,
        req: &ActionRequest,
    ) -> Result<Form, ActionError> {
        let mut fields = Vec::new();
        if self.setup.sources.is_empty() {
            let refused = match data_plane(req) {
                Err(message) => Some(message),
                Ok(plane) => ctx
                    .http
                    .preflight(plane.endpoint())
                    .await
                    .err()
                    .map(|r| format!("the RudderStack data plane is not called: {r}")),
            };
            if let Some(message) = refused {
                return Ok(Form {
                    error: Some(message),
                    ..Form::default()
                });
            }
        } else {
            let all = self.setup.sources.all();
            let mut source = FormField::new(SOURCE_FIELD, "RudderStack source", FieldType::Select);
            source.description = Some("Where the rows are sent.".into());
            source.required = Some(true);
            source.options = Some(
                all.iter()
                    .map(|s| SelectOption {
                        name: s.name.clone(),
                        label: s.label.clone(),
                    })
                    .collect(),
            );
            if let [only] = all {
                source.default = Some(only.name.clone());
            }
            fields.push(source);
        }
        if self.call == TRACK {
            let mut event = FormField::new(EVENT_FIELD, "Event", FieldType::String);
            event.description = Some("The name of the event you are tracking.".into());
            event.required = Some(true);
            fields.push(event);
        }
        fields.push(naming_field());
        if ctx.changes.is_some() {
            fields.push(mode::form_field());
        }
        Ok(Form {
            fields,
            ..Form::default()
        })
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        mut req: ActionRequest,
    ) -> Result<ExecuteResponse, ActionError> {
        let (plane, source_name) = match target(&self.setup.sources, &req) {
            Target::Plane { plane, source } => (plane, source),
            Target::Invalid(errors) => return Ok(ExecuteResponse::invalid(errors)),
            Target::Failure(message) => {
                ctx.run.fail(ErrorKind::Configuration);
                return Ok(ExecuteResponse::failure(message));
            }
        };
        if let Some(name) = &source_name {
            ctx.run.rudder_source(name);
        }
        let naming = match req.form_text(naming::FIELD).transpose() {
            Ok(chosen) => Naming::parse(chosen.as_deref())
                .ok_or_else(|| "must be view.field, field or label".to_string()),
            Err(shape) => Err(shape),
        };
        let naming = match naming {
            Ok(naming) => naming,
            Err(problem) => {
                let errors = BTreeMap::from([(naming::FIELD.to_string(), problem)]);
                return Ok(ExecuteResponse::invalid(errors));
            }
        };
        let mode = match req.form_text(mode::FIELD).transpose() {
            Ok(answer) => SendMode::parse(answer.as_deref()),
            Err(shape) => Err(shape),
        };
        let mode = match mode {
            Ok(mode) => mode,
            Err(problem) => {
                let errors = BTreeMap::from([(mode::FIELD.to_string(), problem)]);
                return Ok(ExecuteResponse::invalid(errors));
            }
        };
        ctx.run.send_mode(mode);
        let memory = match (mode.remembers(), ctx.changes) {
            (false, _) => None,
            (true, Some(changes)) => Some(changes),
            (true, None) => {
                ctx.run.fail(ErrorKind::Configuration);
                return Ok(ExecuteResponse::failure(NO_MEMORY));
            }
        };
        // The run's time limit starts now: a wait for another run of the schedule ends well
        // before it.
        let wait_until = memory.map(|m| m.wait_until(ctx.limits.download_deadline));
        if let Err(refused) = ctx.http.preflight(plane.endpoint()).await {
            ctx.run.fail(ErrorKind::Configuration);
            return Ok(ExecuteResponse::failure(format!(
                "the RudderStack data plane is not called: {refused}; nothing was sent"
            )));
        }
        let event = match req.form_text(EVENT_FIELD).transpose() {
            Ok(event) => event
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty()),
            Err(shape) => {
                let errors = BTreeMap::from([(EVENT_FIELD.to_string(), shape)]);
                return Ok(ExecuteResponse::invalid(errors));
            }
        };
        if self.call == TRACK && event.is_none() {
            let errors = BTreeMap::from([(
                EVENT_FIELD.to_string(),
                "is required: the name of the event to track".to_string(),
            )]);
            return Ok(ExecuteResponse::invalid(errors));
        }
        let Some(source) = rows::source_of(&mut req, ctx.http, ctx.limits.download_deadline) else {
            ctx.run.fail(ErrorKind::Request);
            return Ok(ExecuteResponse::failure(
                "Looker sent no query result (neither an attachment nor scheduled_plan.download_url): send the results as JSON detail.",
            ));
        };
        let opened = tokio::select! {
            biased;
            _ = ctx.windup.hurry().cancelled() => {
                return Ok(ExecuteResponse::failure(format!(
                    "{} before the result's fields arrived; nothing was sent; run the action again",
                    ctx.windup.why()
                )));
            }
            opened = RowStream::open(source) => opened,
        };
        let stream = match opened {
            Ok(s) => s,
            Err(e) => {
                ctx.run.fail(ErrorKind::Download);
                return Ok(ExecuteResponse::failure(format!("{e}; nothing was sent")));
            }
        };
        let mut key = delivery_key(ctx.meta, &req, stream.header().ran_at.as_deref());
        if let Some(name) = &source_name {
            // The source is part of the delivery identity: the same rows sent to two sources
            // are two deliveries (distinct messageIds); a re-delivery to one source is not.
            key = format!("source:{name}:{key}");
        }
        let hidden = req
            .scheduled_plan
            .as_ref()
            .map(|p| p.hidden_fields())
            .unwrap_or(&[]);
        let destination = destination(source_name.as_deref(), &plane, &req);
        let job = Job {
            call: self.call.0,
            event: if self.call == TRACK {
                event.as_deref()
            } else {
                None
            },
            hidden_fields: hidden,
            delivery_key: &key,
            naming,
            plane,
            client: ctx.http.clone(),
            settings: &self.setup.settings,
            stop: ctx.windup.hurry(),
            stopped_because: &|| ctx.windup.why(),
            keep_rejections: MAX_REJECTIONS_KEPT,
        };
        let started = std::time::Instant::now();
        let prepared = match pipeline::prepare(job, stream) {
            Ok(p) => p,
            Err(e) => {
                ctx.run.fail(ErrorKind::Request);
                return Ok(ExecuteResponse::failure(format!("{e}; nothing was sent")));
            }
        };
        let plan = req
            .scheduled_plan
            .as_ref()
            .and_then(|p| p.scheduled_plan_id.as_ref())
            .map(|id| id.to_string());
        let (report, explore) = match (memory.zip(wait_until), plan) {
            (Some((memory, wait_until)), Some(plan)) => {
                let start = Start {
                    scope: Scope {
                        looker_instance: ctx.meta.looker_instance.clone().unwrap_or_default(),
                        scheduled_plan_id: plan,
                        action: self.name().to_string(),
                        destination,
                    },
                    mode,
                    run_id: &ctx.meta.request_id,
                    shape: Shape {
                        key: prepared.mapper().key_definition(),
                        fields: prepared.mapper().delivered_names(),
                    },
                    wait_until,
                    // Track events are appended downstream; identify and group calls upsert.
                    append_only: self.call == TRACK,
                };
                let mut run = match memory.begin(start).await {
                    Ok(run) => run,
                    Err(refused) => {
                        ctx.run.fail(refused.error_kind.into());
                        return Ok(ExecuteResponse::failure(refused.message));
                    }
                };
                let changes = ChangeOnly {
                    run: &mut run,
                    mode,
                };
                let mut report = prepared.run(Some(changes)).await;
                let summary = run.commit(report.input_error.is_none()).await;
                ctx.run.changes(ChangeTally::of(&summary));
                if let Some(c) = report.changes.as_mut() {
                    c.saved = summary.saved;
                    c.notes = summary.notes;
                }
                (report, false)
            }
            (memory, _) => (prepared.run(None).await, memory.is_some()),
        };
        count(ctx.run, &report);
        if report.changes.as_ref().is_some_and(|c| c.saved.is_err()) {
            ctx.run.fail(ErrorKind::State);
        }
        let mut message = report.message();
        if explore {
            message.push_str(". ");
            message.push_str(FROM_AN_EXPLORE);
        }
        if report.input_error.is_some() && ctx.windup.too_late_for_long_work() {
            // Stopped by the shutdown: the user has to run it again (Looker does not retry).
            message.push_str(if report.changes.is_some() {
                RUN_AGAIN_CHANGED
            } else {
                RUN_AGAIN
            });
        }
        tracing::info!(
            action = self.name(),
            source = source_name.as_deref().unwrap_or("(action params)"),
            rows = report.rows,
            sent = report.tally.sent,
            failed = report.tally.failed,
            rejected = report.rejected,
            not_sent = report.not_sent,
            requests = report.tally.requests,
            seconds = started.elapsed().as_secs_f64(),
            success = report.success(),
            "rudderstack delivery: {message}"
        );
        Ok(if report.success() {
            ExecuteResponse::success(message)
        } else {
            ExecuteResponse::failure(message)
        })
    }
}

/// The answer of a change-only send asked of a hub that keeps no memory of sends.
const NO_MEMORY: &str = "This action hub keeps no memory of what schedules sent \
    (HUB_CHANGE_BUCKET is not set), so it cannot send only new or changed rows: nothing was \
    sent. Choose \"Send every row\" on this schedule, or ask the hub's admin to set \
    HUB_CHANGE_BUCKET.";

/// Appended to the answer of a change-only send without a schedule.
const FROM_AN_EXPLORE: &str =
    "Sent from an Explore: there is no schedule to remember, so every row was sent.";

/// Where a schedule's rows go, as its memory is named: the named source, or the data plane with
/// a hash of the write key (a rotated key starts a new memory: its first run sends every row,
/// announced).
fn destination(source: Option<&str>, plane: &DataPlane, req: &ActionRequest) -> String {
    if let Some(name) = source {
        return format!("source:{name}");
    }
    let key = req.data_param(WRITE_KEY_PARAM).unwrap_or_default();
    let hash = Sha256::digest(key.trim().as_bytes());
    format!("plane:{}#{}", plane.endpoint(), &hex::encode(hash)[..16])
}

/// What a delivery did, in the run's tally: events the data plane accepted are delivered, those
/// it failed (after every retry) are not confirmed, rows never sent are only read.
fn count(run: &RunTally, report: &crate::rudder::report::DeliveryReport) {
    run.read(report.rows, report.bytes);
    run.delivered(report.tally.sent);
    run.unconfirmed(report.tally.failed);
    if report.tally.failed > 0 || report.not_sent > 0 {
        run.fail(ErrorKind::DataPlane);
    }
    if report.input_error.is_some() {
        run.fail(ErrorKind::Download);
    }
    for r in &report.rejections {
        use crate::rudder::mapping::RejectReason;
        run.reject(Rejection {
            row_index: r.row.saturating_sub(1),
            key: None,
            column: match &r.reason {
                RejectReason::NumberBeyondDouble { field, .. } => Some(field.clone()),
                _ => None,
            },
            reason: r.to_string(),
        });
    }
    run.rejected_without_reason(report.rejected - report.rejections.len() as u64);
}

#[cfg(test)]
mod tests {
    //! The RudderStack actions on a context of stand-ins, without a server.

    use serde_json::json;

    use super::*;
    use crate::actions::testing::{request, StandIns};

    fn stand_ins(dir: &std::path::Path) -> StandIns {
        StandIns::new(&dir.join("s.db"), &[])
    }

    #[test]
    fn each_call_names_its_form_and_without_sources_asks_for_the_key_and_data_plane() {
        let dir = tempfile::tempdir().unwrap();
        let s = stand_ins(dir.path());
        for call in [IDENTIFY, GROUP, TRACK] {
            let action = call.with(RudderSetup::default());
            let d = action.definition(&s.ctx());
            let name = action.name();
            assert_eq!(
                d.form_url.as_deref(),
                Some(format!("https://hub.example/actions/{name}/form").as_str())
            );
            let params: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(params, [WRITE_KEY_PARAM, SERVER_URL_PARAM], "{name}");
        }
    }

    #[test]
    fn a_memory_is_per_source_or_per_data_plane_and_write_key() {
        let with_key = |key: &str| {
            request(json!({"type": "query", "data": {WRITE_KEY_PARAM: key}, "form_params": {}}))
        };
        let plane = DataPlane::new("https://dp.example.com/", "k1").unwrap();
        let one = destination(None, &plane, &with_key(" k1 "));
        assert_eq!(one, destination(None, &plane, &with_key("k1")));
        assert!(
            one.starts_with("plane:https://dp.example.com/v1/batch#") && one.len() == 54,
            "{one}"
        );
        assert!(!one.contains("k1"));
        // A rotated key is another memory (its first run sends every row, announced).
        assert_ne!(one, destination(None, &plane, &with_key("k2")));
        assert_eq!(
            destination(Some("crm"), &plane, &with_key("k1")),
            "source:crm"
        );
    }

    #[tokio::test]
    async fn a_send_without_a_write_key_says_which_setting_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let s = stand_ins(dir.path());
        let req = request(json!({"type": "query", "data": {}, "form_params": {}}));
        let form = TRACK
            .with(RudderSetup::default())
            .form(&s.ctx(), &req)
            .await
            .unwrap();
        let wanted = "The RudderStack write key is not set: fill in \"Rudder Write Key\" (rudder_write_key) in this action's settings in Looker.";
        assert_eq!(form.error.as_deref(), Some(wanted));
        let resp = IDENTIFY
            .with(RudderSetup::default())
            .execute(&s.ctx(), req)
            .await
            .unwrap();
        assert!(!resp.looker.success);
        assert_eq!(resp.message(), Some(wanted));
    }
}
