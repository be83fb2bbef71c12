//! Reading settings: where variables come from ([`VarSource`]), typed access ([`Vars`]) and the
//! error a bad value gives ([`SettingsError`]). A leaf: every module that owns settings parses them
//! with this, and `crate::settings` composes the results.

use std::collections::HashMap;

use secrecy::SecretString;

/// A settings problem that stops the hub from starting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required variable is missing.
    #[error("{0} is required: {1}")]
    Missing(&'static str, &'static str),
    /// A variable has a value that cannot be used.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// Why (never the value of a secret).
        reason: String,
    },
}

/// Source of variables: the process environment, or a map in tests.
pub trait VarSource {
    /// The value of a variable, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl VarSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl VarSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Typed access to a [`VarSource`]: empty values count as unset.
pub struct Vars<'a>(pub &'a dyn VarSource);

impl Vars<'_> {
    /// A non-empty, trimmed value.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A boolean (`true/false/1/0/yes/no/on/off`).
    pub fn bool(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(SettingsError::Invalid {
                    name,
                    reason: format!("expected true or false, got {v:?}"),
                }),
            },
        }
    }

    /// A number.
    pub fn num<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| SettingsError::Invalid {
                name,
                reason: format!("expected a number, got {v:?}"),
            }),
        }
    }

    /// A comma-separated list of secrets (values never appear in errors).
    pub fn secret_list(&self, name: &str) -> Vec<SecretString> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
