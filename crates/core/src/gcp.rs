//! The hub's own Google identity (Application Default Credentials, or a fixed token for local
//! emulators) and the bearer-token credentials used to act as a Looker user.

use std::sync::Once;

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::{SettingsError, Vars};

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

/// Install rustls' ring crypto provider once. The Google crates are built without their default
/// provider (aws-lc, a C build) and use whichever provider the process installed.
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another provider is installed already: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The hub's own identity: the fixed token when configured, else Application Default Credentials
/// (the Cloud Run service account in production).
pub fn service_credentials(access_token: Option<&SecretString>) -> Result<Credentials, String> {
    install_crypto();
    match access_token {
        Some(token) => Ok(bearer(token.clone())),
        None => google_cloud_auth::credentials::Builder::default()
            .build()
            .map_err(|e| format!("Application Default Credentials are not usable: {e}")),
    }
}

/// Check once that credentials can produce a token (ADC fails here, not on the first write).
pub async fn check_credentials(creds: &Credentials) -> Result<(), String> {
    match creds.headers(Extensions::new()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot obtain a Google access token: {e}")),
    }
}

/// Credentials that send one fixed bearer token (a user's OAuth access token).
pub fn bearer(token: SecretString) -> Credentials {
    Credentials::from(BearerToken {
        token,
        tag: EntityTag::new(),
    })
}

/// A fixed `Authorization: Bearer` token (never printed).
struct BearerToken {
    token: SecretString,
    tag: EntityTag,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl CredentialsProvider for BearerToken {
    async fn headers(
        &self,
        _extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret().trim()))
                .map_err(|_| {
                    CredentialsError::from_msg(false, "the access token has invalid characters")
                })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        Ok(CacheableResource::New {
            entity_tag: self.tag.clone(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}
