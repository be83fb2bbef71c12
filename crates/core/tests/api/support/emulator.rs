//! The BigQuery emulator the write-back tests and benchmarks talk to (started by
//! `scripts/services/bigquery.sh`): its addresses, datasets, queries, and a hub's settings for it.

use serde_json::{json, Map, Value};

/// The BigQuery emulator's addresses, from the variables `scripts/services/bigquery.sh` exports.
#[derive(Clone)]
pub struct Emulator {
    /// REST base URL.
    pub rest: String,
    /// Storage API (gRPC) URL.
    pub grpc: String,
    /// Default project.
    pub project: String,
    client: reqwest::Client,
}

fn required_env(name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{name} is not set: the BigQuery tests need the emulator. Run them through scripts/test.sh, \
             or `source scripts/services/bigquery.sh` first."
        )
    })
}

impl Emulator {
    /// The running emulator; panics (never skips) when it is not there.
    ///
    /// A test that uses it carries "bigquery" in its name: `.config/nextest.toml` runs those one
    /// at a time (the emulator is one Python process on a 2-core machine).
    pub async fn get() -> Emulator {
        if let Some(test) = std::thread::current().name().filter(|n| *n != "main") {
            assert!(
                test.contains("bigquery"),
                "{test} uses the BigQuery emulator: put \"bigquery\" in its name so that \
                 .config/nextest.toml runs it in the bigquery-emulator group"
            );
        }
        let emu = Emulator {
            rest: required_env("BQ_EMULATOR_REST"),
            grpc: required_env("BQ_EMULATOR_GRPC"),
            project: required_env("BQ_EMULATOR_PROJECT"),
            client: client(),
        };
        let probe = emu
            .client
            .get(format!(
                "{}/bigquery/v2/projects/{}/datasets",
                emu.rest, emu.project
            ))
            .send()
            .await;
        assert!(
            probe.as_ref().is_ok_and(|r| r.status().is_success()),
            "the BigQuery emulator at {} does not answer: {probe:?}",
            emu.rest
        );
        emu
    }

    /// A fresh dataset name (the emulator is shared by all tests).
    pub fn dataset_name() -> String {
        format!("t_{}", uuid::Uuid::new_v4().simple())
    }

    /// Create a dataset over REST.
    pub async fn create_dataset(&self, dataset: &str) {
        let r = self
            .client
            .post(format!(
                "{}/bigquery/v2/projects/{}/datasets",
                self.rest, self.project
            ))
            .json(&json!({"datasetReference": {"projectId": self.project, "datasetId": dataset}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }

    /// Run a query (jobs.query) and return its rows as objects keyed by column name.
    pub async fn query(&self, sql: &str) -> Vec<Map<String, Value>> {
        let r = self
            .client
            .post(format!(
                "{}/bigquery/v2/projects/{}/queries",
                self.rest, self.project
            ))
            .json(&json!({"query": sql, "useLegacySql": false, "timeoutMs": 30000, "maxResults": 100000}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["jobComplete"], true, "{body}");
        let names: Vec<String> = body["schema"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no schema: {body}"))
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        body["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        names
                            .iter()
                            .cloned()
                            .zip(row["f"].as_array().unwrap().iter().map(|c| c["v"].clone()))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Settings of a hub writing to `dataset` through this emulator (extra ones appended). The
    /// run ledger is off: its appends come after the answer, and the emulator stops answering
    /// when a test's query meets an append still in flight (BigQuery does not); the ledger's own
    /// test turns it on and queries once the hub has exited.
    pub fn hub_vars<'a>(
        &'a self,
        dataset: &'a str,
        storage_endpoint: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("HUB_RUN_LEDGER", "false"),
            ("HUB_GCP_PROJECT", self.project.as_str()),
            ("HUB_BIGQUERY_DATASET", dataset),
            ("HUB_BIGQUERY_ENDPOINT", self.rest.as_str()),
            ("HUB_BIGQUERY_STORAGE_ENDPOINT", storage_endpoint),
            ("HUB_GCP_ACCESS_TOKEN", GOOD_TOKEN),
            ("HUB_BIGQUERY_TIMEOUT_SECS", "30"),
        ]
    }
}

/// A token the gate lets through.
pub const GOOD_TOKEN: &str = "good-service-token";

/// A client for the emulator: loopback only, bounded time (reqwest's rustls needs the process's
/// crypto provider installed first).
fn client() -> reqwest::Client {
    hub_core::gcp::install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}
