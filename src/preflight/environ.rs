//! A snapshot of the process environment in which every value is a [`Secret`].
//!
//! Probes read variables only through this, so no probe can print a value by
//! accident, and tests can hand probes an environment without touching the
//! process's own. Values are text (invalid UTF-8 replaced) for the probes that
//! want text, and the original bytes stay at hand for those that must not lose
//! them: libpq reads `DATABASE_URL` and `PGPASSWORD` as bytes.

use crate::redact::Secret;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Env {
    text: BTreeMap<String, Secret<String>>,
    /// The original bytes of the values that are not UTF-8.
    raw: BTreeMap<String, Secret<Vec<u8>>>,
}

impl Env {
    /// The process's environment as the server will read it: a name listed twice
    /// in `environ` (a launcher that builds it by hand) is judged by its first
    /// value, the one libc's `getenv` and Node's `process.env` return, since the
    /// exec passes `environ` on untouched.
    pub fn from_process() -> Env {
        use std::os::unix::ffi::OsStringExt;
        Env::from_byte_pairs(first_of_each(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_vec()))),
        ))
    }

    pub fn from_pairs<I: IntoIterator<Item = (S, S)>, S: Into<String>>(pairs: I) -> Env {
        Env::from_byte_pairs(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into().into_bytes())),
        )
    }

    /// Values as the kernel holds them, UTF-8 or not.
    pub fn from_byte_pairs<I: IntoIterator<Item = (String, Vec<u8>)>>(pairs: I) -> Env {
        let mut env = Env::default();
        for (k, v) in pairs {
            match String::from_utf8(v) {
                Ok(s) => {
                    env.raw.remove(&k);
                    env.text.insert(k, Secret::new(s));
                }
                Err(e) => {
                    let v = e.into_bytes();
                    env.text.insert(
                        k.clone(),
                        Secret::new(String::from_utf8_lossy(&v).into_owned()),
                    );
                    env.raw.insert(k, Secret::new(v));
                }
            }
        }
        env
    }

    /// The value's original bytes, when set and not empty.
    pub fn bytes(&self, k: &str) -> Option<Secret<Vec<u8>>> {
        match self.raw.get(k) {
            Some(v) => Some(v.clone()),
            None => self
                .get(k)
                .map(|v| Secret::new(v.expose().as_bytes().to_vec())),
        }
    }

    /// The value, when set and not empty (an empty variable is as good as unset).
    pub fn get(&self, k: &str) -> Option<&Secret<String>> {
        self.text.get(k).filter(|v| !v.expose().is_empty())
    }

    /// The value even when empty: libpq's variables (`PGSSLMODE=`) mean the empty
    /// value when set and empty, which is not the same as unset.
    pub fn raw(&self, k: &str) -> Option<&Secret<String>> {
        self.text.get(k)
    }

    /// For non-secret settings that may be shown (regions, modes, paths).
    pub fn plain(&self, k: &str) -> Option<&str> {
        self.get(k).map(|v| v.expose().as_str())
    }

    pub fn is_production(&self) -> bool {
        self.plain("NODE_ENV") == Some("production")
    }
}

/// Each name's first pair, in order.
fn first_of_each<I: IntoIterator<Item = (String, Vec<u8>)>>(pairs: I) -> Vec<(String, Vec<u8>)> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}
