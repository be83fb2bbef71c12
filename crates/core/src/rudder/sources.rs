//! Named RudderStack sources (`RUDDER_SOURCES`): the sources this hub may send to, each with its
//! write key (a Secret Manager reference, re-read like every secret setting) and data plane. When
//! sources are declared, the RudderStack forms offer a `source` select and the write key never
//! passes through Looker; when none is, the actions take `rudder_write_key` / `rudder_server_url`
//! from their params as RudderStack's hosted hub does.
//!
//! Two spellings, one meaning:
//! - compact: `name=WRITE_KEY[@DATA_PLANE_URL]`, comma-separated, e.g.
//!   `marketing=projects/p/secrets/rs-marketing/versions/latest@https://acme.dataplane.rudderstack.com,product=projects/p/secrets/rs-product/versions/latest`
//! - JSON list (what terraform's `jsonencode` writes), with an optional business label:
//!   `[{"name":"marketing","label":"Marketing (EU)","write_key":"projects/…","data_plane_url":"https://…"}]`
//!
//! A source without a data plane URL uses `RUDDER_DATA_PLANE_URL`.

use secrecy::{ExposeSecret, SecretString};

use super::client::{DataPlane, DataPlaneError};
use crate::config::{SettingsError, Vars};
use crate::secrets::{LiveSecret, SecretSpec, Secrets};

/// The setting declaring the sources.
pub const SETTING: &str = "RUDDER_SOURCES";
/// Data plane of the sources that name none.
pub const DEFAULT_URL_SETTING: &str = "RUDDER_DATA_PLANE_URL";
/// Most sources one hub declares (a form select, not a directory).
pub const MAX_SOURCES: usize = 100;
/// Longest source name.
pub const MAX_NAME_CHARS: usize = 64;

/// One declared source, as configured (the write key unresolved).
#[derive(Clone)]
pub struct SourceSpec {
    /// What schedules store and logs show: letters, digits, `_` and `-`.
    pub name: String,
    /// What a business user reads in the form.
    pub label: String,
    /// The write key or its Secret Manager reference.
    pub write_key: SecretString,
    /// The data plane URL.
    pub data_plane_url: String,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceSpec({} → {})", self.name, self.data_plane_url)
    }
}

/// The declared sources (`RUDDER_SOURCES`); empty: the actions' params are used.
#[derive(Debug, Clone, Default)]
pub struct SourcesSettings {
    /// In the order declared (the form lists them so).
    pub sources: Vec<SourceSpec>,
    /// Names and labels only: the write keys are not read and the data planes not checked. For a
    /// process that lists the actions or serves their forms but never sends (the `actions_list` and
    /// `action_form` services): its service account needs no access to any write key.
    pub names_only: bool,
}

/// One source as written, in either spelling.
struct JsonSource {
    name: String,
    label: Option<String>,
    write_key: String,
    data_plane_url: Option<String>,
}

/// The JSON spelling: a list of objects with the known keys, each a string. Errors name the
/// source's position and the key, never a value (which may be a write key).
fn json_sources(text: &str) -> Result<Vec<JsonSource>, SettingsError> {
    const SHAPE: &str =
        "a JSON list of {\"name\", \"write_key\", \"data_plane_url\"?, \"label\"?} objects";
    let list: Vec<Entries> = serde_json::from_str(text).map_err(|e| {
        // serde's message may quote a value: give only the position.
        invalid(format!(
            "not {SHAPE} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let Entries::Object(obj) = entry else {
            return Err(invalid(format!(
                "source {} is not an object: write {SHAPE}",
                i + 1
            )));
        };
        // The source as a reader finds it: by its name when it has one.
        let who = match obj.iter().find(|(k, _)| k == "name") {
            Some((_, serde_json::Value::String(name))) if !name.trim().is_empty() => {
                format!("source {:?}", shown(name.trim()))
            }
            _ => format!("source {}", i + 1),
        };
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in obj {
            if !["name", "label", "write_key", "data_plane_url"].contains(&key.as_str()) {
                return Err(invalid(format!(
                    "{who}: unknown key {:?} (the keys are name, label, write_key, data_plane_url)",
                    shown(key)
                )));
            }
            if seen.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "{who}: the key {key:?} is written twice: keep one"
                )));
            }
            seen.push(key);
        }
        let text = |key: &str, required: bool| -> Result<Option<String>, SettingsError> {
            match obj.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
                None | Some(serde_json::Value::Null) if !required => Ok(None),
                None | Some(serde_json::Value::Null) => {
                    Err(invalid(format!("{who} has no {key:?}")))
                }
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{who}: {key:?} must be a string"))),
            }
        };
        out.push(JsonSource {
            name: text("name", true)?.unwrap_or_default(),
            label: text("label", false)?,
            write_key: text("write_key", true)?.unwrap_or_default(),
            data_plane_url: text("data_plane_url", false)?,
        });
    }
    Ok(out)
}

