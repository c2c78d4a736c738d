//! Node's module resolution over the flattened image, as Node's documentation
//! states it (`ESM_RESOLVE`, `PACKAGE_RESOLVE`, `PACKAGE_EXPORTS_RESOLVE`,
//! `PACKAGE_TARGET_RESOLVE` in the ESM docs; `LOAD_AS_FILE`, `LOAD_AS_DIRECTORY`,
//! `LOAD_NODE_MODULES` in the CommonJS docs).
//!
//! Written here rather than taken from `oxc_resolver`: its `FileSystem` trait wants
//! an owned, `'static`, `fn new() -> Self` file system and real paths, where ours
//! is a borrowed tree with umoci's and the overlay runtimes' readings, and every
//! failure here must say which step failed (no package, no export, no file) for
//! the finding. Paths are tree keys (no leading `/`); links are followed and the
//! real path is what a module is known by, as Node's default `realpath` does.
//!
//! Not done: `NODE_PATH` and the global folders, `--conditions` flags, Yarn PnP.

use crate::image::fs::{FlatFs, Kind};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::rc::Rc;

/// Node 22's built-in modules (`require("module").builtinModules`), which Node 20
/// shares but for the last few; `node:`-only ones are in [`NODE_ONLY`].
const BUILTINS: &[&str] = &[
    "_http_agent",
    "_http_client",
    "_http_common",
    "_http_incoming",
    "_http_outgoing",
    "_http_server",
    "_stream_duplex",
    "_stream_passthrough",
    "_stream_readable",
    "_stream_transform",
    "_stream_wrap",
    "_stream_writable",
    "_tls_common",
    "_tls_wrap",
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];
const NODE_ONLY: &[&str] = &["sea", "sqlite", "test", "test/reporters"];

pub fn is_builtin(spec: &str) -> bool {
    match spec.strip_prefix("node:") {
        Some(rest) => BUILTINS.contains(&rest) || NODE_ONLY.contains(&rest),
        None => BUILTINS.contains(&spec),
    }
}

/// JSON with object keys in document order: export conditions are tried in the
/// order the package wrote them.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num,
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
                Ok(Json::Num)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
                Ok(Json::Num)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
                Ok(Json::Num)
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Json::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v: Vec<(String, Json)> = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, Json>()? {
                    // A repeated key: the last one wins, as in `JSON.parse`.
                    v.retain(|(old, _)| *old != k);
                    v.push((k, x));
                }
                Ok(Json::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// What resolution needs from a `package.json`.
#[derive(Debug)]
pub struct Package {
    /// The directory (a key) the `package.json` is in.
    pub dir: String,
    pub name: Option<String>,
    pub module: bool,
    /// `"type": "commonjs"` written out: Node then never detects ESM syntax.
    pub commonjs: bool,
    pub main: Option<String>,
    pub exports: Option<Json>,
    pub imports: Option<Json>,
    pub dependencies: Vec<String>,
    pub dev_dependencies: Vec<String>,
    pub optional: Vec<String>,
    /// `peerDependencies` not marked optional in `peerDependenciesMeta`.
    pub peers: Vec<String>,
}

fn names(j: Option<&Json>) -> Vec<String> {
    j.map(|j| j.keys().into_iter().map(String::from).collect())
        .unwrap_or_default()
}

/// The fields of a `package.json` resolution reads; the rest is skipped
/// unparsed, so what `JSON.parse` takes and serde_json would refuse in a value
/// (nesting past 128 levels, `1e999`, a lone surrogate) does not matter there.
const FIELDS: &[&str] = &[
    "name",
    "type",
    "main",
    "exports",
    "imports",
    "scripts",
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
];

/// A `package.json` as `JSON.parse` reads it, holding only [`FIELDS`].
fn manifest(bytes: &[u8]) -> Result<Json, String> {
    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = Json;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
            let mut v: Vec<(String, Json)> = Vec::new();
            while let Some(k) = a.next_key::<String>()? {
                if FIELDS.contains(&k.as_str()) {
                    let x: Json = a.next_value()?;
                    v.retain(|(old, _)| *old != k);
                    v.push((k, x));
                } else {
                    a.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(Json::Obj(v))
        }
        // Valid JSON that is not an object: Node refuses it too.
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(Json::Null)
        }
        fn visit_str<E>(self, _: &str) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
            Ok(Json::Null)
        }
        fn visit_unit<E>(self) -> Result<Json, E> {
            Ok(Json::Null)
        }
    }
    // Node reads the file as UTF-8 with replacement characters, then strips a
    // BOM before `JSON.parse`.
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let text = lone_surrogates_replaced(text);
    let mut de = serde_json::Deserializer::from_str(&text);
    let j = serde::Deserializer::deserialize_any(&mut de, Top).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(j)
}

