//! The hub's state, shared by every request ([`Hub`]): settings, hub tokens, the sink, the
//! registry, the outgoing client, the OAuth client, the lifecycle and the live secrets. Built once
//! at start from the settings; `crate::http` serves requests with it, `crate::startup` runs it.

use std::sync::Arc;

use crate::actions::{ActionContext, ActionLimits, OAuthGate, Registry, ServiceIdentity, WindUp};
use crate::auth::HubTokens;
use crate::changes::run::Changes;
use crate::changes::settings::StoreChoice;
use crate::meta::RequestMeta;
use crate::retry::StartBudget;
use crate::secrets::Secrets;
use crate::settings::Settings;
use crate::sinks::bigquery::BigQuerySink;
use crate::sinks::sqlite::SqliteSink;
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
    /// The run ledger's writer (`None`: `HUB_RUN_LEDGER=false`).
    pub ledger: Option<crate::sinks::ledger::writer::Ledger>,
    /// The memory of change-only sends (`None`: none is configured, the choice is not offered).
    pub changes: Option<Changes>,
}

impl Hub {
    /// Build the shared state from settings (opens the write-back store).
    pub async fn new(settings: Settings) -> Result<Hub, StartError> {
        crate::gcp::install_crypto();
        let budget = StartBudget::new(settings.startup_retry);
        let secrets = Arc::new(Secrets::new(
            settings.secrets.clone(),
            settings.gcp.access_token.clone(),
            budget,
        ));
        let tokens = HubTokens::new(vec![]);
        let live = tokens.clone();
        secrets
            .watch_list("HUB_TOKENS", &settings.hub_tokens, move |v| live.replace(v))
            .await?;
        let actions = match &settings.actions_file {
            None => crate::declared::builtin::catalog(),
            Some(path) => load_actions(path)?,
        };
        let wants_user = actions_wanting_users(&actions);
        let http =
            crate::net::Http::new(settings.outbound_allow.clone(), settings.http_read_timeout)
                .map_err(StartError::Other)?;
        let oauth = crate::oauth::OAuth::new(
            &settings.oauth,
            settings.local,
            &settings.public_url,
            http.clone(),
            &secrets,
        )
        .await?;
        if oauth.is_none() && !wants_user.is_empty() {
            let (who, verb) = match wants_user.as_slice() {
                [one] => (format!("action {one}"), "declares"),
                many => (format!("actions {}", many.join(", ")), "declare"),
            };
            return Err(StartError::Other(format!(
                "HUB_ACTIONS_FILE: {who} {verb} identity: user, which needs the hub's OAuth settings (HUB_IDENTITY_MODE=user and its OAuth client); write identity: service or hub, or configure OAuth"
            )));
        }
        let rudder = crate::actions::rudder::RudderSetup {
            settings: Arc::new(settings.rudder.clone()),
            sources: Arc::new(
                crate::rudder::sources::Sources::start(&settings.rudder.sources, &secrets, &http)
                    .await?,
            ),
        };
        let (registry, mut tables) = registry_of(actions, crate::actions::coded(&rudder));
        if settings.run_ledger {
            tables.extend(crate::sinks::ledger::tables());
        }
        let changes = changes_of(&settings)?;
        // The store last: a start refused for anything above leaves it untouched.
        let sink: Arc<dyn Sink> = match &settings.gcp.bigquery {
            Some(bq) => {
                let sink = BigQuerySink::start_with(
                    bq.clone(),
                    &tables,
                    settings.gcp.access_token.as_ref(),
                    budget,
                )
                .await?;
                tracing::info!(project = %bq.project, dataset = %bq.dataset, "write-back goes to BigQuery");
                Arc::new(sink)
            }
            None => Arc::new(SqliteSink::open_with(&settings.store_path, &tables)?),
        };
        // After every secret setting is registered: the refresh loop covers them all.
        secrets.spawn_refresh();
        let capacity = crate::capacity::Capacity::new(&settings.capacity);
        let ledger = settings
            .run_ledger
            .then(|| crate::sinks::ledger::writer::Ledger::start(sink.clone()));
        let changes = changes.map(|c| c.with_memory_budget(capacity.memory.clone()));
        Ok(Hub {
            settings,
            tokens,
            sink,
            registry,
            http,
            prepared: Default::default(),
            oauth,
            lifecycle: Default::default(),
            capacity,
            secrets,
            ledger,
            changes,
        })
    }

    /// The identity gate of this hub: OAuth in user mode, the hub's own identity otherwise.
    pub fn gate(&self) -> &dyn OAuthGate {
        match &self.oauth {
            Some(oauth) => oauth,
            None => &ServiceIdentity,
        }
    }

