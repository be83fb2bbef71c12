//! The hub's own Google identity (Application Default Credentials, or a fixed token for local
//! emulators) and the bearer-token credentials used to act as a Looker user.

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

pub use crate::net::install_crypto;

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