/// `\uD800`–`\uDFFF` escapes that do not form a pair, as `\uFFFD`:
/// `JSON.parse` keeps them in the string, serde_json refuses the file.
fn lone_surrogates_replaced(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\u") {
        return std::borrow::Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let hex = |i: usize| {
        b.get(i..i + 6)
            .filter(|h| h[0] == b'\\' && h[1] == b'u')
            .and_then(|h| std::str::from_utf8(&h[2..]).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match hex(i) {
            Some(0xD800..=0xDBFF) if matches!(hex(i + 6), Some(0xDC00..=0xDFFF)) => i += 12,
            Some(0xD800..=0xDFFF) => {
                out.push_str(&text[last..i]);
                out.push_str("\\uFFFD");
                i += 6;
                last = i;
            }
            // Any other escape: skip both characters (`\\` must not start one).
            _ => i += 2,
        }
    }
    out.push_str(&text[last.min(text.len())..]);
    std::borrow::Cow::Owned(out)
}

impl Package {
    pub fn parse(dir: &str, bytes: &[u8]) -> Result<Package, String> {
        let j = manifest(bytes)?;
        if !matches!(j, Json::Obj(_)) {
            return Err("not a JSON object".into());
        }
        let s = |k: &str| j.get(k).and_then(Json::as_str).map(String::from);
        Ok(Package {
            dir: dir.to_string(),
            name: s("name"),
            module: s("type").as_deref() == Some("module"),
            commonjs: s("type").as_deref() == Some("commonjs"),
            main: s("main").filter(|m| !m.is_empty()),
            exports: j.get("exports").filter(|e| **e != Json::Null).cloned(),
            imports: j.get("imports").cloned(),
            dependencies: names(j.get("dependencies")),
            dev_dependencies: names(j.get("devDependencies")),
            optional: names(j.get("optionalDependencies")),
            peers: names(j.get("peerDependencies"))
                .into_iter()
                .filter(|p| {
                    j.get("peerDependenciesMeta")
                        .and_then(|m| m.get(p))
                        .and_then(|m| m.get("optional"))
                        != Some(&Json::Bool(true))
                })
                .collect(),
        })
    }
}

impl Package {
    /// `scripts.NAME` of a `package.json` (a string), `None` when it has none;
    /// `Err` when the file is not a JSON object.
    pub fn script(bytes: &[u8], name: &str) -> Result<Option<String>, String> {
        let j = manifest(bytes)?;
        if !matches!(j, Json::Obj(_)) {
            return Err("not a JSON object".into());
        }
        Ok(j.get("scripts")
            .and_then(|s| s.get(name))
            .and_then(Json::as_str)
            .map(String::from))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `import`/`export`/`import()`: conditions `node`, `import`; exact files.
    Esm,
    /// `require`: conditions `node`, `require`; `.js`/`.json`/`.node`/`index.js`.
    Cjs,
}

impl Mode {
    fn condition(self) -> &'static str {
        match self {
            Mode::Esm => "import",
            Mode::Cjs => "require",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Builtin,
    /// The real path (a key) of the module file.
    File(String),
}

/// Why a specifier does not resolve, in Node's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A relative or absolute path with no file there (`tried` is a key).
    NoFile { tried: String },
    /// ESM imports a directory.
    DirImport { path: String },
    /// No `node_modules/NAME` in any directory up from `from`.
    NoPackage { name: String, from: String },
    /// The package's `exports` has no entry for the subpath (or maps it to null).
    NotExported { pkg: String, subpath: String },
    /// `exports`/`main`/the subpath points at a file the package does not have.
    PackageFile { pkg: String, path: String },
    /// `#name` with no matching `imports` entry in the nearest `package.json`.
    NoImport { scope: Option<String> },
    /// A `package.json` on the way cannot be read.
    BadPackageJson { path: String, why: String },
    /// An `exports`/`imports` target Node refuses (not `./…`, climbs with `..`).
    InvalidTarget { pkg: String, target: String },
    /// A specifier Node refuses as written (an encoded `/` in an ESM path,
    /// `#` or `#/…`): why.
    InvalidSpecifier { spec: String, why: &'static str },
    /// A file that resolves but that Node's ESM loader refuses to load (JSON
    /// without `with { type: "json" }`, a native addon): the error and why.
    NotLoadable {
        path: String,
        code: &'static str,
        why: String,
    },
    /// A built-in the image's Node version does not have.
    UnknownBuiltin { spec: String, version: String },
}

impl Failure {
    /// The error code Node throws for this failure.
    pub fn node_code(&self, mode: Mode) -> &'static str {
        match self {
            Failure::NotExported { .. } => "ERR_PACKAGE_PATH_NOT_EXPORTED",
            Failure::NoImport { .. } => "ERR_PACKAGE_IMPORT_NOT_DEFINED",
            Failure::DirImport { .. } => "ERR_UNSUPPORTED_DIR_IMPORT",
            Failure::BadPackageJson { .. } => "ERR_INVALID_PACKAGE_CONFIG",
            Failure::InvalidTarget { .. } => "ERR_INVALID_PACKAGE_TARGET",
            Failure::InvalidSpecifier { .. } => "ERR_INVALID_MODULE_SPECIFIER",
            Failure::NotLoadable { code, .. } => code,
            Failure::UnknownBuiltin { .. } => "ERR_UNKNOWN_BUILTIN_MODULE",
            _ if mode == Mode::Esm => "ERR_MODULE_NOT_FOUND",
            _ => "MODULE_NOT_FOUND",
        }
    }

    /// One clause for a message: what is missing, with paths shown as `/…`.
    pub fn describe(&self) -> String {
        match self {
            Failure::NoFile { tried } => format!("`/{tried}` does not exist"),
            Failure::DirImport { path } => {
                format!("`/{path}` is a directory, which ESM cannot import")
            }
            Failure::NoPackage { name, from } => {
                format!("no `node_modules/{name}` in `/{from}` or any directory above it")
            }
            Failure::NotExported { pkg, subpath } => {
                format!("the `exports` of `/{pkg}/package.json` has no entry for `{subpath}`")
            }
            Failure::PackageFile { pkg, path } => {
                format!("package `/{pkg}` points at `/{path}`, which does not exist")
            }
            Failure::NoImport { scope: Some(s) } => {
                format!("`/{s}/package.json` has no matching `imports` entry")
            }
            Failure::NoImport { scope: None } => "no `package.json` above it has `imports`".into(),
            Failure::BadPackageJson { path, why } => format!("`/{path}` is not valid: {why}"),
            Failure::InvalidTarget { pkg, target } => {
                format!("`/{pkg}/package.json` maps it to `{target}`, which Node refuses")
            }
            Failure::InvalidSpecifier { spec, why } => format!("`{spec}` {why}"),
            Failure::NotLoadable { path, why, .. } => format!("`/{path}` {why}"),
            Failure::UnknownBuiltin { spec, version } => {
                format!("Node {version} (`NODE_VERSION`) has no built-in `{spec}`")
            }
        }
    }
}

/// `%XX` escapes decoded (malformed ones kept as written); bytes that are not
/// UTF-8 become U+FFFD.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parent(key: &str) -> &str {
    key.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// `rel` resolved against the directory `dir` (both keys), `..` clamped at the root.
pub fn join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        crate::image::inspect::user_key(rel)
    } else {
        crate::image::inspect::user_key(&format!("{dir}/{rel}"))
    }
}

