//! What the container would run: ENTRYPOINT+CMD resolved against WORKDIR and PATH.
//!
//! Wrappers (`tini`, `dumb-init`, our own `preflight --`) are looked through to the
//! real command; an interpreter (`node`, `python`) must be on PATH and its script
//! must be a regular, non-empty file after following symlinks. `npm start` (and
//! `npm run X`, `yarn start`) is followed through `package.json` to the script
//! `node` runs, when the package script is the plain `node FILE` shape.

use super::unresolved;
use crate::image::checks::config::env_value;
use crate::image::fs::{display, FlatFs, Kind, ResolveError};
use crate::report::{CheckOutcome, Code, Finding};
use oci_spec::image::ImageConfiguration;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const WRAPPERS: &[&str] = &[
    "tini",
    "tini-static",
    "dumb-init",
    "preflight",
    "docker-entrypoint.sh",
    "catatonit",
];
/// Wrappers whose first non-flag argument is a user, not the command.
const USER_WRAPPERS: &[&str] = &["gosu", "su-exec"];
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `name`, or `name` with a version as distributions and version managers
/// install it: `node20`, `node-20`, `nodejs18`, `python3.11`, `node-v20.11.0`.
fn versioned(b: &str, name: &str) -> bool {
    let Some(rest) = b.strip_prefix(name) else {
        return false;
    };
    let rest = rest.strip_prefix(['-', '_']).unwrap_or(rest);
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    rest.is_empty()
        || (rest.starts_with(|c: char| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

const NODE_VALUE_FLAGS: &[&str] = &[
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "--env-file",
    "--env-file-if-exists",
    "--conditions",
    "-C",
    "--title",
    "--unhandled-rejections",
    "--dns-result-order",
    "--max-http-header-size",
    "--openssl-config",
    "--redirect-warnings",
    "--diagnostic-dir",
    "--report-dir",
    "--report-directory",
    "--report-filename",
    "--report-signal",
    "--heapsnapshot-signal",
    "--heapsnapshot-near-heap-limit",
    "--secure-heap",
    "--secure-heap-min",
    "--input-type",
    "--experimental-default-type",
    "--icu-data-dir",
    "--inspect-publish-uid",
    "--trace-event-categories",
    "--trace-event-file-pattern",
    "--tls-cipher-list",
    "--tls-keylog",
    "--use-largepages",
    "--watch-path",
    "--disable-warning",
    "--experimental-policy",
    "--policy-integrity",
    "--cpu-prof-dir",
    "--cpu-prof-name",
    "--cpu-prof-interval",
    "--heap-prof-dir",
    "--heap-prof-name",
    "--heap-prof-interval",
    "--localstorage-file",
    "--experimental-sea-config",
    "--network-family-autoselection-attempt-timeout",
];

/// Whether `flag` is one of node's options that takes the next word as its value.
pub fn node_flag_takes_value(flag: &str) -> bool {
    NODE_VALUE_FLAGS.contains(&flag)
}

/// Interpreters and the flags of theirs that take a value (so the value is not
/// mistaken for the script).
fn interpreter(prog: &str) -> Option<&'static [&'static str]> {
    let b = base(prog);
    let is = |name: &str| versioned(b, name);
    if is("node") || is("nodejs") {
        // Node's own string options, which take `--opt value` as well as
        // `--opt=value` (V8's options do not: Node refuses `--max-old-space-size 512`).
        return Some(NODE_VALUE_FLAGS);
    }
    if is("python") || is("ruby") || is("perl") || is("php") {
        return Some(&["-W", "-X", "-I"]);
    }
    if is("deno") || is("bun") {
        return Some(&[]);
    }
    None
}

/// Strips wrappers; returns the argv that does the real work.
#[cfg(test)]
fn unwrap(argv: &[String]) -> Vec<String> {
    unwrap_env(argv).0
}

/// `env [-i] [-u NAME] [NAME=VALUE…] COMMAND…`: the command and the
/// assignments; `None` for options that change more than the environment
/// (`-C DIR`, `-S STRING`).
fn env_command(rest: &[String]) -> Option<(Vec<String>, EnvSet)> {
    let mut i = 0;
    let mut set = Vec::new();
    while let Some(a) = rest.get(i) {
        match a.as_str() {
            "-i" | "--ignore-environment" | "-0" | "--null" | "-" => i += 1,
            "-u" | "--unset" => i += 2,
            "--" => {
                i += 1;
                break;
            }
            a if a.starts_with("--unset=") => i += 1,
            a if a.starts_with('-') => return None,
            a => match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    set.push((k.to_string(), v.to_string()));
                    i += 1;
                }
                _ => break,
            },
        }
    }
    // Assignments may follow `--` too.
    while let Some((k, v)) = rest.get(i).and_then(|a| a.split_once('=')) {
        if k.is_empty() || k.contains('/') {
            break;
        }
        set.push((k.to_string(), v.to_string()));
        i += 1;
    }
    Some((rest.get(i..).unwrap_or(&[]).to_vec(), set))
}

