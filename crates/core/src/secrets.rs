//! Where secret settings come from.
//!
//! Every secret setting (hub tokens, state keys, OAuth client secret, …) is either the value itself
//! (local runs) or a Secret Manager reference `projects/P/secrets/S/versions/V` (production). All
//! references are resolved when the hub starts — a missing secret or a missing permission stops
//! the start with a message naming the setting and the reference — then re-read every
//! `HUB_SECRETS_REFRESH_SECS`, so a rotation (a new version behind `versions/latest`) needs no
//! redeploy. A failed re-read keeps the last good values and says so in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_secretmanager_v1::client::SecretManagerService;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::settings::{SettingsError, Vars};

/// Default Secret Manager endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";

/// Where secrets come from and how often they are re-read.
#[derive(Debug, Clone)]
pub struct SecretSettings {
    /// Interval between re-reads of Secret Manager references (`HUB_SECRETS_REFRESH_SECS`,
    /// 0 = never).
    pub refresh: Duration,
    /// Secret Manager endpoint (`HUB_SECRET_MANAGER_ENDPOINT`).
    pub endpoint: String,
    /// Longest time one resolution may take, retries included (`HUB_SECRET_MANAGER_TIMEOUT_SECS`).
    pub timeout: Duration,
}

impl SecretSettings {
    /// Load from the environment.
    pub fn load(v: &Vars) -> Result<SecretSettings, SettingsError> {
        Ok(SecretSettings {
            refresh: Duration::from_secs(v.num("HUB_SECRETS_REFRESH_SECS", 300)?),
            endpoint: v
                .get("HUB_SECRET_MANAGER_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_string(),
            timeout: Duration::from_secs(v.num("HUB_SECRET_MANAGER_TIMEOUT_SECS", 10)?.max(1)),
        })
    }
}

/// A validated Secret Manager secret version name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef(String);

impl SecretRef {
    /// The full version name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret setting's value as configured.
#[derive(Clone)]
pub enum SecretSpec {
    /// The value itself.
    Literal(SecretString),
    /// A Secret Manager version to read.
    Reference(SecretRef),
}

impl std::fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSpec::Literal(_) => f.write_str("Literal(..)"),
            SecretSpec::Reference(r) => write!(f, "Reference({r})"),
        }
    }
}

impl SecretSpec {
    /// Classify a configured value. Anything that starts like a reference must be a valid one,
    /// so a mistyped reference never silently becomes a literal secret.
    pub fn parse(setting: &'static str, raw: &SecretString) -> Result<SecretSpec, SecretError> {
        let value = raw.expose_secret().trim();
        if !(value.starts_with("projects/") && value.contains("/secrets/")) {
            return Ok(SecretSpec::Literal(raw.clone()));
        }
        let parts: Vec<&str> = value.split('/').collect();
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 255
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let shape_ok = match parts.as_slice() {
            ["projects", p, "secrets", s, "versions", v] => [p, s, v].iter().all(|x| segment_ok(x)),
            ["projects", p, "locations", l, "secrets", s, "versions", v] => {
                [p, l, s, v].iter().all(|x| segment_ok(x))
            }
            _ => false,
        };
        if shape_ok {
            Ok(SecretSpec::Reference(SecretRef(value.to_string())))
        } else {
            Err(SecretError::InvalidReference { setting })
        }
    }
}

/// Why a secret could not be resolved. Messages name the setting and the reference, never a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    /// A value that looks like a reference but is not `projects/P/secrets/S/versions/V`.
    #[error("{setting}: not a valid Secret Manager reference; expected projects/PROJECT/secrets/SECRET/versions/VERSION (or versions/latest)")]
    InvalidReference {
        /// Setting name.
        setting: &'static str,
    },
    /// The secret or version does not exist (or is disabled / destroyed).
    #[error(
        "{setting}: Secret Manager secret {reference} was not found (or that version is disabled)"
    )]
    NotFound {
        /// Setting name.
        setting: &'static str,
        /// The version name.
        reference: SecretRef,
    },
    /// The hub's identity may not read it.
    #[error("{setting}: the hub's service account may not read {reference}; grant it roles/secretmanager.secretAccessor on that secret")]
    PermissionDenied {
        /// Setting name.
        setting: &'static str,
        /// The version name.
        reference: SecretRef,
    },
    /// Secret Manager could not be reached or failed.
    #[error("{setting}: could not read {reference} from Secret Manager: {detail}")]
    Unavailable {
        /// Setting name.
        setting: &'static str,
        /// The version name.
        reference: SecretRef,
        /// What went wrong.
        detail: String,
    },
    /// The payload is empty, not UTF-8, or fails its checksum.
    #[error("{setting}: the secret {reference} is unusable: {detail}")]
    BadPayload {
        /// Setting name.
        setting: &'static str,
        /// The version name.
        reference: SecretRef,
        /// What is wrong with it (never the value).
        detail: String,
    },
    /// The resolved value is not a valid value for the setting (e.g. not a key).
    #[error("{setting}: the configured value is not usable: {reason}")]
    Invalid {
        /// Setting name.
        setting: &'static str,
        /// Why (never the value).
        reason: String,
    },
    /// No Google credentials to call Secret Manager with.
    #[error("{setting}: cannot call Secret Manager: {detail}")]
    Credentials {
        /// Setting name.
        setting: &'static str,
        /// What went wrong.
        detail: String,
    },
}