/// `@scope/name` or `name`, and the rest as `./sub` (`.` when none).
pub fn split_package(spec: &str) -> Option<(&str, String)> {
    let mut it = spec.match_indices('/');
    let end = if spec.starts_with('@') {
        it.nth(1).map(|(i, _)| i)
    } else {
        it.next().map(|(i, _)| i)
    };
    let (name, rest) = match end {
        Some(i) => (&spec[..i], &spec[i..]),
        None => (spec, ""),
    };
    if name.is_empty() || (name.starts_with('@') && !name.contains('/')) || name.starts_with('.') {
        return None;
    }
    Some((name, format!(".{rest}")))
}

/// The resolver, with a cache of `package.json` files read so far.
pub struct Resolver<'f> {
    pub fs: &'f FlatFs,
    pkgs: HashMap<String, Option<Rc<Package>>>,
    /// Files resolution needed whose contents the read did not keep (past a
    /// layer's budget), in the order they were needed: asked for by path on a
    /// second read.
    pub unread: Vec<String>,
}

type R<T> = Result<T, Failure>;

impl<'f> Resolver<'f> {
    pub fn new(fs: &'f FlatFs) -> Self {
        Resolver {
            fs,
            pkgs: HashMap::new(),
            unread: Vec::new(),
        }
    }