/// Variables a command line sets (`env NAME=VALUE …`), in order.
type EnvSet = Vec<(String, String)>;

/// [`unwrap`], with the variables `env` sets on the way.
fn unwrap_env(argv: &[String]) -> (Vec<String>, EnvSet) {
    let mut argv: Vec<String> = argv.to_vec();
    let mut set = Vec::new();
    loop {
        let Some(first) = argv.first() else {
            return (argv, set);
        };
        let b = base(first).to_string();
        if b == "env" {
            match env_command(&argv[1..]) {
                Some((next, s)) if !next.is_empty() => {
                    set.extend(s);
                    argv = next;
                    continue;
                }
                _ => return (argv, set),
            }
        }
        if WRAPPERS.contains(&b.as_str()) || USER_WRAPPERS.contains(&b.as_str()) {
            let rest = &argv[1..];
            let next: Vec<String> = if let Some(i) = rest.iter().position(|a| a == "--") {
                rest[i + 1..].to_vec()
            } else {
                let mut i = rest.iter().take_while(|a| a.starts_with('-')).count();
                if USER_WRAPPERS.contains(&b.as_str()) {
                    i += 1;
                }
                rest.get(i..).unwrap_or(&[]).to_vec()
            };
            if next.is_empty() {
                return (argv, set);
            }
            argv = next;
            continue;
        }
        return (argv, set);
    }
}

/// What a package manager's script run (`npm start`) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageRun {
    /// The script is `node [flags] FILE`: the target's interpreter and script
    /// are that `node` and FILE (joined with the package's directory).
    Followed,
    /// Not followed (a script that is not `node FILE`, flags that move the
    /// package, a `package.json` not read): why, for a note.
    NotFollowed(String),
    /// The package manager fails before any script runs (no `package.json`, no
    /// such script): the message, for an error.
    Fails(String),
}

/// `npm start` and the like, and what `package.json` said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageScript {
    /// As the command says it: `npm start`, `npm run serve`, `yarn start`.
    pub what: String,
    /// The script's text from `package.json`, once found (`node dist/index.js`).
    pub text: Option<String>,
    /// The `package.json` read (an image path), once found.
    pub manifest: Option<String>,
    pub run: PackageRun,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// The script argument (after [`resolve`], joined with WORKDIR).
    Path(String),
    NotAFile(String),
    None,
}