/// A secret whose current value follows rotations.
#[derive(Clone)]
pub struct LiveSecret(Arc<RwLock<SecretString>>);

impl LiveSecret {
    /// The current value.
    pub fn current(&self) -> SecretString {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl std::fmt::Debug for LiveSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSecret(..)")
    }
}

type Apply = Box<dyn Fn(Vec<SecretString>) + Send + Sync>;

struct Watch {
    setting: &'static str,
    specs: Vec<SecretSpec>,
    apply: Apply,
}

/// Resolves secret settings and keeps them fresh.
pub struct Secrets {
    settings: SecretSettings,
    access_token: Option<SecretString>,
    client: OnceCell<SecretManagerService>,
    watches: Mutex<Vec<Arc<Watch>>>,
}

impl Secrets {
    /// A resolver; Secret Manager is only contacted when a reference is configured.
    pub fn new(settings: SecretSettings, access_token: Option<SecretString>) -> Secrets {
        Secrets {
            settings,
            access_token,
            client: OnceCell::new(),
            watches: Mutex::new(Vec::new()),
        }
    }

    /// Resolve one secret setting now and keep the returned value fresh.
    pub async fn watch(
        &self,
        setting: &'static str,
        raw: &SecretString,
    ) -> Result<LiveSecret, SecretError> {
        let cell = Arc::new(RwLock::new(SecretString::from(String::new())));
        let target = cell.clone();
        self.watch_list(setting, std::slice::from_ref(raw), move |mut values| {
            if let Some(v) = values.pop() {
                *target.write().unwrap_or_else(|p| p.into_inner()) = v;
            }
        })
        .await?;
        Ok(LiveSecret(cell))
    }

