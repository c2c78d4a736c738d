//! Will the Node server's modules load? From the script the command runs (or
//! `[node] entry`), every app file it imports is read and parsed, every specifier
//! is resolved as Node resolves it, and every package reached has its declared
//! `dependencies` found from its own directory, so an incomplete `node_modules`
//! is caught without reading package code.
//!
//! Severity follows what Node does at start: what runs while modules load (static
//! imports, top-level `require`, a top-level awaited `import()`) is an error when
//! it cannot resolve; a `require` in a function or another `import()` is a warning.
//! A `NODE_ENV` comparison guarding an import is judged with the environment the
//! container will have (the image's ENV, under the task definition's with
//! `--taskdef`): the branch that environment takes is an error, the other a
//! warning, and either one a warning when the task sets `NODE_ENV` from a value
//! known only at deploy time.

pub mod imports;
pub mod resolve;

use crate::image::checks::cmd;
use crate::image::checks::config::env_value;
use crate::image::fs::{FlatFs, Kind};
use crate::image::layer::MAX_CONTENT;
use crate::image::spec::NodeRule;
use crate::report::{CheckOutcome, Code, Finding, Severity};
use crate::taskdef::TaskVar;
use imports::{How, Import, Parsed};
use oci_spec::image::ImageConfiguration;
use resolve::{Failure, Mode, Package, Resolved, Resolver};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

const NAME: &str = "node";
/// Bounds on one image's walk: app files parsed and packages visited.
const MAX_FILES: usize = 5_000;
const MAX_PACKAGES: usize = 50_000;

/// Directories whose scripts belong to the system or the base image, not the app.
const SYSTEM: &[&str] = &[
    "usr/lib/",
    "usr/share/",
    "usr/include/",
    "usr/local/lib/",
    "usr/local/share/",
    "usr/local/include/",
    "lib/",
    "lib64/",
    "etc/",
    "proc/",
    "sys/",
    "var/lib/",
    "opt/yarn",
];

fn app_path(path: &str) -> bool {
    !path.split('/').any(|c| c == "node_modules") && !SYSTEM.iter().any(|s| path.starts_with(s))
}

/// The contents this check reads, declared before the layers stream: see
/// [`wants`].
pub fn contents() -> crate::image::contents::ContentSet {
    crate::image::contents::ContentSet::none()
        .with_manifest_rule("node: package.json 2", is_package_json)
        .with_rule("node: app scripts 2", wants)
}

fn is_package_json(path: &str) -> bool {
    path.rsplit('/').next() == Some("package.json")
}

/// App scripts this check reads: outside `node_modules` and the system
/// directories (the app's own code; package code is never held). Every
/// `package.json` is read too, under its own budget ([`is_package_json`]).
pub fn wants(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    app_path(path) && (name.ends_with(".js") || name.ends_with(".mjs") || name.ends_with(".cjs"))
}

fn is_script(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.rsplit_once('.') {
        Some((_, ext)) => matches!(ext, "js" | "mjs" | "cjs"),
        // `bin/www`: an extension-less entry is CommonJS.
        None => true,
    }
}

/// The package directory (`…/node_modules/NAME` or `…/node_modules/@s/NAME`) a
/// file inside `node_modules` belongs to.
fn package_dir(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let i = parts.iter().rposition(|c| *c == "node_modules")?;
    let n = if parts.get(i + 1)?.starts_with('@') {
        3
    } else {
        2
    };
    (parts.len() > i + n).then(|| parts[..i + n].join("/"))
}

/// `v20.11.1` → (20, 11); what does not parse is 0.
fn version(v: &str) -> (u32, u32) {
    let mut nums = v
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

/// A missing dependency's severity and when it throws: at start (an error) or
/// only when the code that needs it runs (a warning).
fn at_start(eager: bool) -> (Severity, &'static str) {
    if eager {
        (Severity::Error, "when it loads at start")
    } else {
        (Severity::Warning, "when it loads")
    }
}

/// The NODE_ENV the container will have, and how messages show it.
fn env_desc(env: Option<&str>) -> String {
    match env {
        Some(v) => format!("`NODE_ENV={v}`"),
        None => "no `NODE_ENV`".into(),
    }
}

/// The task definition's say on `NODE_ENV` (`image-check IMAGE --taskdef FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnv {
    /// FILE as the user named it.
    pub file: String,
    pub node_env: TaskVar,
    /// The preloads node runs are read from it as from the image's.
    pub node_options: TaskVar,
}

/// `env NODE_ENV=… node …` on the command line wins over the container's.
fn command_env(mut e: ContainerEnv, command: Option<&cmd::CmdTarget>) -> ContainerEnv {
    if let Some((_, v)) = command.and_then(|t| t.env.iter().rev().find(|(k, _)| k == "NODE_ENV")) {
        e.value = Some(v.clone());
        e.unknown = None;
        e.origin = format!("the command line (`env NODE_ENV={v}`)");
        e.detail = format!("`NODE_ENV={v}` from the command line");
    }
    e
}

/// A preload Node runs before the entry: `-r`/`--require` (CommonJS),
/// `--import`, `--loader`/`--experimental-loader` (ESM), each resolved from
/// the directory node starts in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Preload {
    flag: String,
    spec: String,
    mode: Mode,
    /// `CMD` or `NODE_OPTIONS`.
    from: &'static str,
}