/// `interp` is the interpreter's own name (what the command resolved to when the
/// command's name did not say, as with `py -> python3.11`).
fn script_of(argv: &[String], interp: &str, takes_value: &[&str]) -> Script {
    let prog = base(interp);
    let mut i = 1;
    if (prog == "deno" || prog == "bun") && argv.get(1).map(String::as_str) == Some("run") {
        i = 2;
    }
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-e" | "--eval" | "-p" | "--print" | "-c" | "-m" => {
                return Script::NotAFile(format!(
                    "`{} {a} …` runs code, not a script file",
                    argv[0]
                ));
            }
            a if takes_value.contains(&a) => i += 2,
            a if a.starts_with('-') => i += 1,
            a => return Script::Path(a.to_string()),
        }
    }
    Script::None
}

fn join(workdir: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", workdir.trim_end_matches('/'))
    }
}

/// Finds a program the way execvp would: a path with a slash as is, else each
/// PATH entry in order; only executable regular files count.
fn find_program(
    fs: &FlatFs,
    prog: &str,
    workdir: &str,
    path_var: &str,
) -> Result<String, Vec<String>> {
    let candidates: Vec<String> = if prog.contains('/') {
        vec![join(workdir, prog)]
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| join(d, prog))
            .collect()
    };
    for c in &candidates {
        if let Ok((k, n)) = fs.lookup(c) {
            if n.kind == Kind::File && n.mode & 0o111 != 0 {
                return Ok(display(&k));
            }
        }
    }
    Err(candidates)
}

/// What ENTRYPOINT+CMD runs, as far as the image says: the program the kernel
/// execs (wrappers looked through) and, for an interpreter, its script argument.
/// The script is joined with WORKDIR but not looked up: each check decides what a
/// missing or odd script means to it.
#[derive(Debug, Clone)]
pub struct CmdTarget {
    /// ENTRYPOINT+CMD as JSON, for messages.
    pub shown: String,
    pub workdir: String,
    /// The real command's program, resolved on PATH (an image path).
    pub program: String,
    /// The name that made the program an interpreter (`node`, `python3.11`, or the
    /// link target that says so), when it is one.
    pub interpreter: Option<String>,
    pub script: Script,
    /// The command is a package manager running a `package.json` script.
    pub package: Option<PackageScript>,
    /// The interpreter's own argv (`node -r x dist/index.js`), after wrappers
    /// and a followed package script: what preloads it names.
    pub argv: Vec<String>,
    /// The directory the interpreter starts in: WORKDIR, or the package's
    /// directory for a followed package script.
    pub cwd: String,
    /// Variables the command line sets on its way (`env NODE_ENV=production …`).
    pub env: Vec<(String, String)>,
}

impl CmdTarget {
    /// The script a Node interpreter runs (an absolute image path), if that is what
    /// the command does.
    pub fn node_script(&self) -> Option<&str> {
        let i = self.interpreter.as_deref()?;
        let b = base(i);
        match &self.script {
            Script::Path(p) if versioned(b, "node") || versioned(b, "nodejs") => Some(p),
            _ => None,
        }
    }
}