    /// The real path of a regular file at `key`, following links.
    pub fn file(&self, key: &str) -> Option<String> {
        match self.fs.lookup(key) {
            Ok((k, n)) if n.kind == Kind::File => Some(k),
            _ => None,
        }
    }

    pub fn dir(&self, key: &str) -> Option<String> {
        match self.fs.lookup(key) {
            Ok((k, n)) if matches!(n.kind, Kind::Dir) => Some(k),
            _ => None,
        }
    }

    /// The `package.json` in `dir` (a key), if there is one; an unreadable one is
    /// an error, since Node throws on it too.
    pub fn package(&mut self, dir: &str) -> R<Option<Rc<Package>>> {
        if let Some(p) = self.pkgs.get(dir) {
            return Ok(p.clone());
        }
        let path = join(dir, "package.json");
        let p = match self.fs.lookup(&path) {
            Ok((_, n)) if n.kind == Kind::File => match &n.content {
                Some(bytes) => Some(Rc::new(Package::parse(dir, bytes).map_err(|why| {
                    Failure::BadPackageJson {
                        path: path.clone(),
                        why,
                    }
                })?)),
                // Not read (over the size cap, or past the layer's budget):
                // judged as present with no fields, and said to be unread.
                None => {
                    if n.size <= crate::image::layer::MAX_CONTENT {
                        self.unread.push(path.clone());
                    }
                    Some(Rc::new(Package::parse(dir, b"{}").expect("empty object")))
                }
            },
            _ => None,
        };
        self.pkgs.insert(dir.to_string(), p.clone());
        Ok(p)
    }

    /// The nearest `package.json` at or above `dir` when it cannot be read:
    /// Node reads it to load a `.js` file there and throws on it.
    pub fn scope_error(&mut self, dir: &str) -> Option<Failure> {
        let mut d = dir.to_string();
        loop {
            if d.rsplit('/').next() == Some("node_modules") {
                return None;
            }
            match self.package(&d) {
                Err(f) => return Some(f),
                Ok(Some(_)) => return None,
                Ok(None) => {}
            }
            if d.is_empty() {
                return None;
            }
            d = parent(&d).to_string();
        }
    }

    /// Why `require(NAME)` of the package in `dir` (found by a dependant) fails
    /// although the directory is there: no `package.json` and no `index.js`, or
    /// a `main`/`exports` entry whose file is missing. `None` when it loads, or
    /// when the package names no entry (types-only and CLI-only packages).
    pub fn entry_missing(&mut self, dir: &str) -> Option<String> {
        let pkg = match self.package(dir) {
            Ok(p) => p,
            // Reported where the walk reads it.
            Err(_) => return None,
        };
        let Some(pkg) = pkg else {
            return self
                .index(dir)
                .is_none()
                .then(|| "it has neither a `package.json` nor an `index.js`".to_string());
        };
        if pkg.exports.is_some() {
            let mut missing = None;
            for mode in [Mode::Cjs, Mode::Esm] {
                match self.exports(&pkg, ".", mode) {
                    Ok(_) => return None,
                    Err(Failure::PackageFile { path, .. }) => missing = Some(path),
                    Err(_) => {}
                }
            }
            return missing.map(|p| format!("its `exports` names `/{p}`, which does not exist"));
        }
        let main = pkg.main.clone()?;
        let m = join(dir, &main);
        // A missing `main` falls back to `index.js` (Node's DEP0128).
        if self
            .as_file(&m)
            .or_else(|| self.index(&m))
            .or_else(|| self.index(dir))
            .is_some()
        {
            return None;
        }
        Some(format!(
            "its `main` `{main}` does not exist, nor does an `index.js`"
        ))
    }

    /// The nearest `package.json` at or above `dir`, stopping at a
    /// `node_modules` folder as Node's package scope lookup does.
    pub fn scope(&mut self, dir: &str) -> Option<Rc<Package>> {
        let mut d = dir.to_string();
        loop {
            if d.rsplit('/').next() == Some("node_modules") {
                return None;
            }
            if let Ok(Some(p)) = self.package(&d) {
                return Some(p);
            }
            if d.is_empty() {
                return None;
            }
            d = parent(&d).to_string();
        }
    }

