//! Keeps secret values out of every output channel.
//!
//! A value read from a secret-bearing source is wrapped in [`Secret`] at the point it
//! is read, so `Debug`, `Display` and error chains can only ever show `<redacted>`;
//! code that truly needs the value calls [`Secret::expose`], which is easy to audit.

use std::fmt;

/// A value that must never be printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The raw value. Every call site is a place a secret could leak: keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Replaces the password in a `scheme://user:password@host/...` URL with `***`, and
/// any `password=` keyword value; everything else is kept so the URL stays useful.
pub fn mask_url_password(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (head, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    out.push_str(head);
    let rest = if !head.is_empty() {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                match userinfo.find(':') {
                    Some(c) => {
                        out.push_str(&userinfo[..c]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                &rest[at..]
            }
            None => rest,
        }
    } else {
        rest
    };
    out.push_str(&mask_password_params(rest));
    out
}

fn mask_password_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let lower = s.to_ascii_lowercase();
    while let Some(off) = lower[i..].find("password=") {
        let start = i + off + "password=".len();
        out.push_str(&s[i..start]);
        out.push_str("***");
        let end = s[start..]
            .find(['&', ' ', '#'])
            .map(|e| start + e)
            .unwrap_or(s.len());
        i = end;
    }
    out.push_str(&s[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2-canary".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2-canary");
    }

    #[test]
    fn masks_url_and_keyword_passwords() {
        assert_eq!(
            mask_url_password("postgres://app:s3cr%40t@db:5432/x?sslmode=require"),
            "postgres://app:***@db:5432/x?sslmode=require"
        );
        assert_eq!(
            mask_url_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            mask_url_password("host=db password=abc user=u"),
            "host=db password=*** user=u"
        );
        assert_eq!(
            mask_url_password("postgres://u@db/x?password=abc&sslmode=require"),
            "postgres://u@db/x?password=***&sslmode=require"
        );
    }
}