/// Resolves ENTRYPOINT+CMD; the `Err` is the one finding that says why the target
/// cannot be known (no command, a shell string, a program not on PATH).
pub fn resolve(fs: &FlatFs, cfg: &ImageConfiguration) -> Result<CmdTarget, Finding> {
    let c = cfg.config().clone().unwrap_or_default();
    let entrypoint = c.entrypoint().clone().unwrap_or_default();
    let cmd = c.cmd().clone().unwrap_or_default();
    let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(Finding::error(
            Code::CmdMissing,
            "CMD",
            "the image has neither ENTRYPOINT nor CMD, so the container has nothing to run",
        )
        .hint("add `CMD [\"node\", \"dist/index.js\"]` (exec form) to the final stage"));
    }
    let workdir = c
        .working_dir()
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let env = c.env().clone().unwrap_or_default();
    let path_var = env_value(&env, "PATH").unwrap_or(DEFAULT_PATH).to_string();
    let shown = serde_json::to_string(&argv).unwrap_or_default();

    // Every program on the way (wrappers included) must exist.
    let mut argv = argv;
    let outer = argv[0].clone();
    if let Err(tried) = find_program(fs, &outer, &workdir, &path_var) {
        return Err(missing_program(fs, &outer, &tried, &path_var, &shown));
    }
    let (unwrapped, mut env_set) = unwrap_env(&argv);
    argv = unwrapped;
    if SHELLS.contains(&base(&argv[0])) && argv.get(1).map(String::as_str) == Some("-c") {
        let script = argv.get(2).cloned().unwrap_or_default();
        let simple =
            !script.contains(['$', ';', '&', '|', '<', '>', '`', '(', '"', '\'', '\\', '*']);
        let words: Vec<String> = script
            .split_whitespace()
            .map(String::from)
            .filter(|w| w != "exec")
            .collect();
        if !simple || words.is_empty() {
            return Err(Finding::note(Code::CmdNotChecked, "CMD", format!("`{shown}` runs a shell string; its target was not checked"))
                .hint("use the exec form (`CMD [\"node\", \"dist/index.js\"]`) so signals reach the server and the target can be checked"));
        }
        let (unwrapped, more) = unwrap_env(&words);
        argv = unwrapped;
        env_set.extend(more);
    }
    let prog = argv[0].clone();
    let resolved = find_program(fs, &prog, &workdir, &path_var)
        .map_err(|tried| missing_program(fs, &prog, &tried, &path_var, &shown))?;
    // An interpreter is known by what the command is in the image, not only by its
    // name: `py` may be a link to `python3.11`, and then it runs a script.
    let interp = [prog.clone(), resolved.clone()]
        .into_iter()
        .chain(
            fs.lookup(&resolved)
                .ok()
                .and_then(|(_, n)| n.hardlink_of.map(String::from)),
        )
        .find(|name| interpreter(name).is_some());
    let script = match interp
        .as_deref()
        .and_then(|i| interpreter(i).map(|t| (i, t)))
    {
        None => Script::None,
        Some((i, takes_value)) => match script_of(&argv, i, takes_value) {
            Script::Path(s) => Script::Path(join(&workdir, &s)),
            other => other,
        },
    };
    let mut t = CmdTarget {
        shown,
        workdir,
        program: resolved,
        interpreter: interp,
        script,
        package: None,
        cwd: String::new(),
        argv: argv.clone(),
        env: env_set,
    };
    t.cwd = t.workdir.clone();
    if t.interpreter.is_none() {
        if let Some(what) = package_run(&argv) {
            follow_package_script(fs, &mut t, what);
        }
    }
    Ok(t)
}

/// Package managers, and the first argument after which (when it is the only
/// other word before `--`) each runs a named script.
const NPM_CONFIG_MOVES: &[&str] = &[
    "--prefix",
    "-C",
    "--workspace",
    "-w",
    "--workspaces",
    "--ws",
    "--cwd",
];

/// `npm start`, `npm run[-script] X`, `yarn start`, `yarn run X`: the script's
/// name and how the command says it; `Err` with why for a package manager
/// command this does not follow. `None` for anything else.
fn package_run(argv: &[String]) -> Option<Result<(String, String), String>> {
    let pm = base(argv.first()?);
    if pm != "npm" && pm != "yarn" {
        return None;
    }
    let shown = argv.join(" ");
    let args: Vec<&str> = argv[1..]
        .iter()
        .map(String::as_str)
        .take_while(|a| *a != "--")
        .collect();
    // npm reads config flags anywhere on the line; these move the package.
    if let Some(f) = args.iter().find(|a| {
        NPM_CONFIG_MOVES
            .iter()
            .any(|m| *a == m || a.starts_with(&format!("{m}=")))
    }) {
        return Some(Err(format!(
            "`{shown}` runs a package script from a directory `{f}` chooses, which image-check does not follow"
        )));
    }
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let name = match (pm, words.as_slice()) {
        (_, ["start", ..]) => "start",
        ("npm", ["run" | "run-script" | "rum" | "urn", name, ..]) => name,
        ("yarn", ["run", name, ..]) => name,
        _ => {
            return Some(Err(format!(
                "`{shown}` is not a package script run image-check follows (`npm start`, `npm run NAME`, `yarn start`, `yarn run NAME`)"
            )))
        }
    };
    let what = if name == "start" && words.first() == Some(&"start") {
        format!("{pm} start")
    } else {
        format!("{pm} run {name}")
    };
    Some(Ok((name.to_string(), what)))
}