    /// Resolves `spec` imported from the file `from` (a key).
    pub fn resolve(&mut self, spec: &str, from: &str, mode: Mode) -> R<Resolved> {
        let dir = parent(from);
        if mode == Mode::Esm {
            // ESM specifiers are URLs: `data:` loads no file, `file:///…` is a
            // path, and a relative one loses its `?query` and `#hash` and is
            // percent-decoded before it is a path.
            if spec.starts_with("data:") {
                return Ok(Resolved::Builtin);
            }
            let url_path = spec
                .strip_prefix("file://localhost/")
                .or_else(|| spec.strip_prefix("file:///"))
                .map(|p| format!("/{p}"));
            let relative = spec.starts_with("./")
                || spec.starts_with("../")
                || spec.starts_with('/')
                || spec == "."
                || spec == "..";
            if let Some(p) = url_path.or_else(|| relative.then(|| spec.to_string())) {
                let p = p.replace('\\', "/");
                let p = p.split(['?', '#']).next().unwrap_or("");
                let lower = p.to_ascii_lowercase();
                if lower.contains("%2f") || lower.contains("%5c") {
                    return Err(Failure::InvalidSpecifier {
                        spec: spec.to_string(),
                        why: "encodes a path separator (`%2F` or `%5C`), which ESM refuses",
                    });
                }
                return self.exact(&join(dir, &percent_decoded(p)));
            }
        }
        if spec.starts_with("./")
            || spec.starts_with("../")
            || spec.starts_with('/')
            || spec == "."
            || spec == ".."
        {
            let p = join(dir, spec);
            return match mode {
                Mode::Esm => self.exact(&p),
                // A trailing `/` (or `.`, `..`) names a directory: no file is tried.
                Mode::Cjs
                    if spec.ends_with('/')
                        || spec == "."
                        || spec == ".."
                        || spec.ends_with("/.")
                        || spec.ends_with("/..") =>
                {
                    self.as_dir(&p)?
                        .map(Resolved::File)
                        .ok_or(Failure::NoFile { tried: p })
                }
                Mode::Cjs => self.cjs_path(&p).map(Resolved::File),
            };
        }
        if spec.starts_with('#') {
            if spec == "#" || spec.starts_with("#/") {
                return Err(Failure::InvalidSpecifier {
                    spec: spec.to_string(),
                    why: "is not a valid `imports` name (`#` alone, or `#/`)",
                });
            }
            return self.imports(spec, dir, mode);
        }
        if is_builtin(spec) {
            return Ok(Resolved::Builtin);
        }
        self.package_resolve(spec, dir, mode)
    }

    /// Node's main script for `node PATH` (`Module._findPath`, CommonJS's
    /// `LOAD_AS_FILE` then `LOAD_AS_DIRECTORY`): a real path (a key).
    pub fn main_entry(&mut self, key: &str) -> Option<String> {
        self.cjs_path(key).ok()
    }

    /// An ESM file path: exactly that file, no extensions, no `index.js`.
    fn exact(&self, p: &str) -> R<Resolved> {
        match self.fs.lookup(p) {
            Ok((k, n)) if n.kind == Kind::File => Ok(Resolved::File(k)),
            Ok((k, n)) if matches!(n.kind, Kind::Dir) => Err(Failure::DirImport { path: k }),
            _ => Err(Failure::NoFile {
                tried: p.to_string(),
            }),
        }
    }

    /// `LOAD_AS_FILE` then `LOAD_AS_DIRECTORY`.
    fn cjs_path(&mut self, p: &str) -> R<String> {
        if let Some(f) = self.as_file(p) {
            return Ok(f);
        }
        if let Some(f) = self.as_dir(p)? {
            return Ok(f);
        }
        Err(Failure::NoFile {
            tried: p.to_string(),
        })
    }

    fn as_file(&self, p: &str) -> Option<String> {
        ["", ".js", ".json", ".node"]
            .iter()
            .find_map(|ext| self.file(&format!("{p}{ext}")))
    }

    fn index(&self, p: &str) -> Option<String> {
        ["index.js", "index.json", "index.node"]
            .iter()
            .find_map(|i| self.file(&join(p, i)))
    }

    fn as_dir(&mut self, p: &str) -> R<Option<String>> {
        let Some(d) = self.dir(p) else {
            return Ok(None);
        };
        if let Some(pkg) = self.package(&d)? {
            if let Some(main) = &pkg.main {
                let m = join(&d, main);
                if let Some(f) = self.as_file(&m).or_else(|| self.index(&m)) {
                    return Ok(Some(f));
                }
            }
        }
        Ok(self.index(&d))
    }

    fn conditions(mode: Mode) -> [&'static str; 3] {
        ["node", mode.condition(), "default"]
    }

