//! RudderStack client: rows of a query result become identify / group / track events, sent in
//! size-bounded gzip batches to a data plane's `/v1/batch`, with retries, deterministic message
//! ids and a truthful report of what was accepted.
//!
//! - [`mapping`]: field roles and row → event bytes (JSON types kept, messageId).
//! - [`identity`]: a row's key and content, hashed, for change-only sends.
//! - [`batcher`]: events → request bodies under the byte / event limits.
//! - [`client`]: gzip, Basic auth, bounded in-flight batches, retries, the tally.
//! - [`pipeline`]: a row stream through all of the above, in constant memory.
//! - [`report`]: counts and the message Looker shows.
//! - [`counts`]: numbers as the messages write them.
//! - [`sources`]: the named sources of `RUDDER_SOURCES`, their write keys kept fresh.
//! - [`naming`]: how fields are named in traits and properties.

pub mod batcher;
pub mod client;
pub mod counts;
pub mod identity;
pub mod mapping;
pub mod naming;
pub mod pipeline;
pub mod report;
pub mod sources;

use std::time::Duration;

use crate::config::{SettingsError, Vars};

pub use batcher::BatchLimits;
pub use client::{DataPlane, DataPlaneError, DeliverySettings};
pub use mapping::{Call, MAX_EVENT_BYTES};
pub use report::DeliveryReport;

/// Default largest request body (RudderStack / Segment accept 500 KB per batch).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 500_000;

/// How the RudderStack actions batch and deliver (`RUDDER_*` variables).
#[derive(Debug, Clone)]
pub struct RudderSettings {
    /// Largest batch request body, uncompressed (`RUDDER_MAX_BATCH_BYTES`).
    pub max_batch_bytes: usize,
    /// Most events per batch (`RUDDER_MAX_BATCH_EVENTS`).
    pub max_batch_events: usize,
    /// In-flight batches, retries, timeouts, gzip.
    pub delivery: DeliverySettings,
    /// The named sources (`RUDDER_SOURCES`); none: the actions' params say where to send.
    pub sources: sources::SourcesSettings,
}

impl Default for RudderSettings {
    fn default() -> Self {
        RudderSettings {
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_batch_events: 1000,
            delivery: DeliverySettings::default(),
            sources: Default::default(),
        }
    }
}

impl RudderSettings {
    /// Read the `RUDDER_*` variables.
    pub fn load(v: &Vars<'_>) -> Result<RudderSettings, SettingsError> {
        let d = RudderSettings::default();
        let positive = |name: &'static str, n: u64| {
            if n == 0 {
                Err(SettingsError::Invalid {
                    name,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(n)
            }
        };
        let max_batch_bytes: usize = v.num("RUDDER_MAX_BATCH_BYTES", d.max_batch_bytes)?;
        let limits = BatchLimits {
            max_bytes: max_batch_bytes,
            max_events: 1,
        };
        if limits.max_event_bytes() < MAX_EVENT_BYTES {
            return Err(SettingsError::Invalid {
                name: "RUDDER_MAX_BATCH_BYTES",
                reason: format!("must leave room for one event of {MAX_EVENT_BYTES} bytes"),
            });
        }
        let dd = d.delivery;
        let ms = |name: &'static str, default: Duration| -> Result<Duration, SettingsError> {
            Ok(Duration::from_millis(
                v.num(name, default.as_millis() as u64)?,
            ))
        };
        let secs = |name: &'static str, default: Duration| -> Result<Duration, SettingsError> {
            Ok(Duration::from_secs(v.num(name, default.as_secs())?))
        };
        Ok(RudderSettings {
            max_batch_bytes,
            max_batch_events: positive(
                "RUDDER_MAX_BATCH_EVENTS",
                v.num("RUDDER_MAX_BATCH_EVENTS", d.max_batch_events as u64)?,
            )? as usize,
            delivery: DeliverySettings {
                max_in_flight: positive(
                    "RUDDER_MAX_IN_FLIGHT",
                    v.num("RUDDER_MAX_IN_FLIGHT", dd.max_in_flight as u64)?,
                )? as usize,
                max_attempts: positive(
                    "RUDDER_MAX_ATTEMPTS",
                    v.num("RUDDER_MAX_ATTEMPTS", u64::from(dd.max_attempts))?,
                )?
                .min(100) as u32,
                backoff_base: ms("RUDDER_RETRY_BASE_MS", dd.backoff_base)?,
                backoff_max: ms("RUDDER_RETRY_MAX_MS", dd.backoff_max)?,
                retry_after_max: secs("RUDDER_RETRY_AFTER_MAX_SECS", dd.retry_after_max)?,
                request_timeout: Duration::from_secs(positive(
                    "RUDDER_REQUEST_TIMEOUT_SECS",
                    v.num("RUDDER_REQUEST_TIMEOUT_SECS", dd.request_timeout.as_secs())?,
                )?),
                gzip: v.bool("RUDDER_GZIP", dd.gzip)?,
            },
            sources: sources::SourcesSettings::load(v)?,
        })
    }

    /// The batch limits.
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_bytes: self.max_batch_bytes,
            max_events: self.max_batch_events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<RudderSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RudderSettings::load(&Vars(&map))
    }

    #[test]
    fn defaults_and_overrides() {
        let d = load(&[]).unwrap();
        assert_eq!(d.max_batch_bytes, 500_000);
        assert_eq!(d.max_batch_events, 1000);
        assert_eq!(d.delivery.max_attempts, 5);
        assert!(d.delivery.gzip);
        let s = load(&[
            ("RUDDER_MAX_BATCH_EVENTS", "10"),
            ("RUDDER_RETRY_BASE_MS", "5"),
            ("RUDDER_GZIP", "false"),
        ])
        .unwrap();
        assert_eq!(s.max_batch_events, 10);
        assert_eq!(s.delivery.backoff_base, Duration::from_millis(5));
        assert!(!s.delivery.gzip);
        assert!(load(&[("RUDDER_MAX_BATCH_BYTES", "1000")]).is_err());
        assert!(load(&[("RUDDER_MAX_IN_FLIGHT", "0")]).is_err());
        assert!(load(&[("RUDDER_MAX_ATTEMPTS", "lots")]).is_err());
    }
}