/// The preloads in node's own arguments (before the script) and in
/// `NODE_OPTIONS`.
fn preloads(argv: &[String], node_options: Option<&str>) -> Vec<Preload> {
    fn scan(words: &[String], from: &'static str, stop_at_script: bool, out: &mut Vec<Preload>) {
        let mut i = 0;
        while let Some(a) = words.get(i) {
            let (flag, value, step) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string()), 1),
                _ => (a.as_str(), words.get(i + 1).cloned(), 2),
            };
            let mode = match flag {
                "-r" | "--require" => Some(Mode::Cjs),
                "--import" | "--loader" | "--experimental-loader" => Some(Mode::Esm),
                _ => None,
            };
            match (mode, value) {
                (Some(mode), Some(spec)) => {
                    out.push(Preload {
                        flag: flag.to_string(),
                        spec,
                        mode,
                        from,
                    });
                    i += step;
                }
                _ if a == "--" || (stop_at_script && !a.starts_with('-')) => return,
                _ if cmd::node_flag_takes_value(a) => i += 2,
                _ => i += 1,
            }
        }
    }
    let mut out = Vec::new();
    if let Some(opts) = node_options {
        scan(&node_options_words(opts), "NODE_OPTIONS", false, &mut out);
    }
    scan(argv.get(1..).unwrap_or(&[]), "CMD", true, &mut out);
    out
}

/// The `--env-file` arguments among node's own options (before the script).
fn env_files(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        if let Some(v) = a.strip_prefix("--env-file=") {
            out.push(v.to_string());
        } else if a == "--env-file" {
            out.extend(argv.get(i + 1).cloned());
            i += 1;
        } else if !a.starts_with('-') || a == "--" {
            break;
        } else if cmd::node_flag_takes_value(a) {
            i += 1;
        }
        i += 1;
    }
    out
}

/// `NODE_OPTIONS` split as Node splits it: on spaces, with `"…"` quoting and
/// `\` escapes inside quotes.
fn node_options_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => cur.extend(chars.next()),
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The `NODE_ENV` guards are judged with: its value (when known), and how
/// messages and the detail line name where it comes from.
struct ContainerEnv {
    value: Option<String>,
    /// Set by the task from a value known only at deploy time: where.
    unknown: Option<&'static str>,
    /// "the image's ENV (`NODE_ENV=production`)": what selects a branch.
    origin: String,
    detail: String,
}

fn container_env(image: Option<&str>, task: Option<&TaskEnv>) -> ContainerEnv {
    let (value, unknown, origin, detail) = match task {
        None => (
            image.map(String::from),
            None,
            format!("the image's ENV ({})", env_desc(image)),
            env_desc(image),
        ),
        Some(TaskEnv { file, node_env, .. }) => match node_env {
            TaskVar::Set(v) => (
                Some(v.clone()),
                None,
                format!("the task definition `{file}` (`NODE_ENV={v}` in its `environment`)"),
                format!("`NODE_ENV={v}` from the task definition"),
            ),
            TaskVar::Unset => (
                image.map(String::from),
                None,
                match image {
                    Some(v) => format!("the image's ENV (`NODE_ENV={v}`; the task definition `{file}` does not set it)"),
                    None => format!("the container's environment (no `NODE_ENV` in the task definition `{file}` or the image's ENV)"),
                },
                match image {
                    Some(v) => format!("`NODE_ENV={v}` from the image; the task definition does not set it"),
                    None => "no `NODE_ENV` in the task definition or the image".into(),
                },
            ),
            TaskVar::Unknown(from) => (
                None,
                Some(*from),
                format!("the task definition `{file}` (`NODE_ENV` from {from})"),
                format!("`NODE_ENV` from the task definition's {from}, value unknown"),
            ),
        },
    };
    ContainerEnv {
        value,
        unknown,
        origin,
        detail,
    }
}

enum Item {
    File(String, bool),
    Package(String, bool),
}

struct Walk<'f, 'r> {
    r: Resolver<'f>,
    env: ContainerEnv,
    node_version: Option<String>,
    rule: &'r NodeRule,
    files: HashMap<String, bool>,
    pkgs: HashMap<String, bool>,
    /// Everything reached at start is walked before anything reached lazily, so
    /// no file is judged twice (once lazily, then again eagerly).
    eager_queue: VecDeque<Item>,
    lazy_queue: VecDeque<Item>,
    findings: Vec<Finding>,
    reported: HashSet<(String, String)>,
    app: Option<Rc<Package>>,
    imports: usize,
    /// A bound on files or packages was reached.
    truncated: bool,
}

/// The script the check starts from (a key), or why there is none: the note's
/// message and the check's detail.
fn entry(
    fs: &FlatFs,
    cfg: &ImageConfiguration,
    rule: &NodeRule,
) -> Result<String, (String, &'static str)> {
    entry_and_command(fs, cfg, rule).map(|(e, _)| e)
}