/// npm's package root: the nearest directory at or above `dir` with a
/// `package.json` or a `node_modules` (npm's local prefix), as an image path.
fn package_root(fs: &FlatFs, dir: &str) -> Option<String> {
    let mut d = dir.trim_end_matches('/').to_string();
    loop {
        let has = |name: &str| fs.lookup(&format!("{d}/{name}")).is_ok();
        if has("package.json") || has("node_modules") {
            return Some(if d.is_empty() { "/".into() } else { d });
        }
        match d.rsplit_once('/') {
            Some((p, _)) => d = p.to_string(),
            None => return None,
        }
    }
}

fn follow_package_script(fs: &FlatFs, t: &mut CmdTarget, run: Result<(String, String), String>) {
    let (name, what) = match run {
        Ok(x) => x,
        Err(why) => {
            t.package = Some(PackageScript {
                what: t.shown.clone(),
                text: None,
                manifest: None,
                run: PackageRun::NotFollowed(why),
            });
            return;
        }
    };
    let mut p = PackageScript {
        what: what.clone(),
        text: None,
        manifest: None,
        run: PackageRun::Followed,
    };
    let wd = if t.workdir == "/" {
        ""
    } else {
        t.workdir.as_str()
    };
    let root = package_root(fs, wd).unwrap_or_else(|| t.workdir.clone());
    let manifest = join(&root, "package.json");
    p.manifest = Some(manifest.clone());
    let yarn = what.starts_with("yarn");
    let bytes = match fs.lookup(&manifest) {
        Ok((_, n)) if n.kind == Kind::File => match &n.content {
            Some(b) => b.clone(),
            None => {
                p.run = PackageRun::NotFollowed(format!(
                    "`{what}` runs a script from `{manifest}`, which was not read (the node check is off, or the file is over the read limit)"
                ));
                t.package = Some(p);
                return;
            }
        },
        _ => {
            p.run = PackageRun::Fails(format!(
                "`{}` (WORKDIR `{}`) runs `{what}`, which reads `{manifest}`, but there is no such file; {} exits before the server starts",
                t.shown, t.workdir, if yarn { "yarn" } else { "npm" }
            ));
            t.package = Some(p);
            return;
        }
    };
    let text = crate::image::checks::node::resolve::Package::script(&bytes, &name);
    let text = match text {
        Err(why) => {
            p.run = PackageRun::Fails(format!(
                "`{}` runs `{what}`, but `{manifest}` is not valid JSON ({why}); {} exits before the server starts",
                t.shown,
                if yarn { "yarn" } else { "npm" }
            ));
            t.package = Some(p);
            return;
        }
        Ok(Some(s)) => s,
        // npm runs `node server.js` for a missing `start` when the package
        // has a `server.js` (@npmcli/run-script); yarn has no such default.
        Ok(None) if name == "start" && !yarn && fs.lookup(&join(&root, "server.js")).is_ok() => {
            "node server.js".to_string()
        }
        Ok(None) if yarn => {
            p.run = PackageRun::NotFollowed(format!(
                "`{what}`: `{manifest}` has no `scripts.{name}`, and what yarn then runs is not modelled"
            ));
            t.package = Some(p);
            return;
        }
        Ok(None) => {
            p.run = PackageRun::Fails(format!(
                "`{}` runs `{what}`, but `{manifest}` has no `scripts.{name}`{}; npm exits with `Missing script: \"{name}\"` before the server starts",
                t.shown,
                if name == "start" { " and the package has no `server.js`" } else { "" }
            ));
            t.package = Some(p);
            return;
        }
    };
    p.text = Some(text.clone());
    // npm runs the script with `sh -c`: only a plain `node [flags] FILE` is
    // followed; quoting, variables, `&&` and assignments are the shell's.
    let meta = |w: &str| {
        w.contains([
            '$', ';', '&', '|', '<', '>', '`', '(', ')', '"', '\'', '\\', '*', '#',
        ]) || (w.contains('=') && !w.starts_with('-'))
    };
    let simple = !text.split_whitespace().any(meta);
    let words: Vec<String> = text.split_whitespace().map(String::from).collect();
    let is_node = words
        .first()
        .is_some_and(|w| versioned(base(w), "node") || versioned(base(w), "nodejs"));
    let script = if simple && is_node {
        match script_of(&words, &words[0], interpreter(&words[0]).unwrap_or(&[])) {
            Script::Path(s) => Some(s),
            _ => None,
        }
    } else {
        None
    };
    match script {
        Some(s) => {
            t.interpreter = Some(words[0].clone());
            t.script = Script::Path(join(&root, &s));
            t.argv = words;
            t.cwd = root;
        }
        None => {
            p.run = PackageRun::NotFollowed(format!(
                "`{what}` runs `{}` (`scripts.{name}` of `{manifest}`), which is not the plain `node FILE` image-check follows",
                crate::report::render::escape_line(&text)
            ))
        }
    }
    t.package = Some(p);
}

