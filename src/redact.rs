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

/// Masks what may be secret in a connection URL or libpq keyword string before it
/// is shown: the whole userinfo of `scheme://user:password@host/...` becomes `***`
/// (up to the last `@`, since an unencoded `@` may sit in the password), and every
/// `password=` value becomes `***` (in a URL up to the next `&` or `#`; in a keyword
/// string up to unquoted whitespace, honouring `'…'` quoting and `\` escapes).
/// Masking errs on the side of hiding too much.
pub fn mask_url_password(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let (head, rest) = (&url[..i + 3], &url[i + 3..]);
            let rest = match rest.rfind('@') {
                Some(at) => format!("***{}", &rest[at..]),
                None => rest.to_string(),
            };
            format!("{head}{}", mask_password_params(&rest, true))
        }
        None => mask_password_params(url, false),
    }
}

fn mask_password_params(s: &str, uri: bool) -> String {
    let lower = s.to_ascii_lowercase();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(off) = lower[from..].find("password") {
        let key_end = from + off + "password".len();
        from = key_end;
        let mut i = key_end;
        if !uri {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        if !uri {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        // One character on from byte `j` (a char boundary), never past the end.
        let next = |j: usize| j + s[j..].chars().next().map_or(1, char::len_utf8);
        let end = if uri {
            // libpq's URI values end at `&` only (`#` is no fragment to it).
            s[i..].find('&').map(|e| i + e).unwrap_or(s.len())
        } else {
            let quoted = bytes.get(i) == Some(&b'\'');
            let mut j = if quoted { i + 1 } else { i };
            while j < s.len() {
                let b = bytes[j];
                if (quoted && b == b'\'') || (!quoted && b.is_ascii_whitespace()) {
                    break;
                }
                j = next(j);
                if b == b'\\' && j < s.len() {
                    j = next(j);
                }
            }
            if quoted && j < s.len() {
                j + 1
            } else {
                j
            }
        };
        out.push_str(&s[copied..i]);
        out.push_str("***");
        copied = end;
        from = end.max(from);
    }
    out.push_str(&s[copied..]);
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
            "postgres://***@db:5432/x?sslmode=require"
        );
        assert_eq!(
            mask_url_password("postgres://app@db/x"),
            "postgres://***@db/x"
        );
        assert_eq!(mask_url_password("http://db:5432/x"), "http://db:5432/x");
        assert_eq!(
            mask_url_password("host=db password=abc user=u"),
            "host=db password=*** user=u"
        );
        assert_eq!(
            mask_url_password("postgres://u@db/x?password=abc&sslmode=require"),
            "postgres://***@db/x?password=***&sslmode=require"
        );
    }

    #[test]
    fn masking_never_shows_any_part_of_a_hostile_secret() {
        const C: &str = "CANARY";
        for s in [
            format!("postgres://app:{C}@/x{C}@db/app"),
            format!("postgres://app:a@b/{C}@db/app"),
            format!("http://{C}:{C}@s3.local:9000"),
            format!("host=db password='a {C} b' user=u"),
            format!("host=db password='a\\' {C}' user=u"),
            format!("host=db password = {C} user=u"),
            format!("host=db PASSWORD={C}&sslmode=require"),
            format!("host=db password=a\\ {C} user=u"),
            format!("postgres://db/x?sslmode=require&password={C}#{C}"),
            format!("postgres://db/x?PassWord={C}"),
            format!("host=db password={C}"),
            format!("password={C}password={C}"),
        ] {
            let m = mask_url_password(&s);
            assert!(!m.contains(C), "{s} -> {m}");
        }
        assert_eq!(
            mask_url_password("host=db password='a b' user=u"),
            "host=db password=*** user=u"
        );
        assert_eq!(mask_url_password("passwordless=1"), "passwordless=1");
        // Never panics on cut-off input.
        for s in [
            "password=",
            "password='",
            "password=\\",
            "x://@",
            "password= \\",
            "password=\\é",
            "password='\\é",
        ] {
            mask_url_password(s);
        }
    }
}
