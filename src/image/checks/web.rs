//! Will the page load? The index page under the web root is tokenized as a browser
//! would (html5gum, WHATWG rules) and every local file it references
//! (`<script src>`, `<link href>` for stylesheets, preloads, icons and the
//! manifest, `<img>`/`<source>` `src` and `srcset`) must exist in the image;
//! stylesheets it loads are followed through `url(…)` and `@import`.
//!
//! The web root is `[web] root`, else a `public` or `dist/public` directory next
//! to the Node entry script or under WORKDIR. Absolute references resolve against
//! the root (what the server serves at `/`), relative ones against the page.

use crate::image::checks::cmd;
use crate::image::checks::node::resolve::{join, parent};
use crate::image::fs::{FlatFs, Kind, Node};
use crate::image::layer::MAX_CONTENT;
use crate::image::spec::WebRule;
use crate::report::{CheckOutcome, Code, Finding};
use html5gum::{DefaultEmitter, Token, Tokenizer};
use oci_spec::image::ImageConfiguration;
use std::collections::HashSet;

const NAME: &str = "web";
/// Stylesheets followed from one page (through `@import` too).
const MAX_CSS: usize = 500;

/// The contents this check reads, declared before the layers stream: see
/// [`wants`].
pub fn contents() -> crate::image::contents::ContentSet {
    crate::image::contents::ContentSet::none().with_rule("web: pages and stylesheets 1", wants)
}

/// Contents this check reads: pages and stylesheets outside `node_modules` and
/// the system directories.
pub fn wants(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name.ends_with(".html") || name.ends_with(".css"))
        && !path.split('/').any(|c| c == "node_modules")
        && !["usr/", "lib/", "etc/", "proc/", "sys/", "var/lib/"]
            .iter()
            .any(|s| path.starts_with(s) && !path.starts_with("usr/src/"))
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Line numbers by binary search over line starts: a page of a million tags
/// costs a million lookups, not a million scans.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &[u8]) -> Lines {
        Lines(
            std::iter::once(0)
                .chain(newlines(text).map(|i| i + 1))
                .collect(),
        )
    }

    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset)
    }
}

/// Line ends as HTML and CSS count them: `\n`, `\r\n` and a lone `\r` (the
/// tokenizer turns each into one `\n` in `<style>` text, so both count alike).
fn newlines(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    text.iter().enumerate().filter_map(|(i, b)| match b {
        b'\n' => Some(i),
        b'\r' if text.get(i + 1) != Some(&b'\n') => Some(i),
        _ => None,
    })
}

#[cfg(test)]
fn line_of(text: &[u8], offset: usize) -> usize {
    Lines::new(text).of(offset)
}

/// One local-or-not reference a page makes, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlRef {
    pub line: usize,
    pub url: String,
    /// How the page loads it, for the message.
    pub what: String,
    /// A stylesheet whose own references are followed.
    pub stylesheet: bool,
}

/// The URLs of a `srcset`, split as the HTML standard's srcset parser does: a
/// URL runs to whitespace (so `data:…,…` keeps its commas), trailing commas
/// end a candidate, and descriptors run to a comma outside parentheses.
fn srcset_urls(set: &str) -> Vec<&str> {
    let ws = |c: char| c.is_ascii_whitespace();
    let mut out = Vec::new();
    let mut rest = set;
    loop {
        rest = rest.trim_start_matches(|c: char| ws(c) || c == ',');
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(ws).unwrap_or(rest.len());
        let (url, after) = rest.split_at(end);
        if url.ends_with(',') {
            let u = url.trim_end_matches(',');
            if !u.is_empty() {
                out.push(u);
            }
            rest = after;
            continue;
        }
        out.push(url);
        // Descriptors: up to a comma that is not inside parentheses.
        let mut depth = 0usize;
        let mut cut = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    cut = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[cut..];
    }
}

/// Every reference the page makes that the check looks at, in document order.
pub fn html_refs(text: &[u8]) -> Vec<HtmlRef> {
    html_refs_and_base(text).0
}

