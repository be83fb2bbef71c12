//! Typed settings, loaded once from the environment. Secrets are `SecretString`s: they never print.
//!
//! This module only composes: each module owns its settings type and parser (`OAuthSettings` in
//! `oauth`, `RudderSettings` in `rudder`, `BigQuerySettings` in `sinks`, ...), all reading
//! variables through [`crate::config`].

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use crate::config::{ProcessEnv, SettingsError, VarSource, Vars};

/// Token used only in explicit local mode when no `HUB_TOKENS` is given.
pub const LOCAL_DEV_TOKEN: &str = "local-dev-token";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line in the Cloud Logging shape.
    Json,
    /// Human-readable lines (local runs).
    Text,
}

/// Every setting of the hub.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port to listen on (`PORT`, Cloud Run's convention).
    pub port: u16,
    /// Address to bind (`HUB_BIND`; default 0.0.0.0, 127.0.0.1 in local mode).
    pub bind: String,
    /// Public base URL Looker and browsers reach the hub at (`HUB_PUBLIC_URL`).
    pub public_url: crate::routes::PublicUrl,
    /// Label of the hub in Looker (`HUB_LABEL`).
    pub label: String,
    /// Valid hub secrets (`HUB_TOKENS`, comma-separated).
    pub hub_tokens: Vec<SecretString>,
    /// Explicit local mode (`HUB_LOCAL=true` or `--local`): dev token allowed, text logs.
    pub local: bool,
    /// Read Looker's token from `X-Forwarded-Authorization` (`HUB_BEHIND_GATEWAY`).
    pub behind_gateway: bool,
    /// Serve the playground outside local mode too (`HUB_PLAYGROUND`; the all-in-one binary only).
    pub playground: bool,
    /// Embedded write-back store file (`HUB_STORE_PATH`).
    pub store_path: PathBuf,
    /// The declared write-back actions (`HUB_ACTIONS_FILE`); none: the coded write-back actions.
    pub actions_file: Option<PathBuf>,
    /// Largest accepted request body in bytes (`HUB_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Longest accepted comment in characters (`HUB_MAX_COMMENT_CHARS`).
    pub max_comment_chars: usize,
    /// Log format (`HUB_LOG_FORMAT`: json|text).
    pub log_format: LogFormat,
    /// Log filter (`RUST_LOG`, default info).
    pub log_filter: String,
    /// After this long an execute starts sending keep-alive newlines (`HUB_KEEPALIVE_AFTER_MS`).
    pub keepalive_after: Duration,
    /// Interval between keep-alive newlines (`HUB_KEEPALIVE_INTERVAL_SECS`).
    pub keepalive_interval: Duration,
    /// Time in-flight requests get to finish after SIGTERM (`HUB_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
    /// Longest wait for the next bytes from a peer (download URLs, data planes)
    /// (`HUB_HTTP_READ_TIMEOUT_SECS`).
    pub http_read_timeout: Duration,
    /// The execute budget, query-execute slots and memory budget of an instance
    /// (`HUB_EXECUTE_TIMEOUT_SECS`, `HUB_QUERY_EXECUTES`, `HUB_MEMORY_BUDGET_BYTES`).
    pub capacity: crate::capacity::CapacitySettings,
    /// Non-public addresses outgoing calls may reach (`HUB_OUTBOUND_ALLOW`; loopback in local mode).
    pub outbound_allow: crate::net::OutboundPolicy,
    /// HTTP worker threads (`HUB_WORKERS`, default: number of CPUs).
    pub workers: Option<usize>,
    /// Identity of write-backs and, in user mode, the OAuth provider and per-user state settings.
    pub oauth: crate::oauth::OAuthSettings,
    /// Batching and delivery of the RudderStack actions (`RUDDER_*`).
    pub rudder: crate::rudder::RudderSettings,
    /// Rows per chunk of a whole-query write-back (`HUB_WRITEBACK_BATCH_ROWS`).
    pub writeback_batch_rows: usize,
    /// Google Cloud: BigQuery write-back (when configured) and the hub's own Google identity.
    pub gcp: GcpSettings,
    /// Where secret settings come from (Secret Manager references, refresh interval).
    pub secrets: crate::secrets::SecretSettings,
    /// How long start-up calls that may heal (IAM propagation, a table being created by another
    /// instance) are retried before the start fails (`HUB_STARTUP_RETRY_SECS`).
    pub startup_retry: Duration,
    /// Record every execute in the run ledger's tables (`HUB_RUN_LEDGER`, default true).
    pub run_ledger: bool,
    /// Where the memory of change-only sends lives and how runs of a schedule share it
    /// (`HUB_CHANGE_*`).
    pub changes: crate::changes::settings::ChangeSettings,
}