    /// `PACKAGE_IMPORTS_RESOLVE`: `#name` through the nearest `imports`.
    fn imports(&mut self, spec: &str, dir: &str, mode: Mode) -> R<Resolved> {
        let scope = self.scope(dir);
        let Some(pkg) = scope.filter(|p| p.imports.is_some()) else {
            return Err(Failure::NoImport { scope: None });
        };
        let imports = pkg.imports.clone().unwrap_or(Json::Null);
        match self.match_map(spec, &imports, &pkg.dir, true, mode)? {
            Some(t) => self.target_file(&pkg.dir, t, mode),
            None => Err(Failure::NoImport {
                scope: Some(pkg.dir.clone()),
            }),
        }
    }

    /// A resolved `exports`/`imports` target must be a file: exact in both modes.
    fn target_file(&mut self, pkg: &str, t: Target, mode: Mode) -> R<Resolved> {
        match t {
            Target::Path(p) => match self.exact(&p) {
                Ok(r) => Ok(r),
                Err(_) => Err(Failure::PackageFile {
                    pkg: pkg.to_string(),
                    path: p,
                }),
            },
            // `imports` may map to a package: resolved from the package's own dir.
            Target::Bare(b) => self.resolve(&b, &join(pkg, "package.json"), mode),
        }
    }

    /// `PACKAGE_RESOLVE` (ESM) and `LOAD_PACKAGE_SELF`/`LOAD_NODE_MODULES` (CJS).
    fn package_resolve(&mut self, spec: &str, dir: &str, mode: Mode) -> R<Resolved> {
        let Some((name, subpath)) = split_package(spec) else {
            return Err(Failure::NoPackage {
                name: spec.to_string(),
                from: dir.to_string(),
            });
        };
        // Self-reference: a package importing its own name through its `exports`.
        if let Some(scope) = self.scope(dir) {
            if scope.name.as_deref() == Some(name) && scope.exports.is_some() {
                return self.exports(&scope, &subpath, mode);
            }
        }
        let mut d = dir.to_string();
        loop {
            if d.rsplit('/').next() != Some("node_modules") {
                let cand = join(&d, &format!("node_modules/{name}"));
                // CommonJS's `LOAD_AS_FILE(DIR/X)`: `node_modules/p.js` is `p`.
                if mode == Mode::Cjs && subpath == "." && self.dir(&cand).is_none() {
                    if let Some(f) = self.as_file(&cand) {
                        return Ok(Resolved::File(f));
                    }
                }
                if let Some(real) = self.dir(&cand) {
                    match self.in_package(&real, &subpath, mode)? {
                        Some(r) => return Ok(r),
                        // CommonJS keeps looking further up when a package
                        // without `exports` lacks the file; ESM stops here.
                        None if mode == Mode::Cjs => {}
                        None => {
                            return Err(Failure::PackageFile {
                                pkg: real.clone(),
                                path: join(&real, &subpath),
                            })
                        }
                    }
                }
            }
            if d.is_empty() {
                break;
            }
            d = parent(&d).to_string();
        }
        Err(Failure::NoPackage {
            name: name.to_string(),
            from: dir.to_string(),
        })
    }

    /// Resolution inside a found package directory `real`: `Ok(None)` when a
    /// package without `exports` lacks the file.
    fn in_package(&mut self, real: &str, subpath: &str, mode: Mode) -> R<Option<Resolved>> {
        let pkg = self.package(real)?;
        if let Some(pkg) = pkg.as_ref().filter(|p| p.exports.is_some()) {
            return self.exports(pkg, subpath, mode).map(Some);
        }
        let main = pkg.as_ref().and_then(|p| p.main.clone());
        let found = if subpath == "." {
            // ESM's `LEGACY_MAIN_RESOLVE` and CJS's `LOAD_AS_DIRECTORY` try the
            // same files in the same order.
            let from_main = main.and_then(|m| {
                let m = join(real, &m);
                self.as_file(&m).or_else(|| self.index(&m))
            });
            from_main.or_else(|| self.index(real))
        } else {
            let p = join(real, subpath);
            match mode {
                Mode::Esm => self.file(&p),
                Mode::Cjs => self.cjs_path(&p).ok(),
            }
        };
        Ok(found.map(Resolved::File))
    }

