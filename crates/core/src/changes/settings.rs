//! Where the memory of sends lives and how runs of one schedule share it
//! (`HUB_CHANGE_STATE_PATH`, `HUB_CHANGE_BUCKET`, `HUB_CHANGE_STORAGE_ENDPOINT`,
//! `HUB_CHANGE_LEASE_SECS`, `HUB_CHANGE_WAIT_SECS`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::config::{SettingsError, Vars};

/// Default of `HUB_CHANGE_LEASE_SECS`.
pub const DEFAULT_LEASE_SECS: u64 = 90;
/// The shortest lease: it is renewed every third of it, at least every second.
pub const MIN_LEASE_SECS: u64 = 3;
/// Default of `HUB_CHANGE_WAIT_SECS`.
pub const DEFAULT_WAIT_SECS: u64 = 300;

/// The settings of change-only sends.
#[derive(Debug, Clone)]
pub struct ChangeSettings {
    /// How long a run's hold on its schedule's memory lasts unless renewed (renewed every third).
    pub lease: Duration,
    /// How long a run waits for another run of its schedule to finish.
    pub wait: Duration,
    /// The local SQLite file of memories.
    pub state_path: PathBuf,
    /// Whether `HUB_CHANGE_STATE_PATH` was set (an operator's choice of a file outside local mode).
    pub state_path_set: bool,
    /// The Cloud Storage bucket every instance shares.
    pub bucket: Option<String>,
    /// Another Cloud Storage endpoint (an emulator).
    pub storage_endpoint: Option<Url>,
}

/// Where the memory lives, as the settings choose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In a Cloud Storage bucket every instance shares.
    Bucket(String),
    /// In a local SQLite file.
    File(PathBuf),
    /// Nowhere: the hub does not offer change-only sends.
    Nowhere,
}

impl ChangeSettings {
    /// Settings with the defaults, the file at `state_path`.
    pub fn new(state_path: PathBuf) -> ChangeSettings {
        ChangeSettings {
            lease: Duration::from_secs(DEFAULT_LEASE_SECS),
            wait: Duration::from_secs(DEFAULT_WAIT_SECS),
            state_path,
            state_path_set: false,
            bucket: None,
            storage_endpoint: None,
        }
    }

    /// Load from the environment; the file defaults to `change-state.sqlite` beside the
    /// write-back store at `store_path`.
    pub fn load(v: &Vars, store_path: &Path) -> Result<ChangeSettings, SettingsError> {
        let lease: u64 = v.num("HUB_CHANGE_LEASE_SECS", DEFAULT_LEASE_SECS)?;
        if lease < MIN_LEASE_SECS {
            return Err(SettingsError::Invalid {
                name: "HUB_CHANGE_LEASE_SECS",
                reason: format!("at least {MIN_LEASE_SECS} s (it is renewed every third of it)"),
            });
        }
        let explicit = v.get("HUB_CHANGE_STATE_PATH");
        let state_path = explicit.clone().map(PathBuf::from).unwrap_or_else(|| {
            store_path
                .parent()
                .unwrap_or(Path::new(""))
                .join(super::store::sqlite::DEFAULT_FILE_NAME)
        });
        let bucket = v.get("HUB_CHANGE_BUCKET").map(bucket_name).transpose()?;
        let storage_endpoint = v
            .get("HUB_CHANGE_STORAGE_ENDPOINT")
            .map(|e| endpoint(&e))
            .transpose()?;
        if storage_endpoint.is_some() && bucket.is_none() {
            return Err(SettingsError::Invalid {
                name: "HUB_CHANGE_STORAGE_ENDPOINT",
                reason: "it is set but HUB_CHANGE_BUCKET is not: name the bucket too".into(),
            });
        }
        Ok(ChangeSettings {
            lease: Duration::from_secs(lease),
            wait: Duration::from_secs(v.num("HUB_CHANGE_WAIT_SECS", DEFAULT_WAIT_SECS)?),
            state_path,
            state_path_set: explicit.is_some(),
            bucket,
            storage_endpoint,
        })
    }

    /// Where the memory lives: the bucket when one is named; else the file in local mode, or
    /// when `HUB_CHANGE_STATE_PATH` names one (a single instance with a disk of its own);
    /// else nowhere, since the file of one instance is not a memory every instance shares.
    pub fn store_choice(&self, local: bool) -> StoreChoice {
        match &self.bucket {
            Some(bucket) => StoreChoice::Bucket(bucket.clone()),
            None if local || self.state_path_set => StoreChoice::File(self.state_path.clone()),
            None => StoreChoice::Nowhere,
        }
    }
}

