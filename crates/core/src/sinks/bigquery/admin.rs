//! Checking and creating the dataset and the described tables on start (BigQuery REST API).

use super::*;

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
        let mut dataset_checked = false;
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
                    let have: Vec<&str> = t
                        .schema
                        .as_ref()
                        .map(|sc| sc.fields.iter().map(|f| f.name.as_str()).collect())
                        .unwrap_or_default();
                    let missing: Vec<&str> = prepared
                        .def
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|c| !have.contains(c))
                        .collect();
                    if missing.is_empty() {
                        tracing::info!(table = %s.table_path(table), "BigQuery write-back table ready");
                    } else {
                        tracing::warn!(table = %s.table_path(table), missing = ?missing, "BigQuery write-back table lacks columns; writes will fail");
                    }
                }
                Err(e) if matches!(classify(&e), SinkError::TableMissing(_)) => {
                    if !s.create_tables {
                        tracing::warn!(table = %s.table_path(table), "BigQuery write-back table does not exist; executes will fail until it is created (or set HUB_BIGQUERY_CREATE_TABLES=true)");
                        continue;
                    }
                    if !dataset_checked {
                        self.ensure_dataset().await?;
                        dataset_checked = true;
                    }
                    self.create_table(&tables, prepared).await?;
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