    /// `PACKAGE_EXPORTS_RESOLVE`.
    fn exports(&mut self, pkg: &Package, subpath: &str, mode: Mode) -> R<Resolved> {
        let exports = pkg.exports.clone().unwrap_or(Json::Null);
        let keys = exports.keys();
        let dotted = keys.iter().filter(|k| k.starts_with('.')).count();
        if dotted != 0 && dotted != keys.len() {
            return Err(Failure::BadPackageJson {
                path: join(&pkg.dir, "package.json"),
                why: "`exports` mixes `.` paths and conditions".into(),
            });
        }
        let not_exported = || Failure::NotExported {
            pkg: pkg.dir.clone(),
            subpath: subpath.to_string(),
        };
        let target = if subpath == "." {
            let main = if dotted == 0 {
                Some(&exports)
            } else {
                exports.get(".")
            };
            match main {
                Some(m) => self.target(&pkg.dir, m, None, false, mode)?,
                None => None,
            }
        } else if dotted > 0 {
            self.match_map(subpath, &exports, &pkg.dir, false, mode)?
        } else {
            None
        };
        match target {
            Some(t) => self.target_file(&pkg.dir, t, mode),
            None => Err(not_exported()),
        }
    }

    /// `PACKAGE_IMPORTS_EXPORTS_RESOLVE`: an exact key, else the best `*` pattern.
    fn match_map(
        &mut self,
        key: &str,
        map: &Json,
        pkg: &str,
        imports: bool,
        mode: Mode,
    ) -> R<Option<Target>> {
        if !key.contains('*') {
            if let Some(t) = map.get(key) {
                return self.target(pkg, t, None, imports, mode);
            }
        }
        let mut patterns: Vec<&str> = map
            .keys()
            .into_iter()
            .filter(|k| k.matches('*').count() == 1)
            .collect();
        patterns.sort_by(|a, b| pattern_key_compare(a, b));
        for p in patterns {
            let (base, trailer) = p.split_once('*').expect("one star");
            if key.starts_with(base)
                && key != base
                && (trailer.is_empty() || (key.ends_with(trailer) && key.len() >= p.len()))
            {
                let m = &key[base.len()..key.len() - trailer.len()];
                let t = map.get(p).expect("key from the map");
                return self.target(pkg, t, Some(m), imports, mode);
            }
        }
        Ok(None)
    }

    /// `PACKAGE_TARGET_RESOLVE`: `None` when the target is null or no condition
    /// matches.
    fn target(
        &mut self,
        pkg: &str,
        t: &Json,
        pattern: Option<&str>,
        imports: bool,
        mode: Mode,
    ) -> R<Option<Target>> {
        match t {
            Json::Str(s) => {
                let sub = |s: &str| match pattern {
                    Some(m) => s.replace('*', m),
                    None => s.to_string(),
                };
                if !s.starts_with("./") {
                    if imports && !s.starts_with("../") && !s.starts_with('/') && !s.contains(':') {
                        return Ok(Some(Target::Bare(sub(s))));
                    }
                    return Err(Failure::InvalidTarget {
                        pkg: pkg.to_string(),
                        target: s.clone(),
                    });
                }
                let bad = |x: &str| x.split(['/', '\\']).skip(1).any(invalid_segment);
                if bad(s) || pattern.is_some_and(bad_pattern) {
                    return Err(Failure::InvalidTarget {
                        pkg: pkg.to_string(),
                        target: s.clone(),
                    });
                }
                Ok(Some(Target::Path(join(pkg, &sub(s)))))
            }
            Json::Obj(m) => {
                if m.iter()
                    .any(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(Failure::BadPackageJson {
                        path: join(pkg, "package.json"),
                        why: "`exports` cannot contain numeric property keys".into(),
                    });
                }
                let conds = Self::conditions(mode);
                for (k, v) in m {
                    if conds.contains(&k.as_str()) {
                        if let Some(r) = self.target(pkg, v, pattern, imports, mode)? {
                            return Ok(Some(r));
                        }
                    }
                }
                Ok(None)
            }
            Json::Arr(a) => {
                let mut last = Ok(None);
                for v in a {
                    match self.target(pkg, v, pattern, imports, mode) {
                        Ok(Some(r)) => return Ok(Some(r)),
                        Err(e @ Failure::InvalidTarget { .. }) => last = Err(e),
                        Err(e) => return Err(e),
                        Ok(None) => last = Ok(None),
                    }
                }
                last
            }
            Json::Null => Ok(None),
            _ => Err(Failure::InvalidTarget {
                pkg: pkg.to_string(),
                target: "a number or boolean".into(),
            }),
        }
    }
}

