//! The actions this hub hosts and the one registry that lists them.
//!
//! An action is one module implementing [`Action`]; adding one is that file plus one line in
//! [`Registry::new`].

pub mod mark_suspicious;
pub mod rudder;
pub mod writeback_batch;
pub mod writeback_form;

use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{ActionRequest, ActionType, ExecuteResponse, Form, Integration};
use crate::error::HubError;
use crate::meta::RequestMeta;
use crate::routes::{path_for, Handler};
use crate::startup::Hub;

/// One action: its definition, its form and what it does.
#[async_trait]
pub trait Action: Send + Sync {
    /// Unique name (the `{name}` path segment).
    fn name(&self) -> &'static str;

    /// The definition Looker lists.
    fn definition(&self, hub: &Hub) -> Integration;

    /// The form for a request (`Form.error` for a form-level problem).
    async fn form(
        &self,
        hub: &Hub,
        meta: &RequestMeta,
        req: &ActionRequest,
    ) -> Result<Form, HubError>;

    /// Run the action. Failures the user should see are `success:false` answers, not errors.
    async fn execute(
        &self,
        hub: &Hub,
        meta: &RequestMeta,
        req: ActionRequest,
    ) -> Result<ExecuteResponse, HubError>;
}

/// Every hosted action, in list order.
#[derive(Clone)]
pub struct Registry {
    actions: Vec<Arc<dyn Action>>,
}

impl Registry {
    /// The registry of this hub: one line per action.
    pub fn new() -> Registry {
        Registry {
            actions: vec![
                Arc::new(mark_suspicious::MarkSuspicious),
                Arc::new(rudder::IDENTIFY),
                Arc::new(rudder::GROUP),
                Arc::new(rudder::TRACK),
                Arc::new(writeback_batch::WritebackBatch),
            ],
        }
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

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// A definition with the fields every action shares filled in (`url` / `form_url` from the
/// hub's public URL).
pub fn base_definition(
    hub: &Hub,
    name: &str,
    label: &str,
    description: &str,
    has_form: bool,
) -> Integration {
    base_definition_at(&hub.settings.public_url, name, label, description, has_form)
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

/// Turn an SVG into a `data:` URI for `icon_data_uri`.
pub fn svg_icon(svg: &str) -> String {
    use base64::Engine;
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}
