//! BigQuery write-back settings (`HUB_GCP_PROJECT`, `HUB_BIGQUERY_*`).

use std::time::Duration;

use crate::config::{SettingsError, Vars};

/// Default REST endpoint (tables, datasets).
pub const DEFAULT_ENDPOINT: &str = "https://bigquery.googleapis.com";
/// Default Storage Write API endpoint (gRPC).
pub const DEFAULT_STORAGE_ENDPOINT: &str = "https://bigquerystorage.googleapis.com";

/// BigQuery write-back settings (present when `HUB_GCP_PROJECT` and `HUB_BIGQUERY_DATASET` are).
#[derive(Debug, Clone)]
pub struct BigQuerySettings {
    /// Project holding the dataset (`HUB_GCP_PROJECT`).
    pub project: String,
    /// Dataset of the write-back tables (`HUB_BIGQUERY_DATASET`).
    pub dataset: String,
    /// Cell write-back table (`HUB_BIGQUERY_MARKS_TABLE`).
    pub marks_table: String,
    /// Whole-query write-back table (`HUB_BIGQUERY_BATCH_TABLE`).
    pub batch_table: String,
    /// REST endpoint (`HUB_BIGQUERY_ENDPOINT`).
    pub endpoint: String,
    /// Storage Write API endpoint (`HUB_BIGQUERY_STORAGE_ENDPOINT`).
    pub storage_endpoint: String,
    /// Longest time one write may take, retries included (`HUB_BIGQUERY_TIMEOUT_SECS`).
    pub timeout: Duration,
    /// Create the dataset and tables on start when missing (`HUB_BIGQUERY_CREATE_TABLES`).
    pub create_tables: bool,
    /// Location for a dataset created on start (`HUB_BIGQUERY_LOCATION`).
    pub location: Option<String>,
}

pub(super) fn name_ok(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
}

impl BigQuerySettings {
    /// Load from the environment; `None` when BigQuery is not configured.
    pub fn load(v: &Vars) -> Result<Option<BigQuerySettings>, SettingsError> {
        let project = v.get("HUB_GCP_PROJECT");
        let dataset = v.get("HUB_BIGQUERY_DATASET");
        let (project, dataset) = match (project, dataset) {
            (None, None) => return Ok(None),
            (Some(p), Some(d)) => (p, d),
            (Some(_), None) => {
                return Err(SettingsError::Missing(
                    "HUB_BIGQUERY_DATASET",
                    "HUB_GCP_PROJECT is set: name the dataset of the write-back tables too (or unset both for the embedded store)",
                ))
            }
            (None, Some(_)) => {
                return Err(SettingsError::Missing(
                    "HUB_GCP_PROJECT",
                    "HUB_BIGQUERY_DATASET is set: name the project that holds it too",
                ))
            }
        };
        let invalid = |name: &'static str, reason: &str| SettingsError::Invalid {
            name,
            reason: reason.into(),
        };
        if !name_ok(&project, &['-', '.', ':']) {
            return Err(invalid("HUB_GCP_PROJECT", "not a valid project id"));
        }
        if !name_ok(&dataset, &[]) {
            return Err(invalid(
                "HUB_BIGQUERY_DATASET",
                "letters, digits and underscores only",
            ));
        }
        let table = |name: &'static str, default: &str| -> Result<String, SettingsError> {
            let t = v.get(name).unwrap_or_else(|| default.into());
            if name_ok(&t, &[]) {
                Ok(t)
            } else {
                Err(invalid(name, "letters, digits and underscores only"))
            }
        };
        let endpoint = |name: &'static str, default: &str| {
            v.get(name)
                .unwrap_or_else(|| default.into())
                .trim_end_matches('/')
                .to_string()
        };
        Ok(Some(BigQuerySettings {
            project,
            dataset,
            marks_table: table("HUB_BIGQUERY_MARKS_TABLE", crate::sinks::table::MARKS_TABLE)?,
            batch_table: table("HUB_BIGQUERY_BATCH_TABLE", crate::sinks::table::BATCH_TABLE)?,
            endpoint: endpoint("HUB_BIGQUERY_ENDPOINT", DEFAULT_ENDPOINT),
            storage_endpoint: endpoint("HUB_BIGQUERY_STORAGE_ENDPOINT", DEFAULT_STORAGE_ENDPOINT),
            timeout: Duration::from_secs(v.num("HUB_BIGQUERY_TIMEOUT_SECS", 30)?.max(1)),
            create_tables: v.bool("HUB_BIGQUERY_CREATE_TABLES", false)?,
            location: v.get("HUB_BIGQUERY_LOCATION"),
        }))
    }

    /// The BigQuery name of the hub's table `table`: the built-in actions' tables are renamed by
    /// their settings; every other table keeps its name.
    pub(super) fn bigquery_table(&self, table: &str) -> String {
        let renamed = [
            (crate::sinks::table::MARKS_TABLE, &self.marks_table),
            (crate::sinks::table::BATCH_TABLE, &self.batch_table),
        ];
        renamed
            .into_iter()
            .find(|(name, _)| *name == table)
            .map_or_else(|| table.to_string(), |(_, to)| to.clone())
    }

    pub(super) fn table_path(&self, table: &str) -> String {
        format!(
            "projects/{}/datasets/{}/tables/{}",
            self.project, self.dataset, table
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_project_and_dataset_together() {
        let vars = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = vars(&[]);
        assert!(BigQuerySettings::load(&Vars(&none)).unwrap().is_none());
        let half = vars(&[("HUB_GCP_PROJECT", "p")]);
        assert!(BigQuerySettings::load(&Vars(&half)).is_err());
        let bad = vars(&[("HUB_GCP_PROJECT", "p"), ("HUB_BIGQUERY_DATASET", "a-b")]);
        assert!(BigQuerySettings::load(&Vars(&bad)).is_err());
        let ok = vars(&[("HUB_GCP_PROJECT", "p"), ("HUB_BIGQUERY_DATASET", "ds")]);
        let s = BigQuerySettings::load(&Vars(&ok)).unwrap().unwrap();
        assert_eq!(
            s.table_path(&s.marks_table),
            "projects/p/datasets/ds/tables/suspicious_marks"
        );
        assert_eq!(s.storage_endpoint, DEFAULT_STORAGE_ENDPOINT);
    }
}
