//! Checking and creating the dataset and the described tables on start (BigQuery REST API).

use super::*;
use crate::sinks::drift::{self, LiveColumn, Store};

impl BigQuerySink {
    /// Retries of the REST calls made on start: bounded by the write timeout.
    fn rest_retry(&self) -> impl google_cloud_gax::retry_policy::RetryPolicy {
        google_cloud_gax::retry_policy::Aip194Strict
            .with_attempt_limit(3)
            .with_time_limit(self.settings.timeout)
    }

    pub(super) async fn check_tables(&self) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::client::TableService;
        let s = &self.settings;
        let tables = TableService::builder()
            .with_endpoint(&s.endpoint)
            .with_credentials(self.service_creds.clone())
            .with_retry_policy(self.rest_retry())
            .build()
            .await
            .map_err(|e| SinkError::Other(format!("BigQuery client: {e}")))?;
        let mut refused = Vec::new();
        // Created only once every table is known to be compatible: a refused start creates
        // nothing.
        let mut missing = Vec::new();
        for prepared in &self.declared {
            let table = &prepared.bq_name;
            let got = tables
                .get_table()
                .set_project_id(&s.project)
                .set_dataset_id(&s.dataset)
                .set_table_id(table)
                .send()
                .await;
            match got {
                Ok(t) => {
                    let live: Vec<LiveColumn> = t
                        .schema
                        .as_ref()
                        .map(|sc| {
                            sc.fields
                                .iter()
                                .map(|f| LiveColumn {
                                    name: f.name.clone(),
                                    ty: f.r#type.clone(),
                                    required: f.mode.eq_ignore_ascii_case("REQUIRED"),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if live.is_empty() {
                        // A table without a schema yet (created empty): nothing written can
                        // conflict; its whole schema is terraform's to set.
                        tracing::warn!(table = %s.table_path(table), "BigQuery write-back table has no schema yet; writes to it fail until terraform apply sets it");
                        continue;
                    }
                    let drift = drift::compare(&prepared.def, &live, Store::BigQuery);
                    if !drift.refused.is_empty() {
                        refused.extend(drift.refused.into_iter().map(|r| {
                            r.replacen(
                                &format!("table {}", prepared.def.name),
                                &format!("table {}", s.table_path(table)),
                                1,
                            )
                        }));
                        continue;
                    }
                    if !drift.undeclared.is_empty() {
                        // Columns a later actions file added (this revision was rolled back to) or
                        // of a field removed outside scripts/deploy.sh: NULL in the rows written.
                        tracing::warn!(table = %s.table_path(table), undeclared_columns = ?drift.undeclared, "BigQuery write-back table has NULLABLE columns the actions file does not declare; the hub leaves them NULL (a rolled-back revision, or a field removed without `retired: true`)");
                    }
                    if drift.added.is_empty() {
                        tracing::info!(table = %s.table_path(table), "BigQuery write-back table ready");
                    } else {
                        // The hub never alters a BigQuery table (terraform owns it, or created it
                        // once): a new NULLABLE column is added in place by `terraform apply`.
                        let columns: Vec<String> = drift
                            .added
                            .iter()
                            .map(|c| format!("{} {}", c.name, c.ty.bigquery_name()))
                            .collect();
                        tracing::warn!(table = %s.table_path(table), new_columns = ?columns, "BigQuery write-back table lacks declared NULLABLE columns; writes to it fail until they are added: run terraform apply (it adds NULLABLE columns in place, no rows rewritten) or bq update with the generated schema");
                    }
                }
                Err(e) if matches!(classify(&e), SinkError::TableMissing(_)) => {
                    if !s.create_tables {
                        tracing::warn!(table = %s.table_path(table), "BigQuery write-back table does not exist; executes will fail until it is created (or set HUB_BIGQUERY_CREATE_TABLES=true)");
                        continue;
                    }
                    missing.push(prepared);
                }
                Err(e) => {
                    let err = classify(&e);
                    if s.create_tables {
                        return Err(err);
                    }
                    if err.may_be_missing() {
                        tracing::warn!(table = %s.table_path(table), error = %err, "the hub's identity may not read the BigQuery write-back table, or the table does not exist; executes will fail until both are fixed");
                    } else {
                        tracing::warn!(table = %s.table_path(table), error = %err, "cannot check the BigQuery write-back table");
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(SinkError::Other(format!(
                "BigQuery write-back tables differ from their declaration:\n{}",
                refused.join("\n")
            )));
        }
        if !missing.is_empty() {
            self.ensure_dataset().await?;
            for prepared in missing {
                self.create_table(&tables, prepared).await?;
            }
        }
        Ok(())
    }

    async fn ensure_dataset(&self) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::client::DatasetService;
        use google_cloud_bigquery_v2::model::{Dataset, DatasetReference};
        let s = &self.settings;
        let datasets = DatasetService::builder()
            .with_endpoint(&s.endpoint)
            .with_credentials(self.service_creds.clone())
            .with_retry_policy(self.rest_retry())
            .build()
            .await
            .map_err(|e| SinkError::Other(format!("BigQuery client: {e}")))?;
        let got = datasets
            .get_dataset()
            .set_project_id(&s.project)
            .set_dataset_id(&s.dataset)
            .send()
            .await;
        match got {
            Ok(_) => Ok(()),
            Err(e) if matches!(classify(&e), SinkError::TableMissing(_)) => {
                let mut ds = Dataset::new().set_dataset_reference(
                    DatasetReference::new()
                        .set_project_id(&s.project)
                        .set_dataset_id(&s.dataset),
                );
                if let Some(loc) = &s.location {
                    ds = ds.set_location(loc);
                }
                match datasets
                    .insert_dataset()
                    .set_project_id(&s.project)
                    .set_dataset(ds)
                    .send()
                    .await
                {
                    Ok(_) => {
                        tracing::info!(project = %s.project, dataset = %s.dataset, "BigQuery dataset created")
                    }
                    // Another instance created it between our check and our insert: that is the goal.
                    Err(e) if already_exists(&e) => {
                        tracing::info!(project = %s.project, dataset = %s.dataset, "BigQuery dataset created meanwhile by another instance")
                    }
                    Err(e) => return Err(classify(&e)),
                }
                Ok(())
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn create_table(
        &self,
        tables: &google_cloud_bigquery_v2::client::TableService,
        prepared: &Prepared,
    ) -> Result<(), SinkError> {
        use google_cloud_bigquery_v2::model::{
            Table as BqTable, TableFieldSchema, TableReference, TableSchema, TimePartitioning,
        };
        let s = &self.settings;
        let table = prepared.bq_name.as_str();
        let def = &prepared.def;
        let fields = def.columns.iter().map(|c| {
            TableFieldSchema::new()
                .set_name(&c.name)
                .set_type(c.ty.bigquery_name())
                .set_mode(c.mode.bigquery_name())
                .set_description(&c.description)
        });
        let mut t = BqTable::new()
            .set_table_reference(
                TableReference::new()
                    .set_project_id(&s.project)
                    .set_dataset_id(&s.dataset)
                    .set_table_id(table),
            )
            .set_description(&def.description)
            .set_schema(TableSchema::new().set_fields(fields));
        if let Some(field) = &def.partition_by_day {
            t = t.set_time_partitioning(TimePartitioning::new().set_type("DAY").set_field(field));
        }
        match tables
            .insert_table()
            .set_project_id(&s.project)
            .set_dataset_id(&s.dataset)
            .set_table(t)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(table = %s.table_path(table), "BigQuery write-back table created")
            }
            // Two instances starting at once both saw it missing; the other one won the race.
            Err(e) if already_exists(&e) => {
                tracing::info!(table = %s.table_path(table), "BigQuery write-back table created meanwhile by another instance")
            }
            Err(e) => return Err(classify(&e)),
        }
        Ok(())
    }
}
