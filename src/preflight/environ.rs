//! A snapshot of the process environment in which every value is a [`Secret`].
//!
//! Probes read variables only through this, so no probe can print a value by
//! accident, and tests can hand probes an environment without touching the
//! process's own.

use crate::redact::Secret;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, Secret<String>>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| {
                Some((
                    k.into_string().ok()?,
                    Secret::new(v.to_string_lossy().into_owned()),
                ))
            })
            .collect())
    }

    pub fn from_pairs<I: IntoIterator<Item = (S, S)>, S: Into<String>>(pairs: I) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), Secret::new(v.into())))
            .collect())
    }

    /// The value, when set and not empty (an empty variable is as good as unset).
    pub fn get(&self, k: &str) -> Option<&Secret<String>> {
        self.0.get(k).filter(|v| !v.expose().is_empty())
    }

    /// The value even when empty: libpq's variables (`PGSSLMODE=`) mean the empty
    /// value when set and empty, which is not the same as unset.
    pub fn raw(&self, k: &str) -> Option<&Secret<String>> {
        self.0.get(k)
    }

    /// For non-secret settings that may be shown (regions, modes, paths).
    pub fn plain(&self, k: &str) -> Option<&str> {
        self.get(k).map(|v| v.expose().as_str())
    }

    pub fn is_production(&self) -> bool {
        self.plain("NODE_ENV") == Some("production")
    }
}
