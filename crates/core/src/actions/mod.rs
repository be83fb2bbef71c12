//! The actions this hub hosts and the one registry that lists them.
//!
//! The write-back actions are declared (`crate::declared`: the built-in file or
//! `HUB_ACTIONS_FILE`) and share the engine here: [`stream`] writes a query result in bounded
//! chunks. A coded action (the RudderStack ones) is one
//! module implementing [`Action`], added to the registry where `crate::startup` builds it.

pub mod rudder;
pub mod run;
pub mod stream;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::api::{ActionRequest, ActionState, ActionType, ExecuteResponse, Form, Integration};
use crate::meta::RequestMeta;
use crate::routes::{path_for, Handler};
use crate::sinks::{Sink, WriteCredential};

/// One action: its definition, its form and what it does. It knows no HTTP: everything it may use
/// comes in its [`ActionContext`], and it answers with Looker's types or an [`ActionError`] (the
/// `http` module turns that into a status). The trait is object-safe, so the registry can hold
/// actions built at run time from data.
#[async_trait]
pub trait Action: Send + Sync {
    /// Unique name (the `{name}` path segment).
    fn name(&self) -> &str;

    /// The definition Looker lists.
    fn definition(&self, ctx: &ActionContext<'_>) -> Integration;

    /// The form for a request (`Form.error` for a form-level problem).
    async fn form(&self, ctx: &ActionContext<'_>, req: &ActionRequest)
        -> Result<Form, ActionError>;

    /// Run the action. Failures the user should see are `success:false` answers, not errors.
    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        req: ActionRequest,
    ) -> Result<ExecuteResponse, ActionError>;

    /// The tables this action writes: the hub hands every registered action's tables to the sink
    /// at start (the embedded store creates them, BigQuery checks or creates them), and
    /// `hub generate-actions` writes their terraform schemas. A declared action writes its one
    /// table; the RudderStack actions write none.
    fn tables(&self) -> Vec<Arc<crate::sinks::table::TableDef>> {
        Vec::new()
    }
}

/// The coded actions every hub serves next to the declared ones (`crate::startup` merges them
/// into the registry; `hub generate-actions` includes their tables). The RudderStack actions
/// deliver with `rudder`: no other action sees it.
pub fn coded(rudder: &rudder::RudderSetup) -> Vec<Arc<dyn Action>> {
    CODED
        .into_iter()
        .map(|call| Arc::new(call.with(rudder.clone())) as Arc<dyn Action>)
        .collect()
}

/// The names of the coded actions (a declared action may not take one), without building them.
pub fn coded_names() -> impl Iterator<Item = &'static str> {
    CODED.iter().map(|call| call.name())
}

/// The coded actions, before they are given what they deliver with.
const CODED: [rudder::RudderCall; 3] = [rudder::IDENTIFY, rudder::GROUP, rudder::TRACK];

/// Why an action could not answer at all (no HTTP status: the `http` module maps it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The request cannot be acted on as sent.
    #[error("{0}")]
    Invalid(String),
    /// A bug or an unexpected failure (details are in the log).
    #[error("{0}")]
    Internal(String),
}

/// The limits the hub's settings put on actions.
#[derive(Debug, Clone, Copy)]
pub struct ActionLimits {
    /// Longest accepted comment (`HUB_MAX_COMMENT_CHARS`).
    pub max_comment_chars: usize,
    /// Time allowed to read a query result from its download URL: the execute's time limit (a
    /// backstop: the execute is asked to wind up before it).
    pub download_deadline: Duration,
    /// Rows per write-back chunk of a query action.
    pub writeback_batch_rows: usize,
}

/// What every action may use for one request: narrow on purpose, so an action can be
/// unit-tested without a server (build one with stand-ins for the sink, gate and wind-up). What
/// only some actions use (the RudderStack settings and sources) is held by those actions, built
/// at start.
pub struct ActionContext<'a> {
    /// The hub's public URL, for the definition's URLs.
    pub public_url: &'a crate::routes::PublicUrl,
    /// Where write-back rows go.
    pub sink: &'a Arc<dyn Sink>,
    /// The outgoing HTTP client (address policy, timeouts).
    pub http: &'a crate::net::Http,
    /// The user-identity gate (OAuth in user mode, the service identity otherwise).
    pub gate: &'a dyn OAuthGate,
    /// What Looker's headers said about this call.
    pub meta: &'a RequestMeta,
    /// The shutdown wind-up signal.
    pub windup: &'a dyn WindUp,
    /// Limits from the settings.
    pub limits: ActionLimits,
    /// What this execute did, counted by the engines as they go ([`run::RunTally`]; calls that
    /// are not executes get [`run::NOT_A_RUN`]).
    pub run: &'a run::RunTally,
    /// The hub's memory of sends (`None`: the hub keeps none, so the form does not offer
    /// change-only sends and an execute asking for one fails saying so).
    pub changes: Option<&'a crate::changes::run::Changes>,
    /// Whether the hub logs Looker users in (`HUB_IDENTITY_MODE=user`). When it does not, the
    /// gate answers the hub's own identity for every write, so an action whose identity follows
    /// the hub's mode need not ask it.
    pub users_log_in: bool,
}