/// A text shown in a message: at most 64 characters, an ellipsis when cut.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// One element of the JSON list: an object's entries in order, duplicates kept (serde_json's own
/// map keeps only the last), or anything else.
enum Entries {
    Object(Vec<(String, serde_json::Value)>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    out.push((k, v));
                }
                Ok(Entries::Object(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Entries, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Entries::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
            fn visit_unit<E>(self) -> Result<Entries, E> {
                Ok(Entries::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Why the declared sources cannot be used at start.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// A source is declared wrongly (its data plane URL, the outbound policy).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A write key cannot be resolved.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

fn invalid(reason: String) -> SettingsError {
    SettingsError::Invalid {
        name: SETTING,
        reason,
    }
}

/// `marketing_eu` → `Marketing eu`: the name made readable when no label is given.
pub fn humanise(name: &str) -> String {
    let words: Vec<&str> = name.split(['_', '-']).filter(|w| !w.is_empty()).collect();
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => name.to_string(),
    }
}

impl SourcesSettings {
    /// Read `RUDDER_SOURCES` (and `RUDDER_DATA_PLANE_URL`).
    pub fn load(v: &Vars<'_>) -> Result<SourcesSettings, SettingsError> {
        let default_url = v.get(DEFAULT_URL_SETTING);
        if let Some(url) = &default_url {
            DataPlane::new(url, "k").map_err(|e| SettingsError::Invalid {
                name: DEFAULT_URL_SETTING,
                reason: e.to_string(),
            })?;
        }
        match v.get(SETTING) {
            None => Ok(SourcesSettings::default()),
            Some(text) => SourcesSettings::parse(&text, default_url.as_deref()),
        }
    }

    /// Parse either spelling. Errors name the source (or its position), never a write key.
    pub fn parse(text: &str, default_url: Option<&str>) -> Result<SourcesSettings, SettingsError> {
        let text = text.trim();
        let json = text.starts_with('[');
        if text.starts_with('{') {
            return Err(invalid(
                "is one JSON object: write a JSON list, [{...}], even for one source".into(),
            ));
        }
        let raw: Vec<JsonSource> = if json {
            json_sources(text)?
        } else {
            let mut out = Vec::new();
            for (i, entry) in text.split(',').map(str::trim).enumerate() {
                if entry.is_empty() {
                    continue;
                }
                let Some((name, rest)) = entry.split_once('=') else {
                    return Err(invalid(format!(
                        "entry {} is not name=WRITE_KEY_REFERENCE[@DATA_PLANE_URL]",
                        i + 1
                    )));
                };
                let (key, url) = match rest.split_once('@') {
                    Some((k, u)) => (k, Some(u.trim().to_string())),
                    None => (rest, None),
                };
                out.push(JsonSource {
                    name: name.trim().to_string(),
                    label: None,
                    write_key: key.trim().to_string(),
                    data_plane_url: url,
                });
            }
            out
        };
        if raw.is_empty() {
            return Err(invalid(
                "declares no source; leave it unset to use the actions' write key and data plane params".into(),
            ));
        }
        if raw.len() > MAX_SOURCES {
            return Err(invalid(format!("more than {MAX_SOURCES} sources")));
        }
        let mut sources: Vec<SourceSpec> = Vec::with_capacity(raw.len());
        for (i, s) in raw.into_iter().enumerate() {
            let name = s.name.trim().to_string();
            let name_ok = !name.is_empty()
                && name.chars().count() <= MAX_NAME_CHARS
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            if !name_ok {
                let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
                return Err(invalid(format!(
                    "source {} has the name {shown:?}: a name is 1 to {MAX_NAME_CHARS} letters, digits, '_' or '-'",
                    i + 1
                )));
            }
            if sources.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(invalid(format!(
                    "the source name {name:?} is declared twice (names are compared ignoring case)"
                )));
            }
            let label = s
                .label
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| humanise(&name));
            if label.chars().count() > 200 {
                return Err(invalid(format!(
                    "source {name:?}: the label is over 200 characters"
                )));
            }
            if let Some(o) = sources
                .iter()
                .find(|o| o.label.to_lowercase() == label.to_lowercase())
            {
                return Err(invalid(format!(
                    "sources {:?} and {name:?} have the same label {label:?}: a business user could not tell them apart",
                    o.name
                )));
            }
            let write_key = SecretString::from(s.write_key.trim().to_string());
            if write_key.expose_secret().is_empty() {
                return Err(invalid(format!("source {name:?} has no write key")));
            }
            let spec = SecretSpec::parse(SETTING, &write_key)
                .map_err(|e| invalid(format!("source {name:?}: {e}")))?;
            // A RudderStack write key has no '/': a value with one is a mistyped reference, which
            // would otherwise be sent as the key.
            if matches!(spec, SecretSpec::Literal(_)) && write_key.expose_secret().contains('/') {
                return Err(invalid(format!(
                    "source {name:?}: {}",
                    crate::secrets::SecretError::InvalidReference { setting: SETTING }
                )));
            }
            let url = s
                .data_plane_url
                .filter(|u| !u.trim().is_empty())
                .or_else(|| default_url.map(String::from))
                .ok_or_else(|| {
                    invalid(format!(
                        "source {name:?} has no data plane URL: {}, or set {DEFAULT_URL_SETTING}",
                        if json {
                            "add \"data_plane_url\": \"https://your-dataplane\" to it"
                        } else {
                            "write name=KEY@https://your-dataplane"
                        }
                    ))
                })?;
            DataPlane::new(&url, "k").map_err(|e| invalid(format!("source {name:?}: {e}")))?;
            sources.push(SourceSpec {
                name,
                label,
                write_key,
                data_plane_url: url.trim().to_string(),
            });
        }
        Ok(SourcesSettings {
            sources,
            names_only: false,
        })
    }
}

/// A declared source, its write key kept fresh.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name.
    pub name: String,
    /// Its label.
    pub label: String,
    url: String,
    /// `None` in a process that never sends ([`SourcesSettings::names_only`]).
    key: Option<LiveSecret>,
}

impl Source {
    /// Where to send, with the write key as it is now.
    pub fn data_plane(&self) -> Result<DataPlane, DataPlaneError> {
        let key = self.key.as_ref().ok_or(DataPlaneError::NoKey)?;
        Ok(DataPlane::new(&self.url, key.current().expose_secret())?
            .with_live_key(key.clone())
            .of_source(&self.name))
    }
}

/// The sources of this hub; empty when `RUDDER_SOURCES` is unset.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    list: Vec<Source>,
}