/// [`entry`], and the command that runs it when the entry came from the
/// command (its preloads and the variables it sets count too).
fn entry_and_command(
    fs: &FlatFs,
    cfg: &ImageConfiguration,
    rule: &NodeRule,
) -> Result<(String, Option<cmd::CmdTarget>), (String, &'static str)> {
    let c = cfg.config().clone().unwrap_or_default();
    let mut command = None;
    let entry = match &rule.entry {
        Some(e) => {
            let wd = c.working_dir().clone().unwrap_or_default();
            resolve::join(&resolve::join("", &wd), e)
        }
        None => match cmd::resolve(fs, cfg) {
            Ok(t) => match t.node_script() {
                Some(s) => {
                    let e = resolve::join("", s);
                    command = Some(t);
                    e
                }
                None if t
                    .package
                    .as_ref()
                    .is_some_and(|p| p.run != cmd::PackageRun::Followed) =>
                {
                    let why = match t.package.map(|p| p.run) {
                        Some(cmd::PackageRun::NotFollowed(why)) => why,
                        _ => "the command's package script fails before it runs (see `cmd-target`)"
                            .into(),
                    };
                    return Err((
                        format!("{why}, so imports were not checked"),
                        "did not run: package script not followed",
                    ));
                }
                None => {
                    return Err((
                        format!(
                        "the command `{}` does not run a Node script, so imports were not checked",
                        t.shown
                    ),
                        "did not run: no Node entry",
                    ))
                }
            },
            Err(_) => return Err((
                "the command could not be resolved (see `cmd-target`), so imports were not checked"
                    .into(),
                "did not run: no Node entry",
            )),
        },
    };
    // Node finds its main script as `require` would (`Module._findPath`):
    // `node dist/index` runs `dist/index.js`, `node .` the package's `main`.
    Resolver::new(fs)
        .main_entry(&entry)
        .map(|e| (e, command))
        .ok_or_else(|| {
            (
                format!(
                    "the entry `/{entry}` is not a file in the image, so imports were not checked"
                ),
                "did not run: entry missing",
            )
        })
}

/// Bounds on the fallback re-read: app files and their bytes.
const FALLBACK_FILES: usize = 2_000;
pub(crate) const FALLBACK_BYTES: u64 = 32 << 20;

/// Layer paths to keep on a second read when the entry's contents were not kept
/// (an app outside the directories [`wants`] covers): the scripts of the entry's
/// package outside `node_modules`, bounded.
pub fn content_sources(fs: &FlatFs, cfg: &ImageConfiguration, rule: &NodeRule) -> Vec<String> {
    let Ok(real) = entry(fs, cfg, rule) else {
        return vec![];
    };
    match fs.lookup(&real) {
        Ok((_, n)) if n.content.is_none() && n.size <= MAX_CONTENT => {}
        // The entry was read: what the walk from it needed and lacked (scripts
        // and manifests past a layer's budget), bounded.
        _ => {
            let unread = run(fs, cfg, rule, None).1;
            let mut out: Vec<String> = Vec::new();
            let mut seen = HashSet::new();
            let mut push = |out: &mut Vec<String>, k: &str| {
                let src = fs.source_path(k);
                if seen.insert(src.clone()) {
                    out.push(src);
                }
            };
            for k in unread.iter().take(FALLBACK_FILES) {
                push(&mut out, k);
            }
            // What a file read names next (the script it imports, the package
            // a manifest depends on) may be unread too: ask at once for the
            // unread scripts beside each unread script, and every unread
            // manifest, bounded, rather than for one link of a chain per read.
            let dirs: Vec<String> = unread
                .iter()
                .filter(|k| !is_package_json(k))
                .map(|k| resolve::parent(k).to_string())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let manifests = unread.iter().any(|k| is_package_json(k));
            let mut bytes = 0;
            let roots = dirs
                .iter()
                .map(|d| (d.as_str(), false))
                .chain(manifests.then_some(("", true)));
            'roots: for (dir, want_manifests) in roots {
                for (k, n) in fs.walk(dir) {
                    if out.len() >= FALLBACK_FILES {
                        break 'roots;
                    }
                    let fits = if want_manifests {
                        is_package_json(&k)
                    } else {
                        [".js", ".mjs", ".cjs"].iter().any(|x| k.ends_with(x))
                            && !k.split('/').any(|c| c == "node_modules")
                    };
                    if !fits || n.kind != Kind::File || n.content.is_some() || n.size > MAX_CONTENT
                    {
                        continue;
                    }
                    bytes += n.size;
                    if bytes > FALLBACK_BYTES {
                        break 'roots;
                    }
                    push(&mut out, &k);
                }
            }
            return out;
        }
    }
    let mut r = Resolver::new(fs);
    let dir = r
        .scope(resolve::parent(&real))
        .map(|p| p.dir.clone())
        .unwrap_or_else(|| resolve::parent(&real).to_string());
    let mut out = vec![fs.source_path(&real)];
    let mut bytes = 0;
    for (k, n) in fs.walk(&dir) {
        if out.len() >= FALLBACK_FILES {
            break;
        }
        if n.kind != Kind::File
            || n.content.is_some()
            || n.size > MAX_CONTENT
            || k.split('/').any(|c| c == "node_modules")
            || ![".js", ".mjs", ".cjs"].iter().any(|x| k.ends_with(x))
        {
            continue;
        }
        bytes += n.size;
        if bytes > FALLBACK_BYTES {
            break;
        }
        let src = fs.source_path(&k);
        if !out.contains(&src) {
            out.push(src);
        }
    }
    out
}

/// `task`: the task definition's say on `NODE_ENV`, when one is given.
pub fn check(
    fs: &FlatFs,
    cfg: &ImageConfiguration,
    rule: &NodeRule,
    task: Option<&TaskEnv>,
) -> CheckOutcome {
    run(fs, cfg, rule, task).0
}