/// A Cloud Storage bucket name as Google's naming rules allow it.
fn bucket_name(name: String) -> Result<String, SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        name: "HUB_CHANGE_BUCKET",
        reason,
    };
    if name.starts_with("gs://") {
        return Err(invalid(
            "the bucket's name only, without gs:// (e.g. my-hub-changes)".into(),
        ));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let max = if name.contains('.') { 222 } else { 63 };
    if !(3..=max).contains(&name.len())
        || !ok_chars
        || !ends_ok(name.as_bytes().first())
        || !ends_ok(name.as_bytes().last())
    {
        return Err(invalid(format!(
            "{name:?} is not a bucket name: 3 to 63 lowercase letters, digits, dashes, \
             underscores or dots, starting and ending with a letter or digit"
        )));
    }
    Ok(name)
}

/// The endpoint of another Cloud Storage (an emulator): https, or http to a loopback host.
fn endpoint(text: &str) -> Result<Url, SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        name: "HUB_CHANGE_STORAGE_ENDPOINT",
        reason,
    };
    let url = Url::parse(text).map_err(|e| invalid(format!("not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(invalid(
            "must use https (plain http only to a loopback host such as 127.0.0.1, an emulator)"
                .into(),
        )),
        _ => Err(invalid("an http(s) URL with a host".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<ChangeSettings, SettingsError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ChangeSettings::load(&Vars(&vars), Path::new("data/writeback.sqlite"))
    }

    #[test]
    fn the_defaults_keep_the_file_beside_the_write_back_store() {
        let s = load(&[]).unwrap();
        assert_eq!(s.lease, Duration::from_secs(90));
        assert_eq!(s.wait, Duration::from_secs(300));
        assert_eq!(s.state_path, Path::new("data/change-state.sqlite"));
        assert_eq!(
            s.store_choice(true),
            StoreChoice::File("data/change-state.sqlite".into())
        );
        // A service without a bucket has no memory every instance shares: none.
        assert_eq!(s.store_choice(false), StoreChoice::Nowhere);
        let bare = ChangeSettings::load(
            &Vars(&HashMap::<String, String>::new()),
            Path::new("w.sqlite"),
        )
        .unwrap();
        assert_eq!(bare.state_path, Path::new("change-state.sqlite"));
    }

    #[test]
    fn a_named_file_or_bucket_is_used_outside_local_mode() {
        let s = load(&[("HUB_CHANGE_STATE_PATH", "/var/hub/c.sqlite")]).unwrap();
        assert_eq!(
            s.store_choice(false),
            StoreChoice::File("/var/hub/c.sqlite".into())
        );
        let s = load(&[
            ("HUB_CHANGE_BUCKET", "acme-hub_changes.1"),
            ("HUB_CHANGE_STORAGE_ENDPOINT", "http://127.0.0.1:4443"),
        ])
        .unwrap();
        assert_eq!(
            s.store_choice(true),
            StoreChoice::Bucket("acme-hub_changes.1".into())
        );
        assert_eq!(
            s.storage_endpoint.unwrap().as_str(),
            "http://127.0.0.1:4443/"
        );
    }

    #[test]
    fn bad_values_refuse_the_start_saying_why() {
        let err = |pairs: &[(&str, &str)]| load(pairs).unwrap_err().to_string();
        assert!(err(&[("HUB_CHANGE_LEASE_SECS", "2")]).contains("at least 3 s"));
        assert!(err(&[("HUB_CHANGE_WAIT_SECS", "soon")]).contains("expected a number"));
        for bad in ["gs://b", "Bucket", "-b", "b-", "ab", "a/b"] {
            let e = err(&[("HUB_CHANGE_BUCKET", bad)]);
            assert!(e.starts_with("HUB_CHANGE_BUCKET is invalid"), "{bad}: {e}");
        }
        let e = err(&[
            ("HUB_CHANGE_BUCKET", "b12"),
            ("HUB_CHANGE_STORAGE_ENDPOINT", "http://storage.example.com"),
        ]);
        assert!(e.contains("must use https"), "{e}");
        let e = err(&[("HUB_CHANGE_STORAGE_ENDPOINT", "https://storage.example.com")]);
        assert!(e.contains("HUB_CHANGE_BUCKET is not"), "{e}");
    }
}