pub fn check(fs: &FlatFs, cfg: &ImageConfiguration) -> CheckOutcome {
    let finish = |findings: Vec<Finding>| CheckOutcome::from_findings("cmd-target", findings);
    let t = match resolve(fs, cfg) {
        Ok(t) => t,
        Err(f) => return finish(vec![f]),
    };
    let (shown, workdir, resolved) = (&t.shown, &t.workdir, &t.program);
    let mut findings = Vec::new();
    match t.package.as_ref().map(|p| (p, &p.run)) {
        Some((_, PackageRun::NotFollowed(why))) => {
            return finish(vec![Finding::note(Code::CmdNotChecked, "CMD", format!("{why}; the script it runs was not checked"))
                .hint("run the server as `CMD [\"node\", \"dist/index.js\"]` (exec form, no package manager in between) so signals reach it and its script can be checked")])
            .detail(format!("runs `{resolved}`"))
        }
        Some((p, PackageRun::Fails(msg))) => {
            let subject = p.manifest.clone().unwrap_or_else(|| "CMD".into());
            return finish(vec![Finding::error(Code::CmdTargetMissing, &subject, msg.clone())
                .provenance(fs.provenance(&subject))
                .hint("add the script to `package.json` (`\"start\": \"node dist/index.js\"`) and copy `package.json` into the final stage, or run `CMD [\"node\", \"dist/index.js\"]` directly")])
            .detail(format!("runs `{resolved}`"));
        }
        _ => {}
    }
    let target = match &t.script {
        _ if t.interpreter.is_none() => {
            return finish(findings).detail(format!("runs `{resolved}`"))
        }
        Script::Path(s) => s.clone(),
        Script::NotAFile(why) => {
            return finish(vec![Finding::note(Code::CmdNotChecked, "CMD", why.clone())])
                .detail(format!("interpreter `{resolved}`"))
        }
        Script::None => {
            return finish(findings).detail(format!("interpreter `{resolved}` with no script"))
        }
    };
    // Node finds its main script as `require` would (`Module._findPath`):
    // `node dist/index` runs `dist/index.js`, `node .` the package's `main`.
    let mut target = target;
    let is_file = matches!(fs.lookup(&target), Ok((_, n)) if n.kind == Kind::File);
    if t.node_script().is_some() && !is_file {
        use crate::image::checks::node::resolve::{join as key_of, Resolver};
        if let Some(real) = Resolver::new(fs).main_entry(&key_of("", &target)) {
            target = display(&real);
        }
    }
    let what = match &t.package {
        Some(PackageScript {
            what: run,
            text: Some(text),
            manifest: Some(m),
            ..
        }) => format!(
            "`{shown}` (WORKDIR `{workdir}`) runs `{run}`, whose `{}` (in `{m}`) runs `{target}`, which",
            crate::report::render::escape_line(text)
        ),
        _ => format!("`{shown}` (WORKDIR `{workdir}`) runs `{target}`, which"),
    };
    match fs.lookup(&target) {
        Err(e) => {
            let f = unresolved(fs, &target, &e, Code::CmdTargetMissing, &format!("`{target}`"));
            let f = match e {
                ResolveError::NotFound(_) if fs.get(&target).is_none() => {
                    Finding { message: format!("{what} does not exist"), ..f }
                }
                _ => f,
            };
            findings.push(f.hint("the build did not produce the script, or CMD/WORKDIR point at the wrong place: compare with `image-check ls IMAGE /app`"));
        }
        Ok((k, n)) if n.kind != Kind::File => findings.push(
            Finding::error(Code::CmdTargetNotFile, display(&k), format!("{what} is a {}, not a file", n.kind.name()))
                .provenance(fs.provenance(&display(&k))),
        ),
        Ok((k, n)) if n.size == 0 => findings.push(
            Finding::error(Code::CmdTargetEmpty, display(&k), format!("{what} is empty (0 bytes)"))
                .provenance(fs.provenance(&display(&k)))
                .hint("the build wrote an empty bundle: check the compile step's log (`npx tsc` without TypeScript installed compiles nothing)"),
        ),
        Ok((k, n)) => {
            let by = match &t.package {
                Some(p) => format!("`{}`", p.what),
                None => format!("`{resolved}`"),
            };
            return finish(findings).detail(format!("{by} runs `{}` ({} bytes)", display(&k), n.size));
        }
    }
    finish(findings)
}