/// The check, and the files it needed whose contents were not kept.
fn run(
    fs: &FlatFs,
    cfg: &ImageConfiguration,
    rule: &NodeRule,
    task: Option<&TaskEnv>,
) -> (CheckOutcome, Vec<String>) {
    let c = cfg.config().clone().unwrap_or_default();
    let env = c.env().clone().unwrap_or_default();
    let (real, command) = match entry_and_command(fs, cfg, rule) {
        Ok(r) => r,
        Err((msg, detail)) => {
            return (
                CheckOutcome::from_findings(
                    NAME,
                    vec![Finding::note(Code::NodeNotChecked, "node", msg)],
                )
                .detail(detail),
                vec![],
            )
        }
    };
    let mut w = Walk {
        r: Resolver::new(fs),
        env: command_env(
            container_env(env_value(&env, "NODE_ENV"), task),
            command.as_ref(),
        ),
        node_version: env_value(&env, "NODE_VERSION").map(String::from),
        rule,
        files: HashMap::new(),
        pkgs: HashMap::new(),
        eager_queue: VecDeque::new(),
        lazy_queue: VecDeque::new(),
        findings: Vec::new(),
        reported: HashSet::new(),
        app: None,
        imports: 0,
        truncated: false,
    };
    if !is_script(&real) {
        return (
            CheckOutcome::from_findings(
                NAME,
                vec![Finding::note(
                    Code::NodeNotChecked,
                    format!("/{real}"),
                    "is not a JavaScript file (`.js`, `.mjs`, `.cjs`), so its imports were not checked",
                )],
            )
            .detail("did not run: entry is not JavaScript"),
            vec![],
        );
    }
    w.app = w.r.scope(resolve::parent(&real));
    if let Some(t) = &command {
        // What ECS starts the container with: the task's `environment` over the
        // image's ENV, and `env NODE_OPTIONS=… node` over both.
        let mut node_options = env_value(&env, "NODE_OPTIONS");
        match task.map(|t| (&t.file, &t.node_options)) {
            Some((_, TaskVar::Set(v))) => node_options = Some(v),
            Some((file, TaskVar::Unknown(from))) => {
                node_options = None;
                w.findings.push(Finding::note(
                    Code::NodeNotChecked,
                    "NODE_OPTIONS",
                    format!("is set by the task definition `{file}` from {from}, so the preloads it may name (`--require`, `--import`) were not checked"),
                ));
            }
            _ => {}
        }
        if let Some((_, v)) = t.env.iter().rev().find(|(k, _)| k == "NODE_OPTIONS") {
            node_options = Some(v);
        }
        w.preloads(t, node_options, &real);
    }
    w.enqueue(Item::File(real.clone(), true));
    while let Some(item) = w
        .eager_queue
        .pop_front()
        .or_else(|| w.lazy_queue.pop_front())
    {
        match item {
            Item::File(k, eager) if eager || w.files.get(&k) == Some(&false) => w.file(&k, eager),
            Item::Package(d, eager) if eager || w.pkgs.get(&d) == Some(&false) => {
                w.package(&d, eager)
            }
            // Reached eagerly since it was queued lazily: judged that way instead.
            _ => {}
        }
    }
    if w.truncated {
        // A bound reached is a warning: what lies past it could fail the start.
        w.findings.push(Finding::warning(
            Code::NodeNotChecked,
            format!("/{real}"),
            format!("the app reaches more than {MAX_FILES} files or {MAX_PACKAGES} packages; those past the bound were not checked"),
        ));
    }
    let n = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let detail = format!(
        "`/{real}`: {}, {}, {} ({})",
        n(w.files.len(), "app file"),
        n(w.imports, "import"),
        n(w.pkgs.len(), "package"),
        w.env.detail
    );
    let unread = std::mem::take(&mut w.r.unread);
    let manifests: Vec<&String> = unread.iter().filter(|k| is_package_json(k)).collect();
    if let Some(first) = manifests.first() {
        w.findings.push(Finding::note(
            Code::NodeNotChecked,
            format!("/{first}"),
            format!(
                "{} `package.json` file{} resolution needed (this one first) {} not read, so the imports through {} were judged as if {} had no fields",
                manifests.len(),
                if manifests.len() == 1 { "" } else { "s" },
                if manifests.len() == 1 { "was" } else { "were" },
                if manifests.len() == 1 { "it" } else { "them" },
                if manifests.len() == 1 { "it" } else { "they" },
            ),
        ));
    }
    (
        CheckOutcome::from_findings(NAME, w.findings).detail(detail),
        unread,
    )
}

impl Walk<'_, '_> {
    fn ignored(&self, spec: &str) -> bool {
        let pkg = resolve::split_package(spec).map(|(n, _)| n);
        self.rule
            .ignore
            .iter()
            .any(|i| i == spec || Some(i.as_str()) == pkg)
    }

    /// Queues `k` unless it was already reached at least as eagerly.
    fn enqueue(&mut self, item: Item) {
        let (map, k, eager) = match &item {
            Item::File(k, e) => (&mut self.files, k, *e),
            Item::Package(k, e) => (&mut self.pkgs, k, *e),
        };
        let limit = if matches!(item, Item::File(..)) {
            MAX_FILES
        } else {
            MAX_PACKAGES
        };
        match map.get(k) {
            Some(&was) if was || !eager => return,
            None if map.len() >= limit => {
                self.truncated = true;
                return;
            }
            _ => {}
        }
        map.insert(k.clone(), eager);
        if eager {
            self.eager_queue.push_back(item);
        } else {
            self.lazy_queue.push_back(item);
        }
    }

