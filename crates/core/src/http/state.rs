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
    /// The definitions and the list answer: they depend only on the configuration (settings,
    /// actions file, identity gate), so they are built and serialized once.
    pub(crate) prepared: std::sync::OnceLock<Prepared>,
    /// The OAuth client in user identity mode (`None`: writes use the hub's own identity).
    pub oauth: Option<crate::oauth::OAuth>,
    /// Requests and executes in flight, and the shutdown schedule.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// The execute budget, the query-execute slots and the memory budget of this instance.
    pub capacity: crate::capacity::Capacity,
    /// Secret settings resolved from Secret Manager, kept fresh.
    pub secrets: Arc<Secrets>,
    /// The named RudderStack sources (`RUDDER_SOURCES`), write keys kept fresh.
    pub rudder_sources: crate::rudder::sources::Sources,
    /// The run ledger's writer (`None`: `HUB_RUN_LEDGER=false`).
    pub ledger: Option<crate::sinks::ledger::writer::Ledger>,
}

/// Every action's definition, and the serialized answers that only the configuration decides.
pub(crate) struct Prepared {
    /// The `POST /` answer as JSON bytes.
    list_body: bytes::Bytes,
    /// Per action name: its definition and that definition as JSON bytes.
    definitions: std::collections::HashMap<String, (crate::api::Integration, bytes::Bytes)>,
}

impl Hub {
    /// The definitions and list answer, built on first use.
    fn prepared(&self) -> &Prepared {
        self.prepared.get_or_init(|| {
            let meta = crate::meta::RequestMeta::default();
            let ctx = self.action_context(&meta);
            let integrations: Vec<_> = self
                .registry
                .all()
                .iter()
                .map(|a| a.definition(&ctx))
                .collect();
            let definitions = integrations
                .iter()
                .map(|d| {
                    let body = serde_json::to_vec(d).unwrap_or_default().into();
                    (d.name.clone(), (d.clone(), body))
                })
                .collect();
            let list = crate::api::ActionList {
                label: self.settings.label.clone(),
                integrations,
            };
            Prepared {
                list_body: serde_json::to_vec(&list).unwrap_or_default().into(),
                definitions,
            }
        })
    }

    /// The `POST /` answer as JSON bytes.
    pub fn list_body(&self) -> bytes::Bytes {
        self.prepared().list_body.clone()
    }

    /// An action's definition and its JSON bytes (`None`: no such action).
    pub fn definition_of(&self, name: &str) -> Option<&(crate::api::Integration, bytes::Bytes)> {
        self.prepared().definitions.get(name)
    }
}