impl Settings {
    /// Load from the process environment; `--local` on the command line turns on local mode.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let local_flag = std::env::args().skip(1).any(|a| a == "--local");
        Settings::load(&ProcessEnv, local_flag)
    }

    /// Load from any variable source.
    pub fn load(src: &dyn VarSource, local_flag: bool) -> Result<Settings, SettingsError> {
        let v = Vars(src);
        let local = local_flag || v.bool("HUB_LOCAL", false)?;
        let port: u16 = v.num("PORT", 8080)?;
        let public_url = crate::routes::PublicUrl::parse(
            &v.get("HUB_PUBLIC_URL")
                .unwrap_or_else(|| format!("http://localhost:{port}")),
        )
        .map_err(|e| SettingsError::Invalid {
            name: "HUB_PUBLIC_URL",
            reason: e.to_string(),
        })?;
        // Whether tokens are required depends on the functions served: see `check_for`.
        let mut hub_tokens = v.secret_list("HUB_TOKENS");
        if hub_tokens.is_empty() && local {
            hub_tokens.push(SecretString::from(LOCAL_DEV_TOKEN.to_string()));
        }
        let log_format = match v.get("HUB_LOG_FORMAT").as_deref() {
            None if local => LogFormat::Text,
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "HUB_LOG_FORMAT",
                    reason: format!("expected json or text, got {other:?}"),
                })
            }
        };
        let workers: usize = v.num("HUB_WORKERS", 0)?;
        let mut outbound_allow = crate::net::OutboundPolicy::parse(
            &v.get(crate::net::ALLOW_SETTING).unwrap_or_default(),
        )
        .map_err(|e| SettingsError::Invalid {
            name: crate::net::ALLOW_SETTING,
            reason: e.to_string(),
        })?;
        if local {
            // A local run talks to local stand-ins (a data plane, an OAuth server).
            outbound_allow = outbound_allow.union(&crate::net::OutboundPolicy::loopback());
        }
        let max_body_bytes = v.num("HUB_MAX_BODY_BYTES", crate::error::DEFAULT_MAX_BODY_BYTES)?;
        let store_path: PathBuf = v
            .get("HUB_STORE_PATH")
            .unwrap_or_else(|| crate::sinks::sqlite::DEFAULT_STORE_PATH.into())
            .into();
        let changes = crate::changes::settings::ChangeSettings::load(&v, &store_path)?;
        Ok(Settings {
            port,
            // Local mode is for this machine: its token is public (see `crate::http::local`).
            bind: v
                .get("HUB_BIND")
                .unwrap_or_else(|| if local { "127.0.0.1" } else { "0.0.0.0" }.into()),
            public_url,
            label: v
                .get("HUB_LABEL")
                .unwrap_or_else(|| "Rust Action Hub".into()),
            hub_tokens,
            local,
            behind_gateway: v.bool("HUB_BEHIND_GATEWAY", false)?,
            playground: v.bool("HUB_PLAYGROUND", false)?,
            store_path,
            actions_file: v
                .get("HUB_ACTIONS_FILE")
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            max_body_bytes,
            max_comment_chars: v.num("HUB_MAX_COMMENT_CHARS", 2000)?,
            log_format,
            log_filter: v.get("RUST_LOG").unwrap_or_else(|| "info".into()),
            keepalive_after: Duration::from_millis(v.num("HUB_KEEPALIVE_AFTER_MS", 3000)?),
            keepalive_interval: Duration::from_secs(
                v.num("HUB_KEEPALIVE_INTERVAL_SECS", 20)?.max(1),
            ),
            shutdown_grace: Duration::from_secs(v.num("HUB_SHUTDOWN_GRACE_SECS", 10)?),
            http_read_timeout: Duration::from_secs(
                v.num("HUB_HTTP_READ_TIMEOUT_SECS", 120)?.max(1),
            ),
            capacity: crate::capacity::CapacitySettings::load(&v)?,
            outbound_allow,
            workers: (workers > 0).then_some(workers),
            oauth: crate::oauth::OAuthSettings::load(&v, local)?,
            rudder: crate::rudder::RudderSettings::load(&v)?,
            writeback_batch_rows: v.num("HUB_WRITEBACK_BATCH_ROWS", 1000)?.clamp(1, 50_000),
            gcp: GcpSettings::load(&v)?,
            secrets: crate::secrets::SecretSettings::load(&v)?,
            startup_retry: Duration::from_secs(v.num("HUB_STARTUP_RETRY_SECS", 90)?),
            run_ledger: v.bool(crate::sinks::ledger::SETTING, true)?,
            changes,
        })
    }

    /// Check that what the given functions need is configured: a function serving a route Looker
    /// calls with the hub token cannot start without `HUB_TOKENS` (the browser-facing
    /// `oauth_initiate` and `oauth_callback` can).
    pub fn check_for(&self, functions: &[crate::routes::Function]) -> Result<(), SettingsError> {
        self.capacity.check(self.max_body_bytes)?;
        let needs_token = functions
            .iter()
            .any(|f| crate::routes::routes_of(*f).any(|r| r.needs_hub_token));
        if needs_token && self.hub_tokens.is_empty() {
            return Err(SettingsError::Missing(
                "HUB_TOKENS",
                "set the hub secret(s) Looker sends, comma-separated (or run with --local for a dev token)",
            ));
        }
        if self.oauth.mode == crate::oauth::IdentityMode::User {
            use crate::routes::Function::*;
            let uses = |set: &[crate::routes::Function]| functions.iter().any(|f| set.contains(f));
            if uses(&[ActionForm, ActionExecute, OauthCallback])
                && self.oauth.client_secret.is_none()
            {
                return Err(SettingsError::Missing(
                    "OAUTH_CLIENT_SECRET",
                    "the OAuth client secret (or OAUTH_CLIENT_SECRET_FILE naming a file that holds it)",
                ));
            }
            if uses(&[ActionForm, ActionExecute, OauthInitiate, OauthCallback])
                && self.oauth.state_keys.is_empty()
                && !self.local
            {
                return Err(SettingsError::Missing(
                    "OAUTH_STATE_KEYS",
                    "base64 of 32 random bytes (`openssl rand -base64 32`), comma-separated for rotation",
                ));
            }
        }
        Ok(())
    }

    /// Whether the hub runs with the well-known dev token (only possible in local mode).
    pub fn uses_dev_token(&self) -> bool {
        use secrecy::ExposeSecret;
        self.local
            && self
                .hub_tokens
                .iter()
                .any(|t| t.expose_secret() == LOCAL_DEV_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Function;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_function_needs_only_its_own_secrets() {
        let user = [
            ("HUB_IDENTITY_MODE", "user"),
            ("OAUTH_CLIENT_ID", "client"),
            ("HUB_LOOKER_HOSTS", "looker.example.com"),
        ];
        let s = Settings::load(&vars(&user), false).unwrap();
        // Browser-only login start: no hub token, no client secret, but state keys.
        let err = s
            .check_for(&[Function::OauthInitiate])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OAUTH_STATE_KEYS"), "{err}");
        // The list needs the hub token only.
        let err = s
            .check_for(&[Function::ActionsList])
            .unwrap_err()
            .to_string();
        assert!(err.contains("HUB_TOKENS"), "{err}");

        let mut with_token = user.to_vec();
        with_token.push(("HUB_TOKENS", "t"));
        let s = Settings::load(&vars(&with_token), false).unwrap();
        assert!(s.check_for(&[Function::ActionsList]).is_ok());
        let err = s
            .check_for(&[Function::ActionExecute])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OAUTH_CLIENT_SECRET"), "{err}");

        with_token.push(("OAUTH_CLIENT_SECRET", "cs"));
        with_token.push((
            "OAUTH_STATE_KEYS",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ));
        let s = Settings::load(&vars(&with_token), false).unwrap();
        assert!(s.check_for(Function::ALL).is_ok());

        // The browser-facing callback: client secret and state keys, but no hub token (Looker's
        // code exchange, oauth_token, is the form's).
        let mut callback = user.to_vec();
        callback.push(("OAUTH_CLIENT_SECRET", "cs"));
        let s = Settings::load(&vars(&callback), false).unwrap();
        let err = s
            .check_for(&[Function::OauthCallback])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OAUTH_STATE_KEYS"), "{err}");
        callback.push((
            "OAUTH_STATE_KEYS",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ));
        let s = Settings::load(&vars(&callback), false).unwrap();
        assert!(s.check_for(&[Function::OauthCallback]).is_ok());
        let err = s
            .check_for(&[Function::ActionForm])
            .unwrap_err()
            .to_string();
        assert!(err.contains("HUB_TOKENS"), "{err}");
    }

    #[test]
    fn the_body_limit_defaults_to_api_gateways_32_mib_and_the_redirect_uri_is_checked() {
        let s = Settings::load(&vars(&[("HUB_TOKENS", "t")]), false).unwrap();
        assert_eq!(s.max_body_bytes, 32 * 1024 * 1024);
        let user = |redirect: &str| {
            Settings::load(
                &vars(&[
                    ("HUB_TOKENS", "t"),
                    ("HUB_IDENTITY_MODE", "user"),
                    ("OAUTH_CLIENT_ID", "client"),
                    ("HUB_LOOKER_HOSTS", "looker.example.com"),
                    ("OAUTH_REDIRECT_URI", redirect),
                ]),
                false,
            )
        };
        for ok in [
            "https://hub.example.com/oauth_redirect",
            "https://hub.example.com/base/actions/mark_suspicious/oauth_redirect",
        ] {
            let s = user(ok).unwrap();
            assert_eq!(s.oauth.redirect_uri.unwrap().as_str(), ok);
        }
        for bad in [
            "https://hub.example.com/",
            "https://h/oauth_redirect?x=1",
            "ftp://h/oauth_redirect",
        ] {
            let e = user(bad).unwrap_err().to_string();
            assert!(e.contains("OAUTH_REDIRECT_URI"), "{bad}: {e}");
        }
    }

    #[test]
    fn local_mode_listens_on_loopback_unless_hub_bind_says_otherwise() {
        let bind =
            |pairs: &[(&str, &str)], local| Settings::load(&vars(pairs), local).unwrap().bind;
        assert_eq!(bind(&[], true), "127.0.0.1");
        assert_eq!(bind(&[("HUB_LOCAL", "true")], false), "127.0.0.1");
        assert_eq!(bind(&[], false), "0.0.0.0");
        assert_eq!(bind(&[("HUB_BIND", "0.0.0.0")], true), "0.0.0.0");
        assert_eq!(bind(&[("HUB_BIND", "::1")], false), "::1");
    }

    #[test]
    fn the_public_url_is_a_base_url_and_anything_else_is_refused_with_the_reason() {
        let s = Settings::load(&vars(&[]), false).unwrap();
        assert_eq!(s.public_url.as_str(), "http://localhost:8080");
        let s = Settings::load(
            &vars(&[("HUB_PUBLIC_URL", "https://gw.example.com/hub/")]),
            false,
        )
        .unwrap();
        assert_eq!(s.public_url.as_str(), "https://gw.example.com/hub");
        assert_eq!(s.public_url.url().path(), "/hub/");
        for (text, reason) in [
            ("ftp://x", "must be an http(s) URL"),
            (
                "https://hub.example.com/?x=1",
                "must be a base URL without query, fragment or user info (route paths are \
                 appended to it)",
            ),
            (
                "hub.example.com",
                "not an absolute URL (relative URL without a base); write the address Looker and \
                 browsers reach the hub at, like https://hub.example.com or \
                 https://gateway.example.com/hub",
            ),
        ] {
            let err = Settings::load(&vars(&[("HUB_PUBLIC_URL", text)]), false).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("HUB_PUBLIC_URL is invalid: {reason}"),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_values_are_named_without_secret_values() {
        let err = Settings::load(&vars(&[("HUB_BEHIND_GATEWAY", "maybe")]), false).unwrap_err();
        assert!(err.to_string().contains("HUB_BEHIND_GATEWAY"));
        let err = Settings::load(&vars(&[("HUB_PUBLIC_URL", "ftp://x")]), false).unwrap_err();
        assert!(err.to_string().contains("HUB_PUBLIC_URL"));
        let s = Settings::load(&vars(&[("HUB_TOKENS", "s3cret-value")]), false).unwrap();
        assert!(!format!("{s:?}").contains("s3cret-value"));
    }
}

/// Google Cloud settings shared by the BigQuery sink and Secret Manager.
#[derive(Debug, Clone, Default)]
pub struct GcpSettings {
    /// A fixed OAuth access token used instead of Application Default Credentials for the hub's
    /// own calls (`HUB_GCP_ACCESS_TOKEN`; local emulators and tests only).
    pub access_token: Option<SecretString>,
    /// BigQuery write-back, when a project and a dataset are configured.
    pub bigquery: Option<crate::sinks::bigquery::BigQuerySettings>,
}

impl GcpSettings {
    /// Load from the environment.
    pub fn load(v: &Vars) -> Result<GcpSettings, SettingsError> {
        Ok(GcpSettings {
            access_token: v.get("HUB_GCP_ACCESS_TOKEN").map(SecretString::from),
            bigquery: crate::sinks::bigquery::BigQuerySettings::load(v)?,
        })
    }
}
