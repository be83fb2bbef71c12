//! The app state every request sees: settings, hub tokens, the sink, the registry, the outgoing
//! client, the OAuth client, the lifecycle and the live secrets. Built by `crate::startup`.

use std::sync::Arc;

use crate::actions::Registry;
use crate::auth::HubTokens;
use crate::secrets::Secrets;
use crate::settings::Settings;
use crate::sinks::Sink;

/// State shared by every request.
pub struct Hub {
    /// Settings, loaded once.
    pub settings: Settings,
    /// Valid hub tokens.
    pub tokens: HubTokens,
    /// Where write-back rows go.
    pub sink: Arc<dyn Sink>,
    /// Hosted actions.
    pub registry: Registry,
    /// Outgoing HTTP client (rustls; shared connection pool; the address policy).
    pub http: crate::net::Http,
    /// The serialized list answer: definitions depend only on settings, so it is built once.
    pub(crate) list_body: std::sync::OnceLock<bytes::Bytes>,
    /// The OAuth client in user identity mode (`None`: writes use the hub's own identity).
    pub oauth: Option<crate::oauth::OAuth>,
    /// Requests and executes in flight, and the shutdown schedule.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Secret settings resolved from Secret Manager, kept fresh.
    pub secrets: Arc<Secrets>,
    /// The named RudderStack sources (`RUDDER_SOURCES`), write keys kept fresh.
    pub rudder_sources: crate::rudder::sources::Sources,
}

impl Hub {
    /// The `POST /` answer as JSON bytes (built on first use).
    pub fn list_body(&self) -> bytes::Bytes {
        self.list_body
            .get_or_init(|| {
                let meta = crate::meta::RequestMeta::default();
                let ctx = self.action_context(&meta);
                let list = crate::api::ActionList {
                    label: self.settings.label.clone(),
                    integrations: self
                        .registry
                        .all()
                        .iter()
                        .map(|a| a.definition(&ctx))
                        .collect(),
                };
                serde_json::to_vec(&list).unwrap_or_default().into()
            })
            .clone()
    }
}
