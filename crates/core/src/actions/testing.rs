//! Stand-ins to run an action without a server: a context of real parts (the embedded store in a
//! temporary folder, the outgoing client with the loopback policy) and calm shutdown, and a coded
//! action that writes a table of its own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{
    base_definition, Action, ActionContext, ActionError, ActionLimits, ServiceIdentity, WindUp,
};
use crate::api::{ActionRequest, ExecuteResponse, Form, Integration};
use crate::meta::RequestMeta;
use crate::sinks::sqlite::SqliteSink;
use crate::sinks::table::TableDef;
use crate::sinks::Sink;

/// No shutdown under way.
pub struct Calm(CancellationToken);

impl WindUp for Calm {
    fn hurry(&self) -> &CancellationToken {
        &self.0
    }
    fn too_late_for_long_work(&self) -> bool {
        false
    }
}

/// What an [`ActionContext`] borrows, owned: build one, then take [`StandIns::ctx`] per call.
pub struct StandIns {
    pub public_url: crate::routes::PublicUrl,
    pub sink: Arc<dyn Sink>,
    pub http: crate::net::Http,
    pub windup: Calm,
    pub meta: RequestMeta,
    pub limits: ActionLimits,
    /// What the calls made on [`StandIns::ctx`] counted.
    pub run: super::run::RunTally,
    /// The memory of sends (`None` unless [`StandIns::with_changes`]).
    pub changes: Option<crate::changes::run::Changes>,
}

impl StandIns {
    /// Stand-ins writing to the embedded store at `store`, creating `tables`.
    pub fn new(store: &std::path::Path, tables: &[Arc<TableDef>]) -> StandIns {
        StandIns {
            public_url: crate::routes::PublicUrl::parse("https://hub.example").unwrap(),
            sink: Arc::new(SqliteSink::open_with(store, tables).unwrap()),
            http: crate::net::Http::new(
                crate::net::OutboundPolicy::loopback(),
                Duration::from_secs(1),
            )
            .unwrap(),
            windup: Calm(CancellationToken::new()),
            meta: RequestMeta {
                request_id: uuid::Uuid::new_v4().to_string(),
                looker_instance: Some("looker-1".into()),
                ..Default::default()
            },
            limits: ActionLimits {
                max_comment_chars: 500,
                download_deadline: Duration::from_secs(5),
                writeback_batch_rows: 2,
            },
            run: super::run::RunTally::new(),
            changes: None,
        }
    }

    /// Keep the memory of sends in the SQLite file at `path`.
    pub fn with_changes(mut self, path: &std::path::Path) -> StandIns {
        let store = crate::changes::store::sqlite::SqliteStore::open(path).unwrap();
        self.changes = Some(crate::changes::run::Changes::new(
            Arc::new(store),
            crate::changes::settings::ChangeSettings::new(path.to_path_buf()),
        ));
        self
    }

    /// The context of one call (the service identity: no OAuth).
    pub fn ctx(&self) -> ActionContext<'_> {
        ActionContext {
            public_url: &self.public_url,
            sink: &self.sink,
            http: &self.http,
            gate: &ServiceIdentity,
            meta: &self.meta,
            windup: &self.windup,
            limits: self.limits,
            run: &self.run,
            changes: self.changes.as_ref(),
            users_log_in: false,
        }
    }
}

/// A request as Looker sends it.
pub fn request(body: serde_json::Value) -> ActionRequest {
    serde_json::from_value(body).unwrap()
}

/// A coded action for tests: it writes one table of its own and does nothing else.
pub mod fake {
    use super::*;
    use crate::sinks::table::{ColumnDef, ColumnType, Mode, TableDef};

    /// The fake action's table.
    pub fn table() -> Arc<TableDef> {
        Arc::new(TableDef {
            name: "coded_audit".into(),
            description: "One row per coded execute.".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::String, Mode::Required, "The id."),
                ColumnDef::new("at", ColumnType::Timestamp, Mode::Required, "When."),
            ],
            partition_by_day: Some("at".into()),
            clustering: vec!["id".into()],
            key: vec!["id".into()],
        })
    }

    /// An action named `coded_audit` writing [`table`].
    pub struct TableWriter;

    #[async_trait]
    impl Action for TableWriter {
        fn name(&self) -> &str {
            "coded_audit"
        }
        fn definition(&self, ctx: &ActionContext<'_>) -> Integration {
            base_definition(
                ctx,
                "coded_audit",
                "Coded audit",
                "Writes its own table.",
                false,
            )
        }
        async fn form(
            &self,
            _: &ActionContext<'_>,
            _: &ActionRequest,
        ) -> Result<Form, ActionError> {
            Ok(Form::default())
        }
        async fn execute(
            &self,
            _: &ActionContext<'_>,
            _: ActionRequest,
        ) -> Result<ExecuteResponse, ActionError> {
            Err(ActionError::Internal("not run in these tests".into()))
        }
        fn tables(&self) -> Vec<Arc<TableDef>> {
            vec![table()]
        }
    }
}