    /// What an action may use for one call.
    pub fn action_context<'a>(&'a self, meta: &'a RequestMeta) -> ActionContext<'a> {
        self.action_context_with(meta, &self.lifecycle, &crate::actions::run::NOT_A_RUN)
    }

    /// What an action may use for one execute that winds up on `windup` (its own) and counts
    /// what it does in `run`.
    pub fn action_context_with<'a>(
        &'a self,
        meta: &'a RequestMeta,
        windup: &'a dyn WindUp,
        run: &'a crate::actions::run::RunTally,
    ) -> ActionContext<'a> {
        ActionContext {
            public_url: &self.settings.public_url,
            sink: &self.sink,
            http: &self.http,
            gate: self.gate(),
            meta,
            windup,
            limits: ActionLimits {
                max_comment_chars: self.settings.max_comment_chars,
                download_deadline: self.capacity.execute.answer_by(),
                writeback_batch_rows: self.settings.writeback_batch_rows,
            },
            run,
            changes: self.changes.as_ref(),
            users_log_in: self.oauth.is_some(),
        }
    }

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

/// The memory of change-only sends the settings choose: the shared bucket, the local file, or
/// none (a service without a bucket: one instance's file is not a memory every instance shares).
fn changes_of(settings: &Settings) -> Result<Option<Changes>, StartError> {
    let store: std::sync::Arc<dyn crate::changes::store::ChangeStore> = match settings
        .changes
        .store_choice(settings.local)
    {
        StoreChoice::Bucket(location) => std::sync::Arc::new(gcs_store(settings, location)?),
        StoreChoice::File(path) => std::sync::Arc::new(
            crate::changes::store::sqlite::SqliteStore::open(&path)
                .map_err(|e| StartError::Other(format!("HUB_CHANGE_STATE_PATH: {e}")))?,
        ),
        StoreChoice::Nowhere => {
            tracing::info!("change-only sends are not offered: set HUB_CHANGE_BUCKET to keep the memory of sends");
            return Ok(None);
        }
    };
    tracing::info!(place = %store.place(), "the memory of change-only sends is kept here");
    Ok(Some(Changes::new(store, settings.changes.clone())))
}

/// The Cloud Storage store: with the hub's own Google identity, or anonymously to an emulator
/// (plain http, which the settings allow only to a loopback host) when no fixed token is set.
fn gcs_store(
    settings: &Settings,
    location: crate::changes::store::gcs::Location,
) -> Result<crate::changes::store::gcs::GcsStore, StartError> {
    use crate::changes::store::gcs::{GcsStore, DEFAULT_ENDPOINT, RETRY_FOR};
    let endpoint = settings.changes.storage_endpoint.as_ref();
    let emulator = endpoint.is_some_and(|e| e.scheme() == "http");
    let token = settings.gcp.access_token.as_ref();
    let credentials = match (emulator, token) {
        (true, None) => None,
        _ => Some(crate::gcp::service_credentials(token).map_err(StartError::Other)?),
    };
    let endpoint = endpoint.map_or(DEFAULT_ENDPOINT, |e| e.as_str().trim_end_matches('/'));
    GcsStore::new(location, endpoint, credentials, RETRY_FOR)
        .map_err(|e| StartError::Other(format!("HUB_CHANGE_BUCKET: {e}")))
}

/// Every action's definition, and the serialized answers that only the configuration decides.
pub(crate) struct Prepared {
    /// The `POST /` answer as JSON bytes.
    list_body: bytes::Bytes,
    /// Per action name: its definition and that definition as JSON bytes.
    definitions: std::collections::HashMap<String, (crate::api::Integration, bytes::Bytes)>,
}

/// Why the hub cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Settings are missing or wrong.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The write-back store cannot be opened.
    #[error("write-back store: {0}")]
    Sink(#[from] crate::sinks::SinkError),
    /// A secret setting cannot be resolved.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<crate::rudder::sources::SourcesError> for StartError {
    fn from(e: crate::rudder::sources::SourcesError) -> Self {
        match e {
            crate::rudder::sources::SourcesError::Settings(e) => StartError::Settings(e),
            crate::rudder::sources::SourcesError::Secret(e) => StartError::Secret(e),
        }
    }
}

/// A registry and the tables its actions write.
type DeclaredRegistry = (Registry, Vec<Arc<crate::sinks::TableDef>>);