/// [`html_refs`], and the page's first `<base href>`, against which its
/// relative references resolve.
pub fn html_refs_and_base(text: &[u8]) -> (Vec<HtmlRef>, Option<String>) {
    let mut base: Option<String> = None;
    let lines = Lines::new(text);
    let mut out = Vec::new();
    let mut push = |line: usize, url: &str, what: String, stylesheet: bool| {
        out.push(HtmlRef {
            line,
            url: url.to_string(),
            what,
            stylesheet,
        })
    };
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    // `<script>`/`<style>` contents are raw text, not tags.
    emitter.naively_switch_states(true);
    let mut in_style = false;
    // `<template>` contents are inert: the browser loads nothing from them.
    let mut templates = 0usize;
    for tok in Tokenizer::new_with_emitter(text, emitter).flatten() {
        match tok {
            Token::StartTag(t) if t.name.eq_ignore_ascii_case(b"template") => {
                templates += !t.self_closing as usize;
            }
            Token::EndTag(t) if t.name.eq_ignore_ascii_case(b"template") => {
                templates = templates.saturating_sub(1);
                in_style = false;
            }
            _ if templates > 0 => {}
            Token::StartTag(t) => {
                let line = lines.of(t.span.start);
                let attr = |n: &[u8]| {
                    t.attributes
                        .get(n)
                        .map(|v| String::from_utf8_lossy(&v.value).into_owned())
                };
                let name = String::from_utf8_lossy(&t.name).to_ascii_lowercase();
                in_style = name == "style";
                match name.as_str() {
                    "base" if base.is_none() => base = attr(b"href"),
                    "script" => {
                        if let Some(src) = attr(b"src") {
                            push(line, &src, "`<script src>` loads".into(), false);
                        }
                    }
                    "link" => {
                        let rel = attr(b"rel").unwrap_or_default().to_ascii_lowercase();
                        let rels: Vec<&str> = rel.split_ascii_whitespace().collect();
                        let wanted = [
                            "stylesheet",
                            "modulepreload",
                            "preload",
                            "icon",
                            "apple-touch-icon",
                            "manifest",
                        ];
                        if !rels.iter().any(|r| wanted.contains(r)) {
                            continue;
                        }
                        if let Some(href) = attr(b"href") {
                            let what = format!("`<link rel=\"{rel}\">` loads");
                            push(line, &href, what, rels.contains(&"stylesheet"));
                        }
                    }
                    "img" | "source" | "video" | "audio" => {
                        if let Some(src) = attr(b"src") {
                            push(line, &src, format!("`<{name} src>` loads"), false);
                        }
                        if let Some(set) = attr(b"srcset") {
                            for u in srcset_urls(&set) {
                                push(line, u, format!("`<{name} srcset>` lists"), false);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Token::EndTag(_) => in_style = false,
            Token::String(s) if in_style => {
                let css = String::from_utf8_lossy(&s.value).into_owned();
                let css_lines = Lines::new(css.as_bytes());
                let base = lines.of(s.span.start) - 1;
                for (off, url, import) in css_refs(&css) {
                    let what = if import {
                        "`<style>` `@import`s"
                    } else {
                        "`<style>` `url()` loads"
                    };
                    push(base + css_lines.of(off), &url, what.into(), import);
                }
            }
            _ => {}
        }
    }
    (out, base)
}

/// A reference the image must hold, or `None` for external URLs, `data:`,
/// fragments and template placeholders.
fn local(url: &str) -> Option<String> {
    // The URL parser drops tabs and newlines anywhere, trims the ends, and
    // reads `\` as `/` in http(s) URLs (`/\cdn.example/x.js` is another host).
    let u: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let u = u.trim_matches(|c: char| c <= ' ');
    if u.is_empty()
        || u.starts_with('#')
        || u.starts_with("//")
        || u.contains("{{")
        || u.contains("<%")
        || placeholder(u)
    {
        return None;
    }
    // A scheme (`https:`, `data:`, `blob:`) before any `/`, `?` or `#`.
    if let Some(i) = u.find(':') {
        if !u[..i].contains(['/', '?', '#']) {
            return None;
        }
    }
    let u = u.split(['?', '#']).next().unwrap_or("");
    (!u.is_empty()).then(|| percent_decode(u))
}

/// A build tool's placeholder at the start (`%BASE_URL%`, `%PUBLIC_URL%`), not
/// a percent-escape (`%E2%9C%93.png` is a file name).
fn placeholder(u: &str) -> bool {
    let Some(rest) = u.strip_prefix('%') else {
        return false;
    };
    match rest.find('%') {
        Some(end) => {
            let name = &rest[..end];
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !(name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit()))
        }
        None => false,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Page<'f> {
    fs: &'f FlatFs,
    root: String,
    findings: Vec<Finding>,
    css_seen: HashSet<String>,
    refs: usize,
}

impl Page<'_> {
    /// Checks one reference from `from` (a key) at `line`; returns the real path
    /// when the file exists. `base`: the page's `<base href>`, when it has one.
    fn reference(
        &mut self,
        from: &str,
        line: usize,
        url: &str,
        what: &str,
        base: Option<&str>,
    ) -> Option<String> {
        let path = local(url)?;
        // Relative references resolve in URL space, where `..` stops at the
        // site's root (the web root), not at the image's: a file under the
        // web root is at its path below it; one outside (a stylesheet linked
        // from elsewhere) resolves on the file system as before.
        let in_root = |dir: &str| -> Option<String> {
            if self.root.is_empty() {
                Some(dir.to_string())
            } else if dir == self.root {
                Some(String::new())
            } else {
                dir.strip_prefix(&format!("{}/", self.root))
                    .map(String::from)
            }
        };
        let page_dir = parent(from);
        // (directory, whether it is a URL path below the web root)
        let (dir, url_space) = match base {
            None => match in_root(page_dir) {
                Some(d) => (d, true),
                None => (page_dir.to_string(), false),
            },
            // An external base makes every reference external (`/x` too).
            Some(b) => {
                let b_path = local(b)?;
                let is_dir = b.split(['?', '#']).next().unwrap_or("").ends_with('/');
                let b_key = if b_path.starts_with('/') {
                    join("", b_path.trim_start_matches('/'))
                } else {
                    match in_root(page_dir) {
                        Some(d) => join(&d, &b_path),
                        None => join(page_dir, &b_path),
                    }
                };
                // `/assets/` is a directory; `/assets/app` names a file in one.
                let d = if is_dir {
                    b_key
                } else {
                    parent(&b_key).to_string()
                };
                (d, b_path.starts_with('/') || in_root(page_dir).is_some())
            }
        };
        self.refs += 1;
        let target = if path.starts_with('/') {
            join(&self.root, path.trim_start_matches('/'))
        } else if url_space {
            join(&self.root, &join(&dir, &path))
        } else {
            join(&dir, &path)
        };
        match self.fs.lookup(&target) {
            Ok((k, n)) if n.kind == Kind::File => Some(k),
            _ => {
                let shown = format!("/{from}:{line}");
                self.findings.push(
                    Finding::error(
                        Code::AssetMissing,
                        shown,
                        format!("{what} `{url}`, but `/{target}` does not exist in the image; the browser gets a 404"),
                    )
                    .hint("the frontend build's output and the server image disagree: copy the whole build output (`COPY --from=build /app/dist ./dist`) from the same build that wrote the page")
                    // Where the file went, when a layer deleted it; else who wrote the page.
                    .provenance(
                        self.fs
                            .provenance(&format!("/{target}"))
                            .or_else(|| self.fs.provenance(&format!("/{from}"))),
                    ),
                );
                None
            }
        }
    }

    fn page(&mut self, key: &str, text: &[u8]) {
        let (refs, base) = html_refs_and_base(text);
        for r in refs {
            let found = self.reference(key, r.line, &r.url, &r.what, base.as_deref());
            if let Some(css) = found.filter(|_| r.stylesheet) {
                self.stylesheet(&css);
            }
        }
    }

    fn stylesheet(&mut self, key: &str) {
        if self.css_seen.len() >= MAX_CSS || !self.css_seen.insert(key.to_string()) {
            return;
        }
        let Ok((_, n)) = self.fs.lookup(key) else {
            return;
        };
        let Some(bytes) = n.content.clone() else {
            let why = if n.size > MAX_CONTENT {
                format!(
                    "is {} bytes, more than the {} MiB image-check reads",
                    n.size,
                    MAX_CONTENT >> 20
                )
            } else {
                "was not read".to_string()
            };
            self.findings.push(Finding::warning(
                Code::WebNotChecked,
                format!("/{key}"),
                format!("{why}, so its `url()` and `@import` references were not checked"),
            ));
            return;
        };
        let css = String::from_utf8_lossy(&bytes).into_owned();
        let lines = Lines::new(css.as_bytes());
        for (off, url, import) in css_refs(&css) {
            let line = lines.of(off);
            let what = if import {
                "`@import`s"
            } else {
                "`url()` loads"
            };
            if let Some(k) = self.reference(key, line, &url, what, None) {
                if import {
                    self.stylesheet(&k);
                }
            }
        }
    }
}

/// `url(…)` and `@import` references in a stylesheet: (offset, url, is_import).
/// Comments are skipped and strings are read whole, so a `url(` inside either is
/// not taken for one.
fn css_refs(css: &str) -> Vec<(usize, String, bool)> {
    let b = css.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let string_at = |i: usize| -> (String, usize) {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q && b[j] != b'\n' {
            if b[j] == b'\\' && j + 1 < b.len() {
                j += 1;
            }
            j += 1;
        }
        let raw = String::from_utf8_lossy(&b[i + 1..j.min(b.len())]).into_owned();
        (css_unescape(&raw), (j + 1).min(b.len()))
    };
    // `@import` counts only before any other rule (after `@charset` and
    // `@layer` statements); a later one is ignored by browsers.
    let mut rules = false;
    while i < b.len() {
        match b[i] {
            b'{' => {
                rules = true;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = css[i + 2..]
                    .find("*/")
                    .map(|e| i + 2 + e + 2)
                    .unwrap_or(b.len());
            }
            b'"' | b'\'' => i = string_at(i).1,
            b'@' if b.len() >= i + 7 && b[i + 1..i + 7].eq_ignore_ascii_case(b"import") => {
                let mut j = i + 7;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let (s, end) = string_at(j);
                    if !rules {
                        out.push((i, s, true));
                    }
                    i = end;
                } else if b.len() >= j + 4 && b[j..j + 4].eq_ignore_ascii_case(b"url(") {
                    if let Some((s, end)) = url_at(css, j + 4) {
                        if !rules {
                            out.push((i, s, true));
                        }
                        i = end;
                    } else {
                        i = j + 4;
                    }
                } else {
                    i = j;
                }
            }
            b'u' | b'U'
                if b.len() >= i + 4
                    && b[i..i + 4].eq_ignore_ascii_case(b"url(")
                    && (i == 0
                        || !(b[i - 1].is_ascii_alphanumeric()
                            || b[i - 1] == b'-'
                            || b[i - 1] == b'_')) =>
            {
                match url_at(css, i + 4) {
                    Some((s, end)) => {
                        out.push((i, s, false));
                        i = end;
                    }
                    None => i += 4,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The argument of `url(` starting at `i`, and the offset after its `)`.
fn url_at(css: &str, mut i: usize) -> Option<(String, usize)> {
    let b = css.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
        let q = b[i];
        let end = css[i + 1..].find(q as char)? + i + 1;
        let s = css_unescape(&css[i + 1..end]);
        let close = css[end..].find(')')? + end;
        return Some((s, close + 1));
    }
    let close = css[i..].find(')')? + i;
    Some((css_unescape(css[i..close].trim()), close + 1))
}

/// CSS escapes decoded as the tokenizer decodes them: `\\` and 1–6 hex digits
/// (and one whitespace after) is that code point, `\\` before a newline is a
/// line continuation, `\\` before anything else is that character.
fn css_unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 && it.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            hex.extend(it.next());
        }
        if !hex.is_empty() {
            let v = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
            out.push(match char::from_u32(v) {
                Some(c) if v != 0 => c,
                _ => '\u{fffd}',
            });
            if it.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                it.next();
            }
            continue;
        }
        match it.next() {
            Some('\n') | None => {}
            Some(c) => out.push(c),
        }
    }
    out
}

/// The web root and the page the check reads (keys), or the outcome that says
/// why there is none.
fn locate<'f>(
    fs: &'f FlatFs,
    cfg: &ImageConfiguration,
    rule: &WebRule,
) -> Result<(String, String, Node<'f>), CheckOutcome> {
    let c = cfg.config().clone().unwrap_or_default();
    let wd = join("", &c.working_dir().clone().unwrap_or_default());
    let note = |msg: String| {
        CheckOutcome::from_findings(NAME, vec![Finding::note(Code::WebNotChecked, "web", msg)])
    };
    let index = rule.index.clone().unwrap_or_else(|| "index.html".into());
    let (root, named) = match &rule.root {
        Some(r) => (join(&wd, r), true),
        None => {
            let entry_dir = cmd::resolve(fs, cfg)
                .ok()
                .and_then(|t| t.node_script().map(|s| parent(&join("", s)).to_string()));
            let mut cands = Vec::new();
            for base in entry_dir.iter().chain(std::iter::once(&wd)) {
                for sub in ["public", "dist/public"] {
                    let cand = join(base, sub);
                    if !cands.contains(&cand) {
                        cands.push(cand);
                    }
                }
            }
            match cands.iter().find_map(|d| match fs.lookup(d) {
                Ok((k, n)) if n.kind == Kind::Dir => Some(k),
                _ => None,
            }) {
                Some(r) => (r, false),
                None => {
                    let shown: Vec<String> = cands.iter().map(|c| format!("`/{c}`")).collect();
                    return Err(note(format!(
                        "no web root (looked for {}; set `[web] root` in the spec), so no page was checked",
                        shown.join(", ")
                    ))
                    .detail("did not run: no web root"));
                }
            }
        }
    };
    let root = match fs.lookup(&root) {
        Ok((k, n)) if n.kind == Kind::Dir => k,
        _ => {
            return Err(CheckOutcome::from_findings(
                NAME,
                vec![Finding::error(
                    Code::AssetMissing,
                    format!("/{root}"),
                    "the web root `[web] root` names is not a directory in the image, so the server has no pages to serve",
                )
                .hint("copy the frontend build output into the image (`COPY --from=build /app/dist/public ./dist/public`), or fix `[web] root`")
                .provenance(fs.provenance(&format!("/{root}")))],
            ))
        }
    };
    let page_key = join(&root, &index);
    match fs.lookup(&page_key) {
        Ok((k, n)) if n.kind == Kind::File => Ok((root, k, n)),
        _ if named || rule.index.is_some() => {
            Err(CheckOutcome::from_findings(
                NAME,
                vec![Finding::error(
                    Code::AssetMissing,
                    format!("/{page_key}"),
                    format!("the web root `/{root}` has no `{index}`, so `/` answers 404"),
                )
                .hint("the frontend build did not run or wrote elsewhere: check its `outDir` against `[web] root`")],
            ))
        }
        _ => {
            Err(note(format!("the web root `/{root}` has no `{index}`, so no page was checked"))
                .detail("did not run: no index page"))
        }
    }
}

/// Layer paths to keep on a second read when the page or its stylesheets were
/// past the first read's budget: the page and the web root's stylesheets,
/// bounded as the node check's fallback is.
pub fn content_sources(fs: &FlatFs, cfg: &ImageConfiguration, rule: &WebRule) -> Vec<String> {
    let Ok((root, page_key, page)) = locate(fs, cfg, rule) else {
        return vec![];
    };
    let unread = |n: &Node| n.kind == Kind::File && n.content.is_none() && n.size <= MAX_CONTENT;
    let mut out = Vec::new();
    let mut bytes = 0;
    if unread(&page) {
        bytes += page.size;
        out.push(fs.source_path(&page_key));
    }
    for (k, n) in fs.walk(&root) {
        if out.len() >= MAX_CSS || !k.ends_with(".css") || !unread(&n) {
            continue;
        }
        bytes += n.size;
        if bytes > super::node::FALLBACK_BYTES {
            break;
        }
        let src = fs.source_path(&k);
        if !out.contains(&src) {
            out.push(src);
        }
    }
    out
}

pub fn check(fs: &FlatFs, cfg: &ImageConfiguration, rule: &WebRule) -> CheckOutcome {
    let (root, page_key, node) = match locate(fs, cfg, rule) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let Some(text) = node.content.clone() else {
        return CheckOutcome::from_findings(
            NAME,
            vec![Finding::warning(
                Code::WebNotChecked,
                format!("/{page_key}"),
                format!(
                    "is {} bytes and was not read, so its references were not checked",
                    node.size
                ),
            )],
        );
    };
    let mut p = Page {
        fs,
        root: root.clone(),
        findings: Vec::new(),
        css_seen: HashSet::new(),
        refs: 0,
    };
    p.page(&page_key, &text);
    let detail = format!(
        "`/{page_key}`: {}, {}",
        plural(p.refs, "reference"),
        plural(p.css_seen.len(), "stylesheet")
    );
    CheckOutcome::from_findings(NAME, p.findings).detail(detail)
}

/// The `app_files` fuzz target's body for pages and stylesheets, also run on its
/// corpus by `cargo test`: any bytes give references with lines inside the text,
/// never a panic.
pub fn fuzz_web(data: &[u8]) {
    let n = newlines(data).count() + 1;
    for r in html_refs(data) {
        assert!(r.line >= 1 && r.line <= n, "line {} of {n}", r.line);
        let _ = local(&r.url);
    }
    let css = String::from_utf8_lossy(data);
    for (off, url, _) in css_refs(&css) {
        assert!(off < css.len());
        let _ = local(&url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile M13: a `srcset` is split as the HTML standard splits it.
    #[test]
    fn srcset_is_split_as_browsers_split_it() {
        assert_eq!(
            srcset_urls("data:image/png;base64,iVBORw0KGgo= 1x, /img/a.png 2x"),
            vec!["data:image/png;base64,iVBORw0KGgo=", "/img/a.png"]
        );
        assert_eq!(srcset_urls("/img/a,b.png 1x"), vec!["/img/a,b.png"]);
        assert_eq!(
            srcset_urls("a.png, b.png 2x,c.png,, d.png (x, y) 3x ,e.png"),
            vec!["a.png", "b.png", "c.png", "d.png", "e.png"]
        );
        assert_eq!(srcset_urls(" , ,"), Vec::<&str>::new());
    }

    /// Hostile L6: CSS escapes in `url()` and strings decode as the CSS
    /// tokenizer decodes them; an `@import` after a rule is ignored, as
    /// browsers ignore it.
    #[test]
    fn css_escapes_decode_and_late_imports_are_ignored() {
        let css = r#"@charset "utf-8";
@import "a\62 c.css";
@font-face{src:url(/fonts/a\ b.woff)}
@font-face{src:url("/fonts/\61.woff")}
body{} @import "late.css";
"#;
        let got: Vec<String> = css_refs(css).into_iter().map(|(_, u, _)| u).collect();
        assert_eq!(got, vec!["abc.css", "/fonts/a b.woff", "/fonts/a.woff"]);
    }

    #[test]
    fn local_references_only() {
        assert_eq!(local("/assets/a.js").as_deref(), Some("/assets/a.js"));
        assert_eq!(local("./a.css?v=3#x").as_deref(), Some("./a.css"));
        assert_eq!(
            local("fonts/My%20Font.woff2").as_deref(),
            Some("fonts/My Font.woff2")
        );
        for ext in [
            "https://cdn.example/x.js",
            "//cdn.example/x.js",
            "data:image/png;base64,AAAA",
            "#top",
            "",
            "%BASE_URL%favicon.ico",
            "{{ asset }}",
        ] {
            assert_eq!(local(ext), None, "{ext}");
        }
    }

    /// Byte offsets into non-ASCII text must not split a character.
    #[test]
    fn css_scanning_survives_any_text() {
        for css in [
            "@é",
            "@impo",
            "@importé",
            "uré",
            "url(",
            "url(\"",
            "url('x",
            "/*",
            "\"",
            "@import url(",
            "ü@import 'a'",
        ] {
            let _ = css_refs(css);
        }
        assert_eq!(css_refs("a{b:url(ü.png)}")[0].1, "ü.png");
    }

    #[test]
    fn css_references_skip_comments_and_strings() {
        let css = "/* url(ghost.png) */\n@import \"./base.css\";\n@import url(theme.css);\n.a{background:url( '../img/a.png' )}\n.b{content:\"url(ghost2.png)\"}\n@font-face{src:url(/fonts/x.woff2) format('woff2')}\n";
        let got: Vec<(String, bool)> = css_refs(css).into_iter().map(|(_, u, i)| (u, i)).collect();
        assert_eq!(
            got,
            vec![
                ("./base.css".into(), true),
                ("theme.css".into(), true),
                ("../img/a.png".into(), false),
                ("/fonts/x.woff2".into(), false),
            ]
        );
        let lines: Vec<usize> = css_refs(css)
            .iter()
            .map(|(o, _, _)| line_of(css.as_bytes(), *o))
            .collect();
        assert_eq!(lines, vec![2, 3, 4, 6]);
    }
}