fn missing_program(
    fs: &FlatFs,
    prog: &str,
    tried: &[String],
    path_var: &str,
    shown: &str,
) -> Finding {
    if prog.contains('/') {
        let target = &tried[0];
        let f = match fs.lookup(target) {
            Ok((k, n)) if n.kind == Kind::File => {
                return Finding::error(
                    Code::CmdTargetNotExecutable,
                    display(&k),
                    format!(
                        "`{shown}` execs `{target}`, which is not executable (mode `{:04o}`)",
                        n.mode
                    ),
                )
                .provenance(fs.provenance(&display(&k)))
                .hint(format!(
                    "`chmod +x {target}` in the Dockerfile, or `COPY --chmod=755`"
                ));
            }
            Ok((k, n)) => Finding::error(
                Code::CmdTargetNotFile,
                display(&k),
                format!("`{shown}` execs `{target}`, which is a {}", n.kind.name()),
            ),
            Err(e) => unresolved(
                fs,
                target,
                &e,
                Code::CmdTargetMissing,
                &format!("`{target}` (from `{shown}`)"),
            ),
        };
        return f.hint("check the path in ENTRYPOINT/CMD against `image-check ls IMAGE`");
    }
    Finding::error(
        Code::InterpreterMissing,
        prog,
        format!("`{prog}` (from `{shown}`) is not an executable file on the image's PATH `{path_var}`"),
    )
    .hint(format!("install `{prog}` in the final stage or use a base image that has it (e.g. `node:20-slim`), or name it by absolute path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    /// `run -> nodejs -> node20` ran a missing script and passed: versioned
    /// interpreter names are interpreters too; look-alikes are not.
    #[test]
    fn versioned_interpreter_names_are_recognised() {
        for name in [
            "node",
            "node20",
            "node-20",
            "nodejs18",
            "node-v20.11.0",
            "/usr/bin/node20",
            "python3.11",
            "python3",
            "ruby3.2",
            "perl5.36",
            "php8.2",
            "bun1",
        ] {
            assert!(interpreter(name).is_some(), "{name}");
        }
        for name in [
            "nodemon",
            "node-gyp",
            "python3-config",
            "nodejsx",
            "bunx",
            "phpunit",
        ] {
            assert!(interpreter(name).is_none(), "{name}");
        }
    }

    #[test]
    fn unwraps_wrappers() {
        assert_eq!(
            unwrap(&v(&[
                "/usr/local/bin/preflight",
                "--spec",
                "x.toml",
                "--",
                "node",
                "dist/index.js"
            ])),
            v(&["node", "dist/index.js"])
        );
        assert_eq!(
            unwrap(&v(&["tini", "-s", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(
            unwrap(&v(&["gosu", "node", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(
            unwrap(&v(&["docker-entrypoint.sh", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(unwrap(&v(&["node", "a.js"])), v(&["node", "a.js"]));
    }

    /// Hostile L9: `env` is a wrapper too; what it sets is kept, and options
    /// that change more than the environment stop the unwrapping.
    #[test]
    fn unwraps_env_and_keeps_what_it_sets() {
        let (argv, set) = unwrap_env(&v(&[
            "/usr/bin/env",
            "-u",
            "DEBUG",
            "NODE_ENV=development",
            "node",
            "dist/index.js",
        ]));
        assert_eq!(argv, v(&["node", "dist/index.js"]));
        assert_eq!(
            set,
            vec![("NODE_ENV".to_string(), "development".to_string())]
        );
        let (argv, _) = unwrap_env(&v(&["tini", "--", "env", "node", "a.js"]));
        assert_eq!(argv, v(&["node", "a.js"]));
        let (argv, _) = unwrap_env(&v(&["env", "-S", "node a.js"]));
        assert_eq!(argv[0], "env");
        let (argv, _) = unwrap_env(&v(&["env", "-C", "/srv", "node", "a.js"]));
        assert_eq!(argv[0], "env");
    }

    /// Hostile M11: node's own string options take a separate value.
    #[test]
    fn node_options_with_separate_values_are_not_the_script() {
        let node = interpreter("node").unwrap();
        for flag in [
            "--unhandled-rejections",
            "--dns-result-order",
            "--input-type",
            "--title",
        ] {
            let argv = v(&["node", flag, "x", "dist/index.js"]);
            assert!(
                matches!(script_of(&argv, "node", node), Script::Path(p) if p == "dist/index.js"),
                "{flag}"
            );
        }
        // V8's options take `=` only: Node 20 refuses `--stack-trace-limit 5`
        // (exit 9), and so the `5` is where the script would be.
        let argv = v(&["node", "--stack-trace-limit", "5", "dist/index.js"]);
        assert!(matches!(script_of(&argv, "node", node), Script::Path(p) if p == "5"));
    }

    #[test]
    fn finds_the_script() {
        let node = interpreter("node").unwrap();
        assert!(
            matches!(script_of(&v(&["node", "--enable-source-maps", "-r", "dotenv/config", "dist/index.js"]), "node", node), Script::Path(p) if p == "dist/index.js")
        );
        assert!(matches!(
            script_of(&v(&["node", "-e", "1"]), "node", node),
            Script::NotAFile(_)
        ));
        assert!(matches!(
            script_of(
                &v(&["python3", "-m", "app"]),
                "python3",
                interpreter("python3").unwrap()
            ),
            Script::NotAFile(_)
        ));
        assert!(
            matches!(script_of(&v(&["deno", "run", "-A", "main.ts"]), "deno", interpreter("deno").unwrap()), Script::Path(p) if p == "main.ts")
        );
    }
}