/// When a long execute must wind up, as an action sees it: the shutdown schedule, and for an
/// execute its own time limit (`crate::capacity::budget`).
pub trait WindUp: Send + Sync {
    /// Cancelled when a long execute should stop reading and report what it did.
    fn hurry(&self) -> &CancellationToken;
    /// Whether a long execute started now could no longer finish in time.
    fn too_late_for_long_work(&self) -> bool;
    /// Why the execute was asked to wind up, as the subject of a sentence of its answer
    /// ("… after reading 700 rows of the result").
    fn why(&self) -> String {
        "the action hub was shut down".into()
    }
}

/// What an action's form does about the user's identity.
pub enum FormGate {
    /// Render the action's own form, with this new state for Looker (a refreshed bundle).
    Proceed {
        /// New per-user state, if the token was refreshed.
        state: Option<ActionState>,
    },
    /// Answer this form instead (the login link, or an error).
    Answer(Form),
}

/// What an action's execute does about the user's identity.
pub enum ExecuteGate {
    /// Write with this credential; record `email` as the acting user; return `state` to Looker.
    Proceed {
        /// Identity of the write.
        credential: WriteCredential,
        /// The user's email from the login, if known.
        email: Option<String>,
        /// New per-user state, if the token was refreshed.
        state: Option<ActionState>,
    },
    /// Answer this instead (log in again / provider unavailable).
    Answer(ExecuteResponse),
}

/// Who a write acts as: the OAuth login of the Looker user (user mode, `crate::oauth`) or the
/// hub's own identity ([`ServiceIdentity`]).
#[async_trait]
pub trait OAuthGate: Send + Sync {
    /// Advertise the login in an action's definition (`uses_oauth`, the v2 `token_url`).
    fn apply_to_definition(&self, def: &mut Integration);
    /// The form side: proceed (maybe with a refreshed state) or answer the login link.
    async fn form_gate(&self, action: &str, req: &ActionRequest) -> FormGate;
    /// The execute side: the credential to write with, or an answer telling the user to log in.
    async fn execute_gate(&self, action: &str, req: &ActionRequest) -> ExecuteGate;
}

/// The gate of a hub without OAuth: every write uses the hub's own identity.
pub struct ServiceIdentity;

#[async_trait]
impl OAuthGate for ServiceIdentity {
    fn apply_to_definition(&self, _def: &mut Integration) {}

    async fn form_gate(&self, _action: &str, _req: &ActionRequest) -> FormGate {
        FormGate::Proceed { state: None }
    }

    async fn execute_gate(&self, _action: &str, _req: &ActionRequest) -> ExecuteGate {
        ExecuteGate::Proceed {
            credential: WriteCredential::Service,
            email: None,
            state: None,
        }
    }
}

/// Every hosted action, in list order.
#[derive(Clone)]
pub struct Registry {
    actions: Vec<Arc<dyn Action>>,
}

impl Registry {
    /// A registry of the given actions, in list order (built at start from the configuration).
    pub fn with(actions: Vec<Arc<dyn Action>>) -> Registry {
        Registry { actions }
    }

    /// Look an action up by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.iter().find(|a| a.name() == name).cloned()
    }

    /// All actions.
    pub fn all(&self) -> &[Arc<dyn Action>] {
        &self.actions
    }
}

/// A definition with the fields every action shares filled in (`url` / `form_url` from the
/// hub's public URL).
pub fn base_definition(
    ctx: &ActionContext<'_>,
    name: &str,
    label: &str,
    description: &str,
    has_form: bool,
) -> Integration {
    base_definition_at(ctx.public_url.as_str(), name, label, description, has_form)
}

/// [`base_definition`] for a hub at `base` (its public URL).
pub fn base_definition_at(
    base: &str,
    name: &str,
    label: &str,
    description: &str,
    has_form: bool,
) -> Integration {
    Integration {
        name: name.to_string(),
        label: label.to_string(),
        description: description.to_string(),
        url: format!("{base}{}", path_for(Handler::Execute, name)),
        form_url: has_form.then(|| format!("{base}{}", path_for(Handler::Form, name))),
        icon_data_uri: None,
        params: vec![],
        required_fields: vec![],
        supported_action_types: vec![ActionType::Cell],
        supported_formats: None,
        supported_formattings: None,
        supported_visualization_formattings: None,
        supported_download_settings: None,
        uses_oauth: false,
        delegate_oauth: None,
        token_url: None,
    }
}

/// Make a definition a streaming query action, as Looker expects one (the official hub's
/// `usesStreaming`): only "url", so Looker hands over a one-time download URL and never pushes a
/// result through a gateway's 32 MB limit, and only json_detail_lite_stream (fields before rows).
/// A pushed attachment or plain json_detail from an older Looker is still read.
pub fn streaming_query(def: &mut Integration) {
    use crate::api::{ActionFormat, DownloadSetting, Formatting, VisualizationFormatting};
    def.supported_action_types = vec![ActionType::Query];
    def.supported_formats = Some(vec![ActionFormat::JsonDetailLiteStream]);
    def.supported_formattings = Some(vec![Formatting::Unformatted]);
    def.supported_visualization_formattings = Some(vec![VisualizationFormatting::Noapply]);
    def.supported_download_settings = Some(vec![DownloadSetting::Url]);
}

/// Turn an SVG into a `data:` URI for `icon_data_uri`.
pub fn svg_icon(svg: &str) -> String {
    use base64::Engine;
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}