/// Read and check `HUB_ACTIONS_FILE`: every problem of the file refuses the start, all listed at
/// once.
fn load_actions(path: &std::path::Path) -> Result<crate::declared::Catalog, StartError> {
    crate::declared::load(path).map_err(|problems| {
        StartError::Other(format!(
            "HUB_ACTIONS_FILE {}: {} {}:\n{problems}",
            path.display(),
            problems.problems.len(),
            if problems.problems.len() == 1 {
                "problem"
            } else {
                "problems"
            }
        ))
    })
}

/// The names of the declared actions that need the users' OAuth identity.
fn actions_wanting_users(file: &crate::declared::Catalog) -> Vec<String> {
    file.actions
        .iter()
        .filter(|def| def.identity == crate::declared::model::Identity::User)
        .map(|def| def.name.clone())
        .collect()
}

/// The registry of a declared actions file and these coded actions, and the tables they write.
/// The list keeps the file's order; each coded action goes before the first declared action whose name sorts after its own (so the built-in
/// list reads mark_suspicious, rudder_event, rudder_group, rudder_track, writeback_batch, as it
/// always has). The tables are every action's [`crate::actions::Action::tables`], declared first.
fn registry_of(
    file: crate::declared::Catalog,
    coded: Vec<Arc<dyn crate::actions::Action>>,
) -> DeclaredRegistry {
    let mut actions: Vec<Arc<dyn crate::actions::Action>> = Vec::new();
    let mut tables = Vec::new();
    for def in file.actions {
        let action = crate::declared::action::DeclaredAction::new(def);
        tables.push(action.table().clone());
        actions.push(Arc::new(action));
    }
    tables.extend(coded.iter().flat_map(|a| a.tables()));
    let declared = actions.len();
    for (n, action) in coded.into_iter().enumerate() {
        let at = actions[..declared + n]
            .iter()
            .position(|a| a.name() > action.name())
            .unwrap_or(declared + n);
        actions.insert(at, action);
    }
    (Registry::with(actions), tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::fake;
    use crate::sinks::WriteCredential;

    /// A coded action's table is one description: the registry hands it to the sink with the
    /// declared ones, and the embedded store creates it and takes its rows.
    #[tokio::test]
    async fn a_coded_actions_table_reaches_the_sink() {
        let (registry, tables) = registry_of(
            crate::declared::builtin::catalog(),
            vec![Arc::new(fake::TableWriter)],
        );
        assert!(registry.get("coded_audit").is_some());
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["suspicious_marks", "suspicious_marks_batch", "coded_audit"]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let sink = SqliteSink::open_with(&path, &tables).unwrap();
        let table = fake::table();
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let row = table
            .row()
            .set("id", "r-1")
            .and_then(|r| r.set("at", at))
            .and_then(|r| r.build())
            .unwrap();
        let written = sink
            .append(&table, &[row], &WriteCredential::Service)
            .await
            .unwrap();
        assert_eq!(written, 1);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let id: String = conn
            .query_row("SELECT id FROM coded_audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(id, "r-1");
    }

    fn settings(pairs: &[(&str, &str)], local: bool) -> Settings {
        let vars: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(&vars, local).unwrap()
    }

    /// Local runs keep the memory of sends in a file of their own; a service keeps one only in
    /// the bucket every instance shares, or in a file named on purpose.
    #[tokio::test]
    async fn the_memory_of_sends_is_kept_where_the_settings_choose() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("w/s.sqlite");
        let store = store.to_str().unwrap();
        let local = changes_of(&settings(&[("HUB_STORE_PATH", store)], true))
            .unwrap()
            .expect("a local hub keeps a memory");
        assert_eq!(
            local.place(),
            dir.path()
                .join("w/change-state.sqlite")
                .display()
                .to_string()
        );
        assert!(changes_of(&settings(&[("HUB_STORE_PATH", store)], false))
            .unwrap()
            .is_none());
        let named = dir.path().join("c.sqlite");
        let named = named.to_str().unwrap();
        let chosen = changes_of(&settings(&[("HUB_CHANGE_STATE_PATH", named)], false)).unwrap();
        assert_eq!(chosen.unwrap().place(), named);
        // A bucket is chosen over a file, in a local run too.
        let bucket = changes_of(&settings(
            &[
                ("HUB_CHANGE_BUCKET", "acme-changes/hub"),
                ("HUB_CHANGE_STORAGE_ENDPOINT", "http://127.0.0.1:9"),
                ("HUB_CHANGE_STATE_PATH", named),
            ],
            true,
        ));
        assert_eq!(bucket.unwrap().unwrap().place(), "gs://acme-changes/hub");
    }
}