fn bad_pattern(m: &str) -> bool {
    m.split(['/', '\\']).any(invalid_segment)
}

/// A target segment Node refuses (its `invalidSegmentRegEx`): `.`, `..` and
/// `node_modules`, in any case and with `%2e`-style escapes. (An empty one, as
/// in `./a//b.js`, Node 20 loads.)
fn invalid_segment(c: &str) -> bool {
    let d = percent_decoded(c).to_ascii_lowercase();
    d == "." || d == ".." || d == "node_modules"
}

pub enum Target {
    /// A path (key) inside the package.
    Path(String),
    /// An `imports` entry naming a package.
    Bare(String),
}

/// `PATTERN_KEY_COMPARE`: the longer prefix before `*` first, then the longer key.
fn pattern_key_compare(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let base = |k: &str| k.find('*').map(|i| i + 1).unwrap_or(k.len());
    match base(b).cmp(&base(a)) {
        Equal => b.len().cmp(&a.len()),
        o => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_with_and_without_prefix() {
        for s in [
            "fs",
            "node:fs",
            "fs/promises",
            "node:test",
            "stream/web",
            "node:sqlite",
        ] {
            assert!(is_builtin(s), "{s}");
        }
        for s in ["test", "sqlite", "node:nope", "express", "fs/nope"] {
            assert!(!is_builtin(s), "{s}");
        }
    }

    #[test]
    fn package_names_and_subpaths() {
        assert_eq!(split_package("vite"), Some(("vite", ".".into())));
        assert_eq!(
            split_package("pkg/sub/x.js"),
            Some(("pkg", "./sub/x.js".into()))
        );
        assert_eq!(
            split_package("@aws-sdk/client-s3"),
            Some(("@aws-sdk/client-s3", ".".into()))
        );
        assert_eq!(
            split_package("@aws-sdk/client-s3/dist/x"),
            Some(("@aws-sdk/client-s3", "./dist/x".into()))
        );
        assert_eq!(split_package("@scope"), None);
    }

    #[test]
    fn joins_like_urls() {
        assert_eq!(join("app/dist", "./a.js"), "app/dist/a.js");
        assert_eq!(join("app/dist", "../x/./b.js"), "app/x/b.js");
        assert_eq!(join("app", "/etc/passwd"), "etc/passwd");
        assert_eq!(join("", "../../a"), "a");
    }

    /// Hostile M4: what `JSON.parse` takes (Node's reading of `package.json`)
    /// is a package, whatever serde_json thinks of fields resolution never
    /// reads: 200-deep nesting, `1e999`, lone surrogates, invalid UTF-8.
    #[test]
    fn package_json_is_read_as_json_parse_reads_it() {
        let deep = format!(
            r#"{{"name":"p","config":{}1{},"main":"m.js"}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for text in [
            deep.into_bytes(),
            br#"{"name":"p","n":1e999,"main":"m.js"}"#.to_vec(),
            br#"{"name":"p","description":"\ud800 and \udc00\ud800","main":"m.js"}"#.to_vec(),
            b"{\"name\":\"p\",\"description\":\"\xff\xfe\",\"main\":\"m.js\"}".to_vec(),
            b"\xef\xbb\xbf{\"name\":\"x\",\"name\":\"p\",\"main\":\"m.js\"}".to_vec(),
        ] {
            let p = Package::parse("d", &text)
                .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&text)));
            assert_eq!(
                (p.name.as_deref(), p.main.as_deref()),
                (Some("p"), Some("m.js"))
            );
        }
        // A paired surrogate stays as it is; what JSON.parse refuses is refused.
        assert!(Package::parse("d", br#"{"name":"\ud83d\ude00"}"#).is_ok());
        for bad in [&b"{bad"[..], b"{\"a\":1,}", b"[1]", b"{} x"] {
            assert!(
                Package::parse("d", bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_keeps_key_order() {
        let j: Json = serde_json::from_str(r#"{"b":1,"a":{"x":null},"b":"again"}"#).unwrap();
        assert_eq!(
            j,
            Json::Obj(vec![
                ("a".into(), Json::Obj(vec![("x".into(), Json::Null)])),
                ("b".into(), Json::Str("again".into())),
            ])
        );
    }

    #[test]
    fn patterns_sort_as_node_sorts_them() {
        let mut v = vec!["./*", "./features/*.js", "./features/*", "./a"];
        v.sort_by(|a, b| pattern_key_compare(a, b));
        assert_eq!(v, vec!["./features/*.js", "./features/*", "./*", "./a"]);
    }
}