    /// Resolve a list setting now, hand the values to `apply`, and again after every refresh.
    pub async fn watch_list(
        &self,
        setting: &'static str,
        raw: &[SecretString],
        apply: impl Fn(Vec<SecretString>) + Send + Sync + 'static,
    ) -> Result<(), SecretError> {
        let specs = raw
            .iter()
            .map(|r| SecretSpec::parse(setting, r))
            .collect::<Result<Vec<_>, _>>()?;
        let watch = Watch {
            setting,
            specs,
            apply: Box::new(apply),
        };
        let mut cache = HashMap::new();
        let values = self.resolve_all(&watch, &mut cache).await?;
        (watch.apply)(values);
        if watch
            .specs
            .iter()
            .any(|s| matches!(s, SecretSpec::Reference(_)))
        {
            self.watches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::new(watch));
        }
        Ok(())
    }

    /// Re-read every reference once; a failure keeps that setting's last good values.
    pub async fn refresh(&self) {
        let watches: Vec<Arc<Watch>> = self
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut cache = HashMap::new();
        for w in watches {
            match self.resolve_all(&w, &mut cache).await {
                Ok(values) => (w.apply)(values),
                Err(e) => {
                    tracing::warn!(setting = w.setting, error = %e, "secret refresh failed; keeping the last good value")
                }
            }
        }
    }

    /// Re-read references every `HUB_SECRETS_REFRESH_SECS` until the resolver is dropped.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let interval = self.settings.refresh;
        let has_refs = !self
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        if interval.is_zero() || !has_refs {
            return;
        }
        let weak: Weak<Secrets> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(secrets) = weak.upgrade() else { break };
                secrets.refresh().await;
            }
        });
    }

    async fn resolve_all(
        &self,
        watch: &Watch,
        cache: &mut HashMap<SecretRef, SecretString>,
    ) -> Result<Vec<SecretString>, SecretError> {
        let mut out = Vec::with_capacity(watch.specs.len());
        for spec in &watch.specs {
            match spec {
                SecretSpec::Literal(v) => out.push(v.clone()),
                SecretSpec::Reference(r) => {
                    if let Some(v) = cache.get(r) {
                        out.push(v.clone());
                        continue;
                    }
                    let v = self.access(watch.setting, r).await?;
                    cache.insert(r.clone(), v.clone());
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    async fn client(&self, setting: &'static str) -> Result<&SecretManagerService, SecretError> {
        self.client
            .get_or_try_init(|| async {
                let creds = crate::gcp::service_credentials(self.access_token.as_ref())
                    .map_err(|detail| SecretError::Credentials { setting, detail })?;
                SecretManagerService::builder()
                    .with_endpoint(&self.settings.endpoint)
                    .with_credentials(creds)
                    .with_retry_policy(
                        Aip194Strict
                            .with_attempt_limit(3)
                            .with_time_limit(self.settings.timeout),
                    )
                    .build()
                    .await
                    .map_err(|e| SecretError::Credentials {
                        setting,
                        detail: e.to_string(),
                    })
            })
            .await
    }

    async fn access(
        &self,
        setting: &'static str,
        reference: &SecretRef,
    ) -> Result<SecretString, SecretError> {
        let client = self.client(setting).await?;
        let call = client
            .access_secret_version()
            .set_name(reference.as_str())
            .send();
        let unavailable = |detail: String| SecretError::Unavailable {
            setting,
            reference: reference.clone(),
            detail,
        };
        let resp = tokio::time::timeout(self.settings.timeout + Duration::from_secs(1), call)
            .await
            .map_err(|_| unavailable("timed out".into()))?
            .map_err(|e| {
                use google_cloud_gax::error::rpc::Code;
                match (e.status().map(|s| s.code), e.http_status_code()) {
                    (Some(Code::NotFound), _) | (_, Some(404)) => SecretError::NotFound {
                        setting,
                        reference: reference.clone(),
                    },
                    (Some(Code::PermissionDenied | Code::Unauthenticated), _)
                    | (_, Some(401 | 403)) => SecretError::PermissionDenied {
                        setting,
                        reference: reference.clone(),
                    },
                    _ if e.is_authentication() => SecretError::Credentials {
                        setting,
                        detail: e.to_string(),
                    },
                    _ => unavailable(e.to_string()),
                }
            })?;
        let bad = |detail: &str| SecretError::BadPayload {
            setting,
            reference: reference.clone(),
            detail: detail.into(),
        };
        let payload = resp.payload.ok_or_else(|| bad("no payload"))?;
        if let Some(expected) = payload.data_crc32c {
            if i64::from(crc32c(&payload.data)) != expected {
                return Err(bad("the payload does not match its CRC32C checksum"));
            }
        }
        let text = std::str::from_utf8(&payload.data).map_err(|_| bad("not UTF-8 text"))?;
        // Secrets are often saved with a trailing newline (`echo … | gcloud secrets …`).
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("the payload is empty"));
        }
        tracing::info!(setting, reference = %reference, version = %resp.name, "secret resolved from Secret Manager");
        Ok(SecretString::from(text.to_string()))
    }
}

/// CRC-32C (Castagnoli), as Secret Manager computes `dataCrc32c`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    #[test]
    fn literals_and_references() {
        assert!(matches!(
            SecretSpec::parse("X", &s("plain-secret")),
            Ok(SecretSpec::Literal(_))
        ));
        assert!(matches!(
            SecretSpec::parse("X", &s("projects/p-1/secrets/hub_token/versions/latest")),
            Ok(SecretSpec::Reference(r)) if r.as_str() == "projects/p-1/secrets/hub_token/versions/latest"
        ));
        assert!(matches!(
            SecretSpec::parse(
                "X",
                &s("projects/p/locations/europe-west1/secrets/s/versions/3")
            ),
            Ok(SecretSpec::Reference(_))
        ));
        for bad in [
            "projects/p/secrets/s",
            "projects/p/secrets/s/versions/",
            "projects/p/secrets/s/versions/1/extra",
            "projects//secrets/s/versions/1",
            "projects/p/secrets/s p/versions/1",
        ] {
            assert!(
                matches!(
                    SecretSpec::parse("X", &s(bad)),
                    Err(SecretError::InvalidReference { setting: "X" })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }
}