impl Sources {
    /// Resolve every write key (Secret Manager references are watched and re-read on refresh) and
    /// check every data plane against the outbound policy. Must run before
    /// `Secrets::spawn_refresh`.
    pub async fn start(
        settings: &SourcesSettings,
        secrets: &Secrets,
        http: &crate::net::Http,
    ) -> Result<Sources, SourcesError> {
        let mut list = Vec::with_capacity(settings.sources.len());
        for s in &settings.sources {
            let plane = DataPlane::new(&s.data_plane_url, "k")
                .map_err(|e| invalid(format!("source {:?}: {e}", s.name)))?;
            if settings.names_only {
                list.push(Source {
                    name: s.name.clone(),
                    label: s.label.clone(),
                    url: s.data_plane_url.clone(),
                    key: None,
                });
                continue;
            }
            http.preflight(plane.endpoint()).await.map_err(|r| {
                invalid(format!(
                    "source {:?}: its data plane may not be called: {r}",
                    s.name
                ))
            })?;
            // A per-source setting name: errors and refresh logs say which source's key failed.
            // Leaked once per source at start (a few bytes).
            let setting: &'static str =
                Box::leak(format!("{SETTING}[{}]", s.name).into_boxed_str());
            let key = secrets.watch(setting, &s.write_key).await?;
            list.push(Source {
                name: s.name.clone(),
                label: s.label.clone(),
                url: s.data_plane_url.clone(),
                key: Some(key),
            });
        }
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
            tracing::info!(sources = ?names, "RudderStack sources declared ({SETTING})");
        }
        Ok(Sources { list })
    }

    /// Whether no source is declared (the actions' params are used).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The sources in the order declared.
    pub fn all(&self) -> &[Source] {
        &self.list
    }

    /// The source of that name as stored in a schedule (names are unique ignoring case, so a
    /// schedule made before a source's name changed case still finds it).
    pub fn get(&self, name: &str) -> Option<&Source> {
        self.list.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// `a, b, c`: for messages.
    pub fn names(&self) -> String {
        self.list
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF_A: &str = "projects/p/secrets/rs-a/versions/latest";

    fn err(text: &str, default_url: Option<&str>) -> String {
        SourcesSettings::parse(text, default_url)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn compact_and_json_spellings() {
        let s = SourcesSettings::parse(
            &format!("marketing_eu={REF_A}@https://a.example.com, product=literal-key"),
            Some("https://default.example.com"),
        )
        .unwrap();
        let got: Vec<(&str, &str, &str)> = s
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.label.as_str(), s.data_plane_url.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("marketing_eu", "Marketing eu", "https://a.example.com"),
                ("product", "Product", "https://default.example.com")
            ]
        );
        assert_eq!(s.sources[0].write_key.expose_secret(), REF_A);
        let j = SourcesSettings::parse(
            &format!(
                r#"[{{"name":"m","label":"Marketing (EU)","write_key":"{REF_A}","data_plane_url":"https://a.example.com"}}]"#
            ),
            None,
        )
        .unwrap();
        assert_eq!(j.sources[0].label, "Marketing (EU)");
        assert!(!format!("{j:?}").contains(REF_A));
    }

    /// What the repository's terraform writes for `rudder_sources` (jsonencode: keys sorted, no
    /// spaces, absent optional fields left out; `scripts/deploy_rehearsal.py` checks it is this).
    #[test]
    fn the_terraform_spelling() {
        let text = r#"[{"data_plane_url":"https://acme-eu.dataplane.rudderstack.com","label":"Marketing (EU)","name":"marketing_eu","write_key":"projects/acme-looker-hub/secrets/looker-hub-rudder-marketing-eu/versions/latest"},{"name":"Product","write_key":"projects/acme-looker-hub/secrets/looker-hub-rudder-product/versions/latest"}]"#;
        let s =
            SourcesSettings::parse(text, Some("https://acme.dataplane.rudderstack.com")).unwrap();
        let got: Vec<(&str, &str, &str, &str)> = s
            .sources
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.label.as_str(),
                    s.write_key.expose_secret(),
                    s.data_plane_url.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "marketing_eu",
                    "Marketing (EU)",
                    "projects/acme-looker-hub/secrets/looker-hub-rudder-marketing-eu/versions/latest",
                    "https://acme-eu.dataplane.rudderstack.com"
                ),
                (
                    "Product",
                    "Product",
                    "projects/acme-looker-hub/secrets/looker-hub-rudder-product/versions/latest",
                    "https://acme.dataplane.rudderstack.com"
                )
            ]
        );
    }

    #[test]
    fn mistakes_are_refused_with_the_source_named_and_no_key() {
        let cases = [
            ("a=k1@https://x.example,A=k2@https://x.example", "declared twice"),
            ("a=projects/p/secrets/s@https://x.example", "source \"a\": RUDDER_SOURCES: not a valid Secret Manager reference"),
            ("a=SECRETKEY", "source \"a\" has no data plane URL"),
            ("a=projects/p/secretz/SECRETKEY/versions/latest@https://x.example", "source \"a\": RUDDER_SOURCES: not a valid Secret Manager reference"),
            ("a=PROJECTS/p/secrets/SECRETKEY/versions/latest@https://x.example", "source \"a\": RUDDER_SOURCES: not a valid Secret Manager reference"),
            ("a=SECRETKEY@ftp://x", "must start with http"),
            ("a SECRETKEY", "entry 1 is not name="),
            ("a.b=SECRETKEY@https://x.example", "source 1 has the name \"a.b\""),
            ("a=@https://x.example", "source \"a\" has no write key"),
            (" , ", "declares no source"),
            ("[{\"name\":\"a\",\"write_key\":\"SECRETKEY\",\"extra\":1}]", "source \"a\": unknown key \"extra\" (the keys are name, label, write_key, data_plane_url)"),
            ("[{\"name\":\"a\",\"write_key\":\"SECRETKEY\"},{\"name\":\"b\",\"write_key\":\"SECRETKEY\",\"dataplane_url\":\"https://x.example\"}]", "source \"b\": unknown key \"dataplane_url\""),
            ("[{\"name\":\"a\",\"write_key\":[\"SECRETKEY\"]}]", "source \"a\": \"write_key\" must be a string"),
            ("[{\"name\":\"a\"}]", "source \"a\" has no \"write_key\""),
            ("[{\"write_key\":\"SECRETKEY\"}]", "source 1 has no \"name\""),
            ("[{\"name\":\"a\",\"write_key\":\"SECRETKEY\",\"write_key\":\"OTHER\"}]", "source \"a\": the key \"write_key\" is written twice: keep one"),
            ("{\"name\":\"a\",\"write_key\":\"SECRETKEY\"}", "is one JSON object: write a JSON list"),
            ("[{\"name\":\"m\",\"write_key\":\"SECRETKEY\"}]", "source \"m\" has no data plane URL: add \"data_plane_url\""),
            ("[\"SECRETKEY\"]", "source 1 is not an object"),
            ("[{\"name\":\"a\",\"write_key\":\"SECRETKEY\"", "not a JSON list of"),
            (
                "[{\"name\":\"a_b\",\"write_key\":\"SECRETKEY\",\"data_plane_url\":\"https://x.example\"},{\"name\":\"a-b\",\"write_key\":\"SECRETKEY\",\"data_plane_url\":\"https://x.example\"}]",
                "have the same label \"A b\"",
            ),
            (
                "[{\"name\":\"a\",\"label\":\"Same\",\"write_key\":\"SECRETKEY\",\"data_plane_url\":\"https://x.example\"},{\"name\":\"b\",\"label\":\"same\",\"write_key\":\"SECRETKEY\",\"data_plane_url\":\"https://x.example\"}]",
                "sources \"a\" and \"b\" have the same label \"same\"",
            ),
        ];
        for (text, expected) in cases {
            let e = err(text, None);
            assert!(e.starts_with("RUDDER_SOURCES is invalid: "), "{text}: {e}");
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("SECRETKEY"), "{text}: {e}");
        }
    }
}
