//! Where secret settings come from.
//!
//! Every secret setting (hub tokens, state keys, OAuth client secret, …) is either the value itself
//! (local runs) or a Secret Manager reference `projects/P/secrets/S/versions/V` (production), or a
//! regional one `projects/P/locations/L/secrets/S/versions/V`, which only the regional endpoint
//! `secretmanager.L.rep.googleapis.com` serves (one client per endpoint). All references are
//! resolved when the hub starts — failures that may heal right after a deploy (permission denied
//! or not found while IAM propagates, Secret Manager unavailable) are retried within
//! `HUB_STARTUP_RETRY_SECS`; then a missing secret or a missing permission stops the start with a
//! message naming the setting and the reference — then re-read every
//! `HUB_SECRETS_REFRESH_SECS`, so a rotation (a new version behind `versions/latest`) needs no
//! redeploy. A failed re-read keeps the last good values and says so in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_secretmanager_v1::client::SecretManagerService;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{SettingsError, Vars};
use crate::retry::StartBudget;

/// Default Secret Manager endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";
/// Default endpoint of regional secrets; `{location}` is the reference's location.
pub const DEFAULT_REGIONAL_ENDPOINT: &str = "https://secretmanager.{location}.rep.googleapis.com";

/// Where secrets come from and how often they are re-read.
#[derive(Debug, Clone)]
pub struct SecretSettings {
    /// Interval between re-reads of Secret Manager references (`HUB_SECRETS_REFRESH_SECS`,
    /// 0 = never).
    pub refresh: Duration,
    /// Secret Manager endpoint (`HUB_SECRET_MANAGER_ENDPOINT`).
    pub endpoint: String,
    /// Endpoint of regional secrets, `{location}` replaced by the reference's location
    /// (`HUB_SECRET_MANAGER_REGIONAL_ENDPOINT`).
    pub regional_endpoint: String,
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
            regional_endpoint: v
                .get("HUB_SECRET_MANAGER_REGIONAL_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_REGIONAL_ENDPOINT.into())
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

    /// The location of a regional secret (`projects/P/locations/L/…`), `None` for a global one.
    pub fn location(&self) -> Option<&str> {
        let mut parts = self.0.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("projects"), Some(_), Some("locations"), Some(l)) => Some(l),
            _ => None,
        }
    }

    /// The endpoint that serves this secret: the global one, or the regional one of its location.
    pub fn endpoint(&self, settings: &SecretSettings) -> String {
        match self.location() {
            None => settings.endpoint.clone(),
            Some(l) => settings.regional_endpoint.replace("{location}", l),
        }
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
                [p, s, v].iter().all(|x| segment_ok(x))
                    && !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
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
    #[error("{setting}: not a valid Secret Manager reference; expected projects/PROJECT/secrets/SECRET/versions/VERSION (or versions/latest), or projects/PROJECT/locations/LOCATION/secrets/SECRET/versions/VERSION")]
    InvalidReference {
        /// Setting name.
        setting: &'static str,
    },
    /// The secret or version does not exist.
    #[error("{setting}: Secret Manager secret {reference} was not found")]
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
    /// The version (for `latest`: the newest version) is disabled or destroyed: Secret Manager
    /// answers FAILED_PRECONDITION, and `latest` does not fall back to an older version.
    #[error("{setting}: Secret Manager version {version} of {reference} is {state}; `latest` always means the newest version, even a {state} one. Roll back by adding a new version with the previous value (gcloud secrets versions add), never by disabling the newest")]
    VersionNotEnabled {
        /// Setting name.
        setting: &'static str,
        /// The version name as configured.
        reference: SecretRef,
        /// The version Secret Manager names (the newest one for `latest`), if it said.
        version: String,
        /// `disabled` or `destroyed` (or `not enabled` when Secret Manager did not say).
        state: String,
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
    /// One client per endpoint (the global one and each regional one in use).
    clients: tokio::sync::Mutex<HashMap<String, SecretManagerService>>,
    watches: Mutex<Vec<Arc<Watch>>>,
    start: StartBudget,
}

impl Secrets {
    /// A resolver; Secret Manager is only contacted when a reference is configured. Reads when a
    /// setting is first watched are retried within `start` (see [`StartBudget`]); re-reads are not.
    pub fn new(
        settings: SecretSettings,
        access_token: Option<SecretString>,
        start: StartBudget,
    ) -> Secrets {
        Secrets {
            settings,
            access_token,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            watches: Mutex::new(Vec::new()),
            start,
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
        let values = self
            .start
            .retry(
                setting,
                || async {
                    let mut cache = HashMap::new();
                    self.resolve_all(&watch, &mut cache).await
                },
                SecretError::may_heal,
            )
            .await?;
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
                    tracing::warn!(event = "secret_refresh_failed", setting = w.setting, error = %e, "secret refresh failed; keeping the last good value")
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

    /// The client of the endpoint serving `reference` (built on first use, then shared).
    async fn client(
        &self,
        setting: &'static str,
        reference: &SecretRef,
    ) -> Result<SecretManagerService, SecretError> {
        let endpoint = reference.endpoint(&self.settings);
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&endpoint) {
            return Ok(c.clone());
        }
        let creds = crate::gcp::service_credentials(self.access_token.as_ref())
            .map_err(|detail| SecretError::Credentials { setting, detail })?;
        let client = SecretManagerService::builder()
            .with_endpoint(&endpoint)
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
            })?;
        clients.insert(endpoint, client.clone());
        Ok(client)
    }

    async fn access(
        &self,
        setting: &'static str,
        reference: &SecretRef,
    ) -> Result<SecretString, SecretError> {
        let client = self.client(setting, reference).await?;
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
                    (Some(Code::FailedPrecondition), _) => {
                        let message = e.status().map(|s| s.message.as_str()).unwrap_or("");
                        let (version, state) = version_state(message);
                        SecretError::VersionNotEnabled {
                            setting,
                            reference: reference.clone(),
                            version: version.unwrap_or_else(|| reference.to_string()),
                            state,
                        }
                    }
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

impl SecretError {
    /// Whether the failure may heal on its own within minutes after a deploy (IAM propagation,
    /// a secret being created, Secret Manager unavailable): retried at start.
    pub fn may_heal(&self) -> bool {
        matches!(
            self,
            SecretError::NotFound { .. }
                | SecretError::PermissionDenied { .. }
                | SecretError::Unavailable { .. }
        )
    }
}

/// What Secret Manager's FAILED_PRECONDITION message says: `Secret Version [projects/…/versions/3]
/// is in DISABLED state.` → the version named, and its state in lower case. Only a version name
/// (validated like a reference) and a known state word are taken from the message.
fn version_state(message: &str) -> (Option<String>, String) {
    let version = message
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(name, _)| name)
        .filter(|name| {
            name.starts_with("projects/")
                && name.len() <= 1024
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
        })
        .map(String::from);
    let upper = message.to_ascii_uppercase();
    let state = if upper.contains("DESTROYED") {
        "destroyed"
    } else if upper.contains("DISABLED") {
        "disabled"
    } else {
        "not enabled"
    };
    (version, state.into())
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
    fn regional_references_go_to_their_regional_endpoint() {
        let settings = SecretSettings {
            refresh: Duration::ZERO,
            endpoint: DEFAULT_ENDPOINT.into(),
            regional_endpoint: DEFAULT_REGIONAL_ENDPOINT.into(),
            timeout: Duration::from_secs(1),
        };
        let reference = |v: &str| match SecretSpec::parse("X", &s(v)) {
            Ok(SecretSpec::Reference(r)) => r,
            other => panic!("{v}: {other:?}"),
        };
        let global = reference("projects/p/secrets/s/versions/1");
        assert_eq!(global.location(), None);
        assert_eq!(global.endpoint(&settings), DEFAULT_ENDPOINT);
        let regional = reference("projects/p/locations/europe-west1/secrets/s/versions/latest");
        assert_eq!(regional.location(), Some("europe-west1"));
        assert_eq!(
            regional.endpoint(&settings),
            "https://secretmanager.europe-west1.rep.googleapis.com"
        );
        // The location becomes part of a host name: nothing but a-z, 0-9 and '-'.
        for bad in [
            "projects/p/locations/evil.com#/secrets/s/versions/1",
            "projects/p/locations/x.y/secrets/s/versions/1",
            "projects/p/locations/EU/secrets/s/versions/1",
            "projects/p/locations//secrets/s/versions/1",
        ] {
            assert!(SecretSpec::parse("X", &s(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn failed_precondition_messages_name_the_version_and_its_state() {
        assert_eq!(
            version_state(
                "Secret Version [projects/123/secrets/t/versions/4] is in DISABLED state."
            ),
            (
                Some("projects/123/secrets/t/versions/4".into()),
                "disabled".into()
            )
        );
        assert_eq!(
            version_state(
                "Secret Version [projects/1/secrets/t/versions/2] is in DESTROYED state."
            ),
            (
                Some("projects/1/secrets/t/versions/2".into()),
                "destroyed".into()
            )
        );
        assert_eq!(
            version_state("[<script>] odd"),
            (None, "not enabled".into())
        );
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }
}