    fn file(&mut self, key: &str, eager: bool) {
        let shown = format!("/{key}");
        // A file reached at start that could not be checked may be what fails
        // the start: a warning (so `--strict` fails on it); lazily, a note.
        let not_checked = |msg: String| {
            if eager {
                Finding::warning(Code::NodeNotChecked, &shown, msg)
            } else {
                Finding::note(Code::NodeNotChecked, &shown, msg)
            }
        };
        let Ok((_, node)) = self.r.fs.lookup(key) else {
            return;
        };
        if !is_script(key) || node.kind != Kind::File {
            return;
        }
        let Some(bytes) = node.content.clone() else {
            let f = if node.size > MAX_CONTENT {
                Finding::warning(
                    Code::NodeNotChecked,
                    &shown,
                    format!(
                        "is {} bytes, more than the {} MiB image-check reads, so its imports were not checked",
                        node.size,
                        MAX_CONTENT >> 20
                    ),
                )
                .hint("split the bundle (esbuild `--splitting`, or leave packages external) or check its imports with `node --check` in the build")
            } else {
                self.r.unread.push(key.to_string());
                not_checked(
                    "its contents were not read (a system directory, or past what image-check keeps of a layer's app files), so its imports were not checked".into(),
                )
            };
            self.findings
                .push(f.provenance(self.r.fs.provenance(&shown)));
            return;
        };
        // Node decodes sources as UTF-8 with replacement characters.
        let text = String::from_utf8_lossy(&bytes);
        let text = text.as_ref();
        // Node reads the nearest `package.json` to load a `.js` file (for its
        // `"type"`) and throws on one it cannot parse.
        if !key.ends_with(".mjs") && !key.ends_with(".cjs") {
            if let Some(resolve::Failure::BadPackageJson { path, why }) =
                self.r.scope_error(resolve::parent(key))
            {
                if self.reported.insert((path.clone(), String::new())) {
                    let sev = if eager {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    let pj = format!("/{path}");
                    self.findings.push(
                            Finding::new(
                                Code::PackageJsonInvalid,
                                sev,
                                &pj,
                                format!("is not valid JSON ({why}); Node reads it to load `{shown}` and throws `ERR_INVALID_PACKAGE_CONFIG`{}", if eager { " at start" } else { " when that file loads" }),
                            )
                            .hint("fix the file (`node -e 'JSON.parse(require(\"fs\").readFileSync(\"package.json\", \"utf8\"))'` shows where it breaks)")
                            .provenance(self.r.fs.provenance(&pj)),
                        );
                }
            }
        }
        let scope = self.r.scope(resolve::parent(key));
        let scope_module = scope.as_ref().is_some_and(|p| p.module);
        let explicit_cjs = scope.as_ref().is_some_and(|p| p.commonjs);
        let module = if key.ends_with(".mjs") {
            Some(true)
        } else if key.ends_with(".cjs") {
            Some(false)
        } else if scope_module {
            Some(true)
        } else {
            None
        };
        let (imports, esm) = match imports::parse(text, module) {
            Parsed::Ok { imports, esm } => (imports, esm),
            Parsed::Failed(why) => {
                self.findings.push(
                    not_checked(format!(
                        "could not be parsed ({why}), so its imports were not checked"
                    ))
                    .provenance(self.r.fs.provenance(&shown)),
                );
                return;
            }
        };
        if esm && module.is_none() {
            self.module_format(key, eager, explicit_cjs);
        }
        for i in &imports {
            self.import(key, i, eager);
        }
    }

    /// ESM syntax in a `.js` file of a CommonJS package: Node before 22.7 (20.19
    /// on the 20 line) runs it as CommonJS and stops at the first `import`, and
    /// so does every Node when the package says `"type": "commonjs"`.
    fn module_format(&mut self, key: &str, eager: bool, explicit_cjs: bool) {
        let sev = if eager {
            Severity::Error
        } else {
            Severity::Warning
        };
        let shown = format!("/{key}");
        let hint = "add `\"type\": \"module\"` to the nearest `package.json`, name the file `.mjs`, or build with `--format=cjs`";
        if explicit_cjs {
            self.findings.push(
                Finding::new(
                    Code::NodeModuleFormat,
                    sev,
                    &shown,
                    "uses `import`/`export` but its package says `\"type\": \"commonjs\"`; Node runs it as CommonJS and throws `SyntaxError: Cannot use import statement outside a module`",
                )
                .hint(hint),
            );
            return;
        }
        let Some(v) = self.node_version.clone() else {
            return;
        };
        let (major, minor) = version(&v);
        let detects = major > 22 || (major == 22 && minor >= 7) || (major == 20 && minor >= 19);
        if detects || major == 0 {
            return;
        }
        self.findings.push(
            Finding::new(
                Code::NodeModuleFormat,
                sev,
                &shown,
                format!("uses `import`/`export` but is a `.js` file of a package without `\"type\": \"module\"`; Node {v} (`NODE_VERSION`) runs it as CommonJS and throws `SyntaxError: Cannot use import statement outside a module`"),
            )
            .hint(hint),
        );
    }

    /// What resolves but Node still refuses: a built-in the image's Node
    /// lacks, and for ESM, JSON without `with { type: "json" }`, a native addon,
    /// TypeScript on a Node that does not strip types.
    fn loadable(&self, i: &Import, r: Resolved, mode: Mode) -> Result<Resolved, Failure> {
        let v = self.node_version.as_deref().map(|v| (v, version(v)));
        match &r {
            Resolved::Builtin => {
                if let Some((shown, (major, minor))) = v.filter(|(_, (m, _))| *m > 0) {
                    let name = i.spec.strip_prefix("node:").unwrap_or(&i.spec);
                    let has = match name {
                        "sqlite" => {
                            (major == 22 && minor >= 13)
                                || (major == 23 && minor >= 4)
                                || major >= 24
                        }
                        "sea" => {
                            (major == 20 && minor >= 12)
                                || (major == 21 && minor >= 7)
                                || major >= 22
                        }
                        "test" | "test/reporters" => major >= 18,
                        _ => true,
                    };
                    if !has {
                        return Err(Failure::UnknownBuiltin {
                            spec: i.spec.clone(),
                            version: shown.to_string(),
                        });
                    }
                }
            }
            Resolved::File(path) if mode == Mode::Esm => {
                let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
                let refuse = |code: &'static str, why: &str| {
                    Err(Failure::NotLoadable {
                        path: path.clone(),
                        code,
                        why: why.to_string(),
                    })
                };
                match ext {
                    "json" if i.attr_type.as_deref() != Some("json") => {
                        // Node 20 still names it by the older assertions.
                        let old = v.is_some_and(|(_, (m, _))| m > 0 && m < 22);
                        let code = if old {
                            "ERR_IMPORT_ASSERTION_TYPE_MISSING"
                        } else {
                            "ERR_IMPORT_ATTRIBUTE_MISSING"
                        };
                        return refuse(
                            code,
                            "is JSON, which ESM imports only `with { type: \"json\" }`",
                        );
                    }
                    "node" => {
                        return refuse(
                            "ERR_UNKNOWN_FILE_EXTENSION",
                            "is a native addon, which ESM cannot import (use `createRequire`)",
                        )
                    }
                    "ts" | "mts" | "cts" => {
                        if let Some((_, (major, minor))) = v.filter(|(_, (m, _))| *m > 0) {
                            let strips = (major == 22 && minor >= 18)
                                || (major == 23 && minor >= 6)
                                || major >= 24;
                            if !strips {
                                return refuse("ERR_UNKNOWN_FILE_EXTENSION", "is TypeScript, which this Node (`NODE_VERSION`) does not run without a loader");
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(r)
    }

    fn import(&mut self, key: &str, i: &Import, file_eager: bool) {
        self.imports += 1;
        if self.ignored(&i.spec) {
            return;
        }
        let holds = i
            .guards
            .iter()
            .all(|(c, truth)| c.holds(self.env.value.as_deref()) == *truth);
        let guarded = !i.guards.is_empty();
        let runs_at_start = match i.how {
            How::Static => true,
            // A value known only at deploy time selects no branch here.
            _ if guarded => holds && self.env.unknown.is_none(),
            _ => i.at_load,
        };
        let eager = file_eager && runs_at_start;
        let mode = match i.how {
            How::Require => Mode::Cjs,
            _ => Mode::Esm,
        };
        let found = self
            .r
            .resolve(&i.spec, key, mode)
            .and_then(|r| self.loadable(i, r, mode));
        match found {
            Ok(Resolved::Builtin) => {}
            Ok(Resolved::File(real)) => match package_dir(&real) {
                Some(d) => self.enqueue(Item::Package(d, eager)),
                None => self.enqueue(Item::File(real, eager)),
            },
            // The code catches the failure itself (an optional module).
            Err(_) if i.caught => {}
            Err(f) => self.unresolved(key, i, &f, mode, eager, file_eager, guarded, holds),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn unresolved(
        &mut self,
        key: &str,
        i: &Import,
        f: &Failure,
        mode: Mode,
        eager: bool,
        file_eager: bool,
        guarded: bool,
        holds: bool,
    ) {
        let what = match i.how {
            How::Static => format!("`import` of `{}`", i.spec),
            How::Require => format!("`require(\"{}\")`", i.spec),
            How::Dynamic => format!("`import(\"{}\")`", i.spec),
        };
        let origin = &self.env.origin;
        let conds = i
            .guards
            .iter()
            .map(|(c, t)| {
                if *t {
                    format!("`{}`", c.text)
                } else {
                    format!("not `{}`", c.text)
                }
            })
            .collect::<Vec<_>>()
            .join(" and ");
        let when = if !file_eager {
            "when the module that imports it is loaded (itself loaded only lazily)".to_string()
        } else if let (true, Some(from)) = (guarded, self.env.unknown) {
            format!("only if the branch {conds} runs, which depends on the `NODE_ENV` the task definition sets from {from}, known only at deploy time")
        } else if guarded && holds {
            format!("when the server takes the branch {conds}, which {origin} selects")
        } else if guarded {
            format!("only if the branch {conds} runs, which {origin} does not select")
        } else if eager {
            "at start".to_string()
        } else if i.how == How::Require {
            "when the function that calls it runs".to_string()
        } else {
            "when that `import()` runs".to_string()
        };
        let message = format!(
            "{what} cannot be resolved: {}; Node throws `{}` {when}",
            f.describe(),
            f.node_code(mode)
        );
        let pkg = resolve::split_package(&i.spec).map(|(n, _)| n.to_string());
        let dev = pkg.as_ref().filter(|p| {
            self.app.as_ref().is_some_and(|a| {
                a.dev_dependencies.iter().any(|d| d == *p)
                    && !a.dependencies.iter().any(|d| d == *p)
            })
        });
        let hint = match (f, dev) {
            (_, Some(p)) => format!(
                "`{p}` is in the `devDependencies` of `/{}/package.json`, which `npm ci --omit=dev` leaves out: move it to `dependencies`, or import it with `import()` behind a `NODE_ENV` check",
                self.app.as_ref().map(|a| a.dir.as_str()).unwrap_or("")
            ),
            (Failure::NoPackage { name, .. }, None) => format!(
                "install `{name}` in the stage the image copies `node_modules` from (`npm ci --omit=dev` installs `dependencies`), or add it to `[node] ignore` if that path never runs"
            ),
            (Failure::NotExported { .. }, None) => "import a subpath the package exports (see its `exports`), or pin the version the code was written for".into(),
            (Failure::NoFile { .. } | Failure::DirImport { .. }, None) if mode == Mode::Esm => "the build did not emit that file, or the specifier is wrong: ESM needs the exact file name with its extension (no `index.js`)".into(),
            _ => "the build did not produce what the specifier names: compare with `image-check ls IMAGE`".into(),
        };
        let sev = if eager {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.findings.push(
            Finding::new(
                Code::ImportUnresolved,
                sev,
                format!("/{key}:{}", i.line),
                message,
            )
            .hint(hint)
            .provenance(self.r.fs.provenance(&format!("/{key}"))),
        );
    }

    /// Each preload must resolve from the directory node starts in; what it
    /// reaches runs before the entry, at start.
    fn preloads(&mut self, t: &cmd::CmdTarget, node_options: Option<&str>, entry: &str) {
        let cwd = resolve::join("", &t.cwd);
        let from = resolve::join(&cwd, "[preload]");
        // `--env-file FILE` must exist: Node exits before anything loads.
        for f in env_files(&t.argv) {
            let key = resolve::join(&cwd, &f);
            if self.r.file(&key).is_none() {
                self.findings.push(
                    Finding::error(
                        Code::CmdTargetMissing,
                        "CMD",
                        format!("`--env-file {f}` names `/{key}`, which is not a file in the image; Node exits at start (`{f}: not found`) before `/{entry}` runs"),
                    )
                    .hint("copy the file into the image, use `--env-file-if-exists` (Node 22.9+), or set the variables in the task definition's `environment`"),
                );
            }
        }
        for p in preloads(&t.argv, node_options) {
            self.imports += 1;
            if self.ignored(&p.spec) {
                continue;
            }
            match self.r.resolve(&p.spec, &from, p.mode) {
                Ok(Resolved::Builtin) => {}
                Ok(Resolved::File(real)) => match package_dir(&real) {
                    Some(d) => self.enqueue(Item::Package(d, true)),
                    None => self.enqueue(Item::File(real, true)),
                },
                Err(f) => {
                    let dev = resolve::split_package(&p.spec).and_then(|(n, _)| {
                        self.app.as_ref().filter(|a| {
                            a.dev_dependencies.iter().any(|d| d == n)
                                && !a.dependencies.iter().any(|d| d == n)
                        })?;
                        Some(n.to_string())
                    });
                    let hint = match dev {
                        Some(n) => format!("`{n}` is in the app's `devDependencies`, which `npm ci --omit=dev` leaves out: move it to `dependencies`, or drop `{} {}` from the command", p.flag, p.spec),
                        None => format!("install what `{}` names in the image, or drop `{} {}` from {}", p.spec, p.flag, p.spec, if p.from == "CMD" { "the command" } else { "`NODE_OPTIONS`" }),
                    };
                    self.findings.push(
                        Finding::error(
                            Code::ImportUnresolved,
                            p.from,
                            format!(
                                "the preload `{} {}` cannot be resolved from `/{cwd}`: {}; Node throws `{}` at start, before `/{entry}` runs",
                                p.flag,
                                p.spec,
                                f.describe(),
                                f.node_code(p.mode)
                            ),
                        )
                        .hint(hint),
                    );
                }
            }
        }
    }

    /// The non-optional peers of the package in `dir` that no `node_modules`
    /// from there up holds: a warning, since a package often loads a peer only
    /// on some paths (npm 7+ installs peers; `--legacy-peer-deps` does not).
    fn peers(&mut self, dir: &str, name: &str, pkg: &Package) {
        for peer in &pkg.peers {
            if pkg.dependencies.contains(peer) || self.ignored(peer) {
                continue;
            }
            let mut d = dir.to_string();
            let found = loop {
                if d.rsplit('/').next() != Some("node_modules")
                    && self
                        .r
                        .dir(&resolve::join(&d, &format!("node_modules/{peer}")))
                        .is_some()
                {
                    break true;
                }
                if d.is_empty() {
                    break false;
                }
                d = resolve::parent(&d).to_string();
            };
            if !found && self.reported.insert((dir.to_string(), peer.clone())) {
                let shown = format!("/{dir}/package.json");
                self.findings.push(
                    Finding::warning(
                        Code::ImportUnresolved,
                        &shown,
                        format!("`{name}` declares the peer dependency `{peer}`, but there is no `node_modules/{peer}` in `/{dir}` or any directory above it; where its code requires `{peer}`, Node throws `MODULE_NOT_FOUND`"),
                    )
                    .hint(format!("add `{peer}` to the app's `dependencies` (npm 7+ installs peers; `--legacy-peer-deps` leaves them out), or add it to `[node] ignore` if the package never loads it here"))
                    .provenance(self.r.fs.provenance(&shown)),
                );
            }
        }
    }

    /// A dependency whose directory is there but whose entry is not (a partial
    /// `COPY`, a `.dockerignore` that dropped `dist/` or `lib/`).
    fn broken_dependency(
        &mut self,
        dir: &str,
        name: &str,
        dep: &str,
        real: &str,
        why: &str,
        eager: bool,
    ) {
        let (sev, when) = at_start(eager);
        let shown = format!("/{dir}/package.json");
        self.findings.push(
            Finding::new(
                Code::ImportUnresolved,
                sev,
                &shown,
                format!("`{name}` declares the dependency `{dep}`, found at `/{real}`, but {why}; its `require(\"{dep}\")` throws `MODULE_NOT_FOUND` {when}"),
            )
            .hint("the package was copied incompletely: check `.dockerignore` (`dist`, `lib`, `build` patterns match inside `node_modules` too) and copy the whole `node_modules` from the stage that ran `npm ci --omit=dev`")
            .provenance(self.r.fs.provenance(&format!("/{real}"))),
        );
    }

    /// A package reached: its declared `dependencies` must be found from its own
    /// directory, as its code's `require` would look for them.
    fn package(&mut self, dir: &str, eager: bool) {
        let pkg = match self.r.package(dir) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(f) => {
                self.findings.push(Finding::warning(
                    Code::NodeNotChecked,
                    format!("/{dir}/package.json"),
                    format!("{}, so its dependencies were not checked", f.describe()),
                ));
                return;
            }
        };
        let name = pkg
            .name
            .clone()
            .unwrap_or_else(|| dir.rsplit('/').next().unwrap_or(dir).to_string());
        self.peers(dir, &name, &pkg);
        for dep in &pkg.dependencies {
            if pkg.optional.contains(dep) || self.ignored(dep) {
                continue;
            }
            let mut d = dir.to_string();
            let found = loop {
                if d.rsplit('/').next() != Some("node_modules") {
                    if let Some(real) = self
                        .r
                        .dir(&resolve::join(&d, &format!("node_modules/{dep}")))
                    {
                        break Some(real);
                    }
                }
                if d.is_empty() {
                    break None;
                }
                d = resolve::parent(&d).to_string();
            };
            match found {
                Some(real) => {
                    if let Some(why) = self.r.entry_missing(&real) {
                        if self.reported.insert((dir.to_string(), dep.clone())) {
                            self.broken_dependency(dir, &name, dep, &real, &why, eager);
                        }
                    }
                    self.enqueue(Item::Package(real, eager))
                }
                None if self.reported.insert((dir.to_string(), dep.clone())) => {
                    let (sev, when) = at_start(eager);
                    let shown = format!("/{dir}/package.json");
                    self.findings.push(
                        Finding::new(
                            Code::ImportUnresolved,
                            sev,
                            &shown,
                            format!("`{name}` declares the dependency `{dep}`, but there is no `node_modules/{dep}` in `/{dir}` or any directory above it; its `require(\"{dep}\")` throws `MODULE_NOT_FOUND` {when}"),
                        )
                        .hint("the image's `node_modules` is incomplete: install with `npm ci --omit=dev` in the stage it is copied from and copy the whole `node_modules` (a partial `COPY` or a hand-made `npm prune` leaves packages out)")
                        .provenance(self.r.fs.provenance(&shown)),
                    );
                }
                None => {}
            }
        }
    }
}

/// The `app_files` fuzz target's body for scripts and manifests, also run on its
/// corpus by `cargo test`: any bytes as a `package.json` or a script give a
/// value or an error, never a panic; an import's line is a line of the file.
pub fn fuzz_node(data: &[u8]) {
    let _ = Package::parse("app", data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let n = text.split('\n').count();
    for module in [None, Some(true), Some(false)] {
        if let Parsed::Ok { imports, .. } = imports::parse(text, module) {
            for i in imports {
                assert!(
                    i.line >= 1 && i.line as usize <= n,
                    "line {} of {n}",
                    i.line
                );
                let _ = resolve::split_package(&i.spec);
                let _ = resolve::join("app/dist", &i.spec);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wants_app_scripts_and_package_json_only() {
        assert!(wants("app/dist/index.js"));
        assert!(wants("usr/src/app/server.mjs"));
        assert!(is_package_json("app/node_modules/express/package.json"));
        assert!(is_package_json("package.json"));
        assert!(!wants("app/package.json"));
        assert!(!wants("app/node_modules/express/index.js"));
        assert!(!wants("usr/lib/node_modules/npm/lib/cli.js"));
        assert!(!wants("usr/share/doc/x.js"));
        assert!(!wants("app/dist/index.js.map"));
    }

    /// Hostile H4: what node preloads, from its arguments (before the script)
    /// and `NODE_OPTIONS` (quoted as Node quotes it).
    #[test]
    fn preloads_are_read_from_the_command_and_node_options() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let got = preloads(
            &v(&[
                "node",
                "--unhandled-rejections",
                "strict",
                "-r",
                "dotenv/config",
                "--import=./register.js",
                "--loader",
                "ts-node/esm",
                "dist/index.js",
                "-r",
                "after-the-script",
            ]),
            Some(r#"--max-old-space-size=512 --require "./with space.cjs" --import=tsx"#),
        );
        let got: Vec<(&str, &str, Mode, &str)> = got
            .iter()
            .map(|p| (p.flag.as_str(), p.spec.as_str(), p.mode, p.from))
            .collect();
        assert_eq!(
            got,
            vec![
                ("--require", "./with space.cjs", Mode::Cjs, "NODE_OPTIONS"),
                ("--import", "tsx", Mode::Esm, "NODE_OPTIONS"),
                ("-r", "dotenv/config", Mode::Cjs, "CMD"),
                ("--import", "./register.js", Mode::Esm, "CMD"),
                ("--loader", "ts-node/esm", Mode::Esm, "CMD"),
            ]
        );
        assert_eq!(
            node_options_words(r#"-r "a \"b\"" --x  y"#),
            vec!["-r", "a \"b\"", "--x", "y"]
        );
    }

    #[test]
    fn package_dirs() {
        assert_eq!(
            package_dir("app/node_modules/express/lib/x.js").as_deref(),
            Some("app/node_modules/express")
        );
        assert_eq!(
            package_dir("app/node_modules/a/node_modules/@s/b/i.js").as_deref(),
            Some("app/node_modules/a/node_modules/@s/b")
        );
        assert_eq!(package_dir("app/dist/i.js"), None);
    }
}
